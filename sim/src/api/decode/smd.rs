//! structured-merge-diff's validation of an applied configuration against the kind's schema
//! (`typeConverter.ObjectToTyped`): every error, as `ValidationErrors` prints them.

use serde_json::Value;

use super::scalars::{go_sharp_v, go_type_name, go_v};
use super::table::{Special, Table, Ty};
use crate::api::patch::schema::{list_meta, TypeCtx};
use crate::api::ssa::fieldset::{path_string, PathElement};
use crate::api::ssa::walk::item_pe;

pub struct SmdValidator<'a> {
    table: &'a Table,
    ctx: TypeCtx<'a>,
    fpath: Vec<String>,
    path: Vec<PathElement>,
    pub errors: Vec<String>,
}

impl<'a> SmdValidator<'a> {
    pub fn new(table: &'a Table, ctx: TypeCtx<'a>) -> Self {
        SmdValidator { table, ctx, fpath: Vec::new(), path: Vec::new(), errors: Vec::new() }
    }

    fn error(&mut self, msg: String) {
        self.errors.push(format!("{}: {msg}", path_string(&self.path)));
    }

    pub fn value(&mut self, v: &Value, ty: &Ty) {
        // `&value.valueUnstructured{...}` printed with %v.
        let unstructured = |v: &Value| format!("&{{{}}}", go_v(v));
        match (ty, v) {
            (_, Value::Null) | (Ty::Any, _) => {}
            // Raw JSON is deduced; CRD schema unions are left to CRD validation.
            (Ty::Special(Special::Raw | Special::SchemaOrBool | Special::SchemaOrArray | Special::SchemaOrStringArray), _) => {}
            // Quantities, int-or-strings and times are untyped scalars.
            (Ty::Special(_), Value::Array(_) | Value::Object(_)) => self.error(format!("expected any scalar, got {}", unstructured(v))),
            (Ty::Special(_), _) => {}
            (Ty::Bool, Value::Bool(_)) | (Ty::Int { .. } | Ty::Float { .. }, Value::Number(_)) => {}
            (Ty::Str(_) | Ty::Bytes, Value::String(_)) => {}
            (Ty::Bool, _) => self.error(format!("expected boolean, got {}", unstructured(v))),
            (Ty::Int { .. } | Ty::Float { .. }, _) => self.error(format!("expected numeric (int or float), got {}", go_type_name(v))),
            (Ty::Str(_) | Ty::Bytes, _) => self.error(format!("expected string, got &value.valueUnstructured{{Value:{}}}", go_sharp_v(v))),
            (Ty::Slice(elem, _), Value::Array(items)) => {
                let meta = list_meta(self.ctx, &self.fpath);
                for (i, item) in items.iter().enumerate() {
                    self.path.push(item_pe(meta, item).unwrap_or(PathElement::Index(i)));
                    self.value(item, elem);
                    self.path.pop();
                }
            }
            (Ty::Slice(..), _) => self.error(format!("expected list, got {}", unstructured(v))),
            (Ty::Map(val, _), Value::Object(m)) => {
                for (k, item) in m {
                    self.path.push(PathElement::field(k));
                    self.value(item, val);
                    self.path.pop();
                }
            }
            (Ty::Struct(key), Value::Object(m)) => self.fields(key, m),
            (Ty::Map(..) | Ty::Struct(_), _) => self.error(format!("expected map, got {}", unstructured(v))),
        }
    }

    fn fields(&mut self, key: &str, m: &serde_json::Map<String, Value>) {
        // A struct the table lacks is not checked rather than refused.
        if self.table.def(key).is_none() {
            return;
        }
        for (k, item) in m {
            self.fpath.push(k.clone());
            self.path.push(PathElement::field(k));
            match self.table.field(key, k) {
                Some(fty) => self.value(item, fty),
                None => self.error("field not declared in schema".into()),
            }
            self.path.pop();
            self.fpath.pop();
        }
    }
}
