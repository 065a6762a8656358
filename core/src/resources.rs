//! Resource types through discovery (built-ins and CRDs, aggregated discovery when served), kind → type
//! lookup as kubectl resolves it, dynamic APIs, and references to objects.

use kube::api::{Api, DynamicObject};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope, verbs};

/// A resolved resource type.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub ar: ApiResource,
    pub namespaced: bool,
}

/// One object by type, namespace and name (e.g. something a run created, to delete at teardown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjRef {
    pub api: ApiResource,
    pub namespaced: bool,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjRef {
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.api.kind, self.name),
            None => format!("{} {}", self.api.kind, self.name),
        }
    }

    /// The resolved type of the object.
    pub fn resolved(&self) -> Resolved {
        Resolved { ar: self.api.clone(), namespaced: self.namespaced }
    }
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

/// Every resource type of a cluster, for lookups by kind.
#[derive(Debug, Default, Clone)]
pub struct ResourceCatalog {
    all: Vec<(ApiResource, ApiCapabilities)>,
}

impl ResourceCatalog {
    pub async fn discover(client: &kube::Client) -> Result<Self, kube::Error> {
        Ok(ResourceCatalog { all: discover(client).await? })
    }

    /// Find `kind` (Kind, plural or lowercase singular), optionally pinned to `apiVersion` (or a group).
    pub fn lookup(&self, api_version: Option<&str>, kind: &str) -> Option<Resolved> {
        let k = kind.to_ascii_lowercase();
        self.all
            .iter()
            .filter(|(ar, _)| match api_version {
                Some(v) => ar.api_version == v || (ar.group.is_empty() && ar.version == v) || ar.group == v,
                None => true,
            })
            .find(|(ar, _)| ar.kind.to_ascii_lowercase() == k || ar.plural == k)
            .map(|(ar, caps)| Resolved { ar: ar.clone(), namespaced: caps.scope == Scope::Namespaced })
    }

    /// Every kind name, for "did you mean" hints.
    pub fn kinds(&self) -> Vec<&str> {
        self.all.iter().map(|(ar, _)| ar.kind.as_str()).collect()
    }
}

/// An API for a resolved type; `ns` is ignored for cluster-scoped types, `None` means all namespaces.
pub fn dyn_api(client: &kube::Client, r: &Resolved, ns: Option<&str>) -> Api<DynamicObject> {
    match (r.namespaced, ns) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &r.ar),
        _ => Api::all_with(client.clone(), &r.ar),
    }
}
