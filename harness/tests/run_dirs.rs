//! Reports per run (`<report dir>/<run id>/` and `latest`), their provenance, and `--keep-on-failure`.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::Output;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;

const PASSING: &str = "name: ok\ndescription: passes\nsteps:\n  - namespace.create: { name: \"ok-${RUN_ID}\" }\n";
const FAILING: &str = r#"
name: broken
description: fails, leaving its namespace
steps:
  - namespace.create: { name: kept-ns }
  - assert.absent: { kind: Namespace, name: kept-ns, immediately: true }
finally:
  - namespace.delete: { name: kept-ns }
"#;

fn run(dir: &Path, args: &[&str], kubeconfig: Option<&Path>) -> Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_cleanroom"));
    c.arg("run").args(args).arg("--scenarios").arg(dir.join("scenarios")).arg("--report-dir").arg(dir.join("reports"));
    c.env("CI", "1").env("CLEANROOM_STATE_DIR", dir.join("state"));
    if let Some(k) = kubeconfig {
        c.env("KUBECONFIG", k).args(["--provider", "existing", "--allow-destructive"]);
    }
    c.output().unwrap()
}

fn scenarios(dir: &Path) {
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::write(dir.join("scenarios/ok.yaml"), PASSING).unwrap();
    std::fs::write(dir.join("scenarios/broken.yaml"), FAILING).unwrap();
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

#[test]
fn each_run_has_its_directory_latest_names_the_newest_and_the_report_says_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    scenarios(dir.path());
    let (a, b) = (run(dir.path(), &["ok"], None), run(dir.path(), &["ok"], None));
    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(0)), "{}", String::from_utf8_lossy(&b.stderr));
    let reports = dir.path().join("reports");
    let runs: Vec<String> = std::fs::read_dir(&reports).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n != "latest").collect();
    assert_eq!(runs.len(), 2, "one directory per run: {runs:?}");
    let latest = std::fs::read_link(reports.join("latest")).unwrap();
    let newest = json(&reports.join("latest/report.json"));
    assert_eq!(newest["run_id"].as_str().unwrap(), latest.to_str().unwrap(), "latest names the newest run");
    for r in &runs {
        assert_eq!(json(&reports.join(r).join("report.json"))["run_id"].as_str().unwrap(), r, "each run's report in its own directory");
    }
    let p = &newest["provenance"];
    assert_eq!(p["cleanroom_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(p["provider"], "sim");
    assert_eq!(p["sim_timing"], "instant");
    assert_eq!(p["helm_engine"], "--helm auto", "{p}");
    let file = dir.path().join("scenarios/ok.yaml");
    let hash = p["scenario_files"][file.display().to_string()].as_str().unwrap_or_else(|| panic!("{p}"));
    assert_eq!(hash, cleanroom::report::provenance::file_sha256(&file).unwrap());
    let cluster = &p["clusters"][0];
    assert_eq!(cluster["scenario"], "ok");
    assert!(cluster["kube_system_uid"].as_str().is_some_and(|u| !u.is_empty()), "{cluster}");
    assert!(cluster["server"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{cluster}");
    assert!(p["started_at"].as_str().unwrap() <= p["ended_at"].as_str().unwrap());
    assert!(std::fs::read_dir(dir.path().join("state/runs")).unwrap().next().is_none(), "finished runs leave no journal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_on_failure_keeps_a_failed_scenarios_state_and_nothing_for_a_passing_one() {
    let sim = common::sim().await;
    let dir = tempfile::tempdir().unwrap();
    scenarios(dir.path());
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let d = dir.path().to_path_buf();
    let (k1, k2) = (kubeconfig.clone(), kubeconfig.clone());
    let failed = tokio::task::spawn_blocking(move || run(&d, &["broken", "--keep-on-failure"], Some(&k1))).await.unwrap();
    let out = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{out}");
    assert!(out.contains("cluster kept for scenario broken:") && out.contains("finally steps and teardown were skipped"), "{out}");
    let ns: Api<Namespace> = Api::all(sim.client());
    assert!(ns.get_opt("kept-ns").await.unwrap().is_some(), "the failed scenario's namespace is kept");
    let report = json(&dir.path().join("reports/latest/report.json"));
    let steps = report["scenarios"][0]["steps"].as_array().unwrap();
    for section in ["finally", "teardown"] {
        let s = steps.iter().find(|s| s["section"] == section).unwrap();
        assert_eq!(s["outcome"], "skipped", "{s}");
        assert!(s["reason"].as_str().unwrap().contains("--keep-on-failure"), "{s}");
    }

    let d = dir.path().to_path_buf();
    let passed = tokio::task::spawn_blocking(move || run(&d, &["ok", "--keep-on-failure"], Some(&k2))).await.unwrap();
    let out = String::from_utf8_lossy(&passed.stdout);
    assert_eq!(passed.status.code(), Some(0), "{out}");
    assert!(!out.contains("cluster kept"), "a passing run keeps nothing: {out}");
}

/// `cleanroom run` with the default, relative report directory: a script step runs in the scenario's
/// directory and its kubectl still reaches the scenario's cluster.
#[test]
fn a_script_reaches_the_cluster_when_the_report_directory_is_relative() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("work/scenarios")).unwrap();
    std::fs::write(
        dir.path().join("work/scenarios/kubectl.yaml"),
        "name: kubectl\ndescription: a script's kubectl\nsteps:\n  - script: { run: \"kubectl get namespace default -o name\", stdout: { matches: \"^namespace/default\" } }\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cleanroom"))
        .current_dir(dir.path().join("work"))
        .args(["run", "kubectl", "--scenarios", "scenarios", "--report-dir", "reports"])
        .env("CI", "1")
        .env("CLEANROOM_STATE_DIR", dir.path().join("state"))
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
}
