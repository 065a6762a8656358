//! The node-level clean-state check: what the API no longer knows about but the nodes still hold —
//! zombie volume mounts, pod log directories and `/var/log/containers` links, kubelet pod directories
//! and local-path volume directories — each with the likely reason it survived.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{PersistentVolume, Pod};
use kube::api::{Api, ListParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CONTAINER_LOGS, KUBELET_PODS, LOCAL_PATH, POD_LOGS, select_nodes, settle, with_fs_ops};
use cleanroom_core::duration::StepTimeout;
use crate::primitives::{Primitive, StepContext, StepError, StepOutcome};
use crate::providers::NodeOperations;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeftoverKind {
    /// A volume mount under the kubelet dir of a pod that no longer exists.
    ZombieMount,
    /// `/var/lib/kubelet/pods/<uid>` of a gone pod.
    KubeletPodDir,
    /// `/var/log/pods/<ns>_<pod>_<uid>` of a gone pod.
    PodLogDir,
    /// A `/var/log/containers` link whose log file is gone.
    DanglingLink,
    /// A `/var/log/containers` link into the logs of a gone pod.
    OrphanLink,
    /// `/var/local-path-provisioner/pvc-<uid>_<ns>_<pvc>` whose PersistentVolume is gone.
    LocalPathDir,
}

/// One node-level leftover: where it is and why it likely survived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeLeftover {
    pub node: String,
    pub kind: LeftoverKind,
    /// Node-internal path (the mount target for a zombie mount).
    pub path: String,
    pub reason: String,
}

impl NodeLeftover {
    pub fn line(&self) -> String {
        let what = match self.kind {
            LeftoverKind::ZombieMount => "mount",
            LeftoverKind::KubeletPodDir | LeftoverKind::PodLogDir | LeftoverKind::LocalPathDir => "dir",
            LeftoverKind::DanglingLink | LeftoverKind::OrphanLink => "link",
        };
        format!("{}: {what} {}: {}", self.node, self.path, self.reason)
    }
}

/// What one node holds, read before the API is asked (so nothing created meanwhile looks orphaned).
struct NodeState {
    node: String,
    mounts: Vec<(String, String)>,
    log_dirs: Vec<String>,
    links: Vec<(String, Option<String>, bool)>,
    pod_dirs: Vec<String>,
    local_paths: Vec<String>,
}

fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// `<ns>_<pod>_<uid>` (names and namespaces cannot contain `_`).
fn split3(name: &str) -> Option<(&str, &str, &str)> {
    let mut it = name.splitn(3, '_');
    Some((it.next()?, it.next()?, it.next()?))
}

/// The pod uid a kubelet path belongs to: `/var/lib/kubelet/pods/<uid>/...`.
fn uid_of_kubelet_path(path: &str) -> Option<&str> {
    path.strip_prefix(KUBELET_PODS)?.strip_prefix('/')?.split('/').next().filter(|u| !u.is_empty())
}

async fn read_node(ops: &dyn NodeOperations, node: &str) -> Result<NodeState, StepError> {
    let err = |what: &str| {
        let what = format!("{what} on {node}");
        move |e: String| StepError::Failed(format!("{what}: {e}"))
    };
    let mounts = ops.mounts(node).await.map_err(err("read mounts"))?.into_iter().map(|m| (m.target, m.fstype)).collect();
    let log_dirs = ops.list_dir(node, POD_LOGS).await.map_err(err("list pod logs"))?;
    let mut links = Vec::new();
    for l in ops.list_dir(node, CONTAINER_LOGS).await.map_err(err("list container logs"))? {
        let target = ops.read_link(node, &l).await.map_err(err("readlink"))?;
        let resolved = target.as_deref().map(|t| resolve(CONTAINER_LOGS, t));
        let alive = match &resolved {
            Some(r) => ops.path_exists(node, r).await.map_err(err("stat"))?,
            None => true,
        };
        links.push((l, resolved, alive));
    }
    let pod_dirs = ops.list_dir(node, KUBELET_PODS).await.map_err(err("list kubelet pods"))?;
    let local_paths = ops.list_dir(node, LOCAL_PATH).await.map_err(err("list local-path volumes"))?;
    Ok(NodeState { node: node.to_string(), mounts, log_dirs, links, pod_dirs, local_paths })
}

/// A link target relative to the link's directory, as a node-internal absolute path.
fn resolve(dir: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') { Vec::new() } else { dir.split('/').filter(|c| !c.is_empty()).collect() };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Scan `nodes` (all when empty) for node-level leftovers.
pub async fn scan(ctx: &StepContext, ops: &dyn NodeOperations, nodes: &[String]) -> Result<Vec<NodeLeftover>, StepError> {
    let nodes = select_nodes(ops, nodes)?;
    let mut states = Vec::new();
    for n in &nodes {
        states.push(read_node(ops, n).await?);
    }
    let pods = Api::<Pod>::all(ctx.client.clone()).list_metadata(&ListParams::default()).await.map_err(StepError::kube("list pods"))?;
    let live: BTreeSet<String> = pods.items.iter().filter_map(|p| p.metadata.uid.clone()).collect();
    let pvs = Api::<PersistentVolume>::all(ctx.client.clone()).list_metadata(&ListParams::default()).await.map_err(StepError::kube("list persistent volumes"))?;
    let pv_names: BTreeSet<String> = pvs.items.iter().filter_map(|p| p.metadata.name.clone()).collect();

    // Names of gone pods, from their log dirs on any node: reasons read better with ns/name.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for s in &states {
        for d in &s.log_dirs {
            if let Some((ns, pod, uid)) = split3(base(d)) {
                names.insert(uid.to_string(), format!("{ns}/{pod}"));
            }
        }
    }
    let who = |uid: &str| match names.get(uid) {
        Some(n) => format!("pod {n} (uid {uid})"),
        None => format!("pod with uid {uid}"),
    };

    let mut out = Vec::new();
    for s in &states {
        let mut push = |kind, path: &str, reason: String| out.push(NodeLeftover { node: s.node.clone(), kind, path: path.to_string(), reason });
        for (target, fstype) in &s.mounts {
            let Some(uid) = uid_of_kubelet_path(target) else { continue };
            if !live.contains(uid) {
                push(LeftoverKind::ZombieMount, target, format!(
                    "{} no longer exists; its volume mount ({fstype}) was not unmounted (kubelet restarted mid-teardown?)", who(uid)));
            }
        }
        for d in &s.pod_dirs {
            let uid = base(d);
            if live.contains(uid) {
                continue;
            }
            let prefix = format!("{d}/");
            let mounted = s.mounts.iter().filter(|(t, _)| t.starts_with(&prefix)).count();
            let why = if mounted > 0 {
                format!("its kubelet directory was not removed: {mounted} volume(s) still mounted in it")
            } else {
                "its kubelet directory was not removed (kubelet down while the pod was deleted?)".to_string()
            };
            push(LeftoverKind::KubeletPodDir, d, format!("{} no longer exists; {why}", who(uid)));
        }
        for d in &s.log_dirs {
            let Some((_, _, uid)) = split3(base(d)) else { continue };
            if !live.contains(uid) {
                push(LeftoverKind::PodLogDir, d, format!(
                    "{} no longer exists; its log directory was not removed (kubelet garbage collection did not run for it)", who(uid)));
            }
        }
        for (link, target, alive) in &s.links {
            let Some(target) = target else { continue };
            if !alive {
                push(LeftoverKind::DanglingLink, link, format!("dangling: its log file {target} is gone (container log removed without its link)"));
                continue;
            }
            let uid = target.strip_prefix(POD_LOGS).and_then(|r| r.strip_prefix('/')).and_then(|r| r.split('/').next()).and_then(split3).map(|(_, _, u)| u);
            if let Some(uid) = uid.filter(|u| !live.contains(*u)) {
                push(LeftoverKind::OrphanLink, link, format!("points into the logs of {}, which no longer exists", who(uid)));
            }
        }
        for d in &s.local_paths {
            let name = base(d);
            let Some((pv, ns, pvc)) = split3(name) else { continue };
            if !pv.starts_with("pvc-") || pv_names.contains(pv) {
                continue;
            }
            push(LeftoverKind::LocalPathDir, d, format!(
                "PersistentVolume {pv} (claim {ns}/{pvc}) no longer exists; its local-path directory was not removed (reclaim policy Retain, or the provisioner was gone when the PV was deleted?)"));
        }
    }
    out.sort_by(|a, b| (&a.node, a.kind, &a.path).cmp(&(&b.node, b.kind, &b.path)));
    Ok(out)
}

/// Fail when any node holds leftovers of pods or volumes that no longer exist, naming each one
/// with the likely reason. Logs the kubelet's own GC will still remove are re-read until they are gone
/// or have outlived `gcGrace`; those still within it when the step ends are listed as pending kubelet GC.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "NodeAssertClean")]
pub struct AssertClean {
    /// Nodes to check (default: every node).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// How long a deleted pod's logs may stay before they count as a leftover: the kubelet removes them
    /// in its container GC, once a minute (default: 65s on kind, 0 on the embedded cluster, whose kubelet
    /// removes them with the pod). Give the step a longer `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_grace: Option<StepTimeout>,
}

impl Primitive for AssertClean {
    fn describe(&self) -> String {
        "no node-level leftovers".to_string()
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let ops = with_fs_ops!(ctx, "node.assert-clean");
            let grace = self.gc_grace.map(|g| g.0).unwrap_or_else(|| settle::default_grace(&*ops));
            let settled = settle::settle(ctx, &*ops, &self.nodes, grace).await?;
            let checked = if self.nodes.is_empty() { ops.nodes().len() } else { self.nodes.len() };
            let pending: Vec<String> = settled.pending.iter().map(|l| format!("  - {} (pending kubelet GC)", l.line())).collect();
            for l in &settled.pending {
                ctx.finding(format!("node.assert-clean: pending kubelet GC, not a leftover: {}", l.line()));
            }
            if settled.leftovers.is_empty() {
                let mut detail = format!("clean: no node-level leftovers on {checked} node(s)");
                if !pending.is_empty() {
                    detail.push_str(&format!("; {} path(s) pending kubelet GC (seen for less than {}s):\n{}", pending.len(), grace.as_secs(), pending.join("\n")));
                }
                return Ok(StepOutcome::done(detail));
            }
            let listing: Vec<String> = settled.leftovers.iter().map(|l| format!("  - {}", l.line())).collect();
            let mut text = format!("{} node-level leftover(s):\n{}", settled.leftovers.len(), listing.join("\n"));
            if !pending.is_empty() {
                text.push_str(&format!("\nnot counted, pending kubelet GC:\n{}", pending.join("\n")));
            }
            Err(StepError::Failed(text))
        })
    }
}

/// Remove exactly what `node.assert-clean` reports: unmount zombie mounts, then remove the leftover
/// directories and links. Each removal is listed in the report's findings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NodeCleanup")]
pub struct Cleanup {
    /// Nodes to clean (default: every node).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
}

impl Primitive for Cleanup {
    fn describe(&self) -> String {
        "node-level cleanup".to_string()
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let ops = with_fs_ops!(ctx, "node.cleanup");
            let found = scan(ctx, &*ops, &self.nodes).await?;
            let fail = |l: &NodeLeftover, what: &str| {
                let at = format!("{what} {} on {}", l.path, l.node);
                move |e: String| StepError::Failed(format!("{at}: {e}"))
            };
            let (mut unmounted, mut removed) = (0, 0);
            // Unmount first, deepest first (a parent cannot go while a child is mounted below it):
            // removing a directory under a live mount would destroy the mounted data. A failed
            // unmount stops the cleanup before anything is removed.
            for l in unmount_order(&found) {
                if ops.unmount(&l.node, &l.path).await.map_err(fail(l, "unmount"))? {
                    ctx.finding(format!("node.cleanup: unmounted {}:{} ({})", l.node, l.path, l.reason));
                    unmounted += 1;
                } else {
                    ctx.finding(format!("node.cleanup: {}:{} was no longer mounted", l.node, l.path));
                }
            }
            let mut mounts: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for l in found.iter().filter(|l| l.kind != LeftoverKind::ZombieMount) {
                if !mounts.contains_key(&l.node) {
                    let m = ops.mounts(&l.node).await.map_err(fail(l, "read mounts before removing"))?;
                    mounts.insert(l.node.clone(), m.into_iter().map(|m| m.target).collect());
                }
                let below = format!("{}/", l.path);
                if let Some(m) = mounts[&l.node].iter().find(|t| **t == l.path || t.starts_with(&below)) {
                    return Err(StepError::Failed(format!("refusing to remove {} on {}: {m} is still mounted", l.path, l.node)));
                }
                ops.remove_path(&l.node, &l.path).await.map_err(fail(l, "remove"))?;
                ctx.finding(format!("node.cleanup: removed {}:{} ({})", l.node, l.path, l.reason));
                removed += 1;
            }
            if found.is_empty() {
                return Ok(StepOutcome::done("nothing to clean: no node-level leftovers"));
            }
            let list: Vec<String> = found.iter().map(|l| format!("{}:{}", l.node, l.path)).collect();
            Ok(StepOutcome::done(format!("unmounted {unmounted} mount(s), removed {removed} path(s): {}", list.join(", "))))
        })
    }
}

/// Zombie mounts, deepest path first.
pub fn unmount_order(found: &[NodeLeftover]) -> Vec<&NodeLeftover> {
    let mut m: Vec<&NodeLeftover> = found.iter().filter(|l| l.kind == LeftoverKind::ZombieMount).collect();
    m.sort_by(|a, b| b.path.matches('/').count().cmp(&a.path.matches('/').count()).then_with(|| b.path.cmp(&a.path)));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_node_paths() {
        assert_eq!(resolve("/var/log/containers", "../pods/ns_p_u/c/0.log"), "/var/log/pods/ns_p_u/c/0.log");
        assert_eq!(resolve("/var/log/containers", "/abs/x"), "/abs/x");
        assert_eq!(uid_of_kubelet_path("/var/lib/kubelet/pods/abc/volumes/x"), Some("abc"));
        assert_eq!(uid_of_kubelet_path("/var/lib/kubelet/plugins/x"), None);
        assert_eq!(split3("pvc-1_ns_data-0"), Some(("pvc-1", "ns", "data-0")));
    }

    #[test]
    fn unmounts_deepest_first() {
        let m = |path: &str| NodeLeftover { node: "n".into(), kind: LeftoverKind::ZombieMount, path: path.into(), reason: String::new() };
        let found = vec![m("/var/lib/kubelet/pods/u/volumes/a"), m("/var/lib/kubelet/pods/u/volumes/a/b/c"), m("/var/lib/kubelet/pods/u/volumes/a/b")];
        let order: Vec<&str> = unmount_order(&found).iter().map(|l| l.path.as_str()).collect();
        assert_eq!(order, ["/var/lib/kubelet/pods/u/volumes/a/b/c", "/var/lib/kubelet/pods/u/volumes/a/b", "/var/lib/kubelet/pods/u/volumes/a"]);
    }
}
