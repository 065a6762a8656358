//! Deployment → ReplicaSet → Pods, scheduling and kubelet status, via kube-rs and kubectl.

mod workloads_common;
use workloads_common::*;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PropagationPolicy};

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports: [{containerPort: 80}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_look_like_kind() {
    let (sim, kc, _d) = start().await;
    let nodes: Api<Node> = Api::all(sim.client());
    let list = nodes.list(&ListParams::default()).await.unwrap();
    let names: Vec<String> = list.items.iter().map(|n| n.metadata.name.clone().unwrap()).collect();
    assert_eq!(names, vec!["cleanroom-control-plane", "cleanroom-worker", "cleanroom-worker2"]);
    let cp = &list.items[0];
    assert_eq!(cp.spec.as_ref().unwrap().taints.as_ref().unwrap()[0].key, "node-role.kubernetes.io/control-plane");
    let out = kubectl(&kc, &["get", "nodes"]).await;
    assert!(out.contains("cleanroom-worker2"), "{out}");
    let wide = kubectl(&kc, &["get", "nodes", "-o", "wide"]).await;
    assert!(wide.contains("Debian GNU/Linux 12 (bookworm)"), "{wide}");
    let leases = store_list(&sim, "coordination.k8s.io/leases", Some("kube-node-lease"));
    assert_eq!(leases.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_becomes_ready_and_background_delete_cleans_up() {
    let (sim, kc, _d) = start().await;
    apply(&kc, DEPLOY).await;
    let out = kubectl(&kc, &["rollout", "status", "deployment/web", "--timeout=30s"]).await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let deps: Api<Deployment> = Api::namespaced(sim.client(), "default");
    let d = deps.get("web").await.unwrap();
    let st = d.status.unwrap();
    assert_eq!((st.replicas, st.ready_replicas, st.available_replicas, st.updated_replicas), (Some(3), Some(3), Some(3), Some(3)));
    let conds = st.conditions.unwrap();
    let avail = conds.iter().find(|c| c.type_ == "Available").unwrap();
    assert_eq!(avail.message.as_deref(), Some("Deployment has minimum availability."));
    let rss: Api<ReplicaSet> = Api::namespaced(sim.client(), "default");
    let rs = rss.list(&ListParams::default().labels("app=web")).await.unwrap().items;
    assert_eq!(rs.len(), 1);
    let rs_name = rs[0].metadata.name.clone().unwrap();
    let hash = rs[0].metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(rs_name, format!("web-{hash}"));
    assert!(hash.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)) && hash.len() <= 10);
    let prog = conds.iter().find(|c| c.type_ == "Progressing").unwrap();
    assert_eq!(prog.message.as_deref(), Some(format!("ReplicaSet \"{rs_name}\" has successfully progressed.").as_str()));
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    let ps = pods.list(&ListParams::default().labels("app=web")).await.unwrap().items;
    assert_eq!(ps.len(), 3);
    for p in &ps {
        let n = p.metadata.name.clone().unwrap();
        assert!(n.starts_with(&format!("{rs_name}-")) && n.len() == rs_name.len() + 6, "{n}");
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.controller, owner.block_owner_deletion), ("ReplicaSet", Some(true), Some(true)));
        let node = p.spec.as_ref().unwrap().node_name.clone().unwrap();
        assert_ne!(node, "cleanroom-control-plane", "control-plane is tainted");
        let s = p.status.as_ref().unwrap();
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let cs = &s.container_statuses.as_ref().unwrap()[0];
        assert!(cs.ready && cs.container_id.as_ref().unwrap().starts_with("containerd://"));
        assert_eq!(cs.image, "docker.io/library/nginx:1.27");
        assert!(s.pod_ip.as_ref().unwrap().starts_with("10.244."));
    }
    // Spread over both workers.
    let nodes: std::collections::BTreeSet<String> = ps.iter().map(|p| p.spec.as_ref().unwrap().node_name.clone().unwrap()).collect();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    let desc = kubectl(&kc, &["describe", "pod", ps[0].metadata.name.as_deref().unwrap()]).await;
    assert!(desc.contains("Successfully assigned default/"), "{desc}");
    let get = kubectl(&kc, &["get", "deploy", "web"]).await;
    assert!(get.contains("3/3"), "{get}");

    // Background delete: the GC removes the ReplicaSet and its pods.
    deps.delete("web", &DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() }).await.unwrap();
    eventually(20, "rs and pods gone", || async {
        let r = store_list(&sim, "apps/replicasets", Some("default"));
        let p = store_list(&sim, "pods", Some("default"));
        (r.is_empty() && p.is_empty()).then_some(())
    }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_creates_new_replicaset_and_scales_old_to_zero() {
    let (sim, kc, _d) = start().await;
    apply(&kc, DEPLOY).await;
    kubectl(&kc, &["rollout", "status", "deployment/web", "--timeout=30s"]).await;
    kubectl(&kc, &["set", "image", "deployment/web", "nginx=nginx:1.28"]).await;
    kubectl(&kc, &["rollout", "status", "deployment/web", "--timeout=30s"]).await;
    let rss = store_list(&sim, "apps/replicasets", Some("default"));
    assert_eq!(rss.len(), 2);
    let replicas: Vec<i64> = rss.iter().map(|r| r["spec"]["replicas"].as_i64().unwrap()).collect();
    assert!(replicas.contains(&0) && replicas.contains(&3), "{replicas:?}");
    eventually(20, "old pods gone", || async {
        let p = store_list(&sim, "pods", Some("default"));
        (p.len() == 3 && p.iter().all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.28")).then_some(())
    }).await;
    let events = kubectl(&kc, &["get", "events", "--field-selector", "reason=ScalingReplicaSet", "-o", "custom-columns=MSG:.message"]).await;
    // RollingUpdate with 25%/25% on 3 replicas is maxSurge 1, maxUnavailable 0: the rollout
    // steps one pod at a time, as the real deployment controller does.
    let old_rs = rss.iter().find(|r| r["spec"]["replicas"] == 0).unwrap()["metadata"]["name"].as_str().unwrap().to_string();
    let new_rs = rss.iter().find(|r| r["spec"]["replicas"] == 3).unwrap()["metadata"]["name"].as_str().unwrap().to_string();
    let lines: Vec<&str> = events.lines().skip(1).map(str::trim).collect();
    let want = [
        format!("Scaled up replica set {old_rs} from 0 to 3"),
        format!("Scaled up replica set {new_rs} from 0 to 1"),
        format!("Scaled down replica set {old_rs} from 3 to 2"),
        format!("Scaled up replica set {new_rs} from 1 to 2"),
        format!("Scaled down replica set {old_rs} from 2 to 1"),
        format!("Scaled up replica set {new_rs} from 2 to 3"),
        format!("Scaled down replica set {old_rs} from 1 to 0"),
    ];
    assert_eq!(lines, want, "{events}");
}
