//! Subresources and virtual resources with behaviour of their own: `scale`, `pods/binding`,
//! `serviceaccounts/token` and the authentication/authorization reviews. (`pods/eviction`
//! lives in `eviction.rs`.) The HTTP layer only routes to these and encodes the answers.

use serde_json::{json, Value};

use super::decode::{self, Gvk};
use super::{ApiServer, WriteOptions};
use crate::api::errors::ApiResult;
use crate::api::patch::{self, PatchType};
use crate::registry::ResourceType;

/// The Go type of a `scale` subresource body.
const SCALE: Gvk = ("autoscaling", "v1", "Scale");

impl ApiServer {
    /// GET `.../scale`: the workload as an autoscaling/v1 Scale.
    pub fn get_scale(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        let obj = self.get(rt, ns, name)?;
        Ok(scale_of(rt, &obj))
    }

    /// PUT `.../scale`: only `spec.replicas` of the Scale is written to the workload.
    pub fn update_scale(&self, rt: &ResourceType, ns: Option<&str>, name: &str, scale: &Value, opts: &WriteOptions) -> ApiResult<Value> {
        decode::check_body(SCALE, scale)?;
        let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
        self.set_replicas(rt, ns, name, replicas, opts)
    }

    /// PATCH `.../scale`: the patch applies to the Scale (a JSON patch as such, every other
    /// type as a merge patch), then its `spec.replicas` is written to the workload.
    pub fn patch_scale(&self, rt: &ResourceType, ns: Option<&str>, name: &str, ptype: PatchType, body: &Value, opts: &WriteOptions) -> ApiResult<Value> {
        if ptype == PatchType::Apply {
            decode::check_applied(SCALE, body)?;
        }
        let cur = self.get(rt, ns, name)?;
        let scale = scale_of(rt, &cur);
        let patched = match ptype {
            PatchType::Json => patch::apply_json_patch(&scale, body).map_err(|e| e.to_api_error())?,
            _ => patch::apply_merge_patch(&scale, body),
        };
        decode::check_patched(SCALE, ptype, &patched, body, opts.strict)?;
        let replicas = patched.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
        self.set_replicas(rt, ns, name, replicas, opts)
    }

    fn set_replicas(&self, rt: &ResourceType, ns: Option<&str>, name: &str, replicas: Value, opts: &WriteOptions) -> ApiResult<Value> {
        let updated = self.patch(rt, ns, name, PatchType::Merge, &json!({"spec": {"replicas": replicas}}), None, opts)?;
        Ok(scale_of(rt, &updated))
    }

    /// POST `pods/binding`: set the pod's `spec.nodeName` to the Binding's target.
    pub fn bind_pod(&self, ns: Option<&str>, name: &str, binding: &Value) -> ApiResult<()> {
        let node = binding.pointer("/target/name").and_then(|n| n.as_str()).unwrap_or("").to_string();
        let pods = self.resource("", "v1", "pods")?;
        self.patch(&pods, ns, name, PatchType::Merge, &json!({"spec": {"nodeName": node}}), None, &WriteOptions::default())?;
        Ok(())
    }

    /// POST `serviceaccounts/token`: a TokenRequest answered for an existing ServiceAccount.
    pub fn token_request(&self, ns: Option<&str>, name: &str, body: Value) -> ApiResult<Value> {
        let sas = self.resource("", "v1", "serviceaccounts")?;
        self.get(&sas, ns, name)?;
        Ok(token_request_answer(ns.unwrap_or("default"), name, body))
    }
}

/// Is `rt` one of the create-only review resources (TokenReview, *AccessReview, ...)?
pub fn is_review(rt: &ResourceType) -> bool {
    rt.kind.ends_with("AccessReview") || rt.kind.ends_with("RulesReview") || rt.kind == "TokenReview" || rt.kind == "SelfSubjectReview"
}

/// Authorization/authentication reviews: the embedded cluster runs without authz, so
/// every subject may do everything (like a kind cluster's admin user).
pub fn review_answer(mut obj: Value) -> Value {
    let kind = obj["kind"].as_str().unwrap_or("").to_string();
    obj["metadata"] = json!({"creationTimestamp": null});
    obj["status"] = match kind.as_str() {
        "TokenReview" => json!({"authenticated": true, "user": {"username": "kubernetes-admin", "groups": ["kubeadm:cluster-admins", "system:authenticated"]}}),
        "SelfSubjectReview" => json!({"userInfo": {"username": "kubernetes-admin", "groups": ["kubeadm:cluster-admins", "system:authenticated"]}}),
        "SelfSubjectRulesReview" => json!({"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}], "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": false}),
        _ => json!({"allowed": true, "reason": "cleanroom-sim authorizes every request"}),
    };
    obj
}

/// autoscaling/v1 Scale for a workload.
fn scale_of(rt: &ResourceType, obj: &Value) -> Value {
    let md = &obj["metadata"];
    let (spec_path, status_path, sel_path) = match rt.crd.as_ref().and_then(|c| c.scale.clone()) {
        Some(s) => (
            s["specReplicasPath"].as_str().unwrap_or(".spec.replicas").replace('.', "/"),
            s["statusReplicasPath"].as_str().unwrap_or(".status.replicas").replace('.', "/"),
            s["labelSelectorPath"].as_str().map(|p| p.replace('.', "/")),
        ),
        None => ("/spec/replicas".into(), "/status/replicas".into(), None),
    };
    let selector = match sel_path {
        Some(p) => obj.pointer(&p).and_then(|s| s.as_str()).unwrap_or("").to_string(),
        None => obj.pointer("/spec/selector").map(selector_to_string).unwrap_or_default(),
    };
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": md["name"], "namespace": md["namespace"], "uid": md["uid"], "resourceVersion": md["resourceVersion"], "creationTimestamp": md["creationTimestamp"]},
        "spec": {"replicas": obj.pointer(&spec_path).cloned().unwrap_or(json!(0))},
        "status": {"replicas": obj.pointer(&status_path).cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

/// A TokenRequest answer: an unsigned JWT-shaped token (nothing here verifies it).
fn token_request_answer(ns: &str, name: &str, mut body: Value) -> Value {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let secs = body.pointer("/spec/expirationSeconds").and_then(Value::as_i64).unwrap_or(3600);
    let now = chrono::Utc::now();
    let exp = now + chrono::Duration::seconds(secs);
    let sub = format!("system:serviceaccount:{ns}:{name}");
    let claims = json!({"aud": body.pointer("/spec/audiences").cloned().unwrap_or(json!([])), "sub": sub, "iat": now.timestamp(), "exp": exp.timestamp()});
    let token = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims));
    // Index assignment panics on non-objects; a malformed body gets a fresh one.
    if !body.is_object() {
        body = json!({});
    }
    if !body["spec"].is_object() {
        body["spec"] = json!({});
    }
    body["kind"] = json!("TokenRequest");
    body["apiVersion"] = json!("authentication.k8s.io/v1");
    body["metadata"] = json!({"name": name, "namespace": ns, "creationTimestamp": now.format("%Y-%m-%dT%H:%M:%SZ").to_string()});
    body["spec"]["expirationSeconds"] = json!(secs);
    body["status"] = json!({"token": token, "expirationTimestamp": exp.format("%Y-%m-%dT%H:%M:%SZ").to_string()});
    body
}

/// `metav1.LabelSelector` → the string form (`a=b,c in (d)`), as Scale.status.selector.
fn selector_to_string(sel: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(ml) = sel.get("matchLabels").and_then(|m| m.as_object()) {
        let mut keys: Vec<_> = ml.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in keys {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    for e in sel.get("matchExpressions").and_then(|m| m.as_array()).into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or("");
        let vals: Vec<&str> = e["values"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
        parts.push(match e["operator"].as_str().unwrap_or("") {
            "In" => format!("{key} in ({})", vals.join(",")),
            "NotIn" => format!("{key} notin ({})", vals.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    parts.join(",")
}
