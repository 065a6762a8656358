//! `cleanroom run --provider kind` against a fake `kind` and a fake `docker` (shell scripts recording
//! their argv and the signals they get), with the embedded cluster standing in for the nodes' API: what
//! kind is asked to do, in which order, with which flags — and what happens on Ctrl-C, failures, and
//! a broken environment (exit 3).

#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use cleanroom::providers::kind::NODE_IMAGE;
use common::fakes::{Fakes, docker_body, read_fifo};

const KIND: &str = r#"case "$1 $2" in
  "version "*) echo "kind $(cat "$D/kind-version" 2>/dev/null || echo v0.31.0) go1.25.5 linux/amd64" ;;
  "create cluster")
    k=""; prev=""; for a in "$@"; do [ "$prev" = "--kubeconfig" ] && k="$a"; prev="$a"; done
    if [ -p "$D/create-started" ]; then
      trap 'echo TERM > "$D/kind-signals"; exit 143' TERM
      trap 'echo INT > "$D/kind-signals"; exit 130' INT
      echo "$(cut -d' ' -f5 /proc/$$/stat)" > "$D/create-started"
      while :; do sleep 1 & wait $!; done
    fi
    if [ -f "$D/create-fails" ]; then echo "ERROR: failed to create cluster: node(s) never came up" >&2; exit 1; fi
    cp "$D/sim.kubeconfig" "$k" ;;
  "get nodes") cat "$D/nodes" ;;
  "get clusters") cat "$D/clusters" 2>/dev/null; true ;;
  "get kubeconfig") cat "$D/sim.kubeconfig" ;;
  "delete cluster") if [ -f "$D/delete-fails" ]; then echo "ERROR: failed to delete cluster" >&2; exit 1; fi ;;
  "export logs") mkdir -p "$3" && echo fake > "$3/kind-version.txt" ;;
  "load docker-image") true ;;
esac"#;

// `immediately: true`: the assertion fails at once instead of re-checking for its whole 60 s timeout.
const FAILING: &str = "name: probe\ndescription: fails on purpose\nsteps:\n  - namespace.create: { name: \"probe-${RUN_ID}\" }\n  - assert.absent: { kind: Namespace, name: default, immediately: true }\n";
const PASSING: &str = "name: probe\ndescription: passes\nsteps:\n  - namespace.create: { name: \"probe-${CLUSTER}\" }\n  - namespace.delete: { name: \"probe-${CLUSTER}\" }\n";

struct Setup {
    fakes: Fakes,
    scenarios: PathBuf,
    reports: PathBuf,
    _sim: Option<cleanroom_sim::SimCluster>,
}

/// Fakes for kind and docker; with `sim`, kind's "cluster" is an embedded one.
async fn setup(scenario: &str, with_sim: bool) -> Setup {
    let fakes = Fakes::new();
    fakes.tool("kind", KIND);
    fakes.tool("docker", &docker_body(""));
    let sim = if with_sim {
        let sim = common::sim().await;
        sim.write_kubeconfig(&fakes.path().join("sim.kubeconfig")).unwrap();
        fakes.write("nodes", "cleanroom-test-control-plane\ncleanroom-test-worker\ncleanroom-test-worker2\n");
        Some(sim)
    } else {
        None
    };
    let scenarios = fakes.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(scenarios.join("probe.yaml"), scenario).unwrap();
    let reports = fakes.path().join("reports");
    Setup { fakes, scenarios, reports, _sim: sim }
}

fn command(s: &Setup, extra: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_cleanroom"));
    c.env("CLEANROOM_STATE_DIR", s.fakes.path().join("state"));
    c.args(["run", "probe", "--provider", "kind", "--scenarios"])
        .arg(&s.scenarios)
        .arg("--report-dir")
        .arg(&s.reports)
        .args(extra)
        .env("PATH", s.fakes.path_env())
        .env("CI", "1")
        .env_remove("KIND_EXPERIMENTAL_PROVIDER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

async fn run(s: &Setup, extra: &[&str]) -> Output {
    let out = tokio::time::timeout(Duration::from_secs(240), command(s, extra).output()).await.expect("cleanroom finishes").unwrap();
    eprintln!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn report(reports: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(reports.join("latest/report.json")).expect("report.json written")).unwrap()
}

/// The `--kubeconfig` value of a kind call.
fn kubeconfig_of(call: &[String]) -> String {
    call.windows(2).find(|w| w[0] == "--kubeconfig").map(|w| w[1].clone()).expect("--kubeconfig passed")
}

fn find<'a>(calls: &'a [Vec<String>], prefix: &[&str]) -> Option<&'a Vec<String>> {
    calls.iter().find(|c| c.len() >= prefix.len() && c[..prefix.len()] == *prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_creates_with_the_pinned_image_exports_logs_on_failure_and_deletes_with_its_kubeconfig() {
    // The scenario's `images:` and `--load-image` are loaded once each, the duplicate once.
    let s = setup(&FAILING.replacen("steps:", "images: [example.dev/db:dev, example.dev/app:dev]\nsteps:", 1), true).await;
    let out = run(&s, &["--load-image", "example.dev/app:dev"]).await;
    assert_eq!(out.status.code(), Some(1), "a failed scenario exits 1");
    let calls = s.fakes.calls("kind");
    let create = find(&calls, &["create", "cluster"]).expect("kind create cluster");
    let name = create[3].clone();
    assert!(name.starts_with("cleanroom-"), "{create:?}");
    assert!(create.windows(2).any(|w| w == ["--image", NODE_IMAGE]), "pinned node image: {create:?}");
    let delete = find(&calls, &["delete", "cluster"]).expect("kind delete cluster");
    assert_eq!(delete[..4], ["delete", "cluster", "--name", name.as_str()]);
    assert_eq!(kubeconfig_of(delete), kubeconfig_of(create), "delete edits only the run's kubeconfig");
    let loads: Vec<&str> = calls.iter().filter(|c| c.len() > 2 && c[..2] == ["load", "docker-image"]).map(|c| c[2].as_str()).collect();
    assert_eq!(loads, ["example.dev/app:dev", "example.dev/db:dev"], "{calls:?}");
    assert!(find(&calls, &["load", "docker-image", "example.dev/app:dev", "--name", name.as_str()]).is_some(), "{calls:?}");
    let export = find(&calls, &["export", "logs"]).expect("kind export logs on failure");
    // Into the run's own report directory, which `latest` names.
    assert_eq!(Path::new(&export[2]), std::fs::canonicalize(s.reports.join("latest/probe/kind-logs")).unwrap());
    assert!(s.reports.join("latest/probe/kind-logs/kind-version.txt").exists());
    // Order: version check, create, nodes, load, export, delete.
    let order: Vec<&str> = calls.iter().map(|c| c[0].as_str()).collect();
    assert_eq!(order, ["version", "create", "get", "load", "load", "export", "delete"]);
    let r = report(&s.reports);
    assert!(r["scenarios"][0]["findings"].as_array().unwrap().iter().any(|f| f["text"].as_str().unwrap().contains("kind logs of cluster")));
    // Node operations go through the detected engine, privileged; image list recorded per node.
    let docker = s.fakes.call_lines("docker");
    assert_eq!(docker.iter().filter(|l| l.starts_with("exec --privileged") && l.ends_with("crictl images -o json")).count(), 3, "{docker:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_image_can_be_overridden_and_a_passing_run_exports_nothing() {
    let s = setup(PASSING, true).await;
    let out = run(&s, &["--node-image", "kindest/node:v1.34.0"]).await;
    assert_eq!(out.status.code(), Some(0));
    let calls = s.fakes.calls("kind");
    let create = find(&calls, &["create", "cluster"]).unwrap();
    assert!(create.windows(2).any(|w| w == ["--image", "kindest/node:v1.34.0"]), "{create:?}");
    assert!(find(&calls, &["export", "logs"]).is_none());
    assert!(find(&calls, &["delete", "cluster"]).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_cluster_is_never_created_or_deleted() {
    let s = setup(PASSING, true).await;
    s.fakes.write("clusters", "other\nmine\n");
    let out = run(&s, &["--cluster", "mine"]).await;
    assert_eq!(out.status.code(), Some(0));
    let calls = s.fakes.calls("kind");
    assert!(find(&calls, &["get", "kubeconfig", "--name", "mine"]).is_some(), "{calls:?}");
    assert!(find(&calls, &["create"]).is_none() && find(&calls, &["delete"]).is_none(), "{calls:?}");
    let r = report(&s.reports);
    let steps = r["scenarios"][0]["steps"].as_array().unwrap();
    assert!(steps.iter().any(|st| st["name"].as_str().unwrap_or_default().contains("probe-mine")), "CLUSTER is the reused name: {steps:?}");
}

#[tokio::test]
async fn environment_problems_exit_3_with_what_to_do_and_create_nothing() {
    // No such cluster to reuse.
    let s = setup(PASSING, false).await;
    let out = run(&s, &["--cluster", "missing"]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no kind cluster named `missing`"));
    // Docker installed but its daemon down.
    let s = setup(PASSING, false).await;
    s.fakes.write("docker-down", "");
    let out = run(&s, &[]).await;
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the docker engine does not answer") && err.contains("Is the docker daemon running?") && err.contains("start it"), "{err}");
    assert!(find(&s.fakes.calls("kind"), &["create"]).is_none());
    // kind too old for the pinned node image.
    let s = setup(PASSING, false).await;
    s.fakes.write("kind-version", "v0.20.0");
    let out = run(&s, &[]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kind v0.20.0 is too old: cleanroom needs kind >= v0.31.0"));
    assert!(find(&s.fakes.calls("kind"), &["create"]).is_none());
    let r = report(&s.reports);
    assert_eq!(r["scenarios"][0]["outcome"], "failed", "the report is written for environment failures too");
}

#[tokio::test]
async fn a_failed_create_is_still_deleted() {
    let s = setup(PASSING, false).await;
    s.fakes.write("create-fails", "");
    let out = run(&s, &[]).await;
    assert_eq!(out.status.code(), Some(3));
    let calls = s.fakes.calls("kind");
    let create = find(&calls, &["create", "cluster"]).unwrap();
    let delete = find(&calls, &["delete", "cluster"]).expect("kind cleans up only when an action returns an error: delete anyway");
    assert_eq!(kubeconfig_of(delete), kubeconfig_of(create));
    assert!(report(&s.reports)["scenarios"][0]["reason"].as_str().unwrap().contains("node(s) never came up"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delete_keeps_the_report_and_exits_3() {
    let s = setup(PASSING, true).await;
    s.fakes.write("delete-fails", "");
    let out = run(&s, &[]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cleaning up the kind cluster failed"));
    assert_eq!(report(&s.reports)["scenarios"][0]["outcome"], "passed", "the report was written before the delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_experimental_provider_selects_the_engine_for_node_operations() {
    let s = setup(PASSING, true).await;
    s.fakes.tool("podman", &docker_body("").replace("Docker version 27.3.1, build fake", "podman version 5.2.0"));
    let out = run_with_env(&s, &[("KIND_EXPERIMENTAL_PROVIDER", "podman")]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(s.fakes.calls("docker").is_empty(), "docker is not kind's engine here");
    let podman = s.fakes.call_lines("podman");
    assert!(podman.iter().any(|l| l == "info"), "{podman:?}");
    assert!(podman.iter().any(|l| l.starts_with("exec --privileged cleanroom-test-worker ")), "{podman:?}");
}

async fn run_with_env(s: &Setup, env: &[(&str, &str)]) -> Output {
    let mut c = command(s, &[]);
    for (k, v) in env {
        c.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(240), c.output()).await.expect("cleanroom finishes").unwrap()
}

// Once intermittent: the guard's SIGTERM and the dropped stdout/stderr pipes arrived together, and the
// fake's shell, reporting its killed `sleep` on stderr before running its trap, died of SIGPIPE. The
// output is now drained until the child exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_kind_create_ends_kind_and_deletes_the_cluster() {
    let s = setup(PASSING, false).await;
    let started = s.fakes.fifo("create-started");
    let signals = s.fakes.fifo("kind-signals");
    let mut cmd = command(&s, &[]);
    // Like a terminal: cleanroom leads a process group, and Ctrl-C goes to that whole group.
    cmd.process_group(0);
    let child = cmd.spawn().unwrap();
    let cleanroom_pgid = child.id().unwrap() as i32;
    let term = read_fifo(&signals, Duration::from_secs(60));
    let kind_pgid: i32 = read_fifo(&started, Duration::from_secs(120)).await.trim().parse().unwrap();
    assert_ne!(kind_pgid, cleanroom_pgid, "kind runs in its own process group");
    // SAFETY: signalling the child's own process group.
    assert_eq!(unsafe { libc::killpg(cleanroom_pgid, libc::SIGINT) }, 0);
    // kind never sees the terminal's SIGINT; cleanroom ends it with SIGTERM.
    assert_eq!(term.await.trim(), "TERM");
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output()).await.expect("exits").unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let calls = s.fakes.calls("kind");
    let create = find(&calls, &["create", "cluster"]).unwrap();
    let delete = find(&calls, &["delete", "cluster"]).expect("the interrupted create is deleted");
    assert_eq!(delete[3], create[3]);
    assert_eq!(kubeconfig_of(delete), kubeconfig_of(create));
    let r = report(&s.reports);
    assert!(r["scenarios"][0]["reason"].as_str().unwrap().contains("interrupted while the provider was starting it"));
}
