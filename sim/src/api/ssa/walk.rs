//! Schema-aware walks over JSON objects, after structured-merge-diff's `typed` package:
//! the field set of an applied configuration, the merge of a configuration into a live
//! object, the comparison of two objects and the removal of paths.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::fieldset::{Path, PathElement, Set};
use crate::api::patch::schema::{list_meta, map_atomic, ListMeta, TypeCtx};

/// Non-pointer struct fields of built-in types: always present in the typed object, so
/// neither marked as a member when "added" nor dropped when they become empty.
const STRUCT_FIELDS: &[&str] = &["metadata", "spec", "status", "template", "strategy", "updateStrategy"];

/// Walk position: field names for schema lookups, path elements for field sets.
pub struct Pos<'a> {
    pub ctx: TypeCtx<'a>,
    pub fpath: Vec<String>,
    pub spath: Path,
}

impl<'a> Pos<'a> {
    pub fn root(ctx: TypeCtx<'a>) -> Self {
        Pos { ctx, fpath: Vec::new(), spath: Vec::new() }
    }
    fn enter_field(&mut self, k: &str) {
        self.fpath.push(k.to_string());
        self.spath.push(PathElement::field(k));
    }
    fn leave_field(&mut self) {
        self.fpath.pop();
        self.spath.pop();
    }
    fn list_meta(&self) -> ListMeta {
        list_meta(self.ctx, &self.fpath)
    }
    fn atomic_map(&self) -> bool {
        map_atomic(self.ctx, &self.fpath)
    }
}

/// The path element identifying a list item, `None` if the item can't be keyed.
pub fn item_pe(meta: ListMeta, item: &Value) -> Option<PathElement> {
    match meta {
        ListMeta::Set => Some(PathElement::Value(item.to_string())),
        ListMeta::Map { keys, .. } => {
            let m = item.as_object()?;
            let mut kv = Vec::new();
            for k in keys {
                match m.get(*k) {
                    Some(v) => kv.push((k.to_string(), v.to_string())),
                    // The OpenAPI default of the `protocol` key; SMD keys items with it.
                    None if *k == "protocol" => kv.push((k.to_string(), "\"TCP\"".to_string())),
                    None => {}
                }
            }
            if kv.is_empty() {
                return None;
            }
            kv.sort();
            Some(PathElement::Key(kv))
        }
        ListMeta::Atomic => None,
    }
}

/// `TypedValue.ToFieldSet`: leaves, atomic values and list items of an applied config.
pub fn to_set(obj: &Map<String, Value>, pos: &mut Pos, out: &mut Set) {
    for (k, v) in obj {
        pos.enter_field(k);
        value_set(v, pos, out);
        pos.leave_field();
    }
}

fn value_set(v: &Value, pos: &mut Pos, out: &mut Set) {
    match v {
        Value::Object(m) if !m.is_empty() && !pos.atomic_map() => to_set(m, pos, out),
        Value::Array(a) if !a.is_empty() => {
            let meta = pos.list_meta();
            let pes: Option<Vec<PathElement>> = a.iter().map(|i| item_pe(meta, i)).collect();
            let Some(pes) = pes else {
                out.insert(&pos.spath);
                return;
            };
            for (item, pe) in a.iter().zip(pes) {
                pos.spath.push(pe);
                out.insert(&pos.spath);
                if let (ListMeta::Map { .. }, Value::Object(m)) = (meta, item) {
                    to_set(m, pos, out);
                }
                pos.spath.pop();
            }
        }
        _ => out.insert(&pos.spath),
    }
}

/// `TypedValue.Merge(live, config)`: the config wins on leaves; maps and keyed lists merge.
pub fn merge(live: &Value, cfg: &Value, pos: &mut Pos) -> Value {
    match (live, cfg) {
        (Value::Object(l), Value::Object(c)) if !pos.atomic_map() => {
            let mut out = l.clone();
            for (k, cv) in c {
                if cv.is_null() {
                    // A typed decode turns an explicit null into an absent field.
                    out.remove(k);
                    continue;
                }
                pos.enter_field(k);
                let v = match l.get(k) {
                    Some(lv) => merge(lv, cv, pos),
                    None => cv.clone(),
                };
                pos.leave_field();
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => {
            let meta = pos.list_meta();
            if meta == ListMeta::Atomic {
                return cfg.clone();
            }
            let lpes: Option<Vec<_>> = l.iter().map(|i| item_pe(meta, i)).collect();
            let cpes: Option<Vec<_>> = c.iter().map(|i| item_pe(meta, i)).collect();
            match (lpes, cpes) {
                (Some(lp), Some(cp)) => Value::Array(merge_items(l, &lp, c, &cp, pos)),
                _ => cfg.clone(),
            }
        }
        _ => cfg.clone(),
    }
}

/// `mergingWalker.visitListItems`: live-only items stay in place, config items follow the
/// config order, shared items are merged.
fn merge_items(l: &[Value], lp: &[PathElement], r: &[Value], rp: &[PathElement], pos: &mut Pos) -> Vec<Value> {
    let lidx = |pe: &PathElement| lp.iter().position(|x| x == pe);
    let ridx = |pe: &PathElement| rp.iter().position(|x| x == pe);
    let shared: Vec<&PathElement> = rp.iter().filter(|pe| lidx(pe).is_some()).collect();
    let mut next_shared = 0;
    let mut merged_rhs: HashSet<&PathElement> = HashSet::new();
    let mut out = Vec::with_capacity(l.len() + r.len());
    let merge_one = |pe: &PathElement, pos: &mut Pos| -> Value {
        let rv = &r[ridx(pe).expect("rhs item")];
        match lidx(pe) {
            Some(i) => merge(&l[i], rv, pos),
            None => rv.clone(),
        }
    };
    let (mut li, mut ri) = (0, 0);
    while li < l.len() || ri < r.len() {
        if li < l.len() && ri < r.len() {
            let pe = &lp[li];
            if *pe == rp[ri] {
                merged_rhs.insert(pe);
                out.push(merge_one(pe, pos));
                li += 1;
                ri += 1;
                if shared.get(next_shared) == Some(&pe) {
                    next_shared += 1;
                }
                continue;
            }
            if ridx(pe).is_some() && shared.get(next_shared).is_some_and(|s| *s != pe) {
                li += 1;
                continue;
            }
        }
        if li < l.len() {
            let pe = &lp[li];
            if ridx(pe).is_none() {
                out.push(l[li].clone());
                li += 1;
                continue;
            } else if merged_rhs.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ri < r.len() {
            let pe = &rp[ri];
            merged_rhs.insert(pe);
            out.push(merge_one(pe, pos));
            ri += 1;
            if shared.get(next_shared) == Some(&pe) {
                next_shared += 1;
            }
        }
    }
    out
}

/// Result of comparing two objects (`typed.Comparison`).
#[derive(Default, Debug)]
pub struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

impl Comparison {
    pub fn changed(&self) -> Set {
        self.added.union(&self.modified)
    }
}

pub fn compare(old: Option<&Value>, new: Option<&Value>, pos: &mut Pos, out: &mut Comparison) {
    let nonempty_map = |v: Option<&Value>| matches!(v, Some(Value::Object(m)) if !m.is_empty());
    let is_map_or_none = |v: Option<&Value>| v.is_none() || matches!(v, Some(Value::Object(_)));
    let is_list_or_none = |v: Option<&Value>| v.is_none() || matches!(v, Some(Value::Array(_)));
    let field_name = pos.fpath.last().cloned().unwrap_or_default();
    let struct_field = pos.ctx.builtin && STRUCT_FIELDS.contains(&field_name.as_str());
    let member_worthy = !struct_field && matches!(pos.spath.last(), Some(PathElement::Field(_)));

    if (nonempty_map(old) || nonempty_map(new)) && is_map_or_none(old) && is_map_or_none(new) && !pos.atomic_map() {
        // A map appearing or vanishing is itself a member (the `.` of Update entries).
        if member_worthy {
            match (old, new) {
                (None, Some(_)) => out.added.insert(&pos.spath),
                (Some(_), None) => out.removed.insert(&pos.spath),
                _ => {}
            }
        }
        compare_item_fields(old, new, pos, out);
        return;
    }
    if let (true, true, meta) = (is_list_or_none(old), is_list_or_none(new), pos.list_meta()) {
        let empty = Vec::new();
        let ol = old.and_then(Value::as_array).unwrap_or(&empty);
        let nl = new.and_then(Value::as_array).unwrap_or(&empty);
        let ope: Option<Vec<_>> = ol.iter().map(|i| item_pe(meta, i)).collect();
        let npe: Option<Vec<_>> = nl.iter().map(|i| item_pe(meta, i)).collect();
        if let (false, Some(ope), Some(npe)) = (meta == ListMeta::Atomic || (ol.is_empty() && nl.is_empty()), ope, npe) {
            // Like maps, a keyed/set list appearing or vanishing is a member (`f:ports: {.: {}}`),
            // except PodSpec.containers, which the typed zero value always carries (as null).
            if member_worthy && !(pos.ctx.builtin && field_name == "containers") {
                match (old, new) {
                    (None, Some(_)) => out.added.insert(&pos.spath),
                    (Some(_), None) => out.removed.insert(&pos.spath),
                    _ => {}
                }
            }
            let mut seen = Vec::new();
            for pe in ope.iter().chain(npe.iter()) {
                if seen.contains(pe) {
                    continue;
                }
                seen.push(pe.clone());
                let oi = ope.iter().position(|x| x == pe).map(|i| &ol[i]);
                let ni = npe.iter().position(|x| x == pe).map(|i| &nl[i]);
                pos.spath.push(pe.clone());
                match (oi, ni) {
                    (None, Some(_)) => out.added.insert(&pos.spath),
                    (Some(_), None) => out.removed.insert(&pos.spath),
                    _ => {}
                }
                if matches!(meta, ListMeta::Map { .. }) {
                    compare_item_fields(oi, ni, pos, out);
                }
                pos.spath.pop();
            }
            return;
        }
    }
    // Leaf: scalars, atomic values, empty maps/lists, type changes.
    match (old, new) {
        (None, Some(_)) => out.added.insert(&pos.spath),
        (Some(_), None) => out.removed.insert(&pos.spath),
        (Some(a), Some(b)) if a != b => out.modified.insert(&pos.spath),
        _ => {}
    }
}

/// Compare the fields of two maps (objects, or associative-list items whose own path the
/// caller handles).
fn compare_item_fields(old: Option<&Value>, new: Option<&Value>, pos: &mut Pos, out: &mut Comparison) {
    let empty = Map::new();
    let om = old.and_then(Value::as_object).unwrap_or(&empty);
    let nm = new.and_then(Value::as_object).unwrap_or(&empty);
    for k in om.keys().chain(nm.keys().filter(|k| !om.contains_key(*k))) {
        pos.enter_field(k);
        compare(om.get(k), nm.get(k), pos, out);
        pos.leave_field();
    }
}

/// Whether a list item matches a path element (keys compared as compact JSON, with the
/// `protocol` default applied like `item_pe`).
fn item_matches(item: &Value, pe: &PathElement) -> bool {
    match pe {
        PathElement::Value(v) => item.to_string() == *v,
        PathElement::Key(kv) => kv.iter().all(|(k, v)| match item.get(k) {
            Some(x) => x.to_string() == *v,
            None => k == "protocol" && v == "\"TCP\"",
        }),
        _ => false,
    }
}

/// Remove `path` from `obj`. With `drop_empty`, maps emptied by the removal are dropped too
/// (the typed object's `omitempty`), except non-pointer struct fields.
pub fn remove_path(obj: &mut Value, path: &[PathElement], drop_empty: bool) -> bool {
    let Some((first, rest)) = path.split_first() else { return false };
    let removed;
    match (obj, first) {
        (Value::Object(m), PathElement::Field(f)) => {
            if rest.is_empty() {
                return m.remove(f).is_some();
            }
            let Some(child) = m.get_mut(f) else { return false };
            removed = remove_path(child, rest, drop_empty);
            let emptied = matches!(child, Value::Object(c) if c.is_empty());
            if removed && drop_empty && emptied && !STRUCT_FIELDS.contains(&f.as_str()) {
                m.remove(f);
            }
        }
        (Value::Array(a), pe @ (PathElement::Key(_) | PathElement::Value(_))) => {
            let Some(i) = a.iter().position(|x| item_matches(x, pe)) else { return false };
            if rest.is_empty() {
                a.remove(i);
                return true;
            }
            removed = remove_path(&mut a[i], rest, drop_empty);
        }
        (Value::Array(a), PathElement::Index(i)) if *i < a.len() => {
            if rest.is_empty() {
                a.remove(*i);
                return true;
            }
            removed = remove_path(&mut a[*i], rest, drop_empty);
        }
        _ => return false,
    }
    removed
}
