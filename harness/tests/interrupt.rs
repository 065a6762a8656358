//! SIGINT mid-step: the run stops the step, runs `finally` and teardown, exits 1, and the cluster is back to
//! its baseline (no namespace, no planted object, no process left).

#![cfg(unix)]

mod common;

use std::time::Duration;

use cleanroom::oracle;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::Api;
use kube::runtime::wait::await_condition;

const SLOW: &str = r#"
name: slow
description: plants leftovers, then waits for a claim that can never bind
variables: { NS: slow-ns }
steps:
  - namespace.create: { name: "${NS}" }
  - sabotage.stale-clusterrole: { name: slow-role }
  - sabotage.orphan-crd: { group: slow.cleanroom.dev }
  - sabotage.pvc-missing-class: { name: never, namespace: "${NS}" }
  - wait.pvc-bound: { name: never, namespace: "${NS}" }
    timeout: 5m
finally:
  - namespace.delete: { name: "${NS}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_mid_step_tears_everything_down() {
    let sim = common::sim().await;
    let setup = common::ExistingRun::new(&sim, "slow", SLOW);
    let reports = setup.reports();
    let baseline = oracle::snapshot(&sim.client()).await.unwrap();
    let mut child = setup.spawn("slow", &setup.dir.path().join("state"));

    // The last planted object exists: the run is now inside the endless wait.
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(sim.client(), "slow-ns");
    tokio::time::timeout(Duration::from_secs(60), await_condition(pvcs, "never", |o: Option<&PersistentVolumeClaim>| o.is_some()))
        .await
        .expect("the scenario reached its wait")
        .unwrap();
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());

    let status = tokio::time::timeout(Duration::from_secs(120), child.wait()).await.expect("exits after teardown").unwrap();
    assert_eq!(status.code(), Some(130), "an interrupted run exits 130 (128 + SIGINT)");

    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(reports.join("latest/report.json")).unwrap()).unwrap();
    let sc = &report["scenarios"][0];
    assert_eq!(sc["outcome"], "failed");
    let steps = sc["steps"].as_array().unwrap();
    let wait = steps.iter().find(|s| s["primitive"] == "wait.pvc-bound").unwrap();
    // The signal lands inside the wait, or (on a loaded machine) just before it starts.
    assert!(wait["reason"] == "interrupted by signal" || wait["reason"] == "not run: interrupted", "{}", wait["reason"]);
    assert!(steps.iter().any(|s| s["section"] == "finally" && s["outcome"] == "passed"));
    assert!(steps.iter().any(|s| s["section"] == "teardown" && s["outcome"] == "passed"));

    let after = oracle::snapshot(&sim.client()).await.unwrap();
    let d = oracle::diff(&baseline, &after, &oracle::default_churn(), &[]);
    assert!(d.is_clean(), "leftovers after an interrupted run:\n{}", d.listing());
}
