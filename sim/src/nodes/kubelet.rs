//! One emulated kubelet (plus containerd) per node: starts the pods bound to its node,
//! completes Job pods, finishes graceful deletions and cleans what a real kubelet cleans.

use crate::api::object::At;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use super::fs::{self, MountEntry};
use super::pod_status::{self as ps, Started, MSG_CREATED, MSG_STARTED};
use crate::api::object::{self, is_terminal};
use crate::controllers::clock::{Clock, Deadlines, Latency, Timing};
use crate::controllers::Controller;

mod crashloop;
mod pods;
mod preflight;
pub use crashloop::exits_at_once;
pub use preflight::invalid_image;
use crate::server::{meta, ApiServer, DeleteOptions};
use crate::store::{EventType as Ev, StoreEvent};

pub struct Kubelet {
    node: String,
    root: PathBuf,
    ip: String,
    /// `10.244.<i>` — pod IPs come from the node's podCIDR.
    pod_net: String,
    next_ip: AtomicU32,
    housekeeping: AtomicBool,
    clock: Clock,
    timing: Timing,
    /// Pods waiting out their start latency (`Timing::Kind`).
    starts: Deadlines,
    backoffs: crashloop::BackOffs,
    /// Kubelet events already recorded for a blocked pod (`<uid>/<message>`), so a retry does
    /// not repeat them; and the namespaces whose ConfigMaps/Secrets a blocked pod waits for.
    noted: parking_lot::Mutex<std::collections::HashSet<String>>,
    /// When the next log GC runs (`Timing::Kind`: the kubelet's one-minute container GC).
    log_gc_at: parking_lot::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    waiting_in: parking_lot::Mutex<std::collections::HashSet<String>>,
    pods: pods::PodManager,
}

impl Kubelet {
    pub fn new(spec: &super::NodeSpec, cluster_root: &Path, clock: Clock, timing: Timing) -> Kubelet {
        Kubelet {
            node: spec.name.clone(),
            root: super::node_root(cluster_root, &spec.name),
            ip: spec.ip(),
            pod_net: format!("10.244.{}", spec.index),
            next_ip: AtomicU32::new(2),
            housekeeping: AtomicBool::new(true),
            clock,
            timing,
            starts: Deadlines::default(),
            backoffs: crashloop::BackOffs::default(),
            noted: Default::default(),
            log_gc_at: Default::default(),
            waiting_in: Default::default(),
            pods: Default::default(),
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The node a pod is bound to (direct lookups: asked of every pod event).
    pub fn node_of(pod: &Value) -> Option<&str> {
        pod.get("spec")?.get("nodeName")?.as_str()
    }

    fn on_node(&self, pod: &Value) -> bool {
        Self::node_of(pod) == Some(self.node.as_str())
    }

    fn alloc_ip(&self) -> String {
        let n = self.next_ip.fetch_add(1, Ordering::Relaxed);
        format!("{}.{}", self.pod_net, 2 + (n - 2) % 252)
    }
}

/// Pods the emulated runtime runs to completion: Job pods and local-path helper pods.
/// An ephemeral container without a status yet.
fn unstarted_ephemeral(pod: &Value) -> bool {
    let statuses = pod.at("/status/ephemeralContainerStatuses").and_then(|s| s.as_array()).map(|a| a.len()).unwrap_or(0);
    pod.at("/spec/ephemeralContainers").and_then(|c| c.as_array()).is_some_and(|a| a.len() > statuses)
}

/// Whether a pod's state needs its kubelet: to start it, kill it, run it to completion or
/// start an ephemeral container.
fn needs_kubelet(pod: &Value) -> bool {
    object::is_deleting(pod)
        || matches!(object::phase(pod), "Pending" | "")
        || (object::phase(pod) == "Running" && (completes(pod) || unstarted_ephemeral(pod)))
}

pub fn completes(pod: &Value) -> bool {
    object::owner_refs(pod).iter().any(|r| r["kind"] == "Job" && r["apiVersion"].as_str().is_some_and(|a| a.starts_with("batch/")))
        || (object::ns_of(pod) == "local-path-storage" && object::name_of(pod).starts_with("helper-pod-"))
}

impl Controller for Kubelet {
    fn name(&self) -> &'static str {
        "kubelet"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        match &*ev.key {
            "pods" => {
                if !self.on_node(&ev.object) {
                    return false;
                }
                let needs = self.pods.observe(ev, needs_kubelet);
                if ev.kind == Ev::Deleted || object::is_deleting(&ev.object) {
                    self.housekeeping.store(true, Ordering::Relaxed);
                    return true;
                }
                needs
            }
            "persistentvolumeclaims" => object::phase(&ev.object) == "Bound",
            // A blocked pod starts once what it waits for appears (watch-driven, as the
            // kubelet's ConfigMap/Secret managers are).
            "configmaps" | "secrets" => ev.kind != Ev::Deleted && self.waiting_in.lock().contains(&ev.namespace),
            _ => false,
        }
    }

    fn lagged(&self) {
        self.pods.invalidate();
    }

    fn next_wake(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        [self.starts.next(), self.backoffs.next(), *self.log_gc_at.lock()].into_iter().flatten().min()
    }

    fn reconcile(&self, server: &ApiServer) {
        let pods: Vec<Arc<Value>> = self.pods.to_work_on(server, &self.node, needs_kubelet);
        let now = self.clock.now();
        let live = || self.pods.uids(false);
        // First, so whatever this pass writes shows the GC that was due has run.
        if let Some(period) = self.timing.log_gc_period() {
            let period = chrono::Duration::from_std(period).unwrap_or_default();
            let mut at = self.log_gc_at.lock();
            let due = *at.get_or_insert(now + period);
            if due <= now {
                self.gc_logs(&live());
                *at = Some(now + period);
            }
        }
        let on_node = live();
        self.starts.retain(|uid| on_node.iter().any(|u| u == uid));
        self.noted.lock().retain(|k| on_node.iter().any(|u| k.starts_with(u.as_str())));
        self.waiting_in.lock().clear();
        for pod in &pods {
            if object::is_deleting(pod) {
                self.kill(server, pod);
            } else if matches!(object::phase(pod), "Pending" | "") {
                // Sandbox, image and container start take their time on kind.
                let uid = object::uid_of(pod);
                if self.starts.due(uid, now, self.timing.delay(Latency::PodStart, uid)) {
                    self.start(server, pod);
                } else {
                    self.write_waiting(server, pod);
                }
            } else if object::phase(pod) == "Running" && completes(pod) {
                self.complete(server, pod);
            } else if object::phase(pod) == "Running" && unstarted_ephemeral(pod) {
                self.start_ephemeral(server, pod);
            }
        }
        self.restart_due(server);
        if self.housekeeping.swap(false, Ordering::Relaxed) {
            let live = live();
            for uid in fs::pod_uids_on_disk(&self.root) {
                if live.contains(&uid) {
                    continue;
                }
                self.cleanup_deleted(&uid);
            }
        }
    }
}

impl Kubelet {
    /// `kuberuntime_gc.go` `evictPodLogsDirectories`: log dirs of pods this kubelet no longer
    /// runs, and `/var/log/containers` links whose log is gone.
    /// A deleted pod's kubelet dir and mounts go at once; under `Timing::Kind` its logs stay
    /// until the next log GC, as on kind.
    fn cleanup_deleted(&self, uid: &str) {
        if self.timing.log_gc_period().is_none() {
            return cleanup_pod_by_uid(&self.root, uid);
        }
        fs::remove_mounts_of_pod(&self.root, uid);
        let _ = std::fs::remove_dir_all(self.root.join(fs::KUBELET_PODS).join(uid));
    }

    fn gc_logs(&self, live: &[String]) {
        for d in fs::pod_log_dirs(&self.root) {
            let Some(uid) = d.rsplit('_').next() else { continue };
            if !live.iter().any(|l| l == uid) {
                let _ = std::fs::remove_dir_all(self.root.join(fs::POD_LOGS).join(&d));
            }
        }
        fs::remove_dangling_container_links(&self.root);
    }
}

/// Remove a deleted pod's kubelet dir, log dir, container links and mounts.
pub fn cleanup_pod_by_uid(node_root: &Path, uid: &str) {
    fs::remove_mounts_of_pod(node_root, uid);
    let suffix = format!("_{uid}");
    let mut found = false;
    for d in fs::pod_log_dirs(node_root) {
        if let Some(rest) = d.strip_suffix(&suffix)
            && let Some((ns, pod)) = rest.split_once('_') {
                fs::remove_pod(node_root, ns, pod, uid);
                found = true;
            }
    }
    if !found {
        let _ = std::fs::remove_dir_all(node_root.join(fs::KUBELET_PODS).join(uid));
    }
}

impl Kubelet {
    /// Volumes ready? Returns the volume dirs and mounts to create, or None to wait.
    fn prepare_volumes(&self, server: &ApiServer, pod: &Value) -> Option<(Vec<(String, String)>, Vec<MountEntry>, Vec<(String, Vec<(String, Vec<u8>)>)>)> {
        let uid = object::uid_of(pod);
        let ns = object::ns_of(pod);
        let mut dirs = Vec::new();
        let mut mounts = Vec::new();
        let mut files = Vec::new();
        for v in pod.at("/spec/volumes").and_then(|v| v.as_array()).into_iter().flatten() {
            let name = v["name"].as_str().unwrap_or("").to_string();
            let tmpfs = |plugin: &str| MountEntry { source: "tmpfs".into(), target: fs::volume_dir(uid, plugin, &name), fstype: "tmpfs".into(), options: "rw,relatime,size=16318496k".into() };
            if let Some(claim) = v.at("/persistentVolumeClaim/claimName").and_then(|c| c.as_str()) {
                let pvc = server.store.get("persistentvolumeclaims", ns, claim)?;
                if object::phase(&pvc) != "Bound" {
                    return None;
                }
                let pv_name = object::str_at(&pvc, "/spec/volumeName").unwrap_or("").to_string();
                let pv = server.store.get("persistentvolumes", "", &pv_name);
                let (plugin, source) = match pv.as_deref() {
                    Some(pv) if pv.at("/spec/local").is_some() => ("local-volume", object::str_at(pv, "/spec/local/path").unwrap_or("").to_string()),
                    Some(pv) if pv.at("/spec/csi").is_some() => ("csi", object::str_at(pv, "/spec/csi/volumeHandle").unwrap_or("").to_string()),
                    Some(pv) => ("host-path", object::str_at(pv, "/spec/hostPath/path").unwrap_or("").to_string()),
                    None => ("host-path", String::new()),
                };
                dirs.push((plugin.to_string(), pv_name.clone()));
                mounts.push(MountEntry { source, target: fs::volume_dir(uid, plugin, &pv_name), fstype: "none".into(), options: "rw,bind".into() });
            } else if let Some(cm) = v.at("/configMap/name").and_then(|c| c.as_str()) {
                dirs.push(("configmap".into(), name.clone()));
                let data: Vec<(String, Vec<u8>)> = server.store.get("configmaps", ns, cm)
                    .and_then(|c| c["data"].as_object().cloned())
                    .map(|d| d.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or("").as_bytes().to_vec())).collect())
                    .unwrap_or_default();
                files.push((fs::volume_dir(uid, "configmap", &name), data));
            } else if let Some(sec) = v.at("/secret/secretName").and_then(|c| c.as_str()) {
                dirs.push(("secret".into(), name.clone()));
                mounts.push(tmpfs("secret"));
                let data: Vec<(String, Vec<u8>)> = server.store.get("secrets", ns, sec)
                    .and_then(|c| c["data"].as_object().cloned())
                    .map(|d| d.into_iter().map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or("")).unwrap_or_default())).collect())
                    .unwrap_or_default();
                files.push((fs::volume_dir(uid, "secret", &name), data));
            } else if v.get("projected").is_some() {
                dirs.push(("projected".into(), name.clone()));
                mounts.push(tmpfs("projected"));
            } else if v.get("emptyDir").is_some() {
                dirs.push(("empty-dir".into(), name.clone()));
                if v.at("/emptyDir/medium") == Some(&json!("Memory")) {
                    mounts.push(tmpfs("empty-dir"));
                }
            } else if v.get("downwardAPI").is_some() {
                dirs.push(("downward-api".into(), name.clone()));
            } else if v.get("csi").is_some() {
                dirs.push(("csi".into(), name.clone()));
            }
        }
        Some((dirs, mounts, files))
    }

    fn start(&self, server: &ApiServer, pod: &Arc<Value>) {
        if let Some((vol, err)) = preflight::volume_error(server, pod) {
            self.waiting_in.lock().insert(object::ns_of(pod).to_string());
            let msg = format!("MountVolume.SetUp failed for volume {vol:?} : {err}");
            if self.note(pod, &msg) {
                crate::events::record(server, pod, crate::events::EventType::Warning, "FailedMount", &msg, "kubelet", Some(&self.node));
            }
            return self.write_waiting(server, pod);
        }
        let Some((dirs, mounts, files)) = self.prepare_volumes(server, pod) else {
            return self.write_waiting(server, pod);
        };
        let blocks = preflight::container_blocks(server, pod);
        if !blocks.is_empty() {
            return self.write_blocked(server, pod, &blocks);
        }
        let uid = object::uid_of(pod).to_string();
        let ns = object::ns_of(pod).to_string();
        let name = object::name_of(pod).to_string();
        let now = meta::now_rfc3339();
        let host_network = pod.at("/spec/hostNetwork") == Some(&json!(true));
        let pod_ip = if host_network { self.ip.clone() } else { self.alloc_ip() };
        let spec_list = |k: &str| pod.at(&format!("/spec/{k}")).and_then(|c| c.as_array()).cloned().unwrap_or_default();
        let (inits, containers) = (spec_list("initContainers"), spec_list("containers"));
        let names: Vec<String> = inits.iter().chain(&containers).filter_map(|c| c["name"].as_str().map(String::from)).collect();
        fs::create_pod_dirs(&self.root, &uid, &dirs, &names, &name, &pod_ip);
        for (dir, data) in &files {
            for (k, v) in data {
                fs::write_volume_file(&self.root, dir, k, v);
            }
        }
        fs::add_mounts(&self.root, &mounts);
        let run = |c: &Value, path: String| -> Started {
            let s = ps::ensure_image(server, pod, c, &path, &self.node, &self.root);
            let cname = c["name"].as_str().unwrap_or("");
            fs::write_container_log(&self.root, &ns, &name, &uid, cname, 0, &s.id, &format!("{cname} started"));
            ps::container_event(server, pod, Some(&path), "Normal", "Created", MSG_CREATED, &self.node);
            ps::container_event(server, pod, Some(&path), "Normal", "Started", MSG_STARTED, &self.node);
            s
        };
        let mut init_statuses = Vec::new();
        for c in &inits {
            let s = run(c, format!("spec.initContainers{{{}}}", c["name"].as_str().unwrap_or("")));
            let sidecar = c["restartPolicy"] == "Always";
            init_statuses.push(if sidecar { ps::running_status(c, &s, 0, json!({}), &now, true) } else { ps::terminated_status(c, &s, 0, &now, &now) });
        }
        let mut exited = Vec::new();
        let mut statuses: Vec<Value> = containers.iter().map(|c| {
            let s = run(c, format!("spec.containers{{{}}}", c["name"].as_str().unwrap_or("")));
            if exits_at_once(c) {
                exited.push(c["name"].as_str().unwrap_or("").to_string());
                return ps::terminated_status(c, &s, 0, &now, &now);
            }
            ps::running_status(c, &s, 0, json!({}), &now, false)
        }).collect();
        statuses.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let unready = (!exited.is_empty()).then(|| format!("containers with unready status: [{}]", exited.join(" ")));
        let _ = server.store.modify::<()>("pods", &ns, &name, |cur| {
            if object::uid_of(cur) != uid || object::is_deleting(cur) || !matches!(object::phase(cur), "Pending" | "") {
                return Ok(None);
            }
            let mut next = (**cur).clone();
            let ready = unready.is_none();
            let (reason, msg) = if ready { (None, None) } else { (Some("ContainersNotReady"), unready.as_deref()) };
            let conds = vec![
                ps::cond(cur, "PodReadyToStartContainers", true, None, None, &now),
                ps::cond(cur, "Initialized", true, None, None, &now),
                ps::cond(cur, "Ready", ready, reason, msg, &now),
                ps::cond(cur, "ContainersReady", ready, reason, msg, &now),
            ];
            let mut st = json!({
                "observedGeneration": cur.at("/metadata/generation").cloned().unwrap_or(json!(1)),
                "phase": "Running", "conditions": ps::merge_conditions(cur, conds),
                "hostIP": self.ip, "hostIPs": [{"ip": self.ip}], "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
                "startTime": cur.at("/status/startTime").cloned().unwrap_or(json!(now)),
                "containerStatuses": statuses, "qosClass": ps::qos_class(cur),
            });
            if !init_statuses.is_empty() {
                st["initContainerStatuses"] = json!(init_statuses);
            }
            next["status"] = st;
            Ok(Some(next))
        });
        if completes(pod) || crashloop::completes_at_once(pod) {
            if let Some(cur) = server.store.get("pods", &ns, &name) {
                self.complete(server, &cur);
            }
        } else if pod.at("/spec/restartPolicy").and_then(|p| p.as_str()).unwrap_or("Always") == "Always" {
            for c in &exited {
                self.backoffs.exited(&uid, c, self.clock.now());
            }
        }
    }

    /// Whether `message` about `pod` is new (so its event is recorded once per cause).
    fn note(&self, pod: &Value, message: &str) -> bool {
        self.noted.lock().insert(format!("{}/{message}", object::uid_of(pod)))
    }

    /// Containers that cannot be created (invalid image, missing env source): the pod stays
    /// Pending with each such container waiting with the kubelet's reason and message.
    fn write_blocked(&self, server: &ApiServer, pod: &Arc<Value>, blocks: &[(String, preflight::Blocked)]) {
        self.waiting_in.lock().insert(object::ns_of(pod).to_string());
        for (cname, b) in blocks {
            if !self.note(pod, &b.message) {
                continue;
            }
            let path = format!("spec.containers{{{cname}}}");
            if b.reason == "InvalidImageName" {
                ps::container_event(server, pod, Some(&path), "Warning", "InspectFailed", &b.message, &self.node);
                ps::container_event(server, pod, Some(&path), "Warning", "Failed", "Error: InvalidImageName", &self.node);
            } else {
                if let Some(c) = pod.at("/spec/containers").and_then(|c| c.as_array()).and_then(|cs| cs.iter().find(|c| c["name"] == cname.as_str())) {
                    ps::ensure_image(server, pod, c, &path, &self.node, &self.root);
                }
                ps::container_event(server, pod, Some(&path), "Warning", "Failed", &format!("Error: {}", b.message), &self.node);
            }
        }
        let now = meta::now_rfc3339();
        let uid = object::uid_of(pod).to_string();
        let names: Vec<String> = pod.at("/spec/containers").and_then(|c| c.as_array()).into_iter().flatten().filter_map(|c| c["name"].as_str().map(String::from)).collect();
        let msg = format!("containers with unready status: [{}]", names.join(" "));
        let _ = server.store.modify::<()>("pods", object::ns_of(pod), object::name_of(pod), |cur| {
            if object::uid_of(cur) != uid || !matches!(object::phase(cur), "Pending" | "") {
                return Ok(None);
            }
            let statuses: Vec<Value> = cur.at("/spec/containers").and_then(|c| c.as_array()).into_iter().flatten().map(|c| {
                let waiting = match blocks.iter().find(|(n, _)| c["name"] == n.as_str()) {
                    Some((_, b)) => json!({"reason": b.reason, "message": b.message}),
                    None => json!({"reason": "ContainerCreating"}),
                };
                json!({"image": c["image"], "imageID": "", "lastState": {}, "name": c["name"], "ready": false, "restartCount": 0, "started": false, "state": {"waiting": waiting}})
            }).collect();
            if cur.at("/status/containerStatuses") == Some(&json!(statuses)) {
                return Ok(None);
            }
            let mut next = (**cur).clone();
            let conds = vec![
                ps::cond(cur, "PodReadyToStartContainers", true, None, None, &now),
                ps::cond(cur, "Initialized", true, None, None, &now),
                ps::cond(cur, "Ready", false, Some("ContainersNotReady"), Some(&msg), &now),
                ps::cond(cur, "ContainersReady", false, Some("ContainersNotReady"), Some(&msg), &now),
            ];
            next["status"] = json!({
                "observedGeneration": cur.at("/metadata/generation").cloned().unwrap_or(json!(1)),
                "phase": "Pending", "conditions": ps::merge_conditions(cur, conds), "hostIP": self.ip, "hostIPs": [{"ip": self.ip}],
                "startTime": cur.at("/status/startTime").cloned().unwrap_or(json!(now)), "containerStatuses": statuses, "qosClass": ps::qos_class(cur),
            });
            Ok(Some(next))
        });
    }

    /// Ephemeral containers added through `pods/ephemeralcontainers` start (never ready).
    fn start_ephemeral(&self, server: &ApiServer, pod: &Arc<Value>) {
        let (uid, ns, name, now) = (object::uid_of(pod).to_string(), object::ns_of(pod).to_string(), object::name_of(pod).to_string(), meta::now_rfc3339());
        let mut statuses: Vec<Value> = pod.at("/status/ephemeralContainerStatuses").and_then(|s| s.as_array()).cloned().unwrap_or_default();
        for c in pod.at("/spec/ephemeralContainers").and_then(|c| c.as_array()).into_iter().flatten() {
            let cname = c["name"].as_str().unwrap_or("");
            if statuses.iter().any(|s| s["name"] == cname) {
                continue;
            }
            let path = format!("spec.ephemeralContainers{{{cname}}}");
            let s = ps::ensure_image(server, pod, c, &path, &self.node, &self.root);
            fs::write_container_log(&self.root, &ns, &name, &uid, cname, 0, &s.id, &format!("{cname} started"));
            ps::container_event(server, pod, Some(&path), "Normal", "Created", MSG_CREATED, &self.node);
            ps::container_event(server, pod, Some(&path), "Normal", "Started", MSG_STARTED, &self.node);
            let mut st = ps::running_status(c, &s, 0, json!({}), &now, false);
            st["ready"] = json!(false);
            st.as_object_mut().map(|m| m.remove("started"));
            statuses.push(st);
        }
        let _ = server.store.modify::<()>("pods", &ns, &name, |cur| {
            if object::uid_of(cur) != uid || object::is_deleting(cur) {
                return Ok(None);
            }
            let mut next = (**cur).clone();
            next["status"]["ephemeralContainerStatuses"] = json!(statuses);
            Ok(Some(next))
        });
    }

    /// Bound to this node but a volume is not ready: ContainerCreating, as the kubelet reports.
    fn write_waiting(&self, server: &ApiServer, pod: &Arc<Value>) {
        if pod.at("/status/containerStatuses").is_some() {
            return;
        }
        let now = meta::now_rfc3339();
        let uid = object::uid_of(pod).to_string();
        let names: Vec<String> = pod.at("/spec/containers").and_then(|c| c.as_array()).into_iter().flatten().filter_map(|c| c["name"].as_str().map(String::from)).collect();
        let msg = format!("containers with unready status: [{}]", names.join(" "));
        let _ = server.store.modify::<()>("pods", object::ns_of(pod), object::name_of(pod), |cur| {
            if object::uid_of(cur) != uid || cur.at("/status/containerStatuses").is_some() {
                return Ok(None);
            }
            let mut next = (**cur).clone();
            let conds = vec![
                ps::cond(cur, "PodReadyToStartContainers", false, None, None, &now),
                ps::cond(cur, "Initialized", true, None, None, &now),
                ps::cond(cur, "Ready", false, Some("ContainersNotReady"), Some(&msg), &now),
                ps::cond(cur, "ContainersReady", false, Some("ContainersNotReady"), Some(&msg), &now),
            ];
            let statuses: Vec<Value> = cur.at("/spec/containers").and_then(|c| c.as_array()).into_iter().flatten().map(|c| json!({
                "image": c["image"], "imageID": "", "lastState": {}, "name": c["name"], "ready": false, "restartCount": 0, "started": false,
                "state": {"waiting": {"reason": "ContainerCreating"}},
            })).collect();
            next["status"] = json!({
                "observedGeneration": cur.at("/metadata/generation").cloned().unwrap_or(json!(1)),
                "phase": "Pending", "conditions": ps::merge_conditions(cur, conds), "hostIP": self.ip, "hostIPs": [{"ip": self.ip}],
                "startTime": now, "containerStatuses": statuses, "qosClass": ps::qos_class(cur),
            });
            Ok(Some(next))
        });
    }

    /// A finite pod's containers exit 0: phase Succeeded; its volumes are unmounted.
    fn complete(&self, server: &ApiServer, pod: &Arc<Value>) {
        let uid = object::uid_of(pod).to_string();
        let now = meta::now_rfc3339();
        let r = server.store.modify::<()>("pods", object::ns_of(pod), object::name_of(pod), |cur| {
            if object::uid_of(cur) != uid || object::phase(cur) != "Running" {
                return Ok(None);
            }
            let mut next = (**cur).clone();
            if let Some(cs) = next.pointer_mut("/status/containerStatuses").and_then(|c| c.as_array_mut()) {
                cs.iter_mut().for_each(|c| ps::terminate(c, &now));
            }
            let conds = vec![
                ps::cond(cur, "PodReadyToStartContainers", false, None, None, &now),
                ps::cond(cur, "Initialized", true, Some("PodCompleted"), None, &now),
                ps::cond(cur, "Ready", false, Some("PodCompleted"), None, &now),
                ps::cond(cur, "ContainersReady", false, Some("PodCompleted"), None, &now),
            ];
            next["status"]["conditions"] = json!(ps::merge_conditions(cur, conds));
            next["status"]["phase"] = json!("Succeeded");
            Ok(Some(next))
        });
        if matches!(r, Ok(Ok(_))) {
            fs::remove_mounts_of_pod(&self.root, &uid);
        }
    }

    /// Graceful deletion: stop containers, unmount, clean, then delete with grace 0.
    fn kill(&self, server: &ApiServer, pod: &Arc<Value>) {
        let uid = object::uid_of(pod).to_string();
        let running: Vec<(String, String)> = ["initContainerStatuses", "containerStatuses"].iter()
            .flat_map(|k| pod.at(&format!("/status/{k}")).and_then(|c| c.as_array()).cloned().unwrap_or_default())
            .filter(|c| c.at("/state/running").is_some())
            .map(|c| (c["name"].as_str().unwrap_or("").to_string(), if pod.at("/spec/initContainers").and_then(|i| i.as_array()).is_some_and(|i| i.iter().any(|x| x["name"] == c["name"])) { "initContainers" } else { "containers" }.to_string()))
            .collect();
        for (c, kind) in &running {
            ps::container_event(server, pod, Some(&format!("spec.{kind}{{{c}}}")), "Normal", "Killing", &format!("Stopping container {c}"), &self.node);
        }
        if !running.is_empty() && !object::finalizers(pod).is_empty() {
            let now = meta::now_rfc3339();
            let _ = server.store.modify::<()>("pods", object::ns_of(pod), object::name_of(pod), |cur| {
                if object::uid_of(cur) != uid || is_terminal(cur) {
                    return Ok(None);
                }
                let mut next = (**cur).clone();
                for k in ["initContainerStatuses", "containerStatuses"] {
                    if let Some(cs) = next.pointer_mut(&format!("/status/{k}")).and_then(|c| c.as_array_mut()) {
                        for c in cs.iter_mut().filter(|c| c.at("/state/running").is_some()) {
                            ps::terminate(c, &now);
                            c["state"]["terminated"]["exitCode"] = json!(137);
                            c["state"]["terminated"]["reason"] = json!("Error");
                        }
                    }
                }
                next["status"]["phase"] = json!("Failed");
                for c in next.pointer_mut("/status/conditions").and_then(|c| c.as_array_mut()).into_iter().flatten() {
                    if matches!(c["type"].as_str(), Some("Ready" | "ContainersReady" | "PodReadyToStartContainers")) && c["status"] == "True" {
                        c["status"] = json!("False");
                        c["lastTransitionTime"] = json!(now);
                    }
                }
                Ok(Some(next))
            });
        }
        self.cleanup_deleted(&uid);
        if let Ok(pods) = server.resource("", "v1", "pods") {
            let opts = DeleteOptions { grace_period_seconds: Some(0), precondition_uid: Some(uid), ..Default::default() };
            let _ = server.delete(&pods, Some(object::ns_of(pod)), object::name_of(pod), &opts);
        }
    }
}
