//! Cleanup that completes a moment later, as it does on real clusters: eventual assertions and the settled
//! oracle wait for it (watch-driven); `immediately: true` and `settle: 0s` show the race they remove.

mod common;

use std::time::Duration;

use cleanroom::primitives::{Action, Primitive, StepError, assert, oracle};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};

/// A ConfigMap deleted now whose finalizer "a controller" releases after `after`.
async fn slow_delete(client: &kube::Client, name: &str, after: Duration) -> tokio::task::JoinHandle<()> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = ConfigMap {
        metadata: ObjectMeta { name: Some(name.into()), finalizers: Some(vec!["kubernetes.io/cleanroom-test".into()]), ..Default::default() },
        ..Default::default()
    };
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.delete(name, &DeleteParams::default()).await.unwrap();
    let name = name.to_string();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        cms.patch(&name, &PatchParams::default(), &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}}))).await.unwrap();
    })
}

fn absent(name: &str, immediately: bool) -> assert::Absent {
    serde_json::from_value(serde_json::json!({"kind": "ConfigMap", "namespace": "default", "name": name, "immediately": immediately})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertions_wait_for_what_is_on_its_way() {
    let sim = common::sim().await;
    let mut ctx = common::ctx(&sim);

    let release = slow_delete(&sim.client(), "going", Duration::from_millis(400)).await;
    let once = absent("going", true).run(&mut ctx).await;
    assert!(matches!(&once, Err(StepError::Failed(m)) if m.contains("expected ConfigMap default/going to be absent, found: going")), "{once:?}");
    let eventual = tokio::time::timeout(Duration::from_secs(30), absent("going", false).run(&mut ctx)).await.expect("within the timeout");
    assert!(eventual.is_ok(), "{eventual:?}");
    release.await.unwrap();

    // One that never goes: the step's timeout ends it, quoting the last check.
    let stays = serde_json::from_value::<assert::Exists>(serde_json::json!({"kind": "ConfigMap", "namespace": "default", "name": "never"})).unwrap();
    let r = tokio::time::timeout(Duration::from_millis(500), stays.run(&mut ctx)).await;
    assert!(r.is_err(), "still waiting at the step timeout");
    assert_eq!(ctx.observed, "expected ConfigMap default/never to exist, found none");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oracle_step_settles_unless_told_not_to() {
    let sim = common::sim().await;
    let mut ctx = common::ctx(&sim);
    let snap: oracle::Snapshot = serde_json::from_value(serde_json::json!({"name": "base"})).unwrap();
    snap.run(&mut ctx).await.unwrap();
    let check = |settle: &str| -> oracle::AssertClean { serde_json::from_value(serde_json::json!({"baseline": "base", "settle": settle})).unwrap() };

    let release = slow_delete(&sim.client(), "slow", Duration::from_millis(400)).await;
    let once = check("0s").run(&mut ctx).await;
    assert!(
        matches!(&once, Err(StepError::Leftovers { listing, .. }) if listing.contains("ConfigMap default/slow: still in flight: terminating")),
        "looking once, the deletion is still in flight: {once:?}"
    );
    let settled = check("30s").run(&mut ctx).await;
    assert!(settled.is_ok(), "{settled:?}");
    release.await.unwrap();
    assert!(matches!(Action::OracleAssertClean(check("5s")).primitive().describe(), d if d.contains("base")));
    sim.shutdown().await;
}
