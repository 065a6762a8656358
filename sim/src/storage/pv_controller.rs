//! The PersistentVolume controller of kube-controller-manager (K8S
//! `pkg/controller/volume/persistentvolume/pv_controller.go`): binds claims to volumes, waits
//! for first consumers, hands dynamic provisioning to external provisioners, and moves volumes
//! to Released / Failed when their claim goes.

use std::collections::HashSet;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::update_object;
use crate::api::object::{self, ns_of};
use crate::controllers::Controller;
use crate::events::{self, EventType};
use crate::server::{meta, ApiServer};
use crate::store::StoreEvent;

const COMPONENT: &str = "persistentvolume-controller";
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
pub const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
pub const ANN_BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
pub const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

/// Emits each (object uid, reason, message) once; the real controller re-emits on every
/// 15 s resync, which only bumps the event's count.
#[derive(Default)]
pub struct PvController {
    emitted: Mutex<HashSet<(String, String, String)>>,
}

pub(crate) fn ann<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(|v| v.as_str())
}

pub(crate) fn uid(obj: &Value) -> &str {
    object::str_at(obj, "/metadata/uid").unwrap_or("")
}

/// Parse a Kubernetes quantity into bytes (enough for storage sizes).
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+')).unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        _ => return None,
    };
    Some(n * mult)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(|a| a.as_array()).map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

impl PvController {
    fn event(&self, server: &ApiServer, obj: &Value, ty: EventType, reason: &str, message: &str) {
        let key = (uid(obj).to_string(), reason.to_string(), message.to_string());
        if self.emitted.lock().insert(key) {
            events::record(server, obj, ty, reason, message, COMPONENT, None);
        }
    }

    fn sync_volume(&self, server: &ApiServer, pv: &Value) {
        let name = object::name_of(pv).to_string();
        let phase = object::str_at(pv, "/status/phase").unwrap_or("");
        let claim_ref = pv.pointer("/spec/claimRef").filter(|c| !c.is_null());
        let Some(cr) = claim_ref else {
            if phase != "Available" && phase != "Failed" {
                set_pv_phase(server, &name, "Available", None);
            }
            return;
        };
        let cns = cr["namespace"].as_str().unwrap_or("");
        let cname = cr["name"].as_str().unwrap_or("");
        let cuid = cr["uid"].as_str().unwrap_or("");
        let claim = server.store.get("persistentvolumeclaims", cns, cname);
        match claim {
            Some(c) if cuid.is_empty() || uid(&c) == cuid => {
                // Pre-bound or bound; the claim's sync finishes the binding.
                if cuid.is_empty() && phase != "Available" {
                    set_pv_phase(server, &name, "Available", None);
                }
                if !cuid.is_empty() && object::str_at(&c, "/spec/volumeName") == Some(name.as_str()) && phase != "Bound" {
                    set_pv_phase(server, &name, "Bound", None);
                }
            }
            _ => {
                // The claim is gone: Released, then reclaim.
                if phase == "Released" || phase == "Failed" {
                    return;
                }
                if phase == "Bound" || !cuid.is_empty() {
                    set_pv_phase(server, &name, "Released", None);
                    self.reclaim(server, &name);
                }
            }
        }
    }

    /// Reclaim a Released volume: Retain keeps it; Delete of an externally provisioned volume is
    /// the provisioner's job; anything else has no deleter and fails.
    fn reclaim(&self, server: &ApiServer, name: &str) {
        let Some(pv) = server.store.get("persistentvolumes", "", name) else { return };
        let policy = object::str_at(&pv, "/spec/persistentVolumeReclaimPolicy").unwrap_or("Retain");
        match policy {
            "Delete" if ann(&pv, ANN_PROVISIONED_BY).is_some() => {}
            "Delete" => {
                let msg = format!("error getting deleter volume plugin for volume {name:?}: no deletable volume plugin matched");
                set_pv_phase(server, name, "Failed", Some(&msg));
                self.event(server, &pv, EventType::Warning, "VolumeFailedDelete", &msg);
            }
            "Recycle" => {
                let msg = format!("No recycler plugin found for the volume {name:?}");
                set_pv_phase(server, name, "Failed", Some(&msg));
                self.event(server, &pv, EventType::Warning, "VolumeFailedRecycle", &msg);
            }
            _ => {}
        }
    }

    fn sync_claim(&self, server: &ApiServer, pvc: &Value, pvs: &[std::sync::Arc<Value>]) {
        let ns = ns_of(pvc).to_string();
        let name = object::name_of(pvc).to_string();
        let volume_name = object::str_at(pvc, "/spec/volumeName").unwrap_or("").to_string();
        let phase = object::str_at(pvc, "/status/phase").unwrap_or("Pending");
        if !volume_name.is_empty() {
            match server.store.get("persistentvolumes", "", &volume_name) {
                None => {
                    if phase == "Bound" {
                        set_claim_phase(server, &ns, &name, "Lost");
                        self.event(server, pvc, EventType::Warning, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!");
                    }
                }
                Some(pv) => {
                    let cr_uid = pv.pointer("/spec/claimRef/uid").and_then(|u| u.as_str()).unwrap_or("");
                    let cr_name = pv.pointer("/spec/claimRef/name").and_then(|u| u.as_str()).unwrap_or("");
                    let cr_ns = pv.pointer("/spec/claimRef/namespace").and_then(|u| u.as_str()).unwrap_or("");
                    if cr_uid == uid(pvc) || (cr_uid.is_empty() && (cr_name.is_empty() || (cr_name == name && cr_ns == ns))) {
                        if phase != "Bound" || cr_uid.is_empty() {
                            bind(server, &pv, pvc);
                        }
                    } else if phase != "Bound" {
                        let msg = format!("volume {volume_name:?} already bound to a different claim.");
                        self.event(server, pvc, EventType::Warning, "FailedBinding", &msg);
                    }
                }
            }
            return;
        }
        if object::is_deleting(pvc) {
            return;
        }
        let class = object::str_at(pvc, "/spec/storageClassName").unwrap_or("").to_string();
        let sc = if class.is_empty() { None } else { server.store.get("storage.k8s.io/storageclasses", "", &class) };
        let wffc = sc.as_ref().is_some_and(|c| object::str_at(c, "/volumeBindingMode") == Some("WaitForFirstConsumer"));
        let selected = ann(pvc, ANN_SELECTED_NODE).map(String::from);
        if (!wffc || selected.is_some())
            && let Some(pv) = find_matching_volume(server, pvc, pvs, &class, selected.as_deref())
        {
            bind(server, &pv, pvc);
            return;
        }
        if class.is_empty() {
            self.event(server, pvc, EventType::Normal, "FailedBinding", "no persistent volumes available for this claim and no storage class is set");
            return;
        }
        let Some(sc) = sc else {
            let msg = format!("storageclass.storage.k8s.io {class:?} not found");
            self.event(server, pvc, EventType::Warning, "ProvisioningFailed", &msg);
            return;
        };
        if wffc && selected.is_none() {
            self.event(server, pvc, EventType::Normal, "WaitForFirstConsumer", "waiting for first consumer to be created before binding");
            return;
        }
        let provisioner = object::str_at(&sc, "/provisioner").unwrap_or("").to_string();
        if ann(pvc, ANN_STORAGE_PROVISIONER) != Some(provisioner.as_str()) || ann(pvc, ANN_BETA_STORAGE_PROVISIONER) != Some(provisioner.as_str()) {
            let p = provisioner.clone();
            let _ = update_object(server, "", "v1", "persistentvolumeclaims", Some(&ns), &name, None, "kube-controller-manager", move |cur| {
                let mut next = cur.clone();
                let anns = object::metadata_mut(&mut next).entry("annotations").or_insert_with(|| json!({}));
                anns[ANN_BETA_STORAGE_PROVISIONER] = json!(p);
                anns[ANN_STORAGE_PROVISIONER] = json!(p);
                next
            });
        }
        let msg = format!(
            "Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
        );
        self.event(server, pvc, EventType::Normal, "ExternalProvisioning", &msg);
    }
}

/// The smallest Available volume that satisfies the claim (class, size, modes, selector,
/// node affinity for delayed binding).
fn find_matching_volume(server: &ApiServer, pvc: &Value, pvs: &[std::sync::Arc<Value>], class: &str, node: Option<&str>) -> Option<std::sync::Arc<Value>> {
    let want = pvc.pointer("/spec/resources/requests/storage").and_then(|q| q.as_str()).and_then(parse_quantity).unwrap_or(0.0);
    let modes = strings(pvc.pointer("/spec/accessModes"));
    let mode = object::str_at(pvc, "/spec/volumeMode").unwrap_or("Filesystem");
    let selector = pvc.pointer("/spec/selector").filter(|s| !s.is_null()).map(crate::api::selectors::from_label_selector_json);
    let node_labels = node.and_then(|n| server.store.get("nodes", "", n));
    let mut best: Option<(f64, std::sync::Arc<Value>)> = None;
    for pv in pvs {
        if object::is_deleting(pv) {
            continue;
        }
        let have = pv.pointer("/spec/capacity/storage").and_then(|q| q.as_str()).and_then(parse_quantity).unwrap_or(0.0);
        if have < want || object::str_at(pv, "/spec/volumeMode").unwrap_or("Filesystem") != mode {
            continue;
        }
        // A volume pre-bound to this claim (e.g. just provisioned for it) wins outright.
        if let Some(cr) = pv.pointer("/spec/claimRef").filter(|c| !c.is_null()) {
            let same = cr["name"].as_str() == Some(object::name_of(pvc))
                && cr["namespace"].as_str() == Some(ns_of(pvc))
                && cr["uid"].as_str().is_none_or(|u| u.is_empty() || u == uid(pvc));
            if same {
                return Some(pv.clone());
            }
            continue;
        }
        if matches!(object::str_at(pv, "/status/phase"), Some("Released" | "Failed")) {
            continue;
        }
        let pv_modes = strings(pv.pointer("/spec/accessModes"));
        if object::str_at(pv, "/spec/storageClassName").unwrap_or("") != class || !modes.iter().all(|m| pv_modes.contains(m)) {
            continue;
        }
        if let Some(sel) = &selector {
            match sel {
                Ok(s) if s.matches(object::labels(pv)) => {}
                _ => continue,
            }
        }
        if let (Some(n), Some(terms)) = (node, pv.pointer("/spec/nodeAffinity/required/nodeSelectorTerms").and_then(|t| t.as_array())) {
            let host = node_labels.as_ref().and_then(|nl| object::labels(nl).and_then(|l| l.get("kubernetes.io/hostname")).and_then(|h| h.as_str()).map(String::from)).unwrap_or_else(|| n.to_string());
            let ok = terms.iter().any(|t| {
                t.get("matchExpressions").and_then(|e| e.as_array()).is_some_and(|exprs| {
                    exprs.iter().all(|e| e["key"] != "kubernetes.io/hostname" || strings(e.get("values")).contains(&host))
                })
            });
            if !ok {
                continue;
            }
        }
        if best.as_ref().is_none_or(|(c, _)| have < *c) {
            best = Some((have, pv.clone()));
        }
    }
    best.map(|(_, pv)| pv)
}

/// Bind volume and claim in the order the controller does: PV claimRef, PV phase, claim
/// volumeName + annotations, claim status.
fn bind(server: &ApiServer, pv: &Value, pvc: &Value) {
    let pv_name = object::name_of(pv).to_string();
    let ns = ns_of(pvc).to_string();
    let name = object::name_of(pvc).to_string();
    let claim_ref = json!({
        "kind": "PersistentVolumeClaim", "namespace": ns, "name": name, "uid": uid(pvc),
        "apiVersion": "v1", "resourceVersion": object::str_at(pvc, "/metadata/resourceVersion").unwrap_or(""),
    });
    let needs_ref = pv.pointer("/spec/claimRef/uid").and_then(|u| u.as_str()) != Some(uid(pvc));
    if needs_ref {
        let had_ref = pv.pointer("/spec/claimRef").is_some_and(|c| !c.is_null());
        let r = update_object(server, "", "v1", "persistentvolumes", None, &pv_name, None, "kube-controller-manager", |cur| {
            let mut next = cur.clone();
            next["spec"]["claimRef"] = claim_ref.clone();
            if !had_ref {
                let anns = object::metadata_mut(&mut next).entry("annotations").or_insert_with(|| json!({}));
                anns[ANN_BOUND_BY_CONTROLLER] = json!("yes");
            }
            next
        });
        if r.is_err() {
            return;
        }
    }
    set_pv_phase(server, &pv_name, "Bound", None);
    let by_controller = object::str_at(pvc, "/spec/volumeName").unwrap_or("").is_empty();
    let pvn = pv_name.clone();
    let set_volume = move |cur: &Value| {
        let mut next = cur.clone();
        next["spec"]["volumeName"] = json!(pvn);
        let anns = object::metadata_mut(&mut next).entry("annotations").or_insert_with(|| json!({}));
        anns[ANN_BIND_COMPLETED] = json!("yes");
        if by_controller {
            anns[ANN_BOUND_BY_CONTROLLER] = json!("yes");
        }
        next
    };
    let r = update_object(server, "", "v1", "persistentvolumeclaims", Some(&ns), &name, None, "kube-controller-manager", &set_volume);
    if r.as_ref().is_err_and(|e| e.code == 422) {
        // kube-apiserver lets an unset spec.volumeName be set once (ValidatePersistentVolumeClaimUpdate);
        // the embedded validation does not know that exception yet, so write it directly.
        let _ = server.store.modify::<()>("persistentvolumeclaims", &ns, &name, |cur| {
            let next = set_volume(cur);
            Ok((next != **cur).then_some(next))
        });
    }
    let modes = pv.pointer("/spec/accessModes").cloned().unwrap_or(json!([]));
    let capacity = pv.pointer("/spec/capacity").cloned().unwrap_or(json!({}));
    let _ = update_object(server, "", "v1", "persistentvolumeclaims", Some(&ns), &name, Some("status"), "kube-controller-manager", move |cur| {
        let mut next = cur.clone();
        let status = next.as_object_mut().unwrap().entry("status").or_insert_with(|| json!({}));
        status["phase"] = json!("Bound");
        status["accessModes"] = modes.clone();
        status["capacity"] = capacity.clone();
        next
    });
}

pub(crate) fn set_pv_phase(server: &ApiServer, name: &str, phase: &str, message: Option<&str>) {
    let _ = update_object(server, "", "v1", "persistentvolumes", None, name, Some("status"), "kube-controller-manager", |cur| {
        let mut next = cur.clone();
        let mut status = json!({"phase": phase, "lastPhaseTransitionTime": meta::now_rfc3339()});
        if let Some(m) = message {
            status["message"] = json!(m);
        }
        if cur.pointer("/status/phase").and_then(|p| p.as_str()) == Some(phase) {
            return next;
        }
        next["status"] = status;
        next
    });
}

fn set_claim_phase(server: &ApiServer, ns: &str, name: &str, phase: &str) {
    let _ = update_object(server, "", "v1", "persistentvolumeclaims", Some(ns), name, Some("status"), "kube-controller-manager", |cur| {
        let mut next = cur.clone();
        next["status"]["phase"] = json!(phase);
        next
    });
}

impl Controller for PvController {
    fn name(&self) -> &'static str {
        "persistentvolume-binder"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        matches!(&*ev.key, "persistentvolumeclaims" | "persistentvolumes" | "storage.k8s.io/storageclasses")
    }

    fn reconcile(&self, server: &ApiServer) {
        let (pvs, _) = server.store.list("persistentvolumes", None);
        for pv in &pvs {
            self.sync_volume(server, pv);
        }
        let (pvs, _) = server.store.list("persistentvolumes", None);
        let (pvcs, _) = server.store.list("persistentvolumeclaims", None);
        for pvc in &pvcs {
            self.sync_claim(server, pvc, &pvs);
        }
        // Volumes bound above need their phase; claims deleted above need Released.
        let (pvs, _) = server.store.list("persistentvolumes", None);
        for pv in &pvs {
            self.sync_volume(server, pv);
        }
    }
}
