//! Embedded cluster figures (printed, never asserted): rendered kube-prometheus-stack
//! (132 objects) applied → every pod Ready; controller reaction latency; memory at 10k objects.
//! Run with `cargo bench -p cleanroom-sim --bench cluster`.

use std::time::{Duration, Instant};

use cleanroom_sim::api::patch::PatchType;
use cleanroom_sim::server::WriteOptions;
use serde_json::{json, Value};

mod common;
use common::rss_mib;

fn docs(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split("\n---")
        .filter_map(|d| {
            let body = d.trim_start_matches('-').trim();
            if !body.lines().any(|l| l.starts_with("kind:")) {
                return None;
            }
            serde_saphyr::from_str::<Value>(body).ok()
        })
        .collect()
}

fn plural_of(server: &cleanroom_sim::server::ApiServer, obj: &Value) -> std::sync::Arc<cleanroom_sim::registry::ResourceType> {
    server.registry.by_kind(obj["apiVersion"].as_str().unwrap(), obj["kind"].as_str().unwrap()).expect("served kind")
}

fn all_pods_ready(server: &cleanroom_sim::server::ApiServer, ns: &str) -> (usize, bool) {
    let (pods, _) = server.store.list("pods", Some(ns));
    let ready = pods.iter().all(|p| {
        p.pointer("/status/phase").and_then(|v| v.as_str()) == Some("Succeeded")
            || p.pointer("/status/conditions").and_then(|c| c.as_array()).is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    });
    (pods.len(), ready)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sim = cleanroom_sim::SimCluster::start(Default::default()).await.unwrap();
    let server = sim.api().clone();
    let render = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/kube-prometheus-stack/rendered/storage.yaml");
    let objs = docs(render);
    let ns_rt = server.resource("", "v1", "namespaces").unwrap();
    server.create(&ns_rt, None, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}}), &WriteOptions::default()).unwrap();
    let opts = WriteOptions { field_manager: Some("bench".into()), force: true, ..Default::default() };
    let t0 = Instant::now();
    let mut rx = server.store.subscribe();
    // CRDs first (they are first in the render), then the rest, as server-side applies.
    for o in &objs {
        let rt = plural_of(&server, o);
        let ns = if rt.namespaced { Some(o.pointer("/metadata/namespace").and_then(|n| n.as_str()).unwrap_or("monitoring")) } else { None };
        server.patch(&rt, ns, o["metadata"]["name"].as_str().unwrap(), PatchType::Apply, o, None, &opts).unwrap();
    }
    let applied = t0.elapsed();
    // Event-driven: re-check only when the store changes.
    let want_sts_pods = 2;
    loop {
        let (n, ready) = all_pods_ready(&server, "monitoring");
        let sts_pods = server.store.list("pods", Some("monitoring")).0.iter().filter(|p| p["metadata"]["name"].as_str().unwrap().ends_with("-0")).count();
        if ready && n > 0 && sts_pods >= want_sts_pods {
            println!("applied {} rendered objects in {:.1} ms; all {n} pods Ready (incl. operator-made StatefulSets) {:.1} ms after the first apply",
                objs.len(), applied.as_secs_f64() * 1e3, t0.elapsed().as_secs_f64() * 1e3);
            break;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            println!("pods not all Ready after 60 s ({n} pods)");
            break;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await;
    }

    // Controller reaction: Deployment created → first pod Running.
    let dep_rt = server.resource("apps", "v1", "deployments").unwrap();
    let mut lat = Vec::new();
    for i in 0..20 {
        let name = format!("react-{i}");
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}}});
        let mut rx = server.store.subscribe();
        let t = Instant::now();
        server.create(&dep_rt, Some("default"), dep, &WriteOptions::default()).unwrap();
        loop {
            let ev = rx.recv().await.unwrap();
            if &*ev.key == "pods" && ev.object.pointer("/metadata/labels/app").and_then(|a| a.as_str()) == Some(name.as_str())
                && ev.object.pointer("/status/phase").and_then(|p| p.as_str()) == Some("Running") {
                break;
            }
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    println!("controller reaction, Deployment create → pod Running (20 samples): p50 {:.2} ms, p95 {:.2} ms",
        lat[10].as_secs_f64() * 1e3, lat[18].as_secs_f64() * 1e3);

    // Memory at 10k objects.
    let before = rss_mib();
    let cm_rt = server.resource("", "v1", "configmaps").unwrap();
    for i in 0..10_000 {
        server.create(&cm_rt, Some("default"), json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("m-{i}")}, "data": {"k": "v"}}), &WriteOptions::default()).unwrap();
    }
    println!("memory: {} objects stored, RSS {:.1} MiB (+{:.1} MiB for 10k ConfigMaps, watch history included)", server.store.len(), rss_mib(), rss_mib() - before);
    sim.shutdown().await;
}
