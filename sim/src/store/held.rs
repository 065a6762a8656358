//! How the store holds objects and their past: parsed while in use, as compact JSON bytes
//! when they pile up (Events) or have gone cold (neither written nor read for a while).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use serde_json::Value;

use super::{EventType, StoreEvent};

/// An object as compact JSON. A parsed `Value` costs about four times its JSON (a pod:
/// 19 KB compacted against 4.5 KB, an Event 7 KB against 1.7 KB). Boxed so that a `Weak` to
/// it does not keep the bytes alive (see `Stored::Parsed`).
pub(super) type Blob = Arc<Box<[u8]>>;

/// A JSON object LZ4-compressed (JSON repeats its keys and values, so it packs well). For
/// what is held long and read seldom.
pub(super) type Packed = Arc<[u8]>;

pub(super) fn pack(json: &[u8]) -> Packed {
    Arc::from(lz4_flex::compress_prepend_size(json))
}

fn unpack(p: &Packed) -> Vec<u8> {
    lz4_flex::decompress_size_prepended(p).expect("the store unpacks only what it packed")
}

/// How one current object is held.
#[derive(Clone)]
pub(super) enum Stored {
    /// Ready for readers. `logged`: the bytes the history logged for this version, while it
    /// still holds them (the next change's `prev` shares them instead of serializing the
    /// object again; gone, they also mean the object has not been written for a while).
    /// `read`: read since the last cooling sweep (`Store::cool`).
    Parsed { value: Arc<Value>, logged: Weak<Box<[u8]>>, read: bool },
    /// Types that pile up and are seldom read (`keep_packed`), and objects that went cold:
    /// an unpack and a parse per read; a cold object read again is held parsed again.
    Packed(Packed),
    /// An object gone cold while the history still holds its bytes: held as those same bytes
    /// (costing nothing more), packed once the history lets them go.
    Raw(Blob),
}

/// What the cooling sweep makes of an object nobody read since the last sweep.
pub(super) enum Cooling {
    /// The history's bytes of it, shared: done under the lock, at no cost.
    Share(Blob),
    /// To pack (outside the lock): a parsed object, or bytes only this object still holds.
    Pack(Blob),
}

impl Stored {
    pub(super) fn parsed(value: Arc<Value>, logged: &Blob) -> Stored {
        // Written counts as touched: it stays parsed through the next cooling sweep.
        Stored::Parsed { value, logged: Arc::downgrade(logged), read: true }
    }

    pub(super) fn value(&self) -> Arc<Value> {
        match self {
            Stored::Parsed { value, .. } => value.clone(),
            Stored::Packed(p) => Arc::new(from_json(&unpack(p))),
            Stored::Raw(b) => parse(b),
        }
    }

    /// Not held parsed: a read parses it (and holds it parsed again, `rewarm`).
    pub(super) fn is_cold(&self) -> bool {
        !matches!(self, Stored::Parsed { .. })
    }

    /// Whether this is still the cold form `was` (not written or rewarmed meanwhile).
    pub(super) fn is_same_cold(&self, was: &Stored) -> bool {
        match (self, was) {
            (Stored::Packed(a), Stored::Packed(b)) => Arc::ptr_eq(a, b),
            (Stored::Raw(a), Stored::Raw(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    pub(super) fn bytes(&self) -> Blob {
        match self {
            Stored::Parsed { value, logged, .. } => logged.upgrade().unwrap_or_else(|| to_blob(value)),
            Stored::Packed(p) => Arc::new(unpack(p).into_boxed_slice()),
            Stored::Raw(b) => b.clone(),
        }
    }

    /// What a reader gets, noting the read (a read object does not go cold).
    pub(super) fn take(&mut self) -> Stored {
        if let Stored::Parsed { read, .. } = self {
            *read = true;
        }
        self.clone()
    }

    /// Whether this is still what the cooling sweep chose to pack: the same parsed value,
    /// unread since, or the same bytes.
    pub(super) fn is_unread(&self, chose: &Chosen) -> bool {
        match (self, chose) {
            (Stored::Parsed { value, read: false, .. }, Chosen::Parsed(v)) => Arc::ptr_eq(value, v),
            (Stored::Raw(b), Chosen::Raw(c)) => Arc::ptr_eq(b, c),
            _ => false,
        }
    }

    /// The cooling sweep's look at one object: what to hold it as if it was neither written
    /// nor read since the last sweep and no reader holds it; clears `read`. Bytes the history
    /// let go of are packed.
    pub(super) fn cool(&mut self) -> Option<(Cooling, Chosen)> {
        match self {
            Stored::Parsed { value, logged, read } => {
                if std::mem::take(read) || Arc::strong_count(value) != 1 {
                    return None;
                }
                Some(match logged.upgrade() {
                    Some(b) => (Cooling::Share(b), Chosen::Parsed(value.clone())),
                    None => (Cooling::Pack(to_blob(value)), Chosen::Parsed(value.clone())),
                })
            }
            Stored::Raw(b) if Arc::strong_count(b) == 1 => Some((Cooling::Pack(b.clone()), Chosen::Raw(b.clone()))),
            _ => None,
        }
    }
}

/// What the cooling sweep chose (to check, when it comes back with the packed bytes, that the
/// object is still that).
pub(super) enum Chosen {
    Parsed(Arc<Value>),
    Raw(Blob),
}

pub(super) type Objects = BTreeMap<(String, String), Stored>;

/// Rebuild `v` with every map, array and string at its exact size. Parsing and editing leave
/// spare capacity behind (a stored pod: 28 KB parsed, 19 KB compacted); a stored object
/// lives long, so the copy pays for itself.
pub(super) fn compact(v: &mut Value) {
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

pub(super) fn to_blob(obj: &Value) -> Blob {
    Arc::new(serde_json::to_vec(obj).expect("a JSON value serializes").into_boxed_slice())
}

fn from_json(json: &[u8]) -> Value {
    serde_json::from_slice(json).expect("the store holds only JSON it wrote")
}

fn parse(blob: &Blob) -> Arc<Value> {
    Arc::new(from_json(blob))
}

/// A cold object read again, parsed to be held for its next readers.
pub(super) fn rewarm(cold: &Stored) -> Arc<Value> {
    let mut v = match cold {
        Stored::Packed(p) => from_json(&unpack(p)),
        Stored::Raw(b) => from_json(b),
        Stored::Parsed { value, .. } => return value.clone(),
    };
    compact(&mut v);
    Arc::new(v)
}

/// One change as the history keeps it (bytes, like the stored objects).
#[derive(Clone)]
pub(super) struct Logged {
    pub(super) at: std::time::Instant,
    pub(super) rv: u64,
    pub(super) key: Arc<str>,
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) kind: EventType,
    pub(super) object: Blob,
    pub(super) prev: Option<Blob>,
}

impl Logged {
    pub(super) fn event(&self) -> Arc<StoreEvent> {
        let object = parse(&self.object);
        // A deletion's previous state is its object (bar the resourceVersion), so it is
        // not kept twice.
        let prev = if self.kind == EventType::Deleted { Some(object.clone()) } else { self.prev.as_ref().map(parse) };
        Arc::new(StoreEvent { rv: self.rv, key: self.key.clone(), namespace: self.namespace.clone(), name: self.name.clone(), kind: self.kind, object, prev })
    }
}
