//! Waits. All are watches (kube-runtime `watcher` / `watch_object`), never sleep-polling; the runner bounds
//! each with the step timeout, and the timeout error names what was awaited and what was seen last.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use futures::future::BoxFuture;
use futures::{StreamExt, pin_mut};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::watch_object;
use kube::{Resource, ResourceExt};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Primitive, StepContext, StepError, StepOutcome, dyn_api, ops};
use cleanroom_core::selectors::selector_matches;

mod eligibility;
mod gc_discovery;

pub use gc_discovery::GcDiscovery;

/// Watch one object until `done` holds; every update is described into `ctx.observed`.
pub async fn await_object<K>(
    ctx: &mut StepContext,
    api: Api<K>,
    name: &str,
    done: impl Fn(Option<&K>) -> bool,
    describe: impl Fn(Option<&K>) -> String,
) -> Result<Option<K>, StepError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let stream = watch_object(api, name).default_backoff();
    pin_mut!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(obj) => {
                if done(obj.as_ref()) {
                    return Ok(obj);
                }
                ctx.observe(describe(obj.as_ref()));
            }
            Err(e) => ctx.observe(format!("watch error (retrying): {e}")),
        }
    }
    Err(StepError::Failed(format!("the watch on {name} ended")))
}

/// Watch a set of objects until `check(all)` returns `Ok(())`; `Err(text)` describes what is missing.
pub async fn await_set<K>(
    ctx: &mut StepContext,
    api: Api<K>,
    config: watcher::Config,
    mut check: impl FnMut(&[&K]) -> Result<(), String>,
) -> Result<(), StepError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let stream = watcher::watcher(api, config).default_backoff();
    pin_mut!(stream);
    let mut store: HashMap<String, K> = HashMap::new();
    let mut init: HashMap<String, K> = HashMap::new();
    let mut ready = false;
    let key = |o: &K| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any());
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Init) => init.clear(),
            Ok(Event::InitApply(o)) => {
                init.insert(key(&o), o);
            }
            Ok(Event::InitDone) => {
                store = std::mem::take(&mut init);
                ready = true;
            }
            Ok(Event::Apply(o)) => {
                store.insert(key(&o), o);
            }
            Ok(Event::Delete(o)) => {
                store.remove(&key(&o));
            }
            Err(e) => ctx.observe(format!("watch error (retrying): {e}")),
        }
        if ready {
            let mut items: Vec<&K> = store.values().collect();
            items.sort_by_key(|o| o.name_any());
            match check(&items) {
                Ok(()) => return Ok(()),
                Err(seen) => ctx.observe(seen),
            }
        }
    }
    Err(StepError::Failed("the watch ended".into()))
}

pub fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pod_state(p: &Pod) -> String {
    let phase = p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".into());
    format!("{} {}{}", p.name_any(), phase, if pod_ready(p) { " Ready" } else { "" })
}

/// Pods matching a selector are Ready: at least `count`, and every non-terminating one.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "WaitPodsReady")]
pub struct PodsReady {
    pub namespace: String,
    pub selector: String,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

impl Primitive for PodsReady {
    fn describe(&self) -> String {
        format!("at least {} Ready pod(s) with selector `{}` in namespace {}", self.count, self.selector, self.namespace)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &self.namespace);
            let cfg = watcher::Config::default().labels(&self.selector);
            let mut n = 0;
            await_set(ctx, api, cfg, |pods| {
                let live: Vec<&&Pod> = pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
                n = live.len();
                if live.len() >= self.count as usize && live.iter().all(|p| pod_ready(p)) {
                    Ok(())
                } else if live.is_empty() {
                    Err("no matching pods yet".into())
                } else {
                    Err(live.iter().map(|p| pod_state(p)).collect::<Vec<_>>().join(", "))
                }
            })
            .await?;
            Ok(StepOutcome::done(format!("{n} pod(s) Ready")))
        })
    }
}

/// Kinds a rollout can be awaited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RolloutKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

/// The rollout of a Deployment, StatefulSet or DaemonSet is complete (as `kubectl rollout status`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "WaitRollout")]
pub struct Rollout {
    pub kind: RolloutKind,
    pub name: String,
    pub namespace: String,
}

impl Rollout {
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

fn gen_ok(meta: &kube::api::ObjectMeta, observed: Option<i64>) -> bool {
    observed.unwrap_or(0) >= meta.generation.unwrap_or(0)
}

pub fn deployment_complete(d: &Deployment) -> Result<(), String> {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let s = d.status.clone().unwrap_or_default();
    if !gen_ok(&d.metadata, s.observed_generation) {
        return Err("waiting for the controller to observe the new generation".into());
    }
    let (upd, avail, total) = (s.updated_replicas.unwrap_or(0), s.available_replicas.unwrap_or(0), s.replicas.unwrap_or(0));
    if upd >= want && avail >= want && total <= want {
        Ok(())
    } else {
        Err(format!("{upd}/{want} updated, {avail}/{want} available, {total} total"))
    }
}

pub fn statefulset_complete(d: &StatefulSet) -> Result<(), String> {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let s = d.status.clone().unwrap_or_default();
    if !gen_ok(&d.metadata, s.observed_generation) {
        return Err("waiting for the controller to observe the new generation".into());
    }
    let (ready, upd) = (s.ready_replicas.unwrap_or(0), s.updated_replicas.unwrap_or(0));
    if ready >= want && upd >= want {
        Ok(())
    } else {
        Err(format!("{ready}/{want} ready, {upd}/{want} updated"))
    }
}

pub fn daemonset_complete(d: &DaemonSet) -> Result<(), String> {
    let s = d.status.clone().unwrap_or_default();
    if !gen_ok(&d.metadata, s.observed_generation) {
        return Err("waiting for the controller to observe the new generation".into());
    }
    let want = s.desired_number_scheduled;
    let (upd, avail) = (s.updated_number_scheduled.unwrap_or(0), s.number_available.unwrap_or(0));
    if upd >= want && avail >= want {
        Ok(())
    } else {
        Err(format!("{upd}/{want} updated, {avail}/{want} available"))
    }
}

fn rollout_of<K>(check: fn(&K) -> Result<(), String>) -> (impl Fn(Option<&K>) -> bool, impl Fn(Option<&K>) -> String) {
    (
        move |o: Option<&K>| o.is_some_and(|o| check(o).is_ok()),
        move |o: Option<&K>| match o {
            None => "not found yet".to_string(),
            Some(o) => check(o).err().unwrap_or_default(),
        },
    )
}

impl Primitive for Rollout {
    fn describe(&self) -> String {
        format!("rollout of {:?} {}/{}", self.kind, self.namespace, self.name)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let (c, ns, n) = (ctx.client.clone(), self.namespace.as_str(), self.name.as_str());
            match self.kind {
                RolloutKind::Deployment => {
                    let (done, desc) = rollout_of(deployment_complete);
                    await_object(ctx, Api::<Deployment>::namespaced(c, ns), n, done, desc).await?;
                }
                RolloutKind::StatefulSet => {
                    let (done, desc) = rollout_of(statefulset_complete);
                    await_object(ctx, Api::<StatefulSet>::namespaced(c, ns), n, done, desc).await?;
                }
                RolloutKind::DaemonSet => {
                    let (done, desc) = rollout_of(daemonset_complete);
                    await_object(ctx, Api::<DaemonSet>::namespaced(c, ns), n, done, desc).await?;
                }
            }
            Ok(StepOutcome::done(format!("{:?} {ns}/{n} rolled out", self.kind)))
        })
    }
}

/// A DaemonSet has exactly one Ready pod on every node it is eligible for (taints, nodeSelector, affinity).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "WaitDaemonSetPerNode")]
pub struct DaemonSetPerNode {
    pub name: String,
    pub namespace: String,
}

impl Primitive for DaemonSetPerNode {
    fn describe(&self) -> String {
        format!("one Ready pod of DaemonSet {}/{} per eligible node", self.namespace, self.name)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let dsapi: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &self.namespace);
            let ds = await_object(ctx, dsapi, &self.name, |o| o.is_some(), |_| "DaemonSet not found yet".into())
                .await?
                .expect("present");
            let nodes: Api<Node> = Api::all(ctx.client.clone());
            let nodes = nodes.list(&Default::default()).await.map_err(StepError::kube("listing nodes"))?;
            let template = ds.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
            let eligible: Vec<String> =
                nodes.items.iter().filter(|n| eligibility::eligible(n, &template)).map(|n| n.name_any()).collect();
            let match_labels: BTreeMap<String, String> = ds
                .spec
                .as_ref()
                .and_then(|s| s.selector.match_labels.clone())
                .unwrap_or_default();
            let selector = match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            let uid = ds.uid().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &self.namespace);
            let cfg = watcher::Config::default().labels(&selector);
            let want = eligible.clone();
            await_set(ctx, api, cfg, |pods| {
                let mut per_node: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
                for p in pods.iter().filter(|p| {
                    selector_matches(&selector, &p.labels().clone())
                        && p.owner_references().iter().any(|o| o.uid == uid)
                        && p.metadata.deletion_timestamp.is_none()
                }) {
                    let node = p.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("");
                    let e = per_node.entry(node).or_default();
                    e.0 += 1;
                    e.1 += usize::from(pod_ready(p));
                }
                let missing: Vec<String> = want
                    .iter()
                    .filter(|n| per_node.get(n.as_str()).copied() != Some((1, 1)))
                    .map(|n| {
                        let (pods, ready) = per_node.get(n.as_str()).copied().unwrap_or((0, 0));
                        format!("{n}: {ready}/{pods} ready")
                    })
                    .collect();
                if missing.is_empty() { Ok(()) } else { Err(missing.join(", ")) }
            })
            .await?;
            Ok(StepOutcome::done(format!("one Ready pod on each of {} eligible node(s)", eligible.len())))
        })
    }
}

/// An object is gone.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "WaitDeleted")]
pub struct Deleted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Primitive for Deleted {
    fn describe(&self) -> String {
        format!("{} {}{} to be deleted", self.kind, self.namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default(), self.name)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let r = ctx.resolve(self.api_version.as_deref(), &self.kind).await?;
            ctx.observe("still present");
            ops::wait_gone(&ctx.client, &r, self.namespace.as_deref(), &self.name, "").await?;
            Ok(StepOutcome::done(format!("{} {} is gone", self.kind, self.name)))
        })
    }
}

/// A PersistentVolumeClaim is Bound.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "WaitPvcBound")]
pub struct PvcBound {
    pub name: String,
    pub namespace: String,
}

impl Primitive for PvcBound {
    fn describe(&self) -> String {
        format!("PersistentVolumeClaim {}/{} to be Bound", self.namespace, self.name)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &self.namespace);
            let phase = |o: Option<&PersistentVolumeClaim>| {
                o.and_then(|p| p.status.as_ref()).and_then(|s| s.phase.clone())
            };
            let pvc = await_object(ctx, api, &self.name, |o| phase(o).as_deref() == Some("Bound"), |o| match o {
                None => "not found yet".into(),
                Some(_) => format!("phase {}", phase(o).unwrap_or_else(|| "unset".into())),
            })
            .await?;
            let volume = pvc.and_then(|p| p.spec).and_then(|s| s.volume_name).unwrap_or_default();
            Ok(StepOutcome::done(format!("Bound to {volume}")))
        })
    }
}

/// A CustomResourceDefinition is Established.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WaitCrdEstablished")]
pub struct CrdEstablished {
    pub name: String,
}

impl Primitive for CrdEstablished {
    fn describe(&self) -> String {
        format!("CRD {} to be Established", self.name)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let api: Api<CustomResourceDefinition> = Api::all(ctx.client.clone());
            let cond = kube::runtime::wait::conditions::is_crd_established();
            use kube::runtime::wait::Condition;
            await_object(ctx, api, &self.name, |o| cond.matches_object(o), |o| {
                if o.is_none() { "not found yet".into() } else { "not Established yet".into() }
            })
            .await?;
            ctx.refresh_resources().await?;
            Ok(StepOutcome::done(format!("{} Established", self.name)))
        })
    }
}

/// Any object has `status.conditions[type]` with the given status (default `True`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "WaitConditionWait")]
pub struct ConditionWait {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default = "true_")]
    pub status: String,
}

fn true_() -> String {
    "True".into()
}

pub fn condition_status(o: &DynamicObject, type_: &str) -> Option<String> {
    o.data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(|t| t.as_str()) == Some(type_))
        .and_then(|c| c.get("status").and_then(|s| s.as_str()).map(str::to_string))
}

impl Primitive for ConditionWait {
    fn describe(&self) -> String {
        format!("{} {} to have condition {}={}", self.kind, self.name, self.type_, self.status)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let r = ctx.resolve(self.api_version.as_deref(), &self.kind).await?;
            let api = dyn_api(&ctx.client, &r, self.namespace.as_deref());
            let t = self.type_.clone();
            await_object(
                ctx,
                api,
                &self.name,
                |o| o.and_then(|o| condition_status(o, &self.type_)).as_deref() == Some(self.status.as_str()),
                |o| match o {
                    None => "not found yet".into(),
                    Some(o) => format!("{t}={}", condition_status(o, &t).unwrap_or_else(|| "absent".into())),
                },
            )
            .await?;
            Ok(StepOutcome::done(format!("{}={}", self.type_, self.status)))
        })
    }
}
