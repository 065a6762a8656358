//! Embedded API server figures (printed, never asserted):
//! cold start, creates/s and gets/s of small ConfigMaps, list of 10k objects, watch latency,
//! and memory at 10k objects. Run with `cargo bench -p cleanroom-sim --bench api`.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

const CONCURRENCY: usize = 8;

fn cm(name: String) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0)))
        .unwrap_or(0.0)
        / 1024.0
}

async fn parallel<F, Fut>(n: usize, f: F) -> Duration
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..CONCURRENCY {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                f(i).await;
                i += CONCURRENCY;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rss0 = rss_mib();
    let t0 = Instant::now();
    let sim = cleanroom_sim::SimCluster::start(Default::default()).await.unwrap();
    let client = sim.client();
    client.apiserver_version().await.unwrap();
    println!("cold start to first served request: {:.1} ms (target < 50 ms)", t0.elapsed().as_secs_f64() * 1e3);

    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let n = 10_000;
    let a = api.clone();
    let took = parallel(n, move |i| {
        let a = a.clone();
        async move {
            a.create(&PostParams::default(), &cm(format!("cm-{i:05}"))).await.unwrap();
        }
    })
    .await;
    println!("create small ConfigMaps: {n} in {:.2} s = {:.0} req/s ({CONCURRENCY} concurrent clients; target >= 5000)", took.as_secs_f64(), n as f64 / took.as_secs_f64());

    let a = api.clone();
    let took = parallel(n, move |i| {
        let a = a.clone();
        async move {
            a.get(&format!("cm-{i:05}")).await.unwrap();
        }
    })
    .await;
    println!("get small ConfigMaps: {n} in {:.2} s = {:.0} req/s", took.as_secs_f64(), n as f64 / took.as_secs_f64());

    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let l = api.list(&ListParams::default()).await.unwrap();
        assert!(l.items.len() >= n);
        best = best.min(t.elapsed());
    }
    println!("list of {n} ConfigMaps over HTTP (kube-rs, decode included): best of 5 = {:.1} ms (target < 100 ms)", best.as_secs_f64() * 1e3);
    let rt = sim.api().resource("", "v1", "configmaps").unwrap();
    let t = Instant::now();
    let res = sim.api().list(&rt, Some("default"), &Default::default()).unwrap();
    let body = res.to_bytes(&rt);
    println!("list of {n} ConfigMaps server side (select + serialize {} KiB): {:.1} ms", body.len() / 1024, t.elapsed().as_secs_f64() * 1e3);

    // Watch latency: create → event received, one at a time.
    let rv = api.list(&ListParams::default().limit(1)).await.unwrap().metadata.resource_version.unwrap();
    let mut stream = api.watch(&WatchParams::default().timeout(60), &rv).await.unwrap().boxed();
    let mut lat = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        api.create(&PostParams::default(), &cm(format!("w-{i}"))).await.unwrap();
        loop {
            if let Some(WatchEvent::Added(c)) = stream.try_next().await.unwrap()
                && c.metadata.name.as_deref() == Some(&format!("w-{i}")) {
                    break;
                }
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "watch latency create→event (200 samples): p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        lat[100].as_secs_f64() * 1e3, lat[190].as_secs_f64() * 1e3, lat[199].as_secs_f64() * 1e3
    );
    println!("objects stored: {}; process RSS grew {:.1} MiB (from {:.1} to {:.1} MiB, client included)", sim.api().store.len(), rss_mib() - rss0, rss0, rss_mib());
    sim.shutdown().await;
}
