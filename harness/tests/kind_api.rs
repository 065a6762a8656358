//! The API-level parts of the kind provider, on the embedded cluster: "every node Ready" after create
//! (a watch; the timeout names what it saw) and `node.drain` through the Eviction API (waits until the
//! evicted pods are gone; refuses DaemonSet pods unless told to leave them).

mod common;

use std::time::Duration;

use cleanroom::providers::drain;
use cleanroom::providers::node_ready::{NodesNotReady, wait_nodes_ready};
use cleanroom::primitives::{self as p, Primitive};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

const WORKER: &str = "cleanroom-test-worker";

fn nodes() -> Vec<String> {
    ["cleanroom-test-control-plane", WORKER, "cleanroom-test-worker2"].map(String::from).to_vec()
}

#[tokio::test]
async fn every_node_ready_returns_once_all_are_ready() {
    let sim = common::sim().await;
    wait_nodes_ready(sim.client(), &nodes(), Duration::from_secs(30)).await.unwrap();
}

#[tokio::test]
async fn a_node_that_never_registers_times_out_naming_what_was_seen() {
    let sim = common::sim().await;
    let mut expected = nodes();
    expected.push("cleanroom-test-worker3".into());
    let err = wait_nodes_ready(sim.client(), &expected, Duration::from_secs(2)).await.unwrap_err();
    assert!(matches!(err, NodesNotReady::TimedOut { .. }));
    let text = err.to_string();
    assert!(text.contains("cleanroom-test-worker3: not registered"), "{text}");
    assert!(text.contains(&format!("{WORKER}: Ready=True")), "{text}");
}

async fn apply(sim: &cleanroom_sim::SimCluster, yaml: &str) {
    let mut ctx = common::ctx(sim);
    p::manifests::Apply(p::manifests::Source { inline: Some(yaml.into()), ..Default::default() }).run(&mut ctx).await.unwrap();
    let mut ctx = common::ctx(sim);
    p::wait::PodsReady { namespace: "drain".into(), selector: "drain-test=yes".into(), count: 3 }.run(&mut ctx).await.unwrap();
}

const WORKLOAD: &str = r#"
apiVersion: v1
kind: Namespace
metadata: { name: drain }
---
apiVersion: v1
kind: Pod
metadata: { name: a, namespace: drain, labels: { drain-test: "yes" } }
spec: { nodeName: cleanroom-test-worker, containers: [ { name: c, image: busybox:1.37, command: ["sleep", "3600"] } ] }
---
apiVersion: v1
kind: Pod
metadata: { name: b, namespace: drain, labels: { drain-test: "yes" } }
spec: { nodeName: cleanroom-test-worker, containers: [ { name: c, image: busybox:1.37, command: ["sleep", "3600"] } ] }
---
apiVersion: v1
kind: Pod
metadata: { name: elsewhere, namespace: drain, labels: { drain-test: "yes" } }
spec: { nodeName: cleanroom-test-worker2, containers: [ { name: c, image: busybox:1.37, command: ["sleep", "3600"] } ] }
"#;

#[tokio::test]
async fn drain_returns_only_once_the_evicted_pods_are_gone() {
    let sim = common::sim().await;
    apply(&sim, WORKLOAD).await;
    let pods: Api<Pod> = Api::namespaced(sim.client(), "drain");
    let before: Vec<String> = pods.list(&ListParams::default()).await.unwrap().items.iter().filter_map(|p| p.metadata.uid.clone()).collect();
    let out = drain::drain(&sim.client(), WORKER, true, Duration::from_secs(30)).await.unwrap();
    assert!(out.evicted.contains(&"drain/a".to_string()) && out.evicted.contains(&"drain/b".to_string()), "{out:?}");
    // Right when drain returns: a and b are gone, the pod on the other node stays.
    let now = pods.list(&ListParams::default()).await.unwrap().items;
    let names: Vec<String> = now.iter().filter_map(|p| p.metadata.name.clone()).collect();
    assert_eq!(names, vec!["elsewhere"], "evicted pods must be gone when drain returns");
    assert!(now.iter().all(|p| before.contains(p.metadata.uid.as_ref().unwrap())));
}

#[tokio::test]
async fn drain_refuses_daemonset_pods_unless_ignored() {
    let sim = common::sim().await;
    apply(&sim, WORKLOAD).await;
    let mut ctx = common::ctx(&sim);
    let ds = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: { name: agent, namespace: drain }
spec:
  selector: { matchLabels: { app: agent } }
  template:
    metadata: { labels: { app: agent } }
    spec: { containers: [ { name: agent, image: busybox:1.37, command: ["sleep", "3600"] } ] }
"#;
    p::manifests::Apply(p::manifests::Source { inline: Some(ds.into()), ..Default::default() }).run(&mut ctx).await.unwrap();
    p::wait::DaemonSetPerNode { name: "agent".into(), namespace: "drain".into() }.run(&mut ctx).await.unwrap();
    let err = drain::drain(&sim.client(), WORKER, false, Duration::from_secs(30)).await.unwrap_err();
    assert!(err.starts_with("cannot delete DaemonSet-managed Pods"), "{err}");
    assert!(err.contains("drain/agent-"), "{err}");
    // Refused before evicting anything.
    let pods: Api<Pod> = Api::namespaced(sim.client(), "drain");
    assert!(pods.get_opt("a").await.unwrap().is_some(), "nothing is evicted when the drain is refused");
    let out = drain::drain(&sim.client(), WORKER, true, Duration::from_secs(30)).await.unwrap();
    assert!(out.ignored.iter().any(|p| p.starts_with("drain/agent-")), "{out:?}");
}
