//! prometheus-operator's Alertmanager controller (PO `pkg/alertmanager/{operator,statefulset}.go`):
//! the generated config Secret, TLS/web/cluster-TLS Secrets, `alertmanager-operated` and the
//! `alertmanager-<M>` StatefulSet.

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::api::object;
use super::common::{self, available_condition, condition, ensure, managed_labels, operator_statefulset, owner_ref, sts_counts, write_status, StatefulSetParts};
use super::prometheus::{check_storage_class, copied_annotations, data_volume, ensure_service, ensure_statefulset, object_labels, GROUP};
use crate::registry::ResourceType;
use crate::server::{meta, ApiServer};

const DEFAULT_CONFIG: &str = "route:\n  receiver: \"null\"\nreceivers:\n- name: \"null\"\n";

pub fn sync_all(server: &ApiServer) {
    let Some(rt) = common::cr_type(server, GROUP, "alertmanagers") else { return };
    let (crs, _) = server.store.list(&rt.key, None);
    for cr in crs.iter().filter(|c| !object::is_deleting(c)) {
        let cr = meta::as_version(cr.clone(), &rt);
        if cr.pointer("/spec/paused").and_then(|p| p.as_bool()) != Some(true) {
            sync_one(server, &rt, &cr);
        }
    }
}

fn s<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(|x| x.as_str())
}

/// The user's config (`spec.configSecret`, default `alertmanager-<M>`, key `alertmanager.yaml`).
fn user_config(server: &ApiServer, cr: &Value) -> String {
    let ns = s(cr, "/metadata/namespace").unwrap_or("");
    let default_name = format!("alertmanager-{}", object::name_of(cr));
    let secret_name = s(cr, "/spec/configSecret").filter(|n| !n.is_empty()).unwrap_or(&default_name);
    server
        .store
        .get("secrets", ns, secret_name)
        .and_then(|sec| sec.pointer("/data/alertmanager.yaml").and_then(|d| d.as_str()).map(String::from))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| DEFAULT_CONFIG.to_string())
}

fn sync_one(server: &ApiServer, rt: &ResourceType, cr: &Value) {
    let generation = cr.pointer("/metadata/generation").and_then(|g| g.as_i64()).unwrap_or(0);
    let prev = cr.get("status");
    if let Err(msg) = check_storage_class(server, cr) {
        let mut status = prev.cloned().unwrap_or(json!({}));
        let avail = available_condition(prev, 1, 0, generation);
        status["conditions"] = json!([avail, condition(prev, "Reconciled", "False", "ReconciliationFailed", &msg, generation)]);
        write_status(server, rt, cr, status);
        return;
    }
    let name = object::name_of(cr).to_string();
    let ns = s(cr, "/metadata/namespace").unwrap_or("default").to_string();
    let secret = |obj_name: String, data: Value| {
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": obj_name, "namespace": ns, "labels": managed_labels(), "ownerReferences": [owner_ref(cr, true)]},
            "data": data,
        })
    };
    let config = user_config(server, cr);
    let _ = ensure(server, "", "v1", "secrets", secret(format!("alertmanager-{name}-generated"), json!({"alertmanager.yaml.gz": common::gzip_b64(&config)})), &["data"], false);
    let _ = ensure(server, "", "v1", "secrets", secret(format!("alertmanager-{name}-tls-assets-0"), json!({})), &["data"], false);
    let _ = ensure(server, "", "v1", "secrets", secret(format!("alertmanager-{name}-web-config"), json!({"web-config.yaml": common::b64("")})), &["data"], false);
    let _ = ensure(server, "", "v1", "secrets", secret(format!("alertmanager-{name}-cluster-tls-config"), json!({"cluster-tls-config.yaml": common::b64("")})), &["data"], false);

    let port_name = s(cr, "/spec/portName").unwrap_or("web").to_string();
    let custom_service = s(cr, "/spec/serviceName").filter(|n| !n.is_empty()).map(String::from);
    if custom_service.is_none() {
        let mut l = managed_labels();
        l.insert("operated-alertmanager".into(), json!("true"));
        let svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "alertmanager-operated", "namespace": ns, "labels": l, "ownerReferences": [owner_ref(cr, false)]},
            "spec": {
                "clusterIP": "None",
                "ports": [
                    {"name": port_name, "port": 9093, "protocol": "TCP", "targetPort": port_name},
                    {"name": "tcp-mesh", "port": 9094, "protocol": "TCP", "targetPort": 9094},
                    {"name": "udp-mesh", "port": 9094, "protocol": "UDP", "targetPort": 9094},
                ],
                "publishNotReadyAddresses": true,
                "selector": {"app.kubernetes.io/name": "alertmanager"},
            },
        });
        let _ = ensure_service(server, svc);
    }
    let replicas = match cr.pointer("/spec/replicas").and_then(|v| v.as_i64()) {
        None => 1,
        Some(r) if r < 0 => 0,
        Some(r) => r,
    };
    let sts_name = format!("alertmanager-{name}");
    let service_name = custom_service.unwrap_or_else(|| "alertmanager-operated".into());
    ensure_statefulset(server, make_statefulset(cr, &sts_name, replicas, &service_name, &port_name));
    let cur = server.store.get("apps/statefulsets", &ns, &sts_name);
    let (r, u, a) = sts_counts(cur.as_deref());
    let status = json!({
        "availableReplicas": a,
        "conditions": [available_condition(prev, replicas, a, generation), condition(prev, "Reconciled", "True", "", "", generation)],
        "paused": false,
        "replicas": r,
        "selector": format!("alertmanager={name},app.kubernetes.io/instance={name},app.kubernetes.io/managed-by=prometheus-operator,app.kubernetes.io/name=alertmanager"),
        "unavailableReplicas": (r - a).max(0),
        "updatedReplicas": u,
    });
    write_status(server, rt, cr, status);
}

fn make_statefulset(cr: &Value, sts_name: &str, replicas: i64, service_name: &str, port_name: &str) -> Value {
    let name = object::name_of(cr).to_string();
    let ns = s(cr, "/metadata/namespace").unwrap_or("default").to_string();
    let mut selector = Map::new();
    for (k, v) in [
        ("alertmanager", name.as_str()),
        ("app.kubernetes.io/instance", name.as_str()),
        ("app.kubernetes.io/managed-by", "prometheus-operator"),
        ("app.kubernetes.io/name", "alertmanager"),
    ] {
        selector.insert(k.into(), json!(v));
    }
    let labels = object_labels(cr, &[], &selector);
    let mut annotations = copied_annotations(cr);
    annotations.insert("prometheus-operator-input-hash".into(), json!(common::input_hash(&[&cr["spec"], &cr["metadata"]["labels"], &cr["metadata"]["annotations"]])));
    let mut pod_labels = object::labels_of(&cr.pointer("/spec/podMetadata").cloned().unwrap_or(Value::Null));
    pod_labels.insert("app.kubernetes.io/version".into(), json!(s(cr, "/spec/version").unwrap_or("v0.28.1").trim_start_matches('v')));
    for (k, v) in &selector {
        pod_labels.insert(k.clone(), v.clone());
    }
    let mut pod_annotations = cr.pointer("/spec/podMetadata/annotations").and_then(|a| a.as_object()).cloned().unwrap_or_default();
    pod_annotations.insert("kubectl.kubernetes.io/default-container".into(), json!("alertmanager"));
    let db = format!("alertmanager-{name}-db");
    let (data_vol, claim) = data_volume(cr, &db);
    let image = s(cr, "/spec/image").map(String::from).unwrap_or_else(|| format!("quay.io/prometheus/alertmanager:{}", s(cr, "/spec/version").unwrap_or("v0.28.1")));
    let pull = s(cr, "/spec/imagePullPolicy").unwrap_or("IfNotPresent");
    let mut volumes = vec![
        json!({"name": "config-volume", "secret": {"secretName": format!("alertmanager-{name}-generated"), "defaultMode": 420}}),
        json!({"name": "tls-assets", "projected": {"sources": [{"secret": {"name": format!("alertmanager-{name}-tls-assets-0")}}], "defaultMode": 420}}),
        json!({"name": "config-out", "emptyDir": {"medium": "Memory"}}),
        json!({"name": "web-config", "secret": {"secretName": format!("alertmanager-{name}-web-config"), "defaultMode": 420}}),
        json!({"name": "cluster-tls-config", "secret": {"secretName": format!("alertmanager-{name}-cluster-tls-config"), "defaultMode": 420}}),
    ];
    if let Some(v) = data_vol {
        volumes.push(v);
    }
    let mut args = vec![
        "--config.file=/etc/alertmanager/config_out/alertmanager.env.yaml".to_string(),
        "--storage.path=/alertmanager".into(),
        format!("--data.retention={}", s(cr, "/spec/retention").unwrap_or("120h")),
        "--cluster.listen-address=[$(POD_IP)]:9094".into(),
        "--web.listen-address=:9093".into(),
    ];
    if let Some(u) = s(cr, "/spec/externalUrl") {
        args.push(format!("--web.external-url={u}"));
    }
    args.push(format!("--web.route-prefix={}", s(cr, "/spec/routePrefix").unwrap_or("/")));
    for i in 0..replicas {
        args.push(format!("--cluster.peer={sts_name}-{i}.{service_name}:9094"));
    }
    args.extend(["--cluster.reconnect-timeout=5m".into(), "--web.config.file=/etc/alertmanager/web_config/web-config.yaml".into()]);
    let security = json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": true});
    let reloader_mounts = json!([{"name": "config-volume", "mountPath": "/etc/alertmanager/config", "readOnly": true}, {"name": "config-out", "mountPath": "/etc/alertmanager/config_out"}]);
    let reloader = |cname: &str, once: bool| {
        let mut a = vec!["--listen-address=:8080".to_string(), "--web-config-file=/etc/alertmanager/web_config/web-config.yaml".into(), "--reload-url=http://127.0.0.1:9093/-/reload".into(), "--config-file=/etc/alertmanager/config/alertmanager.yaml.gz".into(), "--config-envsubst-file=/etc/alertmanager/config_out/alertmanager.env.yaml".into()];
        if once {
            a.insert(0, "--watch-interval=0".into());
        }
        json!({
            "name": cname, "image": "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1", "imagePullPolicy": pull,
            "command": ["/bin/prometheus-config-reloader"], "args": a,
            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}, {"name": "SHARD", "value": "-1"}],
            "resources": {}, "securityContext": security, "terminationMessagePolicy": "FallbackToLogsOnError", "volumeMounts": reloader_mounts,
        })
    };
    // PO `makeStatefulSet`: the CR's resources, with a 200Mi memory request unless it sets one.
    let mut resources = cr.pointer("/spec/resources").filter(|r| r.is_object()).cloned().unwrap_or(json!({}));
    if resources.pointer("/requests/memory").is_none() {
        resources["requests"]["memory"] = json!("200Mi");
    }
    let probe = |path: &str| json!({"httpGet": {"path": path, "port": port_name, "scheme": "HTTP"}, "timeoutSeconds": 3, "periodSeconds": 10, "failureThreshold": 10});
    let pod_spec = json!({
        "automountServiceAccountToken": cr.pointer("/spec/automountServiceAccountToken").cloned().unwrap_or(json!(true)),
        "containers": [
            {
                "name": "alertmanager", "image": image, "imagePullPolicy": pull, "args": args,
                "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}],
                "ports": [
                    {"name": port_name, "containerPort": 9093, "protocol": "TCP"},
                    {"name": "mesh-tcp", "containerPort": 9094, "protocol": "TCP"},
                    {"name": "mesh-udp", "containerPort": 9094, "protocol": "UDP"},
                ],
                "livenessProbe": probe("/-/healthy"), "readinessProbe": probe("/-/ready"),
                "resources": resources, "securityContext": security,
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": [
                    {"name": "config-volume", "mountPath": "/etc/alertmanager/config"},
                    {"name": "config-out", "mountPath": "/etc/alertmanager/config_out", "readOnly": true},
                    {"name": "tls-assets", "mountPath": "/etc/alertmanager/certs", "readOnly": true},
                    {"name": db, "mountPath": "/alertmanager"},
                    {"name": "web-config", "mountPath": "/etc/alertmanager/web_config/web-config.yaml", "readOnly": true, "subPath": "web-config.yaml"},
                    {"name": "cluster-tls-config", "mountPath": "/etc/alertmanager/cluster_tls_config/cluster-tls-config.yaml", "readOnly": true, "subPath": "cluster-tls-config.yaml"},
                ],
            },
            reloader("config-reloader", false),
        ],
        "initContainers": [reloader("init-config-reloader", true)],
        "serviceAccountName": s(cr, "/spec/serviceAccountName").unwrap_or("default"),
        "terminationGracePeriodSeconds": 120,
        "volumes": volumes,
    });
    operator_statefulset(cr, pod_spec, StatefulSetParts {
        name: sts_name, namespace: &ns, replicas, service_name, selector: json!(selector), labels: json!(labels),
        annotations: json!(annotations), pod_labels: json!(pod_labels), pod_annotations: json!(pod_annotations), claim,
    })
}
