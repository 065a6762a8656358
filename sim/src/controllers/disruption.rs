//! The disruption controller: PodDisruptionBudget status (expectedPods, currentHealthy,
//! desiredHealthy, disruptionsAllowed, DisruptionAllowed condition) that eviction consults.

use serde_json::json;

use super::util::{self, Dirty};
use super::Controller;
use crate::api::selectors;
use crate::api::object;
use crate::server::{meta, ApiServer};
use crate::store::StoreEvent;

const KEY: &str = "policy/poddisruptionbudgets";

#[derive(Default)]
pub struct DisruptionController {
    dirty: Dirty,
}

impl Controller for DisruptionController {
    fn name(&self) -> &'static str {
        "disruption"
    }

    fn observe(&self, server: &ApiServer, ev: &StoreEvent) -> bool {
        match &*ev.key {
            KEY => self.dirty.add(&ev.namespace, &ev.name),
            "pods" => {
                let mut hit = false;
                for pdb in server.store.list(KEY, Some(&ev.namespace)).0 {
                    hit |= self.dirty.add(&ev.namespace, object::name_of(&pdb));
                }
                hit
            }
            _ => false,
        }
    }

    fn reconcile(&self, server: &ApiServer) {
        let rt = util::rt(server, "policy", "v1", "poddisruptionbudgets");
        for pdb in self.dirty.take(server, KEY) {
            let ns = object::ns_of(&pdb).to_string();
            let sel = pdb.pointer("/spec/selector").and_then(|s| selectors::from_label_selector_json(s).ok());
            let pods: Vec<_> = util::pods(server, Some(&ns)).into_iter()
                .filter(|p| sel.as_ref().is_some_and(|s| s.matches(object::labels(p))) && object::is_active(p))
                .collect();
            let expected = pods.len() as i64;
            let healthy = pods.iter().filter(|p| object::is_ready(p)).count() as i64;
            let desired = if let Some(min) = pdb.pointer("/spec/minAvailable") {
                util::int_or_percent(Some(min), expected, true, 0)
            } else if let Some(max) = pdb.pointer("/spec/maxUnavailable") {
                (expected - util::int_or_percent(Some(max), expected, true, 0)).max(0)
            } else {
                expected
            };
            let allowed = (healthy - desired).max(0);
            let now = meta::now_rfc3339();
            let _ = util::write_status(server, &rt, &ns, object::name_of(&pdb), |cur| {
                let (status, reason) = if allowed > 0 { ("True", "SufficientPods") } else { ("False", "InsufficientPods") };
                let prev = object::condition(cur, "DisruptionAllowed");
                let ltt = prev.filter(|c| c["status"] == status).map(|c| c["lastTransitionTime"].clone()).unwrap_or(json!(now));
                Some(json!({
                    "conditions": [{"type": "DisruptionAllowed", "status": status, "reason": reason, "message": "", "lastTransitionTime": ltt,
                        "observedGeneration": cur.pointer("/metadata/generation").cloned().unwrap_or(json!(1))}],
                    "currentHealthy": healthy, "desiredHealthy": desired, "disruptionsAllowed": allowed, "expectedPods": expected,
                    "observedGeneration": cur.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
                }))
            });
        }
    }
}
