//! Helpers shared by the workload controllers: write options, owned objects, selectors,
//! status writes, conditions, the pod-template hash, quantities and the dirty set.
//! (Reading object fields, owner references and pod readiness: `crate::api::object`.)

use crate::api::object::At;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::api::errors::ApiResult;
use crate::api::object::{self, controller_ref, is_ready, ns_of, owner_refs, phase, uid_of};
use crate::api::selectors::{self, LabelSelector};
use crate::registry::ResourceType;
use crate::server::{meta, ApiServer, DeleteOptions, Operation, WriteOptions};

pub const KCM: &str = "kube-controller-manager";

pub fn opts(manager: &str) -> WriteOptions {
    WriteOptions { field_manager: Some(manager.to_string()), ..Default::default() }
}

/// Look up a built-in type; they always exist.
pub fn rt(server: &ApiServer, group: &str, version: &str, plural: &str) -> Arc<ResourceType> {
    server.resource(group, version, plural).expect("built-in resource type")
}

/// Objects of `key` in `ns` whose controller is `owner`.
pub fn owned(server: &ApiServer, key: &str, ns: &str, owner_uid: &str) -> Vec<Arc<Value>> {
    server.store.controlled_by(key, ns, owner_uid)
}

pub fn selector(obj: &Value) -> LabelSelector {
    match obj.at("/spec/selector") {
        Some(s) => selectors::from_label_selector_json(s).unwrap_or_else(|_| LabelSelector::nothing()),
        None => LabelSelector::nothing(),
    }
}

/// `SetCondition` as the apps controllers do: unchanged status+reason keeps the old entry
/// (message refreshed); a change moves the condition to the end with fresh timestamps.
pub fn set_condition(status: &mut Map<String, Value>, cond: Value, with_update_time: bool) {
    let now = meta::now_rfc3339();
    let conds = status.entry("conditions").or_insert_with(|| json!([]));
    let Some(list) = conds.as_array_mut() else { return };
    if let Some(cur) = list.iter_mut().find(|c| c["type"] == cond["type"])
        && cur["status"] == cond["status"] && cur["reason"] == cond["reason"] {
            if cur["message"] != cond["message"] {
                cur["message"] = cond["message"].clone();
                if with_update_time {
                    cur["lastUpdateTime"] = json!(now);
                }
            }
            return;
        }
    let keep_transition = list.iter().find(|c| c["type"] == cond["type"]).filter(|c| c["status"] == cond["status"]).map(|c| c["lastTransitionTime"].clone());
    list.retain(|c| c["type"] != cond["type"]);
    let mut c = cond;
    if with_update_time {
        c["lastUpdateTime"] = json!(now);
    }
    c["lastTransitionTime"] = keep_transition.unwrap_or(json!(now));
    list.push(c);
}

/// Write `status` through the status subresource when it differs from the current one.
pub fn write_status(server: &ApiServer, rt: &ResourceType, ns: &str, name: &str, f: impl Fn(&Value) -> Option<Value>) -> ApiResult<()> {
    let o = opts(KCM);
    let r = server.guaranteed_update(rt, ns, name, Some("status"), &o, Operation::Update, |cur| {
        let mut next = cur.clone();
        if let Some(s) = f(cur) {
            next["status"] = s;
        }
        Ok(next)
    });
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Read-modify-write of the main resource (spec/metadata); `f` returns false for "no change".
pub fn update(server: &ApiServer, rt: &ResourceType, ns: &str, name: &str, manager: &str, f: impl Fn(&mut Value) -> bool) -> ApiResult<()> {
    let o = opts(manager);
    let r = server.guaranteed_update(rt, ns, name, None, &o, Operation::Update, |cur| {
        let mut next = cur.clone();
        f(&mut next);
        Ok(next)
    });
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Delete with a uid precondition (never hits a same-named successor).
pub fn delete(server: &ApiServer, rt: &ResourceType, obj: &Value, propagation: Option<crate::server::Propagation>) -> bool {
    let ns = object::str_at(obj, "/metadata/namespace");
    let o = DeleteOptions { propagation, precondition_uid: Some(uid_of(obj).to_string()), ..Default::default() };
    server.delete(rt, ns, object::name_of(obj), &o).is_ok()
}

/// `rand.SafeEncodeString`: every byte mapped into the no-vowel alphabet.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes().map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char).collect()
}

pub fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for b in data {
        h ^= *b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    h
}

/// `controller.ComputeHash`: FNV-32a of the template (+ little-endian collision count),
/// printed in decimal and safe-encoded. The template bytes are its canonical JSON (Go hashes
/// a spew dump of the struct, which cannot be reproduced byte for byte outside Go).
pub fn compute_hash(template: &Value, collision_count: Option<i64>) -> String {
    let mut data = canonical_json(template).into_bytes();
    if let Some(c) = collision_count {
        data.extend_from_slice(&(c as u32).to_le_bytes());
    }
    safe_encode(&fnv32a(&data).to_string())
}

/// JSON with object keys sorted, so equal templates hash equally whatever their key order.
pub fn canonical_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sort(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

/// `intstr` percent or absolute, scaled against `total` (rounding up like maxSurge).
pub fn int_or_percent(v: Option<&Value>, total: i64, round_up: bool, default: i64) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(default),
        Some(Value::String(s)) if s.ends_with('%') => {
            let p: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            let x = p * total as f64 / 100.0;
            if round_up { x.ceil() as i64 } else { x.floor() as i64 }
        }
        Some(Value::String(s)) => s.parse().unwrap_or(default),
        _ => default,
    }
}

/// Pods of `ns` (all of them; callers filter).
pub fn pods(server: &ApiServer, ns: Option<&str>) -> Vec<Arc<Value>> {
    server.store.list("pods", ns).0
}

pub use crate::api::quantity::parse_quantity;

/// The pod's effective request for `res` (sum of containers, at least the largest init container).
pub fn pod_request(pod: &Value, res: &str) -> f64 {
    let sum_of = |key: &str| -> Vec<f64> {
        pod.at(&format!("/spec/{key}")).and_then(|c| c.as_array()).into_iter().flatten()
            .map(|c| c.at(&format!("/resources/requests/{res}")).map(parse_quantity).unwrap_or(0.0)).collect()
    };
    let main: f64 = sum_of("containers").iter().sum();
    let init = sum_of("initContainers").into_iter().fold(0.0, f64::max);
    main.max(init)
}

/// Which objects a controller must resync: named ones, or all (at start / after lag).
pub struct Dirty(parking_lot::Mutex<(bool, std::collections::HashSet<(String, String)>)>);

impl Default for Dirty {
    fn default() -> Self {
        Dirty(parking_lot::Mutex::new((true, Default::default())))
    }
}

impl Dirty {
    pub fn add(&self, ns: &str, name: &str) -> bool {
        self.0.lock().1.insert((ns.to_string(), name.to_string()));
        true
    }
    pub fn all(&self) -> bool {
        self.0.lock().0 = true;
        true
    }
    /// The objects of `key` to sync now.
    pub fn take(&self, server: &ApiServer, key: &str) -> Vec<Arc<Value>> {
        let (all, set) = {
            let mut g = self.0.lock();
            (std::mem::replace(&mut g.0, false), std::mem::take(&mut g.1))
        };
        if all {
            return server.store.list(key, None).0;
        }
        set.iter().filter_map(|(ns, n)| server.store.get(key, ns, n)).collect()
    }
    /// Whether everything is to be synced; if so the flag and the marked keys are taken (cleared).
    pub fn take_all_flag(&self) -> bool {
        let mut g = self.0.lock();
        if g.0 {
            g.1.clear();
        }
        std::mem::replace(&mut g.0, false)
    }
    /// The marked `(namespace, name)` keys, taken (for objects that may be gone).
    pub fn take_keys(&self) -> Vec<(String, String)> {
        std::mem::take(&mut self.0.lock().1).into_iter().collect()
    }
    /// Mark the controller (by kind) of `obj` and of its previous version.
    pub fn add_owner(&self, ev: &crate::store::StoreEvent, kind: &str) -> bool {
        let mut hit = false;
        for o in std::iter::once(&ev.object).chain(ev.prev.iter()) {
            if let Some(r) = owner_refs(o).iter().find(|r| r["controller"] == true && r["kind"] == kind) {
                hit |= self.add(&ev.namespace, r["name"].as_str().unwrap_or(""));
            }
        }
        hit
    }
}

/// Pod template → a new Pod object owned by `owner` (labels, annotations, spec copied).
pub fn pod_from_template(template: &Value, owner: &Value, generate_name: &str) -> Value {
    let mut md = serde_json::Map::new();
    md.insert("generateName".into(), json!(generate_name));
    md.insert("namespace".into(), json!(ns_of(owner)));
    for k in ["labels", "annotations", "finalizers"] {
        if let Some(v) = template.at(&format!("/metadata/{k}")) {
            md.insert(k.into(), v.clone());
        }
    }
    md.insert("ownerReferences".into(), json!([controller_ref(owner)]));
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": template.get("spec").cloned().unwrap_or(json!({}))})
}

/// Pods to delete first when scaling down (`ActivePodsWithRanks` roughly): unscheduled,
/// pending, not ready, then newest.
pub fn deletion_order(pods: &mut [Arc<Value>]) {
    pods.sort_by_key(|p| {
        let scheduled = object::str_at(p, "/spec/nodeName").is_some_and(|n| !n.is_empty());
        let running = phase(p) == "Running";
        let ready = is_ready(p);
        let created = object::str_at(p, "/metadata/creationTimestamp").unwrap_or("").to_string();
        (scheduled, running, ready, std::cmp::Reverse(created))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_encode_maps_digits() {
        // '0'..'9' are bytes 48..57 → indexes 48%27=21 .. 57%27=3.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
    }

    #[test]
    fn hash_is_stable_and_collision_changes_it() {
        let t = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        let a = compute_hash(&t, None);
        assert_eq!(a, compute_hash(&t, None));
        assert_ne!(a, compute_hash(&t, Some(1)));
        assert!(a.len() <= 10);
    }
}
