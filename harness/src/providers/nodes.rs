//! Node-level operations behind one small trait, so the embedded cluster (direct access to
//! its node filesystems) and kind (`docker exec` into node containers) can both offer them.

use futures::future::BoxFuture;

/// A mount on a node (`/proc/mounts`-like entry).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeMount {
    pub source: String,
    pub target: String,
    pub fstype: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DrainOutcome {
    pub evicted: Vec<String>,
    pub ignored: Vec<String>,
}

pub type NodeResult<T> = Result<T, String>;

/// What a kubelet or container-runtime restart did to the node's containers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RestartReport {
    /// How much the restartCount of the node's containers rose.
    pub containers_restarted: usize,
    /// What the restart waited for, and why containers kept running (provider-specific).
    pub note: Option<String>,
}

/// Typed node operations (what an operator does with `kubectl drain` and ssh/`docker exec`).
pub trait NodeOperations: Send + Sync {
    fn nodes(&self) -> Vec<String>;
    /// Why node filesystems and processes (kubelet, runtime, mounts, logs, images) are out of reach, when
    /// they are: the steps that need them are skipped with this reason. Cordon and drain still work.
    fn filesystem_unavailable(&self) -> Option<String> {
        None
    }
    fn cordon<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<()>>;
    fn uncordon<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<()>>;
    fn drain<'a>(&'a self, node: &'a str, ignore_daemonsets: bool, timeout: std::time::Duration) -> BoxFuture<'a, NodeResult<DrainOutcome>>;
    /// Restart the kubelet and wait until it is healthy again.
    fn restart_kubelet<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<RestartReport>>;
    /// Restart the container runtime and wait until it and the kubelet are healthy again.
    fn restart_runtime<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<RestartReport>>;
    /// How long the kubelet may take to garbage-collect the logs of a deleted pod (its container GC runs
    /// once a minute on a real node). Zero when logs go at once with their pod (the embedded cluster today).
    fn log_gc_period(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    fn mounts<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<NodeMount>>>;
    fn pod_log_dirs<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>>;
    fn images<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>>;
    fn prune_images<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>>;
    fn remove_path<'a>(&'a self, node: &'a str, path: &'a str) -> BoxFuture<'a, NodeResult<()>>;
    fn path_exists<'a>(&'a self, node: &'a str, path: &'a str) -> BoxFuture<'a, NodeResult<bool>>;
    /// Directories (node paths) directly under `dir`, e.g. local-path volumes.
    fn list_dir<'a>(&'a self, node: &'a str, dir: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>>;
    /// `readlink <path>`: None when `path` is not a symlink (or does not exist).
    fn read_link<'a>(&'a self, node: &'a str, path: &'a str) -> BoxFuture<'a, NodeResult<Option<String>>>;
    /// `umount <target>`: Ok(true) once unmounted, Ok(false) when nothing was mounted there, Err when
    /// the unmount failed (the mount is still there).
    fn unmount<'a>(&'a self, node: &'a str, target: &'a str) -> BoxFuture<'a, NodeResult<bool>>;
    /// Sabotage: what a kubelet that died mid-teardown leaves (a volume mount + dir of `pod_uid`).
    fn plant_mount<'a>(&'a self, node: &'a str, pod_uid: &'a str, volume: &'a str) -> BoxFuture<'a, NodeResult<()>>;
    /// Sabotage: a container log (`/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log`) and its link.
    fn plant_pod_log<'a>(&'a self, node: &'a str, namespace: &'a str, pod: &'a str, uid: &'a str, container: &'a str) -> BoxFuture<'a, NodeResult<()>>;
}

/// The embedded cluster's nodes. Its kubelet removes a deleted pod's logs at once, or, under
/// `Timing::Kind`, in a log GC every `log_gc_period` as kind's kubelet does.
pub struct SimNodes(pub cleanroom_sim::nodes::ops::NodeOps, pub std::time::Duration);

impl SimNodes {
    pub fn new(ops: cleanroom_sim::nodes::ops::NodeOps, timing: cleanroom_sim::Timing) -> SimNodes {
        SimNodes(ops, timing.log_gc_period().unwrap_or_default())
    }
}

impl NodeOperations for SimNodes {
    fn nodes(&self) -> Vec<String> {
        self.0.list()
    }
    fn log_gc_period(&self) -> std::time::Duration {
        self.1
    }
    fn cordon<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async move { self.0.cordon(node).await.map_err(|e| e.to_string()) })
    }
    fn uncordon<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async move { self.0.uncordon(node).await.map_err(|e| e.to_string()) })
    }
    fn drain<'a>(&'a self, node: &'a str, ignore_daemonsets: bool, timeout: std::time::Duration) -> BoxFuture<'a, NodeResult<DrainOutcome>> {
        Box::pin(async move {
            let opts = cleanroom_sim::nodes::ops::DrainOptions { ignore_daemonsets, timeout };
            let r = self.0.drain(node, &opts).await.map_err(|e| e.to_string())?;
            Ok(DrainOutcome { evicted: r.evicted, ignored: r.ignored })
        })
    }
    fn restart_kubelet<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<RestartReport>> {
        Box::pin(async move {
            // The embedded kubelet models kind's KillMode=process: it reports the pods whose containers kept running.
            let kept = self.0.restart_kubelet(node).await.map_err(|e| e.to_string())?;
            Ok(RestartReport { containers_restarted: 0, note: Some(format!("{kept} running pod(s) kept their containers")) })
        })
    }
    fn restart_runtime<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<RestartReport>> {
        Box::pin(async move {
            // The embedded kubelet models kind's KillMode=process: it reports the pods whose containers kept running.
            let kept = self.0.restart_runtime(node).await.map_err(|e| e.to_string())?;
            Ok(RestartReport { containers_restarted: 0, note: Some(format!("{kept} running pod(s) kept their containers")) })
        })
    }
    fn mounts<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<NodeMount>>> {
        Box::pin(async move {
            let m = self.0.mounts(node).await.map_err(|e| e.to_string())?;
            Ok(m.into_iter().map(|m| NodeMount { source: m.source, target: m.target, fstype: m.fstype }).collect())
        })
    }
    fn pod_log_dirs<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async move { self.0.pod_log_dirs(node).await.map_err(|e| e.to_string()) })
    }
    fn images<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async move { self.0.images(node).await.map_err(|e| e.to_string()) })
    }
    fn prune_images<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async move { self.0.prune_images(node).await.map_err(|e| e.to_string()) })
    }
    fn remove_path<'a>(&'a self, node: &'a str, path: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async move { self.0.remove_path(node, path).await.map_err(|e| e.to_string()) })
    }
    fn path_exists<'a>(&'a self, node: &'a str, path: &'a str) -> BoxFuture<'a, NodeResult<bool>> {
        Box::pin(async move { self.0.path_exists(node, path).await.map_err(|e| e.to_string()) })
    }
    fn list_dir<'a>(&'a self, node: &'a str, dir: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async move {
            let root = self.0.root(node).map_err(|e| e.to_string())?;
            let p = root.join(dir.trim_start_matches('/'));
            let mut out = Vec::new();
            match std::fs::read_dir(&p) {
                Ok(rd) => {
                    for e in rd.flatten() {
                        out.push(format!("{}/{}", dir.trim_end_matches('/'), e.file_name().to_string_lossy()));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", p.display())),
            }
            out.sort();
            Ok(out)
        })
    }
    fn read_link<'a>(&'a self, node: &'a str, path: &'a str) -> BoxFuture<'a, NodeResult<Option<String>>> {
        Box::pin(async move {
            let root = self.0.root(node).map_err(|e| e.to_string())?;
            match std::fs::read_link(root.join(path.trim_start_matches('/'))) {
                Ok(t) => Ok(Some(t.to_string_lossy().into_owned())),
                // Not a link, or gone: either way there is nothing to resolve.
                Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput) => Ok(None),
                Err(e) => Err(format!("readlink {path}: {e}")),
            }
        })
    }
    fn unmount<'a>(&'a self, node: &'a str, target: &'a str) -> BoxFuture<'a, NodeResult<bool>> {
        Box::pin(async move { self.0.unmount(node, target).await.map_err(|e| e.to_string()) })
    }
    fn plant_mount<'a>(&'a self, node: &'a str, pod_uid: &'a str, volume: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async move { self.0.plant_mount(node, pod_uid, volume).await.map_err(|e| e.to_string()) })
    }
    fn plant_pod_log<'a>(&'a self, node: &'a str, namespace: &'a str, pod: &'a str, uid: &'a str, container: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async move { self.0.plant_pod_log(node, namespace, pod, uid, container).await.map_err(|e| e.to_string()) })
    }
}
