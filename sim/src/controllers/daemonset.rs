//! The DaemonSet controller: one pod per eligible node (generateName `<ds>-`, pinned with
//! a `metadata.name` matchFields affinity, the auto-added tolerations), ControllerRevisions,
//! rolling replacement of old-revision pods, and the status counters.

use crate::api::object::At;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::object;
use super::placement;
use super::util::{self, Dirty, KCM};
use super::Controller;
use crate::events::{self, EventType};
use crate::server::ApiServer;
use crate::store::StoreEvent;

const KEY: &str = "apps/daemonsets";
const COMPONENT: &str = "daemonset-controller";
pub const REVISION_HASH: &str = "controller-revision-hash";

#[derive(Default)]
pub struct DaemonSetController {
    dirty: Dirty,
}

impl Controller for DaemonSetController {
    fn name(&self) -> &'static str {
        "daemonset"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        match &*ev.key {
            KEY => self.dirty.add(&ev.namespace, &ev.name),
            // A pod refused for a missing ServiceAccount is retried once it exists (the real
            // controller's rate-limited requeue).
            "serviceaccounts" if ev.kind == crate::store::EventType::Added => self.dirty.all(),
            "pods" => self.dirty.add_owner(ev, "DaemonSet"),
            "nodes" => self.dirty.all(),
            _ => false,
        }
    }

    fn reconcile(&self, server: &ApiServer) {
        for ds in self.dirty.take(server, KEY) {
            sync(server, &ds);
        }
    }
}

/// `AddOrUpdateDaemonPodTolerations`, in the controller's order.
pub fn add_daemon_tolerations(spec: &mut Value) {
    let mut add = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec["hostNetwork"] == true {
        add.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    if !spec["tolerations"].is_array() {
        spec["tolerations"] = json!([]);
    }
    let tols = spec["tolerations"].as_array_mut().unwrap();
    for (key, effect) in add {
        if !tols.iter().any(|t| t["key"] == key && t["effect"] == effect && t["operator"] == "Exists") {
            tols.push(json!({"key": key, "operator": "Exists", "effect": effect}));
        }
    }
}

/// The node a daemon pod is for (nodeName, or its matchFields pin).
fn target_node(pod: &Value) -> Option<String> {
    if let Some(n) = object::str_at(pod, "/spec/nodeName").filter(|n| !n.is_empty()) {
        return Some(n.to_string());
    }
    let terms = pod.at("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")?.as_array()?;
    terms.iter().flat_map(|t| t["matchFields"].as_array().cloned().unwrap_or_default())
        .find(|f| f["key"] == "metadata.name")
        .and_then(|f| f["values"][0].as_str().map(String::from))
}

/// The pods by the node they run on or are pinned to, in their order (one pass, not one per node).
fn pods_by_node(pods: &[Arc<Value>]) -> std::collections::HashMap<String, Vec<&Arc<Value>>> {
    let mut m: std::collections::HashMap<String, Vec<&Arc<Value>>> = std::collections::HashMap::new();
    for p in pods {
        if let Some(n) = target_node(p) {
            m.entry(n).or_default().push(p);
        }
    }
    m
}

/// ControllerRevision `<owner>-<hash>` holding the template; returns (name, hash).
pub fn ensure_revision(server: &ApiServer, owner: &Value, template: &Value) -> (String, String) {
    let ns = object::ns_of(owner);
    // The controllers always hash a collision count (0 when unset).
    let collision = Some(owner.at("/status/collisionCount").and_then(|c| c.as_i64()).unwrap_or(0));
    let hash = util::compute_hash(template, collision);
    let name = format!("{}-{hash}", object::name_of(owner));
    if server.store.get("apps/controllerrevisions", ns, &name).is_none() {
        let existing = util::owned(server, "apps/controllerrevisions", ns, object::uid_of(owner));
        let rev = existing.iter().map(|r| r["revision"].as_i64().unwrap_or(0)).max().unwrap_or(0) + 1;
        let mut labels = template.at("/metadata/labels").cloned().unwrap_or(json!({}));
        labels["controller.kubernetes.io/hash"] = json!(hash);
        let mut t = template.clone();
        t["$patch"] = json!("replace");
        let cr = json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": [object::controller_ref(owner)]},
            "data": {"spec": {"template": t}}, "revision": rev,
        });
        let _ = server.create_internal("apps", "v1", "controllerrevisions", Some(ns), cr);
    }
    (name, hash)
}

/// The template's pod spec as the controller checks it against nodes: with the daemon
/// tolerations added (once per pass, not once per node).
fn daemon_spec(spec: &Value) -> Value {
    let mut spec = spec.clone();
    add_daemon_tolerations(&mut spec);
    spec
}

/// `spec` from `daemon_spec`.
fn node_should_run(spec: &Value, node: &Value) -> bool {
    placement::matches_node_affinity(spec, node) && placement::untolerated_taint(spec, node).is_none()
}

fn sync(server: &ApiServer, ds: &Arc<Value>) {
    let ns = object::ns_of(ds).to_string();
    let name = object::name_of(ds).to_string();
    let template = ds.at("/spec/template").cloned().unwrap_or(json!({}));
    let pods_rt = util::rt(server, "", "v1", "pods");
    let nodes = server.store.list("nodes", None).0;
    let deleting = object::is_deleting(ds);
    let (_, hash) = if deleting { (String::new(), String::new()) } else { ensure_revision(server, ds, &template) };
    let generation = ds.at("/metadata/generation").and_then(|g| g.as_i64()).unwrap_or(1);
    let owned: Vec<Arc<Value>> = util::owned(server, "pods", &ns, object::uid_of(ds)).into_iter().filter(|p| object::is_active(p)).collect();
    let by_node = pods_by_node(&owned);
    // Once per node per pass: the status below counts from the same answers.
    let eligible = daemon_spec(&template["spec"]);
    let should_run: Vec<bool> = nodes.iter().map(|n| node_should_run(&eligible, n)).collect();
    if !deleting {
        let all_ready = owned.iter().all(|p| object::is_ready(p));
        let mut replaced = false;
        for (node, &should) in nodes.iter().zip(&should_run) {
            let node_name = object::name_of(node);
            let here: Vec<&Arc<Value>> = by_node.get(node_name).cloned().unwrap_or_default();
            if should && here.is_empty() {
                let mut pod = util::pod_from_template(&template, ds, &format!("{name}-"));
                pod["metadata"]["labels"][REVISION_HASH] = json!(hash);
                pod["metadata"]["labels"]["pod-template-generation"] = json!(generation.to_string());
                let spec = &mut pod["spec"];
                add_daemon_tolerations(spec);
                if !spec["affinity"].is_object() {
                    spec["affinity"] = json!({});
                }
                if !spec["affinity"]["nodeAffinity"].is_object() {
                    spec["affinity"]["nodeAffinity"] = json!({});
                }
                spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
                    json!({"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]});
                match server.create(&pods_rt, Some(&ns), pod, &util::opts(KCM)) {
                    Ok(p) => events::record(server, ds, EventType::Normal, "SuccessfulCreate", &format!("Created pod: {}", object::name_of(&p)), COMPONENT, None),
                    Err(e) => events::record(server, ds, EventType::Warning, "FailedCreate", &format!("Error creating: {}", e.message), COMPONENT, None),
                }
            } else {
                let extra: Vec<&&Arc<Value>> = if should { here.iter().skip(1).collect() } else { here.iter().collect() };
                let mut doomed: Vec<&Arc<Value>> = extra.into_iter().copied().collect();
                // RollingUpdate, maxUnavailable 1: replace one old-revision pod at a time.
                if should && !replaced && all_ready && ds.at("/spec/updateStrategy/type") != Some(&json!("OnDelete"))
                    && let Some(old) = here.first().filter(|p| object::str_at(p, &format!("/metadata/labels/{REVISION_HASH}")) != Some(hash.as_str())) {
                        doomed.push(old);
                        replaced = true;
                    }
                for p in doomed {
                    if util::delete(server, &pods_rt, p, None) {
                        events::record(server, ds, EventType::Normal, "SuccessfulDelete", &format!("Deleted pod: {}", object::name_of(p)), COMPONENT, None);
                    }
                }
            }
        }
    }
    // From the snapshot this pass began with, as the real controller's informer cache
    // would show it: what this pass created or deleted is counted once its events arrive.
    write_status(server, ds, &nodes, &should_run, &hash, &by_node);
}

fn write_status(server: &ApiServer, ds: &Value, nodes: &[Arc<Value>], should_run: &[bool], hash: &str, by_node: &std::collections::HashMap<String, Vec<&Arc<Value>>>) {
    let ns = object::ns_of(ds).to_string();
    let (mut desired, mut current, mut mis, mut ready, mut updated) = (0, 0, 0, 0, 0);
    for (node, &should) in nodes.iter().zip(should_run) {
        let here: &[&Arc<Value>] = by_node.get(object::name_of(node)).map(Vec::as_slice).unwrap_or_default();
        if should {
            desired += 1;
            if !here.is_empty() {
                current += 1;
            }
        } else if !here.is_empty() {
            mis += 1;
        }
        if let Some(p) = here.first() {
            if object::is_ready(p) {
                ready += 1;
            }
            if object::str_at(p, &format!("/metadata/labels/{REVISION_HASH}")) == Some(hash) {
                updated += 1;
            }
        }
    }
    let dsrt = util::rt(server, "apps", "v1", "daemonsets");
    let _ = util::write_status(server, &dsrt, &ns, object::name_of(ds), |cur| {
        let mut st = json!({
            "currentNumberScheduled": current, "desiredNumberScheduled": desired, "numberMisscheduled": mis,
            "numberReady": ready, "observedGeneration": cur.at("/metadata/generation").cloned().unwrap_or(json!(1)),
        });
        if ready > 0 {
            st["numberAvailable"] = json!(ready);
        }
        if updated > 0 {
            st["updatedNumberScheduled"] = json!(updated);
        }
        if desired - ready > 0 {
            st["numberUnavailable"] = json!(desired - ready);
        }
        Some(st)
    });
}
