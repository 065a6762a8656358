//! junit.xml at step granularity: one test suite per scenario, one test case per step, and one test case
//! per leftover under the oracle step that named it. A failure carries its message *and* the step's output
//! and the diagnostics path, so a CI's test view shows why without opening artifacts.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{ReportError, RunReport, redact};
use crate::runner::{Outcome, ScenarioResult, StepResult};

fn timestamp(rfc3339: Option<&str>) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    rfc3339.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
}

/// The first line as the failure message; the whole text, the step's detail and where its diagnostics
/// are as the failure body.
fn failure(step: &StepResult, scenario: &ScenarioResult) -> TestCaseStatus {
    let reason = redact(step.reason.as_deref().unwrap_or("failed"));
    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
    st.set_message(reason.lines().next().unwrap_or("failed").to_string());
    st.set_type(step.primitive.as_str());
    let mut body = reason.clone();
    if let Some(d) = &step.detail {
        body.push_str(&format!("\n\noutput:\n{}", redact(d)));
    }
    if let Some(dir) = &scenario.diagnostics_dir {
        body.push_str(&format!("\n\ndiagnostics: {}", dir.display()));
    }
    st.set_description(body);
    st
}

fn step_case(i: usize, step: &StepResult, s: &ScenarioResult) -> TestCase {
    let status = match step.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed => failure(step, s),
        Outcome::Skipped => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(redact(step.reason.as_deref().unwrap_or("skipped")));
            st
        }
    };
    let mut c = TestCase::new(format!("{:02} {} {}", i + 1, step.section, step.name), status);
    c.set_classname(format!("{}.{}", s.name, step.section));
    c.set_time(Duration::from_millis(step.duration_ms));
    if let Some(t) = timestamp(step.started_at.as_deref()) {
        c.set_timestamp(t);
    }
    let mut out = step.detail.as_deref().map(redact).unwrap_or_default();
    if step.outcome == Outcome::Failed
        && let Some(r) = &step.reason
    {
        out = if out.is_empty() { redact(r) } else { format!("{}\n{out}", redact(r)) };
    }
    if !out.is_empty() {
        c.set_system_out(out);
    }
    c
}

/// One case per leftover of the last `oracle.assert-clean`: a failure when that step failed, else passed
/// (an expected leftover, `expect: fails`), with the reason either way.
fn leftover_cases(s: &ScenarioResult) -> Vec<TestCase> {
    let Some((i, oracle_step)) = s.steps.iter().enumerate().rev().find(|(_, st)| st.primitive == "oracle.assert-clean" && st.started_at.is_some())
    else {
        return Vec::new();
    };
    s.leftovers
        .iter()
        .map(|l| {
            let line = redact(&l.line());
            let status = if oracle_step.outcome == Outcome::Failed {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(line.clone());
                st.set_type("leftover");
                st
            } else {
                TestCaseStatus::success()
            };
            let what = match &l.namespace {
                Some(ns) => format!("{} {ns}/{}", l.kind, l.name),
                None => format!("{} {}", l.kind, l.name),
            };
            let mut c = TestCase::new(format!("{:02} leftover {what}", i + 1), status);
            c.set_classname(format!("{}.leftovers", s.name));
            c.set_system_out(line);
            c
        })
        .collect()
}

pub fn render(report: &RunReport) -> Result<String, ReportError> {
    let mut r = Report::new(format!("cleanroom {}", report.run_id));
    r.set_time(Duration::from_millis(report.duration_ms));
    if let Some(t) = timestamp(Some(&report.started_at)) {
        r.set_timestamp(t);
    }
    for s in &report.scenarios {
        let mut suite = TestSuite::new(&s.name);
        suite.set_time(Duration::from_millis(s.duration_ms));
        if let Some(t) = timestamp(s.started_at.as_deref()) {
            suite.set_timestamp(t);
        }
        suite.add_property(("provider", s.provider.as_str()));
        if !s.findings.is_empty() {
            // Findings are not pass/fail: they go to the suite's output, one per line.
            let lines: Vec<String> = s.findings.iter().map(|f| format!("finding: {}: {}", f.step, f.text)).collect();
            suite.set_system_out(redact(&lines.join("\n")));
        }
        if s.steps.is_empty() {
            // A skipped (or never started) scenario is one case with the reason.
            let mut st = match s.outcome {
                Outcome::Failed => TestCaseStatus::non_success(NonSuccessKind::Failure),
                _ => TestCaseStatus::skipped(),
            };
            st.set_message(redact(s.reason.as_deref().unwrap_or("skipped")));
            let mut c = TestCase::new(&s.name, st);
            c.set_classname(&s.name);
            suite.add_test_case(c);
        }
        for (i, step) in s.steps.iter().enumerate() {
            suite.add_test_case(step_case(i, step, s));
        }
        suite.add_test_cases(leftover_cases(s));
        r.add_test_suite(suite);
    }
    r.to_string().map_err(|e| ReportError::Junit(e.to_string()))
}
