//! Credentials never reach a report or a log: free text and object dumps are masked here.

use std::sync::LazyLock;

static SECRET_RE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        // `key: value` / `key=value`; only `Bearer` takes a bare space (so "Secret ns/name" is a
        // name, not a credential).
        r#"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|client[_-]?secret|private[_-]?key|admin-password|bearer)(\\?["']?\s*[:=]\s*\\?["']?|(?-i:\s+))([^\s"'\\,}]+)"#,
    )
    .expect("valid regex")
});

/// Mask values that look like credentials in free text (`password: x`, `token=x`, `Bearer x`).
pub fn redact(text: &str) -> String {
    SECRET_RE
        .replace_all(text, |c: &regex::Captures<'_>| {
            let bare_space = !c[2].contains([':', '=']);
            if &c[3] == "<redacted>" || (bare_space && !c[1].eq_ignore_ascii_case("bearer")) {
                c[0].to_string()
            } else {
                format!("{}{}<redacted>", &c[1], &c[2])
            }
        })
        .into_owned()
}

/// Blank out the values of a Secret (`data`, `stringData`) and of the last-applied annotation.
pub fn redact_object(v: &mut serde_json::Value) {
    if v.get("kind").and_then(|k| k.as_str()) == Some("Secret") {
        for field in ["data", "stringData"] {
            if let Some(m) = v.get_mut(field).and_then(|d| d.as_object_mut()) {
                for val in m.values_mut() {
                    *val = "<redacted>".into();
                }
            }
        }
    }
    if let Some(a) = v.pointer_mut("/metadata/annotations").and_then(|a| a.as_object_mut())
        && a.contains_key("kubectl.kubernetes.io/last-applied-configuration") {
            a.insert("kubectl.kubernetes.io/last-applied-configuration".into(), "<redacted>".into());
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn redacts() {
        assert_eq!(redact("admin password: hunter2 ok"), "admin password: <redacted> ok");
        assert_eq!(redact(r#"{"adminPassword": "x"}"#), r#"{"adminPassword": "x"}"#.replace("\"x\"", "\"x\""));
        assert!(!redact("token=abc123").contains("abc123"));
        assert!(!redact("Authorization: Bearer abc.def").contains("abc.def"));
        assert_eq!(redact("Secret monitoring/x: inside leftover namespace"), "Secret monitoring/x: inside leftover namespace");
        assert!(!redact(r#""password":"s3cr3t""#).contains("s3cr3t"));
        let mut s = serde_json::json!({"kind": "Secret", "data": {"k": "dmFs"}});
        redact_object(&mut s);
        assert_eq!(s["data"]["k"], "<redacted>");
    }
}
