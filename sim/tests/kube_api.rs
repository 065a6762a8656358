//! kube-rs (typed and dynamic) against the embedded API server: CRUD, optimistic
//! concurrency, pagination, watch, server-side apply, finalizers, namespaces and CRDs.

mod common;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;

use common::Harness;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"n": "0"}})).unwrap()
}

async fn ns(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_crud_and_conflicts() {
    let h = Harness::start().await;
    let client = h.sim.client();
    ns(&client, "crud").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "crud");
    let created = api.create(&PostParams::default(), &cm("one")).await.unwrap();
    let rv1 = created.metadata.resource_version.clone().unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());

    let mut stale = created.clone();
    let mut fresh = created.clone();
    fresh.data.as_mut().unwrap().insert("n".into(), "1".into());
    let updated = api.replace("one", &PostParams::default(), &fresh).await.unwrap();
    assert_ne!(updated.metadata.resource_version.unwrap(), rv1);
    stale.data.as_mut().unwrap().insert("n".into(), "2".into());
    let err = api.replace("one", &PostParams::default(), &stale).await.unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "Conflict");
            assert_eq!(s.message, "Operation cannot be fulfilled on configmaps \"one\": the object has been modified; please apply your changes to the latest version and try again");
        }
        other => panic!("expected 409, got {other:?}"),
    }
    // generateName
    let mut g = cm("");
    g.metadata.name = None;
    g.metadata.generate_name = Some("gen-".into());
    let made = api.create(&PostParams::default(), &g).await.unwrap();
    let n = made.metadata.name.unwrap();
    assert!(n.starts_with("gen-") && n.len() == 9, "{n}");
    // delete returns and the object is gone
    api.delete("one", &DeleteParams::default()).await.unwrap();
    assert!(matches!(api.get("one").await, Err(kube::Error::Api(s)) if s.code == 404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_with_limit_and_continue() {
    let h = Harness::start().await;
    let client = h.sim.client();
    ns(&client, "pages").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "pages");
    for i in 0..25 {
        api.create(&PostParams::default(), &cm(&format!("cm-{i:02}"))).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(10);
    loop {
        let page = api.list(&lp).await.unwrap();
        seen.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => {
                assert!(page.items.len() == 10);
                lp = lp.continue_token(&c);
            }
            _ => break,
        }
    }
    let mine: Vec<_> = seen.iter().filter(|n| n.starts_with("cm-")).cloned().collect();
    assert_eq!(mine.len(), 25);
    let mut sorted = mine.clone();
    sorted.sort();
    assert_eq!(mine, sorted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_resource_version_sees_every_event_in_order() {
    let h = Harness::start().await;
    let client = h.sim.client();
    ns(&client, "w").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "w");
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = api.watch(&WatchParams::default().timeout(10), &rv).await.unwrap().boxed();
    api.create(&PostParams::default(), &cm("x")).await.unwrap();
    api.patch("x", &PatchParams::default(), &Patch::Merge(json!({"data": {"n": "5"}}))).await.unwrap();
    api.delete("x", &DeleteParams::default()).await.unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await.expect("event in time").unwrap() {
            // Other writers (the root CA publisher) may add objects to the namespace too.
            Some(WatchEvent::Added(c) | WatchEvent::Modified(c) | WatchEvent::Deleted(c)) if c.metadata.name.as_deref() != Some("x") => {}
            Some(WatchEvent::Added(_)) => kinds.push("ADDED"),
            Some(WatchEvent::Modified(c)) => {
                assert_eq!(c.data.unwrap()["n"], "5");
                kinds.push("MODIFIED")
            }
            Some(WatchEvent::Deleted(_)) => kinds.push("DELETED"),
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(kinds, vec!["ADDED", "MODIFIED", "DELETED"]);
    // A compacted or absurd version is 410 Gone as an ERROR event.
    let mut old = api.watch(&WatchParams::default().timeout(2), "1").await.unwrap().boxed();
    let first = old.try_next().await;
    // rv 1 is still replayable here (nothing compacted), so either events or a clean end.
    assert!(first.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_creates_then_merges() {
    let h = Harness::start().await;
    let client = h.sim.client();
    ns(&client, "ssa").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "ssa");
    let pp = PatchParams::apply("cleanroom-test");
    let applied = api
        .patch("cfg", &pp, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}})))
        .await
        .unwrap();
    assert_eq!(applied.data.as_ref().unwrap()["a"], "1");
    let mf = applied.metadata.managed_fields.clone().unwrap_or_default();
    assert!(mf.iter().any(|m| m.manager.as_deref() == Some("cleanroom-test") && m.operation.as_deref() == Some("Apply")), "{mf:?}");
    // Re-apply without `b`: the manager owned it, so it is removed.
    let again = api
        .patch("cfg", &pp, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "3"}})))
        .await
        .unwrap();
    let data = again.data.unwrap();
    assert_eq!(data.get("a").map(String::as_str), Some("3"));
    assert!(!data.contains_key("b"), "field dropped from the applied config must be removed: {data:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_hold_deletion_and_namespaces_terminate() {
    let h = Harness::start().await;
    let client = h.sim.client();
    ns(&client, "fin").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "fin");
    let mut held = cm("held");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let still = api.get("held").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());

    let nss: Api<Namespace> = Api::all(client.clone());
    nss.delete("fin", &DeleteParams::default()).await.unwrap();
    let n = nss.get("fin").await.unwrap();
    assert_eq!(n.status.unwrap().phase.as_deref(), Some("Terminating"));
    // Creates in a terminating namespace are forbidden with kube-apiserver's message.
    let err = api.create(&PostParams::default(), &cm("late")).await.unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403);
            assert_eq!(s.message, "configmaps \"late\" is forbidden: unable to create new content in namespace fin because it is being terminated");
        }
        e => panic!("{e:?}"),
    }
    // Stays Terminating while the finalizer is held, then goes once released.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(nss.get("fin").await.is_ok());
    let ns_uid = nss.get("fin").await.unwrap().metadata.uid.unwrap();
    api.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), await_condition(nss.clone(), "fin", conditions::is_deleted(&ns_uid)))
        .await
        .expect("namespace removed in time")
        .unwrap();
    assert!(matches!(nss.get("fin").await, Err(kube::Error::Api(s)) if s.code == 404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_serve_custom_resources_and_take_them_along() {
    let h = Harness::start().await;
    let client = h.sim.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.test.cleanroom.dev"},
        "spec": {"group": "test.cleanroom.dev", "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "shortNames": ["gd"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    })).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), await_condition(crds.clone(), "gadgets.test.cleanroom.dev", conditions::is_crd_established()))
        .await
        .unwrap()
        .unwrap();
    let gvk = GroupVersionKind::gvk("test.cleanroom.dev", "v1", "Gadget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "gadgets");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let obj: DynamicObject = serde_json::from_value(json!({"apiVersion": "test.cleanroom.dev/v1", "kind": "Gadget", "metadata": {"name": "g1"}, "spec": {"x": 1}, "status": {"ok": true}})).unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    // status is a subresource: a main-resource update does not change it.
    assert!(created.data.get("status").is_none() || created.data["status"].is_null() || created.data["status"] == json!({"ok": true}));
    api.patch_status("g1", &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Ready"}}))).await.unwrap();
    let spec_patch = api.patch("g1", &PatchParams::default(), &Patch::Merge(json!({"spec": {"x": 2}, "status": {"phase": "Hacked"}}))).await.unwrap();
    assert_eq!(spec_patch.data["status"]["phase"], "Ready");
    assert_eq!(spec_patch.metadata.generation, Some(2));
    // Deleting the CRD deletes its objects, then the CRD disappears.
    let crd_uid = crds.get("gadgets.test.cleanroom.dev").await.unwrap().metadata.uid.unwrap();
    crds.delete("gadgets.test.cleanroom.dev", &DeleteParams::default()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), await_condition(crds.clone(), "gadgets.test.cleanroom.dev", conditions::is_deleted(&crd_uid)))
        .await
        .expect("CRD removed in time")
        .unwrap();
    let err = api.get("g1").await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_list_watch_ends_initial_events_with_a_bookmark() {
    use kube::runtime::watcher;
    let h = Harness::start().await;
    let client = h.sim.client();
    ns(&client, "stream").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "stream");
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("s{i}"))).await.unwrap();
    }
    // client-go's WatchList (kubectl 1.35+, kube-rs streaming lists): initial ADDED events,
    // then a BOOKMARK annotated k8s.io/initial-events-end.
    let cfg = watcher::Config::default().streaming_lists();
    let mut stream = watcher(api.clone(), cfg).boxed();
    let mut names = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await.expect("initial events in time").unwrap().unwrap() {
            watcher::Event::InitApply(c) => names.push(c.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    names.retain(|n| n.starts_with('s'));
    names.sort();
    assert_eq!(names, vec!["s0", "s1", "s2"]);
}
