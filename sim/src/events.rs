//! Recording core/v1 Events the way client-go's event recorder does, correlated first
//! (`crate::server::event_correlator`): a repeat bumps `count` and `lastTimestamp`, similar
//! ones are combined, a source's burst about one object is capped.

use std::time::Instant;

use serde_json::{json, Value};

use crate::api::object;
use crate::server::event_correlator::Outcome;
use crate::server::{meta, random_suffix, ApiServer, WriteOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// Record an event about `object` from `component` (e.g. `default-scheduler`, `kubelet`).
/// `host` is the reporting node for kubelet events.
pub fn record(server: &ApiServer, object: &Value, ty: EventType, reason: &str, message: &str, component: &str, host: Option<&str>) {
    let ns = object::str_at(object, "/metadata/namespace").unwrap_or("default").to_string();
    let name = object::name_of(object).to_string();
    let uid = object::str_at(object, "/metadata/uid").unwrap_or("").to_string();
    let kind = object["kind"].as_str().unwrap_or("").to_string();
    let api_version = object["apiVersion"].as_str().unwrap_or("").to_string();
    let ty = match ty { EventType::Normal => "Normal", EventType::Warning => "Warning" };
    let now = meta::now_rfc3339();
    let Ok(rt) = server.resource("", "v1", "events") else { return };
    let object_key = format!("{component}\x00{}\x00{kind}\x00{ns}\x00{name}\x00{uid}\x00{api_version}", host.unwrap_or(""));
    // client-go names events `<object>.<hex timestamp>`; a random suffix keeps them unique.
    let new_name = || format!("{name}.{:x}{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0), random_suffix(3));
    let outcome = server.event_correlator.lock().correlate(&object_key, &format!("{ty}\x00{reason}"), message, &now, new_name, Instant::now());
    let (ev_name, message, count, first) = match outcome {
        Outcome::Skip => return,
        Outcome::Bump { name: ename, message, count, first } => {
            let bumped = server.store.modify::<()>(&rt.key, &ns, &ename, |cur| {
                let mut next = (**cur).clone();
                next["count"] = json!(count);
                next["lastTimestamp"] = json!(now);
                next["message"] = json!(message);
                Ok(Some(next))
            });
            // Gone (expired or deleted): created again below, as client-go does when its
            // patch finds no Event.
            if matches!(bumped, Ok(Ok(_))) {
                return;
            }
            (ename, message, count, first)
        }
        Outcome::Create { name, message, count, first } => (name, message, count, first),
    };
    let mut source = json!({"component": component});
    if let Some(h) = host {
        source["host"] = json!(h);
    }
    let mut involved = json!({"kind": kind, "namespace": ns, "name": name, "uid": uid, "apiVersion": api_version});
    if let Some(rv) = object::str_at(object, "/metadata/resourceVersion") {
        involved["resourceVersion"] = json!(rv);
    }
    if object::str_at(object, "/metadata/namespace").is_none() {
        involved.as_object_mut().unwrap().remove("namespace");
    }
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": ev_name, "namespace": ns},
        "involvedObject": involved,
        "reason": reason, "message": message, "source": source,
        "firstTimestamp": first, "lastTimestamp": now, "count": count, "type": ty,
        "eventTime": null, "reportingComponent": component, "reportingInstance": host.unwrap_or(""),
    });
    let _ = server.create(&rt, Some(&ns), ev, &WriteOptions { field_manager: Some(component.to_string()), ..Default::default() });
}
