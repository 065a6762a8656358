//! Admission webhooks that cannot be reached fail requests exactly as kube-apiserver on kind
//! does (checked with the real kubectl); Ignore fails open; removing the configuration heals.

mod common;

use std::time::Duration;

use common::Harness;

fn vwc(name: &str, policy: &str, service: &str, ns_label: &str) -> String {
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: {name}
webhooks:
- name: validate.{name}.example.com
  failurePolicy: {policy}
  sideEffects: None
  admissionReviewVersions: [v1]
  clientConfig:
    service:
      namespace: hooks
      name: {service}
      path: /validate
  namespaceSelector:
    matchLabels:
      team: {ns_label}
  rules:
  - apiGroups: [""]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [configmaps]
"#
    )
}

async fn setup(h: &Harness) {
    h.ok(&["create", "namespace", "hooks"]).await;
    h.ok(&["create", "namespace", "payments"]).await;
    h.ok(&["label", "namespace", "payments", "team=blue"]).await;
    h.ok(&["create", "namespace", "other"]).await;
}

async fn apply(h: &Harness, yaml: String) {
    let r = h.kubectl_stdin(&["apply", "-f", "-"], Some(yaml)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_webhook_with_missing_service_blocks_matching_creates() {
    let h = Harness::start().await;
    setup(&h).await;
    apply(&h, vwc("stale", "Fail", "gone", "blue")).await;

    let r = h.kubectl(&["create", "configmap", "cfg", "-n", "payments", "--from-literal=a=b"]).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    let want = r#"Internal error occurred: failed calling webhook "validate.stale.example.com": failed to call webhook: Post "https://gone.hooks.svc:443/validate?timeout=10s": service "gone" not found"#;
    assert!(r.stderr.contains(want), "stderr: {}", r.stderr);
    assert_eq!(r.stderr.trim(), format!("error: failed to create configmap: {want}"));

    // The raw Status: HTTP 500, reason InternalError, the cause repeated in details.
    let r = h.kubectl(&["create", "configmap", "cfg", "-n", "payments", "-v=0", "-o", "json", "--dry-run=server"]).await;
    assert_eq!(r.code, 1);

    // Namespaces the selector does not pick are not affected.
    h.ok(&["create", "configmap", "cfg", "-n", "other"]).await;
    // Other resources are not affected.
    h.ok(&["create", "secret", "generic", "s", "-n", "payments", "--from-literal=a=b"]).await;

    // Removing the configuration makes the same create succeed.
    h.ok(&["delete", "validatingwebhookconfiguration", "stale"]).await;
    h.ok(&["create", "configmap", "cfg", "-n", "payments", "--from-literal=a=b"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_policy_fails_open() {
    let h = Harness::start().await;
    setup(&h).await;
    apply(&h, vwc("lenient", "Ignore", "gone", "blue")).await;
    h.ok(&["create", "configmap", "cfg", "-n", "payments"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_and_endpointless_services() {
    let h = Harness::start().await;
    setup(&h).await;
    // Headless service: the ClusterIP resolver cannot route to it.
    apply(&h, "apiVersion: v1\nkind: Service\nmetadata:\n  name: headless\n  namespace: hooks\nspec:\n  clusterIP: None\n  selector:\n    app: hook\n  ports:\n  - port: 443\n".into()).await;
    apply(&h, vwc("h1", "Fail", "headless", "blue")).await;
    let r = h.kubectl(&["create", "configmap", "a", "-n", "payments"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains(r#"Post "https://headless.hooks.svc:443/validate?timeout=10s": cannot route to service with ClusterIP "None""#), "{}", r.stderr);
    h.ok(&["delete", "validatingwebhookconfiguration", "h1"]).await;

    // A ClusterIP service without ready endpoints: kube-proxy refuses the connection.
    apply(&h, "apiVersion: v1\nkind: Service\nmetadata:\n  name: nobody\n  namespace: hooks\nspec:\n  selector:\n    app: nobody-home\n  ports:\n  - port: 443\n    targetPort: 8443\n".into()).await;
    let ip = h.ok(&["get", "svc", "nobody", "-n", "hooks", "-o", "jsonpath={.spec.clusterIP}"]).await;
    apply(&h, vwc("h2", "Fail", "nobody", "blue")).await;
    let r = h.kubectl(&["create", "configmap", "a", "-n", "payments"]).await;
    assert_eq!(r.code, 1);
    let want = format!(r#"Post "https://nobody.hooks.svc:443/validate?timeout=10s": dial tcp {ip}:443: connect: connection refused"#);
    assert!(r.stderr.contains(&want), "{}\nwant {want}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_webhooks_run_first_and_cluster_scoped_objects_match() {
    let h = Harness::start().await;
    setup(&h).await;
    apply(&h, vwc("zz-validate", "Fail", "gone", "blue")).await;
    let mwc = r#"apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mutate
webhooks:
- name: mutate.example.com
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 5
  clientConfig:
    service:
      namespace: hooks
      name: mutator
      port: 8443
  rules:
  - apiGroups: ["*"]
    apiVersions: ["*"]
    operations: ["*"]
    resources: ["configmaps", "namespaces"]
"#;
    apply(&h, mwc.into()).await;
    let r = h.kubectl(&["create", "configmap", "a", "-n", "payments"]).await;
    assert!(
        r.stderr.contains(r#"failed calling webhook "mutate.example.com": failed to call webhook: Post "https://mutator.hooks.svc:8443/?timeout=5s": service "mutator" not found"#),
        "{}",
        r.stderr
    );
    // Namespaces (cluster-scoped, matched against their own labels) are intercepted too.
    let r = h.kubectl(&["create", "namespace", "fresh"]).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("Error from server (InternalError)"), "{}", r.stderr);
    // Webhook configurations themselves are never intercepted.
    h.ok(&["delete", "mutatingwebhookconfiguration", "mutate"]).await;
    h.ok(&["create", "namespace", "fresh"]).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}
