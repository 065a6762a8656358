//! Checks of a whole scenario that no single step can make, run before any cluster is touched: every
//! baseline an oracle step names was snapshotted earlier, every manifest file exists, and no drain waits
//! longer than its step may run.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::parse::ParseError;
use super::{Scenario, Step};
use crate::primitives::Action;

/// A step runs at most this long unless it says otherwise (`timeout:`).
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(60);

fn err(file: &Path, step: &Step, message: String, hint: &str) -> ParseError {
    ParseError { file: file.to_path_buf(), line: step.line, column: 5, message, hint: Some(hint.to_string()) }
}

/// A Helm step's inputs, before anything runs: a local chart exists, values files exist and hold a
/// mapping, every `--set` has a `=`.
fn check_helm(file: &Path, step: &Step, base_dir: &Path, i: &crate::primitives::helm::Install) -> Result<(), ParseError> {
    let name = step.action.name();
    let local = i.chart.starts_with('.') || i.chart.starts_with('/');
    if local && !i.chart.contains("${") && !base_dir.join(&i.chart).exists() {
        return Err(err(file, step, format!("`{name}`: chart `{}` does not exist (looked in {})", i.chart, base_dir.display()), "local chart paths are relative to the scenario file's directory"));
    }
    for f in &i.values_files {
        if f.contains("${") {
            continue;
        }
        let path = base_dir.join(f);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| err(file, step, format!("`{name}`: values file `{f}`: {e}"), "paths are relative to the scenario file's directory"))?;
        match serde_saphyr::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(_) | serde_json::Value::Null) => {}
            Ok(_) => return Err(err(file, step, format!("`{name}`: values file `{f}` is not a mapping of values"), "a values file is a YAML mapping (key: value)")),
            Err(e) => return Err(err(file, step, format!("`{name}`: values file `{f}` does not parse: {e}"), "fix the YAML (helm would refuse it too)")),
        }
    }
    for s in &i.set {
        let s = s.trim().strip_prefix("--set").map(str::trim).unwrap_or(s.trim());
        if !s.is_empty() && !s.contains('=') {
            return Err(err(file, step, format!("`{name}`: set `{s}` has no `=`"), "write `key=value` (helm's --set syntax)"));
        }
    }
    Ok(())
}

pub fn check(s: &Scenario, file: &Path) -> Result<(), ParseError> {
    let base_dir = file.parent().unwrap_or(Path::new("."));
    let mut snapshots: BTreeSet<&str> = BTreeSet::new();
    for step in s.steps.iter().chain(&s.finally) {
        let baseline = match &step.action {
            Action::OracleSnapshot(snap) => {
                snapshots.insert(snap.name.as_str());
                None
            }
            Action::OracleAssertClean(a) => Some(a.baseline.as_str()),
            Action::ClusterReset(r) => r.baseline.as_deref(),
            _ => None,
        };
        if let Some(b) = baseline
            && !snapshots.contains(b)
        {
            let known = if snapshots.is_empty() { "no snapshot is taken before it".to_string() } else { format!("snapshots taken before it: {}", snapshots.iter().copied().collect::<Vec<_>>().join(", ")) };
            return Err(err(
                file,
                step,
                format!("`{}` names baseline `{b}`, which no earlier `oracle.snapshot` takes ({known})", step.action.name()),
                &format!("add `- oracle.snapshot: {{ name: {b} }}` before it"),
            ));
        }
        let manifests = match &step.action {
            Action::ManifestsApply(a) => Some(&a.0),
            Action::ManifestsDelete(d) => Some(&d.0),
            _ => None,
        };
        if let Some(src) = manifests {
            for f in src.file.iter().chain(&src.files) {
                if !base_dir.join(f).exists() {
                    return Err(err(
                        file,
                        step,
                        format!("`{}`: file `{f}` does not exist (looked in {})", step.action.name(), base_dir.display()),
                        "paths are relative to the scenario file's directory",
                    ));
                }
            }
        }
        if let Some(install) = match &step.action {
            Action::HelmInstall(i) => Some(i),
            Action::HelmUpgrade(u) => Some(&u.chart),
            Action::HelmTemplate(t) => Some(&t.chart),
            _ => None,
        } {
            check_helm(file, step, base_dir, install)?;
        }
        if let Action::NodeDrain(d) = &step.action
            && let Some(drain) = d.timeout
        {
            let step_timeout = step.timeout.map(|t| t.0).unwrap_or(DEFAULT_STEP_TIMEOUT);
            if drain.0 > step_timeout {
                return Err(err(
                    file,
                    step,
                    format!("`node.drain` waits up to {drain} but its step may only run {}", super::StepTimeout(step_timeout)),
                    "give the step a `timeout:` at least as long as the drain's",
                ));
            }
        }
    }
    Ok(())
}
