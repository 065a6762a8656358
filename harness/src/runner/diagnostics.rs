//! Diagnostics written on failure: events, pod status and logs, the YAML of every object the run created.
//! Secret data never leaves the cluster: Secrets are written with their values redacted.

use std::collections::BTreeSet;
use std::path::Path;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams, LogParams};

use super::StepResult;
use crate::primitives::{StepContext, dyn_api};

pub async fn collect(ctx: &StepContext, dir: &Path, failed: &StepResult) {
    if let Err(e) = write_all(ctx, dir, failed).await {
        tracing::warn!("could not write diagnostics to {}: {e}", dir.display());
    }
}

async fn write_all(ctx: &StepContext, dir: &Path, failed: &StepResult) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("objects"))?;
    std::fs::create_dir_all(dir.join("logs"))?;
    std::fs::write(
        dir.join("failure.txt"),
        format!("step: {}\nline: {}\nreason: {}\n", failed.name, failed.line, failed.reason.clone().unwrap_or_default()),
    )?;
    // Events, oldest first.
    let events: Api<Event> = Api::all(ctx.client.clone());
    if let Ok(list) = events.list(&ListParams::default()).await {
        let mut lines: Vec<(String, String)> = list
            .items
            .iter()
            .map(|e| {
                let ts = e.last_timestamp.as_ref().map(|t| t.0.to_string()).or_else(|| e.event_time.as_ref().map(|t| t.0.to_string())).unwrap_or_default();
                let line = format!(
                    "{ts} {} {} {}/{} {}: {}",
                    e.namespace().unwrap_or_default(),
                    e.type_.clone().unwrap_or_default(),
                    e.involved_object.kind.clone().unwrap_or_default(),
                    e.involved_object.name.clone().unwrap_or_default(),
                    e.reason.clone().unwrap_or_default(),
                    e.message.clone().unwrap_or_default()
                );
                (ts, crate::core::redact::redact(&line))
            })
            .collect();
        lines.sort();
        let text: Vec<String> = lines.into_iter().rev().take(500).rev().map(|(_, l)| l).collect();
        std::fs::write(dir.join("events.txt"), text.join("\n") + "\n")?;
    }
    // Pods in every namespace the run touched.
    let namespaces: BTreeSet<String> = ctx
        .created
        .iter()
        .filter_map(|o| if o.api.kind == "Namespace" { Some(o.name.clone()) } else { o.namespace.clone() })
        .collect();
    let mut pod_lines = Vec::new();
    for ns in &namespaces {
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
        let Ok(list) = pods.list(&ListParams::default()).await else { continue };
        for p in list.items {
            let st = p.status.clone().unwrap_or_default();
            let conds: Vec<String> =
                st.conditions.iter().flatten().map(|c| format!("{}={}", c.type_, c.status)).collect();
            pod_lines.push(format!(
                "{ns}/{} node={} phase={} {}",
                p.name_any(),
                p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default(),
                st.phase.clone().unwrap_or_default(),
                conds.join(" ")
            ));
            for c in p.spec.iter().flat_map(|s| s.containers.iter()) {
                let lp = LogParams { container: Some(c.name.clone()), tail_lines: Some(200), ..Default::default() };
                if let Ok(log) = pods.logs(&p.name_any(), &lp).await {
                    let file = dir.join("logs").join(format!("{ns}_{}_{}.log", p.name_any(), c.name));
                    std::fs::write(file, crate::core::redact::redact(&log))?;
                }
            }
        }
    }
    std::fs::write(dir.join("pods.txt"), pod_lines.join("\n") + "\n")?;
    // YAML of every object the run created.
    for o in &ctx.created {
        let api = dyn_api(&ctx.client, &o.resolved(), o.namespace.as_deref());
        let Ok(Some(obj)) = api.get_opt(&o.name).await else { continue };
        let mut v = serde_json::to_value(&obj).unwrap_or_default();
        crate::core::redact::redact_object(&mut v);
        if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            m.remove("managedFields");
        }
        let yaml = serde_saphyr::to_string(&v).unwrap_or_default();
        let file = format!(
            "{}_{}{}.yaml",
            o.api.kind,
            o.namespace.as_deref().map(|n| format!("{n}_")).unwrap_or_default(),
            o.name
        );
        std::fs::write(dir.join("objects").join(file), yaml)?;
    }
    Ok(())
}
