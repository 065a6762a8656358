//! Defaulting as the built-in types' `SetDefaults_*` and registry strategies do on create.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::meta::now_rfc3339;
use crate::api::object::{metadata_mut, name_of};
use super::ApiServer;
use crate::registry::ResourceType;

static NEXT_CLUSTER_IP: AtomicU32 = AtomicU32::new(10);

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(|x| x.is_object()) {
        v[key] = json!({});
    }
    v[key].as_object_mut().unwrap()
}

fn default_key(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(|v| v.is_null()) {
        m.insert(key.into(), value);
    }
}

pub(super) fn apply_create_defaults(rt: &ResourceType, obj: &mut Value) {
    if rt.is_custom() {
        return;
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            let name = name_of(obj).to_string();
            let md = metadata_mut(obj);
            let labels = md.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            obj_mut(obj, "spec").insert("finalizers".into(), json!(["kubernetes"]));
            obj["status"] = json!({"phase": "Active"});
        }
        ("", "Secret") => {
            let m = obj.as_object_mut().unwrap();
            default_key(m, "type", json!("Opaque"));
            // stringData is write-only: merged into data (base64) on write.
            if let Some(Value::Object(sd)) = m.remove("stringData") {
                use base64::Engine;
                let data = m.entry("data").or_insert_with(|| json!({}));
                if let Some(d) = data.as_object_mut() {
                    for (k, v) in sd {
                        let s = v.as_str().unwrap_or("").to_string();
                        d.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(s)));
                    }
                }
            }
        }
        ("", "Service") => default_service(obj),
        ("", "Pod") => {
            default_pod_spec(obj_mut(obj, "spec"));
            obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        ("", "PersistentVolumeClaim") => {
            default_key(obj_mut(obj, "spec"), "volumeMode", json!("Filesystem"));
            obj["status"] = json!({"phase": "Pending"});
        }
        ("", "PersistentVolume") => {
            let s = obj_mut(obj, "spec");
            default_key(s, "persistentVolumeReclaimPolicy", json!("Retain"));
            default_key(s, "volumeMode", json!("Filesystem"));
            obj["status"] = json!({"phase": "Pending"});
        }
        ("", "ServiceAccount") | ("", "ConfigMap") => {}
        ("apps", "Deployment") => {
            let s = obj_mut(obj, "spec");
            default_key(s, "replicas", json!(1));
            default_key(s, "strategy", json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}));
            default_key(s, "revisionHistoryLimit", json!(10));
            default_key(s, "progressDeadlineSeconds", json!(600));
            default_template(s);
        }
        ("apps", "StatefulSet") => {
            let s = obj_mut(obj, "spec");
            default_key(s, "replicas", json!(1));
            default_key(s, "podManagementPolicy", json!("OrderedReady"));
            default_key(s, "updateStrategy", json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
            default_key(s, "revisionHistoryLimit", json!(10));
            default_key(s, "persistentVolumeClaimRetentionPolicy", json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
            if let Some(tpls) = s.get_mut("volumeClaimTemplates").and_then(|t| t.as_array_mut()) {
                for t in tpls {
                    default_key(obj_mut(t, "spec"), "volumeMode", json!("Filesystem"));
                    t["apiVersion"] = json!("v1");
                    t["kind"] = json!("PersistentVolumeClaim");
                    default_key(t.as_object_mut().unwrap(), "status", json!({"phase": "Pending"}));
                }
            }
            default_template(s);
        }
        ("apps", "DaemonSet") => {
            let s = obj_mut(obj, "spec");
            default_key(s, "updateStrategy", json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}));
            default_key(s, "revisionHistoryLimit", json!(10));
            default_template(s);
        }
        ("apps", "ReplicaSet") => {
            let s = obj_mut(obj, "spec");
            default_key(s, "replicas", json!(1));
            default_template(s);
        }
        ("batch", "Job") => default_job(obj),
        ("batch", "CronJob") => {
            let s = obj_mut(obj, "spec");
            default_key(s, "concurrencyPolicy", json!("Allow"));
            default_key(s, "suspend", json!(false));
            default_key(s, "successfulJobsHistoryLimit", json!(3));
            default_key(s, "failedJobsHistoryLimit", json!(1));
        }
        ("storage.k8s.io", "StorageClass") => {
            let m = obj.as_object_mut().unwrap();
            default_key(m, "reclaimPolicy", json!("Delete"));
            default_key(m, "volumeBindingMode", json!("Immediate"));
        }
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration") => {
            let mutating = rt.kind.starts_with("Mutating");
            if let Some(hooks) = obj.get_mut("webhooks").and_then(|w| w.as_array_mut()) {
                for h in hooks {
                    let m = h.as_object_mut().unwrap();
                    default_key(m, "failurePolicy", json!("Fail"));
                    default_key(m, "matchPolicy", json!("Equivalent"));
                    default_key(m, "namespaceSelector", json!({}));
                    default_key(m, "objectSelector", json!({}));
                    default_key(m, "timeoutSeconds", json!(10));
                    if mutating {
                        default_key(m, "reinvocationPolicy", json!("Never"));
                    }
                    if let Some(svc) = m.get_mut("clientConfig").and_then(|c| c.get_mut("service")).and_then(|s| s.as_object_mut()) {
                        default_key(svc, "port", json!(443));
                    }
                    if let Some(rules) = m.get_mut("rules").and_then(|r| r.as_array_mut()) {
                        for r in rules {
                            default_key(r.as_object_mut().unwrap(), "scope", json!("*"));
                        }
                    }
                }
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let s = obj_mut(obj, "spec");
            default_key(s, "conversion", json!({"strategy": "None"}));
            if let Some(n) = s.get_mut("names").and_then(|n| n.as_object_mut()) {
                let kind = n.get("kind").and_then(|k| k.as_str()).unwrap_or("").to_string();
                default_key(n, "singular", json!(kind.to_lowercase()));
                default_key(n, "listKind", json!(format!("{kind}List")));
            }
        }
        _ => {}
    }
}

/// Defaults applied after mutating admission (fields admission may have set).
pub(super) fn after_admission(_rt: &ResourceType, _obj: &mut Value) {}

fn default_template(spec: &mut Map<String, Value>) {
    if let Some(t) = spec.get_mut("template") {
        default_pod_spec(obj_mut(t, "spec"));
        let md = obj_mut(t, "metadata");
        md.remove("creationTimestamp");
    }
}

pub(crate) fn default_pod_spec(s: &mut Map<String, Value>) {
    default_key(s, "restartPolicy", json!("Always"));
    default_key(s, "terminationGracePeriodSeconds", json!(30));
    default_key(s, "dnsPolicy", json!("ClusterFirst"));
    default_key(s, "securityContext", json!({}));
    default_key(s, "schedulerName", json!("default-scheduler"));
    default_key(s, "enableServiceLinks", json!(true));
    for key in ["containers", "initContainers"] {
        if let Some(cs) = s.get_mut(key).and_then(|c| c.as_array_mut()) {
            for c in cs {
                let Some(m) = c.as_object_mut() else { continue };
                let image = m.get("image").and_then(|i| i.as_str()).unwrap_or("").to_string();
                let latest = !image.contains(':') || image.ends_with(":latest");
                default_key(m, "imagePullPolicy", json!(if latest { "Always" } else { "IfNotPresent" }));
                default_key(m, "terminationMessagePath", json!("/dev/termination-log"));
                default_key(m, "terminationMessagePolicy", json!("File"));
                default_key(m, "resources", json!({}));
                if let Some(ports) = m.get_mut("ports").and_then(|p| p.as_array_mut()) {
                    for p in ports {
                        default_key(p.as_object_mut().unwrap(), "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

fn default_service(obj: &mut Value) {
    let s = obj_mut(obj, "spec");
    default_key(s, "type", json!("ClusterIP"));
    default_key(s, "sessionAffinity", json!("None"));
    let ty = s.get("type").and_then(|t| t.as_str()).unwrap_or("ClusterIP").to_string();
    if ty != "ExternalName" {
        if s.get("clusterIP").is_none_or(|c| c.as_str().is_none_or(|c| c.is_empty())) {
            let n = NEXT_CLUSTER_IP.fetch_add(1, Ordering::Relaxed);
            s.insert("clusterIP".into(), json!(format!("10.96.{}.{}", (n >> 8) & 255, n & 255)));
        }
        let ip = s["clusterIP"].clone();
        default_key(s, "clusterIPs", json!([ip]));
        default_key(s, "ipFamilies", json!(["IPv4"]));
        default_key(s, "ipFamilyPolicy", json!("SingleStack"));
        default_key(s, "internalTrafficPolicy", json!("Cluster"));
    }
    let node_port = ty == "NodePort" || ty == "LoadBalancer";
    if node_port {
        default_key(s, "externalTrafficPolicy", json!("Cluster"));
    }
    if let Some(ports) = s.get_mut("ports").and_then(|p| p.as_array_mut()) {
        for (i, p) in ports.iter_mut().enumerate() {
            let m = p.as_object_mut().unwrap();
            default_key(m, "protocol", json!("TCP"));
            let port = m.get("port").cloned().unwrap_or(json!(0));
            default_key(m, "targetPort", port);
            if node_port {
                default_key(m, "nodePort", json!(30000 + 100 + i as u64 + (NEXT_CLUSTER_IP.load(Ordering::Relaxed) as u64 % 2000)));
            }
        }
    }
    obj["status"] = json!({"loadBalancer": {}});
}

fn default_job(obj: &mut Value) {
    let uid = obj.pointer("/metadata/uid").and_then(|u| u.as_str()).unwrap_or("").to_string();
    let name = name_of(obj).to_string();
    let s = obj_mut(obj, "spec");
    default_key(s, "completions", json!(1));
    default_key(s, "parallelism", json!(1));
    default_key(s, "backoffLimit", json!(6));
    default_key(s, "completionMode", json!("NonIndexed"));
    default_key(s, "suspend", json!(false));
    default_key(s, "podReplacementPolicy", json!("TerminatedOrFailed"));
    default_key(s, "manualSelector", json!(false));
    // The job strategy generates the selector and template labels from the Job's uid.
    if s.get("manualSelector") != Some(&json!(true)) {
        s.insert("selector".into(), json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
        let t = s.entry("template").or_insert_with(|| json!({}));
        let labels = obj_mut(obj_mut_val(t, "metadata"), "labels");
        for (k, v) in [("batch.kubernetes.io/controller-uid", &uid), ("batch.kubernetes.io/job-name", &name), ("controller-uid", &uid), ("job-name", &name)] {
            labels.insert(k.into(), json!(v));
        }
        s.remove("manualSelector");
    }
    default_template(s);
    default_key(obj.as_object_mut().unwrap(), "status", json!({}));
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
