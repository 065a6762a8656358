//! Glue to the pure API modules (validation, patches, apply, tables), kept in one place so
//! the server's call sites stay stable while those modules grow.

use serde_json::Value;

use crate::api::errors::{ApiError, Cause};
use crate::api::{patch, ssa, table, validation};

pub fn validate_object_meta(obj: &Value, namespaced: bool, group: &str, kind: &str) -> Vec<Cause> {
    validation::validate_object_meta(obj, namespaced, validation::name_rule_for(group, kind))
}
pub fn validate_create(group: &str, kind: &str, obj: &Value) -> Vec<Cause> {
    validation::validate_create(group, kind, obj)
}
pub fn validate_update(group: &str, kind: &str, custom: bool, old: &Value, new: &Value) -> Vec<Cause> {
    if custom {
        validation::validate_object_meta_update(old, new)
    } else {
        validation::validate_update(group, kind, old, new)
    }
}
pub fn unknown_fields(group: &str, kind: &str, obj: &Value) -> Vec<String> {
    super::strict::unknown_fields(group, kind, obj)
}
pub fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, now: &str, sub: Option<&str>) {
    ssa::record_update(old, new, manager, now, sub)
}
pub fn apply(live: Option<&Value>, applied: &Value, manager: &str, force: bool, now: &str) -> Result<Value, ApiError> {
    let opts = ssa::ApplyOptions { manager, force, now, subresource: None, ignored: &["status"] };
    ssa::apply_with(live, applied, &opts).map_err(|e| e.to_api_error("", "", ""))
}
pub fn json_patch(target: &Value, p: &Value) -> Result<Value, ApiError> {
    patch::apply_json_patch(target, p).map_err(|e| e.to_api_error())
}
pub fn merge_patch(target: &Value, p: &Value) -> Value {
    patch::apply_merge_patch(target, p)
}
pub fn strategic_merge_patch(target: &Value, p: &Value, api_version: &str, kind: &str) -> Result<Value, ApiError> {
    patch::apply_strategic_merge_patch(target, p, api_version, kind).map_err(|e| e.to_api_error())
}
pub fn unsupported_patch(group: &str) -> ApiError {
    patch::unsupported_patch_error(group)
}
pub fn table(group: &str, kind: &str, items: &[&Value], include_object: Option<&str>, cols: Option<&[Value]>) -> Result<Value, ApiError> {
    let include = table::IncludeObject::parse(include_object).map_err(ApiError::bad_request)?;
    Ok(table::to_table(group, kind, items, chrono::Utc::now(), include, cols))
}
