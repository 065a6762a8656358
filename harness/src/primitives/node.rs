//! Node primitives: the seam for node operations (cordon, drain, kubelet restart, mounts, ...).
//! Skipped with a reason until a provider offers the `nodes` capability.

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Primitive, StepContext, StepError, StepOutcome};

fn not_available(ctx: &StepContext, what: &str) -> StepOutcome {
    StepOutcome::skip(format!("{what} is not yet available on provider `{}` (needs the nodes capability)", ctx.provider))
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NodeCordon")]
pub struct Cordon {
    pub node: String,
}

impl Primitive for Cordon {
    fn describe(&self) -> String {
        format!("cordon node {}", self.node)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move { Ok(not_available(ctx, "node.cordon")) })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NodeDrain")]
pub struct Drain {
    pub node: String,
}

impl Primitive for Drain {
    fn describe(&self) -> String {
        format!("drain node {}", self.node)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move { Ok(not_available(ctx, "node.drain")) })
    }
}
