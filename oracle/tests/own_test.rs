//! The oracle used as a library, the way a Rust user would in their own `#[tokio::test]`,
//! against an embedded cluster.

use std::collections::BTreeMap;

use cleanroom_oracle::{PurgeRecord, Reason, check_clean, snapshot};
use cleanroom_sim::{SimCluster, SimOptions};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};

#[tokio::test]
async fn a_leftover_is_named_and_a_clean_cluster_is_clean() {
    let sim = SimCluster::start(SimOptions { name: "oracle".into(), workers: 1, port: 0, root_dir: None, ..Default::default() }).await.unwrap();
    let client = sim.client();
    let baseline = snapshot(&client).await.unwrap();
    assert!(baseline.objects.len() > 10, "a fresh cluster has system objects");

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let labels = BTreeMap::from([("app".to_string(), "other".to_string())]);
    let cm = ConfigMap { metadata: ObjectMeta { name: Some("left".into()), labels: Some(labels), ..Default::default() }, ..Default::default() };
    cms.create(&PostParams::default(), &cm).await.unwrap();

    let diff = check_clean(&client, &baseline, &[PurgeRecord::selector("app=demo")]).await.unwrap();
    assert!(!diff.is_clean());
    let left: Vec<_> = diff.leftovers.iter().filter(|l| l.name == "left").collect();
    assert_eq!(left.len(), 1, "{}", diff.listing());
    assert!(matches!(left[0].reason_code, Reason::LabelValueDiffers { .. }), "{:?}", left[0]);
    assert!(left[0].reason.contains("differs from the purged value `demo`"), "{}", left[0].reason);

    cms.delete("left", &DeleteParams::default()).await.unwrap();
    let diff = check_clean(&client, &baseline, &[]).await.unwrap();
    assert!(diff.is_clean(), "{}", diff.listing());
    sim.shutdown().await;
}

/// Cleanup that finishes a moment later (a finalizer released by "a controller" after 300 ms): a one-shot look
/// reports it, the settled oracle waits for it; one that never finishes is reported as in flight.
#[tokio::test]
async fn the_oracle_settles_before_deciding() {
    use cleanroom_oracle::{SettleOptions, default_churn, diff, settle};
    use kube::api::{Patch, PatchParams};
    use std::time::Duration;

    let sim = SimCluster::start(SimOptions { name: "settle".into(), workers: 1, ..Default::default() }).await.unwrap();
    let client = sim.client();
    let baseline = snapshot(&client).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let held = |name: &str| ConfigMap {
        metadata: ObjectMeta { name: Some(name.into()), finalizers: Some(vec!["kubernetes.io/cleanroom-test".into()]), ..Default::default() },
        ..Default::default()
    };
    let release = serde_json::json!({"metadata": {"finalizers": null}});

    cms.create(&PostParams::default(), &held("slow")).await.unwrap();
    cms.delete("slow", &DeleteParams::default()).await.unwrap();
    let releaser = {
        let (cms, release) = (cms.clone(), release.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            cms.patch("slow", &PatchParams::default(), &Patch::Merge(&release)).await.unwrap();
        })
    };
    let once = diff(&baseline, &snapshot(&client).await.unwrap(), &default_churn(), &[]);
    assert!(
        once.leftovers.iter().any(|l| l.name == "slow" && l.reason.starts_with("terminating")),
        "without settling the race shows: {}",
        once.listing()
    );
    let d = check_clean(&client, &baseline, &[]).await.unwrap();
    assert!(d.is_clean(), "settled: {}", d.listing());
    releaser.await.unwrap();

    cms.create(&PostParams::default(), &held("stuck")).await.unwrap();
    cms.delete("stuck", &DeleteParams::default()).await.unwrap();
    let settled = settle(&client, SettleOptions { timeout: Duration::from_millis(500), quiet: Duration::from_secs(2) }).await.unwrap();
    let mut d = diff(&baseline, &settled.inventory, &default_churn(), &[]);
    settled.mark(&mut d);
    let stuck = d.leftovers.iter().find(|l| l.name == "stuck").expect("still there");
    assert!(matches!(stuck.reason_code, Reason::InFlight { .. }), "{stuck:?}");
    assert!(stuck.reason.starts_with("still in flight: terminating for "), "{}", stuck.reason);
    assert!(stuck.reason.contains("held by finalizer kubernetes.io/cleanroom-test"), "{}", stuck.reason);
    cms.patch("stuck", &PatchParams::default(), &Patch::Merge(&release)).await.unwrap();
    sim.shutdown().await;
}
