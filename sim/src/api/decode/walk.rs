//! The two decoders kube-apiserver runs over a request's object: encoding/json (create,
//! update, JSON and merge patches: `json: cannot unmarshal ...` with the innermost struct
//! and the field path) and the unstructured converter (strategic merge patches:
//! `cannot convert ...`, `unrecognized type: ...`).

use serde_json::Value;

use super::scalars::{check_base64, number_literal, parse_quantity, parse_rfc3339, QUANTITY_FORMAT};
use super::table::{display, Special, Table, Ty, SCHEMA_PROPS};

/// encoding/json's walk. A type mismatch is remembered (the first one wins) and decoding
/// goes on; an error from a type's own `UnmarshalJSON` stops it.
pub struct JsonDecoder<'t> {
    table: &'t Table,
    /// Innermost struct (`reflect.Type.Name()`) and the JSON field path to the value.
    structure: Option<String>,
    stack: Vec<String>,
    saved: Option<String>,
}

/// How Go's encoding/json names a JSON value's kind in `UnmarshalTypeError`s.
pub(crate) fn go_json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Does the integer literal fit (`strconv.ParseInt` + `OverflowInt`)?
fn fits(n: &serde_json::Number, min: i128, max: i128) -> bool {
    let i = n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    i.is_some_and(|i| (min..=max).contains(&i))
}

impl<'t> JsonDecoder<'t> {
    pub fn new(table: &'t Table) -> Self {
        JsonDecoder { table, structure: None, stack: Vec::new(), saved: None }
    }

    /// Decode `v` as the struct `root`: the first error, as `err.Error()` prints it.
    pub fn run(mut self, root: &str, v: &Value) -> Result<(), String> {
        self.value(v, &Ty::Struct(root.to_string()))?;
        self.saved.map_or(Ok(()), Err)
    }

    /// `UnmarshalTypeError.Error()` with the decoder's context (`addErrorContext`).
    fn type_error(&self, what: &str, ty: &str) -> String {
        match &self.structure {
            Some(s) => format!("json: cannot unmarshal {what} into Go struct field {s}.{} of type {ty}", self.stack.join(".")),
            None => format!("json: cannot unmarshal {what} into Go value of type {ty}"),
        }
    }

    fn save(&mut self, what: &str, ty: &Ty) {
        if self.saved.is_none() {
            self.saved = Some(self.type_error(what, &display(ty)));
        }
    }

    fn value(&mut self, v: &Value, ty: &Ty) -> Result<(), String> {
        match (ty, v) {
            (_, Value::Null) | (Ty::Any, _) => {}
            (Ty::Bool, Value::Bool(_)) | (Ty::Float { .. }, Value::Number(_)) | (Ty::Str(_), Value::String(_)) => {}
            (Ty::Int { min, max, .. }, Value::Number(n)) => {
                if !fits(n, *min, *max) {
                    self.save(&format!("number {}", number_literal(n)), ty);
                }
            }
            (Ty::Bytes, Value::String(s)) => {
                if let Err(e) = check_base64(s) {
                    self.saved.get_or_insert(e);
                }
            }
            (Ty::Bytes, Value::Array(items)) => {
                let byte = Ty::Int { kind: "uint8", display: "uint8".into(), min: 0, max: 255 };
                for item in items {
                    self.value(item, &byte)?;
                }
            }
            (Ty::Slice(elem, _), Value::Array(items)) => {
                for item in items {
                    self.value(item, elem)?;
                }
            }
            (Ty::Map(val, _), Value::Object(m)) => {
                for item in m.values() {
                    self.value(item, val)?;
                }
            }
            (Ty::Struct(key), Value::Object(m)) => self.structure(key, m)?,
            (Ty::Special(sp), _) => self.special(*sp, v)?,
            _ => self.save(go_json_kind(v), ty),
        }
        Ok(())
    }

    fn structure(&mut self, key: &str, m: &serde_json::Map<String, Value>) -> Result<(), String> {
        let name = self.table.def(key).map(|d| d.name.clone());
        for (k, child) in m {
            let Some(fty) = self.table.field(key, k) else { continue };
            let outer = std::mem::replace(&mut self.structure, name.clone());
            self.stack.push(k.clone());
            // A fatal error returns with the innermost context, as Go's addErrorContext sees it.
            self.value(child, fty)?;
            self.stack.pop();
            self.structure = outer;
        }
        Ok(())
    }

    /// Types with their own `UnmarshalJSON`: their errors stop decoding; a type error from
    /// the `json.Unmarshal` they call gets the outer context.
    fn special(&mut self, sp: Special, v: &Value) -> Result<(), String> {
        match (sp, v) {
            (Special::Quantity, Value::Number(_)) | (Special::Raw, _) => Ok(()),
            (Special::Quantity, Value::String(s)) => parse_quantity(s.trim()).map_err(String::from),
            (Special::Quantity, _) => Err(QUANTITY_FORMAT.into()),
            (Special::Time, Value::String(s)) => parse_rfc3339(s),
            (Special::MicroTime | Special::Duration, Value::String(_)) => Ok(()),
            (Special::Time | Special::MicroTime | Special::Duration, _) => Err(self.type_error(go_json_kind(v), "string")),
            (Special::IntOrString, Value::String(_)) => Ok(()),
            (Special::IntOrString, Value::Number(n)) if fits(n, i32::MIN.into(), i32::MAX.into()) => Ok(()),
            (Special::IntOrString, Value::Number(n)) => Err(self.type_error(&format!("number {}", number_literal(n)), "int32")),
            (Special::IntOrString, _) => Err(self.type_error(go_json_kind(v), "int32")),
            (Special::SchemaOrArray | Special::SchemaOrBool | Special::SchemaOrStringArray, Value::Object(m)) => self.structure(SCHEMA_PROPS, m),
            (Special::SchemaOrArray, Value::Array(items)) => {
                for item in items {
                    self.value(item, &Ty::Struct(SCHEMA_PROPS.into()))?;
                }
                Ok(())
            }
            (Special::SchemaOrStringArray, Value::Array(items)) => {
                for item in items {
                    self.value(item, &Ty::Str("string".into()))?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// `runtime.DefaultUnstructuredConverter.FromUnstructured`'s walk: the first error ends it.
pub fn unstructured(table: &Table, v: &Value, ty: &Ty) -> Result<(), String> {
    // The reflect kind of the decoded source value (ints stay int64: PreserveInts).
    let source = |v: &Value| match v {
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
        Value::Null => "invalid",
    };
    let whole = |v: &Value| v.as_f64().is_some_and(|f| f.fract() == 0.0);
    let st = source(v);
    let unrecognized = |kind: &str| Err(format!("unrecognized type: {kind}"));
    match (ty, v) {
        (_, Value::Null) | (Ty::Any, _) => Ok(()),
        (Ty::Str(_), Value::String(_)) | (Ty::Bool, Value::Bool(_)) | (Ty::Float { .. }, Value::Number(_)) => Ok(()),
        (Ty::Str(d), Value::Number(n)) if !n.is_f64() => Err(format!("cannot convert int64 to {d}")),
        (Ty::Str(_), _) => unrecognized("string"),
        (Ty::Bool, _) => unrecognized("bool"),
        (Ty::Float { kind, .. }, _) => unrecognized(kind),
        (Ty::Int { .. }, Value::Number(n)) if !n.is_f64() || whole(v) => Ok(()),
        (Ty::Int { display, .. }, Value::Number(_)) => Err(format!("cannot convert float64 to {display}")),
        (Ty::Int { kind, .. }, _) => unrecognized(kind),
        (Ty::Bytes, Value::String(s)) => check_base64(s).map_err(|e| format!("error decoding from json: {e}")),
        (Ty::Slice(elem, _), Value::Array(items)) => items.iter().try_for_each(|i| unstructured(table, i, elem)),
        (Ty::Bytes, Value::Array(_)) => Ok(()),
        (Ty::Slice(..) | Ty::Bytes, _) => Err(format!("cannot restore slice from {st}")),
        (Ty::Map(val, _), Value::Object(m)) => m.values().try_for_each(|i| unstructured(table, i, val)),
        (Ty::Map(..), _) => Err(format!("cannot restore map from {st}")),
        (Ty::Struct(key), Value::Object(m)) => m.iter().try_for_each(|(k, child)| match table.field(key, k) {
            Some(fty) => unstructured(table, child, fty),
            None => Ok(()),
        }),
        (Ty::Struct(_), _) => Err(format!("cannot restore struct from: {st}")),
        // Custom unmarshalers get the value re-encoded as JSON, outside any struct context.
        (Ty::Special(sp), _) => {
            let mut d = JsonDecoder::new(table);
            d.special(*sp, v)?;
            d.saved.map_or(Ok(()), Err)
        }
    }
}
