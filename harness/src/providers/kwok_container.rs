//! kwok's container runtime: the all-in-one image `registry.k8s.io/kwok/cluster` (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and the kwok controller run by kwokctl inside one unprivileged
//! container), started through testcontainers' kwok module. The API answers on plain HTTP with no
//! authentication on the mapped port 8080. The image has no nodes: the provider registers kind's three
//! as it does on the binary runtime. It has no local-path-provisioner, so there is no StorageClass.
//!
//! Which runtime `--kwok-runtime auto` picks: binary when every kwok binary is found, else the container
//! when Docker answers, else the missing-binaries error (naming Docker's state too).

use std::path::Path;
use std::time::Duration;

use testcontainers::core::WaitFor;
use testcontainers::{ContainerRequest, ImageExt};
use testcontainers_modules::kwok::{KWOK_CLUSTER_PORT, KwokCluster};

use super::docker::Managed;
use super::environment::EnvironmentError;
use super::kwok_setup::{KwokTools, SERVICE_CIDR};
use super::ProviderError;

/// The all-in-one image, pinned here only: kwok v0.8.0 (what `ci/tools/versions.env` builds) with
/// Kubernetes 1.35.5, one of the six releases kwok v0.8.0's `supported_releases.txt` lists (its image
/// build makes one tag per line). Not pulled on the development machine (no Docker).
pub const IMAGE_NAME: &str = "registry.k8s.io/kwok/cluster";
pub const IMAGE_TAG: &str = "v0.8.0-k8s.v1.35.5";

const START_TIMEOUT: Duration = Duration::from_secs(5 * 60);

pub const DOCKER_HINT: &str =
    "start Docker, or use --kwok-runtime binary with the kwok binaries (`ci/tools.sh kwok-cluster`), or --provider sim";

/// Why the container runtime has no StorageClass.
pub const NO_STORAGE: &str = "kwok's container runtime has no local-path-provisioner (the all-in-one image runs the \
     control plane only), so no StorageClass exists and PersistentVolumeClaims stay Pending; use --kwok-runtime binary for storage";

/// `--kwok-runtime`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RuntimeMode {
    #[default]
    Auto,
    Binary,
    Container,
}

impl RuntimeMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(RuntimeMode::Auto),
            "binary" => Some(RuntimeMode::Binary),
            "container" => Some(RuntimeMode::Container),
            _ => None,
        }
    }
}

/// The runtime a kwok provider uses, decided from the mode and the binaries found (before any await);
/// a container plan still needs Docker to answer ([`resolve`]).
#[derive(Debug)]
pub enum Plan {
    Binary(KwokTools),
    /// `missing`: auto chose the container because binaries are missing; the error to report, with
    /// Docker's, when Docker does not answer either.
    Container { missing: Option<EnvironmentError> },
}

/// The rule, before Docker is asked: `binary` needs the binaries (else their error); `container` needs
/// nothing local; `auto` takes the binaries when all are found, else plans the container.
pub fn plan(mode: RuntimeMode, tools: Result<KwokTools, EnvironmentError>) -> Result<Plan, EnvironmentError> {
    match (mode, tools) {
        (RuntimeMode::Binary, t) => t.map(Plan::Binary),
        (RuntimeMode::Container, _) => Ok(Plan::Container { missing: None }),
        (RuntimeMode::Auto, Ok(t)) => Ok(Plan::Binary(t)),
        (RuntimeMode::Auto, Err(e)) => Ok(Plan::Container { missing: Some(e) }),
    }
}

/// A container plan once Docker was asked (`docker`: the ping's error, if any).
pub fn resolve(missing: Option<&EnvironmentError>, docker: Result<(), EnvironmentError>) -> Result<(), EnvironmentError> {
    match (docker, missing) {
        (Ok(()), _) => Ok(()),
        (Err(d), None) => Err(d),
        (Err(d), Some(m)) => Err(EnvironmentError::Unsupported(format!(
            "{m}; the container runtime (--kwok-runtime auto's fallback) is not available either: {d}"
        ))),
    }
}

/// What the image's entrypoint prints once `kwokctl create cluster` returned (kwok v0.8.0's
/// `images/cluster/entrypoint.sh`). The module waits for "Starting to serve on [::]:8080", the line of the
/// `kubectl proxy` that entrypoints up to v0.5 ran; v0.8.0 serves the insecure port itself and never prints it.
pub const READY_LINE: &str = "Start cluster and keep alive at";

/// The container request: the pinned image, kind's Service range for kube-apiserver (as on the binary
/// runtime) and `--wait` so the API answers before the ready line (the entrypoint passes its arguments to
/// `kwokctl create cluster`), named and labelled after the run.
pub fn request(cluster: &str, run_id: &str) -> ContainerRequest<KwokCluster> {
    let args = ["--extra-args".to_string(), format!("kube-apiserver=service-cluster-ip-range={SERVICE_CIDR}"), "--wait".into(), "120s".into()];
    KwokCluster::default()
        .with_tag(IMAGE_TAG)
        .with_cmd(args)
        .with_ready_conditions(vec![WaitFor::message_on_stdout(READY_LINE)])
        .with_startup_timeout(START_TIMEOUT)
        .with_container_name(cluster)
        .with_label(cleanroom_core::RUN_LABEL, run_id)
}

/// A kubeconfig for the container's insecure port, with kwokctl's names (`kwok-<cluster>`); the user has
/// no credentials (the port does not authenticate).
pub fn kubeconfig(cluster: &str, server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kwok-{cluster}\n  cluster:\n    server: {server}\ncontexts:\n- name: kwok-{cluster}\n  context:\n    cluster: kwok-{cluster}\n    user: kwok-{cluster}\ncurrent-context: kwok-{cluster}\nusers:\n- name: kwok-{cluster}\n  user: {{}}\n"
    )
}

/// Start the container and write its kubeconfig to `kubeconfig`.
pub async fn start(container: &mut Managed<KwokCluster>, run_id: &str, kubeconfig_path: &Path) -> Result<(), ProviderError> {
    let cluster = container.name.clone();
    let c = container.start(request(&cluster, run_id)).await?;
    let fail = |e: String| ProviderError::Command { command: format!("the API port of container {cluster}"), message: e };
    let port = c.get_host_port_ipv4(KWOK_CLUSTER_PORT).await.map_err(|e| fail(e.to_string()))?;
    let host = c.get_host().await.map_err(|e| fail(e.to_string()))?;
    std::fs::write(kubeconfig_path, kubeconfig(&cluster, &format!("http://{host}:{port}")))
        .map_err(|e| ProviderError::Kubeconfig(format!("{}: {e}", kubeconfig_path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn found() -> Result<KwokTools, EnvironmentError> {
        Ok(KwokTools(BTreeMap::from([("kwokctl".to_string(), "/b/kwokctl".into())])))
    }
    fn missing() -> Result<KwokTools, EnvironmentError> {
        Err(EnvironmentError::ToolsMissing { provider: "kwok".into(), missing: vec!["etcd".into()], searched: "PATH".into(), build: "b".into() })
    }
    fn down() -> Result<(), EnvironmentError> {
        Err(EnvironmentError::DockerUnreachable { host: "unix:///x.sock".into(), detail: "d".into(), hint: DOCKER_HINT.into() })
    }

    /// The outcome of every mode × binaries found × Docker answering: `binary`, `container` or the error.
    fn outcome(mode: RuntimeMode, tools: bool, docker: bool) -> String {
        let docker = if docker { Ok(()) } else { down() };
        match plan(mode, if tools { found() } else { missing() }) {
            Ok(Plan::Binary(_)) => "binary".into(),
            Ok(Plan::Container { missing }) => match resolve(missing.as_ref(), docker) {
                Ok(()) => "container".into(),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_runtime_rule_for_every_combination() {
        use RuntimeMode::*;
        for docker in [true, false] {
            assert_eq!(outcome(Binary, true, docker), "binary");
            assert!(outcome(Binary, false, docker).starts_with("--provider kwok needs etcd"));
            assert_eq!(outcome(Auto, true, docker), "binary", "auto prefers the binaries, Docker or not");
        }
        assert_eq!(outcome(Container, true, true), "container");
        assert_eq!(outcome(Container, false, true), "container");
        assert_eq!(outcome(Auto, false, true), "container");
        for tools in [true, false] {
            let e = outcome(Container, tools, false);
            assert!(e.starts_with("Docker is not reachable at unix:///x.sock: start Docker, or use --kwok-runtime binary"), "{e}");
        }
        let e = outcome(Auto, false, false);
        assert!(e.starts_with("--provider kwok needs etcd") && e.contains("not available either: Docker is not reachable at unix:///x.sock"), "{e}");
        assert_eq!(RuntimeMode::parse("container"), Some(Container));
        assert_eq!(RuntimeMode::parse("podman"), None);
    }

    #[test]
    fn the_request_is_pinned_unprivileged_and_labelled() {
        let r = request("cleanroom-r1", "r1");
        assert_eq!(r.descriptor(), "registry.k8s.io/kwok/cluster:v0.8.0-k8s.v1.35.5");
        assert!(!r.privileged());
        assert_eq!(r.container_name().as_deref(), Some("cleanroom-r1"));
        assert_eq!(r.labels().get(cleanroom_core::RUN_LABEL).map(String::as_str), Some("r1"));
        assert_eq!(r.cmd().collect::<Vec<_>>(), ["--extra-args", "kube-apiserver=service-cluster-ip-range=10.96.0.0/16", "--wait", "120s"]);
        let ready = format!("{:?}", r.ready_conditions());
        assert!(ready.contains("Start cluster and keep alive at") && !ready.contains("Starting to serve"), "{ready}");
    }

    #[test]
    fn the_kubeconfig_reaches_the_insecure_port() {
        let k = kube::config::Kubeconfig::from_yaml(&kubeconfig("c", "http://localhost:32768")).unwrap();
        assert_eq!(k.current_context.as_deref(), Some("kwok-c"));
        assert_eq!(k.clusters[0].cluster.as_ref().unwrap().server.as_deref(), Some("http://localhost:32768"));
        assert_eq!(k.contexts[0].context.as_ref().unwrap().cluster, "kwok-c");
    }
}
