//! Scale figures beyond kwok's documented 1k nodes / 100k pods (printed, never asserted):
//! start with N nodes, a DaemonSet Ready on every node, M pods created and Running with the
//! RSS they cost (when Running, and settled), deletion giving memory back.
//! `cargo bench -p cleanroom-sim --bench scale` (defaults: 1,000 nodes, 100,000 pods;
//! `SCALE_NODES` / `SCALE_PODS` change them; `SCALE_HISTORY_FRESH_SECS` shortens the 75 s
//! watch-history freshness the memory figure waits out; `SCALE_TRACE=1` prints the DaemonSet's
//! pods created, bound and running every 250 ms, and the writes by type once it is Ready).

use std::time::{Duration, Instant};

use cleanroom_sim::server::{ApiServer, WriteOptions};
use cleanroom_sim::{SimCluster, SimOptions};
use serde_json::json;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

mod common;
use common::{live_heap_mib, peak_rss_mib, rss_mib};

#[global_allocator]
static ALLOC: common::CountingMimalloc = common::CountingMimalloc;

/// Re-check `done` on every store change (no sleeping) until it holds or `limit` passes.
async fn until(server: &ApiServer, limit: Duration, mut done: impl FnMut(&ApiServer) -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    let mut rx = server.store.subscribe();
    loop {
        if done(server) {
            return Some(t0.elapsed());
        }
        let left = limit.checked_sub(t0.elapsed())?;
        // Drain a burst before re-checking: the check itself lists every object.
        let _ = tokio::time::timeout(left, rx.recv()).await;
        while rx.try_recv().is_ok() {}
    }
}

fn running(p: &serde_json::Value) -> bool {
    p.pointer("/status/phase").and_then(|v| v.as_str()) == Some("Running")
}

fn running_pods(server: &ApiServer, ns: &str) -> usize {
    server.store.list("pods", Some(ns)).0.iter().filter(|p| running(p)).count()
}

/// Wait until `want` pods of `ns` are Running, counting from pod events (a list per check
/// would cost the benchmark more than the cluster it measures).
async fn until_running(server: &ApiServer, ns: &str, want: usize, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    let running_names = |pods: &[std::sync::Arc<serde_json::Value>]| -> std::collections::HashSet<String> {
        pods.iter().filter(|p| running(p)).map(|p| p["metadata"]["name"].as_str().unwrap_or("").to_string()).collect()
    };
    let (pods, _, mut rx) = server.store.list_and_watch("pods", Some(ns));
    let mut up = running_names(&pods);
    while up.len() < want {
        let left = limit.checked_sub(t0.elapsed())?;
        match tokio::time::timeout(left, rx.recv()).await {
            Err(_) => return None,
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                up = running_names(&server.store.list("pods", Some(ns)).0);
            }
            Ok(Err(_)) => return None,
            Ok(Ok(ev)) if &*ev.key == "pods" && ev.namespace == ns => {
                if ev.kind != cleanroom_sim::store::EventType::Deleted && running(&ev.object) {
                    up.insert(ev.name.clone());
                } else {
                    up.remove(&ev.name);
                }
            }
            Ok(Ok(_)) => {}
        }
    }
    Some(t0.elapsed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nodes = env_or("SCALE_NODES", 1000).max(1);
    let pods = env_or("SCALE_PODS", 100_000);
    let limit = Duration::from_secs(env_or("SCALE_LIMIT_SECS", 600) as u64);

    // Node filesystems on tmpfs when there is one: the figures are the cluster's, not the disk's
    // (on ext4, creating and deleting thousands of pod directories makes every run slower than
    // the last).
    let shm = std::path::Path::new("/dev/shm");
    let root = shm.is_dir().then(|| tempfile::Builder::new().prefix("cleanroom-scale-").tempdir_in(shm).ok()).flatten();
    let t0 = Instant::now();
    let fresh = Duration::from_secs(env_or("SCALE_HISTORY_FRESH_SECS", 75) as u64);
    let sim = SimCluster::start(SimOptions { workers: nodes - 1, watch_history_fresh: fresh, root_dir: root.as_ref().map(|d| d.path().to_path_buf()), ..Default::default() }).await.unwrap();
    println!("start with {nodes} nodes: {:.0} ms (target < 1 s at 1,000)", t0.elapsed().as_secs_f64() * 1e3);
    let server = sim.api().clone();
    let opts = WriteOptions::default();
    let ns_rt = server.resource("", "v1", "namespaces").unwrap();
    for ns in ["ds", "scale"] {
        server.create(&ns_rt, None, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}), &opts).unwrap();
    }

    // A cluster is ready once its own DaemonSets (kind's kube-proxy and kindnet, a pod per
    // node each) are: the DaemonSet below is timed on a settled cluster, as on kind or kwok.
    let settled = until(&server, limit, |s| {
        let ds = s.store.list("apps/daemonsets", Some("kube-system")).0;
        !ds.is_empty() && ds.iter().all(|d| d.pointer("/status/numberReady").and_then(|n| n.as_u64()) == Some(nodes as u64))
    }).await;
    match settled {
        Some(d) => println!("kube-system DaemonSets Ready on all {nodes} nodes: {:.0} ms after the start", d.as_secs_f64() * 1e3),
        None => println!("kube-system DaemonSets not Ready on all {nodes} nodes within {limit:?}"),
    }

    // A DaemonSet that tolerates the control-plane taint: one Ready pod per node.
    let ds_rt = server.resource("apps", "v1", "daemonsets").unwrap();
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "ds"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"metadata": {"labels": {"app": "agent"}},
            "spec": {"tolerations": [{"operator": "Exists"}], "containers": [{"name": "a", "image": "registry.k8s.io/pause:3.10"}]}}}});
    server.create(&ds_rt, Some("ds"), ds, &opts).unwrap();
    if std::env::var("SCALE_TRACE").is_ok() {
        spawn_daemonset_trace(server.clone());
    }
    let ds_ready = until(&server, limit, |s| {
        s.store.get("apps/daemonsets", "ds", "agent").and_then(|d| d.pointer("/status/numberReady").and_then(|n| n.as_u64())) == Some(nodes as u64)
    }).await;
    match ds_ready {
        Some(d) => println!("DaemonSet Ready on all {nodes} nodes: {:.0} ms (target < 2 s at 1,000)", d.as_secs_f64() * 1e3),
        None => {
            let pods = server.store.list("pods", Some("ds")).0;
            let bound = pods.iter().filter(|p| p.pointer("/spec/nodeName").is_some()).count();
            println!("DaemonSet not Ready on all {nodes} nodes within {limit:?}: status {}, {} pods, {bound} bound, {} Running",
                server.store.get("apps/daemonsets", "ds", "agent").map(|d| d["status"].to_string()).unwrap_or_default(), pods.len(), pods.iter().filter(|p| running(p)).count());
            if let Ok((log, _)) = server.store.watch_from(0) {
                let added = log.iter().filter(|e| &*e.key == "pods" && e.namespace == "ds" && e.kind == cleanroom_sim::store::EventType::Added).count();
                println!("  history from 0: {} events, {added} ADDED ds pods", log.len());
            }
            if let Some(p) = pods.iter().find(|p| p.pointer("/spec/nodeName").is_none()) {
                println!("  first unbound: {} {}", p["metadata"]["name"], p["status"]);
            }
        }
    }

    // M pods through one Deployment (ReplicaSet controller, scheduler, kubelets).
    let before = rss_mib();
    println!("before the pods: RSS {before:.0} MiB (in use: {:.0} MiB)", live_heap_mib());
    let dep_rt = server.resource("apps", "v1", "deployments").unwrap();
    let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "many", "namespace": "scale"},
        "spec": {"replicas": pods, "selector": {"matchLabels": {"app": "many"}}, "template": {"metadata": {"labels": {"app": "many"}},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}});
    let t1 = Instant::now();
    if std::env::var_os("SCALE_SAMPLE").is_some() {
        let s = server.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                eprintln!("{:>4} s: RSS {:.0} MiB, in use {:.0} MiB, {:?}", t1.elapsed().as_secs(), rss_mib(), live_heap_mib(), s.store.held());
            }
        });
    }
    server.create(&dep_rt, Some("scale"), dep, &opts).unwrap();
    let running = until_running(&server, "scale", pods, limit).await;
    let at_peak = rss_mib();
    let held = server.store.held();
    println!("  at that moment: in use {:.0} MiB; {held:?}", live_heap_mib());
    match running {
        Some(d) => println!("{pods} pods created and Running: {:.1} s ({:.0} pods/s), RSS {at_peak:.0} MiB (+{:.0} MiB; target < 3 GB at 100k); highest RSS on the way: {:.0} MiB",
            d.as_secs_f64(), pods as f64 / d.as_secs_f64(), at_peak - before, peak_rss_mib()),
        None => println!("only {} of {pods} pods Running after {:?}, RSS {at_peak:.0} MiB", running_pods(&server, "scale"), t1.elapsed()),
    }

    // Where the memory is: objects per type, the watch history, a pod's JSON size.
    let mut kinds: Vec<(String, usize, usize)> = ["pods", "events", "apps/replicasets", "coordination.k8s.io/leases"].iter().map(|k| {
        let objs = server.store.list(k, None).0;
        let bytes = objs.iter().map(|o| serde_json::to_vec(&**o).map(|v| v.len()).unwrap_or(0)).sum();
        (k.to_string(), objs.len(), bytes)
    }).collect();
    kinds.sort();
    for (k, n, b) in kinds {
        println!("  {k}: {n} objects, {:.1} MiB as JSON", b as f64 / 1048576.0);
    }
    println!("  watch history: {} events; store: {} objects", server.store.history_len(), server.store.len());

    // Settled: once their changes leave the history and nobody reads them for a sweep, the
    // pods are held packed (`Store::cool`).
    let sweep = (fresh / 2).clamp(Duration::from_millis(50), Duration::from_secs(60));
    tokio::time::sleep(fresh.max(sweep * 2) + sweep + Duration::from_secs(1)).await;
    println!("  settled, {:.0} s later (nothing read or written): RSS {:.0} MiB (in use: {:.0} MiB)",
        t1.elapsed().as_secs_f64() - running.map_or(0.0, |d| d.as_secs_f64()), rss_mib(), live_heap_mib());

    // Deleting gives memory back (bounded watch history, objects dropped).
    let t2 = Instant::now();
    let _ = server.delete(&ns_rt, None, "scale", &Default::default());
    let gone = until(&server, limit, |s| s.store.get("namespaces", "", "scale").is_none()).await;
    match gone {
        Some(d) => {
            println!("namespace with {pods} pods deleted: {:.1} s; RSS {:.0} MiB after (was {at_peak:.0})", d.as_secs_f64(), rss_mib());
            // The deleted pods' past stays replayable for the history's freshness window.
            let history = server.store.history_len();
            tokio::time::sleep(fresh + Duration::from_secs(1)).await;
            tokio::time::sleep(sweep).await;
            println!("  {:.0} s later (watch history {history} → {} events): RSS {:.0} MiB (before the pods: {before:.0} MiB)",
                (fresh + sweep).as_secs_f64() + 1.0, server.store.history_len(), rss_mib());
        }
        None => println!("namespace not gone after {:?}", t2.elapsed()),
    }
    sim.shutdown().await;
    drop(root);
}

/// `SCALE_TRACE`: the DaemonSet's pods created, bound and running every 250 ms (a diagnostic of the
/// bench, not a wait), and the writes by type once it is Ready.
fn spawn_daemonset_trace(s: std::sync::Arc<ApiServer>) {
    let t = Instant::now();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let pods = s.store.list("pods", Some("ds")).0;
            let bound = pods.iter().filter(|p| p.pointer("/spec/nodeName").is_some()).count();
            let ready = s.store.get("apps/daemonsets", "ds", "agent").and_then(|d| d.pointer("/status/numberReady").and_then(|n| n.as_u64())).unwrap_or(0);
            eprintln!("{:>5} ms: {} pods, {bound} bound, {} running, {ready} ready (status), rv {}", t.elapsed().as_millis(), pods.len(), pods.iter().filter(|p| running(p)).count(), s.store.current_rv());
            if ready as usize >= pods.len() && !pods.is_empty() {
                let (log, _) = s.store.watch_from(0).unwrap();
                let mut by: std::collections::BTreeMap<(String, &str), usize> = Default::default();
                for e in &log { *by.entry((e.key.to_string(), e.kind.as_str())).or_default() += 1; }
                let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
                for e in log.iter().filter(|e| &*e.key == "events") { *reasons.entry(format!("{} {}", e.kind.as_str(), e.object["reason"].as_str().unwrap_or(""))).or_default() += 1; }
                eprintln!("{by:?}\n{reasons:?}");
                break;
            }
        }
    });
}
