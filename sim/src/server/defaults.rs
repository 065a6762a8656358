//! Defaulting as the built-in types' `SetDefaults_*` functions (and their generated
//! defaulters) do. kube-apiserver defaults every object it decodes — the body of a create or
//! update, the result of every patch type and of server-side apply, status and scale writes,
//! and the result of mutating webhooks — so `set_defaults` runs on all of those paths and
//! must be idempotent. Create-only work (status resets, allocations, generated selectors)
//! lives in `prepare.rs`.

use serde_json::{json, Map, Value};

use crate::api::object::{metadata_mut, name_of};
use crate::registry::ResourceType;

pub(super) fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(|x| x.is_object()) {
        v[key] = json!({});
    }
    v[key].as_object_mut().unwrap()
}

pub(super) fn default_key(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(|v| v.is_null()) {
        m.insert(key.into(), value);
    }
}

/// Strings left empty count as unset (Go's `== ""` checks).
fn default_str(m: &mut Map<String, Value>, key: &str, value: &str) {
    if m.get(key).is_none_or(|v| v.is_null() || v.as_str() == Some("")) {
        m.insert(key.into(), json!(value));
    }
}

fn each_obj<'a>(m: &'a mut Map<String, Value>, key: &str) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    m.get_mut(key).and_then(|v| v.as_array_mut()).into_iter().flatten().filter_map(|v| v.as_object_mut())
}

fn child<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    m.get_mut(key).and_then(|v| v.as_object_mut())
}

/// A typed decode drops explicit nulls (they are the zero value, which encodes as absent).
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Default a built-in object in place (custom resources are defaulted from their schema
/// elsewhere). Idempotent: defaulting a defaulted object changes nothing.
pub(super) fn set_defaults(rt: &ResourceType, obj: &mut Value) {
    if rt.is_custom() || !obj.is_object() {
        return;
    }
    strip_nulls(obj);
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            // SetDefaults_Namespace and SetDefaults_NamespaceStatus.
            let name = name_of(obj).to_string();
            if !name.is_empty() {
                let labels = metadata_mut(obj).entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
            }
            if let Some(st) = child(obj.as_object_mut().unwrap(), "status") {
                default_str(st, "phase", "Active");
            }
        }
        ("", "Secret") => {
            let m = obj.as_object_mut().unwrap();
            default_str(m, "type", "Opaque");
            // stringData is write-only: the v1 → internal conversion merges it into data.
            if let Some(Value::Object(sd)) = m.remove("stringData") {
                use base64::Engine;
                let data = m.entry("data").or_insert_with(|| json!({}));
                if let Some(d) = data.as_object_mut() {
                    for (k, v) in sd {
                        let s = v.as_str().unwrap_or("").to_string();
                        d.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(s)));
                    }
                }
            }
        }
        ("", "Service") => default_service(obj_mut(obj, "spec")),
        ("", "Pod") => default_pod_spec(obj_mut(obj, "spec"), true),
        ("", "PodTemplate") => default_template(obj.as_object_mut().unwrap()),
        ("", "ReplicationController") => {
            let s = obj_mut(obj, "spec");
            default_key(s, "replicas", json!(1));
            default_template(s);
        }
        ("", "PersistentVolumeClaim") => default_key(obj_mut(obj, "spec"), "volumeMode", json!("Filesystem")),
        ("", "PersistentVolume") => {
            let s = obj_mut(obj, "spec");
            default_str(s, "persistentVolumeReclaimPolicy", "Retain");
            default_key(s, "volumeMode", json!("Filesystem"));
            default_str(obj_mut(obj, "status"), "phase", "Pending");
        }
        ("", "Endpoints") => {
            for ss in each_obj(obj.as_object_mut().unwrap(), "subsets") {
                for p in each_obj(ss, "ports") {
                    default_str(p, "protocol", "TCP");
                }
            }
        }
        ("apps", "Deployment") => default_deployment(obj_mut(obj, "spec")),
        ("apps", "StatefulSet") => default_statefulset(obj_mut(obj, "spec")),
        ("apps", "DaemonSet") => {
            let s = obj_mut(obj, "spec");
            let us = obj_mut_map(s, "updateStrategy");
            default_str(us, "type", "RollingUpdate");
            if us.get("type").and_then(|t| t.as_str()) == Some("RollingUpdate") {
                let ru = obj_mut_map(us, "rollingUpdate");
                default_key(ru, "maxUnavailable", json!(1));
                default_key(ru, "maxSurge", json!(0));
            }
            default_key(s, "revisionHistoryLimit", json!(10));
            default_template(s);
        }
        ("apps", "ReplicaSet") => {
            let s = obj_mut(obj, "spec");
            default_key(s, "replicas", json!(1));
            default_template(s);
        }
        ("batch", "Job") => default_job(obj),
        ("batch", "CronJob") => {
            let s = obj_mut(obj, "spec");
            default_str(s, "concurrencyPolicy", "Allow");
            default_key(s, "suspend", json!(false));
            default_key(s, "successfulJobsHistoryLimit", json!(3));
            default_key(s, "failedJobsHistoryLimit", json!(1));
            // The generated defaulter reaches the pod template inside the job template (the
            // JobSpec itself gets no SetDefaults_Job: that runs on Job objects only).
            if let Some(jt) = child(s, "jobTemplate") {
                // JobTemplateSpec.ObjectMeta is a struct, not a pointer: Go encodes it as {}.
                default_key(jt, "metadata", json!({}));
                if let Some(js) = child(jt, "spec") {
                    default_template(js);
                }
            }
        }
        ("storage.k8s.io", "StorageClass") => {
            let m = obj.as_object_mut().unwrap();
            default_str(m, "reclaimPolicy", "Delete");
            default_str(m, "volumeBindingMode", "Immediate");
        }
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration") => {
            let mutating = rt.kind.starts_with("Mutating");
            for m in each_obj(obj.as_object_mut().unwrap(), "webhooks") {
                default_str(m, "failurePolicy", "Fail");
                default_str(m, "matchPolicy", "Equivalent");
                default_key(m, "namespaceSelector", json!({}));
                default_key(m, "objectSelector", json!({}));
                default_key(m, "timeoutSeconds", json!(10));
                if mutating {
                    default_str(m, "reinvocationPolicy", "Never");
                }
                if let Some(svc) = child(m, "clientConfig").and_then(|c| child(c, "service")) {
                    default_key(svc, "port", json!(443));
                }
                for r in each_obj(m, "rules") {
                    default_str(r, "scope", "*");
                }
            }
        }
        ("autoscaling", "HorizontalPodAutoscaler") => default_hpa(obj_mut(obj, "spec"), rt.version == "v2"),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let s = obj_mut(obj, "spec");
            default_key(s, "conversion", json!({"strategy": "None"}));
            if let Some(n) = child(s, "names") {
                let kind = n.get("kind").and_then(|k| k.as_str()).unwrap_or("").to_string();
                default_str(n, "singular", &kind.to_lowercase());
                default_str(n, "listKind", &format!("{kind}List"));
            }
        }
        _ => {}
    }
}

fn obj_mut_map<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    if !m.get(key).is_some_and(|x| x.is_object()) {
        m.insert(key.into(), json!({}));
    }
    m.get_mut(key).unwrap().as_object_mut().unwrap()
}

/// autoscaling/v1 and v2 SetDefaults_HorizontalPodAutoscaler: one replica at least; v2 also
/// makes the implicit 80% CPU target explicit and fills a given behavior's rules.
fn default_hpa(s: &mut Map<String, Value>, v2: bool) {
    default_key(s, "minReplicas", json!(1));
    if !v2 {
        return;
    }
    if s.get("metrics").and_then(Value::as_array).is_none_or(|m| m.is_empty()) {
        s.insert("metrics".into(), json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]));
    }
    let Some(b) = child(s, "behavior") else { return };
    let up = obj_mut_map(b, "scaleUp");
    default_key(up, "stabilizationWindowSeconds", json!(0));
    default_str(up, "selectPolicy", "Max");
    default_key(up, "policies", json!([{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]));
    let down = obj_mut_map(b, "scaleDown");
    default_str(down, "selectPolicy", "Max");
    default_key(down, "policies", json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]));
}

fn default_deployment(s: &mut Map<String, Value>) {
    default_key(s, "replicas", json!(1));
    let strategy = obj_mut_map(s, "strategy");
    default_str(strategy, "type", "RollingUpdate");
    if strategy.get("type").and_then(|t| t.as_str()) == Some("RollingUpdate") {
        let ru = obj_mut_map(strategy, "rollingUpdate");
        default_key(ru, "maxUnavailable", json!("25%"));
        default_key(ru, "maxSurge", json!("25%"));
    }
    default_key(s, "revisionHistoryLimit", json!(10));
    default_key(s, "progressDeadlineSeconds", json!(600));
    default_template(s);
}

fn default_statefulset(s: &mut Map<String, Value>) {
    default_str(s, "podManagementPolicy", "OrderedReady");
    let us = obj_mut_map(s, "updateStrategy");
    if us.get("type").and_then(|t| t.as_str()).is_none_or(|t| t.is_empty()) {
        us.insert("type".into(), json!("RollingUpdate"));
        default_key(us, "rollingUpdate", json!({}));
    }
    if us.get("type").and_then(|t| t.as_str()) == Some("RollingUpdate")
        && let Some(ru) = child(us, "rollingUpdate")
    {
        default_key(ru, "partition", json!(0));
    }
    let policy = obj_mut_map(s, "persistentVolumeClaimRetentionPolicy");
    default_str(policy, "whenDeleted", "Retain");
    default_str(policy, "whenScaled", "Retain");
    default_key(s, "replicas", json!(1));
    default_key(s, "revisionHistoryLimit", json!(10));
    for t in s.get_mut("volumeClaimTemplates").and_then(|t| t.as_array_mut()).into_iter().flatten() {
        if !t.is_object() {
            continue;
        }
        default_key(obj_mut(t, "spec"), "volumeMode", json!("Filesystem"));
        t["apiVersion"] = json!("v1");
        t["kind"] = json!("PersistentVolumeClaim");
        default_str(obj_mut(t, "status"), "phase", "Pending");
    }
    default_template(s);
}

fn default_job(obj: &mut Value) {
    let template_labels = obj.pointer("/spec/template/metadata/labels").cloned();
    let s = obj_mut(obj, "spec");
    if s.get("completions").is_none() && s.get("parallelism").is_none() {
        s.insert("completions".into(), json!(1));
    }
    default_key(s, "parallelism", json!(1));
    let backoff = if s.contains_key("backoffLimitPerIndex") { json!(i32::MAX) } else { json!(6) };
    default_key(s, "backoffLimit", backoff);
    default_key(s, "completionMode", json!("NonIndexed"));
    default_key(s, "suspend", json!(false));
    let has_failure_policy = s.get("podFailurePolicy").is_some_and(|p| p.is_object());
    if let Some(pfp) = child(s, "podFailurePolicy") {
        for rule in each_obj(pfp, "rules") {
            for pattern in each_obj(rule, "onPodConditions") {
                default_str(pattern, "status", "True");
            }
        }
    }
    default_key(s, "podReplacementPolicy", json!(if has_failure_policy { "Failed" } else { "TerminatingOrFailed" }));
    default_key(s, "manualSelector", json!(false));
    default_template(s);
    // A Job without labels takes its template's.
    let md = metadata_mut(obj);
    if md.get("labels").and_then(|l| l.as_object()).is_none_or(|l| l.is_empty())
        && let Some(l) = template_labels.filter(|l| l.is_object())
    {
        md.insert("labels".into(), l);
    }
}

/// `spec.template`: pod-spec defaults (SetDefaults_PodSpec, not the Pod-only ones).
fn default_template(spec: &mut Map<String, Value>) {
    if let Some(t) = spec.get_mut("template").filter(|t| t.is_object()) {
        default_pod_spec(obj_mut(t, "spec"), false);
        obj_mut(t, "metadata").remove("creationTimestamp");
    }
}

/// SetDefaults_PodSpec (+ SetDefaults_Pod when `pod`) and the generated defaulters of
/// everything a pod spec holds.
pub(crate) fn default_pod_spec(s: &mut Map<String, Value>, pod: bool) {
    default_str(s, "dnsPolicy", "ClusterFirst");
    default_str(s, "restartPolicy", "Always");
    default_key(s, "securityContext", json!({}));
    default_key(s, "terminationGracePeriodSeconds", json!(30));
    default_str(s, "schedulerName", "default-scheduler");
    let host_network = s.get("hostNetwork") == Some(&json!(true));
    if pod {
        default_key(s, "enableServiceLinks", json!(true));
    }
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        for c in each_obj(s, key) {
            default_container(c, pod && key != "ephemeralContainers", host_network && pod);
        }
    }
    for v in each_obj(s, "volumes") {
        default_volume(v);
    }
}

fn default_container(m: &mut Map<String, Value>, requests_from_limits: bool, host_network: bool) {
    let image = m.get("image").and_then(|i| i.as_str()).unwrap_or("").to_string();
    default_str(m, "imagePullPolicy", if image_tag(&image) == "latest" { "Always" } else { "IfNotPresent" });
    default_str(m, "terminationMessagePath", "/dev/termination-log");
    default_str(m, "terminationMessagePolicy", "File");
    // ResourceRequirements is a struct, not a pointer: always encoded.
    default_key(m, "resources", json!({}));
    if requests_from_limits
        && let Some(res) = child(m, "resources")
        && let Some(limits) = res.get("limits").and_then(|l| l.as_object()).cloned()
    {
        let req = obj_mut_map(res, "requests");
        for (k, v) in limits {
            req.entry(k).or_insert(v);
        }
    }
    for p in each_obj(m, "ports") {
        default_str(p, "protocol", "TCP");
        if host_network && p.get("hostPort").and_then(|h| h.as_i64()).unwrap_or(0) == 0
            && let Some(cp) = p.get("containerPort").cloned()
        {
            p.insert("hostPort".into(), cp);
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = child(m, probe) {
            for (k, v) in [("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)] {
                if p.get(k).and_then(|x| x.as_i64()).unwrap_or(0) == 0 {
                    p.insert(k.into(), json!(v));
                }
            }
            default_handler(p);
            if let Some(g) = child(p, "grpc") {
                default_key(g, "service", json!(""));
            }
        }
    }
    if let Some(lc) = child(m, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = child(lc, hook) {
                default_handler(h);
            }
        }
    }
    for e in each_obj(m, "env") {
        if let Some(fr) = child(e, "valueFrom").and_then(|vf| child(vf, "fieldRef")) {
            default_str(fr, "apiVersion", "v1");
        }
    }
}

/// SetDefaults_HTTPGetAction.
fn default_handler(h: &mut Map<String, Value>) {
    if let Some(g) = child(h, "httpGet") {
        default_str(g, "path", "/");
        default_str(g, "scheme", "HTTP");
    }
}

const VOLUME_SOURCES: &[&str] = &[
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi", "glusterfs",
    "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap",
    "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi",
    "ephemeral", "image",
];

/// SetDefaults_Volume and the volume sources' defaulters.
fn default_volume(v: &mut Map<String, Value>) {
    if !VOLUME_SOURCES.iter().any(|k| v.get(*k).is_some_and(|x| !x.is_null())) {
        v.insert("emptyDir".into(), json!({}));
    }
    for (src, mode) in [("secret", 420), ("configMap", 420), ("downwardAPI", 420), ("projected", 420)] {
        if let Some(s) = child(v, src) {
            default_key(s, "defaultMode", json!(mode));
        }
    }
    if let Some(items) = child(v, "downwardAPI") {
        default_field_refs(items);
    }
    if let Some(hp) = child(v, "hostPath") {
        default_key(hp, "type", json!(""));
    }
    if let Some(img) = child(v, "image") {
        let r = img.get("reference").and_then(|r| r.as_str()).unwrap_or("").to_string();
        default_str(img, "pullPolicy", if image_tag(&r) == "latest" { "Always" } else { "IfNotPresent" });
    }
    if let Some(p) = child(v, "projected") {
        for src in each_obj(p, "sources") {
            if let Some(t) = child(src, "serviceAccountToken") {
                default_key(t, "expirationSeconds", json!(3600));
            }
            if let Some(d) = child(src, "downwardAPI") {
                default_field_refs(d);
            }
        }
    }
    if let Some(spec) = child(v, "ephemeral").and_then(|e| child(e, "volumeClaimTemplate")).and_then(|t| child(t, "spec")) {
        default_key(spec, "volumeMode", json!("Filesystem"));
    }
}

fn default_field_refs(d: &mut Map<String, Value>) {
    for item in each_obj(d, "items") {
        if let Some(fr) = child(item, "fieldRef") {
            default_str(fr, "apiVersion", "v1");
        }
    }
}

/// The tag `parsers.ParseImageName` finds: "latest" when there is neither tag nor digest,
/// "" for a digest-only reference. A registry's `host:port` is not a tag.
pub(crate) fn image_tag(image: &str) -> &str {
    let (name, digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, tag)) => tag,
        None if digest => "",
        None => "latest",
    }
}

/// SetDefaults_Service (the REST layer's allocations are in `prepare.rs`).
fn default_service(s: &mut Map<String, Value>) {
    default_str(s, "sessionAffinity", "None");
    match s.get("sessionAffinity").and_then(|a| a.as_str()) {
        Some("None") => {
            s.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let has_timeout = s.get("sessionAffinityConfig").and_then(|c| c.pointer("/clientIP/timeoutSeconds")).is_some();
            if !has_timeout {
                s.insert("sessionAffinityConfig".into(), json!({"clientIP": {"timeoutSeconds": 10800}}));
            }
        }
        _ => {}
    }
    default_str(s, "type", "ClusterIP");
    for p in each_obj(s, "ports") {
        default_str(p, "protocol", "TCP");
        let unset = match p.get("targetPort") {
            None => true,
            Some(t) => t.as_i64() == Some(0) || t.as_str() == Some(""),
        };
        if unset && let Some(port) = p.get("port").cloned() {
            p.insert("targetPort".into(), port);
        }
    }
    let ty = s.get("type").and_then(|t| t.as_str()).unwrap_or("ClusterIP").to_string();
    let has_external_ips = s.get("externalIPs").and_then(|e| e.as_array()).is_some_and(|a| !a.is_empty());
    let externally_accessible = ty == "LoadBalancer" || ty == "NodePort" || (ty == "ClusterIP" && has_external_ips);
    if externally_accessible {
        default_str(s, "externalTrafficPolicy", "Cluster");
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        default_key(s, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        default_key(s, "allocateLoadBalancerNodePorts", json!(true));
    }
}

#[cfg(test)]
mod tests {
    use super::image_tag;

    #[test]
    fn image_tags_as_parse_image_name() {
        assert_eq!(image_tag("nginx"), "latest");
        assert_eq!(image_tag("nginx:1.27"), "1.27");
        assert_eq!(image_tag("registry:5000/nginx"), "latest");
        assert_eq!(image_tag("registry:5000/nginx:v1"), "v1");
        assert_eq!(image_tag("nginx@sha256:abc"), "");
        assert_eq!(image_tag("nginx:1.0@sha256:abc"), "1.0");
    }
}
