//! Server-side `meta.k8s.io/v1` Table output (`Accept: application/json;as=Table;...`)
//! matching kube-apiserver's printers (pkg/printers/internalversion/printers.go), its
//! default table convertor, and the CRD `additionalPrinterColumns` convertor.
//! Cells are computed as the server does with `Wide: true` (priority-1 columns included).

mod jsonpath;
mod printers;
mod printers_admin;
mod printers_more;
mod printers_netstore;
mod printers_pod;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// The `includeObject` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parse `?includeObject=`; absent means `Metadata`.
    pub fn parse(s: Option<&str>) -> Result<Self, String> {
        match s.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(format!("unrecognized includeObject value: {other:?}")),
        }
    }
}

pub(crate) const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
pub(crate) const AGE_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// One `TableColumnDefinition` (all fields are always serialized).
pub(crate) fn col(name: &str, ty: &str, format: &str, priority: i32, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

/// `duration.HumanDuration`.
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    if secs < -1 {
        return "<invalid>".into();
    } else if secs < 0 {
        return "0s".into();
    } else if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

pub(crate) fn parse_time(ts: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = ts?.as_str()?;
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// `translateTimestampSince`: `<unknown>` for a missing/zero timestamp.
pub fn translate_timestamp_since(ts: Option<&Value>, now: DateTime<Utc>) -> String {
    match parse_time(ts) {
        Some(t) if t.timestamp() != -62135596800 => human_duration(now - t),
        _ => "<unknown>".into(),
    }
}

fn partial_object_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Build the Table for `items` of `group`/`kind`. `extra_columns` is `Some` for custom
/// resources (the served version's `additionalPrinterColumns`, possibly empty → AGE).
/// `metadata.resourceVersion`/`continue` are left for the caller to fill in.
pub fn to_table(
    group: &str,
    kind: &str,
    items: &[&Value],
    now: DateTime<Utc>,
    include_object: IncludeObject,
    extra_columns: Option<&[Value]>,
) -> Value {
    let (columns, cells_of): (Vec<Value>, Cells) = match extra_columns {
        Some(cols) => custom_resource(cols, now),
        None => match printers::for_kind(group, kind, now) {
            Some((mut c, f)) => {
                describe(group, kind, &mut c);
                (c, f)
            }
            None => default_table(),
        },
    };
    // printFlowSchemaList prints in matching order (FlowSchemaSequence: precedence, then name).
    let mut items: Vec<&Value> = items.to_vec();
    if group == "flowcontrol.apiserver.k8s.io" && kind == "FlowSchema" {
        let prec = |o: &Value| o.pointer("/spec/matchingPrecedence").and_then(Value::as_i64).unwrap_or(0);
        let name = |o: &Value| o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        items.sort_by(|a, b| prec(a).cmp(&prec(b)).then_with(|| name(a).cmp(&name(b))));
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let (cells, conditions) = cells_of(obj);
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells));
            if let Some(c) = conditions {
                row.insert("conditions".into(), c);
            }
            row.insert(
                "object".into(),
                match include_object {
                    IncludeObject::None => Value::Null,
                    IncludeObject::Metadata => partial_object_metadata(obj),
                    IncludeObject::Object => (*obj).clone(),
                },
            );
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

type Cells = Box<dyn Fn(&Value) -> (Vec<Value>, Option<Value>)>;

/// kube-apiserver 1.35.4's column descriptions (`Kind.group` → column → description), captured
/// by `resources/tables-golden/capture.py`; Name and Age columns keep the metadata docs.
fn column_descriptions() -> &'static Map<String, Value> {
    static D: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    D.get_or_init(|| serde_json::from_str(include_str!("../../../resources/tables-golden/column-descriptions.json")).expect("column descriptions parse"))
}

/// Give a built-in kind's columns the real server's descriptions (most are API docs).
fn describe(group: &str, kind: &str, cols: &mut [Value]) {
    let key = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    let Some(docs) = column_descriptions().get(&key) else { return };
    for c in cols {
        if let Some(d) = c.get("name").and_then(Value::as_str).and_then(|n| docs.get(n)) {
            c["description"] = d.clone();
        }
    }
}

/// `rest.NewDefaultTableConvertor`: Name + Created At (RFC3339, type date).
fn default_table() -> (Vec<Value>, Cells) {
    let cols = vec![col("Name", "string", "name", 0, NAME_DOC), col("Created At", "date", "", 0, AGE_DOC)];
    (
        cols,
        Box::new(|o: &Value| {
            let name = o.pointer("/metadata/name").cloned().unwrap_or(json!(""));
            let created = parse_time(o.pointer("/metadata/creationTimestamp"))
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
            (vec![name, Value::String(created)], None)
        }),
    )
}

/// The apiextensions table convertor for custom resources.
fn custom_resource(cols: &[Value], now: DateTime<Utc>) -> (Vec<Value>, Cells) {
    let default_age = [json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "description": AGE_DOC})];
    let cols: Vec<Value> = if cols.is_empty() { default_age.to_vec() } else { cols.to_vec() };
    let mut defs = vec![col("Name", "string", "name", 0, NAME_DOC)];
    for c in &cols {
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let path = s("jsonPath");
        let desc = if s("description").is_empty() {
            format!("Custom resource definition column (in JSONPath format): {path}")
        } else {
            s("description")
        };
        let prio = c.get("priority").and_then(Value::as_i64).unwrap_or(0) as i32;
        defs.push(col(&s("name"), &s("type"), &s("format"), prio, &desc));
    }
    (
        defs,
        Box::new(move |o: &Value| {
            let mut cells = vec![o.pointer("/metadata/name").cloned().unwrap_or(json!(""))];
            for c in &cols {
                let ty = c.get("type").and_then(Value::as_str).unwrap_or("string");
                let path = c.get("jsonPath").and_then(Value::as_str).unwrap_or_default();
                cells.push(match jsonpath::eval(o, path) {
                    None | Some(Value::Null) => Value::Null,
                    Some(v) => cell_for_json_value(ty, &v, now),
                });
            }
            (cells, None)
        }),
    )
}

/// `cellForJSONValue` (string columns print any JSON value like jsonpath does).
fn cell_for_json_value(ty: &str, v: &Value, now: DateTime<Utc>) -> Value {
    match (ty, v) {
        ("string", Value::String(s)) => Value::String(s.clone()),
        ("string", other) => Value::String(other.to_string()),
        ("integer", Value::Number(n)) => n.as_i64().map(Value::from).or_else(|| n.as_f64().map(|f| Value::from(f as i64))).unwrap_or(Value::Null),
        ("number", Value::Number(n)) => n.as_f64().map(Value::from).unwrap_or(Value::Null),
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Value::String(human_duration(now - t.with_timezone(&Utc))),
            Err(_) => Value::String("<invalid>".into()),
        },
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests;
