//! The chart arguments `cleanroom chart` and `cleanroom record` share, checked one way:
//! `CHART [--version V] [-f FILE]... [--set KEY=VALUE]...`.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

use super::CliError;

#[derive(Debug, Args)]
pub struct ChartSource {
    /// A chart directory or .tgz, `REPO/NAME`, or `oci://REGISTRY/NAME`.
    pub chart: String,
    #[arg(long)]
    pub version: Option<String>,
    /// A values file (repeatable).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// `--set KEY=VALUE` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl ChartSource {
    /// Before helm or a cluster is touched: every `--set` has a `=`, every values file is a mapping.
    pub fn check(&self) -> Result<(), CliError> {
        if let Some(s) = self.set.iter().find(|s| !s.contains('=')) {
            return Err(CliError::Usage(format!("--set {s}: expected KEY=VALUE (no `=` in it)")));
        }
        self.values.iter().try_for_each(|f| check_values_file(f))?;
        let path = Path::new(&self.chart);
        if self.is_local() && !path.exists() {
            return Err(CliError::Usage(format!("chart {}: no such chart directory or archive", self.chart)));
        }
        if self.is_local() && path.is_dir() && !path.join("Chart.yaml").is_file() {
            return Err(CliError::Usage(format!("chart {}: not a chart (no Chart.yaml)", self.chart)));
        }
        Ok(())
    }

    /// A path on this machine rather than `REPO/NAME` or `oci://…`.
    pub fn is_local(&self) -> bool {
        is_local(&self.chart)
    }

    /// What helm is given: a local chart as an absolute path (helm runs elsewhere), else as written.
    pub fn reference(&self) -> String {
        if self.is_local() { std::path::absolute(&self.chart).unwrap_or_else(|_| self.chart.clone().into()).display().to_string() } else { self.chart.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_or_remote() {
        assert!(is_local("./chart") && is_local("/abs") && is_local("web-1.0.0.tgz") && is_local("chart"));
        assert!(!is_local("repo/name") && !is_local("oci://r/n"));
    }

    #[test]
    fn one_check_for_both_commands() {
        let src = |chart: &str, values: Vec<PathBuf>, set: Vec<&str>| ChartSource { chart: chart.into(), version: None, values, set: set.into_iter().map(String::from).collect() };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Chart.yaml"), "name: c\nversion: 0.1.0\n").unwrap();
        std::fs::write(dir.path().join("list.yaml"), "- a\n").unwrap();
        let chart = dir.path().display().to_string();
        assert!(src(&chart, vec![], vec!["a=1"]).check().is_ok());
        let msg = |s: ChartSource| s.check().unwrap_err().to_string();
        assert!(msg(src(&chart, vec![], vec!["a"])).contains("--set a: expected KEY=VALUE"));
        assert!(msg(src(&chart, vec![dir.path().join("none.yaml")], vec![])).contains("none.yaml"));
        assert!(msg(src(&chart, vec![dir.path().join("list.yaml")], vec![])).contains("not a mapping of values (found a list)"));
        assert!(msg(src("./no-such-chart", vec![], vec![])).contains("no such chart directory or archive"));
        let empty = tempfile::tempdir().unwrap();
        assert!(msg(src(&empty.path().display().to_string(), vec![], vec![])).contains("not a chart (no Chart.yaml)"));
        assert!(src("repo/name", vec![], vec![]).check().is_ok(), "remote charts are helm's to resolve");
    }
}

/// `./chart`, `/abs`, `chart.tgz`, a bare name or an existing path are local; `repo/name` and `oci://…` are not.
pub fn is_local(chart: &str) -> bool {
    chart.starts_with('.') || chart.starts_with('/') || chart.ends_with(".tgz") || Path::new(chart).exists() || !chart.contains('/')
}

/// A values file must exist and hold a YAML mapping (or be empty).
pub fn check_values_file(f: &Path) -> Result<(), CliError> {
    let usage = |m: String| CliError::Usage(m);
    let text = std::fs::read_to_string(f).map_err(|e| usage(format!("values file {}: {e}", f.display())))?;
    match serde_saphyr::from_str::<Value>(&text) {
        Ok(Value::Object(_) | Value::Null) => Ok(()),
        Ok(other) => Err(usage(format!("values file {}: not a mapping of values (found {})", f.display(), kind_of(&other)))),
        Err(e) => Err(usage(format!("values file {} does not parse: {e}", f.display()))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        _ => "something else",
    }
}
