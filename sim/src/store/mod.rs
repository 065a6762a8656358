//! Object storage: one global resourceVersion counter, objects per resource type, and the
//! event log that watches replay from (what etcd + the watch cache are to kube-apiserver).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::broadcast;

mod held;
mod index;

use held::{compact, pack, rewarm, to_blob, Blob, Cooling, Logged, Objects, Stored};
use index::{Keys, TimeIndex};
pub use index::TimeOf;

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

/// What the store holds: objects parsed and packed, the watch history, and the changes
/// announced that some subscriber has not received yet (each keeping its objects alive).
#[derive(Debug, Default, Clone, Copy)]
pub struct Held {
    pub parsed: usize,
    /// Cold, held as the history's bytes of them.
    pub raw: usize,
    pub packed: usize,
    pub packed_bytes: usize,
    pub history: usize,
    pub history_bytes: usize,
    pub queued: usize,
}

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
    /// Types always held packed (`keep_packed`).
    packed_types: std::collections::HashSet<String>,
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

/// What a read took out of the store, in order, and where the cold objects among them are
/// (packed because nobody read them for a while; read now, they are held parsed again).
#[derive(Default)]
struct Taken {
    items: Vec<Stored>,
    cold: Vec<(usize, (String, String))>,
}

impl Taken {
    /// `warms`: whether packed here means cold (not for types always held packed).
    fn new<'a>(warms: bool, entries: impl Iterator<Item = (&'a (String, String), &'a mut Stored)>) -> Taken {
        let mut t = Taken::default();
        entries.for_each(|(k, stored)| t.push(warms, k, stored));
        t
    }

    fn push(&mut self, warms: bool, k: &(String, String), stored: &mut Stored) {
        if warms && stored.is_cold() {
            self.cold.push((self.items.len(), k.clone()));
        }
        self.items.push(stored.take());
    }

    /// The objects at `keys` (an index's entry), in its order.
    fn at<'a>(warms: bool, objs: &mut Objects, keys: impl Iterator<Item = &'a (String, String)>) -> Taken {
        let mut t = Taken::default();
        for k in keys {
            if let Some(stored) = objs.get_mut(k) {
                t.push(warms, k, stored);
            }
        }
        t
    }
}

impl State {
    fn warms(&self, key: &str) -> bool {
        !self.packed_types.contains(key)
    }
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
        let mut st = self.state.lock();
        let warms = st.warms(key);
        let k = (namespace.to_string(), name.to_string());
        let taken = Taken::at(warms, st.objects.get_mut(key)?, std::iter::once(&k));
        drop(st);
        self.hand_out(key, taken).pop()
    }

    /// The objects a read took, parsed outside the store's lock (a long list must not stall
    /// writers); the cold ones are held parsed again, unless written meanwhile.
    fn hand_out(&self, key: &str, taken: Taken) -> Vec<Arc<Value>> {
        let Taken { items, cold } = taken;
        let mut next_cold = cold.iter().map(|(i, _)| *i).peekable();
        let values: Vec<Arc<Value>> = items
            .iter()
            .enumerate()
            .map(|(i, stored)| match stored {
                _ if next_cold.next_if_eq(&i).is_some() => rewarm(stored),
                _ => stored.value(),
            })
            .collect();
        if !cold.is_empty() {
            let mut st = self.state.lock();
            if let Some(objs) = st.objects.get_mut(key) {
                for (i, k) in cold {
                    let Some(now) = objs.get_mut(&k) else { continue };
                    if now.is_same_cold(&items[i]) {
                        // Bytes the history still holds stay shared with the next change.
                        let logged = match &items[i] {
                            Stored::Raw(b) => Arc::downgrade(b),
                            _ => std::sync::Weak::new(),
                        };
                        *now = Stored::Parsed { value: values[i].clone(), logged, read: true };
                    }
                }
            }
        }
        values
    }

    /// All objects of a type (optionally one namespace), in (namespace, name) order, with the
    /// resourceVersion the list is consistent at.
    pub fn list(&self, key: &str, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let (taken, rv) = self.take_all(key, namespace);
        (self.hand_out(key, taken), rv)
    }

    fn take_all(&self, key: &str, namespace: Option<&str>) -> (Taken, u64) {
        let mut st = self.state.lock();
        let (warms, rv) = (st.warms(key), st.rv);
        let taken = match st.objects.get_mut(key) {
            None => Taken::default(),
            Some(objs) => match namespace {
                None => Taken::new(warms, objs.iter_mut()),
                Some(ns) => Taken::new(warms, objs.range_mut((ns.to_string(), String::new())..).take_while(|((n, _), _)| n == ns)),
            },
        };
        (taken, rv)
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
        let mut st = self.state.lock();
        let (warms, rv) = (st.warms(key), st.rv);
        let from = (after.0.to_string(), after.1.to_string());
        let taken = match st.objects.get_mut(key) {
            None => Taken::default(),
            Some(objs) => match namespace {
                None => Taken::new(warms, objs.range_mut((Excluded(from), Unbounded))),
                Some(ns) => {
                    let start = if from.0.as_str() < ns { (Included((ns.to_string(), String::new())), Unbounded) } else { (Excluded(from), Unbounded) };
                    Taken::new(warms, objs.range_mut(start).take_while(|((n, _), _)| n == ns))
                }
            },
        };
        drop(st);
        (self.hand_out(key, taken), rv)
    }

    /// The pods bound to `node`, in (namespace, name) order: what a kubelet's
    /// `spec.nodeName` field-selected watch sees, without scanning every pod.
    pub fn pods_on_node(&self, node: &str) -> Vec<Arc<Value>> {
        let mut st = self.state.lock();
        let warms = st.warms("pods");
        let State { pods_by_node, objects, .. } = &mut *st;
        let (Some(keys), Some(pods)) = (pods_by_node.get(node), objects.get_mut("pods")) else { return Vec::new() };
        let taken = Taken::at(warms, pods, keys.iter());
        drop(st);
        self.hand_out("pods", taken)
    }

    /// The objects of `key` in `namespace` whose controller (ownerReference with
    /// `controller: true`) has `uid`, in (namespace, name) order.
    pub fn controlled_by(&self, key: &str, namespace: &str, uid: &str) -> Vec<Arc<Value>> {
        let mut st = self.state.lock();
        let warms = st.warms(key);
        let State { by_controller, objects, .. } = &mut *st;
        let (Some(keys), Some(objs)) = (by_controller.get(&(Arc::from(key), uid.to_string())), objects.get_mut(key)) else { return Vec::new() };
        let taken = Taken::at(warms, objs, keys.iter().filter(|(ns, _)| ns == namespace));
        drop(st);
        self.hand_out(key, taken)
    }

    /// Hold `key`'s objects packed from now on (`held::Packed`): a fraction of the memory, an
    /// unpack and a parse per read. For types that pile up and that no controller lists on
    /// every change (Events).
    pub fn keep_packed(&self, key: &str) {
        let mut st = self.state.lock();
        st.packed_types.insert(key.to_string());
        if let Some(objs) = st.objects.get_mut(key) {
            for v in objs.values_mut() {
                *v = Stored::Packed(pack(&v.bytes()));
            }
        }
    }

    /// Keep `key`'s objects ordered by `of` from now on (for `older_than`).
    pub fn order_by_time(&self, key: &str, of: TimeOf) {
        let mut st = self.state.lock();
        let mut ti = TimeIndex { of, order: Default::default() };
        for (k, stored) in st.objects.get(key).into_iter().flatten() {
            ti.set(k, None, Some(&stored.value()));
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

    /// Hold as bytes the objects neither written nor read since the last sweep (a pod: 19 KB
    /// parsed, 4.5 KB as JSON, less packed; a settled cluster's pods are read by nobody):
    /// the bytes the watch history holds of them while it does, packed once it lets them go.
    /// Packed outside the lock; an object read or written meanwhile stays as it is. Returns how
    /// many went cold or were packed.
    pub fn cool(&self) -> usize {
        let mut to_pack = Vec::new();
        let mut cooled = 0;
        {
            let mut st = self.state.lock();
            for (key, objs) in st.objects.iter_mut() {
                for (k, stored) in objs.iter_mut() {
                    match stored.cool() {
                        Some((Cooling::Share(b), _)) => {
                            *stored = Stored::Raw(b);
                            cooled += 1;
                        }
                        Some((Cooling::Pack(b), chose)) => to_pack.push((key.clone(), k.clone(), b, chose)),
                        None => {}
                    }
                }
            }
        }
        let packed: Vec<_> = to_pack.into_iter().map(|(key, k, b, chose)| (pack(&b), key, k, chose)).collect();
        let mut st = self.state.lock();
        for (p, key, k, chose) in packed {
            if let Some(stored) = st.objects.get_mut(&key).and_then(|m| m.get_mut(&k))
                && stored.is_unread(&chose)
            {
                *stored = Stored::Packed(p);
                cooled += 1;
            }
        }
        cooled
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

    /// Where the store's memory is (for benchmarks' memory figures).
    pub fn held(&self) -> Held {
        let st = self.state.lock();
        let mut h = Held { history: st.log.len(), queued: self.tx.len(), ..Held::default() };
        for stored in st.objects.values().flat_map(|m| m.values()) {
            match stored {
                Stored::Parsed { .. } => h.parsed += 1,
                Stored::Raw(_) => h.raw += 1,
                Stored::Packed(p) => {
                    h.packed += 1;
                    h.packed_bytes += p.len();
                }
            }
        }
        for e in &st.log {
            h.history_bytes += e.object.len();
            // A previous version is shared with the entry that logged it while that is kept.
            h.history_bytes += e.prev.as_ref().filter(|p| Arc::strong_count(p) == 1).map_or(0, |p| p.len());
        }
        h
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
        let mut st = self.state.lock();
        let rx = self.tx.subscribe();
        let (warms, rv) = (st.warms(key), st.rv);
        let taken = match st.objects.get_mut(key) {
            None => Taken::default(),
            Some(objs) => Taken::new(warms, objs.iter_mut().filter(|((n, _), _)| namespace.is_none_or(|ns| ns == n))),
        };
        drop(st);
        (self.hand_out(key, taken), rv, rx)
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
        let packed = st.packed_types.contains(&*key);
        if !packed {
            compact(&mut obj);
        }
        let obj = Arc::new(obj);
        let stored = if packed { Stored::Packed(pack(&blob)) } else { Stored::parsed(obj.clone(), &blob) };
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
mod tests;
