//! Containers that exit at once, and the kubelet's restart back-off for them.
//!
//! The emulated runtime runs no processes, but some containers are known to exit: an image
//! whose default command is a shell (busybox, alpine, ubuntu, ...) started with no
//! `command`/`args` and no stdin runs `sh`, which reads EOF and exits 0. On kind such a pod
//! goes Completed, then CrashLoopBackOff (restartPolicy Always); the kubelet restarts it
//! after 10 s, 20 s, 40 s, ... up to 5 min (`kuberuntime_manager.go` `doBackOff`,
//! `MaxContainerBackOff`).

use crate::api::object::At;
use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{fs, ps, Kubelet, MSG_CREATED, MSG_STARTED};
use crate::api::object;
use crate::server::{meta, ApiServer};

/// Docker Hub library images whose default command (`CMD`) is a shell.
const SHELL_IMAGES: &[&str] = &[
    "busybox", "alpine", "ubuntu", "debian", "fedora", "centos", "rockylinux", "almalinux", "amazonlinux", "oraclelinux", "archlinux",
];

const INITIAL_BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Whether `container` runs its image's default shell with nothing to read: it exits 0 at once.
pub fn exits_at_once(container: &Value) -> bool {
    let set = |k: &str| container[k].as_array().is_some_and(|a| !a.is_empty());
    if set("command") || set("args") || container["stdin"] == true {
        return false;
    }
    let image = fs::normalize_image(container["image"].as_str().unwrap_or(""));
    let Some(repo) = image.strip_prefix("docker.io/library/") else { return false };
    let repo = repo.split(['@', ':']).next().unwrap_or("");
    SHELL_IMAGES.contains(&repo)
}

/// Go's `time.Duration.String()` for whole seconds: `10s`, `1m20s`, `5m0s`.
fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 { format!("{s}s") } else { format!("{}m{}s", s / 60, s % 60) }
}

/// `format.Pod`: `name_namespace(uid)`.
fn pod_ref(pod: &Value) -> String {
    format!("{}_{}({})", object::name_of(pod), object::ns_of(pod), object::uid_of(pod))
}

/// Per container (`<pod uid>/<name>`): the back-off now in force and when the next restart is due.
#[derive(Default)]
pub struct BackOffs(parking_lot::Mutex<HashMap<String, (Duration, DateTime<Utc>)>>);

impl BackOffs {
    pub fn next(&self) -> Option<DateTime<Utc>> {
        self.0.lock().values().map(|(_, at)| *at).min()
    }

    pub fn retain_pods(&self, live: &[String]) {
        self.0.lock().retain(|k, _| live.iter().any(|u| k.starts_with(&format!("{u}/"))));
    }

    /// A container exited for the first time: restart it at once (not yet in back-off).
    pub fn exited(&self, uid: &str, container: &str, now: DateTime<Utc>) {
        self.0.lock().insert(format!("{uid}/{container}"), (Duration::ZERO, now));
    }
}

/// The kubelet's phase for a pod whose containers are all known to exit 0 at once.
pub fn completes_at_once(pod: &Value) -> bool {
    let policy = pod.at("/spec/restartPolicy").and_then(|p| p.as_str()).unwrap_or("Always");
    policy != "Always"
        && pod.at("/spec/containers").and_then(|c| c.as_array()).is_some_and(|cs| !cs.is_empty() && cs.iter().all(exits_at_once))
}

impl Kubelet {
    /// Restart every crash-looping container whose back-off has passed; each exits again at
    /// once and waits, in CrashLoopBackOff, twice as long (capped at 5 min).
    pub(super) fn restart_due(&self, server: &ApiServer) {
        // Most passes have no crash-looping container: skip listing the node's pods.
        if self.backoffs.0.lock().is_empty() {
            return;
        }
        let now = self.clock.now();
        self.backoffs.retain_pods(&self.pods.uids(true));
        let due: Vec<(String, Duration)> = self.backoffs.0.lock().iter().filter(|(_, (_, at))| *at <= now).map(|(k, (d, _))| (k.clone(), *d)).collect();
        for (key, prev) in due {
            let Some((uid, cname)) = key.split_once('/') else { continue };
            let Some(pod) = self.pods.by_uid(server, uid) else { continue };
            let next = if prev.is_zero() { INITIAL_BACKOFF } else { (prev * 2).min(MAX_BACKOFF) };
            self.backoffs.0.lock().insert(key.clone(), (next, now + chrono::Duration::from_std(next).unwrap_or_default()));
            self.restart_once(server, &pod, cname, next);
        }
    }

    fn restart_once(&self, server: &ApiServer, pod: &Value, cname: &str, backoff: Duration) {
        let Some(spec) = pod.at("/spec/containers").and_then(|c| c.as_array()).and_then(|cs| cs.iter().find(|c| c["name"] == cname)) else { return };
        let path = format!("spec.containers{{{cname}}}");
        let (ns, name, uid) = (object::ns_of(pod), object::name_of(pod), object::uid_of(pod));
        let id = fs::new_container_id();
        let now = meta::now_rfc3339();
        let mut count = 0;
        let r = server.store.modify::<()>("pods", ns, name, |cur| {
            if object::uid_of(cur) != uid || object::is_deleting(cur) {
                return Ok(None);
            }
            let mut next = (**cur).clone();
            let Some(st) = next.pointer_mut("/status/containerStatuses").and_then(|c| c.as_array_mut()).and_then(|cs| cs.iter_mut().find(|c| c["name"] == cname)) else { return Ok(None) };
            count = st["restartCount"].as_i64().unwrap_or(0) + 1;
            st["restartCount"] = json!(count);
            st["containerID"] = json!(format!("containerd://{id}"));
            st["lastState"] = json!({"terminated": {"containerID": format!("containerd://{id}"), "exitCode": 0, "finishedAt": now, "reason": "Completed", "startedAt": now}});
            st["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off {} restarting failed container={cname} pod={}", go_duration(backoff), pod_ref(cur))}});
            st["ready"] = json!(false);
            st["started"] = json!(false);
            Ok(Some(next))
        });
        if !matches!(r, Ok(Ok(_))) {
            return;
        }
        fs::write_container_log(&self.root, ns, name, uid, cname, count, &id, "");
        let image = spec["image"].as_str().unwrap_or("");
        ps::container_event(server, pod, Some(&path), "Normal", "Pulled", &ps::image_present_msg(image), &self.node);
        ps::container_event(server, pod, Some(&path), "Normal", "Created", MSG_CREATED, &self.node);
        ps::container_event(server, pod, Some(&path), "Normal", "Started", MSG_STARTED, &self.node);
        ps::container_event(server, pod, Some(&path), "Warning", "BackOff", &format!("Back-off restarting failed container {cname} in pod {}", pod_ref(pod)), &self.node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_images_without_a_command_exit() {
        assert!(exits_at_once(&json!({"name": "m", "image": "busybox:1.37"})));
        assert!(exits_at_once(&json!({"name": "m", "image": "docker.io/library/alpine"})));
        assert!(!exits_at_once(&json!({"name": "m", "image": "busybox", "command": ["sleep", "3600"]})));
        assert!(!exits_at_once(&json!({"name": "m", "image": "busybox", "args": ["sleep", "3600"]})));
        assert!(!exits_at_once(&json!({"name": "m", "image": "busybox", "stdin": true})));
        assert!(!exits_at_once(&json!({"name": "m", "image": "nginx:1.27"})));
        assert!(!exits_at_once(&json!({"name": "m", "image": "quay.io/foo/busybox"})));
    }

    #[test]
    fn back_off_prints_as_go_does() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
    }
}
