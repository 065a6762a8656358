//! `cleanroom bench --providers sim,kwok`: the real control plane beside the embedded cluster, printed,
//! never asserted — kwok cluster create → Ready (target < 15 s on 2 cores), then every scenario's wall
//! time and outcome on each provider side by side (each provider's run is a child `cleanroom run --all`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::{CliError, EXIT_OK};
use crate::providers::kwok::KwokProvider;
use crate::providers::{Provider, ProviderOptions};

/// `(outcome, wall ms)` of each scenario in one provider's run report.
type Walls = BTreeMap<String, (String, u64)>;

pub async fn run(providers: &[String], scenarios: &Path, tools: Option<&Path>) -> Result<i32, CliError> {
    if providers.iter().any(|p| p == "kwok") {
        kwok_startup(tools).await?;
    }
    let tmp = tempfile::tempdir().map_err(other)?;
    let mut runs: Vec<(String, Walls, f64)> = Vec::new();
    for p in providers {
        let started = Instant::now();
        let walls = suite_on(p, scenarios, tools, &tmp.path().join(p))?;
        runs.push((p.clone(), walls, started.elapsed().as_secs_f64()));
    }
    print!("{}", table(&runs));
    Ok(EXIT_OK)
}

/// One cluster made and removed in-process: create → every node Ready, then teardown.
async fn kwok_startup(tools: Option<&Path>) -> Result<(), CliError> {
    let options = ProviderOptions { tools: tools.map(Path::to_path_buf), ..Default::default() };
    let mut kwok = KwokProvider::new("bench", options)?;
    let workdir = tempfile::tempdir().map_err(other)?;
    let started = Instant::now();
    let made = kwok.ensure("bench", workdir.path()).await.map(|_| ());
    let ready = started.elapsed();
    let t = Instant::now();
    let finished = kwok.finish(false).await;
    made?;
    finished?;
    println!("kwok cluster create -> Ready: {:.1} s (target < 15 s on 2 cores); teardown {:.1} s", ready.as_secs_f64(), t.elapsed().as_secs_f64());
    Ok(())
}

fn suite_on(provider: &str, scenarios: &Path, tools: Option<&Path>, reports: &Path) -> Result<Walls, CliError> {
    let exe = std::env::current_exe().map_err(other)?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["run", "--all", "--provider", provider, "--scenarios"]).arg(scenarios).arg("--report-dir").arg(reports).env("CI", "1");
    if let (Some(dir), "kwok") = (tools, provider) {
        cmd.arg("--tools").arg(dir);
    }
    let out = cmd.output().map_err(other)?;
    let report = reports.join("latest/report.json");
    let text = std::fs::read_to_string(&report)
        .map_err(|e| CliError::Other(format!("{provider}: no report ({e}); the run said: {}", String::from_utf8_lossy(&out.stderr).trim())))?;
    walls(&text).map_err(|e| CliError::Other(format!("{}: {e}", report.display())))
}

fn walls(report_json: &str) -> Result<Walls, String> {
    let v: serde_json::Value = serde_json::from_str(report_json).map_err(|e| e.to_string())?;
    let scenarios = v["scenarios"].as_array().ok_or("no `scenarios` list")?;
    Ok(scenarios
        .iter()
        .map(|s| {
            let name = s["name"].as_str().unwrap_or("?").to_string();
            (name, (s["outcome"].as_str().unwrap_or("?").to_string(), s["duration_ms"].as_u64().unwrap_or(0)))
        })
        .collect())
}

/// One row per scenario, one column per provider: `passed 1.2 s`.
fn table(runs: &[(String, Walls, f64)]) -> String {
    let names: std::collections::BTreeSet<&String> = runs.iter().flat_map(|(_, w, _)| w.keys()).collect();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(8).max(8);
    let mut out = format!("{:width$}", "scenario");
    for (p, _, _) in runs {
        out += &format!("  {p:>16}");
    }
    out += "\n";
    for n in names {
        out += &format!("{n:width$}");
        for (_, w, _) in runs {
            let cell = w.get(n).map(|(o, ms)| format!("{o} {:.1} s", *ms as f64 / 1000.0)).unwrap_or_else(|| "-".into());
            out += &format!("  {cell:>16}");
        }
        out += "\n";
    }
    out += &format!("{:width$}", "whole run (wall)");
    for (_, _, secs) in runs {
        out += &format!("  {:>16}", format!("{secs:.1} s"));
    }
    out + "\n"
}

fn other(e: impl std::fmt::Display) -> CliError {
    CliError::Other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_row_per_scenario_and_a_column_per_provider() {
        let sim = walls(r#"{"scenarios":[{"name":"smoke","outcome":"passed","duration_ms":1200},{"name":"flagship","outcome":"passed","duration_ms":800}]}"#).unwrap();
        let kwok = walls(r#"{"scenarios":[{"name":"smoke","outcome":"failed","duration_ms":5300}]}"#).unwrap();
        let t = table(&[("sim".into(), sim, 3.0), ("kwok".into(), kwok, 9.5)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].contains("sim") && lines[0].contains("kwok"), "{t}");
        assert!(lines[1].starts_with("flagship") && lines[1].contains("passed 0.8 s") && lines[1].trim_end().ends_with('-'), "{t}");
        assert!(lines[2].starts_with("smoke") && lines[2].contains("passed 1.2 s") && lines[2].contains("failed 5.3 s"), "{t}");
        assert!(lines[3].contains("3.0 s") && lines[3].contains("9.5 s"), "{t}");
        assert!(walls("{}").is_err());
    }
}
