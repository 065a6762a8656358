//! Node operations for the harness (placeholder, filled in below).
pub struct NodeOps;
pub struct DrainOptions;
pub struct DrainReport;
pub struct Mount;
#[derive(Debug, thiserror::Error)]
pub enum NodeOpError { #[error("x")] X }
