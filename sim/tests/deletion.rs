//! DELETE semantics: preconditions, the Status body, propagation finalizers, system namespaces.

mod common;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preconditions_and_status_body() {
    let h = common::Harness::start().await;
    let api: Api<ConfigMap> = Api::namespaced(h.sim.client(), "default");
    let c = api.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap()).await.unwrap();
    let wrong = DeleteParams { preconditions: Some(Preconditions { uid: Some("not-the-uid".into()), resource_version: None }), ..Default::default() };
    match api.delete("p", &wrong).await.unwrap_err() {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.message, format!("Operation cannot be fulfilled on configmaps \"p\": Precondition failed: UID in precondition: not-the-uid, UID in object meta: {}", c.metadata.uid.clone().unwrap()));
        }
        e => panic!("{e:?}"),
    }
    let right = DeleteParams { preconditions: Some(Preconditions { uid: c.metadata.uid.clone(), resource_version: None }), ..Default::default() };
    let res = api.delete("p", &right).await.unwrap();
    let status = res.right().expect("immediate delete answers with a Status");
    assert_eq!(status.details.unwrap().uid, c.metadata.uid.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propagation_policies_add_their_finalizers() {
    let h = common::Harness::start().await;
    let api: Api<ConfigMap> = Api::namespaced(h.sim.client(), "default");
    for (name, policy, fin) in [("fg", PropagationPolicy::Foreground, "foregroundDeletion"), ("or", PropagationPolicy::Orphan, "orphan")] {
        // A second finalizer keeps the object so the propagation finalizer stays observable.
        let obj: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name, "finalizers": ["test.cleanroom.dev/hold"]}})).unwrap();
        api.create(&PostParams::default(), &obj).await.unwrap();
        let dp = DeleteParams { propagation_policy: Some(policy), ..Default::default() };
        let pending = api.delete(name, &dp).await.unwrap().left().expect("deferred delete returns the object");
        assert!(pending.metadata.deletion_timestamp.is_some());
        // The DELETE answer carries the propagation finalizer (the garbage collector then
        // removes it, at once here since the object has no dependents).
        let fins = pending.metadata.finalizers.clone().unwrap();
        assert!(fins.iter().any(|f| f == fin), "{name}: {fins:?}");
        api.patch(name, &PatchParams::default(), &Patch::Json::<()>(serde_json::from_value(json!([{"op": "remove", "path": "/metadata/finalizers/0"}])).unwrap())).await.unwrap();
    }
    let nss: Api<Namespace> = Api::all(h.sim.client());
    match nss.delete("kube-system", &DeleteParams::default()).await.unwrap_err() {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403);
            assert_eq!(s.message, "namespaces \"kube-system\" is forbidden: this namespace may not be deleted");
        }
        e => panic!("{e:?}"),
    }
}
