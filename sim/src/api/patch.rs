//! PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and Kubernetes strategic
//! merge patch, with the status codes and messages kube-apiserver's
//! `k8s.io/apiserver/pkg/endpoints/handlers/patch.go` produces for failures.

pub mod schema;
mod smp;
#[cfg(test)]
mod tests;

use crate::api::decode::go_json_kind;
use serde_json::Value;

use crate::api::errors::ApiError;

pub use schema::{group_of, is_builtin_group, ListMeta, TypeCtx};

/// `apiserver`'s `maxJSONPatchOperations`.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchType {
    /// Map a request `Content-Type` to a patch type; parameters (`; charset=utf-8`) are
    /// ignored. `application/apply-patch+cbor` is not served (CBOR feature gate off).
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Whether strategic merge patch is served for `group`: only for compiled-in types.
/// The CR handler (apiextensions-apiserver) omits it from its supported patch types, so a
/// strategic patch to a custom resource gets 415 (see [`unsupported_patch_error`]).
pub fn smp_supported(group: &str) -> bool {
    is_builtin_group(group)
}

/// The patch content types a resource of `group` accepts, in the order the apiserver lists
/// them in its 415 message.
pub fn accepted_patch_types(group: &str) -> Vec<&'static str> {
    if smp_supported(group) {
        vec![
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ]
    } else {
        vec!["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
    }
}

/// 415 for a PATCH whose Content-Type the resource doesn't accept
/// (`negotiation.NewUnsupportedMediaTypeError(patchTypes)`).
pub fn unsupported_patch_error(group: &str) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            accepted_patch_types(group).join(", ")
        ),
    )
}

/// A patch failure, classified the way kube-apiserver maps it to a `Status`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// 400 BadRequest with this message (undecodable patch, malformed SMP directives).
    #[error("{0}")]
    BadRequest(String),
    /// 422 via `NewGenericServerResponse(422, ...)`: the apiserver drops the detail and says
    /// "the server rejected our request due to an error in our request"; kept for logs.
    #[error("{0}")]
    Unprocessable(String),
    /// 413: more than [`MAX_JSON_PATCH_OPERATIONS`] JSON patch operations.
    #[error("The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {0}")]
    TooManyOperations(usize),
    /// A plain Go `error` escaping the handler: 500 with an empty reason and the raw text,
    /// e.g. `map: map[image:x] does not contain declared merge key: name`.
    #[error("{0}")]
    Internal(String),
}

impl PatchError {
    pub fn to_api_error(&self) -> ApiError {
        match self {
            PatchError::BadRequest(m) => ApiError::bad_request(m.clone()),
            PatchError::Unprocessable(_) => {
                let mut e = ApiError::new(422, "Invalid", "the server rejected our request due to an error in our request");
                // NewGenericServerResponse always attaches an (empty) details object.
                e.details = Some(Box::default());
                e
            }
            PatchError::TooManyOperations(_) => {
                ApiError::new(413, "RequestEntityTooLarge", format!("Request entity too large: {self}"))
            }
            PatchError::Internal(m) => ApiError::new(500, "", m.clone()),
        }
    }
}

/// Apply an RFC 6902 JSON patch. Decode failures are 400; any failure while applying
/// (missing path, failed `test`, unknown op) is the apiserver's generic 422.
pub fn apply_json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = match patch {
        Value::Array(ops) => ops,
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                go_json_kind(other)
            )));
        }
    };
    if let Some(bad) = ops.iter().find(|o| !o.is_object() && !o.is_null()) {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            go_json_kind(bad)
        )));
    }
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations(ops.len()));
    }
    let parsed: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| PatchError::Unprocessable(e.to_string()))?;
    let mut doc = target.clone();
    for op in parsed.0 {
        let op = evanphx_v4(&doc, op);
        json_patch::patch(&mut doc, std::slice::from_ref(&op)).map_err(|e| PatchError::Unprocessable(e.to_string()))?;
    }
    Ok(doc)
}

/// kube-apiserver's JSON patch library (evanphx/json-patch v4) reads a missing key of an
/// existing object as null: `replace` there adds the key, and `test` against null passes.
fn evanphx_v4(doc: &Value, op: json_patch::PatchOperation) -> json_patch::PatchOperation {
    use json_patch::{AddOperation, PatchOperation, ReplaceOperation, TestOperation};
    let missing_key = |path: &json_patch::jsonptr::Pointer| {
        path.split_back().is_some_and(|(parent, key)| {
            doc.pointer(parent.as_str()).and_then(Value::as_object).is_some_and(|m| !m.contains_key(key.decoded().as_ref()))
        })
    };
    match op {
        PatchOperation::Replace(ReplaceOperation { path, value }) if missing_key(&path) => PatchOperation::Add(AddOperation { path, value }),
        PatchOperation::Test(TestOperation { path, value: Value::Null }) if missing_key(&path) => {
            // Nothing to compare: a no-op test of the (existing) parent.
            let parent = path.split_back().map(|(p, _)| p.to_buf()).unwrap_or_default();
            let value = doc.pointer(parent.as_str()).cloned().unwrap_or(Value::Null);
            PatchOperation::Test(TestOperation { path: parent, value })
        }
        other => other,
    }
}

/// Apply an RFC 7386 merge patch: objects merge recursively, `null` deletes, anything else
/// (arrays included) replaces.
pub fn apply_merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else { return patch.clone() };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => serde_json::Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = apply_merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// Apply a strategic merge patch to a built-in object of `api_version`/`kind`. Callers must
/// refuse custom resources beforehand ([`smp_supported`]).
pub fn apply_strategic_merge_patch(target: &Value, patch: &Value, api_version: &str, kind: &str) -> Result<Value, PatchError> {
    let Value::Object(p) = patch else {
        // handleUnmarshal into map[string]interface{} fails → mergepatch.ErrBadJSONDoc.
        return Err(PatchError::BadRequest("invalid JSON document".into()));
    };
    let original = match target {
        Value::Object(t) => t.clone(),
        _ => serde_json::Map::new(),
    };
    let ctx = TypeCtx::new(api_version, kind);
    let merged = smp::merge_map(original, p.clone(), ctx, &mut Vec::new())?;
    Ok(Value::Object(merged))
}

/// `fmt.Sprintf("%v", x)` of a decoded JSON value, for error texts that embed Go values
/// (`map[image:x name:y]`, `[a b]`, `<nil>`).
pub(crate) fn go_fmt(v: &Value) -> String {
    crate::api::decode::go_v(v)
}
