//! Typed node operations for the harness. The kind provider implements the same operations
//! with `docker exec` on the node containers; paths are node-internal.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::api::object;
use super::{fs, node_root};
use crate::controllers::util;
use crate::server::ApiServer;

#[derive(Debug, thiserror::Error)]
pub enum NodeOpError {
    #[error("node \"{0}\" not found")]
    NoSuchNode(String),
    #[error("cannot evict pod {namespace}/{pod}: {message}")]
    Evict { namespace: String, pod: String, message: String },
    #[error("drain of {node} timed out after {secs}s with pods left: {left:?}")]
    DrainTimeout { node: String, secs: u64, left: Vec<String> },
    #[error("path {0:?} is not inside the node filesystem")]
    BadPath(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("API error: {0}")]
    Api(String),
}

/// One active volume mount (a `/proc/mounts` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: String,
}

#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// `--ignore-daemonsets`: leave DaemonSet pods alone (otherwise they block the drain).
    pub ignore_daemonsets: bool,
    /// Give up after this long (PDBs may keep refusing).
    pub timeout: Duration,
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions { ignore_daemonsets: true, timeout: Duration::from_secs(30) }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// `namespace/name` of evicted pods.
    pub evicted: Vec<String>,
    /// DaemonSet pods left in place.
    pub ignored: Vec<String>,
}

/// Operations on the embedded cluster's nodes (`SimCluster::nodes()`).
#[derive(Clone)]
pub struct NodeOps {
    server: Arc<ApiServer>,
    root: PathBuf,
}

impl NodeOps {
    pub fn new(server: Arc<ApiServer>, root: PathBuf) -> NodeOps {
        NodeOps { server, root }
    }

    /// Node names in creation order (control plane first).
    pub fn list(&self) -> Vec<String> {
        let mut nodes: Vec<Arc<Value>> = self.server.store.list("nodes", None).0;
        nodes.sort_by_key(|n| super::node_ip(n).and_then(|ip| ip.rsplit('.').next().and_then(|x| x.parse::<u32>().ok())).unwrap_or(0));
        nodes.iter().map(|n| object::name_of(n).to_string()).collect()
    }

    fn node(&self, node: &str) -> Result<Arc<Value>, NodeOpError> {
        self.server.store.get("nodes", "", node).ok_or_else(|| NodeOpError::NoSuchNode(node.to_string()))
    }

    /// The node's filesystem root on the host.
    pub fn root(&self, node: &str) -> Result<PathBuf, NodeOpError> {
        self.node(node)?;
        Ok(node_root(&self.root, node))
    }

    fn set_unschedulable(&self, node: &str, on: bool) -> Result<(), NodeOpError> {
        self.node(node)?;
        let rt = util::rt(&self.server, "", "v1", "nodes");
        util::update(&self.server, &rt, "", node, "kubectl-cordon", |o| {
            if on {
                o["spec"]["unschedulable"] = json!(true);
            } else if let Some(s) = o["spec"].as_object_mut() {
                s.remove("unschedulable");
            }
            true
        }).map_err(|e| NodeOpError::Api(e.message))
    }

    /// `kubectl cordon` (the node lifecycle controller's taint is not emulated).
    pub async fn cordon(&self, node: &str) -> Result<(), NodeOpError> {
        self.set_unschedulable(node, true)
    }

    pub async fn uncordon(&self, node: &str) -> Result<(), NodeOpError> {
        self.set_unschedulable(node, false)
    }

    /// `kubectl drain`: cordon, then evict every pod (honouring PDBs, retrying on 429),
    /// and wait until they are gone.
    pub async fn drain(&self, node: &str, opts: &DrainOptions) -> Result<DrainReport, NodeOpError> {
        self.cordon(node).await?;
        let deadline = tokio::time::Instant::now() + opts.timeout;
        let mut report = DrainReport::default();
        loop {
            let pods: Vec<Arc<Value>> = util::pods(&self.server, None).into_iter()
                .filter(|p| object::str_at(p, "/spec/nodeName") == Some(node) && !object::is_terminal(p))
                .collect();
            let mut left = Vec::new();
            for p in &pods {
                let id = format!("{}/{}", object::ns_of(p), object::name_of(p));
                if object::controller_kind(p) == Some("DaemonSet") {
                    if opts.ignore_daemonsets {
                        if !report.ignored.contains(&id) {
                            report.ignored.push(id);
                        }
                        continue;
                    }
                    return Err(NodeOpError::Evict { namespace: object::ns_of(p).into(), pod: object::name_of(p).into(), message: "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)".into() });
                }
                left.push(id.clone());
                if object::is_deleting(p) {
                    continue;
                }
                match crate::server::evict(&self.server, object::ns_of(p), object::name_of(p), &json!({})) {
                    Ok(()) => report.evicted.push(id),
                    Err(e) if e.code == 429 || e.code == 404 => {}
                    Err(e) => return Err(NodeOpError::Evict { namespace: object::ns_of(p).into(), pod: object::name_of(p).into(), message: e.message }),
                }
            }
            if left.is_empty() {
                return Ok(report);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(NodeOpError::DrainTimeout { node: node.into(), secs: opts.timeout.as_secs(), left });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Restart the kubelet. kind's `kubelet.service` has `KillMode=process`: systemd kills only
    /// the kubelet, containers keep running, pods stay Ready and `restartCount` stays 0. The
    /// new kubelet announces itself with a `Starting` Node event (`BirthCry`). Returns how
    /// many running pods on the node kept their containers.
    pub async fn restart_kubelet(&self, node: &str) -> Result<usize, NodeOpError> {
        let node_obj = self.node(node)?;
        crate::events::record(&self.server, &node_obj, crate::events::EventType::Normal, "Starting", "Starting kubelet.", "kubelet", Some(node));
        Ok(self.running_pods(node))
    }

    /// Restart containerd. kind's `containerd.service` has `KillMode=process` too: the shims
    /// and containers survive, nothing changes on pods. Returns the running pods on the node.
    pub async fn restart_runtime(&self, node: &str) -> Result<usize, NodeOpError> {
        self.node(node)?;
        Ok(self.running_pods(node))
    }

    fn running_pods(&self, node: &str) -> usize {
        util::pods(&self.server, None).iter()
            .filter(|p| object::str_at(p, "/spec/nodeName") == Some(node) && object::phase(p) == "Running" && !object::is_deleting(p))
            .count()
    }

    /// Active volume mounts (`/proc/mounts` of the node, volume entries).
    pub async fn mounts(&self, node: &str) -> Result<Vec<Mount>, NodeOpError> {
        let root = self.root(node)?;
        Ok(fs::read_mounts(&root).into_iter().map(|m| Mount { source: m.source, target: m.target, fstype: m.fstype, options: m.options }).collect())
    }

    /// `/var/log/pods` entries: `<ns>_<pod>_<uid>`.
    pub async fn pod_log_dirs(&self, node: &str) -> Result<Vec<String>, NodeOpError> {
        Ok(fs::pod_log_dirs(&self.root(node)?))
    }

    /// Image references in the node's store (`crictl images`).
    pub async fn images(&self, node: &str) -> Result<Vec<String>, NodeOpError> {
        Ok(fs::read_images(&self.root(node)?).into_iter().map(|(r, _)| r).collect())
    }

    /// `crictl rmi --prune`: remove images no container on the node uses; returns them.
    pub async fn prune_images(&self, node: &str) -> Result<Vec<String>, NodeOpError> {
        let root = self.root(node)?;
        let in_use: Vec<String> = util::pods(&self.server, None).iter()
            .filter(|p| object::str_at(p, "/spec/nodeName") == Some(node) && !object::is_terminal(p))
            .flat_map(|p| ["containers", "initContainers"].iter()
                .flat_map(|k| p.pointer(&format!("/spec/{k}")).and_then(|c| c.as_array()).cloned().unwrap_or_default())
                .filter_map(|c| c["image"].as_str().map(fs::normalize_image))
                .collect::<Vec<_>>())
            .collect();
        Ok(fs::prune_images(&root, &in_use))
    }

    /// `rm -rf <path>` inside the node (node-internal absolute path).
    pub async fn remove_path(&self, node: &str, path: &str) -> Result<(), NodeOpError> {
        if !path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return Err(NodeOpError::BadPath(path.to_string()));
        }
        let p = fs::host_path(&self.root(node)?, path);
        match std::fs::symlink_metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
            Ok(m) if m.is_dir() => Ok(std::fs::remove_dir_all(&p)?),
            Ok(_) => Ok(std::fs::remove_file(&p)?),
        }
    }

    /// What a kubelet that died mid-teardown leaves: the tmpfs mount of an emptyDir
    /// (`medium: Memory`) volume of pod `pod_uid`, and its volume directory, exactly as the
    /// kubelet creates them when it starts the pod. Nothing checks that the pod exists.
    pub async fn plant_mount(&self, node: &str, pod_uid: &str, volume: &str) -> Result<(), NodeOpError> {
        for part in [pod_uid, volume] {
            if part.is_empty() || part.contains('/') || part == ".." || part.contains(char::is_whitespace) {
                return Err(NodeOpError::BadPath(part.to_string()));
            }
        }
        let root = self.root(node)?;
        let target = fs::volume_dir(pod_uid, "empty-dir", volume);
        std::fs::create_dir_all(fs::host_path(&root, &target))?;
        let entry = fs::MountEntry { source: "tmpfs".into(), target, fstype: "tmpfs".into(), options: "rw,relatime,size=16318496k".into() };
        fs::add_mounts(&root, &[entry]);
        Ok(())
    }

    /// `umount <target>`: drop the mount-table entry (the directory stays); returns whether it
    /// was mounted.
    pub async fn unmount(&self, node: &str, target: &str) -> Result<bool, NodeOpError> {
        let root = self.root(node)?;
        Ok(fs::remove_mount(&root, target))
    }

    /// What a pod's logs look like when the kubelet removed the pod but not its logs:
    /// `/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log` and its `/var/log/containers` link.
    pub async fn plant_pod_log(&self, node: &str, namespace: &str, pod: &str, uid: &str, container: &str) -> Result<(), NodeOpError> {
        for part in [namespace, pod, uid, container] {
            if part.is_empty() || part.contains('/') || part == ".." {
                return Err(NodeOpError::BadPath(part.to_string()));
            }
        }
        let root = self.root(node)?;
        fs::write_container_log(&root, namespace, pod, uid, container, 0, &fs::new_container_id(), &format!("{container} started"));
        Ok(())
    }

    /// Whether a node-internal path exists.
    pub async fn path_exists(&self, node: &str, path: &str) -> Result<bool, NodeOpError> {
        Ok(std::fs::symlink_metadata(fs::host_path(&self.root(node)?, path)).is_ok())
    }
}
