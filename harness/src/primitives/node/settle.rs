//! Tell the kubelet's own log GC from a real leftover. The kubelet removes `/var/log/pods/*_<uid>` of pods
//! it no longer knows and dangling `/var/log/containers` links about once a minute (container GC,
//! `evictPodLogsDirectories` in `kuberuntime_gc.go`), so the logs of a pod deleted a moment ago are
//! still there, and will go on their own. Such paths are re-read until they are gone or have outlived the
//! grace period (then they are leftovers); whatever is still within its grace when the step must end is
//! reported as "pending kubelet GC", never as a leftover.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::leftovers::{LeftoverKind, NodeLeftover, scan};
use super::select_nodes;
use crate::primitives::{StepContext, StepError};
use crate::providers::NodeOperations;

/// Node filesystems cannot be watched through the API, and a watch inside every node would need a
/// process there for the whole step; re-reading once a second is cheap and bounded.
pub const RESCAN_INTERVAL: Duration = Duration::from_secs(1);
/// Stop re-scanning this long before the step's timeout, to report instead of timing out.
const REPORT_MARGIN: Duration = Duration::from_secs(2);
/// Added to the provider's GC period for the default grace (one GC pass may just have been missed).
pub const GC_MARGIN: Duration = Duration::from_secs(5);

/// What the kubelet's log GC removes on its own.
pub fn removed_by_kubelet_gc(kind: LeftoverKind) -> bool {
    matches!(kind, LeftoverKind::PodLogDir | LeftoverKind::DanglingLink | LeftoverKind::OrphanLink)
}

/// The grace for `ops` when the step gives none: its GC period plus a margin, or zero.
pub fn default_grace(ops: &dyn NodeOperations) -> Duration {
    let period = ops.log_gc_period();
    if period.is_zero() { Duration::ZERO } else { period + GC_MARGIN }
}

#[derive(Debug, Default)]
pub struct Settled {
    pub leftovers: Vec<NodeLeftover>,
    /// Still there, but seen for less than the grace: the kubelet's GC may yet remove them.
    pub pending: Vec<NodeLeftover>,
}

/// Scan, then re-scan the nodes holding GC-able paths until each is gone or older than `grace`.
pub async fn settle(ctx: &mut StepContext, ops: &dyn NodeOperations, nodes: &[String], grace: Duration) -> Result<Settled, StepError> {
    let mut scan_nodes = select_nodes(ops, nodes)?;
    let mut by_node: BTreeMap<String, Vec<NodeLeftover>> = BTreeMap::new();
    let mut first_seen: HashMap<(String, String), Instant> = HashMap::new();
    let stop_at = ctx.step_deadline.map(|d| d.checked_sub(REPORT_MARGIN).unwrap_or(d));
    loop {
        let found = scan(ctx, ops, &scan_nodes).await?;
        let now = Instant::now();
        for n in &scan_nodes {
            by_node.insert(n.clone(), Vec::new());
        }
        for l in found {
            by_node.entry(l.node.clone()).or_default().push(l);
        }
        let mut settled = Settled::default();
        for l in by_node.values().flatten() {
            if grace.is_zero() || !removed_by_kubelet_gc(l.kind) {
                settled.leftovers.push(l.clone());
                continue;
            }
            let seen = *first_seen.entry((l.node.clone(), l.path.clone())).or_insert(now);
            if now.duration_since(seen) >= grace {
                let mut l = l.clone();
                l.reason.push_str(&format!(" (still there {}s after it was first seen: past the kubelet's log GC)", grace.as_secs()));
                settled.leftovers.push(l);
            } else {
                settled.pending.push(l.clone());
            }
        }
        let next = now + RESCAN_INTERVAL;
        if settled.pending.is_empty() || stop_at.is_some_and(|s| next >= s) {
            return Ok(settled);
        }
        ctx.observe(format!("{} path(s) pending kubelet GC", settled.pending.len()));
        scan_nodes = settled.pending.iter().map(|l| l.node.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        tokio::time::sleep_until(next).await;
    }
}
