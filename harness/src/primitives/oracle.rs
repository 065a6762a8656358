//! `oracle.snapshot`, `oracle.assert-clean`.

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Primitive, StepContext, StepError, StepOutcome};
use cleanroom_core::duration::StepTimeout;

use crate::oracle::{self, ChurnRule, SettleOptions};

/// Take an inventory of every object of every listable type, under a name.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "OracleSnapshot")]
pub struct Snapshot {
    #[serde(default = "baseline")]
    pub name: String,
}

fn baseline() -> String {
    "baseline".into()
}

impl Primitive for Snapshot {
    fn describe(&self) -> String {
        format!("snapshot `{}` of the whole cluster", self.name)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let inv = oracle::snapshot(&ctx.client).await.map_err(|e| StepError::Failed(e.to_string()))?;
            let detail = format!("{} objects of {} types", inv.objects.len(), inv.resource_types);
            ctx.snapshots.insert(self.name.clone(), inv);
            Ok(StepOutcome::done(detail))
        })
    }
}

/// Fail when any object was added or changed since the baseline (expected churn aside),
/// naming each leftover with the likely reason it survived.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "OracleAssertClean")]
pub struct AssertClean {
    #[serde(default = "baseline")]
    pub baseline: String,
    /// Extra expected churn for this check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<ChurnRule>,
    /// Use the documented default churn rules (default true).
    #[serde(default = "super::namespace::yes")]
    pub default_churn: bool,
    /// Wait up to this long, by watching, until nothing is in flight (terminating objects, Delete-policy
    /// volumes being reclaimed, dependents awaiting the garbage collector) before deciding; `0s` looks once.
    /// Default 50s (kube-controller-manager's garbage collector learns of new CRD types every 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle: Option<StepTimeout>,
}

impl Primitive for AssertClean {
    fn describe(&self) -> String {
        format!("the cluster to match snapshot `{}`", self.baseline)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let base = ctx.snapshots.get(&self.baseline).ok_or_else(|| {
                StepError::Failed(format!(
                    "no snapshot named `{}`; add `oracle.snapshot: {{name: {}}}` before this step",
                    self.baseline, self.baseline
                ))
            })?;
            let settle = SettleOptions { timeout: self.settle.map(|t| t.0).unwrap_or(SettleOptions::default().timeout), ..Default::default() };
            let mut rules = if self.default_churn { oracle::default_churn() } else { Vec::new() };
            rules.extend(self.ignore.iter().cloned());
            let check = oracle::Check { churn: &rules, purges: &ctx.purges, origins: &ctx.origins, settle };
            let (d, current) = oracle::settled_diff(&ctx.client, base, check).await.map_err(|e| StepError::Failed(e.to_string()))?;
            ctx.leftovers = d.leftovers.clone();
            if d.is_clean() {
                return Ok(StepOutcome::done(format!(
                    "clean: {} objects match `{}` ({} churn ignored)",
                    current.objects.len(),
                    self.baseline,
                    d.ignored
                )));
            }
            // After a procedure claimed to clean up, each survivor is something the procedure taught.
            if ctx.procedures > 0 {
                for l in &d.leftovers {
                    ctx.finding(format!("survived the procedure: {}", l.line()));
                }
            }
            Err(StepError::Leftovers { baseline: self.baseline.clone(), count: d.leftovers.len(), listing: d.listing() })
        })
    }
}
