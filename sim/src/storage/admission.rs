//! The storage admission plugins kind's kube-apiserver runs: DefaultStorageClass and
//! StorageObjectInUseProtection (K8S `plugin/pkg/admission/storage/...`).

use serde_json::{json, Value};

use crate::api::errors::ApiResult;
use crate::api::object;
use crate::server::{AdmissionPlugin, AdmissionRequest, ApiServer, Operation};

pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";
pub const DEFAULT_CLASS_ANN: &str = "storageclass.kubernetes.io/is-default-class";
const DEFAULT_CLASS_ANN_BETA: &str = "storageclass.beta.kubernetes.io/is-default-class";

fn is_core(req: &AdmissionRequest<'_>, kind: &str) -> bool {
    req.rt.group.is_empty() && req.rt.kind == kind && req.subresource.is_none()
}

/// Is this StorageClass marked default?
pub fn is_default_class(sc: &Value) -> bool {
    [DEFAULT_CLASS_ANN, DEFAULT_CLASS_ANN_BETA]
        .iter()
        .any(|a| sc.pointer("/metadata/annotations").and_then(|m| m.get(*a)).and_then(|v| v.as_str()) == Some("true"))
}

/// The default class: the newest of those annotated default (ties broken by name).
pub fn default_class(server: &ApiServer) -> Option<String> {
    let (classes, _) = server.store.list("storage.k8s.io/storageclasses", None);
    classes
        .iter()
        .filter(|c| is_default_class(c))
        .max_by(|a, b| {
            let ta = object::str_at(a, "/metadata/creationTimestamp").unwrap_or("");
            let tb = object::str_at(b, "/metadata/creationTimestamp").unwrap_or("");
            ta.cmp(tb).then_with(|| object::name_of(b).cmp(object::name_of(a)))
        })
        .map(|c| object::name_of(c).to_string())
}

/// Sets `spec.storageClassName` of new PVCs that name none; an explicit `""` stays.
pub struct DefaultStorageClass;

impl AdmissionPlugin for DefaultStorageClass {
    fn name(&self) -> &str {
        "DefaultStorageClass"
    }

    fn admit(&self, server: &ApiServer, req: &mut AdmissionRequest<'_>) -> ApiResult<()> {
        if req.op != Operation::Create || !is_core(req, "PersistentVolumeClaim") {
            return Ok(());
        }
        let Some(obj) = req.object.as_deref_mut() else { return Ok(()) };
        let has_class = obj.pointer("/spec/storageClassName").is_some_and(|v| !v.is_null())
            || obj.pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class").is_some();
        if has_class {
            return Ok(());
        }
        if let Some(class) = default_class(server) {
            if !obj.get("spec").is_some_and(|s| s.is_object()) {
                obj["spec"] = json!({});
            }
            obj["spec"]["storageClassName"] = json!(class);
        }
        Ok(())
    }
}

/// Adds the protection finalizers to every new PVC and PV.
pub struct StorageObjectInUseProtection;

impl AdmissionPlugin for StorageObjectInUseProtection {
    fn name(&self) -> &str {
        "StorageObjectInUseProtection"
    }

    fn admit(&self, _server: &ApiServer, req: &mut AdmissionRequest<'_>) -> ApiResult<()> {
        if req.op != Operation::Create {
            return Ok(());
        }
        let finalizer = if is_core(req, "PersistentVolumeClaim") {
            PVC_PROTECTION
        } else if is_core(req, "PersistentVolume") {
            PV_PROTECTION
        } else {
            return Ok(());
        };
        let Some(obj) = req.object.as_deref_mut() else { return Ok(()) };
        let md = object::metadata_mut(obj);
        let list = md.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut()
            && !a.iter().any(|f| f.as_str() == Some(finalizer))
        {
            a.push(json!(finalizer));
        }
        Ok(())
    }
}
