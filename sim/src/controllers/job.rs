//! The Job controller (pods with the `batch.kubernetes.io/job-tracking` finalizer, counted
//! then released; SuccessCriteriaMet then Complete) and the TTL-after-finished controller.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::api::object;
use super::util::{self, Dirty, KCM};
use super::Controller;
use crate::events::{self, EventType};
use crate::server::{meta, ApiServer, Propagation};
use crate::store::StoreEvent;

const KEY: &str = "batch/jobs";
const COMPONENT: &str = "job-controller";
pub const TRACKING: &str = "batch.kubernetes.io/job-tracking";
const DONE_MSG: &str = "Reached expected number of succeeded pods";

pub struct JobController {
    dirty: Dirty,
    /// Pods holding the tracking finalizer whose Job is gone.
    orphans: Mutex<HashSet<(String, String)>>,
    server: Weak<ApiServer>,
    ttl_armed: Mutex<HashSet<String>>,
}

impl JobController {
    pub fn new(server: &Arc<ApiServer>) -> Self {
        JobController { dirty: Dirty::default(), orphans: Mutex::default(), server: Arc::downgrade(server), ttl_armed: Mutex::default() }
    }
}

impl Controller for JobController {
    fn name(&self) -> &'static str {
        "job"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        match &*ev.key {
            KEY => self.dirty.add(&ev.namespace, &ev.name),
            // A pod refused for a missing ServiceAccount is retried once it exists (the real
            // controller's rate-limited requeue).
            "serviceaccounts" if ev.kind == crate::store::EventType::Added => self.dirty.all(),
            "pods" => {
                let hit = self.dirty.add_owner(ev, "Job");
                if object::finalizers(&ev.object).iter().any(|f| f == TRACKING) && (object::is_deleting(&ev.object) || object::is_terminal(&ev.object)) {
                    self.orphans.lock().insert((ev.namespace.clone(), ev.name.clone()));
                    return true;
                }
                hit
            }
            _ => false,
        }
    }

    fn reconcile(&self, server: &ApiServer) {
        for job in self.dirty.take(server, KEY) {
            self.sync(server, &job);
        }
        let orphans = std::mem::take(&mut *self.orphans.lock());
        let pods_rt = util::rt(server, "", "v1", "pods");
        for (ns, name) in orphans {
            let Some(pod) = server.store.get("pods", &ns, &name) else { continue };
            let job_alive = object::owner_refs(&pod).iter().find(|r| r["kind"] == "Job").and_then(|r| {
                let j = server.store.get(KEY, &ns, r["name"].as_str()?)?;
                (object::uid_of(&j) == r["uid"].as_str()? && !object::is_deleting(&j)).then_some(())
            });
            // A live Job releases its pods after counting them; otherwise release at once.
            if job_alive.is_none() || object::is_deleting(&pod) {
                let _ = server.remove_finalizer(&pods_rt, Some(&ns), &name, TRACKING);
            }
        }
    }
}

fn finished(job: &Value) -> bool {
    ["Complete", "Failed"].iter().any(|t| object::condition(job, t).is_some_and(|c| c["status"] == "True"))
}

impl JobController {
    fn sync(&self, server: &ApiServer, job: &Arc<Value>) {
        let ns = object::ns_of(job).to_string();
        let name = object::name_of(job).to_string();
        let pods_rt = util::rt(server, "", "v1", "pods");
        let jobs_rt = util::rt(server, "batch", "v1", "jobs");
        let pods = util::owned(server, "pods", &ns, object::uid_of(job));
        // Count terminated pods still tracked, then release them.
        let (mut new_ok, mut new_fail) = (0, 0);
        for p in pods.iter().filter(|p| object::is_terminal(p) && object::finalizers(p).iter().any(|f| f == TRACKING)) {
            if object::phase(p) == "Succeeded" { new_ok += 1 } else { new_fail += 1 }
            let _ = server.remove_finalizer(&pods_rt, Some(&ns), object::name_of(p), TRACKING);
        }
        let succeeded = object::int_at(job, "/status/succeeded", 0) + new_ok;
        let failed = object::int_at(job, "/status/failed", 0) + new_fail;
        let active: Vec<&Arc<Value>> = pods.iter().filter(|p| object::is_active(p)).collect();
        let completions = job.pointer("/spec/completions").and_then(|c| c.as_i64());
        let parallelism = object::int_at(job, "/spec/parallelism", 1);
        let suspended = job.pointer("/spec/suspend") == Some(&json!(true));
        let backoff = object::int_at(job, "/spec/backoffLimit", 6);
        let done = finished(job) || completions.map_or(succeeded > 0, |c| succeeded >= c);
        let failed_out = failed > backoff;
        let mut active_n = active.len() as i64;
        if !done && !failed_out && !object::is_deleting(job) && !suspended {
            let want = match completions {
                Some(c) => parallelism.min(c - succeeded),
                None => parallelism,
            };
            let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
            let to_create = (want - active_n).max(0);
            for _ in 0..to_create {
                let mut pod = util::pod_from_template(&template, job, &format!("{name}-"));
                pod["metadata"]["finalizers"] = json!([TRACKING]);
                match server.create(&pods_rt, Some(&ns), pod, &util::opts(KCM)) {
                    Ok(p) => {
                        active_n += 1;
                        events::record(server, job, EventType::Normal, "SuccessfulCreate", &format!("Created pod: {}", object::name_of(&p)), COMPONENT, None);
                    }
                    Err(e) => {
                        events::record(server, job, EventType::Warning, "FailedCreate", &format!("Error creating: {}", e.message), COMPONENT, None);
                        break;
                    }
                }
            }
        } else if (done || failed_out || suspended) && !finished(job) {
            for p in &active {
                util::delete(server, &pods_rt, p, None);
            }
        }
        let ready = active.iter().filter(|p| object::is_ready(p)).count();
        let now = meta::now_rfc3339();
        let mut completed_now = false;
        let _ = util::write_status(server, &jobs_rt, &ns, &name, |cur| {
            let mut st = cur.get("status").cloned().filter(|s| s.is_object()).unwrap_or(json!({}));
            let m = st.as_object_mut().unwrap();
            if !suspended && !m.contains_key("startTime") {
                m.insert("startTime".into(), json!(now));
            }
            let still_active = if done || failed_out { active.iter().filter(|p| !object::is_deleting(p)).count() as i64 } else { active_n };
            for (k, v) in [("active", still_active), ("succeeded", succeeded), ("failed", failed)] {
                if v > 0 { m.insert(k.into(), json!(v)); } else { m.remove(k); }
            }
            m.insert("ready".into(), json!(ready));
            m.insert("terminating".into(), json!(pods.iter().filter(|p| object::is_deleting(p) && !object::is_terminal(p)).count()));
            m.insert("uncountedTerminatedPods".into(), json!({}));
            if done && !finished(cur) {
                let c = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "CompletionsReached", "message": DONE_MSG});
                if object::condition(cur, "SuccessCriteriaMet").is_none() {
                    push_cond(m, c("SuccessCriteriaMet"));
                }
                if still_active == 0 {
                    push_cond(m, c("Complete"));
                    m.insert("completionTime".into(), json!(now));
                }
            }
            if failed_out && !finished(cur) {
                let c = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"});
                if object::condition(cur, "FailureTarget").is_none() {
                    push_cond(m, c("FailureTarget"));
                }
                if still_active == 0 {
                    push_cond(m, c("Failed"));
                }
            }
            Some(st)
        });
        if let Some(j) = server.store.get(KEY, &ns, &name) {
            if object::condition(&j, "Complete").is_some_and(|c| c["status"] == "True") && object::condition(job, "Complete").is_none() {
                completed_now = true;
            }
            if completed_now {
                events::record(server, &j, EventType::Normal, "Completed", "Job completed", COMPONENT, None);
            }
            if object::condition(&j, "Failed").is_some() && object::condition(job, "Failed").is_none() {
                events::record(server, &j, EventType::Warning, "BackoffLimitExceeded", "Job has reached the specified backoff limit", COMPONENT, None);
            }
            if finished(&j) {
                self.arm_ttl(&j);
            }
        }
    }

    /// ttlSecondsAfterFinished: sleep until the known deadline, then delete (background).
    fn arm_ttl(&self, job: &Value) {
        let Some(ttl) = job.pointer("/spec/ttlSecondsAfterFinished").and_then(|t| t.as_i64()) else { return };
        let uid = object::uid_of(job).to_string();
        if !self.ttl_armed.lock().insert(uid.clone()) {
            return;
        }
        let Some(server) = self.server.upgrade() else { return };
        let finish = job.pointer("/status/completionTime").or(object::condition(job, "Failed").and_then(|c| c.get("lastTransitionTime")))
            .and_then(|t| t.as_str()).and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(chrono::Utc::now);
        let wait = (finish + chrono::Duration::seconds(ttl) - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
        let (ns, name) = (object::ns_of(job).to_string(), object::name_of(job).to_string());
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let Some(cur) = server.store.get(KEY, &ns, &name) else { return };
            if object::uid_of(&cur) == uid {
                let rt = util::rt(&server, "batch", "v1", "jobs");
                util::delete(&server, &rt, &cur, Some(Propagation::Background));
            }
        });
    }
}

fn push_cond(m: &mut serde_json::Map<String, Value>, c: Value) {
    let list = m.entry("conditions").or_insert_with(|| json!([]));
    if let Some(a) = list.as_array_mut() {
        a.retain(|x| x["type"] != c["type"]);
        a.push(c);
    }
}
