//! The pod status a kubelet reports: conditions, container statuses, IPs; plus kubelet
//! events about containers (with `involvedObject.fieldPath`, as the kubelet's recorder sets).

use crate::api::object::At;
use serde_json::{json, Value};

use crate::api::object;
use super::fs;
use crate::server::{meta, random_suffix, ApiServer, WriteOptions};

pub const MSG_CREATED: &str = "Container created";
pub const MSG_STARTED: &str = "Container started";

pub fn image_present_msg(image: &str) -> String {
    format!("Container image \"{image}\" already present on machine and can be accessed by the pod")
}

/// A kubelet event about one container of `pod`.
pub fn container_event(server: &ApiServer, pod: &Value, field_path: Option<&str>, ty: &str, reason: &str, message: &str, node: &str) {
    let ns = object::str_at(pod, "/metadata/namespace").unwrap_or("default");
    let name = object::name_of(pod);
    let now = meta::now_rfc3339();
    let mut involved = json!({"apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": name, "uid": pod["metadata"]["uid"]});
    if let Some(fp) = field_path {
        involved["fieldPath"] = json!(fp);
    }
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{:x}{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0), random_suffix(3)), "namespace": ns},
        "involvedObject": involved, "reason": reason, "message": message,
        "source": {"component": "kubelet", "host": node}, "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": ty,
        "eventTime": null, "reportingComponent": "kubelet", "reportingInstance": node,
    });
    if let Ok(rt) = server.resource("", "v1", "events") {
        let _ = server.create(&rt, Some(ns), ev, &WriteOptions { field_manager: Some("kubelet".into()), ..Default::default() });
    }
}

pub fn cond(pod: &Value, ty: &str, status: bool, reason: Option<&str>, message: Option<&str>, now: &str) -> Value {
    let mut c = json!({"type": ty, "status": if status { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(g) = pod.at("/metadata/generation") {
        c["observedGeneration"] = g.clone();
    }
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// Keep a condition's lastTransitionTime when its status did not change.
pub fn merge_conditions(old: &Value, new: Vec<Value>) -> Vec<Value> {
    let prev = old.at("/status/conditions").and_then(|c| c.as_array()).cloned().unwrap_or_default();
    let mut out: Vec<Value> = new.into_iter().map(|mut c| {
        if let Some(p) = prev.iter().find(|p| p["type"] == c["type"] && p["status"] == c["status"]) {
            c["lastTransitionTime"] = p["lastTransitionTime"].clone();
        }
        c
    }).collect();
    // The scheduler's condition stays last, as the kubelet appends it from the API status.
    if let Some(s) = prev.iter().find(|p| p["type"] == "PodScheduled") {
        out.push(s.clone());
    }
    out
}

/// `status.containerStatuses[].volumeMounts` (RecursiveReadOnlyMounts reports them).
pub fn status_mounts(container: &Value) -> Option<Value> {
    let mounts = container["volumeMounts"].as_array()?;
    Some(Value::Array(mounts.iter().map(|m| {
        let mut o = json!({"mountPath": m["mountPath"], "name": m["name"]});
        if m["readOnly"] == true {
            o["readOnly"] = json!(true);
            o["recursiveReadOnly"] = json!("Disabled");
        }
        o
    }).collect()))
}

pub struct Started {
    pub id: String,
    pub image: String,
    pub image_id: String,
}

pub fn running_status(container: &Value, s: &Started, restart: i64, last_state: Value, now: &str, init: bool) -> Value {
    let mut st = json!({
        "containerID": format!("containerd://{}", s.id), "image": s.image, "imageID": s.image_id,
        "lastState": last_state, "name": container["name"], "ready": true, "restartCount": restart, "started": true,
        "state": {"running": {"startedAt": now}},
    });
    if let Some(m) = status_mounts(container) {
        st["volumeMounts"] = m;
    }
    let _ = init;
    st
}

pub fn terminated_status(container: &Value, s: &Started, restart: i64, started_at: &str, now: &str) -> Value {
    let mut st = json!({
        "containerID": format!("containerd://{}", s.id), "image": s.image, "imageID": s.image_id,
        "lastState": {}, "name": container["name"], "ready": false, "restartCount": restart, "started": false,
        "state": {"terminated": {"containerID": format!("containerd://{}", s.id), "exitCode": 0, "finishedAt": now, "reason": "Completed", "startedAt": started_at}},
    });
    if let Some(m) = status_mounts(container) {
        st["volumeMounts"] = m;
    }
    st
}

/// Terminate a running status in place (pod completion or kill).
pub fn terminate(status: &mut Value, now: &str) {
    let started = status.at("/state/running/startedAt").cloned().unwrap_or(json!(now));
    let cid = status["containerID"].clone();
    status["state"] = json!({"terminated": {"containerID": cid, "exitCode": 0, "finishedAt": now, "reason": "Completed", "startedAt": started}});
    status["ready"] = json!(false);
    status["started"] = json!(false);
}

/// The image a container runs, pulled into the node's store if missing (with kubelet events).
pub fn ensure_image(server: &ApiServer, pod: &Value, container: &Value, field_path: &str, node: &str, node_root: &std::path::Path) -> Started {
    let spec_image = container["image"].as_str().unwrap_or("");
    let image = fs::normalize_image(spec_image);
    let image_id = fs::image_id(&image);
    let always = container["imagePullPolicy"] == "Always";
    if fs::has_image(node_root, &image) && !always {
        container_event(server, pod, Some(field_path), "Normal", "Pulled", &image_present_msg(spec_image), node);
    } else {
        container_event(server, pod, Some(field_path), "Normal", "Pulling", &format!("Pulling image \"{spec_image}\""), node);
        fs::add_image(node_root, &image, &image_id);
        let size = 10_000_000 + (crate::controllers::util::fnv32a(image.as_bytes()) % 90_000_000) as u64;
        container_event(server, pod, Some(field_path), "Normal", "Pulled",
            &format!("Successfully pulled image \"{spec_image}\" in 512ms (512ms including waiting). Image size: {size} bytes."), node);
    }
    Started { id: fs::new_container_id(), image, image_id }
}

/// `v1qos.GetPodQOS`.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"].iter()
        .flat_map(|k| pod.at(&format!("/spec/{k}")).and_then(|c| c.as_array()).into_iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let req = c.at("/resources/requests").and_then(|r| r.as_object());
        let lim = c.at("/resources/limits").and_then(|r| r.as_object());
        any |= req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|r| !r.is_empty());
        for res in ["cpu", "memory"] {
            let l = lim.and_then(|l| l.get(res));
            let r = req.and_then(|r| r.get(res)).or(l);
            if l.is_none() || r.map(crate::controllers::util::parse_quantity) != l.map(crate::controllers::util::parse_quantity) {
                guaranteed = false;
            }
        }
    }
    if !any { "BestEffort" } else if guaranteed { "Guaranteed" } else { "Burstable" }
}
