//! Endpoints and EndpointSlices follow their Service: deleting the Service removes both
//! (the endpoints controller deletes the Endpoints, the GC the owned slices).

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_go_with_their_service() {
    let h = common::Harness::start().await;
    h.ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]).await;
    h.ok(&["wait", "--for=create", "endpoints/web", "--timeout=10s"]).await;
    h.ok(&["wait", "--for=create", "endpointslice", "-l", "kubernetes.io/service-name=web", "--timeout=10s"]).await;
    h.ok(&["delete", "service", "web"]).await;
    h.ok(&["wait", "--for=delete", "endpoints/web", "--timeout=10s"]).await;
    let slices = h.ok(&["get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "name"]).await;
    let slices = if slices.trim().is_empty() { slices } else {
        h.ok(&["wait", "--for=delete", "endpointslice", "-l", "kubernetes.io/service-name=web", "--timeout=10s"]).await;
        h.ok(&["get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "name"]).await
    };
    assert_eq!(slices.trim(), "");
}
