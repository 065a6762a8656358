//! Scenarios on a real cluster (kind or an existing kubeconfig context). Ignored by default; run with
//! `CLEANROOM_CONTEXT=kind-x cargo nextest run --run-ignored only -E 'binary(real_cluster)'`.
//! They share the cluster, so nextest runs them serially (test group `real-cluster`).

mod common;

use std::path::Path;

use cleanroom::providers::Provider;
use cleanroom::providers::existing::ExistingProvider;
use cleanroom::runner::progress::Quiet;
use cleanroom::runner::{Cancel, RunEnv, run_scenario};
use cleanroom::scenario::{self, parse::builtins};

async fn run_on_real_cluster(name: &str) {
    let context = std::env::var("CLEANROOM_CONTEXT").ok();
    let mut provider = ExistingProvider { context, ..Default::default() };
    let dir = tempfile::tempdir().unwrap();
    let handle = provider.ensure(name, dir.path()).await.expect("a reachable cluster (set KUBECONFIG / CLEANROOM_CONTEXT)");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.yaml"));
    let run_id = format!("real{}", std::process::id());
    let text = std::fs::read_to_string(&path).unwrap();
    let s = scenario::parse_str(&text, &path, Some(&builtins(name, &run_id, "existing"))).unwrap();
    let env = RunEnv {
        client: handle.client.clone(),
        provider: "existing".into(),
        capabilities: provider.capabilities(),
        run_id,
        report_dir: dir.path().to_path_buf(),
        cancel: Cancel::never(),
        progress: &Quiet,
        helm: handle.helm.clone(),
        nodes: handle.nodes.clone(),
        kubeconfig: Some(handle.kubeconfig.clone()),
        context: handle.context.clone(),
        gc_graph: handle.gc_graph.clone(),
        // The real-cluster tier is run on purpose against a named context.
        guard: None,
        keep_failed_state: false,
    };
    let r = run_scenario(&s, &env).await;
    common::assert_passed(&r);
}

#[tokio::test]
#[ignore = "needs a real cluster: set KUBECONFIG (and CLEANROOM_CONTEXT) and run ignored tests"]
async fn real_cluster_smoke() {
    run_on_real_cluster("smoke").await;
}

#[tokio::test]
#[ignore = "needs a real cluster: set KUBECONFIG (and CLEANROOM_CONTEXT) and run ignored tests"]
async fn real_cluster_sabotage() {
    run_on_real_cluster("sabotage").await;
}
