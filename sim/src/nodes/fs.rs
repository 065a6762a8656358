//! What the kubelet and containerd leave on a node's filesystem: pod log directories and
//! `/var/log/containers` links, pod volume directories, a mount table and an image store.
//! Paths handed out are node-internal (`/var/log/pods/...`), as `docker exec` would see them.

use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::kind_manifests::node_images;

/// File-level read-modify-write of the mount table and image store is serialised here.
static FS_LOCK: Mutex<()> = Mutex::new(());

pub const MOUNTS: &str = "proc/mounts";
pub const IMAGES: &str = "var/lib/containerd/images.list";
pub const POD_LOGS: &str = "var/log/pods";
pub const CONTAINER_LOGS: &str = "var/log/containers";
pub const KUBELET_PODS: &str = "var/lib/kubelet/pods";

/// `node_root` + a node-internal absolute path.
pub fn host_path(node_root: &Path, internal: &str) -> PathBuf {
    node_root.join(internal.trim_start_matches('/'))
}

/// Create the directories every kind node has, and its image store with the images kind's
/// node image ships with (`crictl images` on a fresh node: their pods start with "already
/// present on machine", not a pull).
pub fn prepare(node_root: &Path) {
    for d in [POD_LOGS, CONTAINER_LOGS, KUBELET_PODS, "proc", "var/lib/containerd", "var/local-path-provisioner"] {
        let _ = std::fs::create_dir_all(node_root.join(d));
    }
    let mounts = node_root.join(MOUNTS);
    if !mounts.exists() {
        let _ = std::fs::write(&mounts, "");
    }
    if !node_root.join(IMAGES).exists() {
        write_lines(&node_root.join(IMAGES), &node_images().iter().map(|r| format!("{r} {}", image_id(r))).collect::<Vec<_>>());
    }
}

pub fn pod_log_dir_name(ns: &str, pod: &str, uid: &str) -> String {
    format!("{ns}_{pod}_{uid}")
}

/// Write the container's log file `<restart>.log` (CRI format) and its `/var/log/containers` link.
pub fn write_container_log(node_root: &Path, ns: &str, pod: &str, uid: &str, container: &str, restart: i64, container_id: &str, line: &str) {
    let rel = format!("{}/{container}", pod_log_dir_name(ns, pod, uid));
    let dir = node_root.join(POD_LOGS).join(&rel);
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("{restart}.log"));
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&file) {
        let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ");
        let _ = writeln!(f, "{ts} stdout F {line}");
    }
    let link = node_root.join(CONTAINER_LOGS).join(format!("{pod}_{ns}_{container}-{container_id}.log"));
    // Relative, so the link resolves both on the host and inside the node.
    let target = format!("../pods/{rel}/{restart}.log");
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    let _ = std::os::unix::fs::symlink(target, &link);
}

/// Remove a container's `/var/log/containers` link (container garbage collection).
pub fn remove_container_link(node_root: &Path, ns: &str, pod: &str, container: &str, container_id: &str) {
    let _ = std::fs::remove_file(node_root.join(CONTAINER_LOGS).join(format!("{pod}_{ns}_{container}-{container_id}.log")));
}

/// `/var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~<plugin>/<volume>`, node-internal.
pub fn volume_dir(uid: &str, plugin: &str, volume: &str) -> String {
    format!("/{KUBELET_PODS}/{uid}/volumes/kubernetes.io~{plugin}/{volume}")
}

/// Create the pod's kubelet directory (volumes, plugins, containers, etc-hosts).
pub fn create_pod_dirs(node_root: &Path, uid: &str, volumes: &[(String, String)], containers: &[String], hostname: &str, ip: &str) {
    let base = node_root.join(KUBELET_PODS).join(uid);
    let _ = std::fs::create_dir_all(base.join("plugins"));
    for (plugin, vol) in volumes {
        let _ = std::fs::create_dir_all(host_path(node_root, &volume_dir(uid, plugin, vol)));
    }
    for c in containers {
        let _ = std::fs::create_dir_all(base.join("containers").join(c));
    }
    let hosts = format!("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{ip}\t{hostname}\n");
    let _ = std::fs::write(base.join("etc-hosts"), hosts);
}

/// Put a file into a volume directory (configMap/secret keys).
pub fn write_volume_file(node_root: &Path, dir: &str, key: &str, data: &[u8]) {
    let p = host_path(node_root, dir);
    let _ = std::fs::create_dir_all(&p);
    let _ = std::fs::write(p.join(key), data);
}

/// Remove what the kubelet removes for a deleted pod: its kubelet dir and its log dir.
pub fn remove_pod(node_root: &Path, ns: &str, pod: &str, uid: &str) {
    let _ = std::fs::remove_dir_all(node_root.join(KUBELET_PODS).join(uid));
    let _ = std::fs::remove_dir_all(node_root.join(POD_LOGS).join(pod_log_dir_name(ns, pod, uid)));
    // Links of this pod's containers.
    let prefix = format!("{pod}_{ns}_");
    if let Ok(rd) = std::fs::read_dir(node_root.join(CONTAINER_LOGS)) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Remove `/var/log/containers` links whose log file is gone; returns how many.
pub fn remove_dangling_container_links(node_root: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(node_root.join(CONTAINER_LOGS)) else { return 0 };
    rd.flatten().filter(|e| std::fs::metadata(e.path()).is_err()).filter(|e| std::fs::remove_file(e.path()).is_ok()).count()
}

/// Pod uids that have a kubelet directory on this node.
pub fn pod_uids_on_disk(node_root: &Path) -> Vec<String> {
    std::fs::read_dir(node_root.join(KUBELET_PODS))
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// `/var/log/pods` entries (`<ns>_<pod>_<uid>`).
pub fn pod_log_dirs(node_root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(node_root.join(POD_LOGS))
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// One line of the mount table: `source target fstype options 0 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: String,
}

impl MountEntry {
    fn line(&self) -> String {
        format!("{} {} {} {} 0 0", self.source, self.target, self.fstype, self.options)
    }
    fn parse(l: &str) -> Option<MountEntry> {
        let mut it = l.split_whitespace();
        Some(MountEntry { source: it.next()?.into(), target: it.next()?.into(), fstype: it.next()?.into(), options: it.next()?.into() })
    }
}

pub fn read_mounts(node_root: &Path) -> Vec<MountEntry> {
    std::fs::read_to_string(node_root.join(MOUNTS)).unwrap_or_default().lines().filter_map(MountEntry::parse).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    if let Some(d) = path.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    // Written aside and renamed over: readers take no lock, and a truncated table would show
    // them a node with nothing mounted (node.cleanup then skipped a live mount's unmount).
    let tmp = path.with_extension("writing");
    if std::fs::write(&tmp, s).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

pub fn add_mounts(node_root: &Path, entries: &[MountEntry]) {
    let _g = FS_LOCK.lock();
    let mut cur = read_mounts(node_root);
    for e in entries {
        if !cur.iter().any(|c| c.target == e.target) {
            cur.push(e.clone());
        }
    }
    write_lines(&node_root.join(MOUNTS), &cur.iter().map(|m| m.line()).collect::<Vec<_>>());
}

/// Unmount everything under the pod's kubelet directory.
pub fn remove_mounts_of_pod(node_root: &Path, uid: &str) {
    let _g = FS_LOCK.lock();
    let prefix = format!("/{KUBELET_PODS}/{uid}/");
    let cur = read_mounts(node_root);
    if !cur.iter().any(|m| m.target.starts_with(&prefix)) {
        return;
    }
    let keep: Vec<String> = cur.iter().filter(|m| !m.target.starts_with(&prefix)).map(|m| m.line()).collect();
    write_lines(&node_root.join(MOUNTS), &keep);
}

/// Unmount one target (drop its mount-table line); returns whether it was mounted.
pub fn remove_mount(node_root: &Path, target: &str) -> bool {
    let _g = FS_LOCK.lock();
    let cur = read_mounts(node_root);
    if !cur.iter().any(|m| m.target == target) {
        return false;
    }
    let keep: Vec<String> = cur.iter().filter(|m| m.target != target).map(|m| m.line()).collect();
    write_lines(&node_root.join(MOUNTS), &keep);
    true
}

/// Image store entries: `(reference, image id)`.
pub fn read_images(node_root: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(node_root.join(IMAGES))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())))
        .collect()
}

/// Record a pulled image; returns false when it was already present.
pub fn add_image(node_root: &Path, reference: &str, id: &str) -> bool {
    let _g = FS_LOCK.lock();
    let mut cur = read_images(node_root);
    if cur.iter().any(|(r, _)| r == reference) {
        return false;
    }
    cur.push((reference.to_string(), id.to_string()));
    write_lines(&node_root.join(IMAGES), &cur.iter().map(|(r, i)| format!("{r} {i}")).collect::<Vec<_>>());
    true
}

pub fn has_image(node_root: &Path, reference: &str) -> bool {
    read_images(node_root).iter().any(|(r, _)| r == reference)
}

/// Drop every image not in `in_use` that the node did not start with; returns the removed
/// references. Like the kind provider's prune, it never removes a preloaded image (the
/// cluster needs them back after a node restart; the sandbox image is pinned anyway).
pub fn prune_images(node_root: &Path, in_use: &[String]) -> Vec<String> {
    let _g = FS_LOCK.lock();
    let cur = read_images(node_root);
    let (keep, gone): (Vec<_>, Vec<_>) = cur.into_iter().partition(|(r, _)| node_images().contains(r) || in_use.contains(r));
    write_lines(&node_root.join(IMAGES), &keep.iter().map(|(r, i)| format!("{r} {i}")).collect::<Vec<_>>());
    gone.into_iter().map(|(r, _)| r).collect()
}

/// containerd's normalised reference: `nginx` → `docker.io/library/nginx:latest`.
pub fn normalize_image(image: &str) -> String {
    let (name, tag_or_digest) = match image.rfind('@') {
        Some(i) => (&image[..i], image[i..].to_string()),
        None => {
            let last = image.rsplit('/').next().unwrap_or(image);
            match last.rfind(':') {
                Some(i) => (&image[..image.len() - last.len() + i], last[i..].to_string()),
                None => (image, ":latest".to_string()),
            }
        }
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{full}{tag_or_digest}")
}

/// `repo@sha256:<digest>`: a stable digest derived from the reference.
pub fn image_id(reference: &str) -> String {
    use sha2::Digest;
    let repo = match reference.rfind('@') {
        Some(i) => &reference[..i],
        None => {
            let last = reference.rsplit('/').next().unwrap_or(reference);
            match last.rfind(':') {
                Some(i) => &reference[..reference.len() - last.len() + i],
                None => reference,
            }
        }
    };
    let d = sha2::Sha256::digest(reference.as_bytes());
    format!("{repo}@sha256:{}", d.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A fresh containerd container id (64 hex).
pub fn new_container_id() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_containerd() {
        assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(normalize_image("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(normalize_image("grafana/grafana:12.1.0"), "docker.io/grafana/grafana:12.1.0");
        assert_eq!(normalize_image("quay.io/prometheus/node-exporter:v1.9.1"), "quay.io/prometheus/node-exporter:v1.9.1");
        assert_eq!(normalize_image("localhost:5000/x"), "localhost:5000/x:latest");
        assert!(image_id("docker.io/library/nginx:1.27").starts_with("docker.io/library/nginx@sha256:"));
        assert_eq!(new_container_id().len(), 64);
    }

    #[test]
    fn a_node_starts_with_kinds_images_and_prune_keeps_them() {
        let d = tempfile::tempdir().unwrap();
        prepare(d.path());
        assert!(node_images().iter().all(|r| has_image(d.path(), r)));
        assert!(!has_image(d.path(), "docker.io/library/nginx:1.27"));
        for r in ["docker.io/library/nginx:1.27", "docker.io/library/busybox:1.36"] {
            assert!(add_image(d.path(), r, &image_id(r)));
        }
        let gone = prune_images(d.path(), &["docker.io/library/busybox:1.36".to_string()]);
        assert_eq!(gone, ["docker.io/library/nginx:1.27"]);
        assert_eq!(read_images(d.path()).len(), node_images().len() + 1);
        // A second prepare (a restarted node) keeps what the store holds.
        prepare(d.path());
        assert_eq!(read_images(d.path()).len(), node_images().len() + 1);
    }
}
