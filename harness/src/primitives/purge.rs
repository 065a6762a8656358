//! Purges: delete by selector across kinds, CRDs by API group, Released PVs, and (loudly) remove finalizers.

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::PersistentVolume;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::ResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Primitive, PurgeRecord, Resolved, StepContext, StepError, StepOutcome, dyn_api, ops};

/// Delete every object matching `selector` in each of `kinds` (all namespaces unless `namespace`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "PurgeBySelector")]
pub struct BySelector {
    pub kinds: Vec<String>,
    pub selector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default = "super::namespace::yes")]
    pub wait: bool,
}

impl BySelector {
    pub fn validate(&self) -> Result<(), String> {
        if self.kinds.is_empty() {
            return Err("`kinds` is empty; list the kinds to purge".into());
        }
        if self.selector.trim().is_empty() {
            return Err("`selector` is empty; an empty selector would match everything".into());
        }
        Ok(())
    }
}

async fn delete_all(
    ctx: &mut StepContext,
    r: &Resolved,
    found: Vec<(Option<String>, String)>,
    wait: bool,
) -> Result<Vec<String>, StepError> {
    let mut gone = Vec::new();
    let mut uids = Vec::new();
    for (ns, name) in found {
        if let Some(uid) = ops::delete(&ctx.client, r, ns.as_deref(), &name).await? {
            uids.push((ns, name, uid));
        }
    }
    for (ns, name, uid) in uids {
        if wait {
            ctx.observe(format!("{} {}{name} to be gone", r.ar.kind, ns.as_deref().map(|n| format!("{n}/")).unwrap_or_default()));
            ops::wait_gone(&ctx.client, r, ns.as_deref(), &name, &uid).await?;
        }
        gone.push(format!("{} {}{name}", r.ar.kind, ns.as_deref().map(|n| format!("{n}/")).unwrap_or_default()));
    }
    Ok(gone)
}

impl Primitive for BySelector {
    fn describe(&self) -> String {
        format!("purge of {} with selector `{}`", self.kinds.join(", "), self.selector)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            ctx.purges.push(PurgeRecord {
                selector: self.selector.clone(),
                kinds: self.kinds.clone(),
                namespace: self.namespace.clone(),
            });
            let mut deleted = Vec::new();
            for kind in &self.kinds {
                let r = ctx.resolve(None, kind).await?;
                let api = dyn_api(&ctx.client, &r, self.namespace.as_deref());
                let list = api
                    .list(&ListParams::default().labels(&self.selector))
                    .await
                    .map_err(StepError::kube(format!("listing {kind} with `{}`", self.selector)))?;
                let found = list.items.iter().map(|o| (o.namespace(), o.name_any())).collect();
                deleted.extend(delete_all(ctx, &r, found, self.wait).await?);
            }
            Ok(StepOutcome::done(format!("deleted {} object(s){}", deleted.len(), summarize(&deleted))))
        })
    }
}

fn summarize(items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = items.iter().take(6).map(String::as_str).collect();
    let more = if items.len() > 6 { format!(", +{} more", items.len() - 6) } else { String::new() };
    format!(": {}{more}", shown.join(", "))
}

/// Delete every CustomResourceDefinition of an API group (and with it, all its custom resources).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "PurgeCrds")]
pub struct Crds {
    pub group: String,
    #[serde(default = "super::namespace::yes")]
    pub wait: bool,
}

impl Primitive for Crds {
    fn describe(&self) -> String {
        format!("deletion of the CRDs of group {}", self.group)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let api: Api<CustomResourceDefinition> = Api::all(ctx.client.clone());
            let list = api.list(&ListParams::default()).await.map_err(StepError::kube("listing CRDs"))?;
            let found: Vec<(Option<String>, String)> =
                list.items.iter().filter(|c| c.spec.group == self.group).map(|c| (None, c.name_any())).collect();
            let r = ctx.resolve(Some("apiextensions.k8s.io/v1"), "CustomResourceDefinition").await?;
            let deleted = delete_all(ctx, &r, found, self.wait).await?;
            ctx.refresh_resources().await?;
            Ok(StepOutcome::done(format!("deleted {} CRD(s) of {}{}", deleted.len(), self.group, summarize(&deleted))))
        })
    }
}

/// Delete PersistentVolumes in phase Released (optionally only those matching `selector`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "PurgeReleasedPvs")]
pub struct ReleasedPvs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    #[serde(default = "super::namespace::yes")]
    pub wait: bool,
}

impl Primitive for ReleasedPvs {
    fn describe(&self) -> String {
        "deletion of Released PersistentVolumes".into()
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let api: Api<PersistentVolume> = Api::all(ctx.client.clone());
            let mut lp = ListParams::default();
            if let Some(s) = &self.selector {
                lp = lp.labels(s);
            }
            let list = api.list(&lp).await.map_err(StepError::kube("listing PersistentVolumes"))?;
            let found: Vec<(Option<String>, String)> = list
                .items
                .iter()
                .filter(|pv| pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released"))
                .map(|pv| (None, pv.name_any()))
                .collect();
            let r = ctx.resolve(Some("v1"), "PersistentVolume").await?;
            let deleted = delete_all(ctx, &r, found, self.wait).await?;
            Ok(StepOutcome::done(format!("deleted {} Released PV(s){}", deleted.len(), summarize(&deleted))))
        })
    }
}

/// Remove every finalizer from matching objects. This bypasses the controllers that own them,
/// so it is reported loudly in the run output and the report's findings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "PurgeRemoveFinalizers")]
pub struct RemoveFinalizers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

/// Strip finalizers from one object; returns the ones removed.
pub async fn strip_finalizers(ctx: &mut StepContext, r: &Resolved, ns: Option<&str>, name: &str) -> Result<Vec<String>, StepError> {
    let api = dyn_api(&ctx.client, r, ns);
    let Some(obj) = api.get_opt(name).await.map_err(StepError::kube(format!("reading {} {name}", r.ar.kind)))? else {
        return Ok(vec![]);
    };
    let fins = obj.finalizers().to_vec();
    if fins.is_empty() {
        return Ok(fins);
    }
    let patch = serde_json::json!({"metadata": {"finalizers": null}});
    match api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(vec![]),
        Err(e) => return Err(StepError::Kube { action: format!("removing finalizers of {} {name}", r.ar.kind), source: e }),
    }
    let target = format!("{} {}{name}", r.ar.kind, ns.map(|n| format!("{n}/")).unwrap_or_default());
    ctx.loud_finding(format!("FINALIZERS REMOVED from {target}: {} (the controllers that own them were bypassed)", fins.join(", ")));
    Ok(fins)
}

impl Primitive for RemoveFinalizers {
    fn describe(&self) -> String {
        format!("removal of finalizers from {}", self.kind)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let r = ctx.resolve(self.api_version.as_deref(), &self.kind).await?;
            let targets: Vec<(Option<String>, String)> = match &self.name {
                Some(n) => vec![(self.namespace.clone(), n.clone())],
                None => {
                    let api = dyn_api(&ctx.client, &r, self.namespace.as_deref());
                    let mut lp = ListParams::default();
                    if let Some(s) = &self.selector {
                        lp = lp.labels(s);
                    }
                    let list = api.list(&lp).await.map_err(StepError::kube(format!("listing {}", self.kind)))?;
                    list.items.iter().map(|o| (o.namespace(), o.name_any())).collect()
                }
            };
            let mut touched = 0;
            for (ns, name) in targets {
                if !strip_finalizers(ctx, &r, ns.as_deref(), &name).await?.is_empty() {
                    touched += 1;
                }
            }
            Ok(StepOutcome::done(format!("FINALIZERS REMOVED from {touched} object(s)")))
        })
    }
}
