//! The cluster's nodes as kind creates them: Node objects (labels, taints, conditions,
//! capacity, nodeInfo, addresses, podCIDR), their Leases, each node's filesystem root, the
//! kube-system objects, the kubelet that runs each node's pods (and the pod status it
//! reports), and node operations (cordon, drain, restarts).

pub mod fleet;
pub mod fs;
pub mod kubelet;
pub mod ops;
pub mod pod_status;
pub mod system;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::server::{meta, ApiServer};

pub use ops::{DrainOptions, DrainReport, Mount, NodeOpError, NodeOps};

pub const KUBELET_VERSION: &str = "v1.35.0";
pub const CONTAINER_RUNTIME: &str = "containerd://2.2.0";
pub const OS_IMAGE: &str = "Debian GNU/Linux 12 (bookworm)";
pub const CONTROL_PLANE_TAINT: &str = "node-role.kubernetes.io/control-plane";

/// Where node `node`'s filesystem lives: `<root>/nodes/<node>/` (the node container's `/`).
pub fn node_root(root: &Path, node: &str) -> PathBuf {
    root.join("nodes").join(node)
}

/// One node of the cluster, in kind's creation order (control plane first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub index: usize,
    pub control_plane: bool,
}

impl NodeSpec {
    /// Docker's kind network hands out 172.18.0.2, .3, ... in creation order.
    pub fn ip(&self) -> String {
        format!("172.18.0.{}", self.index + 2)
    }
    /// kube-controller-manager's range allocator: 10.244.<i>.0/24.
    pub fn pod_cidr(&self) -> String {
        format!("10.244.{}.0/24", self.index)
    }
}

/// kind's node names: `<name>-control-plane`, `<name>-worker`, `<name>-worker2`, ...
pub fn node_specs(cluster: &str, workers: usize) -> Vec<NodeSpec> {
    let mut out = vec![NodeSpec { name: format!("{cluster}-control-plane"), index: 0, control_plane: true }];
    for i in 0..workers {
        let suffix = if i == 0 { String::new() } else { (i + 1).to_string() };
        out.push(NodeSpec { name: format!("{cluster}-worker{suffix}"), index: i + 1, control_plane: false });
    }
    out
}

fn hex_id(seed: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(seed.as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The Node object kubelet registers and kubeadm labels/taints.
pub fn node_object(cluster: &str, spec: &NodeSpec, single_node: bool) -> Value {
    let name = &spec.name;
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
    });
    let mut taints = json!([]);
    if spec.control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        // kind removes the exclude label and the taint when the control plane is the only node.
        if !single_node {
            labels["node.kubernetes.io/exclude-from-external-load-balancers"] = json!("");
            taints = json!([{"key": CONTROL_PLANE_TAINT, "effect": "NoSchedule"}]);
        }
    }
    let now = meta::now_rfc3339();
    let cond = |t: &str, s: &str, r: &str, m: &str| json!({"type": t, "status": s, "lastHeartbeatTime": now, "lastTransitionTime": now, "reason": r, "message": m});
    let resources = json!({"cpu": "8", "ephemeral-storage": "102625208Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "16318496Ki", "pods": "110"});
    let id = hex_id(&format!("{cluster}/{name}"));
    let mut spec_json = json!({"podCIDR": spec.pod_cidr(), "podCIDRs": [spec.pod_cidr()], "providerID": format!("kind://docker/{cluster}/{name}")});
    if taints.as_array().is_some_and(|t| !t.is_empty()) {
        spec_json["taints"] = taints;
    }
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name, "labels": labels,
            "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": spec_json,
        "status": {
            "addresses": [{"address": spec.ip(), "type": "InternalIP"}, {"address": name, "type": "Hostname"}],
            "allocatable": resources, "capacity": resources,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "features": {"supplementalGroupsPolicy": true},
            "nodeInfo": {
                "architecture": "amd64", "bootID": uuid::Uuid::new_v4().to_string(),
                "containerRuntimeVersion": CONTAINER_RUNTIME, "kernelVersion": "6.8.0-1021-azure",
                "kubeProxyVersion": "", "kubeletVersion": KUBELET_VERSION, "machineID": id,
                "operatingSystem": "linux", "osImage": OS_IMAGE, "systemUUID": uuid::Uuid::new_v4().to_string(),
            },
            "runtimeHandlers": [
                {"features": {"recursiveReadOnlyMounts": true, "userNamespaces": true}, "name": ""},
                {"features": {"recursiveReadOnlyMounts": true, "userNamespaces": true}, "name": "runc"},
            ],
        },
    })
}

/// Register the nodes (and their Leases) and prepare their filesystems.
pub fn create_nodes(server: &ApiServer, cluster: &str, workers: usize, root: &Path) -> Vec<NodeSpec> {
    let specs = node_specs(cluster, workers);
    let single = specs.len() == 1;
    for spec in &specs {
        let _ = std::fs::create_dir_all(node_root(root, &spec.name));
        fs::prepare(&node_root(root, &spec.name));
        let Ok(node) = server.create_internal("", "v1", "nodes", None, node_object(cluster, spec, single)) else { continue };
        let micro = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": spec.name, "namespace": "kube-node-lease", "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": spec.name, "uid": node.pointer("/metadata/uid").cloned().unwrap_or(json!(""))}]},
            "spec": {"holderIdentity": spec.name, "leaseDurationSeconds": 40, "renewTime": micro},
        });
        let _ = server.create_internal("coordination.k8s.io", "v1", "leases", Some("kube-node-lease"), lease);
    }
    specs
}

/// The node's InternalIP as recorded on its Node object.
pub fn node_ip(node: &Value) -> Option<String> {
    node.pointer("/status/addresses")?.as_array()?.iter().find(|a| a["type"] == "InternalIP").and_then(|a| a["address"].as_str()).map(String::from)
}
