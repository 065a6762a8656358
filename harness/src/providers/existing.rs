//! An existing cluster from a kubeconfig context. Never deleted.

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::{ClusterHandle, Provider, ProviderError};
use super::Capabilities;

#[derive(Default)]
pub struct ExistingProvider {
    pub context: Option<String>,
    /// `--kubeconfig` (default [`kubeconfig_path`]).
    pub kubeconfig: Option<PathBuf>,
    pub helm: super::HelmOptions,
}

pub fn kubeconfig_path() -> PathBuf {
    if let Some(p) = std::env::var_os("KUBECONFIG").and_then(|v| std::env::split_paths(&v).next()) {
        return p;
    }
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".kube").join("config")
}

/// The context a kubeconfig selects by default.
pub fn current_context(path: &Path) -> Option<String> {
    Kubeconfig::read_from(path).ok()?.current_context
}

/// A client for a kubeconfig file and optional context.
pub async fn client_for(path: &Path, context: Option<&str>) -> Result<kube::Client, ProviderError> {
    let kc = Kubeconfig::read_from(path).map_err(|e| ProviderError::Kubeconfig(format!("{}: {e}", path.display())))?;
    let opts = KubeConfigOptions { context: context.map(str::to_string), ..Default::default() };
    let cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| ProviderError::Kubeconfig(format!("{}: {e}", path.display())))?;
    kube::Client::try_from(cfg).map_err(|e| ProviderError::Kubeconfig(e.to_string()))
}

impl Provider for ExistingProvider {
    fn name(&self) -> &'static str {
        "existing"
    }
    fn cannot_load_images(&self) -> Option<&'static str> {
        Some("cleanroom did not make this cluster's nodes and cannot load local images into them: push them to a registry the cluster pulls from, or use --provider kind")
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities { helm: true, nodes: false, node_filesystem: false, containers: true }
    }
    fn ensure<'a>(&'a mut self, _scenario: &'a str, _workdir: &'a Path) -> BoxFuture<'a, Result<ClusterHandle, ProviderError>> {
        Box::pin(async move {
            let path = self.kubeconfig.clone().unwrap_or_else(kubeconfig_path);
            if !path.is_file() {
                return Err(ProviderError::Kubeconfig(format!("{}: no such file (give --kubeconfig PATH or set KUBECONFIG)", path.display())));
            }
            let client = client_for(&path, self.context.as_deref()).await?;
            let helm = Some(self.helm.engine(&client, &path, self.context.clone()));
            Ok(ClusterHandle {
                client,
                kubeconfig: path.clone(),
                context: self.context.clone(),
                description: format!(
                    "existing cluster (kubeconfig {}, context {})",
                    path.display(),
                    self.context.as_deref().unwrap_or("current")
                ),
                helm,
                nodes: None,
                gc_graph: None,
            })
        })
    }
    fn creates_clusters(&self) -> bool {
        false
    }
}
