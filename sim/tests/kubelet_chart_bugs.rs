//! Chart bugs a kind cluster catches deterministically, without running a process: a missing
//! ConfigMap/Secret volume or env source, an invalid image reference, a missing
//! ServiceAccount, requests no node can hold. Each reports what kind reports, and a blocked
//! pod starts once what it waits for appears.

mod workloads_common;
use workloads_common::*;

use serde_json::Value;

fn pod_named(sim: &cleanroom_sim::SimCluster, n: &str) -> Option<Value> {
    store_list(sim, "pods", Some("default")).into_iter().find(|p| name(p) == n)
}

fn waiting(p: &Value) -> (String, String) {
    let w = &p["status"]["containerStatuses"][0]["state"]["waiting"];
    (w["reason"].as_str().unwrap_or("").into(), w["message"].as_str().unwrap_or("").into())
}

async fn event_messages(kc: &std::path::PathBuf, pod: &str, reason: &str) -> String {
    kubectl(kc, &["get", "events", "--field-selector", &format!("involvedObject.name={pod},reason={reason}"), "-o", "jsonpath={.items[*].message}"]).await
}

const SLEEP: &str = "command: [sleep, '3600']";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_configmap_volume_stays_container_creating_until_it_appears() {
    let (sim, kc, _d) = start().await;
    apply(&kc, &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: app, namespace: default}}\nspec:\n  containers: [{{name: main, image: busybox:1.37, {SLEEP}}}]\n  volumes:\n  - {{name: cfg, configMap: {{name: app-config}}}}\n  - {{name: extra, secret: {{secretName: nope, optional: true}}}}\n")).await;
    let p = watch_until(&sim, 20, "ContainerCreating", || pod_named(&sim, "app").filter(|p| waiting(p).0 == "ContainerCreating")).await;
    assert_eq!(p["status"]["phase"], "Pending");
    let msg = "MountVolume.SetUp failed for volume \"cfg\" : configmap \"app-config\" not found";
    watch_until(&sim, 20, "FailedMount event", || {
        store_list(&sim, "events", Some("default")).into_iter().find(|e| e["reason"] == "FailedMount" && e["message"] == msg && e["type"] == "Warning")
    }).await;
    let out = kubectl(&kc, &["get", "pod", "app", "--no-headers"]).await;
    assert!(out.contains("ContainerCreating"), "{out}");
    // The ConfigMap appears: the kubelet (watching) mounts it and starts the pod.
    apply(&kc, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config, namespace: default}\ndata: {a: b}\n").await;
    watch_until(&sim, 20, "Running", || pod_named(&sim, "app").filter(|p| p["status"]["phase"] == "Running")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_env_source_gives_create_container_config_error_until_it_appears() {
    let (sim, kc, _d) = start().await;
    apply(&kc, &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: env, namespace: default}}\nspec:\n  containers:\n  - name: main\n    image: busybox:1.37\n    {SLEEP}\n    envFrom: [{{configMapRef: {{name: app-env}}}}, {{secretRef: {{name: opt, optional: true}}}}]\n    env: [{{name: X, valueFrom: {{secretKeyRef: {{name: opt, key: x, optional: true}}}}}}]\n")).await;
    let p = watch_until(&sim, 20, "CreateContainerConfigError", || pod_named(&sim, "env").filter(|p| waiting(p).0 == "CreateContainerConfigError")).await;
    assert_eq!(waiting(&p).1, "configmap \"app-env\" not found");
    assert_eq!(p["status"]["phase"], "Pending");
    let out = kubectl(&kc, &["get", "pod", "env", "--no-headers"]).await;
    assert!(out.contains("CreateContainerConfigError"), "{out}");
    assert!(event_messages(&kc, "env", "Failed").await.contains("Error: configmap \"app-env\" not found"));

    // A key reference to a Secret without that key names the key.
    apply(&kc, &format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: creds, namespace: default}}\nstringData: {{user: u}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: key, namespace: default}}\nspec:\n  containers:\n  - name: main\n    image: busybox:1.37\n    {SLEEP}\n    env: [{{name: P, valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}}}]\n")).await;
    let p = watch_until(&sim, 20, "key error", || pod_named(&sim, "key").filter(|p| waiting(p).0 == "CreateContainerConfigError")).await;
    assert_eq!(waiting(&p).1, "couldn't find key password in Secret default/creds");

    apply(&kc, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-env, namespace: default}\ndata: {A: b}\n").await;
    watch_until(&sim, 20, "Running", || pod_named(&sim, "env").filter(|p| p["status"]["phase"] == "Running")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_image_reference_gives_invalid_image_name() {
    let (sim, kc, _d) = start().await;
    apply(&kc, &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: img, namespace: default}}\nspec:\n  containers: [{{name: main, image: 'Nginx:1.27', {SLEEP}}}]\n")).await;
    let p = watch_until(&sim, 20, "InvalidImageName", || pod_named(&sim, "img").filter(|p| waiting(p).0 == "InvalidImageName")).await;
    let want = "Failed to apply default image tag \"Nginx:1.27\": couldn't parse image name \"Nginx:1.27\": invalid reference format: repository name (library/Nginx) must be lowercase";
    assert_eq!(waiting(&p).1, want);
    assert_eq!(p["status"]["phase"], "Pending");
    assert!(event_messages(&kc, "img", "InspectFailed").await.contains(want));
    let out = kubectl(&kc, &["get", "pod", "img", "--no-headers"]).await;
    assert!(out.contains("InvalidImageName"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_service_account_is_refused_at_admission() {
    let (sim, kc, _d) = start().await;
    let pod = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: default}}\nspec:\n  serviceAccountName: app\n  containers: [{{name: main, image: busybox:1.37, {SLEEP}}}]\n");
    let (_, err, ok) = kubectl_raw(&kc, &["apply", "-f", "-"], Some(&pod)).await;
    assert!(!ok);
    assert!(err.contains("pods \"p\" is forbidden: error looking up service account default/app: serviceaccount \"app\" not found"), "{err}");
    // A Deployment's ReplicaSet reports it, and gets its pods once the ServiceAccount exists.
    apply(&kc, &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: default}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      serviceAccountName: app\n      containers: [{{name: main, image: busybox:1.37, {SLEEP}}}]\n")).await;
    let ev = watch_until(&sim, 20, "FailedCreate", || {
        store_list(&sim, "events", Some("default")).into_iter().find(|e| e["reason"] == "FailedCreate")
    }).await;
    assert!(ev["message"].as_str().unwrap().contains("error looking up service account default/app: serviceaccount \"app\" not found"), "{ev}");
    apply(&kc, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app, namespace: default}\n").await;
    watch_until(&sim, 20, "web pod running", || {
        store_list(&sim, "pods", Some("default")).into_iter().find(|p| name(p).starts_with("web-") && p["status"]["phase"] == "Running")
    }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_every_node_stay_pending_with_the_schedulers_event() {
    let (sim, kc, _d) = start().await;
    apply(&kc, &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: big, namespace: default}}\nspec:\n  containers: [{{name: main, image: busybox:1.37, {SLEEP}, resources: {{requests: {{cpu: '100'}}}}}}]\n")).await;
    let ev = watch_until(&sim, 20, "FailedScheduling", || {
        store_list(&sim, "events", Some("default")).into_iter().find(|e| e["reason"] == "FailedScheduling" && e["involvedObject"]["name"] == "big")
    }).await;
    assert_eq!(ev["message"], "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.");
    let p = pod_named(&sim, "big").unwrap();
    assert_eq!(p["status"]["phase"], "Pending");
    assert!(p["spec"]["nodeName"].is_null());
}
