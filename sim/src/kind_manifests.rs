//! What kind's node image carries and applies at cluster creation, which the embedded cluster
//! installs too; also for providers that give a real control plane kind's shape
//! (`--provider kwok`). The one place image references are written down.

use std::sync::OnceLock;

use serde_json::Value;

/// CoreDNS, kube-proxy and kindnet in kube-system (not the static control-plane pods).
pub const SYSTEM: &str = include_str!("nodes/kind-system.yaml");
/// local-path-storage and the default StorageClass `standard` (kind's
/// `/kind/manifests/default-storage.yaml`).
pub const STORAGE: &str = include_str!("storage/kind-storage.yaml");
/// (component, image) of the static pods kubeadm writes to /etc/kubernetes/manifests.
pub const CONTROL_PLANE: [(&str, &str); 4] = [
    ("etcd", "registry.k8s.io/etcd:3.6.5-0"),
    ("kube-apiserver", "registry.k8s.io/kube-apiserver:v1.35.0"),
    ("kube-controller-manager", "registry.k8s.io/kube-controller-manager:v1.35.0"),
    ("kube-scheduler", "registry.k8s.io/kube-scheduler:v1.35.0"),
];
/// The sandbox image.
pub const PAUSE: &str = "registry.k8s.io/pause:3.10";

fn documents(manifest: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(manifest).expect("kind's manifests parse")
}

/// SYSTEM's objects.
pub fn system() -> Vec<Value> {
    documents(SYSTEM)
}

/// STORAGE's objects.
pub fn storage() -> Vec<Value> {
    documents(STORAGE)
}

/// The image local-path-provisioner runs its helper pods with (its `--helper-image`).
pub fn local_path_helper_image() -> &'static str {
    static HELPER: OnceLock<String> = OnceLock::new();
    HELPER.get_or_init(|| {
        let mut found = Vec::new();
        storage().iter().for_each(|d| images_in(d, &mut found));
        found.into_iter().find(|i| i.contains("local-path-helper")).expect("kind's storage manifest names a helper image")
    })
}

/// local-path-provisioner's `config.json` (its node paths), from kind's `local-path-config` ConfigMap.
pub fn local_path_config() -> String {
    storage()
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "local-path-config")
        .and_then(|c| c["data"]["config.json"].as_str())
        .expect("kind's storage manifest holds local-path-config's config.json")
        .to_string()
}

/// Every image a kind node starts with, sorted: what kind's node image preloads into
/// containerd (the add-ons', storage's, the control plane's, the sandbox's).
pub fn node_images() -> &'static [String] {
    static IMAGES: OnceLock<Vec<String>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let mut found: Vec<String> = CONTROL_PLANE.iter().map(|(_, i)| i.to_string()).chain([PAUSE.to_string()]).collect();
        system().iter().chain(storage().iter()).for_each(|d| images_in(d, &mut found));
        found.sort();
        found.dedup();
        found
    })
}

/// Container `image` fields, and the value after an `--…-image` argument.
fn images_in(v: &Value, found: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| match (k.as_str(), v) {
            ("image", Value::String(s)) => found.push(s.clone()),
            _ => images_in(v, found),
        }),
        Value::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                if let (Some(flag), Some(Value::String(next))) = (item.as_str(), a.get(i + 1))
                    && flag.starts_with("--")
                    && flag.ends_with("-image")
                {
                    found.push(next.clone());
                }
                images_in(item, found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_carries_every_image_the_manifests_run() {
        let images = node_images();
        for want in ["docker.io/kindest/kindnetd:", "registry.k8s.io/kube-proxy:", "registry.k8s.io/coredns/coredns:", "docker.io/kindest/local-path-provisioner:", "docker.io/kindest/local-path-helper:", "registry.k8s.io/etcd:", PAUSE] {
            assert!(images.iter().any(|i| i.starts_with(want)), "{want} in {images:?}");
        }
        assert_eq!(images.len(), 10, "{images:?}");
        assert!(local_path_helper_image().starts_with("docker.io/kindest/local-path-helper:v"));
    }

    #[test]
    fn the_provisioner_config_is_kinds() {
        let config: Value = serde_json::from_str(&local_path_config()).unwrap();
        assert_eq!(config["nodePathMap"][0]["node"], "DEFAULT_PATH_FOR_NON_LISTED_NODES");
        assert_eq!(config["nodePathMap"][0]["paths"][0], "/var/local-path-provisioner");
    }
}
