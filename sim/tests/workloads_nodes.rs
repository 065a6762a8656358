//! Node operations and node filesystem artefacts.

mod workloads_common;
use workloads_common::*;

use cleanroom_sim::nodes::DrainOptions;
use serde_json::Value;

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: nginx, image: nginx:1.27}]\n      volumes: [{name: cache, emptyDir: {}}, {name: token, projected: {sources: []}}]\n";

fn running(sim: &cleanroom_sim::SimCluster) -> Vec<Value> {
    store_list(sim, "pods", Some("default")).into_iter().filter(|p| p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_artefacts_appear_and_are_cleaned() {
    let (sim, kc, _d) = start().await;
    apply(&kc, DEPLOY).await;
    kubectl(&kc, &["rollout", "status", "deployment/web", "--timeout=30s"]).await;
    let ops = sim.nodes();
    let pod = running(&sim).remove(0);
    let node = pod["spec"]["nodeName"].as_str().unwrap().to_string();
    let (pname, uid) = (name(&pod).to_string(), pod["metadata"]["uid"].as_str().unwrap().to_string());
    let log_dir = format!("default_{pname}_{uid}");
    assert!(ops.pod_log_dirs(&node).await.unwrap().contains(&log_dir));
    assert!(ops.path_exists(&node, &format!("/var/log/pods/{log_dir}/nginx/0.log")).await.unwrap());
    let cid = pod["status"]["containerStatuses"][0]["containerID"].as_str().unwrap().trim_start_matches("containerd://").to_string();
    let link = format!("/var/log/containers/{pname}_default_nginx-{cid}.log");
    assert!(ops.path_exists(&node, &link).await.unwrap());
    assert!(ops.path_exists(&node, &format!("/var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~empty-dir/cache")).await.unwrap());
    assert!(ops.mounts(&node).await.unwrap().iter().any(|m| m.target == format!("/var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~projected/token")));
    assert!(ops.images(&node).await.unwrap().contains(&"docker.io/library/nginx:1.27".to_string()));
    // nginx was pulled; kube-proxy's image came with the node (kind's node image), as on kind.
    let events = kubectl(&kc, &["get", "events", "-A", "-o", "jsonpath={range .items[*]}{.involvedObject.name} {.reason} {.message}{\"\\n\"}{end}"]).await;
    assert!(events.lines().any(|l| l.starts_with("web-") && l.contains(" Pulling Pulling image \"nginx:1.27\"")), "{events}");
    assert!(events.lines().any(|l| l.starts_with("kube-proxy-") && l.contains("Pulled Container image \"registry.k8s.io/kube-proxy:v1.35.0\" already present on machine")), "{events}");
    assert!(!events.lines().any(|l| l.starts_with("kube-proxy-") && l.contains(" Pulling ")), "{events}");

    kubectl(&kc, &["delete", "deployment", "web", "--wait=true"]).await;
    eventually(10, "pods gone", || async { store_list(&sim, "pods", Some("default")).is_empty().then_some(()) }).await;
    eventually(10, "artefacts cleaned", || async {
        let ok = !ops.pod_log_dirs(&node).await.unwrap().contains(&log_dir)
            && !ops.path_exists(&node, &link).await.unwrap()
            && !ops.path_exists(&node, &format!("/var/lib/kubelet/pods/{uid}")).await.unwrap()
            && !ops.mounts(&node).await.unwrap().iter().any(|m| m.target.contains(&uid));
        ok.then_some(())
    }).await;
    // Images stay until pruned.
    assert!(ops.images(&node).await.unwrap().contains(&"docker.io/library/nginx:1.27".to_string()));
    let pruned = ops.prune_images(&node).await.unwrap();
    assert!(pruned.contains(&"docker.io/library/nginx:1.27".to_string()));
    assert!(!pruned.iter().any(|i| i.starts_with("registry.k8s.io/")), "preloaded images stay: {pruned:?}");
    // Images of pods still running on the node (e.g. local-path-provisioner) stay.
    assert!(!ops.images(&node).await.unwrap().contains(&"docker.io/library/nginx:1.27".to_string()));
    ops.remove_path(&node, "/var/log/pods").await.unwrap();
    assert!(!ops.path_exists(&node, "/var/log/pods").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_drain_with_pdb_and_restart() {
    let (sim, kc, _d) = start().await;
    let ops = sim.nodes();
    assert_eq!(ops.list(), vec!["cleanroom-control-plane", "cleanroom-worker", "cleanroom-worker2"]);
    ops.cordon("cleanroom-worker").await.unwrap();
    let out = kubectl(&kc, &["get", "node", "cleanroom-worker"]).await;
    assert!(out.contains("SchedulingDisabled"), "{out}");
    apply(&kc, DEPLOY).await;
    kubectl(&kc, &["rollout", "status", "deployment/web", "--timeout=30s"]).await;
    assert!(running(&sim).iter().all(|p| p["spec"]["nodeName"] == "cleanroom-worker2"));
    ops.uncordon("cleanroom-worker").await.unwrap();

    // kind's kubelet.service and containerd.service use KillMode=process: restarting either
    // leaves containers running; pods stay Ready with restartCount 0 and the same ids.
    let before = running(&sim);
    // (kind's local-path-provisioner may run there too.)
    assert!(ops.restart_runtime("cleanroom-worker2").await.unwrap() >= 2);
    assert!(ops.restart_kubelet("cleanroom-worker2").await.unwrap() >= 2);
    let after = running(&sim);
    assert_eq!(after.len(), before.len());
    for p in &after {
        let b = before.iter().find(|b| name(b) == name(p)).unwrap();
        assert_eq!(p["status"]["containerStatuses"][0]["restartCount"], 0);
        assert_eq!(p["status"]["containerStatuses"][0]["containerID"], b["status"]["containerStatuses"][0]["containerID"]);
        assert!(p["status"]["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "Ready" && c["status"] == "True"), "{p}");
    }
    let out = kubectl(&kc, &["get", "pods", "-n", "default", "--no-headers"]).await;
    assert!(out.lines().all(|l| l.split_whitespace().nth(3) == Some("0") && l.contains("Running")), "{out}");
    // The new kubelet announces itself on its Node (kubelet.go BirthCry).
    let events = kubectl(&kc, &["get", "events", "-n", "default", "--field-selector", "involvedObject.kind=Node,involvedObject.name=cleanroom-worker2,reason=Starting", "-o", "name"]).await;
    assert_eq!(events.lines().count(), 1, "{events}");

    // A PDB allowing one disruption: drain evicts one at a time; replacements land on the other worker.
    apply(&kc, "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: default}\nspec:\n  minAvailable: 1\n  selector: {matchLabels: {app: web}}\n").await;
    eventually(10, "pdb status", || async {
        store_list(&sim, "policy/poddisruptionbudgets", Some("default"))[0]["status"]["disruptionsAllowed"].as_i64().filter(|a| *a == 1)
    }).await;
    let report = ops.drain("cleanroom-worker2", &DrainOptions::default()).await.unwrap();
    assert_eq!(report.evicted.iter().filter(|p| p.starts_with("default/web-")).count(), 2, "{report:?}");
    eventually(20, "pods moved", || async {
        let r = running(&sim);
        (r.len() == 2 && r.iter().all(|p| p["spec"]["nodeName"] == "cleanroom-worker")).then_some(())
    }).await;
    // A PDB with nothing to spare blocks eviction.
    apply(&kc, "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: default}\nspec:\n  minAvailable: 2\n  selector: {matchLabels: {app: web}}\n").await;
    eventually(10, "pdb status 0", || async {
        store_list(&sim, "policy/poddisruptionbudgets", Some("default"))[0]["status"]["disruptionsAllowed"].as_i64().filter(|a| *a == 0)
    }).await;
    let err = ops.drain("cleanroom-worker", &DrainOptions { timeout: std::time::Duration::from_millis(500), ..Default::default() }).await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
}
