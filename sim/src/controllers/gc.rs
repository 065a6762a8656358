//! The garbage collector: an owner→dependents index kept from store events; dependents
//! whose owners are all gone are deleted (background), deleting owners with
//! `foregroundDeletion` wait for their blocking dependents, `orphan` strips ownerRefs.

use crate::api::object::At;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

use crate::api::object;
use super::clock::{Clock, Deadlines, Latency, Timing};
use super::util::{self, KCM};
use super::Controller;
use crate::registry::ResourceType;
use crate::server::{ApiServer, DeleteOptions, Propagation};
use crate::store::{EventType as Ev, StoreEvent};

const FOREGROUND: &str = "foregroundDeletion";
const ORPHAN: &str = "orphan";

type ObjKey = (String, String, String);

#[derive(Default)]
struct State {
    initialized: bool,
    /// owner uid → dependents.
    index: HashMap<String, HashSet<ObjKey>>,
    /// Dependents whose owners must be checked.
    pending: HashSet<ObjKey>,
    /// Deleting owners with a GC finalizer.
    owners: HashSet<ObjKey>,
}

#[derive(Default)]
pub struct GarbageCollector {
    state: Mutex<State>,
    /// `Timing::Kind`: a dependent whose owners are gone is deleted after the GC's latency.
    timing: Timing,
    clock: Clock,
    due: Deadlines,
    /// Dependents waiting out that latency (checked again when it falls due).
    delayed: Mutex<HashSet<ObjKey>>,
}

fn key_of(ev_key: &str, obj: &Value) -> ObjKey {
    (ev_key.to_string(), object::ns_of(obj).to_string(), object::name_of(obj).to_string())
}

fn ref_uids(obj: &Value) -> Vec<String> {
    object::owner_refs(obj).iter().filter_map(|r| r["uid"].as_str().map(String::from)).collect()
}

fn has_gc_finalizer(obj: &Value) -> bool {
    object::is_deleting(obj) && object::finalizers(obj).iter().any(|f| f == FOREGROUND || f == ORPHAN)
}

impl Controller for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbage-collector"
    }

    fn observe(&self, server: &ApiServer, ev: &StoreEvent) -> bool {
        if &*ev.key == "events" {
            return false;
        }
        let mut st = self.state.lock();
        if !st.initialized {
            return true;
        }
        let k = key_of(&ev.key, &ev.object);
        let mut dirty = false;
        if let Some(prev) = &ev.prev {
            for u in ref_uids(prev) {
                if let Some(s) = st.index.get_mut(&u) {
                    s.remove(&k);
                }
            }
        }
        let uid = object::uid_of(&ev.object).to_string();
        if ev.kind == Ev::Deleted {
            // Its dependents may now be orphans; its owners may be waiting for it.
            if let Some(deps) = st.index.remove(&uid) {
                dirty |= !deps.is_empty();
                st.pending.extend(deps);
            }
            st.owners.remove(&k);
            for r in object::owner_refs(&ev.object) {
                if let Some(ok) = resolve_key(server, &ev.namespace, r) {
                    st.owners.insert(ok);
                    dirty = true;
                }
            }
            return dirty;
        }
        for u in ref_uids(&ev.object) {
            st.index.entry(u).or_default().insert(k.clone());
        }
        if !object::owner_refs(&ev.object).is_empty() {
            st.pending.insert(k.clone());
            dirty = true;
        }
        if has_gc_finalizer(&ev.object) {
            st.owners.insert(k);
            dirty = true;
        }
        dirty
    }

    fn next_wake(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.due.next()
    }

    fn reconcile(&self, server: &ApiServer) {
        {
            let mut st = self.state.lock();
            let delayed = std::mem::take(&mut *self.delayed.lock());
            st.pending.extend(delayed);
            if !st.initialized {
                st.initialized = true;
                let mut seen = HashSet::new();
                for rt in server.registry.all() {
                    if !seen.insert(rt.key.clone()) || rt.key == "events" {
                        continue;
                    }
                    for o in server.store.list(&rt.key, None).0 {
                        let k = key_of(&rt.key, &o);
                        for u in ref_uids(&o) {
                            st.index.entry(u).or_default().insert(k.clone());
                        }
                        if !object::owner_refs(&o).is_empty() {
                            st.pending.insert(k.clone());
                        }
                        if has_gc_finalizer(&o) {
                            st.owners.insert(k);
                        }
                    }
                }
            }
        }
        // Owners queue dependents and deletions queue owners: run until quiet (bounded).
        for _ in 0..16 {
            let (owners, pending) = {
                let mut st = self.state.lock();
                (std::mem::take(&mut st.owners), std::mem::take(&mut st.pending))
            };
            if owners.is_empty() && pending.is_empty() {
                break;
            }
            for k in owners {
                self.process_owner(server, &k);
            }
            for k in pending {
                self.process_dependent(server, &k);
            }
        }
    }
}

/// The storage key of the object a reference names (namespaced owners share the dependent's namespace).
fn resolve(server: &ApiServer, r: &Value) -> Option<Arc<ResourceType>> {
    server.registry.by_kind(r["apiVersion"].as_str()?, r["kind"].as_str()?)
}

fn resolve_key(server: &ApiServer, dep_ns: &str, r: &Value) -> Option<ObjKey> {
    let rt = resolve(server, r)?;
    let ns = if rt.namespaced { dep_ns } else { "" };
    Some((rt.key.clone(), ns.to_string(), r["name"].as_str()?.to_string()))
}

enum OwnerState {
    Solid,
    Dangling,
    Waiting,
    Unknown,
}

fn owner_state(server: &ApiServer, dep_ns: &str, r: &Value) -> OwnerState {
    let Some((key, ns, name)) = resolve_key(server, dep_ns, r) else { return OwnerState::Unknown };
    match server.store.get(&key, &ns, &name) {
        Some(o) if object::uid_of(&o) == r["uid"].as_str().unwrap_or("") => {
            if object::is_deleting(&o) && object::finalizers(&o).iter().any(|f| f == FOREGROUND) {
                OwnerState::Waiting
            } else {
                OwnerState::Solid
            }
        }
        _ => OwnerState::Dangling,
    }
}

impl GarbageCollector {
    /// A garbage collector with `timing`'s latency on the cluster's `clock`.
    pub fn new(clock: Clock, timing: Timing) -> Self {
        GarbageCollector { timing, clock, ..Default::default() }
    }

    fn rt_for_key(server: &ApiServer, key: &str) -> Option<Arc<ResourceType>> {
        server.registry.all().into_iter().find(|rt| rt.key == key)
    }

    fn dependents(&self, uid: &str) -> Vec<ObjKey> {
        self.state.lock().index.get(uid).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Returns true when done with this owner.
    fn process_owner(&self, server: &ApiServer, k: &ObjKey) -> bool {
        let Some(owner) = server.store.get(&k.0, &k.1, &k.2) else { return true };
        if !object::is_deleting(&owner) {
            return true;
        }
        let Some(rt) = Self::rt_for_key(server, &k.0) else { return true };
        let uid = object::uid_of(&owner).to_string();
        let fins = object::finalizers(&owner);
        let ns = if rt.namespaced { Some(k.1.as_str()) } else { None };
        if fins.iter().any(|f| f == ORPHAN) {
            for (dk, dns, dname) in self.dependents(&uid) {
                let Some(drt) = Self::rt_for_key(server, &dk) else { continue };
                let _ = util::update(server, &drt, &dns, &dname, KCM, |o| {
                    let Some(refs) = o.pointer_mut("/metadata/ownerReferences").and_then(|r| r.as_array_mut()) else { return false };
                    let before = refs.len();
                    refs.retain(|r| r["uid"].as_str() != Some(uid.as_str()));
                    if refs.is_empty() {
                        o["metadata"].as_object_mut().map(|m| m.remove("ownerReferences"));
                    }
                    before != o.at("/metadata/ownerReferences").and_then(|r| r.as_array()).map(|a| a.len()).unwrap_or(0)
                });
            }
            let _ = server.remove_finalizer(&rt, ns, &k.2, ORPHAN);
            return true;
        }
        if fins.iter().any(|f| f == FOREGROUND) {
            let mut blocking = 0;
            for (dk, dns, dname) in self.dependents(&uid) {
                let Some(dep) = server.store.get(&dk, &dns, &dname) else { continue };
                let Some(r) = object::owner_refs(&dep).iter().find(|r| r["uid"].as_str() == Some(uid.as_str())).cloned() else { continue };
                if r["blockOwnerDeletion"] == true {
                    blocking += 1;
                }
                if !object::is_deleting(&dep) {
                    self.state.lock().pending.insert((dk, dns, dname));
                }
            }
            if blocking == 0 {
                let _ = server.remove_finalizer(&rt, ns, &k.2, FOREGROUND);
                return true;
            }
            // The dependents' deletions will wake us again.
            return true;
        }
        true
    }

    fn process_dependent(&self, server: &ApiServer, k: &ObjKey) {
        let Some(dep) = server.store.get(&k.0, &k.1, &k.2) else { return };
        let refs = object::owner_refs(&dep).to_vec();
        if refs.is_empty() {
            return;
        }
        let (mut solid, mut gone_uids, mut waiting) = (0, Vec::new(), 0);
        for r in &refs {
            match owner_state(server, &k.1, r) {
                OwnerState::Solid | OwnerState::Unknown => solid += 1,
                OwnerState::Dangling => gone_uids.push(r["uid"].as_str().unwrap_or("").to_string()),
                OwnerState::Waiting => {
                    waiting += 1;
                    gone_uids.push(r["uid"].as_str().unwrap_or("").to_string());
                }
            }
        }
        if gone_uids.is_empty() {
            return;
        }
        let Some(rt) = Self::rt_for_key(server, &k.0) else { return };
        if solid == 0 {
            if object::is_deleting(&dep) {
                return;
            }
            let uid = object::uid_of(&dep);
            if !self.due.due(uid, self.clock.now(), self.timing.delay(Latency::GarbageCollection, uid)) {
                self.delayed.lock().insert(k.clone());
                return;
            }
            self.due.clear(uid);
            // Cascade foreground through dependents that have dependents of their own.
            let propagation = if waiting > 0 && !self.dependents(object::uid_of(&dep)).is_empty() { Propagation::Foreground } else { Propagation::Background };
            let ns = if rt.namespaced { Some(k.1.as_str()) } else { None };
            let o = DeleteOptions { propagation: Some(propagation), precondition_uid: Some(object::uid_of(&dep).to_string()), ..Default::default() };
            let _ = server.delete(&rt, ns, &k.2, &o);
        } else {
            let _ = util::update(server, &rt, &k.1, &k.2, KCM, |o| {
                let Some(refs) = o.pointer_mut("/metadata/ownerReferences").and_then(|r| r.as_array_mut()) else { return false };
                refs.retain(|r| !gone_uids.iter().any(|u| r["uid"].as_str() == Some(u.as_str())));
                true
            });
        }
    }
}
