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
/// the handler quotes as Go's `%+v` of the patch map.
pub(crate) fn check_patched(gvk: Gvk, ptype: PatchType, patched: &Value, body: &Value) -> ApiResult<()> {
    let (group, version, kind) = gvk;
    let (decoder, quoted) = match ptype {
        PatchType::StrategicMerge => (Decoder::Unstructured, decode::go_v(body)),
        PatchType::Json | PatchType::Merge => (Decoder::Json, patched.to_string()),
        PatchType::Apply => return Ok(()),
    };
    decode::check(group, version, kind, patched, decoder)
        .map_err(|e| ApiError::invalid("", "", "", vec![Cause::invalid("patch", &Value::String(quoted), &e.0)]))
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
