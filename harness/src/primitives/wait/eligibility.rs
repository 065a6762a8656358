//! Which nodes a DaemonSet's pods may run on: nodeSelector, required node affinity, and taints
//! (with the tolerations the DaemonSet controller adds on its own).

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, PodSpec, Taint, Toleration};

/// Tolerations every DaemonSet pod gets (kubernetes `pkg/controller/daemon/util`).
const AUTO_TOLERATED: &[&str] = &[
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/unschedulable",
    "node.kubernetes.io/network-unavailable",
];

pub fn eligible(node: &Node, spec: &PodSpec) -> bool {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    if let Some(sel) = &spec.node_selector
        && !sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return false;
        }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref());
    if let Some(req) = required {
        let any_term = req.node_selector_terms.iter().any(|term| {
            term.match_expressions.iter().flatten().all(|r| requirement_matches(r, &labels))
        });
        if !any_term {
            return false;
        }
    }
    let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let tolerations = spec.tolerations.clone().unwrap_or_default();
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|t| AUTO_TOLERATED.contains(&t.key.as_str()) || tolerations.iter().any(|tol| tolerates(tol, t)))
}

fn requirement_matches(r: &NodeSelectorRequirement, labels: &std::collections::BTreeMap<String, String>) -> bool {
    let values = r.values.clone().unwrap_or_default();
    match r.operator.as_str() {
        "In" => labels.get(&r.key).is_some_and(|v| values.contains(v)),
        "NotIn" => labels.get(&r.key).is_none_or(|v| !values.contains(v)),
        "Exists" => labels.contains_key(&r.key),
        "DoesNotExist" => !labels.contains_key(&r.key),
        _ => true,
    }
}

fn tolerates(tol: &Toleration, t: &Taint) -> bool {
    if let Some(e) = &tol.effect
        && !e.is_empty() && e != &t.effect {
            return false;
        }
    match tol.operator.as_deref().unwrap_or("Equal") {
        "Exists" => tol.key.as_deref().is_none_or(|k| k.is_empty() || k == t.key),
        _ => tol.key.as_deref() == Some(t.key.as_str()) && tol.value.as_deref().unwrap_or("") == t.value.as_deref().unwrap_or(""),
    }
}
