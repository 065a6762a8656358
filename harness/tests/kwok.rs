//! The kwok tier: `cleanroom run --provider kwok` on a real control plane (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and the kwok controller as processes).
//!
//! The tests that start clusters are ignored by default — they need the binaries `ci/tools.sh
//! kwok-cluster` builds — so a run without them lists them as skipped, never as passed. `ci/test` runs
//! them when the tools are built (`cargo nextest run --profile kwok --run-ignored only -E 'binary(kwok)'`);
//! run that way without the tools, they fail with what is missing and the command that builds it.
//! nextest runs them one at a time (test group `kwok`).

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The tools directory: $CLEANROOM_TOOLS_BIN, else the cache `ci/tools.sh` fills. Panics (the test
/// fails) naming what is missing when the tools are not there.
fn tools() -> PathBuf {
    let dir = std::env::var_os("CLEANROOM_TOOLS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/cleanroom/tools/bin"));
    let missing: Vec<&str> = cleanroom::providers::kwok_setup::TOOLS.iter().copied().filter(|t| !dir.join(t).is_file()).collect();
    assert!(missing.is_empty(), "the kwok tier needs {} in {}: build them with `ci/tools.sh kwok-cluster`", missing.join(", "), dir.display());
    dir
}

fn cleanroom(tools: &Path, reports: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cleanroom"));
    c.arg("run").args(args).args(["--provider", "kwok", "--kwok-runtime", "binary", "--tools"]).arg(tools).arg("--report-dir").arg(reports);
    c.arg("--scenarios").arg(repo().join("scenarios")).current_dir(repo()).env("CI", "1").env("CLEANROOM_STATE_DIR", std::env::temp_dir().join(format!("cleanroom-test-state-{}", std::process::id())));
    c
}

fn report(reports: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(reports.join("latest/report.json")).expect("report.json written")).unwrap()
}

/// Live processes whose command line mentions `needle` (zombies have an empty command line).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            out.push(format!("{}: {}", e.file_name().to_string_lossy(), cmd.chars().take(160).collect::<String>()));
        }
    }
    out
}

/// Directories the kwok provider made for `cluster` under the temp dir.
fn cluster_dirs(cluster: &str) -> Vec<PathBuf> {
    let prefix = format!("cleanroom-kwok-{cluster}-");
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// From `cluster: kwok cluster NAME (kube-apiserver https://127.0.0.1:PORT, binary runtime)`.
fn cluster_line(line: &str) -> Option<(String, u16)> {
    let rest = line.split("cluster: kwok cluster ").nth(1)?;
    let name = rest.split_whitespace().next()?.to_string();
    let port = rest.split("127.0.0.1:").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    Some((name, port))
}

fn assert_nothing_left(cluster: &str, port: u16) {
    let procs = processes_mentioning(&format!("cleanroom-kwok-{cluster}-"));
    assert!(procs.is_empty(), "processes of kwok cluster {cluster} outlived the run:\n{}", procs.join("\n"));
    let dirs = cluster_dirs(cluster);
    assert!(dirs.is_empty(), "cluster directories left: {dirs:?}");
    let listening = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_ok();
    assert!(!listening, "something still listens on the kube-apiserver port {port} of {cluster}");
}

#[test]
fn missing_tools_are_named_with_the_command_that_builds_them() {
    let empty = tempfile::tempdir().unwrap();
    let reports = tempfile::tempdir().unwrap();
    let out = cleanroom(empty.path(), reports.path(), &["smoke"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "a missing tool is an environment error: {stderr}");
    for tool in cleanroom::providers::kwok_setup::TOOLS {
        assert!(stderr.contains(tool), "{tool} not named: {stderr}");
    }
    assert!(stderr.contains("ci/tools.sh kwok-cluster"), "{stderr}");
}

/// The cluster's shape and behaviour, through a scenario: kind's nodes (taint, labels), pods Ready, a Job
/// Complete, a claim bound by the real local-path-provisioner on the default class `standard` and its
/// volume deleted with it, cordon/drain/uncordon through the API, node-filesystem steps skipped with the
/// reason.
const SHAPE: &str = r#"
name: kwok-shape
description: the kwok cluster is shaped like kind and its workloads progress
variables: { NS: "shape-${RUN_ID}" }
steps:
  - oracle.snapshot: { name: baseline }
  - assert.field: { apiVersion: v1, kind: Node, name: "${CLUSTER}-control-plane", path: "spec.taints[0].key", equals: node-role.kubernetes.io/control-plane }
  - assert.field: { apiVersion: v1, kind: Node, name: "${CLUSTER}-worker2", path: 'metadata.labels["kubernetes.io/hostname"]', equals: "${CLUSTER}-worker2" }
  - assert.field: { apiVersion: storage.k8s.io/v1, kind: StorageClass, name: standard, path: provisioner, equals: rancher.io/local-path }
  - namespace.create: { name: "${NS}" }
  - manifests.apply:
      namespace: "${NS}"
      inline: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: { name: web }
        spec:
          replicas: 2
          selector: { matchLabels: { app: web } }
          template:
            metadata: { labels: { app: web } }
            spec: { containers: [ { name: web, image: nginx } ] }
        ---
        apiVersion: batch/v1
        kind: Job
        metadata: { name: once }
        spec:
          template:
            spec: { restartPolicy: Never, containers: [ { name: once, image: busybox } ] }
        ---
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: { name: data }
        spec: { accessModes: [ ReadWriteOnce ], resources: { requests: { storage: 1Gi } } }
        ---
        apiVersion: v1
        kind: Pod
        metadata: { name: user }
        spec:
          containers: [ { name: c, image: busybox, volumeMounts: [ { name: d, mountPath: /d } ] } ]
          volumes: [ { name: d, persistentVolumeClaim: { claimName: data } } ]
  - wait.rollout: { kind: Deployment, name: web, namespace: "${NS}" }
  - wait.condition: { apiVersion: batch/v1, kind: Job, name: once, namespace: "${NS}", type: Complete, status: "True" }
  - wait.pvc-bound: { name: data, namespace: "${NS}" }
  - node.cordon: { node: "${CLUSTER}-worker" }
  - node.drain: { node: "${CLUSTER}-worker2" }
  - node.uncordon: { node: "${CLUSTER}-worker" }
  - node.uncordon: { node: "${CLUSTER}-worker2" }
  - node.assert-clean: {}
  - namespace.delete: { name: "${NS}" }
  - name: the volume goes with its claim (Delete policy; kwok completes the provisioner's helper pod)
    kubectl: { args: [wait, --for=delete, persistentvolumes, --all, --timeout=90s] }
    timeout: 2m
  - oracle.assert-clean: { baseline: baseline }
finally:
  - node.uncordon: { node: "${CLUSTER}-worker" }
  - node.uncordon: { node: "${CLUSTER}-worker2" }
  - namespace.delete: { name: "${NS}" }
"#;

#[test]
#[ignore = "kwok tier: needs the binaries of `ci/tools.sh kwok-cluster`; ci/test runs it"]
fn a_kwok_cluster_is_shaped_like_kind_and_runs_the_scenarios() {
    let tools = tools();
    let dir = tempfile::tempdir().unwrap();
    let shape = dir.path().join("kwok-shape.yaml");
    std::fs::write(&shape, SHAPE).unwrap();
    let reports = dir.path().join("reports");
    let out = cleanroom(&tools, &reports, &[shape.to_str().unwrap(), "smoke", "rollout", "sabotage"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let progress = String::from_utf8_lossy(&out.stderr);
    let r = report(&reports);
    let outcomes: Vec<String> = r["scenarios"].as_array().unwrap().iter().map(|s| format!("{}={}: {}", s["name"], s["outcome"], s["reason"])).collect();
    assert_eq!(out.status.code(), Some(0), "{}\n{stdout}\n{progress}", outcomes.join("\n"));
    assert_eq!((r["passed"].as_u64(), r["failed"].as_u64()), (Some(4), Some(0)), "{}", outcomes.join("\n"));
    let steps = r["scenarios"][0]["steps"].as_array().unwrap();
    let node_clean = steps.iter().find(|s| s["primitive"] == "node.assert-clean").expect("node.assert-clean step");
    assert_eq!(node_clean["outcome"], "skipped");
    assert!(node_clean["reason"].as_str().unwrap().contains("simulated by the kwok controller"), "{}", node_clean["reason"]);
    let drain = steps.iter().find(|s| s["primitive"] == "node.drain").unwrap();
    assert_eq!(drain["outcome"], "passed", "{drain}");
    let (cluster, port) = progress.lines().find_map(cluster_line).expect("the run names its cluster");
    assert_nothing_left(&cluster, port);
}

/// SIGINT while a step waits: exit 130, and no process, port or directory of the cluster is left.
const SLOW: &str = r#"
name: kwok-slow
description: waits for a claim that can never bind
variables: { NS: "slow-${RUN_ID}" }
steps:
  - namespace.create: { name: "${NS}" }
  - sabotage.pvc-missing-class: { name: never, namespace: "${NS}" }
  - wait.pvc-bound: { name: never, namespace: "${NS}" }
    timeout: 5m
finally:
  - namespace.delete: { name: "${NS}" }
"#;

#[test]
#[ignore = "kwok tier: needs the binaries of `ci/tools.sh kwok-cluster`; ci/test runs it"]
fn an_interrupted_kwok_run_leaves_no_process_port_or_directory() {
    let tools = tools();
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("kwok-slow.yaml");
    std::fs::write(&slow, SLOW).unwrap();
    let reports = dir.path().join("reports");
    let mut child = cleanroom(&tools, &reports, &[slow.to_str().unwrap()]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Read progress lines until the scenario is inside its endless wait (with a deadline of its own).
    let progress = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(progress).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut cluster = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            // SIGINT, not SIGKILL: cleanroom still deletes the cluster it made.
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let _ = wait_exit(child, Duration::from_secs(180));
            panic!("timed out after 180s waiting for the run to reach its sabotage.pvc-missing-class step; saw:\n{}", seen.join("\n"));
        };
        cluster = cluster.or_else(|| cluster_line(&line));
        let reached = line.contains("[ok]") && line.contains("never");
        seen.push(line);
        if reached {
            break;
        }
    }
    let (cluster, port) = cluster.expect("the run names its cluster before its steps");
    assert!(!processes_mentioning(&format!("cleanroom-kwok-{cluster}-")).is_empty(), "the cluster's processes run during the scenario");
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let status = wait_exit(child, Duration::from_secs(180));
    assert_eq!(status.code(), Some(130), "an interrupted run exits 130");
    assert_eq!(report(&reports)["scenarios"][0]["outcome"], "failed");
    assert_nothing_left(&cluster, port);
}

/// The child's exit status, waited for on a thread; SIGKILL and fail after `limit` (the last resort: a
/// killed cleanroom cannot delete its cluster).
fn wait_exit(mut child: std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait()));
    match rx.recv_timeout(limit) {
        Ok(status) => status.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("cleanroom did not exit within {}s of SIGINT (it tears down its kwok cluster first)", limit.as_secs());
        }
    }
}

#[test]
fn cluster_lines_parse() {
    assert_eq!(
        cluster_line("06:40:20.761 cluster: kwok cluster cleanroom-1-a (kube-apiserver https://127.0.0.1:32764, binary runtime)"),
        Some(("cleanroom-1-a".into(), 32764))
    );
    assert_eq!(cluster_line("cluster: embedded cluster cleanroom at http://127.0.0.1:1"), None);
}
