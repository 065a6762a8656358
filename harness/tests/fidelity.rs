//! The differential fidelity tier: the embedded cluster judged against a real control plane (kwok).
//!
//! 1. Scenarios run on `--provider sim` and `--provider kwok`; every step's outcome and every oracle
//!    step's leftovers (with their reasons) are compared, steps kwok skips for lacking node filesystems
//!    excused. `CLEANROOM_FIDELITY_SCENARIOS` (space-separated names, or `all`, the default) picks the set.
//! 2. The kubectl corpus (`fixtures/fidelity/kubectl-corpus.txt`) runs as `script` steps on both; each
//!    command's output and exit code are compared after normalisation.
//!
//! Both print `identical / compared`. Every difference must be listed in `sim/KNOWN-DIFFERENCES.md`
//! (by scenario step or command) or fixed in the embedded cluster: an unlisted one fails the test.
//! Ignored by default (they need the kwok binaries); `ci/test` runs them with the kwok tier.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cleanroom::report::RunReport;
use cleanroom::report::fidelity::{Fidelity, Normaliser, compare_runs};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

fn tools() -> PathBuf {
    let dir = std::env::var_os("CLEANROOM_TOOLS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/cleanroom/tools/bin"));
    // The flagship's scenarios need the real operator for their operator pod (kwok_pods.rs).
    let needed = cleanroom::providers::kwok_setup::TOOLS.iter().copied().chain(["prometheus-operator"]);
    let missing: Vec<&str> = needed.filter(|t| !dir.join(t).is_file()).collect();
    assert!(missing.is_empty(), "the fidelity tier needs {} in {}: build them with `ci/tools.sh kwok-cluster`", missing.join(", "), dir.display());
    dir
}

/// `cleanroom run ARGS --provider P`; the report, and the run's stderr for diagnosis.
fn run(provider: &str, reports: &Path, scenarios: &Path, args: &[&str]) -> (RunReport, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cleanroom"));
    c.arg("run").args(args).args(["--provider", provider, "--report-dir"]).arg(reports).arg("--scenarios").arg(scenarios);
    if provider == "kwok" {
        c.args(["--kwok-runtime", "binary", "--tools"]).arg(tools());
    }
    let started = std::time::Instant::now();
    let out = c.current_dir(repo()).env("CI", "1").env("CLEANROOM_STATE_DIR", std::env::temp_dir().join(format!("cleanroom-test-state-{}", std::process::id()))).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = std::fs::read_to_string(reports.join("latest/report.json")).unwrap_or_else(|e| panic!("{provider}: no report ({e}):\n{stderr}"));
    let report: RunReport = serde_json::from_str(&text).unwrap();
    eprintln!("{provider}: {} passed, {} failed, {} skipped in {:.1}s", report.passed, report.failed, report.skipped, started.elapsed().as_secs_f64());
    (report, stderr)
}

/// `cluster: kwok cluster NAME (...)` → NAME.
fn kwok_cluster(stderr: &str) -> String {
    stderr.lines().find_map(|l| l.split("cluster: kwok cluster ").nth(1)).and_then(|r| r.split_whitespace().next()).unwrap_or_default().to_string()
}

fn known_differences() -> String {
    std::fs::read_to_string(repo().join("sim/KNOWN-DIFFERENCES.md")).unwrap()
}

/// Differences not listed in sim/KNOWN-DIFFERENCES.md: a difference is listed when any of its `keys`
/// appears there in backticks.
fn unlisted(f: &Fidelity, keys: impl Fn(&str) -> Vec<String>) -> Vec<String> {
    let known = known_differences();
    f.differences.iter().filter(|d| !keys(d).iter().any(|k| known.contains(&format!("`{k}`")))).cloned().collect()
}

/// Every scenario in `scenarios/` (the flagship's with the real prometheus-operator on kwok).
const DEFAULT_SCENARIOS: &[&str] = &["all"];

#[test]
#[ignore = "fidelity tier: needs the binaries of `ci/tools.sh kwok-cluster`; ci/test runs it"]
fn scenarios_have_the_same_outcomes_on_sim_and_kwok() {
    let chosen = std::env::var("CLEANROOM_FIDELITY_SCENARIOS").unwrap_or_default();
    let names: Vec<&str> = if chosen.trim().is_empty() { DEFAULT_SCENARIOS.to_vec() } else { chosen.split_whitespace().collect() };
    let args: Vec<&str> = if names == ["all"] { vec!["--all"] } else { names.clone() };
    let dir = tempfile::tempdir().unwrap();
    let scenarios = repo().join("scenarios");
    let (sim, _) = run("sim", &dir.path().join("sim"), &scenarios, &args);
    let (kwok, stderr) = run("kwok", &dir.path().join("kwok"), &scenarios, &args);
    let cluster = kwok_cluster(&stderr);
    if let Some(line) = stderr.lines().find(|l| l.contains("cluster: kwok cluster")) {
        println!("benchmark: {}", line.split("cluster: ").nth(1).unwrap_or(line));
    }
    let n = Normaliser::new(&[&sim.run_id, &kwok.run_id], &[&cluster, "cleanroom"]);
    let (steps, oracle) = compare_runs(&sim, &kwok, &n);
    println!("{}", steps.line("scenario steps (sim vs kwok)"));
    println!("{}", oracle.line("oracle leftovers and reasons (sim vs kwok)"));
    for d in steps.differences.iter().chain(&oracle.differences) {
        println!("  differs: {d}");
    }
    // Scenario-level timing, side by side (printed, not asserted).
    for s in &sim.scenarios {
        let k = kwok.scenarios.iter().find(|k| k.name == s.name).map(|k| k.duration_ms).unwrap_or_default();
        println!("  wall time {:<40} sim {:>7} ms   kwok {:>7} ms", s.name, s.duration_ms, k);
    }
    // A difference is listed by its scenario and step number (`scenario: step N`), or by the scenario's
    // name alone when the whole scenario diverges for one reason.
    let key = |d: &str| {
        let step = d.split(" `").next().unwrap_or(d).trim().to_string();
        let scenario = d.split(':').next().unwrap_or(d).trim().to_string();
        vec![step, scenario]
    };
    let new: Vec<String> = unlisted(&steps, key).into_iter().chain(unlisted(&oracle, key)).collect();
    assert!(new.is_empty(), "differences neither fixed nor listed in sim/KNOWN-DIFFERENCES.md:\n{}", new.join("\n"));
}

/// One scenario of `script` steps, one per corpus command: its output and exit code land in the
/// report's `commands/` files.
fn corpus_scenario(corpus: &str) -> (String, Vec<String>) {
    let mut yaml = String::from(
        "name: kubectl-corpus\ndescription: the kubectl corpus of the fidelity tier\nvariables: { NS: \"corpus-${RUN_ID}\" }\nsteps:\n",
    );
    let mut commands = Vec::new();
    for line in corpus.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let cmd = line.replace("$NS", "${NS}").replace("$CLUSTER", "${CLUSTER}");
        commands.push(line.to_string());
        yaml.push_str(&format!(
            "  - name: c{:03}\n    timeout: 2m\n    script:\n      run: |\n        {cmd} 2>&1; echo \"[exit $?]\"\n",
            commands.len()
        ));
    }
    yaml.push_str("finally:\n  - namespace.delete: { name: \"${NS}\" }\n");
    (yaml, commands)
}

/// Each command's normalised output, in corpus order.
fn corpus_outputs(reports: &Path, n: &Normaliser, count: usize) -> Vec<String> {
    let dir = reports.join("latest").join("kubectl-corpus").join("commands");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "stdout"))
        .collect();
    // `NN-cNNN.stdout`: in step order by the number (past 99 the names no longer sort as text).
    files.sort_by_key(|p| p.file_name().and_then(|n| n.to_str()).and_then(|n| n.split('-').next()).and_then(|n| n.parse::<u32>().ok()));
    let mut out: Vec<String> = files.iter().map(|p| n.apply(&std::fs::read_to_string(p).unwrap_or_default())).collect();
    out.resize(count, "(not run)".into());
    out
}

#[test]
#[ignore = "fidelity tier: needs the binaries of `ci/tools.sh kwok-cluster`; ci/test runs it"]
fn kubectl_commands_answer_alike_on_sim_and_kwok() {
    let corpus = std::fs::read_to_string(repo().join("fixtures/fidelity/kubectl-corpus.txt")).unwrap();
    let (yaml, commands) = corpus_scenario(&corpus);
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(scenarios.join("kubectl-corpus.yaml"), yaml).unwrap();
    let (sim, _) = run("sim", &dir.path().join("sim"), &scenarios, &["kubectl-corpus"]);
    let (kwok, stderr) = run("kwok", &dir.path().join("kwok"), &scenarios, &["kubectl-corpus"]);
    let cluster = kwok_cluster(&stderr);
    let n = Normaliser::new(&[&sim.run_id, &kwok.run_id], &[&cluster, "cleanroom"]);
    let (a, b) = (corpus_outputs(&dir.path().join("sim"), &n, commands.len()), corpus_outputs(&dir.path().join("kwok"), &n, commands.len()));
    let mut f = Fidelity::default();
    for (i, cmd) in commands.iter().enumerate() {
        f.compared += 1;
        if a[i] == b[i] {
            f.identical += 1;
        } else {
            f.differences.push(format!("{cmd}\n      sim:  {}\n      kwok: {}", a[i].replace('\n', "\n            "), b[i].replace('\n', "\n            ")));
        }
    }
    println!("{}", f.line("kubectl commands (sim vs kwok)"));
    for d in &f.differences {
        println!("  differs: {d}");
    }
    // A command is listed by its text.
    let new = unlisted(&f, |d| vec![d.lines().next().unwrap_or_default().to_string()]);
    assert!(new.is_empty(), "{} kubectl command(s) differ and are neither fixed nor listed in sim/KNOWN-DIFFERENCES.md:\n{}", new.len(), new.join("\n"));
}

#[test]
fn the_corpus_becomes_one_script_step_per_command() {
    let (yaml, commands) = corpus_scenario("# c\nkubectl get ns $NS\n\nkubectl cordon $CLUSTER-worker\n");
    assert_eq!(commands, ["kubectl get ns $NS", "kubectl cordon $CLUSTER-worker"]);
    assert!(yaml.contains("  - name: c002\n") && yaml.contains("kubectl cordon ${CLUSTER}-worker 2>&1; echo \"[exit $?]\""), "{yaml}");
    let path = Path::new("/tmp/kubectl-corpus.yaml");
    cleanroom::scenario::parse_str(&yaml, path, None).expect("the generated corpus scenario parses");
}
