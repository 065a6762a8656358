//! Which engine runs a Helm step (`--helm auto|cli|recorded`, `--helm-binary`), printed in the step's
//! detail; `run --kubeconfig` against `cleanroom sim serve` in another process; `--context` on sim.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cleanroom(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cleanroom")).args(args).current_dir(repo()).env("CI", "1").env("CLEANROOM_STATE_DIR", std::env::temp_dir().join(format!("cleanroom-test-state-{}", std::process::id()))).env_remove("CLEANROOM_HELM").output().expect("cleanroom runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn report(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("latest/report.json")).expect("report.json")).unwrap()
}

fn step_detail(r: &Value, primitive: &str) -> String {
    r["scenarios"][0]["steps"].as_array().unwrap().iter().find(|s| s["primitive"] == primitive).and_then(|s| s["detail"].as_str()).unwrap_or("").to_string()
}

#[test]
fn the_flagship_still_installs_its_recorded_render_under_auto_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // A helm binary is given, and still not used: the recorded render matches the request exactly.
    let out = cleanroom(&["run", "kube-prometheus-stack-no-storage", "--report-dir", dir.path().to_str().unwrap(), "--helm-binary", "/nonexistent/helm"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let d = step_detail(&report(dir.path()), "helm.install");
    assert!(d.ends_with("engine: recorded render kube-prometheus-stack/no-storage-clean"), "{d}");
}

#[test]
fn a_scenario_that_requires_helm_is_skipped_with_the_reason_when_no_engine_can_serve_it() {
    let dir = tempfile::tempdir().unwrap();
    let scen = dir.path().join("demo.yaml");
    let chart = common::helm_bins::demo_chart();
    std::fs::write(&scen, format!("name: demo\ndescription: d\nrequires: {{ capabilities: [helm] }}\nsteps:\n  - helm.install: {{ release: demo, chart: {}, namespace: demo, createNamespace: true }}\n  - assert.exists: {{ kind: ConfigMap, name: demo-config, namespace: demo }}\n", chart.display())).unwrap();
    let rd = dir.path().join("r");
    let out = cleanroom(&["run", scen.to_str().unwrap(), "--report-dir", rd.to_str().unwrap(), "--helm-binary", "/nonexistent/helm"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("0 passed, 0 failed, 1 skipped"), "{}", text(&out));
    let r = report(&rd);
    let why = r["scenarios"][0]["reason"].as_str().unwrap();
    assert!(why.starts_with("needs helm (requires: capabilities: [helm]): the `helm` binary was not found"), "{why}");
    assert_eq!(r["scenarios"][0]["steps"][1]["outcome"], "skipped");

    // Without `requires`, the same is an actionable failure naming the chart and how to record it.
    std::fs::write(&scen, std::fs::read_to_string(&scen).unwrap().replace("requires: { capabilities: [helm] }\n", "")).unwrap();
    let rd = dir.path().join("r2");
    let path = std::env::var("PATH").unwrap_or_default();
    let no_helm: Vec<String> = std::env::split_paths(&path).filter(|d| !d.join("helm").exists()).map(|d| d.display().to_string()).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_cleanroom"))
        .args(["run", scen.to_str().unwrap(), "--report-dir", rd.to_str().unwrap()])
        .env("PATH", no_helm.join(":"))
        .env_remove("CLEANROOM_HELM")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = report(&rd);
    let why = r["scenarios"][0]["steps"][0]["reason"].as_str().unwrap().to_string();
    assert!(why.contains("no recorded render matches this request and no `helm` binary was found") && why.contains("cleanroom record"), "{why}");
}

#[test]
fn context_on_the_embedded_cluster_is_an_environment_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = cleanroom(&["run", "smoke", "--context", "kind-x", "--report-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("--context selects a context of a kubeconfig, but --provider sim makes its own cluster"), "{}", text(&out));
}

/// `cleanroom sim serve` in another process; its kubeconfig appears once it serves.
#[test]
fn the_stateful_lifecycle_scenario_with_helm3_and_helm4_on_sim_and_through_a_kubeconfig() {
    let helms = require_helms!();
    let served = common::serve();
    let scen = repo().join("fixtures/scenarios-helm/stateful-lifecycle.yaml");
    for (name, bin) in helms {
        for provider in ["sim", "existing"] {
            let dir = tempfile::tempdir().unwrap();
            let mut args = vec!["run", scen.to_str().unwrap(), "--scenarios", "fixtures/scenarios-helm", "--report-dir", dir.path().to_str().unwrap(), "--helm", "cli", "--helm-binary", bin.to_str().unwrap(), "--provider", provider];
            if provider == "existing" {
                args.extend(["--kubeconfig", served.1.to_str().unwrap(), "--allow-destructive"]);
            }
            let out = cleanroom(&args);
            assert_eq!(out.status.code(), Some(0), "{name} on {provider}:\n{}", text(&out));
            let r = report(dir.path());
            assert!(step_detail(&r, "helm.test").contains("1 succeeded (db-test-db)"), "{name} {provider}");
            assert!(step_detail(&r, "helm.rollback").contains("now revision 3 deployed"), "{name} {provider}");
            assert!(step_detail(&r, "helm.install").contains(&format!("engine: helm v{}", &name[4..])), "{name} {provider}: {}", step_detail(&r, "helm.install"));
        }
    }
}

#[test]
fn the_flagship_with_helm_cli_and_no_repository_fails_fast_naming_the_chart() {
    let helms = require_helms!();
    let (name, bin) = &helms[1];
    let dir = tempfile::tempdir().unwrap();
    // An empty HOME: no repositories configured, as on a machine without network or `helm repo add`.
    let out = Command::new(env!("CARGO_BIN_EXE_cleanroom"))
        .args(["run", "kube-prometheus-stack-no-storage", "--helm", "cli", "--helm-binary", bin.to_str().unwrap(), "--report-dir", dir.path().join("r").to_str().unwrap()])
        .current_dir(repo())
        .env("HOME", dir.path())
        .env_remove("HELM_REPOSITORY_CONFIG")
        .env_remove("HELM_REPOSITORY_CACHE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
    let r = report(&dir.path().join("r"));
    let install = r["scenarios"][0]["steps"].as_array().unwrap().iter().find(|s| s["primitive"] == "helm.install").unwrap().clone();
    assert_eq!(
        install["reason"].as_str().unwrap(),
        "INSTALLATION FAILED: chart not reachable: prometheus-community/kube-prometheus-stack: repo prometheus-community not found"
    );
}
