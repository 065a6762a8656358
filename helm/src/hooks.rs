//! Hook execution as Helm's `execHook` (helm `pkg/action/hooks.go`): hooks of one event sorted by
//! kind then weight and name; each one's old copy deleted first (before-hook-creation), the
//! release record updated, the hook created and waited for (Jobs until Complete/Failed); then
//! hook-succeeded (or hook-failed) hooks deleted, in reverse order.

use std::time::Duration;

use kube::api::DeleteParams;
use serde_json::Value;

use super::error::Failure;
use super::kubeops::{Kube, api_message};
use super::order::{INSTALL_ORDER, sort_by_kind};
use super::release::{RecordHook, ReleaseRecord, ReleaseStore, now_rfc3339};
use super::render::{HookDoc, RenderedDoc};

/// The release record's view of a hook.
pub fn record_hook(h: &HookDoc) -> RecordHook {
    RecordHook {
        name: h.doc.name().to_string(),
        kind: h.doc.kind().to_string(),
        path: h.doc.source.clone(),
        manifest: h.doc.raw.trim_end().to_string(),
        events: h.events.clone(),
        weight: h.weight,
        delete_policies: h.delete_policies.clone(),
        ..Default::default()
    }
}

/// Rebuild hooks from a stored record (for uninstall's pre/post-delete hooks).
pub fn hooks_from_record(rec: &ReleaseRecord) -> Vec<HookDoc> {
    rec.hooks
        .iter()
        .filter_map(|h| {
            let object: Value = serde_saphyr::from_str(&h.manifest).ok()?;
            // The record's parsed events/weight/policies are authoritative, as in Helm.
            let doc = RenderedDoc { source: h.path.clone(), raw: h.manifest.clone(), object };
            Some(HookDoc {
                doc,
                events: h.events.clone(),
                weight: h.weight,
                delete_policies: h.delete_policies.clone(),
            })
        })
        .collect()
}

fn record_index(rec: &ReleaseRecord, h: &HookDoc) -> Option<usize> {
    rec.hooks.iter().position(|r| r.name == h.doc.name() && r.kind == h.doc.kind() && r.path == h.doc.source)
}

async fn delete_hook(kube: &Kube, h: &HookDoc, ns: &str) -> Result<(), String> {
    let t = kube.target(&h.doc.object, ns).await?;
    kube.delete(&t, &DeleteParams::background()).await.map_err(|e| api_message(&e))
}

/// Run the hooks of `event`. On failure the error reads `failed <event>: ...` as in Helm.
pub async fn run(
    kube: &Kube,
    store: &ReleaseStore,
    rec: &mut ReleaseRecord,
    hooks: &[HookDoc],
    event: &str,
    timeout: Duration,
) -> Result<(), Failure> {
    let ns = rec.namespace.clone();
    let mut executing: Vec<&HookDoc> = hooks.iter().filter(|h| h.has_event(event)).collect();
    sort_by_kind(&mut executing, INSTALL_ORDER, |h| h.doc.kind());
    executing.sort_by(|a, b| a.weight.cmp(&b.weight).then_with(|| a.doc.name().cmp(b.doc.name())));
    let fail = |msg: String| Failure::Hook { event: event.to_string(), message: msg };

    for (i, h) in executing.iter().enumerate() {
        let t = kube.target(&h.doc.object, &ns).await.map_err(fail)?;
        if h.has_policy("before-hook-creation") {
            kube.delete(&t, &DeleteParams::background()).await.map_err(|e| fail(api_message(&e)))?;
            kube.wait_deleted(&t, timeout).await.map_err(fail)?;
        }
        let idx = record_index(rec, h);
        if let Some(i) = idx {
            rec.hooks[i].last_run = super::release::HookExecution {
                started_at: Some(now_rfc3339()),
                completed_at: None,
                phase: "Running".into(),
            };
        }
        store.update(rec).await.map_err(fail)?;
        tracing::info!(event, kind = %t.kind, name = %t.name, "running hook");
        kube.apply(&t, &h.doc.object)
            .await
            .map_err(|e| fail(format!("warning: Hook {event} {} failed: {}", h.doc.source, api_message(&e))))?;
        let outcome = kube.wait_hook(&t, timeout).await;
        if let Some(i) = idx {
            rec.hooks[i].last_run.completed_at = Some(now_rfc3339());
            rec.hooks[i].last_run.phase = if outcome.is_ok() { "Succeeded" } else { "Failed" }.into();
        }
        if let Err(e) = outcome {
            // hook-failed applies to the failed hook and those already run.
            for done in executing[..=i].iter().rev() {
                if done.has_policy("hook-failed") {
                    let _ = delete_hook(kube, done, &ns).await;
                }
            }
            let _ = store.update(rec).await;
            return Err(fail(format!("warning: Hook {event} {} failed: {e}", h.doc.source)));
        }
    }
    for h in executing.iter().rev() {
        if h.has_policy("hook-succeeded") {
            delete_hook(kube, h, &ns).await.map_err(fail)?;
        }
    }
    Ok(())
}
