//! Field selectors: `fields.ParseSelector` (escaping included) and the per-kind
//! field-label allow-lists kube-apiserver enforces via `Scheme.ConvertFieldLabel`.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Equals,
    DoubleEquals,
    NotEquals,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOp,
    /// Unescaped value.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

/// `splitTerms`: commas split terms unless backslash-escaped (escape kept in the term).
fn split_terms(s: &str) -> Vec<String> {
    if s.is_empty() {
        return vec![];
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(s[start..i].to_string());
            start = i + 1;
        }
    }
    terms.push(s[start..].to_string());
    terms
}

/// `splitTerm`: first occurrence of `!=`, `==` or `=` (checked in that order per position).
fn split_term(term: &str) -> Option<(String, FieldOp, String)> {
    for i in 0..term.len() {
        if !term.is_char_boundary(i) {
            continue;
        }
        let rest = &term[i..];
        for (op, kind) in [("!=", FieldOp::NotEquals), ("==", FieldOp::DoubleEquals), ("=", FieldOp::Equals)] {
            if rest.starts_with(op) {
                return Some((term[..i].to_string(), kind, term[i + op.len()..].to_string()));
            }
        }
    }
    None
}

/// `fields.UnescapeValue`.
pub fn unescape_value(s: &str) -> Result<String, String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(format!("invalid field selector: invalid escape sequence: \\{c}")),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Go formats the rune with %v, i.e. as its integer code point.
            ',' | '=' => return Err(format!("invalid field selector: unescaped character in value: {}", c as u32)),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

/// `fields.EscapeValue`.
pub fn escape_value(s: &str) -> String {
    s.replace('\\', "\\\\").replace(',', "\\,").replace('=', "\\=")
}

impl FieldSelector {
    pub fn everything() -> Self {
        FieldSelector::default()
    }
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// `fields.ParseSelector`.
    pub fn parse(selector: &str) -> Result<FieldSelector, String> {
        let mut parts = split_terms(selector);
        parts.sort();
        let mut reqs = Vec::new();
        for part in parts.iter().filter(|p| !p.is_empty()) {
            let Some((field, op, rhs)) = split_term(part) else {
                return Err(format!("invalid selector: '{selector}'; can't understand '{part}'"));
            };
            let value = unescape_value(&rhs)?;
            // Transform drops a term whose field and value are both empty.
            reqs.push(FieldRequirement { field, op, value });
        }
        Ok(FieldSelector { requirements: reqs })
    }

    /// Generic evaluation: each field label is a dotted JSON path into the object.
    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements.iter().all(|r| r.matches_value(&path_value(obj, &r.field)))
    }

    /// Evaluation with kube-apiserver's per-kind `ToSelectableFields` quirks
    /// (defaults for unset booleans/counters, renamed fields, aliases).
    pub fn matches_for(&self, group: &str, kind: &str, obj: &Value) -> bool {
        self.requirements.iter().all(|r| r.matches_value(&field_value(group, kind, obj, &r.field)))
    }

    /// `RequiresExactMatch`: the value an `=`/`==` term pins `field` to.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.op != FieldOp::NotEquals)
            .map(|r| r.value.as_str())
    }
}

impl FieldRequirement {
    fn matches_value(&self, got: &str) -> bool {
        match self.op {
            FieldOp::Equals | FieldOp::DoubleEquals => got == self.value,
            FieldOp::NotEquals => got != self.value,
        }
    }
}

/// Stringified value at a dotted path (`""` when absent or not a scalar).
pub fn path_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    scalar(cur).unwrap_or_default()
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn path_or(obj: &Value, path: &str, default: &str) -> String {
    let v = path_value(obj, path);
    if v.is_empty() { default.to_string() } else { v }
}

/// The value kube-apiserver's registry `ToSelectableFields` exposes for `label`.
pub fn field_value(group: &str, kind: &str, obj: &Value, label: &str) -> String {
    match (group, kind, label) {
        ("", "Pod", "spec.hostNetwork") => path_or(obj, "spec.hostNetwork", "false"),
        ("", "Pod", "spec.host") => path_value(obj, "spec.nodeName"),
        ("", "Pod", "status.podIP") => obj
            .pointer("/status/podIPs/0/ip")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| path_value(obj, "status.podIP")),
        // Accepted by the conversion func but never set by PodToSelectableFields.
        ("", "Pod", "status.podIPs") => String::new(),
        ("", "Node", "spec.unschedulable") => path_or(obj, "spec.unschedulable", "false"),
        ("", "ReplicationController", "status.replicas") => path_or(obj, "status.replicas", "0"),
        ("batch", "Job", "status.successful") => path_or(obj, "status.succeeded", "0"),
        ("", "Event", "source") => {
            let c = path_value(obj, "source.component");
            if c.is_empty() { path_value(obj, "reportingComponent") } else { c }
        }
        _ => path_value(obj, label),
    }
}

const POD_FIELDS: &[&str] = &[
    "metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
    "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
    "status.nominatedNodeName", "spec.host",
];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
    "reportingComponent", "source", "type", "metadata.namespace", "metadata.name",
];
const EVENTS_V1_FIELDS: &[&str] = &[
    "reason", "regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "regarding.apiVersion",
    "regarding.resourceVersion", "regarding.fieldPath", "reportingController", "type", "metadata.namespace",
    "metadata.name",
];

/// An allow-list and the conversion func's rejection message.
type Rule<'a> = (&'a [&'a str], &'a dyn Fn(&str) -> String);

/// Check every field label against kube-apiserver's allow-list for the kind; the error
/// is the Status message of the 400 BadRequest. Terms are checked in sorted order, as
/// `Transform` visits them.
pub fn validate_field_selector(group: &str, kind: &str, sel: &FieldSelector) -> Result<(), String> {
    let default_err = |l: &str| format!("field label not supported: {l}");
    let (allowed, err): Rule<'_> = match (group, kind) {
        ("", "Pod") => (POD_FIELDS, &default_err),
        ("", "Node") => (&["metadata.name", "spec.unschedulable"], &default_err),
        ("", "ReplicationController") => (&["metadata.name", "metadata.namespace", "status.replicas"], &default_err),
        ("", "Event") => (EVENT_FIELDS, &default_err),
        ("events.k8s.io", "Event") => (EVENTS_V1_FIELDS, &default_err),
        ("", "Namespace") => (&["status.phase", "metadata.name"], &default_err),
        ("", "Secret") => (&["type", "metadata.namespace", "metadata.name"], &default_err),
        ("", "Service") => (&["metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"], &default_err),
        ("certificates.k8s.io", "CertificateSigningRequest") => (&["metadata.name", "spec.signerName"], &default_err),
        ("batch", "Job") => (&["metadata.name", "metadata.namespace", "status.successful"], &|l: &str| {
            format!("field label {} not supported for batchv1.Job", crate::api::validation::content::go_quote(l))
        }),
        // runtime.DefaultMetaV1FieldSelectorConversion: every kind without a registered
        // conversion func, including all of apps/v1 (so ReplicaSet rejects status.replicas).
        _ => (&["metadata.name", "metadata.namespace"], &|l: &str| {
            format!(
                "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                crate::api::validation::content::go_quote(l)
            )
        }),
    };
    check(sel, allowed, err)
}

/// The custom-resource variant (`crConverter.ConvertFieldLabel`): `metadata.name`,
/// `metadata.namespace` for namespaced CRDs, and the CRD version's `selectableFields`
/// (given as their `jsonPath` without the leading dot).
pub fn validate_custom_field_selector(sel: &FieldSelector, cluster_scoped: bool, selectable: &[&str]) -> Result<(), String> {
    let mut allowed = vec!["metadata.name"];
    if !cluster_scoped {
        allowed.push("metadata.namespace");
    }
    allowed.extend_from_slice(selectable);
    check(sel, &allowed, &|l: &str| format!("field label not supported: {l}"))
}

fn check(sel: &FieldSelector, allowed: &[&str], err: &dyn Fn(&str) -> String) -> Result<(), String> {
    for r in &sel.requirements {
        if r.field.is_empty() && r.value.is_empty() {
            // fn("", "") still runs inside Transform before the empty-term drop.
            if !allowed.contains(&"") {
                return Err(err(""));
            }
        }
        if !allowed.contains(&r.field.as_str()) {
            return Err(err(&r.field));
        }
    }
    Ok(())
}
