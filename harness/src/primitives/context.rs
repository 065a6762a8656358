//! State that flows through a scenario's steps.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

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
    /// Which step made each object the run created (leftover reasons name it).
    pub origins: Vec<crate::oracle::Origin>,
    /// The running step as leftover reasons name it: "step 3 `manifests.apply`" (set by the runner).
    pub step_origin: String,
    /// Leftovers named by the last `oracle.assert-clean`.
    pub leftovers: Vec<Leftover>,
    /// What the run learned that is not a pass/fail (finalizers removed, a procedure that deleted nothing, ...).
    pub findings: Vec<Finding>,
    /// What a running wait saw last (quoted in timeout errors).
    pub observed: String,
    /// When the running step's timeout ends (set by the runner), so a primitive that re-checks can stop
    /// in time and report what is still pending instead of timing out.
    pub step_deadline: Option<tokio::time::Instant>,
    pub(crate) resources: Option<ResourceCatalog>,
    /// The provider's Helm engine (None: helm steps are skipped with the reason).
    pub helm: Option<std::sync::Arc<dyn crate::helm::HelmEngine>>,
    /// The scenario declares `requires: capabilities: [helm]`: a Helm step no engine can serve is
    /// skipped (with the reason) instead of failing.
    pub requires_helm: bool,
    /// Set by a step that found a declared requirement unmet: the rest of the steps do not run and the
    /// scenario is reported as skipped with this reason.
    pub skip_scenario: Option<String>,
    /// The provider's node operations (None: node steps are skipped with the reason).
    pub nodes: Option<std::sync::Arc<dyn crate::providers::NodeOperations>>,
    /// The cluster's kubeconfig and context, for `kubectl`/`script` steps (None: `$KUBECONFIG` as inherited).
    pub kubeconfig: Option<PathBuf>,
    pub kube_context: Option<String>,
    /// Where kube-controller-manager serves its garbage collector's graph, when cleanroom runs it
    /// (kwok); `wait.gc-discovery` reads it.
    pub gc_graph: Option<String>,
    /// The scenario's report directory (command output files land in `commands/` below it).
    pub report_dir: Option<PathBuf>,
    /// The scenario's variables (built-ins included): the environment of `kubectl`/`script` steps.
    pub variables: BTreeMap<String, String>,
    /// Name of the running step (findings carry it).
    pub step: String,
    /// Timeout of the running step (primitives that enforce it themselves read it).
    pub step_timeout: Duration,
    /// How many `procedure: true` commands ran (leftovers found after one are findings).
    pub procedures: usize,
    /// Releases the run installed (namespace, name): uninstalling those is not destructive.
    pub installed_releases: Vec<(String, String)>,
    /// Counter for per-step output files.
    pub(crate) command_seq: u32,
    /// A copy of the kubeconfig with the context made current, for scripts (kept for the run).
    pub(crate) script_kubeconfig: Option<std::sync::Arc<tempfile::TempPath>>,
}

/// Something the run learned that is not a pass/fail, with the step that learned it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub step: String,
    pub text: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.text)
    }
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
            requires_helm: false,
            skip_scenario: None,
            nodes: None,
            kubeconfig: None,
            kube_context: None,
            gc_graph: None,
            report_dir: None,
            variables: BTreeMap::new(),
            step: String::new(),
            origins: Vec::new(),
            step_origin: String::new(),
            step_timeout: Duration::from_secs(60),
            procedures: 0,
            installed_releases: Vec::new(),
            command_seq: 0,
            script_kubeconfig: None,
        }
    }

    /// `cleanroom.dev/run=<id>` label value for this run.
    pub fn run_label(&self) -> (String, String) {
        (crate::RUN_LABEL.to_string(), self.run_id.clone())
    }

    pub fn track(&mut self, obj: ObjRef) {
        let step = if self.step_origin.is_empty() { format!("step `{}`", self.step) } else { self.step_origin.clone() };
        if !self.origins.iter().any(|o| o.name == obj.name && o.kind == obj.api.kind && o.group == obj.api.group && o.namespace == obj.namespace) {
            self.origins.push(crate::oracle::Origin {
                group: obj.api.group.clone(),
                kind: obj.api.kind.clone(),
                namespace: obj.namespace.clone(),
                name: obj.name.clone(),
                step,
                during: false,
            });
        }
        if !self.created.contains(&obj) {
            self.created.push(obj);
        }
    }

    pub fn observe(&mut self, what: impl Into<String>) {
        self.observed = what.into();
    }

    pub fn finding(&mut self, text: impl Into<String>) {
        let step = if self.step.is_empty() { "run".to_string() } else { self.step.clone() };
        self.findings.push(Finding { step, text: text.into() });
    }

    /// A finding that must not go unnoticed (finalizers removed): also printed at once on stderr.
    pub fn loud_finding(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("WARNING: {text}");
        self.finding(text);
    }
}
