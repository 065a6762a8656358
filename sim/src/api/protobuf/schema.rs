//! The field-table format `decode` walks; the tables themselves are generated
//! (generated.rs, from gen/generate.py).
//!
//! Every k8s proto field is proto2 `optional`, so presence rules come from the Go
//! types: `keep_zero` marks fields rendered even when zero (Go pointers and fields
//! without `omitempty`), `always` marks fields Go renders even when absent from the
//! wire (non-pointer structs and fields without `omitempty`).

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum K {
    Str,
    I64,
    /// int32; k8s protos also use it for the few numeric enums.
    I32,
    Bool,
    Double,
    /// `[]byte`, rendered as base64 like Go's JSON.
    Bytes,
    Msg(&'static [F]),
    /// A Go embedded struct (`json:",inline"`): its fields merge into the parent.
    Inline(&'static [F]),
    RepMsg(&'static [F]),
    RepStr,
    RepI32,
    RepI64,
    /// metav1.Time, RFC3339 with seconds.
    Time,
    /// metav1.MicroTime, RFC3339 with microseconds.
    MicroTime,
    /// resource.Quantity {1 string}, a JSON string.
    Quantity,
    RepQuantity,
    /// intstr.IntOrString {1 type, 2 intVal, 3 strVal}, a JSON number or string.
    IntOrString,
    /// runtime.RawExtension / apiextensions JSON {1 raw}: embedded JSON.
    RawExtension,
    RepRawExtension,
    /// metav1.FieldsV1 {1 raw JSON bytes}.
    FieldsV1,
    /// map<string,string> as repeated {1 key, 2 value}.
    MapStr,
    /// map<string,bytes>, values rendered as base64 like Go's []byte JSON.
    MapBytes,
    MapQuantity,
    /// map<string, ExtraValue>: a Go `[]string` wrapped as {1 repeated items}.
    MapStrList,
    MapTime,
    MapMsg(&'static [F]),
    /// map<string, JSONSchemaPropsOrStringArray>.
    MapSchemaOrStrings(&'static [F]),
    /// JSONSchemaPropsOrArray {1 schema, 2 repeated schemas}: an object or an array.
    SchemaOrArray(&'static [F]),
    /// JSONSchemaPropsOrBool {1 allows, 2 schema}: an object or a bool.
    SchemaOrBool(&'static [F]),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct F {
    pub num: u32,
    pub name: &'static str,
    pub kind: K,
    pub keep_zero: bool,
    pub always: bool,
}

/// A value field with `omitempty`: dropped when zero.
pub const fn omit(num: u32, name: &'static str, kind: K) -> F {
    F { num, name, kind, keep_zero: false, always: false }
}
/// A Go pointer: rendered whenever present on the wire, even when zero.
pub const fn keep(num: u32, name: &'static str, kind: K) -> F {
    F { num, name, kind, keep_zero: true, always: false }
}
/// A value field Go always renders (no `omitempty`, or a struct).
pub const fn always(num: u32, name: &'static str, kind: K) -> F {
    F { num, name, kind, keep_zero: true, always: true }
}

pub const TYPE_META: &[F] = &[omit(1, "apiVersion", K::Str), omit(2, "kind", K::Str)];

/// The message table for an envelope's `apiVersion`/`kind`.
pub fn for_kind(api_version: &str, kind: &str) -> Option<&'static [F]> {
    super::generated::for_kind(api_version, kind)
}
