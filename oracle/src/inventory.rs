//! `snapshot`: discover every listable type (built-in and CRDs) and list them all in parallel.
//! Only metadata is kept — never Secret data.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use kube::api::{DynamicObject, ListParams};
use kube::discovery::Scope;
use serde::{Deserialize, Serialize};

use cleanroom_core::resources::{Resolved, discover, is_listable};

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("discovering API resources: {0}")]
    Discovery(kube::Error),
    #[error("listing {resource}: {source}")]
    List { resource: String, source: kube::Error },
    #[error("reading inventory {path}: {message}")]
    Read { path: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// One object, reduced to what the oracle needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<OwnerRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    /// Value of `helm.sh/resource-policy`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_policy: Option<String>,
    /// For PersistentVolumes: the claim they are bound to (`namespace/name` from `spec.claimRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// For PersistentVolumes: `spec.persistentVolumeReclaimPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reclaim_policy: Option<String>,
    /// For EndpointSlices: the service they belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Value of `helm.sh/hook` (`post-install`, `test`, ...): a hook, which no release manifest lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_hook: Option<String>,
    /// Field managers that wrote it (`metadata.managedFields[].manager`: `helm`, `kubectl-create`, ...):
    /// who made an object, when nothing else says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managers: Vec<String>,
}

impl ObjectEntry {
    pub fn key(&self) -> (String, String, String, String) {
        (self.group.clone(), self.kind.clone(), self.namespace.clone().unwrap_or_default(), self.name.clone())
    }
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind_display(), self.name),
            None => format!("{} {}", self.kind_display(), self.name),
        }
    }
    pub fn kind_display(&self) -> String {
        if self.group.is_empty() { self.kind.clone() } else { format!("{}.{}", self.kind, self.group) }
    }
}

/// Every object of every listable type at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub taken_at: String,
    pub resource_types: usize,
    pub objects: Vec<ObjectEntry>,
}

impl Inventory {
    pub fn read(path: &std::path::Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InventoryError::Read { path: path.display().to_string(), message: e.to_string() })?;
        serde_json::from_str(&text)
            .map_err(|e| InventoryError::Read { path: path.display().to_string(), message: e.to_string() })
    }
    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, path)
    }
}

/// Types that are listable but not objects anyone leaves behind (virtual or request-only APIs).
const SKIP_GROUPS: &[&str] = &["authentication.k8s.io", "authorization.k8s.io", "metrics.k8s.io"];

/// Take an inventory of the whole cluster: all listable types, listed concurrently, paginated.
pub async fn snapshot(client: &kube::Client) -> Result<Inventory, InventoryError> {
    let started = Instant::now();
    let all = discover(client).await.map_err(InventoryError::Discovery)?;
    // One version per (group, plural): the first one discovery gives is the preferred one.
    let mut types: Vec<Resolved> = Vec::new();
    for (ar, caps) in all {
        if !is_listable(&caps) || SKIP_GROUPS.contains(&ar.group.as_str()) || ar.plural.contains('/') {
            continue;
        }
        if types.iter().any(|t| t.ar.group == ar.group && t.ar.plural == ar.plural) {
            continue;
        }
        types.push(Resolved { ar, namespaced: caps.scope == Scope::Namespaced });
    }
    let resource_types = types.len();
    let lists = futures::stream::iter(types.into_iter().map(|r| {
        let client = client.clone();
        async move { list_all(&client, r).await }
    }))
    .buffer_unordered(16)
    .try_collect::<Vec<_>>()
    .await?;
    let mut objects: Vec<ObjectEntry> = lists.into_iter().flatten().collect();
    // The same object can be served by two groups (core Events and events.k8s.io Events): keep one.
    let mut seen = std::collections::HashSet::new();
    objects.retain(|o| o.uid.is_empty() || seen.insert(o.uid.clone()));
    objects.sort_by_key(|a| a.key());
    tracing::debug!(types = resource_types, objects = objects.len(), ms = started.elapsed().as_millis() as u64, "snapshot");
    Ok(Inventory { taken_at: chrono::Utc::now().to_rfc3339(), resource_types, objects })
}

async fn list_all(client: &kube::Client, r: Resolved) -> Result<Vec<ObjectEntry>, InventoryError> {
    let path = <DynamicObject as kube::Resource>::url_path(&r.ar, None);
    let request = kube::core::Request::new(path);
    let mut out = Vec::new();
    let mut lp = ListParams::default().limit(500);
    let failed = |source| InventoryError::List { resource: format!("{}.{}", r.ar.plural, r.ar.group), source };
    loop {
        let req = request.list(&lp).map_err(|e| failed(kube::Error::BuildRequest(e)))?;
        let page: crate::listing::Page = match client.request(req).await {
            Ok(p) => p,
            // A type that vanished (CRD deleted meanwhile) or is forbidden is not an object inventory error.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 405 => return Ok(out),
            Err(source) => return Err(failed(source)),
        };
        out.extend(page.items.into_iter().map(|o| o.entry(&r)));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    Ok(out)
}
