//! `kubectl logs`: `-f` streams lines as the container's log file grows and ends when the
//! container terminates; `--tail`, `--since` and `--timestamps` shape the lines.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use cleanroom_sim::nodes::{fs, node_root};
use common::Harness;
use serde_json::Value;

async fn log_file(h: &Harness, pod: &str) -> PathBuf {
    let p: Value = serde_json::from_str(&h.ok(&["get", "pod", pod, "-o", "json"]).await).unwrap();
    let node = p["spec"]["nodeName"].as_str().unwrap();
    let uid = p["metadata"]["uid"].as_str().unwrap();
    node_root(h.sim.root(), node).join(fs::POD_LOGS).join(fs::pod_log_dir_name("default", pod, uid)).join(pod).join("0.log")
}

fn append(file: &PathBuf, ts: &str, msg: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    writeln!(f, "{ts} stdout F {msg}").unwrap();
}

/// The next line of kubectl's output (None at EOF); the timeout only bounds a hang.
async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Option<String>>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("kubectl logs -f produced nothing").flatten()
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_tail_since_timestamps() {
    let h = Harness::start().await;
    h.ok(&["run", "app", "--image=busybox:1.36", "--", "sleep", "3600"]).await;
    h.ok(&["wait", "--for=condition=Ready", "pod/app", "--timeout=30s"]).await;
    let file = log_file(&h, "app").await;
    append(&file, "2020-01-01T00:00:00.000000000Z", "ancient");
    append(&file, &now(), "fresh");

    assert_eq!(h.ok(&["logs", "app"]).await, "app started\nancient\nfresh\n");
    assert_eq!(h.ok(&["logs", "app", "--tail=1"]).await, "fresh\n");
    assert_eq!(h.ok(&["logs", "app", "--since=1h"]).await.lines().filter(|l| *l == "ancient").count(), 0);
    assert!(h.ok(&["logs", "app", "--since=1h"]).await.ends_with("fresh\n"));
    let stamped = h.ok(&["logs", "app", "--timestamps", "--tail=2"]).await;
    assert!(stamped.starts_with("2020-01-01T00:00:00.000000000Z ancient\n"), "{stamped}");
    assert!(stamped.lines().nth(1).is_some_and(|l| l.ends_with(" fresh") && l.starts_with(&now()[..4])), "{stamped}");

    // -f: the tail first, then each appended line, then EOF once the container stops.
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig").arg(&h.kubeconfig).args(["logs", "-f", "app", "--tail=1"])
        .stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<String>>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.ok());
        }
        let _ = tx.send(None);
    });
    assert_eq!(next(&mut rx).await.as_deref(), Some("fresh"));
    for i in 0..3 {
        append(&file, &now(), &format!("line {i}"));
        assert_eq!(next(&mut rx).await, Some(format!("line {i}")));
    }
    h.ok(&["delete", "pod", "app", "--wait=false"]).await;
    // The stream ends (EOF) when the kubelet stops the container.
    loop {
        match next(&mut rx).await {
            None => break,
            Some(l) => assert!(!l.is_empty(), "unexpected line {l:?}"),
        }
    }
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "{status:?}");
}
