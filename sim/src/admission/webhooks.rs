//! The MutatingAdmissionWebhook / ValidatingAdmissionWebhook plugins.
//!
//! A webhook is "called" by resolving its service the way kube-apiserver on kind does (the
//! ClusterIP resolver, no aggregator routing): a missing, headless or endpoint-less service
//! fails the call with the real Go error text, which the dispatcher wraps as
//! `failed calling webhook "NAME": failed to call webhook: Post "URL": CAUSE`. A service with a
//! ready backend is answered by a registered `WebhookResponder` (e.g. an emulated operator),
//! or "allowed" when none claims it.

use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::Value;

use super::matching::{namespace_matches, object_matches, rules_match, RequestAttrs};
use crate::api::errors::{ApiError, ApiResult};
use crate::api::object::{self, pod_running_ready};
use crate::api::selectors::from_map;
use crate::registry::ResourceType;
use crate::server::{AdmissionPlugin, AdmissionRequest, ApiServer, Operation};

/// What a reachable webhook answered.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookVerdict {
    Allowed,
    /// `allowed: false` with the webhook's status (code 0 means 400).
    Denied { code: u16, reason: String, message: String },
    /// Allowed with a JSONPatch (array of operations); only honoured for mutating webhooks.
    Patched(Value),
}

/// Where a webhook call goes once the service resolved to a ready backend.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub namespace: String,
    pub service: String,
    pub port: i64,
    pub path: String,
    pub mutating: bool,
    pub webhook_name: String,
}

/// The admission request as a webhook backend sees it.
pub struct AdmissionView<'a> {
    pub op: Operation,
    pub rt: &'a ResourceType,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub object: Option<&'a Value>,
    pub old: Option<&'a Value>,
    pub dry_run: bool,
}

/// A backend that answers webhook calls for the services it serves (None: not mine).
pub trait WebhookResponder: Send + Sync {
    fn respond(&self, server: &ApiServer, target: &WebhookTarget, req: &AdmissionView<'_>) -> Option<WebhookVerdict>;
}

/// Both webhook admission plugins in one: mutating configurations first, then validating.
#[derive(Default)]
pub struct WebhookAdmission {
    responders: RwLock<Vec<Arc<dyn WebhookResponder>>>,
}

impl WebhookAdmission {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_responder(&self, r: Arc<dyn WebhookResponder>) {
        self.responders.write().push(r);
    }

    fn run_phase(&self, server: &ApiServer, req: &mut AdmissionRequest<'_>, mutating: bool) -> ApiResult<()> {
        let plural = if mutating { "mutatingwebhookconfigurations" } else { "validatingwebhookconfigurations" };
        // The store lists in name order, which is the order kube-apiserver calls configurations in.
        let (configs, _) = server.store.list(&format!("admissionregistration.k8s.io/{plural}"), None);
        for cfg in configs {
            let Some(hooks) = cfg.get("webhooks").and_then(|w| w.as_array()) else { continue };
            for wh in hooks {
                let attrs = RequestAttrs {
                    op: req.op,
                    group: &req.rt.group,
                    version: &req.rt.version,
                    resource: &req.rt.plural,
                    subresource: req.subresource,
                    namespaced: req.rt.namespaced,
                    namespace: req.namespace,
                    kind: &req.rt.kind,
                    object: req.object.as_deref(),
                    old: req.old,
                };
                if !(rules_match(server, wh, &attrs) && namespace_matches(server, wh, &attrs) && object_matches(wh, &attrs)) {
                    continue;
                }
                let name = wh.get("name").and_then(|n| n.as_str()).unwrap_or("").to_string();
                let view = AdmissionView {
                    op: req.op,
                    rt: req.rt,
                    subresource: req.subresource,
                    namespace: req.namespace,
                    name: req.name,
                    object: req.object.as_deref(),
                    old: req.old,
                    dry_run: req.dry_run,
                };
                match self.call(server, wh, &name, mutating, &view) {
                    Ok(WebhookVerdict::Allowed) => {}
                    Ok(WebhookVerdict::Patched(ops)) => {
                        if let (true, Some(obj)) = (mutating, req.object.as_deref_mut()) {
                            *obj = crate::api::patch::apply_json_patch(obj, &ops).map_err(|e| e.to_api_error())?;
                        }
                    }
                    Ok(WebhookVerdict::Denied { code, reason, message }) => {
                        let code = if code == 0 { 400 } else { code };
                        let msg = if message.is_empty() {
                            format!("admission webhook {name:?} denied the request without explanation")
                        } else {
                            format!("admission webhook {name:?} denied the request: {message}")
                        };
                        return Err(ApiError::new(code, &reason, msg));
                    }
                    Err(cause) => {
                        let ignore = wh.get("failurePolicy").and_then(|f| f.as_str()) == Some("Ignore");
                        if ignore {
                            // "Failed calling webhook, failing open": only an apiserver log line.
                            tracing::warn!(webhook = %name, "failed calling webhook, failing open: {cause}");
                            continue;
                        }
                        return Err(ApiError::internal(format!("failed calling webhook {name:?}: failed to call webhook: {cause}")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Resolve and "dial" the webhook; Err is the Go client error text.
    fn call(&self, server: &ApiServer, wh: &Value, name: &str, mutating: bool, view: &AdmissionView<'_>) -> Result<WebhookVerdict, String> {
        let timeout = wh.get("timeoutSeconds").and_then(|t| t.as_i64()).unwrap_or(10);
        let cc = wh.get("clientConfig").cloned().unwrap_or(Value::Null);
        if let Some(url) = cc.get("url").and_then(|u| u.as_str()) {
            let sep = if url.contains('?') { '&' } else { '?' };
            return Err(format!("Post \"{url}{sep}timeout={timeout}s\": {}", url_dial_error(url)));
        }
        let svc = cc.get("service").cloned().unwrap_or(Value::Null);
        let ns = svc.get("namespace").and_then(|s| s.as_str()).unwrap_or("");
        let svc_name = svc.get("name").and_then(|s| s.as_str()).unwrap_or("");
        let port = svc.get("port").and_then(|p| p.as_i64()).unwrap_or(443);
        let path = svc.get("path").and_then(|p| p.as_str()).filter(|p| !p.is_empty()).unwrap_or("/");
        let post = format!("Post \"https://{svc_name}.{ns}.svc:{port}{path}?timeout={timeout}s\"");
        let Some(service) = server.store.get("services", ns, svc_name) else {
            return Err(format!("{post}: service {svc_name:?} not found"));
        };
        let ty = object::str_at(&service, "/spec/type").unwrap_or("ClusterIP");
        let cluster_ip = object::str_at(&service, "/spec/clusterIP").unwrap_or("");
        match ty {
            "ClusterIP" if cluster_ip == "None" => return Err(format!("{post}: cannot route to service with ClusterIP \"None\"")),
            "ClusterIP" | "NodePort" | "LoadBalancer" => {
                let has_port = service
                    .pointer("/spec/ports")
                    .and_then(|p| p.as_array())
                    .is_some_and(|ps| ps.iter().any(|p| p.get("port").and_then(|x| x.as_i64()) == Some(port)));
                if !has_port {
                    return Err(format!("{post}: no service port {port} found for service {svc_name:?}"));
                }
                if !service_has_ready_backend(server, &service) {
                    // kube-proxy rejects traffic to a ClusterIP without endpoints.
                    return Err(format!("{post}: dial tcp {cluster_ip}:{port}: connect: connection refused"));
                }
            }
            "ExternalName" => {
                let ext = object::str_at(&service, "/spec/externalName").unwrap_or("");
                return Err(format!("{post}: dial tcp: lookup {ext}: no such host"));
            }
            other => return Err(format!("{post}: unsupported service type {other:?}")),
        }
        let target = WebhookTarget {
            namespace: ns.to_string(),
            service: svc_name.to_string(),
            port,
            path: path.to_string(),
            mutating,
            webhook_name: name.to_string(),
        };
        let responders: Vec<Arc<dyn WebhookResponder>> = self.responders.read().clone();
        Ok(responders.iter().find_map(|r| r.respond(server, &target, view)).unwrap_or(WebhookVerdict::Allowed))
    }
}

/// The dial error for a URL webhook (nothing listens at URLs in the embedded cluster).
fn url_dial_error(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let hostport = rest.split(['/', '?']).next().unwrap_or("");
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (h.to_string(), p.to_string()),
        _ => (hostport.to_string(), "443".to_string()),
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        format!("dial tcp {host}:{port}: connect: connection refused")
    } else {
        format!("dial tcp: lookup {bare}: no such host")
    }
}

/// Ready addresses in the Endpoints / EndpointSlices, or (before an endpoints controller has
/// written them) a Running+Ready pod selected by the service.
pub fn service_has_ready_backend(server: &ApiServer, service: &Value) -> bool {
    let ns = object::str_at(service, "/metadata/namespace").unwrap_or("");
    let name = object::name_of(service);
    if let Some(ep) = server.store.get("endpoints", ns, name) {
        let ready = ep.get("subsets").and_then(|s| s.as_array()).is_some_and(|subsets| {
            subsets.iter().any(|s| s.get("addresses").and_then(|a| a.as_array()).is_some_and(|a| !a.is_empty()))
        });
        if ready {
            return true;
        }
    }
    let (slices, _) = server.store.list("discovery.k8s.io/endpointslices", Some(ns));
    let slice_ready = slices.iter().filter(|s| object::labels(s).and_then(|l| l.get("kubernetes.io/service-name")).and_then(|v| v.as_str()) == Some(name)).any(|s| {
        s.get("endpoints").and_then(|e| e.as_array()).is_some_and(|eps| {
            eps.iter().any(|e| e.pointer("/conditions/ready").and_then(|r| r.as_bool()).unwrap_or(true))
        })
    });
    if slice_ready {
        return true;
    }
    let Some(sel) = service.pointer("/spec/selector").and_then(|s| s.as_object()).filter(|s| !s.is_empty()) else { return false };
    let sel = from_map(sel);
    let (pods, _) = server.store.list("pods", Some(ns));
    pods.iter().any(|p| sel.matches(object::labels(p)) && pod_running_ready(p))
}

impl AdmissionPlugin for WebhookAdmission {
    fn name(&self) -> &str {
        "MutatingAdmissionWebhook,ValidatingAdmissionWebhook"
    }

    fn admit(&self, server: &ApiServer, req: &mut AdmissionRequest<'_>) -> ApiResult<()> {
        // Webhooks are never called for requests on webhook configurations themselves.
        if req.rt.group == "admissionregistration.k8s.io" && req.rt.kind.ends_with("WebhookConfiguration") {
            return Ok(());
        }
        self.run_phase(server, req, true)
    }

    fn validate(&self, server: &ApiServer, req: &mut AdmissionRequest<'_>) -> ApiResult<()> {
        if req.rt.group == "admissionregistration.k8s.io" && req.rt.kind.ends_with("WebhookConfiguration") {
            return Ok(());
        }
        self.run_phase(server, req, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_errors() {
        assert_eq!(url_dial_error("https://10.0.0.1:8443/x"), "dial tcp 10.0.0.1:8443: connect: connection refused");
        assert_eq!(url_dial_error("https://hook.example.com/x"), "dial tcp: lookup hook.example.com: no such host");
    }
}
