//! Node eligibility shared by the scheduler and the DaemonSet controller: taints and
//! tolerations, nodeSelector, required node affinity (component-helpers' nodeaffinity).

use crate::api::object::At;
use serde_json::{Map, Value};

use crate::api::object;

/// `Toleration.ToleratesTaint`.
pub fn tolerates(tol: &Value, taint: &Value) -> bool {
    let teff = tol["effect"].as_str().unwrap_or("");
    if !teff.is_empty() && teff != taint["effect"].as_str().unwrap_or("") {
        return false;
    }
    let tkey = tol["key"].as_str().unwrap_or("");
    let op = tol["operator"].as_str().unwrap_or("Equal");
    if !tkey.is_empty() && tkey != taint["key"].as_str().unwrap_or("") {
        return false;
    }
    match op {
        "Exists" => true,
        _ => tkey == taint["key"].as_str().unwrap_or("") && tol["value"].as_str().unwrap_or("") == taint["value"].as_str().unwrap_or(""),
    }
}

pub fn tolerations(pod_spec: &Value) -> &[Value] {
    pod_spec.get("tolerations").and_then(|t| t.as_array()).map(|a| a.as_slice()).unwrap_or(&[])
}

/// The first NoSchedule/NoExecute taint of `node` the pod does not tolerate.
pub fn untolerated_taint<'a>(pod_spec: &Value, node: &'a Value) -> Option<&'a Value> {
    let tols = tolerations(pod_spec);
    node.at("/spec/taints").and_then(|t| t.as_array()).into_iter().flatten().find(|taint| {
        matches!(taint["effect"].as_str(), Some("NoSchedule" | "NoExecute")) && !tols.iter().any(|t| tolerates(t, taint))
    })
}

/// `{key: value}` as the TaintToleration plugin prints it.
pub fn taint_text(taint: &Value) -> String {
    format!("{{{}: {}}}", taint["key"].as_str().unwrap_or(""), taint["value"].as_str().unwrap_or(""))
}

fn requirement_matches(req: &Value, value: Option<&str>) -> bool {
    let vals: Vec<&str> = req["values"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
    match req["operator"].as_str().unwrap_or("") {
        "In" => value.is_some_and(|v| vals.contains(&v)),
        "NotIn" => !value.is_some_and(|v| vals.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        op @ ("Gt" | "Lt") => {
            let (Some(v), Some(bound)) = (value.and_then(|v| v.parse::<i64>().ok()), vals.first().and_then(|b| b.parse::<i64>().ok())) else { return false };
            if op == "Gt" { v > bound } else { v < bound }
        }
        _ => false,
    }
}

/// One `NodeSelectorTerm`: all expressions and fields match; an empty term matches nothing.
pub fn term_matches(term: &Value, node: &Value) -> bool {
    let exprs = term["matchExpressions"].as_array().map(|a| a.as_slice()).unwrap_or(&[]);
    let fields = term["matchFields"].as_array().map(|a| a.as_slice()).unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = object::labels(node);
    exprs.iter().all(|e| requirement_matches(e, labels.and_then(|l| l.get(e["key"].as_str().unwrap_or(""))).and_then(|v| v.as_str())))
        && fields.iter().all(|f| f["key"] == "metadata.name" && requirement_matches(f, Some(object::name_of(node))))
}

/// A `NodeSelector` (ORed terms).
pub fn node_selector_matches(sel: &Value, node: &Value) -> bool {
    sel["nodeSelectorTerms"].as_array().is_some_and(|terms| terms.iter().any(|t| term_matches(t, node)))
}

/// nodeSelector and requiredDuringSchedulingIgnoredDuringExecution both match.
pub fn matches_node_affinity(pod_spec: &Value, node: &Value) -> bool {
    let empty = Map::new();
    let labels = object::labels(node).unwrap_or(&empty);
    if let Some(sel) = pod_spec.get("nodeSelector").and_then(|s| s.as_object())
        && !sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return false;
        }
    match pod_spec.at("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution") {
        Some(req) if !req.is_null() => node_selector_matches(req, node),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tolerations_and_affinity() {
        let node = json!({"metadata": {"name": "n1", "labels": {"kubernetes.io/os": "linux", "size": "5"}},
            "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}});
        let pod = json!({"nodeSelector": {"kubernetes.io/os": "linux"}});
        assert!(untolerated_taint(&pod, &node).is_some());
        let pod = json!({"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]});
        assert!(untolerated_taint(&pod, &node).is_none());
        let pod = json!({"tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]});
        assert!(untolerated_taint(&pod, &node).is_none());
        assert_eq!(taint_text(&node["spec"]["taints"][0]), "{node-role.kubernetes.io/control-plane: }");
        let aff = |req: Value| json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [req]}}}});
        assert!(matches_node_affinity(&aff(json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]})), &node));
        assert!(!matches_node_affinity(&aff(json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]})), &node));
        assert!(matches_node_affinity(&aff(json!({"matchExpressions": [{"key": "size", "operator": "Gt", "values": ["4"]}]})), &node));
        assert!(!matches_node_affinity(&aff(json!({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]})), &node));
        assert!(matches_node_affinity(&aff(json!({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]})), &node));
        assert!(!matches_node_affinity(&json!({"nodeSelector": {"kubernetes.io/os": "windows"}}), &node));
    }
}
