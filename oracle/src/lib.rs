//! cleanroom-oracle: prove a Kubernetes cluster is back to a clean state.
//!
//! [`snapshot`] lists every object of every listable resource type (built-ins and CRDs, paginated,
//! concurrently) into an [`Inventory`] of metadata — never Secret data. [`diff`] compares two inventories
//! and names every object that was added or changed since the baseline, except expected churn
//! ([`default_churn`]), each with the likely [`Reason`] it survived (a finalizer, a gone owner,
//! `helm.sh/resource-policy: keep`, a label a purge selector could not match, ...). [`settle`] first waits,
//! by watching, until nothing is in flight (terminating objects, Delete-policy volumes being reclaimed,
//! dependents awaiting the garbage collector). [`check_clean`] is all three in one call against a live
//! cluster.
//!
//! It depends on nothing of the scenario runner: use it from your own tests with a kube-rs client.
//!
//! ```no_run
//! # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
//! // In a `#[tokio::test]` of your own:
//! let client = kube::Client::try_default().await?;
//! let baseline = cleanroom_oracle::snapshot(&client).await?;
//!
//! // ... install your chart, exercise it, uninstall it ...
//!
//! // Purges you ran explain leftovers better ("label app=x differs from the purged value `y`").
//! let purges = [cleanroom_oracle::PurgeRecord::selector("app.kubernetes.io/instance=demo")];
//! let diff = cleanroom_oracle::check_clean(&client, &baseline, &purges).await?;
//! assert!(diff.is_clean(), "leftovers:\n{}", diff.listing());
//! # Ok(()) }
//! ```
//!
//! Inventories serialize to JSON ([`Inventory::write`], [`Inventory::read`]), so a baseline can be taken
//! in one process and checked in another (`cleanroom snapshot` / `cleanroom diff`).

pub mod churn;
pub mod diff;
pub mod inventory;
mod listing;
pub mod reasons;
pub mod settle;

pub use churn::{ChangeKind, ChurnRule, default_churn};
pub use diff::{Diff, Leftover, diff};
pub use inventory::{Inventory, InventoryError, ObjectEntry, OwnerRef, snapshot};
pub use reasons::{Origin, Reason, attribute};
pub use settle::{InFlight, Settled, SettleOptions, settle};

/// A purge that ran: the oracle uses it to explain why a leftover survived.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurgeRecord {
    pub selector: String,
    /// Kinds the purge covered (empty: all).
    pub kinds: Vec<String>,
    pub namespace: Option<String>,
}

impl PurgeRecord {
    /// A purge of every kind in every namespace by a label selector.
    pub fn selector(selector: impl Into<String>) -> Self {
        PurgeRecord { selector: selector.into(), kinds: Vec::new(), namespace: None }
    }
}

/// Wait (by watching, up to 30 s) until nothing is in flight, then diff the cluster against `baseline` with
/// the default churn rules. Leftovers still in flight at the timeout say so.
pub async fn check_clean(client: &kube::Client, baseline: &Inventory, purges: &[PurgeRecord]) -> Result<Diff, InventoryError> {
    let check = Check { churn: &default_churn(), purges, origins: &[], settle: SettleOptions::default() };
    Ok(settled_diff(client, baseline, check).await?.0)
}

/// What a clean-state check compares with, besides its baseline.
pub struct Check<'a> {
    pub churn: &'a [ChurnRule],
    pub purges: &'a [PurgeRecord],
    /// Objects the run's own steps made (leftover reasons name the step).
    pub origins: &'a [Origin],
    pub settle: SettleOptions,
}

/// The one clean-state check: settle (watch until nothing is in flight, or the timeout), diff against
/// `baseline`, mark what is still in flight, name the steps that made the rest. Returns the diff and the
/// settled inventory.
pub async fn settled_diff(client: &kube::Client, baseline: &Inventory, check: Check<'_>) -> Result<(Diff, Inventory), InventoryError> {
    let settled = settle(client, check.settle).await?;
    let mut d = diff(baseline, &settled.inventory, check.churn, check.purges);
    settled.mark(&mut d);
    attribute(&mut d, check.origins);
    Ok((d, settled.inventory))
}
