//! Helm primitives: install, upgrade (GitOps: change the values file, never edit objects) and
//! uninstall, through the provider's Helm engine — recorded renders on the embedded cluster,
//! the `helm` binary on kind/existing. Without an engine the step is skipped with the reason.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Primitive, StepContext, StepError, StepOutcome};
use crate::helm::{Cascade, HelmEngine, InstallRequest, ReleaseInfo, UninstallOptions};

fn engine(ctx: &StepContext, what: &str) -> Result<Arc<dyn HelmEngine>, StepOutcome> {
    ctx.helm.clone().ok_or_else(|| {
        StepOutcome::skip(format!("{what} cannot run on provider `{}`: no Helm engine (the embedded cluster needs fixtures/renders.yaml; kind/existing need the `helm` binary)", ctx.provider))
    })
}

/// Chart, values and options shared by install and upgrade.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Install {
    pub release: String,
    /// Chart reference as given to helm (`prometheus-community/kube-prometheus-stack`, a path, ...).
    pub chart: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Values files (`-f`), relative to the scenario file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// Inline values (nested map), applied after the files.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, serde_json::Value>,
    /// `--set` arguments (`a.b=c`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<String>,
    #[serde(default)]
    pub create_namespace: bool,
    /// `--wait` (helm's watcher strategy on real clusters).
    #[serde(default)]
    pub wait: bool,
}

impl Install {
    pub(crate) fn request(&self, ctx: &StepContext, timeout: Option<Duration>) -> InstallRequest {
        // A local chart resolves from the scenario file's directory, as values files do.
        let local = ctx.base_dir.join(&self.chart);
        let chart = if self.chart.starts_with('.') || (!self.chart.contains("://") && local.exists()) {
            std::path::absolute(&local).unwrap_or(local).display().to_string()
        } else {
            self.chart.clone()
        };
        let mut req = InstallRequest::new(&self.release, &self.namespace, chart);
        req.version = self.version.clone();
        req.values_files = self.values_files.iter().map(|f| resolve(ctx, f)).collect();
        req.values = self.values.clone().into_iter().collect();
        req.set = self.set.clone();
        req.create_namespace = self.create_namespace;
        req.wait = self.wait;
        if let Some(t) = timeout {
            req.timeout = t;
        }
        req
    }
}

fn resolve(ctx: &StepContext, f: &str) -> PathBuf {
    let p = PathBuf::from(f);
    if p.is_absolute() { p } else { ctx.base_dir.join(p) }
}

fn summary(verb: &str, r: &ReleaseInfo) -> String {
    format!(
        "{verb} {} {}-{} in {}: revision {} {} ({} manifest objects){}",
        r.name,
        r.chart_name,
        r.chart_version,
        r.namespace,
        r.revision,
        r.status,
        r.resources.len(),
        engine_note(&r.engine)
    )
}

/// Helm's own `--timeout`: inside the step's by a tenth (at least 5 s, for helm's start and its error
/// report on a loaded machine), so helm reports what it waited for before the step is cut off.
pub(crate) fn helm_timeout(ctx: &StepContext) -> Duration {
    let t = ctx.step_timeout;
    t.saturating_sub((t / 10).max(Duration::from_secs(5))).max(Duration::from_secs(1))
}

/// `; engine: helm v4.3.1 (/usr/bin/helm)` — which engine ran the step, for the detail and report.
pub(crate) fn engine_note(engine: &str) -> String {
    if engine.is_empty() { String::new() } else { format!("; engine: {engine}") }
}

/// A step no engine can serve: the scenario is skipped with the reason when it declared it needs Helm.
fn no_engine(ctx: &mut StepContext, e: crate::helm::HelmError) -> Result<StepOutcome, StepError> {
    if ctx.requires_helm && matches!(e, crate::helm::HelmError::NoEngine(_) | crate::helm::HelmError::HelmNotFound) {
        let why = format!("needs helm (requires: capabilities: [helm]): {e}");
        ctx.skip_scenario = Some(why.clone());
        return Ok(StepOutcome::skip(why));
    }
    Err(helm_step_error(e))
}

impl Primitive for Install {
    fn describe(&self) -> String {
        format!("helm install {} {}", self.release, self.chart)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let engine = match engine(ctx, "helm.install") {
                Ok(e) => e,
                Err(skip) => return Ok(skip),
            };
            let req = self.request(ctx, Some(helm_timeout(ctx)));
            let info = match engine.install(&req).await {
                Ok(i) => i,
                Err(e) => return no_engine(ctx, e),
            };
            ctx.installed_releases.push((self.namespace.clone(), self.release.clone()));
            Ok(StepOutcome::done(summary("installed", &info)))
        })
    }
}

/// `helm upgrade` with new values (the GitOps way to change a release).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Upgrade {
    #[serde(flatten)]
    pub chart: Install,
    /// `--install`: install when the release does not exist.
    #[serde(default)]
    pub install: bool,
    /// Fail when the upgrade changed the `metadata.generation` of any manifest object (an upgrade to
    /// the same chart and values must change nothing), naming each.
    #[serde(default)]
    pub expect_unchanged: bool,
}

/// `metadata.generation` of every manifest object of a release (objects without one are left out).
async fn generations(ctx: &mut StepContext, engine: &dyn HelmEngine, release: &str, ns: &str) -> Result<BTreeMap<String, i64>, StepError> {
    let info = engine.status(release, ns).await.map_err(helm_step_error)?;
    let mut out = BTreeMap::new();
    for r in &info.resources {
        let resolved = ctx.resolve(Some(&r.api_version), &r.kind).await?;
        let obj_ns = if resolved.namespaced { Some(r.namespace.clone().unwrap_or_else(|| ns.to_string())) } else { None };
        let api = super::dyn_api(&ctx.client, &resolved, obj_ns.as_deref());
        if let Some(o) = api.get_opt(&r.name).await.map_err(StepError::kube(format!("reading {} {}", r.kind, r.name)))?
            && let Some(g) = o.metadata.generation
        {
            out.insert(format!("{} {}", r.kind, obj_ns.map(|n| format!("{n}/{}", r.name)).unwrap_or_else(|| r.name.clone())), g);
        }
    }
    Ok(out)
}

impl Primitive for Upgrade {
    fn describe(&self) -> String {
        format!("helm upgrade {} {}", self.chart.release, self.chart.chart)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let engine = match engine(ctx, "helm.upgrade") {
                Ok(e) => e,
                Err(skip) => return Ok(skip),
            };
            let req = self.chart.request(ctx, Some(helm_timeout(ctx)));
            let before = if self.expect_unchanged {
                generations(ctx, engine.as_ref(), &self.chart.release, &self.chart.namespace).await?
            } else {
                BTreeMap::new()
            };
            let info = match engine.upgrade(&req, self.install).await {
                Ok(i) => i,
                Err(e) => return no_engine(ctx, e),
            };
            if self.expect_unchanged {
                let after = generations(ctx, engine.as_ref(), &self.chart.release, &self.chart.namespace).await?;
                let changed: Vec<String> = after
                    .iter()
                    .filter_map(|(k, g)| before.get(k).filter(|b| *b != g).map(|b| format!("{k} (generation {b} -> {g})")))
                    .collect();
                if !changed.is_empty() {
                    return Err(StepError::Failed(format!(
                        "upgrading {} to the same chart and values changed {} object(s): {}",
                        self.chart.release,
                        changed.len(),
                        changed.join(", ")
                    )));
                }
                return Ok(StepOutcome::done(format!("{}; no object's generation changed ({} checked)", summary("upgraded", &info), after.len())));
            }
            if self.install && info.revision == 1 {
                ctx.installed_releases.push((self.chart.namespace.clone(), self.chart.release.clone()));
            }
            Ok(StepOutcome::done(summary("upgraded", &info)))
        })
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CascadeArg {
    #[default]
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Uninstall {
    pub release: String,
    pub namespace: String,
    #[serde(default)]
    pub wait: bool,
    #[serde(default)]
    pub keep_history: bool,
    #[serde(default)]
    pub cascade: CascadeArg,
    /// Succeed when the release does not exist (for `finally` blocks).
    #[serde(default)]
    pub ignore_not_found: bool,
}

impl Primitive for Uninstall {
    fn describe(&self) -> String {
        format!("helm uninstall {}", self.release)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let engine = match engine(ctx, "helm.uninstall") {
                Ok(e) => e,
                Err(skip) => return Ok(skip),
            };
            let opts = UninstallOptions {
                keep_history: self.keep_history,
                wait: self.wait,
                cascade: match self.cascade {
                    CascadeArg::Background => Cascade::Background,
                    CascadeArg::Foreground => Cascade::Foreground,
                    CascadeArg::Orphan => Cascade::Orphan,
                },
                timeout: helm_timeout(ctx),
            };
            match engine.uninstall(&self.release, &self.namespace, &opts).await {
                Ok(report) => {
                    // The binary does not say what it deleted; the recorded engine does.
                    let deleted = if report.deleted.is_empty() { String::new() } else { format!(": {} manifest objects deleted", report.deleted.len()) };
                    let mut detail = format!("uninstalled {}{deleted}{}", self.release, engine_note(&report.engine));
                    if !report.kept.is_empty() {
                        detail.push_str(&format!(", {} kept by resource policy", report.kept.len()));
                        ctx.finding(report.message.clone());
                    }
                    Ok(StepOutcome::done(detail))
                }
                Err(e) if self.ignore_not_found && matches!(e.failure(), Some(crate::helm::Failure::NotFound | crate::helm::Failure::ReleaseNotLoaded(_))) => {
                    Ok(StepOutcome::done(format!("release {} not installed", self.release)))
                }
                Err(e) => Err(helm_step_error(e)),
            }
        })
    }
}

/// Helm's own failures fail the step; a missing or too old `helm` is an environment problem.
pub(crate) fn helm_step_error(e: crate::helm::HelmError) -> StepError {
    if e.is_environment() { StepError::Environment(e.to_string()) } else { StepError::Failed(e.to_string()) }
}
