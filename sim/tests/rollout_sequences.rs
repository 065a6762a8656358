//! Issue 10's reproductions with the real kubectl: write paths that used to strip the pod
//! template's defaults made the Deployment controller create a ReplicaSet every few
//! milliseconds. Each sequence must end with one ReplicaSet per distinct template, the
//! expected revision, and no ReplicaSet created once the rollout is done.

mod common;

use std::time::Duration;

use cleanroom_sim::store::EventType;
use common::{get_json, Harness};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
";

/// ReplicaSets created while watching the store for `window` (a controller loop creates
/// them continuously; a settled cluster creates none).
async fn replicasets_created_within(h: &Harness, window: Duration) -> usize {
    let mut rx = h.sim.api().store.subscribe();
    let deadline = tokio::time::Instant::now() + window;
    let mut n = 0;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(ev)) if &*ev.key == "apps/replicasets" && ev.kind == EventType::Added => n += 1,
            Ok(Ok(_)) => {}
            Ok(Err(RecvError::Lagged(k))) => n += k as usize,
            Ok(Err(RecvError::Closed)) | Err(_) => return n,
        }
    }
}

async fn rollout_done(h: &Harness) {
    h.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]).await;
}

fn revision(obj: &Value) -> String {
    obj.pointer("/metadata/annotations/deployment.kubernetes.io~1revision").and_then(|r| r.as_str()).unwrap_or("").to_string()
}

/// (revision, image) of every ReplicaSet of `web`, sorted by revision.
async fn replicasets(h: &Harness) -> Vec<(String, String)> {
    let list = get_json(h, &["rs", "-l", "app=web"]).await.expect("list replicasets");
    let mut out: Vec<(String, String)> = list["items"].as_array().unwrap().iter()
        .map(|rs| (revision(rs), rs.pointer("/spec/template/spec/containers/0/image").and_then(|i| i.as_str()).unwrap_or("").to_string()))
        .collect();
    out.sort();
    out
}

async fn deployment(h: &Harness) -> Value {
    get_json(h, &["deployment", "web"]).await.expect("get deployment")
}

/// The end state every sequence must reach and keep.
async fn assert_settled(h: &Harness, want_revision: &str, want: &[(&str, &str)]) {
    assert_eq!(replicasets_created_within(h, Duration::from_millis(800)).await, 0, "the Deployment controller keeps creating ReplicaSets");
    let d = deployment(h).await;
    assert_eq!(revision(&d), want_revision, "{d:#}");
    assert_eq!(d.pointer("/status/collisionCount"), None, "{d:#}");
    // Defaults survive every write path.
    assert_eq!(d.pointer("/spec/template/spec/dnsPolicy").and_then(|v| v.as_str()), Some("ClusterFirst"), "{d:#}");
    assert_eq!(d.pointer("/spec/strategy/rollingUpdate/maxSurge").and_then(|v| v.as_str()), Some("25%"), "{d:#}");
    let want: Vec<(String, String)> = want.iter().map(|(r, i)| (r.to_string(), i.to_string())).collect();
    assert_eq!(replicasets(h).await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_then_server_side_apply_keeps_one_replicaset() {
    let h = Harness::start().await;
    let r = h.kubectl_stdin(&["apply", "-f", "-"], Some(DEPLOY.into())).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    rollout_done(&h).await;
    let r = h.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(DEPLOY.into())).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("deployment.apps/web serverside-applied"), "{}", r.stdout);
    rollout_done(&h).await;
    assert_settled(&h, "1", &[("1", "nginx:1.27")]).await;
    // And back to client-side apply: still the same template.
    let r = h.kubectl_stdin(&["apply", "-f", "-"], Some(DEPLOY.into())).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    rollout_done(&h).await;
    assert_settled(&h, "1", &[("1", "nginx:1.27")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_image_then_rollout_undo_reuses_the_first_replicaset() {
    let h = Harness::start().await;
    let r = h.kubectl_stdin(&["apply", "-f", "-"], Some(DEPLOY.into())).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    rollout_done(&h).await;
    h.ok(&["set", "image", "deployment/web", "web=nginx:1.28"]).await;
    rollout_done(&h).await;
    assert_settled(&h, "2", &[("1", "nginx:1.27"), ("2", "nginx:1.28")]).await;
    let out = h.ok(&["rollout", "undo", "deployment/web"]).await;
    assert!(out.contains("deployment.apps/web rolled back"), "{out}");
    rollout_done(&h).await;
    // The old template comes back as revision 3 (its revision 1 moves to revision-history).
    assert_settled(&h, "3", &[("2", "nginx:1.28"), ("3", "nginx:1.27")]).await;
    let list = get_json(&h, &["rs", "-l", "app=web"]).await.unwrap();
    let back = list["items"].as_array().unwrap().iter().find(|rs| revision(rs) == "3").unwrap();
    assert_eq!(back.pointer("/metadata/annotations/deployment.kubernetes.io~1revision-history").and_then(|v| v.as_str()), Some("1"));
    let history = h.ok(&["rollout", "history", "deployment/web"]).await;
    let revisions: Vec<&str> = history.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revisions, vec!["2", "3"], "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kustomize_client_side_then_server_side_keeps_one_replicaset() {
    let h = Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d.yaml"), DEPLOY).unwrap();
    // commonAnnotations reach the pod template too.
    std::fs::write(dir.path().join("kustomization.yaml"), "resources: [d.yaml]\ncommonAnnotations:\n  team: a\n").unwrap();
    let k = dir.path().to_str().unwrap();
    h.ok(&["apply", "-k", k]).await;
    rollout_done(&h).await;
    let out = h.ok(&["apply", "-k", k, "--server-side"]).await;
    assert!(out.contains("serverside-applied"), "{out}");
    rollout_done(&h).await;
    assert_settled(&h, "1", &[("1", "nginx:1.27")]).await;
    let d = deployment(&h).await;
    assert_eq!(d.pointer("/spec/template/metadata/annotations/team").and_then(|v| v.as_str()), Some("a"));
}
