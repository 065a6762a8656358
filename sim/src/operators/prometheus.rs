//! prometheus-operator (v0.93): Prometheus CRs → config Secrets, rule ConfigMaps, the
//! `prometheus-operated` governing Service and `prometheus-<N>` StatefulSets; Alertmanager
//! CRs via `super::alertmanager`; the kubelet Service via `super::kubelet`.
//! Names, labels and owner references follow PO `pkg/prometheus/server/statefulset.go`,
//! `pkg/prometheus/common.go`, `pkg/operator/{factory,rules}.go`.

use serde_json::{json, Map, Value};

use super::common::{self, available_condition, condition, ensure, managed_labels, operator_statefulset, owner_ref, sts_counts, write_status, StatefulSetParts};
use super::EmulatedOperator;
use crate::api::selectors::from_label_selector_json;
use crate::api::object;
use crate::server::{meta, ApiServer};
use crate::store::StoreEvent;

pub const GROUP: &str = "monitoring.coreos.com";

pub struct PrometheusOperator;

/// The operator's image (`…/prometheus-operator:<tag>`), not the config reloader's.
pub fn is_operator_image(image: &str) -> bool {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next() == Some("prometheus-operator")
}

fn running(server: &ApiServer) -> Option<std::sync::Arc<Value>> {
    common::running_deployment(server, is_operator_image)
}

impl EmulatedOperator for PrometheusOperator {
    fn name(&self) -> &'static str {
        "prometheus-operator"
    }

    fn detect(&self, server: &ApiServer) -> bool {
        running(server).is_some()
    }

    fn interested(&self, ev: &StoreEvent) -> bool {
        let k = &*ev.key;
        k.starts_with("monitoring.coreos.com/")
            || matches!(
                k,
                "apps/deployments" | "pods" | "apps/statefulsets" | "services" | "secrets" | "configmaps" | "nodes" | "endpoints" | "namespaces" | "storage.k8s.io/storageclasses"
            )
    }

    fn reconcile(&self, server: &ApiServer) {
        let Some(dep) = running(server) else { return };
        super::kubelet::sync(server, &dep);
        if let Some(rt) = common::cr_type(server, GROUP, "prometheuses") {
            let (crs, _) = server.store.list(&rt.key, None);
            for cr in crs.iter().filter(|c| !object::is_deleting(c)) {
                let cr = meta::as_version(cr.clone(), &rt);
                sync_prometheus(server, &rt, &cr);
            }
        }
        super::alertmanager::sync_all(server);
    }
}

fn s<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(|x| x.as_str())
}

/// Labels/annotations merge order of `makeStatefulSet`: managed-by base, CR labels, mode,
/// selector labels.
pub fn object_labels(cr: &Value, extra: &[(&str, &str)], selector: &Map<String, Value>) -> Map<String, Value> {
    let mut l = managed_labels();
    for (k, v) in object::labels_of(cr) {
        l.insert(k, v);
    }
    for (k, v) in extra {
        l.insert((*k).into(), json!(v));
    }
    for (k, v) in selector {
        l.insert(k.clone(), v.clone());
    }
    l
}

/// CR annotations minus `kubectl.kubernetes.io/*`.
pub fn copied_annotations(cr: &Value) -> Map<String, Value> {
    cr.pointer("/metadata/annotations")
        .and_then(|a| a.as_object())
        .map(|a| a.iter().filter(|(k, _)| !k.starts_with("kubectl.kubernetes.io/")).map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// The storage-class check at the start of `sync` (PO `pkg/operator/storageclass.go`).
pub fn check_storage_class(server: &ApiServer, cr: &Value) -> Result<(), String> {
    let Some(storage) = cr.pointer("/spec/storage").filter(|s| !s.is_null()) else { return Ok(()) };
    match s(storage, "/volumeClaimTemplate/spec/storageClassName").filter(|c| !c.is_empty()) {
        Some(class) if server.store.get("storage.k8s.io/storageclasses", "", class).is_none() => Err(format!("storage class {class:?} does not exist")),
        _ => Ok(()),
    }
}

/// The data volume: a claim template only when `volumeClaimTemplate` wins the precedence of
/// §1.7 (nil → emptyDir, emptyDir, ephemeral, then volumeClaimTemplate).
pub fn data_volume(cr: &Value, volume_name: &str) -> (Option<Value>, Option<Value>) {
    let storage = cr.pointer("/spec/storage").filter(|s| !s.is_null());
    match storage {
        None => (Some(json!({"name": volume_name, "emptyDir": {}})), None),
        Some(st) if st.get("emptyDir").is_some_and(|e| !e.is_null()) => (Some(json!({"name": volume_name, "emptyDir": st["emptyDir"]})), None),
        Some(st) if st.get("ephemeral").is_some_and(|e| !e.is_null()) => (Some(json!({"name": volume_name, "ephemeral": st["ephemeral"]})), None),
        Some(st) => match st.get("volumeClaimTemplate").filter(|v| !v.is_null()) {
            None => (Some(json!({"name": volume_name, "emptyDir": {}})), None),
            Some(vct) => {
                // MakeVolumeClaimTemplate copies only metadata.{name,labels,annotations} and the spec.
                let mut md = Map::new();
                md.insert("name".into(), json!(s(vct, "/metadata/name").filter(|n| !n.is_empty()).unwrap_or(volume_name)));
                for k in ["labels", "annotations"] {
                    if let Some(v) = vct.pointer(&format!("/metadata/{k}")).filter(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
                        md.insert(k.into(), v.clone());
                    }
                }
                let mut spec = vct.get("spec").cloned().unwrap_or(json!({}));
                if spec.get("accessModes").is_none_or(|a| a.is_null()) {
                    spec["accessModes"] = json!(["ReadWriteOnce"]);
                }
                let t = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": md, "spec": spec, "status": {}});
                (None, Some(t))
            }
        },
    }
}

fn version_label(cr: &Value, default: &str) -> String {
    s(cr, "/spec/version").unwrap_or(default).trim_start_matches('v').to_string()
}

fn sync_prometheus(server: &ApiServer, rt: &crate::registry::ResourceType, cr: &Value) {
    if cr.pointer("/spec/paused").and_then(|p| p.as_bool()) == Some(true) {
        return;
    }
    let generation = cr.pointer("/metadata/generation").and_then(|g| g.as_i64()).unwrap_or(0);
    let prev_status = cr.get("status");
    if let Err(msg) = check_storage_class(server, cr) {
        let mut status = prev_status.cloned().unwrap_or(json!({}));
        let avail = status
            .get("conditions")
            .and_then(|c| c.as_array())
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Available").cloned())
            .unwrap_or_else(|| available_condition(prev_status, 1, 0, generation));
        status["conditions"] = json!([avail, condition(prev_status, "Reconciled", "False", "ReconciliationFailed", &msg, generation)]);
        write_status(server, rt, cr, status);
        return;
    }
    let name = object::name_of(cr).to_string();
    let ns = s(cr, "/metadata/namespace").unwrap_or("default").to_string();
    let managing = owner_ref(cr, true);
    let base = |obj_name: &str, extra_labels: Map<String, Value>| {
        let mut l = managed_labels();
        l.extend(extra_labels);
        json!({"metadata": {"name": obj_name, "namespace": ns, "labels": l, "ownerReferences": [managing.clone()]}})
    };
    let secret = |obj_name: &str, data: Value| {
        let mut o = base(obj_name, Map::new());
        o["apiVersion"] = json!("v1");
        o["kind"] = json!("Secret");
        o["type"] = json!("Opaque");
        o["data"] = data;
        o
    };
    // Rule files: every PrometheusRule the rule selectors pick.
    let rules = selected_rules(server, cr);
    let mut cm_labels = Map::new();
    cm_labels.insert("prometheus-name".into(), json!(name));
    let mut cm = base(&format!("prometheus-{name}-rulefiles-0"), cm_labels);
    cm["apiVersion"] = json!("v1");
    cm["kind"] = json!("ConfigMap");
    cm["data"] = Value::Object(rules);
    let _ = ensure(server, "", "v1", "configmaps", cm, &["data"], false);

    let config = generate_config(cr);
    let _ = ensure(server, "", "v1", "secrets", secret(&format!("prometheus-{name}"), json!({"prometheus.yaml.gz": common::gzip_b64(&config)})), &["data"], false);
    let _ = ensure(server, "", "v1", "secrets", secret(&format!("prometheus-{name}-tls-assets-0"), json!({})), &["data"], false);
    let _ = ensure(server, "", "v1", "secrets", secret(&format!("prometheus-{name}-web-config"), json!({"web-config.yaml": common::b64("")})), &["data"], false);
    let _ = ensure(
        server, "", "v1", "secrets",
        secret(&format!("prometheus-{name}-thanos-prometheus-http-client-file"), json!({"prometheus-http-client-file.yaml": common::b64("tls_config:\n  insecure_skip_verify: true\n")})),
        &["data"], false,
    );

    let port_name = s(cr, "/spec/portName").unwrap_or("web").to_string();
    let custom_service = s(cr, "/spec/serviceName").filter(|n| !n.is_empty()).map(String::from);
    if custom_service.is_none() {
        let mut l = managed_labels();
        l.insert("operated-prometheus".into(), json!("true"));
        let svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "prometheus-operated", "namespace": ns, "labels": l, "ownerReferences": [owner_ref(cr, false)]},
            "spec": {
                "clusterIP": "None",
                "ports": [{"name": port_name, "port": 9090, "protocol": "TCP", "targetPort": port_name}],
                "selector": {"app.kubernetes.io/name": "prometheus"},
            },
        });
        let _ = ensure_service(server, svc);
    }

    let shards = cr.pointer("/spec/shards").and_then(|v| v.as_i64()).filter(|v| *v > 0).unwrap_or(1);
    let replicas = match cr.pointer("/spec/replicas").and_then(|v| v.as_i64()) {
        None => 1,
        Some(r) if r < 0 => 1,
        Some(r) => r,
    };
    let mut total = (0, 0, 0);
    let mut shard_statuses = Vec::new();
    for shard in 0..shards {
        let sts_name = if shard == 0 { format!("prometheus-{name}") } else { format!("prometheus-{name}-shard-{shard}") };
        let sts = make_statefulset(cr, &sts_name, shard, replicas, custom_service.as_deref().unwrap_or("prometheus-operated"), &port_name);
        ensure_statefulset(server, sts);
        let cur = server.store.get("apps/statefulsets", &ns, &sts_name);
        let (r, u, a) = sts_counts(cur.as_deref());
        total = (total.0 + r, total.1 + u, total.2 + a);
        shard_statuses.push(json!({"shardID": shard.to_string(), "replicas": r, "updatedReplicas": u, "availableReplicas": a, "unavailableReplicas": (r - a).max(0)}));
    }
    let selector = format!(
        "app.kubernetes.io/instance={name},app.kubernetes.io/managed-by=prometheus-operator,app.kubernetes.io/name=prometheus,operator.prometheus.io/name={name},prometheus={name}"
    );
    let status = json!({
        "availableReplicas": total.2,
        "conditions": [available_condition(prev_status, replicas * shards, total.2, generation), condition(prev_status, "Reconciled", "True", "", "", generation)],
        "paused": false,
        "replicas": total.0,
        "selector": selector,
        "shardStatuses": shard_statuses,
        "shards": shards,
        "unavailableReplicas": (total.0 - total.2).max(0),
        "updatedReplicas": total.1,
    });
    write_status(server, rt, cr, status);
}

/// Create or update a governing Service, merging owner references (one per CR).
pub fn ensure_service(server: &ApiServer, svc: Value) -> crate::api::errors::ApiResult<()> {
    let ns = s(&svc, "/metadata/namespace").unwrap_or("").to_string();
    let name = object::name_of(&svc).to_string();
    let Some(cur) = server.store.get("services", &ns, &name) else {
        return ensure(server, "", "v1", "services", svc, &[], true);
    };
    // Keep the allocated fields (clusterIPs, ipFamilies, ...); set what the operator owns.
    let mut desired = svc.clone();
    let mut spec = cur.get("spec").cloned().unwrap_or(json!({}));
    for k in ["ports", "selector", "clusterIP"] {
        spec[k] = svc["spec"][k].clone();
    }
    if let Some(p) = svc.pointer("/spec/publishNotReadyAddresses") {
        spec["publishNotReadyAddresses"] = p.clone();
    }
    desired["spec"] = spec;
    ensure(server, "", "v1", "services", desired, &["spec"], true)
}

/// Create the StatefulSet, or replace its spec when the input hash changed (the operator
/// compares `prometheus-operator-input-hash` before updating). An update the API refuses as
/// invalid (an immutable field such as the claim template changed) deletes the StatefulSet
/// in the foreground; the next pass creates it anew (PO `k8s.ForceUpdateStatefulSet`).
pub fn ensure_statefulset(server: &ApiServer, sts: Value) {
    let ns = s(&sts, "/metadata/namespace").unwrap_or("").to_string();
    let name = object::name_of(&sts).to_string();
    let hash_ptr = "/metadata/annotations/prometheus-operator-input-hash";
    let mut sts = sts;
    if let Some(cur) = server.store.get("apps/statefulsets", &ns, &name) {
        if cur.pointer(hash_ptr) == sts.pointer(hash_ptr) || object::is_deleting(&cur) {
            return;
        }
        common::keep_server_defaults(&mut sts, &cur);
        common::keep_kubectl_annotations(&mut sts, &cur);
    }
    match ensure(server, "apps", "v1", "statefulsets", sts, &["spec"], false) {
        Err(e) if e.code == 422 && e.reason == "Invalid" => {
            let Ok(rt) = server.resource("apps", "v1", "statefulsets") else { return };
            let opts = crate::server::DeleteOptions { propagation: Some(crate::server::Propagation::Foreground), ..Default::default() };
            let _ = server.delete(&rt, Some(&ns), &name, &opts);
        }
        _ => {}
    }
}

/// PrometheusRules chosen by ruleSelector / ruleNamespaceSelector, keyed
/// `<ns>-<name>-<uid>.yaml` as the rules ConfigMap holds them.
fn selected_rules(server: &ApiServer, cr: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(rt) = common::cr_type(server, GROUP, "prometheusrules") else { return out };
    let Some(sel) = cr.pointer("/spec/ruleSelector").filter(|s| !s.is_null()).and_then(|s| from_label_selector_json(s).ok()) else { return out };
    let own_ns = s(cr, "/metadata/namespace").unwrap_or("");
    let ns_sel = cr.pointer("/spec/ruleNamespaceSelector").filter(|s| !s.is_null()).and_then(|s| from_label_selector_json(s).ok());
    let (rules, _) = server.store.list(&rt.key, None);
    for r in rules.iter().filter(|r| !object::is_deleting(r) && sel.matches(object::labels(r))) {
        let rns = s(r, "/metadata/namespace").unwrap_or("");
        let ns_ok = match &ns_sel {
            None => rns == own_ns,
            Some(nsel) => server.store.get("namespaces", "", rns).is_some_and(|n| nsel.matches(object::labels(&n))),
        };
        if !ns_ok {
            continue;
        }
        let key = format!("{rns}-{}-{}.yaml", object::name_of(r), s(r, "/metadata/uid").unwrap_or(""));
        let body = serde_saphyr::to_string(&r.get("spec").cloned().unwrap_or(json!({}))).unwrap_or_default();
        out.insert(key, json!(body));
    }
    out
}

fn generate_config(cr: &Value) -> String {
    let ns = s(cr, "/metadata/namespace").unwrap_or("");
    let name = object::name_of(cr);
    let mut config = format!(
        "global:\n  evaluation_interval: 30s\n  scrape_interval: 30s\n  external_labels:\n    prometheus: {ns}/{name}\n    prometheus_replica: $(POD_NAME)\nrule_files:\n- /etc/prometheus/rules/prometheus-{name}-rulefiles-0/*.yaml\n"
    );
    // Prometheus 3.11 and later read their retention from the configuration file, not a flag
    // (prometheus-operator pkg/prometheus/promcfg.go: `storage.tsdb.retention`).
    if retention_in_config(cr) {
        let mut tsdb = String::new();
        if let Some(w) = s(cr, "/spec/tsdb/outOfOrderTimeWindow") {
            tsdb += &format!("    out_of_order_time_window: {w}\n");
        }
        tsdb += &format!("    retention:\n      time: {}\n", retention(cr));
        if let Some(size) = s(cr, "/spec/retentionSize") {
            tsdb += &format!("      size: {size}\n");
        }
        config += &format!("storage:\n  tsdb:\n{tsdb}");
    }
    config
}

/// The retention the operator configures: the CR's, else 24h unless only a size limit is set
/// (`RetentionTimeOrDefault`).
fn retention(cr: &Value) -> String {
    match (s(cr, "/spec/retention"), s(cr, "/spec/retentionSize")) {
        (Some(r), _) if !r.is_empty() => r.to_string(),
        (_, Some(size)) if !size.is_empty() => String::new(),
        _ => "24h".to_string(),
    }
}

/// Whether the Prometheus version (`spec.version`, default the operator's v3.7.0) is 3.11 or later,
/// from which the operator writes retention into the configuration instead of flags.
fn retention_in_config(cr: &Value) -> bool {
    let v = version_label(cr, "v3.7.0");
    let mut parts = v.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (3, 11)
}

fn make_statefulset(cr: &Value, sts_name: &str, shard: i64, replicas: i64, service_name: &str, port_name: &str) -> Value {
    let name = object::name_of(cr).to_string();
    let ns = s(cr, "/metadata/namespace").unwrap_or("default").to_string();
    let mut selector = Map::new();
    for (k, v) in [
        ("app.kubernetes.io/instance", name.as_str()),
        ("app.kubernetes.io/managed-by", "prometheus-operator"),
        ("app.kubernetes.io/name", "prometheus"),
        ("operator.prometheus.io/name", name.as_str()),
        ("operator.prometheus.io/shard", &shard.to_string()),
        ("prometheus", name.as_str()),
    ] {
        selector.insert(k.into(), json!(v));
    }
    let labels = object_labels(cr, &[("operator.prometheus.io/mode", "server")], &selector);
    let mut annotations = copied_annotations(cr);
    annotations.insert("prometheus-operator-input-hash".into(), json!(common::input_hash(&[&cr["spec"], &cr["metadata"]["labels"], &cr["metadata"]["annotations"], &json!(shard)])));

    let mut pod_labels = object::labels_of(&cr.pointer("/spec/podMetadata").cloned().unwrap_or(Value::Null));
    pod_labels.insert("app.kubernetes.io/version".into(), json!(version_label(cr, "v3.7.0")));
    for (k, v) in &selector {
        pod_labels.insert(k.clone(), v.clone());
    }
    let mut pod_annotations = cr.pointer("/spec/podMetadata/annotations").and_then(|a| a.as_object()).cloned().unwrap_or_default();
    pod_annotations.insert("kubectl.kubernetes.io/default-container".into(), json!("prometheus"));

    let db = format!("prometheus-{name}-db");
    let (data_vol, claim) = data_volume(cr, &db);
    let image = s(cr, "/spec/image").map(String::from).unwrap_or_else(|| format!("quay.io/prometheus/prometheus:{}", s(cr, "/spec/version").unwrap_or("v3.7.0")));
    let pull = s(cr, "/spec/imagePullPolicy").unwrap_or("IfNotPresent");
    let reloader_image = "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1";
    let rule_cms: Vec<String> = (0..3).map(|i| format!("prometheus-{name}-rulefiles-{i}")).collect();
    let mut volumes = vec![
        json!({"name": "config", "secret": {"secretName": format!("prometheus-{name}"), "defaultMode": 420}}),
        json!({"name": "tls-assets", "projected": {"sources": [{"secret": {"name": format!("prometheus-{name}-tls-assets-0")}}], "defaultMode": 420}}),
        json!({"name": "config-out", "emptyDir": {"medium": "Memory"}}),
    ];
    for cm in &rule_cms {
        volumes.push(json!({"name": cm, "configMap": {"name": cm, "optional": true, "defaultMode": 420}}));
    }
    volumes.push(json!({"name": "web-config", "secret": {"secretName": format!("prometheus-{name}-web-config"), "defaultMode": 420}}));
    if let Some(v) = data_vol {
        volumes.push(v);
    }
    let mut prom_mounts = vec![
        json!({"name": "config-out", "mountPath": "/etc/prometheus/config_out", "readOnly": true}),
        json!({"name": "tls-assets", "mountPath": "/etc/prometheus/certs", "readOnly": true}),
        json!({"name": db, "mountPath": "/prometheus"}),
    ];
    let mut reloader_mounts = vec![json!({"name": "config", "mountPath": "/etc/prometheus/config"}), json!({"name": "config-out", "mountPath": "/etc/prometheus/config_out"})];
    for cm in &rule_cms {
        prom_mounts.push(json!({"name": cm, "mountPath": format!("/etc/prometheus/rules/{cm}")}));
        reloader_mounts.push(json!({"name": cm, "mountPath": format!("/etc/prometheus/rules/{cm}")}));
    }
    prom_mounts.push(json!({"name": "web-config", "mountPath": "/etc/prometheus/web_config/web-config.yaml", "readOnly": true, "subPath": "web-config.yaml"}));
    let external_url = s(cr, "/spec/externalUrl").unwrap_or("");
    let route_prefix = s(cr, "/spec/routePrefix").unwrap_or("/");
    let mut args = vec![
        "--config.file=/etc/prometheus/config_out/prometheus.env.yaml".to_string(),
        "--web.enable-lifecycle".into(),
    ];
    if !external_url.is_empty() {
        args.push(format!("--web.external-url={external_url}"));
    }
    args.push(format!("--web.route-prefix={route_prefix}"));
    let retention = retention(cr);
    if !retention_in_config(cr) && !retention.is_empty() {
        args.push(format!("--storage.tsdb.retention.time={retention}"));
    }
    if let Some(size) = s(cr, "/spec/retentionSize").filter(|_| !retention_in_config(cr)) {
        args.push(format!("--storage.tsdb.retention.size={size}"));
    }
    args.push("--storage.tsdb.path=/prometheus".into());
    match cr.pointer("/spec/walCompression").and_then(Value::as_bool) {
        Some(true) => args.push("--storage.tsdb.wal-compression".into()),
        Some(false) => args.push("--no-storage.tsdb.wal-compression".into()),
        None => {}
    }
    args.push("--web.config.file=/etc/prometheus/web_config/web-config.yaml".into());
    let security = json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": true});
    let probe = |path: &str, period: i64, failure: i64| {
        json!({"httpGet": {"path": path, "port": port_name, "scheme": "HTTP"}, "timeoutSeconds": 3, "periodSeconds": period, "failureThreshold": failure})
    };
    let reloader = |cname: &str, once: bool| {
        let mut a = vec!["--listen-address=:8080".to_string(), "--reload-url=http://127.0.0.1:9090/-/reload".into(), "--config-file=/etc/prometheus/config/prometheus.yaml.gz".into(), "--config-envsubst-file=/etc/prometheus/config_out/prometheus.env.yaml".into()];
        for cm in &rule_cms {
            a.push(format!("--watched-dir=/etc/prometheus/rules/{cm}"));
        }
        if once {
            a.insert(0, "--watch-interval=0".into());
        }
        let mut c = json!({
            "name": cname, "image": reloader_image, "imagePullPolicy": pull, "command": ["/bin/prometheus-config-reloader"], "args": a,
            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}, {"name": "SHARD", "value": shard.to_string()}],
            "resources": {}, "securityContext": security, "terminationMessagePolicy": "FallbackToLogsOnError", "volumeMounts": reloader_mounts,
        });
        if !once {
            c["ports"] = json!([{"name": "reloader-web", "containerPort": 8080, "protocol": "TCP"}]);
        }
        c
    };
    let pod_spec = json!({
        "automountServiceAccountToken": cr.pointer("/spec/automountServiceAccountToken").cloned().unwrap_or(json!(true)),
        "containers": [
            {
                "name": "prometheus", "image": image, "imagePullPolicy": pull, "args": args,
                "ports": [{"name": port_name, "containerPort": 9090, "protocol": "TCP"}],
                "readinessProbe": probe("/-/ready", 5, 3), "livenessProbe": probe("/-/healthy", 5, 6), "startupProbe": probe("/-/ready", 15, 60),
                "resources": cr.pointer("/spec/resources").cloned().unwrap_or(json!({})), "securityContext": security,
                "terminationMessagePolicy": "FallbackToLogsOnError", "volumeMounts": prom_mounts,
            },
            reloader("config-reloader", false),
        ],
        "initContainers": [reloader("init-config-reloader", true)],
        "serviceAccountName": s(cr, "/spec/serviceAccountName").unwrap_or("default"),
        "terminationGracePeriodSeconds": 600,
        "volumes": volumes,
    });
    operator_statefulset(cr, pod_spec, StatefulSetParts {
        name: sts_name, namespace: &ns, replicas, service_name, selector: json!(selector), labels: json!(labels),
        annotations: json!(annotations), pod_labels: json!(pod_labels), pod_annotations: json!(pod_annotations), claim,
    })
}
