//! The HTTP API surface: routing, discovery, codecs, errors, patches, selectors, tables.

pub mod errors;
pub mod patch;
pub mod ssa;
pub mod selectors;
pub mod protobuf;
pub mod validation;
pub mod table;
