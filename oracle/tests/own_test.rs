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
