//! Object storage: one global resourceVersion counter, objects per resource type, and the
//! event log that watches replay from (what etcd + the watch cache are to kube-apiserver).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::broadcast;

/// How many past events a watch can resume from by default; older versions get 410 Gone.
/// The log holds the objects it carries, so it bounds what deleted objects keep alive.
pub const EVENT_LOG_CAPACITY: usize = 200_000;
/// Changes older than this are dropped from the history once it holds more than
/// `HISTORY_FLOOR` of them (the watch cache's 75 s `eventFreshDuration`: what it sizes
/// itself to keep), so memory held by deleted objects' past comes back.
pub const HISTORY_FRESH: std::time::Duration = std::time::Duration::from_secs(75);
/// History kept whatever its age (the watch cache's lower bound, 100 per resource).
pub const HISTORY_FLOOR: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to one object.
#[derive(Debug, Clone)]
pub struct StoreEvent {
    pub rv: u64,
    pub key: Arc<str>,
    pub namespace: String,
    pub name: String,
    pub kind: EventType,
    pub object: Arc<Value>,
    /// The object before this change (for MODIFIED/DELETED); lets selector-filtered
    /// watches turn "left the selection" into DELETED as the watch cache does.
    pub prev: Option<Arc<Value>>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StoreError {
    #[error("already exists")]
    AlreadyExists,
    #[error("not found")]
    NotFound,
    #[error("conflict")]
    Conflict,
    #[error("too old resource version: {requested} ({oldest})")]
    Gone { requested: u64, oldest: u64 },
}

/// An object as compact JSON. A parsed `Value` costs about eight times its JSON (a pod:
/// 31 KB against 4 KB, an Event 7 KB against 1.7 KB). Boxed so that a `Weak` to it does not
/// keep the bytes alive (see `Stored::Parsed`).
type Blob = Arc<Box<[u8]>>;

/// How one current object is held: parsed for the types controllers read all the time,
/// as bytes for the ones that pile up and are seldom read (Events; see `keep_as_bytes`).
#[derive(Clone)]
enum Stored {
    /// With the bytes the history logged for this version, while the history still holds
    /// them: the next change's `prev` shares them instead of serializing the object again.
    Parsed(Arc<Value>, std::sync::Weak<Box<[u8]>>),
    Bytes(Blob),
}

impl Stored {
    fn value(&self) -> Arc<Value> {
        match self {
            Stored::Parsed(v, _) => v.clone(),
            Stored::Bytes(b) => parse(b),
        }
    }
    fn bytes(&self) -> Blob {
        match self {
            Stored::Parsed(v, logged) => logged.upgrade().unwrap_or_else(|| to_blob(v)),
            Stored::Bytes(b) => b.clone(),
        }
    }
}

type Objects = BTreeMap<(String, String), Stored>;

/// Rebuild `v` with every map, array and string at its exact size. Parsing and editing leave
/// spare capacity behind (a stored pod: 28 KB parsed, 19 KB compacted); a stored object
/// lives long, so the copy pays for itself.
fn compact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let old = std::mem::take(m);
            let mut new = serde_json::Map::with_capacity(old.len());
            for (mut k, mut v) in old {
                k.shrink_to_fit();
                compact(&mut v);
                new.insert(k, v);
            }
            *m = new;
        }
        Value::Array(a) => {
            a.iter_mut().for_each(compact);
            a.shrink_to_fit();
        }
        Value::String(s) => s.shrink_to_fit(),
        _ => {}
    }
}

fn to_blob(obj: &Value) -> Blob {
    Arc::new(serde_json::to_vec(obj).expect("a JSON value serializes").into_boxed_slice())
}

fn parse(blob: &Blob) -> Arc<Value> {
    Arc::new(serde_json::from_slice(blob).expect("the store holds only JSON it wrote"))
}

/// One change as the history keeps it (bytes, like the stored objects).
#[derive(Clone)]
struct Logged {
    at: std::time::Instant,
    rv: u64,
    key: Arc<str>,
    namespace: String,
    name: String,
    kind: EventType,
    object: Blob,
    prev: Option<Blob>,
}

impl Logged {
    fn event(&self) -> Arc<StoreEvent> {
        let object = parse(&self.object);
        // A deletion's previous state is its object (bar the resourceVersion), so it is
        // not kept twice.
        let prev = if self.kind == EventType::Deleted { Some(object.clone()) } else { self.prev.as_ref().map(parse) };
        Arc::new(StoreEvent { rv: self.rv, key: self.key.clone(), namespace: self.namespace.clone(), name: self.name.clone(), kind: self.kind, object, prev })
    }
}
/// (namespace, name) keys of the objects an index entry holds.
type Keys = std::collections::BTreeSet<(String, String)>;

#[derive(Default)]
struct State {
    rv: u64,
    objects: HashMap<Arc<str>, Objects>,
    /// Each change with when it was made (for the freshness bound).
    log: VecDeque<Logged>,
    /// Lowest rv still replayable (everything after it is in `log`).
    compacted_to: u64,
    /// Pods by `spec.nodeName` (kube-apiserver's pod watch-cache index, which serves each
    /// kubelet its own pods).
    pods_by_node: HashMap<String, Keys>,
    /// Objects by their controller's uid, per type (the controllers' informer indexes: a
    /// ReplicaSet's or DaemonSet's pods without scanning the namespace).
    by_controller: HashMap<(Arc<str>, String), Keys>,
    /// Types kept in the order of a time read from each object (Events by their last
    /// write: the TTL sweep finds the expired ones without reading every Event).
    timed: HashMap<String, TimeIndex>,
    /// Types held as bytes (`keep_as_bytes`).
    as_bytes: std::collections::HashSet<String>,
}

/// Milliseconds since the epoch an object is ordered by (None: never ordered).
pub type TimeOf = fn(&Value) -> Option<i64>;

struct TimeIndex {
    of: TimeOf,
    at: HashMap<(String, String), i64>,
    order: std::collections::BTreeSet<(i64, String, String)>,
}

impl TimeIndex {
    fn set(&mut self, k: &(String, String), new: Option<&Value>) {
        let t = new.and_then(self.of);
        if let Some(old) = self.at.get(k).copied() {
            if Some(old) == t {
                return;
            }
            self.at.remove(k);
            self.order.remove(&(old, k.0.clone(), k.1.clone()));
        }
        if let Some(t) = t {
            self.at.insert(k.clone(), t);
            self.order.insert((t, k.0.clone(), k.1.clone()));
        }
    }
}

fn controller_uid(obj: &Value) -> Option<&str> {
    obj.get("metadata")?.get("ownerReferences")?.as_array()?.iter().find(|r| r.get("controller") == Some(&Value::Bool(true)))?.get("uid")?.as_str()
}

fn node_name_of(obj: &Value) -> Option<&str> {
    obj.get("spec")?.get("nodeName")?.as_str().filter(|n| !n.is_empty())
}

impl State {
    fn index(&mut self, key: &Arc<str>, k: &(String, String), old: Option<&Value>, new: Option<&Value>) {
        if let Some(ti) = self.timed.get_mut(&**key) {
            ti.set(k, new);
        }
        let (was, now) = (old.and_then(controller_uid), new.and_then(controller_uid));
        if was != now {
            if let Some(uid) = was {
                let ik = (key.clone(), uid.to_string());
                if let Some(set) = self.by_controller.get_mut(&ik) {
                    set.remove(k);
                    if set.is_empty() {
                        self.by_controller.remove(&ik);
                    }
                }
            }
            if let Some(uid) = now {
                self.by_controller.entry((key.clone(), uid.to_string())).or_default().insert(k.clone());
            }
        }
        if &**key != "pods" {
            return;
        }
        let (was, now) = (old.and_then(node_name_of), new.and_then(node_name_of));
        if was == now {
            return;
        }
        if let Some(n) = was
            && let Some(set) = self.pods_by_node.get_mut(n) {
                set.remove(k);
                if set.is_empty() {
                    self.pods_by_node.remove(n);
                }
            }
        if let Some(n) = now {
            self.pods_by_node.entry(n.to_string()).or_default().insert(k.clone());
        }
    }
}

pub struct Store {
    state: Mutex<State>,
    capacity: std::sync::atomic::AtomicUsize,
    fresh: Mutex<std::time::Duration>,
    tx: broadcast::Sender<Arc<StoreEvent>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

fn meta_rv(obj: &Value) -> Option<u64> {
    obj.pointer("/metadata/resourceVersion").and_then(|v| v.as_str()).and_then(|s| s.parse().ok())
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(m) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        m.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// The objects as readers get them (Events parsed here, outside the store's lock).
fn values_of(stored: Vec<Stored>) -> Vec<Arc<Value>> {
    stored.iter().map(Stored::value).collect()
}

impl Store {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(65_536);
        Store { state: Mutex::new(State { rv: 1, ..Default::default() }), capacity: EVENT_LOG_CAPACITY.into(), fresh: Mutex::new(HISTORY_FRESH), tx }
    }

    /// The current (latest) resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.state.lock().rv
    }

    pub fn get(&self, key: &str, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let st = self.state.lock();
        let stored = st.objects.get(key)?.get(&(namespace.to_string(), name.to_string()))?.clone();
        drop(st);
        Some(stored.value())
    }

    /// All objects of a type (optionally one namespace), in (namespace, name) order, with the
    /// resourceVersion the list is consistent at.
    pub fn list(&self, key: &str, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let (stored, rv) = self.list_stored(key, namespace);
        (values_of(stored), rv)
    }

    fn list_stored(&self, key: &str, namespace: Option<&str>) -> (Vec<Stored>, u64) {
        let st = self.state.lock();
        let items = match st.objects.get(key) {
            None => Vec::new(),
            Some(objs) => match namespace {
                None => objs.values().cloned().collect(),
                Some(ns) => objs
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| v.clone())
                    .collect(),
            },
        };
        (items, st.rv)
    }

    /// The names of `key`'s objects in `namespace`, in order, without reading the objects
    /// (a sweep over half a million Events need not hold them all at once).
    pub fn names(&self, key: &str, namespace: &str) -> Vec<String> {
        let st = self.state.lock();
        let Some(objs) = st.objects.get(key) else { return Vec::new() };
        objs.range((namespace.to_string(), String::new())..).take_while(|((n, _), _)| n == namespace).map(|((_, name), _)| name.clone()).collect()
    }

    /// Like `list`, but only the objects after `after` (a continue token's last key) in
    /// (namespace, name) order: a page of a paginated list costs what follows it, not the
    /// whole type.
    pub fn list_after(&self, key: &str, namespace: Option<&str>, after: Option<(&str, &str)>) -> (Vec<Arc<Value>>, u64) {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let Some(after) = after else { return self.list(key, namespace) };
        let st = self.state.lock();
        let from = (after.0.to_string(), after.1.to_string());
        let items = match st.objects.get(key) {
            None => Vec::new(),
            Some(objs) => match namespace {
                None => objs.range((Excluded(from), Unbounded)).map(|(_, v)| v.clone()).collect(),
                Some(ns) => {
                    let start = if from.0.as_str() < ns { (Included((ns.to_string(), String::new())), Unbounded) } else { (Excluded(from), Unbounded) };
                    objs.range(start).take_while(|((n, _), _)| n == ns).map(|(_, v)| v.clone()).collect()
                }
            },
        };
        let rv = st.rv;
        drop(st);
        (values_of(items), rv)
    }

    /// The pods bound to `node`, in (namespace, name) order: what a kubelet's
    /// `spec.nodeName` field-selected watch sees, without scanning every pod.
    pub fn pods_on_node(&self, node: &str) -> Vec<Arc<Value>> {
        let st = self.state.lock();
        let (Some(keys), Some(pods)) = (st.pods_by_node.get(node), st.objects.get("pods")) else { return Vec::new() };
        let found: Vec<Stored> = keys.iter().filter_map(|k| pods.get(k).cloned()).collect();
        drop(st);
        values_of(found)
    }

    /// The objects of `key` in `namespace` whose controller (ownerReference with
    /// `controller: true`) has `uid`, in (namespace, name) order.
    pub fn controlled_by(&self, key: &str, namespace: &str, uid: &str) -> Vec<Arc<Value>> {
        let st = self.state.lock();
        let (Some(keys), Some(objs)) = (st.by_controller.get(&(Arc::from(key), uid.to_string())), st.objects.get(key)) else { return Vec::new() };
        let found: Vec<Stored> = keys.iter().filter(|(ns, _)| ns == namespace).filter_map(|k| objs.get(k).cloned()).collect();
        drop(st);
        values_of(found)
    }

    /// Hold `key`'s objects as JSON bytes from now on: an eighth of the memory, a parse per
    /// read. For types that pile up and that no controller lists on every change (Events).
    pub fn keep_as_bytes(&self, key: &str) {
        let mut st = self.state.lock();
        st.as_bytes.insert(key.to_string());
        if let Some(objs) = st.objects.get_mut(key) {
            for v in objs.values_mut() {
                *v = Stored::Bytes(v.bytes());
            }
        }
    }

    /// Keep `key`'s objects ordered by `of` from now on (for `older_than`).
    pub fn order_by_time(&self, key: &str, of: TimeOf) {
        let mut st = self.state.lock();
        let mut ti = TimeIndex { of, at: HashMap::new(), order: Default::default() };
        for (k, stored) in st.objects.get(key).into_iter().flatten() {
            ti.set(k, Some(&stored.value()));
        }
        st.timed.insert(key.to_string(), ti);
    }

    /// The (namespace, name) of `key`'s objects whose time (see `order_by_time`) is before
    /// `cutoff`, oldest first.
    pub fn older_than(&self, key: &str, cutoff: i64) -> Vec<(String, String)> {
        let st = self.state.lock();
        let Some(ti) = st.timed.get(key) else { return Vec::new() };
        ti.order.iter().take_while(|(t, _, _)| *t < cutoff).map(|(_, ns, n)| (ns.clone(), n.clone())).collect()
    }

    /// Bound the watch history to `n` events (compacting what is beyond it now).
    pub fn set_history_capacity(&self, n: usize) {
        self.capacity.store(n.max(1), std::sync::atomic::Ordering::Relaxed);
        let mut st = self.state.lock();
        Self::compact(&mut st, n.max(1));
    }

    /// Events a watch can still resume from.
    pub fn history_len(&self) -> usize {
        self.state.lock().log.len()
    }

    /// How long a change stays replayable beyond the floor (default `HISTORY_FRESH`).
    pub fn set_history_freshness(&self, d: std::time::Duration) {
        *self.fresh.lock() = d;
        let _ = self.compact_stale(std::time::Instant::now());
    }

    /// Drop changes older than the freshness bound while more than `HISTORY_FLOOR` remain
    /// (called on every write, and by the cluster's periodic sweep for quiet times).
    /// Returns how many changes went.
    pub fn compact_stale(&self, now: std::time::Instant) -> usize {
        let fresh = *self.fresh.lock();
        let mut st = self.state.lock();
        let before = st.log.len();
        Self::compact_older(&mut st, now, fresh);
        before - st.log.len()
    }

    fn compact_older(st: &mut State, now: std::time::Instant, fresh: std::time::Duration) {
        while st.log.len() > HISTORY_FLOOR && st.log.front().is_some_and(|e| now.saturating_duration_since(e.at) > fresh) {
            Self::pop_oldest(st);
        }
    }

    fn pop_oldest(st: &mut State) {
        if let Some(old) = st.log.pop_front() {
            st.compacted_to = old.rv;
        }
    }

    fn compact(st: &mut State, capacity: usize) {
        while st.log.len() > capacity {
            Self::pop_oldest(st);
        }
    }

    /// Count of all stored objects (for benchmarks and memory figures).
    pub fn len(&self) -> usize {
        self.state.lock().objects.values().map(|m| m.len()).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Insert a new object; stamps its resourceVersion.
    pub fn create(&self, key: &str, namespace: &str, name: &str, obj: Value) -> Result<Arc<Value>, StoreError> {
        let mut st = self.state.lock();
        let k = (namespace.to_string(), name.to_string());
        let key_arc = Self::intern(&mut st, key);
        if st.objects.get(&key_arc).is_some_and(|m| m.contains_key(&k)) {
            return Err(StoreError::AlreadyExists);
        }
        Ok(self.commit(&mut st, key_arc, k, obj, None))
    }

    /// Replace an object. With `expected_rv`, fails with Conflict unless it is still current.
    pub fn update(
        &self,
        key: &str,
        namespace: &str,
        name: &str,
        obj: Value,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>, StoreError> {
        let mut st = self.state.lock();
        let (key_arc, k, prev) = Self::current(&mut st, key, namespace, name, expected_rv)?;
        Ok(self.commit(&mut st, key_arc, k, obj, Some(prev)))
    }

    /// Atomically read-modify-write one object: `f` sees the current object and returns the
    /// new one (or None for "no change"). Used by controllers and by the API's update paths
    /// so concurrent writers never lose an acknowledged write.
    pub fn modify<E>(
        &self,
        key: &str,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&Arc<Value>) -> Result<Option<Value>, E>,
    ) -> Result<Result<Arc<Value>, StoreError>, E> {
        let mut st = self.state.lock();
        let k = (namespace.to_string(), name.to_string());
        let key_arc = Self::intern(&mut st, key);
        let Some(stored) = st.objects.get(&key_arc).and_then(|m| m.get(&k)).cloned() else {
            return Ok(Err(StoreError::NotFound));
        };
        let prev = stored.value();
        let Some(obj) = f(&prev)? else {
            return Ok(Ok(prev));
        };
        Ok(Ok(self.commit(&mut st, key_arc, k, obj, Some((prev, stored)))))
    }

    /// Remove an object for good. The DELETED event carries the object with a fresh
    /// resourceVersion, as etcd3's watch does.
    pub fn remove(&self, key: &str, namespace: &str, name: &str, expected_rv: Option<u64>) -> Result<Arc<Value>, StoreError> {
        let mut st = self.state.lock();
        let (key_arc, k, prev) = Self::current(&mut st, key, namespace, name, expected_rv)?;
        st.objects.get_mut(&key_arc).unwrap().remove(&k);
        st.index(&key_arc, &k, Some(&prev.0), None);
        st.rv += 1;
        let rv = st.rv;
        let mut gone = (*prev.0).clone();
        set_rv(&mut gone, rv);
        let gone = Arc::new(gone);
        let blob = to_blob(&gone);
        self.emit(&mut st, key_arc, namespace, name, EventType::Deleted, (gone.clone(), blob), Some(prev));
        Ok(gone)
    }

    /// Subscribe to changes after `since` (exclusive): returns the replayed backlog and a live
    /// receiver, consistent with each other (no gap, no duplicate).
    pub fn watch_from(&self, since: u64) -> Result<(Vec<Arc<StoreEvent>>, broadcast::Receiver<Arc<StoreEvent>>), StoreError> {
        let st = self.state.lock();
        if since < st.compacted_to {
            return Err(StoreError::Gone { requested: since, oldest: st.compacted_to });
        }
        let rx = self.tx.subscribe();
        let start = st.log.partition_point(|e| e.rv <= since);
        let backlog: Vec<Logged> = st.log.iter().skip(start).cloned().collect();
        drop(st);
        // Parsed outside the lock: a long replay must not stall writers.
        let backlog = backlog.iter().map(Logged::event).collect();
        Ok((backlog, rx))
    }

    /// A consistent snapshot of one type plus a live receiver starting right after it.
    pub fn list_and_watch(
        &self,
        key: &str,
        namespace: Option<&str>,
    ) -> (Vec<Arc<Value>>, u64, broadcast::Receiver<Arc<StoreEvent>>) {
        let st = self.state.lock();
        let rx = self.tx.subscribe();
        let items: Vec<Stored> = match st.objects.get(key) {
            None => Vec::new(),
            Some(objs) => objs
                .iter()
                .filter(|((n, _), _)| namespace.is_none_or(|ns| ns == n))
                .map(|(_, v)| v.clone())
                .collect(),
        };
        let rv = st.rv;
        drop(st);
        (values_of(items), rv, rx)
    }

    /// A live receiver of every change (controllers use this).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoreEvent>> {
        self.tx.subscribe()
    }

    /// Store `obj` under a new resourceVersion and announce it (ADDED without `prev`,
    /// MODIFIED with it).
    fn commit(&self, st: &mut State, key: Arc<str>, k: (String, String), mut obj: Value, prev: Option<(Arc<Value>, Stored)>) -> Arc<Value> {
        st.rv += 1;
        let rv = st.rv;
        set_rv(&mut obj, rv);
        let blob = to_blob(&obj);
        let as_bytes = st.as_bytes.contains(&*key);
        if !as_bytes {
            compact(&mut obj);
        }
        let obj = Arc::new(obj);
        let stored = if as_bytes { Stored::Bytes(blob.clone()) } else { Stored::Parsed(obj.clone(), Arc::downgrade(&blob)) };
        st.objects.get_mut(&key).unwrap().insert(k.clone(), stored);
        st.index(&key, &k, prev.as_ref().map(|p| &*p.0), Some(&obj));
        let kind = if prev.is_some() { EventType::Modified } else { EventType::Added };
        self.emit(st, key, &k.0, &k.1, kind, (obj.clone(), blob), prev);
        obj
    }

    /// The stored object a write replaces, checked against the caller's resourceVersion.
    #[allow(clippy::type_complexity)]
    fn current(st: &mut State, key: &str, namespace: &str, name: &str, expected_rv: Option<u64>) -> Result<(Arc<str>, (String, String), (Arc<Value>, Stored)), StoreError> {
        let k = (namespace.to_string(), name.to_string());
        let key_arc = Self::intern(st, key);
        let stored = st.objects.get(&key_arc).and_then(|m| m.get(&k)).cloned().ok_or(StoreError::NotFound)?;
        let prev = stored.value();
        if expected_rv.is_some_and(|exp| meta_rv(&prev) != Some(exp)) {
            return Err(StoreError::Conflict);
        }
        Ok((key_arc, k, (prev, stored)))
    }

    fn intern(st: &mut State, key: &str) -> Arc<str> {
        if let Some((k, _)) = st.objects.get_key_value(key) {
            return k.clone();
        }
        let k: Arc<str> = Arc::from(key);
        st.objects.insert(k.clone(), BTreeMap::new());
        k
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(&self, st: &mut State, key: Arc<str>, ns: &str, name: &str, kind: EventType, object: (Arc<Value>, Blob), prev: Option<(Arc<Value>, Stored)>) {
        let (prev, prev_blob) = match prev {
            Some((v, _)) if kind == EventType::Deleted => (Some(v), None),
            Some((v, b)) => (Some(v), Some(b.bytes())),
            None => (None, None),
        };
        let ev = Arc::new(StoreEvent { rv: st.rv, key: key.clone(), namespace: ns.to_string(), name: name.to_string(), kind, object: object.0, prev });
        let now = std::time::Instant::now();
        st.log.push_back(Logged { at: now, rv: st.rv, key, namespace: ns.to_string(), name: name.to_string(), kind, object: object.1, prev: prev_blob });
        Self::compact(st, self.capacity.load(std::sync::atomic::Ordering::Relaxed));
        Self::compact_older(st, now, *self.fresh.lock());
        // No receivers is fine; lagging receivers are told by `RecvError::Lagged`.
        let _ = self.tx.send(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
    }

    #[test]
    fn rv_is_global_and_conflicts_detected() {
        let s = Store::new();
        let a = s.create("configmaps", "default", "a", cm("a")).unwrap();
        let b = s.create("secrets", "default", "b", cm("b")).unwrap();
        let rva = meta_rv(&a).unwrap();
        let rvb = meta_rv(&b).unwrap();
        assert!(rvb > rva);
        assert_eq!(s.create("configmaps", "default", "a", cm("a")), Err(StoreError::AlreadyExists));
        s.update("configmaps", "default", "a", cm("a"), Some(rva)).unwrap();
        assert_eq!(s.update("configmaps", "default", "a", cm("a"), Some(rva)).unwrap_err(), StoreError::Conflict);
    }

    #[test]
    fn watch_replays_after_version() {
        let s = Store::new();
        let a = s.create("configmaps", "default", "a", cm("a")).unwrap();
        s.create("configmaps", "default", "b", cm("b")).unwrap();
        s.remove("configmaps", "default", "a", None).unwrap();
        let (backlog, _rx) = s.watch_from(meta_rv(&a).unwrap()).unwrap();
        let kinds: Vec<_> = backlog.iter().map(|e| (e.name.clone(), e.kind)).collect();
        assert_eq!(kinds, vec![("b".to_string(), EventType::Added), ("a".to_string(), EventType::Deleted)]);
    }

    #[test]
    fn stale_history_goes_beyond_the_floor() {
        let s = Store::new();
        for i in 0..HISTORY_FLOOR + 500 {
            s.create("configmaps", "default", &format!("c{i}"), cm("c")).unwrap();
        }
        assert_eq!(s.history_len(), HISTORY_FLOOR + 500);
        let later = std::time::Instant::now() + HISTORY_FRESH + std::time::Duration::from_secs(1);
        s.compact_stale(later);
        assert_eq!(s.history_len(), HISTORY_FLOOR);
        // The dropped past answers 410 Gone; the kept part still replays.
        assert!(matches!(s.watch_from(2), Err(StoreError::Gone { .. })));
        let (kept, _) = s.watch_from(s.current_rv() - 10).unwrap();
        assert_eq!(kept.len(), 10);
    }

    #[test]
    fn a_change_shares_the_bytes_the_history_logged_for_the_version_before() {
        let s = Store::new();
        let a = s.create("configmaps", "default", "a", cm("a")).unwrap();
        let b = s.update("configmaps", "default", "a", json!({"metadata": {"name": "a", "namespace": "default"}, "data": {"k": "1"}}), meta_rv(&a)).unwrap();
        {
            let st = s.state.lock();
            let (first, second) = (&st.log[st.log.len() - 2], &st.log[st.log.len() - 1]);
            assert!(Arc::ptr_eq(&first.object, second.prev.as_ref().unwrap()), "prev is the logged bytes, not a second copy");
        }
        // Once the history has let go of them, the bytes are written afresh from the object.
        s.set_history_capacity(1);
        let c = s.create("configmaps", "default", "c", cm("c")).unwrap();
        s.update("configmaps", "default", "a", cm("a"), meta_rv(&b)).unwrap();
        let (log, _) = s.watch_from(meta_rv(&c).unwrap()).unwrap();
        assert_eq!(log[0].prev.as_deref(), Some(&*b));
        assert_eq!(log[0].object["data"], Value::Null);
    }

    #[test]
    fn objects_kept_as_bytes_read_and_replay_as_written() {
        let s = Store::new();
        s.create("events", "default", "early", cm("early")).unwrap();
        s.keep_as_bytes("events");
        let first = s.create("events", "default", "a", json!({"metadata": {"name": "a", "namespace": "default"}, "count": 1})).unwrap();
        let second = s.update("events", "default", "a", json!({"metadata": {"name": "a", "namespace": "default"}, "count": 2}), meta_rv(&first)).unwrap();
        assert_eq!(*s.get("events", "default", "a").unwrap(), *second);
        assert_eq!(s.get("events", "default", "early").unwrap()["metadata"]["name"], "early");
        assert_eq!(s.list("events", Some("default")).0.len(), 2);
        // A stale resourceVersion is still a conflict, read from the bytes.
        assert_eq!(s.update("events", "default", "a", cm("a"), meta_rv(&first)).unwrap_err(), StoreError::Conflict);
        let gone = s.remove("events", "default", "a", None).unwrap();
        let (log, _) = s.watch_from(meta_rv(&first).unwrap() - 1).unwrap();
        let seen: Vec<_> = log.iter().map(|e| (e.kind, e.object["count"].clone(), e.prev.as_ref().map(|p| p["count"].clone()))).collect();
        assert_eq!(seen, [(EventType::Added, json!(1), None), (EventType::Modified, json!(2), Some(json!(1))), (EventType::Deleted, json!(2), Some(json!(2)))]);
        assert_eq!(*log[2].object, *gone);
    }

    #[test]
    fn time_index_follows_writes() {
        let s = Store::new();
        let at = |o: &Value| o["t"].as_i64();
        let ev = |name: &str, t: Option<i64>| json!({"metadata": {"name": name, "namespace": "d"}, "t": t});
        s.create("events", "d", "before", ev("before", Some(5))).unwrap();
        s.order_by_time("events", at);
        s.create("events", "d", "b", ev("b", Some(20))).unwrap();
        s.create("events", "d", "c", ev("c", Some(10))).unwrap();
        s.create("events", "d", "untimed", ev("untimed", None)).unwrap();
        let names = |cutoff| s.older_than("events", cutoff).into_iter().map(|(_, n)| n).collect::<Vec<_>>();
        assert_eq!(names(21), ["before", "c", "b"]);
        s.update("events", "d", "c", ev("c", Some(30)), None).unwrap();
        s.remove("events", "d", "before", None).unwrap();
        assert_eq!(names(21), ["b"]);
        assert_eq!(names(31), ["b", "c"]);
    }

    #[test]
    fn stored_objects_are_compacted_not_changed() {
        let s = Store::new();
        let mut big = serde_json::Map::with_capacity(64);
        big.insert("metadata".into(), json!({"name": "x", "namespace": "d", "labels": {"a": "b"}}));
        big.insert("data".into(), json!({"list": [1, "two", {"three": [3]}], "s": String::with_capacity(100) + "v"}));
        let obj = Value::Object(big);
        let stored = s.create("configmaps", "d", "x", obj.clone()).unwrap();
        let mut want = obj;
        set_rv(&mut want, meta_rv(&stored).unwrap());
        assert_eq!(*stored, want);
        assert_eq!(serde_json::to_string(&*stored).unwrap(), serde_json::to_string(&want).unwrap(), "key order kept");
    }

    #[test]
    fn pods_indexed_by_node() {
        let s = Store::new();
        let pod = |name: &str, node: &str| json!({"metadata": {"name": name, "namespace": "d"}, "spec": {"nodeName": node}});
        s.create("pods", "d", "a", pod("a", "n1")).unwrap();
        s.create("pods", "d", "b", pod("b", "")).unwrap();
        s.update("pods", "d", "b", pod("b", "n1"), None).unwrap();
        s.create("pods", "d", "c", pod("c", "n2")).unwrap();
        let names = |n: &str| s.pods_on_node(n).iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(names("n1"), ["a", "b"]);
        s.remove("pods", "d", "a", None).unwrap();
        s.update("pods", "d", "c", pod("c", "n1"), None).unwrap();
        assert_eq!(names("n1"), ["b", "c"]);
        assert!(names("n2").is_empty());
    }

    #[test]
    fn objects_indexed_by_controller() {
        let s = Store::new();
        let owned = |name: &str, uid: &str, controller: bool| json!({"metadata": {"name": name, "namespace": "d", "ownerReferences": [{"uid": uid, "controller": controller}]}});
        s.create("pods", "d", "a", owned("a", "u1", true)).unwrap();
        s.create("pods", "d", "b", owned("b", "u1", false)).unwrap();
        s.create("configmaps", "d", "c", owned("c", "u1", true)).unwrap();
        let names = |key: &str, uid: &str| s.controlled_by(key, "d", uid).iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(names("pods", "u1"), ["a"]);
        s.update("pods", "d", "b", owned("b", "u1", true), None).unwrap();
        s.update("pods", "d", "a", owned("a", "u2", true), None).unwrap();
        assert_eq!(names("pods", "u1"), ["b"]);
        assert_eq!(names("pods", "u2"), ["a"]);
        s.remove("pods", "d", "b", None).unwrap();
        assert!(names("pods", "u1").is_empty());
        assert_eq!(names("configmaps", "u1"), ["c"]);
    }

    #[test]
    fn list_after_a_key() {
        let s = Store::new();
        for (ns, n) in [("a", "x"), ("b", "y"), ("b", "z"), ("c", "w")] {
            s.create("configmaps", ns, n, cm(n)).unwrap();
        }
        let names = |v: (Vec<Arc<Value>>, u64)| v.0.iter().map(|o| o["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(names(s.list_after("configmaps", None, Some(("b", "y")))), ["z", "w"]);
        assert_eq!(names(s.list_after("configmaps", Some("b"), Some(("b", "y")))), ["z"]);
        assert_eq!(names(s.list_after("configmaps", Some("b"), Some(("a", "x")))), ["y", "z"]);
        assert!(names(s.list_after("configmaps", Some("a"), Some(("b", "y")))).is_empty());
        assert_eq!(names(s.list_after("configmaps", None, None)), ["x", "y", "z", "w"]);
    }

    #[test]
    fn list_by_namespace() {
        let s = Store::new();
        s.create("configmaps", "a", "x", cm("x")).unwrap();
        s.create("configmaps", "b", "y", cm("y")).unwrap();
        s.create("configmaps", "b", "z", cm("z")).unwrap();
        assert_eq!(s.list("configmaps", Some("b")).0.len(), 2);
        assert_eq!(s.list("configmaps", None).0.len(), 3);
        assert_eq!(s.list("configmaps", Some("c")).0.len(), 0);
    }
}
