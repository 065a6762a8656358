//! Shared test helpers: an embedded cluster and a step context on it.
#![allow(dead_code)]

use std::path::Path;

use cleanroom::primitives::{Capabilities, StepContext};
use cleanroom::providers::Provider;
use cleanroom::providers::sim::SimProvider;
use cleanroom::runner::progress::Quiet;
use cleanroom::runner::{Cancel, Outcome, RunEnv, ScenarioResult, run_scenario};
use cleanroom::scenario::{self, parse::builtins};

pub async fn sim() -> cleanroom_sim::SimCluster {
    SimProvider::start("cleanroom-test", 2).await.expect("embedded cluster starts")
}

pub fn ctx(sim: &cleanroom_sim::SimCluster) -> StepContext {
    StepContext::new(sim.client(), "sim", Capabilities::default(), "test")
}

/// Parse `path` with real built-ins and run it on a fresh embedded cluster.
pub async fn run_file(path: &Path) -> ScenarioResult {
    run_file_timed(path, cleanroom_sim::Timing::Instant).await
}

/// `run_file` on an embedded cluster with `timing` (`Timing::Kind`: `--sim-timing kind`).
pub async fn run_file_timed(path: &Path, timing: cleanroom_sim::Timing) -> ScenarioResult {
    let probe = scenario::load_file(path).unwrap_or_else(|e| panic!("{e}"));
    let run_id = format!("t{}", std::process::id());
    let text = std::fs::read_to_string(path).unwrap();
    let s = scenario::parse_str(&text, path, Some(&builtins(&probe.name, &run_id, "sim"))).unwrap();
    let mut provider = SimProvider::new(Default::default(), timing);
    let report_dir = tempfile::tempdir().unwrap();
    let handle = provider.ensure(&s.name, report_dir.path()).await.expect("cluster");
    let env = RunEnv {
        client: handle.client.clone(),
        provider: "sim".into(),
        capabilities: provider.capabilities(),
        run_id,
        report_dir: report_dir.path().to_path_buf(),
        cancel: Cancel::never(),
        progress: &Quiet,
        helm: handle.helm.clone(),
        nodes: handle.nodes.clone(),
        kubeconfig: Some(handle.kubeconfig.clone()),
        context: handle.context.clone(),
        gc_graph: handle.gc_graph.clone(),
        guard: None,
        keep_failed_state: false,
    };
    let r = run_scenario(&s, &env).await;
    provider.release(false).await.unwrap();
    r
}

pub fn explain(r: &ScenarioResult) -> String {
    r.steps
        .iter()
        .map(|s| format!("{:?} {} {}: {}", s.outcome, s.section, s.name, s.reason.clone().or(s.detail.clone()).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn assert_passed(r: &ScenarioResult) {
    assert_eq!(r.outcome, Outcome::Passed, "{}: {:?}\n{}", r.name, r.reason, explain(r));
}

#[cfg(unix)]
pub mod fakes;
pub mod helm_bins;

/// One scenario file in a fresh directory, and the embedded cluster's kubeconfig beside it, for
/// `cleanroom run NAME --provider existing` as a child process.
pub struct ExistingRun {
    pub dir: tempfile::TempDir,
    pub kubeconfig: std::path::PathBuf,
    pub scenarios: std::path::PathBuf,
}

impl ExistingRun {
    pub fn new(sim: &cleanroom_sim::SimCluster, name: &str, yaml: &str) -> ExistingRun {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).unwrap();
        let scenarios = dir.path().join("scenarios");
        std::fs::create_dir_all(&scenarios).unwrap();
        std::fs::write(scenarios.join(format!("{name}.yaml")), yaml).unwrap();
        ExistingRun { dir, kubeconfig, scenarios }
    }

    pub fn reports(&self) -> std::path::PathBuf {
        self.dir.path().join("reports")
    }

    /// `cleanroom run NAME` on the cluster (destructive steps allowed), journal in `state`.
    pub fn command(&self, name: &str, state: &Path) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_cleanroom"));
        c.args(["run", name, "--provider", "existing", "--allow-destructive", "--scenarios"])
            .arg(&self.scenarios)
            .arg("--report-dir")
            .arg(self.reports())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("CLEANROOM_STATE_DIR", state)
            .env("CI", "1");
        c
    }

    /// [`Self::command`] started, output discarded.
    pub fn spawn(&self, name: &str, state: &Path) -> tokio::process::Child {
        self.command(name, state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }
}

/// `cleanroom sim serve` in another process, stopped on drop; `.1` is its kubeconfig.
pub struct Served(pub std::process::Child, pub std::path::PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `cleanroom sim serve` and block until it says it serves (it writes the kubeconfig first).
/// Reading its stdout is the wait: nothing polls.
pub fn serve() -> Served {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cleanroom"))
        .args(["sim", "serve", "--kubeconfig", kc.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    // Its last line of output is the `try:` hint; read through it so no later write meets a closed pipe.
    for line in out.lines().map_while(Result::ok) {
        let last = line.starts_with("try: ");
        seen.push(line);
        if last {
            break;
        }
    }
    assert!(kc.is_file(), "sim serve wrote no kubeconfig; it printed: {seen:?}");
    Served(child, kc, dir)
}
