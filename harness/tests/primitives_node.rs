//! Node primitives against the embedded cluster's nodes: lifecycle operations, the node-level
//! clean-state check and its sabotage.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cleanroom::primitives::node::{self as n, LeftoverKind};
use cleanroom::primitives::{self as p, Primitive, StepContext, StepError};
use cleanroom::providers::nodes::SimNodes;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams};

const WORKER: &str = "cleanroom-test-worker";
const CP: &str = "cleanroom-test-control-plane";
const GONE_UID: &str = "0b1e7c6a-1111-4222-8333-444455556666";

fn node_ctx(sim: &cleanroom_sim::SimCluster) -> StepContext {
    let mut ctx = common::ctx(sim);
    ctx.nodes = Some(Arc::new(SimNodes::new(sim.nodes(), cleanroom_sim::Timing::Instant)));
    ctx
}

fn failure(r: Result<p::StepOutcome, StepError>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(o) => panic!("expected a failure, got {o:?}"),
    }
}

fn host(sim: &cleanroom_sim::SimCluster, node: &str, path: &str) -> std::path::PathBuf {
    sim.nodes().root(node).unwrap().join(path.trim_start_matches('/'))
}

async fn apply(ctx: &mut StepContext, yaml: &str) {
    let src = p::manifests::Source { inline: Some(yaml.into()), ..Default::default() };
    p::manifests::Apply(src).run(ctx).await.unwrap();
}

/// A pod pinned to `node` with a memory emptyDir (so the kubelet mounts a tmpfs).
fn pinned_pod(ns: &str, name: &str, node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{ name: {name}, namespace: {ns}, labels: {{ app: {name} }} }}\n\
         spec:\n  nodeName: {node}\n  containers: [ {{ name: main, image: busybox:1.37, command: [sleep, '3600'], volumeMounts: [ {{ name: scratch, mountPath: /scratch }} ] }} ]\n  \
         volumes: [ {{ name: scratch, emptyDir: {{ medium: Memory }} }} ]\n"
    )
}

async fn pod_ready(ctx: &mut StepContext, ns: &str, selector: &str) {
    p::wait::PodsReady { namespace: ns.into(), selector: selector.into(), count: 1 }.run(ctx).await.unwrap();
}

#[tokio::test]
async fn every_node_primitive_skips_without_node_operations() {
    let sim = common::sim().await;
    let mut ctx = common::ctx(&sim);
    let steps: Vec<Box<dyn Primitive>> = vec![
        Box::new(n::Cordon { node: WORKER.into() }),
        Box::new(n::Uncordon { node: WORKER.into() }),
        Box::new(n::Drain { node: WORKER.into(), ignore_daemonsets: true, timeout: None }),
        Box::new(n::RestartKubelet { node: WORKER.into() }),
        Box::new(n::RestartRuntime { node: WORKER.into() }),
        Box::new(n::PruneImages::default()),
        Box::new(n::RemovePath { node: WORKER.into(), path: "/var/log/pods/x_y_z".into() }),
        Box::new(n::AssertClean::default()),
        Box::new(n::Cleanup::default()),
        Box::new(n::ZombieMount { node: WORKER.into(), pod_uid: None, volume: None }),
        Box::new(n::OrphanPodLogs { node: WORKER.into(), namespace: "a".into(), pod: "b".into() }),
    ];
    for s in steps {
        let out = s.run(&mut ctx).await.unwrap();
        let why = out.skipped.unwrap_or_else(|| panic!("{} must skip, got {:?}", s.describe(), out.detail));
        assert!(why.contains("provider `sim`") && why.contains("node operations"), "{why}");
    }
}

#[tokio::test]
async fn zombie_mount_and_orphan_logs_are_named_then_cleaned() {
    let sim = common::sim().await;
    let mut ctx = node_ctx(&sim);
    n::AssertClean::default().run(&mut ctx).await.expect("a fresh cluster is clean");

    let out = n::ZombieMount { node: WORKER.into(), pod_uid: Some(GONE_UID.into()), volume: Some("cache".into()) }.run(&mut ctx).await.unwrap();
    let target = format!("/var/lib/kubelet/pods/{GONE_UID}/volumes/kubernetes.io~empty-dir/cache");
    assert!(out.detail.unwrap().contains(&target));
    let mounts = sim.nodes().mounts(WORKER).await.unwrap();
    assert!(mounts.iter().any(|m| m.target == target && m.fstype == "tmpfs"), "mount-table entry as the kubelet writes it: {mounts:?}");
    assert!(host(&sim, WORKER, &target).is_dir());
    n::OrphanPodLogs { node: CP.into(), namespace: "shop".into(), pod: "web-0".into() }.run(&mut ctx).await.unwrap();

    let err = failure(n::AssertClean::default().run(&mut ctx).await);
    assert!(err.contains(&format!("{WORKER}: mount {target}: pod with uid {GONE_UID} no longer exists; its volume mount (tmpfs) was not unmounted (kubelet restarted mid-teardown?)")), "{err}");
    assert!(err.contains(&format!("{WORKER}: dir /var/lib/kubelet/pods/{GONE_UID}: pod with uid {GONE_UID} no longer exists; its kubelet directory was not removed: 1 volume(s) still mounted")), "{err}");
    assert!(regex::Regex::new(&format!(r"{CP}: dir /var/log/pods/shop_web-0_[0-9a-f-]+: pod shop/web-0 \(uid [0-9a-f-]+\) no longer exists; its log directory was not removed")).unwrap().is_match(&err), "{err}");
    assert!(err.contains(&format!("{CP}: link /var/log/containers/web-0_shop_main-")) && err.contains("points into the logs of pod shop/web-0"), "{err}");
    assert!(err.starts_with("4 node-level leftover(s)"), "{err}");
    // Scoped to one node, only that node's leftovers.
    let only_cp = failure(n::AssertClean { nodes: vec![CP.into()], ..Default::default() }.run(&mut ctx).await);
    assert!(only_cp.starts_with("2 node-level leftover(s)") && !only_cp.contains(WORKER), "{only_cp}");

    let out = n::Cleanup::default().run(&mut ctx).await.unwrap();
    assert!(out.detail.unwrap().starts_with("unmounted 1 mount(s), removed 3 path(s)"));
    assert_eq!(ctx.findings.iter().filter(|f| f.text.starts_with("node.cleanup:")).count(), 4, "{:?}", ctx.findings);
    assert!(!sim.nodes().mounts(WORKER).await.unwrap().iter().any(|m| m.target == target));
    assert!(!host(&sim, WORKER, &format!("/var/lib/kubelet/pods/{GONE_UID}")).exists());
    assert!(sim.nodes().pod_log_dirs(CP).await.unwrap().iter().all(|d| !d.starts_with("shop_web-0_")));
    n::AssertClean::default().run(&mut ctx).await.expect("clean after node.cleanup");
    let again = n::Cleanup::default().run(&mut ctx).await.unwrap();
    assert_eq!(again.detail.as_deref(), Some("nothing to clean: no node-level leftovers"));
}

#[tokio::test]
async fn dangling_links_and_local_path_dirs_of_gone_pvs() {
    let sim = common::sim().await;
    let mut ctx = node_ctx(&sim);
    n::OrphanPodLogs { node: WORKER.into(), namespace: "ns1".into(), pod: "job-x".into() }.run(&mut ctx).await.unwrap();
    let dir = sim.nodes().pod_log_dirs(WORKER).await.unwrap().into_iter().find(|d| d.starts_with("ns1_job-x_")).unwrap();
    // Removing the log dir leaves its link dangling.
    n::RemovePath { node: WORKER.into(), path: format!("/var/log/pods/{dir}") }.run(&mut ctx).await.unwrap();
    let lp = "/var/local-path-provisioner/pvc-9a9a9a9a-0000-4000-8000-000000000001_ns1_data-db-0";
    std::fs::create_dir_all(host(&sim, WORKER, lp)).unwrap();

    let err = failure(n::AssertClean { nodes: vec![WORKER.into()], ..Default::default() }.run(&mut ctx).await);
    assert!(err.contains("link /var/log/containers/job-x_ns1_main-") && err.contains(&format!("dangling: its log file /var/log/pods/{dir}/main/0.log is gone")), "{err}");
    assert!(err.contains(&format!("{WORKER}: dir {lp}: PersistentVolume pvc-9a9a9a9a-0000-4000-8000-000000000001 (claim ns1/data-db-0) no longer exists")), "{err}");
    assert!(err.starts_with("2 node-level leftover(s)"), "{err}");

    let found = n::leftovers::scan(&ctx, &*ctx.nodes.clone().unwrap(), &[]).await.unwrap();
    let kinds: Vec<LeftoverKind> = found.iter().map(|l| l.kind).collect();
    assert_eq!(kinds, [LeftoverKind::DanglingLink, LeftoverKind::LocalPathDir]);
    n::Cleanup { nodes: vec![WORKER.into()] }.run(&mut ctx).await.unwrap();
    assert!(!host(&sim, WORKER, lp).exists());
    n::AssertClean::default().run(&mut ctx).await.unwrap();
}

#[tokio::test]
async fn remove_path_refuses_anything_outside_the_node_leftover_areas() {
    let sim = common::sim().await;
    let mut ctx = node_ctx(&sim);
    for bad in ["/", "", "/etc", "/var/lib/kubelet/pods", "/var/lib/kubelet/pods/", "/var/log/pods/../../etc", "/var/log/pods//x", "var/log/pods/x", "/var/lib/kubelet/plugins/x"] {
        let err = failure(n::RemovePath { node: WORKER.into(), path: bad.into() }.run(&mut ctx).await);
        assert!(err.starts_with("refusing to remove"), "{bad}: {err}");
    }
    assert!(n::refuse_path("/var/local-path-provisioner/pvc-1_a_b").is_none());
    let err = failure(n::RemovePath { node: "no-such-node".into(), path: "/var/log/pods/a_b_c".into() }.run(&mut ctx).await);
    assert!(err.contains("no node named `no-such-node`") && err.contains(WORKER), "{err}");
    // A live mount is refused: rm -rf would empty the mounted volume, not unmount it.
    n::ZombieMount { node: WORKER.into(), pod_uid: Some(GONE_UID.into()), volume: None }.run(&mut ctx).await.unwrap();
    let err = failure(n::RemovePath { node: WORKER.into(), path: format!("/var/lib/kubelet/pods/{GONE_UID}") }.run(&mut ctx).await);
    assert!(err.contains("is still mounted (tmpfs); unmount it first"), "{err}");
    let out = n::RemovePath { node: WORKER.into(), path: "/var/log/pods/none_here_1".into() }.run(&mut ctx).await.unwrap();
    assert!(out.detail.unwrap().contains("already absent"));
}

#[tokio::test]
async fn live_pods_are_not_leftovers_and_deleted_pods_leave_nothing() {
    let sim = common::sim().await;
    let mut ctx = node_ctx(&sim);
    p::namespace::Create { name: "live".into(), labels: Default::default() }.run(&mut ctx).await.unwrap();
    apply(&mut ctx, &pinned_pod("live", "mem", WORKER)).await;
    pod_ready(&mut ctx, "live", "app=mem").await;
    let pod = Api::<Pod>::namespaced(sim.client(), "live").get("mem").await.unwrap();
    let uid = pod.metadata.uid.unwrap();
    assert!(sim.nodes().mounts(WORKER).await.unwrap().iter().any(|m| m.target.contains(&uid)), "the pod's tmpfs is mounted");
    n::AssertClean::default().run(&mut ctx).await.expect("a running pod's mounts and logs are not leftovers");
    // A zombie mount for a uid that exists is refused.
    let err = failure(n::ZombieMount { node: WORKER.into(), pod_uid: Some(uid.clone()), volume: None }.run(&mut ctx).await);
    assert!(err.contains("exists"), "{err}");
    Api::<Pod>::namespaced(sim.client(), "live").delete("mem", &DeleteParams::default()).await.unwrap();
    p::wait::Deleted { api_version: None, kind: "Pod".into(), name: "mem".into(), namespace: Some("live".into()) }.run(&mut ctx).await.unwrap();
    n::AssertClean::default().run(&mut ctx).await.expect("the kubelet cleaned up after a normal deletion");
}

#[tokio::test]
async fn cordon_drain_restart_and_prune() {
    let sim = common::sim().await;
    let mut ctx = node_ctx(&sim);
    let nodes: Api<Node> = Api::all(sim.client());
    let unschedulable = |n: Node| n.spec.and_then(|s| s.unschedulable).unwrap_or(false);
    n::Cordon { node: WORKER.into() }.run(&mut ctx).await.unwrap();
    assert!(unschedulable(nodes.get(WORKER).await.unwrap()));
    n::Uncordon { node: WORKER.into() }.run(&mut ctx).await.unwrap();
    assert!(!unschedulable(nodes.get(WORKER).await.unwrap()));

    p::namespace::Create { name: "drain".into(), labels: Default::default() }.run(&mut ctx).await.unwrap();
    apply(&mut ctx, &pinned_pod("drain", "solo", WORKER)).await;
    pod_ready(&mut ctx, "drain", "app=solo").await;
    let out = n::RestartKubelet { node: WORKER.into() }.run(&mut ctx).await.unwrap();
    assert!(out.detail.unwrap().contains("running pod(s) kept their containers"));
    // kind's kubelet.service and containerd.service use KillMode=process: nothing restarts.
    let restarts = |p: Pod| p.status.and_then(|s| s.container_statuses).map(|c| c[0].restart_count).unwrap_or(-1);
    let pods: Api<Pod> = Api::namespaced(sim.client(), "drain");
    assert_eq!(restarts(pods.get("solo").await.unwrap()), 0);
    n::RestartRuntime { node: WORKER.into() }.run(&mut ctx).await.unwrap();
    assert_eq!(restarts(pods.get("solo").await.unwrap()), 0);

    let out = n::Drain { node: WORKER.into(), ignore_daemonsets: true, timeout: Some(cleanroom::scenario::StepTimeout(Duration::from_secs(20))) }
        .run(&mut ctx)
        .await
        .unwrap();
    assert!(out.detail.unwrap().contains("drain/solo"));
    assert!(unschedulable(nodes.get(WORKER).await.unwrap()), "drain cordons");
    assert!(pods.get_opt("solo").await.unwrap().is_none(), "evicted and gone");
    n::Uncordon { node: WORKER.into() }.run(&mut ctx).await.unwrap();

    // busybox is no longer used on the worker once its only pod is gone.
    let out = n::PruneImages { node: Some(WORKER.into()) }.run(&mut ctx).await.unwrap();
    assert!(out.detail.unwrap().starts_with("pruned 1 unused image(s)"));
    assert!(sim.nodes().images(WORKER).await.unwrap().iter().all(|i| !i.contains("busybox")));
    let all = n::PruneImages::default().run(&mut ctx).await.unwrap().detail.unwrap();
    assert!(all.contains(CP) && all.contains("cleanroom-test-worker2"), "{all}");
}

/// `--sim-timing kind`: the embedded kubelet removes logs of pods it does not know only in its one-minute
/// log GC, as kind's does. node.assert-clean reports them as pending kubelet GC (not as leftovers) while
/// they are within the grace, as leftovers with no grace, and clean once the GC ran. The sim's manual
/// clock stands in for the minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_timing_logs_are_pending_kubelet_gc_until_the_kubelet_removes_them() {
    use cleanroom_sim::{Clock, SimCluster, SimOptions, Timing};
    let clock = Clock::manual(chrono::Utc::now());
    let options = SimOptions { name: "cleanroom-test".into(), workers: 2, timing: Timing::Kind, clock: clock.clone(), ..Default::default() };
    let sim = SimCluster::start(options).await.unwrap();
    let mut ctx = common::ctx(&sim);
    let ops = Arc::new(SimNodes::new(sim.nodes(), Timing::Kind));
    assert_eq!(cleanroom::providers::NodeOperations::log_gc_period(&*ops), Duration::from_secs(60));
    ctx.nodes = Some(ops);
    n::OrphanPodLogs { node: CP.into(), namespace: "shop".into(), pod: "web-0".into() }.run(&mut ctx).await.unwrap();

    let no_grace = n::AssertClean { gc_grace: Some(cleanroom::scenario::StepTimeout(Duration::ZERO)), ..Default::default() };
    let err = failure(no_grace.run(&mut ctx).await);
    assert!(err.starts_with("2 node-level leftover(s)") && err.contains("shop/web-0"), "{err}");

    // Within the default grace (60 s GC period + margin) when the step must end: pending, not failed.
    ctx.step_deadline = Some(tokio::time::Instant::now() + Duration::from_secs(4));
    let detail = n::AssertClean::default().run(&mut ctx).await.expect("pending logs are not leftovers").detail.unwrap();
    assert!(detail.contains("2 path(s) pending kubelet GC") && detail.contains("shop/web-0"), "{detail}");
    assert!(ctx.findings.iter().any(|f| f.text.starts_with("node.assert-clean: pending kubelet GC, not a leftover:") && f.text.contains("shop/web-0")), "{:?}", ctx.findings);

    // The kubelet's GC minute passes on the sim clock; the re-scan sees the logs go.
    clock.advance(Duration::from_secs(61));
    ctx.step_deadline = Some(tokio::time::Instant::now() + Duration::from_secs(30));
    let detail = n::AssertClean::default().run(&mut ctx).await.unwrap().detail.unwrap();
    assert_eq!(detail, "clean: no node-level leftovers on 3 node(s)");
    assert!(sim.nodes().pod_log_dirs(CP).await.unwrap().iter().all(|d| !d.starts_with("shop_web-0_")));
}
