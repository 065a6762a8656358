//! Bad input never panics or hangs: malformed JSON/YAML, wrong kinds, oversized bodies,
//! unknown fields and random bytes all get a Kubernetes Status error.

mod common;

use rand::{Rng, SeedableRng};

async fn raw(url: &str, method: &str, path: &str, ct: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    common::http(url, method, path, ct, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_status_errors() {
    let h = common::Harness::start().await;
    let url = h.sim.url();
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, st) = raw(&url, "POST", path, "application/json", b"{not json".to_vec()).await;
    assert_eq!(code, 400);
    assert_eq!(st["kind"], "Status");
    assert_eq!(st["reason"], "BadRequest");
    let (code, st) = raw(&url, "POST", path, "application/yaml", b"a: [unclosed".to_vec()).await;
    assert_eq!(code, 400, "{st}");
    let (code, st) = raw(&url, "POST", path, "application/json", br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"}}"#.to_vec()).await;
    assert_eq!(code, 400, "{st}");
    assert!(st["message"].as_str().unwrap().contains("does not match the expected"), "{st}");
    let (code, st) = raw(&url, "POST", path, "application/json", br#"{"metadata":{"name":"x"}}"#.to_vec()).await;
    assert_eq!(code, 400, "{st}");
    assert!(st["message"].as_str().unwrap().starts_with("Object 'Kind' is missing"), "{st}");
    let (code, st) = raw(&url, "POST", path, "application/vnd.kubernetes.protobuf", b"k8s\x00\xff\xff\xff".to_vec()).await;
    assert!(code == 400 || code == 415, "{code} {st}");
    assert_eq!(st["kind"], "Status");
    let (code, st) = raw(&url, "POST", path, "text/html", b"<p>".to_vec()).await;
    assert_eq!(code, 415, "{st}");
    // Oversized body: 413 with kube-apiserver's message.
    let big = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"x":"{}"}}}}"#, "a".repeat(4 * 1024 * 1024));
    let (code, st) = raw(&url, "POST", path, "application/json", big.into_bytes()).await;
    assert_eq!(code, 413, "{st}");
    assert_eq!(st["reason"], "RequestEntityTooLarge");
    // Annotations over 256 KiB are Invalid.
    let ann = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"ann","annotations":{{"a":"{}"}}}}}}"#, "b".repeat(262_145));
    let (code, st) = raw(&url, "POST", path, "application/json", ann.into_bytes()).await;
    assert_eq!(code, 422, "{st}");
    assert!(st["message"].as_str().unwrap().contains("metadata.annotations: Too long"), "{st}");
    // Unknown path and unknown resource: 404 Status.
    let (code, st) = raw(&url, "GET", "/api/v1/foos", "", Vec::new()).await;
    assert_eq!(code, 404);
    assert_eq!(st["reason"], "NotFound");
    // Strict field validation.
    let (code, st) = raw(&url, "POST", &format!("{path}?fieldValidation=Strict"), "application/json", br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"s"},"nope":1}"#.to_vec()).await;
    assert_eq!(code, 400, "{st}");
    assert_eq!(st["message"], "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"nope\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_never_panic_or_hang() {
    let h = common::Harness::start().await;
    let url = h.sim.url();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let cts = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "application/merge-patch+json", "application/json-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"];
    for i in 0..300 {
        let len = rng.random_range(0..512);
        let mut body: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if i % 3 == 0 {
            body = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"r{i}"}},"data":{}}}"#, String::from_utf8_lossy(&body)).into_bytes();
        }
        let ct = cts[i % cts.len()];
        let (method, path) = if ct.contains("patch") { ("PATCH", "/api/v1/namespaces/default/configmaps/r0?fieldManager=fuzz") } else { ("POST", "/api/v1/namespaces/default/configmaps") };
        let (code, st) = raw(&url, method, path, ct, body.clone()).await;
        assert!((200..600).contains(&code), "no answer for input {i}");
        if code >= 400 {
            assert_eq!(st["kind"], "Status", "input {i} ({ct}) got {code} without a Status: {st}");
        }
        cleanroom_sim::http::fuzzing::request(&[i as u8].iter().chain(body.iter()).copied().collect::<Vec<_>>());
    }
    // The server is still healthy.
    let (code, _) = raw(&url, "GET", "/api/v1/namespaces/default/configmaps", "", Vec::new()).await;
    assert_eq!(code, 200);
}
