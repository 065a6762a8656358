//! Memory: deleted objects are not kept alive (the watch history is bounded and compacts),
//! and Events expire a TTL after their last write (kube-apiserver's --event-ttl).

mod common;

use std::time::Duration;

use cleanroom_sim::store::EventType;
use cleanroom_sim::SimOptions;
use common::Harness;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

const OBJECTS: usize = 5_000;
const HISTORY: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_then_delete_gives_objects_and_history_back() {
    let h = Harness::start_with(SimOptions { watch_history: HISTORY, ..Default::default() }).await;
    let store = &h.sim.api().store;
    let api: Api<ConfigMap> = Api::namespaced(h.sim.client(), "default");
    // The cluster's own objects keep changing while it boots; count this test's objects.
    let configmaps = || store.list("configmaps", Some("default")).0.iter().filter(|c| c.pointer("/metadata/labels/batch").is_some()).count();
    let baseline = configmaps();
    let rv_before = store.current_rv();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            for i in (t..OBJECTS).step_by(8) {
                let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("m{i}"), "labels": {"batch": "x"}}, "data": {"k": "v".repeat(100)}})).unwrap();
                api.create(&PostParams::default(), &cm).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(configmaps(), baseline + OBJECTS);
    let peak = store.len();
    assert!(store.history_len() <= HISTORY, "history {} > {HISTORY}", store.history_len());
    api.delete_collection(&DeleteParams::default(), &ListParams::default().labels("batch=x")).await.unwrap();
    assert_eq!(configmaps(), baseline, "objects left after deleting them all");
    assert!(store.len() + OBJECTS <= peak + 100, "store holds {} objects, {peak} at the peak", store.len());
    assert!(store.history_len() <= HISTORY, "history {} > {HISTORY}", store.history_len());
    // The compacted past is gone for watchers too: 410 Gone, as from etcd.
    let mut w = api.watch(&WatchParams::default(), &rv_before.to_string()).await.unwrap().boxed();
    match w.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_expire_after_the_ttl() {
    let h = Harness::start_with(SimOptions { event_ttl: Duration::from_secs(2), ..Default::default() }).await;
    let mut rx = h.sim.api().store.subscribe();
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let ev = format!("apiVersion: v1\nkind: Event\nmetadata: {{name: e1, namespace: default}}\ninvolvedObject: {{kind: Pod, name: p, namespace: default}}\nreason: Test\nmessage: hello\ntype: Normal\nfirstTimestamp: \"{now}\"\nlastTimestamp: \"{now}\"\n");
    let r = h.kubectl_stdin(&["create", "-f", "-"], Some(ev)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Watch for its removal; the bound only stops a hang.
    let deleted = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match rx.recv().await {
                Ok(e) if &*e.key == "events" && e.name == "e1" && e.kind == EventType::Deleted => return true,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return false,
            }
        }
    }).await;
    assert_eq!(deleted, Ok(true), "event e1 never expired");
    let r = h.kubectl(&["get", "event", "e1"]).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
}
