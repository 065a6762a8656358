//! HorizontalPodAutoscaler conversion between autoscaling/v2 and autoscaling/v1, as
//! kube-apiserver 1.35.4 does it (pkg/apis/autoscaling/v1/conversion.go): v1 keeps only the CPU
//! utilization target and carries everything else in round-trip annotations (other metrics,
//! current metrics, conditions, and `behavior` in the internal type's Go field names); v1 with
//! no metrics at all means 80% CPU.

use serde_json::{json, Map, Value};

const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
const CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";
const ROUND_TRIP: [&str; 4] = [METRICS, CURRENT_METRICS, CONDITIONS, BEHAVIOR];

/// Copy `keys` of `from` that are present and not null, in that order.
fn pick(from: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter().filter_map(|k| from.get(*k).filter(|v| !v.is_null()).map(|v| (k.to_string(), v.clone()))).collect()
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<&Value>) {
    if let Some(v) = v.filter(|v| !v.is_null()) {
        m.insert(k.into(), v.clone());
    }
}

/// A v2 MetricIdentifier.
fn identifier(name: &Value, selector: Option<&Value>) -> Value {
    let mut id = Map::new();
    id.insert("name".into(), name.clone());
    put(&mut id, "selector", selector);
    Value::Object(id)
}

/// A v1 `resource.Quantity` field that is not a pointer: "0" when unset.
fn quantity_or_zero(v: Option<&Value>) -> Value {
    v.filter(|v| !v.is_null()).cloned().unwrap_or(json!("0"))
}

fn is_cpu_utilization(m: &Value) -> bool {
    m["type"] == "Resource" && m["resource"]["name"] == "cpu" && m["resource"]["target"].get("averageUtilization").is_some_and(|u| !u.is_null())
}

/// The object with spec and status replaced, other top-level fields in place.
fn rebuild(obj: &Value, api_version: &str, annotations: Option<Map<String, Value>>, spec: Value, status: Value) -> Value {
    let mut out = Map::new();
    for (k, v) in obj.as_object().into_iter().flatten() {
        match k.as_str() {
            "apiVersion" => { out.insert(k.clone(), json!(api_version)); }
            "spec" => { out.insert(k.clone(), spec.clone()); }
            "status" => { out.insert(k.clone(), status.clone()); }
            "metadata" => {
                let mut md = v.as_object().cloned().unwrap_or_default();
                match &annotations {
                    Some(a) if !a.is_empty() => { md.insert("annotations".into(), Value::Object(a.clone())); }
                    _ => { md.remove("annotations"); }
                }
                out.insert(k.clone(), Value::Object(md));
            }
            _ => { out.insert(k.clone(), v.clone()); }
        }
    }
    out.entry("spec").or_insert(spec);
    out.entry("status").or_insert(status);
    Value::Object(out)
}

/// The object's annotations without the round-trip ones.
fn plain_annotations(obj: &Value) -> Map<String, Value> {
    let mut a = obj.pointer("/metadata/annotations").and_then(Value::as_object).cloned().unwrap_or_default();
    for k in ROUND_TRIP {
        a.remove(k);
    }
    a
}

fn annotation_json(obj: &Value, key: &str) -> Option<Value> {
    obj.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str).and_then(|s| serde_json::from_str(s).ok())
}

/// An HPA in autoscaling/v2's shape, from either version's stored form. A v1 object's status may
/// also hold v2's `conditions`/`currentMetrics` (what the embedded controller writes); they win
/// over the annotations.
pub fn to_v2(obj: &Value) -> Value {
    if obj["apiVersion"] != "autoscaling/v1" {
        return obj.clone();
    }
    let (spec, st) = (&obj["spec"], &obj["status"]);
    let mut metrics: Vec<Value> = annotation_json(obj, METRICS).and_then(|v| v.as_array().cloned()).unwrap_or_default().iter().map(metric_spec_v1_to_v2).collect();
    if let Some(pct) = spec.get("targetCPUUtilizationPercentage").filter(|v| !v.is_null()) {
        metrics.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": pct}}}));
    }
    if metrics.is_empty() {
        metrics.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}));
    }
    let mut s = pick(spec, &["scaleTargetRef", "minReplicas", "maxReplicas"]);
    s.insert("metrics".into(), Value::Array(metrics));
    if let Some(b) = annotation_json(obj, BEHAVIOR).map(|b| behavior_from_go(&b)).filter(|b| b.as_object().is_some_and(|m| !m.is_empty())) {
        s.insert("behavior".into(), b);
    }
    let mut status = pick(st, &["observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"]);
    let current = st.get("currentMetrics").filter(|v| !v.is_null()).cloned()
        .or_else(|| annotation_json(obj, CURRENT_METRICS).and_then(|v| v.as_array().map(|a| Value::Array(a.iter().map(metric_status_v1_to_v2).collect()))))
        .or_else(|| st.get("currentCPUUtilizationPercentage").filter(|v| !v.is_null())
            .map(|p| json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": p}}}])));
    status.insert("currentMetrics".into(), current.unwrap_or(Value::Null));
    put(&mut status, "conditions", st.get("conditions").filter(|c| !c.is_null()).or(annotation_json(obj, CONDITIONS).as_ref()));
    rebuild(obj, "autoscaling/v2", Some(plain_annotations(obj)), Value::Object(s), Value::Object(status))
}

/// An HPA in autoscaling/v1's shape (from v2's).
pub fn to_v1(v2: &Value) -> Value {
    let (spec, st) = (&v2["spec"], &v2["status"]);
    let metrics = spec["metrics"].as_array().cloned().unwrap_or_default();
    let mut s = pick(spec, &["scaleTargetRef", "minReplicas", "maxReplicas"]);
    if let Some(cpu) = metrics.iter().find(|m| is_cpu_utilization(m)) {
        s.insert("targetCPUUtilizationPercentage".into(), cpu["resource"]["target"]["averageUtilization"].clone());
    }
    let mut annotations = plain_annotations(v2);
    let mut note = |k: &str, v: Value| {
        annotations.insert(k.into(), json!(serde_json::to_string(&v).unwrap_or_default()));
    };
    let other: Vec<Value> = metrics.iter().filter(|m| !is_cpu_utilization(m)).map(metric_spec_v2_to_v1).collect();
    if !other.is_empty() {
        note(METRICS, Value::Array(other));
    }
    let current = st["currentMetrics"].as_array().cloned().unwrap_or_default();
    if !current.is_empty() {
        note(CURRENT_METRICS, Value::Array(current.iter().map(metric_status_v2_to_v1).collect()));
    }
    if let Some(b) = spec.get("behavior").filter(|b| !b.is_null()) {
        note(BEHAVIOR, behavior_to_go(b));
    }
    if let Some(c) = st["conditions"].as_array().filter(|c| !c.is_empty()) {
        // Inside a string the field order shows: v1's HorizontalPodAutoscalerCondition's.
        note(CONDITIONS, Value::Array(c.iter().map(|c| Value::Object(pick(c, &["type", "status", "lastTransitionTime", "reason", "message"]))).collect()));
    }
    // Go encodes a map with its keys sorted.
    let mut sorted: Vec<(String, Value)> = annotations.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut status = pick(st, &["observedGeneration", "lastScaleTime", "currentReplicas"]);
    status.insert("desiredReplicas".into(), st.get("desiredReplicas").cloned().unwrap_or(json!(0)));
    if let Some(u) = current.iter().find(|m| m["type"] == "Resource" && m["resource"]["name"] == "cpu").and_then(|m| m["resource"]["current"].get("averageUtilization")).filter(|u| !u.is_null()) {
        status.insert("currentCPUUtilizationPercentage".into(), u.clone());
    }
    rebuild(v2, "autoscaling/v1", Some(sorted.into_iter().collect()), Value::Object(s), Value::Object(status))
}

/// v2 MetricSpec → v1's (v2beta1-style) MetricSpec of the metrics annotation.
fn metric_spec_v2_to_v1(m: &Value) -> Value {
    let t = m["type"].as_str().unwrap_or("");
    let mut out = Map::new();
    out.insert("type".into(), json!(t));
    let (key, body) = match t {
        "Object" => {
            let o = &m["object"];
            let mut b = Map::new();
            b.insert("target".into(), o.get("describedObject").cloned().unwrap_or(json!({})));
            b.insert("metricName".into(), o["metric"]["name"].clone());
            b.insert("targetValue".into(), quantity_or_zero(o["target"].get("value")));
            put(&mut b, "selector", o["metric"].get("selector"));
            put(&mut b, "averageValue", o["target"].get("averageValue"));
            ("object", b)
        }
        "Pods" => {
            let p = &m["pods"];
            let mut b = Map::new();
            b.insert("metricName".into(), p["metric"]["name"].clone());
            b.insert("targetAverageValue".into(), quantity_or_zero(p["target"].get("averageValue")));
            put(&mut b, "selector", p["metric"].get("selector"));
            ("pods", b)
        }
        "Resource" | "ContainerResource" => {
            let key = if t == "Resource" { "resource" } else { "containerResource" };
            let r = &m[key];
            let mut b = Map::new();
            b.insert("name".into(), r["name"].clone());
            put(&mut b, "targetAverageUtilization", r["target"].get("averageUtilization"));
            put(&mut b, "targetAverageValue", r["target"].get("averageValue"));
            if t == "ContainerResource" {
                b.insert("container".into(), r["container"].clone());
            }
            (key, b)
        }
        "External" => {
            let e = &m["external"];
            let mut b = Map::new();
            b.insert("metricName".into(), e["metric"]["name"].clone());
            put(&mut b, "metricSelector", e["metric"].get("selector"));
            put(&mut b, "targetValue", e["target"].get("value"));
            put(&mut b, "targetAverageValue", e["target"].get("averageValue"));
            ("external", b)
        }
        _ => return Value::Object(out),
    };
    out.insert(key.into(), Value::Object(body));
    Value::Object(out)
}

/// v1 MetricSpec (from the annotation) → v2's.
fn metric_spec_v1_to_v2(m: &Value) -> Value {
    let t = m["type"].as_str().unwrap_or("");
    match t {
        "Object" => {
            let o = &m["object"];
            let avg = o.get("averageValue").filter(|v| !v.is_null());
            let mut target = Map::new();
            target.insert("type".into(), json!(if avg.is_none() { "Value" } else { "AverageValue" }));
            target.insert("value".into(), quantity_or_zero(o.get("targetValue")));
            put(&mut target, "averageValue", avg);
            json!({"type": t, "object": {"describedObject": o["target"], "target": target, "metric": identifier(&o["metricName"], o.get("selector"))}})
        }
        "Pods" => {
            let p = &m["pods"];
            json!({"type": t, "pods": {"metric": identifier(&p["metricName"], p.get("selector")),
                "target": {"type": "AverageValue", "averageValue": quantity_or_zero(p.get("targetAverageValue"))}}})
        }
        "Resource" | "ContainerResource" => {
            let key = if t == "Resource" { "resource" } else { "containerResource" };
            let r = &m[key];
            let util = r.get("targetAverageUtilization").filter(|v| !v.is_null());
            let mut target = Map::new();
            target.insert("type".into(), json!(if util.is_none() { "AverageValue" } else { "Utilization" }));
            put(&mut target, "averageUtilization", util);
            put(&mut target, "averageValue", r.get("targetAverageValue"));
            let mut body = Map::new();
            body.insert("name".into(), r["name"].clone());
            if t == "ContainerResource" {
                body.insert("container".into(), r["container"].clone());
            }
            body.insert("target".into(), Value::Object(target));
            json!({"type": t, key: body})
        }
        "External" => {
            let e = &m["external"];
            let value = e.get("targetValue").filter(|v| !v.is_null());
            let mut target = Map::new();
            target.insert("type".into(), json!(if value.is_none() { "AverageValue" } else { "Value" }));
            put(&mut target, "value", value);
            put(&mut target, "averageValue", e.get("targetAverageValue"));
            json!({"type": t, "external": {"metric": identifier(&e["metricName"], e.get("metricSelector")), "target": target}})
        }
        _ => json!({"type": t}),
    }
}

/// v2 MetricStatus → v1's (current-metrics annotation).
fn metric_status_v2_to_v1(m: &Value) -> Value {
    let t = m["type"].as_str().unwrap_or("");
    let mut out = Map::new();
    out.insert("type".into(), json!(t));
    let (key, body) = match t {
        "Resource" | "ContainerResource" => {
            let key = if t == "Resource" { "resource" } else { "containerResource" };
            let r = &m[key];
            let mut b = Map::new();
            b.insert("name".into(), r["name"].clone());
            put(&mut b, "currentAverageUtilization", r["current"].get("averageUtilization"));
            b.insert("currentAverageValue".into(), quantity_or_zero(r["current"].get("averageValue")));
            if t == "ContainerResource" {
                b.insert("container".into(), r["container"].clone());
            }
            (key, b)
        }
        "Pods" => {
            let p = &m["pods"];
            let mut b = Map::new();
            b.insert("metricName".into(), p["metric"]["name"].clone());
            b.insert("currentAverageValue".into(), quantity_or_zero(p["current"].get("averageValue")));
            put(&mut b, "selector", p["metric"].get("selector"));
            ("pods", b)
        }
        "Object" => {
            let o = &m["object"];
            let mut b = Map::new();
            b.insert("target".into(), o.get("describedObject").cloned().unwrap_or(json!({})));
            b.insert("metricName".into(), o["metric"]["name"].clone());
            b.insert("currentValue".into(), quantity_or_zero(o["current"].get("value")));
            put(&mut b, "selector", o["metric"].get("selector"));
            put(&mut b, "averageValue", o["current"].get("averageValue"));
            ("object", b)
        }
        "External" => {
            let e = &m["external"];
            let mut b = Map::new();
            b.insert("metricName".into(), e["metric"]["name"].clone());
            put(&mut b, "metricSelector", e["metric"].get("selector"));
            b.insert("currentValue".into(), quantity_or_zero(e["current"].get("value")));
            put(&mut b, "currentAverageValue", e["current"].get("averageValue"));
            ("external", b)
        }
        _ => return Value::Object(out),
    };
    out.insert(key.into(), Value::Object(body));
    Value::Object(out)
}

/// v1 MetricStatus → v2's.
fn metric_status_v1_to_v2(m: &Value) -> Value {
    let t = m["type"].as_str().unwrap_or("");
    match t {
        "Resource" | "ContainerResource" => {
            let key = if t == "Resource" { "resource" } else { "containerResource" };
            let r = &m[key];
            let mut current = Map::new();
            put(&mut current, "averageUtilization", r.get("currentAverageUtilization"));
            put(&mut current, "averageValue", r.get("currentAverageValue"));
            let mut body = Map::new();
            body.insert("name".into(), r["name"].clone());
            if t == "ContainerResource" {
                body.insert("container".into(), r["container"].clone());
            }
            body.insert("current".into(), Value::Object(current));
            json!({"type": t, key: body})
        }
        "Pods" => {
            let p = &m["pods"];
            json!({"type": t, "pods": {"metric": identifier(&p["metricName"], p.get("selector")), "current": {"averageValue": p["currentAverageValue"]}}})
        }
        "Object" => {
            let o = &m["object"];
            let mut current = Map::new();
            put(&mut current, "value", o.get("currentValue"));
            put(&mut current, "averageValue", o.get("averageValue"));
            json!({"type": t, "object": {"metric": identifier(&o["metricName"], o.get("selector")), "current": current, "describedObject": o["target"]}})
        }
        "External" => {
            let e = &m["external"];
            let mut current = Map::new();
            put(&mut current, "value", e.get("currentValue"));
            put(&mut current, "averageValue", e.get("currentAverageValue"));
            json!({"type": t, "external": {"metric": identifier(&e["metricName"], e.get("metricSelector")), "current": current}})
        }
        _ => json!({"type": t}),
    }
}

const RULE_FIELDS: [(&str, &str); 4] =
    [("stabilizationWindowSeconds", "StabilizationWindowSeconds"), ("selectPolicy", "SelectPolicy"), ("policies", "Policies"), ("tolerance", "Tolerance")];
const POLICY_FIELDS: [(&str, &str); 3] = [("type", "Type"), ("value", "Value"), ("periodSeconds", "PeriodSeconds")];

/// `behavior` as Go marshals the internal type (no json tags: field names, nil pointers as null).
fn behavior_to_go(b: &Value) -> Value {
    let rules = |r: &Value| -> Value {
        if r.is_null() {
            return Value::Null;
        }
        let mut out = Map::new();
        for (json_name, go) in RULE_FIELDS {
            let v = r.get(json_name).cloned().unwrap_or(Value::Null);
            let v = if json_name == "policies" {
                Value::Array(v.as_array().into_iter().flatten().map(|p| Value::Object(POLICY_FIELDS.iter().map(|(j, g)| (g.to_string(), p.get(*j).cloned().unwrap_or(Value::Null))).collect())).collect())
            } else {
                v
            };
            out.insert(go.into(), v);
        }
        Value::Object(out)
    };
    json!({"ScaleUp": rules(b.get("scaleUp").unwrap_or(&Value::Null)), "ScaleDown": rules(b.get("scaleDown").unwrap_or(&Value::Null))})
}

/// The behavior annotation back to v2's `behavior` (nulls dropped).
fn behavior_from_go(b: &Value) -> Value {
    let rules = |r: &Value| -> Option<Value> {
        let r = r.as_object()?;
        let mut out = Map::new();
        for (json_name, go) in RULE_FIELDS {
            let Some(v) = r.get(go).filter(|v| !v.is_null()) else { continue };
            let v = if json_name == "policies" {
                Value::Array(v.as_array().into_iter().flatten().map(|p| Value::Object(POLICY_FIELDS.iter().filter_map(|(j, g)| p.get(*g).filter(|v| !v.is_null()).map(|v| (j.to_string(), v.clone()))).collect())).collect())
            } else {
                v.clone()
            };
            out.insert(json_name.into(), v);
        }
        Some(Value::Object(out))
    };
    let mut out = Map::new();
    for (j, g) in [("scaleUp", "ScaleUp"), ("scaleDown", "ScaleDown")] {
        if let Some(r) = b.get(g).and_then(rules) {
            out.insert(j.into(), r);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2() -> Value {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "two", "namespace": "default", "annotations": {"team": "web"}},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "minReplicas": 1, "maxReplicas": 3,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
                    {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}},
                    // Last: v1 → v2 puts the CPU target after the annotation's metrics.
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}},
            "status": {"currentReplicas": 1, "desiredReplicas": 0, "currentMetrics": [{"type": ""}],
                "conditions": [{"type": "AbleToScale", "status": "True", "lastTransitionTime": "2026-11-30T22:33:22Z", "reason": "SucceededGetScale", "message": "m"}]}})
    }

    /// What kube-apiserver 1.35.4 answered for this object at autoscaling/v1 (captured on kwok).
    #[test]
    fn v2_to_v1_keeps_the_cpu_target_and_annotates_the_rest() {
        let v1 = to_v1(&v2());
        assert_eq!(v1["apiVersion"], "autoscaling/v1");
        assert_eq!(v1["spec"], json!({"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 60}));
        assert_eq!(v1["status"], json!({"currentReplicas": 1, "desiredReplicas": 0}));
        let a = v1["metadata"]["annotations"].as_object().unwrap();
        assert_eq!(a.keys().collect::<Vec<_>>(), [BEHAVIOR, CONDITIONS, CURRENT_METRICS, METRICS, "team"]);
        assert_eq!(a[METRICS], r#"[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}},{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10"}}]"#);
        assert_eq!(a[CURRENT_METRICS], r#"[{"type":""}]"#);
        assert_eq!(a[BEHAVIOR], r#"{"ScaleUp":null,"ScaleDown":{"StabilizationWindowSeconds":60,"SelectPolicy":"Max","Policies":[{"Type":"Percent","Value":100,"PeriodSeconds":15}],"Tolerance":null}}"#);
        assert!(a[CONDITIONS].as_str().unwrap().starts_with(r#"[{"type":"AbleToScale","status":"True""#));
    }

    #[test]
    fn v1_round_trips_back_to_the_same_v2() {
        assert_eq!(to_v2(&to_v1(&v2())), v2());
    }

    #[test]
    fn v1_without_a_target_means_80_percent_cpu() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "one"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3, "minReplicas": 1}, "status": {"currentReplicas": 1, "desiredReplicas": 0}});
        let v2 = to_v2(&v1);
        assert_eq!(v2["spec"]["metrics"], json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]));
        assert_eq!(v2["status"], json!({"currentReplicas": 1, "desiredReplicas": 0, "currentMetrics": null}));
        assert!(v2["metadata"].get("annotations").is_none());
        // Read back at v1, the default shows as an explicit target (as kube-apiserver answers).
        assert_eq!(to_v1(&v2)["spec"]["targetCPUUtilizationPercentage"], 80);
    }
}
