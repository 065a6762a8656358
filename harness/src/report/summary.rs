//! summary.md: a CI job summary.

use std::fmt::Write;

use super::{RunReport, redact};
use crate::runner::Outcome;

fn icon(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "✅ passed",
        Outcome::Failed => "❌ failed",
        Outcome::Skipped => "⏭️ skipped",
    }
}

fn cell(s: &str) -> String {
    redact(s).replace('|', "\\|").replace('\n', "<br>")
}

pub fn render(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# cleanroom run `{}`\n", r.run_id);
    let _ = writeln!(
        s,
        "Provider **{}** · {} passed · {} failed · {} skipped · {:.1}s\n",
        r.provider,
        r.passed,
        r.failed,
        r.skipped,
        r.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(s, "| scenario | outcome | duration | reason |\n|---|---|---|---|");
    for sc in &r.scenarios {
        let _ = writeln!(s, "| {} | {} | {} ms | {} |", sc.name, icon(sc.outcome), sc.duration_ms, cell(sc.reason.as_deref().unwrap_or("")));
    }
    for sc in &r.scenarios {
        let _ = writeln!(s, "\n## {} — {}\n", sc.name, icon(sc.outcome));
        let _ = writeln!(s, "| # | step | outcome | ms | detail |\n|---|---|---|---|---|");
        for (i, st) in sc.steps.iter().enumerate() {
            let text = st.reason.as_deref().or(st.detail.as_deref()).unwrap_or("");
            let _ = writeln!(s, "| {} | {} `{}` | {} | {} | {} |", i + 1, st.section, cell(&st.name), icon(st.outcome), st.duration_ms, cell(text));
        }
        if !sc.leftovers.is_empty() {
            let _ = writeln!(s, "\n**Leftovers** (last `oracle.assert-clean`):\n");
            for l in &sc.leftovers {
                let _ = writeln!(s, "- {}", cell(&l.line()));
            }
        }
        if !sc.findings.is_empty() {
            let _ = writeln!(s, "\n**Findings:**\n");
            for f in &sc.findings {
                let _ = writeln!(s, "- `{}`: {}", cell(&f.step), cell(&f.text));
            }
        }
        if let Some(d) = &sc.diagnostics_dir {
            let _ = writeln!(s, "\nDiagnostics: `{}`", d.display());
        }
    }
    s
}
