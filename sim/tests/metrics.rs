//! `/metrics`: apiserver_request_total in the Prometheus text format, counted per request.

mod common;

use common::Harness;

fn count(text: &str, labels: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(&format!("apiserver_request_total{{{labels}}} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_counters() {
    let h = Harness::start().await;
    let before = h.ok(&["get", "--raw", "/metrics"]).await;
    assert!(before.contains("# TYPE apiserver_request_total counter"), "{before}");
    let list = "code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"configmaps\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\"";
    let post = "code=\"201\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"configmaps\",scope=\"namespace\",subresource=\"\",verb=\"POST\",version=\"v1\"";
    let missing = "code=\"404\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"configmaps\",scope=\"resource\",subresource=\"\",verb=\"GET\",version=\"v1\"";
    h.ok(&["get", "configmaps"]).await;
    h.ok(&["get", "configmaps"]).await;
    h.ok(&["create", "configmap", "m1"]).await;
    assert_eq!(h.kubectl(&["get", "configmap", "nope"]).await.code, 1);
    let after = h.ok(&["get", "--raw", "/metrics"]).await;
    assert_eq!(count(&after, list) - count(&before, list), 2, "{after}");
    assert_eq!(count(&after, post) - count(&before, post), 1, "{after}");
    assert_eq!(count(&after, missing) - count(&before, missing), 1, "{after}");
}
