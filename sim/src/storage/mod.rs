//! kind's storage: the default StorageClass `standard`, the storage admission plugins, the
//! local-path provisioner, the PV controller (binding, phases, reclaim) and the PVC/PV
//! protection controllers. `crate::cluster` registers them.

pub mod admission;
pub mod protection;
pub mod provisioner;
pub mod pv_controller;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::api::errors::ApiResult;
use crate::server::{ApiServer, Operation, WriteOptions};

/// The provisioner name of kind's local-path provisioner.
pub const LOCAL_PATH_PROVISIONER: &str = "rancher.io/local-path";
/// Where local-path keeps volumes on every node (`config.json` nodePathMap).
pub const LOCAL_PATH_BASE: &str = "/var/local-path-provisioner";

/// A path inside a node's filesystem (`/var/...` → `<root>/nodes/<node>/var/...`).
pub fn node_path(root: &Path, node: &str, abs: &str) -> PathBuf {
    crate::nodes::node_root(root, node).join(abs.trim_start_matches('/'))
}

/// Create kind's default storage objects (`/kind/manifests/default-storage.yaml`: the
/// `standard` StorageClass); an object that already exists is left alone.
pub fn apply_default_storage(server: &ApiServer) {
    let docs: Vec<Value> = crate::kind_manifests::storage();
    for doc in docs {
        let av = doc["apiVersion"].as_str().unwrap_or("").to_string();
        let kind = doc["kind"].as_str().unwrap_or("").to_string();
        let Some(rt) = server.registry.by_kind(&av, &kind) else {
            tracing::warn!("kind storage manifest: no resource for {av} {kind}");
            continue;
        };
        let ns = doc.pointer("/metadata/namespace").and_then(|n| n.as_str()).map(String::from);
        let opts = WriteOptions { field_manager: Some("kubectl-client-side-apply".into()), ..Default::default() };
        if let Err(e) = server.create(&rt, ns.as_deref(), doc, &opts)
            && e.reason != "AlreadyExists"
        {
            tracing::warn!("kind storage manifest: cannot create {kind}: {e}");
        }
    }
}

/// Read-modify-write of one object (or its status) as a controller; `f` returns the desired
/// object. No-op writes are not stored.
#[allow(clippy::too_many_arguments)]
pub(crate) fn update_object(
    server: &ApiServer,
    group: &str,
    version: &str,
    plural: &str,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    manager: &str,
    f: impl Fn(&Value) -> Value,
) -> ApiResult<Arc<Value>> {
    let rt = server.resource(group, version, plural)?;
    let opts = WriteOptions { field_manager: Some(manager.to_string()), ..Default::default() };
    server.guaranteed_update(&rt, ns.unwrap_or(""), name, sub, &opts, Operation::Update, |cur| Ok(f(cur)))
}
