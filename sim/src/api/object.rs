//! Reading and editing Kubernetes objects held as JSON: metadata fields, owner references,
//! pod phase and readiness, conditions. The one home for these helpers, so the server,
//! controllers, nodes, admission and operators agree on what "ready" or "owned" means.

use serde_json::{json, Map, Value};

/// `Value::pointer` without its per-segment allocation (segments are unescaped only when
/// they hold a `~`): these helpers run on every object every controller pass looks at.
pub fn at<'a>(obj: &'a Value, ptr: &str) -> Option<&'a Value> {
    if ptr.is_empty() {
        return Some(obj);
    }
    let rest = ptr.strip_prefix('/')?;
    if rest.contains('~') {
        return obj.pointer(ptr);
    }
    rest.split('/').try_fold(obj, |v, seg| match v {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().filter(|_| !seg.starts_with('+') && (seg == "0" || !seg.starts_with('0'))).and_then(|i| a.get(i)),
        _ => None,
    })
}

/// `at` as a method, for call sites that read like `obj.pointer(...)`.
pub trait At {
    fn at(&self, ptr: &str) -> Option<&Value>;
}

impl At for Value {
    fn at(&self, ptr: &str) -> Option<&Value> {
        at(self, ptr)
    }
}

/// The string at a JSON pointer, if it is a string.
pub fn str_at<'a>(obj: &'a Value, ptr: &str) -> Option<&'a str> {
    at(obj, ptr).and_then(|v| v.as_str())
}

/// An integer at a JSON pointer, or `default`.
pub fn int_at(obj: &Value, ptr: &str, default: i64) -> i64 {
    at(obj, ptr).and_then(|v| v.as_i64()).unwrap_or(default)
}

/// `metadata` as a map, created when missing (or not an object).
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(|m| m.is_object()) {
        obj["metadata"] = Value::Object(Map::new());
    }
    obj["metadata"].as_object_mut().unwrap()
}

pub fn name_of(obj: &Value) -> &str {
    str_at(obj, "/metadata/name").unwrap_or("")
}

pub fn ns_of(obj: &Value) -> &str {
    str_at(obj, "/metadata/namespace").unwrap_or("")
}

pub fn uid_of(obj: &Value) -> &str {
    str_at(obj, "/metadata/uid").unwrap_or("")
}

pub fn rv_of(obj: &Value) -> Option<u64> {
    str_at(obj, "/metadata/resourceVersion").and_then(|s| s.parse().ok())
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    at(obj, "/metadata/finalizers")
        .and_then(|f| f.as_array())
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

pub fn is_deleting(obj: &Value) -> bool {
    at(obj, "/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// Label map of an object (None when absent).
pub fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    at(obj, "/metadata/labels").and_then(|l| l.as_object())
}

/// Label map of an object as an owned map (empty when absent).
pub fn labels_of(obj: &Value) -> Map<String, Value> {
    labels(obj).cloned().unwrap_or_default()
}

/// True when anything outside metadata and status differs (what bumps `generation`).
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
        m
    };
    strip(old) != strip(new)
}

// --- owner references ------------------------------------------------------------------

/// A controller ownerReference (controller + blockOwnerDeletion), as controllers set them.
pub fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": name_of(owner),
        "uid": uid_of(owner), "controller": true, "blockOwnerDeletion": true,
    })
}

pub fn owner_refs(obj: &Value) -> &[Value] {
    at(obj, "/metadata/ownerReferences").and_then(|o| o.as_array()).map(|a| a.as_slice()).unwrap_or(&[])
}

/// The uid of the controlling owner, if any.
pub fn controller_uid(obj: &Value) -> Option<&str> {
    owner_refs(obj).iter().find(|r| r["controller"] == true).and_then(|r| r["uid"].as_str())
}

pub fn controller_kind(obj: &Value) -> Option<&str> {
    owner_refs(obj).iter().find(|r| r["controller"] == true).and_then(|r| r["kind"].as_str())
}

// --- status: phase, conditions, readiness ------------------------------------------------

pub fn phase(pod: &Value) -> &str {
    str_at(pod, "/status/phase").unwrap_or("")
}

pub fn is_terminal(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Counts toward a controller's replicas: not terminal and not being deleted.
pub fn is_active(pod: &Value) -> bool {
    !is_terminal(pod) && !is_deleting(pod)
}

/// The status condition of type `ty`, if present.
pub fn condition<'a>(obj: &'a Value, ty: &str) -> Option<&'a Value> {
    at(obj, "/status/conditions").and_then(|c| c.as_array())?.iter().find(|c| c["type"] == ty)
}

/// Running with condition Ready=True.
pub fn is_ready(pod: &Value) -> bool {
    phase(pod) == "Running" && condition(pod, "Ready").is_some_and(|c| c["status"] == "True")
}

/// Ready and not being deleted: what a Service endpoint (and so a webhook or an operator's
/// Deployment) needs.
pub fn pod_running_ready(pod: &Value) -> bool {
    is_ready(pod) && !is_deleting(pod)
}

#[cfg(test)]
mod tests {
    #[test]
    fn at_reads_what_pointer_reads() {
        let v = serde_json::json!({"a": {"b/c": 1, "m~n": 2, "l": [10, 11], "": 3}, "x": null});
        for p in ["", "/a", "/a/b~1c", "/a/m~0n", "/a/l/0", "/a/l/1", "/a/l/01", "/a/l/+1", "/a/l/2", "/a/", "/x", "/x/y", "a", "/missing/deeper"] {
            assert_eq!(at(&v, p), v.pointer(p), "{p}");
        }
    }

    use super::*;

    #[test]
    fn readiness() {
        let ready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(is_ready(&ready) && pod_running_ready(&ready));
        let mut deleting = ready.clone();
        deleting["metadata"] = json!({"deletionTimestamp": "2026-01-01T00:00:00Z"});
        assert!(is_ready(&deleting) && !pod_running_ready(&deleting));
        let pending = json!({"status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(!is_ready(&pending));
    }

    #[test]
    fn controller_owner() {
        let owner = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "uid": "u1"}});
        let pod = json!({"metadata": {"ownerReferences": [controller_ref(&owner)]}});
        assert_eq!(controller_uid(&pod), Some("u1"));
        assert_eq!(controller_kind(&pod), Some("ReplicaSet"));
    }
}
