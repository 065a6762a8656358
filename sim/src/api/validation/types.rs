//! Type-specific create/update checks users commonly hit (pkg/apis/*/validation).

use serde_json::{Map, Value};

use super::content::{is_config_map_key, is_dns1123_label};
use super::{invalid, validate_object_meta_update};
use crate::api::errors::Cause;
use crate::api::selectors::from_label_selector_json;

const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";
const STS_FORBIDDEN: &str = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";
const POD_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";
const PVC_FORBIDDEN: &str = "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims";

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(*k)).filter(|v| !v.is_null())
}
fn gs<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or_default()
}

/// Type-specific create validation (metadata is `validate_object_meta`'s job).
pub fn validate_create(group: &str, kind: &str, obj: &Value) -> Vec<Cause> {
    match (group, kind) {
        ("", "Pod") => pod_spec(get(obj, &["spec"]), "spec"),
        ("", "ConfigMap") => data_keys(obj, &["data", "binaryData"]),
        ("", "Secret") => secret(obj),
        ("", "Service") => service(obj),
        ("", "PersistentVolumeClaim") => pvc(obj),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => workload(kind, obj),
        ("batch", "Job") => pod_spec(get(obj, &["spec", "template", "spec"]), "spec.template.spec"),
        ("batch", "CronJob") => cron_job(obj, false),
        _ => vec![],
    }
}

/// `validateCronJobSpec`'s schedule and time zone checks (TZ in the schedule is refused on
/// create and allowed on update when it was already there) and the 52-character name limit
/// (the job name adds 11 characters of minutes since the epoch).
fn cron_job(obj: &Value, allow_tz_in_schedule: bool) -> Vec<Cause> {
    let mut out = Vec::new();
    let name = gs(obj, &["metadata", "name"]);
    if name.len() > 52 {
        out.push(invalid("metadata.name", &Value::String(name.into()), "must be no more than 52 characters"));
    }
    let schedule = gs(obj, &["spec", "schedule"]);
    let tz = get(obj, &["spec", "timeZone"]).and_then(Value::as_str);
    if schedule.is_empty() {
        out.push(Cause::required("spec.schedule"));
    } else {
        let sv = Value::String(schedule.into());
        if let Err(e) = crate::api::cron::parse_standard(schedule) {
            out.push(invalid("spec.schedule", &sv, &e));
        }
        if schedule.contains("TZ") {
            if !allow_tz_in_schedule {
                out.push(invalid("spec.schedule", &sv, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"));
            } else if tz.is_some() {
                out.push(invalid("spec.schedule", &sv, "cannot use both timeZone field and TZ or CRON_TZ in schedule"));
            }
        }
    }
    if let Some(tz) = tz {
        let tv = Value::String(tz.into());
        if tz.is_empty() {
            out.push(invalid("spec.timeZone", &tv, "timeZone must be nil or non-empty string"));
        } else if tz.eq_ignore_ascii_case("local") {
            out.push(invalid("spec.timeZone", &tv, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"));
        } else if let Err(e) = crate::api::cron::load_location(tz) {
            out.push(invalid("spec.timeZone", &tv, &e));
        }
    }
    if let Some(d) = get(obj, &["spec", "startingDeadlineSeconds"]).and_then(Value::as_i64)
        && d < 0
    {
        out.push(invalid("spec.startingDeadlineSeconds", &Value::from(d), "must be greater than or equal to 0"));
    }
    out.extend(pod_spec(get(obj, &["spec", "jobTemplate", "spec", "template", "spec"]), "spec.jobTemplate.spec.template.spec"));
    out
}

fn pod_spec(spec: Option<&Value>, path: &str) -> Vec<Cause> {
    let mut out = Vec::new();
    let containers = spec.and_then(|s| s.get("containers")).and_then(Value::as_array);
    match containers {
        None => out.push(Cause::required(&format!("{path}.containers"))),
        Some(c) if c.is_empty() => out.push(Cause::required(&format!("{path}.containers"))),
        Some(_) => {}
    }
    let mut seen: Vec<String> = Vec::new();
    for (list, items) in [("initContainers", spec.and_then(|s| s.get("initContainers"))), ("containers", containers.map(|_| &spec.unwrap()["containers"]))] {
        for (i, c) in items.and_then(Value::as_array).into_iter().flatten().enumerate() {
            let p = format!("{path}.{list}[{i}]");
            let name = gs(c, &["name"]);
            if name.is_empty() {
                out.push(Cause::required(&format!("{p}.name")));
            } else {
                for m in is_dns1123_label(name) {
                    out.push(invalid(&format!("{p}.name"), &Value::String(name.into()), &m));
                }
                if seen.iter().any(|s| s == name) {
                    out.push(Cause::duplicate(&format!("{p}.name"), &Value::String(name.into())));
                }
                seen.push(name.to_string());
            }
            if gs(c, &["image"]).is_empty() {
                out.push(Cause::required(&format!("{p}.image")));
            }
        }
    }
    out
}

fn data_keys(obj: &Value, fields: &[&str]) -> Vec<Cause> {
    let mut out = Vec::new();
    for f in fields {
        for k in get(obj, &[f]).and_then(Value::as_object).into_iter().flat_map(Map::keys) {
            for m in is_config_map_key(k) {
                out.push(invalid(&format!("{f}[{k}]"), &Value::String(k.clone()), &m));
            }
        }
    }
    if fields.contains(&"binaryData") {
        let data = get(obj, &["data"]).and_then(Value::as_object);
        for k in get(obj, &["binaryData"]).and_then(Value::as_object).into_iter().flat_map(Map::keys) {
            if data.is_some_and(|d| d.contains_key(k)) {
                out.push(invalid(&format!("binaryData[{k}]"), &Value::String(k.clone()), "duplicate of key present in data"));
            }
        }
    }
    out
}

fn secret(obj: &Value) -> Vec<Cause> {
    let mut out = data_keys(obj, &["data", "stringData"]);
    let data = get(obj, &["data"]).and_then(Value::as_object);
    let has = |k: &str| data.is_some_and(|d| d.contains_key(k));
    match gs(obj, &["type"]) {
        "kubernetes.io/tls" => {
            for k in ["tls.key", "tls.crt"] {
                if !has(k) {
                    out.push(Cause::required(&format!("data[{k}]")));
                }
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            out.push(Cause::required("data[username]"));
            out.push(Cause::required("data[password]"));
        }
        "kubernetes.io/ssh-auth" if !has("ssh-privatekey") => out.push(Cause::required("data[ssh-privatekey]")),
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => out.push(Cause::required("data[.dockerconfigjson]")),
        "kubernetes.io/service-account-token" if gs(obj, &["metadata", "annotations", "kubernetes.io/service-account.name"]).is_empty() => {
            out.push(Cause::required("metadata.annotations[kubernetes.io/service-account.name]"))
        }
        _ => {}
    }
    out
}

fn service(obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let ty = gs(obj, &["spec", "type"]);
    let ty = if ty.is_empty() { "ClusterIP" } else { ty };
    if !["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"].contains(&ty) {
        out.push(Cause::not_supported("spec.type", &Value::String(ty.into()), &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]));
    }
    let headless = gs(obj, &["spec", "clusterIP"]) == "None";
    let ports = get(obj, &["spec", "ports"]).and_then(Value::as_array);
    if ty == "ExternalName" {
        if gs(obj, &["spec", "externalName"]).is_empty() {
            out.push(Cause::required("spec.externalName"));
        }
    } else if !headless && ports.is_none_or(|p| p.is_empty()) {
        out.push(Cause::required("spec.ports"));
    }
    let ports = ports.cloned().unwrap_or_default();
    let mut names: Vec<&str> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let name = gs(p, &["name"]);
        if ports.len() > 1 && name.is_empty() {
            out.push(Cause::required(&format!("spec.ports[{i}].name")));
        } else if !name.is_empty() {
            if names.contains(&name) {
                out.push(Cause::duplicate(&format!("spec.ports[{i}].name"), &Value::String(name.into())));
            }
            names.push(name);
        }
        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=65535).contains(&port) {
            out.push(invalid(&format!("spec.ports[{i}].port"), &Value::from(port), "must be between 1 and 65535, inclusive"));
        }
    }
    out
}

fn pvc(obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    if get(obj, &["spec", "accessModes"]).and_then(Value::as_array).is_none_or(|a| a.is_empty()) {
        out.push(Cause::required_detail("spec.accessModes", "at least 1 access mode is required"));
    }
    if get(obj, &["spec", "resources", "requests", "storage"]).is_none() {
        out.push(Cause::required("spec.resources[storage]"));
    }
    out
}

fn workload(kind: &str, obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    match get(obj, &["spec", "selector"]) {
        None => out.push(Cause::required("spec.selector")),
        Some(sel) => {
            let ml = sel.get("matchLabels").and_then(Value::as_object).map_or(0, |m| m.len());
            let me = sel.get("matchExpressions").and_then(Value::as_array).map_or(0, |m| m.len());
            if ml + me == 0 {
                out.push(invalid("spec.selector", sel, &format!("empty selector is invalid for {}", kind.to_lowercase())));
            }
            match from_label_selector_json(sel) {
                Err(_) => out.push(invalid("spec.selector", sel, "invalid label selector")),
                Ok(s) if !s.is_empty() => {
                    let labels = get(obj, &["spec", "template", "metadata", "labels"]);
                    if !s.matches(labels.and_then(Value::as_object)) {
                        out.push(invalid("spec.template.metadata.labels", labels.unwrap_or(&Value::Null), "`selector` does not match template `labels`"));
                    }
                }
                Ok(_) => {}
            }
        }
    }
    out.extend(pod_spec(get(obj, &["spec", "template", "spec"]), "spec.template.spec"));
    out
}

/// Type-specific update validation, including `ValidateObjectMetaUpdate`.
pub fn validate_update(group: &str, kind: &str, old: &Value, new: &Value) -> Vec<Cause> {
    let mut out = validate_object_meta_update(old, new);
    let immutable = |field: &str, path: &[&str], out: &mut Vec<Cause>| {
        let (o, n) = (get(old, path), get(new, path));
        if o != n {
            out.push(invalid(field, n.unwrap_or(&Value::Null), "field is immutable"));
        }
    };
    match (group, kind) {
        ("", "Secret" | "ConfigMap") => {
            if get(old, &["immutable"]).and_then(Value::as_bool) == Some(true) {
                if get(new, &["immutable"]).and_then(Value::as_bool) != Some(true) {
                    out.push(Cause::forbidden("immutable", IMMUTABLE_WHEN_SET));
                }
                let fields: &[&str] = if kind == "Secret" { &["data"] } else { &["data", "binaryData"] };
                for f in fields {
                    if non_empty(get(old, &[f])) != non_empty(get(new, &[f])) {
                        out.push(Cause::forbidden(f, IMMUTABLE_WHEN_SET));
                    }
                }
            }
            if kind == "Secret" {
                let (o, n) = (gs(old, &["type"]), gs(new, &["type"]));
                if o != n {
                    out.push(invalid("type", &Value::String(n.into()), "field is immutable"));
                }
            }
            out.extend(validate_create(group, kind, new));
        }
        ("", "PersistentVolumeClaim") => {
            // The binder may set volumeName once, and a default class may be assigned
            // retroactively to a claim that had none (ValidatePersistentVolumeClaimUpdate).
            let old_unbound = gs(old, &["spec", "volumeName"]).is_empty();
            let old_classless = get(old, &["spec", "storageClassName"]).is_none_or(|c| c.is_null());
            let strip = |v: &Value| {
                let mut s = get(v, &["spec"]).cloned().unwrap_or(Value::Null);
                if let Some(m) = s.as_object_mut() {
                    m.remove("volumeAttributesClassName");
                    if old_unbound {
                        m.remove("volumeName");
                    }
                    if old_classless {
                        m.remove("storageClassName");
                    }
                    if let Some(r) = m.get_mut("resources").and_then(Value::as_object_mut) {
                        r.remove("requests");
                    }
                }
                s
            };
            if strip(old) != strip(new) {
                out.push(Cause::forbidden("spec", PVC_FORBIDDEN));
            }
        }
        ("", "Service") => {
            out.extend(service_cluster_ips(old, new));
            out.extend(validate_create(group, kind, new));
        }
        ("", "Pod") => {
            let mask = |v: &Value| {
                let mut s = get(v, &["spec"]).cloned().unwrap_or(Value::Null);
                if let Some(m) = s.as_object_mut() {
                    for k in ["activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"] {
                        m.remove(k);
                    }
                    for list in ["containers", "initContainers"] {
                        for c in m.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
                            if let Some(c) = c.as_object_mut() {
                                c.remove("image");
                            }
                        }
                    }
                }
                s
            };
            if mask(old) != mask(new) {
                out.push(Cause::forbidden("spec", POD_FORBIDDEN));
            }
        }
        ("apps", "StatefulSet") => {
            immutable("spec.selector", &["spec", "selector"], &mut out);
            let mask = |v: &Value| {
                let mut s = get(v, &["spec"]).cloned().unwrap_or(Value::Null);
                if let Some(m) = s.as_object_mut() {
                    for k in ["replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit", "persistentVolumeClaimRetentionPolicy", "minReadySeconds", "selector"] {
                        m.remove(k);
                    }
                }
                s
            };
            if mask(old) != mask(new) {
                out.push(Cause::forbidden("spec", STS_FORBIDDEN));
            }
            out.extend(validate_create(group, kind, new));
        }
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => {
            immutable("spec.selector", &["spec", "selector"], &mut out);
            out.extend(validate_create(group, kind, new));
        }
        ("batch", "Job") => {
            immutable("spec.selector", &["spec", "selector"], &mut out);
            immutable("spec.template", &["spec", "template"], &mut out);
        }
        ("batch", "CronJob") => out.extend(cron_job(new, gs(old, &["spec", "schedule"]).contains("TZ"))),
        _ => {}
    }
    out
}

fn non_empty(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| v.as_object().is_none_or(|m| !m.is_empty()))
}

fn ips(v: &Value) -> Vec<String> {
    let list: Vec<String> = get(v, &["spec", "clusterIPs"])
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    if list.is_empty() && !gs(v, &["spec", "clusterIP"]).is_empty() { vec![gs(v, &["spec", "clusterIP"]).to_string()] } else { list }
}

/// `validateUpgradeDowngradeClusterIPs`. A new object without any cluster IP keeps the
/// allocated ones (the registry's patchAllocatedValues), so it is not an error.
fn service_cluster_ips(old: &Value, new: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    if gs(old, &["spec", "type"]) == "ExternalName" || gs(new, &["spec", "type"]) == "ExternalName" {
        return out;
    }
    let (o, n) = (ips(old), ips(new));
    if n.is_empty() {
        return out;
    }
    let shown = Value::Array(n.iter().cloned().map(Value::String).collect());
    if o.len() == n.len() {
        for (i, ip) in o.iter().enumerate() {
            if *ip != n[i] {
                out.push(invalid(&format!("spec.clusterIPs[{i}]"), &shown, "may not change once set"));
            }
        }
    } else if !o.is_empty() && o[0] != n[0] {
        out.push(invalid("spec.clusterIPs[0]", &shown, "may not change once set"));
    }
    out
}

/// Namespaces always carry `kubernetes.io/metadata.name=<name>` (set by the namespace
/// strategy on create and update, overriding user values).
pub fn ensure_namespace_name_label(obj: &mut Value) {
    let name = gs(obj, &["metadata", "name"]).to_string();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = meta.entry("labels").or_insert_with(|| Value::Object(Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        labels.as_object_mut().unwrap().insert("kubernetes.io/metadata.name".into(), Value::String(name));
    }
}

