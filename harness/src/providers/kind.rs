//! kind: shells out to `kind` (which needs `docker`). One cluster per run, shared by its scenarios.

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;

use super::{ClusterHandle, Provider, ProviderError, existing::client_for};
use super::Capabilities;

/// fixtures/kind/cleanroom.yaml, built in so the binary works from any directory.
const KIND_CONFIG: &str = include_str!("../../../fixtures/kind/cleanroom.yaml");

pub struct KindProvider {
    cluster: String,
    kubeconfig: Option<PathBuf>,
}

pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|d| d.join(tool)).find(|p| p.is_file())
    })
}

impl KindProvider {
    pub fn new(run_id: &str) -> Result<Self, ProviderError> {
        if which("kind").is_none() {
            return Err(ProviderError::ToolMissing {
                tool: "kind".into(),
                hint: "install kind (https://kind.sigs.k8s.io, `go install sigs.k8s.io/kind@latest`) and docker, \
                       or use `--provider sim` (embedded, no install) or `--provider existing --context NAME`"
                    .into(),
            });
        }
        Ok(KindProvider { cluster: super::cluster_name("kind", run_id), kubeconfig: None })
    }
}

async fn run(args: &[&str]) -> Result<String, ProviderError> {
    let out = tokio::process::Command::new("kind").args(args).output().await.map_err(|e| ProviderError::Command {
        command: format!("kind {}", args.join(" ")),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(ProviderError::Command {
            command: format!("kind {}", args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Provider for KindProvider {
    fn name(&self) -> &'static str {
        "kind"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities { helm: true, nodes: true }
    }
    fn ensure<'a>(&'a mut self, _scenario: &'a str, workdir: &'a Path) -> BoxFuture<'a, Result<ClusterHandle, ProviderError>> {
        Box::pin(async move {
            let path = match &self.kubeconfig {
                Some(p) => p.clone(),
                None => {
                    std::fs::create_dir_all(workdir).map_err(|e| ProviderError::Kubeconfig(e.to_string()))?;
                    let p = workdir.join("kind.kubeconfig");
                    let ps = p.display().to_string();
                    // Same shape as the embedded cluster: 1 control plane + 2 workers.
                    let config = workdir.join("kind-config.yaml");
                    std::fs::write(&config, KIND_CONFIG).map_err(|e| ProviderError::Kubeconfig(e.to_string()))?;
                    let cs = config.display().to_string();
                    run(&["create", "cluster", "--name", &self.cluster, "--config", &cs, "--kubeconfig", &ps, "--wait", "120s"]).await?;
                    self.kubeconfig = Some(p.clone());
                    p
                }
            };
            let client = client_for(&path, None).await?;
            let node_names = run(&["get", "nodes", "--name", &self.cluster]).await?.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
            let nodes = std::sync::Arc::new(super::kind_nodes::KindNodes { client: client.clone(), nodes: node_names });
            Ok(ClusterHandle {
                client,
                kubeconfig: path.clone(),
                context: Some(format!("kind-{}", self.cluster)),
                description: format!("kind cluster {}", self.cluster),
                helm: Some(std::sync::Arc::new(crate::helm::HelmCli::new(Some(path.clone()), Some(format!("kind-{}", self.cluster))))),
                // kind nodes are Docker containers: node operations run through `docker exec`.
                nodes: Some(nodes),
            })
        })
    }
    fn release<'a>(&'a mut self, _keep: bool) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }
    fn finish<'a>(&'a mut self, keep: bool) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            if !keep && self.kubeconfig.take().is_some() {
                run(&["delete", "cluster", "--name", &self.cluster]).await?;
            }
            Ok(())
        })
    }
}
