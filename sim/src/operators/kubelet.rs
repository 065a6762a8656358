//! prometheus-operator's kubelet controller (PO `pkg/kubelet/controller.go`): a headless
//! Service and an Endpoints object listing every node's InternalIP, named by the operator's
//! `--kubelet-service=<ns>/<name>`; no owner references.

use serde_json::{json, Value};

use crate::api::object;
use super::common::{container_arg, ensure};
use crate::server::ApiServer;

fn kubelet_labels() -> Value {
    json!({"k8s-app": "kubelet", "app.kubernetes.io/name": "kubelet", "app.kubernetes.io/managed-by": "prometheus-operator"})
}

fn ports() -> Value {
    json!([
        {"name": "https-metrics", "port": 10250, "protocol": "TCP", "targetPort": 10250},
        {"name": "http-metrics", "port": 10255, "protocol": "TCP", "targetPort": 10255},
        {"name": "cadvisor", "port": 4194, "protocol": "TCP", "targetPort": 4194},
    ])
}

/// Node address by priority (InternalIP, then ExternalIP); nodes without one are skipped.
fn node_address(node: &Value) -> Option<String> {
    let addrs = node.pointer("/status/addresses").and_then(|a| a.as_array())?;
    ["InternalIP", "ExternalIP"]
        .iter()
        .find_map(|ty| addrs.iter().find(|a| a["type"] == *ty).and_then(|a| a["address"].as_str()).map(String::from))
}

pub fn sync(server: &ApiServer, operator: &Value) {
    let Some(arg) = container_arg(operator, "--kubelet-service") else { return };
    let Some((ns, name)) = arg.split_once('/') else { return };
    if server.store.get("namespaces", "", ns).is_none() {
        return;
    }
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": kubelet_labels()},
        "spec": {"type": "ClusterIP", "clusterIP": "None", "ports": ports()},
    });
    let _ = super::prometheus::ensure_service(server, svc);
    if container_arg(operator, "--kubelet-endpoints").as_deref() == Some("false") {
        return;
    }
    let (mut nodes, _) = server.store.list("nodes", None);
    nodes.sort_by(|a, b| object::name_of(a).cmp(object::name_of(b)));
    let addresses: Vec<Value> = nodes
        .iter()
        .filter_map(|n| {
            let ip = node_address(n)?;
            Some(json!({
                "ip": ip, "nodeName": object::name_of(n),
                "targetRef": {"kind": "Node", "name": object::name_of(n), "uid": object::str_at(n, "/metadata/uid").unwrap_or("")},
            }))
        })
        .collect();
    let endpoint_ports: Vec<Value> = ports()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"name": p["name"], "port": p["port"], "protocol": "TCP"}))
        .collect();
    let subsets = if addresses.is_empty() { json!([]) } else { json!([{"addresses": addresses, "ports": endpoint_ports}]) };
    let ep = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": name, "namespace": ns, "labels": kubelet_labels()},
        "subsets": subsets,
    });
    let _ = ensure(server, "", "v1", "endpoints", ep, &["subsets"], false);
}
