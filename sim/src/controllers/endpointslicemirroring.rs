//! kube-controller-manager's endpointslice-mirroring controller (pkg/controller/endpointslicemirroring):
//! Endpoints that someone other than the endpoints controller writes — for a Service without a
//! selector, like prometheus-operator's kubelet Service — are mirrored into EndpointSlices
//! `<name>-<5 chars>`, one per port set and address type, labelled with the Endpoints' labels plus
//! `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
//! endpointslicemirroring-controller.k8s.io`, owned by the Endpoints (so they go with it). Mirrored
//! slices are deleted when the Service goes or gains a selector, or the Endpoints are labelled
//! `endpointslice.kubernetes.io/skip-mirror: "true"`; when the Endpoints goes, the garbage collector
//! takes them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Controller;
use super::util::{self, Dirty, KCM};
use crate::api::object;
use crate::server::ApiServer;
use crate::store::StoreEvent;

const SLICES: &str = "discovery.k8s.io/endpointslices";
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const CONTROLLER: &str = "endpointslicemirroring-controller.k8s.io";
const SERVICE_NAME: &str = "kubernetes.io/service-name";
const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
const LEADER_ELECTION: &str = "control-plane.alpha.kubernetes.io/leader";
/// Annotations of the Endpoints not copied to the slices.
const NOT_COPIED: &[&str] = &["endpoints.kubernetes.io/last-change-trigger-time", "kubectl.kubernetes.io/last-applied-configuration"];

#[derive(Default)]
pub struct EndpointSliceMirroring {
    dirty: Dirty,
}

impl Controller for EndpointSliceMirroring {
    fn name(&self) -> &'static str {
        "endpointslice-mirroring"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        match &*ev.key {
            "endpoints" | "services" => self.dirty.add(&ev.namespace, &ev.name),
            SLICES => {
                let label = |o: &Value, k: &str| object::labels(o).and_then(|l| l.get(k)).and_then(Value::as_str).map(String::from);
                match (label(&ev.object, MANAGED_BY).as_deref(), label(&ev.object, SERVICE_NAME)) {
                    (Some(CONTROLLER), Some(svc)) => self.dirty.add(&ev.namespace, &svc),
                    _ => false,
                }
            }
            _ => false,
        }
    }

    fn reconcile(&self, server: &ApiServer) {
        // Keys, not objects: a deleted Endpoints or Service must still clean up its slices.
        let keys: Vec<(String, String)> = if self.dirty.take_all_flag() {
            let (eps, _) = server.store.list("endpoints", None);
            let (slices, _) = server.store.list(SLICES, None);
            eps.iter()
                .map(|e| (object::ns_of(e).to_string(), object::name_of(e).to_string()))
                .chain(slices.iter().filter_map(|s| {
                    let l = object::labels(s)?;
                    let svc = l.get(SERVICE_NAME)?.as_str()?;
                    (l.get(MANAGED_BY)? == CONTROLLER).then(|| (object::ns_of(s).to_string(), svc.to_string()))
                }))
                .collect()
        } else {
            self.dirty.take_keys()
        };
        for (ns, name) in keys {
            sync(server, &ns, &name);
        }
    }
}

fn sync(server: &ApiServer, ns: &str, name: &str) {
    // Mirrored slices are controlled by their Endpoints, so the controller index finds them (a sync
    // must not scan every slice of the namespace). Once the Endpoints is gone, its slices are the
    // garbage collector's, as they are on a real cluster whenever it deletes them first.
    let Some(live) = server.store.get("endpoints", ns, name) else { return };
    let mirrored: Vec<std::sync::Arc<Value>> = server
        .store
        .controlled_by(SLICES, ns, object::uid_of(&live))
        .into_iter()
        .filter(|s| object::labels(s).is_some_and(|l| l.get(MANAGED_BY).and_then(Value::as_str) == Some(CONTROLLER) && l.get(SERVICE_NAME).and_then(Value::as_str) == Some(name)))
        .collect();
    let endpoints = Some(live).filter(|e| !object::is_deleting(e));
    let service = server.store.get("services", ns, name);
    let mirror = match (&endpoints, &service) {
        (Some(ep), Some(svc)) => {
            let skip = object::labels(ep).and_then(|l| l.get(SKIP_MIRROR)) == Some(&json!("true"));
            let leader = ep.pointer("/metadata/annotations").and_then(Value::as_object).is_some_and(|a| a.contains_key(LEADER_ELECTION));
            let selector = svc.pointer("/spec/selector").is_some_and(|s| !s.is_null());
            !skip && !leader && !selector
        }
        _ => false,
    };
    let Ok(rt) = server.resource("discovery.k8s.io", "v1", "endpointslices") else { return };
    let desired = match (mirror, &endpoints) {
        (true, Some(ep)) => desired_slices(ep),
        _ => BTreeMap::new(),
    };
    // Existing slices by their port key; each desired one updates its match or is created.
    let mut by_key: BTreeMap<String, Vec<std::sync::Arc<Value>>> = BTreeMap::new();
    for s in mirrored {
        by_key.entry(port_key(&s["ports"], s["addressType"].as_str().unwrap_or("IPv4"))).or_default().push(s);
    }
    for (key, want) in desired {
        let mut existing = by_key.remove(&key).unwrap_or_default().into_iter();
        match existing.next() {
            Some(cur) => {
                let cur_name = object::name_of(&cur).to_string();
                let same = cur["endpoints"] == want["endpoints"] && cur.pointer("/metadata/labels") == want.pointer("/metadata/labels");
                if !same {
                    let _ = util::update(server, &rt, ns, &cur_name, KCM, |o| {
                        o["endpoints"] = want["endpoints"].clone();
                        o["ports"] = want["ports"].clone();
                        o["metadata"]["labels"] = want["metadata"]["labels"].clone();
                        o["metadata"]["annotations"] = want["metadata"]["annotations"].clone();
                        true
                    });
                }
            }
            None => {
                let _ = server.create(&rt, Some(ns), want, &util::opts(KCM));
            }
        }
        for extra in existing {
            let _ = server.delete(&rt, Some(ns), object::name_of(&extra), &Default::default());
        }
    }
    for stale in by_key.into_values().flatten() {
        let _ = server.delete(&rt, Some(ns), object::name_of(&stale), &Default::default());
    }
}

fn port_key(ports: &Value, address_type: &str) -> String {
    let mut ps: Vec<String> = ports.as_array().into_iter().flatten().map(|p| p.to_string()).collect();
    ps.sort();
    format!("{address_type}|{}", ps.join(","))
}

/// The slices the Endpoints ask for, by port key (utils.go newEndpointSlice, addressToEndpoint,
/// epPortsToEpsPorts; subsets with the same ports share a slice).
fn desired_slices(ep: &Value) -> BTreeMap<String, Value> {
    let mut labels = object::labels(ep).cloned().unwrap_or_default();
    labels.insert(SERVICE_NAME.into(), json!(object::name_of(ep)));
    labels.insert(MANAGED_BY.into(), json!(CONTROLLER));
    let mut annotations = ep.pointer("/metadata/annotations").and_then(Value::as_object).cloned().unwrap_or_default();
    annotations.retain(|k, _| !NOT_COPIED.contains(&k.as_str()));
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for subset in ep["subsets"].as_array().into_iter().flatten() {
        let ports: Vec<Value> = subset["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let mut o = json!({"name": p["name"].as_str().unwrap_or(""), "port": p["port"], "protocol": p["protocol"].as_str().unwrap_or("TCP")});
                if let Some(a) = p.get("appProtocol") {
                    o["appProtocol"] = a.clone();
                }
                o
            })
            .collect();
        let ready = subset["addresses"].as_array().into_iter().flatten().map(|a| (a, true));
        let not_ready = subset["notReadyAddresses"].as_array().into_iter().flatten().map(|a| (a, false));
        for (addr, ready) in ready.chain(not_ready) {
            let Some(ip) = addr["ip"].as_str().and_then(|i| i.parse::<std::net::IpAddr>().ok()) else { continue };
            let address_type = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
            let mut endpoint = json!({"addresses": [ip.to_string()], "conditions": {"ready": ready}});
            for (from, to) in [("targetRef", "targetRef"), ("nodeName", "nodeName"), ("hostname", "hostname")] {
                if let Some(v) = addr.get(from).filter(|v| !v.is_null() && v.as_str() != Some("")) {
                    endpoint[to] = v.clone();
                }
            }
            let key = port_key(&json!(ports), address_type);
            let slice = out.entry(key).or_insert_with(|| {
                json!({
                    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"generateName": format!("{}-", object::name_of(ep)), "namespace": object::ns_of(ep),
                        "labels": labels, "annotations": if annotations.is_empty() { Value::Null } else { json!(annotations) },
                        "ownerReferences": [{"apiVersion": "v1", "kind": "Endpoints", "name": object::name_of(ep), "uid": object::uid_of(ep), "controller": true, "blockOwnerDeletion": true}]},
                    "addressType": address_type, "endpoints": [], "ports": ports,
                })
            });
            if let Some(list) = slice["endpoints"].as_array_mut() {
                list.push(endpoint);
            }
        }
    }
    out
}
