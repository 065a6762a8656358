//! The write-storm guard: a writer storing one object more than N times a second is named,
//! with the object, in `SimCluster::write_storms` (and logged at error).

use cleanroom_sim::{SimCluster, SimOptions};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_rewriting_one_object_is_reported() {
    let sim = SimCluster::start(SimOptions { write_storm_limit: Some(5), ..Default::default() }).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "hot"}, "data": {"n": "0"}})).unwrap();
    api.create(&PostParams { field_manager: Some("looper".into()), ..Default::default() }, &cm).await.unwrap();
    assert!(sim.write_storms().is_empty(), "{:?}", sim.write_storms());
    // 100 real changes in a row: more than 5 within some one-second window unless a loopback
    // patch takes 200 ms.
    let pp = PatchParams { field_manager: Some("looper".into()), ..Default::default() };
    for i in 1..=100 {
        api.patch("hot", &pp, &Patch::Merge(json!({"data": {"n": i.to_string()}}))).await.unwrap();
    }
    // Only the looper's: at this test's low limit of 5, a controller's start-up burst on a loaded machine
    // may be reported too (the guard's own limit in tests is higher).
    let looper = || sim.write_storms().into_iter().filter(|s| s.writer == "manager/looper").collect::<Vec<_>>();
    let storms = looper();
    assert_eq!(storms.len(), 1, "{storms:?}");
    assert_eq!(storms[0].object, "configmaps default/hot");
    // No-op writes store nothing, so they are no storm.
    for _ in 0..30 {
        api.patch("hot", &pp, &Patch::Merge(json!({"data": {"n": "100"}}))).await.unwrap();
    }
    assert_eq!(looper().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_unless_asked() {
    // The environment variable would turn it on.
    if std::env::var("CLEANROOM_SIM_WRITE_STORM").is_ok() {
        return;
    }
    let sim = SimCluster::start(SimOptions::default()).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "hot"}})).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    for i in 0..30 {
        api.patch("hot", &PatchParams::default(), &Patch::Merge(json!({"data": {"n": i.to_string()}}))).await.unwrap();
    }
    assert!(sim.write_storms().is_empty());
}
