//! Helm primitives: the seam for the Helm issue. Until a provider offers the `helm` capability
//! they are skipped with a reason — never reported as passed.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Primitive, StepContext, StepError, StepOutcome};

fn not_available(ctx: &StepContext, what: &str) -> StepOutcome {
    StepOutcome::skip(format!("{what} is not yet available on provider `{}` (needs the helm capability)", ctx.provider))
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "HelmInstall")]
pub struct Install {
    pub release: String,
    pub chart: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub wait: bool,
}

impl Primitive for Install {
    fn describe(&self) -> String {
        format!("helm install {} {}", self.release, self.chart)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move { Ok(not_available(ctx, "helm.install")) })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "HelmUninstall")]
pub struct Uninstall {
    pub release: String,
    pub namespace: String,
    #[serde(default)]
    pub wait: bool,
}

impl Primitive for Uninstall {
    fn describe(&self) -> String {
        format!("helm uninstall {}", self.release)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move { Ok(not_available(ctx, "helm.uninstall")) })
    }
}
