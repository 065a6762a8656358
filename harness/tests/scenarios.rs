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
