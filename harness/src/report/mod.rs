//! Reports: `report.json`, `junit.xml` (one test case per step), `summary.md`. Secret data and passwords
//! never appear: every free-text field passes through [`redact`], object dumps through [`redact_object`].

pub mod fidelity;
mod junit;
pub mod provenance;
mod summary;

use std::path::Path;

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
    /// Which cleanroom, clusters, scenario files and tools made this report.
    #[serde(default)]
    pub provenance: provenance::Provenance,
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
            provenance: Default::default(),
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

/// Append summary.md to a CI job summary file (GitHub Actions' `$GITHUB_STEP_SUMMARY`).
pub fn append_step_summary(file: &Path, report: &RunReport) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    writeln!(f, "{}", summary::render(report))
}

pub use cleanroom_core::redact::{redact, redact_object};

/// Point `<report dir>/latest` at the run directory `run_id` (replaced atomically: a reader never sees
/// it missing).
pub fn link_latest(report_dir: &Path, run_id: &str) -> std::io::Result<()> {
    let tmp = report_dir.join(format!(".latest-{run_id}"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(run_id, &tmp)?;
    std::fs::rename(&tmp, report_dir.join("latest"))
}
