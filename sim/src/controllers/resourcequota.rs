//! kube-controller-manager's resourcequota controller: every ResourceQuota's `status.hard` (its
//! spec) and `status.used` (what its namespace holds now), recomputed when the quota or an object it
//! counts changes. Enforcement is the admission plugin's ([`crate::server::quota`]).

use std::collections::BTreeSet;

use serde_json::Value;

use super::Controller;
use super::util;
use crate::server::quota::{self, QUOTAS};
use crate::api::object;
use crate::server::ApiServer;
use crate::store::StoreEvent;

#[derive(Default)]
pub struct ResourceQuotaController {
    /// Namespaces to recount.
    dirty: parking_lot::Mutex<BTreeSet<String>>,
    /// Namespaces that hold a quota, kept from quota events, so other events cost a set lookup.
    with_quotas: parking_lot::Mutex<BTreeSet<String>>,
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
            let any = !server.store.list(QUOTAS, Some(&ev.namespace)).0.is_empty();
            let mut with = self.with_quotas.lock();
            if any {
                with.insert(ev.namespace.clone());
            } else {
                with.remove(&ev.namespace);
            }
        } else if !self.with_quotas.lock().contains(&ev.namespace) {
            return false;
        }
        // A quota's own status write changes nothing it counts.
        if &*ev.key == QUOTAS && ev.prev.as_ref().is_some_and(|p| p.get("spec") == ev.object.get("spec")) {
            return false;
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
