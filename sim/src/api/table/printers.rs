//! Per-kind columns and cells from pkg/printers/internalversion/printers.go.
//! Column descriptions that upstream takes from API swagger docs (other than name and
//! creationTimestamp) are left empty here: `to_table` fills every built-in kind's from the
//! real server's (`resources/tables-golden/column-descriptions.json`).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{col, translate_timestamp_since, Cells, AGE_DOC, NAME_DOC};
use crate::api::selectors::from_label_selector_json;

pub(super) fn name_col() -> Value {
    col("Name", "string", "name", 0, NAME_DOC)
}
pub(super) fn age_col() -> Value {
    col("Age", "string", "", 0, AGE_DOC)
}
pub(super) fn c(name: &str, ty: &str, prio: i32, desc: &str) -> Value {
    col(name, ty, "", prio, desc)
}
pub(super) const CONTAINERS_DOC: &str = "Names of each container in the template.";
pub(super) const IMAGES_DOC: &str = "Images referenced by each container in the template.";

pub(super) fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}
pub(super) fn i(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}
pub(super) fn arr<'a>(v: &'a Value, p: &str) -> &'a [Value] {
    v.pointer(p).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}
pub(super) fn len_of(v: &Value, p: &str) -> i64 {
    match v.pointer(p) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}
pub(super) fn name(v: &Value) -> Value {
    json!(s(v, "/metadata/name"))
}
pub(super) fn or<'a>(s: &'a str, d: &'a str) -> &'a str {
    if s.is_empty() { d } else { s }
}

/// `labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty.
pub(super) fn format_labels(v: Option<&Value>) -> String {
    let mut pairs: Vec<String> = v
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    if pairs.is_empty() { "<none>".into() } else { pairs.join(",") }
}

/// `layoutContainerCells`.
pub(super) fn containers_images(v: &Value, p: &str) -> (Value, Value) {
    let cs = arr(v, p);
    let names: Vec<&str> = cs.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| s(c, "/image")).collect();
    (json!(names.join(",")), json!(images.join(",")))
}

fn selector_string(v: &Value) -> Value {
    let sel = v.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
    // LabelSelectorAsSelector: nil → Nothing (prints ""), {} → Everything ("").
    json!(from_label_selector_json(&sel).map(|s| s.to_string()).unwrap_or_else(|e| e))
}

/// `GetAccessModesAsString`.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|x| x.as_str() == Some(m));
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(m, _)| has(m))
        .map(|(_, a)| *a)
        .collect::<Vec<_>>()
        .join(",")
}

fn storage_class(v: &Value) -> String {
    let ann = v.pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class").and_then(Value::as_str);
    ann.unwrap_or(s(v, "/spec/storageClassName")).to_string()
}

pub(super) type Def = (Vec<Value>, Cells);

/// `duration.HumanDuration` of a number of seconds.
pub(super) fn human_seconds(n: i64) -> String {
    super::human_duration(chrono::Duration::seconds(n))
}

/// The Age cell (`translateTimestampSince(creationTimestamp)`).
pub(super) fn age_of(o: &Value, now: DateTime<Utc>) -> Value {
    json!(translate_timestamp_since(o.pointer("/metadata/creationTimestamp"), now))
}

pub(super) fn def(cols: Vec<Value>, f: impl Fn(&Value) -> Vec<Value> + 'static) -> Option<Def> {
    Some((cols, Box::new(move |o: &Value| (f(o), None))))
}

/// Columns + cell function for a built-in kind with a registered printer.
pub fn for_kind(group: &str, kind: &str, now: DateTime<Utc>) -> Option<Def> {
    let age = move |o: &Value| json!(translate_timestamp_since(o.pointer("/metadata/creationTimestamp"), now));
    match (group, kind) {
        ("", "Pod") => Some((
            vec![
                name_col(),
                c("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
                c("Status", "string", 0, "The aggregate status of the containers in this pod."),
                c("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
                age_col(),
                c("IP", "string", 1, ""),
                c("Node", "string", 1, ""),
                c("Nominated Node", "string", 1, ""),
                c("Readiness Gates", "string", 1, ""),
            ],
            Box::new(move |o: &Value| super::printers_pod::pod_row(o, now)),
        )),
        ("", "Namespace") => def(vec![name_col(), c("Status", "string", 0, "The status of the namespace"), age_col()], move |o| {
            vec![name(o), json!(s(o, "/status/phase")), age(o)]
        }),
        ("", "Node") => def(
            vec![
                name_col(),
                c("Status", "string", 0, "The status of the node"),
                c("Roles", "string", 0, "The roles of the node"),
                age_col(),
                c("Version", "string", 0, ""),
                c("Internal-IP", "string", 1, ""),
                c("External-IP", "string", 1, ""),
                c("OS-Image", "string", 1, ""),
                c("Kernel-Version", "string", 1, ""),
                c("Container-Runtime", "string", 1, ""),
            ],
            move |o| {
                let mut status: Vec<String> = arr(o, "/status/conditions")
                    .iter()
                    .filter(|c| s(c, "/type") == "Ready")
                    .take(1)
                    .map(|c| if s(c, "/status") == "True" { "Ready".into() } else { "NotReady".into() })
                    .collect();
                if status.is_empty() {
                    status.push("Unknown".into());
                }
                if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                    status.push("SchedulingDisabled".into());
                }
                let mut roles: Vec<String> = Vec::new();
                for (k, v) in o.pointer("/metadata/labels").and_then(Value::as_object).into_iter().flatten() {
                    let role = if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                        r.to_string()
                    } else if k == "kubernetes.io/role" {
                        v.as_str().unwrap_or_default().to_string()
                    } else {
                        continue;
                    };
                    if !role.is_empty() && !roles.contains(&role) {
                        roles.push(role);
                    }
                }
                roles.sort();
                let addr = |t: &str| {
                    arr(o, "/status/addresses").iter().find(|a| s(a, "/type") == t).map(|a| s(a, "/address").to_string()).unwrap_or("<none>".into())
                };
                let info = |k: &str| json!(or(s(o, &format!("/status/nodeInfo/{k}")), "<unknown>"));
                vec![
                    name(o),
                    json!(status.join(",")),
                    json!(if roles.is_empty() { "<none>".to_string() } else { roles.join(",") }),
                    age(o),
                    json!(s(o, "/status/nodeInfo/kubeletVersion")),
                    json!(addr("InternalIP")),
                    json!(addr("ExternalIP")),
                    info("osImage"),
                    info("kernelVersion"),
                    info("containerRuntimeVersion"),
                ]
            },
        ),
        ("", "Service") => def(
            vec![name_col(), c("Type", "string", 0, ""), c("Cluster-IP", "string", 0, ""), c("External-IP", "string", 0, ""), c("Port(s)", "string", 0, ""), age_col(), c("Selector", "string", 1, "")],
            move |o| {
                let ty = s(o, "/spec/type");
                let ips = arr(o, "/spec/clusterIPs");
                let cluster_ip = ips.first().and_then(Value::as_str).unwrap_or("<none>");
                let ports: Vec<String> = arr(o, "/spec/ports")
                    .iter()
                    .map(|p| {
                        let proto = or(s(p, "/protocol"), "TCP");
                        match i(p, "/nodePort") {
                            0 => format!("{}/{proto}", i(p, "/port")),
                            np => format!("{}:{np}/{proto}", i(p, "/port")),
                        }
                    })
                    .collect();
                let ports = if ports.is_empty() { "<none>".into() } else { ports.join(",") };
                vec![name(o), json!(ty), json!(cluster_ip), json!(service_external_ip(o)), json!(ports), age(o), json!(format_labels(o.pointer("/spec/selector")))]
            },
        ),
        ("", "ConfigMap") => def(vec![name_col(), c("Data", "string", 0, ""), age_col()], move |o| {
            vec![name(o), json!(len_of(o, "/data") + len_of(o, "/binaryData")), age(o)]
        }),
        ("", "Secret") => def(vec![name_col(), c("Type", "string", 0, ""), c("Data", "string", 0, ""), age_col()], move |o| {
            vec![name(o), json!(s(o, "/type")), json!(len_of(o, "/data")), age(o)]
        }),
        ("", "ServiceAccount") => def(vec![name_col(), age_col()], move |o| vec![name(o), age(o)]),
        ("", "PersistentVolumeClaim") => def(
            vec![
                name_col(), c("Status", "string", 0, ""), c("Volume", "string", 0, ""), c("Capacity", "string", 0, ""), c("Access Modes", "string", 0, ""),
                c("StorageClass", "string", 0, "StorageClass of the pvc"), c("VolumeAttributesClass", "string", 0, "VolumeAttributesClass of the pvc"),
                age_col(), c("VolumeMode", "string", 1, ""),
            ],
            move |o| {
                let phase = if o.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) { "Terminating" } else { s(o, "/status/phase") };
                let volume = s(o, "/spec/volumeName");
                let (capacity, modes) = if volume.is_empty() {
                    (String::new(), String::new())
                } else {
                    (quantity(o.pointer("/status/capacity/storage")), access_modes(arr(o, "/status/accessModes")))
                };
                vec![
                    name(o), json!(phase), json!(volume), json!(capacity), json!(modes), json!(storage_class(o)),
                    json!(or(s(o, "/spec/volumeAttributesClassName"), "<unset>")), age(o), json!(or(s(o, "/spec/volumeMode"), "<unset>")),
                ]
            },
        ),
        ("", "PersistentVolume") => def(
            vec![
                name_col(), c("Capacity", "string", 0, ""), c("Access Modes", "string", 0, ""), c("Reclaim Policy", "string", 0, ""), c("Status", "string", 0, ""),
                c("Claim", "string", 0, ""), c("StorageClass", "string", 0, "StorageClass of the pv"), c("VolumeAttributesClass", "string", 0, "VolumeAttributesClass of the pv"),
                c("Reason", "string", 0, ""), age_col(), c("VolumeMode", "string", 1, ""),
            ],
            move |o| {
                let claim = match o.pointer("/spec/claimRef") {
                    Some(r) if r.is_object() => format!("{}/{}", s(r, "/namespace"), s(r, "/name")),
                    _ => String::new(),
                };
                let phase = if o.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) { "Terminating" } else { s(o, "/status/phase") };
                let vac = o.pointer("/spec/volumeAttributesClassName").and_then(Value::as_str).unwrap_or("<unset>");
                vec![
                    name(o), json!(quantity(o.pointer("/spec/capacity/storage"))), json!(access_modes(arr(o, "/spec/accessModes"))),
                    json!(s(o, "/spec/persistentVolumeReclaimPolicy")), json!(phase), json!(claim), json!(storage_class(o)), json!(vac),
                    json!(s(o, "/status/reason")), age(o), json!(or(s(o, "/spec/volumeMode"), "<unset>")),
                ]
            },
        ),
        ("apps", "Deployment") => def(
            vec![name_col(), c("Ready", "string", 0, "Number of the pod with ready state"), c("Up-to-date", "string", 0, ""), c("Available", "string", 0, ""), age_col(),
                c("Containers", "string", 1, CONTAINERS_DOC), c("Images", "string", 1, IMAGES_DOC), c("Selector", "string", 1, "")],
            move |o| {
                let (cs, is) = containers_images(o, "/spec/template/spec/containers");
                let desired = o.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
                vec![name(o), json!(format!("{}/{desired}", i(o, "/status/readyReplicas"))), json!(i(o, "/status/updatedReplicas")),
                    json!(i(o, "/status/availableReplicas")), age(o), cs, is, selector_string(o)]
            },
        ),
        ("apps", "ReplicaSet") | ("", "ReplicationController") => def(
            vec![name_col(), c("Desired", "integer", 0, ""), c("Current", "integer", 0, ""), c("Ready", "integer", 0, ""), age_col(),
                c("Containers", "string", 1, CONTAINERS_DOC), c("Images", "string", 1, IMAGES_DOC), c("Selector", "string", 1, "")],
            move |o| {
                let (cs, is) = containers_images(o, "/spec/template/spec/containers");
                let sel = if o.pointer("/spec/selector/matchLabels").is_some() || o.pointer("/spec/selector/matchExpressions").is_some() {
                    selector_string(o)
                } else {
                    json!(format_labels(o.pointer("/spec/selector")).replace("<none>", ""))
                };
                vec![name(o), json!(o.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)), json!(i(o, "/status/replicas")),
                    json!(i(o, "/status/readyReplicas")), age(o), cs, is, sel]
            },
        ),
        ("apps", "StatefulSet") => def(
            vec![name_col(), c("Ready", "string", 0, "Number of the pod with ready state"), age_col(), c("Containers", "string", 1, CONTAINERS_DOC), c("Images", "string", 1, IMAGES_DOC)],
            move |o| {
                let (cs, is) = containers_images(o, "/spec/template/spec/containers");
                let desired = o.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
                vec![name(o), json!(format!("{}/{desired}", i(o, "/status/readyReplicas"))), age(o), cs, is]
            },
        ),
        ("apps", "DaemonSet") => def(
            vec![name_col(), c("Desired", "integer", 0, ""), c("Current", "integer", 0, ""), c("Ready", "integer", 0, ""), c("Up-to-date", "integer", 0, ""),
                c("Available", "integer", 0, ""), c("Node Selector", "string", 0, ""), age_col(), c("Containers", "string", 1, CONTAINERS_DOC),
                c("Images", "string", 1, IMAGES_DOC), c("Selector", "string", 1, "")],
            move |o| {
                let (cs, is) = containers_images(o, "/spec/template/spec/containers");
                vec![name(o), json!(i(o, "/status/desiredNumberScheduled")), json!(i(o, "/status/currentNumberScheduled")), json!(i(o, "/status/numberReady")),
                    json!(i(o, "/status/updatedNumberScheduled")), json!(i(o, "/status/numberAvailable")),
                    json!(format_labels(o.pointer("/spec/template/spec/nodeSelector"))), age(o), cs, is, selector_string(o)]
            },
        ),
        ("batch", "Job") => def(
            vec![name_col(), c("Status", "string", 0, "Status of the job."), c("Completions", "string", 0, ""), c("Duration", "string", 0, "Time required to complete the job."),
                age_col(), c("Containers", "string", 1, CONTAINERS_DOC), c("Images", "string", 1, IMAGES_DOC), c("Selector", "string", 1, "")],
            move |o| super::printers_pod::job_row(o, now, age(o), containers_images(o, "/spec/template/spec/containers"), selector_string(o)),
        ),
        ("storage.k8s.io", "StorageClass") => def(
            vec![name_col(), c("Provisioner", "string", 0, ""), c("ReclaimPolicy", "string", 0, ""), c("VolumeBindingMode", "string", 0, ""),
                c("AllowVolumeExpansion", "string", 0, ""), age_col()],
            move |o| {
                let default = ["storageclass.kubernetes.io~1is-default-class", "storageclass.beta.kubernetes.io~1is-default-class"]
                    .iter()
                    .any(|k| s(o, &format!("/metadata/annotations/{k}")) == "true");
                let n = if default { format!("{} (default)", s(o, "/metadata/name")) } else { s(o, "/metadata/name").to_string() };
                vec![json!(n), json!(s(o, "/provisioner")), json!(or(s(o, "/reclaimPolicy"), "Delete")), json!(or(s(o, "/volumeBindingMode"), "Immediate")),
                    json!(o.get("allowVolumeExpansion").and_then(Value::as_bool).unwrap_or(false)), age(o)]
            },
        ),
        ("", "Event") | ("events.k8s.io", "Event") => {
            let v1 = group == "events.k8s.io";
            def(
                vec![c("Last Seen", "string", 0, ""), c("Type", "string", 0, ""), c("Reason", "string", 0, ""), c("Object", "string", 0, ""),
                    c("Subobject", "string", 1, ""), c("Source", "string", 1, ""), c("Message", "string", 0, ""), c("First Seen", "string", 1, ""),
                    c("Count", "string", 1, ""), col("Name", "string", "name", 1, NAME_DOC)],
                move |o| super::printers_pod::event_row(o, v1, now),
            )
        }
        ("", "Endpoints") => def(vec![name_col(), c("Endpoints", "string", 0, ""), age_col()], move |o| vec![name(o), json!(format_endpoints(o)), age(o)]),
        ("coordination.k8s.io", "Lease") => def(vec![name_col(), c("Holder", "string", 0, ""), age_col()], move |o| {
            vec![name(o), json!(s(o, "/spec/holderIdentity")), age(o)]
        }),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration") => def(
            vec![name_col(), c("Webhooks", "integer", 0, "Webhooks indicates the number of webhooks registered in this configuration"), age_col()],
            move |o| vec![name(o), json!(len_of(o, "/webhooks")), age(o)],
        ),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            let what = if kind == "RoleBinding" { "roleBinding" } else { "clusterRoleBinding" };
            def(
                vec![name_col(), c("Role", "string", 0, ""), age_col(), c("Users", "string", 1, &format!("Users in the {what}")),
                    c("Groups", "string", 1, &format!("Groups in the {what}")), c("ServiceAccounts", "string", 1, &format!("ServiceAccounts in the {what}"))],
                move |o| {
                    let subj = |k: &str| {
                        arr(o, "/subjects").iter().filter(|x| s(x, "/kind") == k).map(|x| {
                            if k == "ServiceAccount" { format!("{}/{}", s(x, "/namespace"), s(x, "/name")) } else { s(x, "/name").to_string() }
                        }).collect::<Vec<_>>().join(", ")
                    };
                    vec![name(o), json!(format!("{}/{}", s(o, "/roleRef/kind"), s(o, "/roleRef/name"))), age(o), json!(subj("User")), json!(subj("Group")), json!(subj("ServiceAccount"))]
                },
            )
        }
        _ => super::printers_more::for_kind(group, kind, now),
    }
}

/// `resource.Quantity.String()` of the stored (already canonical) quantity; zero is "0".
pub(super) fn quantity(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".into(),
    }
}

/// `getServiceExternalIP` with wide output (no truncation).
fn service_external_ip(o: &Value) -> String {
    let ext: Vec<&str> = arr(o, "/spec/externalIPs").iter().filter_map(Value::as_str).collect();
    match s(o, "/spec/type") {
        "ClusterIP" | "NodePort" => if ext.is_empty() { "<none>".into() } else { ext.join(",") },
        "LoadBalancer" => {
            let mut lb: Vec<String> = arr(o, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| or(s(i, "/ip"), s(i, "/hostname")).to_string())
                .filter(|x| !x.is_empty())
                .collect();
            if !ext.is_empty() {
                lb.extend(ext.iter().map(|e| e.to_string()));
                return lb.join(",");
            }
            if lb.is_empty() { "<pending>".into() } else { lb.join(",") }
        }
        "ExternalName" => s(o, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

/// `formatEndpoints(endpoints, nil)`: at most three addresses, then "+ N more...".
fn format_endpoints(o: &Value) -> String {
    let subsets = arr(o, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let (max, mut list, mut more, mut count) = (3usize, Vec::<String>::new(), false, 0usize);
    for ss in subsets {
        let addrs = arr(ss, "/addresses");
        let ports = arr(ss, "/ports");
        if ports.is_empty() {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(s(a, "/ip").to_string());
            }
            continue;
        }
        for p in ports {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                let ip = s(a, "/ip");
                let host = if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
                list.push(format!("{host}:{}", i(p, "/port")));
            }
        }
    }
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - max);
    }
    if ret.is_empty() { "<none>".into() } else { ret }
}

