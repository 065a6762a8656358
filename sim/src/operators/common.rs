//! Helpers shared by emulated operators: detection, create-or-update, owner references,
//! labels, hashes, compressed config payloads, status conditions.

use std::io::Write;
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::api::errors::ApiResult;
use crate::api::object::{self, pod_running_ready};
use crate::api::selectors::from_label_selector_json;
use crate::registry::ResourceType;
use crate::server::{meta, ApiServer, Operation, WriteOptions};

pub const MANAGER: &str = "PrometheusOperator";

/// The Deployment of an operator (a container image `image_matches` accepts) that has a
/// Running+Ready pod.
pub fn running_deployment(server: &ApiServer, image_matches: impl Fn(&str) -> bool) -> Option<Arc<Value>> {
    let (deps, _) = server.store.list("apps/deployments", None);
    deps.into_iter().find(|d| {
        if object::is_deleting(d) {
            return false;
        }
        let uses_image = d
            .pointer("/spec/template/spec/containers")
            .and_then(|c| c.as_array())
            .is_some_and(|cs| cs.iter().any(|c| c["image"].as_str().is_some_and(&image_matches)));
        if !uses_image {
            return false;
        }
        let Some(sel) = d.pointer("/spec/selector").and_then(|s| from_label_selector_json(s).ok()) else { return false };
        let ns = object::str_at(d, "/metadata/namespace").unwrap_or("");
        let (pods, _) = server.store.list("pods", Some(ns));
        pods.iter().any(|p| sel.matches(object::labels(p)) && pod_running_ready(p))
    })
}

/// The value of `--flag=value` in the first container's args of a Deployment.
pub fn container_arg(dep: &Value, flag: &str) -> Option<String> {
    let prefix = format!("{flag}=");
    dep.pointer("/spec/template/spec/containers/0/args")
        .and_then(|a| a.as_array())?
        .iter()
        .filter_map(|a| a.as_str())
        .find_map(|a| a.strip_prefix(&prefix).map(String::from))
}

/// The preferred served version of a custom resource, if its CRD is installed.
pub fn cr_type(server: &ApiServer, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
    server.registry.preferred(group, plural)
}

/// `WithManagingOwner` (controller + blockOwnerDeletion) or `WithOwner` (neither).
pub fn owner_ref(cr: &Value, managing: bool) -> Value {
    let mut r = json!({
        "apiVersion": cr["apiVersion"], "kind": cr["kind"],
        "name": object::name_of(cr), "uid": object::str_at(cr, "/metadata/uid").unwrap_or(""),
    });
    if managing {
        r["blockOwnerDeletion"] = json!(true);
        r["controller"] = json!(true);
    }
    r
}

/// `UpdateObject`'s base labels: both managed-by keys.
pub fn managed_labels() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("managed-by".into(), json!("prometheus-operator"));
    m.insert("app.kubernetes.io/managed-by".into(), json!("prometheus-operator"));
    m
}

/// A stable decimal hash of the inputs (the operator's `prometheus-operator-input-hash`).
pub fn input_hash(parts: &[&Value]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.to_string().as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    u64::from_be_bytes(d[..8].try_into().unwrap()).to_string()
}

/// gzip, then base64 for a Secret's `data`.
pub fn gzip_b64(text: &str) -> String {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = enc.write_all(text.as_bytes());
    let bytes = enc.finish().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// Create `desired`, or update the existing object when any of `fields` (top-level keys such
/// as `data` or `spec`), its labels/annotations (merged over the existing ones) or its owner
/// references differ. `merge_owners` keeps other owners (shared governing Services).
pub fn ensure(server: &ApiServer, group: &str, version: &str, plural: &str, desired: Value, fields: &[&str], merge_owners: bool) -> ApiResult<()> {
    let rt = server.resource(group, version, plural)?;
    let ns = object::str_at(&desired, "/metadata/namespace").map(String::from);
    let name = object::name_of(&desired).to_string();
    let opts = WriteOptions { field_manager: Some(MANAGER.into()), ..Default::default() };
    if server.store.get(&rt.key, ns.as_deref().unwrap_or(""), &name).is_none() {
        match server.create(&rt, ns.as_deref(), desired.clone(), &opts) {
            Ok(_) => return Ok(()),
            Err(e) if e.reason == "AlreadyExists" => {}
            Err(e) => return Err(e),
        }
    }
    server.guaranteed_update(&rt, ns.as_deref().unwrap_or(""), &name, None, &opts, Operation::Update, |cur| {
        let mut next = cur.clone();
        for f in fields {
            match desired.get(*f) {
                Some(v) => next[*f] = v.clone(),
                None => {
                    if let Some(m) = next.as_object_mut() {
                        m.remove(*f);
                    }
                }
            }
        }
        let md = object::metadata_mut(&mut next);
        for key in ["labels", "annotations"] {
            if let Some(want) = desired.pointer(&format!("/metadata/{key}")).and_then(|l| l.as_object()) {
                let have = md.entry(key).or_insert_with(|| json!({}));
                for (k, v) in want {
                    have[k] = v.clone();
                }
            }
        }
        let want_owners = desired.pointer("/metadata/ownerReferences").and_then(|o| o.as_array()).cloned().unwrap_or_default();
        let mut owners = if merge_owners { md.get("ownerReferences").and_then(|o| o.as_array()).cloned().unwrap_or_default() } else { Vec::new() };
        for o in want_owners {
            owners.retain(|x| x["uid"] != o["uid"]);
            owners.push(o);
        }
        if owners.is_empty() {
            md.remove("ownerReferences");
        } else {
            md.insert("ownerReferences".into(), Value::Array(owners));
        }
        Ok(next)
    })
    .map(|_| ())
}

/// What kube-apiserver's defaulting adds to an updated StatefulSet, taken from the stored one:
/// spec fields the operator leaves unset (`revisionHistoryLimit`, ...) and the defaulted parts
/// of unchanged claim templates (`status`, `volumeMode`, ...). Without them the update would
/// change the immutable claim templates and be refused. The pod template is left alone, so a
/// removed setting stays removed.
pub fn keep_server_defaults(desired: &mut Value, current: &Value) {
    let (Some(want), Some(have)) = (desired.pointer_mut("/spec").and_then(|s| s.as_object_mut()), current.pointer("/spec").and_then(|s| s.as_object())) else { return };
    for (k, v) in have {
        if !want.contains_key(k) && k != "volumeClaimTemplates" {
            want.insert(k.clone(), v.clone());
        }
    }
    let Some(tpls) = want.get_mut("volumeClaimTemplates").and_then(|t| t.as_array_mut()) else { return };
    for t in tpls {
        let Some(old) = have.get("volumeClaimTemplates").and_then(|o| o.as_array()).and_then(|o| o.iter().find(|o| o.pointer("/metadata/name") == t.pointer("/metadata/name"))) else { continue };
        fill_absent(t, old, 2);
    }
}

/// `kubectl rollout restart` annotations on the pod template survive the operator's update.
pub fn keep_kubectl_annotations(desired: &mut Value, current: &Value) {
    let Some(have) = current.pointer("/spec/template/metadata/annotations").and_then(|a| a.as_object()) else { return };
    for (k, v) in have.iter().filter(|(k, _)| k.starts_with("kubectl.kubernetes.io/")) {
        if desired.pointer(&format!("/spec/template/metadata/annotations/{}", k.replace('~', "~0").replace('/', "~1"))).is_none() {
            desired["spec"]["template"]["metadata"]["annotations"][k] = v.clone();
        }
    }
}

/// Copy keys of `from` missing in `to`, recursing `depth` levels into objects.
fn fill_absent(to: &mut Value, from: &Value, depth: usize) {
    let (Some(to), Some(from)) = (to.as_object_mut(), from.as_object()) else { return };
    for (k, v) in from {
        match to.get_mut(k) {
            None => {
                to.insert(k.clone(), v.clone());
            }
            Some(t) if depth > 0 => fill_absent(t, v, depth - 1),
            Some(_) => {}
        }
    }
}

/// Set condition `ty` in a conditions list, keeping lastTransitionTime when status is unchanged.
pub fn condition(existing: Option<&Value>, ty: &str, status: &str, reason: &str, message: &str, generation: i64) -> Value {
    let prev = existing
        .and_then(|s| s.get("conditions"))
        .and_then(|c| c.as_array())
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty));
    let ltt = match prev {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => json!(meta::now_rfc3339()),
    };
    let mut c = json!({"type": ty, "status": status, "lastTransitionTime": ltt, "observedGeneration": generation});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    c
}

/// Write a custom resource's status (through the status subresource when it has one).
pub fn write_status(server: &ApiServer, rt: &ResourceType, cr: &Value, status: Value) {
    let ns = object::str_at(cr, "/metadata/namespace").unwrap_or("").to_string();
    let name = object::name_of(cr).to_string();
    let sub = if rt.has_subresource("status") { Some("status") } else { None };
    let opts = WriteOptions { field_manager: Some(MANAGER.into()), ..Default::default() };
    let _ = server.guaranteed_update(rt, &ns, &name, sub, &opts, Operation::Update, |cur| {
        let mut next = cur.clone();
        next["status"] = status.clone();
        Ok(next)
    });
}

/// `StatefulSet` readiness numbers: (replicas, updated, available).
pub fn sts_counts(sts: Option<&Value>) -> (i64, i64, i64) {
    let g = |k: &str| sts.and_then(|s| s.pointer(&format!("/status/{k}"))).and_then(|v| v.as_i64()).unwrap_or(0);
    (g("replicas"), g("updatedReplicas"), g("availableReplicas"))
}

/// The Available condition of a workload CR from its StatefulSet.
pub fn available_condition(existing: Option<&Value>, desired: i64, available: i64, generation: i64) -> Value {
    if desired > 0 && available >= desired {
        condition(existing, "Available", "True", "", "", generation)
    } else if available == 0 {
        condition(existing, "Available", "False", "NoPodReady", "", generation)
    } else {
        condition(existing, "Available", "Degraded", "SomePodsNotReady", "", generation)
    }
}

/// The parts of an operator-made StatefulSet that differ between Prometheus and Alertmanager.
pub struct StatefulSetParts<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub replicas: i64,
    pub service_name: &'a str,
    pub selector: Value,
    pub labels: Value,
    pub annotations: Value,
    pub pod_labels: Value,
    pub pod_annotations: Value,
    pub claim: Option<Value>,
}

/// Assemble the StatefulSet both operators build (PO `makeStatefulSet`): the CR's pod-level
/// settings copied onto the pod, Parallel pods, the claim template only when storage uses one,
/// the retention policy only when the CR sets it, and a managing owner reference to the CR.
pub fn operator_statefulset(cr: &Value, mut pod_spec: Value, p: StatefulSetParts<'_>) -> Value {
    for k in ["securityContext", "affinity", "tolerations", "nodeSelector", "priorityClassName", "topologySpreadConstraints", "hostNetwork"] {
        if let Some(v) = cr.pointer(&format!("/spec/{k}")).filter(|v| !v.is_null()) {
            pod_spec[k] = v.clone();
        }
    }
    let mut spec = serde_json::json!({
        "replicas": p.replicas,
        "selector": {"matchLabels": p.selector},
        "serviceName": p.service_name,
        "podManagementPolicy": "Parallel",
        "updateStrategy": {"type": "RollingUpdate"},
        "template": {"metadata": {"labels": p.pod_labels, "annotations": p.pod_annotations}, "spec": pod_spec},
    });
    if let Some(c) = p.claim {
        spec["volumeClaimTemplates"] = serde_json::json!([c]);
    }
    if let Some(r) = cr.pointer("/spec/persistentVolumeClaimRetentionPolicy").filter(|r| !r.is_null()) {
        spec["persistentVolumeClaimRetentionPolicy"] = r.clone();
    }
    serde_json::json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels, "annotations": p.annotations, "ownerReferences": [owner_ref(cr, true)]},
        "spec": spec,
    })
}
