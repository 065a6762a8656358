//! The rendered kube-prometheus-stack (storage variant) on a 3-node embedded cluster, judged
//! with the real kubectl: what runs, what binds, and what a delete of the chart's objects
//! leaves behind (exactly what a kind cluster leaves).

mod common;

use common::{fixture, split_crds, Harness};


const PVC: &str = "prometheus-prometheus-stack-kube-prom-prometheus-db-prometheus-prometheus-stack-kube-prom-prometheus-0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_variant_runs_binds_and_leaves_what_kind_leaves() {
    let h = Harness::start().await;
    let (crds, rest) = split_crds(&fixture("storage.yaml"));
    h.ok(&["create", "namespace", "monitoring"]).await;
    let r = h.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(crds)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    h.ok(&["wait", "--for=condition=Established", "crd", "--all", "--timeout=30s"]).await;
    let r = h.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(rest.clone())).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    h.ok(&["wait", "-n", "monitoring", "--for=condition=Available", "deployment", "--all", "--timeout=60s"]).await;
    h.ok(&["rollout", "status", "-n", "monitoring", "daemonset/prometheus-stack-prometheus-node-exporter", "--timeout=60s"]).await;
    for sts in ["prometheus-prometheus-stack-kube-prom-prometheus", "alertmanager-prometheus-stack-kube-prom-alertmanager"] {
        // The operator creates these once its own pod runs; wait for them to exist, then roll out.
        let mut ok = false;
        for _ in 0..100 {
            if h.kubectl(&["get", "-n", "monitoring", "statefulset", sts]).await.code == 0 {
                ok = true;
                break;
            }
            let _ = h.kubectl(&["wait", "-n", "monitoring", "--for=create", &format!("statefulset/{sts}"), "--timeout=5s"]).await;
        }
        assert!(ok, "operator never created statefulset {sts}");
        h.ok(&["rollout", "status", "-n", "monitoring", &format!("statefulset/{sts}"), "--timeout=60s"]).await;
    }
    let deploys = h.ok(&["get", "deploy", "-n", "monitoring", "--no-headers"]).await;
    for d in ["prometheus-stack-grafana", "prometheus-stack-kube-prom-operator", "prometheus-stack-kube-state-metrics"] {
        assert!(deploys.lines().any(|l| l.starts_with(d) && l.split_whitespace().nth(1) == Some("1/1")), "{d} not ready:\n{deploys}");
    }
    // One node-exporter per node, control plane included (the chart tolerates its taint).
    let ne = h.ok(&["get", "pods", "-n", "monitoring", "-l", "app.kubernetes.io/name=prometheus-node-exporter", "-o", "jsonpath={range .items[*]}{.spec.nodeName} {.status.phase}{\"\\n\"}{end}"]).await;
    let mut nodes: Vec<&str> = ne.lines().map(|l| l.split(' ').next().unwrap()).collect();
    nodes.sort();
    assert_eq!(nodes, vec!["cleanroom-control-plane", "cleanroom-worker", "cleanroom-worker2"], "{ne}");
    assert!(ne.lines().all(|l| l.ends_with("Running")));
    let ksm = h.ok(&["get", "pods", "-n", "monitoring", "-l", "app.kubernetes.io/name=kube-state-metrics", "--no-headers"]).await;
    assert_eq!(ksm.lines().count(), 1);
    let pods = h.ok(&["get", "pods", "-n", "monitoring", "--no-headers"]).await;
    for p in ["prometheus-prometheus-stack-kube-prom-prometheus-0", "alertmanager-prometheus-stack-kube-prom-alertmanager-0"] {
        assert!(pods.lines().any(|l| l.starts_with(p) && l.contains("Running")), "{p}:\n{pods}");
    }
    // The claim: bound, 10Gi, to a pvc-<uid> PV pinned to the pod's node, with its host dir.
    let pvc = h.ok(&["get", "pvc", PVC, "-n", "monitoring", "-o", "jsonpath={.status.phase} {.status.capacity.storage} {.spec.volumeName} {.metadata.uid}"]).await;
    let f: Vec<&str> = pvc.split(' ').collect();
    assert_eq!(&f[..2], &["Bound", "10Gi"], "{pvc}");
    assert_eq!(f[2], format!("pvc-{}", f[3]));
    let pv_node = h.ok(&["get", "pv", f[2], "-o", "jsonpath={.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}"]).await;
    let pod_node = h.ok(&["get", "pod", "-n", "monitoring", "prometheus-prometheus-stack-kube-prom-prometheus-0", "-o", "jsonpath={.spec.nodeName}"]).await;
    assert_eq!(pv_node, pod_node);
    let host_dir = h.sim.root().join("nodes").join(&pod_node).join(format!("var/local-path-provisioner/{}_monitoring_{PVC}", f[2]));
    assert!(host_dir.is_dir(), "{} missing", host_dir.display());

    // Delete what Helm manages (the manifest). Left behind, as on kind: the PVC (and its
    // PV), the CRDs, and the operator's kubelet Service in kube-system.
    let r = h.kubectl_stdin(&["delete", "-f", "-", "--wait=true", "--timeout=60s"], Some(rest)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let _ = h.kubectl(&["wait", "-n", "monitoring", "--for=delete", "pod", "--all", "--timeout=60s"]).await;
    let left = h.ok(&["get", "sts,deploy,ds,pods,prometheus,alertmanager", "-n", "monitoring", "-o", "name"]).await;
    assert_eq!(left.trim(), "", "workloads must be gone: {left}");
    assert_eq!(h.ok(&["get", "pvc", "-n", "monitoring", "-o", "name"]).await.trim(), format!("persistentvolumeclaim/{PVC}"));
    assert_eq!(h.ok(&["get", "pv", "-o", "jsonpath={.items[*].status.phase}"]).await, "Bound");
    assert_eq!(h.ok(&["get", "crd", "--no-headers"]).await.lines().count(), 10);
    assert_eq!(h.ok(&["get", "svc", "-n", "kube-system", "prometheus-stack-kube-prom-kubelet", "-o", "name"]).await.trim(), "service/prometheus-stack-kube-prom-kubelet");
    // The PVC label does not carry the release: a release-label purge misses it (§1.3).
    let by_release = h.kubectl(&["get", "pvc", "-n", "monitoring", "-l", "app.kubernetes.io/instance=prometheus-stack", "-o", "name"]).await;
    assert_eq!(by_release.stdout.trim(), "");
    let by_cr = h.ok(&["get", "pvc", "-n", "monitoring", "-l", "app.kubernetes.io/instance=prometheus-stack-kube-prom-prometheus", "-o", "name"]).await;
    assert_eq!(by_cr.lines().count(), 1);

    // Deleting the PVC releases the PV; with reclaim Delete the PV and its directory go.
    h.ok(&["delete", "pvc", PVC, "-n", "monitoring", "--timeout=60s"]).await;
    let _ = h.kubectl(&["wait", "--for=delete", "pv", "--all", "--timeout=30s"]).await;
    assert_eq!(h.ok(&["get", "pv", "-o", "name"]).await.trim(), "");
    assert!(!host_dir.exists(), "local-path teardown removes the directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_with_finalizer_held_objects_stays_terminating() {
    let h = Harness::start().await;
    h.ok(&["create", "namespace", "held"]).await;
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pinned\n  namespace: held\n  finalizers: [example.com/keep]\n";
    let r = h.kubectl_stdin(&["create", "-f", "-"], Some(cm.into())).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = h.kubectl(&["delete", "namespace", "held", "--wait=false"]).await;
    assert_eq!(r.code, 0);
    let r = h.kubectl(&["wait", "--for=delete", "namespace/held", "--timeout=2s"]).await;
    assert_ne!(r.code, 0, "namespace must not disappear while content is held");
    let status = h.ok(&["get", "ns", "held", "-o", "jsonpath={.status.phase}"]).await;
    assert_eq!(status, "Terminating");
    let conds = h.ok(&["get", "ns", "held", "-o", "jsonpath={.status.conditions[?(@.type==\"NamespaceFinalizersRemaining\")].message}"]).await;
    assert_eq!(conds, "Some content in the namespace has finalizers remaining: example.com/keep in 1 resource instances");
    h.ok(&["patch", "configmap", "pinned", "-n", "held", "--type=json", "-p", r#"[{"op":"remove","path":"/metadata/finalizers"}]"#]).await;
    h.ok(&["wait", "--for=delete", "namespace/held", "--timeout=20s"]).await;
}
