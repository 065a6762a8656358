//! `cluster.ensure`, `cluster.reset`.

use futures::future::BoxFuture;
use kube::api::{Api, ListParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Primitive, Resolved, StepContext, StepError, StepOutcome, ops};
use crate::oracle;

/// Check the cluster answers: server version and a namespace list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ClusterEnsure")]
pub struct Ensure {}

impl Primitive for Ensure {
    fn describe(&self) -> String {
        "the cluster to answer".into()
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let v = ctx.client.apiserver_version().await.map_err(StepError::kube("reading the server version"))?;
            let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
            let list = ns.list_metadata(&ListParams::default()).await.map_err(StepError::kube("listing namespaces"))?;
            Ok(StepOutcome::done(format!("server {} with {} namespaces", v.git_version, list.items.len())))
        })
    }
}

/// Delete everything added since a snapshot (default: the one the runner takes at the start).
/// Expected churn is left alone. Finalizers are only removed with `removeFinalizers: true`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "ClusterReset")]
pub struct Reset {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    #[serde(default)]
    pub remove_finalizers: bool,
}

pub const RUN_START_SNAPSHOT: &str = "run-start";

impl Primitive for Reset {
    fn describe(&self) -> String {
        format!("the cluster to return to snapshot `{}`", self.baseline.as_deref().unwrap_or(RUN_START_SNAPSHOT))
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let name = self.baseline.as_deref().unwrap_or(RUN_START_SNAPSHOT);
            let base = ctx.snapshots.get(name).cloned().ok_or_else(|| {
                StepError::Failed(format!("no snapshot named `{name}`; take one with oracle.snapshot first"))
            })?;
            let current = oracle::snapshot(&ctx.client).await.map_err(|e| StepError::Failed(e.to_string()))?;
            let d = oracle::diff(&base, &current, &oracle::default_churn(), &[]);
            let added: Vec<&oracle::Leftover> =
                d.leftovers.iter().filter(|l| l.change == oracle::ChangeKind::Added).collect();
            // Namespaced objects first, cluster-scoped objects after, then namespaces, then volumes (a volume
            // is held by pv-protection until the claim in its namespace is gone), CRDs last.
            let mut order: Vec<&oracle::Leftover> = added.clone();
            order.sort_by_key(|l| match (l.namespace.is_some(), l.kind.as_str()) {
                (true, _) => 0,
                (false, "CustomResourceDefinition") => 4,
                (false, "PersistentVolume") => 3,
                (false, "Namespace") => 2,
                _ => 1,
            });
            // Objects inside an added namespace go with it.
            let added_ns: std::collections::HashSet<String> =
                added.iter().filter(|l| l.kind == "Namespace" && l.group.is_empty()).map(|l| l.name.clone()).collect();
            order.retain(|l| l.namespace.as_ref().is_none_or(|ns| !added_ns.contains(ns)));
            let mut deleted = 0;
            for l in order {
                let api_version = if l.group.is_empty() { None } else { Some(l.group.clone()) };
                let r: Resolved = match ctx.resolve(api_version.as_deref(), &l.kind).await {
                    Ok(r) => r,
                    Err(_) => continue, // its type went away with a CRD
                };
                if self.remove_finalizers {
                    super::purge::strip_finalizers(ctx, &r, l.namespace.as_deref(), &l.name).await?;
                }
                if let Some(uid) = ops::delete(&ctx.client, &r, l.namespace.as_deref(), &l.name).await? {
                    ctx.observe(format!("deleting {}", l.line()));
                    ops::wait_gone(&ctx.client, &r, l.namespace.as_deref(), &l.name, &uid).await?;
                    deleted += 1;
                }
            }
            Ok(StepOutcome::done(format!("deleted {deleted} object(s) added since `{name}`")))
        })
    }
}
