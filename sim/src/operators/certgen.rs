//! kube-webhook-certgen (the chart's admission hook Jobs) as the embedded cluster runs it:
//! when a pod of its image starts, `create` stores a CA, certificate and key in a Secret
//! (no labels, no owner — which is why it survives `helm uninstall`), and `patch` injects the
//! CA into the named webhook configurations (jkroepke/kube-webhook-certgen pkg/k8s/k8s.go).

use std::collections::HashSet;

use base64::Engine;
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::api::patch::PatchType;
use crate::api::object;
use crate::controllers::Controller;
use crate::server::{ApiServer, WriteOptions};
use crate::store::StoreEvent;

const IMAGE: &str = "kube-webhook-certgen";
const MANAGER: &str = "kube-webhook-certgen";

#[derive(Default)]
pub struct Certgen {
    /// Container args of certgen pods seen but not yet acted on, with their namespace.
    pending: Mutex<Vec<(String, Vec<String>)>>,
    done: Mutex<HashSet<String>>,
}

fn certgen_args(pod: &Value) -> Option<Vec<String>> {
    let c = pod.pointer("/spec/containers")?.as_array()?.iter().find(|c| c["image"].as_str().is_some_and(|i| i.contains(IMAGE)))?;
    Some(c["args"].as_array()?.iter().filter_map(|a| a.as_str().map(String::from)).collect())
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("--{name}=");
    args.iter().find_map(|a| a.strip_prefix(&prefix))
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
            let ns = flag(&args, "namespace").unwrap_or(&pod_ns).to_string();
            let Some(secret) = flag(&args, "secret-name") else { continue };
            match args.first().map(String::as_str) {
                Some("create") => create(server, &ns, secret, &args),
                Some("patch") => patch(server, &ns, secret, &args),
                _ => {}
            }
        }
    }
}

fn create(server: &ApiServer, ns: &str, secret: &str, args: &[String]) {
    let Ok(rt) = server.resource("", "v1", "secrets") else { return };
    if server.store.get(&rt.key, ns, secret).is_some() {
        return; // "secret already exists": certgen leaves it alone
    }
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let host = flag(args, "host").unwrap_or("");
    let pem = |what: &str| format!("-----BEGIN {what}-----\ncleanroom-sim emulated {what} for {host}\n-----END {what}-----\n");
    let cert_name = flag(args, "cert-name").unwrap_or("tls.crt");
    let key_name = flag(args, "key-name").unwrap_or("tls.key");
    let mut data = serde_json::Map::new();
    data.insert("ca.crt".into(), json!(b64(&pem("CERTIFICATE"))));
    data.insert(cert_name.into(), json!(b64(&pem("CERTIFICATE"))));
    data.insert(key_name.into(), json!(b64(&pem("EC PRIVATE KEY"))));
    let obj = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret, "namespace": ns},
        "type": flag(args, "secret-type").unwrap_or("Opaque"), "data": data});
    let _ = server.create(&rt, Some(ns), obj, &WriteOptions { field_manager: Some(MANAGER.into()), ..Default::default() });
}

fn patch(server: &ApiServer, ns: &str, secret: &str, args: &[String]) {
    let Some(s) = server.store.get("secrets", ns, secret) else { return };
    let Some(ca) = s.pointer("/data/ca.crt").and_then(|c| c.as_str()).map(String::from) else { return };
    let name = flag(args, "webhook-name").unwrap_or(secret);
    // Only an explicit `Fail` changes the policy (certgen's switch leaves "" and Ignore alone).
    let fail = flag(args, "patch-failure-policy") == Some("Fail");
    let opts = WriteOptions { field_manager: Some(MANAGER.into()), force: true, ..Default::default() };
    for (plural, kind, flag_name) in [("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", "patch-validating"), ("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", "patch-mutating")] {
        if flag(args, flag_name) == Some("false") {
            continue;
        }
        let Ok(rt) = server.resource("admissionregistration.k8s.io", "v1", plural) else { continue };
        let Some(cur) = server.store.get(&rt.key, "", name) else { continue };
        let hooks: Vec<Value> = cur["webhooks"].as_array().into_iter().flatten().map(|h| {
            let mut w = json!({"name": h["name"], "clientConfig": {"caBundle": ca}});
            if fail {
                w["failurePolicy"] = json!("Fail");
            }
            w
        }).collect();
        let apply = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name}, "webhooks": hooks});
        let _ = server.patch(&rt, None, name, PatchType::Apply, &apply, None, &opts);
    }
}
