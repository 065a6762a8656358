//! cleanroom-core: the small shared pieces every cleanroom crate stands on, with no knowledge of
//! scenarios, providers or reports.
//!
//! - [`resources`]: discovery, kind → resource lookup, dynamic APIs, object references;
//! - [`selectors`]: label selectors matched client-side;
//! - [`duration`]: `30s` / `2m` / `500ms` as scenario files write them;
//! - [`hints`]: "did you mean" for misspelt names;
//! - [`redact`]: masking credentials in text and Secret values in object dumps.

pub mod duration;
pub mod hints;
pub mod redact;
pub mod resources;
pub mod selectors;

/// Label on everything a run creates or plants: `cleanroom.dev/run=<run id>`.
pub const RUN_LABEL: &str = "cleanroom.dev/run";
