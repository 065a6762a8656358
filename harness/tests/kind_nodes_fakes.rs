//! kind's node operations (`KindNodes`) with a fake `docker` recording every `docker exec`, against
//! the embedded cluster's API: restarts wait for the kubelet's healthz and claim no restarts, cleanup
//! stops at a failed umount and unmounts deepest first, prune keeps what was there at cluster start,
//! and a cancelled step ends its `docker exec`.

#![cfg(unix)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use cleanroom::primitives::node as n;
use cleanroom::primitives::{Primitive, StepContext};
use cleanroom::providers::NodeOperations;
use cleanroom::providers::environment::NodeRuntime;
use cleanroom::providers::kind_nodes::KindNodes;
use common::fakes::{Fakes, docker_body, read_fifo};

const WORKER: &str = "cleanroom-test-worker";
const GONE_UID: &str = "0b1e7c6a-1111-4222-8333-444455556666";

fn kind_nodes(sim: &cleanroom_sim::SimCluster, fakes: &Fakes, exec_cases: &str) -> Arc<KindNodes> {
    let docker = fakes.tool("docker", &docker_body(exec_cases));
    Arc::new(KindNodes::new(sim.client(), vec![WORKER.into()], NodeRuntime { name: "docker".into(), binary: docker }))
}

fn ctx_with(sim: &cleanroom_sim::SimCluster, nodes: Arc<KindNodes>) -> StepContext {
    let mut ctx = common::ctx(sim);
    ctx.nodes = Some(nodes);
    ctx
}

/// The in-node scripts, in order (the argv ends `... sh -c <script>`).
fn scripts(fakes: &Fakes) -> Vec<String> {
    fakes.calls("docker").into_iter().filter(|c| c[0] == "exec").map(|c| c.last().cloned().unwrap_or_default()).collect()
}

#[tokio::test]
async fn kubelet_restart_waits_for_healthz_and_claims_no_restarts() {
    let sim = common::sim().await;
    let fakes = Fakes::new();
    let nodes = kind_nodes(&sim, &fakes, "");
    let mut ctx = ctx_with(&sim, nodes);
    let out = n::RestartKubelet { node: WORKER.into() }.run(&mut ctx).await.unwrap();
    let detail = out.detail.unwrap();
    assert!(detail.contains(": 0 container(s) restarted"), "{detail}");
    assert!(detail.contains("KillMode=process"), "{detail}");
    let calls = fakes.calls("docker");
    assert_eq!(&calls[0][..3], ["exec", "--privileged", WORKER], "node ops run privileged, as kind's own execs");
    assert_eq!(&calls[0][3..7], ["timeout", "-k", "5", "120"], "bounded inside the node");
    let s = scripts(&fakes);
    assert_eq!(s[0], "systemctl restart kubelet");
    assert!(s[1].contains("curl -sf --max-time 2 http://127.0.0.1:10248/healthz"), "healthz awaited after the restart: {s:?}");
}

#[tokio::test]
async fn an_unhealthy_kubelet_fails_the_restart() {
    let sim = common::sim().await;
    let fakes = Fakes::new();
    let nodes = kind_nodes(&sim, &fakes, r#"      *healthz*) echo "the kubelet healthz did not answer ok" >&2; exit 1 ;;"#);
    let mut ctx = ctx_with(&sim, nodes);
    let err = n::RestartKubelet { node: WORKER.into() }.run(&mut ctx).await.unwrap_err().to_string();
    assert!(err.contains("healthz did not answer ok"), "{err}");
}

/// A zombie tmpfs mount (and a nested one) of a gone pod on the worker, as /proc/mounts shows them.
fn plant_zombie(fakes: &Fakes) -> (String, String) {
    let outer = format!("/var/lib/kubelet/pods/{GONE_UID}/volumes/kubernetes.io~empty-dir/cache");
    let inner = format!("{outer}/nested");
    fakes.write("mounts", &format!("tmpfs {outer} tmpfs rw 0 0\ntmpfs {inner} tmpfs rw 0 0\n"));
    fakes.write("kubelet-pods", &format!("{GONE_UID}\n"));
    (outer, inner)
}

#[tokio::test]
async fn a_failed_umount_stops_the_cleanup_before_anything_is_removed() {
    let sim = common::sim().await;
    let fakes = Fakes::new();
    plant_zombie(&fakes);
    let nodes = kind_nodes(&sim, &fakes, r#"      *"mountpoint -q"*) echo "umount: target is busy." >&2; exit 32 ;;"#);
    let mut ctx = ctx_with(&sim, nodes);
    let err = n::Cleanup::default().run(&mut ctx).await.unwrap_err().to_string();
    assert!(err.contains("unmount") && err.contains("target is busy"), "{err}");
    assert!(!scripts(&fakes).iter().any(|s| s.contains("rm -rf")), "nothing may be removed under a live mount");
    assert!(!ctx.findings.iter().any(|f| f.to_string().contains("unmounted")), "{:?}", ctx.findings);
}

#[tokio::test]
async fn cleanup_unmounts_deepest_first_then_removes_on_one_filesystem() {
    let sim = common::sim().await;
    let fakes = Fakes::new();
    let (outer, inner) = plant_zombie(&fakes);
    // umount succeeds: the target leaves /proc/mounts.
    let nodes = kind_nodes(
        &sim,
        &fakes,
        r#"      *"mountpoint -q"*) t=$(printf '%s' "$last" | sed -n "s/^if mountpoint -q '\([^']*\)'.*/\1/p"); echo " $t " >> "$D/unmounted"; echo unmounted ;;"#,
    );
    let mut ctx = ctx_with(&sim, nodes);
    n::Cleanup::default().run(&mut ctx).await.unwrap();
    let s = scripts(&fakes);
    let pos = |needle: &str| s.iter().position(|x| x.contains(needle)).unwrap_or_else(|| panic!("no `{needle}` in {s:?}"));
    assert!(pos(&format!("mountpoint -q '{inner}'")) < pos(&format!("mountpoint -q '{outer}'")), "deepest first: {s:?}");
    let rm = &s[pos("rm -rf")];
    assert_eq!(rm, &format!("rm -rf --one-file-system -- '/var/lib/kubelet/pods/{GONE_UID}'"));
    assert_eq!(ctx.findings.iter().filter(|f| f.to_string().contains("node.cleanup: unmounted")).count(), 2, "{:?}", ctx.findings);
}

#[tokio::test]
async fn prune_removes_only_images_pulled_since_cluster_start() {
    let sim = common::sim().await;
    let fakes = Fakes::new();
    let image = |id: &str, tag: &str| format!(r#"{{"id":"{id}","repoTags":["{tag}"],"pinned":false}}"#);
    let preloaded = [image("sha256:helper", "docker.io/kindest/local-path-helper:v1"), image("sha256:loaded", "example.dev/app:dev")];
    fakes.write("images.json", &format!(r#"{{"images":[{}]}}"#, preloaded.join(",")));
    let nodes = kind_nodes(&sim, &fakes, "");
    nodes.record_image_baseline().await.unwrap();
    // Later the run pulled nginx (now unused) and busybox (in use).
    let now = [preloaded[0].clone(), preloaded[1].clone(), image("sha256:nginx", "docker.io/library/nginx:1.27"), image("sha256:busybox", "docker.io/library/busybox:1.37")];
    fakes.write("images.json", &format!(r#"{{"images":[{}]}}"#, now.join(",")));
    fakes.write("containers.json", r#"{"containers":[{"imageRef":"sha256:busybox"}]}"#);
    let mut ctx = ctx_with(&sim, nodes);
    let out = n::PruneImages::default().run(&mut ctx).await.unwrap();
    assert!(out.detail.unwrap().starts_with("pruned 1 unused image(s)"));
    let rmi: Vec<String> = scripts(&fakes).into_iter().filter(|s| s.starts_with("crictl rmi")).collect();
    assert_eq!(rmi, vec!["crictl rmi 'sha256:nginx'"], "never `--prune`, never a preloaded or loaded image");
}

#[tokio::test]
async fn prune_without_a_recorded_image_list_refuses() {
    let sim = common::sim().await;
    let fakes = Fakes::new();
    let nodes = kind_nodes(&sim, &fakes, "");
    let err = nodes.prune_images(WORKER).await.unwrap_err();
    assert!(err.contains("no image list was recorded"), "{err}");
    assert!(!scripts(&fakes).iter().any(|s| s.starts_with("crictl rmi")));
}

#[tokio::test]
async fn a_timed_out_step_ends_its_docker_exec() {
    let sim = common::sim().await;
    let fakes = Fakes::new();
    let started = fakes.fifo("started");
    let signals = fakes.fifo("signals");
    let nodes = kind_nodes(
        &sim,
        &fakes,
        r#"      *"systemctl restart kubelet"*) trap 'echo TERM > "$D/signals"; exit 143' TERM; echo started > "$D/started"; while :; do sleep 1 & wait $!; done ;;"#,
    );
    let mut ctx = ctx_with(&sim, nodes);
    let step = n::RestartKubelet { node: WORKER.into() };
    let term = read_fifo(&signals, Duration::from_secs(30));
    // The runner drops a step's future at its timeout or on Ctrl-C; do the same once the exec runs.
    tokio::select! {
        r = step.run(&mut ctx) => panic!("the fake blocks, so the step cannot end: {r:?}"),
        s = read_fifo(&started, Duration::from_secs(60)) => assert_eq!(s.trim(), "started"),
    }
    assert_eq!(term.await.trim(), "TERM", "the docker exec child got SIGTERM");
}

/// `ls -1 '/var/log/pods'` lists `$D/podlogs` until the `$D/gc-after`-th scan (the kubelet's log GC).
const POD_LOG_SCANS: &str = r#"      *"ls -1 '/var/log/pods'"*) n=$(cat "$D/logscans" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$D/logscans"; if [ ! -f "$D/gc-after" ] || [ $n -lt "$(cat "$D/gc-after")" ]; then cat "$D/podlogs" 2>/dev/null; fi; true ;;"#;

fn orphan_log(fakes: &Fakes) {
    fakes.write("podlogs", &format!("gone-ns_gone-0_{GONE_UID}\n"));
}

fn assert_clean(grace_secs: u64) -> n::AssertClean {
    n::AssertClean { nodes: vec![], gc_grace: Some(cleanroom_core::duration::StepTimeout(Duration::from_secs(grace_secs))) }
}

#[tokio::test]
async fn logs_the_kubelet_gc_removes_within_the_grace_are_no_leftovers() {
    let sim = common::sim().await;
    let fakes = Fakes::new();
    orphan_log(&fakes);
    fakes.write("gc-after", "3");
    let mut ctx = ctx_with(&sim, kind_nodes(&sim, &fakes, POD_LOG_SCANS));
    let out = assert_clean(30).run(&mut ctx).await.unwrap();
    assert_eq!(out.detail.unwrap(), "clean: no node-level leftovers on 1 node(s)");
    assert_eq!(fakes.read("logscans").trim(), "3", "re-scanned until the log dir was gone");
}

#[tokio::test]
async fn logs_older_than_the_grace_are_leftovers() {
    let sim = common::sim().await;
    let fakes = Fakes::new();
    orphan_log(&fakes);
    let mut ctx = ctx_with(&sim, kind_nodes(&sim, &fakes, POD_LOG_SCANS));
    let err = assert_clean(1).run(&mut ctx).await.unwrap_err().to_string();
    assert!(err.starts_with("1 node-level leftover(s)"), "{err}");
    assert!(err.contains(&format!("dir /var/log/pods/gone-ns_gone-0_{GONE_UID}: pod gone-ns/gone-0")), "{err}");
    assert!(err.contains("past the kubelet's log GC"), "{err}");
}

#[tokio::test]
async fn logs_still_within_the_grace_at_the_step_deadline_are_pending_gc() {
    let sim = common::sim().await;
    let fakes = Fakes::new();
    orphan_log(&fakes);
    let mut ctx = ctx_with(&sim, kind_nodes(&sim, &fakes, POD_LOG_SCANS));
    ctx.step_deadline = Some(tokio::time::Instant::now() + Duration::from_secs(4));
    let out = assert_clean(65).run(&mut ctx).await.unwrap();
    let detail = out.detail.unwrap();
    assert!(detail.contains("1 path(s) pending kubelet GC"), "{detail}");
    assert!(ctx.findings.iter().any(|f| f.to_string().contains("pending kubelet GC, not a leftover")), "{:?}", ctx.findings);
}

#[tokio::test]
async fn a_zombie_mount_fails_at_once_without_waiting_for_gc() {
    let sim = common::sim().await;
    let fakes = Fakes::new();
    plant_zombie(&fakes);
    let mut ctx = ctx_with(&sim, kind_nodes(&sim, &fakes, POD_LOG_SCANS));
    let started = std::time::Instant::now();
    let err = assert_clean(65).run(&mut ctx).await.unwrap_err().to_string();
    assert!(err.contains("its volume mount (tmpfs) was not unmounted"), "{err}");
    assert_eq!(fakes.read("logscans").trim(), "1", "one scan: nothing the kubelet's GC removes");
    assert!(started.elapsed() < Duration::from_secs(30));
}
