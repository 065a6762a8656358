//! Settling: on a real cluster cleanup is asynchronous (a deleted claim's volume is reclaimed seconds later,
//! the garbage collector removes a deleted Deployment's pods over seconds, namespaces terminate in the
//! background). Before deciding, the oracle waits — by watching — until nothing is in flight, or its timeout
//! passes. What is still moving then is reported as in flight, never with a reason that blames the wrong cause.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, select_all};
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use kube::runtime::wait::{await_condition, conditions};

use crate::diff::Diff;
use crate::inventory::{Inventory, InventoryError, ObjectEntry, snapshot};
use crate::reasons::Reason;

/// How long to wait for the cluster to settle.
#[derive(Debug, Clone, Copy)]
pub struct SettleOptions {
    /// Give up waiting after this long (then report what is still moving as in flight).
    pub timeout: Duration,
    /// When only objects held by custom finalizers remain (nothing in the control plane releases those),
    /// stop after this long without any of them going away: they are stuck, not in flight.
    pub quiet: Duration,
}

/// The default settle. kube-controller-manager's garbage collector learns of new resource types (a
/// chart's CRDs) on a 30 s discovery resync, so dependents of custom resources deleted soon after their
/// CRDs appeared can take longer than 30 s to go on a real cluster (seen on kwok under load), or never go
/// when the resource went before the resync (`wait.gc-discovery` gives a scenario a person's pace);
/// 50 s still fits in a step's default 60 s.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(50);

impl Default for SettleOptions {
    fn default() -> Self {
        SettleOptions { timeout: DEFAULT_SETTLE, quiet: Duration::from_secs(2) }
    }
}

/// Why an object is still moving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Motion {
    /// Deleted, finalizers pending.
    Terminating { finalizers: Vec<String> },
    /// A Released volume whose reclaim policy is Delete: its provisioner is deleting it.
    Reclaiming,
    /// A volume still Bound to a claim that no longer exists: the volume controller will release it.
    Releasing { claim: String },
    /// Every owner is gone: the garbage collector will remove it.
    AwaitingGc { owner: String },
}

/// One object in flight when the oracle looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub object: ObjectEntry,
    pub motion: Motion,
}

impl InFlight {
    /// "terminating for 12 s, held by finalizer kubernetes.io/pv-protection".
    pub fn state(&self) -> String {
        match &self.motion {
            Motion::Terminating { finalizers } => {
                let since = self
                    .object
                    .deletion_timestamp
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| format!(" for {} s", (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds().max(0)))
                    .unwrap_or_default();
                match finalizers.as_slice() {
                    [] => format!("terminating{since}"),
                    f => format!("terminating{since}, held by finalizer {}", f.join(", ")),
                }
            }
            Motion::Reclaiming => "Released volume with reclaim policy Delete, being deleted by its provisioner".into(),
            Motion::Releasing { claim } => format!("Bound to claim {claim}, which is gone; the volume controller will release it"),
            Motion::AwaitingGc { owner } => format!("owner {owner} is gone; awaiting the garbage collector"),
        }
    }

    /// Held only by finalizers no built-in controller releases.
    fn held_by_custom_finalizers(&self) -> bool {
        matches!(&self.motion, Motion::Terminating { finalizers }
            if !finalizers.is_empty() && finalizers.iter().all(|f| !(f.starts_with("kubernetes.io/") || f == "kubernetes" || f == "foregroundDeletion" || f == "orphan")))
    }
}

/// Everything in flight in an inventory.
pub fn in_flight(inv: &Inventory) -> Vec<InFlight> {
    let uids: HashSet<&str> = inv.objects.iter().map(|o| o.uid.as_str()).collect();
    // Claims that exist and are not being deleted: a volume bound to one stays, held by pv-protection.
    let all_claims: HashSet<String> = inv
        .objects
        .iter()
        .filter(|o| o.kind == "PersistentVolumeClaim" && o.group.is_empty())
        .map(|o| format!("{}/{}", o.namespace.as_deref().unwrap_or(""), o.name))
        .collect();
    let live_claims: HashSet<String> = inv
        .objects
        .iter()
        .filter(|o| o.kind == "PersistentVolumeClaim" && o.group.is_empty() && o.deletion_timestamp.is_none())
        .map(|o| format!("{}/{}", o.namespace.as_deref().unwrap_or(""), o.name))
        .collect();
    inv.objects
        .iter()
        .filter_map(|o| {
            let held_by_live_claim = o.kind == "PersistentVolume" && o.claim.as_ref().is_some_and(|c| live_claims.contains(c)) && o.phase.as_deref() == Some("Bound");
            let motion = if o.deletion_timestamp.is_some() && held_by_live_claim {
                // Not moving: pv-protection holds it as long as its claim lives (the claim explains it).
                return None;
            } else if o.deletion_timestamp.is_some() {
                Motion::Terminating { finalizers: o.finalizers.clone() }
            } else if o.kind == "PersistentVolume" && o.group.is_empty() && o.phase.as_deref() == Some("Released") && o.reclaim_policy.as_deref() == Some("Delete") {
                Motion::Reclaiming
            } else if let Some(claim) = o.claim.as_ref().filter(|c| o.kind == "PersistentVolume" && o.phase.as_deref() == Some("Bound") && !all_claims.contains(*c)) {
                Motion::Releasing { claim: claim.clone() }
            } else if !o.owners.is_empty() && o.owners.iter().all(|w| !uids.contains(w.uid.as_str())) {
                Motion::AwaitingGc { owner: o.owners.iter().map(|w| format!("{} {}", w.kind, w.name)).collect::<Vec<_>>().join(", ") }
            } else {
                return None;
            };
            Some(InFlight { object: o.clone(), motion })
        })
        .collect()
}

/// An inventory taken once nothing was moving (or the timeout passed), with what still moved.
#[derive(Debug, Clone)]
pub struct Settled {
    pub inventory: Inventory,
    /// In flight at the timeout (empty when the cluster settled).
    pub in_flight: Vec<InFlight>,
    pub waited: Duration,
}

impl Settled {
    /// Leftovers that are still in flight get that as their reason, replacing a guess.
    pub fn mark(&self, diff: &mut Diff) {
        for l in &mut diff.leftovers {
            if let Some(f) = self.in_flight.iter().find(|f| {
                f.object.kind == l.kind && f.object.group == l.group && f.object.namespace == l.namespace && f.object.name == l.name
            }) {
                let reason = Reason::InFlight { state: format!("{} (the oracle waited {} s)", f.state(), self.waited.as_secs()) };
                l.reason = reason.to_string();
                l.reason_code = reason;
            }
        }
    }
}

/// Watches at most this many objects at once; any of them going away triggers a fresh look anyway.
const MAX_WATCHES: usize = 64;

/// Snapshot, and while anything is in flight, watch until one of those objects is gone, then look again,
/// until nothing moves or `opts.timeout` passes.
pub async fn settle(client: &kube::Client, opts: SettleOptions) -> Result<Settled, InventoryError> {
    let started = Instant::now();
    loop {
        let inventory = snapshot(client).await?;
        let moving = in_flight(&inventory);
        let elapsed = started.elapsed();
        if moving.is_empty() || elapsed >= opts.timeout {
            return Ok(Settled { inventory, in_flight: moving, waited: elapsed });
        }
        let stuck_only = moving.iter().all(InFlight::held_by_custom_finalizers);
        let budget = if stuck_only { opts.quiet.min(opts.timeout - elapsed) } else { opts.timeout - elapsed };
        let watches: Vec<BoxFuture<'static, ()>> = moving.iter().take(MAX_WATCHES).map(|f| moved(client.clone(), f)).collect();
        let moved = tokio::time::timeout(budget, select_all(watches)).await.is_ok();
        if !moved {
            let inventory = snapshot(client).await?;
            let mut still = in_flight(&inventory);
            if stuck_only {
                // Nothing releases custom finalizers on its own: these are leftovers, explained as such.
                still.retain(|f| !f.held_by_custom_finalizers());
            }
            return Ok(Settled { inventory, in_flight: still, waited: started.elapsed() });
        }
    }
}

/// Resolves when the object no longer moves as it did: gone (this uid), or for a volume being released,
/// no longer Bound.
fn moved(client: kube::Client, f: &InFlight) -> BoxFuture<'static, ()> {
    let o = &f.object;
    let api_version = if o.group.is_empty() { o.version.clone() } else { format!("{}/{}", o.group, o.version) };
    let ar = ApiResource { group: o.group.clone(), version: o.version.clone(), api_version, kind: o.kind.clone(), plural: o.plural.clone() };
    let api: Api<DynamicObject> = match &o.namespace {
        Some(ns) => Api::namespaced_with(client, ns, &ar),
        None => Api::all_with(client, &ar),
    };
    let (name, uid) = (o.name.clone(), o.uid.clone());
    let releasing = matches!(f.motion, Motion::Releasing { .. });
    async move {
        // A watch error (the type vanished with its CRD) also means: look again.
        if releasing {
            let unbound = move |v: Option<&DynamicObject>| v.is_none_or(|v| v.metadata.uid.as_deref() != Some(uid.as_str()) || v.data.pointer("/status/phase").and_then(|p| p.as_str()) != Some("Bound"));
            let _ = await_condition(api, &name, unbound).await;
        } else {
            let _ = await_condition(api, &name, conditions::is_deleted(&uid)).await;
        }
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::OwnerRef;

    fn entry(kind: &str, name: &str) -> ObjectEntry {
        ObjectEntry { kind: kind.into(), version: "v1".into(), name: name.into(), uid: format!("uid-{name}"), ..Default::default() }
    }

    #[test]
    fn finds_what_is_moving() {
        let mut terminating = entry("PersistentVolumeClaim", "data");
        terminating.deletion_timestamp = Some("2026-01-01T00:00:00Z".into());
        terminating.finalizers = vec!["kubernetes.io/pvc-protection".into()];
        let mut reclaiming = entry("PersistentVolume", "pvc-1");
        reclaiming.phase = Some("Released".into());
        reclaiming.reclaim_policy = Some("Delete".into());
        let mut retained = entry("PersistentVolume", "pvc-2");
        retained.phase = Some("Released".into());
        retained.reclaim_policy = Some("Retain".into());
        let mut orphan = entry("Pod", "web-1");
        orphan.owners = vec![OwnerRef { kind: "ReplicaSet".into(), name: "web".into(), uid: "gone".into() }];
        let mut unclaimed = entry("PersistentVolume", "pvc-3");
        unclaimed.phase = Some("Bound".into());
        unclaimed.claim = Some("ns/deleted".into());
        let mut owned = entry("Pod", "db-0");
        owned.owners = vec![OwnerRef { kind: "StatefulSet".into(), name: "db".into(), uid: "uid-db".into() }];
        let inv = Inventory { objects: vec![terminating, reclaiming, retained, orphan, unclaimed, owned, entry("StatefulSet", "db")], ..Default::default() };
        let moving = in_flight(&inv);
        let names: Vec<&str> = moving.iter().map(|f| f.object.name.as_str()).collect();
        assert_eq!(names, ["data", "pvc-1", "web-1", "pvc-3"]);
        assert_eq!(moving[3].state(), "Bound to claim ns/deleted, which is gone; the volume controller will release it");
        assert!(moving[0].state().starts_with("terminating for "), "{}", moving[0].state());
        assert!(moving[0].state().ends_with("held by finalizer kubernetes.io/pvc-protection"));
        assert!(!moving[0].held_by_custom_finalizers());
        assert_eq!(moving[2].state(), "owner ReplicaSet web is gone; awaiting the garbage collector");
    }

    #[test]
    fn a_volume_held_by_a_live_claim_is_not_moving() {
        let mut pv = entry("PersistentVolume", "pvc-1");
        pv.deletion_timestamp = Some("2026-01-01T00:00:00Z".into());
        pv.finalizers = vec!["kubernetes.io/pv-protection".into()];
        pv.phase = Some("Bound".into());
        pv.claim = Some("ns/data".into());
        let mut claim = entry("PersistentVolumeClaim", "data");
        claim.namespace = Some("ns".into());
        let inv = Inventory { objects: vec![pv.clone(), claim.clone()], ..Default::default() };
        assert!(in_flight(&inv).is_empty(), "its claim keeps it; nothing will release it");
        claim.deletion_timestamp = Some("2026-01-01T00:00:00Z".into());
        let inv = Inventory { objects: vec![pv, claim], ..Default::default() };
        assert_eq!(in_flight(&inv).len(), 2, "both are on their way out");
    }

    #[test]
    fn custom_finalizers_are_stuck_not_moving() {
        let mut cr = entry("Widget", "w");
        cr.deletion_timestamp = Some("2026-01-01T00:00:00Z".into());
        cr.finalizers = vec!["example.com/cleanup".into()];
        assert!(in_flight(&Inventory { objects: vec![cr], ..Default::default() })[0].held_by_custom_finalizers());
    }
}
