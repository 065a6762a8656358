//! kube-controller-manager's HorizontalPodAutoscaler controller, as it behaves on a kind
//! cluster, which has no metrics-server: it reads the target's scale, holds replicas within
//! `minReplicas`..`maxReplicas` (the rescale that needs no metrics), and reports resource
//! metrics — resource, pods, object and external alike — as unavailable with the
//! controller's own conditions and events, after checking that no other autoscaler selects
//! the same pods (`AmbiguousSelector`)
//! (`pkg/controller/podautoscaler/horizontal.go` `reconcileAutoscaler`). Every autoscaler is
//! synced every 15 s (`--horizontal-pod-autoscaler-sync-period`) on the cluster's clock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::clock::Clock;
use super::util::{self, Dirty, KCM};
use super::Controller;
use crate::api::object::{self, At};
use crate::api::selectors::LabelSelector;
use crate::events::{self, EventType};
use crate::registry::split_api_version;
use crate::server::{meta, ApiServer};
use crate::store::StoreEvent;

const KEY: &str = "autoscaling/horizontalpodautoscalers";
const COMPONENT: &str = "horizontal-pod-autoscaler";
/// `--horizontal-pod-autoscaler-sync-period`.
const SYNC_PERIOD: chrono::Duration = chrono::Duration::seconds(15);
/// What the resource metrics API answers when no metrics-server serves it.
const NO_RESOURCE_METRICS: &str = "unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)";

/// Each autoscaler's target selector as of its last metric computation, by (namespace,
/// name): the controller's `hpaSelectors`, which finds pods two autoscalers fight over.
type Selectors = Mutex<HashMap<(String, String), LabelSelector>>;

pub struct HpaController {
    dirty: Dirty,
    clock: Clock,
    next_sync: Mutex<Option<DateTime<Utc>>>,
    selectors: Selectors,
}

impl HpaController {
    pub fn new(clock: Clock) -> Self {
        HpaController { dirty: Dirty::default(), clock, next_sync: Mutex::new(None), selectors: Mutex::default() }
    }
}

impl Controller for HpaController {
    fn name(&self) -> &'static str {
        "horizontal-pod-autoscaler"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        // A new autoscaler or a spec change is synced at once; status writes (its own, too) and
        // target changes wait for the periodic sync, as with the real controller's queue.
        let generation = |o: &Value| o.at("/metadata/generation").cloned();
        match &*ev.key {
            KEY if ev.kind == crate::store::EventType::Deleted => {
                self.selectors.lock().remove(&(ev.namespace.clone(), ev.name.clone()));
                false
            }
            KEY if ev.prev.as_ref().is_none_or(|p| generation(p) != generation(&ev.object)) => {
                self.dirty.add(&ev.namespace, &ev.name)
            }
            _ => false,
        }
    }

    fn next_wake(&self) -> Option<DateTime<Utc>> {
        *self.next_sync.lock()
    }

    fn reconcile(&self, server: &ApiServer) {
        let now = self.clock.now();
        let due = self.next_sync.lock().is_some_and(|at| at <= now);
        if due {
            self.dirty.all();
        }
        for hpa in self.dirty.take(server, KEY) {
            if !object::is_deleting(&hpa) {
                sync(server, &hpa, &self.selectors);
            }
        }
        let any = !server.store.list(KEY, None).0.is_empty();
        let mut next = self.next_sync.lock();
        if !any {
            *next = None;
        } else if due || next.is_none() {
            *next = Some(now + SYNC_PERIOD);
        }
    }
}

/// The status being built, in autoscaling/v2's shape.
struct Status {
    current: i64,
    desired: i64,
    last_scale: Value,
    metrics: Option<Vec<Value>>,
    conditions: Vec<Value>,
}

impl Status {
    /// `setConditionInList`: lastTransitionTime changes only with the status.
    fn set_condition(&mut self, ty: &str, status: bool, reason: &str, message: &str) {
        let status = if status { "True" } else { "False" };
        let i = match self.conditions.iter().position(|c| c["type"] == ty) {
            Some(i) => i,
            None => {
                self.conditions.push(json!({"type": ty}));
                self.conditions.len() - 1
            }
        };
        let c = &mut self.conditions[i];
        if c["status"] != status {
            c["lastTransitionTime"] = json!(meta::now_rfc3339());
        }
        c["status"] = json!(status);
        c["reason"] = json!(reason);
        c["message"] = json!(message);
    }

    fn to_json(&self) -> Value {
        let mut st = json!({"desiredReplicas": self.desired});
        if self.current != 0 {
            st["currentReplicas"] = json!(self.current);
        }
        if !self.last_scale.is_null() {
            st["lastScaleTime"] = self.last_scale.clone();
        }
        if let Some(m) = &self.metrics {
            st["currentMetrics"] = json!(m);
        }
        if !self.conditions.is_empty() {
            st["conditions"] = json!(self.conditions);
        }
        st
    }
}

/// The metrics an autoscaler asks for, as autoscaling/v2 specs (v1's CPU target, and the
/// API server's default of 80% CPU, included).
fn metric_specs(hpa: &Value) -> Vec<Value> {
    let cpu = |pct: &Value| json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": pct}}});
    if let Some(m) = hpa.at("/spec/metrics").and_then(Value::as_array).filter(|m| !m.is_empty()) {
        return m.clone();
    }
    vec![cpu(hpa.at("/spec/targetCPUUtilizationPercentage").filter(|v| !v.is_null()).unwrap_or(&json!(80)))]
}

/// What the custom metrics client answers when discovery has no custom.metrics.k8s.io
/// (`k8s.io/metrics` `apiVersionsFromDiscovery.fetchVersions`), as `GetRawMetric` and
/// `GetObjectMetric` wrap it.
const NO_CUSTOM_METRICS: &str = "unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered";

/// Why one metric cannot be computed without a metrics API: (condition reason, the error
/// the condition and event carry, the error `computeReplicasForMetric` wraps it in).
/// Each source fails as `horizontal.go` and `replica_calculator.go` word it when no
/// metrics-server, custom metrics adapter or external metrics adapter is installed.
fn metric_error(spec: &Value, ns: &str) -> Option<(&'static str, String, String)> {
    let str_at = |v: &Value, p: &str| v.at(p).and_then(Value::as_str).unwrap_or("").to_string();
    let set = |v: &Value, p: &str| v.at(p).is_some_and(|x| !x.is_null());
    match spec["type"].as_str()? {
        ty @ ("Resource" | "ContainerResource") => {
            let source = if ty == "Resource" { &spec["resource"] } else { &spec["containerResource"] };
            let name = str_at(source, "/name");
            let what = if set(source, "/target/averageValue") { "usage" } else { "utilization" };
            let err = format!("failed to get {name} {what}: unable to get metrics for resource {name}: {NO_RESOURCE_METRICS}");
            Some(if ty == "Resource" {
                ("FailedGetResourceMetric", err.clone(), format!("failed to get {name} resource metric value: {err}"))
            } else {
                ("FailedGetContainerResourceMetric", err.clone(), format!("failed to get {} container metric value: {err}", str_at(source, "/container")))
            })
        }
        "Pods" => {
            let err = format!("unable to get metric {}: {NO_CUSTOM_METRICS}", str_at(spec, "/pods/metric/name"));
            Some(("FailedGetPodsMetric", err.clone(), format!("failed to get pods metric value: {err}")))
        }
        "Object" => {
            let o = &spec["object"];
            let name = str_at(o, "/metric/name");
            let err = format!("unable to get metric {name}: {} on {ns} {}/{NO_CUSTOM_METRICS}", str_at(o, "/describedObject/kind"), str_at(o, "/describedObject/name"));
            let returned = if set(o, "/target/value") { err.clone() } else { format!("failed to get {name} object metric: {err}") };
            Some(("FailedGetObjectMetric", err, format!("failed to get object metric value: {returned}")))
        }
        "External" => {
            let e = &spec["external"];
            let name = str_at(e, "/metric/name");
            // The external metrics client asks its group directly; kube-apiserver answers
            // a group nobody serves with a bare 404.
            let err = format!(
                "unable to get external metric {ns}/{name}/{}: unable to fetch metrics from external metrics API: the server could not find the requested resource (get {name}.external.metrics.k8s.io)",
                go_label_selector(e.at("/metric/selector"))
            );
            let returned = if set(e, "/target/averageValue") { format!("failed to get {name} external metric: {err}") } else { format!("failed to get external metric {name}: {err}") };
            Some(("FailedGetExternalMetric", err, format!("failed to get {name} external metric value: {returned}")))
        }
        _ => None,
    }
}

/// A `*metav1.LabelSelector` as Go's `%+v` prints it (its generated `String()`).
fn go_label_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|s| !s.is_null()) else { return "nil".into() };
    let mut labels: Vec<(&String, &Value)> = sel["matchLabels"].as_object().map(|m| m.iter().collect()).unwrap_or_default();
    labels.sort_by_key(|(k, _)| *k);
    let labels: String = labels.iter().map(|(k, v)| format!("{k}: {},", v.as_str().unwrap_or(""))).collect();
    let exprs: String = sel["matchExpressions"].as_array().into_iter().flatten().map(|r| {
        let values: Vec<&str> = r["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        format!("LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},", r["key"].as_str().unwrap_or(""), r["operator"].as_str().unwrap_or(""), values.join(" "))
    }).collect();
    format!("&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")
}

/// `validateAndParseSelector`: the target's scale must have a selector, and the pods it
/// selects no other autoscaler's. Err: (event reason, condition reason, condition message,
/// error).
fn validate_selector(server: &ApiServer, hpa: &Value, scale: &Value, selectors: &Selectors) -> Result<(), [String; 4]> {
    let ns = object::ns_of(hpa);
    let selector = scale.at("/status/selector").and_then(Value::as_str).unwrap_or("");
    if selector.is_empty() {
        let err = "selector is required".to_string();
        return Err(["SelectorRequired".into(), "InvalidSelector".into(), "the HPA target's scale is missing a selector".into(), err]);
    }
    let parsed = match LabelSelector::parse(selector) {
        Ok(p) => p,
        Err(e) => {
            let err = format!("couldn't convert selector into a corresponding internal selector object: {e}");
            return Err(["InvalidSelector".into(), "InvalidSelector".into(), err.clone(), err]);
        }
    };
    let mut known = selectors.lock();
    known.insert((ns.to_string(), object::name_of(hpa).to_string()), parsed.clone());
    // Alone in its namespace, an autoscaler shares no pods: no need to read them.
    if known.keys().filter(|(hpa_ns, _)| hpa_ns == ns).count() < 2 {
        return Ok(());
    }
    let pods: Vec<_> = util::pods(server, Some(ns)).into_iter().filter(|p| parsed.matches(object::labels(p))).collect();
    let mut selecting: Vec<String> = known
        .iter()
        .filter(|((hpa_ns, _), sel)| hpa_ns == ns && pods.iter().any(|p| sel.matches(object::labels(p))))
        .map(|((hpa_ns, name), _)| format!("{hpa_ns}/{name}"))
        .collect();
    if selecting.len() > 1 {
        // Go prints them in map order; sorted here.
        selecting.sort();
        let err = format!("pods by selector {selector} are controlled by multiple HPAs: [{}]", selecting.join(" "));
        return Err(["AmbiguousSelector".into(), "AmbiguousSelector".into(), err.clone(), err]);
    }
    Ok(())
}

fn sync(server: &ApiServer, hpa: &Value, selectors: &Selectors) {
    let ns = object::ns_of(hpa);
    let old = hpa.get("status").cloned().unwrap_or(json!({}));
    let mut st = Status {
        current: old["currentReplicas"].as_i64().unwrap_or(0),
        desired: old["desiredReplicas"].as_i64().unwrap_or(0),
        last_scale: old["lastScaleTime"].clone(),
        metrics: old["currentMetrics"].as_array().cloned(),
        conditions: old["conditions"].as_array().cloned().unwrap_or_default(),
    };
    let target = &hpa["spec"]["scaleTargetRef"];
    let (kind, name) = (target["kind"].as_str().unwrap_or(""), target["name"].as_str().unwrap_or(""));
    let api_version = target["apiVersion"].as_str().unwrap_or("");
    let target_scale = match server.registry.by_kind(api_version, kind).filter(|rt| rt.has_subresource("scale")) {
        Some(rt) => server.get_scale(&rt, Some(ns), name).map(|scale| (rt, scale)).map_err(|e| e.message),
        None => Err(format!("no matches for kind \"{kind}\" in group \"{}\"", split_api_version(api_version).0)),
    };
    let (rt, scale) = match target_scale {
        Ok(found) => found,
        Err(err) => {
            events::record(server, hpa, EventType::Warning, "FailedGetScale", &err, COMPONENT, None);
            st.set_condition("AbleToScale", false, "FailedGetScale", &format!("the HPA controller was unable to get the target's current scale: {err}"));
            return write(server, hpa, &old, &st);
        }
    };
    st.set_condition("AbleToScale", true, "SucceededGetScale", "the HPA controller was able to get the target's current scale");
    let current = scale.at("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
    let min = hpa.at("/spec/minReplicas").and_then(Value::as_i64).unwrap_or(1);
    let max = hpa.at("/spec/maxReplicas").and_then(Value::as_i64).unwrap_or(0);
    let (desired, reason) = if current == 0 && min != 0 {
        st.set_condition("ScalingActive", false, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero");
        (0, None)
    } else if current > max {
        (max, Some("Current number of replicas above Spec.MaxReplicas"))
    } else if current < min {
        (min, Some("Current number of replicas below Spec.MinReplicas"))
    } else {
        if let Err([event, reason, message, err]) = validate_selector(server, hpa, &scale, selectors) {
            events::record(server, hpa, EventType::Warning, &event, &err, COMPONENT, None);
            st.set_condition("ScalingActive", false, &reason, &message);
            st.current = current;
            st.metrics = None;
            write(server, hpa, &old, &st);
            events::record(server, hpa, EventType::Warning, "FailedComputeMetricsReplicas", &err, COMPONENT, None);
            return;
        }
        // computeReplicasForMetrics with no metrics API: every metric fails, so the first
        // failure is the condition, and the status keeps its last desired count.
        let specs = metric_specs(hpa);
        let failures: Vec<_> = specs.iter().filter_map(|m| metric_error(m, ns)).collect();
        if failures.len() < specs.len() {
            // A source type the API server's validation would have refused.
            return;
        }
        for (reason, err, _) in &failures {
            events::record(server, hpa, EventType::Warning, reason, err, COMPONENT, None);
        }
        let (reason, err, wrapped) = &failures[0];
        st.set_condition("ScalingActive", false, reason, &format!("the HPA was unable to compute the replica count: {err}"));
        st.current = current;
        st.metrics = Some(specs.iter().map(|_| json!({"type": ""})).collect());
        write(server, hpa, &old, &st);
        let all = format!("invalid metrics ({} invalid out of {}), first error is: {wrapped}", failures.len(), specs.len());
        events::record(server, hpa, EventType::Warning, "FailedComputeMetricsReplicas", &all, COMPONENT, None);
        return;
    };
    if let Some(reason) = reason {
        match server.update_scale(&rt, Some(ns), name, &json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": desired}}), &util::opts(KCM)) {
            Ok(_) => {
                st.set_condition("AbleToScale", true, "SucceededRescale", &format!("the HPA controller was able to update the target scale to {desired}"));
                events::record(server, hpa, EventType::Normal, "SuccessfulRescale", &format!("New size: {desired}; reason: {reason}"), COMPONENT, None);
                st.last_scale = json!(meta::now_rfc3339());
            }
            Err(e) => {
                events::record(server, hpa, EventType::Warning, "FailedRescale", &format!("New size: {desired}; reason: {reason}; error: {}", e.message), COMPONENT, None);
                st.set_condition("AbleToScale", false, "FailedUpdateScale", &format!("the HPA controller was unable to update the target scale: {}", e.message));
                st.current = current;
                return write(server, hpa, &old, &st);
            }
        }
    }
    // setStatus: metric statuses are those of this pass (none were computed here).
    st.current = current;
    st.desired = if reason.is_some() { desired } else { current };
    st.metrics = None;
    write(server, hpa, &old, &st);
}

/// `updateStatusIfNeeded`: write only a changed status. An object stored as autoscaling/v1
/// gets the same v2 status; reads at v1 turn its conditions and current metrics into v1's
/// round-trip annotations (`crate::api::hpa_convert`).
fn write(server: &ApiServer, hpa: &Value, old: &Value, st: &Status) {
    let new = st.to_json();
    if &new == old {
        return;
    }
    let rt = util::rt(server, "autoscaling", "v2", "horizontalpodautoscalers");
    let _ = util::write_status(server, &rt, object::ns_of(hpa), object::name_of(hpa), |_| Some(new.clone()));
}
