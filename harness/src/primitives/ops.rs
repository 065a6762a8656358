//! Shared object operations: apply, delete, wait-for-gone.

use kube::ResourceExt;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};

use super::{ObjRef, Resolved, StepContext, StepError, dyn_api};

pub const FIELD_MANAGER: &str = "cleanroom";

/// Server-side apply one object (JSON), tracking it for teardown.
pub async fn apply_value(
    ctx: &mut StepContext,
    mut obj: serde_json::Value,
    default_ns: Option<&str>,
) -> Result<(ObjRef, DynamicObject), StepError> {
    let api_version = obj.get("apiVersion").and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let kind = obj.get("kind").and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let name = obj.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or_default().to_string();
    if api_version.is_empty() || kind.is_empty() || name.is_empty() {
        return Err(StepError::Failed(format!(
            "manifest lacks apiVersion, kind or metadata.name (apiVersion={api_version:?}, kind={kind:?}, name={name:?})"
        )));
    }
    let r = ctx.resolve(Some(&api_version), &kind).await?;
    let ns = if r.namespaced {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .or_else(|| default_ns.map(str::to_string))
            .unwrap_or_else(|| "default".to_string());
        obj["metadata"]["namespace"] = ns.clone().into();
        Some(ns)
    } else {
        if let Some(m) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            m.remove("namespace");
        }
        None
    };
    let api = dyn_api(&ctx.client, &r, ns.as_deref());
    let applied = api
        .patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&obj))
        .await
        .map_err(StepError::kube(format!("applying {kind} {}{name}", ns.as_deref().map(|n| format!("{n}/")).unwrap_or_default())))?;
    let objref = ObjRef { api: r.ar.clone(), namespaced: r.namespaced, namespace: ns, name };
    ctx.track(objref.clone());
    Ok((objref, applied))
}

/// Delete an object; `Ok(None)` when it was already gone, else its uid.
pub async fn delete(client: &kube::Client, r: &Resolved, ns: Option<&str>, name: &str) -> Result<Option<String>, StepError> {
    let api = dyn_api(client, r, ns);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(either) => Ok(either.left().and_then(|o| o.uid()).or_else(|| Some(String::new()))),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(StepError::Kube { action: format!("deleting {} {name}", r.ar.kind), source: e }),
    }
}

/// Wait (watch-based) until the object with `uid` is gone. An empty uid waits for the name to disappear.
/// A type that disappears meanwhile (its CRD was deleted) counts as gone.
pub async fn wait_gone(client: &kube::Client, r: &Resolved, ns: Option<&str>, name: &str, uid: &str) -> Result<(), StepError> {
    let api = dyn_api(client, r, ns);
    let what = format!("deletion of {} {}{name}", r.ar.kind, ns.map(|n| format!("{n}/")).unwrap_or_default());
    let res = if uid.is_empty() {
        await_condition(api.clone(), name, |o: Option<&DynamicObject>| o.is_none()).await.map(|_| ())
    } else {
        await_condition(api.clone(), name, conditions::is_deleted(uid)).await.map(|_| ())
    };
    match res {
        Ok(()) => Ok(()),
        Err(e) => match api.get_opt(name).await {
            Ok(None) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Ok(Some(o)) if !uid.is_empty() && o.uid().as_deref() != Some(uid) => Ok(()),
            _ => Err(StepError::Failed(format!("watching {what}: {e}"))),
        },
    }
}


/// Labels of a planted/created object: the user's plus the run label.
pub fn with_run_label(
    ctx: &StepContext,
    labels: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    let mut out = labels.clone();
    let (k, v) = ctx.run_label();
    out.insert(k, v);
    out
}
