//! The clean-state oracle: an inventory of every object in the cluster, and a diff against a baseline
//! that names every leftover with the likely reason it survived.

pub mod churn;
pub mod diff;
pub mod inventory;
pub mod reasons;

pub use churn::{ChangeKind, ChurnRule, default_churn};
pub use diff::{Diff, Leftover, diff};
pub use inventory::{Inventory, InventoryError, ObjectEntry, OwnerRef, snapshot};
pub use reasons::Reason;
