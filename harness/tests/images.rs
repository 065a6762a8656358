//! A scenario's `images:`: providers that run no containers need none; `existing` cannot load them and
//! says so in the report's findings (kind loads them: tests/kind_fakes.rs).

mod common;

use std::path::Path;
use std::process::Output;

const WITH_IMAGES: &str = "name: imgs\nimages: [example.dev/app:dev]\nsteps:\n  - namespace.create: { name: \"imgs-${RUN_ID}\" }\n  - namespace.delete: { name: \"imgs-${RUN_ID}\" }\n";

fn run(dir: &Path, extra: &[&str], kubeconfig: Option<&Path>) -> Output {
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::write(dir.join("scenarios/imgs.yaml"), WITH_IMAGES).unwrap();
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_cleanroom"));
    c.args(["run", "imgs", "--scenarios"]).arg(dir.join("scenarios")).arg("--report-dir").arg(dir.join("reports")).args(extra);
    c.env("CI", "1").env("CLEANROOM_STATE_DIR", dir.join("state"));
    if let Some(k) = kubeconfig {
        c.env("KUBECONFIG", k);
    }
    c.output().unwrap()
}

fn findings(dir: &Path) -> Vec<String> {
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("reports/latest/report.json")).unwrap()).unwrap();
    r["scenarios"][0]["findings"].as_array().unwrap().iter().map(|f| format!("{}: {}", f["step"].as_str().unwrap(), f["text"].as_str().unwrap())).collect()
}

#[test]
fn the_embedded_cluster_needs_no_images() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[], None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(findings(dir.path()).iter().all(|f| !f.starts_with("images:")), "{:?}", findings(dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_cluster_reports_the_images_it_could_not_load() {
    let sim = common::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || run(&d, &["--provider", "existing", "--allow-destructive"], Some(&kubeconfig))).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "the scenario still runs: {}", String::from_utf8_lossy(&out.stderr));
    let f = findings(dir.path());
    assert!(f.iter().any(|f| f.starts_with("images: example.dev/app:dev not loaded:") && f.contains("--provider kind")), "{f:?}");
}
