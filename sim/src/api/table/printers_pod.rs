//! The printers with real logic: pods (STATUS/READY/RESTARTS), jobs and events.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::printers::{arr, i, s};
use super::{human_duration, parse_time, translate_timestamp_since};

fn present(v: &Value, p: &str) -> bool {
    v.pointer(p).is_some_and(|x| !x.is_null())
}

/// Terminated.finishedAt of a container's last termination, if any.
fn last_finished(cs: &Value) -> Option<DateTime<Utc>> {
    parse_time(cs.pointer("/lastState/terminated/finishedAt"))
}

fn terminated_reason(prefix: &str, t: &Value) -> String {
    let reason = s(t, "/reason");
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let sig = i(t, "/signal");
    if sig != 0 { format!("{prefix}Signal:{sig}") } else { format!("{prefix}ExitCode:{}", i(t, "/exitCode")) }
}

/// `printPod`: cells and the row conditions for Succeeded/Failed pods.
pub fn pod_row(pod: &Value, now: DateTime<Utc>) -> (Vec<Value>, Option<Value>) {
    let init_specs = arr(pod, "/spec/initContainers");
    let is_sidecar = |name: &str| init_specs.iter().any(|c| s(c, "/name") == name && s(c, "/restartPolicy") == "Always");
    let total = arr(pod, "/spec/containers").len() + init_specs.iter().filter(|c| s(c, "/restartPolicy") == "Always").count();
    let (mut ready, mut restarts, mut sidecar_restarts) = (0usize, 0i64, 0i64);
    let (mut last_restart, mut last_sidecar_restart): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = (None, None);
    let phase = s(pod, "/status/phase");
    let mut reason = if s(pod, "/status/reason").is_empty() { phase.to_string() } else { s(pod, "/status/reason").to_string() };
    if arr(pod, "/status/conditions").iter().any(|c| s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated") {
        reason = "SchedulingGated".into();
    }
    let conditions = match phase {
        "Succeeded" => Some(json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])),
        "Failed" => Some(json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}])),
        _ => None,
    };
    let max = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };

    let mut initializing = false;
    let init_statuses = arr(pod, "/status/initContainerStatuses");
    for (idx, cs) in init_statuses.iter().enumerate() {
        restarts += i(cs, "/restartCount");
        last_restart = max(last_restart, last_finished(cs));
        let name = s(cs, "/name");
        if is_sidecar(name) {
            sidecar_restarts += i(cs, "/restartCount");
            last_sidecar_restart = max(last_sidecar_restart, last_finished(cs));
        }
        let term = cs.pointer("/state/terminated").filter(|t| !t.is_null());
        let waiting = s(cs, "/state/waiting/reason");
        if term.is_some_and(|t| i(t, "/exitCode") == 0) {
            continue;
        } else if is_sidecar(name) && cs.get("started").and_then(Value::as_bool) == Some(true) {
            if cs.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        } else if let Some(t) = term {
            reason = terminated_reason("Init:", t);
        } else if !waiting.is_empty() && waiting != "PodInitializing" {
            reason = format!("Init:{waiting}");
        } else {
            reason = format!("Init:{idx}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    let initialized = arr(pod, "/status/conditions").iter().any(|c| s(c, "/type") == "Initialized" && s(c, "/status") == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for cs in arr(pod, "/status/containerStatuses").iter().rev() {
            restarts += i(cs, "/restartCount");
            last_restart = max(last_restart, last_finished(cs));
            let waiting = s(cs, "/state/waiting/reason");
            let term = cs.pointer("/state/terminated").filter(|t| !t.is_null());
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = term {
                reason = terminated_reason("", t);
            } else if cs.get("ready").and_then(Value::as_bool) == Some(true) && present(cs, "/state/running") {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = arr(pod, "/status/conditions").iter().any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True");
            reason = if pod_ready { "Running".into() } else { "NotReady".into() };
        }
    }

    if present(pod, "/metadata/deletionTimestamp") {
        if s(pod, "/status/reason") == "NodeLost" {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }

    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    let or_none = |x: &str| if x.is_empty() { "<none>".to_string() } else { x.to_string() };
    let pod_ip = arr(pod, "/status/podIPs").first().map(|p| s(p, "/ip").to_string()).unwrap_or_else(|| s(pod, "/status/podIP").to_string());
    let gates = arr(pod, "/spec/readinessGates");
    let gates_str = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let t = gates
            .iter()
            .filter(|g| {
                arr(pod, "/status/conditions").iter().find(|c| s(c, "/type") == s(g, "/conditionType")).is_some_and(|c| s(c, "/status") == "True")
            })
            .count();
        format!("{t}/{}", gates.len())
    };
    let cells = vec![
        json!(s(pod, "/metadata/name")),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_str),
        json!(translate_timestamp_since(pod.pointer("/metadata/creationTimestamp"), now)),
        json!(or_none(&pod_ip)),
        json!(or_none(s(pod, "/spec/nodeName"))),
        json!(or_none(s(pod, "/status/nominatedNodeName"))),
        json!(gates_str),
    ];
    (cells, conditions)
}

fn cond_true(v: &Value, ty: &str) -> bool {
    arr(v, "/status/conditions").iter().any(|c| s(c, "/type") == ty && s(c, "/status") == "True")
}

/// `printJob`.
pub fn job_row(o: &Value, now: DateTime<Utc>, age: Value, (cs, is): (Value, Value), sel: Value) -> Vec<Value> {
    let succeeded = i(o, "/status/succeeded");
    let completions = match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let par = o.pointer("/spec/parallelism").and_then(Value::as_i64).unwrap_or(0);
            if par > 1 { format!("{succeeded}/1 of {par}") } else { format!("{succeeded}/1") }
        }
    };
    let duration = match (parse_time(o.pointer("/status/startTime")), parse_time(o.pointer("/status/completionTime"))) {
        (None, _) => String::new(),
        (Some(st), None) => human_duration(now - st),
        (Some(st), Some(ct)) => human_duration(ct - st),
    };
    let status = if cond_true(o, "Complete") {
        "Complete"
    } else if cond_true(o, "Failed") {
        "Failed"
    } else if present(o, "/metadata/deletionTimestamp") {
        "Terminating"
    } else if cond_true(o, "Suspended") {
        "Suspended"
    } else if cond_true(o, "FailureTarget") {
        "FailureTarget"
    } else if cond_true(o, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    vec![json!(s(o, "/metadata/name")), json!(status), json!(completions), json!(duration), age, cs, is, sel]
}

/// `printEvent` (wide). `v1` reads the events.k8s.io/v1 field names.
pub fn event_row(o: &Value, v1: bool, now: DateTime<Utc>) -> Vec<Value> {
    let (first_p, last_p, count_p, obj_p, msg_p, src_p, rc_p, ri_p) = if v1 {
        ("/deprecatedFirstTimestamp", "/deprecatedLastTimestamp", "/deprecatedCount", "/regarding", "/note", "/deprecatedSource", "/reportingController", "/reportingInstance")
    } else {
        ("/firstTimestamp", "/lastTimestamp", "/count", "/involvedObject", "/message", "/source", "/reportingComponent", "/reportingInstance")
    };
    let since = |p: &str| translate_timestamp_since(o.pointer(p), now);
    let mut first = since(first_p);
    if !present(o, first_p) {
        first = since("/eventTime");
    }
    let mut last = since(last_p);
    if !present(o, last_p) {
        last = first.clone();
    }
    let mut count = i(o, count_p);
    if present(o, "/series") {
        last = since("/series/lastObservedTime");
        count = i(o, "/series/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = s(o, &format!("{obj_p}/kind")).to_lowercase();
    let oname = s(o, &format!("{obj_p}/name"));
    let target = if oname.is_empty() { kind } else { format!("{kind}/{oname}") };
    let first_non_empty = |a: &str, b: &str| if a.is_empty() { b.to_string() } else { a.to_string() };
    let component = first_non_empty(s(o, &format!("{src_p}/component")), s(o, rc_p));
    let instance = first_non_empty(s(o, &format!("{src_p}/host")), s(o, ri_p));
    let source = if instance.is_empty() { component } else { format!("{component}, {instance}") };
    let cells = vec![
        json!(last),
        json!(s(o, "/type")),
        json!(s(o, "/reason")),
        json!(target),
        json!(s(o, &format!("{obj_p}/fieldPath"))),
        json!(source),
        json!(s(o, msg_p).trim()),
        json!(first),
        json!(count),
        json!(s(o, "/metadata/name")),
    ];
    cells
}
