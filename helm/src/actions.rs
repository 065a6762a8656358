//! Helm actions beyond install/upgrade/uninstall: `helm test`, `rollback`, `template`, `repo add` and
//! `get values`. Only the binary can run them (a recorded render has no test runner, no chart to
//! template and no repositories); [`HelmEngine`](super::HelmEngine)'s defaults say so.

use std::time::Duration;

use serde_json::Value;

use super::cli::{Action, HelmCli, unreachable_chart};
use super::error::{Failure, HelmError};
use super::{InstallRequest, ReleaseInfo};

/// What `helm test` printed: the suite's tests with their phases.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TestReport {
    /// (test name, phase) in helm's order, e.g. (`demo-test-db`, `Succeeded`).
    pub tests: Vec<(String, String)>,
    pub output: String,
}

/// `TEST SUITE:     demo-test-db` / `Phase:          Succeeded` pairs of `helm test`'s report.
pub fn parse_test_output(out: &str) -> Vec<(String, String)> {
    let mut tests = vec![];
    let mut current: Option<String> = None;
    for line in out.lines() {
        let l = line.trim();
        if let Some(name) = l.strip_prefix("TEST SUITE:") {
            let name = name.trim();
            current = (name != "None").then(|| name.to_string());
        } else if let Some(phase) = l.strip_prefix("Phase:")
            && let Some(name) = current.take()
        {
            tests.push((name, phase.trim().to_string()));
        }
    }
    tests
}

impl HelmCli {
    pub async fn test(&self, release: &str, namespace: &str, timeout: Duration) -> Result<TestReport, HelmError> {
        let what = format!("helm test {release}");
        self.version().await?;
        let mut a = vec!["test".into(), release.into(), "--namespace".into(), namespace.into(), "--timeout".into(), format!("{}s", timeout.as_secs())];
        self.common(&mut a);
        let out = self.run(Action::Query, &what, a).await?;
        Ok(TestReport { tests: parse_test_output(&out), output: out })
    }

    pub async fn rollback(&self, release: &str, namespace: &str, revision: Option<u32>, wait: bool, timeout: Duration) -> Result<ReleaseInfo, HelmError> {
        let what = format!("helm rollback {release}");
        let v = self.version().await?;
        let mut a = vec!["rollback".into(), release.into()];
        if let Some(r) = revision {
            a.push(r.to_string());
        }
        a.extend(["--namespace".into(), namespace.into(), "--timeout".into(), format!("{}s", timeout.as_secs())]);
        if wait {
            a.push(Self::wait_flag(v).into());
        }
        self.common(&mut a);
        self.run(Action::Query, &what, a).await?;
        let mut st = vec!["status".into(), release.into(), "--namespace".into(), namespace.into(), "--output".into(), "json".into()];
        self.common(&mut st);
        let out = self.run(Action::Query, &what, st).await?;
        super::cli::release_info(&out, &what)
    }

    /// `helm template --include-crds`: the render, as `cleanroom record` stores it.
    pub async fn template(&self, req: &InstallRequest) -> Result<String, HelmError> {
        let what = format!("helm template {}", req.chart);
        let v = self.version().await?;
        let inline = Self::with_inline_values(req)?;
        let mut a = self.install_args(v, req, inline.as_ref().map(|f| f.path()))?;
        a[0] = "template".into();
        // `template` takes neither --wait, --create-namespace, --server-side nor --output, and needs
        // the CRDs in its output.
        let mut out_args = vec![];
        let mut skip_next = false;
        for x in a {
            if skip_next {
                skip_next = false;
                continue;
            }
            if x == "--output" || x == "--timeout" {
                skip_next = true;
                continue;
            }
            if x.starts_with("--wait") || x == "--create-namespace" || x.starts_with("--server-side") || x == "--take-ownership" {
                continue;
            }
            out_args.push(x);
        }
        out_args.push("--include-crds".into());
        self.run(Action::Install, &what, out_args).await.map_err(|e| match unreachable_chart(e, &req.chart) {
            HelmError::Install(f) => HelmError::Query(f),
            other => other,
        })
    }

    /// `helm show chart`: the chart's Chart.yaml (name, version, appVersion), local or from a repository.
    pub async fn show_chart(&self, chart: &str, version: Option<&str>) -> Result<Value, HelmError> {
        let what = format!("helm show chart {chart}");
        self.version().await?;
        let mut a = vec!["show".into(), "chart".into(), chart.into()];
        if let Some(v) = version {
            a.extend(["--version".into(), v.into()]);
        }
        let out = self.run(Action::Install, &what, a).await.map_err(|e| match unreachable_chart(e, chart) {
            HelmError::Install(f) => HelmError::Query(f),
            other => other,
        })?;
        serde_saphyr::from_str(&out).map_err(|e| HelmError::Cli { command: what, message: format!("unexpected output: {e}") })
    }

    pub async fn repo_add(&self, name: &str, url: &str) -> Result<String, HelmError> {
        self.version().await?;
        let a = vec!["repo".into(), "add".into(), name.into(), url.into(), "--force-update".into()];
        self.run(Action::Query, &format!("helm repo add {name}"), a).await.map(|o| o.trim().to_string())
    }

    /// `helm get values --all -o json`: the computed values (defaults merged with the user's).
    pub async fn values(&self, release: &str, namespace: &str) -> Result<Value, HelmError> {
        let what = format!("helm get values {release}");
        self.version().await?;
        let mut a = vec!["get".into(), "values".into(), release.into(), "--all".into(), "--namespace".into(), namespace.into(), "--output".into(), "json".into()];
        self.common(&mut a);
        let out = self.run(Action::Query, &what, a).await?;
        serde_json::from_str(&out).map_err(|e| HelmError::Cli { command: what, message: format!("unexpected output: {e}") })
    }
}

/// Why an action needs the binary.
pub fn needs_binary(action: &str) -> HelmError {
    HelmError::Query(Failure::Other(format!(
        "{action} needs the `helm` binary (a recorded render cannot run it): pass --helm-binary PATH or put helm on PATH"
    )))
}

/// The binary behind an engine, or an error naming the action.
pub fn binary_for<'a>(engine: &'a dyn super::HelmEngine, action: &str) -> Result<&'a HelmCli, HelmError> {
    engine.binary().ok_or_else(|| needs_binary(action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_test_suite() {
        // helm v3.22's output, verbatim.
        let out = "NAME: st2\nLAST DEPLOYED: Mon Nov 30 06:48:42 2026\nNAMESPACE: st2\nSTATUS: deployed\nREVISION: 1\nTEST SUITE:     demo-test-db\nLast Started:   Mon Nov 30 06:48:45 2026\nLast Completed: Mon Nov 30 06:48:45 2026\nPhase:          Succeeded\n";
        assert_eq!(parse_test_output(out), [("demo-test-db".to_string(), "Succeeded".to_string())]);
        assert!(parse_test_output("TEST SUITE: None\n").is_empty());
    }
}
