//! The admission chain's plugin interface and kube-apiserver's built-in NamespaceLifecycle
//! plugin. Which plugins run, in which order, is decided in `crate::cluster`.

use serde_json::Value;

use super::ApiServer;
use crate::api::errors::{ApiError, ApiResult, Cause};
use crate::api::object;
use crate::registry::ResourceType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

pub struct AdmissionRequest<'a> {
    pub op: Operation,
    pub rt: &'a ResourceType,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub subresource: Option<&'a str>,
    /// The object being written (mutable for mutating plugins); None on DELETE.
    pub object: Option<&'a mut Value>,
    pub old: Option<&'a Value>,
    pub dry_run: bool,
}

/// One admission plugin. `admit` is the mutating phase (runs before object validation and
/// may change the object); `validate` is the validating phase (runs after it).
pub trait AdmissionPlugin: Send + Sync {
    fn name(&self) -> &str;
    fn admit(&self, server: &ApiServer, req: &mut AdmissionRequest<'_>) -> ApiResult<()>;
    fn validate(&self, _server: &ApiServer, _req: &mut AdmissionRequest<'_>) -> ApiResult<()> {
        Ok(())
    }
}

/// NamespaceLifecycle: no creates in missing or terminating namespaces; system namespaces
/// cannot be deleted.
pub struct NamespaceLifecycle;

const IMMORTAL: [&str; 3] = ["default", "kube-system", "kube-public"];

impl AdmissionPlugin for NamespaceLifecycle {
    fn name(&self) -> &str {
        "NamespaceLifecycle"
    }

    fn admit(&self, server: &ApiServer, req: &mut AdmissionRequest<'_>) -> ApiResult<()> {
        let is_ns = req.rt.group.is_empty() && req.rt.kind == "Namespace";
        if is_ns && req.op == Operation::Delete && IMMORTAL.contains(&req.name) {
            return Err(ApiError::forbidden("namespaces", "", req.name, "this namespace may not be deleted"));
        }
        if req.op != Operation::Create || !req.rt.namespaced {
            return Ok(());
        }
        let Some(ns) = req.namespace else { return Ok(()) };
        match server.store.get("namespaces", "", ns) {
            None => Err(ApiError::not_found("namespaces", "", ns)),
            Some(nsobj) => {
                let terminating = nsobj.pointer("/status/phase").and_then(|p| p.as_str()) == Some("Terminating")
                    || object::is_deleting(&nsobj);
                // Events may still be written into a terminating namespace.
                if terminating && req.rt.kind != "Event" {
                    let mut e = ApiError::forbidden(
                        &req.rt.plural,
                        &req.rt.group,
                        req.name,
                        &format!("unable to create new content in namespace {ns} because it is being terminated"),
                    );
                    if let Some(d) = e.details.as_mut() {
                        d.causes.push(Cause::new("NamespaceTerminating", format!("namespace {ns} is being terminated"), "metadata.namespace"));
                    }
                    Err(e)
                } else {
                    Ok(())
                }
            }
        }
    }
}
