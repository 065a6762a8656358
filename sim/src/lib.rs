//! cleanroom-sim: an embedded Kubernetes cluster served over real HTTP on loopback.
//!
//! Layout, bottom to top (a module imports only modules below it; see `sim/LAYERS`):
//! - `registry`, `api`: served types and discovery; pure API algorithms (errors, object
//!   helpers, selectors, patches, apply, validation, tables, protobuf);
//! - `store`: objects, resource versions and the watch log;
//! - `server`: the API semantics (defaulting, writes, deletion, lists, the admission chain,
//!   eviction and other subresources);
//! - `events`, then the behaviour of a kind cluster: `admission` (webhooks, ServiceAccount),
//!   `controllers`, `nodes` (Node objects, filesystems, kubelets), `storage`, `operators`;
//! - `http`: the HTTP surface (routing, decoding, encoding, discovery, watch, OpenAPI);
//! - `cluster`: assembles all of it into a running `SimCluster`.

pub mod admission;
pub mod api;
pub mod cluster;
pub mod controllers;
pub mod events;
pub mod http;
pub mod kind_manifests;
pub mod nodes;
pub mod operators;
pub mod registry;
pub mod server;
pub mod storage;
pub mod store;

pub use cluster::{SimCluster, SimError, SimOptions};
pub use controllers::clock::{Clock, Timing};

