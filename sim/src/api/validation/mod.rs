//! kube-apiserver-exact validation producing `Cause`s with upstream field paths and texts
//! (k8s.io/apimachinery `api/validation`, pkg/apis/{core,apps,batch}/validation).

pub mod content;
mod ephemeral;
mod types;

use serde_json::{Map, Value};

use crate::api::errors::Cause;
use content::*;

pub use content::{is_dns1123_label, is_dns1123_subdomain};
pub use ephemeral::validate_ephemeral_containers_update;
pub use types::{ensure_namespace_name_label, validate_create, validate_update};

/// `TotalAnnotationSizeLimitB`.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// How a kind's `metadata.name` is validated (its `ValidateNameFunc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// `NameIsDNSSubdomain`: most kinds.
    Dns1123Subdomain,
    /// `NameIsDNSLabel`: namespaces and a few others.
    Dns1123Label,
    /// `NameIsDNS1035Label`: services.
    Dns1035Label,
    /// `path.IsValidPathSegmentName`: RBAC roles/bindings and similar.
    PathSegment,
}

/// The name rule kube-apiserver applies to a group/kind.
pub fn name_rule_for(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") => NameRule::Dns1123Label,
        ("", "Service") => NameRule::Dns1035Label,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        // kube-aggregator checks only path-segment rules (then name == version.group): `v1.` is valid.
        ("apiregistration.k8s.io", "APIService") => NameRule::PathSegment,
        _ => NameRule::Dns1123Subdomain,
    }
}

/// `ValidateNameFunc(name, prefix)`: with `prefix` a trailing dash is masked like
/// `maskTrailingDash` (generateName values may end in '-').
pub fn validate_name(rule: NameRule, name: &str, prefix: bool) -> Vec<String> {
    let masked;
    let n = if prefix && rule != NameRule::PathSegment && name.len() > 1 && name.ends_with('-') {
        masked = format!("{}a", &name[..name.len() - 2]);
        masked.as_str()
    } else {
        name
    };
    match rule {
        NameRule::Dns1123Subdomain => is_dns1123_subdomain(n),
        NameRule::Dns1123Label => is_dns1123_label(n),
        NameRule::Dns1035Label => is_dns1035_label(n),
        NameRule::PathSegment => {
            if prefix { content_path_prefix(name) } else { is_path_segment_name(name) }
        }
    }
}

fn content_path_prefix(name: &str) -> Vec<String> {
    ["/", "%"].iter().filter(|c| name.contains(**c)).map(|c| format!("may not contain '{c}'")).collect()
}

/// Recursively sort object keys so values render like Go's `json.Marshal` of maps.
pub(crate) fn go_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), go_json(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(go_json).collect()),
        other => other.clone(),
    }
}

/// `field.Invalid` with Go rendering of the bad value (`%q` strings, sorted JSON otherwise).
pub(crate) fn invalid(field: &str, value: &Value, detail: &str) -> Cause {
    let v = match value {
        Value::String(s) => go_quote(s),
        other => go_json(other).to_string(),
    };
    let msg = if detail.is_empty() { format!("Invalid value: {v}") } else { format!("Invalid value: {v}: {detail}") };
    Cause::new("FieldValueInvalid", msg, field)
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// `ValidateLabels` on a map at `path`.
pub fn validate_labels(labels: Option<&Map<String, Value>>, path: &str) -> Vec<Cause> {
    let mut out = Vec::new();
    for (k, v) in labels.into_iter().flatten() {
        for m in is_qualified_name(k) {
            out.push(invalid(path, &Value::String(k.clone()), &m));
        }
        let val = v.as_str().unwrap_or_default();
        for m in is_valid_label_value(val) {
            out.push(invalid(path, &Value::String(val.to_string()), &m));
        }
    }
    out
}

/// `ValidateAnnotations`.
pub fn validate_annotations(ann: Option<&Map<String, Value>>, path: &str) -> Vec<Cause> {
    let mut out = Vec::new();
    let mut total = 0usize;
    for (k, v) in ann.into_iter().flatten() {
        for m in is_qualified_name(&k.to_lowercase()) {
            out.push(invalid(path, &Value::String(k.clone()), &m));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        out.push(Cause::too_long_bytes(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    out
}

/// `ValidateObjectMetaAccessor`: name/generateName, namespace presence, labels,
/// annotations, ownerReferences and finalizers.
pub fn validate_object_meta(obj: &Value, namespaced: bool, name_rule: NameRule) -> Vec<Cause> {
    let empty = Value::Object(Map::new());
    let meta = obj.get("metadata").unwrap_or(&empty);
    let mut out = Vec::new();
    let gen_name = s(meta, "generateName");
    if !gen_name.is_empty() {
        for m in validate_name(name_rule, gen_name, true) {
            out.push(invalid("metadata.generateName", &Value::String(gen_name.into()), &m));
        }
    }
    let name = s(meta, "name");
    if name.is_empty() {
        out.push(Cause::required_detail("metadata.name", "name or generateName is required"));
    } else {
        for m in validate_name(name_rule, name, false) {
            out.push(invalid("metadata.name", &Value::String(name.into()), &m));
        }
    }
    let ns = s(meta, "namespace");
    if namespaced {
        if ns.is_empty() {
            out.push(Cause::required("metadata.namespace"));
        } else {
            for m in is_dns1123_label(ns) {
                out.push(invalid("metadata.namespace", &Value::String(ns.into()), &m));
            }
        }
    } else if !ns.is_empty() {
        out.push(Cause::forbidden("metadata.namespace", "not allowed on this type"));
    }
    if let Some(g) = meta.get("generation").and_then(Value::as_i64).filter(|g| *g < 0) {
        out.push(invalid("metadata.generation", &Value::from(g), "must be greater than or equal to 0"));
    }
    out.extend(validate_labels(meta.get("labels").and_then(Value::as_object), "metadata.labels"));
    out.extend(validate_annotations(meta.get("annotations").and_then(Value::as_object), "metadata.annotations"));
    out.extend(validate_owner_references(meta.get("ownerReferences").and_then(Value::as_array)));
    for f in meta.get("finalizers").and_then(Value::as_array).into_iter().flatten() {
        let f = f.as_str().unwrap_or_default();
        for m in is_qualified_name(f) {
            out.push(invalid("metadata.finalizers", &Value::String(f.into()), &m));
        }
    }
    out
}

fn validate_owner_references(refs: Option<&Vec<Value>>) -> Vec<Cause> {
    let mut out = Vec::new();
    let mut first_controller = String::new();
    const P: &str = "metadata.ownerReferences";
    for r in refs.into_iter().flatten() {
        let api_version = s(r, "apiVersion");
        let version = api_version.rsplit('/').next().unwrap_or_default();
        if version.is_empty() {
            out.push(invalid(&format!("{P}.apiVersion"), &Value::String(api_version.into()), "version must not be empty"));
        }
        for (k, msg) in [("kind", "must not be empty"), ("name", "must not be empty"), ("uid", "must not be empty")] {
            if s(r, k).is_empty() {
                out.push(invalid(&format!("{P}.{k}"), &Value::String(String::new()), msg));
            }
        }
        if api_version == "v1" && s(r, "kind") == "Event" {
            out.push(invalid(P, &go_json(r), "/v1, Kind=Event is disallowed from being an owner"));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let cur = format!("{}/{}", s(r, "kind"), s(r, "name"));
            if first_controller.is_empty() {
                first_controller = cur;
            } else {
                out.push(invalid(P, &Value::Array(refs.cloned().unwrap_or_default()), &format!(
                    "Only one reference can have Controller set to true. Found \"true\" in references for {first_controller} and {cur}"
                )));
            }
        }
    }
    out
}

/// `ValidateObjectMetaUpdate` (immutable identity fields; labels/annotations re-checked).
/// The resourceVersion check is left to the caller: unconditional updates are filled in
/// with the current resourceVersion before validation upstream.
pub fn validate_object_meta_update(old: &Value, new: &Value) -> Vec<Cause> {
    let empty = Value::Object(Map::new());
    let om = old.get("metadata").unwrap_or(&empty);
    let nm = new.get("metadata").unwrap_or(&empty);
    let mut out = Vec::new();
    if let (Some(o), Some(n)) = (om.get("generation").and_then(Value::as_i64), nm.get("generation").and_then(Value::as_i64))
        && n < o
    {
        out.push(invalid("metadata.generation", &Value::from(n), "must not be decremented"));
    }
    for k in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"] {
        let (o, n) = (om.get(k).unwrap_or(&Value::Null), nm.get(k).unwrap_or(&Value::Null));
        if o != n {
            let shown = if n.is_null() && k != "deletionTimestamp" && k != "deletionGracePeriodSeconds" {
                Value::String(String::new())
            } else {
                n.clone()
            };
            out.push(invalid(&format!("metadata.{k}"), &shown, "field is immutable"));
        }
    }
    if om.get("deletionTimestamp").is_some_and(|v| !v.is_null()) {
        let of: Vec<&str> = om.get("finalizers").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let mut extra: Vec<&str> = nm
            .get("finalizers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|f| !of.contains(f))
            .collect();
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            let list = extra.iter().map(|e| go_quote(e)).collect::<Vec<_>>().join(", ");
            out.push(Cause::forbidden(
                "metadata.finalizers",
                &format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"),
            ));
        }
    }
    out.extend(validate_labels(nm.get("labels").and_then(Value::as_object), "metadata.labels"));
    out.extend(validate_annotations(nm.get("annotations").and_then(Value::as_object), "metadata.annotations"));
    out.extend(validate_owner_references(nm.get("ownerReferences").and_then(Value::as_array)));
    out
}

#[cfg(test)]
mod tests;
