//! kube-scheduler: binds pending pods to nodes. Filters run in the default profile's order
//! (NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit, VolumeBinding);
//! scoring is least-allocated with the scheduler's non-zero default requests. Failures are
//! reported with `FitError`'s exact text and a PodScheduled=False condition.

use crate::api::object::At;
use std::collections::{BTreeMap, HashMap, HashSet};
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

/// kube-scheduler's floor: clusters smaller than this are always searched whole.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// Pods scheduled per pass of the scheduler's loop.
const PASS: usize = 256;

#[derive(Default)]
pub struct Scheduler {
    /// Pods to (re)try; `all` after cluster changes that may make pending pods fit.
    queue: Mutex<(HashSet<(String, String)>, bool)>,
    /// The scheduler cache, kept from pod events: what each bound pod requests, where.
    cache: Mutex<Cache>,
    /// Where the next search for feasible nodes starts (`nextStartNodeIndex`).
    next_start: std::sync::atomic::AtomicUsize,
}

/// What bound pods use per node, and the pods still waiting for one.
#[derive(Default)]
struct Cache {
    synced: bool,
    /// uid → (node, what it counts there).
    bound: HashMap<String, (String, Requests)>,
    used: HashMap<String, NodeUsage>,
    /// Pods with no node yet (not deleting, not terminal), by (namespace, name).
    unscheduled: HashSet<(String, String)>,
}

impl Cache {
    /// Bring one pod's entry up to date with its current object (None: gone).
    fn apply(&mut self, key: (String, String), uid: &str, pod: Option<&Value>) {
        if let Some((node, r)) = self.bound.remove(uid)
            && let Some(u) = self.used.get_mut(&node) {
                u.sub(&r);
            }
        self.unscheduled.remove(&key);
        let Some(pod) = pod else { return };
        if is_terminal(pod) {
            return;
        }
        match object::str_at(pod, "/spec/nodeName").filter(|n| !n.is_empty()) {
            Some(node) => {
                let r = Requests::of(pod);
                self.used.entry(node.to_string()).or_default().add(&r);
                self.bound.insert(uid.to_string(), (node.to_string(), r));
            }
            None if !object::is_deleting(pod) => {
                self.unscheduled.insert(key);
            }
            None => {}
        }
    }

    fn resync(&mut self, server: &ApiServer) {
        *self = Cache { synced: true, ..Default::default() };
        for p in util::pods(server, None) {
            self.apply((object::ns_of(&p).to_string(), object::name_of(&p).to_string()), object::uid_of(&p), Some(&p));
        }
    }
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
                let key = (ev.namespace.clone(), ev.name.clone());
                let live = (ev.kind != Ev::Deleted).then_some(&*ev.object);
                let mut cache = self.cache.lock();
                if cache.synced {
                    cache.apply(key.clone(), object::uid_of(&ev.object), live);
                }
                drop(cache);
                let mut q = self.queue.lock();
                if ev.kind == Ev::Deleted || (is_terminal(&ev.object) && ev.prev.as_ref().is_some_and(|p| !is_terminal(p))) {
                    // Freed capacity may let pending pods fit.
                    q.1 = true;
                    return true;
                }
                if ev.object.at("/spec/nodeName").and_then(|n| n.as_str()).is_none_or(|n| n.is_empty()) {
                    q.0.insert(key);
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

    fn lagged(&self) {
        self.cache.lock().synced = false;
    }

    fn next_wake(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        // Pods left for the next pass: due now.
        (!self.queue.lock().0.is_empty()).then_some(chrono::DateTime::<chrono::Utc>::MIN_UTC)
    }

    fn reconcile(&self, server: &ApiServer) {
        let (wanted, mut all) = {
            let mut q = self.queue.lock();
            (std::mem::take(&mut q.0), std::mem::replace(&mut q.1, false))
        };
        let candidates: Vec<(String, String)> = {
            let mut cache = self.cache.lock();
            if !cache.synced {
                // The first pass (or one after missed events) tries every pending pod, as an
                // informer's initial list delivers each of them.
                cache.resync(server);
                all = true;
            }
            let mut c: Vec<_> = if all { cache.unscheduled.iter().cloned().collect() } else { wanted.into_iter().filter(|k| cache.unscheduled.contains(k)).collect() };
            c.sort();
            // The rest waits for the next pass, which comes at once (`next_wake`): between
            // passes the loop takes in the cluster's changes, so a rollout of thousands of
            // pods does not leave this scheduler behind its watch.
            if c.len() > PASS {
                self.queue.lock().0.extend(c.drain(PASS..));
            }
            c
        };
        let pending: Vec<Arc<Value>> = candidates
            .iter()
            .filter_map(|(ns, name)| server.store.get("pods", ns, name))
            .filter(|p| object::str_at(p, "/spec/nodeName").is_none_or(|n| n.is_empty()))
            .filter(|p| !object::is_deleting(p) && !is_terminal(p))
            .filter(|p| object::str_at(p, "/spec/schedulerName").unwrap_or("default-scheduler") == "default-scheduler")
            .collect();
        if pending.is_empty() {
            return;
        }
        let node_objs = server.store.list("nodes", None).0;
        let nodes: Vec<NodeInfo> = node_objs.iter().map(NodeInfo::of).collect();
        for pod in pending {
            self.schedule_one(server, &pod, &nodes);
        }
    }
}

impl Scheduler {
    /// Place one pod; returns the node it was bound to. Binding updates the cache through
    /// the pod's event, as the scheduler's assume step does.
    fn schedule_one(&self, server: &ApiServer, pod: &Arc<Value>, nodes: &[NodeInfo]) -> Option<String> {
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
        let want = Requests::of(pod);
        let spec = &pod["spec"];
        // NodeAffinity's PreFilter: required `matchFields` on metadata.name (a DaemonSet pod's) name the
        // only candidates, so the other nodes are never filtered (kube-scheduler's PreFilterResult.NodeNames).
        // When none of them fits, every node is filtered, for the failure message's per-node reasons.
        let named = pinned_nodes(spec);
        let (mut feasible, mut failures) = (Vec::new(), Vec::new());
        if let Some(names) = &named {
            let pinned: Vec<&NodeInfo> = names.iter().filter_map(|x| nodes.binary_search_by(|n| n.name.cmp(x)).ok().map(|i| &nodes[i])).collect();
            (feasible, _) = self.find_feasible(spec, &want, &pinned, &pv_nodes);
        }
        if feasible.is_empty() {
            let all: Vec<&NodeInfo> = nodes.iter().collect();
            (feasible, failures) = self.find_feasible(spec, &want, &all, &pv_nodes);
            if named.is_some() {
                feasible.clear();
            }
        }
        // Claims already given a node wait there for their volume (the binder's PreBind wait).
        let selected: Vec<&str> = delayed.iter().filter_map(|c| object::str_at(c, &format!("/metadata/annotations/{}", SELECTED_NODE.replace('/', "~1")))).collect();
        if !selected.is_empty() && feasible.iter().any(|(_, _, node)| selected.contains(&node.as_str())) {
            return None;
        }
        // Best score, then fewer pods; exact ties go to the last node by name, wherever the search began.
        let Some(node_name) = feasible.iter().max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2))).map(|(_, _, node)| node.clone()) else {
            self.fail(server, pod, fit_error(n, &failures));
            return None;
        };
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

    /// `findNodesThatPassFilters`: filter `nodes` from where the last search stopped until
    /// `numFeasibleNodesToFind` fit (all of them below 100 nodes); the feasible ones with their
    /// scores and pod counts, and every rejected node's failure.
    fn find_feasible(&self, spec: &Value, want: &Requests, nodes: &[&NodeInfo], pv_nodes: &[Value]) -> (Vec<(f64, usize, String)>, Vec<NodeFailure>) {
        let (mut feasible, mut failures) = (Vec::new(), Vec::new());
        let total = nodes.len();
        if total == 0 {
            return (feasible, failures);
        }
        let to_find = feasible_nodes_to_find(total);
        let start = self.next_start.load(std::sync::atomic::Ordering::Relaxed) % total;
        let cache = self.cache.lock();
        let empty = NodeUsage::default();
        let mut processed = 0;
        for i in 0..total {
            if feasible.len() >= to_find {
                break;
            }
            processed += 1;
            let node = nodes[(start + i) % total];
            let used = cache.used.get(node.name).unwrap_or(&empty);
            match filter(spec, want, node, used, pv_nodes) {
                Err(f) => failures.push(f),
                Ok(score) => feasible.push((score, used.pods, node.name.to_string())),
            }
        }
        self.next_start.store((start + processed) % total, std::sync::atomic::Ordering::Relaxed);
        (feasible, failures)
    }

    /// VolumeBinding's PreFilter: claims exist, are not deleting, are bound or delay-bindable.
    fn check_volumes(&self, server: &ApiServer, pod: &Value) -> Volumes {
        let ns = object::ns_of(pod);
        let mut pv_nodes = Vec::new();
        let mut delayed = Vec::new();
        let mut immediate_unbound = false;
        for vol in pod.at("/spec/volumes").and_then(|v| v.as_array()).into_iter().flatten() {
            let Some(claim) = vol.at("/persistentVolumeClaim/claimName").and_then(|c| c.as_str()) else { continue };
            let Some(pvc) = server.store.get("persistentvolumeclaims", ns, claim) else {
                return Volumes::Fail(format!("persistentvolumeclaim \"{claim}\" not found"));
            };
            if object::is_deleting(&pvc) {
                return Volumes::Fail(format!("persistentvolumeclaim \"{claim}\" is being deleted"));
            }
            if let Some(pv_name) = object::str_at(&pvc, "/spec/volumeName").filter(|v| !v.is_empty()) {
                match server.store.get("persistentvolumes", "", pv_name) {
                    Some(pv) => {
                        if let Some(req) = pv.at("/spec/nodeAffinity/required") {
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
                // Assume: later pods of this pass see the node's usage with this one on it.
                let mut cache = self.cache.lock();
                if cache.synced {
                    cache.apply((object::ns_of(&bound).to_string(), object::name_of(&bound).to_string()), &uid, Some(&bound));
                }
                drop(cache);
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
    if let Some(g) = pod.at("/metadata/generation").cloned() {
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

/// `numFeasibleNodesToFind` with the default `percentageOfNodesToScore` (adaptive).
fn feasible_nodes_to_find(all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let percentage = 50usize.saturating_sub(all / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    (all * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// What a pod asks of a node, in the scheduler's integer units (millicores, bytes), and its
/// requests at the scheduler's non-zero defaults (for scoring only).
#[derive(Default, Clone)]
struct Requests {
    cpu: i64,
    memory: i64,
    ephemeral: i64,
    nonzero_cpu: i64,
    nonzero_memory: i64,
}

impl Requests {
    fn of(p: &Value) -> Requests {
        let milli = |v: f64| (v * 1000.0).round() as i64;
        Requests {
            cpu: milli(pod_request(p, "cpu")),
            memory: pod_request(p, "memory").round() as i64,
            ephemeral: pod_request(p, "ephemeral-storage").round() as i64,
            nonzero_cpu: milli(nonzero(p, "cpu", DEFAULT_MILLI_CPU)),
            nonzero_memory: nonzero(p, "memory", DEFAULT_MEMORY).round() as i64,
        }
    }
}

/// A node's bound pods, summed (the scheduler cache's NodeInfo).
#[derive(Default)]
struct NodeUsage {
    pods: usize,
    sum: Requests,
}

impl NodeUsage {
    fn add(&mut self, r: &Requests) {
        self.pods += 1;
        self.sum.cpu += r.cpu;
        self.sum.memory += r.memory;
        self.sum.ephemeral += r.ephemeral;
        self.sum.nonzero_cpu += r.nonzero_cpu;
        self.sum.nonzero_memory += r.nonzero_memory;
    }
    fn sub(&mut self, r: &Requests) {
        self.pods = self.pods.saturating_sub(1);
        self.sum.cpu -= r.cpu;
        self.sum.memory -= r.memory;
        self.sum.ephemeral -= r.ephemeral;
        self.sum.nonzero_cpu -= r.nonzero_cpu;
        self.sum.nonzero_memory -= r.nonzero_memory;
    }
}

/// A node as one scheduling pass sees it: its allocatable parsed once, not per pod.
struct NodeInfo<'a> {
    node: &'a Value,
    name: &'a str,
    pods: i64,
    alloc: Requests,
}

impl<'a> NodeInfo<'a> {
    fn of(node: &'a Arc<Value>) -> NodeInfo<'a> {
        let alloc = |r: &str| node.at(&format!("/status/allocatable/{r}")).map(util::parse_quantity).unwrap_or(0.0);
        NodeInfo {
            node,
            name: object::name_of(node),
            pods: alloc("pods") as i64,
            alloc: Requests { cpu: (alloc("cpu") * 1000.0).round() as i64, memory: alloc("memory").round() as i64, ephemeral: alloc("ephemeral-storage").round() as i64, ..Default::default() },
        }
    }
}

/// A pod's request for `r`, or the scheduler's default per container when it sets none.
fn nonzero(p: &Value, r: &str, default: f64) -> f64 {
    let n = p.at("/spec/containers").and_then(|c| c.as_array()).map(|c| c.len()).unwrap_or(1) as f64;
    let v = pod_request(p, r);
    if v > 0.0 { v } else { default * n }
}

/// Run the filters for one node; Ok(score) when it fits.
fn filter(spec: &Value, want: &Requests, info: &NodeInfo, used: &NodeUsage, pv_nodes: &[Value]) -> Result<f64, NodeFailure> {
    let node = info.node;
    let hard = |r: &str| NodeFailure { reasons: vec![r.to_string()], resolvable: false };
    if node.at("/spec/unschedulable") == Some(&json!(true)) {
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
    let mut reasons = Vec::new();
    if used.pods as i64 + 1 > info.pods {
        reasons.push("Too many pods".to_string());
    }
    for (r, want, used, alloc) in [
        ("cpu", want.cpu, used.sum.cpu, info.alloc.cpu),
        ("memory", want.memory, used.sum.memory, info.alloc.memory),
        ("ephemeral-storage", want.ephemeral, used.sum.ephemeral, info.alloc.ephemeral),
    ] {
        if want > 0 && used + want > alloc {
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
    let free = |u: i64, a: i64| if a <= 0 { 0.0 } else { ((a - u) as f64 / a as f64).max(0.0) };
    let cpu = free(used.sum.nonzero_cpu + want.nonzero_cpu, info.alloc.cpu);
    let mem = free(used.sum.nonzero_memory + want.nonzero_memory, info.alloc.memory);
    Ok((cpu + mem) / 2.0)
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


/// The node names every required node-selector term pins the pod to through `matchFields`
/// `metadata.name In [...]`, when each term has one (their union); None when any term does not.
fn pinned_nodes(spec: &Value) -> Option<Vec<String>> {
    let terms = spec.at("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")?.as_array()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_pass_schedules_pods_it_never_saw_an_event_for() {
        // Pods written before the scheduler's loop first ran: its first pass must find them.
        let s = ApiServer::new();
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
            "status": {"allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}}});
        s.create(&s.resource("", "v1", "nodes").unwrap(), None, node, &Default::default()).unwrap();
        let pods = s.resource("", "v1", "pods").unwrap();
        for name in ["a", "b"] {
            let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}});
            s.create(&pods, Some("default"), pod, &Default::default()).unwrap();
        }
        Scheduler::default().reconcile(&s);
        for name in ["a", "b"] {
            let pod = s.store.get("pods", "default", name).unwrap();
            assert_eq!(pod["spec"]["nodeName"], "n1", "{name}: {}", pod["status"]);
        }
    }

    #[test]
    fn feasible_nodes_to_find_follows_kube_scheduler() {
        assert_eq!(feasible_nodes_to_find(50), 50);
        assert_eq!(feasible_nodes_to_find(100), 100);
        assert_eq!(feasible_nodes_to_find(1000), 420);
        assert_eq!(feasible_nodes_to_find(5000), 500);
        assert_eq!(feasible_nodes_to_find(10_000), 500);
    }

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
