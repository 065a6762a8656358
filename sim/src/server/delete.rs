//! DELETE semantics: preconditions, finalizers, propagation policies, graceful pods,
//! namespace and CRD termination.

use std::sync::Arc;

use serde_json::{json, Value};

use super::admission::{AdmissionRequest, Operation};
use super::list::ListOptions;
use super::meta::{self, now_rfc3339};
use crate::api::object::{self, metadata_mut, rv_of};
use super::ApiServer;
use crate::api::errors::{ApiError, ApiResult};
use crate::registry::ResourceType;
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            "Orphan" => Ok(Propagation::Orphan),
            other => Err(ApiError::invalid("DeleteOptions", "meta.k8s.io", "", vec![crate::api::errors::Cause::not_supported(
                "propagationPolicy", &json!(other), &["Foreground", "Background", "Orphan", "nil"])])),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Read a `DeleteOptions` body (JSON) merged over query parameters already parsed.
    pub fn merge_body(&mut self, body: &Value) -> ApiResult<()> {
        if let Some(p) = body.get("propagationPolicy").and_then(|p| p.as_str()) {
            self.propagation = Some(Propagation::parse(p)?);
        }
        if body.get("orphanDependents") == Some(&json!(true)) {
            self.propagation = Some(Propagation::Orphan);
        }
        if let Some(u) = body.pointer("/preconditions/uid").and_then(|u| u.as_str()) {
            self.precondition_uid = Some(u.to_string());
        }
        if let Some(r) = body.pointer("/preconditions/resourceVersion").and_then(|u| u.as_str()) {
            self.precondition_rv = Some(r.to_string());
        }
        if let Some(g) = body.get("gracePeriodSeconds").and_then(|g| g.as_i64()) {
            self.grace_period_seconds = Some(g);
        }
        if body.get("dryRun").and_then(|d| d.as_array()).is_some_and(|a| !a.is_empty()) {
            self.dry_run = true;
        }
        Ok(())
    }
}

/// What a DELETE answers: the object (still present, or returned by types that do so) or
/// a success Status.
#[derive(Debug, Clone)]
pub enum DeleteOutcome {
    /// Removed at once: `Status{status: Success, details}`.
    Removed(Arc<Value>),
    /// Deletion pending (finalizers / grace): the object with deletionTimestamp.
    Pending(Arc<Value>),
}

impl DeleteOutcome {
    pub fn object(&self) -> &Arc<Value> {
        match self {
            DeleteOutcome::Removed(o) | DeleteOutcome::Pending(o) => o,
        }
    }
}

impl ApiServer {
    pub fn delete(&self, rt: &ResourceType, ns: Option<&str>, name: &str, opts: &DeleteOptions) -> ApiResult<DeleteOutcome> {
        let nss = ns.unwrap_or("");
        for _ in 0..64 {
            let cur = self.store.get(&rt.key, nss, name).ok_or_else(|| ApiError::not_found(&rt.plural, &rt.group, name))?;
            if let Some(uid) = &opts.precondition_uid {
                let actual = object::str_at(&cur, "/metadata/uid").unwrap_or("");
                if uid != actual {
                    return Err(ApiError::conflict(&rt.plural, &rt.group, name, &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}")));
                }
            }
            if let Some(rv) = &opts.precondition_rv {
                let actual = object::str_at(&cur, "/metadata/resourceVersion").unwrap_or("");
                if rv != actual {
                    return Err(ApiError::conflict(&rt.plural, &rt.group, name, &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}")));
                }
            }
            let mut req = AdmissionRequest { op: Operation::Delete, rt, namespace: ns, name, subresource: None, object: None, old: Some(&cur), dry_run: opts.dry_run };
            self.run_admission(&mut req)?;
            self.run_validation_admission(&mut req)?;
            if opts.dry_run {
                return Ok(DeleteOutcome::Pending(cur));
            }
            if object::is_deleting(&cur) {
                // Already terminating: a Foreground request may still add its finalizer.
                if opts.propagation == Some(Propagation::Foreground) && !object::finalizers(&cur).iter().any(|f| f == "foregroundDeletion") {
                    let mut next = (*cur).clone();
                    add_finalizer(&mut next, "foregroundDeletion");
                    match self.store.update(&rt.key, nss, name, next, rv_of(&cur)) {
                        Ok(o) => return Ok(DeleteOutcome::Pending(meta::as_version(o, rt))),
                        Err(StoreError::Conflict) => continue,
                        Err(e) => return Err(self.store_err(rt, name, e)),
                    }
                }
                // A shorter grace period on a terminating pod: grace 0 (the kubelet's final
                // delete, or --force) removes it once no finalizers remain.
                let pod_grace = cur.pointer("/metadata/deletionGracePeriodSeconds").and_then(|g| g.as_i64()).unwrap_or(0);
                if rt.group.is_empty() && rt.kind == "Pod" && opts.grace_period_seconds == Some(0) && pod_grace > 0 {
                    let mut next = (*cur).clone();
                    metadata_mut(&mut next).insert("deletionGracePeriodSeconds".into(), json!(0));
                    if object::finalizers(&next).is_empty() {
                        match self.store.remove(&rt.key, nss, name, rv_of(&cur)) {
                            Ok(gone) => return Ok(DeleteOutcome::Removed(meta::as_version(gone, rt))),
                            Err(StoreError::Conflict) => continue,
                            Err(e) => return Err(self.store_err(rt, name, e)),
                        }
                    }
                    match self.store.update(&rt.key, nss, name, next, rv_of(&cur)) {
                        Ok(o) => return Ok(DeleteOutcome::Pending(meta::as_version(o, rt))),
                        Err(StoreError::Conflict) => continue,
                        Err(e) => return Err(self.store_err(rt, name, e)),
                    }
                }
                return Ok(DeleteOutcome::Pending(meta::as_version(cur, rt)));
            }
            let mut next = (*cur).clone();
            let is_ns = rt.group.is_empty() && rt.kind == "Namespace";
            let is_crd = rt.group == "apiextensions.k8s.io" && rt.kind == "CustomResourceDefinition";
            match opts.propagation {
                Some(Propagation::Foreground) => add_finalizer(&mut next, "foregroundDeletion"),
                Some(Propagation::Orphan) => add_finalizer(&mut next, "orphan"),
                _ => {}
            }
            if is_ns {
                next["status"] = json!({"phase": "Terminating"});
            }
            if is_crd {
                add_finalizer(&mut next, "customresourcecleanup.apiextensions.k8s.io");
                set_crd_terminating(&mut next);
            }
            let graceful_pod = rt.group.is_empty()
                && rt.kind == "Pod"
                && self.graceful_pods.load(std::sync::atomic::Ordering::Relaxed)
                && cur.pointer("/spec/nodeName").and_then(|n| n.as_str()).is_some_and(|n| !n.is_empty())
                && opts.grace_period_seconds != Some(0)
                && !matches!(cur.pointer("/status/phase").and_then(|p| p.as_str()), Some("Succeeded" | "Failed"));
            let keep = is_ns || graceful_pod || !object::finalizers(&next).is_empty();
            if keep {
                let md = metadata_mut(&mut next);
                md.insert("deletionTimestamp".into(), json!(now_rfc3339()));
                let grace = if graceful_pod {
                    opts.grace_period_seconds.or_else(|| cur.pointer("/spec/terminationGracePeriodSeconds").and_then(|g| g.as_i64())).unwrap_or(30)
                } else {
                    0
                };
                md.insert("deletionGracePeriodSeconds".into(), json!(grace));
                match self.store.update(&rt.key, nss, name, next, rv_of(&cur)) {
                    Ok(o) => return Ok(DeleteOutcome::Pending(meta::as_version(o, rt))),
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(self.store_err(rt, name, e)),
                }
            }
            match self.store.remove(&rt.key, nss, name, rv_of(&cur)) {
                Ok(gone) => {
                    self.after_remove(rt, &gone);
                    return Ok(DeleteOutcome::Removed(meta::as_version(gone, rt)));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(self.store_err(rt, name, e)),
            }
        }
        Err(ApiError::stale(&rt.plural, &rt.group, name))
    }

    /// DELETE on a collection: deletes every object matching the list options.
    pub fn delete_collection(&self, rt: &ResourceType, ns: Option<&str>, list: &ListOptions, opts: &DeleteOptions) -> ApiResult<Vec<Arc<Value>>> {
        let items = self.list(rt, ns, list)?.items;
        let mut out = Vec::new();
        for item in items {
            let name = object::name_of(&item).to_string();
            let ins = object::str_at(&item, "/metadata/namespace").map(String::from);
            match self.delete(rt, ins.as_deref(), &name, opts) {
                Ok(o) => out.push(o.object().clone()),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Remove a finalizer (controllers use this); completes deletion when it was the last.
    pub fn remove_finalizer(&self, rt: &ResourceType, ns: Option<&str>, name: &str, finalizer: &str) -> ApiResult<()> {
        let opts = super::WriteOptions { field_manager: Some("kube-controller-manager".into()), ..Default::default() };
        let r = self.guaranteed_update(rt, ns.unwrap_or(""), name, None, &opts, Operation::Update, |cur| {
            let mut next = cur.clone();
            if let Some(f) = next.pointer_mut("/metadata/finalizers").and_then(|f| f.as_array_mut()) {
                f.retain(|x| x.as_str() != Some(finalizer));
            }
            Ok(next)
        });
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn add_finalizer(obj: &mut Value, f: &str) {
    let md = metadata_mut(obj);
    let list = md.entry("finalizers").or_insert_with(|| json!([]));
    if let Some(a) = list.as_array_mut()
        && !a.iter().any(|x| x.as_str() == Some(f)) {
            a.push(json!(f));
        }
}

fn set_crd_terminating(crd: &mut Value) {
    let cond = json!({"type": "Terminating", "status": "True", "lastTransitionTime": now_rfc3339(), "reason": "InstanceDeletionPending", "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon"});
    let status = crd.as_object_mut().unwrap().entry("status").or_insert_with(|| json!({}));
    let conds = status.as_object_mut().unwrap().entry("conditions").or_insert_with(|| json!([]));
    if let Some(a) = conds.as_array_mut() {
        a.retain(|c| c["type"] != "Terminating");
        a.push(cond);
    }
}
