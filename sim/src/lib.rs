//! cleanroom-sim: an embedded Kubernetes cluster served over real HTTP on loopback.
//!
//! Layout: `api/` is the HTTP surface (routing, discovery, codecs, errors, patches),
//! `store/` holds objects, versions and watch fan-out, `server` implements the API
//! semantics (defaulting, validation, admission, deletion), `controllers/`, `admission/`,
//! `nodes/` and `operators/` are the behaviour of a kind cluster.

pub mod api;
pub mod registry;
pub mod store;
pub mod cluster;

pub use cluster::{SimCluster, SimError, SimOptions};
pub mod controllers;
pub mod events;
pub mod http;
pub mod nodes;
pub mod server;
pub mod storage;
pub mod admission;
pub mod operators;

/// What a new cluster looks like (nodes, storage) — filled in by `setup_cluster`.
#[derive(Debug, Clone)]
pub struct ClusterSetup {
    pub name: String,
    pub workers: usize,
    pub root: std::path::PathBuf,
}

/// Create the cluster's initial objects and start its controllers; returns their tasks.
pub fn setup_cluster(
    server: &std::sync::Arc<server::ApiServer>,
    setup: &ClusterSetup,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    use std::sync::Arc;
    let specs = nodes::create_nodes(server, &setup.name, setup.workers, &setup.root);
    nodes::system::install(server, &specs);
    *server.nodes_root.write() = Some(setup.root.clone());
    // Kubelets finish pod deletions (containers stopped, then the pod object is removed).
    server.graceful_pods.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all = controllers::builtin();
    all.extend(controllers::workloads(server));
    for spec in &specs {
        all.push(Arc::new(nodes::kubelet::Kubelet::new(spec, &setup.root)));
    }
    all.into_iter().map(|c| controllers::spawn(server.clone(), c, shutdown.clone())).chain(storage::install_storage_and_admission(server, setup, shutdown.clone())).collect()
}
