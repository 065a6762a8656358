//! kind: shells out to `kind` (which runs its nodes in docker, podman or nerdctl). One cluster per run,
//! shared by its scenarios — or an existing one with `--cluster NAME`, which is never deleted.
//!
//! Order of a fresh run: check the engine answers and kind is recent enough; record "create attempted"
//! (from then on `finish` deletes, even after an interrupted or failed create); `kind create cluster` in
//! its own process group (a Ctrl-C reaches cleanroom only; cancelling ends kind's whole group); wait,
//! by watching, until every node is Ready; `kind load docker-image` the `--load-image`s; record each
//! node's images (so `node.prune-images` keeps them). `finish` runs the idempotent
//! `kind delete cluster --name N --kubeconfig K` (with `--kubeconfig`, kind edits only that file).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::environment::{self, EnvironmentError, KIND_INSTALL_HINT, NodeRuntime};
use super::existing::client_for;
use super::kind_nodes::KindNodes;
use super::process::{ToolCall, which};
use super::{Capabilities, ClusterHandle, Provider, ProviderError, ProviderOptions};

/// fixtures/kind/cleanroom.yaml, built in so the binary works from any directory.
const KIND_CONFIG: &str = include_str!("../../../fixtures/kind/cleanroom.yaml");

/// The node image, pinned by digest: Kubernetes 1.35.0 as published with kind v0.31.0
/// (kind's `pkg/apis/config/defaults/image.go` at that release). `--node-image` overrides it.
pub const NODE_IMAGE: &str =
    "kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f";

const CREATE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// After `kind create`: how long every node (workers included) may take to become Ready.
pub const NODES_READY_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// argv of `kind create cluster`.
pub fn create_argv(cluster: &str, config: &Path, kubeconfig: &Path, image: &str) -> Vec<String> {
    let (c, k) = (config.display().to_string(), kubeconfig.display().to_string());
    // `--wait` covers control-plane nodes only; every node is then awaited through the API.
    ["create", "cluster", "--name", cluster, "--image", image, "--config", &c, "--kubeconfig", &k, "--wait", "120s"]
        .map(String::from)
        .to_vec()
}

/// Where the kubeconfig of kind cluster `cluster` is written (and journalled before `kind create`).
pub fn kubeconfig_in(workdir: &Path, cluster: &str) -> PathBuf {
    workdir.join(format!("kind-{cluster}.kubeconfig"))
}

/// argv of `kind delete cluster`: idempotent (no cluster is fine); `--kubeconfig` keeps kind away from
/// `$KUBECONFIG` / `~/.kube/config`.
pub fn delete_argv(cluster: &str, kubeconfig: &Path) -> Vec<String> {
    ["delete", "cluster", "--name", cluster, "--kubeconfig", &kubeconfig.display().to_string()].map(String::from).to_vec()
}

pub fn export_logs_argv(cluster: &str, dir: &Path) -> Vec<String> {
    ["export", "logs", &dir.display().to_string(), "--name", cluster].map(String::from).to_vec()
}

pub fn load_image_argv(cluster: &str, image: &str) -> Vec<String> {
    ["load", "docker-image", image, "--name", cluster].map(String::from).to_vec()
}

/// A cluster this provider made (or reuses), ready for scenarios.
struct Ready {
    kubeconfig: PathBuf,
    client: kube::Client,
    nodes: Arc<KindNodes>,
}

pub struct KindProvider {
    cluster: String,
    kind: PathBuf,
    node_image: String,
    /// `--cluster NAME`: use it as it is and never delete it.
    reused: bool,
    load_images: Vec<String>,
    /// Set just before `kind create cluster` starts (the kubeconfig it was given); `finish` deletes.
    create_attempted: Option<PathBuf>,
    ready: Option<Ready>,
    helm: super::HelmOptions,
}

impl KindProvider {
    pub fn new(run_id: &str, options: ProviderOptions) -> Result<Self, ProviderError> {
        let kind = which("kind").ok_or_else(|| EnvironmentError::ToolMissing { tool: "kind".into(), hint: KIND_INSTALL_HINT.into() })?;
        Ok(KindProvider {
            reused: options.cluster.is_some(),
            cluster: options.cluster.unwrap_or_else(|| super::cluster_name("kind", run_id)),
            kind,
            node_image: options.node_image.unwrap_or_else(|| NODE_IMAGE.to_string()),
            load_images: options.load_images,
            create_attempted: None,
            ready: None,
            helm: options.helm,
        })
    }

    fn kind(&self, args: Vec<String>) -> ToolCall {
        ToolCall::new(&self.kind, args)
    }

    async fn lines(&self, args: &[&str]) -> Result<Vec<String>, ProviderError> {
        let out = self.kind(args.iter().map(|a| a.to_string()).collect()).run(Some(QUERY_TIMEOUT)).await?;
        Ok(out.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
    }

    /// `--cluster NAME`: it must exist; its kubeconfig comes from `kind get kubeconfig`.
    async fn attach(&self, kubeconfig: &Path) -> Result<(), ProviderError> {
        let known = self.lines(&["get", "clusters"]).await?;
        if !known.contains(&self.cluster) {
            return Err(EnvironmentError::ClusterNotFound { name: self.cluster.clone(), known: known.join(", ") }.into());
        }
        let out = self.kind(vec!["get".into(), "kubeconfig".into(), "--name".into(), self.cluster.clone()]).run(Some(QUERY_TIMEOUT)).await?;
        std::fs::write(kubeconfig, out.stdout).map_err(|e| ProviderError::Kubeconfig(format!("{}: {e}", kubeconfig.display())))
    }

    async fn create(&mut self, workdir: &Path, kubeconfig: &Path) -> Result<(), ProviderError> {
        let config = workdir.join("kind-config.yaml");
        std::fs::write(&config, KIND_CONFIG).map_err(|e| ProviderError::Kubeconfig(format!("{}: {e}", config.display())))?;
        // Before the child exists: an interrupt or a failure from here on still ends in a delete.
        self.create_attempted = Some(kubeconfig.to_path_buf());
        self.kind(create_argv(&self.cluster, &config, kubeconfig, &self.node_image)).run(Some(CREATE_TIMEOUT)).await?;
        Ok(())
    }

    async fn start(&mut self, workdir: &Path) -> Result<Ready, ProviderError> {
        let runtime: NodeRuntime = environment::detect_runtime().await?;
        environment::check_kind(&self.kind).await?;
        std::fs::create_dir_all(workdir).map_err(|e| ProviderError::Kubeconfig(format!("{}: {e}", workdir.display())))?;
        let kubeconfig = kubeconfig_in(workdir, &self.cluster);
        if self.reused {
            self.attach(&kubeconfig).await?;
        } else {
            self.create(workdir, &kubeconfig).await?;
        }
        let names = self.lines(&["get", "nodes", "--name", &self.cluster]).await?;
        let client = client_for(&kubeconfig, None).await?;
        super::node_ready::wait_nodes_ready(client.clone(), &names, NODES_READY_TIMEOUT).await?;
        for image in &self.load_images {
            self.kind(load_image_argv(&self.cluster, image)).run(Some(CREATE_TIMEOUT)).await?;
        }
        let nodes = Arc::new(KindNodes::new(client.clone(), names, runtime));
        nodes.record_image_baseline().await.map_err(|message| ProviderError::Command { command: "crictl images".into(), message })?;
        Ok(Ready { kubeconfig, client, nodes })
    }
}

impl Provider for KindProvider {
    fn name(&self) -> &'static str {
        "kind"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities { helm: true, nodes: true, node_filesystem: true, containers: true }
    }
    /// A reused cluster (`--cluster NAME`) is not cleanroom's: destructive steps need permission there.
    fn creates_clusters(&self) -> bool {
        !self.reused
    }
    fn cluster_name(&self) -> Option<String> {
        Some(self.cluster.clone())
    }
    fn ensure<'a>(&'a mut self, _scenario: &'a str, workdir: &'a Path) -> BoxFuture<'a, Result<ClusterHandle, ProviderError>> {
        Box::pin(async move {
            if self.ready.is_none() {
                let ready = self.start(workdir).await?;
                self.ready = Some(ready);
            }
            let r = self.ready.as_ref().expect("started above");
            let context = format!("kind-{}", self.cluster);
            Ok(ClusterHandle {
                client: r.client.clone(),
                kubeconfig: r.kubeconfig.clone(),
                // The kubeconfig holds this cluster only; its context is `kind-<name>`.
                context: Some(context.clone()),
                description: format!("kind cluster {}{}", self.cluster, if self.reused { " (reused, never deleted)" } else { "" }),
                helm: Some(self.helm.engine(&r.client, &r.kubeconfig, Some(context))),
                nodes: Some(r.nodes.clone()),
                gc_graph: None,
            })
        })
    }
    fn finish<'a>(&'a mut self, keep: bool) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            self.ready = None;
            let Some(kubeconfig) = self.create_attempted.take() else { return Ok(()) };
            if keep || self.reused {
                return Ok(());
            }
            self.kind(delete_argv(&self.cluster, &kubeconfig)).run(Some(DELETE_TIMEOUT)).await?;
            Ok(())
        })
    }
    fn after_scenario<'a>(&'a mut self, failed: bool, scenario_dir: &'a Path) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            if !failed || self.ready.is_none() {
                return None;
            }
            let dir = scenario_dir.join("kind-logs");
            Some(match self.kind(export_logs_argv(&self.cluster, &dir)).run(Some(DELETE_TIMEOUT)).await {
                Ok(_) => format!("kind logs of cluster {} exported to {}", self.cluster, dir.display()),
                Err(e) => format!("kind export logs failed: {e}"),
            })
        })
    }
}

impl Drop for KindProvider {
    /// Last resort when `finish` never ran (a path that skipped it): delete synchronously.
    fn drop(&mut self) {
        if let Some(kubeconfig) = self.create_attempted.take()
            && !self.reused
        {
            eprintln!("deleting kind cluster {} (the run ended without finishing)", self.cluster);
            let _ = std::process::Command::new(&self.kind).args(delete_argv(&self.cluster, &kubeconfig)).status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv() {
        let create = create_argv("c", Path::new("/w/cfg.yaml"), Path::new("/w/k"), NODE_IMAGE).join(" ");
        assert_eq!(
            create,
            format!("create cluster --name c --image {NODE_IMAGE} --config /w/cfg.yaml --kubeconfig /w/k --wait 120s")
        );
        assert!(NODE_IMAGE.starts_with("kindest/node:v1.35.") && NODE_IMAGE.contains("@sha256:"));
        assert_eq!(delete_argv("c", Path::new("/w/k")).join(" "), "delete cluster --name c --kubeconfig /w/k");
        assert_eq!(export_logs_argv("c", Path::new("/r/s/kind-logs")).join(" "), "export logs /r/s/kind-logs --name c");
        assert_eq!(load_image_argv("c", "app:dev").join(" "), "load docker-image app:dev --name c");
    }
}
