//! cleanroom: a scenario test harness for Helm charts on Kubernetes, with a whole-cluster clean-state oracle.
//!
//! Layout (a catalogue): `scenario/` is the file format, `primitives/<family>.rs` the step library,
//! `oracle/` the inventory and leftover diff, `runner/` executes scenarios, `providers/` give clusters,
//! `report/` writes report.json, junit.xml and summary.md, `cli/` is the command line.

pub mod cli;
pub mod helm;
pub mod oracle;
pub mod providers;
pub mod primitives;
pub mod report;
pub mod runner;
pub mod scenario;

/// Label on everything a run creates or plants: `cleanroom.dev/run=<run id>`.
pub const RUN_LABEL: &str = "cleanroom.dev/run";
