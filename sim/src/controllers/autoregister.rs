//! kube-aggregator's autoregister, as kube-apiserver runs it: a local APIService for every built-in
//! group version, made once at start (label `kube-aggregator.kubernetes.io/automanaged: onstart`), and
//! one per served CRD group version (`automanaged: "true"`, kept in sync with the CRDs and removed with
//! the last CRD serving it). Local APIServices are always Available.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::Controller;
use crate::api::object;
use crate::server::{ApiServer, DeleteOptions, WriteOptions, meta};
use crate::store::StoreEvent;

const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";
const LABEL: &str = "kube-aggregator.kubernetes.io/automanaged";

/// (group, version, groupPriorityMinimum, versionPriority) of every built-in group version, as
/// kube-apiserver 1.35.4 registers them (read from a running one; the order of `kubectl api-versions`).
const BUILT_IN: &[(&str, &str, i64, i64)] = &[
    ("", "v1", 18000, 1),
    ("admissionregistration.k8s.io", "v1", 16700, 15),
    ("apiextensions.k8s.io", "v1", 16700, 15),
    ("apps", "v1", 17800, 15),
    ("authentication.k8s.io", "v1", 17700, 15),
    ("authorization.k8s.io", "v1", 17600, 15),
    ("autoscaling", "v1", 17500, 15),
    ("autoscaling", "v2", 17500, 30),
    ("batch", "v1", 17400, 15),
    ("certificates.k8s.io", "v1", 17300, 15),
    ("coordination.k8s.io", "v1", 16500, 15),
    ("discovery.k8s.io", "v1", 16200, 15),
    ("events.k8s.io", "v1", 17750, 15),
    ("flowcontrol.apiserver.k8s.io", "v1", 16100, 21),
    ("networking.k8s.io", "v1", 17200, 15),
    ("node.k8s.io", "v1", 16300, 15),
    ("policy", "v1", 17100, 15),
    ("rbac.authorization.k8s.io", "v1", 17000, 15),
    ("resource.k8s.io", "v1", 16200, 21),
    ("scheduling.k8s.io", "v1", 16600, 15),
    ("storage.k8s.io", "v1", 16800, 15),
];

/// crdregistration_controller.go: "CRDs should have relatively low priority".
const CRD_PRIORITY: (i64, i64) = (1000, 100);

#[derive(Default)]
pub struct AutoRegister {
    started: std::sync::atomic::AtomicBool,
}

impl Controller for AutoRegister {
    fn name(&self) -> &'static str {
        "autoregister"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        &*ev.key == CRDS
    }

    fn reconcile(&self, server: &ApiServer) {
        let Ok(rt) = server.resource("apiregistration.k8s.io", "v1", "apiservices") else { return };
        if !self.started.swap(true, std::sync::atomic::Ordering::Relaxed) {
            for &(group, version, g, v) in BUILT_IN {
                ensure(server, &rt, group, version, (g, v), "onstart");
            }
        }
        let (crds, _) = server.store.list(CRDS, None);
        let mut wanted = BTreeSet::new();
        for crd in crds.iter().filter(|c| !object::is_deleting(c)) {
            let group = object::str_at(crd, "/spec/group").unwrap_or_default();
            for v in crd.pointer("/spec/versions").and_then(Value::as_array).into_iter().flatten() {
                if v["served"].as_bool() == Some(true)
                    && let Some(version) = v["name"].as_str()
                {
                    wanted.insert((group.to_string(), version.to_string()));
                }
            }
        }
        for (group, version) in &wanted {
            ensure(server, &rt, group, version, CRD_PRIORITY, "true");
        }
        // Only what this controller keeps in sync goes: never an APIService someone registered.
        let (all, _) = server.store.list(&rt.key, None);
        for s in all.iter().filter(|s| s.pointer(&format!("/metadata/labels/{}", LABEL.replace('/', "~1"))).and_then(Value::as_str) == Some("true")) {
            let key = (object::str_at(s, "/spec/group").unwrap_or_default().to_string(), object::str_at(s, "/spec/version").unwrap_or_default().to_string());
            if !wanted.contains(&key) {
                let _ = server.delete(&rt, None, object::name_of(s), &DeleteOptions::default());
            }
        }
    }
}

/// Create `<version>.<group>` unless it exists (a user's own APIService of that name stays as it is).
fn ensure(server: &ApiServer, rt: &crate::registry::ResourceType, group: &str, version: &str, (g, v): (i64, i64), managed: &str) {
    let name = format!("{version}.{group}");
    if server.get(rt, None, &name).is_ok() {
        return;
    }
    let mut spec = json!({"version": version, "groupPriorityMinimum": g, "versionPriority": v});
    if !group.is_empty() {
        spec["group"] = json!(group);
    }
    let obj = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": name, "labels": {LABEL: managed}}, "spec": spec});
    let opts = WriteOptions { field_manager: Some("kube-apiserver".into()), ..Default::default() };
    if server.create(rt, None, obj, &opts).is_err() {
        return;
    }
    let status = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": name},
        "status": {"conditions": [{"type": "Available", "status": "True", "lastTransitionTime": meta::now_rfc3339(),
            "reason": "Local", "message": "Local APIServices are always available"}]}});
    let _ = server.patch(rt, None, &name, crate::api::patch::PatchType::Merge, &status, Some("status"), &opts);
}
