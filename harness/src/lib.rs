//! cleanroom: a scenario test harness for Helm charts on Kubernetes, with a whole-cluster clean-state oracle.
//!
//! The stack, top to bottom (each module imports only those below it; `LAYERS` is checked by
//! `tests/layers.rs`): `cli/` the command line → `report/` report.json, junit.xml, summary.md → `runner/`
//! executes scenarios → `scenario/` the file format → `primitives/<family>.rs` the step library →
//! `providers/` give clusters → the crates [`oracle`] (inventory, diff, reasons), [`helm`] (engines) and
//! [`core`] (discovery, dynamic APIs, selectors, durations, hints, redaction).

pub mod cli;
pub mod primitives;
pub mod providers;
pub mod report;
pub mod runner;
pub mod scenario;

pub use cleanroom_core as core;
pub use cleanroom_core::RUN_LABEL;
/// The Helm engines (recorded renders, the helm binary).
pub use cleanroom_helm as helm;
/// The clean-state oracle (inventory, diff, reasons).
pub use cleanroom_oracle as oracle;
