//! Teardown after `finally`: delete what the run created (reverse order) and anything carrying its run
//! label; planted objects lose their finalizers first (loudly). A failed cleanup fails the scenario.

use std::time::{Duration, Instant};

use kube::ResourceExt;

use super::{Outcome, StepResult};
use crate::oracle;
use crate::primitives::cluster::RUN_START_SNAPSHOT;
use crate::primitives::sabotage::PLANTED_LABEL;
use crate::primitives::{ObjRef, Resolved, StepContext, StepError, dyn_api, ops, purge};

pub const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(120);

pub async fn teardown(ctx: &mut StepContext) -> StepResult {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339();
    let res = tokio::time::timeout(TEARDOWN_TIMEOUT, run(ctx)).await;
    let (outcome, reason, detail) = match res {
        Ok(Ok(detail)) => (Outcome::Passed, None, Some(detail)),
        Ok(Err(e)) => (Outcome::Failed, Some(e.to_string()), None),
        Err(_) => (
            Outcome::Failed,
            Some(format!("teardown did not finish within {}s (last seen: {})", TEARDOWN_TIMEOUT.as_secs(), ctx.observed)),
            None,
        ),
    };
    StepResult {
        name: "teardown".into(),
        primitive: "teardown".into(),
        section: "teardown".into(),
        outcome,
        duration_ms: started.elapsed().as_millis() as u64,
        reason,
        detail,
        line: 0,
        started_at: Some(started_at),
        primitive_us: 0,
    }
}

async fn remove(ctx: &mut StepContext, o: &ObjRef) -> Result<bool, StepError> {
    let r = o.resolved();
    let api = dyn_api(&ctx.client, &r, o.namespace.as_deref());
    let obj = match api.get_opt(&o.name).await {
        Ok(Some(obj)) => obj,
        Ok(None) => return Ok(false),
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(false), // type gone (CRD deleted)
        Err(e) => return Err(StepError::Kube { action: format!("reading {}", o.display()), source: e }),
    };
    if obj.labels().get(PLANTED_LABEL).map(String::as_str) == Some("true") && !obj.finalizers().is_empty() {
        purge::strip_finalizers(ctx, &r, o.namespace.as_deref(), &o.name).await?;
    }
    let Some(uid) = ops::delete(&ctx.client, &r, o.namespace.as_deref(), &o.name).await? else {
        return Ok(false);
    };
    ctx.observe(format!("{} to be gone", o.display()));
    ops::wait_gone(&ctx.client, &r, o.namespace.as_deref(), &o.name, &uid).await?;
    Ok(true)
}

async fn run(ctx: &mut StepContext) -> Result<String, StepError> {
    let mut removed = Vec::new();
    let created: Vec<ObjRef> = ctx.created.iter().rev().cloned().collect();
    // Namespaced objects first, then cluster-scoped, CRDs last (their removal takes custom resources along).
    let mut order = created;
    order.sort_by_key(|o| match (o.namespaced, o.api.kind.as_str()) {
        (true, _) => 0,
        (false, "CustomResourceDefinition") => 2,
        _ => 1,
    });
    for o in &order {
        if remove(ctx, o).await? {
            removed.push(o.display());
        }
    }
    // Safety net: anything else carrying this run's label.
    let inv = oracle::snapshot(&ctx.client).await.map_err(|e| StepError::Failed(e.to_string()))?;
    let (k, v) = ctx.run_label();
    for e in inv.objects.iter().filter(|e| e.labels.get(&k) == Some(&v)) {
        let api_version = if e.group.is_empty() { e.version.clone() } else { format!("{}/{}", e.group, e.version) };
        let Ok(r): Result<Resolved, _> = ctx.resolve(Some(&api_version), &e.kind).await else { continue };
        let o = ObjRef { api: r.ar.clone(), namespaced: r.namespaced, namespace: e.namespace.clone(), name: e.name.clone() };
        if remove(ctx, &o).await? {
            removed.push(o.display());
        }
    }
    if !removed.is_empty() {
        let shown: Vec<&str> = removed.iter().take(8).map(String::as_str).collect();
        ctx.finding(format!(
            "teardown removed {} object(s) the scenario left behind: {}{}",
            removed.len(),
            shown.join(", "),
            if removed.len() > 8 { ", ..." } else { "" }
        ));
    }
    // What differs from the run's start now that the run's own objects are gone (informational).
    if let Some(base) = ctx.snapshots.get(RUN_START_SNAPSHOT) {
        let now = oracle::snapshot(&ctx.client).await.map_err(|e| StepError::Failed(e.to_string()))?;
        let d = oracle::diff(base, &now, &oracle::default_churn(), &ctx.purges);
        if !d.is_clean() {
            let text = format!("after teardown, {} object(s) differ from the run's start:\n{}", d.leftovers.len(), d.listing());
            ctx.finding(text);
        }
    }
    Ok(format!("removed {} object(s)", removed.len()))
}
