//! Shared helpers for the workload tests (included with `mod workloads_common;`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use cleanroom_sim::{SimCluster, SimOptions};
use serde_json::Value;

pub async fn start() -> (SimCluster, PathBuf, tempfile::TempDir) {
    start_with(SimOptions { workers: 2, write_storm_limit: Some(100), ..Default::default() }).await
}

pub async fn start_with(opts: SimOptions) -> (SimCluster, PathBuf, tempfile::TempDir) {
    let sim = SimCluster::start(opts).await.expect("start sim");
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    (sim, kc, dir)
}

/// Run kubectl (blocking, on a worker thread) and return stdout; panics with stderr on failure.
pub async fn kubectl(kc: &PathBuf, args: &[&str]) -> String {
    let (out, err, ok) = kubectl_raw(kc, args, None).await;
    assert!(ok, "kubectl {args:?} failed: {err}");
    out
}

pub async fn kubectl_raw(kc: &PathBuf, args: &[&str], stdin: Option<&str>) -> (String, String, bool) {
    let kc = kc.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.map(String::from);
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(&kc).args(&args);
        let out = if let Some(input) = stdin {
            use std::io::Write;
            let mut child = cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        } else {
            cmd.output().unwrap()
        };
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned(), out.status.success())
    })
    .await
    .unwrap()
}

pub async fn apply(kc: &PathBuf, yaml: &str) -> String {
    let (out, err, ok) = kubectl_raw(kc, &["apply", "-f", "-"], Some(yaml)).await;
    assert!(ok, "kubectl apply failed: {err}");
    out
}

pub async fn get_json(kc: &PathBuf, args: &[&str]) -> Value {
    let mut a: Vec<&str> = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&kubectl(kc, &a).await).unwrap()
}

/// Poll `f` until it returns Some (or panic after `secs`).
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Objects in the in-process store (white-box checks).
pub fn store_list(sim: &SimCluster, key: &str, ns: Option<&str>) -> Vec<Value> {
    sim.api().store.list(key, ns).0.iter().map(|v| (**v).clone()).collect()
}

pub fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or("")
}

/// Re-check `f` on every change in the store until it returns Some; panics after `secs`.
/// (A bounded watch: nothing sleeps, and `f` sees every state a controller writes.)
pub async fn watch_until<T>(sim: &SimCluster, secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let mut rx = sim.api().store.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => panic!("timed out waiting for {what}"),
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => panic!("store closed waiting for {what}"),
            Ok(_) => {}
        }
    }
}

/// Every version of the object `key`/`ns`/`name` the store writes, in order, until `done`
/// holds for one of them (inclusive); panics after `secs`. Subscribe with `subscribe` first.
pub async fn record_until(rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<cleanroom_sim::store::StoreEvent>>, secs: u64, key: &str, ns: &str, name: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => panic!("timed out recording {key} {ns}/{name}; saw {seen:#?}"),
            Ok(Err(e)) => panic!("watch failed: {e}"),
            Ok(Ok(ev)) if &*ev.key == key && ev.namespace == ns && ev.name == name => {
                seen.push((*ev.object).clone());
                if done(&ev.object) {
                    return seen;
                }
            }
            Ok(Ok(_)) => {}
        }
    }
}

/// `status.containerStatuses[0]` of a pod as `(state, reason, restartCount)`.
pub fn container_state(pod: &Value) -> (String, String, i64) {
    let st = &pod["status"]["containerStatuses"][0];
    let state = st["state"].as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
    let reason = st["state"][&state]["reason"].as_str().unwrap_or("").to_string();
    (state, reason, st["restartCount"].as_i64().unwrap_or(0))
}
