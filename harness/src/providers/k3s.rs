//! k3s: a single-node Kubernetes (rancher/k3s) in one privileged Docker container, started through
//! testcontainers' K3s module. One cluster per run; its node is `<name>-control-plane` (k3s names the
//! node after the container's hostname) and k3s ships the default StorageClass `local-path`.
//!
//! Order: check Docker answers (else exit 3 saying so); the run journals the container's name; start
//! it (the module waits for "Node controller sync successful"); read the kubeconfig out of the container
//! and point it at the mapped host port; watch until the node is Ready and the default StorageClass
//! exists. `finish` removes the container; `--keep` leaves it and prints the `docker rm -f` line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::Api;
use testcontainers::core::ExecCommand;
use testcontainers::{ContainerRequest, ImageExt};
use testcontainers_modules::k3s::{K3s, KUBE_SECURE_PORT};

use super::api_nodes::ApiNodes;
use super::docker::{self, Managed};
use super::existing::client_for;
use super::{Capabilities, ClusterHandle, Provider, ProviderError, ProviderOptions};

/// The k3s image, pinned here only: Kubernetes 1.35.4, the newest patch release the kube-* Go modules
/// of `ci/tools/versions.env` serve, as k3s tags it. Not pulled on the development machine (no Docker).
pub const IMAGE_NAME: &str = "rancher/k3s";
pub const IMAGE_TAG: &str = "v1.35.4-k3s1";

/// Where k3s writes its admin kubeconfig inside the container.
const KUBECONFIG_IN_CONTAINER: &str = "/etc/rancher/k3s/k3s.yaml";
/// The StorageClass k3s's bundled local-path-provisioner makes the default.
pub const DEFAULT_STORAGE_CLASS: &str = "local-path";
const START_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const READY_TIMEOUT: Duration = Duration::from_secs(3 * 60);

const DOCKER_HINT: &str = "start Docker, or use --provider sim|kwok";

/// Why node-filesystem steps are skipped on k3s.
pub const NO_NODE_FILESYSTEM: &str = "its node runs inside the k3s container and cleanroom has no node-filesystem \
     operations for it (mounts, logs, images, kubelet restarts); cordon and drain work through the API";

/// The node's name: k3s registers the container's hostname.
pub fn node_name(cluster: &str) -> String {
    format!("{cluster}-control-plane")
}

/// The container request: the module's K3s image on the pinned tag, privileged as the module requires
/// (k3s runs containerd and a kubelet), named and labelled after the run.
pub fn request(cluster: &str, run_id: &str) -> ContainerRequest<K3s> {
    K3s::default()
        .with_tag(IMAGE_TAG)
        .with_container_name(cluster)
        .with_hostname(node_name(cluster))
        .with_label(cleanroom_core::RUN_LABEL, run_id)
        .with_privileged(true)
        .with_userns_mode("host")
        .with_startup_timeout(START_TIMEOUT)
}

/// The kubeconfig k3s wrote (server `https://127.0.0.1:6443` inside the container) with every cluster's
/// server set to `server`, as YAML-compatible JSON.
pub fn rewrite_server(kubeconfig: &str, server: &str) -> Result<String, ProviderError> {
    let mut k = kube::config::Kubeconfig::from_yaml(kubeconfig).map_err(|e| ProviderError::Kubeconfig(format!("k3s kubeconfig: {e}")))?;
    if k.clusters.is_empty() {
        return Err(ProviderError::Kubeconfig("k3s kubeconfig names no cluster".into()));
    }
    for c in k.clusters.iter_mut().filter_map(|c| c.cluster.as_mut()) {
        c.server = Some(server.to_string());
    }
    serde_json::to_string_pretty(&k).map_err(|e| ProviderError::Kubeconfig(e.to_string()))
}

/// The StorageClasses seen, for the timeout message: `local-path (default)`, `standard`.
fn describe_classes(classes: &[StorageClass]) -> String {
    if classes.is_empty() {
        return "no StorageClass".into();
    }
    classes.iter().map(|c| format!("{}{}", c.metadata.name.clone().unwrap_or_default(), if is_default(c) { " (default)" } else { "" })).collect::<Vec<_>>().join(", ")
}

fn is_default(c: &StorageClass) -> bool {
    c.metadata.annotations.as_ref().and_then(|a| a.get("storageclass.kubernetes.io/is-default-class")).is_some_and(|v| v == "true")
}

/// Watch until StorageClass `name` exists and is the default; the timeout error says what was there.
pub async fn wait_default_storage_class(client: &kube::Client, name: &str, timeout: Duration) -> Result<(), ProviderError> {
    let api: Api<StorageClass> = Api::all(client.clone());
    let cond = |o: Option<&StorageClass>| o.is_some_and(is_default);
    match tokio::time::timeout(timeout, kube::runtime::wait::await_condition(api.clone(), name, cond)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(ProviderError::Command { command: format!("watch StorageClass {name}"), message: e.to_string() }),
        Err(_) => {
            let seen = api.list(&Default::default()).await.map(|l| describe_classes(&l.items)).unwrap_or_else(|e| format!("listing failed: {e}"));
            Err(ProviderError::Command {
                command: format!("wait for the default StorageClass {name} ({}s)", timeout.as_secs()),
                message: format!("saw: {seen}"),
            })
        }
    }
}

struct Ready {
    kubeconfig: PathBuf,
    client: kube::Client,
    nodes: Arc<ApiNodes>,
}

pub struct K3sProvider {
    cluster: String,
    run_id: String,
    container: Managed<K3s>,
    ready: Option<Ready>,
    helm: super::HelmOptions,
}

impl K3sProvider {
    pub fn new(run_id: &str, options: ProviderOptions) -> Self {
        let cluster = super::cluster_name("k3s", run_id);
        K3sProvider { container: Managed::new(cluster.clone()), cluster, run_id: run_id.into(), ready: None, helm: options.helm }
    }

    async fn start(&mut self, workdir: &Path) -> Result<Ready, ProviderError> {
        docker::check_reachable(DOCKER_HINT).await?;
        let io = |p: &Path, e: std::io::Error| ProviderError::Kubeconfig(format!("{}: {e}", p.display()));
        std::fs::create_dir_all(workdir).map_err(|e| io(workdir, e))?;
        let c = self.container.start(request(&self.cluster, &self.run_id)).await?;
        let fail = |what: &str, e: String| ProviderError::Command { command: format!("{what} of container {}", self.cluster), message: e };
        // `cat` through exec, not `copy_file_from`: that future is not Send (testcontainers' copy trait is
        // `async_trait(?Send)`), and providers' futures must be.
        let mut cat = c.exec(ExecCommand::new(["cat", KUBECONFIG_IN_CONTAINER])).await.map_err(|e| fail("read the kubeconfig", e.to_string()))?;
        let raw = cat.stdout_to_vec().await.map_err(|e| fail("read the kubeconfig", e.to_string()))?;
        let port = c.get_host_port_ipv4(KUBE_SECURE_PORT).await.map_err(|e| fail("the API port", e.to_string()))?;
        let host = c.get_host().await.map_err(|e| fail("the host", e.to_string()))?;
        let text = rewrite_server(&String::from_utf8_lossy(&raw), &format!("https://{host}:{port}"))?;
        let kubeconfig = workdir.join(format!("k3s-{}.kubeconfig", self.cluster));
        std::fs::write(&kubeconfig, text).map_err(|e| io(&kubeconfig, e))?;
        let client = client_for(&kubeconfig, None).await?;
        let names = vec![node_name(&self.cluster)];
        super::node_ready::wait_nodes_ready(client.clone(), &names, READY_TIMEOUT).await?;
        wait_default_storage_class(&client, DEFAULT_STORAGE_CLASS, READY_TIMEOUT).await?;
        let nodes = Arc::new(ApiNodes { client: client.clone(), names, no_filesystem: NO_NODE_FILESYSTEM });
        Ok(Ready { kubeconfig, client, nodes })
    }
}

impl Provider for K3sProvider {
    fn name(&self) -> &'static str {
        "k3s"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities { helm: true, nodes: true, node_filesystem: false, containers: true }
    }
    fn cluster_name(&self) -> Option<String> {
        Some(self.cluster.clone())
    }
    fn container_name(&self) -> Option<String> {
        Some(self.container.name.clone())
    }
    fn ensure<'a>(&'a mut self, _scenario: &'a str, workdir: &'a Path) -> BoxFuture<'a, Result<ClusterHandle, ProviderError>> {
        Box::pin(async move {
            if self.ready.is_none() {
                let ready = self.start(workdir).await?;
                self.ready = Some(ready);
            }
            let r = self.ready.as_ref().expect("started above");
            let id = self.container.get().map(|c| c.id().chars().take(12).collect::<String>()).unwrap_or_default();
            Ok(ClusterHandle {
                client: r.client.clone(),
                kubeconfig: r.kubeconfig.clone(),
                // k3s names its only context `default`.
                context: Some("default".into()),
                description: format!("k3s cluster {} ({IMAGE_NAME}:{IMAGE_TAG}, container {id})", self.cluster),
                helm: Some(self.helm.engine(&r.client, &r.kubeconfig, Some("default".into()))),
                nodes: Some(r.nodes.clone()),
                gc_graph: None,
            })
        })
    }
    fn finish<'a>(&'a mut self, keep: bool) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let ready = self.ready.take();
            if keep && let Some(id) = self.container.keep() {
                let kubeconfig = ready.map(|r| r.kubeconfig.display().to_string()).unwrap_or_default();
                println!("k3s cluster {} kept: kubeconfig {kubeconfig}; remove it with `{}`", self.cluster, docker::rm_command(&id));
                return Ok(());
            }
            self.container.remove().await
        })
    }
    fn after_scenario<'a>(&'a mut self, failed: bool, scenario_dir: &'a Path) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move { if failed { self.container.save_logs(&scenario_dir.join("container-logs")).await } else { None } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_pinned_privileged_named_and_labelled() {
        let r = request("cleanroom-r1", "r1");
        assert_eq!(r.descriptor(), "rancher/k3s:v1.35.4-k3s1");
        assert!(IMAGE_TAG.starts_with("v1.35.") && IMAGE_TAG.ends_with("-k3s1"));
        assert!(r.privileged());
        assert_eq!(r.container_name().as_deref(), Some("cleanroom-r1"));
        assert_eq!(r.hostname(), Some("cleanroom-r1-control-plane"));
        assert_eq!(r.labels().get(cleanroom_core::RUN_LABEL).map(String::as_str), Some("r1"));
        assert_eq!(r.cmd().collect::<Vec<_>>(), ["server", "--snapshotter=native"]);
    }

    const K3S_YAML: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
";

    #[test]
    fn the_kubeconfig_points_at_the_mapped_port() {
        let out = rewrite_server(K3S_YAML, "https://localhost:49153").unwrap();
        let k = kube::config::Kubeconfig::from_yaml(&out).unwrap();
        let c = k.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(c.server.as_deref(), Some("https://localhost:49153"));
        assert_eq!(c.certificate_authority_data.as_deref(), Some("Q0E="), "the CA stays");
        assert_eq!(k.current_context.as_deref(), Some("default"));
        assert!(k.auth_infos[0].auth_info.as_ref().unwrap().client_key_data.is_some(), "the client key stays");
        assert!(!out.contains("6443"), "{out}");
        assert!(rewrite_server("apiVersion: v1\nkind: Config\n", "https://x:1").is_err());
    }

    #[test]
    fn storage_classes_are_described() {
        let sc = |name: &str, default: bool| {
            let mut c = StorageClass::default();
            c.metadata.name = Some(name.into());
            if default {
                c.metadata.annotations = Some([("storageclass.kubernetes.io/is-default-class".to_string(), "true".to_string())].into());
            }
            c
        };
        assert_eq!(describe_classes(&[]), "no StorageClass");
        assert_eq!(describe_classes(&[sc("local-path", true), sc("standard", false)]), "local-path (default), standard");
        assert!(is_default(&sc("local-path", true)) && !is_default(&sc("local-path", false)));
    }
}
