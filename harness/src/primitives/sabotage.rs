//! Sabotage: plant the leftovers that real uninstalls leave, so scenarios can prove a purge and the oracle
//! catch them. Every planted object carries `cleanroom.dev/planted=true` and the run label
//! (`cleanroom.dev/run=<id>`), plus any `labels` given, so teardown can always find and remove it.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use kube::api::{Patch, PatchParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Primitive, StepContext, StepError, StepOutcome, dyn_api, ops};

pub const PLANTED_LABEL: &str = "cleanroom.dev/planted";

fn planted_labels(ctx: &StepContext, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut l = ops::with_run_label(ctx, user);
    l.insert(PLANTED_LABEL.into(), "true".into());
    l
}

async fn plant(ctx: &mut StepContext, obj: serde_json::Value) -> Result<StepOutcome, StepError> {
    let (objref, _) = ops::apply_value(ctx, obj, None).await?;
    Ok(StepOutcome::done(format!("planted {}", objref.display())))
}

/// A PVC naming a storage class that does not exist: it stays Pending forever.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "SabotagePvcMissingClass")]
pub struct PvcMissingClass {
    pub name: String,
    pub namespace: String,
    #[serde(default = "missing_class")]
    pub storage_class: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn missing_class() -> String {
    "cleanroom-missing-class".into()
}

impl Primitive for PvcMissingClass {
    fn describe(&self) -> String {
        format!("planting PVC {}/{} with missing storage class {}", self.namespace, self.name, self.storage_class)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let obj = json!({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": self.name, "namespace": self.namespace, "labels": planted_labels(ctx, &self.labels)},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": self.storage_class,
                         "resources": {"requests": {"storage": "1Gi"}}},
            });
            plant(ctx, obj).await
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WebhookType {
    #[default]
    Validating,
    Mutating,
}

/// A webhook configuration with `failurePolicy: Fail` whose service does not exist. It only matches objects
/// labelled `cleanroom.dev/webhook-target=true` unless `matchLabels` says otherwise, so it blocks exactly
/// what the scenario aims it at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "SabotageWebhookFailClosed")]
pub struct WebhookFailClosed {
    pub name: String,
    #[serde(default)]
    pub webhook_type: WebhookType,
    #[serde(default = "missing_service")]
    pub service: String,
    #[serde(default = "missing_service_ns")]
    pub service_namespace: String,
    /// Resources as `group/resource` (core: just `resource`), default `configmaps`.
    #[serde(default = "default_resources")]
    pub resources: Vec<String>,
    #[serde(default = "default_target")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn missing_service() -> String {
    "cleanroom-missing-webhook".into()
}
fn missing_service_ns() -> String {
    "default".into()
}
fn default_resources() -> Vec<String> {
    vec!["configmaps".into()]
}
fn default_target() -> BTreeMap<String, String> {
    [("cleanroom.dev/webhook-target".to_string(), "true".to_string())].into()
}

impl Primitive for WebhookFailClosed {
    fn describe(&self) -> String {
        format!("planting {:?}WebhookConfiguration {}", self.webhook_type, self.name)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let kind = match self.webhook_type {
                WebhookType::Validating => "ValidatingWebhookConfiguration",
                WebhookType::Mutating => "MutatingWebhookConfiguration",
            };
            let rules: Vec<serde_json::Value> = self
                .resources
                .iter()
                .map(|r| {
                    let (g, res) = r.rsplit_once('/').unwrap_or(("", r));
                    json!({"apiGroups": [g], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": [res], "scope": "*"})
                })
                .collect();
            let hook_name = format!("{}.cleanroom.dev", self.name);
            let obj = json!({
                "apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
                "metadata": {"name": self.name, "labels": planted_labels(ctx, &self.labels)},
                "webhooks": [{
                    "name": hook_name,
                    "clientConfig": {"service": {"name": self.service, "namespace": self.service_namespace, "path": "/validate", "port": 443}},
                    "rules": rules,
                    "failurePolicy": "Fail",
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "timeoutSeconds": 10,
                    "objectSelector": {"matchLabels": self.match_labels},
                }],
            });
            plant(ctx, obj).await
        })
    }
}

/// A CRD nothing owns (as Helm leaves `crds/` behind on uninstall).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "SabotageOrphanCrd")]
pub struct OrphanCrd {
    #[serde(default = "sabotage_group")]
    pub group: String,
    #[serde(default = "widget")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn sabotage_group() -> String {
    "sabotage.cleanroom.dev".into()
}
fn widget() -> String {
    "Widget".into()
}

impl Primitive for OrphanCrd {
    fn describe(&self) -> String {
        format!("planting CRD {}.{}", self.kind, self.group)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let singular = self.kind.to_ascii_lowercase();
            let plural = format!("{singular}s");
            let obj = json!({
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": format!("{plural}.{}", self.group), "labels": planted_labels(ctx, &self.labels)},
                "spec": {
                    "group": self.group, "scope": "Namespaced",
                    "names": {"kind": self.kind, "plural": plural, "singular": singular, "listKind": format!("{}List", self.kind)},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
                },
            });
            plant(ctx, obj).await
        })
    }
}

/// A StatefulSet left from an earlier install (0 replicas, so it needs no controller to be stale).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "SabotageStaleStatefulSet")]
pub struct StaleStatefulSet {
    pub name: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Primitive for StaleStatefulSet {
    fn describe(&self) -> String {
        format!("planting StatefulSet {}/{}", self.namespace, self.name)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let sel = json!({"app.kubernetes.io/name": self.name});
            let obj = json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": self.name, "namespace": self.namespace, "labels": planted_labels(ctx, &self.labels)},
                "spec": {
                    "replicas": 0, "serviceName": self.name,
                    "selector": {"matchLabels": sel},
                    "template": {"metadata": {"labels": sel},
                        "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}]}},
                },
            });
            plant(ctx, obj).await
        })
    }
}

/// A ClusterRole left from an earlier install.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "SabotageStaleClusterRole")]
pub struct StaleClusterRole {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Primitive for StaleClusterRole {
    fn describe(&self) -> String {
        format!("planting ClusterRole {}", self.name)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let obj = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": self.name, "labels": planted_labels(ctx, &self.labels)},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
            });
            plant(ctx, obj).await
        })
    }
}

/// A PersistentVolume in phase Released (reclaim policy Retain, claim gone), as a StatefulSet's volume
/// stays after its PVC is deleted.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "SabotageReleasedPv")]
pub struct ReleasedPv {
    pub name: String,
    #[serde(default = "standard")]
    pub storage_class: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn standard() -> String {
    "standard".into()
}

impl Primitive for ReleasedPv {
    fn describe(&self) -> String {
        format!("planting Released PersistentVolume {}", self.name)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let obj = json!({
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": self.name, "labels": planted_labels(ctx, &self.labels)},
                "spec": {
                    "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain", "storageClassName": self.storage_class,
                    "hostPath": {"path": format!("/var/local-path-provisioner/{}", self.name)},
                    "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "default",
                                 "name": format!("{}-claim", self.name), "uid": "00000000-0000-0000-0000-000000000000"},
                },
            });
            let (objref, _) = ops::apply_value(ctx, obj, None).await?;
            let r = objref.resolved();
            let api = dyn_api(&ctx.client, &r, None);
            let status = json!({"status": {"phase": "Released"}});
            api.patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&status))
                .await
                .map_err(StepError::kube(format!("setting PersistentVolume {} to Released", self.name)))?;
            Ok(StepOutcome::done(format!("planted Released PersistentVolume {}", self.name)))
        })
    }
}
