//! Node operations on kind: each node is a Docker container named like the node, so the
//! node-level parts run as `docker exec <node> sh -c ...`; cordon and drain go through the API
//! (as `kubectl cordon/drain` do).

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams};

use super::nodes::{DrainOutcome, NodeMount, NodeOperations, NodeResult};

pub struct KindNodes {
    pub client: kube::Client,
    pub nodes: Vec<String>,
}

/// The argv of `docker exec` for one shell command on a node (exposed for tests).
pub fn exec_argv(node: &str, script: &str) -> Vec<String> {
    vec!["exec".into(), node.into(), "sh".into(), "-c".into(), script.into()]
}

/// Single-quote for `sh -c` (paths come from scenario files).
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

async fn exec(node: &str, script: &str) -> NodeResult<String> {
    let out = tokio::process::Command::new("docker")
        .args(exec_argv(node, script))
        .output()
        .await
        .map_err(|e| format!("docker exec on node {node}: {e} (is docker on PATH?)"))?;
    if !out.status.success() {
        return Err(format!("`{script}` on node {node} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `/proc/mounts` lines → mounts.
pub fn parse_mounts(text: &str) -> Vec<NodeMount> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then(|| NodeMount { source: f[0].into(), target: f[1].into(), fstype: f[2].into() })
        })
        .collect()
}

/// `crictl images -o json` → image references (`repo:tag`).
pub fn parse_crictl_images(text: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let mut out: Vec<String> = v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["repoTags"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(String::from))
        .collect();
    out.sort();
    out
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

impl KindNodes {
    async fn set_unschedulable(&self, node: &str, on: bool) -> NodeResult<()> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        nodes
            .patch(node, &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"unschedulable": on}})))
            .await
            .map(|_| ())
            .map_err(|e| format!("cordon {node}: {e}"))
    }

    /// Count the pods on a node (restarts are reported as the pods that were running).
    async fn pods_on(&self, node: &str) -> NodeResult<Vec<Pod>> {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
        pods.list(&lp).await.map(|l| l.items).map_err(|e| format!("list pods on {node}: {e}"))
    }
}

impl NodeOperations for KindNodes {
    fn nodes(&self) -> Vec<String> {
        self.nodes.clone()
    }
    fn cordon<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(self.set_unschedulable(node, true))
    }
    fn uncordon<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(self.set_unschedulable(node, false))
    }
    fn drain<'a>(&'a self, node: &'a str, ignore_daemonsets: bool, timeout: Duration) -> BoxFuture<'a, NodeResult<DrainOutcome>> {
        Box::pin(async move {
            self.set_unschedulable(node, true).await?;
            let deadline = Instant::now() + timeout;
            let mut outcome = DrainOutcome::default();
            for pod in self.pods_on(node).await? {
                let ns = pod.metadata.namespace.clone().unwrap_or_default();
                let name = pod.metadata.name.clone().unwrap_or_default();
                let by_ds = pod.metadata.owner_references.iter().flatten().any(|o| o.kind == "DaemonSet");
                let mirror = pod.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
                if mirror || (by_ds && ignore_daemonsets) {
                    outcome.ignored.push(format!("{ns}/{name}"));
                    continue;
                }
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
                // The Eviction API answers 429 while a PodDisruptionBudget forbids it: retry
                // until the deadline, like `kubectl drain`.
                loop {
                    match api.evict(&name, &EvictParams::default()).await {
                        Ok(_) => break,
                        Err(kube::Error::Api(s)) if s.code == 404 => break,
                        Err(kube::Error::Api(s)) if s.code == 429 && Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                        Err(e) => return Err(format!("evict {ns}/{name}: {e}")),
                    }
                }
                outcome.evicted.push(format!("{ns}/{name}"));
            }
            Ok(outcome)
        })
    }
    fn restart_kubelet<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<usize>> {
        Box::pin(async move {
            exec(node, "systemctl restart kubelet").await?;
            Ok(self.pods_on(node).await?.len())
        })
    }
    fn restart_runtime<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<usize>> {
        Box::pin(async move {
            exec(node, "systemctl restart containerd").await?;
            Ok(self.pods_on(node).await?.len())
        })
    }
    fn mounts<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<NodeMount>>> {
        Box::pin(async move { Ok(parse_mounts(&exec(node, "cat /proc/mounts").await?)) })
    }
    fn pod_log_dirs<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async move { Ok(lines(&exec(node, "ls -1 /var/log/pods 2>/dev/null || true").await?)) })
    }
    fn images<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async move { Ok(parse_crictl_images(&exec(node, "crictl images -o json").await?)) })
    }
    fn prune_images<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async move {
            let before = parse_crictl_images(&exec(node, "crictl images -o json").await?);
            exec(node, "crictl rmi --prune").await?;
            let after = parse_crictl_images(&exec(node, "crictl images -o json").await?);
            Ok(before.into_iter().filter(|i| !after.contains(i)).collect())
        })
    }
    fn remove_path<'a>(&'a self, node: &'a str, path: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async move { exec(node, &format!("rm -rf -- {}", sh_quote(path))).await.map(|_| ()) })
    }
    fn path_exists<'a>(&'a self, node: &'a str, path: &'a str) -> BoxFuture<'a, NodeResult<bool>> {
        Box::pin(async move { Ok(exec(node, &format!("test -e {} && echo yes || echo no", sh_quote(path))).await?.trim() == "yes") })
    }
    fn list_dir<'a>(&'a self, node: &'a str, dir: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async move {
            let names = lines(&exec(node, &format!("ls -1 {} 2>/dev/null || true", sh_quote(dir))).await?);
            Ok(names.into_iter().map(|n| format!("{}/{n}", dir.trim_end_matches('/'))).collect())
        })
    }
    fn read_link<'a>(&'a self, node: &'a str, path: &'a str) -> BoxFuture<'a, NodeResult<Option<String>>> {
        Box::pin(async move {
            let out = exec(node, &format!("readlink {} || true", sh_quote(path))).await?;
            Ok(Some(out.trim().to_string()).filter(|s| !s.is_empty()))
        })
    }
    fn unmount<'a>(&'a self, node: &'a str, target: &'a str) -> BoxFuture<'a, NodeResult<bool>> {
        Box::pin(async move { Ok(exec(node, &format!("umount {} && echo yes || echo no", sh_quote(target))).await?.trim() == "yes") })
    }
    fn plant_mount<'a>(&'a self, node: &'a str, pod_uid: &'a str, volume: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async move {
            let dir = format!("/var/lib/kubelet/pods/{pod_uid}/volumes/kubernetes.io~empty-dir/{volume}");
            exec(node, &format!("mkdir -p {d} && mount -t tmpfs tmpfs {d}", d = sh_quote(&dir))).await.map(|_| ())
        })
    }
    fn plant_pod_log<'a>(&'a self, node: &'a str, namespace: &'a str, pod: &'a str, uid: &'a str, container: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async move {
            let dir = format!("/var/log/pods/{namespace}_{pod}_{uid}/{container}");
            let link = format!("/var/log/containers/{pod}_{namespace}_{container}-{}.log", uid.replace('-', ""));
            let script = format!(
                "mkdir -p {d} && echo 'cleanroom planted log' > {d}/0.log && ln -sf {d}/0.log {l}",
                d = sh_quote(&dir),
                l = sh_quote(&link)
            );
            exec(node, &script).await.map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_and_quoting() {
        assert_eq!(exec_argv("kind-worker", "ls /"), vec!["exec", "kind-worker", "sh", "-c", "ls /"]);
        assert_eq!(sh_quote("/var/log/pods/a'b"), r"'/var/log/pods/a'\''b'");
    }

    #[test]
    fn parses_mounts_and_images() {
        let m = parse_mounts("tmpfs /var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/c tmpfs rw 0 0\nbad\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].fstype, "tmpfs");
        let imgs = parse_crictl_images(r#"{"images":[{"repoTags":["docker.io/library/nginx:1.27"]},{"repoTags":[]}]}"#);
        assert_eq!(imgs, vec!["docker.io/library/nginx:1.27"]);
    }
}
