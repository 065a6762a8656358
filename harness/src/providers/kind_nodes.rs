//! Node operations on kind: each node is a container named like the node, so the node-level parts run as
//! `<runtime> exec --privileged <node> timeout ... sh -c ...` (privileged as kind itself execs for
//! mounts; `timeout` inside, because killing the `docker exec` client does not stop what it started in
//! the node); cordon and drain go through the API, as `kubectl cordon/drain` do.
//!
//! kind's `kubelet.service` and `containerd.service` use `KillMode=process`: restarting either leaves
//! the containers running (restartCount stays 0). The restarts here wait until the kubelet's healthz
//! (`127.0.0.1:10248/healthz` inside the node, answered with the node image's `curl`) says ok, and report
//! the restartCount change they measured.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;

use super::environment::NodeRuntime;
use super::nodes::{DrainOutcome, NodeMount, NodeOperations, NodeResult, RestartReport};
use super::process::ToolCall;

/// Inside the node: how long one node command may run before `timeout` ends it.
pub const NODE_COMMAND_LIMIT: Duration = Duration::from_secs(120);
/// The kubelet's container GC (which removes logs of deleted pods) runs once a minute.
pub const KUBELET_LOG_GC_PERIOD: Duration = Duration::from_secs(60);
/// After a restart: how long the kubelet may take to answer its healthz again.
pub const HEALTHZ_WAIT_SECS: u32 = 90;

pub struct KindNodes {
    pub client: kube::Client,
    pub nodes: Vec<String>,
    pub runtime: NodeRuntime,
    /// Image ids per node at cluster start (after `kind load`): `node.prune-images` never removes them.
    baseline: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

/// The argv (after the runtime binary) of one shell command on a node (exposed for tests).
pub fn exec_argv(node: &str, script: &str, limit: Duration) -> Vec<String> {
    let secs = limit.as_secs().max(1).to_string();
    ["exec", "--privileged", node, "timeout", "-k", "5", &secs, "sh", "-c", script].map(String::from).to_vec()
}

/// Single-quote for `sh -c` (paths come from scenario files).
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Poll the kubelet's healthz inside the node (no API can tell a restarted kubelet is back: the Node's
/// Ready condition lags by up to 40 s), one `curl` a second, bounded.
pub fn healthz_wait_script(also: Option<&str>) -> String {
    let extra = also.map(|c| format!("{c} >/dev/null 2>&1 && ")).unwrap_or_default();
    format!(
        "i=0; while [ $i -lt {HEALTHZ_WAIT_SECS} ]; do {extra}curl -sf --max-time 2 http://127.0.0.1:10248/healthz >/dev/null && exit 0; \
         i=$((i+1)); sleep 1; done; echo 'the kubelet healthz (127.0.0.1:10248/healthz) did not answer ok within {HEALTHZ_WAIT_SECS}s' >&2; exit 1"
    )
}

/// Unmount only what is mounted; a failing `umount` fails the script (and so the step).
pub fn unmount_script(target: &str) -> String {
    let t = sh_quote(target);
    format!("if mountpoint -q {t}; then umount {t} && echo unmounted; else echo not-mounted; fi")
}

/// `rm -rf` that never crosses into another filesystem (a mount that is still there).
pub fn remove_script(path: &str) -> String {
    format!("rm -rf --one-file-system -- {}", sh_quote(path))
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

/// One image of `crictl images -o json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeImage {
    pub id: String,
    pub tags: Vec<String>,
    /// containerd pins the sandbox (pause) image; `crictl rmi` leaves it alone.
    pub pinned: bool,
}

impl NodeImage {
    fn label(&self) -> String {
        self.tags.first().cloned().unwrap_or_else(|| self.id.clone())
    }
}

/// `crictl images -o json` → images.
pub fn parse_crictl_image_list(text: &str) -> Vec<NodeImage> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| NodeImage {
            id: i["id"].as_str().unwrap_or_default().to_string(),
            tags: i["repoTags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(String::from)).collect(),
            pinned: i["pinned"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// `crictl images -o json` → image references (`repo:tag`), sorted.
pub fn parse_crictl_images(text: &str) -> Vec<String> {
    let mut out: Vec<String> = parse_crictl_image_list(text).into_iter().flat_map(|i| i.tags).collect();
    out.sort();
    out
}

/// `crictl ps -a -o json` → the image ids and references containers use.
pub fn parse_used_images(text: &str) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let mut used = BTreeSet::new();
    for c in v["containers"].as_array().into_iter().flatten() {
        for r in [&c["imageRef"], &c["image"]["image"]] {
            if let Some(s) = r.as_str() {
                used.insert(s.to_string());
            }
        }
    }
    used
}

/// Images to prune: not there at cluster start, not used by any container, not pinned.
pub fn prune_candidates(images: &[NodeImage], baseline: &BTreeSet<String>, used: &BTreeSet<String>) -> Vec<NodeImage> {
    images
        .iter()
        .filter(|i| !i.pinned && !baseline.contains(&i.id) && !used.contains(&i.id) && !i.tags.iter().any(|t| used.contains(t)))
        .cloned()
        .collect()
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

/// Sum of restartCount per pod uid.
fn restart_counts(pods: &[Pod]) -> BTreeMap<String, i32> {
    pods.iter()
        .map(|p| {
            let n = p.status.iter().flat_map(|s| s.container_statuses.iter().flatten()).map(|c| c.restart_count).sum();
            (p.metadata.uid.clone().unwrap_or_default(), n)
        })
        .collect()
}

impl KindNodes {
    pub fn new(client: kube::Client, nodes: Vec<String>, runtime: NodeRuntime) -> Self {
        KindNodes { client, nodes, runtime, baseline: Mutex::new(BTreeMap::new()) }
    }

    async fn exec(&self, node: &str, script: &str) -> NodeResult<String> {
        let call = ToolCall::new(&self.runtime.binary, exec_argv(node, script, NODE_COMMAND_LIMIT));
        // A little longer outside than inside, so the node's own `timeout` reports first.
        call.run(Some(NODE_COMMAND_LIMIT + Duration::from_secs(10)))
            .await
            .map(|f| f.stdout)
            .map_err(|e| format!("on node {node} ({} exec): {e}", self.runtime.name))
    }

    /// Record every node's images as the ones `node.prune-images` must keep (called at cluster start).
    pub async fn record_image_baseline(&self) -> NodeResult<()> {
        for n in &self.nodes {
            let ids = parse_crictl_image_list(&self.exec(n, "crictl images -o json").await?).into_iter().map(|i| i.id).collect();
            self.baseline.lock().expect("baseline lock").insert(n.clone(), ids);
        }
        Ok(())
    }

    async fn restart(&self, node: &str, unit: &str, also_wait_for: Option<&str>) -> NodeResult<RestartReport> {
        let before = restart_counts(&super::drain::pods_on(&self.client, node).await?);
        self.exec(node, &format!("systemctl restart {unit}")).await?;
        self.exec(node, &healthz_wait_script(also_wait_for)).await?;
        let after = restart_counts(&super::drain::pods_on(&self.client, node).await?);
        let rose: i32 = after.iter().map(|(uid, n)| (n - before.get(uid).copied().unwrap_or(*n)).max(0)).sum();
        Ok(RestartReport {
            containers_restarted: rose as usize,
            note: Some(format!(
                "the kubelet's healthz answers ok again; kind's {unit}.service uses KillMode=process, so running containers keep running"
            )),
        })
    }
}

impl NodeOperations for KindNodes {
    fn nodes(&self) -> Vec<String> {
        self.nodes.clone()
    }
    fn cordon<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(super::drain::set_unschedulable(&self.client, node, true))
    }
    fn uncordon<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(super::drain::set_unschedulable(&self.client, node, false))
    }
    fn drain<'a>(&'a self, node: &'a str, ignore_daemonsets: bool, timeout: Duration) -> BoxFuture<'a, NodeResult<DrainOutcome>> {
        Box::pin(super::drain::drain(&self.client, node, ignore_daemonsets, timeout))
    }
    fn restart_kubelet<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<RestartReport>> {
        Box::pin(self.restart(node, "kubelet", None))
    }
    fn restart_runtime<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<RestartReport>> {
        Box::pin(self.restart(node, "containerd", Some("crictl info")))
    }
    fn log_gc_period(&self) -> Duration {
        KUBELET_LOG_GC_PERIOD
    }
    fn mounts<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<NodeMount>>> {
        Box::pin(async move { Ok(parse_mounts(&self.exec(node, "cat /proc/mounts").await?)) })
    }
    fn pod_log_dirs<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async move { Ok(lines(&self.exec(node, "ls -1 /var/log/pods 2>/dev/null || true").await?)) })
    }
    fn images<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async move { Ok(parse_crictl_images(&self.exec(node, "crictl images -o json").await?)) })
    }
    /// Only images pulled since the cluster started (not kind's preloaded ones, not `kind load`ed ones)
    /// that no container uses.
    fn prune_images<'a>(&'a self, node: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async move {
            let baseline = self.baseline.lock().expect("baseline lock").get(node).cloned().ok_or_else(|| {
                format!("no image list was recorded for {node} at cluster start, so nothing is known to be safe to prune")
            })?;
            let images = parse_crictl_image_list(&self.exec(node, "crictl images -o json").await?);
            let used = parse_used_images(&self.exec(node, "crictl ps -a -o json").await?);
            let prune = prune_candidates(&images, &baseline, &used);
            if prune.is_empty() {
                return Ok(Vec::new());
            }
            let ids: Vec<String> = prune.iter().map(|i| sh_quote(&i.id)).collect();
            self.exec(node, &format!("crictl rmi {}", ids.join(" "))).await?;
            Ok(prune.iter().map(NodeImage::label).collect())
        })
    }
    fn remove_path<'a>(&'a self, node: &'a str, path: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async move { self.exec(node, &remove_script(path)).await.map(|_| ()) })
    }
    fn path_exists<'a>(&'a self, node: &'a str, path: &'a str) -> BoxFuture<'a, NodeResult<bool>> {
        Box::pin(async move { Ok(self.exec(node, &format!("test -e {} && echo yes || echo no", sh_quote(path))).await?.trim() == "yes") })
    }
    fn list_dir<'a>(&'a self, node: &'a str, dir: &'a str) -> BoxFuture<'a, NodeResult<Vec<String>>> {
        Box::pin(async move {
            let names = lines(&self.exec(node, &format!("ls -1 {} 2>/dev/null || true", sh_quote(dir))).await?);
            Ok(names.into_iter().map(|n| format!("{}/{n}", dir.trim_end_matches('/'))).collect())
        })
    }
    fn read_link<'a>(&'a self, node: &'a str, path: &'a str) -> BoxFuture<'a, NodeResult<Option<String>>> {
        Box::pin(async move {
            let out = self.exec(node, &format!("readlink {} || true", sh_quote(path))).await?;
            Ok(Some(out.trim().to_string()).filter(|s| !s.is_empty()))
        })
    }
    fn unmount<'a>(&'a self, node: &'a str, target: &'a str) -> BoxFuture<'a, NodeResult<bool>> {
        Box::pin(async move { Ok(self.exec(node, &unmount_script(target)).await?.trim() == "unmounted") })
    }
    fn plant_mount<'a>(&'a self, node: &'a str, pod_uid: &'a str, volume: &'a str) -> BoxFuture<'a, NodeResult<()>> {
        Box::pin(async move {
            let dir = format!("/var/lib/kubelet/pods/{pod_uid}/volumes/kubernetes.io~empty-dir/{volume}");
            self.exec(node, &format!("mkdir -p {d} && mount -t tmpfs tmpfs {d}", d = sh_quote(&dir))).await.map(|_| ())
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
            self.exec(node, &script).await.map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_privileged_and_bounded_inside_the_node() {
        assert_eq!(
            exec_argv("kind-worker", "ls /", Duration::from_secs(120)),
            vec!["exec", "--privileged", "kind-worker", "timeout", "-k", "5", "120", "sh", "-c", "ls /"]
        );
        assert_eq!(sh_quote("/var/log/pods/a'b"), r"'/var/log/pods/a'\''b'");
        assert_eq!(remove_script("/var/log/pods/x"), "rm -rf --one-file-system -- '/var/log/pods/x'");
        assert!(healthz_wait_script(None).contains("curl -sf --max-time 2 http://127.0.0.1:10248/healthz"));
        assert!(healthz_wait_script(Some("crictl info")).contains("crictl info >/dev/null 2>&1 && curl"));
    }

    #[test]
    fn parses_mounts_and_images() {
        let m = parse_mounts("tmpfs /var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/c tmpfs rw 0 0\nbad\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].fstype, "tmpfs");
        let imgs = parse_crictl_images(r#"{"images":[{"id":"sha256:1","repoTags":["docker.io/library/nginx:1.27"]},{"id":"sha256:2","repoTags":[]}]}"#);
        assert_eq!(imgs, vec!["docker.io/library/nginx:1.27"]);
    }

    #[test]
    fn prunes_only_images_pulled_since_start_and_unused() {
        let img = |id: &str, tag: &str, pinned| NodeImage { id: id.into(), tags: vec![tag.into()], pinned };
        let images = vec![
            img("sha256:pause", "registry.k8s.io/pause:3.10", true),
            img("sha256:helper", "docker.io/kindest/local-path-helper:v1", false),
            img("sha256:loaded", "example.dev/app:dev", false),
            img("sha256:nginx", "docker.io/library/nginx:1.27", false),
            img("sha256:busybox", "docker.io/library/busybox:1.37", false),
        ];
        let baseline: BTreeSet<String> = ["sha256:pause", "sha256:helper", "sha256:loaded"].map(String::from).into();
        let used = parse_used_images(r#"{"containers":[{"imageRef":"sha256:busybox","image":{"image":"docker.io/library/busybox:1.37"}}]}"#);
        let prune = prune_candidates(&images, &baseline, &used);
        assert_eq!(prune.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), vec!["sha256:nginx"]);
    }
}
