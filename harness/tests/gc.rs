//! Crash safety: a run killed with SIGKILL leaves its objects and its journal; `cleanroom gc` finds the
//! dead run, lists (`--dry-run`) and then deletes exactly the objects labelled with its run id, and leaves
//! hand-made objects and the objects of a run that is still alive alone.

#![cfg(unix)]

mod common;

use std::time::Duration;

use cleanroom::runner::journal::{self, Entry, Journal};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, PostParams};
use kube::runtime::wait::await_condition;

const PLANTS: &str = r#"
name: planter
description: plants labelled objects, then waits for a claim that can never bind
variables: { NS: gc-ns }
steps:
  - namespace.create: { name: "${NS}" }
  - sabotage.stale-clusterrole: { name: gc-role }
  - sabotage.pvc-missing-class: { name: never, namespace: "${NS}" }
  - wait.pvc-bound: { name: never, namespace: "${NS}" }
    timeout: 5m
"#;

fn gc(state: &std::path::Path, dry: bool) -> (i32, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_cleanroom"));
    c.arg("gc").env("CLEANROOM_STATE_DIR", state).env("CI", "1");
    if dry {
        c.arg("--dry-run");
    }
    let out = c.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

async fn gone<K>(api: Api<K>, name: &str)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    tokio::time::timeout(Duration::from_secs(60), await_condition(api, name, |o: Option<&K>| o.is_none()))
        .await
        .unwrap_or_else(|_| panic!("{name} deleted by gc within 60s"))
        .unwrap();
}

fn labelled_cm(name: &str, run: Option<&str>) -> ConfigMap {
    let labels = run.map(|r| serde_json::json!({ cleanroom::RUN_LABEL: r })).unwrap_or(serde_json::json!({}));
    serde_json::from_value(serde_json::json!({ "metadata": { "name": name, "labels": labels } })).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_removes_what_a_sigkilled_run_left_and_nothing_else() {
    let sim = common::sim().await;
    let setup = common::ExistingRun::new(&sim, "planter", PLANTS);
    let kubeconfig = setup.kubeconfig.clone();
    let state = setup.dir.path().join("state");

    // Objects cleanroom did not create (or of a run that is alive) stay, whatever gc does.
    let cms: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    cms.create(&PostParams::default(), &labelled_cm("handmade", None)).await.unwrap();
    cms.create(&PostParams::default(), &labelled_cm("of-another-run", Some("no-journal"))).await.unwrap();
    cms.create(&PostParams::default(), &labelled_cm("of-a-live-run", Some("live-run"))).await.unwrap();
    let live = Journal::create(&state, "live-run", "existing").unwrap();
    live.record(&Entry::Objects { kubeconfig: kubeconfig.clone(), context: None }).unwrap();

    let mut child = setup.spawn("planter", &state);
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(sim.client(), "gc-ns");
    tokio::time::timeout(Duration::from_secs(60), await_condition(pvcs, "never", |o: Option<&PersistentVolumeClaim>| o.is_some()))
        .await
        .expect("the scenario reached its wait")
        .unwrap();
    // SIGKILL: no finally, no teardown, no chance to remove the journal.
    child.kill().await.unwrap();
    let runs = journal::read_all(&state);
    let dead = runs.iter().find(|r| r.run_id != "live-run").expect("the killed run's journal survives it");
    assert!(!dead.alive());
    assert!(dead.entries.contains(&Entry::Objects { kubeconfig: kubeconfig.clone(), context: None }), "{:?}", dead.entries);

    let (code, text) = gc(&state, true);
    assert_eq!(code, 0, "{text}");
    for name in ["gc-ns", "gc-role", "never"] {
        assert!(text.lines().any(|l| l.contains(&dead.run_id) && l.contains("would delete") && l.contains(name)), "{name} listed:\n{text}");
    }
    assert!(text.contains("run live-run") && text.contains("still running: left alone"), "{text}");
    assert!(!text.contains("handmade") && !text.contains("of-another-run") && !text.contains("of-a-live-run"), "{text}");
    let roles: Api<ClusterRole> = Api::all(sim.client());
    assert!(roles.get_opt("gc-role").await.unwrap().is_some(), "a dry run deletes nothing");

    let (code, text) = gc(&state, false);
    assert_eq!(code, 0, "{text}");
    assert!(text.lines().any(|l| l.contains("deleted") && l.contains("gc-role")), "{text}");
    gone(roles, "gc-role").await;
    gone(Api::<Namespace>::all(sim.client()), "gc-ns").await;
    for kept in ["handmade", "of-another-run", "of-a-live-run"] {
        assert!(cms.get_opt(kept).await.unwrap().is_some(), "{kept} must stay");
    }
    let left: Vec<String> = journal::read_all(&state).into_iter().map(|r| r.run_id).collect();
    assert_eq!(left, ["live-run"], "the dead run's journal is removed once collected");

    let (code, text) = gc(&state, false);
    assert_eq!(code, 0);
    assert!(!text.contains("deleted"), "nothing left to collect: {text}");
    live.close();
}
