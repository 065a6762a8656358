//! What the registry strategies and REST storages do beyond defaulting: `PrepareForCreate`
//! (status resets, generated selectors, allocations) and `PrepareForUpdate` (fields an
//! update may not drop), and the CRD naming/establishing controllers.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use super::defaults::{default_key, obj_mut};
use super::meta::now_rfc3339;
use super::ApiServer;
use crate::api::object::name_of;
use crate::registry::ResourceType;

static NEXT_NODE_PORT: AtomicU32 = AtomicU32::new(10);

pub(super) fn prepare_for_create(rt: &ResourceType, obj: &mut Value) {
    if rt.is_custom() {
        return;
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            obj_mut(obj, "spec").insert("finalizers".into(), json!(["kubernetes"]));
            obj["status"] = json!({"phase": "Active"});
        }
        ("", "Service") => {
            allocate_service(obj_mut(obj, "spec"));
            obj["status"] = json!({"loadBalancer": {}});
        }
        ("", "Pod") => obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"}),
        ("", "PersistentVolumeClaim") => obj["status"] = json!({"phase": "Pending"}),
        ("batch", "Job") => {
            generate_job_selector(obj);
            obj["status"] = json!({});
        }
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            // The requester is whoever creates it (kubectl's Requestor column): kind's admin user.
            let spec = obj_mut(obj, "spec");
            spec.insert("username".into(), json!("kubernetes-admin"));
            spec.insert("groups".into(), json!(["kubeadm:cluster-admins", "system:authenticated"]));
            spec.remove("uid");
            spec.remove("extra");
            obj["status"] = json!({});
        }
        _ => {}
    }
}

/// PrepareForUpdate: what an update keeps from the stored object even when the body omits it.
pub(super) fn prepare_for_update(rt: &ResourceType, cur: &Value, next: &mut Value) {
    if rt.is_custom() {
        return;
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            // Only the finalize subresource changes spec.finalizers.
            next["spec"]["finalizers"] = cur.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
        }
        ("", "Service") => keep_allocations(cur, next),
        _ => {}
    }
}

/// The service REST storage's `patchAllocatedValues`: an update that omits the cluster IPs
/// or node ports keeps the allocated ones.
fn keep_allocations(cur: &Value, next: &mut Value) {
    let needs_ip = |v: &Value| v.pointer("/spec/type").and_then(|t| t.as_str()) != Some("ExternalName");
    if !needs_ip(cur) || !needs_ip(next) {
        return;
    }
    let s = obj_mut(next, "spec");
    let empty = |v: Option<&Value>| v.is_none_or(|c| c.is_null() || c.as_str() == Some("") || c.as_array().is_some_and(|a| a.is_empty()));
    for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
        if empty(s.get(k)) && let Some(v) = cur.pointer(&format!("/spec/{k}")) {
            s.insert(k.into(), v.clone());
        }
    }
    let old_ports: Vec<Value> = cur.pointer("/spec/ports").and_then(|p| p.as_array()).cloned().unwrap_or_default();
    let node_ports = matches!(s.get("type").and_then(|t| t.as_str()), Some("NodePort" | "LoadBalancer"));
    if node_ports && let Some(ports) = s.get_mut("ports").and_then(|p| p.as_array_mut()) {
        for p in ports.iter_mut().filter_map(|p| p.as_object_mut()) {
            if p.get("nodePort").is_some() {
                continue;
            }
            let same = old_ports.iter().find(|o| o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol"));
            if let Some(np) = same.and_then(|o| o.get("nodePort")) {
                p.insert("nodePort".into(), np.clone());
            }
        }
    }
}

/// IP families and node ports for a new Service (the cluster IP itself is taken from the
/// allocator right before the object is stored: `ApiServer::allocate_cluster_ip`).
fn allocate_service(s: &mut serde_json::Map<String, Value>) {
    let ty = s.get("type").and_then(|t| t.as_str()).unwrap_or("ClusterIP").to_string();
    if ty != "ExternalName" {
        if let Some(ip) = s.get("clusterIP").and_then(|c| c.as_str()).filter(|c| !c.is_empty()).map(String::from) {
            default_key(s, "clusterIPs", json!([ip]));
        }
        default_key(s, "ipFamilies", json!(["IPv4"]));
        default_key(s, "ipFamilyPolicy", json!("SingleStack"));
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        let base = NEXT_NODE_PORT.fetch_add(1, Ordering::Relaxed) as u64 % 2000;
        for (i, p) in s.get_mut("ports").and_then(|p| p.as_array_mut()).into_iter().flatten().enumerate() {
            if let Some(m) = p.as_object_mut() {
                default_key(m, "nodePort", json!(30000 + 100 + i as u64 + base));
            }
        }
    }
}

/// The job strategy generates the selector and template labels from the Job's uid unless
/// `manualSelector` is true.
fn generate_job_selector(obj: &mut Value) {
    if obj.pointer("/spec/manualSelector") == Some(&json!(true)) {
        return;
    }
    let uid = obj.pointer("/metadata/uid").and_then(|u| u.as_str()).unwrap_or("").to_string();
    let name = name_of(obj).to_string();
    let s = obj_mut(obj, "spec");
    s.insert("selector".into(), json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
    let t = s.entry("template").or_insert_with(|| json!({}));
    let labels = obj_mut(obj_mut_val(t, "metadata"), "labels");
    for (k, v) in [("batch.kubernetes.io/controller-uid", &uid), ("batch.kubernetes.io/job-name", &name), ("controller-uid", &uid), ("job-name", &name)] {
        labels.entry(k).or_insert_with(|| json!(v));
    }
}

fn obj_mut_val<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    if !v.get(key).is_some_and(|x| x.is_object()) {
        v[key] = json!({});
    }
    &mut v[key]
}

/// Naming + establishing controllers: accept names, set Established, serve the resources.
pub(crate) fn establish_crd(server: &ApiServer, crd: &Arc<Value>) {
    if crate::api::object::is_deleting(crd) {
        return;
    }
    let established = crd.pointer("/status/conditions").and_then(|c| c.as_array()).is_some_and(|cs| {
        cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True")
    });
    server.registry.install_crd(crd);
    if established {
        return;
    }
    let name = name_of(crd).to_string();
    let now = now_rfc3339();
    let _ = server.store.modify::<()>("apiextensions.k8s.io/customresourcedefinitions", "", &name, |cur| {
        let mut next = (**cur).clone();
        let stored: Vec<Value> = cur.pointer("/spec/versions").and_then(|v| v.as_array()).into_iter().flatten()
            .filter(|v| v["storage"] == true).map(|v| v["name"].clone()).collect();
        let mut accepted = cur.pointer("/spec/names").cloned().unwrap_or(json!({}));
        if let Some(a) = accepted.as_object_mut() {
            a.remove("listKind").map(|lk| a.insert("listKind".into(), lk));
        }
        next["status"] = json!({
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
            ],
            "acceptedNames": accepted,
            "storedVersions": stored,
        });
        Ok(Some(next))
    });
}
