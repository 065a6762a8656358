//! ResourceQuota, as kube-apiserver's `ResourceQuota` admission plugin and kube-controller-manager's
//! resourcequota controller enforce and report it (k8s.io/apiserver admission/plugin/resourcequota,
//! pkg/quota/v1/evaluator/core): a create that would take a namespace's usage past a quota's `hard`
//! is forbidden with `exceeded quota: <q>, requested: …, used: …, limited: …`; a pod without the
//! requests or limits a quota tracks is forbidden with `failed quota: <q>: must specify …`; the
//! controller (`crate::controllers::resourcequota`) keeps `status.hard` and `status.used`, which `kubectl get
//! quota` prints. Here, at the server's level, so that both the plugin and the controller use it.
//!
//! Tracked: `pods`, `count/<resource>[.<group>]`, `configmaps`, `secrets`, `services`,
//! `services.nodeports`, `services.loadbalancers`, `persistentvolumeclaims`, `requests.storage`,
//! `cpu`/`requests.cpu`, `memory`/`requests.memory`, `limits.cpu`, `limits.memory`. Quota scopes
//! (`Terminating`, `BestEffort`, …) are not evaluated: a scoped quota counts every object. Usage is
//! counted from the store when a request is admitted, so back-to-back creates see each other.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::errors::{ApiError, ApiResult};
use crate::api::object;
use crate::api::quantity::parse_quantity;
use crate::server::{AdmissionPlugin, AdmissionRequest, ApiServer, Operation};

pub const QUOTAS: &str = "resourcequotas";

/// The compute resources a pod must declare when a quota tracks them.
const COMPUTE: &[&str] = &["cpu", "requests.cpu", "memory", "requests.memory", "limits.cpu", "limits.memory"];

/// What one object counts toward, for the keys a quota may name (`plural`/`group` of its resource).
pub fn usage_of(plural: &str, group: &str, obj: &Value) -> BTreeMap<String, f64> {
    let mut u = BTreeMap::new();
    let count_key = if group.is_empty() { format!("count/{plural}") } else { format!("count/{plural}.{group}") };
    u.insert(count_key, 1.0);
    if !group.is_empty() {
        return u;
    }
    match plural {
        "pods" => {
            u.insert("pods".into(), 1.0);
            for (res, keys) in [("cpu", ["cpu", "requests.cpu"]), ("memory", ["memory", "requests.memory"])] {
                if let Some(v) = pod_sum(obj, "requests", res) {
                    for k in keys {
                        u.insert(k.into(), v);
                    }
                }
                if let Some(v) = pod_sum(obj, "limits", res) {
                    u.insert(format!("limits.{res}"), v);
                }
            }
        }
        "services" => {
            u.insert("services".into(), 1.0);
            match obj.pointer("/spec/type").and_then(Value::as_str) {
                Some("LoadBalancer") => {
                    u.insert("services.loadbalancers".into(), 1.0);
                    u.insert("services.nodeports".into(), node_ports(obj));
                }
                Some("NodePort") => {
                    u.insert("services.nodeports".into(), node_ports(obj));
                }
                _ => {}
            }
        }
        "persistentvolumeclaims" => {
            u.insert("persistentvolumeclaims".into(), 1.0);
            let storage = obj.pointer("/spec/resources/requests/storage").map(parse_quantity).unwrap_or(0.0);
            u.insert("requests.storage".into(), storage);
            if let Some(sc) = obj.pointer("/spec/storageClassName").and_then(Value::as_str) {
                u.insert(format!("{sc}.storageclass.storage.k8s.io/requests.storage"), storage);
                u.insert(format!("{sc}.storageclass.storage.k8s.io/persistentvolumeclaims"), 1.0);
            }
        }
        "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas" => {
            u.insert(plural.into(), 1.0);
        }
        _ => {}
    }
    u
}

fn node_ports(svc: &Value) -> f64 {
    svc.pointer("/spec/ports").and_then(Value::as_array).map(|p| p.len() as f64).unwrap_or(0.0)
}

/// Sum over containers (at least the largest init container) of `requests`/`limits` of `res`; None
/// when no container declares it.
fn pod_sum(pod: &Value, kind: &str, res: &str) -> Option<f64> {
    let values = |key: &str| -> Vec<Option<f64>> {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| c.pointer(&format!("/resources/{kind}/{res}")).map(parse_quantity))
            .collect()
    };
    let (main, init) = (values("containers"), values("initContainers"));
    if main.iter().chain(&init).all(Option::is_none) {
        return None;
    }
    let sum: f64 = main.iter().flatten().sum();
    Some(init.iter().flatten().fold(sum, |a, b| a.max(*b)))
}

/// Whether the object counts toward usage (terminal or deleted pods do not).
fn counts(plural: &str, obj: &Value) -> bool {
    !(plural == "pods" && (object::is_terminal(obj) || object::is_deleting(obj)))
}

/// What an object stored under `key` (`plural` or `group/plural`) charges: nothing once it no longer
/// counts (a terminal or deleting pod).
pub fn charge_of(key: &str, obj: &Value) -> BTreeMap<String, f64> {
    let (group, plural) = key.split_once('/').unwrap_or(("", key));
    if counts(plural, obj) { usage_of(plural, group, obj) } else { BTreeMap::new() }
}

/// The namespace's usage of every key `hard` names.
pub fn namespace_usage(server: &ApiServer, ns: &str, hard: &serde_json::Map<String, Value>) -> BTreeMap<String, f64> {
    let mut used: BTreeMap<String, f64> = hard.keys().map(|k| (k.clone(), 0.0)).collect();
    let mut kinds: Vec<(String, String)> = vec![
        ("pods".into(), String::new()),
        ("services".into(), String::new()),
        ("configmaps".into(), String::new()),
        ("secrets".into(), String::new()),
        ("persistentvolumeclaims".into(), String::new()),
        ("replicationcontrollers".into(), String::new()),
        ("resourcequotas".into(), String::new()),
    ];
    for k in hard.keys() {
        if let Some(res) = k.strip_prefix("count/") {
            let (plural, group) = res.split_once('.').unwrap_or((res, ""));
            if !kinds.iter().any(|(p, g)| p == plural && g == group) {
                kinds.push((plural.to_string(), group.to_string()));
            }
        }
    }
    for (plural, group) in kinds {
        let key = if group.is_empty() { plural.clone() } else { format!("{group}/{plural}") };
        for obj in server.store.list(&key, Some(ns)).0 {
            for (k, v) in charge_of(&key, &obj) {
                if let Some(u) = used.get_mut(&k) {
                    *u += v;
                }
            }
        }
    }
    used
}

/// A quantity as Go's resource.Quantity prints it (cores with milli-units, bytes with binary suffixes).
pub fn format_quantity(key: &str, v: f64) -> String {
    if key.contains("cpu") {
        let milli = (v * 1000.0).round() as i64;
        return if milli % 1000 == 0 { (milli / 1000).to_string() } else { format!("{milli}m") };
    }
    let n = v.round() as i64;
    if key.contains("memory") || key.contains("storage") {
        for (suffix, unit) in [("Ti", 1i64 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
            if n != 0 && n % unit == 0 {
                return format!("{}{suffix}", n / unit);
            }
        }
    }
    n.to_string()
}

fn pretty(keys: &[String], values: &BTreeMap<String, f64>) -> String {
    keys.iter().map(|k| format!("{k}={}", format_quantity(k, values.get(k).copied().unwrap_or(0.0)))).collect::<Vec<_>>().join(",")
}

pub struct ResourceQuotaAdmission;

impl AdmissionPlugin for ResourceQuotaAdmission {
    fn name(&self) -> &str {
        "ResourceQuota"
    }

    fn admit(&self, _server: &ApiServer, _req: &mut AdmissionRequest<'_>) -> ApiResult<()> {
        Ok(())
    }

    fn validate(&self, server: &ApiServer, req: &mut AdmissionRequest<'_>) -> ApiResult<()> {
        if req.op != Operation::Create || req.subresource.is_some() || !req.rt.namespaced {
            return Ok(());
        }
        let (Some(ns), Some(obj)) = (req.namespace, req.object.as_deref()) else { return Ok(()) };
        let quotas = server.store.list(QUOTAS, Some(ns)).0;
        if quotas.is_empty() {
            return Ok(());
        }
        let delta = usage_of(&req.rt.plural, &req.rt.group, obj);
        let mut quotas: Vec<_> = quotas.into_iter().filter(|q| !object::is_deleting(q)).collect();
        quotas.sort_by(|a, b| object::name_of(a).cmp(object::name_of(b)));
        for q in quotas {
            let Some(hard) = q.pointer("/spec/hard").and_then(Value::as_object) else { continue };
            let qname = object::name_of(&q);
            if req.rt.group.is_empty() && req.rt.plural == "pods" {
                if let Some(missing) = missing_compute(obj, hard) {
                    return Err(ApiError::forbidden(&req.rt.plural, &req.rt.group, req.name, &format!("failed quota: {qname}: must specify {missing}")));
                }
            }
            let used = namespace_usage(server, ns, hard);
            let mut failed: Vec<String> = Vec::new();
            for (k, d) in &delta {
                let Some(limit) = hard.get(k).map(parse_quantity) else { continue };
                if used.get(k).copied().unwrap_or(0.0) + d > limit + 1e-9 {
                    failed.push(k.clone());
                }
            }
            if !failed.is_empty() {
                failed.sort();
                let limits: BTreeMap<String, f64> = failed.iter().map(|k| (k.clone(), hard.get(k).map(parse_quantity).unwrap_or(0.0))).collect();
                let detail = format!(
                    "exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
                    pretty(&failed, &delta),
                    pretty(&failed, &used),
                    pretty(&failed, &limits)
                );
                return Err(ApiError::forbidden(&req.rt.plural, &req.rt.group, req.name, &detail));
            }
        }
        Ok(())
    }
}

/// pods.go enforcePodContainerConstraints: every container must declare each compute resource the
/// quota tracks (`limits.cpu for: a,b; requests.memory for: a`).
fn missing_compute(pod: &Value, hard: &serde_json::Map<String, Value>) -> Option<String> {
    let required: Vec<&str> = COMPUTE.iter().copied().filter(|k| hard.contains_key(*k)).collect();
    let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for key in ["initContainers", "containers"] {
        for c in pod.pointer(&format!("/spec/{key}")).and_then(Value::as_array).into_iter().flatten() {
            for &r in &required {
                let (kind, res) = match r.split_once('.') {
                    Some(("limits", res)) => ("limits", res),
                    Some((_, res)) => ("requests", res),
                    None => ("requests", r),
                };
                if c.pointer(&format!("/resources/{kind}/{res}")).is_none() {
                    missing.entry(r).or_default().push(c["name"].as_str().unwrap_or_default().to_string());
                }
            }
        }
    }
    if missing.is_empty() {
        return None;
    }
    Some(
        missing
            .into_iter()
            .map(|(r, mut names)| {
                names.sort();
                names.dedup();
                format!("{r} for: {}", names.join(","))
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// `status` for a quota: `hard` as asked, `used` as counted now.
pub fn status_of(server: &ApiServer, quota: &Value) -> Value {
    let hard = quota.pointer("/spec/hard").and_then(Value::as_object).cloned().unwrap_or_default();
    let used = namespace_usage(server, object::ns_of(quota), &hard);
    let used: serde_json::Map<String, Value> = used.into_iter().map(|(k, v)| (k.clone(), json!(format_quantity(&k, v)))).collect();
    json!({"hard": hard, "used": used})
}
