//! Expected churn: changes a healthy cluster makes on its own, which the oracle does not count as leftovers.
//! The defaults are documented in README.md ("Expected churn"); scenarios add rules or turn defaults off.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::inventory::ObjectEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Changed,
    Removed,
    Any,
}

/// A rule that ignores matching differences. Empty fields match anything; `*` globs work in names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChurnRule {
    /// API group (`""` is core); omitted matches any group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which differences the rule covers (default `any`).
    #[serde(default = "any")]
    pub change: ChangeKind,
    /// Only EndpointSlices/Endpoints whose Service exists in both baseline and now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub of_kept_service: bool,
    /// Only objects whose controller (owner) exists in both baseline and now: replacement
    /// pods of kept workloads (after a drain, a restart or an eviction) are not leftovers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub of_kept_owner: bool,
    /// Why this is expected (shown in docs and in `--explain` output).
    #[serde(default)]
    pub reason: String,
}

fn any() -> ChangeKind {
    ChangeKind::Any
}

impl ChurnRule {
    fn new(group: Option<&str>, kind: &str, change: ChangeKind, reason: &str) -> Self {
        ChurnRule {
            group: group.map(str::to_string),
            kind: Some(kind.to_string()),
            namespace: None,
            name: None,
            change,
            of_kept_service: false,
            of_kept_owner: false,
            reason: reason.to_string(),
        }
    }

    pub fn matches(&self, o: &ObjectEntry, change: ChangeKind, kept_service: impl Fn(&str, &str) -> bool, kept_owner: impl Fn(&str) -> bool) -> bool {
        if self.change != ChangeKind::Any && self.change != change {
            return false;
        }
        if let Some(g) = &self.group
            && g != &o.group {
                return false;
            }
        if let Some(k) = &self.kind
            && !k.eq_ignore_ascii_case(&o.kind) {
                return false;
            }
        if let Some(ns) = &self.namespace
            && !glob(ns, o.namespace.as_deref().unwrap_or("")) {
                return false;
            }
        if let Some(n) = &self.name
            && !glob(n, &o.name) {
                return false;
            }
        if self.of_kept_owner && (o.owners.is_empty() || !o.owners.iter().all(|r| kept_owner(&r.uid))) {
            return false;
        }
        if self.of_kept_service {
            let ns = o.namespace.as_deref().unwrap_or("");
            let svc = o.service_name.as_deref().unwrap_or(if o.kind == "Endpoints" { &o.name } else { "" });
            if svc.is_empty() || !kept_service(ns, svc) {
                return false;
            }
        }
        true
    }
}

/// `*` matches any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(p) => rest = &rest[p + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The documented default churn (README.md, "Expected churn").
pub fn default_churn() -> Vec<ChurnRule> {
    use ChangeKind::*;
    let mut rules = vec![
        ChurnRule::new(None, "Event", Any, "events are an ephemeral record of what happened"),
        ChurnRule::new(Some("coordination.k8s.io"), "Lease", Any, "leader election and node heartbeats renew leases"),
        ChurnRule::new(Some(""), "Node", Changed, "kubelets update node status, conditions and labels"),
        ChurnRule::new(Some("apps"), "ControllerRevision", Changed, "controllers rewrite revisions of kept workloads"),
        ChurnRule {
            of_kept_service: true,
            ..ChurnRule::new(Some("discovery.k8s.io"), "EndpointSlice", Any, "endpoint slices of kept services follow their pods")
        },
        ChurnRule {
            of_kept_owner: true,
            ..ChurnRule::new(Some(""), "Pod", Any, "pods of kept workloads are replaced after drains, restarts and evictions")
        },
        ChurnRule {
            of_kept_service: true,
            ..ChurnRule::new(Some(""), "Endpoints", Any, "endpoints of kept services follow their pods")
        },
    ];
    for ns in ["kube-system", "local-path-storage"] {
        rules.push(ChurnRule {
            namespace: Some(ns.into()),
            kind: None,
            ..ChurnRule::new(None, "", Changed, "control-plane components update their own objects")
        });
    }
    rules.push(ChurnRule {
        namespace: Some("kube-node-lease".into()),
        kind: None,
        ..ChurnRule::new(None, "", Any, "node heartbeats")
    });
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn globs() {
        assert!(glob("kube-*", "kube-system"));
        assert!(glob("*-lease", "kube-node-lease"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("kube-*", "monitoring"));
        assert!(glob("x", "x"));
    }
}
