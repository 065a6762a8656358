//! `fieldValidation=Strict` and CRD structural pruning: which fields does a type not declare?
//! Built-in types round-trip through k8s-openapi's generated structs (a field lost in the
//! round trip is one the type does not have); custom resources walk the CRD's schema.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use k8s_openapi::api::{admissionregistration::v1 as adm, apps::v1 as apps, batch::v1 as batch, core::v1 as core,
    networking::v1 as net, policy::v1 as policy, rbac::v1 as rbac, storage::v1 as storage, coordination::v1 as coord,
    discovery::v1 as disc, autoscaling::v2 as hpa, scheduling::v1 as sched};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;

use super::WriteOptions;
use crate::api::errors::{ApiError, ApiResult};
use crate::registry::ResourceType;

fn roundtrip<T: DeserializeOwned + Serialize>(obj: &Value) -> Option<Value> {
    let typed: T = serde_json::from_value(obj.clone()).ok()?;
    serde_json::to_value(typed).ok()
}

/// `fieldValidation=Strict`: reject fields the type does not declare, with the decoder's
/// message (`<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding error: ...`).
pub fn reject_unknown_fields(rt: &ResourceType, obj: &Value, opts: &WriteOptions) -> ApiResult<()> {
    if !opts.strict {
        return Ok(());
    }
    let unknown = match rt.crd.as_ref().and_then(|c| c.schema.as_ref()) {
        Some(schema) => prune_custom(&mut obj.clone(), schema, false),
        None => unknown_fields(&rt.group, &rt.kind, obj),
    };
    if unknown.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = unknown.iter().map(|f| format!("unknown field {f:?}")).collect();
    Err(ApiError::bad_request(format!(
        "{} in version {:?} cannot be handled as a {}: strict decoding error: {}",
        rt.kind, rt.version, rt.kind, list.join(", ")
    )))
}

/// Dotted paths of fields present in `obj` but unknown to the built-in type; empty when the
/// type is not modelled here.
pub fn unknown_fields(group: &str, kind: &str, obj: &Value) -> Vec<String> {
    let rt = match (group, kind) {
        ("", "ConfigMap") => roundtrip::<core::ConfigMap>(obj),
        ("", "Secret") => roundtrip::<core::Secret>(obj),
        ("", "Pod") => roundtrip::<core::Pod>(obj),
        ("", "Service") => roundtrip::<core::Service>(obj),
        ("", "ServiceAccount") => roundtrip::<core::ServiceAccount>(obj),
        ("", "Namespace") => roundtrip::<core::Namespace>(obj),
        ("", "PersistentVolumeClaim") => roundtrip::<core::PersistentVolumeClaim>(obj),
        ("", "PersistentVolume") => roundtrip::<core::PersistentVolume>(obj),
        ("", "Endpoints") => roundtrip::<core::Endpoints>(obj),
        ("apps", "Deployment") => roundtrip::<apps::Deployment>(obj),
        ("apps", "StatefulSet") => roundtrip::<apps::StatefulSet>(obj),
        ("apps", "DaemonSet") => roundtrip::<apps::DaemonSet>(obj),
        ("apps", "ReplicaSet") => roundtrip::<apps::ReplicaSet>(obj),
        ("batch", "Job") => roundtrip::<batch::Job>(obj),
        ("batch", "CronJob") => roundtrip::<batch::CronJob>(obj),
        ("rbac.authorization.k8s.io", "Role") => roundtrip::<rbac::Role>(obj),
        ("rbac.authorization.k8s.io", "ClusterRole") => roundtrip::<rbac::ClusterRole>(obj),
        ("rbac.authorization.k8s.io", "RoleBinding") => roundtrip::<rbac::RoleBinding>(obj),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => roundtrip::<rbac::ClusterRoleBinding>(obj),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => roundtrip::<adm::ValidatingWebhookConfiguration>(obj),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => roundtrip::<adm::MutatingWebhookConfiguration>(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => roundtrip::<apiext::CustomResourceDefinition>(obj),
        ("networking.k8s.io", "Ingress") => roundtrip::<net::Ingress>(obj),
        ("networking.k8s.io", "NetworkPolicy") => roundtrip::<net::NetworkPolicy>(obj),
        ("policy", "PodDisruptionBudget") => roundtrip::<policy::PodDisruptionBudget>(obj),
        ("storage.k8s.io", "StorageClass") => roundtrip::<storage::StorageClass>(obj),
        ("coordination.k8s.io", "Lease") => roundtrip::<coord::Lease>(obj),
        ("discovery.k8s.io", "EndpointSlice") => roundtrip::<disc::EndpointSlice>(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => roundtrip::<hpa::HorizontalPodAutoscaler>(obj),
        ("scheduling.k8s.io", "PriorityClass") => roundtrip::<sched::PriorityClass>(obj),
        _ => None,
    };
    let Some(back) = rt else { return Vec::new() };
    let mut out = Vec::new();
    diff_keys(obj, &back, "", &mut out);
    out
}

fn diff_keys(input: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(i), Value::Object(k)) => {
            for (key, v) in i {
                if v.is_null() {
                    continue;
                }
                let p = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match k.get(key) {
                    None => out.push(p),
                    Some(kv) => diff_keys(v, kv, &p, out),
                }
            }
        }
        (Value::Array(i), Value::Array(k)) => {
            for (idx, (iv, kv)) in i.iter().zip(k.iter()).enumerate() {
                diff_keys(iv, kv, &format!("{path}[{idx}]"), out);
            }
        }
        _ => {}
    }
}

/// Walk a custom resource against its structural schema: returns the unknown field paths
/// and (when `prune` is set) removes them, as the apiextensions pruning does.
pub fn prune_custom(obj: &mut Value, schema: &Value, prune: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Value::Object(m) = obj {
        for root in ["apiVersion", "kind", "metadata"] {
            let _ = root;
        }
        let props = schema.get("properties").and_then(|p| p.as_object());
        let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        let keys: Vec<String> = m.keys().cloned().collect();
        for k in keys {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            match props.and_then(|p| p.get(&k)) {
                Some(s) => walk(m.get_mut(&k).unwrap(), s, &k, prune, &mut out),
                None if preserve => {}
                None => {
                    out.push(k.clone());
                    if prune {
                        m.remove(&k);
                    }
                }
            }
        }
    }
    out
}

fn walk(v: &mut Value, schema: &Value, path: &str, prune: bool, out: &mut Vec<String>) {
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    let p = format!("{path}.{k}");
                    match props.get(&k) {
                        Some(s) => walk(m.get_mut(&k).unwrap(), s, &p, prune, out),
                        None if preserve => {}
                        None => {
                            out.push(p);
                            if prune {
                                m.remove(&k);
                            }
                        }
                    }
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, child) in m.iter_mut() {
                    walk(child, ap, &format!("{path}.{k}"), prune, out);
                }
            } else if !preserve && schema.get("type").and_then(|t| t.as_str()) == Some("object") && schema.get("additionalProperties").is_none() {
                // An object with neither properties nor additionalProperties keeps nothing
                // unless it preserves unknown fields.
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    out.push(format!("{path}.{k}"));
                    if prune {
                        m.remove(&k);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, is, &format!("{path}[{i}]"), prune, out);
                }
            }
        }
        _ => {}
    }
}

#[allow(dead_code)]
fn keys(m: &Map<String, Value>) -> Vec<&String> {
    m.keys().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_unknown_fields_found() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "bogus": 1}, "data": {"a": "b"}, "foo": 1});
        let mut u = unknown_fields("", "ConfigMap", &cm);
        u.sort();
        assert_eq!(u, vec!["foo", "metadata.bogus"]);
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "Always", "bad": true}]}}}});
        assert_eq!(unknown_fields("apps", "Deployment", &dep), vec!["spec.template.spec.containers[0].bad"]);
    }

    #[test]
    fn crd_pruning_respects_preserve_unknown() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
        let mut obj = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"}, "spec": {"size": 1, "extra": 2}, "status": {"any": 1}, "top": 1});
        let mut u = prune_custom(&mut obj, &schema, true);
        u.sort();
        assert_eq!(u, vec!["spec.extra", "top"]);
        assert_eq!(obj["spec"], json!({"size": 1}));
        assert_eq!(obj["status"], json!({"any": 1}));
    }
}
