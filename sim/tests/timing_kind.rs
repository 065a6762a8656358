//! `Timing::Kind`: kind-like latencies, observed as intermediate states on a manual clock
//! (never by wall-clock time).

mod workloads_common;
use workloads_common::*;

use std::time::Duration;

use cleanroom_sim::{Clock, SimOptions, Timing};
use serde_json::Value;

const NODE: &str = "cleanroom-worker";

fn pod(name: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  nodeName: {NODE}\n  containers: [{{name: main, image: busybox:1.37, command: [sleep, '3600']}}]\n")
}

fn is_running(p: &Value) -> bool {
    p["status"]["phase"] == "Running"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_start_takes_time_and_deleted_pod_logs_wait_for_the_kubelet_log_gc() {
    let clock = Clock::manual(chrono::Utc::now());
    let (sim, kc, _d) = start_with(SimOptions { timing: Timing::Kind, clock: clock.clone(), ..Default::default() }).await;
    let ops = sim.nodes();

    // Pod start: ContainerCreating first, Running only once 1–3 s have passed on the clock.
    let mut rx = sim.api().store.subscribe();
    apply(&kc, &pod("a")).await;
    let seen = record_until(&mut rx, 20, "pods", "default", "a", |p| container_state(p).1 == "ContainerCreating").await;
    assert!(!seen.iter().any(is_running), "{seen:#?}");
    clock.advance(Duration::from_secs(3));
    let p = record_until(&mut rx, 20, "pods", "default", "a", is_running).await.pop().unwrap();
    let uid = p["metadata"]["uid"].as_str().unwrap().to_string();
    let log_dir = format!("default_a_{uid}");
    assert!(ops.pod_log_dirs(NODE).await.unwrap().contains(&log_dir));
    assert!(ops.path_exists(NODE, &format!("/var/log/containers/a_default_main-{}.log", p["status"]["containerStatuses"][0]["containerID"].as_str().unwrap().trim_start_matches("containerd://"))).await.unwrap());

    // Deleted: the pod's kubelet dir goes at once, its log dir lingers until the log GC.
    kubectl(&kc, &["delete", "pod", "a", "--wait=true"]).await;
    assert!(!ops.path_exists(NODE, &format!("/var/lib/kubelet/pods/{uid}")).await.unwrap());
    assert!(ops.pod_log_dirs(NODE).await.unwrap().contains(&log_dir), "removed before the kubelet's log GC");

    // A minute later the GC has run: the kubelet's next pass (here: noticing pod b) shows it.
    clock.advance(Duration::from_secs(60));
    apply(&kc, &pod("b")).await;
    record_until(&mut rx, 20, "pods", "default", "b", |p| container_state(p).1 == "ContainerCreating").await;
    assert!(!ops.pod_log_dirs(NODE).await.unwrap().contains(&log_dir), "log dir still there after the GC period");
    let links: Vec<String> = std::fs::read_dir(ops.root(NODE).unwrap().join("var/log/containers")).unwrap()
        .flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(!links.is_empty() && !links.iter().any(|l| l.starts_with("a_default_")), "dangling links are removed too, live ones stay: {links:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_timing_starts_pods_without_container_creating() {
    let clock = Clock::manual(chrono::Utc::now());
    let (sim, kc, _d) = start_with(SimOptions { clock, ..Default::default() }).await;
    let mut rx = sim.api().store.subscribe();
    apply(&kc, &pod("a")).await;
    let seen = record_until(&mut rx, 20, "pods", "default", "a", is_running).await;
    assert!(!seen.iter().any(|p| container_state(p).1 == "ContainerCreating"), "{seen:#?}");
}
