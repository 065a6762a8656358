//! The namespace controller: empties a terminating namespace, reports what remains, then
//! removes the `kubernetes` finalizer so the namespace disappears.

use std::collections::{BTreeMap, BTreeSet};

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::api::object;
use super::clock::{Clock, Deadlines, Latency, Timing};
use super::Controller;
use crate::server::{meta, ApiServer, DeleteOptions, Operation, WriteOptions};
use crate::store::StoreEvent;

#[derive(Default)]
pub struct NamespaceController {
    terminating: Mutex<BTreeSet<String>>,
    /// `Timing::Kind`: an emptied namespace is finalized after the controller's latency.
    timing: Timing,
    clock: Clock,
    due: Deadlines,
}

impl Controller for NamespaceController {
    fn name(&self) -> &'static str {
        "namespace"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        if &*ev.key == "namespaces" {
            if object::is_deleting(&ev.object) && ev.kind != crate::store::EventType::Deleted {
                self.terminating.lock().insert(ev.name.clone());
                return true;
            }
            return false;
        }
        !ev.namespace.is_empty() && self.terminating.lock().contains(&ev.namespace)
    }

    fn next_wake(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.due.next()
    }

    fn reconcile(&self, server: &ApiServer) {
        // Pick up namespaces already terminating (e.g. at start).
        let nss: Vec<String> = {
            let mut t = self.terminating.lock();
            let (all, _) = server.store.list("namespaces", None);
            for n in all.iter().filter(|n| object::is_deleting(n)) {
                t.insert(object::name_of(n).to_string());
            }
            t.iter().cloned().collect()
        };
        for ns in nss {
            if self.reconcile_one(server, &ns) {
                self.terminating.lock().remove(&ns);
            }
        }
    }
}

impl NamespaceController {
    /// A namespace controller with `timing`'s latency on the cluster's `clock`.
    pub fn new(clock: Clock, timing: Timing) -> Self {
        NamespaceController { timing, clock, ..Default::default() }
    }

    /// Returns true when the namespace is gone (or no longer terminating).
    fn reconcile_one(&self, server: &ApiServer, ns: &str) -> bool {
        let Some(nsobj) = server.store.get("namespaces", "", ns) else { return true };
        if !object::is_deleting(&nsobj) {
            return true;
        }
        let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
        let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
        let mut seen_keys = BTreeSet::new();
        for rt in server.registry.all() {
            if !rt.namespaced || !seen_keys.insert(rt.key.clone()) || !rt.has_verb("delete") {
                continue;
            }
            // One object at a time: a namespace may hold half a million Events.
            let names = server.store.names(&rt.key, ns);
            if names.is_empty() {
                // Anything created since shows up as a change, which brings the next pass.
                continue;
            }
            for name in &names {
                if server.store.get(&rt.key, ns, name).is_some_and(|item| !object::is_deleting(&item)) {
                    let _ = server.delete(&rt, Some(ns), name, &DeleteOptions::default());
                }
            }
            let (left, _) = server.store.list(&rt.key, Some(ns));
            if !left.is_empty() {
                let label = if rt.group.is_empty() { format!("{}.", rt.plural) } else { format!("{}.{}", rt.plural, rt.group) };
                *remaining.entry(label).or_default() += left.len();
                for o in &left {
                    for f in object::finalizers(o) {
                        *finalizers.entry(f).or_default() += 1;
                    }
                }
            }
        }
        let nsrt = match server.resource("", "v1", "namespaces") {
            Ok(r) => r,
            Err(_) => return false,
        };
        let uid = object::uid_of(&nsobj).to_string();
        if remaining.is_empty() && !self.due.due(&uid, self.clock.now(), self.timing.delay(Latency::NamespaceTermination, &uid)) {
            return false;
        }
        if remaining.is_empty() {
            self.due.clear(&uid);
            let opts = WriteOptions { field_manager: Some("kube-controller-manager".into()), ..Default::default() };
            let r = server.guaranteed_update(&nsrt, "", ns, Some("finalize"), &opts, Operation::Update, |cur| {
                let mut next = cur.clone();
                if let Some(f) = next.pointer_mut("/spec/finalizers").and_then(|f| f.as_array_mut()) {
                    f.retain(|x| x != "kubernetes");
                }
                Ok(next)
            });
            return r.is_ok() && server.store.get("namespaces", "", ns).is_none();
        }
        // Report progress in the namespace's conditions, as the real controller does.
        let content = remaining.iter().map(|(k, v)| format!("{k} has {v} resource instances")).collect::<Vec<_>>().join(", ");
        let fins = finalizers.iter().map(|(k, v)| format!("{k} in {v} resource instances")).collect::<Vec<_>>().join(", ");
        let now = meta::now_rfc3339();
        let conditions = vec![
            cond("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered", "All resources successfully discovered", &now),
            cond("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions", "All legacy kube types successfully parsed", &now),
            cond("NamespaceDeletionContentFailure", "False", "ContentDeleted", "All content successfully deleted, may be waiting on finalization", &now),
            cond("NamespaceContentRemaining", "True", "SomeResourcesRemain", &format!("Some resources are remaining: {content}"), &now),
            if fins.is_empty() {
                cond("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers", "All content-preserving finalizers finished", &now)
            } else {
                cond("NamespaceFinalizersRemaining", "True", "SomeFinalizersRemain", &format!("Some content in the namespace has finalizers remaining: {fins}"), &now)
            },
        ];
        let _ = server.store.modify::<()>("namespaces", "", ns, |cur| {
            let old: Vec<Value> = cur.pointer("/status/conditions").and_then(|c| c.as_array()).cloned().unwrap_or_default();
            let same = old.len() == conditions.len() && old.iter().zip(&conditions).all(|(a, b)| a["type"] == b["type"] && a["status"] == b["status"] && a["message"] == b["message"]);
            if same {
                return Ok(None);
            }
            let mut next = (**cur).clone();
            next["status"]["conditions"] = json!(conditions);
            Ok(Some(next))
        });
        false
    }
}

fn cond(t: &str, s: &str, reason: &str, msg: &str, now: &str) -> Value {
    json!({"type": t, "status": s, "lastTransitionTime": now, "reason": reason, "message": msg})
}
