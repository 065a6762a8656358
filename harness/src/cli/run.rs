//! `cleanroom run NAME...|--all`.
//!
//! Whatever happens once a provider exists — a scenario fails, a cluster cannot be created, a signal
//! arrives, a bug panics — the report is written first and `provider.finish` runs after it, so a kind
//! cluster is deleted (unless kept) and a failed delete never loses the report.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use futures::FutureExt;

use super::{CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_parse_errors};
use crate::providers::{self, Provider, ProviderOptions, reach_instructions};
use crate::report::{self, RunReport};
use crate::runner::{self, Cancel, Outcome, RunEnv, ScenarioResult};
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
    /// kind node image (default: kindest/node v1.35.0 pinned by digest).
    #[arg(long)]
    node_image: Option<String>,
    /// Reuse this existing kind cluster (never deleted, not even without --keep).
    #[arg(long)]
    cluster: Option<String>,
    /// A local image to load into the kind nodes (`kind load docker-image`) before the scenarios; repeatable.
    #[arg(long = "load-image")]
    load_images: Vec<String>,
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

/// What the scenario loop leaves behind, even when it stops early.
#[derive(Default)]
struct Progressed {
    results: Vec<ScenarioResult>,
    kept: Vec<String>,
}

/// Everything `run_scenarios` needs besides the provider.
struct Plan<'a> {
    selected: &'a [Scenario],
    run_id: &'a str,
    report_dir: &'a Path,
    keep: bool,
    cancel: Cancel,
    progress: &'a dyn runner::Progress,
}

fn failed_result(s: &Scenario, provider: &str, reason: String) -> ScenarioResult {
    let mut r = runner::skipped_result(s, provider, String::new());
    r.outcome = Outcome::Failed;
    r.reason = Some(reason);
    r
}

/// Run the scenarios in order. An `Err` (no cluster) leaves the unrun scenarios recorded in `out`.
async fn run_scenarios(plan: &Plan<'_>, provider: &mut dyn Provider, out: &mut Progressed) -> Result<(), CliError> {
    let workdir = plan.report_dir.join("clusters");
    let pname = provider.name();
    for (i, s) in plan.selected.iter().enumerate() {
        let not_run = |out: &mut Progressed, why: &str| {
            for rest in &plan.selected[i + 1..] {
                out.results.push(runner::skipped_result(rest, pname, format!("not run: {why}")));
            }
        };
        if plan.cancel.is_cancelled() {
            out.results.push(runner::skipped_result(s, provider.name(), "not run: interrupted".into()));
            continue;
        }
        if let Some(why) = runner::unmet_requirements(s, provider.name(), provider.capabilities()) {
            plan.progress.message(&format!("scenario {} skipped: {why}", s.name));
            out.results.push(runner::skipped_result(s, provider.name(), why));
            continue;
        }
        // Re-read with this run's built-in variables (RUN_ID, ...).
        let mut vars = builtins(&s.name, plan.run_id, provider.name());
        if let Some(cluster) = provider.cluster_name() {
            vars.insert("CLUSTER".into(), cluster);
        }
        let source = s.source.clone().unwrap_or_default();
        let text = std::fs::read_to_string(&source).map_err(|e| CliError::Other(format!("{}: {e}", source.display())))?;
        let resolved = scenario::parse_str(&text, &source, Some(&vars)).map_err(|e| CliError::Usage(e.to_string()))?;
        // An interrupt while the cluster is being made drops `ensure`, which ends the provider's child
        // process group; `finish` then removes whatever was started.
        let ensured = tokio::select! {
            r = provider.ensure(&s.name, &workdir) => r,
            _ = plan.cancel.cancelled() => {
                out.results.push(failed_result(s, provider.name(), "no cluster: interrupted while the provider was starting it".into()));
                not_run(out, "interrupted");
                return Ok(());
            }
        };
        let handle = match ensured {
            Ok(h) => h,
            Err(e) => {
                plan.progress.message(&format!("scenario {} failed: no cluster: {e}", s.name));
                out.results.push(failed_result(s, provider.name(), format!("no cluster: {e}")));
                not_run(out, "no cluster");
                return Err(CliError::Provider(e));
            }
        };
        plan.progress.message(&format!("cluster: {}", handle.description));
        let env = RunEnv {
            client: handle.client.clone(),
            provider: provider.name().to_string(),
            capabilities: provider.capabilities(),
            run_id: plan.run_id.to_string(),
            report_dir: plan.report_dir.to_path_buf(),
            cancel: plan.cancel.clone(),
            progress: plan.progress,
            helm: handle.helm.clone(),
            nodes: handle.nodes.clone(),
        };
        let mut result = runner::run_scenario(&resolved, &env).await;
        let failed = result.outcome == Outcome::Failed;
        if let Some(note) = provider.after_scenario(failed, &plan.report_dir.join(&s.name)).await {
            plan.progress.message(&note);
            result.findings.push(note);
        }
        out.results.push(result);
        let keep = plan.keep && !plan.cancel.is_cancelled();
        if keep {
            out.kept.push(reach_instructions(&handle));
        }
        provider.release(keep).await?;
    }
    Ok(())
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "panic".into())
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
    let options = ProviderOptions {
        context: a.context.clone(),
        node_image: a.node_image.clone(),
        cluster: a.cluster.clone(),
        load_images: a.load_images.clone(),
    };
    let mut provider = providers::by_name(&a.provider, options, &run_id)?;
    let progress = runner::progress::for_terminal();
    println!("provider: {}", provider.name());
    let cancel = runner::signals::install(|| {});
    let plan = Plan { selected: &selected, run_id: &run_id, report_dir: &a.report_dir, keep: a.keep, cancel: cancel.clone(), progress: progress.as_ref() };
    run_with_provider(&plan, provider.as_mut()).await
}

/// The run on a provider that exists: scenarios, then the report, then `finish` — on every path.
async fn run_with_provider(plan: &Plan<'_>, provider: &mut dyn Provider) -> Result<i32, CliError> {
    let started_at = chrono::Utc::now().to_rfc3339();
    let started = Instant::now();
    let mut out = Progressed::default();
    let flow = AssertUnwindSafe(run_scenarios(plan, provider, &mut out)).catch_unwind().await;
    let flow = flow.unwrap_or_else(|p| Err(CliError::Other(format!("internal error (a bug in cleanroom): {}", panic_text(&*p)))));
    // A scenario that never got a result (a panic mid-scenario) is recorded as failed, not dropped.
    for s in plan.selected.iter().skip(out.results.len()) {
        out.results.push(failed_result(s, provider.name(), "not finished: the run stopped early".into()));
    }
    let report = RunReport::new(plan.run_id, provider.name(), started_at, started.elapsed().as_millis() as u64, out.results);
    let written = report::write_all(plan.report_dir, &report);
    let keep = plan.keep && !plan.cancel.is_cancelled() && flow.is_ok();
    let finished = provider.finish(keep).await;
    println!(
        "{} passed, {} failed, {} skipped (provider {}); report: {}",
        report.passed,
        report.failed,
        report.skipped,
        provider.name(),
        plan.report_dir.join("report.json").display()
    );
    if let Err(e) = &finished {
        eprintln!("error: cleaning up the {} cluster failed: {e}", provider.name());
    }
    flow?;
    written?;
    finished?;
    for k in &out.kept {
        println!("{k}");
    }
    if provider.kept_in_process() > 0 {
        println!("the embedded cluster lives in this process: serving until Ctrl-C");
        plan.cancel.cancelled().await;
        provider.finish(false).await?;
    }
    Ok(if report.failed > 0 { EXIT_FAILED } else { EXIT_OK })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{Capabilities, ClusterHandle, ProviderError};
    use futures::future::BoxFuture;
    use std::sync::{Arc, Mutex};

    /// A provider whose `ensure` panics, recording whether `finish` ran.
    struct Panicking(Arc<Mutex<Vec<String>>>);

    impl Provider for Panicking {
        fn name(&self) -> &'static str {
            "test"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }
        fn ensure<'a>(&'a mut self, _: &'a str, _: &'a Path) -> BoxFuture<'a, Result<ClusterHandle, ProviderError>> {
            Box::pin(async { panic!("ensure exploded") })
        }
        fn release<'a>(&'a mut self, _: bool) -> BoxFuture<'a, Result<(), ProviderError>> {
            Box::pin(async { Ok(()) })
        }
        fn finish<'a>(&'a mut self, keep: bool) -> BoxFuture<'a, Result<(), ProviderError>> {
            self.0.lock().unwrap().push(format!("finish keep={keep}"));
            Box::pin(async { Err(ProviderError::Command { command: "kind delete cluster".into(), message: "boom".into() }) })
        }
    }

    #[tokio::test]
    async fn a_panic_still_writes_the_report_then_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.yaml");
        std::fs::write(&file, "name: s\ndescription: d\nsteps:\n  - cluster.ensure: {}\n").unwrap();
        let selected = scenario::load_dir(dir.path()).unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let mut provider = Panicking(calls.clone());
        let reports = dir.path().join("reports");
        let plan = Plan { selected: &selected, run_id: "t", report_dir: &reports, keep: true, cancel: Cancel::never(), progress: &runner::progress::Quiet };
        let r = run_with_provider(&plan, &mut provider).await;
        let err = r.unwrap_err().to_string();
        assert!(err.contains("ensure exploded"), "{err}");
        // finish ran, and not in keep mode: a broken run keeps nothing.
        assert_eq!(*calls.lock().unwrap(), vec!["finish keep=false"]);
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(reports.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["scenarios"][0]["outcome"], "failed");
    }
}
