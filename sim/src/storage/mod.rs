//! kind's storage: the default StorageClass `standard`, the local-path provisioner, the PV
//! controller (binding, phases, reclaim) and the PVC/PV protection controllers; plus the one
//! place where storage, admission webhooks and emulated operators are installed.

pub mod admission;
pub mod protection;
pub mod provisioner;
pub mod pv_controller;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::errors::ApiResult;
use crate::server::{ApiServer, Operation, WriteOptions};
use crate::ClusterSetup;

/// The objects kind applies from `/kind/manifests/default-storage.yaml`.
const KIND_STORAGE_MANIFEST: &str = include_str!("kind-storage.yaml");

/// The provisioner name of kind's local-path provisioner.
pub const LOCAL_PATH_PROVISIONER: &str = "rancher.io/local-path";
/// Where local-path keeps volumes on every node (`config.json` nodePathMap).
pub const LOCAL_PATH_BASE: &str = "/var/local-path-provisioner";

/// A node's filesystem root inside the cluster directory (same layout as `crate::nodes`).
pub fn node_root(root: &Path, node: &str) -> PathBuf {
    root.join("nodes").join(node)
}

/// A path inside a node's filesystem (`/var/...` → `<root>/nodes/<node>/var/...`).
pub fn node_path(root: &Path, node: &str, abs: &str) -> PathBuf {
    node_root(root, node).join(abs.trim_start_matches('/'))
}

// ---------------------------------------------------------------------------------------
// Storage, admission and operator registration: the one call `setup_cluster` makes.
// ---------------------------------------------------------------------------------------

/// Install kind's storage objects, the storage and webhook admission plugins, and start the
/// PV / protection / provisioner controllers and the emulated operators.
pub fn install_storage_and_admission(server: &Arc<ApiServer>, setup: &ClusterSetup, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    // Order as in kube-apiserver's mutating chain: DefaultStorageClass,
    // StorageObjectInUseProtection, then the webhook plugins.
    server.add_admission(Arc::new(crate::admission::serviceaccount::ServiceAccountAdmission));
    server.add_admission(Arc::new(admission::DefaultStorageClass));
    server.add_admission(Arc::new(admission::StorageObjectInUseProtection));
    let webhooks = Arc::new(crate::admission::WebhookAdmission::new());
    server.add_admission(webhooks.clone());

    apply_kind_manifest(server);

    let operators = crate::operators::builtin();
    for op in &operators {
        if let Some(r) = op.webhook_responder() {
            webhooks.add_responder(r);
        }
    }

    let controllers: Vec<Arc<dyn crate::controllers::Controller>> = vec![
        Arc::new(pv_controller::PvController::default()),
        Arc::new(provisioner::LocalPathProvisioner::new(setup.root.clone())),
        Arc::new(protection::PvcProtection::default()),
        Arc::new(protection::PvProtection),
        Arc::new(crate::operators::OperatorController::new(operators)),
        Arc::new(crate::operators::certgen::Certgen::default()),
    ];
    controllers.into_iter().map(|c| crate::controllers::spawn(server.clone(), c, shutdown.clone())).collect()
}

fn apply_kind_manifest(server: &ApiServer) {
    let docs: Vec<Value> = serde_saphyr::from_multiple(KIND_STORAGE_MANIFEST).expect("kind storage manifest parses");
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
