//! `namespace.create`, `namespace.delete` (delete-and-wait).

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Primitive, StepContext, StepError, StepOutcome, ops};

/// Create (server-side apply) a namespace. It carries the run label so teardown finds it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "NamespaceCreate")]
pub struct Create {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Primitive for Create {
    fn describe(&self) -> String {
        format!("namespace {} to be created", self.name)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let labels = ops::with_run_label(ctx, &self.labels);
            let obj = serde_json::json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": { "name": self.name, "labels": labels },
            });
            ops::apply_value(ctx, obj, None).await?;
            wait_default_service_account(ctx, &self.name).await?;
            Ok(StepOutcome::done(format!("namespace {} created", self.name)))
        })
    }
}

/// How long kube-controller-manager's serviceaccount controller may take to create `default`.
const DEFAULT_SA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Watch until the namespace's `default` ServiceAccount exists. On a real control plane it appears a
/// moment after the namespace, and until then the ServiceAccount admission plugin refuses every pod
/// ("serviceaccount \"default\" not found"); kubectl users meet the same race.
async fn wait_default_service_account(ctx: &mut StepContext, ns: &str) -> Result<(), StepError> {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let api: kube::Api<ServiceAccount> = kube::Api::namespaced(ctx.client.clone(), ns);
    let exists = |sa: Option<&ServiceAccount>| sa.is_some();
    match tokio::time::timeout(DEFAULT_SA_TIMEOUT, kube::runtime::wait::await_condition(api, "default", exists)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(StepError::Failed(format!("watching ServiceAccount {ns}/default: {e}"))),
        Err(_) => Err(StepError::Failed(format!(
            "namespace {ns} exists, but its ServiceAccount `default` did not appear within {}s (kube-controller-manager's \
             serviceaccount controller creates it; pods are refused until then)",
            DEFAULT_SA_TIMEOUT.as_secs()
        ))),
    }
}

/// Delete a namespace and (by default) wait until it is gone — including its contents.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "NamespaceDelete")]
pub struct Delete {
    pub name: String,
    #[serde(default = "yes")]
    pub wait: bool,
}

pub(crate) fn yes() -> bool {
    true
}

impl Primitive for Delete {
    fn describe(&self) -> String {
        format!("namespace {} to be deleted", self.name)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let r = ctx.resolve(Some("v1"), "Namespace").await?;
            let Some(uid) = ops::delete(&ctx.client, &r, None, &self.name).await? else {
                return Ok(StepOutcome::done(format!("namespace {} was already absent", self.name)));
            };
            if self.wait {
                ctx.observe(format!("namespace {} Terminating", self.name));
                ops::wait_gone(&ctx.client, &r, None, &self.name, &uid).await?;
            }
            Ok(StepOutcome::done(format!("namespace {} deleted", self.name)))
        })
    }
}
