//! Cluster providers behind one trait. Optional capabilities (Helm, node operations) are separate small
//! traits, so a provider implements only what it can.

pub mod api_nodes;
pub mod docker;
pub mod drain;
pub mod environment;
pub mod existing;
pub mod kind;
pub mod k3s;
pub mod kind_nodes;
pub mod kwok;
pub mod kwok_container;
pub mod kwok_pods;
pub mod kwok_setup;
pub mod node_ready;
pub mod nodes;
pub mod process;
pub mod sim;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::helm::HelmEngine;
pub use environment::EnvironmentError;
pub use nodes::NodeOperations;

/// Optional provider capabilities (separate small traits on the provider side).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    pub helm: bool,
    /// Node operations through the API at least (cordon, drain).
    pub nodes: bool,
    /// Node filesystems and processes too (mounts, logs, images, kubelet restarts).
    pub node_filesystem: bool,
    /// Pods run their containers, so they answer on the network (the embedded cluster and kwok
    /// simulate pods without running them).
    pub containers: bool,
}

/// The cluster name the provider gives its nodes (the embedded cluster and kind name them alike).
pub fn cluster_name(provider: &str, run_id: &str) -> String {
    match provider {
        "kind" | "kwok" | "k3s" => format!("cleanroom-{run_id}"),
        _ => "cleanroom".to_string(),
    }
}


/// A cluster running as processes outside cleanroom (kwok's components): what `cleanroom gc` needs to
/// remove it when the run that made it died.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalCluster {
    pub name: String,
    /// The run's directory (`KWOK_WORKDIR` is `<workdir>/kwok`, the kubeconfig `<workdir>/kubeconfig`).
    pub workdir: PathBuf,
    pub kwokctl: PathBuf,
    /// Its processes so far (empty before `kwokctl create` has started them).
    pub processes: Vec<process::ProcessIdentity>,
}

/// Told what a provider is about to create outside this process, and again as it learns its pids.
pub type Recorder = Arc<dyn Fn(&ExternalCluster) + Send + Sync>;

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
    /// The URL of kube-controller-manager's garbage collector graph, when cleanroom runs it and can
    /// read it (kwok's binary runtime).
    pub gc_graph: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the embedded cluster failed to start: {0}")]
    Sim(String),
    /// The machine lacks what the provider needs (a tool, a running engine, a recent kind).
    #[error(transparent)]
    Environment(#[from] EnvironmentError),
    #[error(transparent)]
    Process(#[from] process::ProcessError),
    #[error(transparent)]
    NodesNotReady(#[from] node_ready::NodesNotReady),
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("unknown provider `{0}`; known: sim, kind, kwok, k3s, existing")]
    Unknown(String),
}

impl ProviderError {
    /// `--provider` named nothing known: a usage error. Everything else means the provider could not
    /// start, reach or remove its cluster: the environment is broken.
    pub fn is_usage(&self) -> bool {
        matches!(self, ProviderError::Unknown(_))
    }
}

/// What `cleanroom run` asks of the provider besides its name.
#[derive(Debug, Clone, Default)]
pub struct ProviderOptions {
    /// kubeconfig context (`existing`).
    pub context: Option<String>,
    /// `--node-image` (kind; default [`kind::NODE_IMAGE`]).
    pub node_image: Option<String>,
    /// `--cluster NAME` (kind): reuse this cluster, never delete it.
    pub cluster: Option<String>,
    /// `--load-image` (kind): local images to `kind load docker-image` into the nodes.
    pub load_images: Vec<String>,
    /// `--kwok-runtime` (kwok): local binaries, the all-in-one container, or whichever is there.
    pub kwok_runtime: kwok_container::RuntimeMode,
    /// `--tools DIR` (kwok): where kwokctl, kwok, etcd, the kube-* binaries and local-path-provisioner are.
    pub tools: Option<PathBuf>,
    /// `--kubeconfig` (`existing`; default `$KUBECONFIG`, then `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// How Helm steps run (`--helm`, `--helm-binary`, `--renders`).
    pub helm: HelmOptions,
    /// `--sim-timing` (sim): instant, or kind-like latencies.
    pub sim_timing: cleanroom_sim::Timing,
}

/// `--helm auto|cli|recorded`, `--helm-binary PATH`, and the user's render catalogues.
#[derive(Debug, Clone, Default)]
pub struct HelmOptions {
    pub mode: crate::helm::EngineMode,
    pub binary: Option<PathBuf>,
    /// Catalogues read before the built-in one (`<scenarios>/renders.yaml`, `--renders FILE`).
    pub renders: Vec<PathBuf>,
}

impl HelmOptions {
    /// The render catalogues: the user's, then the built-in one. Err when none can be read.
    fn catalog(&self) -> Result<crate::helm::RenderCatalog, String> {
        let mut all = vec![];
        for p in &self.renders {
            all.push(crate::helm::RenderCatalog::load(p).map_err(|e| e.to_string())?);
        }
        match crate::helm::RenderCatalog::discover() {
            Ok(c) => all.push(c),
            Err(e) if all.is_empty() => return Err(e.to_string()),
            Err(_) => {}
        }
        Ok(crate::helm::RenderCatalog::merged(all))
    }

    /// The Helm engine for a cluster: recorded renders and/or the `helm` binary, chosen per step.
    pub fn engine(&self, client: &kube::Client, kubeconfig: &Path, context: Option<String>) -> Arc<dyn HelmEngine> {
        use crate::helm::{EngineMode, HelmChoice, HelmCli, RecordedRenderEngine, find_helm};
        let recorded = match self.mode {
            EngineMode::Cli => Err("--helm cli".to_string()),
            _ => self.catalog().map(|c| RecordedRenderEngine::with_catalog(client.clone(), c)),
        };
        let cli = match self.mode {
            EngineMode::Recorded => None,
            _ => find_helm(self.binary.as_deref()).map(|b| HelmCli::new(Some(kubeconfig.to_path_buf()), context).with_binary(b)),
        };
        Arc::new(HelmChoice::new(self.mode, recorded, cli))
    }
}

impl ProviderOptions {
    /// `--context` names a context of a kubeconfig: the embedded cluster has only its own.
    pub fn check(&self, provider: &str) -> Result<(), ProviderError> {
        if provider == "sim" && self.context.is_some() {
            return Err(ProviderError::Environment(EnvironmentError::Unsupported(
                "--context selects a context of a kubeconfig, but --provider sim makes its own cluster (use --provider existing --kubeconfig PATH --context C)".into(),
            )));
        }
        if provider == "sim" && self.kubeconfig.is_some() {
            return Err(ProviderError::Environment(EnvironmentError::Unsupported(
                "--kubeconfig names a cluster to run on, but --provider sim makes its own (use --provider existing)".into(),
            )));
        }
        Ok(())
    }
}

pub trait Provider: Send {
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;
    /// A cluster for the next scenario (fresh for `sim`, shared for `kind`, the given one for `existing`).
    fn ensure<'a>(&'a mut self, scenario: &'a str, workdir: &'a Path) -> BoxFuture<'a, Result<ClusterHandle, ProviderError>>;
    /// Done with the cluster of the last `ensure`: destroy it unless `keep`. Providers whose one cluster
    /// serves every scenario (kind, kwok, k3s, existing) have nothing to do here.
    fn release<'a>(&'a mut self, keep: bool) -> BoxFuture<'a, Result<(), ProviderError>> {
        let _ = keep;
        Box::pin(async { Ok(()) })
    }
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
    /// The cluster name node names derive from (`${CLUSTER}`), when it is not the default one.
    fn cluster_name(&self) -> Option<String> {
        None
    }
    /// The Docker container it is about to create, by name, so the run journals it before it exists
    /// (`cleanroom gc` removes it after a crash).
    fn container_name(&self) -> Option<String> {
        None
    }
    /// After a scenario: collect what helps to debug a failure into `scenario_dir` (kind: `kind export
    /// logs`). Returns a line for the scenario's findings.
    fn after_scenario<'a>(&'a mut self, failed: bool, scenario_dir: &'a Path) -> BoxFuture<'a, Option<String>> {
        let _ = (failed, scenario_dir);
        Box::pin(async { None })
    }
    /// Where to record clusters it starts outside this process (the run journal), before it starts them.
    fn set_recorder(&mut self, recorder: Recorder) {
        let _ = recorder;
    }
    /// Faults the cluster itself detected during the scenario, each failing it (the embedded
    /// cluster's write-storm guard: a controller rewriting one object in a loop).
    fn faults(&self) -> Vec<String> {
        Vec::new()
    }
    /// Why a scenario's `images:` cannot be put on this provider's nodes. None: it loads them (kind,
    /// when it makes the cluster) or runs no containers and needs none (sim, kwok).
    fn cannot_load_images(&self) -> Option<&'static str> {
        None
    }
}

pub fn by_name(name: &str, options: ProviderOptions, run_id: &str) -> Result<Box<dyn Provider>, ProviderError> {
    match name {
        "sim" => {
            options.check("sim")?;
            Ok(Box::new(sim::SimProvider::new(options.helm, options.sim_timing)))
        }
        "existing" => Ok(Box::new(existing::ExistingProvider { context: options.context, kubeconfig: options.kubeconfig, helm: options.helm })),
        "kind" => Ok(Box::new(kind::KindProvider::new(run_id, options)?)),
        "kwok" => Ok(Box::new(kwok::KwokProvider::new(run_id, options)?)),
        "k3s" => Ok(Box::new(k3s::K3sProvider::new(run_id, options))),
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
