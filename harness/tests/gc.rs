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

/// A journal of run `run_id` owned by `pid`, as a run would have written it.
fn write_journal(state: &std::path::Path, run_id: &str, pid: u32, kubeconfig: &std::path::Path) {
    let lines = [
        serde_json::to_string(&Entry::Run { run_id: run_id.into(), pid, started_at: "2026-01-01T00:00:00Z".into(), provider: "existing".into() }).unwrap(),
        serde_json::to_string(&Entry::Objects { kubeconfig: kubeconfig.to_path_buf(), context: None }).unwrap(),
    ];
    std::fs::create_dir_all(state.join("runs")).unwrap();
    std::fs::write(state.join("runs").join(format!("{run_id}.jsonl")), lines.join("\n") + "\n").unwrap();
}

fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_warns_at_start_about_leftovers_of_runs_that_are_not_running() {
    let sim = common::sim().await;
    let setup = common::ExistingRun::new(&sim, "quiet", "name: quiet\ndescription: d\nsteps:\n  - cluster.ensure: {}\n");
    let state = setup.dir.path().join("state");
    let cms: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    for (name, run) in [("of-a-dead-run", "dead-run"), ("of-a-stranger", "stranger-run"), ("of-a-live-run", "live-run")] {
        cms.create(&PostParams::default(), &labelled_cm(name, Some(run))).await.unwrap();
    }
    let pid = dead_pid();
    write_journal(&state, "dead-run", pid, &setup.kubeconfig);
    let live = Journal::create(&state, "live-run", "existing").unwrap();

    let out = setup.command("quiet", &state).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning: this cluster holds leftovers of 2 run(s) that are not running"), "{stderr}");
    assert!(
        stderr.contains(&format!("run dead-run: 1 object(s) (ConfigMap default/of-a-dead-run); its process (pid {pid}) is gone: `cleanroom gc` removes them")),
        "{stderr}"
    );
    assert!(stderr.contains("run stranger-run: 1 object(s) (ConfigMap default/of-a-stranger); no journal"), "{stderr}");
    assert!(!stderr.contains("live-run"), "a live run's objects are its own business: {stderr}");
    // The report carries it too, as the scenario's first finding.
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(setup.reports().join("latest/report.json")).unwrap()).unwrap();
    let first = &report["scenarios"][0]["findings"][0];
    assert_eq!(first["step"], "cluster", "{first}");
    assert!(first["text"].as_str().unwrap().starts_with("this cluster holds leftovers of 2 run(s) that are not running"), "{first}");
    // A warning, never a deletion.
    assert!(cms.get_opt("of-a-dead-run").await.unwrap().is_some());

    // Once gc collected the dead run, the next run has only the stranger to mention.
    let (code, text) = gc(&state, false);
    assert_eq!(code, 0, "{text}");
    gone(cms.clone(), "of-a-dead-run").await;
    let out = setup.command("quiet", &state).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("leftovers of 1 run(s)") && stderr.contains("run stranger-run") && !stderr.contains("dead-run"), "{stderr}");
    live.close();
}

fn sleeper() -> std::process::Child {
    std::process::Command::new("sleep").arg("300").spawn().unwrap()
}

/// Whether `child` exits within `limit` (waited on, not polled; on failure it is left to the test's end).
async fn exits_within(mut child: std::process::Child, limit: Duration) -> bool {
    let pid = child.id() as i32;
    let waited = tokio::task::spawn_blocking(move || child.wait());
    let exited = tokio::time::timeout(limit, waited).await.is_ok();
    if !exited {
        // SAFETY: our own child, not yet reaped: the pid is still its.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    exited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_tears_down_a_dead_runs_kwok_cluster_and_only_its_recorded_processes() {
    use cleanroom::providers::process::ProcessIdentity;
    let fakes = common::fakes::Fakes::new();
    let name = "cleanroom-dead-kwok";
    let kwokctl = fakes.tool("kwokctl", &format!("echo \"$KWOK_WORKDIR\" > \"$D/workdir-env\"; ls \"$KWOK_WORKDIR/clusters/{name}/pids\" > \"$D/pid-files\""));
    let state = fakes.path().join("state");
    let workdir = fakes.path().join("cleanroom-kwok-dead");
    let pids_dir = workdir.join("kwok/clusters").join(name).join("pids");
    std::fs::create_dir_all(&pids_dir).unwrap();
    // The cluster's components, a pid the kernel has since given to another process (same pid, other
    // start time), and a pid file naming a process that is not the cluster's.
    let (apiserver, etcd, mut stranger, mut unrelated) = (sleeper(), sleeper(), sleeper(), sleeper());
    let id = |c: &std::process::Child| ProcessIdentity::of(c.id() as i32).unwrap();
    let reused = ProcessIdentity { start_time: id(&stranger).start_time + 1, ..id(&stranger) };
    std::fs::write(pids_dir.join("etcd.pid"), etcd.id().to_string()).unwrap();
    std::fs::write(pids_dir.join("other.pid"), unrelated.id().to_string()).unwrap();
    let entries = [
        Entry::Run { run_id: "dead-kwok-run".into(), pid: dead_pid(), started_at: "2026-01-01T00:00:00Z".into(), provider: "kwok".into() },
        Entry::KwokCluster { name: name.into(), workdir: workdir.clone(), kwokctl: kwokctl.clone(), processes: vec![] },
        Entry::KwokCluster { name: name.into(), workdir: workdir.clone(), kwokctl, processes: vec![id(&apiserver), id(&etcd), reused] },
    ];
    std::fs::create_dir_all(state.join("runs")).unwrap();
    let text: String = entries.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
    std::fs::write(state.join("runs/dead-kwok-run.jsonl"), text).unwrap();

    let (code, text) = gc(&state, true);
    assert_eq!(code, 0, "{text}");
    let listed = format!("would delete kwok cluster {name} (2 process(es) [{}, {}], {})", apiserver.id(), etcd.id(), workdir.display());
    assert!(text.contains(&listed), "{listed}\nin:\n{text}");
    assert!(workdir.exists() && fakes.calls("kwokctl").is_empty(), "a dry run changes nothing");

    let (code, text) = gc(&state, false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("run dead-kwok-run: deleted kwok cluster {name}")), "{text}");
    for c in [apiserver, etcd] {
        assert!(exits_within(c, Duration::from_secs(30)).await, "a recorded component was stopped");
    }
    for c in [&mut stranger, &mut unrelated] {
        assert!(c.try_wait().unwrap().is_none(), "a process that is not the cluster's is never signalled");
        c.kill().unwrap();
        c.wait().unwrap();
    }
    assert_eq!(fakes.call_lines("kwokctl"), [format!("--name {name} delete cluster --kubeconfig {}", workdir.join("kubeconfig").display())]);
    assert_eq!(fakes.read("workdir-env").trim(), workdir.join("kwok").display().to_string());
    assert_eq!(fakes.read("pid-files").trim(), "", "pid files naming no live process of the cluster were dropped before kwokctl could signal them");
    assert!(!workdir.exists(), "the run's directory is removed");
    assert!(journal::read_all(&state).is_empty(), "collected: the journal is gone");
}
