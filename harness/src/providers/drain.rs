//! `kubectl drain` through the API, for clusters whose nodes cleanroom cannot reach directly (kind):
//! cordon; refuse DaemonSet pods unless told to leave them (kubectl's "cannot delete DaemonSet-managed
//! Pods"); evict each pod, retrying while a PodDisruptionBudget answers 429; then wait, by watching, until
//! every evicted pod is gone (deleted, or replaced by a pod with a new uid) — as kubectl does.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, pin_mut};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::time::Instant;

use super::nodes::{DrainOutcome, NodeResult};

/// kubectl drain retries an eviction a PodDisruptionBudget refuses every 5 s.
const EVICTION_RETRY: Duration = Duration::from_secs(5);

pub async fn set_unschedulable(client: &kube::Client, node: &str, on: bool) -> NodeResult<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let patch = Patch::Merge(serde_json::json!({"spec": {"unschedulable": on}}));
    nodes.patch(node, &PatchParams::default(), &patch).await.map(|_| ()).map_err(|e| format!("cordon {node}: {e}"))
}

pub async fn pods_on(client: &kube::Client, node: &str) -> NodeResult<Vec<Pod>> {
    let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
    Api::<Pod>::all(client.clone()).list(&lp).await.map(|l| l.items).map_err(|e| format!("list pods on {node}: {e}"))
}

fn id(p: &Pod) -> String {
    format!("{}/{}", p.metadata.namespace.as_deref().unwrap_or_default(), p.metadata.name.as_deref().unwrap_or_default())
}

fn is_mirror(p: &Pod) -> bool {
    p.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
}

fn by_daemonset(p: &Pod) -> bool {
    p.metadata.owner_references.iter().flatten().any(|o| o.controller == Some(true) && o.kind == "DaemonSet")
}

/// Pods to evict and pods left alone; an error when DaemonSet pods may not be left alone.
pub fn plan(pods: &[Pod], ignore_daemonsets: bool) -> NodeResult<(Vec<Pod>, Vec<String>)> {
    let mut evict = Vec::new();
    let mut ignored = Vec::new();
    let mut blocked = Vec::new();
    for p in pods {
        if is_mirror(p) {
            ignored.push(id(p));
        } else if by_daemonset(p) {
            if ignore_daemonsets { ignored.push(id(p)) } else { blocked.push(id(p)) }
        } else {
            evict.push(p.clone());
        }
    }
    if !blocked.is_empty() {
        return Err(format!("cannot delete DaemonSet-managed Pods (use ignoreDaemonsets: true to ignore): {}", blocked.join(", ")));
    }
    Ok((evict, ignored))
}

/// Evict one pod, retrying while a PDB refuses (429) until `deadline`. A 404 counts as evicted only
/// once a read confirms the pod (with this uid) is gone.
async fn evict(client: &kube::Client, pod: &Pod, deadline: Instant) -> NodeResult<()> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    loop {
        match api.evict(&name, &EvictParams::default()).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                let now = api.get_opt(&name).await.map_err(|e| format!("read {ns}/{name} after a 404 eviction: {e}"))?;
                return match now {
                    Some(p) if p.metadata.uid == pod.metadata.uid => {
                        Err(format!("eviction of {ns}/{name} answered 404 ({}), yet the pod still exists", s.message))
                    }
                    _ => Ok(()),
                };
            }
            Err(kube::Error::Api(s)) if s.code == 429 => {
                if Instant::now() + EVICTION_RETRY > deadline {
                    return Err(format!("evict {ns}/{name}: still refused when the drain timed out: {}", s.message));
                }
                tokio::time::sleep(EVICTION_RETRY).await;
            }
            Err(e) => return Err(format!("evict {ns}/{name}: {e}")),
        }
    }
}

/// Watch the node's pods until none of `evicted` (by uid) is left.
async fn wait_gone(client: &kube::Client, node: &str, evicted: &[Pod], deadline: Instant) -> NodeResult<()> {
    let mut waiting: BTreeMap<String, String> =
        evicted.iter().filter_map(|p| Some((p.metadata.uid.clone()?, id(p)))).collect();
    if waiting.is_empty() {
        return Ok(());
    }
    let present = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let stream = watcher::watcher(Api::<Pod>::all(client.clone()), cfg).default_backoff();
    let mut listed: Vec<String> = Vec::new();
    let watch = async {
        pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(Event::Init) => listed.clear(),
                Ok(Event::InitApply(p)) => listed.push(present(&p)),
                // After the initial list: whatever was evicted and not listed is gone.
                Ok(Event::InitDone) => waiting.retain(|uid, _| listed.contains(uid)),
                Ok(Event::Delete(p)) => {
                    waiting.remove(&present(&p));
                }
                Ok(Event::Apply(_)) | Err(_) => {}
            }
            if waiting.is_empty() {
                return true;
            }
        }
        false
    };
    let done = tokio::time::timeout_at(deadline, watch).await.unwrap_or(false);
    if done {
        Ok(())
    } else {
        Err(format!("timed out waiting for evicted pods to be deleted: {}", waiting.into_values().collect::<Vec<_>>().join(", ")))
    }
}

/// Cordon, evict and wait, all within `timeout`.
pub async fn drain(client: &kube::Client, node: &str, ignore_daemonsets: bool, timeout: Duration) -> NodeResult<DrainOutcome> {
    let deadline = Instant::now() + timeout;
    set_unschedulable(client, node, true).await?;
    let (to_evict, ignored) = plan(&pods_on(client, node).await?, ignore_daemonsets)?;
    let mut outcome = DrainOutcome { evicted: Vec::new(), ignored };
    for p in &to_evict {
        evict(client, p, deadline).await?;
        outcome.evicted.push(id(p));
    }
    wait_gone(client, node, &to_evict, deadline).await?;
    Ok(outcome)
}
