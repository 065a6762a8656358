//! Runs a CI can trust: three scenarios written as a new user would — an app with a claim deleted then
//! `oracle.assert-clean`, a Deployment deleted then `assert.absent` of its pods, a namespace with contents
//! deleted then `oracle.assert-clean` (`fixtures/scenarios-flake/`) — pass every time on the embedded
//! cluster with kind-like latencies, because the oracle settles and assertions are eventual. The same
//! files with the settle and the eventual check turned off fail: the race they remove is real.
//!
//! `CLEANROOM_FLAKE_RUNS` (default 5) sets the repetitions; the 200-run figure comes from
//! `CLEANROOM_FLAKE_RUNS=200 cargo nextest run -p cleanroom -E 'binary(flake)'`. The kwok variant is ignored
//! unless run on purpose (it needs the binaries `ci/tools.sh kwok-cluster` builds).

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;

const SCENARIOS: [&str; 3] = ["flake-pvc-app", "flake-deployment-pods", "flake-namespace-contents"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/scenarios-flake")
}

fn runs() -> u32 {
    std::env::var("CLEANROOM_FLAKE_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5)
}

/// `cleanroom run --all` over `scenarios` with `args`; the report's scenario outcomes and the last line.
fn run(scenarios: &Path, args: &[&str]) -> (Vec<(String, String, String)>, String) {
    let reports = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_cleanroom"))
        .args(["run", "--all", "--scenarios"])
        .arg(scenarios)
        .arg("--report-dir")
        .arg(reports.path())
        .args(args)
        .env("CI", "1")
        .env("CLEANROOM_STATE_DIR", state.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let last = stdout.lines().last().unwrap_or_default().to_string();
    eprintln!("{args:?}: {last} in {:.1}s", started.elapsed().as_secs_f64());
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(reports.path().join("latest/report.json")).expect("report.json")).unwrap();
    let outcomes = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap_or_default().to_string(), s["outcome"].as_str().unwrap_or_default().to_string(), s["reason"].to_string()))
        .collect();
    (outcomes, last)
}

/// Every repetition of every scenario passed.
fn assert_all_passed(outcomes: &[(String, String, String)], last: &str, n: u32) {
    let failed: Vec<_> = outcomes.iter().filter(|(_, o, _)| o != "passed").collect();
    assert!(failed.is_empty(), "{} of {} runs did not pass: {failed:#?}", failed.len(), outcomes.len());
    assert_eq!(outcomes.len(), SCENARIOS.len() * n as usize);
    for s in SCENARIOS {
        assert_eq!(outcomes.iter().filter(|(name, _, _)| name.split('#').next() == Some(s)).count(), n as usize, "{s} ran {n} times");
    }
    assert_eq!(last, format!("{} passed, 0 failed, 0 skipped", SCENARIOS.len() * n as usize));
}

#[test]
fn new_user_scenarios_pass_every_time_with_kind_timing() {
    let n = runs();
    let (outcomes, last) = run(&fixtures(), &["--sim-timing", "kind", "--repeat", &n.to_string(), "--parallel", "8"]);
    assert_all_passed(&outcomes, &last, n);
}

/// The fixtures with the settle (`settle: 0s`) and the eventual check (`immediately: true`) turned off.
fn without_settle(dir: &Path) {
    for (file, from, to) in [
        ("pvc-app.yaml", "settle: 30s", "settle: 0s"),
        ("deployment-pods.yaml", "immediately: false", "immediately: true"),
        ("namespace-contents.yaml", "settle: 30s", "settle: 0s"),
    ] {
        let text = std::fs::read_to_string(fixtures().join(file)).unwrap();
        assert!(text.contains(from), "{file} says `{from}`");
        std::fs::write(dir.join(file), text.replace(from, to)).unwrap();
    }
}

#[test]
fn without_the_settle_the_same_scenarios_fail() {
    let dir = tempfile::tempdir().unwrap();
    without_settle(dir.path());
    let (outcomes, last) = run(dir.path(), &["--sim-timing", "kind", "--parallel", "3"]);
    assert_eq!(last, "0 passed, 3 failed, 0 skipped", "{outcomes:#?}");
    let reason = |name: &str| outcomes.iter().find(|(n, _, _)| n == name).map(|(_, _, r)| r.clone()).unwrap_or_default();
    // Each fails on the race, at the check: a volume or namespace still going, pods not yet collected.
    assert!(reason("flake-pvc-app").contains("still in flight"), "{}", reason("flake-pvc-app"));
    assert!(reason("flake-namespace-contents").contains("still in flight"), "{}", reason("flake-namespace-contents"));
    assert!(reason("flake-deployment-pods").contains("to be absent"), "{}", reason("flake-deployment-pods"));
}

fn kwok_tools() -> PathBuf {
    std::env::var_os("CLEANROOM_TOOLS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/cleanroom/tools/bin"))
}

#[test]
#[ignore = "needs the kwok binaries (ci/tools.sh kwok-cluster)"]
fn new_user_scenarios_pass_every_time_on_kwok() {
    let n = runs();
    let tools = kwok_tools();
    let (outcomes, last) = run(&fixtures(), &["--provider", "kwok", "--tools", tools.to_str().unwrap(), "--repeat", &n.to_string()]);
    assert_all_passed(&outcomes, &last, n);
}
