//! What a workload controller keeps of each pod from its watch: the informer cache reduced to
//! the facts a sync counts (its controller, active, ready, labels). A ReplicaSet of 100,000
//! pods then syncs without reading 100,000 pods, and pods nobody reads can be held packed by
//! the store (`Store::cool`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value};

use crate::api::object;
use crate::server::ApiServer;
use crate::store::{EventType, StoreEvent};

type Key = (String, String);

/// One pod as the controller counts it.
#[derive(Clone, Debug, PartialEq)]
pub struct PodFacts {
    pub controller: Option<String>,
    pub active: bool,
    pub ready: bool,
    /// Shared between pods with the same labels (a template's pods all have them).
    pub labels: Arc<Map<String, Value>>,
}

impl PodFacts {
    pub fn of(pod: &Value) -> PodFacts {
        PodFacts::sharing(pod, None)
    }

    fn sharing(pod: &Value, same: Option<&Arc<Map<String, Value>>>) -> PodFacts {
        let labels = object::labels(pod);
        let labels = match same {
            Some(s) if labels.is_some_and(|l| l == &**s) || (labels.is_none() && s.is_empty()) => s.clone(),
            _ => Arc::new(labels.cloned().unwrap_or_default()),
        };
        PodFacts { controller: object::controller_uid(pod).map(String::from), active: object::is_active(pod), ready: object::is_ready(pod), labels }
    }

    /// Whether the pod carries every one of `labels`.
    pub fn has_labels(&self, labels: &Map<String, Value>) -> bool {
        labels.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }
}

/// Active pods, and of those the ready ones and the ones with the template's labels.
#[derive(Default, Clone, Copy, Debug, PartialEq)]
pub struct Counts {
    pub active: usize,
    pub ready: usize,
    pub fully_labeled: usize,
}

impl Counts {
    pub fn add(&mut self, f: &PodFacts, template_labels: &Map<String, Value>) {
        if f.active {
            self.active += 1;
            self.ready += f.ready as usize;
            self.fully_labeled += f.has_labels(template_labels) as usize;
        }
    }
}

#[derive(Default)]
struct Index {
    pods: HashMap<Key, PodFacts>,
    /// Pod keys by their controller's uid ("" for orphans).
    by_controller: HashMap<String, HashSet<Key>>,
    /// The resourceVersion of the list the index was built from; `None` until built (and
    /// after missed events). Changes at or before it are already in.
    built_at: Option<u64>,
}

impl Index {
    fn set(&mut self, key: Key, facts: Option<PodFacts>) {
        if let Some(old) = self.pods.remove(&key) {
            let owner = old.controller.unwrap_or_default();
            if let Some(set) = self.by_controller.get_mut(&owner) {
                set.remove(&key);
                if set.is_empty() {
                    self.by_controller.remove(&owner);
                }
            }
        }
        if let Some(f) = facts {
            self.by_controller.entry(f.controller.clone().unwrap_or_default()).or_default().insert(key.clone());
            self.pods.insert(key, f);
        }
    }

    /// The facts of `pod`, sharing the labels of a pod of the same controller when equal.
    fn facts_of(&self, pod: &Value) -> PodFacts {
        let near = self.labels_near(object::controller_uid(pod)).cloned();
        PodFacts::sharing(pod, near.as_ref())
    }

    /// Labels an existing pod of the same controller has (to share them).
    fn labels_near(&self, controller: Option<&str>) -> Option<&Arc<Map<String, Value>>> {
        let k = self.by_controller.get(controller.unwrap_or(""))?.iter().next()?;
        self.pods.get(k).map(|f| &f.labels)
    }
}

/// The pods' facts, fed by the controller's `observe` and rebuilt from a list at start and
/// after missed events (`invalidate`).
#[derive(Default)]
pub struct OwnedPods(Mutex<Index>);

impl OwnedPods {
    /// Take in one store event (pods only; others are ignored).
    pub fn observe(&self, ev: &StoreEvent) {
        if &*ev.key != "pods" {
            return;
        }
        let mut ix = self.0.lock();
        // Not built yet, or the list it was built from already holds this change.
        if ix.built_at.is_none_or(|at| ev.rv <= at) {
            return;
        }
        let key = (ev.namespace.clone(), ev.name.clone());
        let facts = (ev.kind != EventType::Deleted).then(|| ix.facts_of(&ev.object));
        ix.set(key, facts);
    }

    /// Events were missed: rebuild on the next `ensure_built`.
    pub fn invalidate(&self) {
        self.0.lock().built_at = None;
    }

    /// Build from a list of every pod if not built (at start, after `invalidate`).
    pub fn ensure_built(&self, server: &ApiServer) {
        if self.0.lock().built_at.is_some() {
            return;
        }
        let (pods, rv) = server.store.list("pods", None);
        let mut ix = Index { built_at: Some(rv), ..Index::default() };
        for p in &pods {
            let facts = ix.facts_of(p);
            ix.set((object::ns_of(p).to_string(), object::name_of(p).to_string()), Some(facts));
        }
        *self.0.lock() = ix;
    }

    /// Counted over the active pods in `ns` whose controller has `uid`, without copying their
    /// facts (a sync of 100,000 pods counts, it does not clone).
    pub fn count(&self, ns: &str, uid: &str, template_labels: &Map<String, Value>) -> Counts {
        let ix = self.0.lock();
        let mut c = Counts::default();
        for f in ix.by_controller.get(uid).into_iter().flatten().filter(|(n, _)| n == ns).filter_map(|k| ix.pods.get(k)) {
            c.add(f, template_labels);
        }
        c
    }

    /// The facts of the pods in `ns` whose controller has `uid`.
    #[cfg(test)]
    pub fn controlled_by(&self, ns: &str, uid: &str) -> Vec<PodFacts> {
        let ix = self.0.lock();
        let Some(keys) = ix.by_controller.get(uid) else { return Vec::new() };
        keys.iter().filter(|(n, _)| n == ns).filter_map(|k| ix.pods.get(k)).cloned().collect()
    }

    /// The names of the active pods in `ns` without a controller whose labels `matches`.
    pub fn orphans(&self, ns: &str, matches: impl Fn(&Map<String, Value>) -> bool) -> Vec<String> {
        let ix = self.0.lock();
        let Some(keys) = ix.by_controller.get("") else { return Vec::new() };
        let mut names: Vec<String> = keys.iter().filter(|(n, _)| n == ns).filter(|k| ix.pods.get(*k).is_some_and(|f| f.active && matches(&f.labels))).map(|(_, name)| name.clone()).collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, owner: Option<&str>, phase: &str, ready: bool) -> Value {
        let mut p = json!({"metadata": {"name": name, "namespace": "ns", "labels": {"app": "a"}}, "status": {"phase": phase,
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        if let Some(uid) = owner {
            p["metadata"]["ownerReferences"] = json!([{"uid": uid, "controller": true, "kind": "ReplicaSet", "name": "rs"}]);
        }
        p
    }

    fn ev(rv: u64, kind: EventType, obj: Value) -> StoreEvent {
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        StoreEvent { rv, key: Arc::from("pods"), namespace: "ns".into(), name, kind, object: Arc::new(obj), prev: None }
    }

    fn built(at: u64) -> OwnedPods {
        let o = OwnedPods::default();
        o.0.lock().built_at = Some(at);
        o
    }

    #[test]
    fn events_move_pods_between_controllers_and_share_labels() {
        let o = built(1);
        o.observe(&ev(2, EventType::Added, pod("p1", None, "Pending", false)));
        o.observe(&ev(3, EventType::Added, pod("p2", Some("u1"), "Running", true)));
        assert_eq!(o.orphans("ns", |l| l.get("app") == Some(&json!("a"))), vec!["p1".to_string()]);
        assert!(o.orphans("other", |_| true).is_empty());
        // Adopted: the orphan moves under its controller and shares its labels.
        o.observe(&ev(4, EventType::Modified, pod("p1", Some("u1"), "Running", false)));
        assert!(o.orphans("ns", |_| true).is_empty());
        let owned = o.controlled_by("ns", "u1");
        assert_eq!(owned.len(), 2);
        assert_eq!(owned.iter().filter(|f| f.ready).count(), 1);
        assert!(Arc::ptr_eq(&owned[0].labels, &owned[1].labels));
        assert!(owned.iter().all(|f| f.has_labels(&serde_json::from_value(json!({"app": "a"})).unwrap())));
        o.observe(&ev(5, EventType::Deleted, pod("p2", Some("u1"), "Running", true)));
        assert_eq!(o.controlled_by("ns", "u1").len(), 1);
        assert!(o.controlled_by("ns", "u2").is_empty());
    }

    #[test]
    fn changes_the_list_already_holds_are_not_applied_again() {
        let o = built(10);
        // A deletion replayed after the list that no longer had the pod must not bring it back.
        o.observe(&ev(9, EventType::Added, pod("gone", Some("u1"), "Running", true)));
        assert!(o.controlled_by("ns", "u1").is_empty());
        o.invalidate();
        o.observe(&ev(11, EventType::Added, pod("late", Some("u1"), "Running", true)));
        assert!(o.controlled_by("ns", "u1").is_empty(), "not built: nothing is taken in");
    }
}
