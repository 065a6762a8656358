//! The binary: `list` format, `--repeat`, exit codes, standalone `snapshot` + `diff`, `schema`.

mod common;

use std::process::Command;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

fn cleanroom() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cleanroom"));
    c.env("CI", "1").env("CLEANROOM_STATE_DIR", std::env::temp_dir().join(format!("cleanroom-test-state-{}", std::process::id())));
    c
}

fn scenarios_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

#[test]
fn list_prints_name_then_description() {
    let out = cleanroom().args(["list", "--scenarios"]).arg(scenarios_dir()).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let smoke = text.lines().find(|l| l.starts_with("smoke ")).expect("smoke listed");
    assert!(smoke.contains("Create a namespace"), "{smoke}");
}

#[test]
fn repeat_runs_the_selection_n_times_under_numbered_names() {
    let out = cleanroom().args(["run", "smoke", "rollout", "--repeat", "2", "--list", "--scenarios"]).arg(scenarios_dir()).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "smoke#1\nrollout#1\nsmoke#2\nrollout#2\n");
    let out = cleanroom().args(["run", "smoke", "--repeat", "0", "--list", "--scenarios"]).arg(scenarios_dir()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--repeat 0 is a usage error");
}

#[test]
fn scenario_file_errors_exit_2_with_file_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "name: bad\nsteps:\n  - namespace.creat: {name: x}\n").unwrap();
    let out = cleanroom().args(["run", "--all", "--scenarios"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.yaml:3:5: unknown primitive `namespace.creat`"), "{err}");
    assert!(err.contains("did you mean `namespace.create`"), "{err}");
}

#[test]
fn unknown_scenario_and_usage_errors_exit_2() {
    let out = cleanroom().args(["run", "smok", "--scenarios"]).arg(scenarios_dir()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("did you mean `smoke`"));
    let out = cleanroom().args(["run", "--provider", "docker", "smoke"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = cleanroom().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schema_prints_json() {
    let out = cleanroom().arg("schema").output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["title"], "cleanroom scenario");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_diff_exits_1_on_leftovers() {
    let sim = common::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    let base = dir.path().join("base.json");
    let run = |args: &[&str]| {
        let mut c = cleanroom();
        c.args(args).arg("--kubeconfig").arg(&kc);
        c
    };
    let out = tokio::task::spawn_blocking({
        let mut c = run(&["snapshot", "--out", base.to_str().unwrap()]);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let cms: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({"metadata": {"name": "left", "labels": {"app": "other"}}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();

    let out = tokio::task::spawn_blocking({
        let mut c = run(&["diff", "--baseline", base.to_str().unwrap(), "--purged-selector", "app=mine"]);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ConfigMap default/left: label app=other differs from the purged value `mine`"), "{text}");

    cms.delete("left", &Default::default()).await.unwrap();
    let out = tokio::task::spawn_blocking({
        let mut c = run(&["diff", "--baseline", base.to_str().unwrap()]);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn kind_provider_without_kind_is_an_environment_error() {
    // An empty PATH: no kind, whatever this machine has installed.
    let empty = tempfile::tempdir().unwrap();
    let out = cleanroom()
        .args(["run", "smoke", "--provider", "kind", "--scenarios"])
        .arg(scenarios_dir())
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "a missing tool is a broken environment, not a failed test");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("`kind` is not on PATH"), "{err}");
    assert!(err.contains("--provider sim"), "{err}");
}

/// The embedded cluster's write-storm guard fails the scenario and names the controller. With a
/// limit of 1 write per object per second, a Deployment's rollout (its controller writes the
/// Deployment's status several times in a row) counts as a storm; the default limit (100, from
/// .cargo/config.toml) never trips in the other tests.
#[test]
fn a_controller_write_storm_fails_the_scenario_naming_the_controller() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("storm.yaml");
    std::fs::write(&file, "name: storm\nsteps:\n  - namespace.create: {name: storm}\n  - manifests.apply:\n      namespace: storm\n      inline: |\n        apiVersion: apps/v1\n        kind: Deployment\n        metadata: {name: web}\n        spec:\n          replicas: 3\n          selector: {matchLabels: {app: web}}\n          template:\n            metadata: {labels: {app: web}}\n            spec: {containers: [{name: web, image: nginx:1.27}]}\n  - wait.rollout: {kind: Deployment, name: web, namespace: storm}\n").unwrap();
    let reports = dir.path().join("reports");
    let out = cleanroom().env("CLEANROOM_SIM_WRITE_STORM", "1").env("CLEANROOM_STATE_DIR", dir.path().join("state"))
        .args(["run"]).arg(&file).arg("--report-dir").arg(&reports).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report = std::fs::read_to_string(reports.join("latest/report.json")).unwrap();
    assert!(report.contains("write storm in the embedded cluster: controller/"), "{report}");
}

/// `snapshot`/`diff` exit 3 when the environment is broken: an unreadable baseline, an unreadable
/// kubeconfig, a cluster that does not answer. Leftovers (1) and usage (2) stay distinct.
#[test]
fn snapshot_and_diff_exit_3_on_environment_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let garbled = dir.path().join("garbled.json");
    std::fs::write(&garbled, "not an inventory").unwrap();
    // Nothing listens on port 9 (discard) of localhost on a test machine: connection refused.
    let unreachable = dir.path().join("unreachable.kubeconfig");
    std::fs::write(
        &unreachable,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n\
         users: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )
    .unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, String)> = vec![
        (vec!["diff".into(), "--baseline".into(), s(&missing), "--current".into(), s(&garbled)], s(&missing)),
        (vec!["diff".into(), "--baseline".into(), s(&garbled), "--current".into(), s(&garbled)], s(&garbled)),
        (vec!["snapshot".into(), "--out".into(), s(&dir.path().join("o.json")), "--kubeconfig".into(), s(&missing)], s(&missing)),
        (vec!["snapshot".into(), "--out".into(), s(&dir.path().join("o.json")), "--kubeconfig".into(), s(&unreachable)], "127.0.0.1:9".into()),
    ];
    for (args, named) in cases {
        let out = cleanroom().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("error:"), "{args:?}: {err}");
        if !named.contains("127.0.0.1") {
            assert!(err.contains(&named), "{args:?} names the file: {err}");
        }
    }
}
