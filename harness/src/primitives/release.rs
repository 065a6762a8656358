//! Helm release primitives beyond install/upgrade/uninstall: `helm.test`, `helm.rollback`,
//! `helm.template`, `helm.repo-add`, `assert.release` and `wait.release` (every workload of a release
//! Ready, its Jobs complete), plus the no-op upgrade check `cleanroom chart` runs.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::helm::{Install, engine_note, helm_step_error, helm_timeout};
use super::wait::{await_object, daemonset_complete, deployment_complete, statefulset_complete};
use super::{Primitive, StepContext, StepError, StepOutcome};
use crate::helm::{HelmEngine, binary_for};

fn engine(ctx: &StepContext, what: &str) -> Result<std::sync::Arc<dyn HelmEngine>, StepOutcome> {
    ctx.helm.clone().ok_or_else(|| StepOutcome::skip(format!("{what}: provider `{}` has no Helm engine", ctx.provider)))
}

macro_rules! engine_or_skip {
    ($ctx:expr, $what:literal) => {
        match engine($ctx, $what) {
            Ok(e) => e,
            Err(skip) => return Ok(skip),
        }
    };
}

/// `binary`, or return its skip or error from the step.
macro_rules! binary_or_return {
    ($ctx:expr, $e:expr, $what:literal) => {
        match binary($ctx, $e.as_ref(), $what) {
            Ok(c) => c,
            Err(r) => return r,
        }
    };
}

/// An action only the binary runs: skipped (with the reason) when the release went through a recorded
/// render and there is no binary.
fn binary<'e>(ctx: &StepContext, e: &'e dyn HelmEngine, what: &str) -> Result<&'e crate::helm::HelmCli, Result<StepOutcome, StepError>> {
    binary_for(e, what).map_err(|err| if ctx.requires_helm { Ok(StepOutcome::skip(err.to_string())) } else { Err(StepError::Environment(err.to_string())) })
}

/// `helm test`: runs the chart's test hooks; fails when any test did not succeed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Test {
    pub release: String,
    pub namespace: String,
}

impl Primitive for Test {
    fn describe(&self) -> String {
        format!("helm test {}", self.release)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let e = engine_or_skip!(ctx, "helm.test");
            let cli = binary_or_return!(ctx, e, "helm.test");
            let report = cli.test(&self.release, &self.namespace, helm_timeout(ctx)).await.map_err(helm_step_error)?;
            let failed: Vec<String> = report.tests.iter().filter(|(_, p)| p != "Succeeded").map(|(n, p)| format!("{n}: {p}")).collect();
            if !failed.is_empty() {
                return Err(StepError::Failed(format!("helm test {}: {}", self.release, failed.join(", "))));
            }
            let names: Vec<&str> = report.tests.iter().map(|(n, _)| n.as_str()).collect();
            Ok(StepOutcome::done(if names.is_empty() {
                format!("helm test {}: the chart has no test hooks", self.release)
            } else {
                format!("helm test {}: {} succeeded ({})", self.release, names.len(), names.join(", "))
            }))
        })
    }
}

/// `helm rollback` to a revision (default: the previous one).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rollback {
    pub release: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    #[serde(default)]
    pub wait: bool,
}

impl Primitive for Rollback {
    fn describe(&self) -> String {
        format!("helm rollback {}", self.release)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let e = engine_or_skip!(ctx, "helm.rollback");
            let cli = binary_or_return!(ctx, e, "helm.rollback");
            let info = cli.rollback(&self.release, &self.namespace, self.revision, self.wait, helm_timeout(ctx)).await.map_err(helm_step_error)?;
            let to = self.revision.map(|r| format!("revision {r}")).unwrap_or_else(|| "the previous revision".into());
            Ok(StepOutcome::done(format!("rolled {} back to {to}: now revision {} {}", self.release, info.revision, info.status)))
        })
    }
}

/// `helm template --include-crds`: renders the chart (no cluster change); `out` keeps the render.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Template {
    #[serde(flatten)]
    pub chart: Install,
    /// Write the render here (relative to the scenario file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
}

impl Primitive for Template {
    fn describe(&self) -> String {
        format!("helm template {} {}", self.chart.release, self.chart.chart)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let e = engine_or_skip!(ctx, "helm.template");
            let cli = binary_or_return!(ctx, e, "helm.template");
            let req = self.chart.request(ctx, Some(helm_timeout(ctx)));
            let text = cli.template(&req).await.map_err(helm_step_error)?;
            let objects = crate::helm::parse_render(&text).map(|r| r.templates.len() + r.crds.len()).unwrap_or(0);
            if let Some(out) = &self.out {
                let path = ctx.base_dir.join(out);
                std::fs::write(&path, &text).map_err(|e| StepError::Failed(format!("cannot write {}: {e}", path.display())))?;
            }
            Ok(StepOutcome::done(format!("rendered {} {}: {objects} objects", self.chart.release, self.chart.chart)))
        })
    }
}

/// `helm repo add NAME URL --force-update`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RepoAdd {
    pub name: String,
    pub url: String,
}

impl Primitive for RepoAdd {
    fn describe(&self) -> String {
        format!("helm repo add {} {}", self.name, self.url)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let e = engine_or_skip!(ctx, "helm.repo-add");
            let cli = binary_or_return!(ctx, e, "helm.repo-add");
            let out = cli.repo_add(&self.name, &self.url).await.map_err(helm_step_error)?;
            Ok(StepOutcome::done(out))
        })
    }
}

/// A release's state: status, revision, chart version, and a subset of its computed values.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AssertRelease {
    pub release: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_version: Option<String>,
    /// Must be contained in `helm get values --all` (maps compared key by key, other values equal).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, serde_json::Value>,
}

/// Where `want` is not contained in `have`: `a.b: expected 1, found 2`.
pub fn subset_mismatches(want: &serde_json::Value, have: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match (want, have) {
        (serde_json::Value::Object(w), serde_json::Value::Object(h)) => {
            for (k, wv) in w {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match h.get(k) {
                    Some(hv) => subset_mismatches(wv, hv, &p, out),
                    None => out.push(format!("{p}: expected {wv}, not set")),
                }
            }
        }
        (w, h) if w != h => out.push(format!("{path}: expected {w}, found {h}")),
        _ => {}
    }
}

impl Primitive for AssertRelease {
    fn describe(&self) -> String {
        format!("release {}/{}", self.namespace, self.release)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let e = engine_or_skip!(ctx, "assert.release");
            let info = e.status(&self.release, &self.namespace).await.map_err(helm_step_error)?;
            let mut wrong = vec![];
            if let Some(s) = self.status.as_ref().filter(|s| **s != info.status) {
                wrong.push(format!("status: expected {s}, found {}", info.status));
            }
            if let Some(r) = self.revision.filter(|r| *r != info.revision) {
                wrong.push(format!("revision: expected {r}, found {}", info.revision));
            }
            if let Some(v) = self.chart_version.as_ref().filter(|v| **v != info.chart_version) {
                wrong.push(format!("chart version: expected {v}, found {}", info.chart_version));
            }
            if !self.values.is_empty() {
                let cli = binary_or_return!(ctx, e, "assert.release values");
                let have = cli.values(&self.release, &self.namespace).await.map_err(helm_step_error)?;
                let want = serde_json::to_value(&self.values).unwrap_or_default();
                // Value texts may be passwords: name the keys only.
                let mut m = vec![];
                subset_mismatches(&want, &have, "", &mut m);
                wrong.extend(m.into_iter().map(|l| format!("values {}: differs", l.split(':').next().unwrap_or_default())));
            }
            if !wrong.is_empty() {
                return Err(StepError::Failed(format!("release {}/{}: {}", self.namespace, self.release, wrong.join("; "))));
            }
            Ok(StepOutcome::done(format!(
                "release {} revision {} {} ({}-{}){}",
                self.release,
                info.revision,
                info.status,
                info.chart_name,
                info.chart_version,
                engine_note(&info.engine)
            )))
        })
    }
}

/// Every Deployment, StatefulSet and DaemonSet of a release rolled out, every Job complete.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WaitRelease {
    pub release: String,
    pub namespace: String,
}

fn job_complete(j: &Job) -> Result<(), String> {
    let conds = j.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    if conds.iter().any(|c| c.type_ == "Complete" && c.status == "True") {
        Ok(())
    } else if let Some(c) = conds.iter().find(|c| c.type_ == "Failed" && c.status == "True") {
        Err(format!("failed: {}", c.message.clone().unwrap_or_default()))
    } else {
        Err("not complete".into())
    }
}

impl Primitive for WaitRelease {
    fn describe(&self) -> String {
        format!("the workloads of release {}/{} to be Ready", self.namespace, self.release)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let e = engine_or_skip!(ctx, "wait.release");
            let info = e.status(&self.release, &self.namespace).await.map_err(helm_step_error)?;
            let mut done = vec![];
            for r in &info.resources {
                let ns = r.namespace.clone().unwrap_or_else(|| self.namespace.clone());
                let c = ctx.client.clone();
                let name = r.name.as_str();
                match r.kind.as_str() {
                    "Deployment" => {
                        await_object(ctx, Api::<Deployment>::namespaced(c, &ns), name, |o| o.is_some_and(|d| deployment_complete(d).is_ok()), |o| o.map_or("not found".into(), |d| format!("Deployment {name}: {}", deployment_complete(d).err().unwrap_or_default()))).await?;
                    }
                    "StatefulSet" => {
                        await_object(ctx, Api::<StatefulSet>::namespaced(c, &ns), name, |o| o.is_some_and(|d| statefulset_complete(d).is_ok()), |o| o.map_or("not found".into(), |d| format!("StatefulSet {name}: {}", statefulset_complete(d).err().unwrap_or_default()))).await?;
                    }
                    "DaemonSet" => {
                        await_object(ctx, Api::<DaemonSet>::namespaced(c, &ns), name, |o| o.is_some_and(|d| daemonset_complete(d).is_ok()), |o| o.map_or("not found".into(), |d| format!("DaemonSet {name}: {}", daemonset_complete(d).err().unwrap_or_default()))).await?;
                    }
                    "Job" => {
                        let j = await_object(ctx, Api::<Job>::namespaced(c, &ns), name, |o| o.is_some_and(|j| job_complete(j).is_ok() || job_complete(j).is_err_and(|e| e.starts_with("failed"))), |o| o.map_or("not found".into(), |j| format!("Job {name}: {}", job_complete(j).err().unwrap_or_default()))).await?;
                        if let Some(Err(why)) = j.as_ref().map(job_complete) {
                            return Err(StepError::Failed(format!("Job {ns}/{name} {why}")));
                        }
                    }
                    _ => continue,
                }
                done.push(format!("{} {name}", r.kind));
            }
            Ok(StepOutcome::done(if done.is_empty() {
                format!("release {} has no workloads", self.release)
            } else {
                format!("release {} ready: {}", self.release, done.join(", "))
            }))
        })
    }
}
