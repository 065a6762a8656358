//! The GitHub Actions workflows users copy: structurally sound (every `${{ inputs.X }}` is a declared input,
//! every job runs on something, every step runs or uses something, matrix values come from real outputs),
//! and clean under `actionlint` (with shellcheck on the run scripts) when it is on PATH or in the tools cache.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn workflows() -> Vec<PathBuf> {
    vec![
        repo().join("ci/github/cleanroom.yml"),
        repo().join(".github/workflows/cleanroom-reusable.yml"),
        repo().join(".github/workflows/cleanroom.yml"),
    ]
}

fn load(p: &Path) -> serde_json::Value {
    serde_saphyr::from_str(&std::fs::read_to_string(p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_reusable_workflow_is_copied_verbatim() {
    assert_eq!(
        std::fs::read_to_string(repo().join("ci/github/cleanroom.yml")).unwrap(),
        std::fs::read_to_string(repo().join(".github/workflows/cleanroom-reusable.yml")).unwrap(),
        "copy ci/github/cleanroom.yml to .github/workflows/cleanroom-reusable.yml"
    );
}

#[test]
fn workflows_are_structurally_sound() {
    let expr = regex::Regex::new(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)").unwrap();
    for p in workflows() {
        let text = std::fs::read_to_string(&p).unwrap();
        let w = load(&p);
        let inputs = &w["on"]["workflow_call"]["inputs"];
        for c in expr.captures_iter(&text) {
            assert!(inputs.get(&c[1]).is_some(), "{}: `inputs.{}` is not a declared input", p.display(), &c[1]);
        }
        let jobs = w["jobs"].as_object().unwrap_or_else(|| panic!("{}: no jobs", p.display()));
        for (name, job) in jobs {
            assert!(job.get("runs-on").is_some() || job.get("uses").is_some(), "{}: job {name} runs on nothing", p.display());
            if let Some(uses) = job.get("uses").and_then(|u| u.as_str())
                && let Some(local) = uses.strip_prefix("./")
            {
                assert!(repo().join(local).exists(), "{}: job {name} calls {uses}, which does not exist", p.display());
            }
            for (i, step) in job["steps"].as_array().into_iter().flatten().enumerate() {
                assert!(step.get("run").is_some() || step.get("uses").is_some(), "{}: job {name} step {i} does nothing", p.display());
            }
            for need in job["needs"].as_str().into_iter().chain(job["needs"].as_array().into_iter().flatten().filter_map(|n| n.as_str())) {
                assert!(jobs.contains_key(need), "{}: job {name} needs unknown job {need}", p.display());
            }
        }
    }
}

/// A plan step of the reusable workflow, run as GitHub would run it; returns what it wrote to `$GITHUB_OUTPUT`.
fn run_plan_step(id: &str, env: (&str, &str)) -> String {
    let w = load(&repo().join("ci/github/cleanroom.yml"));
    let steps = w["jobs"]["plan"]["steps"].as_array().unwrap();
    let script = steps.iter().find(|s| s["id"] == id).and_then(|s| s["run"].as_str()).unwrap_or_else(|| panic!("plan step {id}"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let status = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .env(env.0, env.1)
        .env("GITHUB_OUTPUT", &out)
        .status()
        .unwrap();
    assert!(status.success(), "plan step {id} failed");
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn the_shard_plan_step_runs() {
    assert_eq!(run_plan_step("shards", ("SHARDS", "3")), "list=[1,2,3]\n");
}

/// One chart a line, blank lines and surrounding spaces dropped: the chart jobs' matrix.
#[test]
fn the_chart_plan_step_runs() {
    assert_eq!(run_plan_step("charts", ("CHARTS", "charts/web\n  charts/db  \n\n")), "list=[\"charts/web\",\"charts/db\"]\n");
    assert_eq!(run_plan_step("charts", ("CHARTS", "")), "list=[]\n");
}

