//! Recording core/v1 Events the way client-go's event recorder does (with de-duplication:
//! a repeated event bumps `count` and `lastTimestamp`).

use serde_json::{json, Value};

use crate::api::object;
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
    // De-duplicate: same object, reason, message and source → bump count. Like client-go's
    // correlator this remembers what it recorded (bounded) instead of listing Events.
    let key = format!("{ns}\x00{uid}\x00{reason}\x00{message}\x00{component}");
    let known = server.event_cache.lock().get(&key).cloned();
    if let Some(ename) = known {
        let bumped = server.store.modify::<()>(&rt.key, &ns, &ename, |cur| {
            let mut next = (**cur).clone();
            next["count"] = json!(cur["count"].as_i64().unwrap_or(1) + 1);
            next["lastTimestamp"] = json!(now);
            Ok(Some(next))
        });
        // Gone (expired or deleted): record it afresh below.
        if matches!(bumped, Ok(Ok(_))) {
            return;
        }
    }
    let mut source = json!({"component": component});
    if let Some(h) = host {
        source["host"] = json!(h);
    }
    // client-go names events `<object>.<hex timestamp>`; a random suffix keeps them unique.
    let ev_name = format!("{name}.{:x}{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0), random_suffix(3));
    let mut involved = json!({"kind": kind, "namespace": ns, "name": name, "uid": uid, "apiVersion": api_version});
    if let Some(rv) = object::str_at(object, "/metadata/resourceVersion") {
        involved["resourceVersion"] = json!(rv);
    }
    if object::str_at(object, "/metadata/namespace").is_none() {
        involved.as_object_mut().unwrap().remove("namespace");
    }
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": ev_name.clone(), "namespace": ns},
        "involvedObject": involved,
        "reason": reason, "message": message, "source": source,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": ty,
        "eventTime": null, "reportingComponent": component, "reportingInstance": host.unwrap_or(""),
    });
    if server.create(&rt, Some(&ns), ev, &WriteOptions { field_manager: Some(component.to_string()), ..Default::default() }).is_ok() {
        let mut cache = server.event_cache.lock();
        // client-go's cache holds 4096 entries; forgetting only costs a fresh Event.
        if cache.len() >= 50_000 {
            cache.clear();
        }
        cache.insert(key, ev_name);
    }
}
