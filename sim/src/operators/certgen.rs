//! kube-webhook-certgen (the chart's admission hook Jobs) as the embedded cluster runs it:
//! when a pod of its image starts, `create` stores a CA, certificate and key in a Secret
//! (no labels, no owner — which is why it survives `helm uninstall`), and `patch` injects the
//! CA into the named webhook configurations (jkroepke/kube-webhook-certgen pkg/k8s/k8s.go).
//! What each command writes is built here by plain functions ([`action`], [`webhook_apply`]), which
//! the harness's kwok provider uses too (kwok runs no container, and certgen's module is not served).

use std::collections::HashSet;

use base64::Engine;
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::api::patch::PatchType;
use crate::api::object;
use crate::controllers::Controller;
use crate::server::{ApiServer, WriteOptions};
use crate::store::StoreEvent;

/// The image name its pods run.
pub const IMAGE: &str = "kube-webhook-certgen";
/// The field manager of what it writes.
pub const MANAGER: &str = "kube-webhook-certgen";

#[derive(Default)]
pub struct Certgen {
    /// Container args of certgen pods seen but not yet acted on, with their namespace.
    pending: Mutex<Vec<(String, Vec<String>)>>,
    done: Mutex<HashSet<String>>,
}

/// The args of a pod's certgen container, if it has one.
pub fn certgen_args(pod: &Value) -> Option<Vec<String>> {
    let c = pod.pointer("/spec/containers")?.as_array()?.iter().find(|c| c["image"].as_str().is_some_and(|i| i.contains(IMAGE)))?;
    Some(c["args"].as_array()?.iter().filter_map(|a| a.as_str().map(String::from)).collect())
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("--{name}=");
    args.iter().find_map(|a| a.strip_prefix(&prefix))
}

/// What one certgen command does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create `secret` (in its namespace) unless a Secret of that name exists.
    Create { secret: Value },
    /// Put the CA of Secret `namespace/secret` into the webhook configurations named `webhook`, of the
    /// kinds listed (`(plural, kind)`), and make their policy `Fail` when `fail`.
    Patch { namespace: String, secret: String, webhook: String, kinds: Vec<(&'static str, &'static str)>, fail: bool },
}

/// The action of a certgen container's `args` in a pod of namespace `pod_ns`.
pub fn action(args: &[String], pod_ns: &str) -> Option<Action> {
    let ns = flag(args, "namespace").unwrap_or(pod_ns).to_string();
    let secret = flag(args, "secret-name")?.to_string();
    match args.first().map(String::as_str) {
        Some("create") => {
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
            let host = flag(args, "host").unwrap_or("");
            let pem = |what: &str| format!("-----BEGIN {what}-----\ncleanroom emulated {what} for {host}\n-----END {what}-----\n");
            let cert_name = flag(args, "cert-name").unwrap_or("tls.crt");
            let key_name = flag(args, "key-name").unwrap_or("tls.key");
            let mut data = serde_json::Map::new();
            data.insert("ca.crt".into(), json!(b64(&pem("CERTIFICATE"))));
            data.insert(cert_name.into(), json!(b64(&pem("CERTIFICATE"))));
            data.insert(key_name.into(), json!(b64(&pem("EC PRIVATE KEY"))));
            let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret, "namespace": ns},
                "type": flag(args, "secret-type").unwrap_or("Opaque"), "data": data});
            Some(Action::Create { secret })
        }
        Some("patch") => {
            let kinds = [
                ("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", "patch-validating"),
                ("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", "patch-mutating"),
            ]
            .into_iter()
            .filter(|(_, _, f)| flag(args, f) != Some("false"))
            .map(|(p, k, _)| (p, k))
            .collect();
            Some(Action::Patch {
                namespace: ns,
                webhook: flag(args, "webhook-name").unwrap_or(&secret).to_string(),
                secret,
                kinds,
                // Only an explicit `Fail` changes the policy (certgen's switch leaves "" and Ignore alone).
                fail: flag(args, "patch-failure-policy") == Some("Fail"),
            })
        }
        _ => None,
    }
}

/// The server-side apply patch that puts `ca` into every webhook of `current` (a webhook configuration).
pub fn webhook_apply(kind: &str, current: &Value, ca: &str, fail: bool) -> Value {
    let hooks: Vec<Value> = current["webhooks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let mut w = json!({"name": h["name"], "clientConfig": {"caBundle": ca}});
            if fail {
                w["failurePolicy"] = json!("Fail");
            }
            w
        })
        .collect();
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": current["metadata"]["name"]}, "webhooks": hooks})
}

impl Controller for Certgen {
    fn name(&self) -> &'static str {
        "kube-webhook-certgen"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        if &*ev.key != "pods" || ev.kind == crate::store::EventType::Deleted {
            return false;
        }
        // The container "runs" once the kubelet has started it.
        let started = ev.object.pointer("/status/containerStatuses").and_then(|c| c.as_array()).is_some_and(|c| !c.is_empty());
        let uid = object::str_at(&ev.object, "/metadata/uid").unwrap_or("").to_string();
        if !started || self.done.lock().contains(&uid) {
            return false;
        }
        let Some(args) = certgen_args(&ev.object) else { return false };
        self.done.lock().insert(uid);
        self.pending.lock().push((ev.namespace.clone(), args));
        true
    }

    fn reconcile(&self, server: &ApiServer) {
        let work: Vec<(String, Vec<String>)> = std::mem::take(&mut *self.pending.lock());
        for (pod_ns, args) in work {
            match action(&args, &pod_ns) {
                Some(Action::Create { secret }) => create(server, secret),
                Some(Action::Patch { namespace, secret, webhook, kinds, fail }) => patch(server, &namespace, &secret, &webhook, &kinds, fail),
                None => {}
            }
        }
    }
}

fn create(server: &ApiServer, secret: Value) {
    let Ok(rt) = server.resource("", "v1", "secrets") else { return };
    let (ns, name) = (object::str_at(&secret, "/metadata/namespace").unwrap_or(""), object::str_at(&secret, "/metadata/name").unwrap_or(""));
    if server.store.get(&rt.key, ns, name).is_some() {
        return; // "secret already exists": certgen leaves it alone
    }
    let ns = ns.to_string();
    let _ = server.create(&rt, Some(&ns), secret, &WriteOptions { field_manager: Some(MANAGER.into()), ..Default::default() });
}

fn patch(server: &ApiServer, ns: &str, secret: &str, name: &str, kinds: &[(&str, &str)], fail: bool) {
    let Some(s) = server.store.get("secrets", ns, secret) else { return };
    let Some(ca) = s.pointer("/data/ca.crt").and_then(|c| c.as_str()).map(String::from) else { return };
    let opts = WriteOptions { field_manager: Some(MANAGER.into()), force: true, ..Default::default() };
    for (plural, kind) in kinds {
        let Ok(rt) = server.resource("admissionregistration.k8s.io", "v1", plural) else { continue };
        let Some(cur) = server.store.get(&rt.key, "", name) else { continue };
        let _ = server.patch(&rt, None, name, PatchType::Apply, &webhook_apply(kind, &cur, &ca, fail), None, &opts);
    }
}
