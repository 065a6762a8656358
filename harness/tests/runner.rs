//! Runner semantics on the embedded cluster: expectations, `finally`, teardown, skips.

mod common;

use cleanroom::runner::Outcome;

async fn run_yaml(yaml: &str) -> cleanroom::runner::ScenarioResult {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.yaml");
    std::fs::write(&path, yaml).unwrap();
    common::run_file(&path).await
}

fn step<'a>(r: &'a cleanroom::runner::ScenarioResult, primitive: &str) -> &'a cleanroom::runner::StepResult {
    r.steps.iter().find(|s| s.primitive == primitive).unwrap_or_else(|| panic!("no {primitive} step"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_fails_checks_every_message_pattern() {
    let r = run_yaml(
        "name: t\nsteps:\n  - assert.exists: {kind: ConfigMap, name: nope, namespace: default}\n    expect: fails\n    timeout: 2s\n    message: ['ConfigMap default/nope', 'found none']\n",
    )
    .await;
    common::assert_passed(&r);
    let r = run_yaml(
        "name: t\nsteps:\n  - assert.exists: {kind: ConfigMap, name: nope, namespace: default}\n    expect: fails\n    timeout: 2s\n    message: 'something else'\n",
    )
    .await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(step(&r, "assert.exists").reason.as_ref().unwrap().contains("does not match /something else/"));
    let r = run_yaml("name: t\nsteps:\n  - cluster.ensure: {}\n    expect: fails\n").await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(step(&r, "cluster.ensure").reason.as_ref().unwrap().starts_with("expected this step to fail, but it succeeded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_stops_the_steps_but_finally_and_teardown_run() {
    let r = run_yaml(
        "name: t\nsteps:\n  - namespace.create: {name: t1}\n  - assert.exists: {kind: Namespace, name: nope}\n    timeout: 2s\n  - cluster.ensure: {}\nfinally:\n  - cluster.ensure: {}\n",
    )
    .await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.reason.as_ref().unwrap().starts_with("step 2 `assert.exists nope` failed"));
    let not_run = step(&r, "cluster.ensure");
    assert_eq!(not_run.outcome, Outcome::Skipped);
    assert_eq!(not_run.reason.as_deref(), Some("not run: an earlier step failed"));
    assert!(r.steps.iter().any(|s| s.section == "finally" && s.outcome == Outcome::Passed));
    let td = step(&r, "teardown");
    assert_eq!(td.outcome, Outcome::Passed);
    assert_eq!(td.detail.as_deref(), Some("removed 1 object(s)"), "teardown removed the namespace");
    assert!(r.diagnostics_dir.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_finally_fails_the_scenario() {
    let r = run_yaml("name: t\nsteps:\n  - cluster.ensure: {}\nfinally:\n  - assert.exists: {kind: Namespace, name: nope}\n    timeout: 2s\n").await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.reason.as_ref().unwrap().starts_with("finally step"), "{:?}", r.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skips_are_never_passes() {
    // The embedded cluster runs no processes: the HTTP step is skipped, never passed, and the
    // scenario says which step did not run and why.
    let r = run_yaml(
        "name: t\nsteps:\n  - cluster.ensure: {}\n  - http.get: {service: kubernetes, namespace: default}\n",
    )
    .await;
    assert_eq!(r.outcome, Outcome::Passed);
    let skipped: Vec<_> = r.steps.iter().filter(|s| s.outcome == Outcome::Skipped).collect();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].reason.as_ref().unwrap().contains("is not available on provider `sim`: its pods run no containers, so nothing answers HTTP"));
    assert!(r.reason.as_ref().unwrap().starts_with("1 step(s) skipped: `http.get kubernetes`"), "{:?}", r.reason);
    // A scenario none of whose steps can run is itself skipped.
    let r = run_yaml("name: t\nsteps:\n  - http.get: {service: kubernetes, namespace: default}\n").await;
    assert_eq!(r.outcome, Outcome::Skipped);
    let r = run_yaml("name: t\nrequires: {min_nodes: 50}\nsteps:\n  - cluster.ensure: {}\n").await;
    assert_eq!(r.outcome, Outcome::Skipped);
    assert!(r.reason.as_ref().unwrap().starts_with("needs 50 node(s)"));
}
