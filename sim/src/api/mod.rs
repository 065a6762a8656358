//! Pure Kubernetes API algorithms and types, with no server state: Status errors, object
//! helpers, label/field selectors, patches, server-side apply, validation, table printing
//! and the protobuf codec. The bottom of the stack: imports nothing else of the crate.

pub mod cron;
pub mod decode;
pub mod errors;
pub mod hpa_convert;
pub mod object;
pub mod patch;
pub mod quantity;
pub mod ssa;
pub mod selectors;
pub mod protobuf;
pub mod validation;
pub mod table;
