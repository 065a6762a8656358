//! Node primitives: cordon, drain, kubelet/runtime restarts, image pruning, removing node paths, and the
//! node-level clean-state check (`leftovers`) with its sabotage (`sabotage`). They go through the
//! provider's [`NodeOperations`]; without one they are skipped with the reason, never passed.

pub mod leftovers;
pub mod sabotage;
pub mod settle;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Primitive, StepContext, StepError, StepOutcome};
use crate::providers::NodeOperations;
use cleanroom_core::duration::StepTimeout;

pub use leftovers::{AssertClean, Cleanup, LeftoverKind, NodeLeftover};
pub use sabotage::{OrphanPodLogs, ZombieMount};

/// Node-internal areas that `node.remove-path` may touch (and that the leftover scan reads).
pub const KUBELET_PODS: &str = "/var/lib/kubelet/pods";
pub const POD_LOGS: &str = "/var/log/pods";
pub const CONTAINER_LOGS: &str = "/var/log/containers";
pub const LOCAL_PATH: &str = "/var/local-path-provisioner";
pub const REMOVABLE_AREAS: &[&str] = &[KUBELET_PODS, POD_LOGS, CONTAINER_LOGS, LOCAL_PATH];

/// The provider's node operations, or the skip outcome naming the provider.
pub(crate) fn node_ops(ctx: &StepContext, what: &str) -> Result<Arc<dyn NodeOperations>, StepOutcome> {
    ctx.nodes.clone().ok_or_else(|| {
        StepOutcome::skip(format!(
            "{what} is not available on provider `{}`: it offers no node operations (needs the nodes capability)",
            ctx.provider
        ))
    })
}

/// The provider's node operations when they reach node filesystems and processes (kubelet, runtime,
/// mounts, logs, images), or the skip outcome with the provider's reason (kwok's nodes are API objects).
pub(crate) fn node_fs_ops(ctx: &StepContext, what: &str) -> Result<Arc<dyn NodeOperations>, StepOutcome> {
    let ops = node_ops(ctx, what)?;
    match ops.filesystem_unavailable() {
        Some(why) => Err(StepOutcome::skip(format!("{what} is not available on provider `{}`: {why}", ctx.provider))),
        None => Ok(ops),
    }
}

/// Fail early, naming the known nodes, when `node` is not one of them.
pub(crate) fn check_node(ops: &dyn NodeOperations, node: &str) -> Result<(), StepError> {
    let known = ops.nodes();
    if known.iter().any(|n| n == node) {
        Ok(())
    } else {
        Err(StepError::Failed(format!("no node named `{node}`; nodes: {}", known.join(", "))))
    }
}

/// The nodes a step covers: the given ones (checked), or all when none are given.
pub(crate) fn select_nodes(ops: &dyn NodeOperations, given: &[String]) -> Result<Vec<String>, StepError> {
    if given.is_empty() {
        return Ok(ops.nodes());
    }
    for n in given {
        check_node(ops, n)?;
    }
    Ok(given.to_vec())
}

fn op_err(action: String) -> impl FnOnce(String) -> StepError {
    move |e| StepError::Failed(format!("{action}: {e}"))
}

macro_rules! with_ops {
    ($ctx:expr, $what:literal) => {
        match $crate::primitives::node::node_ops($ctx, $what) {
            Ok(ops) => ops,
            Err(skip) => return Ok(skip),
        }
    };
}

macro_rules! with_fs_ops {
    ($ctx:expr, $what:literal) => {
        match $crate::primitives::node::node_fs_ops($ctx, $what) {
            Ok(ops) => ops,
            Err(skip) => return Ok(skip),
        }
    };
}
pub(crate) use with_fs_ops;

/// `kubectl cordon`: mark the node unschedulable.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NodeCordon")]
pub struct Cordon {
    pub node: String,
}

impl Primitive for Cordon {
    fn describe(&self) -> String {
        format!("cordon node {}", self.node)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let ops = with_ops!(ctx, "node.cordon");
            check_node(&*ops, &self.node)?;
            ops.cordon(&self.node).await.map_err(op_err(format!("cordon {}", self.node)))?;
            Ok(StepOutcome::done(format!("cordoned {}", self.node)))
        })
    }
}

/// `kubectl uncordon`: make the node schedulable again.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NodeUncordon")]
pub struct Uncordon {
    pub node: String,
}

impl Primitive for Uncordon {
    fn describe(&self) -> String {
        format!("uncordon node {}", self.node)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let ops = with_ops!(ctx, "node.uncordon");
            check_node(&*ops, &self.node)?;
            ops.uncordon(&self.node).await.map_err(op_err(format!("uncordon {}", self.node)))?;
            Ok(StepOutcome::done(format!("uncordoned {}", self.node)))
        })
    }
}

/// `kubectl drain`: cordon, evict every pod (PodDisruptionBudgets are honoured, so a drain waits for
/// replacements elsewhere) and wait until they are gone.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "NodeDrain")]
pub struct Drain {
    pub node: String,
    /// Leave DaemonSet pods in place (default true); otherwise they make the drain fail.
    #[serde(default = "super::namespace::yes")]
    pub ignore_daemonsets: bool,
    /// Give up after this long (default 30s; keep it below the step timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<StepTimeout>,
}

const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

impl Primitive for Drain {
    fn describe(&self) -> String {
        format!("drain of node {}", self.node)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let ops = with_ops!(ctx, "node.drain");
            check_node(&*ops, &self.node)?;
            let timeout = self.timeout.map(|t| t.0).unwrap_or(DEFAULT_DRAIN_TIMEOUT);
            let r = ops.drain(&self.node, self.ignore_daemonsets, timeout).await.map_err(op_err(format!("drain {}", self.node)))?;
            let mut detail = format!("drained {}: evicted {} pod(s)", self.node, r.evicted.len());
            if !r.evicted.is_empty() {
                detail.push_str(&format!(" ({})", r.evicted.join(", ")));
            }
            if !r.ignored.is_empty() {
                detail.push_str(&format!(", left {} DaemonSet pod(s)", r.ignored.len()));
            }
            Ok(StepOutcome::done(detail))
        })
    }
}

/// Restart the kubelet and wait until it is healthy again. On kind running containers keep running
/// (its `kubelet.service` uses `KillMode=process`, so restartCount stays 0); the detail says how much
/// restartCount rose on the node.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NodeRestartKubelet")]
pub struct RestartKubelet {
    pub node: String,
}

impl Primitive for RestartKubelet {
    fn describe(&self) -> String {
        format!("kubelet restart on {}", self.node)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let ops = with_fs_ops!(ctx, "node.restart-kubelet");
            check_node(&*ops, &self.node)?;
            let r = ops.restart_kubelet(&self.node).await.map_err(op_err(format!("restart kubelet on {}", self.node)))?;
            Ok(StepOutcome::done(restart_detail("the kubelet", &self.node, &r)))
        })
    }
}

/// Restart the container runtime (containerd) and wait until it and the kubelet answer again. On kind
/// running containers keep running (`containerd.service` uses `KillMode=process`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NodeRestartRuntime")]
pub struct RestartRuntime {
    pub node: String,
}

impl Primitive for RestartRuntime {
    fn describe(&self) -> String {
        format!("container runtime restart on {}", self.node)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let ops = with_fs_ops!(ctx, "node.restart-runtime");
            check_node(&*ops, &self.node)?;
            let r = ops.restart_runtime(&self.node).await.map_err(op_err(format!("restart runtime on {}", self.node)))?;
            Ok(StepOutcome::done(restart_detail("the container runtime", &self.node, &r)))
        })
    }
}

fn restart_detail(what: &str, node: &str, r: &crate::providers::nodes::RestartReport) -> String {
    let mut d = format!("restarted {what} on {node}: {} container(s) restarted", r.containers_restarted);
    if let Some(note) = &r.note {
        d.push_str(&format!(" ({note})"));
    }
    d
}

/// Remove images no container uses, on one node or all. On kind only images pulled since the cluster
/// started go: kind's preloaded images and `--load-image`s are recorded at cluster start and kept (a
/// plain `crictl rmi --prune` would remove the local-path helper, and later volumes would need the
/// internet).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NodePruneImages")]
pub struct PruneImages {
    /// One node (default: every node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Primitive for PruneImages {
    fn describe(&self) -> String {
        format!("image prune on {}", self.node.as_deref().unwrap_or("every node"))
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let ops = with_fs_ops!(ctx, "node.prune-images");
            let nodes = select_nodes(&*ops, self.node.as_slice())?;
            let mut per_node = Vec::new();
            let mut total = 0;
            for n in &nodes {
                let gone = ops.prune_images(n).await.map_err(op_err(format!("prune images on {n}")))?;
                total += gone.len();
                per_node.push(format!("{n}: {}", gone.len()));
            }
            Ok(StepOutcome::done(format!("pruned {total} unused image(s) ({})", per_node.join(", "))))
        })
    }
}

/// `rm -rf` of a node path, only inside the kubelet pod, pod log and local-path areas.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NodeRemovePath")]
pub struct RemovePath {
    pub node: String,
    /// Node-internal absolute path, strictly below /var/lib/kubelet/pods, /var/log/pods,
    /// /var/log/containers or /var/local-path-provisioner.
    pub path: String,
}

/// Why `path` may not be removed (None: it may). A typo must never become `rm -rf /`.
pub fn refuse_path(path: &str) -> Option<String> {
    let p = path.strip_suffix('/').unwrap_or(path);
    if !p.starts_with('/') {
        return Some(format!("`{path}` is not an absolute node path"));
    }
    if p[1..].split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Some(format!("`{path}` has empty, `.` or `..` components"));
    }
    let inside = REMOVABLE_AREAS.iter().any(|a| p.strip_prefix(a).is_some_and(|rest| rest.starts_with('/') && rest.len() > 1));
    if !inside {
        return Some(format!("`{path}` is outside the areas node.remove-path may touch (below {})", REMOVABLE_AREAS.join(", ")));
    }
    None
}

impl Primitive for RemovePath {
    fn describe(&self) -> String {
        format!("removal of {} on {}", self.path, self.node)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            if let Some(why) = refuse_path(&self.path) {
                return Err(StepError::Failed(format!("refusing to remove: {why}")));
            }
            let ops = with_fs_ops!(ctx, "node.remove-path");
            check_node(&*ops, &self.node)?;
            let path = self.path.trim_end_matches('/');
            // Removing files under a live mount would destroy the mounted data, not the mount.
            let mounts = ops.mounts(&self.node).await.map_err(op_err(format!("read mounts of {}", self.node)))?;
            let below = format!("{path}/");
            if let Some(m) = mounts.iter().find(|m| m.target == path || m.target.starts_with(&below)) {
                return Err(StepError::Failed(format!(
                    "refusing to remove {path} on {}: {} is still mounted ({}); unmount it first (node.cleanup does)",
                    self.node, m.target, m.fstype
                )));
            }
            let existed = ops.path_exists(&self.node, path).await.map_err(op_err(format!("stat {path} on {}", self.node)))?;
            ops.remove_path(&self.node, path).await.map_err(op_err(format!("remove {path} on {}", self.node)))?;
            ctx.finding(format!("removed node path {}:{path}", self.node));
            Ok(StepOutcome::done(if existed { format!("removed {path} on {}", self.node) } else { format!("{path} on {} was already absent", self.node) }))
        })
    }
}
