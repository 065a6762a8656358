//! Kubernetes `Status` errors with the codes, reasons and message texts kube-apiserver uses
//! (k8s.io/apimachinery/pkg/api/errors).

use serde_json::{json, Value};

/// One entry of `details.causes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

impl Cause {
    pub fn new(reason: &str, message: impl Into<String>, field: impl Into<String>) -> Self {
        Cause { reason: reason.into(), message: message.into(), field: field.into() }
    }
    /// `field.ErrorTypeRequired` → reason `FieldValueRequired`, message `Required value`.
    pub fn required(field: &str) -> Self {
        Cause::new("FieldValueRequired", "Required value", field)
    }
    /// `field.Invalid` → `Invalid value: "v": detail`.
    pub fn invalid(field: &str, value: &Value, detail: &str) -> Self {
        let v = match value {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        let msg = if detail.is_empty() { format!("Invalid value: {v}") } else { format!("Invalid value: {v}: {detail}") };
        Cause::new("FieldValueInvalid", msg, field)
    }
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Cause::new("FieldValueForbidden", format!("Forbidden: {detail}"), field)
    }
    pub fn too_long(field: &str, detail: &str) -> Self {
        Cause::new("FieldValueTooLong", format!("Too long: {detail}"), field)
    }
    pub fn not_supported(field: &str, value: &Value, supported: &[&str]) -> Self {
        let v = match value {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Cause::new("FieldValueNotSupported", format!("Unsupported value: {v}: supported values: {}", list.join(", ")), field)
    }
    /// `<field>: <message>` as kube-apiserver joins causes into an Invalid message.
    pub fn render(&self) -> String {
        if self.field.is_empty() { self.message.clone() } else { format!("{}: {}", self.field, self.message) }
    }
}

/// An API error as kube-apiserver returns it: HTTP code + `Status` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// Boxed: errors travel through every Result in the server; keep them small.
    pub details: Option<Box<Details>>,
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Details {
    pub name: String,
    pub group: String,
    pub kind: String,
    pub uid: String,
    pub causes: Vec<Cause>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}
impl std::error::Error for ApiError {}

/// `group.resource` the way apimachinery's `GroupResource.String()` prints it.
pub fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") }
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError { code, reason: reason.into(), message: message.into(), details: None, retry_after: None }
    }
    fn with_details(mut self, name: &str, group: &str, kind: &str) -> Self {
        self.details = Some(Box::new(Details { name: name.into(), group: group.into(), kind: kind.into(), ..Default::default() }));
        self
    }

    pub fn not_found(resource: &str, group: &str, name: &str) -> Self {
        ApiError::new(404, "NotFound", format!("{} {:?} not found", qualified(resource, group), name))
            .with_details(name, group, resource)
    }
    /// 404 for a path that matches no route (`the server could not find the requested resource`).
    pub fn no_route() -> Self {
        let mut e = ApiError::new(404, "NotFound", "the server could not find the requested resource");
        e.details = Some(Box::new(Details { causes: vec![Cause::new("UnexpectedServerResponse", "404 page not found", "")], ..Default::default() }));
        e
    }
    pub fn already_exists(resource: &str, group: &str, name: &str) -> Self {
        ApiError::new(409, "AlreadyExists", format!("{} {:?} already exists", qualified(resource, group), name))
            .with_details(name, group, resource)
    }
    pub fn conflict(resource: &str, group: &str, name: &str, detail: &str) -> Self {
        ApiError::new(409, "Conflict", format!("Operation cannot be fulfilled on {} {:?}: {}", qualified(resource, group), name, detail))
            .with_details(name, group, resource)
    }
    /// The optimistic-concurrency conflict (`registry.OptimisticLockErrorMsg`).
    pub fn stale(resource: &str, group: &str, name: &str) -> Self {
        Self::conflict(resource, group, name, "the object has been modified; please apply your changes to the latest version and try again")
    }
    /// 422 Invalid: `Kind.group "name" is invalid: [cause, cause]`.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let qk = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
        let rendered: Vec<String> = causes.iter().map(|c| c.render()).collect();
        let msg = match rendered.len() {
            0 => format!("{qk} {name:?} is invalid"),
            1 => format!("{qk} {name:?} is invalid: {}", rendered[0]),
            _ => format!("{qk} {name:?} is invalid: [{}]", rendered.join(", ")),
        };
        let mut e = ApiError::new(422, "Invalid", msg).with_details(name, group, kind);
        e.details.as_mut().unwrap().causes = causes;
        e
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }
    pub fn forbidden(resource: &str, group: &str, name: &str, detail: &str) -> Self {
        let q = qualified(resource, group);
        let msg = if name.is_empty() { format!("{q} is forbidden: {detail}") } else { format!("{q} {name:?} is forbidden: {detail}") };
        ApiError::new(403, "Forbidden", msg).with_details(name, group, resource)
    }
    pub fn method_not_allowed(detail: &str) -> Self {
        ApiError::new(405, "MethodNotAllowed", format!("the server does not allow this method on the requested resource{detail}"))
    }
    pub fn internal(message: impl std::fmt::Display) -> Self {
        let m = message.to_string();
        let mut e = ApiError::new(500, "InternalError", format!("Internal error occurred: {m}"));
        e.details = Some(Box::new(Details { causes: vec![Cause::new("", m, "")], ..Default::default() }));
        e
    }
    pub fn gone(message: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", message)
    }
    pub fn unsupported_media_type(ct: &str) -> Self {
        ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf{}", if ct.is_empty() { String::new() } else { String::new() }))
    }
    pub fn not_acceptable() -> Self {
        ApiError::new(406, "NotAcceptable", "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf")
    }
    pub fn too_large() -> Self {
        ApiError::new(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
    }
    pub fn timeout(message: impl Into<String>) -> Self {
        ApiError::new(504, "Timeout", message)
    }

    /// The `Status` object body.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.reason.is_empty() {
            v.as_object_mut().unwrap().remove("reason");
        }
        if let Some(d) = &self.details {
            let mut dj = serde_json::Map::new();
            if !d.name.is_empty() { dj.insert("name".into(), json!(d.name)); }
            if !d.group.is_empty() { dj.insert("group".into(), json!(d.group)); }
            if !d.kind.is_empty() { dj.insert("kind".into(), json!(d.kind)); }
            if !d.uid.is_empty() { dj.insert("uid".into(), json!(d.uid)); }
            if !d.causes.is_empty() {
                let causes: Vec<Value> = d.causes.iter().map(|c| {
                    let mut m = serde_json::Map::new();
                    if !c.reason.is_empty() { m.insert("reason".into(), json!(c.reason)); }
                    if !c.message.is_empty() { m.insert("message".into(), json!(c.message)); }
                    if !c.field.is_empty() { m.insert("field".into(), json!(c.field)); }
                    Value::Object(m)
                }).collect();
                dj.insert("causes".into(), Value::Array(causes));
            }
            if let Some(r) = self.retry_after { dj.insert("retryAfterSeconds".into(), json!(r)); }
            v["details"] = Value::Object(dj);
        }
        v
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Constructors appended for `validation`: field error types the originals don't cover.
impl Cause {
    /// `field.Required(path, detail)` with a non-empty detail: `Required value: detail`.
    pub fn required_detail(field: &str, detail: &str) -> Self {
        let msg = if detail.is_empty() { "Required value".to_string() } else { format!("Required value: {detail}") };
        Cause::new("FieldValueRequired", msg, field)
    }
    /// `field.Duplicate` → `Duplicate value: "v"`.
    pub fn duplicate(field: &str, value: &Value) -> Self {
        let v = match value {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        Cause::new("FieldValueDuplicate", format!("Duplicate value: {v}"), field)
    }
    /// `field.TooLong(path, _, max)` → `Too long: may not be more than N bytes`.
    pub fn too_long_bytes(field: &str, max: usize) -> Self {
        let unit = if max == 1 { "byte" } else { "bytes" };
        Cause::too_long(field, &format!("may not be more than {max} {unit}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn not_found_matches_apiserver_text() {
        let e = ApiError::not_found("configmaps", "", "x");
        assert_eq!(e.message, "configmaps \"x\" not found");
        let s = e.to_status();
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["kind"], "configmaps");
        let e = ApiError::not_found("deployments", "apps", "web");
        assert_eq!(e.message, "deployments.apps \"web\" not found");
    }
    #[test]
    fn invalid_joins_causes() {
        let e = ApiError::invalid("ConfigMap", "", "Bad_Name", vec![
            Cause::invalid("metadata.name", &json!("Bad_Name"), "a lowercase RFC 1123 subdomain"),
        ]);
        assert_eq!(e.code, 422);
        assert!(e.message.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""), "{}", e.message);
    }
}
