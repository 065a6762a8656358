//! `generateName` under load: a generated name that collides with an existing object is
//! generated afresh (KEP-4420 RetryGenerateName, GA in 1.32), so clients never see 409.

mod common;

use common::Harness;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;

/// Creates in all. Five-character suffixes give 27^5 ≈ 14.3M names; 20,000 of them collide
/// about 14 times without retries (birthday bound), and practically never with eight tries.
const CREATES: usize = 20_000;
const WORKERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_generate_name_creates_never_conflict() {
    let h = Harness::start().await;
    let api: Api<ConfigMap> = Api::namespaced(h.sim.client(), "default");
    let template: ConfigMap = serde_json::from_value(json!({"metadata": {"generateName": "w-"}, "data": {"k": "v"}})).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let (api, template) = (api.clone(), template.clone());
        tasks.push(tokio::spawn(async move {
            let mut conflicts = Vec::new();
            for _ in 0..CREATES / WORKERS {
                match api.create(&PostParams::default(), &template).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 409 => conflicts.push(e.message),
                    Err(e) => panic!("create failed: {e}"),
                }
            }
            conflicts
        }));
    }
    let mut conflicts = Vec::new();
    for t in tasks {
        conflicts.extend(t.await.unwrap());
    }
    assert!(conflicts.is_empty(), "{} creates answered 409, e.g. {:?}", conflicts.len(), conflicts.first());
    let (items, _) = h.sim.api().store.list("configmaps", Some("default"));
    let generated = items.iter().filter(|c| c.pointer("/metadata/name").and_then(|n| n.as_str()).is_some_and(|n| n.starts_with("w-") && n.len() == 7)).count();
    assert_eq!(generated, CREATES / WORKERS * WORKERS);
}
