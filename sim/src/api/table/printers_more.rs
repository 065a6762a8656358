//! More of pkg/printers/internalversion/printers.go: kinds kubectl prints with columns of
//! their own that `printers.rs` does not hold (EndpointSlice, CronJob, PodDisruptionBudget,
//! PodTemplate).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::printers::{age_col, arr, c, containers_images, def, format_labels, i, name, name_col, s, Def, CONTAINERS_DOC, IMAGES_DOC};
use super::translate_timestamp_since;
use crate::api::selectors::from_label_selector_json;

pub fn for_kind(group: &str, kind: &str, now: DateTime<Utc>) -> Option<Def> {
    let age = move |o: &Value| json!(translate_timestamp_since(o.pointer("/metadata/creationTimestamp"), now));
    match (group, kind) {
        ("discovery.k8s.io", "EndpointSlice") => def(
            vec![name_col(), c("AddressType", "string", 0, ""), c("Ports", "string", 0, ""), c("Endpoints", "string", 0, ""), age_col()],
            move |o| vec![name(o), json!(s(o, "/addressType")), json!(discovery_ports(o)), json!(discovery_endpoints(o)), age(o)],
        ),
        ("batch", "CronJob") => def(
            vec![name_col(), c("Schedule", "string", 0, ""), c("Timezone", "string", 0, ""), c("Suspend", "boolean", 0, ""), c("Active", "integer", 0, ""),
                c("Last Schedule", "string", 0, ""), age_col(), c("Containers", "string", 1, CONTAINERS_DOC), c("Images", "string", 1, IMAGES_DOC),
                c("Selector", "string", 1, "")],
            move |o| {
                let last = match o.pointer("/status/lastScheduleTime") {
                    Some(t) if !t.is_null() => translate_timestamp_since(Some(t), now),
                    _ => "<none>".to_string(),
                };
                let tz = o.pointer("/spec/timeZone").and_then(Value::as_str).unwrap_or("<none>");
                let (cs, is) = containers_images(o, "/spec/jobTemplate/spec/template/spec/containers");
                vec![name(o), json!(s(o, "/spec/schedule")), json!(tz), json!(bool_ptr(o.pointer("/spec/suspend"))),
                    json!(arr(o, "/status/active").len() as i64), json!(last), age(o), cs, is, json!(format_label_selector(o.pointer("/spec/jobTemplate/spec/selector")))]
            },
        ),
        ("policy", "PodDisruptionBudget") => def(
            vec![name_col(), c("Min Available", "string", 0, ""), c("Max Unavailable", "string", 0, ""), c("Allowed Disruptions", "integer", 0, ""), age_col()],
            move |o| {
                let int_or_string = |p: &str| match o.pointer(p) {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(v)) => v.clone(),
                    _ => "N/A".to_string(),
                };
                vec![name(o), json!(int_or_string("/spec/minAvailable")), json!(int_or_string("/spec/maxUnavailable")), json!(i(o, "/status/disruptionsAllowed")), age(o)]
            },
        ),
        ("", "PodTemplate") => def(
            vec![name_col(), c("Containers", "string", 0, CONTAINERS_DOC), c("Images", "string", 0, IMAGES_DOC), c("Pod Labels", "string", 0, "")],
            move |o| {
                let (cs, is) = containers_images(o, "/template/spec/containers");
                vec![name(o), cs, is, json!(format_labels(o.pointer("/template/metadata/labels")))]
            },
        ),
        _ => super::printers_admin::for_kind(group, kind, now).or_else(|| super::printers_netstore::for_kind(group, kind, now)),
    }
}

/// `printBoolPtr`.
pub(super) fn bool_ptr(v: Option<&Value>) -> &'static str {
    match v.and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}

/// `metav1.FormatLabelSelector`: `<none>` for a nil or empty selector.
pub(super) fn format_label_selector(sel: Option<&Value>) -> String {
    let out = sel.and_then(|s| from_label_selector_json(s).ok()).map(|s| s.to_string()).unwrap_or_default();
    if out.is_empty() { "<none>".into() } else { out }
}

/// `listWithMoreString`: up to three entries, then "+ N more...", `<unset>` when empty.
fn list_with_more(list: Vec<String>, count: usize) -> String {
    const MAX: usize = 3;
    let ret = list.join(",");
    if count > MAX {
        return format!("{ret} + {} more...", count - MAX);
    }
    if ret.is_empty() { "<unset>".into() } else { ret }
}

/// `formatDiscoveryPorts`: the port number, else its name, else `*`.
fn discovery_ports(o: &Value) -> String {
    let ports = arr(o, "/ports");
    let list = ports.iter().take(3).map(|p| match p.get("port").and_then(Value::as_i64) {
        Some(n) => n.to_string(),
        None => p.get("name").and_then(Value::as_str).unwrap_or("*").to_string(),
    }).collect();
    list_with_more(list, ports.len())
}

/// `formatDiscoveryEndpoints`: every endpoint's addresses.
fn discovery_endpoints(o: &Value) -> String {
    let all: Vec<String> = arr(o, "/endpoints").iter().flat_map(|e| arr(e, "/addresses").iter().filter_map(Value::as_str).map(String::from)).collect();
    let count = all.len();
    list_with_more(all.into_iter().take(3).collect(), count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists() {
        let o = json!({"ports": [{"port": 80}, {"name": "dns"}, {}, {"port": 9}], "endpoints": [{"addresses": ["10.0.0.1", "10.0.0.2"]}, {"addresses": ["10.0.0.3", "10.0.0.4"]}]});
        assert_eq!(discovery_ports(&o), "80,dns,* + 1 more...");
        assert_eq!(discovery_endpoints(&o), "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...");
        assert_eq!(discovery_endpoints(&json!({})), "<unset>");
        assert_eq!(bool_ptr(None), "<unset>");
        assert_eq!(format_label_selector(None), "<none>");
    }
}
