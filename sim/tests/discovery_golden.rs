//! Discovery matches kube-apiserver 1.35's golden documents (kubernetes/kubernetes
//! api/discovery/*.json, copied into sim/resources/discovery), compared as parsed JSON.

mod common;

use serde_json::Value;

async fn get_json(url: &str, path: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // Bodies are not chunked for plain GETs (hyper sets content-length for full bodies).
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_group_version_matches_golden() {
    let h = common::Harness::start().await;
    let url = h.sim.url();
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("resources/discovery");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if !name.ends_with(".json") || name == "api.json" {
            continue;
        }
        let path = format!("/{}", name.trim_end_matches(".json").replace("__", "/"));
        let golden: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let (code, served) = get_json(&url, &path).await;
        assert_eq!(code, 200, "{path}");
        assert_eq!(served, golden, "{path} differs from the golden document");
        checked += 1;
    }
    assert_eq!(checked, 22);
    // /apis lists every golden group, autoscaling preferring v2 as kube-apiserver does.
    let (_, groups) = get_json(&url, "/apis").await;
    let names: Vec<&str> = groups["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 20, "{names:?}");
    let autoscaling = groups["groups"].as_array().unwrap().iter().find(|g| g["name"] == "autoscaling").unwrap();
    assert_eq!(autoscaling["preferredVersion"]["version"], "v2");
    let (_, api) = get_json(&url, "/api").await;
    assert_eq!(api["versions"], serde_json::json!(["v1"]));
    // An unknown group-version is a 404 Status.
    let (code, st) = get_json(&url, "/apis/nope.example.com/v1").await;
    assert_eq!(code, 404);
    assert_eq!(st["kind"], "Status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_groups_appear_in_discovery_once_established() {
    let h = common::Harness::start().await;
    let crd = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"things.d.cleanroom.dev"},
      "spec":{"group":"d.cleanroom.dev","scope":"Cluster","names":{"plural":"things","singular":"thing","kind":"Thing","shortNames":["th"],"categories":["all"]},
      "versions":[{"name":"v1beta1","served":true,"storage":false,"schema":{"openAPIV3Schema":{"type":"object"}}},
                  {"name":"v1","served":true,"storage":true,"subresources":{"status":{},"scale":{"specReplicasPath":".spec.replicas","statusReplicasPath":".status.replicas"}},"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}"#;
    h.kubectl_stdin(&["create", "-f", "-"], Some(crd.to_string())).await;
    let (code, doc) = get_json(&h.sim.url(), "/apis/d.cleanroom.dev/v1").await;
    assert_eq!(code, 200);
    let names: Vec<&str> = doc["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["things", "things/status", "things/scale"]);
    let things = &doc["resources"][0];
    assert_eq!(things["namespaced"], false);
    assert_eq!(things["shortNames"], serde_json::json!(["th"]));
    assert_eq!(things["categories"], serde_json::json!(["all"]));
    let (_, g) = get_json(&h.sim.url(), "/apis/d.cleanroom.dev").await;
    assert_eq!(g["preferredVersion"]["version"], "v1");
    // kubectl resolves the short name and the category.
    let r = h.kubectl(&["get", "th"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(h.ok(&["api-resources", "--api-group=d.cleanroom.dev", "--no-headers"]).await.contains("things"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_discovery_agrees_with_the_legacy_documents() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = common::Harness::start().await;
    let url = h.sim.url();
    let addr = url.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    s.write_all(format!("GET /apis HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.to_ascii_lowercase().contains("content-type: application/json;g=apidiscovery.k8s.io;v=v2;as=apigroupdiscoverylist"), "{head}");
    let doc: Value = serde_json::from_str(body).unwrap();
    assert_eq!(doc["kind"], "APIGroupDiscoveryList");
    let mut checked = 0;
    for g in doc["items"].as_array().unwrap() {
        let group = g["metadata"]["name"].as_str().unwrap();
        for v in g["versions"].as_array().unwrap() {
            let version = v["version"].as_str().unwrap();
            let (_, legacy) = get_json(&url, &format!("/apis/{group}/{version}")).await;
            let mut want: Vec<&str> = legacy["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).filter(|n| !n.contains('/')).collect();
            let mut got: Vec<&str> = v["resources"].as_array().unwrap().iter().map(|r| r["resource"].as_str().unwrap()).collect();
            want.sort();
            got.sort();
            assert_eq!(got, want, "{group}/{version}");
            checked += 1;
        }
    }
    assert_eq!(checked, 21, "every named group-version");
    // kubectl uses it: with aggregated discovery it needs no per-group requests.
    let r = h.kubectl(&["get", "deploy", "-A", "-v=6"]).await;
    assert_eq!(r.code, 0);
    let requests: Vec<&str> = r.stderr.lines().filter(|l| l.contains("round_trippers") && l.contains(" GET ")).collect();
    assert!(!requests.iter().any(|l| l.contains("/apis/apps/v1?")), "no legacy group request expected: {requests:#?}");
}
