//! Networking, storage and dynamic-resource-allocation kinds of
//! pkg/printers/internalversion/printers.go.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::printers::{age_col, age_of, arr, c, def, len_of, name, name_col, s, Def};
use super::printers_more::format_label_selector;

pub fn for_kind(group: &str, kind: &str, now: DateTime<Utc>) -> Option<Def> {
    let age = move |o: &Value| age_of(o, now);
    let flag = |o: &Value, p: &str, default: bool| json!(o.pointer(p).and_then(Value::as_bool).unwrap_or(default));
    match (group, kind) {
        ("networking.k8s.io", "IngressClass") => def(
            vec![name_col(), c("Controller", "string", 0, "Controller that is responsible for handling this class"),
                c("Parameters", "string", 0, "A reference to a resource with additional parameters"), age_col()],
            move |o| {
                let params = match o.pointer("/spec/parameters") {
                    Some(p) if p.is_object() => match p.get("apiGroup").and_then(Value::as_str) {
                        Some(g) => format!("{}.{g}/{}", s(p, "/kind"), s(p, "/name")),
                        None => format!("{}/{}", s(p, "/kind"), s(p, "/name")),
                    },
                    _ => "<none>".into(),
                };
                vec![name(o), json!(s(o, "/spec/controller")), json!(params), age(o)]
            },
        ),
        ("networking.k8s.io", "Ingress") => def(
            vec![name_col(), c("Class", "string", 0, "The name of the IngressClass resource that should be used for additional configuration"),
                c("Hosts", "string", 0, "Hosts that incoming requests are matched against before the ingress rule"),
                c("Address", "string", 0, "Address is a list containing ingress points for the load-balancer"),
                c("Ports", "string", 0, "Ports of TLS configurations that open"), age_col()],
            move |o| {
                let class = o.pointer("/spec/ingressClassName").and_then(Value::as_str).unwrap_or("<none>");
                let ports = if arr(o, "/spec/tls").is_empty() { "80" } else { "80, 443" };
                vec![name(o), json!(class), json!(ingress_hosts(o)), json!(ingress_address(o)), json!(ports), age(o)]
            },
        ),
        ("networking.k8s.io", "NetworkPolicy") => def(vec![name_col(), c("Pod-Selector", "string", 0, ""), age_col()], move |o| {
            // The pod selector is a struct upstream: absent prints like an empty one.
            let sel = o.pointer("/spec/podSelector").cloned().unwrap_or_else(|| json!({}));
            vec![name(o), json!(format_label_selector(Some(&sel))), age(o)]
        }),
        ("networking.k8s.io", "ServiceCIDR") => def(vec![name_col(), c("CIDRs", "string", 0, ""), age_col()], move |o| {
            let cidrs: Vec<&str> = arr(o, "/spec/cidrs").iter().filter_map(Value::as_str).collect();
            vec![name(o), json!(cidrs.join(",")), age(o)]
        }),
        // Upstream prints the age too, past the last column.
        ("networking.k8s.io", "IPAddress") => def(vec![name_col(), c("ParentRef", "string", 0, "")], move |o| {
            let parent = match o.pointer("/spec/parentRef") {
                Some(p) if p.is_object() => {
                    let gr = match s(p, "/group") { "" => s(p, "/resource").to_string(), g => format!("{}.{g}", s(p, "/resource")) };
                    let ns = match s(p, "/namespace") { "" => String::new(), ns => format!("/{ns}") };
                    format!("{}{ns}/{}", gr.to_lowercase(), s(p, "/name"))
                }
                _ => "<none>".into(),
            };
            vec![name(o), json!(parent), age(o)]
        }),
        ("resource.k8s.io", "DeviceClass" | "ResourceClaimTemplate") => def(vec![name_col(), age_col()], move |o| vec![name(o), age(o)]),
        ("resource.k8s.io", "ResourceClaim") => def(
            vec![name_col(), c("State", "string", 0, "A summary of the current state (allocated, pending, reserved, etc.)."), age_col()],
            move |o| vec![name(o), json!(claim_state(o)), age(o)],
        ),
        ("resource.k8s.io", "ResourceSlice") => def(
            vec![name_col(), c("Node", "string", 0, ""), c("Driver", "string", 0, ""), c("Pool", "string", 0, ""), age_col()],
            move |o| vec![name(o), json!(s(o, "/spec/nodeName")), json!(s(o, "/spec/driver")), json!(s(o, "/spec/pool/name")), age(o)],
        ),
        ("storage.k8s.io", "CSIDriver") => def(
            vec![name_col(), c("AttachRequired", "boolean", 0, ""), c("PodInfoOnMount", "boolean", 0, ""), c("StorageCapacity", "boolean", 0, ""),
                c("TokenRequests", "string", 0, ""), c("RequiresRepublish", "boolean", 0, ""), c("Modes", "string", 0, ""), age_col()],
            move |o| {
                let tokens = match o.pointer("/spec/tokenRequests") {
                    Some(Value::Array(t)) => t.iter().map(|t| s(t, "/audience")).collect::<Vec<_>>().join(","),
                    _ => "<unset>".into(),
                };
                let modes: Vec<&str> = arr(o, "/spec/volumeLifecycleModes").iter().filter_map(Value::as_str).collect();
                let modes = if modes.is_empty() { "<none>".to_string() } else { modes.join(",") };
                vec![name(o), flag(o, "/spec/attachRequired", true), flag(o, "/spec/podInfoOnMount", false), flag(o, "/spec/storageCapacity", false),
                    json!(tokens), flag(o, "/spec/requiresRepublish", false), json!(modes), age(o)]
            },
        ),
        ("storage.k8s.io", "CSINode") => def(
            vec![name_col(), c("Drivers", "integer", 0, "Drivers indicates the number of CSI drivers registered on the node"), age_col()],
            move |o| vec![name(o), json!(len_of(o, "/spec/drivers")), age(o)],
        ),
        ("storage.k8s.io", "VolumeAttachment") => def(
            vec![name_col(), super::col("Attacher", "string", "name", 0, ""), c("PV", "string", 0, ""), c("Node", "string", 0, ""), c("Attached", "boolean", 0, ""),
                age_col()],
            move |o| {
                vec![name(o), json!(s(o, "/spec/attacher")), json!(s(o, "/spec/source/persistentVolumeName")), json!(s(o, "/spec/nodeName")),
                    flag(o, "/status/attached", false), age(o)]
            },
        ),
        ("storage.k8s.io", "VolumeAttributesClass") => def(vec![name_col(), c("DriverName", "string", 0, ""), age_col()], move |o| {
            vec![name(o), json!(s(o, "/driverName")), age(o)]
        }),
        _ => None,
    }
}

/// `formatHosts`: up to three rule hosts, then "+ N more..." (N counts rules); `*` if none.
fn ingress_hosts(o: &Value) -> String {
    let rules = arr(o, "/spec/rules");
    const MAX: usize = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for r in rules {
        more |= list.len() == MAX;
        if !more && !s(r, "/host").is_empty() {
            list.push(s(r, "/host"));
        }
    }
    match (list.is_empty(), more) {
        (true, _) => "*".into(),
        (false, true) => format!("{} + {} more...", list.join(","), rules.len() - MAX),
        (false, false) => list.join(","),
    }
}

/// `ingressLoadBalancerStatusStringer` (wide): the sorted, distinct IPs or else hostnames.
fn ingress_address(o: &Value) -> String {
    let set: std::collections::BTreeSet<&str> = arr(o, "/status/loadBalancer/ingress")
        .iter()
        .map(|i| if s(i, "/ip").is_empty() { s(i, "/hostname") } else { s(i, "/ip") })
        .filter(|a| !a.is_empty())
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

/// `resourceClaimState`.
fn claim_state(o: &Value) -> String {
    let deleted = o.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null());
    let mut states = Vec::new();
    if deleted {
        states.push("deleted");
    }
    if o.pointer("/status/allocation").is_none_or(Value::is_null) {
        if !deleted {
            states.push("pending");
        }
    } else {
        states.push("allocated");
        if !arr(o, "/status/reservedFor").is_empty() {
            states.push("reserved");
        }
    }
    states.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_hosts_and_claims() {
        let rules = |hosts: &[&str]| json!({"spec": {"rules": hosts.iter().map(|h| json!({"host": h})).collect::<Vec<_>>()}});
        assert_eq!(ingress_hosts(&rules(&[])), "*");
        assert_eq!(ingress_hosts(&rules(&["", "a"])), "a");
        assert_eq!(ingress_hosts(&rules(&["a", "b", "c", "d", "e"])), "a,b,c + 2 more...");
        let lb = json!({"status": {"loadBalancer": {"ingress": [{"hostname": "z"}, {"ip": "1.1.1.1", "hostname": "y"}, {"ip": "1.1.1.1"}]}}});
        assert_eq!(ingress_address(&lb), "1.1.1.1,z");
        assert_eq!(claim_state(&json!({})), "pending");
        assert_eq!(claim_state(&json!({"metadata": {"deletionTimestamp": "x"}, "status": {"allocation": {}, "reservedFor": [{}]}})), "deleted,allocated,reserved");
    }
}
