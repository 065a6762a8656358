//! DaemonSet, StatefulSet, Job, GC propagation, Services → endpoints, ServiceAccounts.

mod workloads_common;
use workloads_common::*;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, PropagationPolicy};
use serde_json::Value;

fn ds(name: &str, tolerate_cp: bool) -> String {
    let tol = if tolerate_cp { "      tolerations: [{operator: Exists, effect: NoSchedule}]\n" } else { "" };
    format!("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      nodeSelector: {{kubernetes.io/os: linux}}\n      hostNetwork: true\n{tol}      containers: [{{name: exporter, image: quay.io/prometheus/node-exporter:v1.9.1}}]\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_one_pod_per_eligible_node() {
    let (sim, kc, _d) = start().await;
    apply(&kc, &ds("everywhere", true)).await;
    apply(&kc, &ds("workers", false)).await;
    kubectl(&kc, &["rollout", "status", "daemonset/everywhere", "--timeout=30s"]).await;
    kubectl(&kc, &["rollout", "status", "daemonset/workers", "--timeout=30s"]).await;
    let d = get_json(&kc, &["ds", "everywhere"]).await;
    assert_eq!(d["status"]["desiredNumberScheduled"], 3);
    assert_eq!(d["status"]["numberReady"], 3);
    let w = get_json(&kc, &["ds", "workers"]).await;
    assert_eq!(w["status"]["desiredNumberScheduled"], 2);
    let pods = get_json(&kc, &["pods", "-l", "app=everywhere"]).await;
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let nodes: std::collections::BTreeSet<&str> = items.iter().map(|p| p["spec"]["nodeName"].as_str().unwrap()).collect();
    assert_eq!(nodes.len(), 3);
    for p in items {
        assert!(name(p).starts_with("everywhere-") && name(p).len() == "everywhere-".len() + 5);
        assert!(p["metadata"]["labels"]["controller-revision-hash"].is_string());
        assert_eq!(p["metadata"]["labels"]["pod-template-generation"], "1");
        let term = &p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchFields"][0];
        assert_eq!(term["key"], "metadata.name");
        assert_eq!(term["values"][0], p["spec"]["nodeName"]);
        let tols: Vec<String> = p["spec"]["tolerations"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap_or("").to_string()).collect();
        assert!(tols.contains(&"node.kubernetes.io/unschedulable".to_string()) && tols.contains(&"node.kubernetes.io/network-unavailable".to_string()), "{tols:?}");
        // hostNetwork pods get the node's IP.
        assert_eq!(p["status"]["podIP"], p["status"]["hostIP"]);
    }
    let crs = store_list(&sim, "apps/controllerrevisions", Some("default"));
    assert_eq!(crs.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_creates_ordinal_pod_and_claim() {
    let (sim, kc, _d) = start().await;
    apply(&kc, r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: pg, image: postgres:17, volumeMounts: [{name: data, mountPath: /var/lib/postgresql}]}]
  volumeClaimTemplates:
  - metadata: {name: data, labels: {tier: storage}}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"#).await;
    let pvc: Value = eventually(10, "pvc data-db-0", || async { store_list(&sim, "persistentvolumeclaims", Some("default")).into_iter().find(|p| name(p) == "data-db-0") }).await;
    assert_eq!(pvc["metadata"]["labels"]["app"], "db");
    assert_eq!(pvc["metadata"]["labels"]["tier"], "storage");
    assert!(pvc["metadata"]["ownerReferences"].is_null(), "Retain/Retain: no owner refs");
    let pod: Value = eventually(10, "pod db-0", || async { store_list(&sim, "pods", Some("default")).into_iter().find(|p| name(p) == "db-0") }).await;
    assert_eq!(pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], "db-0");
    assert_eq!(pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "0");
    assert!(pod["metadata"]["labels"]["controller-revision-hash"].as_str().unwrap().starts_with("db-"));
    assert_eq!(pod["spec"]["hostname"], "db-0");
    assert_eq!(pod["spec"]["subdomain"], "db");
    let vol = pod["spec"]["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "data").unwrap().clone();
    assert_eq!(vol["persistentVolumeClaim"]["claimName"], "data-db-0");
    let sts = get_json(&kc, &["sts", "db"]).await;
    assert_eq!(sts["status"]["updateRevision"], pod["metadata"]["labels"]["controller-revision-hash"]);
    // The default class (WaitForFirstConsumer) gets the claim a node, the provisioner binds it,
    // then the pod is bound to that node and runs.
    let pod: Value = eventually(20, "db-0 running", || async {
        store_list(&sim, "pods", Some("default")).into_iter().find(|p| name(p) == "db-0" && p["status"]["phase"] == "Running")
    }).await;
    let pvc = store_list(&sim, "persistentvolumeclaims", Some("default")).into_iter().find(|p| name(p) == "data-db-0").unwrap();
    assert_eq!(pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"], pod["spec"]["nodeName"]);
    let node = pod["spec"]["nodeName"].as_str().unwrap().to_string();
    let mounts = sim.nodes().mounts(&node).await.unwrap();
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    assert!(mounts.iter().any(|m| m.target.starts_with(&format!("/var/lib/kubelet/pods/{uid}/volumes/"))), "{mounts:?}");
    // Deleting the StatefulSet leaves the claim (Retain).
    kubectl(&kc, &["delete", "sts", "db", "--wait=true"]).await;
    eventually(10, "pod gone", || async { store_list(&sim, "pods", Some("default")).is_empty().then_some(()) }).await;
    assert_eq!(store_list(&sim, "persistentvolumeclaims", Some("default")).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_completes_and_ttl_deletes_it() {
    let (sim, kc, _d) = start().await;
    apply(&kc, r#"
apiVersion: batch/v1
kind: Job
metadata: {name: hook, namespace: default}
spec:
  ttlSecondsAfterFinished: 4
  template:
    spec:
      restartPolicy: Never
      containers: [{name: create, image: registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.3}]
"#).await;
    let out = kubectl(&kc, &["wait", "--for=condition=complete", "job/hook", "--timeout=30s"]).await;
    assert!(out.contains("condition met"), "{out}");
    let j = get_json(&kc, &["job", "hook"]).await;
    assert_eq!(j["status"]["succeeded"], 1);
    let types: Vec<&str> = j["status"]["conditions"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["SuccessCriteriaMet", "Complete"]);
    assert_eq!(j["status"]["conditions"][1]["reason"], "CompletionsReached");
    assert_eq!(j["status"]["conditions"][1]["message"], "Reached expected number of succeeded pods");
    let pods = store_list(&sim, "pods", Some("default"));
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["status"]["phase"], "Succeeded");
    assert_eq!(pods[0]["metadata"]["labels"]["batch.kubernetes.io/job-name"], "hook");
    assert!(pods[0]["metadata"]["finalizers"].as_array().is_none_or(|f| f.is_empty()));
    // TTL: the job and (through the GC) its pod go away.
    eventually(10, "job and pod deleted", || async {
        (store_list(&sim, "batch/jobs", Some("default")).is_empty() && store_list(&sim, "pods", Some("default")).is_empty()).then_some(())
    }).await;
}

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: nginx, image: nginx:1.27, ports: [{name: http, containerPort: 80}]}]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_and_orphan_deletion() {
    let (sim, kc, _d) = start().await;
    apply(&kc, DEPLOY).await;
    kubectl(&kc, &["rollout", "status", "deployment/web", "--timeout=30s"]).await;
    let deps: Api<Deployment> = Api::namespaced(sim.client(), "default");
    // Orphan: the ReplicaSet and pods stay, without owner refs on the RS.
    deps.delete("web", &DeleteParams { propagation_policy: Some(PropagationPolicy::Orphan), ..Default::default() }).await.unwrap();
    eventually(10, "deployment gone", || async { store_list(&sim, "apps/deployments", Some("default")).is_empty().then_some(()) }).await;
    let rss = store_list(&sim, "apps/replicasets", Some("default"));
    assert_eq!(rss.len(), 1);
    assert!(rss[0]["metadata"]["ownerReferences"].as_array().is_none_or(|r| r.is_empty()));
    assert_eq!(store_list(&sim, "pods", Some("default")).len(), 2);
    kubectl(&kc, &["delete", "rs", "--all"]).await;
    eventually(10, "pods gone", || async { store_list(&sim, "pods", Some("default")).is_empty().then_some(()) }).await;

    // Foreground: the deployment stays (with the finalizer) until its dependents are gone.
    apply(&kc, DEPLOY).await;
    kubectl(&kc, &["rollout", "status", "deployment/web", "--timeout=30s"]).await;
    let out = kubectl(&kc, &["delete", "deployment", "web", "--cascade=foreground", "--wait=true", "--timeout=20s"]).await;
    assert!(out.contains("deleted"), "{out}");
    assert!(store_list(&sim, "apps/replicasets", Some("default")).is_empty());
    assert!(store_list(&sim, "pods", Some("default")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_endpoints_and_default_serviceaccount() {
    let (sim, kc, _d) = start().await;
    kubectl(&kc, &["create", "namespace", "apps"]).await;
    let sa: Value = eventually(10, "default sa", || async { store_list(&sim, "serviceaccounts", Some("apps")).into_iter().find(|s| name(s) == "default") }).await;
    assert_eq!(name(&sa), "default");
    // The root CA publisher is its own controller: the ConfigMap may come after the ServiceAccount.
    let ca: Value = eventually(10, "kube-root-ca.crt", || async { store_list(&sim, "configmaps", Some("apps")).into_iter().find(|c| name(c) == "kube-root-ca.crt") }).await;
    assert_eq!(name(&ca), "kube-root-ca.crt");
    apply(&kc, &DEPLOY.replace("namespace: default", "namespace: apps")).await;
    apply(&kc, "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: apps}\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 8080, targetPort: http}]\n").await;
    kubectl(&kc, &["-n", "apps", "rollout", "status", "deployment/web", "--timeout=30s"]).await;
    let ep: Value = eventually(10, "endpoints with 2 addresses", || async {
        store_list(&sim, "endpoints", Some("apps")).into_iter().find(|e| name(e) == "web" && e["subsets"][0]["addresses"].as_array().is_some_and(|a| a.len() == 2))
    }).await;
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 80);
    let slices = store_list(&sim, "discovery.k8s.io/endpointslices", Some("apps"));
    assert_eq!(slices.len(), 1);
    let s = &slices[0];
    assert!(name(s).starts_with("web-") && name(s).len() == 9);
    assert_eq!(s["metadata"]["labels"]["kubernetes.io/service-name"], "web");
    assert_eq!(s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"], "endpointslice-controller.k8s.io");
    assert_eq!(s["endpoints"].as_array().unwrap().len(), 2);
    let out = kubectl(&kc, &["-n", "apps", "get", "endpointslices"]).await;
    assert!(out.contains("web-"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unschedulable_pods_report_the_real_messages() {
    let (_sim, kc, _d) = start().await;
    apply(&kc, "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: manual, namespace: default}\nspec: {storageClassName: \"\", accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n").await;
    apply(&kc, "apiVersion: v1\nkind: Pod\nmetadata: {name: immediate, namespace: default}\nspec:\n  containers: [{name: c, image: busybox:1.36, command: [sleep, '3600']}]\n  volumes: [{name: d, persistentVolumeClaim: {claimName: manual}}]\n").await;
    apply(&kc, "apiVersion: v1\nkind: Pod\nmetadata: {name: missing, namespace: default}\nspec:\n  containers: [{name: c, image: busybox:1.36, command: [sleep, '3600']}]\n  volumes: [{name: d, persistentVolumeClaim: {claimName: nope}}]\n").await;
    apply(&kc, "apiVersion: v1\nkind: Pod\nmetadata: {name: picky, namespace: default}\nspec:\n  nodeSelector: {disktype: ssd}\n  containers: [{name: c, image: busybox:1.36, command: [sleep, '3600']}]\n").await;
    let msgs = |pod: &'static str| {
        let kc = kc.clone();
        async move { kubectl(&kc, &["get", "events", "--field-selector", &format!("involvedObject.name={pod},reason=FailedScheduling"), "-o", "custom-columns=M:.message", "--no-headers"]).await }
    };
    let m = eventually(10, "immediate message", || async { let m = msgs("immediate").await; (!m.trim().is_empty()).then_some(m) }).await;
    assert_eq!(m.trim(), "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.");
    let m = eventually(10, "missing message", || async { let m = msgs("missing").await; (!m.trim().is_empty()).then_some(m) }).await;
    assert_eq!(m.trim(), "0/3 nodes are available: persistentvolumeclaim \"nope\" not found. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.");
    let m = eventually(10, "picky message", || async { let m = msgs("picky").await; (!m.trim().is_empty()).then_some(m) }).await;
    assert_eq!(m.trim(), "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.");
    let p = get_json(&kc, &["pod", "picky"]).await;
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(p["status"]["conditions"][0]["reason"], "Unschedulable");
}
