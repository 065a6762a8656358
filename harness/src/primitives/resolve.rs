//! Kind → API resource resolution through discovery (built-ins and CRDs), and dynamic APIs.

use kube::api::{Api, DynamicObject};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope, verbs};

use super::{StepContext, StepError};
use crate::scenario::parse::close_names;

/// A resolved resource type.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub ar: ApiResource,
    pub namespaced: bool,
}

#[derive(Default)]
pub(crate) struct ResourceCache {
    all: Option<Vec<(ApiResource, ApiCapabilities)>>,
}

/// Run discovery (aggregated when the server offers it) and return every resource type.
pub async fn discover(client: &kube::Client) -> Result<Vec<(ApiResource, ApiCapabilities)>, kube::Error> {
    let d = match Discovery::new(client.clone()).run_aggregated().await {
        Ok(d) if d.groups().next().is_some() => d,
        _ => Discovery::new(client.clone()).run().await?,
    };
    let mut out = Vec::new();
    for g in d.groups() {
        // Preferred version first so lookups pick it.
        for (ar, caps) in g.recommended_resources() {
            out.push((ar, caps));
        }
        for v in g.versions() {
            for (ar, caps) in g.versioned_resources(v) {
                if !out.iter().any(|(a, _)| a.group == ar.group && a.version == ar.version && a.plural == ar.plural) {
                    out.push((ar, caps));
                }
            }
        }
    }
    // Lookups by kind take the first match: the core group wins (as kubectl's RESTMapper
    // prefers it, e.g. `Event` is core/v1, not events.k8s.io), then groups by name, so the
    // answer never depends on discovery's map order.
    out.sort_by(|(a, _), (b, _)| (!a.group.is_empty(), &a.group).cmp(&(!b.group.is_empty(), &b.group)));
    Ok(out)
}

pub fn is_listable(caps: &ApiCapabilities) -> bool {
    caps.supports_operation(verbs::LIST)
}

impl StepContext {
    pub async fn refresh_resources(&mut self) -> Result<(), StepError> {
        let all = discover(&self.client).await.map_err(StepError::kube("discovering API resources"))?;
        self.resources.all = Some(all);
        Ok(())
    }

    /// Resolve `kind` (Kind, plural or lowercase singular), optionally pinned to `apiVersion`.
    pub async fn resolve(&mut self, api_version: Option<&str>, kind: &str) -> Result<Resolved, StepError> {
        if self.resources.all.is_none() {
            self.refresh_resources().await?;
        }
        if let Some(r) = self.lookup(api_version, kind) {
            return Ok(r);
        }
        // Maybe a CRD was just created: look again.
        self.refresh_resources().await?;
        if let Some(r) = self.lookup(api_version, kind) {
            return Ok(r);
        }
        let kinds: Vec<&str> =
            self.resources.all.as_ref().map(|a| a.iter().map(|(ar, _)| ar.kind.as_str()).collect()).unwrap_or_default();
        let close = close_names(kind, &kinds);
        let hint = if close.is_empty() { String::new() } else { format!("; did you mean {}?", close.join(" or ")) };
        let pinned = api_version.map(|v| format!(" in {v}")).unwrap_or_default();
        Err(StepError::Failed(format!("the server has no resource type `{kind}`{pinned}{hint}")))
    }

    fn lookup(&self, api_version: Option<&str>, kind: &str) -> Option<Resolved> {
        let all = self.resources.all.as_ref()?;
        let k = kind.to_ascii_lowercase();
        all.iter()
            .filter(|(ar, _)| match api_version {
                Some(v) => ar.api_version == v || (ar.group.is_empty() && ar.version == v) || ar.group == v,
                None => true,
            })
            .find(|(ar, _)| ar.kind.to_ascii_lowercase() == k || ar.plural == k)
            .map(|(ar, caps)| Resolved { ar: ar.clone(), namespaced: caps.scope == Scope::Namespaced })
    }
}

/// An API for a resolved type; `ns` is ignored for cluster-scoped types, `None` means all namespaces.
pub fn dyn_api(client: &kube::Client, r: &Resolved, ns: Option<&str>) -> Api<DynamicObject> {
    match (r.namespaced, ns) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &r.ar),
        _ => Api::all_with(client.clone(), &r.ar),
    }
}
