//! Wait until every node of a cluster is Ready, by watching Nodes. `kind create cluster --wait` waits for
//! control-plane nodes only (and merely warns when it runs out of time), so workers may still be NotReady
//! when it returns.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, pin_mut};
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

#[derive(Debug, thiserror::Error)]
pub enum NodesNotReady {
    #[error("not every node was Ready after {}s: {seen}", after.as_secs())]
    TimedOut { after: Duration, seen: String },
    #[error("the watch on nodes ended: {seen}")]
    WatchEnded { seen: String },
}

/// `Ready=True`, `Ready=False (KubeletNotReady: ...)`, or `no Ready condition`.
fn ready_state(node: &Node) -> (bool, String) {
    let cond = node.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    match cond {
        Some(c) if c.status == "True" => (true, "Ready=True".into()),
        Some(c) => {
            let why = [c.reason.as_deref(), c.message.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(": ");
            (false, if why.is_empty() { format!("Ready={}", c.status) } else { format!("Ready={} ({why})", c.status) })
        }
        None => (false, "no Ready condition".into()),
    }
}

/// What was seen of `expected`: `name: state` for each, `not registered` for absent ones.
fn describe(expected: &[String], seen: &BTreeMap<String, (bool, String)>) -> String {
    expected
        .iter()
        .map(|n| format!("{n}: {}", seen.get(n).map(|s| s.1.as_str()).unwrap_or("not registered")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Watch Nodes until every node in `expected` is Ready; the timeout error names each node's last state.
pub async fn wait_nodes_ready(client: kube::Client, expected: &[String], timeout: Duration) -> Result<(), NodesNotReady> {
    let mut seen: BTreeMap<String, (bool, String)> = BTreeMap::new();
    let all_ready = |seen: &BTreeMap<String, (bool, String)>| expected.iter().all(|n| seen.get(n).is_some_and(|s| s.0));
    let watch = async {
        let stream = watcher::watcher(Api::<Node>::all(client), watcher::Config::default()).default_backoff();
        pin_mut!(stream);
        let mut listed = false;
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(Event::Apply(n) | Event::InitApply(n)) => {
                    seen.insert(n.metadata.name.clone().unwrap_or_default(), ready_state(&n));
                }
                Ok(Event::Delete(n)) => {
                    seen.remove(n.metadata.name.as_deref().unwrap_or_default());
                }
                Ok(Event::Init) => seen.clear(),
                Ok(Event::InitDone) => listed = true,
                Err(_) => continue,
            }
            if listed && all_ready(&seen) {
                return true;
            }
        }
        false
    };
    match tokio::time::timeout(timeout, watch).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(NodesNotReady::WatchEnded { seen: describe(expected, &seen) }),
        Err(_) => Err(NodesNotReady::TimedOut { after: timeout, seen: describe(expected, &seen) }),
    }
}
