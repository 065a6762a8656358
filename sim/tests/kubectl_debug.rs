//! `pods/ephemeralcontainers`: `kubectl debug` adds an ephemeral container (only that field
//! changes; existing ones may be neither changed nor removed), the kubelet reports it
//! running, and attaching fails with the embedded cluster's clear "no processes" message.

mod common;

use common::Harness;
use serde_json::{json, Value};

async fn raw_patch(h: &Harness, body: &Value) -> Result<Value, kube::Error> {
    let req = http::Request::patch("/api/v1/namespaces/default/pods/web/ephemeralcontainers")
        .header("content-type", "application/json-patch+json")
        .body(serde_json::to_vec(body).unwrap()).unwrap();
    h.sim.client().request::<Value>(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_adds_an_ephemeral_container() {
    let h = Harness::start().await;
    h.ok(&["run", "web", "--image=nginx:1.27"]).await;
    h.ok(&["wait", "--for=condition=Ready", "pod/web", "--timeout=30s"]).await;

    let r = h.kubectl(&["debug", "web", "--image=busybox", "-c", "dbg", "--target=web"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    h.ok(&["wait", "--for=jsonpath={.status.ephemeralContainerStatuses[0].name}=dbg", "pod/web", "--timeout=30s"]).await;
    let pod: Value = serde_json::from_str(&h.ok(&["get", "pod", "web", "-o", "json"]).await).unwrap();
    let eph = &pod["spec"]["ephemeralContainers"][0];
    assert_eq!((eph["name"].as_str(), eph["image"].as_str(), eph["targetContainerName"].as_str()), (Some("dbg"), Some("busybox"), Some("web")));
    // Defaulted like any container.
    assert_eq!(eph["imagePullPolicy"], "Always");
    assert_eq!(eph["terminationMessagePolicy"], "File");
    assert!(pod["status"]["ephemeralContainerStatuses"][0]["state"]["running"].is_object(), "{pod:#}");
    assert_eq!(pod["spec"]["containers"].as_array().unwrap().len(), 1);

    // -it gets past the API; attach needs a process, so kubectl falls back to the
    // container's log, as it does when attaching fails.
    let r = h.kubectl_stdin(&["debug", "-it", "web", "--image=busybox", "-c", "dbg2"], Some(String::new())).await;
    assert!(r.stderr.contains("warning: couldn't attach to pod/web, falling back to streaming logs: pods/attach on pod \"web\" needs a running container process"), "{}", r.stderr);
    assert_eq!(r.stdout, "dbg2 started\n", "{}", r.stderr);
    assert!(!r.stderr.contains("pod updates may not change fields"), "{}", r.stderr);

    // Existing ephemeral containers may be neither changed nor removed.
    let err = raw_patch(&h, &json!([{"op": "remove", "path": "/spec/ephemeralContainers/0"}])).await.unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422);
            assert_eq!(s.message, "Pod \"web\" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers \"dbg\" may not be removed\n");
        }
        other => panic!("{other:?}"),
    }
    let err = raw_patch(&h, &json!([{"op": "replace", "path": "/spec/ephemeralContainers/0/image", "value": "alpine"}])).await.unwrap_err();
    assert!(err.to_string().contains("existing ephemeral containers \\\"dbg\\\" may not be changed") || err.to_string().contains("existing ephemeral containers \"dbg\" may not be changed"), "{err}");
    // Only spec.ephemeralContainers changes through the subresource.
    let ok = raw_patch(&h, &json!([
        {"op": "add", "path": "/spec/ephemeralContainers/-", "value": {"name": "dbg3", "image": "busybox"}},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.28"},
    ])).await.unwrap();
    assert_eq!(ok["spec"]["containers"][0]["image"], "nginx:1.27");
    assert_eq!(ok["spec"]["ephemeralContainers"].as_array().unwrap().len(), 3);
    let err = raw_patch(&h, &json!([{"op": "add", "path": "/spec/ephemeralContainers/-", "value": {"name": "p", "image": "busybox", "ports": [{"containerPort": 80}]}}])).await.unwrap_err();
    assert!(err.to_string().contains("spec.ephemeralContainers[3].ports: Forbidden: cannot be set for an Ephemeral Container"), "{err}");
}
