//! Runs scenarios: steps in order with per-step timeouts and timings, `expect: fails`, diagnostics on
//! failure, `finally` always, then a teardown of everything the run created. SIGINT/SIGTERM cancel the
//! current step and go straight to `finally` + teardown; a second signal aborts.

pub mod diagnostics;
pub mod gc;
pub mod guard;
pub mod journal;
pub mod progress;
pub mod signals;
pub mod stale;
mod teardown;
pub mod warnings;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::oracle::Leftover;
use crate::primitives::cluster::RUN_START_SNAPSHOT;
use crate::primitives::{Capabilities, StepContext, StepError, StepOutcome};
use crate::scenario::{Expect, Scenario, Step};
pub use progress::Progress;
pub use signals::Cancel;

pub use crate::scenario::check::DEFAULT_STEP_TIMEOUT;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// One executed (or not executed) step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    pub name: String,
    pub primitive: String,
    /// `steps`, `finally` or `teardown`.
    pub section: String,
    pub outcome: Outcome,
    pub duration_ms: u64,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Line in the scenario file.
    #[serde(default)]
    pub line: u64,
    /// When the step started (RFC 3339); absent for steps that never ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Time the primitive itself took (the rest of `duration_ms` is harness overhead), in microseconds.
    #[serde(skip)]
    pub primitive_us: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub name: String,
    pub provider: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the scenario started (RFC 3339); absent when it never ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    pub duration_ms: u64,
    pub steps: Vec<StepResult>,
    pub leftovers: Vec<Leftover>,
    pub findings: Vec<crate::primitives::Finding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics_dir: Option<PathBuf>,
}

/// What the runner needs from the outside.
pub struct RunEnv<'a> {
    pub client: kube::Client,
    pub provider: String,
    pub capabilities: Capabilities,
    pub run_id: String,
    pub report_dir: PathBuf,
    pub cancel: Cancel,
    pub progress: &'a dyn Progress,
    pub helm: Option<std::sync::Arc<dyn crate::helm::HelmEngine>>,
    pub nodes: Option<std::sync::Arc<dyn crate::providers::NodeOperations>>,
    /// The cluster's kubeconfig and context (for `kubectl`/`script` steps).
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// kube-controller-manager's garbage collector graph, when the provider can reach it.
    pub gc_graph: Option<String>,
    /// Set on clusters cleanroom did not create: destructive steps need permission there.
    pub guard: Option<guard::Guard>,
    /// `--keep-on-failure`: a failed scenario skips `finally` and teardown, so its state stays to debug.
    pub keep_failed_state: bool,
}

/// Why a scenario cannot run on this provider, if it cannot.
pub fn unmet_requirements(s: &Scenario, provider: &str, caps: Capabilities) -> Option<String> {
    let r = &s.requires;
    if !r.providers.is_empty() && !r.providers.iter().any(|p| p == provider) {
        return Some(format!("needs provider {} (running on {provider})", r.providers.join(" or ")));
    }
    for c in &r.capabilities {
        let ok = match c.as_str() {
            "helm" => caps.helm,
            "nodes" => caps.nodes,
            "node-filesystem" => caps.node_filesystem,
            "containers" => caps.containers,
            _ => false,
        };
        if !ok {
            return Some(format!("needs the `{c}` capability, which provider {provider} does not offer yet"));
        }
    }
    None
}

pub fn skipped_result(s: &Scenario, provider: &str, reason: String) -> ScenarioResult {
    ScenarioResult {
        name: s.name.clone(),
        provider: provider.to_string(),
        outcome: Outcome::Skipped,
        reason: Some(reason),
        started_at: None,
        duration_ms: 0,
        steps: Vec::new(),
        leftovers: Vec::new(),
        findings: Vec::new(),
        diagnostics_dir: None,
    }
}

/// Run one scenario to completion (steps, finally, teardown).
pub async fn run_scenario(scenario: &Scenario, env: &RunEnv<'_>) -> ScenarioResult {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339();
    env.progress.scenario_started(&scenario.name, &env.provider);
    let mut ctx = StepContext::new(env.client.clone(), &env.provider, env.capabilities, &env.run_id);
    ctx.helm = env.helm.clone();
    ctx.requires_helm = scenario.requires.capabilities.iter().any(|c| c == "helm");
    ctx.nodes = env.nodes.clone();
    ctx.kubeconfig = env.kubeconfig.clone();
    ctx.kube_context = env.context.clone();
    ctx.gc_graph = env.gc_graph.clone();
    ctx.report_dir = Some(env.report_dir.join(&scenario.name));
    ctx.variables = scenario.resolved_variables.clone();
    if let Some(dir) = scenario.source.as_ref().and_then(|p| p.parent()) {
        ctx.base_dir = dir.to_path_buf();
    }
    if let Some(min) = scenario.requires.min_nodes {
        let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(env.client.clone());
        match nodes.list_metadata(&Default::default()).await {
            Ok(list) if (list.items.len() as u32) < min => {
                let r = skipped_result(scenario, &env.provider, format!("needs {min} node(s), the cluster has {}", list.items.len()));
                env.progress.scenario_finished(&r);
                return r;
            }
            _ => {}
        }
    }
    let mut results = Vec::new();
    let mut failure: Option<String> = None;
    let mut diagnostics_dir = None;

    // The run's own baseline: cluster.reset and the post-teardown check compare against it.
    match crate::oracle::snapshot(&ctx.client).await {
        Ok(inv) => {
            ctx.snapshots.insert(RUN_START_SNAPSHOT.into(), inv);
        }
        Err(e) => failure = Some(format!("cannot take the run-start snapshot: {e}")),
    }

    for (i, step) in scenario.steps.iter().enumerate() {
        if let Some(why) = &ctx.skip_scenario {
            results.push(not_run(step, "steps", format!("not run: {why}")));
            continue;
        }
        if failure.is_some() || env.cancel.is_cancelled() {
            let why = if env.cancel.is_cancelled() { "not run: interrupted".to_string() } else { "not run: an earlier step failed".to_string() };
            results.push(not_run(step, "steps", why));
            continue;
        }
        env.progress.step_started(&step.display_name());
        ctx.step_origin = format!("step {} `{}`", i + 1, step.action.name());
        let r = guarded_step(env.guard.as_ref(), step, &mut ctx, "steps", Some(&env.cancel)).await;
        env.progress.step_finished(&r);
        if r.outcome == Outcome::Failed {
            failure = Some(format!("step {} `{}` failed: {}", i + 1, r.name, r.reason.clone().unwrap_or_default()));
            let dir = env.report_dir.join(&scenario.name).join("diagnostics");
            diagnostics::collect(&ctx, &dir, &r).await;
            diagnostics_dir = Some(dir);
        }
        results.push(r);
    }
    if env.cancel.is_cancelled() && failure.is_none() {
        failure = Some("interrupted by signal".into());
    }
    let keep_state = env.keep_failed_state && failure.is_some() && !env.cancel.is_cancelled();
    for step in scenario.finally.iter().filter(|_| keep_state) {
        results.push(not_run(step, "finally", KEPT_STATE.into()));
    }
    for step in scenario.finally.iter().filter(|_| !keep_state) {
        env.progress.step_started(&step.display_name());
        ctx.step_origin = format!("finally step `{}`", step.action.name());
        let r = guarded_step(env.guard.as_ref(), step, &mut ctx, "finally", None).await;
        env.progress.step_finished(&r);
        if r.outcome == Outcome::Failed && failure.is_none() {
            failure = Some(format!("finally step `{}` failed: {}", r.name, r.reason.clone().unwrap_or_default()));
        }
        results.push(r);
    }
    env.progress.step_started("teardown");
    ctx.step = "teardown".into();
    let td = if keep_state { kept_teardown() } else { teardown::teardown(&mut ctx).await };
    env.progress.step_finished(&td);
    if td.outcome == Outcome::Failed {
        failure.get_or_insert_with(|| format!("cleanup failed: {}", td.reason.clone().unwrap_or_default()));
    }
    results.push(td);

    // A scenario passes when every step that could run passed; steps the provider cannot run
    // stay `skipped` (with their reason) in the step list and are named in the scenario's reason.
    // Only a scenario of which no step ran is itself `skipped`.
    let skipped: Vec<&StepResult> = results.iter().filter(|r| r.outcome == Outcome::Skipped && r.reason.as_deref().is_some_and(|r| !r.starts_with("not run"))).collect();
    let ran = results.iter().any(|r| r.outcome == Outcome::Passed && r.section != "teardown");
    let (outcome, reason) = match failure {
        Some(f) => (Outcome::Failed, Some(f)),
        // A requirement the scenario declared (`requires: capabilities: [helm]`) turned out unmet mid-run.
        None if ctx.skip_scenario.is_some() => (Outcome::Skipped, ctx.skip_scenario.clone()),
        None if !skipped.is_empty() && !ran => (Outcome::Skipped, skipped[0].reason.clone()),
        None if !skipped.is_empty() => {
            let names: Vec<String> = skipped.iter().map(|r| format!("`{}` ({})", r.name, r.reason.clone().unwrap_or_default())).collect();
            (Outcome::Passed, Some(format!("{} step(s) skipped: {}", skipped.len(), names.join("; "))))
        }
        None => (Outcome::Passed, None),
    };
    // The embedded cluster's warnings, each once with its count (with --parallel, a warning lands in the
    // scenario that finished first after it).
    for w in warnings::take() {
        env.progress.message(&format!("embedded cluster warning: {w}"));
        ctx.findings.push(crate::primitives::Finding { step: "embedded cluster".into(), text: format!("warning: {w}") });
    }
    let result = ScenarioResult {
        name: scenario.name.clone(),
        provider: env.provider.clone(),
        outcome,
        reason,
        started_at: Some(started_at),
        duration_ms: started.elapsed().as_millis() as u64,
        steps: results,
        leftovers: ctx.leftovers.clone(),
        findings: ctx.findings.clone(),
        diagnostics_dir,
    };
    env.progress.scenario_finished(&result);
    result
}

const KEPT_STATE: &str = "not run: --keep-on-failure keeps the failed scenario's state";

fn kept_teardown() -> StepResult {
    StepResult {
        name: "teardown".into(),
        primitive: "teardown".into(),
        section: "teardown".into(),
        outcome: Outcome::Skipped,
        duration_ms: 0,
        reason: Some(KEPT_STATE.into()),
        detail: None,
        line: 0,
        started_at: None,
        primitive_us: 0,
    }
}

fn not_run(step: &Step, section: &str, why: String) -> StepResult {
    StepResult {
        name: step.display_name(),
        primitive: step.action.name().to_string(),
        section: section.into(),
        outcome: Outcome::Skipped,
        duration_ms: 0,
        reason: Some(why),
        detail: None,
        line: step.line,
        started_at: None,
        primitive_us: 0,
    }
}

/// A step, unless the guard of a cluster cleanroom did not create refuses it.
async fn guarded_step(guard: Option<&guard::Guard>, step: &Step, ctx: &mut StepContext, section: &str, cancel: Option<&Cancel>) -> StepResult {
    if let Some(g) = guard
        && let Some(why) = g.refuse(&step.action, ctx).await
    {
        let mut r = not_run(step, section, why);
        r.outcome = Outcome::Failed;
        return r;
    }
    run_step(step, ctx, section, cancel).await
}

/// Run one step with its timeout and expectation. `cancel` (None in `finally`) interrupts it.
pub async fn run_step(step: &Step, ctx: &mut StepContext, section: &str, cancel: Option<&Cancel>) -> StepResult {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339();
    let timeout = step.timeout.map(|t| t.0).unwrap_or(DEFAULT_STEP_TIMEOUT);
    let prim = step.action.primitive();
    ctx.observed.clear();
    ctx.step = step.display_name();
    ctx.step_timeout = timeout;
    // A primitive that enforces the timeout itself (killing what it started) gets a backstop only.
    let outer = if prim.enforces_timeout() { timeout + Duration::from_secs(10) } else { timeout };
    ctx.step_deadline = Some(tokio::time::Instant::now() + timeout);
    enum Ended {
        Done(Result<StepOutcome, StepError>),
        TimedOut,
        Cancelled,
    }
    let prim_started = Instant::now();
    let ended = {
        let fut = tokio::time::timeout(outer, prim.run(ctx));
        match cancel {
            Some(c) => tokio::select! {
                r = fut => r.map(Ended::Done).unwrap_or(Ended::TimedOut),
                _ = c.cancelled() => Ended::Cancelled,
            },
            None => fut.await.map(Ended::Done).unwrap_or(Ended::TimedOut),
        }
    };
    let primitive_us = prim_started.elapsed().as_micros() as u64;
    let result = match ended {
        Ended::Done(r) => r,
        Ended::TimedOut => Err(StepError::Timeout {
            waited_for: prim.describe(),
            after: timeout,
            observed: std::mem::take(&mut ctx.observed),
        }),
        Ended::Cancelled => Err(StepError::Cancelled),
    };
    let (outcome, reason, detail) = judge(step, result);
    StepResult {
        name: step.display_name(),
        primitive: step.action.name().to_string(),
        section: section.into(),
        outcome,
        duration_ms: started.elapsed().as_millis() as u64,
        reason: reason.map(|r| crate::core::redact::redact(&r)),
        detail: detail.map(|d| crate::core::redact::redact(&d)),
        line: step.line,
        started_at: Some(started_at),
        primitive_us,
    }
}

fn judge(step: &Step, result: Result<StepOutcome, StepError>) -> (Outcome, Option<String>, Option<String>) {
    match (step.expect, result) {
        (_, Err(StepError::Cancelled)) => (Outcome::Failed, Some("interrupted by signal".into()), None),
        (_, Err(StepError::Environment(m))) => (Outcome::Failed, Some(m), None),
        (Expect::Succeeds, Ok(o)) => match o.skipped {
            Some(why) => (Outcome::Skipped, Some(why), o.detail),
            None => (Outcome::Passed, None, o.detail),
        },
        (Expect::Succeeds, Err(e)) => (Outcome::Failed, Some(e.to_string()), None),
        (Expect::Fails, Ok(o)) => match o.skipped {
            Some(why) => (Outcome::Skipped, Some(why), o.detail),
            None => (
                Outcome::Failed,
                Some(format!("expected this step to fail, but it succeeded ({})", o.detail.unwrap_or_default())),
                None,
            ),
        },
        (Expect::Fails, Err(e)) => {
            let msg = e.to_string();
            let unmatched: Vec<&str> = step
                .message
                .iter()
                .flat_map(|m| m.patterns())
                .filter(|p| !regex::Regex::new(p).expect("validated at parse time").is_match(&msg))
                .collect();
            if unmatched.is_empty() {
                (Outcome::Passed, None, Some(format!("failed as expected: {msg}")))
            } else {
                let pats: Vec<String> = unmatched.iter().map(|p| format!("/{p}/")).collect();
                (Outcome::Failed, Some(format!("failed as expected, but the message does not match {}: {msg}", pats.join(", "))), None)
            }
        }
    }
}
