//! Strategic merge patch application, following `mergeMap`/`mergeSlice` of
//! k8s.io/apimachinery/pkg/util/strategicpatch (with `MergeParallelList` and
//! `IgnoreUnmatchedNulls` set, as `StrategicMergeMapPatch` uses them), including its error
//! texts. The result is additionally cleaned of nulls and `$` keys, which the real server
//! loses when converting the patched map back to the typed object.

use crate::api::decode::go_type_name;
use serde_json::{Map, Value};

use super::schema::{list_meta, ListMeta, TypeCtx};
use super::{go_fmt, PatchError};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_PREFIX: &str = "$deleteFromPrimitiveList";
const ORDER_PREFIX: &str = "$setElementOrder";

type Res<T> = Result<T, PatchError>;

fn no_merge_key(m: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Internal(format!(
        "map: {} does not contain declared merge key: {key}",
        go_fmt(&Value::Object(m.clone()))
    ))
}

fn bad_patch_type(t: &Value, m: &Map<String, Value>) -> PatchError {
    PatchError::Internal(format!("unknown patch type: {} in map: {}", go_fmt(t), go_fmt(&Value::Object(m.clone()))))
}

/// `mergepatch.ErrBadArgType`.
fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Internal(format!("expected a {expected}, but received a {}", go_type_name(actual)))
}

pub(super) fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    ctx: TypeCtx,
    path: &mut Vec<String>,
) -> Res<Map<String, Value>> {
    if let Some(d) = patch.get(DIRECTIVE).cloned() {
        return handle_directive(&d, patch);
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_set_element_order(&mut original, &mut patch, ctx, path)?;

    for (k, pv) in patch {
        let (key, is_delete_list) = if k.starts_with(DELETE_PREFIX) {
            (extract_key(&k, DELETE_PREFIX)?, true)
        } else if k.starts_with('$') {
            // Unknown directives would be dropped by the typed decode.
            continue;
        } else {
            (k, false)
        };
        if pv.is_null() {
            original.remove(&key);
            continue;
        }
        let Some(ov) = original.get_mut(&key) else {
            if !is_delete_list
                && let Some(v) = clean_new(pv)
            {
                original.insert(key, v);
            }
            continue;
        };
        match (ov, pv) {
            (Value::Object(om), Value::Object(pm)) => {
                let om = std::mem::take(om);
                path.push(key.clone());
                let merged = merge_map(om, pm, ctx, path);
                path.pop();
                original.insert(key, Value::Object(merged?));
            }
            (Value::Array(oa), Value::Array(pa)) => {
                let oa = std::mem::take(oa);
                path.push(key.clone());
                let merged = merge_slice_handler(oa, pa, ctx, path, is_delete_list);
                path.pop();
                original.insert(key, Value::Array(merged?));
            }
            (_, pv) => {
                // Differing types or scalars: the patch value wins.
                if is_delete_list {
                    continue;
                }
                match clean_new(pv) {
                    Some(v) => original.insert(key, v),
                    None => original.remove(&key),
                };
            }
        }
    }
    Ok(original)
}

fn handle_directive(d: &Value, mut patch: Map<String, Value>) -> Res<Map<String, Value>> {
    match d.as_str() {
        Some("replace") => {
            patch.remove(DIRECTIVE);
            match strip(Value::Object(patch)) {
                Value::Object(m) => Ok(m),
                _ => unreachable!(),
            }
        }
        Some("delete") => Ok(Map::new()),
        _ => Err(bad_patch_type(d, &patch)),
    }
}

/// `extractKey`: `$deleteFromPrimitiveList/finalizers` → `finalizers`.
fn extract_key(s: &str, prefix: &str) -> Res<String> {
    match s.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ if prefix == DELETE_PREFIX => Err(PatchError::BadRequest("invalid patch format of primitive list".into())),
        _ => Err(PatchError::BadRequest("invalid patch format of setElementOrder list".into())),
    }
}

fn apply_retain_keys(original: &mut Map<String, Value>, patch: &mut Map<String, Value>) -> Res<()> {
    let Some(rk) = patch.remove(RETAIN_KEYS) else { return Ok(()) };
    let bad = || PatchError::BadRequest("invalid patch format of retainKeys".into());
    let Value::Array(list) = rk else { return Err(bad()) };
    let keep = |k: &str| list.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_PREFIX) || k.starts_with(ORDER_PREFIX) {
            continue;
        }
        if !keep(k) {
            return Err(bad());
        }
    }
    original.retain(|k, _| keep(k));
    Ok(())
}

fn merge_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    ctx: TypeCtx,
    path: &mut Vec<String>,
) -> Res<()> {
    let keys: Vec<String> = patch.keys().filter(|k| k.starts_with(ORDER_PREFIX)).cloned().collect();
    for key in keys {
        let order_v = patch.remove(&key).unwrap_or(Value::Null);
        let Value::Array(order) = order_v else { return Err(bad_arg_type("[]interface {}", &order_v)) };
        let list_key = extract_key(&key, ORDER_PREFIX)?;
        let orig = match original.get(&list_key) {
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(bad_arg_type("[]interface {}", other)),
            None => None,
        };
        let pl = match patch.get(&list_key) {
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(bad_arg_type("[]interface {}", other)),
            None => None,
        };
        path.push(list_key.clone());
        let meta = list_meta(ctx, path);
        let mk = merge_key(meta);
        let res = (|| -> Res<Option<Vec<Value>>> {
            validate_patch_with_set_order(pl.as_deref().unwrap_or(&[]), &order, mk)?;
            let merged = match (&orig, &pl) {
                (Some(o), None) => o.clone(),
                (None, Some(p)) => p.iter().cloned().filter_map(clean_new).collect(),
                (Some(o), Some(p)) => merge_slice_handler(o.clone(), p.clone(), ctx, path, false)?,
                (None, None) => return Ok(None),
            };
            let orig_vals = orig.clone().unwrap_or_default();
            let is_map = element_kind(&[&orig_vals, pl.as_deref().unwrap_or(&[])])? == "map";
            let (items, server_only) = partition(merged, &order, mk, is_map)?;
            Ok(Some(normalize_element_order(items, server_only, &order, &orig_vals, mk, is_map)?))
        })();
        path.pop();
        if let Some(both) = res? {
            original.insert(list_key.clone(), Value::Array(both));
            patch.remove(&list_key);
        }
    }
    Ok(())
}

fn merge_key(meta: ListMeta) -> &'static str {
    match meta {
        ListMeta::Map { smp_key, .. } => smp_key,
        _ => "",
    }
}

fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    ctx: TypeCtx,
    path: &mut Vec<String>,
    is_delete_list: bool,
) -> Res<Vec<Value>> {
    match list_meta(ctx, path) {
        ListMeta::Atomic => Ok(patch.into_iter().map(strip).collect()),
        meta => merge_slice(original, patch, merge_key(meta), ctx, path, is_delete_list),
    }
}

/// `sliceElementType`: the common element kind of the slices.
fn element_kind(slices: &[&[Value]]) -> Res<&'static str> {
    let mut prev: Option<&'static str> = None;
    for v in slices.iter().flat_map(|s| s.iter()) {
        let t = go_type_name(v);
        match prev {
            None if matches!(v, Value::Array(_)) => {
                return Err(PatchError::Unprocessable("lists of lists are not supported".into()));
            }
            None => prev = Some(t),
            Some(p) if p != t => {
                let all: Vec<Value> = slices.iter().map(|s| Value::Array(s.to_vec())).collect();
                return Err(PatchError::Internal(format!(
                    "list element types are not identical: {}",
                    go_fmt(&Value::Array(all))
                )));
            }
            Some(_) => {}
        }
    }
    match prev {
        Some("map[string]interface {}") => Ok("map"),
        Some(_) => Ok("scalar"),
        None => Err(PatchError::Internal("no elements in any of the given slices".into())),
    }
}

fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    mk: &str,
    ctx: TypeCtx,
    path: &mut Vec<String>,
    is_delete_list: bool,
) -> Res<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let is_map = element_kind(&[&original, &patch])? == "map";
    let (server_order, patch, merged) = if !is_map {
        if is_delete_list {
            return Ok(original.into_iter().filter(|v| !patch.contains(v)).collect());
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(patch.iter()) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        (original, patch, merged)
    } else {
        if mk.is_empty() {
            return Err(PatchError::Internal("cannot merge lists without merge key for type map".into()));
        }
        let (original, patch) = merge_special_elements(original, patch, mk)?;
        let merged = merge_plain_elements(original.clone(), &patch, mk, ctx, path)?;
        (original, patch, merged)
    };
    let (items, server_only) = partition(merged, &patch, mk, is_map)?;
    normalize_element_order(items, server_only, &patch, &server_order, mk, is_map)
}

/// `mergeSliceWithSpecialElements`: apply `$patch: delete|replace` list elements.
fn merge_special_elements(mut original: Vec<Value>, patch: Vec<Value>, mk: &str) -> Res<(Vec<Value>, Vec<Value>)> {
    let mut plain = Vec::new();
    let mut replace = false;
    for v in patch {
        let Value::Object(m) = &v else { return Err(bad_arg_type("map[string]interface {}", &v)) };
        match m.get(DIRECTIVE) {
            None => plain.push(v),
            Some(d) => match d.as_str() {
                Some("delete") => {
                    let Some(want) = m.get(mk) else { return Err(no_merge_key(m, mk)) };
                    original.retain(|o| o.get(mk) != Some(want));
                }
                Some("replace") => replace = true,
                Some("merge") => {
                    return Err(PatchError::Internal("merging lists cannot yet be specified in the patch".into()));
                }
                _ => return Err(bad_patch_type(d, m)),
            },
        }
    }
    if replace {
        return Ok((plain.into_iter().filter_map(clean_new).collect(), Vec::new()));
    }
    Ok((original, plain))
}

/// `mergeSliceWithoutSpecialElements`: merge items sharing the merge key, append new ones.
fn merge_plain_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    mk: &str,
    ctx: TypeCtx,
    path: &mut Vec<String>,
) -> Res<Vec<Value>> {
    for v in patch {
        let Value::Object(m) = v else { return Err(bad_arg_type("map[string]interface {}", v)) };
        let Some(want) = m.get(mk) else { return Err(no_merge_key(m, mk)) };
        let mut found = None;
        for (i, o) in original.iter().enumerate() {
            let Value::Object(om) = o else {
                return Err(PatchError::Internal(format!("value for key {i} is not a map.")));
            };
            if om.get(mk) == Some(want) {
                found = Some(i);
                break;
            }
        }
        match found {
            Some(i) => {
                let om = match std::mem::take(&mut original[i]) {
                    Value::Object(om) => om,
                    _ => unreachable!(),
                };
                original[i] = Value::Object(merge_map(om, m.clone(), ctx, path)?);
            }
            None => {
                if let Some(c) = clean_new(v.clone()) {
                    original.push(c);
                }
            }
        }
    }
    Ok(original)
}

/// Value used to identify an element: the merge key for maps, the element itself otherwise.
fn ident<'a>(v: &'a Value, mk: &str, is_map: bool) -> Option<&'a Value> {
    if is_map { v.get(mk) } else { Some(v) }
}

fn index_of(list: &[Value], v: &Value, mk: &str, is_map: bool) -> Option<usize> {
    let want = ident(v, mk, is_map);
    list.iter().position(|x| ident(x, mk, is_map) == want)
}

/// `partitionMapsByPresentInList` / `partitionPrimitivesByPresentInList`.
fn partition(merged: Vec<Value>, by: &[Value], mk: &str, is_map: bool) -> Res<(Vec<Value>, Vec<Value>)> {
    let (mut items, mut server_only) = (Vec::new(), Vec::new());
    for v in merged {
        if is_map && !mk.is_empty() {
            let Value::Object(m) = &v else { return Err(bad_arg_type("map[string]interface {}", &v)) };
            if !m.contains_key(mk) {
                return Err(no_merge_key(m, mk));
            }
        }
        if index_of(by, &v, mk, is_map).is_some() {
            items.push(v);
        } else {
            server_only.push(v);
        }
    }
    Ok((items, server_only))
}

fn normalize_element_order(
    items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    mk: &str,
    is_map: bool,
) -> Res<Vec<Value>> {
    let items = normalize_slice_order(items, patch_order, mk, is_map)?;
    let server_only = normalize_slice_order(server_only, server_order, mk, is_map)?;
    Ok(merge_sorted(server_only, items, server_order, mk, is_map))
}

fn normalize_slice_order(to_sort: Vec<Value>, order: &[Value], mk: &str, is_map: bool) -> Res<Vec<Value>> {
    let (mut keep, mut del) = (Vec::new(), Vec::new());
    if is_map && !mk.is_empty() {
        for v in to_sort.iter().chain(order.iter()) {
            match v {
                Value::Object(m) if !m.contains_key(mk) => return Err(no_merge_key(m, mk)),
                Value::Object(_) => {}
                other => return Err(bad_arg_type("map[string]interface {}", other)),
            }
        }
        for v in to_sort {
            if v.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") { del.push(v) } else { keep.push(v) }
        }
    } else {
        keep = to_sort;
    }
    keep.sort_by_key(|v| index_of(order, v, mk, is_map).unwrap_or(usize::MAX));
    keep.extend(del);
    Ok(keep)
}

/// `mergeSortedSlice`: interleave server-only items (`left`) into the patch items (`right`)
/// using their positions in the live list.
fn merge_sorted(left: Vec<Value>, right: Vec<Value>, server_order: &[Value], mk: &str, is_map: bool) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        let take_left = match (l.peek(), r.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => {
                match (index_of(server_order, a, mk, is_map), index_of(server_order, b, mk, is_map)) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        out.push(if take_left { l.next() } else { r.next() }.expect("peeked"));
    }
    out
}

/// `validatePatchWithSetOrderList`.
fn validate_patch_with_set_order(patch_list: &[Value], order: &[Value], mk: &str) -> Res<()> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let mut non_delete = Vec::new();
    for v in patch_list {
        if !mk.is_empty() {
            let Value::Object(_) = v else { return Err(bad_arg_type("map[string]interface {}", v)) };
            if v.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                continue;
            }
        }
        non_delete.push(v);
    }
    let (mut pi, mut si) = (0, 0);
    while pi < non_delete.len() && si < order.len() {
        let item = non_delete[pi];
        if item.get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        let equal = if mk.is_empty() {
            item == &order[si]
        } else {
            let (Value::Object(a), Value::Object(b)) = (item, &order[si]) else {
                return Err(bad_arg_type("map[string]interface {}", &order[si]));
            };
            let ka = a.get(mk).ok_or_else(|| no_merge_key(a, mk))?;
            let kb = b.get(mk).ok_or_else(|| no_merge_key(b, mk))?;
            ka == kb
        };
        if equal {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= order.len() {
        return Err(PatchError::Internal(format!(
            "The order in patch list:\n{}\n doesn't match {ORDER_PREFIX} list:\n{}\n",
            go_fmt(&Value::Array(patch_list.to_vec())),
            go_fmt(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

/// A patch value landing where the original has nothing comparable: drop nulls
/// (`discardNullValuesFromPatch`), maps carrying `$patch` (`removeDirectives`) and any other
/// `$` keys (lost in the typed decode). `None` if the value itself is a directive map.
fn clean_new(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            let mut out = Map::new();
            for (k, v) in m {
                if v.is_null() || k.starts_with('$') {
                    continue;
                }
                if let Some(c) = clean_new(v) {
                    out.insert(k, c);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(a) => Some(Value::Array(a.into_iter().filter_map(clean_new).collect())),
        other => Some(other),
    }
}

/// Drop nulls and `$` keys without removing directive-bearing maps (for values the real code
/// passes through verbatim, e.g. an atomic list).
fn strip(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter().filter(|(k, v)| !v.is_null() && !k.starts_with('$')).map(|(k, v)| (k, strip(v))).collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip).collect()),
        other => other,
    }
}
