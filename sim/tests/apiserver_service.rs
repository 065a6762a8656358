//! `default/kubernetes`: the Service, Endpoints and EndpointSlice kube-apiserver's endpoint
//! reconciler keeps, pointing at the control-plane node's address and secure port.

mod common;

use common::{get_json, Harness};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_service_endpoints_and_slice() {
    let h = Harness::start().await;
    let svc = get_json(&h, &["svc", "kubernetes"]).await.unwrap();
    assert_eq!(svc["metadata"]["labels"], json!({"component": "apiserver", "provider": "kubernetes"}));
    assert_eq!(svc["spec"]["ports"], json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]));
    assert_eq!(svc["spec"]["clusterIPs"], json!(["10.96.0.1"]));

    let ep = get_json(&h, &["endpoints", "kubernetes"]).await.expect("default/kubernetes Endpoints");
    assert_eq!(ep["metadata"]["labels"], json!({"endpointslice.kubernetes.io/skip-mirror": "true"}));
    assert_eq!(ep["subsets"], json!([{"addresses": [{"ip": "172.18.0.2"}], "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]));
    let out = h.ok(&["get", "endpoints", "kubernetes", "--no-headers"]).await;
    assert_eq!(out.split_whitespace().take(2).collect::<Vec<_>>(), vec!["kubernetes", "172.18.0.2:6443"], "{out}");

    let slice = get_json(&h, &["endpointslices", "kubernetes"]).await.expect("default/kubernetes EndpointSlice");
    assert_eq!(slice["metadata"]["labels"], json!({"kubernetes.io/service-name": "kubernetes"}));
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["endpoints"], json!([{"addresses": ["172.18.0.2"], "conditions": {"ready": true}}]));
    assert_eq!(slice["ports"], json!([{"name": "https", "port": 6443, "protocol": "TCP"}]));

    let described = h.ok(&["describe", "svc", "kubernetes"]).await;
    assert!(described.lines().any(|l| l.starts_with("Endpoints:") && l.contains("172.18.0.2:6443")), "{described}");
}
