//! The CRD finalizer: deletes every custom resource of a deleting CRD, then releases it.

use serde_json::json;

use crate::api::object;
use super::Controller;
use crate::server::{meta, ApiServer, DeleteOptions};
use crate::store::StoreEvent;

const FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";
const KEY: &str = "apiextensions.k8s.io/customresourcedefinitions";

pub struct CrdFinalizer;

impl Controller for CrdFinalizer {
    fn name(&self) -> &'static str {
        "crd-finalizer"
    }

    fn observe(&self, server: &ApiServer, ev: &StoreEvent) -> bool {
        if &*ev.key == KEY {
            return object::is_deleting(&ev.object);
        }
        // A custom resource went away: a deleting CRD may now be empty.
        ev.kind == crate::store::EventType::Deleted && ev.key.contains('/') && {
            let (crds, _) = server.store.list(KEY, None);
            crds.iter().any(|c| object::is_deleting(c))
        }
    }

    fn reconcile(&self, server: &ApiServer) {
        let (crds, _) = server.store.list(KEY, None);
        for crd in crds.iter().filter(|c| object::is_deleting(c) && object::finalizers(c).iter().any(|f| f == FINALIZER)) {
            let group = crd.pointer("/spec/group").and_then(|g| g.as_str()).unwrap_or("");
            let plural = crd.pointer("/spec/names/plural").and_then(|g| g.as_str()).unwrap_or("");
            let key = crate::registry::ResourceType::storage_key(group, plural);
            let types = crate::registry::crd_types(crd);
            let Some(rt) = types.first() else { continue };
            let (items, _) = server.store.list(&key, None);
            for item in items.iter().filter(|i| !object::is_deleting(i)) {
                let ns = object::str_at(item, "/metadata/namespace");
                let _ = server.delete(rt, ns, object::name_of(item), &DeleteOptions::default());
            }
            let (left, _) = server.store.list(&key, None);
            let name = object::name_of(crd).to_string();
            if left.is_empty() {
                if let Ok(crdrt) = server.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions") {
                    let _ = server.remove_finalizer(&crdrt, None, &name, FINALIZER);
                }
            } else {
                let _ = server.store.modify::<()>(KEY, "", &name, |cur| {
                    let mut next = (**cur).clone();
                    let Some(conds) = next.pointer_mut("/status/conditions").and_then(|c| c.as_array_mut()) else { return Ok(None) };
                    let mut changed = false;
                    for c in conds.iter_mut().filter(|c| c["type"] == "Terminating") {
                        if c["reason"] != "InstanceDeletionInProgress" {
                            *c = json!({"type": "Terminating", "status": "True", "lastTransitionTime": meta::now_rfc3339(), "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress"});
                            changed = true;
                        }
                    }
                    Ok(changed.then_some(next))
                });
            }
        }
    }
}
