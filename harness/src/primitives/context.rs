//! State that flows through a scenario's steps.

use std::collections::HashMap;
use std::path::PathBuf;

use cleanroom_core::resources::{ObjRef, ResourceCatalog};

use crate::oracle::{Inventory, Leftover, PurgeRecord};
use crate::providers::Capabilities;

pub struct StepContext {
    pub client: kube::Client,
    pub provider: String,
    pub capabilities: Capabilities,
    pub run_id: String,
    /// Directory of the scenario file: relative manifest paths resolve from here.
    pub base_dir: PathBuf,
    pub snapshots: HashMap<String, Inventory>,
    pub purges: Vec<PurgeRecord>,
    pub created: Vec<ObjRef>,
    /// Leftovers named by the last `oracle.assert-clean`.
    pub leftovers: Vec<Leftover>,
    /// Notable things for the report (finalizers removed, ...).
    pub findings: Vec<String>,
    /// What a running wait saw last (quoted in timeout errors).
    pub observed: String,
    /// When the running step's timeout ends (set by the runner), so a primitive that re-checks can stop
    /// in time and report what is still pending instead of timing out.
    pub step_deadline: Option<tokio::time::Instant>,
    pub(crate) resources: Option<ResourceCatalog>,
    /// The provider's Helm engine (None: helm steps are skipped with the reason).
    pub helm: Option<std::sync::Arc<dyn crate::helm::HelmEngine>>,
    /// The provider's node operations (None: node steps are skipped with the reason).
    pub nodes: Option<std::sync::Arc<dyn crate::providers::NodeOperations>>,
}

impl StepContext {
    pub fn new(client: kube::Client, provider: &str, capabilities: Capabilities, run_id: &str) -> Self {
        StepContext {
            client,
            provider: provider.to_string(),
            capabilities,
            run_id: run_id.to_string(),
            base_dir: PathBuf::from("."),
            snapshots: HashMap::new(),
            purges: Vec::new(),
            created: Vec::new(),
            leftovers: Vec::new(),
            findings: Vec::new(),
            observed: String::new(),
            step_deadline: None,
            resources: None,
            helm: None,
            nodes: None,
        }
    }

    /// `cleanroom.dev/run=<id>` label value for this run.
    pub fn run_label(&self) -> (String, String) {
        (crate::RUN_LABEL.to_string(), self.run_id.clone())
    }

    pub fn track(&mut self, obj: ObjRef) {
        if !self.created.contains(&obj) {
            self.created.push(obj);
        }
    }

    pub fn observe(&mut self, what: impl Into<String>) {
        self.observed = what.into();
    }

    pub fn finding(&mut self, text: impl Into<String>) {
        self.findings.push(text.into());
    }

    /// A finding that must not go unnoticed (finalizers removed): also printed at once on stderr.
    pub fn loud_finding(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("WARNING: {text}");
        self.findings.push(text);
    }
}
