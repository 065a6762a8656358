//! The Go types of the served kinds, as kube-apiserver 1.35.4's binary declares them
//! (gen/go_types.tsv, see gen/compact.py): what its JSON decoder checks a body against.

use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE: &str = include_str!("gen/go_types.tsv");

/// A Go type as the decoder sees it (pointers are transparent: JSON null is always
/// accepted, and a type error names the pointee).
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Bool,
    /// Signed or unsigned integer: `kind` is the reflect kind name (`int32`), `display` the
    /// Go type name (`int32`, `time.Duration`).
    Int { kind: &'static str, display: String, min: i128, max: i128 },
    Float { kind: &'static str, display: String },
    Str(String),
    /// `[]byte`: base64 in JSON.
    Bytes,
    /// `interface{}`.
    Any,
    Slice(Box<Ty>, String),
    Map(Box<Ty>, String),
    /// Key into the struct table.
    Struct(String),
    Special(Special),
}

/// Types with their own `UnmarshalJSON`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Special {
    Quantity,
    Time,
    MicroTime,
    IntOrString,
    /// metav1.Duration: a string.
    Duration,
    /// runtime.RawExtension, apiextensions JSON, metav1.FieldsV1: any JSON.
    Raw,
    SchemaOrArray,
    SchemaOrBool,
    SchemaOrStringArray,
}

pub struct StructDef {
    /// `reflect.Type.Name()`: `DeploymentSpec`.
    pub name: String,
    fields: HashMap<String, Ty>,
    /// Embedded structs (`json:",inline"`), whose fields are promoted.
    inline: Vec<String>,
}

pub struct Table {
    structs: HashMap<String, StructDef>,
}

const META: &str = "k8s.io/apimachinery/pkg/apis/meta/v1.v1.";
const APIEXT: &str = "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1.v1.";
pub const SCHEMA_PROPS: &str = "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1.v1.JSONSchemaProps";

fn special(key: &str) -> Option<Special> {
    use Special::*;
    Some(match key {
        "k8s.io/apimachinery/pkg/api/resource.resource.Quantity" => Quantity,
        "k8s.io/apimachinery/pkg/util/intstr.intstr.IntOrString" => IntOrString,
        "k8s.io/apimachinery/pkg/runtime.runtime.RawExtension" => Raw,
        _ => match (key.strip_prefix(META), key.strip_prefix(APIEXT)) {
            (Some("Time"), _) => Time,
            (Some("MicroTime"), _) => MicroTime,
            (Some("Duration"), _) => Duration,
            (Some("FieldsV1"), _) => Raw,
            (_, Some("JSON")) => Raw,
            (_, Some("JSONSchemaPropsOrArray")) => SchemaOrArray,
            (_, Some("JSONSchemaPropsOrBool")) => SchemaOrBool,
            (_, Some("JSONSchemaPropsOrStringArray")) => SchemaOrStringArray,
            _ => return None,
        },
    })
}

/// `k8s.io/api/core/v1.v1.Container` → `v1.Container`.
fn short(key: &str) -> &str {
    let mut dots = key.rmatch_indices('.');
    match (dots.next(), dots.next()) {
        (Some(_), Some((i, _))) => &key[i + 1..],
        _ => key,
    }
}

fn int(kind: u8, display: &str) -> Option<Ty> {
    let (k, min, max): (&'static str, i128, i128) = match kind {
        2 => ("int", i64::MIN.into(), i64::MAX.into()),
        3 => ("int8", i8::MIN.into(), i8::MAX.into()),
        4 => ("int16", i16::MIN.into(), i16::MAX.into()),
        5 => ("int32", i32::MIN.into(), i32::MAX.into()),
        6 => ("int64", i64::MIN.into(), i64::MAX.into()),
        7 => ("uint", 0, u64::MAX.into()),
        8 => ("uint8", 0, u8::MAX.into()),
        9 => ("uint16", 0, u16::MAX.into()),
        10 => ("uint32", 0, u32::MAX.into()),
        11 | 12 => ("uint64", 0, u64::MAX.into()),
        _ => return None,
    };
    Some(Ty::Int { kind: k, display: display.to_string(), min, max })
}

/// Parse the extractor's type notation: `ptr:`, `slice:`, `map:<key>:` prefixes and a
/// `<type>#<reflect.Kind>` base. `cast` names a named map type (`ResourceList`).
pub fn parse_ty(s: &str, cast: &str, pkg_short: &str) -> Ty {
    if let Some(rest) = s.strip_prefix("ptr:") {
        return parse_ty(rest, "", pkg_short);
    }
    if let Some(rest) = s.strip_prefix("slice:") {
        let elem = parse_ty(rest, "", pkg_short);
        if matches!(&elem, Ty::Int { kind: "uint8", display, .. } if display == "uint8") {
            return Ty::Bytes;
        }
        let display = format!("[]{}", display(&elem));
        return Ty::Slice(Box::new(elem), display);
    }
    if let Some(rest) = s.strip_prefix("map:") {
        let hash = rest.find('#').unwrap_or(rest.len());
        let key_end = rest[hash..].find(':').map_or(rest.len(), |i| hash + i);
        let key = parse_ty(&rest[..key_end], "", pkg_short);
        let val = parse_ty(rest.get(key_end + 1..).unwrap_or(""), "", pkg_short);
        let display = if cast.is_empty() { format!("map[{}]{}", display(&key), display(&val)) } else { format!("{pkg_short}.{cast}") };
        return Ty::Map(Box::new(val), display);
    }
    let (base, kind) = s.rsplit_once('#').unwrap_or((s, "0"));
    let kind: u8 = kind.parse().unwrap_or(0);
    if let Some(sp) = special(base) {
        return Ty::Special(sp);
    }
    let disp = short(base);
    match kind {
        1 => Ty::Bool,
        2..=12 => int(kind, disp).unwrap_or(Ty::Any),
        13 => Ty::Float { kind: "float32", display: disp.to_string() },
        14 => Ty::Float { kind: "float64", display: disp.to_string() },
        24 => Ty::Str(disp.to_string()),
        25 => Ty::Struct(base.to_string()),
        _ => Ty::Any,
    }
}

/// `reflect.Type.String()` of a type.
pub fn display(t: &Ty) -> String {
    match t {
        Ty::Bool => "bool".into(),
        Ty::Int { display, .. } | Ty::Float { display, .. } | Ty::Str(display) => display.clone(),
        Ty::Bytes => "[]uint8".into(),
        Ty::Any => "interface {}".into(),
        Ty::Slice(_, d) | Ty::Map(_, d) => d.clone(),
        Ty::Struct(key) => short(key).to_string(),
        Ty::Special(s) => match s {
            Special::Quantity => "resource.Quantity".into(),
            Special::IntOrString => "intstr.IntOrString".into(),
            Special::Time => "v1.Time".into(),
            Special::MicroTime => "v1.MicroTime".into(),
            Special::Duration => "v1.Duration".into(),
            Special::Raw => "runtime.RawExtension".into(),
            Special::SchemaOrArray => "v1.JSONSchemaPropsOrArray".into(),
            Special::SchemaOrBool => "v1.JSONSchemaPropsOrBool".into(),
            Special::SchemaOrStringArray => "v1.JSONSchemaPropsOrStringArray".into(),
        },
    }
}

impl Table {
    fn parse(text: &str) -> Self {
        let mut structs: HashMap<String, StructDef> = HashMap::new();
        for line in text.lines() {
            let mut cols = line.split('\t');
            let (Some(key), Some(name), Some(ty)) = (cols.next(), cols.next(), cols.next()) else { continue };
            let cast = cols.next().unwrap_or("");
            let disp = short(key);
            let pkg_short = disp.split('.').next().unwrap_or("");
            let def = structs.entry(key.to_string()).or_insert_with(|| StructDef {
                name: disp.rsplit('.').next().unwrap_or(disp).to_string(),
                fields: HashMap::new(),
                inline: Vec::new(),
            });
            let t = parse_ty(ty, cast, pkg_short);
            match (name, t) {
                ("", Ty::Struct(k)) => def.inline.push(k),
                ("", _) => {}
                (n, t) => {
                    def.fields.insert(n.to_string(), t);
                }
            }
        }
        Table { structs }
    }

    pub fn get() -> &'static Table {
        static T: OnceLock<Table> = OnceLock::new();
        T.get_or_init(|| Table::parse(TABLE))
    }

    pub fn def(&self, key: &str) -> Option<&StructDef> {
        self.structs.get(key)
    }

    /// The field `json` of struct `key`, promoted fields of embedded structs included.
    pub fn field(&self, key: &str, json: &str) -> Option<&Ty> {
        let def = self.structs.get(key)?;
        def.fields.get(json).or_else(|| def.inline.iter().find_map(|k| self.field(k, json)))
    }

    /// The struct of a served kind (`apps`, `v1`, `Deployment` → `k8s.io/api/apps/v1.v1.Deployment`).
    pub fn root(&self, group: &str, version: &str, kind: &str) -> Option<String> {
        // A custom resource's group may look like a built-in package (`networking.example.com`).
        if !crate::api::patch::schema::is_builtin_group(group) {
            return None;
        }
        let pkg = match group {
            "" => format!("k8s.io/api/core/{version}"),
            "apiextensions.k8s.io" => format!("k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/{version}"),
            "apiregistration.k8s.io" => format!("k8s.io/kube-aggregator/pkg/apis/apiregistration/{version}"),
            "internal.apiserver.k8s.io" => format!("k8s.io/api/apiserverinternal/{version}"),
            g => format!("k8s.io/api/{}/{version}", g.split('.').next().unwrap_or(g)),
        };
        let key = format!("{pkg}.{version}.{kind}");
        self.structs.contains_key(&key).then_some(key)
    }
}
