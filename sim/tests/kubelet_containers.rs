//! What the emulated kubelet knows about containers without running them: a shell image with
//! nothing to run exits at once and crash-loops with the kubelet's back-off.

mod workloads_common;
use workloads_common::*;

use std::time::Duration;

use cleanroom_sim::{Clock, SimOptions};

fn pod(name: &str, policy: &str, container: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  restartPolicy: {policy}\n  containers: [{container}]\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_without_a_command_completes_then_crash_loops_with_back_off() {
    let clock = Clock::manual(chrono::Utc::now());
    let (sim, kc, _d) = start_with(SimOptions { clock: clock.clone(), ..Default::default() }).await;
    let mut rx = sim.api().store.subscribe();
    apply(&kc, &pod("sh", "Always", "{name: main, image: busybox:1.37}")).await;
    let seen = record_until(&mut rx, 20, "pods", "default", "sh", |p| container_state(p).1 == "CrashLoopBackOff").await;
    let states: Vec<_> = seen.iter().map(container_state).filter(|s| !s.0.is_empty()).collect();
    // sh read EOF and exited 0 (Completed), was restarted once at once, exited again: back-off.
    let completed = states.iter().position(|s| *s == ("terminated".into(), "Completed".into(), 0)).unwrap_or_else(|| panic!("{states:?}"));
    assert_eq!(states.last().unwrap(), &("waiting".to_string(), "CrashLoopBackOff".to_string(), 1), "{states:?}");
    assert!(completed < states.len() - 1);
    assert!(!states.iter().any(|s| s.0 == "running"), "{states:?}");
    let p = seen.last().unwrap();
    let uid = p["metadata"]["uid"].as_str().unwrap();
    let st = &p["status"]["containerStatuses"][0];
    assert_eq!(st["state"]["waiting"]["message"], format!("back-off 10s restarting failed container=main pod=sh_default({uid})"));
    assert_eq!(st["lastState"]["terminated"]["reason"], "Completed");
    assert_eq!(p["status"]["phase"], "Running");
    assert!(p["status"]["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "Ready" && c["status"] == "False"));
    let out = kubectl(&kc, &["get", "pod", "sh", "--no-headers"]).await;
    assert!(out.contains("CrashLoopBackOff"), "{out}");
    let ev = kubectl(&kc, &["get", "events", "--field-selector", "involvedObject.name=sh,reason=BackOff", "-o", "jsonpath={.items[*].message}"]).await;
    assert!(ev.contains(&format!("Back-off restarting failed container main in pod sh_default({uid})")), "{ev}");

    // The back-off doubles: the next restart comes 10 s later, the one after 20 s later.
    clock.advance(Duration::from_secs(10));
    let p = record_until(&mut rx, 20, "pods", "default", "sh", |p| container_state(p).2 == 2).await.pop().unwrap();
    assert!(p["status"]["containerStatuses"][0]["state"]["waiting"]["message"].as_str().unwrap().starts_with("back-off 20s "), "{p}");
    clock.advance(Duration::from_secs(20));
    let p = record_until(&mut rx, 20, "pods", "default", "sh", |p| container_state(p).2 == 3).await.pop().unwrap();
    assert!(p["status"]["containerStatuses"][0]["state"]["waiting"]["message"].as_str().unwrap().starts_with("back-off 40s "), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_with_a_command_runs_and_never_policy_succeeds() {
    let (sim, kc, _d) = start().await;
    apply(&kc, &pod("sleeper", "Always", "{name: main, image: busybox:1.37, command: [sleep, '3600']}")).await;
    apply(&kc, &pod("once", "Never", "{name: main, image: alpine:3.20}")).await;
    let sleeper = watch_until(&sim, 20, "sleeper running", || {
        store_list(&sim, "pods", Some("default")).into_iter().find(|p| name(p) == "sleeper" && p["status"]["phase"] == "Running")
    }).await;
    assert_eq!(container_state(&sleeper), ("running".into(), "".into(), 0));
    // Wait for a terminal phase: the container's Completed state and the pod's phase can land in separate writes.
    let once = watch_until(&sim, 20, "once finished", || {
        store_list(&sim, "pods", Some("default"))
            .into_iter()
            .find(|p| name(p) == "once" && (p["status"]["phase"] == "Succeeded" || p["status"]["phase"] == "Failed"))
    }).await;
    assert_eq!(once["status"]["phase"], "Succeeded", "{once}");
    assert_eq!(container_state(&once), ("terminated".into(), "Completed".into(), 0));
}
