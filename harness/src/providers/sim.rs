//! The embedded cluster (default): a fresh `cleanroom-sim` cluster per scenario, in this process.

use std::path::Path;

use cleanroom_sim::{SimCluster, SimOptions, Timing};
use futures::future::BoxFuture;

use super::{ClusterHandle, Provider, ProviderError};
use super::Capabilities;

#[derive(Default)]
pub struct SimProvider {
    current: Option<SimCluster>,
    kept: Vec<SimCluster>,
    helm: super::HelmOptions,
    /// `--sim-timing`: instant reactions, or kind-like latencies and kubelet log GC.
    timing: Timing,
}

impl SimProvider {
    pub fn new(helm: super::HelmOptions, timing: Timing) -> Self {
        SimProvider { helm, timing, ..Default::default() }
    }

    /// Start a standalone embedded cluster with `timing`.
    pub async fn start_timed(name: &str, workers: usize, timing: Timing) -> Result<SimCluster, ProviderError> {
        SimCluster::start(SimOptions { name: name.into(), workers, timing, ..Default::default() })
            .await
            .map_err(|e| ProviderError::Sim(e.to_string()))
    }

    /// Start a standalone embedded cluster (used by tests and `cleanroom bench`).
    pub async fn start(name: &str, workers: usize) -> Result<SimCluster, ProviderError> {
        Self::start_timed(name, workers, Timing::Instant).await
    }
}

impl Provider for SimProvider {
    fn name(&self) -> &'static str {
        "sim"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities { helm: true, nodes: true, node_filesystem: true, containers: false }
    }
    fn ensure<'a>(&'a mut self, scenario: &'a str, workdir: &'a Path) -> BoxFuture<'a, Result<ClusterHandle, ProviderError>> {
        Box::pin(async move {
            if let Some(old) = self.current.take() {
                old.shutdown().await;
            }
            let sim = Self::start_timed("cleanroom", 2, self.timing).await?;
            std::fs::create_dir_all(workdir).map_err(|e| ProviderError::Kubeconfig(e.to_string()))?;
            let kubeconfig = workdir.join(format!("{scenario}.kubeconfig"));
            sim.write_kubeconfig(&kubeconfig).map_err(|e| ProviderError::Kubeconfig(e.to_string()))?;
            let client = sim.client();
            // Recorded renders when one matches, else the real helm against this cluster's kubeconfig.
            let helm = Some(self.helm.engine(&client, &kubeconfig, None));
            let timed = if self.timing == Timing::Kind { " (kind-like timing)" } else { "" };
            let handle = ClusterHandle {
                client,
                kubeconfig,
                context: None,
                description: format!("embedded cluster {} at {}{timed}", sim.name(), sim.url()),
                helm,
                nodes: Some(std::sync::Arc::new(super::nodes::SimNodes::new(sim.nodes(), self.timing))),
                gc_graph: None,
            };
            self.current = Some(sim);
            Ok(handle)
        })
    }
    fn release<'a>(&'a mut self, keep: bool) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            if let Some(sim) = self.current.take() {
                if keep {
                    self.kept.push(sim);
                } else {
                    sim.shutdown().await;
                }
            }
            Ok(())
        })
    }
    fn finish<'a>(&'a mut self, keep: bool) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            if !keep {
                for sim in self.kept.drain(..) {
                    sim.shutdown().await;
                }
            }
            Ok(())
        })
    }
    fn faults(&self) -> Vec<String> {
        let Some(sim) = &self.current else { return Vec::new() };
        // Only controllers: a client writing one object often is the scenario's business.
        sim.write_storms().iter().filter(|s| s.writer.starts_with("controller/")).map(|s| format!("write storm in the embedded cluster: {s}")).collect()
    }
    fn kept_in_process(&self) -> usize {
        self.kept.len()
    }
}
