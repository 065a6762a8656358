//! Cluster providers behind one trait. Optional capabilities (Helm, node operations) are separate small
//! traits, so a provider implements only what it can.

pub mod existing;
pub mod kind;
pub mod kind_nodes;
pub mod nodes;
pub mod sim;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::helm::HelmEngine;
pub use nodes::NodeOperations;

/// Optional provider capabilities (separate small traits on the provider side).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    pub helm: bool,
    pub nodes: bool,
}

/// The cluster name the provider gives its nodes (the embedded cluster and kind name them alike).
pub fn cluster_name(provider: &str, run_id: &str) -> String {
    match provider {
        "kind" => format!("cleanroom-{run_id}"),
        _ => "cleanroom".to_string(),
    }
}


/// A reachable cluster.
pub struct ClusterHandle {
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
    pub context: Option<String>,
    /// "embedded cluster cleanroom at http://127.0.0.1:PORT"
    pub description: String,
    /// How Helm reaches this cluster (recorded renders on the embedded cluster, the `helm`
    /// binary elsewhere).
    pub helm: Option<Arc<dyn HelmEngine>>,
    /// Node-level operations, when the provider can reach its nodes.
    pub nodes: Option<Arc<dyn NodeOperations>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the embedded cluster failed to start: {0}")]
    Sim(String),
    #[error("`{tool}` is not on PATH: {hint}")]
    ToolMissing { tool: String, hint: String },
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("unknown provider `{0}`; known: sim, kind, existing")]
    Unknown(String),
}

pub trait Provider: Send {
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;
    /// A cluster for the next scenario (fresh for `sim`, shared for `kind`, the given one for `existing`).
    fn ensure<'a>(&'a mut self, scenario: &'a str, workdir: &'a Path) -> BoxFuture<'a, Result<ClusterHandle, ProviderError>>;
    /// Done with the cluster of the last `ensure`: destroy it unless `keep` (never for `existing`).
    fn release<'a>(&'a mut self, keep: bool) -> BoxFuture<'a, Result<(), ProviderError>>;
    /// Called once at the end of a run: destroy shared clusters unless `keep`.
    fn finish<'a>(&'a mut self, keep: bool) -> BoxFuture<'a, Result<(), ProviderError>> {
        let _ = keep;
        Box::pin(async { Ok(()) })
    }
    /// Whether the clusters it hands out were created by cleanroom (and so are safe to sabotage and purge).
    fn creates_clusters(&self) -> bool {
        true
    }
    /// Clusters kept alive by `--keep` that live only as long as this process (the embedded one).
    fn kept_in_process(&self) -> usize {
        0
    }
}

pub fn by_name(name: &str, context: Option<String>, run_id: &str) -> Result<Box<dyn Provider>, ProviderError> {
    match name {
        "sim" => Ok(Box::new(sim::SimProvider::default())),
        "existing" => Ok(Box::new(existing::ExistingProvider { context })),
        "kind" => Ok(Box::new(kind::KindProvider::new(run_id)?)),
        other => Err(ProviderError::Unknown(other.to_string())),
    }
}

/// `kubectl --kubeconfig PATH` instructions for a kept cluster.
pub fn reach_instructions(h: &ClusterHandle) -> String {
    let ctx = h.context.as_deref().map(|c| format!(" --context {c}")).unwrap_or_default();
    format!(
        "cluster kept: {}\n  kubeconfig: {}\n  try: kubectl --kubeconfig {}{ctx} get all -A",
        h.description,
        h.kubeconfig.display(),
        h.kubeconfig.display()
    )
}
