//! kube-scheduler: binds pending pods to nodes. Filters run in the default profile's order
//! (NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit, VolumeBinding);
//! scoring is least-allocated with the scheduler's non-zero default requests. Failures are
//! reported with `FitError`'s exact text and a PodScheduled=False condition.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::placement;
use super::util::{self, pod_request};
use crate::api::object::{self, condition, is_terminal};
use super::Controller;
use crate::events::{self, EventType};
use crate::server::{meta, ApiServer};
use crate::store::{EventType as Ev, StoreEvent};

const COMPONENT: &str = "default-scheduler";
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// The scheduler's defaults for containers without requests (for scoring only).
const DEFAULT_MILLI_CPU: f64 = 0.1;
const DEFAULT_MEMORY: f64 = 200.0 * 1024.0 * 1024.0;

#[derive(Default)]
pub struct Scheduler {
    /// Pods to (re)try; `all` after cluster changes that may make pending pods fit.
    queue: Mutex<(HashSet<(String, String)>, bool)>,
}

/// Why one node was rejected, and whether preemption could help (resource shortage).
struct NodeFailure {
    reasons: Vec<String>,
    resolvable: bool,
}

enum Volumes {
    /// Nodes the pod's bound volumes allow (None: any), and unbound WaitForFirstConsumer claims.
    Ok { pv_nodes: Vec<Value>, delayed: Vec<Arc<Value>> },
    /// PreFilter failure: the whole pod is unschedulable with this message.
    Fail(String),
}

impl Controller for Scheduler {
    fn name(&self) -> &'static str {
        "scheduler"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        match &*ev.key {
            "pods" => {
                let unbound = ev.object.pointer("/spec/nodeName").and_then(|n| n.as_str()).is_none_or(|n| n.is_empty());
                let mut q = self.queue.lock();
                if ev.kind == Ev::Deleted || (is_terminal(&ev.object) && ev.prev.as_ref().is_some_and(|p| !is_terminal(p))) {
                    // Freed capacity may let pending pods fit.
                    q.1 = true;
                    return true;
                }
                if unbound {
                    q.0.insert((ev.namespace.clone(), ev.name.clone()));
                    return true;
                }
                false
            }
            "nodes" | "persistentvolumeclaims" | "persistentvolumes" | "storage.k8s.io/storageclasses" => {
                self.queue.lock().1 = true;
                true
            }
            _ => false,
        }
    }

    fn reconcile(&self, server: &ApiServer) {
        let (wanted, all) = {
            let mut q = self.queue.lock();
            (std::mem::take(&mut q.0), std::mem::replace(&mut q.1, false))
        };
        let pending: Vec<Arc<Value>> = util::pods(server, None)
            .into_iter()
            .filter(|p| object::str_at(p, "/spec/nodeName").is_none_or(|n| n.is_empty()))
            .filter(|p| !object::is_deleting(p) && !is_terminal(p))
            .filter(|p| object::str_at(p, "/spec/schedulerName").unwrap_or("default-scheduler") == "default-scheduler")
            .filter(|p| all || wanted.contains(&(object::ns_of(p).to_string(), object::name_of(p).to_string())))
            .collect();
        if pending.is_empty() {
            return;
        }
        let nodes = server.store.list("nodes", None).0;
        // What each node already runs, summed once per pass and kept current as pods bind
        // (the scheduler cache's NodeInfo), so a pass costs pods + pending × nodes.
        let mut usage: std::collections::HashMap<String, NodeUsage> = std::collections::HashMap::new();
        for p in util::pods(server, None).iter().filter(|p| !is_terminal(p)) {
            if let Some(n) = object::str_at(p, "/spec/nodeName").filter(|n| !n.is_empty()) {
                usage.entry(n.to_string()).or_default().add(p);
            }
        }
        for pod in pending {
            if let Some(node) = self.schedule_one(server, &pod, &nodes, &usage) {
                usage.entry(node).or_default().add(&pod);
            }
        }
    }
}

impl Scheduler {
    /// Place one pod; returns the node it was bound to.
    fn schedule_one(&self, server: &ApiServer, pod: &Arc<Value>, nodes: &[Arc<Value>], usage: &std::collections::HashMap<String, NodeUsage>) -> Option<String> {
        let n = nodes.len();
        if n == 0 {
            self.fail(server, pod, "no nodes available to schedule pods".into());
            return None;
        }
        let (pv_nodes, delayed) = match self.check_volumes(server, pod) {
            Volumes::Fail(msg) => {
                let m = format!("0/{n} nodes are available: {msg}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling.");
                self.fail(server, pod, m);
                return None;
            }
            Volumes::Ok { pv_nodes, delayed } => (pv_nodes, delayed),
        };
        let spec = &pod["spec"];
        let empty = NodeUsage::default();
        let mut failures: Vec<NodeFailure> = Vec::new();
        let mut feasible: Vec<(f64, usize, &Arc<Value>)> = Vec::new();
        // NodeAffinity's PreFilter: required `matchFields` on metadata.name (a DaemonSet pod's) name the
        // only candidates, so the other nodes are never filtered (kube-scheduler's PreFilterResult.NodeNames).
        // When none of them fits, every node is filtered, for the failure message's per-node reasons.
        let named = pinned_nodes(spec);
        let pinned: Vec<&Arc<Value>> = match &named {
            Some(names) => nodes.iter().filter(|n| names.iter().any(|x| x == object::name_of(n))).collect(),
            None => Vec::new(),
        };
        for pass in [pinned, nodes.iter().collect()] {
            if !feasible.is_empty() || (named.is_none() && !failures.is_empty()) {
                break;
            }
            failures.clear();
            for node in pass {
                let used = usage.get(object::name_of(node)).unwrap_or(&empty);
                match filter(spec, pod, node, used, &pv_nodes) {
                    Err(f) => failures.push(f),
                    Ok(score) => feasible.push((score, used.pods, node)),
                }
            }
        }
        // Claims already given a node wait there for their volume (the binder's PreBind wait).
        let selected: Vec<&str> = delayed.iter().filter_map(|c| object::str_at(c, &format!("/metadata/annotations/{}", SELECTED_NODE.replace('/', "~1")))).collect();
        if !selected.is_empty()
            && feasible.iter().any(|(_, _, node)| selected.contains(&object::name_of(node))) {
                return None;
            }
        let Some(best) = feasible.iter().max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1))).map(|(_, _, node)| (*node).clone()) else {
            self.fail(server, pod, fit_error(n, &failures));
            return None;
        };
        let node_name = object::name_of(&best).to_string();
        if !delayed.is_empty() {
            // WaitForFirstConsumer: tell the provisioner where, bind the pod once the claims are Bound.
            let pvcs = util::rt(server, "", "v1", "persistentvolumeclaims");
            for c in &delayed {
                let _ = util::update(server, &pvcs, object::ns_of(c), object::name_of(c), COMPONENT, |o| {
                    let md = object::metadata_mut(o);
                    let ann = md.entry("annotations").or_insert_with(|| json!({}));
                    if ann.get(SELECTED_NODE).and_then(|v| v.as_str()) == Some(node_name.as_str()) {
                        return false;
                    }
                    ann[SELECTED_NODE] = json!(node_name);
                    true
                });
            }
            return None;
        }
        self.bind(server, pod, &node_name).then_some(node_name)
    }

    /// VolumeBinding's PreFilter: claims exist, are not deleting, are bound or delay-bindable.
    fn check_volumes(&self, server: &ApiServer, pod: &Value) -> Volumes {
        let ns = object::ns_of(pod);
        let mut pv_nodes = Vec::new();
        let mut delayed = Vec::new();
        let mut immediate_unbound = false;
        for vol in pod.pointer("/spec/volumes").and_then(|v| v.as_array()).into_iter().flatten() {
            let Some(claim) = vol.pointer("/persistentVolumeClaim/claimName").and_then(|c| c.as_str()) else { continue };
            let Some(pvc) = server.store.get("persistentvolumeclaims", ns, claim) else {
                return Volumes::Fail(format!("persistentvolumeclaim \"{claim}\" not found"));
            };
            if object::is_deleting(&pvc) {
                return Volumes::Fail(format!("persistentvolumeclaim \"{claim}\" is being deleted"));
            }
            if let Some(pv_name) = object::str_at(&pvc, "/spec/volumeName").filter(|v| !v.is_empty()) {
                match server.store.get("persistentvolumes", "", pv_name) {
                    Some(pv) => {
                        if let Some(req) = pv.pointer("/spec/nodeAffinity/required") {
                            pv_nodes.push(req.clone());
                        }
                    }
                    None => return Volumes::Fail("node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)".into()),
                }
                continue;
            }
            let class = object::str_at(&pvc, "/spec/storageClassName").unwrap_or("");
            if class.is_empty() {
                immediate_unbound = true;
                continue;
            }
            match server.store.get("storage.k8s.io/storageclasses", "", class) {
                None => return Volumes::Fail(format!("storageclass.storage.k8s.io \"{class}\" not found")),
                Some(sc) if sc["volumeBindingMode"] == "WaitForFirstConsumer" => delayed.push(pvc.clone()),
                Some(_) => immediate_unbound = true,
            }
        }
        if immediate_unbound {
            return Volumes::Fail("pod has unbound immediate PersistentVolumeClaims".into());
        }
        Volumes::Ok { pv_nodes, delayed }
    }

    /// pods/binding: set nodeName and PodScheduled=True in one storage write.
    fn bind(&self, server: &ApiServer, pod: &Value, node: &str) -> bool {
        let uid = object::uid_of(pod).to_string();
        let now = meta::now_rfc3339();
        let r = server.store.modify::<()>("pods", object::ns_of(pod), object::name_of(pod), |cur| {
            if object::uid_of(cur) != uid || object::str_at(cur, "/spec/nodeName").is_some_and(|n| !n.is_empty()) {
                return Ok(None);
            }
            let mut next = (**cur).clone();
            next["spec"]["nodeName"] = json!(node);
            set_pod_scheduled(&mut next, json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
            Ok(Some(next))
        });
        if let Ok(Ok(bound)) = r
            && object::str_at(&bound, "/spec/nodeName") == Some(node) {
                let msg = format!("Successfully assigned {}/{} to {node}", object::ns_of(pod), object::name_of(pod));
                events::record(server, &bound, EventType::Normal, "Scheduled", &msg, COMPONENT, None);
                return true;
            }
        false
    }

    fn fail(&self, server: &ApiServer, pod: &Value, message: String) {
        let uid = object::uid_of(pod).to_string();
        let now = meta::now_rfc3339();
        let msg = message.clone();
        let _ = server.store.modify::<()>("pods", object::ns_of(pod), object::name_of(pod), |cur| {
            if object::uid_of(cur) != uid {
                return Ok(None);
            }
            if condition(cur, "PodScheduled").is_some_and(|c| c["status"] == "False" && c["message"] == msg.as_str()) {
                return Ok(None);
            }
            let mut next = (**cur).clone();
            set_pod_scheduled(&mut next, json!({"type": "PodScheduled", "status": "False", "lastProbeTime": null, "lastTransitionTime": now, "reason": "Unschedulable", "message": msg}));
            Ok(Some(next))
        });
        events::record(server, pod, EventType::Warning, "FailedScheduling", &message, COMPONENT, None);
    }
}

fn set_pod_scheduled(pod: &mut Value, mut cond: Value) {
    if let Some(g) = pod.pointer("/metadata/generation").cloned() {
        cond["observedGeneration"] = g;
    }
    if !pod["status"].is_object() {
        pod["status"] = json!({"phase": "Pending"});
    }
    let st = pod["status"].as_object_mut().unwrap();
    let list = st.entry("conditions").or_insert_with(|| json!([]));
    if let Some(a) = list.as_array_mut() {
        a.retain(|c| c["type"] != "PodScheduled");
        a.push(cond);
    }
}

/// Run the filters for one node; Ok(score) when it fits.
/// A node's running pods, summed (requests, and requests at the scheduler's non-zero defaults
/// for scoring).
#[derive(Default)]
struct NodeUsage {
    pods: usize,
    cpu: f64,
    memory: f64,
    ephemeral: f64,
    nonzero_cpu: f64,
    nonzero_memory: f64,
}

impl NodeUsage {
    fn add(&mut self, p: &Value) {
        self.pods += 1;
        self.cpu += pod_request(p, "cpu");
        self.memory += pod_request(p, "memory");
        self.ephemeral += pod_request(p, "ephemeral-storage");
        self.nonzero_cpu += nonzero(p, "cpu", DEFAULT_MILLI_CPU);
        self.nonzero_memory += nonzero(p, "memory", DEFAULT_MEMORY);
    }
    fn requested(&self, r: &str) -> f64 {
        match r {
            "cpu" => self.cpu,
            "memory" => self.memory,
            _ => self.ephemeral,
        }
    }
}

/// A pod's request for `r`, or the scheduler's default per container when it sets none.
fn nonzero(p: &Value, r: &str, default: f64) -> f64 {
    let n = p.pointer("/spec/containers").and_then(|c| c.as_array()).map(|c| c.len()).unwrap_or(1) as f64;
    let v = pod_request(p, r);
    if v > 0.0 { v } else { default * n }
}

fn filter(spec: &Value, pod: &Value, node: &Value, used: &NodeUsage, pv_nodes: &[Value]) -> Result<f64, NodeFailure> {
    let hard = |r: &str| NodeFailure { reasons: vec![r.to_string()], resolvable: false };
    if node.pointer("/spec/unschedulable") == Some(&json!(true)) {
        let taint = json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"});
        if !placement::tolerations(spec).iter().any(|t| placement::tolerates(t, &taint)) {
            return Err(hard("node(s) were unschedulable"));
        }
    }
    if let Some(t) = placement::untolerated_taint(spec, node) {
        return Err(hard(&format!("node(s) had untolerated taint {}", placement::taint_text(t))));
    }
    if !placement::matches_node_affinity(spec, node) {
        return Err(hard("node(s) didn't match Pod's node affinity/selector"));
    }
    let alloc = |r: &str| node.pointer(&format!("/status/allocatable/{r}")).map(util::parse_quantity).unwrap_or(0.0);
    let mut reasons = Vec::new();
    if used.pods as f64 + 1.0 > alloc("pods") {
        reasons.push("Too many pods".to_string());
    }
    for r in ["cpu", "memory", "ephemeral-storage"] {
        let want = pod_request(pod, r);
        if want > 0.0 && used.requested(r) + want > alloc(r) {
            reasons.push(format!("Insufficient {r}"));
        }
    }
    if !reasons.is_empty() {
        return Err(NodeFailure { reasons, resolvable: true });
    }
    if pv_nodes.iter().any(|sel| !placement::node_selector_matches(sel, node)) {
        return Err(hard("node(s) had volume node affinity conflict"));
    }
    // Least allocated, counting containers without requests at the scheduler's defaults.
    let cpu = used.nonzero_cpu + nonzero(pod, "cpu", DEFAULT_MILLI_CPU);
    let mem = used.nonzero_memory + nonzero(pod, "memory", DEFAULT_MEMORY);
    let free = |u: f64, a: f64| if a <= 0.0 { 0.0 } else { ((a - u) / a).max(0.0) };
    Ok((free(cpu, alloc("cpu")) + free(mem, alloc("memory"))) / 2.0)
}

/// `FitError.Error()`: sorted "<count> <reason>" histogram, then the preemption verdict.
fn fit_error(n: usize, failures: &[NodeFailure]) -> String {
    let mut hist: BTreeMap<String, usize> = BTreeMap::new();
    let (mut helpless, mut no_victims) = (0, 0);
    for f in failures {
        for r in &f.reasons {
            *hist.entry(r.clone()).or_default() += 1;
        }
        if f.resolvable { no_victims += 1 } else { helpless += 1 }
    }
    let mut parts: Vec<String> = hist.iter().map(|(r, c)| format!("{c} {r}")).collect();
    parts.sort();
    let mut pre = Vec::new();
    if no_victims > 0 {
        pre.push(format!("{no_victims} No preemption victims found for incoming pod"));
    }
    if helpless > 0 {
        pre.push(format!("{helpless} Preemption is not helpful for scheduling"));
    }
    pre.sort();
    format!("0/{n} nodes are available: {}. preemption: 0/{n} nodes are available: {}.", parts.join(", "), pre.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_error_text() {
        let f = vec![
            NodeFailure { reasons: vec!["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }".into()], resolvable: false },
            NodeFailure { reasons: vec!["node(s) didn't match Pod's node affinity/selector".into()], resolvable: false },
            NodeFailure { reasons: vec!["node(s) didn't match Pod's node affinity/selector".into()], resolvable: false },
        ];
        assert_eq!(fit_error(3, &f), "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.");
    }
}

/// The node names every required node-selector term pins the pod to through `matchFields`
/// `metadata.name In [...]`, when each term has one (their union); None when any term does not.
fn pinned_nodes(spec: &Value) -> Option<Vec<String>> {
    let terms = spec.pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")?.as_array()?;
    if terms.is_empty() {
        return None;
    }
    let mut names = Vec::new();
    for t in terms {
        let f = t["matchFields"].as_array()?.iter().find(|f| f["key"] == "metadata.name" && f["operator"] == "In")?;
        names.extend(f["values"].as_array()?.iter().filter_map(|v| v.as_str().map(String::from)));
    }
    Some(names)
}
