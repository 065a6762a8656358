//! Metadata the server generates (timestamps, uids, generated-name suffixes) and how stored
//! objects are presented per version. Reading object fields lives in `crate::api::object`.

use std::sync::Arc;

use rand::Rng;
use serde_json::{Map, Value};

use crate::registry::ResourceType;

/// RFC 3339 with second precision, as metav1.Time marshals.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The alphabet and length of `names.SimpleNameGenerator` (no vowels, no confusable digits).
pub fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..n).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Types whose versions differ in shape beyond `apiVersion`, so that writes go through the
/// request's version (Events are read-converted only: their two shapes are two resources).
pub fn converts_between_versions(rt: &ResourceType) -> bool {
    rt.group == "autoscaling" && rt.kind == "HorizontalPodAutoscaler"
}

/// Present an object in the version the request asked for (all versions share storage,
/// conversion strategy None, as for most CRDs).
pub fn as_version(obj: Arc<Value>, rt: &ResourceType) -> Arc<Value> {
    let want = rt.api_version();
    let have = obj.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("");
    // An HPA is kept as written; its v2 shape is the hub both versions are read through (a v1
    // object's status may carry the v2 conditions the controller writes).
    if converts_between_versions(rt) {
        let v2 = crate::api::hpa_convert::to_v2(&obj);
        return Arc::new(if want == "autoscaling/v1" { crate::api::hpa_convert::to_v1(&v2) } else { v2 });
    }
    if have == want {
        return obj;
    }
    // core/v1 and events.k8s.io/v1 Events are one resource with two shapes.
    if rt.kind == "Event" && (have == "events.k8s.io/v1" || want == "events.k8s.io/v1") {
        return Arc::new(convert_event(&obj, &want));
    }
    let mut o = (*obj).clone();
    o["apiVersion"] = Value::String(want);
    Arc::new(o)
}

/// Field mapping between core/v1 Event and events.k8s.io/v1 Event (pkg/apis/events conversion).
fn convert_event(obj: &Value, to: &str) -> Value {
    const PAIRS: [(&str, &str); 7] = [
        ("involvedObject", "regarding"),
        ("message", "note"),
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"),
        ("source", "deprecatedSource"),
        ("reportingComponent", "reportingController"),
    ];
    let Some(src) = obj.as_object() else { return obj.clone() };
    let to_new = to == "events.k8s.io/v1";
    let mut out = Map::new();
    for (k, v) in src {
        let renamed = PAIRS.iter().find_map(|(core, new)| {
            if to_new && k == core {
                Some(*new)
            } else if !to_new && k == new {
                Some(*core)
            } else {
                None
            }
        });
        out.insert(renamed.unwrap_or(k).to_string(), v.clone());
    }
    out.insert("apiVersion".into(), Value::String(to.to_string()));
    Value::Object(out)
}

/// Kinds whose strategies keep `metadata.generation` (plus every custom resource).
pub fn tracks_generation(rt: &ResourceType) -> bool {
    rt.is_custom()
        || matches!(
            rt.kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" | "CronJob" | "Pod"
                | "CustomResourceDefinition" | "HorizontalPodAutoscaler" | "PodDisruptionBudget" | "Ingress"
                | "NetworkPolicy" | "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration"
                | "ReplicationController" | "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding"
                | "FlowSchema" | "PriorityLevelConfiguration" | "IngressClass" | "ServiceCIDR"
        )
}

