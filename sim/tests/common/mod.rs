//! Shared test support: start an embedded cluster and drive the real `kubectl` against it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use cleanroom_sim::{SimCluster, SimOptions};

pub struct Harness {
    pub sim: SimCluster,
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

/// Writes of one object by one writer per second beyond which a sim test fails.
pub const TEST_WRITE_STORM_LIMIT: u32 = 100;

impl Drop for Harness {
    fn drop(&mut self) {
        let storms = self.sim.write_storms();
        if !std::thread::panicking() && !storms.is_empty() {
            let list: Vec<String> = storms.iter().map(|s| s.to_string()).collect();
            panic!("write storm(s) in the embedded cluster:\n{}", list.join("\n"));
        }
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(SimOptions::default()).await
    }

    pub async fn start_with(mut opts: SimOptions) -> Harness {
        // Every sim test runs with the write-storm guard on; Drop fails the test on a storm.
        opts.write_storm_limit = opts.write_storm_limit.or(Some(TEST_WRITE_STORM_LIMIT));
        let sim = SimCluster::start(opts).await.expect("embedded cluster starts");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).unwrap();
        Harness { sim, kubeconfig, _dir: dir }
    }

    /// Run kubectl with this cluster's kubeconfig (on a blocking thread).
    pub async fn kubectl(&self, args: &[&str]) -> Run {
        self.kubectl_stdin(args, None).await
    }

    pub async fn kubectl_stdin(&self, args: &[&str], stdin: Option<String>) -> Run {
        let kc = self.kubeconfig.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let cache = self._dir.path().join("cache");
        tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new("kubectl");
            cmd.arg("--kubeconfig").arg(&kc).arg("--cache-dir").arg(&cache).args(&args);
            cmd.env_remove("KUBECONFIG");
            let out: Output = match stdin {
                None => cmd.output().expect("kubectl runs"),
                Some(input) => {
                    use std::io::Write;
                    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
                    let mut child = cmd.spawn().expect("kubectl runs");
                    let mut stdin = child.stdin.take().unwrap();
                    // kubectl may stop reading early (on an error); that is its answer, not ours.
                    let writer = std::thread::spawn(move || { let _ = stdin.write_all(input.as_bytes()); });
                    let out = child.wait_with_output().unwrap();
                    let _ = writer.join();
                    out
                }
            };
            Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .unwrap()
    }

    /// kubectl that must succeed; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let r = self.kubectl(args).await;
        assert_eq!(r.code, 0, "kubectl {args:?} failed: {}\n{}", r.stderr, r.stdout);
        r.stdout
    }
}

/// A tiny HTTP/1.1 client over a TCP socket (no extra dependencies, full control of bytes):
/// the status code and the JSON body (`Null` when it is not JSON).
pub async fn http(url: &str, method: &str, path: &str, ct: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).await.unwrap();
    let _ = s.write_all(&body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await.expect("server answers, never hangs");
    let text = String::from_utf8_lossy(&out).to_string();
    let code: u16 = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (code, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

/// The rendered kube-prometheus-stack fixture (132 objects).
pub fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/kube-prometheus-stack/rendered").join(name);
    std::fs::read_to_string(p).expect("fixture present")
}

/// Poll `f` until it returns Some (tests only: the product's waits watch).
pub async fn wait_for<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..secs * 20 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// `kubectl get ARGS -o json`, parsed; None when kubectl fails.
pub async fn get_json(h: &Harness, args: &[&str]) -> Option<serde_json::Value> {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    let r = h.kubectl(&a).await;
    (r.code == 0).then(|| serde_json::from_str(&r.stdout).ok()).flatten()
}

/// Split a multi-document manifest into (CRD documents, everything else): kubectl cannot map
/// a custom resource whose CRD does not exist yet, so CRDs go first.
pub fn split_crds(text: &str) -> (String, String) {
    let (mut crds, mut rest) = (String::new(), String::new());
    for doc in text.split("\n---") {
        let body = doc.trim_start_matches('-').trim();
        if !body.lines().any(|l| l.starts_with("kind:")) {
            continue;
        }
        let target = if body.lines().any(|l| l == "kind: CustomResourceDefinition") { &mut crds } else { &mut rest };
        target.push_str("---\n");
        target.push_str(body);
        target.push('\n');
    }
    (crds, rest)
}
