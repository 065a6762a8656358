//! Which webhooks a request selects (k8s.io/apiserver `admission/plugin/webhook/predicates`):
//! rules (operations, groups, versions, resources, scope), namespaceSelector, objectSelector.

use serde_json::Value;

use crate::api::selectors::{from_label_selector_json, LabelSelector};
use crate::api::object;
use crate::server::{ApiServer, Operation};

/// The request as the matcher sees it.
pub struct RequestAttrs<'a> {
    pub op: Operation,
    pub group: &'a str,
    pub version: &'a str,
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub namespaced: bool,
    pub namespace: Option<&'a str>,
    pub kind: &'a str,
    pub object: Option<&'a Value>,
    pub old: Option<&'a Value>,
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn op_matches(rule: &Value, op: Operation) -> bool {
    strs(rule, "operations").iter().any(|o| o == "*" || o == op.as_str())
}

fn group_matches(rule: &Value, group: &str) -> bool {
    strs(rule, "apiGroups").iter().any(|g| g == "*" || g == group)
}

fn version_matches(rule: &Value, version: &str) -> bool {
    strs(rule, "apiVersions").iter().any(|v| v == "*" || v == version)
}

/// `resources` entries: `*` (all resources, no subresources), `*/*` (everything), `x/*`,
/// `*/status`, `x/status`, `x`.
fn resource_matches(rule: &Value, resource: &str, sub: Option<&str>) -> bool {
    let want_sub = sub.unwrap_or("");
    strs(rule, "resources").iter().any(|r| {
        let (rres, rsub) = match r.split_once('/') {
            Some((a, b)) => (a, b),
            None => (r.as_str(), ""),
        };
        (rres == "*" || rres == resource) && (rsub == "*" || rsub == want_sub)
    })
}

fn scope_matches(rule: &Value, namespaced: bool) -> bool {
    match rule.get("scope").and_then(|s| s.as_str()).unwrap_or("*") {
        "Cluster" => !namespaced,
        "Namespaced" => namespaced,
        _ => true,
    }
}

/// Does any rule of `webhook` select this request? With matchPolicy Equivalent, another served
/// version of the same group/resource counts as a match (all versions here share storage).
pub fn rules_match(server: &ApiServer, webhook: &Value, req: &RequestAttrs<'_>) -> bool {
    let equivalent = webhook.get("matchPolicy").and_then(|m| m.as_str()).unwrap_or("Equivalent") == "Equivalent";
    let Some(rules) = webhook.get("rules").and_then(|r| r.as_array()) else { return false };
    rules.iter().any(|rule| {
        if !(op_matches(rule, req.op) && group_matches(rule, req.group) && resource_matches(rule, req.resource, req.subresource) && scope_matches(rule, req.namespaced)) {
            return false;
        }
        if version_matches(rule, req.version) {
            return true;
        }
        equivalent && strs(rule, "apiVersions").iter().any(|v| server.registry.get(req.group, v, req.resource).is_some())
    })
}

fn selector(webhook: &Value, key: &str) -> LabelSelector {
    // Absent or null selectors default to `{}` (everything) in admissionregistration/v1.
    match webhook.get(key) {
        None | Some(Value::Null) => LabelSelector::everything(),
        Some(v) => from_label_selector_json(v).unwrap_or_else(|_| LabelSelector::nothing()),
    }
}

/// namespaceSelector: namespaced objects use their namespace's labels, Namespace objects
/// their own, other cluster-scoped objects always match.
pub fn namespace_matches(server: &ApiServer, webhook: &Value, req: &RequestAttrs<'_>) -> bool {
    let sel = selector(webhook, "namespaceSelector");
    if sel.is_empty() {
        return true;
    }
    if req.group.is_empty() && req.kind == "Namespace" {
        let obj = req.object.or(req.old);
        return obj.is_some_and(|o| sel.matches(object::labels(o)));
    }
    if !req.namespaced {
        return true;
    }
    let Some(ns) = req.namespace else { return true };
    match server.store.get("namespaces", "", ns) {
        Some(nsobj) => sel.matches(object::labels(&nsobj)),
        // kube-apiserver fails the request when the namespace cannot be read; a missing
        // namespace is rejected earlier by NamespaceLifecycle anyway.
        None => sel.matches(None),
    }
}

/// objectSelector: called when either the new or the old object's labels match.
pub fn object_matches(webhook: &Value, req: &RequestAttrs<'_>) -> bool {
    let sel = selector(webhook, "objectSelector");
    if sel.is_empty() {
        return true;
    }
    [req.object, req.old].into_iter().flatten().any(|o| sel.matches(object::labels(o)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_forms() {
        let r = json!({"resources": ["*"]});
        assert!(resource_matches(&r, "pods", None));
        assert!(!resource_matches(&r, "pods", Some("status")));
        let r = json!({"resources": ["*/*"]});
        assert!(resource_matches(&r, "pods", Some("status")));
        let r = json!({"resources": ["pods/status"]});
        assert!(resource_matches(&r, "pods", Some("status")));
        assert!(!resource_matches(&r, "pods", None));
        let r = json!({"resources": ["*/status"]});
        assert!(resource_matches(&r, "deployments", Some("status")));
    }

    #[test]
    fn scope_and_ops() {
        assert!(scope_matches(&json!({"scope": "Namespaced"}), true));
        assert!(!scope_matches(&json!({"scope": "Cluster"}), true));
        assert!(op_matches(&json!({"operations": ["*"]}), Operation::Delete));
        assert!(!op_matches(&json!({"operations": ["CREATE"]}), Operation::Update));
    }
}
