//! Each primitive family against the embedded cluster, composed from Rust (a scenario is data; the
//! primitives are a library).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use cleanroom::primitives::{self as p, Primitive, StepError};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams, PostParams};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const CRD_AND_CR: &str = r#"
apiVersion: example.cleanroom.dev/v1
kind: Thing
metadata: { name: one, namespace: prims, labels: { app: things } }
spec: { size: 2 }
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: things.example.cleanroom.dev }
spec:
  group: example.cleanroom.dev
  scope: Namespaced
  names: { kind: Thing, plural: things, singular: thing, listKind: ThingList }
  versions:
    - name: v1
      served: true
      storage: true
      subresources: { status: {} }
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
"#;

fn source(inline: &str) -> p::manifests::Source {
    p::manifests::Source { inline: Some(inline.into()), ..Default::default() }
}

#[tokio::test]
async fn namespace_create_and_delete_and_wait() {
    let sim = common::sim().await;
    let mut ctx = common::ctx(&sim);
    p::namespace::Create { name: "ns1".into(), labels: labels(&[("a", "b")]) }.run(&mut ctx).await.unwrap();
    let ns: Api<Namespace> = Api::all(sim.client());
    let got = ns.get("ns1").await.unwrap();
    let l = got.metadata.labels.unwrap();
    assert_eq!(l.get("a").map(String::as_str), Some("b"));
    assert_eq!(l.get(cleanroom::RUN_LABEL).map(String::as_str), Some("test"), "run label set");
    assert_eq!(ctx.created.len(), 1, "tracked for teardown");
    let out = p::namespace::Delete { name: "ns1".into(), wait: true }.run(&mut ctx).await.unwrap();
    assert!(out.detail.unwrap().contains("deleted"));
    assert!(ns.get_opt("ns1").await.unwrap().is_none(), "gone once the step returns");
    let again = p::namespace::Delete { name: "ns1".into(), wait: true }.run(&mut ctx).await.unwrap();
    assert!(again.detail.unwrap().contains("already absent"));
}

#[tokio::test]
async fn manifests_apply_crds_first_then_delete() {
    let sim = common::sim().await;
    let mut ctx = common::ctx(&sim);
    p::namespace::Create { name: "prims".into(), labels: BTreeMap::new() }.run(&mut ctx).await.unwrap();
    let out = p::manifests::Apply(source(CRD_AND_CR)).run(&mut ctx).await.unwrap();
    assert_eq!(out.detail.as_deref(), Some("applied 2 object(s) (1 CRDs first)"));
    // Re-applying is idempotent (server-side apply).
    p::manifests::Apply(source(CRD_AND_CR)).run(&mut ctx).await.unwrap();
    p::assert::Field {
        api_version: None,
        kind: "Thing".into(),
        name: "one".into(),
        namespace: Some("prims".into()),
        path: "spec.size".into(),
        equals: 2.into(),
        immediately: false,
    }
    .run(&mut ctx)
    .await
    .unwrap();
    let del = p::manifests::Delete(source(CRD_AND_CR)).run(&mut ctx).await.unwrap();
    assert_eq!(del.detail.as_deref(), Some("deleted 2 of 2 object(s)"));
    let err = ctx.resolve(None, "Thing").await.unwrap_err();
    assert!(err.to_string().contains("no resource type `Thing`"), "{err}");
}

#[tokio::test]
async fn manifests_apply_the_rendered_chart() {
    let sim = common::sim().await;
    let mut ctx = common::ctx(&sim);
    ctx.base_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    p::namespace::Create { name: "monitoring".into(), labels: BTreeMap::new() }.run(&mut ctx).await.unwrap();
    let src = p::manifests::Source {
        file: Some("fixtures/kube-prometheus-stack/rendered/no-storage.yaml".into()),
        ..Default::default()
    };
    let out = tokio::time::timeout(Duration::from_secs(60), p::manifests::Apply(src).run(&mut ctx)).await.unwrap().unwrap();
    let detail = out.detail.unwrap();
    assert!(detail.starts_with("applied 1"), "{detail}");
    p::assert::Count {
        api_version: None,
        kind: "CustomResourceDefinition".into(),
        namespace: None,
        selector: None,
        count: None,
        min: Some(10),
        max: None,
        immediately: false,
    }
    .run(&mut ctx)
    .await
    .unwrap();
}

#[tokio::test]
async fn asserts_pass_and_fail_with_precise_messages() {
    let sim = common::sim().await;
    let mut ctx = common::ctx(&sim);
    let cms: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "c1", "labels": {"app": "x"}}, "data": {"k": "v", "n": "1"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let exists = |pattern: serde_json::Value| p::assert::Exists {
        api_version: None,
        kind: "configmaps".into(),
        name: Some("c1".into()),
        namespace: Some("default".into()),
        selector: None,
        pattern: Some(pattern),
        immediately: true,
    };
    exists(serde_json::json!({"data": {"k": "v"}})).run(&mut ctx).await.unwrap();
    let e = exists(serde_json::json!({"data": {"k": "other"}})).run(&mut ctx).await.unwrap_err();
    assert!(e.to_string().contains("expected configmaps default/c1 matching the given fields to exist"), "{e}");
    let absent = p::assert::Absent {
        api_version: None,
        kind: "ConfigMap".into(),
        name: None,
        namespace: Some("default".into()),
        selector: Some("app=x".into()),
        pattern: None,
        immediately: true,
    };
    let e = absent.run(&mut ctx).await.unwrap_err();
    assert!(e.to_string().contains("found: c1"), "{e}");
    let count = p::assert::Count {
        api_version: Some("v1".into()),
        kind: "ConfigMap".into(),
        namespace: Some("default".into()),
        selector: Some("app=x".into()),
        count: Some(2),
        min: None,
        max: None,
        immediately: true,
    };
    let e = count.run(&mut ctx).await.unwrap_err();
    assert!(e.to_string().contains("expected exactly 2 ConfigMap in namespace default with selector `app=x`, found 1"), "{e}");
    let e = ctx.resolve(None, "ConfigMapp").await.unwrap_err();
    assert!(e.to_string().contains("did you mean ConfigMap"), "{e}");
}

#[tokio::test]
async fn waits_are_watches_with_named_timeouts() {
    let sim = common::sim().await;
    let mut ctx = common::ctx(&sim);
    p::namespace::Create { name: "prims".into(), labels: BTreeMap::new() }.run(&mut ctx).await.unwrap();
    p::manifests::Apply(source(CRD_AND_CR)).run(&mut ctx).await.unwrap();
    p::wait::CrdEstablished { name: "things.example.cleanroom.dev".into() }.run(&mut ctx).await.unwrap();

    // A condition that appears later: the watch sees it.
    let client = sim.client();
    let setter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = kube::discovery::ApiResource {
            group: "example.cleanroom.dev".into(),
            version: "v1".into(),
            api_version: "example.cleanroom.dev/v1".into(),
            kind: "Thing".into(),
            plural: "things".into(),
        };
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client, "prims", &r);
        let status = serde_json::json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        api.patch_status("one", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    });
    let w = p::wait::ConditionWait {
        api_version: None,
        kind: "Thing".into(),
        name: "one".into(),
        namespace: Some("prims".into()),
        type_: "Ready".into(),
        status: "True".into(),
    };
    tokio::time::timeout(Duration::from_secs(20), w.run(&mut ctx)).await.expect("condition seen").unwrap();
    setter.await.unwrap();

    // A PVC that can never bind: the runner's timeout names the wait and what it saw.
    p::sabotage::PvcMissingClass {
        name: "stuck".into(),
        namespace: "prims".into(),
        storage_class: "nope".into(),
        labels: BTreeMap::new(),
    }
    .run(&mut ctx)
    .await
    .unwrap();
    let s = cleanroom::scenario::parse_str(
        "name: t\nsteps:\n  - wait.pvc-bound: {name: stuck, namespace: prims}\n    timeout: 300ms\n",
        std::path::Path::new("t.yaml"),
        None,
    )
    .unwrap();
    let r = cleanroom::runner::run_step(&s.steps[0], &mut ctx, "steps", None).await;
    let reason = r.reason.unwrap();
    assert!(reason.starts_with("timed out after 300ms waiting for PersistentVolumeClaim prims/stuck to be Bound"), "{reason}");
    assert!(reason.contains("last seen: phase"), "{reason}");

    // wait.deleted returns once the object goes.
    let client = sim.client();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let api: Api<ConfigMap> = Api::namespaced(client, "prims");
        let _ = api.delete("gone-soon", &Default::default()).await;
    });
    let cms: Api<ConfigMap> = Api::namespaced(sim.client(), "prims");
    cms.create(&PostParams::default(), &serde_json::from_value(serde_json::json!({"metadata": {"name": "gone-soon"}})).unwrap())
        .await
        .unwrap();
    let d = p::wait::Deleted { api_version: None, kind: "ConfigMap".into(), name: "gone-soon".into(), namespace: Some("prims".into()) };
    tokio::time::timeout(Duration::from_secs(20), d.run(&mut ctx)).await.expect("deletion seen").unwrap();
}

#[tokio::test]
async fn sabotage_purge_and_oracle_reasons() {
    let sim = common::sim().await;
    let mut ctx = common::ctx(&sim);
    p::oracle::Snapshot { name: "base".into() }.run(&mut ctx).await.unwrap();
    p::namespace::Create { name: "sab".into(), labels: BTreeMap::new() }.run(&mut ctx).await.unwrap();
    let inst = |v: &str| labels(&[("app.kubernetes.io/instance", v)]);
    p::sabotage::StaleClusterRole { name: "stale".into(), labels: inst("rel") }.run(&mut ctx).await.unwrap();
    p::sabotage::StaleStatefulSet { name: "db".into(), namespace: "sab".into(), labels: inst("rel-db") }.run(&mut ctx).await.unwrap();
    p::sabotage::ReleasedPv { name: "pv1".into(), storage_class: "standard".into(), labels: BTreeMap::new() }.run(&mut ctx).await.unwrap();
    p::sabotage::OrphanCrd { group: "orphans.cleanroom.dev".into(), kind: "Orphan".into(), labels: BTreeMap::new() }.run(&mut ctx).await.unwrap();
    let hook: p::sabotage::WebhookFailClosed =
        serde_json::from_value(serde_json::json!({"name": "hook"})).unwrap();
    hook.run(&mut ctx).await.unwrap();

    p::purge::BySelector {
        kinds: vec!["StatefulSet".into(), "ClusterRole".into()],
        selector: "app.kubernetes.io/instance=rel".into(),
        namespace: None,
        wait: true,
    }
    .run(&mut ctx)
    .await
    .unwrap();
    let check = p::oracle::AssertClean { baseline: "base".into(), ignore: vec![], default_churn: true, settle: None };
    let err = check.run(&mut ctx).await.unwrap_err();
    let StepError::Leftovers { listing, .. } = &err else { panic!("{err}") };
    assert!(listing.contains("StatefulSet.apps sab/db: label app.kubernetes.io/instance=rel-db differs from the purged value `rel`"), "{listing}");
    assert!(listing.contains("PersistentVolume pv1: Released volume kept by its reclaim policy Retain"), "{listing}");
    assert!(!listing.contains("ClusterRole"), "the ClusterRole was purged: {listing}");
    assert!(ctx.leftovers.len() >= 5, "{listing}"); // ns (and what the cluster put in it), sts, pv, crd, webhook

    // Finalizers: removing them is reported loudly.
    let cms: Api<ConfigMap> = Api::namespaced(sim.client(), "sab");
    cms.create(&PostParams::default(), &serde_json::from_value(serde_json::json!({
        "metadata": {"name": "held", "finalizers": ["example.com/hold"]}
    })).unwrap()).await.unwrap();
    p::purge::RemoveFinalizers { api_version: None, kind: "ConfigMap".into(), name: Some("held".into()), namespace: Some("sab".into()), selector: None }
        .run(&mut ctx)
        .await
        .unwrap();
    assert!(ctx.findings.iter().any(|f| f.text.contains("FINALIZERS REMOVED from ConfigMap sab/held: example.com/hold")));

    p::purge::BySelector {
        kinds: vec!["StatefulSet".into(), "ValidatingWebhookConfiguration".into()],
        selector: "cleanroom.dev/planted=true".into(),
        namespace: None,
        wait: true,
    }
    .run(&mut ctx)
    .await
    .unwrap();
    p::purge::Crds { group: "orphans.cleanroom.dev".into(), wait: true }.run(&mut ctx).await.unwrap();
    let pvs = p::purge::ReleasedPvs { selector: None, wait: true }.run(&mut ctx).await.unwrap();
    assert!(pvs.detail.unwrap().contains("deleted 1 Released PV(s)"));
    p::namespace::Delete { name: "sab".into(), wait: true }.run(&mut ctx).await.unwrap();
    check.run(&mut ctx).await.unwrap();
}

#[tokio::test]
async fn helm_and_node_primitives_skip_with_a_reason() {
    let sim = common::sim().await;
    // A context without the provider's Helm engine and node operations.
    let mut ctx = common::ctx(&sim);
    let install: p::helm::Install = serde_json::from_value(serde_json::json!({"release": "r", "chart": "c", "namespace": "n"})).unwrap();
    let out = install.run(&mut ctx).await.unwrap();
    assert!(out.skipped.unwrap().contains("cannot run on provider `sim`: no Helm engine"));
    let out = p::node::Cordon { node: "n".into() }.run(&mut ctx).await.unwrap();
    assert!(out.skipped.is_some());
}

#[tokio::test]
async fn cluster_ensure_and_reset() {
    let sim = common::sim().await;
    let mut ctx = common::ctx(&sim);
    p::cluster::Ensure {}.run(&mut ctx).await.unwrap();
    p::oracle::Snapshot { name: p::cluster::RUN_START_SNAPSHOT.into() }.run(&mut ctx).await.unwrap();
    p::namespace::Create { name: "r1".into(), labels: BTreeMap::new() }.run(&mut ctx).await.unwrap();
    p::sabotage::StaleClusterRole { name: "r1-role".into(), labels: BTreeMap::new() }.run(&mut ctx).await.unwrap();
    let out = p::cluster::Reset::default().run(&mut ctx).await.unwrap();
    assert!(out.detail.unwrap().starts_with("deleted 2 object(s)"));
    p::oracle::AssertClean { baseline: p::cluster::RUN_START_SNAPSHOT.into(), ignore: vec![], default_churn: true, settle: None }
        .run(&mut ctx)
        .await
        .unwrap();
}
