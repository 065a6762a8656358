//! Provenance for what commands make: objects a `kubectl`/`script` step creates carry no run label, so
//! the objects that appear while it runs (uids absent before, present after) are attributed to the step,
//! and a leftover among them is "created during step N `script`", never `unknown`. Those kubectl wrote
//! (a `kubectl…` field manager) and nothing owns are the run's own: teardown removes them with the rest
//! of what the run created (objects controllers or other clients made meanwhile are left alone).

use std::collections::HashSet;

use super::StepContext;

/// The uids on the cluster before the command (None: it could not be listed; then nothing is attributed).
pub(super) async fn before(ctx: &StepContext) -> Option<HashSet<String>> {
    let inv = crate::oracle::snapshot(&ctx.client).await.ok()?;
    Some(inv.objects.into_iter().map(|o| o.uid).collect())
}

/// Record every object whose uid was not there `before` as made during the running step.
pub(super) async fn attribute(ctx: &mut StepContext, before: Option<HashSet<String>>) {
    let Some(before) = before else { return };
    let Ok(after) = crate::oracle::snapshot(&ctx.client).await else { return };
    let step = if ctx.step_origin.is_empty() { format!("step `{}`", ctx.step) } else { ctx.step_origin.clone() };
    for o in after.objects.into_iter().filter(|o| !before.contains(&o.uid)) {
        if o.owners.is_empty() && o.managers.iter().any(|m| m.starts_with("kubectl")) {
            let api_version = if o.group.is_empty() { o.version.clone() } else { format!("{}/{}", o.group, o.version) };
            let api = kube::api::ApiResource { group: o.group.clone(), version: o.version.clone(), api_version, kind: o.kind.clone(), plural: o.plural.clone() };
            let obj = crate::primitives::ObjRef { api, namespaced: o.namespace.is_some(), namespace: o.namespace.clone(), name: o.name.clone() };
            if !ctx.created.contains(&obj) {
                ctx.created.push(obj);
            }
        }
        ctx.origins.push(crate::oracle::Origin { group: o.group, kind: o.kind, namespace: o.namespace, name: o.name, step: step.clone(), during: true });
    }
}
