//! `cleanroom run` internals: the report and `finish` on every path.

use super::*;
use crate::providers::{Capabilities, ClusterHandle, ProviderError};
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};

/// A provider whose `ensure` panics, recording whether `finish` ran.
struct Panicking(Arc<Mutex<Vec<String>>>);

impl Provider for Panicking {
    fn name(&self) -> &'static str {
        "test"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    fn ensure<'a>(&'a mut self, _: &'a str, _: &'a Path) -> BoxFuture<'a, Result<ClusterHandle, ProviderError>> {
        Box::pin(async { panic!("ensure exploded") })
    }
    fn finish<'a>(&'a mut self, keep: bool) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.0.lock().unwrap().push(format!("finish keep={keep}"));
        Box::pin(async { Err(ProviderError::Command { command: "kind delete cluster".into(), message: "boom".into() }) })
    }
}

#[tokio::test]
async fn a_panic_still_writes_the_report_then_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, "name: s\ndescription: d\nsteps:\n  - cluster.ensure: {}\n").unwrap();
    let selected = scenario::load_dir(dir.path()).unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut pool: Vec<Box<dyn Provider>> = vec![Box::new(Panicking(calls.clone()))];
    let reports = dir.path().join("reports");
    let plan = Plan {
        selected: &selected,
        run_id: "t",
        report_dir: &reports,
        keep: true,
        keep_on_failure: false,
        allow_destructive: false,
        cancel: Cancel::never(),
        progress: &runner::progress::Quiet,
        journal: None,
        clusters: &Mutex::new(Vec::new()),
        stale_checked: Default::default(),
        start_order: (0..selected.len()).collect(),
    };
    let r = run_with_providers(&plan, &mut pool, Provenance::default()).await;
    let err = r.unwrap_err().to_string();
    assert!(err.contains("ensure exploded"), "{err}");
    // finish ran, and not in keep mode: a broken run keeps nothing.
    assert_eq!(*calls.lock().unwrap(), vec!["finish keep=false"]);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(reports.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["scenarios"][0]["outcome"], "failed");
}

/// A container provider: `ensure` records what the journal held when it was called, then fails.
struct Containered {
    journal: PathBuf,
    seen: Arc<Mutex<String>>,
}

impl Provider for Containered {
    fn name(&self) -> &'static str {
        "k3s"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    fn container_name(&self) -> Option<String> {
        Some("cleanroom-t".into())
    }
    fn ensure<'a>(&'a mut self, _: &'a str, _: &'a Path) -> BoxFuture<'a, Result<ClusterHandle, ProviderError>> {
        *self.seen.lock().unwrap() = std::fs::read_to_string(&self.journal).unwrap_or_default();
        Box::pin(async { Err(ProviderError::Command { command: "start container cleanroom-t".into(), message: "no".into() }) })
    }
}

#[tokio::test]
async fn a_container_is_journalled_before_it_is_created() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.yaml"), "name: s\ndescription: d\nsteps:\n  - cluster.ensure: {}\n").unwrap();
    let selected = scenario::load_dir(dir.path()).unwrap();
    let journal = Journal::create(&dir.path().join("state"), "t", "k3s").unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let mut pool: Vec<Box<dyn Provider>> = vec![Box::new(Containered { journal: journal.path().to_path_buf(), seen: seen.clone() })];
    let reports = dir.path().join("reports");
    let plan = Plan {
        selected: &selected,
        run_id: "t",
        report_dir: &reports,
        keep: false,
        keep_on_failure: false,
        allow_destructive: false,
        cancel: Cancel::never(),
        progress: &runner::progress::Quiet,
        journal: Some(&journal),
        clusters: &Mutex::new(Vec::new()),
        stale_checked: Default::default(),
        start_order: (0..selected.len()).collect(),
    };
    assert!(run_with_providers(&plan, &mut pool, Provenance::default()).await.is_err());
    assert!(seen.lock().unwrap().contains(r#"{"entry":"container","name":"cleanroom-t"}"#), "{}", seen.lock().unwrap());
    assert!(!journal.path().exists(), "finish succeeded: the journal is closed");
}
