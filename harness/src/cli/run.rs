//! `cleanroom run NAME...|--all [--tag T] [--shard I/N] [--parallel N] [--list]`.
//!
//! Whatever happens once a provider exists — a scenario fails, a cluster cannot be created, a signal
//! arrives, a bug panics — the report is written first and every provider's `finish` runs after it, so a
//! kind cluster is deleted (unless kept) and a failed delete never loses the report.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use futures::FutureExt;

use super::cluster_args::ClusterArgs;
use super::{CliError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, print_parse_errors};
use crate::primitives::Finding;
use crate::providers::{self, Provider, ProviderOptions, reach_instructions};
use crate::report::provenance::{self, ClusterIdentity, Provenance};
use crate::report::{self, RunReport};
use crate::runner::journal::{self, Entry, Journal};
use crate::runner::{self, Cancel, Outcome, RunEnv, ScenarioResult};
use crate::scenario::select::{Shard, durations_from_report, filter_tags, shard_names, start_order};
use crate::scenario::{self, Scenario, parse::builtins};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario names or scenario file paths (none: every scenario, when --all, --tag or --shard is given).
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
    /// Scenario durations of an earlier report.json: shards are balanced by them, and `--parallel` starts
    /// the longest first.
    #[arg(long, value_name = "REPORT")]
    durations: Option<PathBuf>,
    /// Print the names the selection would run, one per line, and run nothing.
    #[arg(long)]
    list: bool,
    /// Scenarios run at once, each on its own embedded cluster (provider sim only).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: u16,
    /// Run the selection N times in this one process (each time on a fresh cluster on sim), as `NAME#1`..`NAME#N`,
    /// to show a scenario does not flake.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    repeat: u32,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    helm: HelmArgs,
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Keep the cluster after the run and print how to reach it (teardown still runs).
    #[arg(long, conflicts_with = "keep_on_failure")]
    keep: bool,
    /// Keep the cluster only when a scenario failed, with that scenario's state: its `finally` steps and
    /// teardown are skipped.
    #[arg(long)]
    keep_on_failure: bool,
    /// Allow destructive steps (purge, sabotage, reset, node operations, uninstalling releases the run did not
    /// install) on a cluster cleanroom did not create. Or list the context in CLEANROOM_ALLOW_CONTEXTS.
    #[arg(long)]
    allow_destructive: bool,
    #[arg(long, default_value = "scenarios")]
    scenarios: PathBuf,
}

/// How Helm steps run; shared by `run` and `chart`.
#[derive(Debug, Clone, Args)]
pub struct HelmArgs {
    /// Helm engine per step: `auto` (a recorded render that matches the request exactly, else the helm
    /// binary), `cli` (always the binary), `recorded` (never the binary).
    #[arg(long = "helm", default_value = "auto", value_parser = ["auto", "cli", "recorded"])]
    pub helm: String,
    /// The helm binary (default: $CLEANROOM_HELM, then `helm` on PATH).
    #[arg(long)]
    pub helm_binary: Option<PathBuf>,
    /// A render catalogue (renders.yaml) read before `<scenarios>/renders.yaml` and the built-in one; repeatable.
    #[arg(long = "renders", value_name = "FILE")]
    pub renders: Vec<PathBuf>,
}

impl HelmArgs {
    /// The options, with `<scenarios>/renders.yaml` when it exists.
    pub fn options(&self, scenarios: Option<&Path>) -> Result<providers::HelmOptions, CliError> {
        let mut renders = self.renders.clone();
        for r in &renders {
            if !r.is_file() {
                return Err(CliError::Usage(format!("--renders {}: no such file", r.display())));
            }
        }
        if let Some(own) = scenarios.map(|d| d.join("renders.yaml")).filter(|p| p.is_file()) {
            renders.push(own);
        }
        Ok(providers::HelmOptions { mode: self.helm.parse().map_err(CliError::Usage)?, binary: self.helm_binary.clone(), renders })
    }
}

pub fn new_run_id() -> String {
    let now = chrono::Utc::now();
    // The pid keeps runs started in the same instant on one machine apart.
    let salt = (now.timestamp_subsec_nanos() ^ std::process::id().wrapping_mul(0x9e37_79b9)) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%d-%H%M%S"))
}

/// The run's report directory `<report dir>/<run id>`, and `<report dir>/latest` pointing at it.
fn new_run_dir(report_dir: &Path, run_id: &str) -> Result<PathBuf, CliError> {
    let dir = report_dir.join(run_id);
    std::fs::create_dir_all(&dir).map_err(|e| CliError::Environment(format!("report directory {}: {e}", dir.display())))?;
    if let Err(e) = report::link_latest(report_dir, run_id) {
        eprintln!("warning: could not point {}/latest at this run: {e}", report_dir.display());
    }
    Ok(dir)
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

/// Names (or everything; a name that is a scenario file runs that file), then tags, then the shard.
fn choose(mut all: Vec<Scenario>, a: &RunArgs) -> Result<Vec<Scenario>, CliError> {
    let mut names = Vec::new();
    for n in &a.names {
        let p = Path::new(n);
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
    let durations = given_durations(a)?;
    let names: Vec<String> = picked.iter().map(|s| s.name.clone()).collect();
    let mine = shard_names(&names, shard, durations.as_ref());
    Ok(picked.into_iter().filter(|s| mine.contains(&s.name)).collect())
}

/// `--durations FILE`, read.
fn given_durations(a: &RunArgs) -> Result<Option<BTreeMap<String, u64>>, CliError> {
    let Some(p) = &a.durations else { return Ok(None) };
    let text = std::fs::read_to_string(p).map_err(|e| CliError::Usage(format!("--durations {}: {e}", p.display())))?;
    Ok(Some(durations_from_report(&text).map_err(|e| CliError::Usage(format!("--durations {}: {e}", p.display())))?))
}

/// Scenario durations to order a parallel run by: `--durations`, else the previous run's report under
/// the report directory (`latest`), when it can be read. Only an ordering hint, so a missing or foreign
/// previous report is no error.
fn hint_durations(a: &RunArgs) -> Result<Option<BTreeMap<String, u64>>, CliError> {
    if a.durations.is_some() {
        return given_durations(a);
    }
    let previous = a.report_dir.join("latest").join("report.json");
    Ok(std::fs::read_to_string(previous).ok().and_then(|t| durations_from_report(&t).ok()))
}

/// `--repeat N`: the selection N times over, each copy named `NAME#K` (K from 1) so results and report
/// directories stay apart; scenario names never contain `#`.
fn repeated(selected: Vec<Scenario>, n: u32) -> Vec<Scenario> {
    if n <= 1 {
        return selected;
    }
    (1..=n)
        .flat_map(|k| selected.iter().map(move |s| Scenario { name: format!("{}#{k}", s.name), ..s.clone() }))
        .collect()
}

/// The scenario's own name (without `#K` of `--repeat`).
fn base_name(name: &str) -> &str {
    name.split('#').next().unwrap_or(name)
}

/// Everything the scenario workers share.
struct Plan<'a> {
    selected: &'a [Scenario],
    run_id: &'a str,
    report_dir: &'a Path,
    keep: bool,
    keep_on_failure: bool,
    allow_destructive: bool,
    cancel: Cancel,
    progress: &'a dyn runner::Progress,
    /// What the run is about to create, for `cleanroom gc` after a crash (None: it could not be written).
    journal: Option<&'a Journal>,
    /// Each scenario's cluster, for the report's provenance.
    clusters: &'a Mutex<Vec<ClusterIdentity>>,
    /// Whether a cluster cleanroom did not create was already checked for leftovers of dead runs.
    stale_checked: std::sync::atomic::AtomicBool,
    /// Indices into `selected` in the order workers take them (results keep selection order).
    start_order: Vec<usize>,
}

impl Plan<'_> {
    fn journal(&self, entry: Entry) {
        if let Some(j) = self.journal
            && let Err(e) = j.record(&entry)
        {
            eprintln!("warning: {e}: `cleanroom gc` will not find what this run creates if it is killed");
        }
    }
}

fn failed_result(s: &Scenario, provider: &str, reason: String) -> ScenarioResult {
    let mut r = runner::skipped_result(s, provider, String::new());
    r.outcome = Outcome::Failed;
    r.reason = Some(reason);
    r
}

/// Results by position in the selection (workers finish out of order).
type Done = Mutex<Vec<(usize, ScenarioResult, Option<String>)>>;

/// One worker: take the next scenario from the queue until it is empty. A provider that cannot make a
/// cluster ends the run: the queue's remaining scenarios are recorded as not run.
async fn worker(plan: &Plan<'_>, provider: &mut dyn Provider, queue: &Mutex<VecDeque<usize>>, done: &Done) -> Result<(), CliError> {
    let workdir = plan.report_dir.join("clusters");
    let pname = provider.name();
    let not_run = |why: &str| {
        let rest: Vec<usize> = queue.lock().expect("queue").drain(..).collect();
        let mut d = done.lock().expect("results");
        for i in rest {
            d.push((i, runner::skipped_result(&plan.selected[i], pname, format!("not run: {why}")), None));
        }
    };
    loop {
        let Some(i) = queue.lock().expect("queue").pop_front() else { return Ok(()) };
        let s = &plan.selected[i];
        let push = |r: ScenarioResult, kept: Option<String>| done.lock().expect("results").push((i, r, kept));
        if plan.cancel.is_cancelled() {
            push(runner::skipped_result(s, pname, "not run: interrupted".into()), None);
            continue;
        }
        if let Some(why) = runner::unmet_requirements(s, pname, provider.capabilities()) {
            plan.progress.message(&format!("scenario {} skipped: {why}", s.name));
            push(runner::skipped_result(s, pname, why), None);
            continue;
        }
        // Re-read with this run's built-in variables (RUN_ID, ...).
        let mut vars = builtins(base_name(&s.name), plan.run_id, pname);
        if let Some(cluster) = provider.cluster_name() {
            vars.insert("CLUSTER".into(), cluster);
        }
        let source = s.source.clone().unwrap_or_default();
        let text = std::fs::read_to_string(&source).map_err(|e| CliError::Other(format!("{}: {e}", source.display())))?;
        let mut resolved = scenario::parse_str(&text, &source, Some(&vars)).map_err(|e| CliError::Usage(e.to_string()))?;
        resolved.name.clone_from(&s.name);
        if pname == "kind"
            && provider.creates_clusters()
            && let Some(name) = provider.cluster_name()
        {
            let kubeconfig = crate::providers::kind::kubeconfig_in(&workdir, &name);
            plan.journal(Entry::KindCluster { name, kubeconfig });
        }
        if let Some(name) = provider.container_name() {
            plan.journal(Entry::Container { name });
        }
        // An interrupt while the cluster is being made drops `ensure`, which ends the provider's child
        // process group; `finish` then removes whatever was started.
        let ensured = tokio::select! {
            r = provider.ensure(&s.name, &workdir) => r,
            _ = plan.cancel.cancelled() => {
                push(failed_result(s, pname, "no cluster: interrupted while the provider was starting it".into()), None);
                not_run("interrupted");
                return Ok(());
            }
        };
        let handle = match ensured {
            Ok(h) => h,
            Err(e) => {
                plan.progress.message(&format!("scenario {} failed: no cluster: {e}", s.name));
                push(failed_result(s, pname, format!("no cluster: {e}")), None);
                not_run("no cluster");
                return Err(CliError::Provider(e));
            }
        };
        plan.progress.message(&format!("cluster: {}", handle.description));
        let context = handle.context.clone();
        // The embedded cluster dies with this process: nothing of it can outlive a crash.
        if pname != "sim" {
            plan.journal(Entry::Objects { kubeconfig: handle.kubeconfig.clone(), context: context.clone() });
        }
        let identity = ClusterIdentity {
            scenario: s.name.clone(),
            description: handle.description.clone(),
            server: runner::guard::server_of(&handle.kubeconfig, context.as_deref().unwrap_or("(current)")),
            kube_system_uid: runner::guard::identity(&handle.client).await,
        };
        plan.clusters.lock().expect("clusters").push(identity);
        // Only a cluster cleanroom did not create can hold what earlier runs left; look once per run. The
        // warning goes to stderr and into this scenario's findings (report.json, summary.md, JUnit).
        let mut stale_warning = None;
        if !provider.creates_clusters()
            && !plan.stale_checked.swap(true, std::sync::atomic::Ordering::SeqCst)
            && let Some(w) = runner::stale::check(&handle.client, &journal::state_dir(), plan.run_id).await
        {
            eprintln!("{w}");
            stale_warning = Some(w);
        }
        let guard = if provider.creates_clusters() {
            None
        } else {
            let context = handle
                .context
                .clone()
                .or_else(|| providers::existing::current_context(&handle.kubeconfig))
                .unwrap_or_else(|| "(current)".into());
            Some(runner::guard::Guard::new(&handle.client, &context, Some(&handle.kubeconfig), plan.allow_destructive).await)
        };
        let env = RunEnv {
            client: handle.client.clone(),
            provider: pname.to_string(),
            capabilities: provider.capabilities(),
            run_id: plan.run_id.to_string(),
            report_dir: plan.report_dir.to_path_buf(),
            cancel: plan.cancel.clone(),
            progress: plan.progress,
            helm: handle.helm.clone(),
            nodes: handle.nodes.clone(),
            kubeconfig: Some(handle.kubeconfig.clone()),
            context: handle.context.clone(),
        gc_graph: handle.gc_graph.clone(),
            guard,
            keep_failed_state: plan.keep_on_failure,
        };
        let mut result = runner::run_scenario(&resolved, &env).await;
        if let Some(w) = stale_warning {
            result.findings.insert(0, Finding { step: "cluster".into(), text: w.trim_start_matches("warning: ").to_string() });
        }
        if let (false, Some(why)) = (s.images.is_empty(), provider.cannot_load_images()) {
            result.findings.push(Finding { step: "images".into(), text: format!("{} not loaded: {why}", s.images.join(", ")) });
        }
        for fault in provider.faults() {
            plan.progress.message(&format!("scenario {}: {fault}", s.name));
            result.outcome = Outcome::Failed;
            result.reason.get_or_insert_with(|| fault.clone());
            result.findings.push(Finding { step: "cluster".into(), text: fault });
        }
        let failed = result.outcome == Outcome::Failed;
        if let Some(note) = provider.after_scenario(failed, &plan.report_dir.join(&s.name)).await {
            plan.progress.message(&note);
            result.findings.push(Finding { step: "provider".into(), text: note });
        }
        let keep = (plan.keep || (plan.keep_on_failure && failed)) && !plan.cancel.is_cancelled();
        let kept = keep.then(|| {
            let state = if plan.keep {
                "\n  note: teardown ran: it removed what the scenario created (--keep-on-failure keeps a failed scenario's state)"
            } else {
                "\n  note: the failed scenario's state, as it was (its finally steps and teardown were skipped)"
            };
            let reach = reach_instructions(&handle).replacen("cluster kept:", &format!("cluster kept for scenario {}:", s.name), 1);
            format!("{reach}{state}")
        });
        push(result, kept);
        provider.release(keep).await?;
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "panic".into())
}

pub async fn run(a: RunArgs) -> Result<i32, CliError> {
    let only_files = !a.names.is_empty() && a.names.iter().all(|n| Path::new(n).is_file());
    let all = match scenario::load_dir(&a.scenarios) {
        Ok(all) => all,
        Err(_) if only_files && !a.scenarios.is_dir() => Vec::new(),
        Err(errs) => {
            print_parse_errors(&errs);
            return Ok(EXIT_USAGE);
        }
    };
    let selected = repeated(choose(all, &a)?, a.repeat);
    if a.list {
        for s in &selected {
            println!("{}", s.name);
        }
        return Ok(EXIT_OK);
    }
    if a.parallel > 1 && a.cluster.provider != "sim" {
        return Err(CliError::Usage(format!(
            "--parallel runs each scenario on its own embedded cluster: it needs --provider sim (got {}); spread {} runs over CI jobs with --shard I/N",
            a.cluster.provider, a.cluster.provider
        )));
    }
    let options = a.cluster.options(a.helm.options(Some(&a.scenarios))?, selected.iter().flat_map(|s| s.images.iter()))?;
    let how = Execution {
        provider: &a.cluster.provider,
        options,
        parallel: a.parallel,
        durations: if a.parallel > 1 { hint_durations(&a)? } else { None },
        report_dir: &a.report_dir,
        keep: a.keep,
        keep_on_failure: a.keep_on_failure,
        allow_destructive: a.allow_destructive,
    };
    execute(&selected, &how, &new_run_id()).await
}

/// Where and how selected scenarios run (`run`, and `chart`'s generated scenarios).
pub(super) struct Execution<'a> {
    pub provider: &'a str,
    pub options: ProviderOptions,
    pub parallel: u16,
    /// Expected scenario durations (ms), to start the longest first when several run at once.
    pub durations: Option<BTreeMap<String, u64>>,
    pub report_dir: &'a Path,
    pub keep: bool,
    /// Keep a failed scenario's cluster as it was (no `finally`, no teardown).
    pub keep_on_failure: bool,
    pub allow_destructive: bool,
}

/// Run scenarios on providers made for them; the report is written on every path.
pub(super) async fn execute(selected: &[Scenario], how: &Execution<'_>, run_id: &str) -> Result<i32, CliError> {
    let workers = usize::from(how.parallel).min(selected.len()).max(1);
    let mut pool: Vec<Box<dyn Provider>> =
        (0..workers).map(|_| providers::by_name(how.provider, how.options.clone(), run_id)).collect::<Result<_, _>>()?;
    // The providers could be made (the tools they need are there): from here on the run has a report
    // directory and a journal.
    let run_dir = new_run_dir(how.report_dir, run_id)?;
    let journal = match Journal::create(&journal::state_dir(), run_id, how.provider) {
        Ok(j) => Some(j),
        Err(e) => {
            eprintln!("warning: {e}: `cleanroom gc` will not find what this run creates if it is killed");
            None
        }
    };
    if let Some(j) = journal.clone() {
        let recorder: providers::Recorder = std::sync::Arc::new(move |c| {
            if let Err(e) = j.record(&Entry::from(c)) {
                eprintln!("warning: {e}: `cleanroom gc` will not find cluster {} if this run is killed", c.name);
            }
        });
        pool.iter_mut().for_each(|p| p.set_recorder(recorder.clone()));
    }
    let progress = runner::progress::for_terminal();
    println!(
        "provider: {}{}; helm: {}",
        pool[0].name(),
        if workers > 1 { format!(" ({workers} scenarios at once)") } else { String::new() },
        how.options.helm.mode.as_str()
    );
    let cancel = runner::signals::install(|| {});
    let clusters = Mutex::new(Vec::new());
    let plan = Plan {
        selected,
        run_id,
        report_dir: &run_dir,
        keep: how.keep,
        keep_on_failure: how.keep_on_failure,
        allow_destructive: how.allow_destructive,
        cancel: cancel.clone(),
        progress: progress.as_ref(),
        journal: journal.as_ref(),
        clusters: &clusters,
        stale_checked: Default::default(),
        start_order: if workers > 1 {
            let names: Vec<&str> = selected.iter().map(|s| s.name.as_str()).collect();
            // Without a previous report, a scenario's step count stands in for its duration.
            start_order(&names, how.durations.as_ref(), |i| (selected[i].steps.len() + selected[i].finally.len()) as u64)
        } else {
            (0..selected.len()).collect()
        },
    };
    let mut prov = Provenance {
        cleanroom_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: option_env!("CLEANROOM_GIT_COMMIT").map(str::to_string),
        provider: how.provider.to_string(),
        sim_timing: (how.provider == "sim").then(|| format!("{:?}", how.options.sim_timing).to_lowercase()),
        helm_engine: format!("--helm {}", how.options.helm.mode.as_str()),
        tools: provenance::tool_versions().await,
        ..Default::default()
    };
    for s in selected {
        if let Some(src) = &s.source
            && let Some(h) = provenance::file_sha256(src)
        {
            prov.scenario_files.insert(src.display().to_string(), h);
        }
    }
    run_with_providers(&plan, &mut pool, prov).await
}

/// The run on providers that exist: scenarios, then the report, then `finish` — on every path.
async fn run_with_providers(plan: &Plan<'_>, pool: &mut [Box<dyn Provider>], mut prov: Provenance) -> Result<i32, CliError> {
    let started_at = chrono::Utc::now().to_rfc3339();
    let started = Instant::now();
    let pname = pool[0].name();
    let queue = Mutex::new(plan.start_order.iter().copied().collect::<VecDeque<_>>());
    let done: Done = Mutex::new(Vec::new());
    let workers = futures::future::join_all(pool.iter_mut().map(|p| worker(plan, p.as_mut(), &queue, &done)));
    let flow = AssertUnwindSafe(workers).catch_unwind().await;
    let flow: Result<(), CliError> = match flow {
        Ok(results) => results.into_iter().collect(),
        Err(p) => Err(CliError::Other(format!("internal error (a bug in cleanroom): {}", panic_text(&*p)))),
    };
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    // A scenario that never got a result (a panic mid-scenario) is recorded as failed, not dropped.
    for i in 0..plan.selected.len() {
        if !done.iter().any(|(j, _, _)| *j == i) {
            done.push((i, failed_result(&plan.selected[i], pname, "not finished: the run stopped early".into()), None));
        }
    }
    done.sort_by_key(|(i, _, _)| *i);
    let kept: Vec<String> = done.iter().filter_map(|(_, _, k)| k.clone()).collect();
    let results: Vec<ScenarioResult> = done.into_iter().map(|(_, r, _)| r).collect();
    prov.started_at = started_at.clone();
    prov.ended_at = chrono::Utc::now().to_rfc3339();
    prov.clusters = std::mem::take(&mut *plan.clusters.lock().unwrap_or_else(|e| e.into_inner()));
    let mut report = RunReport::new(plan.run_id, pname, started_at, started.elapsed().as_millis() as u64, results);
    report.provenance = prov;
    let written = report::write_all(plan.report_dir, &report);
    if let Ok(summary_file) = std::env::var("GITHUB_STEP_SUMMARY")
        && !summary_file.is_empty()
        && let Err(e) = report::append_step_summary(Path::new(&summary_file), &report)
    {
        eprintln!("warning: could not append to $GITHUB_STEP_SUMMARY ({summary_file}): {e}");
    }
    let keep = (plan.keep || (plan.keep_on_failure && report.failed > 0)) && !plan.cancel.is_cancelled() && flow.is_ok();
    let mut finished = Ok(());
    for p in pool.iter_mut() {
        if let Err(e) = p.finish(keep).await {
            eprintln!("error: cleaning up the {} cluster failed: {e}", p.name());
            finished = Err(e);
        }
    }
    // Cleaned up (or handed to the user): nothing for `cleanroom gc`. A failed cleanup keeps the journal.
    if finished.is_ok()
        && let Some(j) = plan.journal
    {
        j.close();
    }
    println!("provider {pname}; report: {}", plan.report_dir.join("report.json").display());
    // The last line is the machine-readable result.
    println!("{} passed, {} failed, {} skipped", report.passed, report.failed, report.skipped);
    flow?;
    written?;
    finished?;
    for k in &kept {
        println!("{k}");
    }
    if pool.iter().map(|p| p.kept_in_process()).sum::<usize>() > 0 {
        println!("the embedded cluster lives in this process: serving until Ctrl-C");
        plan.cancel.cancelled().await;
        for p in pool.iter_mut() {
            p.finish(false).await?;
        }
    }
    Ok(if plan.cancel.is_cancelled() {
        EXIT_INTERRUPTED
    } else if report.failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
