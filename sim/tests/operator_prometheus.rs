//! The emulated prometheus-operator reconciles the rendered kube-prometheus-stack CRs into the
//! StatefulSets, Services and Secrets the real operator makes, while its pod runs.

mod common;

use std::time::Duration;

use common::{fixture, get_json, wait_for, Harness};
use serde_json::{json, Value};

const PROM: &str = "prometheus-stack-kube-prom-prometheus";
const AM: &str = "prometheus-stack-kube-prom-alertmanager";



/// Documents of the rendered chart whose kind is in `kinds`.
fn docs(kinds: &[&str]) -> String {
    fixture("storage.yaml")
        .split("\n---")
        .filter(|d| d.lines().any(|l| l.strip_prefix("kind: ").is_some_and(|k| kinds.contains(&k.trim()))))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

async fn apply(h: &Harness, yaml: String) {
    let r = h.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(yaml)).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
}

/// The operator's pod Running+Ready: from the node controllers when they run, otherwise a
/// stand-in pod written through the in-process API.
async fn operator_running(h: &Harness) {
    for _ in 0..100 {
        let pods = get_json(h, &["pods", "-n", "monitoring", "-l", "app=kube-prometheus-stack-operator"]).await;
        let ready = pods.as_ref().and_then(|p| p["items"].as_array().cloned()).unwrap_or_default().iter().any(|p| {
            p.pointer("/status/conditions").and_then(|c| c.as_array()).is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        });
        if ready {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let api = h.sim.api();
    let rt = api.resource("", "v1", "pods").unwrap();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "operator-standin", "namespace": "monitoring", "labels": {"app": "kube-prometheus-stack-operator", "release": "prometheus-stack"}},
        "spec": {"containers": [{"name": "op", "image": "quay.io/prometheus-operator/prometheus-operator:v0.93.1"}]}});
    api.create(&rt, Some("monitoring"), pod, &Default::default()).unwrap();
    let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    api.patch(&rt, Some("monitoring"), "operator-standin", cleanroom_sim::api::patch::PatchType::Merge, &status, Some("status"), &Default::default()).unwrap();
}

async fn install(h: &Harness) {
    apply(h, docs(&["CustomResourceDefinition"])).await;
    h.ok(&["create", "namespace", "monitoring"]).await;
    // certgen's Secret, which the operator pod mounts.
    h.ok(&["create", "secret", "generic", "prometheus-stack-kube-prom-admission", "-n", "monitoring", "--from-literal=ca=x", "--from-literal=cert=x", "--from-literal=key=x"]).await;
    apply(h, docs(&["ServiceAccount", "Secret", "Service", "Deployment", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"])).await;
    operator_running(h).await;
    apply(h, docs(&["Prometheus", "Alertmanager"])).await;
}

fn strmap(v: &Value) -> std::collections::BTreeMap<String, String> {
    v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_chart_yields_operator_statefulsets() {
    let h = Harness::start().await;
    install(&h).await;
    let sts_name = format!("prometheus-{PROM}");
    let sts = wait_for("prometheus statefulset", 20, async || get_json(&h, &["statefulset", &sts_name, "-n", "monitoring"]).await).await;

    let want: std::collections::BTreeMap<String, String> = [
        ("app", "kube-prometheus-stack-prometheus"),
        ("app.kubernetes.io/instance", PROM),
        ("app.kubernetes.io/managed-by", "prometheus-operator"),
        ("app.kubernetes.io/name", "prometheus"),
        ("app.kubernetes.io/part-of", "kube-prometheus-stack"),
        ("app.kubernetes.io/version", "88.5.3"),
        ("chart", "kube-prometheus-stack-88.5.3"),
        ("heritage", "Helm"),
        ("managed-by", "prometheus-operator"),
        ("operator.prometheus.io/mode", "server"),
        ("operator.prometheus.io/name", PROM),
        ("operator.prometheus.io/shard", "0"),
        ("prometheus", PROM),
        ("release", "prometheus-stack"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(strmap(&sts["metadata"]["labels"]), want);
    let selector: std::collections::BTreeMap<String, String> = [
        ("app.kubernetes.io/instance", PROM),
        ("app.kubernetes.io/managed-by", "prometheus-operator"),
        ("app.kubernetes.io/name", "prometheus"),
        ("operator.prometheus.io/name", PROM),
        ("operator.prometheus.io/shard", "0"),
        ("prometheus", PROM),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(strmap(&sts["spec"]["selector"]["matchLabels"]), selector);
    let pod_labels = strmap(&sts["spec"]["template"]["metadata"]["labels"]);
    assert_eq!(pod_labels.get("app.kubernetes.io/version").map(String::as_str), Some("3.14.0-distroless"));
    assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
    let anns = sts["metadata"]["annotations"].as_object().unwrap();
    assert!(anns.contains_key("prometheus-operator-input-hash"));
    assert!(anns.keys().all(|k| !k.starts_with("kubectl.kubernetes.io/")), "{anns:?}");
    assert_eq!(sts["spec"]["podManagementPolicy"], "Parallel");
    assert_eq!(sts["spec"]["serviceName"], "prometheus-operated");
    let owner = &sts["metadata"]["ownerReferences"][0];
    assert_eq!((owner["kind"].as_str(), owner["name"].as_str(), owner["controller"].as_bool(), owner["blockOwnerDeletion"].as_bool()), (Some("Prometheus"), Some(PROM), Some(true), Some(true)));
    let vct = &sts["spec"]["volumeClaimTemplates"][0];
    assert_eq!(vct["metadata"]["name"], format!("prometheus-{PROM}-db"));
    assert_eq!(vct["spec"]["storageClassName"], "standard");
    assert_eq!(vct["spec"]["resources"]["requests"]["storage"], "10Gi");
    assert!(sts["spec"]["template"]["spec"]["volumes"].as_array().unwrap().iter().all(|v| v["name"] != format!("prometheus-{PROM}-db")));

    let svc = get_json(&h, &["service", "prometheus-operated", "-n", "monitoring"]).await.expect("governing service");
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert_eq!(svc["spec"]["ports"][0]["name"], "http-web");
    assert_eq!(svc["metadata"]["labels"]["operated-prometheus"], "true");
    assert!(svc["metadata"]["ownerReferences"][0].get("controller").is_none());
    for s in ["", "-tls-assets-0", "-web-config", "-thanos-prometheus-http-client-file"] {
        h.ok(&["get", "secret", &format!("prometheus-{PROM}{s}"), "-n", "monitoring"]).await;
    }
    let cm = get_json(&h, &["configmap", &format!("prometheus-{PROM}-rulefiles-0"), "-n", "monitoring"]).await.expect("rulefiles");
    assert_eq!(cm["metadata"]["labels"]["prometheus-name"], PROM);

    let am = wait_for("alertmanager statefulset", 10, async || get_json(&h, &["statefulset", &format!("alertmanager-{AM}"), "-n", "monitoring"]).await).await;
    assert_eq!(am["spec"]["serviceName"], "alertmanager-operated");
    assert!(am["spec"].get("volumeClaimTemplates").is_none());
    for s in ["-generated", "-tls-assets-0", "-web-config", "-cluster-tls-config"] {
        h.ok(&["get", "secret", &format!("alertmanager-{AM}{s}"), "-n", "monitoring"]).await;
    }
    let amsvc = get_json(&h, &["service", "alertmanager-operated", "-n", "monitoring"]).await.expect("alertmanager-operated");
    assert_eq!(amsvc["spec"]["publishNotReadyAddresses"], true);
    let kubelet = get_json(&h, &["service", "prometheus-stack-kube-prom-kubelet", "-n", "kube-system"]).await.expect("kubelet service");
    assert_eq!(kubelet["metadata"]["labels"]["k8s-app"], "kubelet");
    assert!(kubelet["metadata"].get("ownerReferences").is_none());

    let prom = get_json(&h, &["prometheus", PROM, "-n", "monitoring"]).await.unwrap();
    let conds = prom["status"]["conditions"].as_array().unwrap();
    assert!(conds.iter().any(|c| c["type"] == "Reconciled" && c["status"] == "True"), "{conds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_storage_class_fails_reconcile_without_statefulset() {
    let h = Harness::start().await;
    install(&h).await;
    let cr = r#"apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata:
  name: broken
  namespace: monitoring
spec:
  storage:
    emptyDir: {}
    volumeClaimTemplate:
      spec:
        storageClassName: does-not-exist
        resources:
          requests:
            storage: 1Gi
"#;
    apply(&h, cr.into()).await;
    let cond = wait_for("Reconciled=False", 10, async || {
        let p = get_json(&h, &["prometheus", "broken", "-n", "monitoring"]).await?;
        p["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Reconciled" && c["status"] == "False").cloned()
    })
    .await;
    assert_eq!(cond["reason"], "ReconciliationFailed");
    assert_eq!(cond["message"], "storage class \"does-not-exist\" does not exist");
    assert_ne!(h.kubectl(&["get", "statefulset", "prometheus-broken", "-n", "monitoring"]).await.code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_reconciled_once_the_operator_is_gone() {
    let h = Harness::start().await;
    install(&h).await;
    let sts_name = format!("prometheus-{PROM}");
    wait_for("statefulset", 20, async || get_json(&h, &["statefulset", &sts_name, "-n", "monitoring"]).await).await;
    h.ok(&["delete", "deployment", "prometheus-stack-kube-prom-operator", "-n", "monitoring"]).await;
    let _ = h.kubectl(&["delete", "pod", "operator-standin", "-n", "monitoring", "--ignore-not-found", "--grace-period=0", "--force"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.ok(&["delete", "service", "prometheus-operated", "-n", "monitoring"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_ne!(h.kubectl(&["get", "service", "prometheus-operated", "-n", "monitoring"]).await.code, 0);
    // What it made stays.
    h.ok(&["get", "statefulset", &sts_name, "-n", "monitoring"]).await;
}

/// The StatefulSet `name` in monitoring once `want` holds for it and its pods all run its
/// update revision: re-checked on every store change (a bounded watch, no polling).
async fn rolled(h: &Harness, name: &str, want: impl Fn(&Value) -> bool) -> Value {
    let mut rx = h.sim.api().store.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let store = &h.sim.api().store;
        let sts = store.get("apps/statefulsets", "monitoring", name).map(|s| (*s).clone()).unwrap_or_default();
        let pods = store.list("pods", Some("monitoring")).0;
        let mine: Vec<&Value> = pods.iter().map(|p| &**p).filter(|p| p["metadata"]["name"].as_str().is_some_and(|n| n.starts_with(&format!("{name}-")))).collect();
        let update = &sts["status"]["updateRevision"];
        let replicas = sts["spec"]["replicas"].as_i64().unwrap_or(-1);
        let all_new = mine.len() as i64 == replicas
            && mine.iter().all(|p| p["metadata"]["labels"]["controller-revision-hash"] == *update && p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null());
        if want(&sts) && all_new && sts["status"]["currentRevision"] == *update && sts["status"]["updatedReplicas"] == replicas {
            return sts;
        }
        let last = format!("want={} status={} pods={:?}", want(&sts), sts["status"], mine.iter().map(|p| (&p["metadata"]["name"], &p["metadata"]["labels"]["controller-revision-hash"], &p["status"]["phase"])).collect::<Vec<_>>());
        if !matches!(tokio::time::timeout_at(deadline, rx.recv()).await, Ok(Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)))) {
            panic!("{name} did not roll: {last}");
        }
    }
}

fn gunzip_b64(data: &str) -> String {
    use base64::Engine;
    use std::io::Read;
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
    let mut out = String::new();
    flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut out).unwrap();
    out
}

fn args_of(v: &Value, container: &str) -> Vec<String> {
    let cs = v.pointer("/spec/template/spec/containers").or_else(|| v.pointer("/spec/containers")).and_then(|c| c.as_array()).cloned().unwrap_or_default();
    let c = cs.iter().find(|c| c["name"] == container).cloned().unwrap_or_default();
    c["args"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(String::from)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_changes_roll_the_statefulsets() {
    let h = Harness::start().await;
    install(&h).await;
    let (psts, asts) = (format!("prometheus-{PROM}"), format!("alertmanager-{AM}"));
    let before = rolled(&h, &psts, |_| true).await;
    let old_rev = before["status"]["updateRevision"].as_str().unwrap().to_string();
    let old_pod = get_json(&h, &["pod", &format!("{psts}-0"), "-n", "monitoring"]).await.unwrap();
    // Prometheus 3.11 and later (the chart's 3.14) read retention from the generated configuration,
    // not a flag; below 3.11 (the patch's v3.6.0) the operator passes the flag.
    assert!(!args_of(&before, "prometheus").iter().any(|a| a.starts_with("--storage.tsdb.retention")), "{before}");
    let secret = get_json(&h, &["secret", &format!("prometheus-{PROM}"), "-n", "monitoring"]).await.unwrap();
    let config = gunzip_b64(secret["data"]["prometheus.yaml.gz"].as_str().unwrap());
    assert!(config.contains("storage:\n  tsdb:\n") && config.contains("    retention:\n      time: "), "{config}");

    let patch = r#"{"spec":{"retention":"5d","version":"v3.6.0","replicas":2,"image":"quay.io/prometheus/prometheus:v3.6.0","externalUrl":"http://prom.example/","resources":{"requests":{"memory":"512Mi"}}}}"#;
    h.ok(&["patch", "prometheus", PROM, "-n", "monitoring", "--type", "merge", "-p", patch]).await;
    let sts = rolled(&h, &psts, |s| args_of(s, "prometheus").contains(&"--storage.tsdb.retention.time=5d".to_string())).await;
    let args = args_of(&sts, "prometheus");
    assert!(args.contains(&"--web.external-url=http://prom.example/".to_string()), "{args:?}");
    assert_eq!(sts["spec"]["replicas"], 2);
    let c = &sts["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "quay.io/prometheus/prometheus:v3.6.0");
    assert_eq!(c["resources"]["requests"]["memory"], "512Mi");
    assert_ne!(sts["status"]["updateRevision"], old_rev.as_str());
    // The pod was recreated from the new template (RollingUpdate), not left running the old one.
    let pod = get_json(&h, &["pod", &format!("{psts}-0"), "-n", "monitoring"]).await.unwrap();
    assert_ne!(pod["metadata"]["uid"], old_pod["metadata"]["uid"]);
    assert!(args_of(&pod, "prometheus").contains(&"--storage.tsdb.retention.time=5d".to_string()));

    let patch = r#"{"spec":{"retention":"240h","externalUrl":"http://am.example/","resources":{"limits":{"memory":"1Gi"}}}}"#;
    h.ok(&["patch", "alertmanager", AM, "-n", "monitoring", "--type", "merge", "-p", patch]).await;
    let sts = rolled(&h, &asts, |s| args_of(s, "alertmanager").contains(&"--data.retention=240h".to_string())).await;
    assert!(args_of(&sts, "alertmanager").contains(&"--web.external-url=http://am.example/".to_string()));
    let res = &sts["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(res["limits"]["memory"], "1Gi");
    assert_eq!(res["requests"]["memory"], "200Mi", "the operator's default request stays: {res}");
}
