//! Decode-time type checks of built-in kinds: kube-apiserver decodes every written object
//! into its Go type before anything else, and refuses a value of the wrong JSON type
//! (`"replicas": "two"`) with the decoder's error. The Go types come from kube-apiserver
//! 1.35.4's own binary (`gen/`); a field the table lacks is ignored, as Go ignores unknown
//! fields. The object itself is stored as sent: this only checks.

mod scalars;
mod smd;
mod table;
#[cfg(test)]
mod tests;
mod walk;

pub(crate) use scalars::go_type_name;
pub(crate) use walk::go_json_kind;

use serde_json::Value;

pub use scalars::go_v;

use crate::api::patch::schema::TypeCtx;

/// A decoder's error, as Go's `err.Error()` prints it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// Which of kube-apiserver's decoders a write path runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoder {
    /// encoding/json (sigs.k8s.io/json): create, update, JSON and merge patches.
    Json,
    /// The unstructured converter: strategic merge patches.
    Unstructured,
}

/// Check `obj` against the Go type of `group`/`version`/`kind`; kinds without a Go type
/// (custom resources) pass.
pub fn check(group: &str, version: &str, kind: &str, obj: &Value, decoder: Decoder) -> Result<(), DecodeError> {
    let t = table::Table::get();
    let Some(root) = t.root(group, version, kind) else { return Ok(()) };
    let r = match decoder {
        Decoder::Json => walk::JsonDecoder::new(t).run(&root, obj),
        Decoder::Unstructured => walk::unstructured(t, obj, &table::Ty::Struct(root)),
    };
    r.map_err(DecodeError)
}

/// structured-merge-diff's check of an applied configuration: every mismatch and every
/// field the schema does not declare, `ValidationErrors`-style.
pub fn check_apply(group: &str, version: &str, kind: &str, obj: &Value) -> Result<(), DecodeError> {
    let t = table::Table::get();
    let Some(root) = t.root(group, version, kind) else { return Ok(()) };
    let api_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    let mut v = smd::SmdValidator::new(t, TypeCtx::new(&api_version, kind));
    v.value(obj, &table::Ty::Struct(root));
    match v.errors.len() {
        0 => Ok(()),
        1 => Err(DecodeError(v.errors.remove(0))),
        _ => Err(DecodeError(format!("errors:\n  {}", v.errors.join("\n  ")))),
    }
}
