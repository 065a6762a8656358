//! Decode-time type checks on the write paths, with the status each of kube-apiserver's
//! handlers answers: a create or update body that does not decode is a 400 (rest.go
//! transformDecodeError), a patched object a 422 on the field `patch` (patch.go), an applied
//! configuration that does not match the schema a 500 from the field manager.

use serde_json::Value;

use crate::api::decode::{self, Decoder};
use crate::api::errors::{ApiError, ApiResult, Cause};
use crate::api::patch::PatchType;

/// The Go type a body decodes into: group, version, kind.
pub(crate) type Gvk<'a> = (&'a str, &'a str, &'a str);

/// A create or update body (`<Kind> in version "<v>" cannot be handled as a <Kind>: ...`).
pub(crate) fn check_body((group, version, kind): Gvk, obj: &Value) -> ApiResult<()> {
    decode::check(group, version, kind, obj, Decoder::Json)
        .map_err(|e| ApiError::bad_request(format!("{kind} in version {version:?} cannot be handled as a {kind}: {e}")))
}

/// The object a JSON or merge patch produced, or (strategic merge) the patch itself, which
/// the handler quotes as Go's `%+v` of the patch map. Under `fieldValidation=Strict`, unknown
/// fields of the patched object fail the same way once the types are right.
pub(crate) fn check_patched(gvk: Gvk, ptype: PatchType, patched: &Value, body: &Value, strict: bool) -> ApiResult<()> {
    let (group, version, kind) = gvk;
    let (decoder, quoted) = match ptype {
        PatchType::StrategicMerge => (Decoder::Unstructured, decode::go_v(body)),
        PatchType::Json | PatchType::Merge => (Decoder::Json, patched.to_string()),
        PatchType::Apply => return Ok(()),
    };
    let invalid = |detail: &str| ApiError::invalid("", "", "", vec![Cause::invalid("patch", &Value::String(quoted.clone()), detail)]);
    decode::check(group, version, kind, patched, decoder).map_err(|e| invalid(&e.0))?;
    let unknown = if strict { super::strict::unknown_fields(group, kind, patched) } else { Vec::new() };
    if unknown.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = unknown.iter().map(|f| format!("unknown field {f:?}")).collect();
    Err(invalid(&format!("strict decoding error: {}", list.join(", "))))
}

/// A server-side apply configuration (`failed to create typed patch object (<ns>/<name>;
/// <group>/<version>, Kind=<Kind>): ...`, a 500 without a reason).
pub(crate) fn check_applied((group, version, kind): Gvk, applied: &Value) -> ApiResult<()> {
    decode::check_apply(group, version, kind, applied).map_err(|e| {
        let at = |p: &str| applied.pointer(p).and_then(Value::as_str).unwrap_or("");
        let nn = format!("{}/{}", at("/metadata/namespace"), at("/metadata/name"));
        ApiError::new(500, "", format!("failed to create typed patch object ({nn}; {group}/{version}, Kind={kind}): {e}"))
    })
}
