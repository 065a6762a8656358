//! The pvc-protection and pv-protection controllers (K8S `pkg/controller/volume/pvcprotection`,
//! `pvprotection`): remove the finalizers the admission plugin added once the object is being
//! deleted and no longer in use.

use std::collections::BTreeSet;

use parking_lot::Mutex;
use serde_json::Value;

use crate::api::object;
use super::admission::{PVC_PROTECTION, PV_PROTECTION};
use crate::controllers::Controller;
use crate::server::ApiServer;
use crate::store::StoreEvent;

/// Does this pod still use the claim? Only scheduled, not terminated pods count
/// (`podUsesPVC`: the kubelet refuses to start pods whose claim is being deleted).
pub fn pod_uses_claim(pod: &Value, claim: &str) -> bool {
    let scheduled = object::str_at(pod, "/spec/nodeName").is_some_and(|n| !n.is_empty());
    let terminated = matches!(object::str_at(pod, "/status/phase"), Some("Succeeded" | "Failed"));
    if !scheduled || terminated {
        return false;
    }
    let pod_name = object::name_of(pod);
    pod.pointer("/spec/volumes").and_then(|v| v.as_array()).is_some_and(|vols| {
        vols.iter().any(|v| {
            v.pointer("/persistentVolumeClaim/claimName").and_then(|c| c.as_str()) == Some(claim)
                // Generic ephemeral volumes: the claim is `<pod>-<volume>`.
                || (v.get("ephemeral").is_some() && v.get("name").and_then(|n| n.as_str()).is_some_and(|n| format!("{pod_name}-{n}") == claim))
        })
    })
}

#[derive(Default)]
pub struct PvcProtection {
    /// Namespaces holding a terminating protected claim (pod events there matter).
    watched: Mutex<BTreeSet<String>>,
}

impl Controller for PvcProtection {
    fn name(&self) -> &'static str {
        "pvc-protection"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        match &*ev.key {
            "persistentvolumeclaims" => object::is_deleting(&ev.object),
            "pods" => self.watched.lock().contains(&ev.namespace),
            _ => false,
        }
    }

    fn reconcile(&self, server: &ApiServer) {
        let Ok(rt) = server.resource("", "v1", "persistentvolumeclaims") else { return };
        let (pvcs, _) = server.store.list("persistentvolumeclaims", None);
        let mut watched = BTreeSet::new();
        for pvc in pvcs.iter().filter(|p| object::is_deleting(p) && object::finalizers(p).iter().any(|f| f == PVC_PROTECTION)) {
            let ns = object::str_at(pvc, "/metadata/namespace").unwrap_or("");
            let name = object::name_of(pvc);
            let (pods, _) = server.store.list("pods", Some(ns));
            if pods.iter().any(|p| pod_uses_claim(p, name)) {
                watched.insert(ns.to_string());
                continue;
            }
            let _ = server.remove_finalizer(&rt, Some(ns), name, PVC_PROTECTION);
        }
        *self.watched.lock() = watched;
    }
}

pub struct PvProtection;

impl Controller for PvProtection {
    fn name(&self) -> &'static str {
        "pv-protection"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        &*ev.key == "persistentvolumes" && object::is_deleting(&ev.object)
    }

    fn reconcile(&self, server: &ApiServer) {
        let Ok(rt) = server.resource("", "v1", "persistentvolumes") else { return };
        let (pvs, _) = server.store.list("persistentvolumes", None);
        for pv in pvs.iter().filter(|p| object::is_deleting(p) && object::finalizers(p).iter().any(|f| f == PV_PROTECTION)) {
            if object::str_at(pv, "/status/phase") != Some("Bound") {
                let _ = server.remove_finalizer(&rt, None, object::name_of(pv), PV_PROTECTION);
            }
        }
    }
}
