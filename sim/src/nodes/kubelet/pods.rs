//! The kubelet's pod manager: the pods bound to its node as its watch saw them, and which of
//! them have something to do. A pass then reads only those pods, not all of the node's: with
//! a hundred pods on each node, the ones already Running stay untouched and the store can
//! hold them packed (`Store::cool`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

use crate::api::object;
use crate::server::ApiServer;
use crate::store::{EventType, StoreEvent};

type Key = (String, String);

/// One pod on the node: its uid and whether it is being deleted.
#[derive(Clone, Debug, PartialEq)]
struct Known {
    uid: String,
    deleting: bool,
}

#[derive(Default)]
struct State {
    known: HashMap<Key, Known>,
    /// Pods whose last seen state needs the kubelet: to start, to kill, to complete.
    work: BTreeSet<Key>,
    /// Rebuilt from the store on the next pass (at start, after missed events).
    stale: bool,
}

impl State {
    /// Note `pod` as seen; whether it needs the kubelet.
    fn take_in(&mut self, key: Key, pod: &Value, needs_work: impl Fn(&Value) -> bool) -> bool {
        self.known.insert(key.clone(), Known { uid: object::uid_of(pod).to_string(), deleting: object::is_deleting(pod) });
        let needs = needs_work(pod);
        if needs {
            self.work.insert(key);
        } else {
            self.work.remove(&key);
        }
        needs
    }
}

pub struct PodManager(Mutex<State>);

impl Default for PodManager {
    fn default() -> Self {
        PodManager(Mutex::new(State { stale: true, ..State::default() }))
    }
}

impl PodManager {
    /// Take in an event about a pod on this node; whether the pod now needs the kubelet.
    pub fn observe(&self, ev: &StoreEvent, needs_work: impl Fn(&Value) -> bool) -> bool {
        let key = (ev.namespace.clone(), ev.name.clone());
        let mut st = self.0.lock();
        if ev.kind == EventType::Deleted {
            st.known.remove(&key);
            st.work.remove(&key);
            return false;
        }
        st.take_in(key, &ev.object, needs_work)
    }

    /// Events were missed: rebuild on the next pass.
    pub fn invalidate(&self) {
        self.0.lock().stale = true;
    }

    /// The pods this pass works on: those marked, read now; after `invalidate` (and at
    /// start), every pod on the node, read from the store's node index, which rebuilds what
    /// is known.
    pub fn to_work_on(&self, server: &ApiServer, node: &str, needs_work: impl Fn(&Value) -> bool) -> Vec<Arc<Value>> {
        if std::mem::take(&mut self.0.lock().stale) {
            let pods = server.store.pods_on_node(node);
            let mut st = State::default();
            let mut working = Vec::new();
            for p in pods {
                if st.take_in((object::ns_of(&p).to_string(), object::name_of(&p).to_string()), &p, &needs_work) {
                    working.push(p);
                }
            }
            *self.0.lock() = st;
            return working;
        }
        let keys: Vec<Key> = self.0.lock().work.iter().cloned().collect();
        keys.iter().filter_map(|(ns, name)| server.store.get("pods", ns, name)).filter(|p| needs_work(p)).collect()
    }

    /// The uids of the pods on the node (`live`: those not being deleted only).
    pub fn uids(&self, live: bool) -> Vec<String> {
        self.0.lock().known.values().filter(|k| !(live && k.deleting)).map(|k| k.uid.clone()).collect()
    }

    /// The pod on the node with `uid`, read now.
    pub fn by_uid(&self, server: &ApiServer, uid: &str) -> Option<Arc<Value>> {
        let key = self.0.lock().known.iter().find(|(_, k)| k.uid == uid).map(|(key, _)| key.clone())?;
        server.store.get("pods", &key.0, &key.1).filter(|p| object::uid_of(p) == uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(kind: EventType, name: &str, phase: &str, deleting: bool) -> StoreEvent {
        let mut p = json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("u-{name}")}, "status": {"phase": phase}});
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        StoreEvent { rv: 1, key: Arc::from("pods"), namespace: "ns".into(), name: name.into(), kind, object: Arc::new(p), prev: None }
    }

    fn pending(p: &Value) -> bool {
        object::phase(p) == "Pending" || object::is_deleting(p)
    }

    #[test]
    fn work_follows_each_pods_last_state() {
        let m = PodManager::default();
        assert!(m.observe(&ev(EventType::Added, "a", "Pending", false), pending));
        assert!(!m.observe(&ev(EventType::Added, "b", "Running", false), pending));
        assert_eq!(m.0.lock().work.iter().map(|k| k.1.as_str()).collect::<Vec<_>>(), ["a"]);
        // Started: nothing left to do for it; being deleted: the kubelet kills it.
        assert!(!m.observe(&ev(EventType::Modified, "a", "Running", false), pending));
        assert!(m.observe(&ev(EventType::Modified, "b", "Running", true), pending));
        assert_eq!(m.0.lock().work.iter().map(|k| k.1.as_str()).collect::<Vec<_>>(), ["b"]);
        let mut all = m.uids(false);
        all.sort();
        assert_eq!(all, ["u-a", "u-b"]);
        assert_eq!(m.uids(true), ["u-a"], "b is being deleted");
        assert!(!m.observe(&ev(EventType::Deleted, "b", "Running", true), pending));
        assert_eq!(m.uids(false), ["u-a"]);
        assert!(m.0.lock().work.is_empty());
    }
}
