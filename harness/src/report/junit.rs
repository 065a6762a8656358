//! junit.xml at step granularity: one test suite per scenario, one test case per step.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{ReportError, RunReport, redact};
use crate::runner::Outcome;

pub fn render(report: &RunReport) -> Result<String, ReportError> {
    let mut r = Report::new(format!("cleanroom {}", report.run_id));
    r.set_time(Duration::from_millis(report.duration_ms));
    for s in &report.scenarios {
        let mut suite = TestSuite::new(&s.name);
        suite.set_time(Duration::from_millis(s.duration_ms));
        suite.add_property(("provider", s.provider.as_str()));
        if !s.findings.is_empty() {
            // Findings are not pass/fail: they go to the suite's output, one per line.
            let lines: Vec<String> = s.findings.iter().map(|f| format!("finding: {}: {}", f.step, f.text)).collect();
            suite.set_system_out(redact(&lines.join("\n")));
        }
        if s.steps.is_empty() {
            // A skipped scenario is one skipped case with the reason.
            let mut st = TestCaseStatus::skipped();
            st.set_message(redact(s.reason.as_deref().unwrap_or("skipped")));
            let mut c = TestCase::new(&s.name, st);
            c.set_classname(&s.name);
            suite.add_test_case(c);
        }
        for (i, step) in s.steps.iter().enumerate() {
            let status = match step.outcome {
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Failed => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(redact(step.reason.as_deref().unwrap_or("failed")));
                    st
                }
                Outcome::Skipped => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(redact(step.reason.as_deref().unwrap_or("skipped")));
                    st
                }
            };
            let mut c = TestCase::new(format!("{:02} {} {}", i + 1, step.section, step.name), status);
            c.set_classname(format!("{}.{}", s.name, step.section));
            c.set_time(Duration::from_millis(step.duration_ms));
            if let Some(d) = &step.detail {
                c.set_system_out(redact(d));
            }
            suite.add_test_case(c);
        }
        r.add_test_suite(suite);
    }
    r.to_string().map_err(|e| ReportError::Junit(e.to_string()))
}
