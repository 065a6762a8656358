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

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(SimOptions::default()).await
    }

    pub async fn start_with(opts: SimOptions) -> Harness {
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

/// The rendered kube-prometheus-stack fixture (132 objects).
pub fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/kube-prometheus-stack/rendered").join(name);
    std::fs::read_to_string(p).expect("fixture present")
}
