//! kube-controller-manager's resourcequota controller: every ResourceQuota's `status.hard` (its
//! spec) and `status.used` (what its namespace holds now). Enforcement is the admission plugin's
//! ([`crate::server::quota`]).
//!
//! A namespace is recounted when a quota in it is created or its spec changes, and when a change
//! moves what a quota tracks: a create (the admission plugin charges it), a delete, an update that
//! changes the object's charge (a pod gone terminal, a Service's type) — kube-controller-manager's
//! replenishment (resource_quota_monitor.go). Other writes in the namespace (Endpoints, Events, a
//! pod's status) leave `status.used` as it is.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Controller;
use super::util;
use crate::server::quota::{self, QUOTAS};
use crate::api::object;
use crate::server::ApiServer;
use crate::store::{EventType, StoreEvent};

#[derive(Default)]
pub struct ResourceQuotaController {
    /// Namespaces to recount.
    dirty: parking_lot::Mutex<BTreeSet<String>>,
    /// The keys the quotas of each namespace track, kept from quota events, so other events cost a
    /// map lookup.
    tracked: parking_lot::Mutex<BTreeMap<String, BTreeSet<String>>>,
}

impl Controller for ResourceQuotaController {
    fn name(&self) -> &'static str {
        "resourcequota"
    }

    fn observe(&self, server: &ApiServer, ev: &StoreEvent) -> bool {
        if ev.namespace.is_empty() {
            return false;
        }
        if &*ev.key == QUOTAS {
            let keys: BTreeSet<String> = server
                .store
                .list(QUOTAS, Some(&ev.namespace))
                .0
                .iter()
                .filter_map(|q| q.pointer("/spec/hard").and_then(Value::as_object))
                .flat_map(|hard| hard.keys().cloned())
                .collect();
            let mut tracked = self.tracked.lock();
            if keys.is_empty() {
                tracked.remove(&ev.namespace);
            } else {
                tracked.insert(ev.namespace.clone(), keys);
            }
            // A quota's own status write changes nothing it counts.
            if ev.prev.as_ref().is_some_and(|p| p.get("spec") == ev.object.get("spec")) {
                return false;
            }
        } else {
            let tracked = self.tracked.lock();
            let Some(keys) = tracked.get(&ev.namespace) else { return false };
            let charged = |o: Option<&Value>| -> BTreeMap<String, f64> {
                o.map(|o| quota::charge_of(&ev.key, o)).unwrap_or_default().into_iter().filter(|(k, _)| keys.contains(k)).collect()
            };
            let after = if ev.kind == EventType::Deleted { BTreeMap::new() } else { charged(Some(&ev.object)) };
            let before = if ev.kind == EventType::Deleted { ev.prev.as_deref().or(Some(&ev.object)) } else { ev.prev.as_deref() };
            if charged(before) == after {
                return false;
            }
        }
        self.dirty.lock().insert(ev.namespace.clone())
    }

    fn reconcile(&self, server: &ApiServer) {
        let namespaces = std::mem::take(&mut *self.dirty.lock());
        let Ok(rt) = server.resource("", "v1", QUOTAS) else { return };
        for ns in namespaces {
            for q in server.store.list(QUOTAS, Some(&ns)).0 {
                let status = quota::status_of(server, &q);
                if q.get("status") == Some(&status) {
                    continue;
                }
                let _ = util::write_status(server, &rt, &ns, object::name_of(&q), |_: &Value| Some(status.clone()));
            }
        }
    }
}
