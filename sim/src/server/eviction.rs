//! The Eviction API (`pods/eviction`): deletes a pod unless a PodDisruptionBudget forbids it.

use std::sync::Arc;

use serde_json::Value;

use super::{ApiServer, DeleteOptions, ListOptions};
use crate::api::errors::{ApiError, ApiResult, Cause};
use crate::api::selectors;
use crate::api::object;

pub fn evict(server: &Arc<ApiServer>, ns: &str, name: &str, _body: &Value) -> ApiResult<()> {
    let pods = server.resource("", "v1", "pods")?;
    let pod = server.get(&pods, Some(ns), name)?;
    let pdbs = server.resource("policy", "v1", "poddisruptionbudgets")?;
    let list = server.list(&pdbs, Some(ns), &ListOptions::default())?;
    for pdb in &list.items {
        let Some(sel) = pdb.pointer("/spec/selector") else { continue };
        let Ok(sel) = selectors::from_label_selector_json(sel) else { continue };
        if !sel.matches(object::labels(&pod)) {
            continue;
        }
        let allowed = pdb.pointer("/status/disruptionsAllowed").and_then(|d| d.as_i64()).unwrap_or(0);
        if allowed <= 0 {
            let pdb_name = object::name_of(pdb);
            let mut e = ApiError::new(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.");
            e.details = Some(Box::new(crate::api::errors::Details {
                causes: vec![Cause::new("DisruptionBudget", format!("The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                    pdb.pointer("/status/desiredHealthy").and_then(|d| d.as_i64()).unwrap_or(0),
                    pdb.pointer("/status/currentHealthy").and_then(|d| d.as_i64()).unwrap_or(0)), "")],
                ..Default::default()
            }));
            e.retry_after = Some(10);
            return Err(e);
        }
    }
    server.delete(&pods, Some(ns), name, &DeleteOptions::default())?;
    Ok(())
}
