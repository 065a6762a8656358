//! The pieces of a kwok cluster that need no running process: which binaries it takes and where they are
//! found, the `kwokctl` argv, the Node objects (kind's names, labels and taint), and applying kind's
//! manifests (kube-system add-ons, local-path-storage and the StorageClass `standard`) with server-side
//! apply.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use serde_json::Value;

use super::environment::EnvironmentError;
use super::process::which;
use super::ProviderError;

/// The binaries a kwok cluster runs, in the order `ci/tools.sh kwok-cluster` builds them.
pub const TOOLS: &[&str] =
    &["kwokctl", "kwok", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "local-path-provisioner"];

/// The command that builds [`TOOLS`] from their Go modules.
pub const BUILD_COMMAND: &str = "ci/tools.sh kwok-cluster";

/// The kwok controller's stages: kwokctl's defaults plus one that completes local-path helper pods.
pub const STAGES: &str = include_str!("../../../fixtures/kwok/stages.yaml");

/// kind's (kubeadm's) Service CIDR.
pub const SERVICE_CIDR: &str = "10.96.0.0/16";

/// Where each tool was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KwokTools(pub BTreeMap<String, PathBuf>);

impl KwokTools {
    pub fn get(&self, tool: &str) -> &Path {
        self.0.get(tool).map(PathBuf::as_path).expect("find_tools returns every tool of TOOLS")
    }
}

/// Find every tool: only in `explicit` (`--tools DIR`) when given, else in `env_dir`
/// (`CLEANROOM_TOOLS_BIN`) and then on PATH (`on_path`). All missing ones are named at once.
pub fn find_tools(
    explicit: Option<&Path>,
    env_dir: Option<&Path>,
    on_path: impl Fn(&str) -> Option<PathBuf>,
) -> Result<KwokTools, EnvironmentError> {
    let in_dir = |dir: &Path, tool: &str| Some(dir.join(tool)).filter(|p| p.is_file());
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for tool in TOOLS {
        let hit = match explicit {
            Some(dir) => in_dir(dir, tool),
            None => env_dir.and_then(|d| in_dir(d, tool)).or_else(|| on_path(tool)),
        };
        match hit {
            Some(p) => {
                found.insert(tool.to_string(), p);
            }
            None => missing.push(tool.to_string()),
        }
    }
    if missing.is_empty() {
        return Ok(KwokTools(found));
    }
    let searched = match (explicit, env_dir) {
        (Some(d), _) => format!("--tools {}", d.display()),
        (None, Some(d)) => format!("CLEANROOM_TOOLS_BIN={} and PATH", d.display()),
        (None, None) => "PATH".to_string(),
    };
    Err(EnvironmentError::ToolsMissing { provider: "kwok".into(), missing, searched, build: BUILD_COMMAND.to_string() })
}

/// [`find_tools`] with `--tools`, `$CLEANROOM_TOOLS_BIN` and `$PATH`.
pub fn locate(explicit: Option<&Path>) -> Result<KwokTools, EnvironmentError> {
    let env_dir = std::env::var_os("CLEANROOM_TOOLS_BIN").filter(|v| !v.is_empty()).map(PathBuf::from);
    find_tools(explicit, env_dir.as_deref(), which)
}

/// An optional tool, looked up as [`locate`] looks up the required ones.
pub fn locate_optional(explicit: Option<&Path>, tool: &str) -> Option<PathBuf> {
    let in_dir = |dir: &Path| Some(dir.join(tool)).filter(|p| p.is_file());
    match explicit {
        Some(dir) => in_dir(dir),
        None => std::env::var_os("CLEANROOM_TOOLS_BIN").filter(|v| !v.is_empty()).and_then(|d| in_dir(Path::new(&d))).or_else(|| which(tool)),
    }
}

/// argv of `kwokctl create cluster` (run with `KWOK_WORKDIR` set to the run's own directory, so nothing
/// lands in `~/.kwok`). Every component binary is a local path: kwokctl links it and downloads nothing.
pub fn create_argv(cluster: &str, tools: &KwokTools, stages: &Path, kubeconfig: &Path, wait_secs: u64) -> Vec<String> {
    let mut argv: Vec<String> = ["--name", cluster, "--config", &stages.display().to_string(), "create", "cluster"]
        .map(String::from)
        .to_vec();
    argv.extend(["--runtime", "binary", "--kubeconfig", &kubeconfig.display().to_string()].map(String::from));
    for (flag, tool) in [
        ("--etcd-binary", "etcd"),
        ("--kube-apiserver-binary", "kube-apiserver"),
        ("--kube-controller-manager-binary", "kube-controller-manager"),
        ("--kube-scheduler-binary", "kube-scheduler"),
        ("--kwok-controller-binary", "kwok"),
    ] {
        argv.push(flag.into());
        argv.push(tools.get(tool).display().to_string());
    }
    // kind's Service range (kwokctl's default is 10.0.0.0/24): kind-system.yaml's kube-dns is 10.96.0.10.
    argv.extend(["--extra-args".to_string(), format!("kube-apiserver=service-cluster-ip-range={SERVICE_CIDR}")]);
    // `wait.gc-discovery` reads the garbage collector's graph: kube-controller-manager has no
    // authentication configured here, so the path is allowed without (its list flag appends to
    // kwokctl's). It holds object names and uids only, so it is served on loopback alone.
    for arg in [format!("authorization-always-allow-paths={GC_GRAPH_PATH}"), "bind-address=127.0.0.1".to_string()] {
        argv.extend(["--extra-args".to_string(), format!("kube-controller-manager={arg}")]);
    }
    argv.extend(["--quiet-pull".to_string(), "--wait".to_string(), format!("{wait_secs}s")]);
    argv
}

/// Where kube-controller-manager serves its garbage collector's dependency graph (DOT), below its
/// secure port.
pub const GC_GRAPH_PATH: &str = "/debug/controllers/garbage-collector-controller/graph";

/// The URL of kube-controller-manager's garbage collector graph, from the secure port kwokctl chose
/// and recorded in the cluster's `kwok.yaml` (`kubeControllerManagerPort: N`).
pub fn gc_graph_url(kwok_yaml: &str) -> Option<String> {
    let port: u16 = kwok_yaml.lines().find_map(|l| l.trim().strip_prefix("kubeControllerManagerPort:"))?.trim().parse().ok()?;
    (port != 0).then(|| format!("https://127.0.0.1:{port}{GC_GRAPH_PATH}"))
}

/// argv of `kwokctl delete cluster`: stops the component processes (by their pid files), removes the
/// cluster directory and the context from `kubeconfig` only.
pub fn delete_argv(cluster: &str, kubeconfig: &Path) -> Vec<String> {
    ["--name", cluster, "delete", "cluster", "--kubeconfig", &kubeconfig.display().to_string()].map(String::from).to_vec()
}

/// argv of `local-path-provisioner start`, as kind's Deployment runs it, against the cluster's kubeconfig.
pub fn provisioner_argv(kubeconfig: &Path, config: &Path) -> Vec<String> {
    [
        "--debug",
        "start",
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--config",
        &config.display().to_string(),
        "--namespace",
        "local-path-storage",
        "--service-account-name",
        "local-path-provisioner-service-account",
        "--configmap-name",
        "local-path-config",
        "--helper-image",
        // As kind's manifest starts it (kwok never pulls it).
        cleanroom_sim::kind_manifests::local_path_helper_image(),
    ]
    .map(String::from)
    .to_vec()
}

/// kind's node names for `cluster` (one control plane, `workers` workers).
pub fn node_names(cluster: &str, workers: usize) -> Vec<String> {
    cleanroom_sim::nodes::node_specs(cluster, workers).into_iter().map(|s| s.name).collect()
}

/// The Node objects to register: the embedded cluster's (kind's labels, annotations, control-plane
/// taint and pod CIDRs) without a status, which the kwok controller's node-initialize stage writes,
/// and with kwok's provider ID.
pub fn node_objects(cluster: &str, workers: usize) -> Vec<Value> {
    let specs = cleanroom_sim::nodes::node_specs(cluster, workers);
    let single = specs.len() == 1;
    specs
        .iter()
        .map(|spec| {
            let mut node = cleanroom_sim::nodes::node_object(cluster, spec, single);
            // kwok's node-initialize stage writes the status, keeping addresses a node registered with (as a
            // kubelet registers its own): kind's InternalIP and Hostname, which prometheus-operator's
            // kubelet Endpoints need (kwok's own would be no InternalIP and Hostname `localhost`).
            let addresses = node.pointer("/status/addresses").cloned();
            if let Some(o) = node.as_object_mut() {
                o.remove("status");
            }
            if let Some(a) = addresses {
                node["status"] = serde_json::json!({ "addresses": a });
            }
            node["spec"]["providerID"] = Value::String(format!("kwok://{}", spec.name));
            node
        })
        .collect()
}

/// Server-side apply every document of `text` (field manager `manager`), cluster-scoped or namespaced
/// as discovery says.
pub async fn apply_manifest(client: &kube::Client, text: &str, manager: &str) -> Result<usize, ProviderError> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| ProviderError::Command { command: "parse manifest".into(), message: e.to_string() })?;
    let mut applied = 0;
    for doc in docs.into_iter().filter(|d| d.is_object()) {
        apply_one(client, doc, manager).await?;
        applied += 1;
    }
    Ok(applied)
}

pub async fn apply_one(client: &kube::Client, doc: Value, manager: &str) -> Result<(), ProviderError> {
    let fail = |what: &str, e: String| ProviderError::Command { command: format!("apply {what}"), message: e };
    let obj: DynamicObject = serde_json::from_value(doc).map_err(|e| fail("object", e.to_string()))?;
    let types = obj.types.clone().ok_or_else(|| fail("object", "no apiVersion/kind".into()))?;
    let name = obj.metadata.name.clone().unwrap_or_default();
    let what = format!("{} {name}", types.kind);
    let gvk = GroupVersionKind::try_from(&types).map_err(|e| fail(&what, e.to_string()))?;
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk).await.map_err(|e| fail(&what, e.to_string()))?;
    let api: Api<DynamicObject> = match (caps.scope, obj.metadata.namespace.as_deref()) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
        (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), &ar),
        (Scope::Cluster, _) => Api::all_with(client.clone(), &ar),
    };
    api.patch(&name, &PatchParams::apply(manager).force(), &Patch::Apply(&obj)).await.map_err(|e| fail(&what, e.to_string()))?;
    Ok(())
}

/// Namespaces that exist once the cluster is up (kube-controller-manager fills each with its `default`
/// ServiceAccount and `kube-root-ca.crt`).
const SETTLED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease", "local-path-storage"];

/// Watch until the fresh cluster stops changing by itself, so a scenario's first snapshot is its steady
/// state (as on kind after `kind create --wait` and on the embedded cluster at once): each namespace's
/// ServiceAccount `default` and ConfigMap `kube-root-ca.crt`, kind's add-on Deployments available and
/// DaemonSets Ready on every node, the ServiceCIDR `kubernetes` finalized. The error names what was
/// still missing.
/// `storage`: kind's local-path-storage namespace and provisioner Deployment were applied too.
pub async fn settle(client: &kube::Client, nodes: usize, storage: bool, timeout: std::time::Duration) -> Result<(), ProviderError> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
    use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    use kube::runtime::wait::await_condition;
    let deadline = tokio::time::Instant::now() + timeout;
    let wait = |what: String, fut: futures::future::BoxFuture<'static, Result<(), kube::runtime::wait::Error>>| async move {
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ProviderError::Command { command: format!("watch {what}"), message: e.to_string() }),
            Err(_) => Err(ProviderError::Command {
                command: format!("wait for the new cluster to settle ({}s)", timeout.as_secs()),
                message: format!("still waiting for {what}"),
            }),
        }
    };
    for ns in SETTLED_NAMESPACES.iter().filter(|ns| storage || **ns != "local-path-storage") {
        let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
        wait(format!("ServiceAccount {ns}/default"), Box::pin(async move { await_condition(sa, "default", |o: Option<&ServiceAccount>| o.is_some()).await.map(|_| ()) })).await?;
        let cm: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        wait(format!("ConfigMap {ns}/kube-root-ca.crt"), Box::pin(async move { await_condition(cm, "kube-root-ca.crt", |o: Option<&ConfigMap>| o.is_some()).await.map(|_| ()) })).await?;
    }
    for (ns, name) in [("kube-system", "coredns"), ("local-path-storage", "local-path-provisioner")].into_iter().filter(|(ns, _)| storage || *ns != "local-path-storage") {
        let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
        let available = |d: Option<&Deployment>| {
            d.is_some_and(|d| {
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let st = d.status.clone().unwrap_or_default();
                st.observed_generation == d.metadata.generation && st.available_replicas.unwrap_or(0) == want && st.replicas.unwrap_or(0) == want
            })
        };
        wait(format!("Deployment {ns}/{name} available"), Box::pin(async move { await_condition(api, name, available).await.map(|_| ()) })).await?;
    }
    for name in ["kube-proxy", "kindnet"] {
        let api: Api<DaemonSet> = Api::namespaced(client.clone(), "kube-system");
        let ready = move |d: Option<&DaemonSet>| {
            d.and_then(|d| d.status.as_ref()).is_some_and(|s| s.desired_number_scheduled as usize == nodes && s.number_ready as usize == nodes)
        };
        wait(format!("DaemonSet kube-system/{name} Ready on {nodes} nodes"), Box::pin(async move { await_condition(api, name, ready).await.map(|_| ()) })).await?;
    }
    let ar = kube::discovery::ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("networking.k8s.io", "v1", "ServiceCIDR"), "servicecidrs");
    let cidrs: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let finalized = |o: Option<&DynamicObject>| o.is_some_and(|o| o.metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty()));
    wait("ServiceCIDR kubernetes finalized".into(), Box::pin(async move { await_condition(cidrs, "kubernetes", finalized).await.map(|_| ()) })).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools_in(dir: &Path, names: &[&str]) {
        for n in names {
            std::fs::write(dir.join(n), "").unwrap();
        }
    }

    #[test]
    fn tools_are_found_in_the_explicit_dir_only() {
        let d = tempfile::tempdir().unwrap();
        tools_in(d.path(), TOOLS);
        let t = find_tools(Some(d.path()), None, |_| Some(PathBuf::from("/usr/bin/x"))).unwrap();
        assert_eq!(t.get("kwokctl"), d.path().join("kwokctl"));
        assert_eq!(t.0.len(), TOOLS.len());
        // --tools given: PATH is not consulted, and every missing tool is named with the build command.
        let empty = tempfile::tempdir().unwrap();
        let e = find_tools(Some(empty.path()), None, |_| Some(PathBuf::from("/usr/bin/x"))).unwrap_err().to_string();
        for tool in TOOLS {
            assert!(e.contains(tool), "{e}");
        }
        assert!(e.contains("ci/tools.sh kwok-cluster") && e.contains("--tools"), "{e}");
    }

    #[test]
    fn env_dir_then_path() {
        let d = tempfile::tempdir().unwrap();
        tools_in(d.path(), &["kwokctl", "kwok"]);
        let t = find_tools(None, Some(d.path()), |tool| Some(PathBuf::from(format!("/p/{tool}")))).unwrap();
        assert_eq!(t.get("kwok"), d.path().join("kwok"));
        assert_eq!(t.get("etcd"), Path::new("/p/etcd"));
        let e = find_tools(None, Some(d.path()), |tool| (tool != "etcd").then(|| PathBuf::from("/p"))).unwrap_err().to_string();
        assert!(e.starts_with("--provider kwok needs etcd (looked in CLEANROOM_TOOLS_BIN="), "{e}");
    }

    #[test]
    fn argv() {
        let tools = KwokTools(TOOLS.iter().map(|t| (t.to_string(), PathBuf::from(format!("/b/{t}")))).collect());
        let create = create_argv("c", &tools, Path::new("/w/stages.yaml"), Path::new("/w/k"), 60).join(" ");
        assert_eq!(
            create,
            "--name c --config /w/stages.yaml create cluster --runtime binary --kubeconfig /w/k \
             --etcd-binary /b/etcd --kube-apiserver-binary /b/kube-apiserver \
             --kube-controller-manager-binary /b/kube-controller-manager --kube-scheduler-binary /b/kube-scheduler \
             --kwok-controller-binary /b/kwok --extra-args kube-apiserver=service-cluster-ip-range=10.96.0.0/16 \
             --extra-args kube-controller-manager=authorization-always-allow-paths=/debug/controllers/garbage-collector-controller/graph \
             --extra-args kube-controller-manager=bind-address=127.0.0.1 \
             --quiet-pull --wait 60s"
        );
        assert!(!create.contains("http"), "kwokctl must get local binaries only: {create}");
        assert_eq!(delete_argv("c", Path::new("/w/k")).join(" "), "--name c delete cluster --kubeconfig /w/k");
        let p = provisioner_argv(Path::new("/w/k"), Path::new("/w/lp.json")).join(" ");
        assert!(p.starts_with("--debug start --kubeconfig /w/k --config /w/lp.json --namespace local-path-storage"), "{p}");
    }

    #[test]
    fn the_gc_graph_is_on_the_port_kwokctl_recorded() {
        let yaml = "kind: KwokctlConfiguration\noptions:\n  kubeApiserverPort: 32764\n  kubeControllerManagerPort: 32762\n";
        assert_eq!(gc_graph_url(yaml).as_deref(), Some("https://127.0.0.1:32762/debug/controllers/garbage-collector-controller/graph"));
        assert_eq!(gc_graph_url("options:\n  kubeControllerManagerPort: 0\n"), None);
        assert_eq!(gc_graph_url("options: {}\n"), None);
    }

    #[test]
    fn nodes_are_shaped_like_kind() {
        assert_eq!(node_names("c", 2), ["c-control-plane", "c-worker", "c-worker2"]);
        let nodes = node_objects("c", 2);
        let cp = &nodes[0];
        assert_eq!(cp["metadata"]["labels"]["node-role.kubernetes.io/control-plane"], "");
        assert_eq!(cp["spec"]["taints"][0]["key"], "node-role.kubernetes.io/control-plane");
        assert_eq!(cp["spec"]["taints"][0]["effect"], "NoSchedule");
        assert_eq!(nodes[1]["metadata"]["labels"]["kubernetes.io/hostname"], "c-worker");
        assert!(nodes[1]["spec"].get("taints").is_none());
        // kwok writes the status; the node registers its addresses only, as kind's are.
        assert!(nodes.iter().all(|n| n["status"].as_object().is_some_and(|s| s.keys().eq(["addresses"]))), "{nodes:?}");
        assert_eq!(nodes[1]["status"]["addresses"][1], serde_json::json!({"address": "c-worker", "type": "Hostname"}));
        assert!(nodes[1]["status"]["addresses"][0]["address"].as_str().is_some_and(|ip| ip.starts_with("172.18.0.")));
        assert_eq!(nodes[2]["spec"]["providerID"], "kwok://c-worker2");
    }

    #[test]
    fn stages_keep_kwokctls_defaults_and_complete_helper_pods() {
        let docs: Vec<Value> = serde_saphyr::from_multiple(STAGES).unwrap();
        let names: Vec<&str> = docs.iter().filter_map(|d| d["metadata"]["name"].as_str()).collect();
        assert_eq!(
            names,
            ["node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-complete", "pod-delete", "local-path-helper-complete"]
        );
    }
}
