//! kube-system as kind has it: static control-plane pods on each control-plane node (mirror
//! pods, owned by their Node) and the add-ons in kind-system.yaml (CoreDNS, kube-proxy, kindnet).

use serde_json::json;

use super::NodeSpec;
use crate::kind_manifests;
use crate::server::{ApiServer, WriteOptions};


pub fn install(server: &ApiServer, nodes: &[NodeSpec]) {
    let opts = WriteOptions { field_manager: Some("kubeadm".into()), ..Default::default() };
    for doc in kind_manifests::system() {
        let Some(rt) = server.registry.by_kind(doc["apiVersion"].as_str().unwrap_or(""), doc["kind"].as_str().unwrap_or("")) else { continue };
        let ns = doc.pointer("/metadata/namespace").and_then(|n| n.as_str()).map(String::from);
        let _ = server.create(&rt, ns.as_deref(), doc, &opts);
    }
    let Ok(pods) = server.resource("", "v1", "pods") else { return };
    for node in nodes.iter().filter(|n| n.control_plane) {
        let node_uid = server.store.get("nodes", "", &node.name).and_then(|n| n.pointer("/metadata/uid").and_then(|u| u.as_str()).map(String::from)).unwrap_or_default();
        for (component, image) in kind_manifests::CONTROL_PLANE {
            let name = format!("{component}-{}", node.name);
            let hash: String = {
                use sha2::Digest;
                sha2::Sha256::digest(format!("{name}\n{image}").as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
            };
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": name, "namespace": "kube-system",
                    "labels": {"component": component, "tier": "control-plane"},
                    "annotations": {"kubernetes.io/config.hash": hash, "kubernetes.io/config.mirror": hash, "kubernetes.io/config.seen": crate::server::now_rfc3339(), "kubernetes.io/config.source": "file"},
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": node_uid, "controller": true}],
                },
                "spec": {
                    "nodeName": node.name, "hostNetwork": true, "priorityClassName": "system-node-critical", "priority": 2000001000,
                    "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
                    "containers": [{"name": component, "image": image, "command": [component]}],
                },
            });
            let _ = server.create(&pods, Some("kube-system"), pod, &opts);
        }
    }
}
