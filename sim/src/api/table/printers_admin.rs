//! Cluster-administration kinds of pkg/printers/internalversion/printers.go (quotas,
//! autoscaling, certificates, flow control, admission policies, scheduling) plus
//! kube-aggregator's APIService table convertor.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::printers::{age_col, age_of, arr, c, def, human_seconds, i, name, name_col, quantity, s, Def};

pub fn for_kind(group: &str, kind: &str, now: DateTime<Utc>) -> Option<Def> {
    let age = move |o: &Value| age_of(o, now);
    match (group, kind) {
        ("", "ComponentStatus") => def(
            vec![name_col(), c("Status", "string", 0, "Status of the component conditions"), c("Message", "string", 0, "Message of the component conditions"),
                c("Error", "string", 0, "Error of the component conditions")],
            |o| {
                let healthy = arr(o, "/conditions").iter().find(|c| s(c, "/type") == "Healthy");
                let (status, message, error) = match healthy {
                    Some(c) => (if s(c, "/status") == "True" { "Healthy" } else { "Unhealthy" }, s(c, "/message"), s(c, "/error")),
                    None => ("Unknown", "", ""),
                };
                vec![name(o), json!(status), json!(message), json!(error)]
            },
        ),
        ("", "ResourceQuota") => def(
            vec![name_col(), c("Request", "string", 0, "Request represents a minimum amount of cpu/memory that a container may consume."),
                c("Limit", "string", 0, "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."), age_col()],
            move |o| {
                let (request, limit) = quota_columns(o);
                vec![name(o), json!(request), json!(limit), age(o)]
            },
        ),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy" | "MutatingAdmissionPolicy") => {
            let (rules, what) = if kind == "ValidatingAdmissionPolicy" {
                ("Validations", "Validations indicates the number of validation rules defined in this configuration")
            } else {
                ("Mutations", "Mutation indicates the number of mutations rules defined in this configuration")
            };
            let field = format!("/spec/{}", rules.to_lowercase());
            def(
                vec![name_col(), c(rules, "integer", 0, what), c("ParamKind", "string", 0, "ParamKind specifies the kind of resources used to parameterize this policy"), age_col()],
                move |o| {
                    let param_kind = match o.pointer("/spec/paramKind") {
                        Some(p) if p.is_object() => format!("{}/{}", s(p, "/apiVersion"), s(p, "/kind")),
                        _ => "<unset>".into(),
                    };
                    vec![name(o), json!(arr(o, &field).len() as i64), json!(param_kind), age(o)]
                },
            )
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding" | "MutatingAdmissionPolicyBinding") => def(
            vec![name_col(), c("PolicyName", "string", 0, "PolicyName indicates the policy definition which the policy binding binded to"),
                c("ParamRef", "string", 0, "ParamRef indicates the param resource which sets the configuration param"), age_col()],
            move |o| vec![name(o), json!(s(o, "/spec/policyName")), json!(param_ref(o.pointer("/spec/paramRef"))), age(o)],
        ),
        ("apps", "ControllerRevision") => def(
            vec![name_col(), c("Controller", "string", 0, "Controller of the object"), c("Revision", "string", 0, ""), age_col()],
            move |o| vec![name(o), json!(controller_of(o)), json!(i(o, "/revision")), age(o)],
        ),
        ("autoscaling", "HorizontalPodAutoscaler") => def(
            vec![name_col(), c("Reference", "string", 0, ""), c("Targets", "string", 0, ""), c("MinPods", "string", 0, ""), c("MaxPods", "string", 0, ""),
                c("Replicas", "string", 0, ""), age_col()],
            move |o| {
                let min = o.pointer("/spec/minReplicas").and_then(Value::as_i64).map_or("<unset>".to_string(), |n| n.to_string());
                vec![name(o), json!(format!("{}/{}", s(o, "/spec/scaleTargetRef/kind"), s(o, "/spec/scaleTargetRef/name"))), json!(hpa_metrics(o)),
                    json!(min), json!(i(o, "/spec/maxReplicas")), json!(i(o, "/status/currentReplicas")), age(o)]
            },
        ),
        ("certificates.k8s.io", "CertificateSigningRequest") => def(
            vec![name_col(), age_col(), c("SignerName", "string", 0, ""), c("Requestor", "string", 0, ""), c("RequestedDuration", "string", 0, ""),
                c("Condition", "string", 0, "")],
            move |o| {
                let signer = match s(o, "/spec/signerName") { "" => "<none>", x => x };
                let duration = o.pointer("/spec/expirationSeconds").and_then(Value::as_i64).map_or("<none>".to_string(), human_seconds);
                vec![name(o), age(o), json!(signer), json!(s(o, "/spec/username")), json!(duration), json!(csr_condition(o))]
            },
        ),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema") => def(
            vec![name_col(), c("PriorityLevel", "string", 0, ""), c("MatchingPrecedence", "string", 0, ""), c("DistinguisherMethod", "string", 0, ""), age_col(),
                c("MissingPL", "string", 0, "references a broken or non-existent PriorityLevelConfiguration")],
            move |o| {
                let method = match o.pointer("/spec/distinguisherMethod") {
                    Some(m) if m.is_object() => s(m, "/type"),
                    _ => "<none>",
                };
                let dangling = arr(o, "/status/conditions").iter().find(|c| s(c, "/type") == "Dangling").map_or("?", |c| s(c, "/status"));
                vec![name(o), json!(s(o, "/spec/priorityLevelConfiguration/name")), json!(i(o, "/spec/matchingPrecedence")), json!(method), age(o), json!(dangling)]
            },
        ),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration") => def(
            vec![name_col(), c("Type", "string", 0, ""), c("NominalConcurrencyShares", "string", 0, ""), c("Queues", "string", 0, ""), c("HandSize", "string", 0, ""),
                c("QueueLengthLimit", "string", 0, ""), age_col()],
            move |o| {
                let none = || json!("<none>");
                let (mut ncs, mut queues, mut hand, mut limit) = (none(), none(), none(), none());
                if let Some(l) = o.pointer("/spec/limited").filter(|l| l.is_object()) {
                    ncs = json!(i(l, "/nominalConcurrencyShares"));
                    if let Some(q) = l.pointer("/limitResponse/queuing").filter(|q| q.is_object()) {
                        (queues, hand, limit) = (json!(i(q, "/queues")), json!(i(q, "/handSize")), json!(i(q, "/queueLengthLimit")));
                    }
                }
                vec![name(o), json!(s(o, "/spec/type")), ncs, queues, hand, limit, age(o)]
            },
        ),
        ("apiregistration.k8s.io", "APIService") => def(
            vec![name_col(), c("Service", "string", 0, "The reference to the service that hosts this API endpoint."),
                c("Available", "string", 0, "Whether this service is available."), age_col()],
            move |o| {
                let service = match o.pointer("/spec/service") {
                    Some(svc) if svc.is_object() => format!("{}/{}", s(svc, "/namespace"), s(svc, "/name")),
                    _ => "Local".into(),
                };
                let available = match arr(o, "/status/conditions").iter().find(|c| s(c, "/type") == "Available") {
                    None => "Unknown".to_string(),
                    Some(c) if s(c, "/status") == "True" || s(c, "/reason").is_empty() => s(c, "/status").to_string(),
                    Some(c) => format!("{} ({})", s(c, "/status"), s(c, "/reason")),
                };
                vec![name(o), json!(service), json!(available), age(o)]
            },
        ),
        ("scheduling.k8s.io", "PriorityClass") => def(
            vec![name_col(), c("Value", "integer", 0, ""), c("Global-Default", "boolean", 0, ""), age_col(), c("PreemptionPolicy", "string", 0, "")],
            move |o| {
                let global = o.get("globalDefault").and_then(Value::as_bool).unwrap_or(false);
                vec![name(o), json!(i(o, "/value")), json!(global), age(o), json!(s(o, "/preemptionPolicy"))]
            },
        ),
        ("node.k8s.io", "RuntimeClass") => def(vec![name_col(), c("Handler", "string", 0, ""), age_col()], move |o| {
            vec![name(o), json!(s(o, "/handler")), age(o)]
        }),
        _ => None,
    }
}

/// `printResourceQuota`: `resource: used/hard` of every `status.hard` resource, sorted by
/// name; `limits.*` go to the Limit column, everything else to Request.
fn quota_columns(o: &Value) -> (String, String) {
    let mut names: Vec<&String> = o.pointer("/status/hard").and_then(Value::as_object).map(|m| m.keys().collect()).unwrap_or_default();
    names.sort();
    let (mut request, mut limit) = (Vec::new(), Vec::new());
    for r in names {
        let used = quantity(o.pointer("/status/used").and_then(|u| u.get(r.as_str())));
        let hard = quantity(o.pointer("/status/hard").and_then(|h| h.get(r.as_str())));
        let to = if r.starts_with("limits.") { &mut limit } else { &mut request };
        to.push(format!("{r}: {used}/{hard}"));
    }
    (request.join(", "), limit.join(", "))
}

/// The ParamRef cell of a policy binding.
fn param_ref(pr: Option<&Value>) -> String {
    let Some(pr) = pr.filter(|p| p.is_object()) else { return "<unset>".into() };
    match (s(pr, "/name"), s(pr, "/namespace")) {
        ("", _) => match pr.get("selector") {
            Some(sel) if sel.is_object() => label_selector_go_string(sel),
            _ => "<unset>".into(),
        },
        (n, "") => format!("*/{n}"),
        (n, ns) => format!("{ns}/{n}"),
    }
}

/// The generated `(*metav1.LabelSelector).String()`, e.g.
/// `&LabelSelector{MatchLabels:map[string]string{app: x,},MatchExpressions:[]LabelSelectorRequirement{},}`.
fn label_selector_go_string(sel: &Value) -> String {
    let mut labels: Vec<(&String, &Value)> = sel.get("matchLabels").and_then(Value::as_object).map(|m| m.iter().collect()).unwrap_or_default();
    labels.sort_by(|a, b| a.0.cmp(b.0));
    let labels: String = labels.iter().map(|(k, v)| format!("{k}: {},", v.as_str().unwrap_or_default())).collect();
    let exprs: String = arr(sel, "/matchExpressions")
        .iter()
        .map(|e| {
            let values: Vec<&str> = arr(e, "/values").iter().filter_map(Value::as_str).collect();
            format!("LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},", s(e, "/key"), s(e, "/operator"), values.join(" "))
        })
        .collect();
    format!("&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")
}

/// `metav1.GetControllerOf` + `formatResourceName(groupKind, name, withKind)`.
fn controller_of(o: &Value) -> String {
    let Some(r) = arr(o, "/metadata/ownerReferences").iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true)) else {
        return "<none>".into();
    };
    let group = s(r, "/apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
    let kind = s(r, "/kind");
    match (kind, group) {
        ("", "") => s(r, "/name").to_string(),
        (k, "") => format!("{}/{}", k.to_lowercase(), s(r, "/name")),
        (k, g) => format!("{}.{}/{}", k.to_lowercase(), g.to_lowercase(), s(r, "/name")),
    }
}

/// `extractCSRStatus`.
fn csr_condition(o: &Value) -> String {
    let has = |t: &str| arr(o, "/status/conditions").iter().any(|c| s(c, "/type") == t);
    let mut status = if has("Denied") { "Denied" } else if has("Approved") { "Approved" } else { "Pending" }.to_string();
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !s(o, "/status/certificate").is_empty() {
        status.push_str(",Issued");
    }
    status
}

/// `formatHPAMetrics`: the first two metrics as `current/target`, then "+ N more...".
fn hpa_metrics(o: &Value) -> String {
    // An autoscaling/v1 object prints as its internal (v2) form: the CPU target is a metric.
    let v1_target = if o.pointer("/spec/metrics").is_none() { o.pointer("/spec/targetCPUUtilizationPercentage") } else { None };
    if let Some(target) = v1_target.filter(|t| !t.is_null()) {
        let current: Vec<Value> = o
            .pointer("/status/currentCPUUtilizationPercentage")
            .filter(|c| !c.is_null())
            .map(|c| json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": c}}}))
            .into_iter()
            .collect();
        let v2 = json!({"spec": {"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": target}}}]},
            "status": {"currentMetrics": current}});
        return hpa_metrics(&v2);
    }
    let specs = arr(o, "/spec/metrics");
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = arr(o, "/status/currentMetrics");
    let list: Vec<String> = specs.iter().enumerate().map(|(n, spec)| hpa_metric(spec, statuses.get(n))).collect();
    if list.len() > 2 {
        return format!("{} + {} more...", list[..2].join(", "), list.len() - 2);
    }
    list.join(", ")
}

fn hpa_metric(spec: &Value, status: Option<&Value>) -> String {
    let ty = s(spec, "/type");
    let source = match ty {
        "External" => "external",
        "Pods" => "pods",
        "Object" => "object",
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        _ => return "<unknown type>".into(),
    };
    let src = spec.get(source).cloned().unwrap_or(Value::Null);
    // The status of the same index, when it reports this source.
    let cur = status.and_then(|st| st.get(source)).filter(|c| c.is_object());
    let current = |field: &str| cur.and_then(|c| c.pointer(&format!("/current/{field}"))).filter(|v| !v.is_null());
    let unknown = || "<unknown>".to_string();
    let target_avg = src.pointer("/target/averageValue").filter(|v| !v.is_null());
    // Every quantity is a pointer upstream: a nil one prints "<nil>".
    let q = |v: Option<&Value>| if v.is_none_or(Value::is_null) { "<nil>".to_string() } else { quantity(v) };
    match ty {
        "External" | "Object" => match target_avg {
            Some(t) => format!("{}/{} (avg)", current("averageValue").map_or_else(unknown, |v| q(Some(v))), q(Some(t))),
            None => format!("{}/{}", cur.map_or_else(unknown, |_| q(current("value"))), q(src.pointer("/target/value"))),
        },
        "Pods" => format!("{}/{}", cur.map_or_else(unknown, |_| q(current("averageValue"))), q(target_avg)),
        _ => {
            let res = s(&src, "/name");
            match target_avg {
                Some(t) => format!("{res}: {}/{}", cur.map_or_else(unknown, |_| q(current("averageValue"))), q(Some(t))),
                None => {
                    let pct = |v: Option<&Value>| v.and_then(Value::as_i64).map(|n| format!("{n}%"));
                    let current = pct(current("averageUtilization")).unwrap_or_else(unknown);
                    let target = pct(src.pointer("/target/averageUtilization")).unwrap_or_else(|| "<auto>".into());
                    format!("{res}: {current}/{target}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_refs_and_controllers() {
        assert_eq!(param_ref(None), "<unset>");
        assert_eq!(param_ref(Some(&json!({"name": "p"}))), "*/p");
        let sel = json!({"selector": {"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]}});
        assert_eq!(param_ref(Some(&sel)), "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,Values:[x y],},},}");
        let cr = json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]}});
        assert_eq!(controller_of(&cr), "statefulset.apps/web");
        let cr = json!({"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "controller": true}]}});
        assert_eq!(controller_of(&cr), "configmap/c");
    }

    #[test]
    fn hpa_targets() {
        let o = json!({"spec": {"metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}},
            {"type": "External", "external": {"target": {"averageValue": "3"}}}]},
            "status": {"currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 7}}}]}});
        assert_eq!(hpa_metrics(&o), "cpu: 7%/<auto>, <unknown>/3 (avg)");
        assert_eq!(hpa_metrics(&json!({})), "<none>");
        let v1 = json!({"spec": {"targetCPUUtilizationPercentage": 80}, "status": {"currentCPUUtilizationPercentage": 12}});
        assert_eq!(hpa_metrics(&v1), "cpu: 12%/80%");
        assert_eq!(hpa_metrics(&json!({"spec": {"targetCPUUtilizationPercentage": 80}})), "cpu: <unknown>/80%");
    }
}
