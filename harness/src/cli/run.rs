//! `cleanroom run NAME...|--all`.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::{CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_parse_errors};
use crate::providers::{self, reach_instructions};
use crate::report::{self, RunReport};
use crate::runner::{self, Outcome, RunEnv, ScenarioResult};
use crate::scenario::{self, Scenario, parse::builtins};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario names.
    names: Vec<String>,
    /// Run every scenario.
    #[arg(long, conflicts_with = "names")]
    all: bool,
    #[arg(long, default_value = "sim", value_parser = ["sim", "kind", "existing"])]
    provider: String,
    /// kubeconfig context (provider `existing`).
    #[arg(long)]
    context: Option<String>,
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Keep the cluster after the run and print how to reach it.
    #[arg(long)]
    keep: bool,
    #[arg(long, default_value = "scenarios")]
    scenarios: PathBuf,
}

pub fn new_run_id() -> String {
    let now = chrono::Utc::now();
    format!("{}-{:04x}", now.format("%Y%m%d-%H%M%S"), now.timestamp_subsec_nanos() % 0xffff)
}

/// Pick the scenarios to run; unknown names are a usage error with close names.
pub fn select(all: Vec<Scenario>, names: &[String], every: bool) -> Result<Vec<Scenario>, CliError> {
    if every {
        return Ok(all);
    }
    if names.is_empty() {
        return Err(CliError::Usage("name at least one scenario, or pass --all (see `cleanroom list`)".into()));
    }
    let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    for n in names {
        if !known.contains(&n.as_str()) {
            return Err(CliError::Usage(format!(
                "no scenario named `{n}`; {}",
                crate::core::hints::close_hint(n, &known, "scenarios")
            )));
        }
    }
    Ok(names.iter().filter_map(|n| all.iter().find(|s| &s.name == n).cloned()).collect())
}

pub async fn run(a: RunArgs) -> Result<i32, CliError> {
    let all = match scenario::load_dir(&a.scenarios) {
        Ok(all) => all,
        Err(errs) => {
            print_parse_errors(&errs);
            return Ok(EXIT_USAGE);
        }
    };
    let selected = select(all, &a.names, a.all)?;
    let run_id = new_run_id();
    let mut provider = providers::by_name(&a.provider, a.context.clone(), &run_id)?;
    let progress = runner::progress::for_terminal();
    println!("provider: {}", provider.name());
    let report_dir = a.report_dir.clone();
    let workdir = report_dir.join("clusters");
    let cancel = runner::signals::install(|| {});
    let started_at = chrono::Utc::now().to_rfc3339();
    let started = Instant::now();
    let mut results: Vec<ScenarioResult> = Vec::new();
    let mut kept = Vec::new();
    for s in &selected {
        if cancel.is_cancelled() {
            results.push(runner::skipped_result(s, provider.name(), "not run: interrupted".into()));
            continue;
        }
        if let Some(why) = runner::unmet_requirements(s, provider.name(), provider.capabilities()) {
            progress.message(&format!("scenario {} skipped: {why}", s.name));
            results.push(runner::skipped_result(s, provider.name(), why));
            continue;
        }
        // Re-read with this run's built-in variables (RUN_ID, ...).
        let vars = builtins(&s.name, &run_id, provider.name());
        let source = s.source.clone().unwrap_or_default();
        let text = std::fs::read_to_string(&source).map_err(|e| CliError::Other(format!("{}: {e}", source.display())))?;
        let resolved = scenario::parse_str(&text, &source, Some(&vars)).map_err(|e| CliError::Usage(e.to_string()))?;
        let handle = match provider.ensure(&s.name, &workdir).await {
            Ok(h) => h,
            Err(e) => {
                let mut r = runner::skipped_result(s, provider.name(), String::new());
                r.outcome = Outcome::Failed;
                r.reason = Some(format!("no cluster: {e}"));
                progress.message(&format!("scenario {} failed: no cluster: {e}", s.name));
                results.push(r);
                continue;
            }
        };
        progress.message(&format!("cluster: {}", handle.description));
        let env = RunEnv {
            client: handle.client.clone(),
            provider: provider.name().to_string(),
            capabilities: provider.capabilities(),
            run_id: run_id.clone(),
            report_dir: report_dir.clone(),
            cancel: cancel.clone(),
            progress: progress.as_ref(),
            helm: handle.helm.clone(),
            nodes: handle.nodes.clone(),
            kubeconfig: Some(handle.kubeconfig.clone()),
            context: handle.context.clone(),
        };
        results.push(runner::run_scenario(&resolved, &env).await);
        let keep = a.keep && !cancel.is_cancelled();
        if keep {
            kept.push(reach_instructions(&handle));
        }
        provider.release(keep).await?;
    }
    provider.finish(a.keep && !cancel.is_cancelled()).await?;
    let report = RunReport::new(&run_id, provider.name(), started_at, started.elapsed().as_millis() as u64, results);
    report::write_all(&report_dir, &report)?;
    println!(
        "{} passed, {} failed, {} skipped (provider {}); report: {}",
        report.passed,
        report.failed,
        report.skipped,
        provider.name(),
        report_dir.join("report.json").display()
    );
    for k in &kept {
        println!("{k}");
    }
    if provider.kept_in_process() > 0 {
        println!("the embedded cluster lives in this process: serving until Ctrl-C");
        cancel.cancelled().await;
        provider.finish(false).await?;
    }
    Ok(if report.failed > 0 { EXIT_FAILED } else { EXIT_OK })
}
