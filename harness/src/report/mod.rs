//! Reports: `report.json`, `junit.xml` (one test case per step), `summary.md`. Secret data and passwords
//! never appear: every free-text field passes through [`redact`], object dumps through [`redact_object`].

mod junit;
mod summary;

use std::path::Path;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::runner::{Outcome, ScenarioResult};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: String,
    pub provider: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub scenarios: Vec<ScenarioResult>,
}

impl RunReport {
    pub fn new(run_id: &str, provider: &str, started_at: String, duration_ms: u64, scenarios: Vec<ScenarioResult>) -> Self {
        let count = |o| scenarios.iter().filter(|s| s.outcome == o).count();
        RunReport {
            run_id: run_id.into(),
            provider: provider.into(),
            started_at,
            duration_ms,
            passed: count(Outcome::Passed),
            failed: count(Outcome::Failed),
            skipped: count(Outcome::Skipped),
            scenarios,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("writing {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("junit: {0}")]
    Junit(String),
}

/// Write report.json, junit.xml and summary.md into `dir`.
pub fn write_all(dir: &Path, report: &RunReport) -> Result<(), ReportError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| ReportError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let json = redact(&serde_json::to_string_pretty(report).expect("report serializes"));
    let p = dir.join("report.json");
    std::fs::write(&p, json + "\n").map_err(io(&p))?;
    let p = dir.join("junit.xml");
    std::fs::write(&p, junit::render(report)?).map_err(io(&p))?;
    let p = dir.join("summary.md");
    std::fs::write(&p, summary::render(report)).map_err(io(&p))?;
    Ok(())
}

pub use summary::render as render_summary;

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
