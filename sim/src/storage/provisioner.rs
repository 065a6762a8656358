//! kind's local-path provisioner (rancher/local-path-provisioner v0.0.34 with the vendored
//! sig-storage-lib-external-provisioner): provisions `pvc-<uid>` hostPath volumes on the
//! selected node and deletes them (and their directory) when a Delete-policy volume is
//! Released. The helper pods the real one runs are not emulated; their effect (the
//! directory) is.

use std::collections::HashSet;
use std::path::PathBuf;

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::api::object;
use super::pv_controller::{ann, uid, ANN_PROVISIONED_BY, ANN_SELECTED_NODE, ANN_STORAGE_PROVISIONER};
use super::{node_path, LOCAL_PATH_BASE, LOCAL_PATH_PROVISIONER};
use crate::controllers::Controller;
use crate::controllers::clock::{Clock, Deadlines, Latency, Timing};
use crate::events::{self, EventType};
use crate::server::{ApiServer, DeleteOptions, WriteOptions};
use crate::store::StoreEvent;

pub struct LocalPathProvisioner {
    root: PathBuf,
    /// The library's identity: `<provisioner>_<pod name>_<uuid>`, the source of its events.
    instance: String,
    emitted: Mutex<HashSet<(String, String)>>,
    /// `Timing::Kind`: a Released volume is deleted after its helper pod's latency.
    timing: Timing,
    clock: Clock,
    deletions: Deadlines,
}

impl LocalPathProvisioner {
    pub fn new(root: PathBuf) -> Self {
        LocalPathProvisioner {
            root,
            instance: uuid::Uuid::new_v4().to_string(),
            emitted: Mutex::new(HashSet::new()),
            timing: Timing::Instant,
            clock: Clock::default(),
            deletions: Deadlines::default(),
        }
    }

    /// With `timing`'s latency on the cluster's `clock`.
    pub fn with_timing(self, clock: Clock, timing: Timing) -> Self {
        LocalPathProvisioner { clock, timing, ..self }
    }

    fn component(&self, server: &ApiServer) -> String {
        let (pods, _) = server.store.list("pods", Some("local-path-storage"));
        let pod = pods
            .iter()
            .find(|p| object::name_of(p).starts_with("local-path-provisioner-") && !object::is_deleting(p))
            .map(|p| object::name_of(p).to_string())
            .unwrap_or_else(|| "local-path-provisioner".to_string());
        format!("{LOCAL_PATH_PROVISIONER}_{pod}_{}", self.instance)
    }

    fn event(&self, server: &ApiServer, obj: &Value, ty: EventType, reason: &str, message: &str) {
        if self.emitted.lock().insert((uid(obj).to_string(), format!("{reason}/{message}"))) {
            events::record(server, obj, ty, reason, message, &self.component(server), None);
        }
    }

    fn provision(&self, server: &ApiServer, pvc: &Value) {
        let class_name = object::str_at(pvc, "/spec/storageClassName").unwrap_or("").to_string();
        let Some(sc) = server.store.get("storage.k8s.io/storageclasses", "", &class_name) else { return };
        if object::str_at(&sc, "/provisioner") != Some(LOCAL_PATH_PROVISIONER) {
            return;
        }
        let ns = object::str_at(pvc, "/metadata/namespace").unwrap_or("").to_string();
        let name = object::name_of(pvc).to_string();
        let pv_name = format!("pvc-{}", uid(pvc));
        if server.store.get("persistentvolumes", "", &pv_name).is_some() {
            return;
        }
        let wffc = object::str_at(&sc, "/volumeBindingMode") == Some("WaitForFirstConsumer");
        let selected = ann(pvc, ANN_SELECTED_NODE).map(String::from);
        // The library does not start delayed-binding claims until a node is selected.
        if wffc && selected.is_none() {
            return;
        }
        self.event(server, pvc, EventType::Normal, "Provisioning", &format!("External provisioner is provisioning volume for claim \"{ns}/{name}\""));
        let fail = |msg: &str| {
            self.event(server, pvc, EventType::Warning, "ProvisioningFailed", &format!("failed to provision volume with StorageClass {class_name:?}: {msg}"));
        };
        if pvc.pointer("/spec/selector").is_some_and(|s| !s.is_null()) {
            return fail("claim.Spec.Selector is not supported");
        }
        let modes: Vec<String> = pvc.pointer("/spec/accessModes").and_then(|a| a.as_array()).map(|a| a.iter().filter_map(|m| m.as_str().map(String::from)).collect()).unwrap_or_default();
        if modes.iter().any(|m| m != "ReadWriteOnce" && m != "ReadWriteOncePod") {
            return fail("NodePath only supports ReadWriteOnce and ReadWriteOncePod (1.22+) access modes");
        }
        let Some(node) = selected else { return fail("configuration error, no node was specified") };
        let Some(node_obj) = server.store.get("nodes", "", &node) else {
            return fail(&format!("failed to get node {node}: nodes {node:?} not found"));
        };
        let hostname = object::labels(&node_obj).and_then(|l| l.get("kubernetes.io/hostname")).and_then(|h| h.as_str()).unwrap_or(&node).to_string();
        let dir = format!("{LOCAL_PATH_BASE}/{pv_name}_{ns}_{name}");
        // What the helper pod's `setup` does: mkdir -m 0777 -p "$VOL_DIR".
        let host_dir = node_path(&self.root, &node, &dir);
        if let Err(e) = std::fs::create_dir_all(&host_dir) {
            return fail(&format!("failed to create volume {pv_name}: {e}"));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&host_dir, std::fs::Permissions::from_mode(0o777));
        }
        let capacity = pvc.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("0"));
        let pv = json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {
                "name": pv_name,
                "annotations": {"local.path.provisioner/selected-node": node, ANN_PROVISIONED_BY: LOCAL_PATH_PROVISIONER},
            },
            "spec": {
                "accessModes": modes,
                "capacity": {"storage": capacity},
                "claimRef": {
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns, "name": name, "uid": uid(pvc),
                    "resourceVersion": object::str_at(pvc, "/metadata/resourceVersion").unwrap_or(""),
                },
                "hostPath": {"path": dir, "type": "DirectoryOrCreate"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [hostname]}]}]}},
                "persistentVolumeReclaimPolicy": object::str_at(&sc, "/reclaimPolicy").unwrap_or("Delete"),
                "storageClassName": class_name,
                "volumeMode": object::str_at(pvc, "/spec/volumeMode").unwrap_or("Filesystem"),
            },
        });
        let Ok(rt) = server.resource("", "v1", "persistentvolumes") else { return };
        let opts = WriteOptions { field_manager: Some("local-path-provisioner".into()), ..Default::default() };
        match server.create(&rt, None, pv, &opts) {
            Ok(_) => self.event(server, pvc, EventType::Normal, "ProvisioningSucceeded", &format!("Successfully provisioned volume {pv_name}")),
            Err(e) if e.reason == "AlreadyExists" => {}
            Err(e) => fail(&e.message),
        }
    }

    /// A Released volume with Delete policy that this provisioner made: run `teardown`
    /// (rm -rf the directory; skipped when the node is gone) and delete the PV.
    fn delete_volume(&self, server: &ApiServer, pv: &Value) {
        let name = object::name_of(pv).to_string();
        let node = ann(pv, "local.path.provisioner/selected-node").unwrap_or("").to_string();
        let path = object::str_at(pv, "/spec/hostPath/path").or_else(|| object::str_at(pv, "/spec/local/path"));
        if let Some(path) = path
            && !node.is_empty()
            && server.store.get("nodes", "", &node).is_some()
            && let Err(e) = std::fs::remove_dir_all(node_path(&self.root, &node, path))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            self.event(server, pv, EventType::Warning, "VolumeFailedDelete", &format!("failed to delete volume {name}: {e}"));
            return;
        }
        if let Ok(rt) = server.resource("", "v1", "persistentvolumes") {
            let _ = server.delete(&rt, None, &name, &DeleteOptions::default());
        }
    }
}

impl Controller for LocalPathProvisioner {
    fn name(&self) -> &'static str {
        "local-path-provisioner"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        matches!(&*ev.key, "persistentvolumeclaims" | "persistentvolumes" | "storage.k8s.io/storageclasses" | "nodes")
    }

    fn next_wake(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.deletions.next()
    }

    fn reconcile(&self, server: &ApiServer) {
        let (pvcs, _) = server.store.list("persistentvolumeclaims", None);
        for pvc in &pvcs {
            let unbound = object::str_at(pvc, "/spec/volumeName").unwrap_or("").is_empty();
            if unbound && !object::is_deleting(pvc) && ann(pvc, ANN_STORAGE_PROVISIONER) == Some(LOCAL_PATH_PROVISIONER) {
                self.provision(server, pvc);
            }
        }
        let (pvs, _) = server.store.list("persistentvolumes", None);
        for pv in &pvs {
            let ours = ann(pv, ANN_PROVISIONED_BY) == Some(LOCAL_PATH_PROVISIONER);
            let released = object::str_at(pv, "/status/phase") == Some("Released");
            let delete = object::str_at(pv, "/spec/persistentVolumeReclaimPolicy") == Some("Delete");
            if ours && released && delete && !object::is_deleting(pv) {
                let uid = uid(pv);
                if self.deletions.due(uid, self.clock.now(), self.timing.delay(Latency::VolumeDeletion, uid)) {
                    self.deletions.clear(uid);
                    self.delete_volume(server, pv);
                }
            }
        }
    }
}
