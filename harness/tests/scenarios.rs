//! Every file in `scenarios/` runs on the embedded cluster and passes.

mod common;

use std::path::PathBuf;

use cleanroom::runner::Outcome;
use rstest::rstest;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_passes_on_embedded_cluster(#[files("../scenarios/*.yaml")] path: PathBuf) {
    let r = common::run_file(&path).await;
    // Skipped is allowed only with a reason (e.g. a capability the provider does not offer yet).
    if r.outcome == Outcome::Skipped {
        assert!(r.reason.is_some());
        eprintln!("{} skipped: {:?}", r.name, r.reason);
        return;
    }
    common::assert_passed(&r);
    assert!(r.steps.iter().any(|s| s.section == "teardown" && s.outcome == Outcome::Passed));
}

/// `--sim-timing kind`: kind-like latencies and the kubelet's one-minute log GC. The node scenario must
/// tell logs awaiting that GC from leftovers, and the smoke scenario must not race pod starts.
#[rstest]
#[case("node-leftovers")]
#[case("smoke")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_passes_with_kind_timing(#[case] name: &str) {
    let path = PathBuf::from(format!("../scenarios/{name}.yaml"));
    let r = common::run_file_timed(&path, cleanroom_sim::Timing::Kind).await;
    common::assert_passed(&r);
}
