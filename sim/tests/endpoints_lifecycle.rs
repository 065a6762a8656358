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

/// A selectorless Service's hand-written Endpoints are mirrored into a slice labelled as the
/// mirroring controller's; the slice follows the Endpoints' addresses and goes with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_endpoints_are_mirrored_into_a_slice() {
    let h = common::Harness::start().await;
    let manifest = r#"
apiVersion: v1
kind: Service
metadata: { name: ext }
spec: { ports: [ { name: http, port: 80 } ] }
---
apiVersion: v1
kind: Endpoints
metadata: { name: ext, labels: { team: a } }
subsets: [ { addresses: [ { ip: 10.1.2.3 } ], ports: [ { name: http, port: 8080 } ] } ]
"#;
    h.kubectl_stdin(&["apply", "-f", "-"], Some(manifest.into())).await;
    let sel = "endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io,kubernetes.io/service-name=ext";
    let slice = |want: &'static str| {
        let h = &h;
        async move {
            common::wait_for(&format!("a mirrored slice with {want}"), 10, async || {
                let list = common::get_json(h, &["endpointslices", "-l", sel]).await?;
                let items = list["items"].as_array()?.clone();
                (items.len() == 1 && items[0]["endpoints"][0]["addresses"][0] == want).then(|| items[0].clone())
            })
            .await
        }
    };
    let first = slice("10.1.2.3").await;
    assert_eq!(first["metadata"]["labels"]["team"], "a");
    assert_eq!(first["ports"][0]["port"], 8080);
    assert_eq!(first["metadata"]["ownerReferences"][0]["kind"], "Endpoints");
    h.ok(&["patch", "endpoints", "ext", "--type=json", "-p", r#"[{"op":"replace","path":"/subsets/0/addresses/0/ip","value":"10.1.2.4"}]"#]).await;
    let second = slice("10.1.2.4").await;
    assert_eq!(second["metadata"]["name"], first["metadata"]["name"], "the slice is updated, not replaced");
    h.ok(&["delete", "endpoints", "ext"]).await;
    h.ok(&["wait", "--for=delete", "endpointslice", "-l", sel, "--timeout=10s"]).await;
    assert_eq!(h.ok(&["get", "endpointslices", "-l", sel, "-o", "name"]).await.trim(), "");
}
