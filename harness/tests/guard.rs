//! On a cluster cleanroom did not create (`--provider existing`), destructive steps refuse unless told, and a
//! kubeconfig swapped mid-run cannot redirect them.

mod common;

use std::process::Command;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

const PURGE: &str = r#"
name: purge-some
steps:
  - purge.by-selector: { kinds: [ConfigMap], selector: "victim=yes", namespace: default }
"#;

fn run(dir: &std::path::Path, kubeconfig: &std::path::Path, extra: &[&str], allow_env: Option<&str>) -> (i32, serde_json::Value) {
    let reports = dir.join("reports");
    let mut c = Command::new(env!("CARGO_BIN_EXE_cleanroom"));
    c.env("CI", "1").env("CLEANROOM_STATE_DIR", std::env::temp_dir().join(format!("cleanroom-test-state-{}", std::process::id()))).env("KUBECONFIG", kubeconfig).env_remove("CLEANROOM_ALLOW_CONTEXTS");
    if let Some(v) = allow_env {
        c.env("CLEANROOM_ALLOW_CONTEXTS", v);
    }
    let out = c
        .args(["run", "--all", "--provider", "existing", "--scenarios"])
        .arg(dir.join("scenarios"))
        .arg("--report-dir")
        .arg(&reports)
        .args(extra)
        .output()
        .unwrap();
    let report = serde_json::from_str(&std::fs::read_to_string(reports.join("latest/report.json")).unwrap()).unwrap();
    (out.status.code().unwrap_or(-1), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destructive_steps_need_permission_on_a_cluster_cleanroom_did_not_create() {
    let sim = common::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
    std::fs::write(dir.path().join("scenarios/purge.yaml"), PURGE).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let victim: ConfigMap = serde_json::from_value(serde_json::json!({"metadata": {"name": "victim", "labels": {"victim": "yes"}}})).unwrap();
    cms.create(&PostParams::default(), &victim).await.unwrap();

    let (code, report) = run(dir.path(), &kubeconfig, &[], None);
    assert_eq!(code, 1);
    let reason = report["scenarios"][0]["steps"][0]["reason"].as_str().unwrap().to_string();
    assert!(reason.starts_with("refusing `purge.by-selector` on context `"), "{reason}");
    assert!(reason.contains("pass --allow-destructive, or add the context to CLEANROOM_ALLOW_CONTEXTS"), "{reason}");
    assert!(cms.get_opt("victim").await.unwrap().is_some(), "nothing was deleted");

    // Listed in CLEANROOM_ALLOW_CONTEXTS: allowed.
    let (code, report) = run(dir.path(), &kubeconfig, &[], Some(&format!("other,{}", sim.context())));
    assert_eq!(code, 0, "{report}");
    assert!(cms.get_opt("victim").await.unwrap().is_none(), "purged once allowed");

    // The kubeconfig swapped to another cluster between two steps: refused.
    let other = common::sim().await;
    let other_config = dir.path().join("other-kubeconfig");
    other.write_kubeconfig(&other_config).unwrap();
    let swap = format!(
        "name: swap\nsteps:\n  - script: {{ run: \"cp {} {}\" }}\n  - purge.by-selector: {{ kinds: [ConfigMap], selector: \"victim=yes\", namespace: default }}\n",
        other_config.display(),
        kubeconfig.display()
    );
    std::fs::write(dir.path().join("scenarios/purge.yaml"), swap).unwrap();
    let (code, report) = run(dir.path(), &kubeconfig, &["--allow-destructive"], None);
    assert_eq!(code, 1, "{report}");
    let reason = report["scenarios"][0]["steps"][1]["reason"].as_str().unwrap();
    assert!(reason.contains("the cluster changed under the run"), "{reason}");
    sim.shutdown().await;
    other.shutdown().await;
}
