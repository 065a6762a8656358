//! Why a leftover likely survived.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::inventory::ObjectEntry;
use cleanroom_core::selectors::{Req, parse_selector, selector_matches};

use crate::PurgeRecord;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Reason {
    /// Being deleted, but a finalizer holds it.
    Terminating { finalizers: Vec<String> },
    /// Has finalizers (never deleted, or they will block deletion).
    FinalizerPresent { finalizers: Vec<String> },
    /// Its owners are gone; the garbage collector did not (or could not) remove it.
    OwnerGone { owner: String },
    /// Annotated `helm.sh/resource-policy: keep`.
    KeptByPolicy,
    /// Has no labels at all, so the purge selector could not match.
    NoLabels { selector: String },
    /// Lacks the key the purge selected on.
    LabelMissing { key: String, selector: String },
    /// Has the key, with another value than the one purged.
    LabelValueDiffers { key: String, value: String, purged: String },
    /// Matched a purge selector but is still here (recreated or deletion failed).
    SurvivedPurge { selector: String },
    /// No purge covered this kind.
    KindNotPurged { kind: String },
    /// Made at run time by a controller or operator (its `managed-by` label), not by Helm:
    /// not in any release manifest, so `helm uninstall` leaves it.
    CreatedBy { manager: String },
    /// CRDs come from a chart's `crds/` directory: Helm installs them and never deletes them.
    CrdNotDeletedByHelm,
    /// A PersistentVolume still bound to a claim, or Released and kept by its reclaim policy.
    Volume { phase: String, reclaim_policy: Option<String> },
    /// Still changing when the oracle stopped waiting (terminating, a Delete-policy volume being
    /// reclaimed, a dependent awaiting the garbage collector): not yet a leftover, not yet gone.
    InFlight { state: String },
    /// Endpoints/EndpointSlices exist as long as their Service does.
    FollowsService { service: String },
    /// A local APIService kube-apiserver's autoregister controller made for a CRD group version: it
    /// goes when the last CRD of that group version does.
    FollowsCrds { group_version: String },
    /// A Helm hook (`helm.sh/hook`): hooks are not in the release manifest, so `helm uninstall` leaves
    /// every hook its `hook-delete-policy` did not remove.
    HelmHook { hook: String },
    /// A claim the StatefulSet controller made from `volumeClaimTemplates` (`<template>-<set>-<ordinal>`):
    /// no release manifest lists it and the default retention policy (Retain) keeps it.
    StatefulSetClaim,
    /// Neither labels nor owner references: made at run time (a hook Job, a script), so no
    /// selector, owner or release manifest reaches it.
    Unreachable,
    /// Namespaces are created outside releases (`--create-namespace`, kubectl) and never
    /// deleted by `helm uninstall`.
    NamespaceNotDeleted,
    /// It lives in a namespace that is itself left over.
    InLeftoverNamespace { namespace: String },
    /// Modified in place (same uid) since the baseline.
    Modified { fields: Vec<String> },
    /// Made by a step of this run (`what`: "CRD applied", "namespace created", "created"), which nothing
    /// deleted afterwards.
    MadeByStep { what: String, step: String },
    /// Appeared while a `kubectl`/`script` step ran (what the command made carries no run label).
    /// `manager`: its kubectl field manager, when one wrote it.
    MadeDuringStep { what: String, step: String, manager: Option<String> },
    /// A CRD or namespace whose field managers show it was not made by Helm (`kubectl`, `cleanroom`).
    NotByHelm { what: String, manager: String },
    Unknown,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Terminating { finalizers } => write!(f, "terminating, held by finalizer {}", finalizers.join(", ")),
            Reason::FinalizerPresent { finalizers } => write!(f, "finalizer present: {}", finalizers.join(", ")),
            Reason::OwnerGone { owner } => write!(f, "owner gone ({owner}) but the object stayed"),
            Reason::KeptByPolicy => f.write_str("kept by policy (helm.sh/resource-policy: keep)"),
            Reason::NoLabels { selector } => write!(f, "no labels, so selector `{selector}` could not match"),
            Reason::LabelMissing { key, selector } => {
                write!(f, "no label `{key}`, so selector `{selector}` could not match")
            }
            Reason::LabelValueDiffers { key, value, purged } => {
                write!(f, "label {key}={value} differs from the purged value `{purged}`")
            }
            Reason::SurvivedPurge { selector } => {
                write!(f, "matches purge selector `{selector}` but survived (recreated, or deletion failed)")
            }
            Reason::KindNotPurged { kind } => write!(f, "no purge covered kind {kind}"),
            Reason::CreatedBy { manager } => {
                write!(f, "created at run time by {manager}, not by Helm: no release manifest lists it, so helm uninstall leaves it")
            }
            Reason::CrdNotDeletedByHelm => f.write_str("CRD from the chart's crds/ directory: helm uninstall never deletes CRDs"),
            Reason::Volume { phase, reclaim_policy } if phase == "Released" => match reclaim_policy.as_deref() {
                Some("Retain") => f.write_str("Released volume kept by its reclaim policy Retain: its claim is gone and nothing deletes a retained volume"),
                Some(p) => write!(f, "Released volume with reclaim policy {p}: its claim is gone and nothing reclaimed it (no provisioner to delete it?)"),
                None => f.write_str("Released volume: its claim is gone and nothing reclaimed it (reclaim policy Retain, or no provisioner to delete it)"),
            },
            Reason::Volume { phase, .. } => write!(f, "volume in phase {phase}: still bound to a claim that is left over"),
            Reason::HelmHook { hook } => write!(
                f,
                "Helm hook ({hook}): hooks are not part of the release manifest, so helm uninstall leaves every hook its hook-delete-policy did not remove"
            ),
            Reason::StatefulSetClaim => f.write_str(
                "claim from a StatefulSet's volumeClaimTemplates: made by the StatefulSet controller, not Helm, and kept by persistentVolumeClaimRetentionPolicy Retain (the default), so helm uninstall leaves it",
            ),
            Reason::InFlight { state } => write!(f, "still in flight: {state}"),
            Reason::FollowsService { service } => write!(f, "belongs to Service {service}, which is left over"),
            Reason::FollowsCrds { group_version } => write!(
                f,
                "registered by kube-apiserver for the CRDs of {group_version}: it goes with the last of them, which is left over"
            ),
            Reason::Unreachable => f.write_str(
                "no labels and no owner: made at run time (e.g. by a hook Job), so no selector, owner or release manifest reaches it",
            ),
            Reason::NamespaceNotDeleted => f.write_str("namespace created outside the release: helm uninstall never deletes namespaces"),
            Reason::InLeftoverNamespace { namespace } => write!(f, "inside leftover namespace {namespace}"),
            Reason::Modified { fields } => write!(f, "modified since baseline: {}", fields.join(", ")),
            Reason::MadeByStep { what, step } => write!(f, "{what} by {step}, not by Helm, and never deleted"),
            Reason::MadeDuringStep { what, step, manager } => {
                let by = manager.as_deref().map(|m| format!(" by {m}")).unwrap_or_default();
                write!(f, "{what} during {step}{by}, not by Helm, and never deleted")
            }
            Reason::NotByHelm { what, manager } => {
                write!(f, "{what} by {manager}, not by Helm (field manager), and nothing deleted it")
            }
            Reason::Unknown => f.write_str("unknown"),
        }
    }
}

/// Finalizers that can keep an object alive. The built-in protection finalizers
/// (`kubernetes.io/pvc-protection`, `kubernetes.io/pv-protection`, `kubernetes`) are on every such object
/// and are released by the control plane, so they only explain a leftover while it is terminating.
fn holding_finalizers(o: &ObjectEntry) -> Vec<String> {
    o.finalizers.iter().filter(|f| !(f.starts_with("kubernetes.io/") || f.as_str() == "kubernetes")).cloned().collect()
}

fn purge_covers(p: &PurgeRecord, o: &ObjectEntry) -> bool {
    let kind_ok = p.kinds.is_empty()
        || p.kinds.iter().any(|k| {
            let k = k.to_ascii_lowercase();
            k == o.kind.to_ascii_lowercase() || k == o.plural || k == format!("{}.{}", o.plural, o.group)
        });
    let ns_ok = match (&p.namespace, &o.namespace) {
        (Some(pn), Some(on)) => pn == on,
        (Some(_), None) => true,
        (None, _) => true,
    };
    kind_ok && ns_ok
}

/// Why an added object likely survived.
pub fn explain(
    o: &ObjectEntry,
    present_uids: &HashSet<&str>,
    leftover_namespaces: &HashSet<&str>,
    purges: &[PurgeRecord],
) -> Reason {
    if o.deletion_timestamp.is_some() && !o.finalizers.is_empty() {
        return Reason::Terminating { finalizers: o.finalizers.clone() };
    }
    if o.resource_policy.as_deref().is_some_and(|p| p.trim().eq_ignore_ascii_case("keep")) {
        return Reason::KeptByPolicy;
    }
    if let Some(reason) = aggregator_reason(o) {
        return reason;
    }
    if !o.owners.is_empty() && o.owners.iter().all(|r| !present_uids.contains(r.uid.as_str())) {
        let first = &o.owners[0];
        return Reason::OwnerGone { owner: format!("{} {}", first.kind, first.name) };
    }
    let covering: Vec<&PurgeRecord> = purges.iter().filter(|p| purge_covers(p, o)).collect();
    if let Some(reason) = label_reason(o, &covering) {
        return reason;
    }
    let holding = holding_finalizers(o);
    if !holding.is_empty() {
        return Reason::FinalizerPresent { finalizers: holding };
    }
    if let Some(reason) = origin_reason(o) {
        return reason;
    }
    if let Some(ns) = o.namespace.as_deref()
        && leftover_namespaces.contains(ns) {
            return Reason::InLeftoverNamespace { namespace: ns.to_string() };
        }
    if covering.is_empty() && !purges.is_empty() {
        return Reason::KindNotPurged { kind: o.kind.clone() };
    }
    // Helm's reasons only for what Helm made (its field manager, or none recorded).
    match (o.group.as_str(), o.kind.as_str()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => not_by_helm(o, "CRD applied").unwrap_or(Reason::CrdNotDeletedByHelm),
        ("", "Namespace") => not_by_helm(o, "namespace created").unwrap_or(Reason::NamespaceNotDeleted),
        _ => Reason::Unknown,
    }
}

/// `what` by a field manager that is not Helm's (kubectl's or cleanroom's), when no Helm manager wrote it.
fn not_by_helm(o: &ObjectEntry, what: &str) -> Option<Reason> {
    if o.managers.iter().any(|m| m.to_ascii_lowercase().contains("helm")) {
        return None;
    }
    let m = o.managers.iter().find(|m| m.starts_with("kubectl") || m.as_str() == "cleanroom")?;
    let who = if m.starts_with("kubectl") { format!("kubectl (`{m}`)") } else { "cleanroom".to_string() };
    Some(Reason::NotByHelm { what: what.into(), manager: who })
}

/// Which step of the run made an object: leftover reasons name it instead of guessing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub group: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// "step 3 `manifests.apply`".
    pub step: String,
    /// It appeared while a command step ran (found by uid, not applied by cleanroom itself).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub during: bool,
}

/// Name the step for added leftovers the run's own steps made whose reason is only a guess (unknown, or
/// Helm's reasons for CRDs and namespaces).
pub fn attribute(d: &mut crate::Diff, origins: &[Origin]) {
    for l in &mut d.leftovers {
        let guess = matches!(
            l.reason_code,
            Reason::Unknown | Reason::CrdNotDeletedByHelm | Reason::NamespaceNotDeleted | Reason::NotByHelm { .. } | Reason::Unreachable
        );
        if !guess || l.change != crate::ChangeKind::Added {
            continue;
        }
        let Some(o) = origins.iter().rev().find(|o| o.group == l.group && o.kind == l.kind && o.namespace == l.namespace && o.name == l.name) else {
            continue;
        };
        let what = match (l.group.as_str(), l.kind.as_str()) {
            ("apiextensions.k8s.io", "CustomResourceDefinition") => "CRD applied",
            ("", "Namespace") => "namespace created",
            _ => "created",
        };
        let reason = match &l.reason_code {
            _ if !o.during => Reason::MadeByStep { what: what.into(), step: o.step.clone() },
            Reason::NotByHelm { manager, .. } => Reason::MadeDuringStep { what: what.into(), step: o.step.clone(), manager: Some(manager.clone()) },
            _ => Reason::MadeDuringStep { what: what.into(), step: o.step.clone(), manager: None },
        };
        l.reason = reason.to_string();
        l.reason_code = reason;
    }
}

/// Where the object came from, when that alone explains why an uninstall left it.
fn origin_reason(o: &ObjectEntry) -> Option<Reason> {
    // A slice the control plane keeps for a Service (endpointslice or endpointslice-mirroring
    // controller) goes with it, whoever labelled the Service or Endpoints it copies its labels from.
    if o.group == "discovery.k8s.io"
        && o.kind == "EndpointSlice"
        && o.labels.get("endpointslice.kubernetes.io/managed-by").is_some_and(|m| m.ends_with(".k8s.io"))
        && let Some(s) = &o.service_name
    {
        return Some(Reason::FollowsService { service: format!("{}/{s}", o.namespace.as_deref().unwrap_or("")) });
    }
    let manager = o.labels.get("app.kubernetes.io/managed-by").or_else(|| o.labels.get("managed-by"));
    if let Some(m) = manager.filter(|m| !m.eq_ignore_ascii_case("helm")) {
        return Some(Reason::CreatedBy { manager: m.clone() });
    }
    if let Some(hook) = &o.helm_hook {
        return Some(Reason::HelmHook { hook: hook.clone() });
    }
    match (o.group.as_str(), o.kind.as_str()) {
        // `<template>-<set>-<ordinal>` with the set's selector labels: the StatefulSet controller's naming.
        ("", "PersistentVolumeClaim") if o.owners.is_empty() && !o.labels.is_empty() && statefulset_claim_name(&o.name) => {
            Some(Reason::StatefulSetClaim)
        }
        ("", "PersistentVolume") => o.phase.clone().map(|phase| Reason::Volume { phase, reclaim_policy: o.reclaim_policy.clone() }),
        ("", "Endpoints") => Some(Reason::FollowsService { service: format!("{}/{}", o.namespace.as_deref().unwrap_or(""), o.name) }),
        ("discovery.k8s.io", "EndpointSlice") => o.service_name.as_ref().map(|s| Reason::FollowsService {
            service: format!("{}/{s}", o.namespace.as_deref().unwrap_or("")),
        }),
        // What the control plane puts in every namespace is explained by the namespace itself.
        ("", "ConfigMap") if o.name == "kube-root-ca.crt" => None,
        ("", "ServiceAccount") if o.name == "default" => None,
        ("", "Secret" | "ConfigMap") if o.labels.is_empty() && o.owners.is_empty() => Some(Reason::Unreachable),
        _ => None,
    }
}

/// kube-aggregator's autoregister controller labels the APIServices it makes for CRD group versions
/// `kube-aggregator.kubernetes.io/automanaged: "true"` and names them `<version>.<group>`.
fn aggregator_reason(o: &ObjectEntry) -> Option<Reason> {
    let automanaged = o.labels.get("kube-aggregator.kubernetes.io/automanaged").is_some_and(|v| v == "true");
    if o.group != "apiregistration.k8s.io" || o.kind != "APIService" || !automanaged {
        return None;
    }
    let (version, group) = o.name.split_once('.')?;
    Some(Reason::FollowsCrds { group_version: format!("{group}/{version}") })
}

/// `data-web-0`: at least two dash-separated parts before a numeric ordinal.
fn statefulset_claim_name(name: &str) -> bool {
    let mut parts = name.rsplitn(2, '-');
    let (Some(ordinal), Some(rest)) = (parts.next(), parts.next()) else { return false };
    !ordinal.is_empty() && ordinal.bytes().all(|b| b.is_ascii_digit()) && rest.contains('-')
}

fn label_reason(o: &ObjectEntry, covering: &[&PurgeRecord]) -> Option<Reason> {
    let first = covering.first()?;
    if covering.iter().any(|p| selector_matches(&p.selector, &o.labels)) {
        let p = covering.iter().find(|p| selector_matches(&p.selector, &o.labels))?;
        let holding = holding_finalizers(o);
        if !holding.is_empty() {
            return Some(Reason::FinalizerPresent { finalizers: holding });
        }
        return Some(Reason::SurvivedPurge { selector: p.selector.clone() });
    }
    if o.labels.is_empty() {
        return Some(Reason::NoLabels { selector: first.selector.clone() });
    }
    // A key the object has with another value beats a key it lacks: it is the likelier slip.
    for p in covering {
        for r in parse_selector(&p.selector) {
            if let Req::Eq(k, v) = &r
                && let Some(have) = o.labels.get(k)
                    && have != v {
                        return Some(Reason::LabelValueDiffers { key: k.clone(), value: have.clone(), purged: v.clone() });
                    }
        }
    }
    for p in covering {
        for r in parse_selector(&p.selector) {
            if let Req::Eq(k, _) | Req::In(k, _) | Req::Exists(k) = &r
                && !o.labels.contains_key(k) {
                    return Some(Reason::LabelMissing { key: k.clone(), selector: p.selector.clone() });
                }
        }
    }
    None
}
