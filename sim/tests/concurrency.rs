//! Many writers on the same objects: no acknowledged write is lost, losers get 409, and a
//! watcher sees every write in order.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

const OBJECTS: usize = 3;
const WRITERS: usize = 6;
const INCREMENTS: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_lose_nothing_and_watchers_see_all() {
    let h = common::Harness::start().await;
    let api: Api<ConfigMap> = Api::namespaced(h.sim.client(), "default");
    for i in 0..OBJECTS {
        let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("counter-{i}")}, "data": {"n": "0"}})).unwrap();
        api.create(&PostParams::default(), &c).await.unwrap();
    }
    let rv = api.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    let mut watch = api.watch(&WatchParams::default().timeout(60), &rv).await.unwrap().boxed();

    let conflicts = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let api = api.clone();
        let conflicts = conflicts.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = vec![0usize; OBJECTS];
            for k in 0..INCREMENTS {
                let target = (w + k) % OBJECTS;
                let name = format!("counter-{target}");
                loop {
                    let mut cur = api.get(&name).await.unwrap();
                    let n: u64 = cur.data.as_ref().unwrap()["n"].parse().unwrap();
                    cur.data.as_mut().unwrap().insert("n".into(), (n + 1).to_string());
                    match api.replace(&name, &PostParams::default(), &cur).await {
                        Ok(_) => {
                            acked[target] += 1;
                            break;
                        }
                        Err(kube::Error::Api(s)) if s.code == 409 => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("unexpected error {e:?}"),
                    }
                }
            }
            acked
        }));
    }
    let mut total = [0usize; OBJECTS];
    for t in tasks {
        for (i, a) in t.await.unwrap().into_iter().enumerate() {
            total[i] += a;
        }
    }
    for (i, expected) in total.iter().enumerate() {
        let c = api.get(&format!("counter-{i}")).await.unwrap();
        assert_eq!(c.data.unwrap()["n"], expected.to_string(), "counter-{i} lost a write");
    }
    // The watcher saw each counter go 1, 2, ..., N with increasing resourceVersions.
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    let mut last_rv = 0u64;
    let want: usize = total.iter().sum();
    let mut got = 0;
    while got < want {
        let ev = tokio::time::timeout(Duration::from_secs(10), watch.try_next()).await.expect("watch event").unwrap().unwrap();
        if let WatchEvent::Modified(c) = ev {
            let rv: u64 = c.metadata.resource_version.unwrap().parse().unwrap();
            assert!(rv > last_rv, "resourceVersions go up");
            last_rv = rv;
            seen.entry(c.metadata.name.unwrap()).or_default().push(c.data.unwrap()["n"].parse().unwrap());
            got += 1;
        }
    }
    for (i, n) in total.iter().enumerate() {
        let s = &seen[&format!("counter-{i}")];
        assert_eq!(s, &(1..=*n as u64).collect::<Vec<_>>());
    }
    eprintln!("{} conflicts answered with 409 across {} writers", conflicts.load(Ordering::Relaxed), WRITERS);
}
