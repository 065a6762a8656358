//! The endpoints and endpointslice controllers: for every Service with a selector, an
//! Endpoints object of the same name and an EndpointSlice `<svc>-<5 chars>` built from the
//! matching pods that have an IP.

use crate::api::object::At;
use std::sync::Arc;

use serde_json::{json, Value};

use super::util::{self, Dirty, KCM};
use super::Controller;
use crate::api::selectors;
use crate::api::object;
use crate::server::ApiServer;
use crate::store::StoreEvent;

const SLICE_KEY: &str = "discovery.k8s.io/endpointslices";
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const SLICE_CONTROLLER: &str = "endpointslice-controller.k8s.io";
const SERVICE_NAME: &str = "kubernetes.io/service-name";

#[derive(Default)]
pub struct EndpointsController {
    dirty: Dirty,
    /// Services deleted since the last pass: their Endpoints go too (the real controller
    /// deletes the Endpoints of a Service it can no longer find; slices follow by GC).
    deleted: parking_lot::Mutex<Vec<(String, String)>>,
}

fn svc_selector(svc: &Value) -> Option<selectors::LabelSelector> {
    let m = svc.at("/spec/selector")?.as_object()?;
    if m.is_empty() {
        return None;
    }
    Some(selectors::from_map(m))
}

impl Controller for EndpointsController {
    fn name(&self) -> &'static str {
        "endpoints"
    }

    fn observe(&self, server: &ApiServer, ev: &StoreEvent) -> bool {
        match &*ev.key {
            "services" if ev.kind == crate::store::EventType::Deleted => {
                self.deleted.lock().push((ev.namespace.clone(), ev.name.clone()));
                true
            }
            "services" => self.dirty.add(&ev.namespace, &ev.name),
            "pods" => {
                let mut hit = false;
                for svc in server.store.list("services", Some(&ev.namespace)).0 {
                    let Some(sel) = svc_selector(&svc) else { continue };
                    if std::iter::once(&ev.object).chain(ev.prev.iter()).any(|p| sel.matches(object::labels(p))) {
                        hit |= self.dirty.add(&ev.namespace, object::name_of(&svc));
                    }
                }
                hit
            }
            "endpoints" | SLICE_KEY if ev.kind == crate::store::EventType::Deleted => {
                let svc = if &*ev.key == "endpoints" { ev.name.clone() } else { object::str_at(&ev.object, &format!("/metadata/labels/{}", SERVICE_NAME.replace('/', "~1"))).unwrap_or("").to_string() };
                !svc.is_empty() && self.dirty.add(&ev.namespace, &svc)
            }
            _ => false,
        }
    }

    fn reconcile(&self, server: &ApiServer) {
        let gone: Vec<(String, String)> = std::mem::take(&mut *self.deleted.lock());
        if !gone.is_empty()
            && let Ok(rt) = server.resource("", "v1", "endpoints") {
                for (ns, name) in gone {
                    if server.store.get("services", &ns, &name).is_none() {
                        let _ = server.delete(&rt, Some(&ns), &name, &Default::default());
                    }
                }
            }
        for svc in self.dirty.take(server, "services") {
            sync(server, &svc);
        }
    }
}

/// Resolve a service port's targetPort against a pod (named ports look up containerPorts).
fn target_port(port: &Value, pod: &Value) -> Option<i64> {
    match &port["targetPort"] {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => pod.at("/spec/containers")?.as_array()?.iter()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_i64()),
        _ => port["port"].as_i64(),
    }
}

fn sync(server: &ApiServer, svc: &Arc<Value>) {
    let Some(sel) = svc_selector(svc) else { return };
    if object::is_deleting(svc) {
        return;
    }
    let ns = object::ns_of(svc).to_string();
    let name = object::name_of(svc).to_string();
    let publish_not_ready = svc.at("/spec/publishNotReadyAddresses") == Some(&json!(true));
    let mut pods: Vec<Arc<Value>> = util::pods(server, Some(&ns)).into_iter()
        .filter(|p| sel.matches(object::labels(p)) && !object::is_terminal(p))
        .filter(|p| object::str_at(p, "/status/podIP").is_some_and(|ip| !ip.is_empty()))
        .collect();
    pods.sort_by(|a, b| object::str_at(a, "/status/podIP").cmp(&object::str_at(b, "/status/podIP")));
    let ports: Vec<Value> = svc.at("/spec/ports").and_then(|p| p.as_array()).cloned().unwrap_or_default();
    let target = |p: &Value| json!({"kind": "Pod", "name": object::name_of(p), "namespace": ns, "uid": object::uid_of(p)});
    let mut labels = svc.at("/metadata/labels").cloned().filter(|l| l.is_object()).unwrap_or(json!({}));
    if svc.at("/spec/clusterIP") == Some(&json!("None")) {
        labels["service.kubernetes.io/headless"] = json!("");
    }
    // Endpoints (endpoints_controller.go labels them as its own).
    let mut ep_labels = labels.clone();
    ep_labels["endpoints.kubernetes.io/managed-by"] = json!("endpoint-controller");
    let (mut ready, mut not_ready) = (Vec::new(), Vec::new());
    for p in &pods {
        let addr = json!({"ip": object::str_at(p, "/status/podIP"), "nodeName": object::str_at(p, "/spec/nodeName"), "targetRef": target(p)});
        if (object::is_ready(p) || publish_not_ready) && !object::is_deleting(p) { ready.push(addr) } else if !object::is_deleting(p) { not_ready.push(addr) }
    }
    let ep_ports: Vec<Value> = ports.iter().filter_map(|sp| {
        let tp = pods.first().and_then(|p| target_port(sp, p))?;
        let mut o = json!({"port": tp, "protocol": sp["protocol"].as_str().unwrap_or("TCP")});
        if let Some(n) = sp["name"].as_str().filter(|n| !n.is_empty()) {
            o["name"] = json!(n);
        }
        Some(o)
    }).collect();
    let mut subset = json!({"ports": ep_ports});
    if !ready.is_empty() {
        subset["addresses"] = json!(ready);
    }
    if !not_ready.is_empty() {
        subset["notReadyAddresses"] = json!(not_ready);
    }
    let subsets = if ready.is_empty() && not_ready.is_empty() { None } else { Some(json!([subset])) };
    let mut ep = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns, "labels": ep_labels}});
    if let Some(s) = &subsets {
        ep["subsets"] = s.clone();
    }
    upsert(server, "", "endpoints", &ns, &name, ep, |cur, want| cur.get("subsets") == want.get("subsets") && cur.at("/metadata/labels") == want.at("/metadata/labels"));
    // EndpointSlice.
    let endpoints: Vec<Value> = pods.iter().map(|p| {
        let terminating = object::is_deleting(p);
        let r = object::is_ready(p) && !terminating;
        json!({"addresses": [object::str_at(p, "/status/podIP")], "conditions": {"ready": r || (publish_not_ready && !terminating), "serving": object::is_ready(p), "terminating": terminating},
            "nodeName": object::str_at(p, "/spec/nodeName"), "targetRef": target(p)})
    }).collect();
    let slice_ports: Vec<Value> = ports.iter().filter_map(|sp| {
        let tp = pods.first().map(|p| target_port(sp, p)).unwrap_or(sp["targetPort"].as_i64().or(sp["port"].as_i64()))?;
        Some(json!({"name": sp["name"].as_str().unwrap_or(""), "port": tp, "protocol": sp["protocol"].as_str().unwrap_or("TCP")}))
    }).collect();
    let mut slice_labels = labels.clone();
    slice_labels[SERVICE_NAME] = json!(name);
    slice_labels[MANAGED_BY] = json!(SLICE_CONTROLLER);
    // The Service's own slices, by the controller index: a slice of an earlier Service of that name
    // is not ours, and the garbage collector removes it (the real reconciler deletes it, same end).
    let existing = server.store.controlled_by(SLICE_KEY, &ns, object::uid_of(svc)).into_iter().find(|s| {
        object::labels(s).is_some_and(|l| l.get(SERVICE_NAME) == Some(&json!(name)) && l.get(MANAGED_BY) == Some(&json!(SLICE_CONTROLLER)))
    });
    let eps = if endpoints.is_empty() { Value::Null } else { json!(endpoints) };
    let mut slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": format!("{name}-"), "namespace": ns, "labels": slice_labels, "ownerReferences": [object::controller_ref(svc)]},
        "addressType": "IPv4", "endpoints": eps, "ports": if slice_ports.is_empty() { Value::Null } else { json!(slice_ports) },
    });
    match existing {
        Some(cur) => {
            slice["metadata"]["name"] = json!(object::name_of(&cur));
            upsert(server, "discovery.k8s.io", "endpointslices", &ns, object::name_of(&cur), slice, |c, w| c["endpoints"] == w["endpoints"] && c["ports"] == w["ports"] && c.at("/metadata/labels") == w.at("/metadata/labels"));
        }
        None => {
            let _ = server.create_internal("discovery.k8s.io", "v1", "endpointslices", Some(&ns), slice);
        }
    }
}

/// Create, or update when `same` says the live object differs.
fn upsert(server: &ApiServer, group: &str, plural: &str, ns: &str, name: &str, want: Value, same: impl Fn(&Value, &Value) -> bool) {
    let Ok(rt) = server.resource(group, "v1", plural) else { return };
    match server.store.get(&rt.key, ns, name) {
        None => {
            let _ = server.create(&rt, Some(ns), want, &util::opts(KCM));
        }
        Some(cur) if !same(&cur, &want) => {
            let _ = util::update(server, &rt, ns, name, KCM, |o| {
                let md = o["metadata"].clone();
                *o = want.clone();
                o["metadata"] = md;
                o["metadata"]["labels"] = want["metadata"]["labels"].clone();
                true
            });
        }
        _ => {}
    }
}
