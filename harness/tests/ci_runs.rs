//! What a CI pipeline relies on: selections (`--list`, `--tag`, `--shard`), `--parallel` giving the same
//! outcomes and report as a serial run, the machine-readable last line, `$GITHUB_STEP_SUMMARY`, and a
//! junit.xml that a JUnit parser loads with the failure output inside.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cleanroom() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cleanroom"));
    c.env("CI", "1").env_remove("GITHUB_STEP_SUMMARY").env("CLEANROOM_STATE_DIR", std::env::temp_dir().join(format!("cleanroom-test-state-{}", std::process::id())));
    c
}

fn repo_scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn stdout_lines(c: &mut Command) -> Vec<String> {
    let out = c.output().unwrap();
    assert!(out.status.success() || out.status.code() == Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn shards_of_the_repository_suite_partition_it() {
    let all = stdout_lines(cleanroom().args(["run", "--all", "--list", "--scenarios"]).arg(repo_scenarios()));
    assert!(all.len() >= 8, "{all:?}");
    for count in [2, 3, 5] {
        let mut union = Vec::new();
        for index in 1..=count {
            let part = stdout_lines(cleanroom().args(["run", "--list", "--shard", &format!("{index}/{count}"), "--scenarios"]).arg(repo_scenarios()));
            for n in &part {
                assert!(!union.contains(n), "{n} is in two of {count} shards");
            }
            union.extend(part);
        }
        union.sort();
        let mut expected = all.clone();
        expected.sort();
        assert_eq!(union, expected, "{count} shards together run --all");
    }
    let out = cleanroom().args(["run", "--list", "--shard", "4/3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a shard outside 1..=N is a usage error");
}

const PASSING: &str = r#"
name: NAME
description: a namespace and a config map, removed again
tags: [TAGS]
variables: { NS: "NAME-${RUN_ID}" }
steps:
  - oracle.snapshot: { name: baseline }
  - namespace.create: { name: "${NS}" }
  - manifests.apply:
      namespace: "${NS}"
      inline: |
        apiVersion: v1
        kind: ConfigMap
        metadata: { name: settings }
        data: { mode: fast }
  - assert.count: { kind: ConfigMap, namespace: "${NS}", selector: "", min: 1 }
  - namespace.delete: { name: "${NS}" }
  - oracle.assert-clean: { baseline: baseline }
"#;

const FAILING: &str = r#"
name: leaky
description: plants a cluster role and never removes it
tags: [slow]
steps:
  - oracle.snapshot: { name: baseline }
  - sabotage.stale-clusterrole: { name: leaky-operator }
  - name: nothing is left
    oracle.assert-clean: { baseline: baseline }
"#;

fn suite(dir: &Path) -> PathBuf {
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    for (name, tags) in [("alpha", "fast"), ("bravo", "fast, nightly"), ("charlie", "nightly"), ("delta", "fast")] {
        std::fs::write(scenarios.join(format!("{name}.yaml")), PASSING.replace("NAME", name).replace("TAGS", tags)).unwrap();
    }
    std::fs::write(scenarios.join("leaky.yaml"), FAILING).unwrap();
    scenarios
}

#[test]
fn tags_select_and_skip() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = suite(dir.path());
    let fast = stdout_lines(cleanroom().args(["run", "--list", "--tag", "fast", "--scenarios"]).arg(&scenarios));
    assert_eq!(fast, ["alpha", "bravo", "delta"]);
    let not_nightly = stdout_lines(cleanroom().args(["run", "--list", "--all", "--skip-tag", "nightly", "--scenarios"]).arg(&scenarios));
    assert_eq!(not_nightly, ["alpha", "delta", "leaky"]);
    let named = stdout_lines(cleanroom().args(["run", "--list", "charlie", "alpha", "--tag", "fast", "--scenarios"]).arg(&scenarios));
    assert_eq!(named, ["alpha"], "tags narrow named scenarios too");
}

/// Outcomes, reasons and steps of every scenario, in report order (timings and ids aside).
fn outcomes(report: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(report).unwrap();
    let run_id = regex::Regex::new(r"\d{8}-\d{6}-[0-9a-f]{4}").unwrap();
    let v: serde_json::Value = serde_json::from_str(&run_id.replace_all(&text, "RUN")).unwrap();
    v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let steps: Vec<_> = s["steps"].as_array().unwrap().iter().map(|st| (st["name"].clone(), st["outcome"].clone(), st["reason"].clone())).collect();
            serde_json::json!({"name": s["name"], "outcome": s["outcome"], "steps": steps, "leftovers": s["leftovers"]})
        })
        .collect()
}

#[test]
fn parallel_runs_report_what_serial_runs_report() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = suite(dir.path());
    let summary = dir.path().join("step-summary.md");
    let mut reports = Vec::new();
    for parallel in ["1", "3"] {
        let report_dir = dir.path().join(format!("reports-{parallel}"));
        let out = cleanroom()
            .args(["run", "--all", "--parallel", parallel, "--scenarios"])
            .arg(&scenarios)
            .arg("--report-dir")
            .arg(&report_dir)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "leaky fails: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().last(), Some("4 passed, 1 failed, 0 skipped"), "{stdout}");
        reports.push(report_dir);
    }
    let (serial, parallel) = (outcomes(&reports[0].join("latest/report.json")), outcomes(&reports[1].join("latest/report.json")));
    assert_eq!(serial.len(), 5);
    assert_eq!(serial, parallel);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(text.matches("# cleanroom run").count(), 2, "each run appended its summary:\n{text}");
    assert!(text.contains("leaky-operator"), "{text}");

    // The JUnit file of the parallel run, through a JUnit parser.
    let junit = std::fs::read(reports[1].join("latest/junit.xml")).unwrap();
    let suites = junit_parser::from_reader(std::io::Cursor::new(junit)).expect("junit.xml parses");
    let leaky = suites.suites.iter().find(|s| s.name == "leaky").expect("a suite per scenario");
    let oracle_case = leaky.cases.iter().find(|c| c.original_name.contains("nothing is left")).expect("a case per step");
    let junit_parser::TestStatus::Failure(f) = &oracle_case.status else { panic!("the oracle step failed: {:?}", oracle_case.status) };
    assert!(f.message.contains("leftover object(s) differ from baseline"), "{}", f.message);
    assert!(f.text.contains("ClusterRole.rbac.authorization.k8s.io leaky-operator"), "the failure body lists the leftovers: {}", f.text);
    assert!(f.text.contains("diagnostics: "), "and where the diagnostics are: {}", f.text);
    let leftover = leaky.cases.iter().find(|c| c.original_name.contains("leftover ClusterRole leaky-operator")).expect("a case per leftover");
    let junit_parser::TestStatus::Failure(lf) = &leftover.status else { panic!("{:?}", leftover.status) };
    assert!(lf.message.contains("no purge covered kind ClusterRole") || lf.message.contains("leaky-operator:"), "{}", lf.message);
    let alpha = suites.suites.iter().find(|s| s.name == "alpha").unwrap();
    assert!(alpha.cases.iter().all(|c| c.status.is_success()), "{:?}", alpha.cases);
    assert!(alpha.timestamp.is_some(), "suites carry their start time");
}
