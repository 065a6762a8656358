//! `wait.gc-discovery`: kube-controller-manager's garbage collector watches a group's custom
//! resources.
//!
//! The collector starts watching a new CRD's type only at its next discovery resync (every 30 s, once
//! the previous one finished). A custom resource deleted before that is never seen to go (by deleting
//! its CRD, say), so its dependents may never be collected. A runbook a person follows takes minutes;
//! a scenario replaying it takes seconds, so it waits here to give the real cluster the same outcome.
//!
//! - The embedded cluster's collector watches every type from the start: it returns at once.
//! - Where cleanroom runs kube-controller-manager (kwok), it reads the collector's dependency graph
//!   (`/debug/controllers/garbage-collector-controller/graph`) until every object of the group that
//!   owns or is owned is there as observed through a watch, not as "virtual" (known only from a
//!   dependent's ownerReference). The graph lists only objects that own or are owned, so for a kind
//!   none of whose objects it shows it also waits as below. The graph has no watch of its own, so it
//!   is read every 250 ms.
//! - Elsewhere (kind, k3s, an existing cluster) the collector cannot be reached; it waits until 35 s
//!   after the newest CRD of the group was created: one resync period and the time its monitors take
//!   to list.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::primitives::{Primitive, StepContext, StepError, StepOutcome};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WaitGcDiscovery")]
pub struct GcDiscovery {
    /// The API group of the CRDs (`monitoring.coreos.com`).
    pub group: String,
}

/// kube-controller-manager's `garbageCollector.Sync` period, plus the time its new monitors take to
/// list their types: the wait where the collector cannot be asked.
pub const GC_DISCOVERY_AFTER: Duration = Duration::from_secs(35);

const GRAPH_READ_EVERY: Duration = Duration::from_millis(250);

impl Primitive for GcDiscovery {
    fn describe(&self) -> String {
        format!("the garbage collector to discover the CRDs of {}", self.group)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            if ctx.provider == "sim" {
                return Ok(StepOutcome::done("the embedded cluster's garbage collector watches every type from the start"));
            }
            let crds: Vec<CustomResourceDefinition> = Api::<CustomResourceDefinition>::all(ctx.client.clone())
                .list(&Default::default())
                .await
                .map_err(|source| StepError::Kube { action: "listing CRDs".into(), source })?
                .items
                .into_iter()
                .filter(|c| c.spec.group == self.group)
                .collect();
            if crds.is_empty() {
                return Ok(StepOutcome::done(format!("no CRD of {} to discover", self.group)));
            }
            match ctx.gc_graph.clone() {
                Some(url) => self.read_graph(ctx, &url, &crds).await,
                None => self.wait_resync(ctx, &crds).await,
            }
        })
    }
}

impl GcDiscovery {
    /// Until the collector's graph holds, as observed, every object of the group that owns or is owned.
    /// A kind none of whose objects the graph shows observed (they neither own nor are owned) cannot
    /// be told watched from the graph: for those it also waits out the resync period.
    async fn read_graph(&self, ctx: &mut StepContext, url: &str, crds: &[CustomResourceDefinition]) -> Result<StepOutcome, StepError> {
        let mut objects = Vec::new();
        for crd in crds {
            objects.extend(objects_of(&ctx.client, crd).await?);
        }
        let graph = GraphReader::new(url).map_err(|e| StepError::Failed(format!("reaching kube-controller-manager at {url}: {e}")))?;
        let started = Instant::now();
        let resynced_at = started + gc_wait_left(newest_crd_age(crds));
        loop {
            ctx.observed = match graph.read().await {
                Err(e) => format!("the collector's graph could not be read: {e}"),
                Ok(seen) => {
                    let pending: Vec<String> = objects.iter().filter_map(|o| o.pending(seen.get(&o.uid).copied())).collect();
                    let watched: BTreeSet<&str> = objects.iter().filter(|o| seen.get(&o.uid) == Some(&true)).map(|o| o.kind.as_str()).collect();
                    let unseen: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect::<BTreeSet<_>>().difference(&watched).copied().collect();
                    if pending.is_empty() && (unseen.is_empty() || Instant::now() >= resynced_at) {
                        let by_time = if unseen.is_empty() { String::new() } else { format!("; {} counted from the {} s resync", unseen.join(", "), GC_DISCOVERY_AFTER.as_secs()) };
                        return Ok(StepOutcome::done(format!(
                            "kube-controller-manager's garbage collector watches {} ({} object(s) of {} kind(s) checked in its graph{by_time}) after {:.1} s",
                            self.group,
                            objects.len(),
                            crds.len(),
                            started.elapsed().as_secs_f64()
                        )));
                    }
                    if pending.is_empty() {
                        format!("its graph cannot show whether {} are watched (no object owns or is owned): waiting out the resync period", unseen.join(", "))
                    } else {
                        format!("kube-controller-manager's garbage collector graph: {}", pending.join("; "))
                    }
                }
            };
            tokio::time::sleep(GRAPH_READ_EVERY).await;
        }
    }

    async fn wait_resync(&self, ctx: &mut StepContext, crds: &[CustomResourceDefinition]) -> Result<StepOutcome, StepError> {
        let age = newest_crd_age(crds);
        let left = gc_wait_left(age);
        ctx.observed = format!("newest CRD of {} created {} s ago", self.group, age.as_secs());
        tokio::time::sleep(left).await;
        Ok(StepOutcome::done(format!(
            "newest CRD of {} created {} s before; waited {} s for the collector's {} s resync (its graph cannot be read on {})",
            self.group,
            age.as_secs(),
            left.as_secs(),
            GC_DISCOVERY_AFTER.as_secs(),
            ctx.provider
        )))
    }
}

/// How long ago the newest of the CRDs was created.
fn newest_crd_age(crds: &[CustomResourceDefinition]) -> Duration {
    let newest = crds.iter().filter_map(|c| c.metadata.creation_timestamp.as_ref()).map(|t| t.0.as_second()).max().unwrap_or_default();
    Duration::from_secs(u64::try_from(chrono::Utc::now().timestamp() - newest).unwrap_or(0))
}

/// How much longer to wait once the newest CRD is `age` old.
pub fn gc_wait_left(age: Duration) -> Duration {
    GC_DISCOVERY_AFTER.saturating_sub(age)
}

/// A custom resource, as the collector's graph should hold it once its kind is watched.
struct Object {
    kind: String,
    name: String,
    uid: String,
    owned: bool,
}

impl Object {
    /// Why the graph does not show this object watched yet, given how it holds it (`Some(observed)`).
    /// The graph lists only objects that own or are owned: one with owners must be there, observed;
    /// one with dependents is there as "virtual" (known only from their ownerReferences) until it is
    /// watched; one with neither is not there and the collector has nothing to do for it.
    fn pending(&self, observed: Option<bool>) -> Option<String> {
        match observed {
            Some(true) => None,
            Some(false) => Some(format!("{} {} known only from its dependents' ownerReferences (virtual): not watched yet", self.kind, self.name)),
            None if self.owned => Some(format!("{} {} has owners but is not in the graph: not watched yet", self.kind, self.name)),
            None => None,
        }
    }
}

/// Every object of a CRD's kind, through its storage version.
async fn objects_of(client: &kube::Client, crd: &CustomResourceDefinition) -> Result<Vec<Object>, StepError> {
    let Some(version) = crd.spec.versions.iter().find(|v| v.storage).or_else(|| crd.spec.versions.first()) else { return Ok(Vec::new()) };
    let ar = ApiResource {
        group: crd.spec.group.clone(),
        version: version.name.clone(),
        api_version: format!("{}/{}", crd.spec.group, version.name),
        kind: crd.spec.names.kind.clone(),
        plural: crd.spec.names.plural.clone(),
    };
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let list = api.list(&ListParams::default()).await.map_err(|source| StepError::Kube { action: format!("listing {}", crd.spec.names.plural), source })?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|o| {
            let name = o.metadata.name.clone().unwrap_or_default();
            Some(Object {
                kind: ar.kind.clone(),
                name: o.metadata.namespace.as_ref().map_or(name.clone(), |ns| format!("{ns}/{name}")),
                owned: o.metadata.owner_references.as_ref().is_some_and(|r| !r.is_empty()),
                uid: o.metadata.uid?,
            })
        })
        .collect())
}

/// Reads kube-controller-manager's dependency graph dump (DOT) over its secure port, whose serving
/// certificate is self-signed.
struct GraphReader {
    client: kube::Client,
    path: String,
}

impl GraphReader {
    fn new(url: &str) -> Result<Self, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{e}"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else { return Err(format!("{url} is not an absolute URL")) };
        let base: hyper::Uri = format!("{scheme}://{authority}").parse().map_err(|e| format!("{e}"))?;
        let mut config = kube::Config::new(base);
        config.accept_invalid_certs = true;
        Ok(GraphReader { client: kube::Client::try_from(config).map_err(|e| e.to_string())?, path: uri.path().to_string() })
    }

    /// uid → observed, for every object the graph lists.
    async fn read(&self) -> Result<BTreeMap<String, bool>, String> {
        let req = hyper::Request::get(self.path.as_str()).body(Vec::new()).map_err(|e| e.to_string())?;
        let dot = self.client.request_text(req).await.map_err(|e| e.to_string())?;
        Ok(observed_in_graph(&dot))
    }
}

/// uid → observed, for every vertex of a graph dump: each vertex is `"<uid>" [`, one attribute per
/// line, `];` (garbagecollector/dump.go). Observed: neither `virtual="true"` (known only from a
/// dependent's ownerReference) nor `missing="true"` (an owner the graph does not hold).
pub fn observed_in_graph(dot: &str) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    let (mut uid, mut observed) = (None, true);
    for line in dot.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("uid=") {
            uid = Some(v.trim_matches('"').to_string());
        } else if line == r#"virtual="true""# || line == r#"missing="true""# {
            observed = false;
        } else if line == "];" {
            if let Some(u) = uid.take() {
                out.insert(u, observed);
            }
            observed = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gc_wait_counts_from_the_newest_crd() {
        assert_eq!(gc_wait_left(Duration::from_secs(10)), Duration::from_secs(25));
        assert_eq!(gc_wait_left(Duration::from_secs(35)), Duration::ZERO);
        assert_eq!(gc_wait_left(Duration::from_secs(600)), Duration::ZERO);
    }

    #[test]
    fn a_graph_dump_tells_observed_vertices_from_virtual_ones() {
        // As kube-controller-manager 1.35 prints `?uid=a&uid=b`: the vertices asked for and their dependents.
        let dot = r#"strict digraph full {
  // Node definitions.
  "u-prom" [
    label="uid=u-prom\nnamespace=monitoring\nPrometheus.v1.monitoring.coreos.com/p\n"
    group="monitoring.coreos.com"
    version="v1"
    kind="Prometheus"
    namespace="monitoring"
    name="p"
    uid="u-prom"
    missing="false"
    beingDeleted="false"
    deletingDependents="false"
    virtual="false"
  ];
  "u-am" [
    label="uid=u-am\nnamespace=monitoring\nAlertmanager.v1.monitoring.coreos.com/a\nvirtual\n"
    group="monitoring.coreos.com"
    kind="Alertmanager"
    uid="u-am"
    virtual="true"
  ];
  "u-gone" [
    label="uid=u-gone\nnamespace=\nPrometheus.v1.monitoring.coreos.com/old\nmissingFromGraph\n"
    uid="u-gone"
    missing="true"
    virtual="false"
  ];

  // Edge definitions.
  "u-sts" -> "u-prom";
}
"#;
        let seen = observed_in_graph(dot);
        assert_eq!(seen.get("u-prom"), Some(&true));
        assert_eq!(seen.get("u-am"), Some(&false));
        assert_eq!(seen.get("u-gone"), Some(&false));
        assert_eq!(seen.get("u-sts"), None);
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn an_object_is_waited_for_only_where_the_graph_would_show_it() {
        let o = |owned| Object { kind: "Prometheus".into(), name: "m/p".into(), uid: "u".into(), owned };
        assert_eq!(o(false).pending(Some(true)), None);
        assert!(o(false).pending(Some(false)).unwrap().contains("(virtual): not watched yet"));
        // Neither owning nor owned: the graph does not list it, and the collector has nothing to do for it.
        assert_eq!(o(false).pending(None), None);
        assert!(o(true).pending(None).unwrap().contains("has owners but is not in the graph"));
    }
}
