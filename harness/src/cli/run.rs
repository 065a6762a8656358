//! `cleanroom run NAME...|--all [--tag T] [--shard I/N] [--parallel N] [--list]`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use std::sync::Mutex;

use super::{CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_parse_errors};
use crate::providers::{self, Provider, reach_instructions};
use crate::report::{self, RunReport};
use crate::runner::{self, Outcome, RunEnv, ScenarioResult, progress::Progress, signals::Cancel};
use crate::scenario::select::{Shard, durations_from_report, filter_tags, shard_names};
use crate::scenario::{self, Scenario, parse::builtins};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario names (none: every scenario, when --all, --tag or --shard is given).
    names: Vec<String>,
    /// Run every scenario.
    #[arg(long, conflicts_with = "names")]
    all: bool,
    /// Only scenarios with this tag (repeatable: any of them).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Leave out scenarios with this tag (repeatable).
    #[arg(long = "skip-tag", value_name = "TAG")]
    skip_tags: Vec<String>,
    /// Run shard I of N (1-based) of the selection, for a CI matrix; the shards partition it.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Balance shards by the scenario durations of an earlier report.json.
    #[arg(long, value_name = "REPORT", requires = "shard")]
    durations: Option<PathBuf>,
    /// Print the names the selection would run, one per line, and run nothing.
    #[arg(long)]
    list: bool,
    /// Scenarios run at once, each on its own embedded cluster (provider sim only).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: u16,
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
    /// Allow destructive steps (purge, sabotage, reset, node operations, uninstalling releases the run did not
    /// install) on a cluster cleanroom did not create (provider `existing`). Or list the context in
    /// CLEANROOM_ALLOW_CONTEXTS.
    #[arg(long)]
    allow_destructive: bool,
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
        return Err(CliError::Usage("name at least one scenario, or pass --all, --tag or --shard (see `cleanroom list`)".into()));
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

/// Names (or everything), then tags, then the shard.
fn choose(mut all: Vec<Scenario>, a: &RunArgs) -> Result<Vec<Scenario>, CliError> {
    // A name that is a path to a scenario file runs that file.
    let mut names = Vec::new();
    for n in &a.names {
        let p = std::path::Path::new(n);
        if p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            let s = scenario::load_file(p).map_err(|e| CliError::Usage(e.to_string()))?;
            names.push(s.name.clone());
            all.retain(|x| x.name != s.name);
            all.push(s);
        } else {
            names.push(n.clone());
        }
    }
    let every = a.all || (names.is_empty() && (!a.tags.is_empty() || a.shard.is_some()));
    let picked = filter_tags(select(all, &names, every)?, &a.tags, &a.skip_tags);
    let Some(shard) = a.shard else { return Ok(picked) };
    let durations = match &a.durations {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| CliError::Usage(format!("--durations {}: {e}", p.display())))?;
            Some(durations_from_report(&text).map_err(|e| CliError::Usage(format!("--durations {}: {e}", p.display())))?)
        }
        None => None,
    };
    let names: Vec<String> = picked.iter().map(|s| s.name.clone()).collect();
    let mine = shard_names(&names, shard, durations.as_ref());
    Ok(picked.into_iter().filter(|s| mine.contains(&s.name)).collect())
}

pub async fn run(a: RunArgs) -> Result<i32, CliError> {
    let only_files = !a.names.is_empty() && a.names.iter().all(|n| std::path::Path::new(n).is_file());
    let all = match scenario::load_dir(&a.scenarios) {
        Ok(all) => all,
        Err(_) if only_files && !a.scenarios.is_dir() => Vec::new(),
        Err(errs) => {
            print_parse_errors(&errs);
            return Ok(EXIT_USAGE);
        }
    };
    let selected = choose(all, &a)?;
    if a.list {
        for s in &selected {
            println!("{}", s.name);
        }
        return Ok(EXIT_OK);
    }
    if a.parallel > 1 && a.provider != "sim" {
        return Err(CliError::Usage(format!(
            "--parallel runs each scenario on its own embedded cluster: it needs --provider sim (got {}); spread {} runs over CI jobs with --shard I/N",
            a.provider, a.provider
        )));
    }
    let run_id = new_run_id();
    let workers = usize::from(a.parallel).min(selected.len()).max(1);
    let mut pool: Vec<Box<dyn Provider>> =
        (0..workers).map(|_| providers::by_name(&a.provider, a.context.clone(), &run_id)).collect::<Result<_, _>>()?;
    let provider_name = pool[0].name();
    let progress = runner::progress::for_terminal();
    println!("provider: {provider_name}{}", if workers > 1 { format!(" ({workers} scenarios at once)") } else { String::new() });
    let cancel = runner::signals::install(|| {});
    let started_at = chrono::Utc::now().to_rfc3339();
    let started = Instant::now();
    let shared = Shared { args: &a, run_id: &run_id, cancel: &cancel, progress: progress.as_ref(), workdir: a.report_dir.join("clusters") };

    // Workers take the next scenario from one queue; results go back into selection order, so the
    // report of a parallel run reads like a serial one.
    let queue = Mutex::new(selected.iter().enumerate().collect::<VecDeque<_>>());
    let done: Mutex<Vec<(usize, ScenarioResult, Option<String>)>> = Mutex::new(Vec::new());
    let worker_results = futures::future::join_all(pool.iter_mut().map(|provider| {
        let (queue, done, shared) = (&queue, &done, &shared);
        async move {
            loop {
                let Some((i, s)) = queue.lock().expect("queue").pop_front() else { return Ok::<(), CliError>(()) };
                let (result, kept) = run_one(provider.as_mut(), s, shared).await?;
                done.lock().expect("results").push((i, result, kept));
            }
        }
    }))
    .await;
    let keep = a.keep && !cancel.is_cancelled();
    for p in pool.iter_mut() {
        p.finish(keep).await?;
    }
    worker_results.into_iter().collect::<Result<Vec<()>, _>>()?;
    let mut done = done.into_inner().expect("results");
    done.sort_by_key(|(i, _, _)| *i);
    let kept: Vec<String> = done.iter().filter_map(|(_, _, k)| k.clone()).collect();
    let results: Vec<ScenarioResult> = done.into_iter().map(|(_, r, _)| r).collect();

    let report = RunReport::new(&run_id, provider_name, started_at, started.elapsed().as_millis() as u64, results);
    report::write_all(&a.report_dir, &report)?;
    if let Ok(summary_file) = std::env::var("GITHUB_STEP_SUMMARY")
        && !summary_file.is_empty()
        && let Err(e) = report::append_step_summary(std::path::Path::new(&summary_file), &report)
    {
        eprintln!("warning: could not append to $GITHUB_STEP_SUMMARY ({summary_file}): {e}");
    }
    println!("report: {}", a.report_dir.join("report.json").display());
    for k in &kept {
        println!("{k}");
    }
    let in_process: usize = pool.iter().map(|p| p.kept_in_process()).sum();
    // The last line is the machine-readable result.
    println!("{} passed, {} failed, {} skipped", report.passed, report.failed, report.skipped);
    if in_process > 0 {
        println!("the embedded cluster lives in this process: serving until Ctrl-C");
        cancel.cancelled().await;
        for p in pool.iter_mut() {
            p.finish(false).await?;
        }
    }
    Ok(if report.failed > 0 { EXIT_FAILED } else { EXIT_OK })
}

/// What every scenario of a run shares.
struct Shared<'a> {
    args: &'a RunArgs,
    run_id: &'a str,
    cancel: &'a Cancel,
    progress: &'a dyn Progress,
    workdir: PathBuf,
}

/// One scenario on one provider: requirements, a cluster, the run, and its release (kept or not).
async fn run_one(provider: &mut dyn Provider, s: &Scenario, sh: &Shared<'_>) -> Result<(ScenarioResult, Option<String>), CliError> {
    if sh.cancel.is_cancelled() {
        return Ok((runner::skipped_result(s, provider.name(), "not run: interrupted".into()), None));
    }
    if let Some(why) = runner::unmet_requirements(s, provider.name(), provider.capabilities()) {
        sh.progress.message(&format!("scenario {} skipped: {why}", s.name));
        return Ok((runner::skipped_result(s, provider.name(), why), None));
    }
    // Re-read with this run's built-in variables (RUN_ID, ...).
    let vars = builtins(&s.name, sh.run_id, provider.name());
    let source = s.source.clone().unwrap_or_default();
    let text = std::fs::read_to_string(&source).map_err(|e| CliError::Other(format!("{}: {e}", source.display())))?;
    let resolved = scenario::parse_str(&text, &source, Some(&vars)).map_err(|e| CliError::Usage(e.to_string()))?;
    let handle = match provider.ensure(&s.name, &sh.workdir).await {
        Ok(h) => h,
        Err(e) => {
            let mut r = runner::skipped_result(s, provider.name(), String::new());
            r.outcome = Outcome::Failed;
            r.reason = Some(format!("no cluster: {e}"));
            sh.progress.message(&format!("scenario {} failed: no cluster: {e}", s.name));
            return Ok((r, None));
        }
    };
    sh.progress.message(&format!("cluster: {}", handle.description));
    let guard = if provider.creates_clusters() {
        None
    } else {
        let context = handle
            .context
            .clone()
            .or_else(|| crate::providers::existing::current_context(&handle.kubeconfig))
            .unwrap_or_else(|| "(current)".into());
        Some(runner::guard::Guard::new(&handle.client, &context, Some(&handle.kubeconfig), sh.args.allow_destructive).await)
    };
    let env = RunEnv {
        client: handle.client.clone(),
        provider: provider.name().to_string(),
        capabilities: provider.capabilities(),
        run_id: sh.run_id.to_string(),
        report_dir: sh.args.report_dir.clone(),
        cancel: sh.cancel.clone(),
        progress: sh.progress,
        helm: handle.helm.clone(),
        nodes: handle.nodes.clone(),
        kubeconfig: Some(handle.kubeconfig.clone()),
        context: handle.context.clone(),
        guard,
    };
    let result = runner::run_scenario(&resolved, &env).await;
    let keep = sh.args.keep && !sh.cancel.is_cancelled();
    let kept = keep.then(|| reach_instructions(&handle));
    provider.release(keep).await?;
    Ok((result, kept))
}
