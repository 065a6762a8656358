//! The CronJob controller (kube-controller-manager's `cronjob_controllerv2.go`): on each
//! schedule time it creates `<name>-<minutes since epoch>` from the job template, keeps
//! `status.active`, `lastScheduleTime` and `lastSuccessfulTime`, honours `suspend`,
//! `startingDeadlineSeconds`, `concurrencyPolicy` and the history limits, and records the
//! same events. It wakes on the cluster's clock, so tests advance time instead of waiting.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::clock::Clock;
use crate::api::cron::{self as cron_schedule, Schedule};
use super::util::{self, Dirty, KCM};
use super::Controller;
use crate::api::object;
use crate::events::{self, EventType};
use crate::server::{ApiServer, Propagation};
use crate::store::StoreEvent;

const KEY: &str = "batch/cronjobs";
const JOBS: &str = "batch/jobs";
const COMPONENT: &str = "cronjob-controller";
/// `batchv1.CronJobScheduledTimestampAnnotation`.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// `nextScheduleDelta`: requeue padding for clock skew.
const NEXT_DELTA: chrono::Duration = chrono::Duration::milliseconds(100);

pub struct CronJobController {
    dirty: Dirty,
    clock: Clock,
    /// When each CronJob (namespace, name) is next due.
    wakes: Mutex<BTreeMap<(String, String), DateTime<Utc>>>,
}

impl CronJobController {
    pub fn new(clock: Clock) -> Self {
        CronJobController { dirty: Dirty::default(), clock, wakes: Mutex::default() }
    }
}

impl Controller for CronJobController {
    fn name(&self) -> &'static str {
        "cronjob"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        match &*ev.key {
            KEY => self.dirty.add(&ev.namespace, &ev.name),
            JOBS => self.dirty.add_owner(ev, "CronJob"),
            _ => false,
        }
    }

    fn reconcile(&self, server: &ApiServer) {
        let now = self.clock.now();
        {
            let mut wakes = self.wakes.lock();
            let due: Vec<(String, String)> = wakes.iter().filter(|(_, at)| **at <= now).map(|(k, _)| k.clone()).collect();
            for k in due {
                wakes.remove(&k);
                self.dirty.add(&k.0, &k.1);
            }
        }
        for cj in self.dirty.take(server, KEY) {
            let key = (object::ns_of(&cj).to_string(), object::name_of(&cj).to_string());
            match self.sync(server, &cj, now) {
                Some(at) => self.wakes.lock().insert(key, at),
                None => self.wakes.lock().remove(&key),
            };
        }
    }

    fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.wakes.lock().values().min().copied()
    }
}

fn time_at(v: &Value, ptr: &str) -> Option<DateTime<Utc>> {
    object::str_at(v, ptr).and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `Complete` or `Failed`, when the job has finished.
fn finished(job: &Value) -> Option<&'static str> {
    ["Complete", "Failed"].into_iter().find(|t| object::condition(job, t).is_some_and(|c| c["status"] == "True"))
}

fn job_ref(job: &Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job", "name": object::name_of(job), "namespace": object::ns_of(job),
        "resourceVersion": object::str_at(job, "/metadata/resourceVersion").unwrap_or(""), "uid": object::uid_of(job),
    })
}

/// The CronJob's view of itself while syncing: its status, changed as the sync goes.
struct Sync<'a> {
    server: &'a ApiServer,
    cj: &'a Value,
    active: Vec<Value>,
    last_schedule: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
    changed: bool,
}

impl Sync<'_> {
    fn event(&self, ty: EventType, reason: &str, message: &str) {
        events::record(self.server, self.cj, ty, reason, message, COMPONENT, None);
    }
    fn in_active(&self, uid: &str) -> bool {
        self.active.iter().any(|r| r["uid"] == uid)
    }
    fn drop_active(&mut self, uid: &str) {
        self.active.retain(|r| r["uid"] != uid);
        self.changed = true;
    }
    /// `deleteJob`: background deletion, then out of the active list.
    fn delete_job(&mut self, job: &Value) -> bool {
        let rt = util::rt(self.server, "batch", "v1", "jobs");
        let ns = object::ns_of(job);
        let opts = crate::server::DeleteOptions { propagation: Some(Propagation::Background), ..Default::default() };
        if let Err(e) = self.server.delete(&rt, Some(ns), object::name_of(job), &opts) {
            self.event(EventType::Warning, "FailedDelete", &format!("Deleted job: {}", e.message));
            return false;
        }
        self.drop_active(object::uid_of(job));
        self.event(EventType::Normal, "SuccessfulDelete", &format!("Deleted job {}", object::name_of(job)));
        true
    }
}

impl CronJobController {
    /// One pass over a CronJob; returns when it next needs a look (its next schedule time).
    fn sync(&self, server: &ApiServer, cj: &Arc<Value>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let ns = object::ns_of(cj).to_string();
        let name = object::name_of(cj).to_string();
        // getJobsToBeReconciled: the controller ref names this CronJob.
        let jobs: Vec<Arc<Value>> = server.store.list(JOBS, Some(&ns)).0.into_iter()
            .filter(|j| object::owner_refs(j).iter().any(|r| r["controller"] == true && r["kind"] == "CronJob" && r["name"] == name.as_str()))
            .collect();
        let mut s = Sync {
            server,
            cj,
            active: cj.pointer("/status/active").and_then(|a| a.as_array()).cloned().unwrap_or_default(),
            last_schedule: time_at(cj, "/status/lastScheduleTime"),
            last_success: time_at(cj, "/status/lastSuccessfulTime"),
            changed: false,
        };
        let next = self.schedule(&mut s, &jobs, now);
        if !object::is_deleting(cj) {
            cleanup_finished(&mut s, &jobs);
        }
        if s.changed {
            let (active, last_schedule, last_success) = (s.active.clone(), s.last_schedule, s.last_success);
            let rt = util::rt(server, "batch", "v1", "cronjobs");
            let _ = util::write_status(server, &rt, &ns, &name, |cur| {
                let mut st = cur.get("status").cloned().filter(|v| v.is_object()).unwrap_or(json!({}));
                let m = st.as_object_mut()?;
                if active.is_empty() { m.remove("active") } else { m.insert("active".into(), json!(active)) };
                if let Some(t) = last_schedule {
                    m.insert("lastScheduleTime".into(), json!(rfc3339(t)));
                }
                if let Some(t) = last_success {
                    m.insert("lastSuccessfulTime".into(), json!(rfc3339(t)));
                }
                Some(st)
            });
        }
        next
    }

    /// `syncCronJob`: reconcile the active list, then start the job due now (if any).
    fn schedule(&self, s: &mut Sync, jobs: &[Arc<Value>], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cj = s.cj;
        for j in jobs {
            let uid = object::uid_of(j);
            let found = s.in_active(uid);
            match finished(j) {
                None if !found => s.event(EventType::Warning, "UnexpectedJob", &format!("Saw a job that the controller did not create or forgot: {}", object::name_of(j))),
                None => {}
                Some(cond) => {
                    if found {
                        s.drop_active(uid);
                        s.event(EventType::Normal, "SawCompletedJob", &format!("Saw completed job: {}, condition: {cond}", object::name_of(j)));
                    }
                    if cond == "Complete"
                        && let Some(done) = time_at(j, "/status/completionTime")
                        && s.last_success.is_none_or(|t| done > t)
                    {
                        s.last_success = Some(done);
                        s.changed = true;
                    }
                }
            }
        }
        // Active references whose job is gone.
        for r in s.active.clone() {
            let (rns, rname) = (r["namespace"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or(""));
            if jobs.iter().any(|j| object::uid_of(j) == r["uid"]) || s.server.store.get(JOBS, rns, rname).is_some() {
                continue;
            }
            s.event(EventType::Normal, "MissingJob", &format!("Active job went missing: {rname}"));
            s.drop_active(r["uid"].as_str().unwrap_or(""));
        }
        if object::is_deleting(cj) {
            return None;
        }
        let schedule_str = object::str_at(cj, "/spec/schedule").unwrap_or("");
        let time_zone = object::str_at(cj, "/spec/timeZone");
        if let Some(tz) = time_zone
            && let Err(e) = cron_schedule::load_location(tz)
        {
            s.event(EventType::Warning, "UnknownTimeZone", &format!("invalid timeZone: {tz:?}: {e}"));
            return None;
        }
        if cj.pointer("/spec/suspend") == Some(&json!(true)) {
            return None;
        }
        // formatSchedule: a TZ in the schedule is used as written (with a warning), else the
        // timeZone field becomes its TZ= prefix.
        let spec = if schedule_str.contains("TZ") {
            s.event(EventType::Warning, "UnsupportedSchedule", &format!("CRON_TZ or TZ used in schedule {schedule_str:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details"));
            schedule_str.to_string()
        } else if let Some(tz) = time_zone {
            format!("TZ={tz} {schedule_str}")
        } else {
            schedule_str.to_string()
        };
        let sched = match cron_schedule::parse_standard(&spec) {
            Ok(sched) => sched,
            Err(e) => {
                s.event(EventType::Warning, "UnparseableSchedule", &format!("unparseable schedule: {schedule_str:?} : {e}"));
                return None;
            }
        };
        let deadline = cj.pointer("/spec/startingDeadlineSeconds").and_then(|d| d.as_i64());
        let created = time_at(cj, "/metadata/creationTimestamp").unwrap_or(now);
        let (scheduled, many_missed) = most_recent(&sched, s.last_schedule.unwrap_or(created), deadline, now);
        let requeue = |s: &Sync| next_after(&sched, s.last_schedule.unwrap_or(created), now);
        let Some(scheduled) = scheduled else { return requeue(s) };
        if many_missed {
            s.event(EventType::Warning, "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew");
        }
        if deadline.is_some_and(|d| scheduled + chrono::Duration::seconds(d) < now) {
            s.event(EventType::Warning, "MissSchedule", &format!("Missed scheduled time to start a job: {}", scheduled.format("%a, %d %b %Y %H:%M:%S %z")));
            return requeue(s);
        }
        let job_name = format!("{}-{}", object::name_of(cj), scheduled.timestamp() / 60);
        if s.active.iter().any(|r| r["name"] == job_name.as_str()) || s.last_schedule == Some(scheduled) {
            return requeue(s);
        }
        let policy = object::str_at(cj, "/spec/concurrencyPolicy").unwrap_or("Allow");
        if policy == "Forbid" && !s.active.is_empty() {
            s.event(EventType::Normal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid");
            return requeue(s);
        }
        if policy == "Replace" {
            for r in s.active.clone() {
                let Some(job) = s.server.store.get(JOBS, r["namespace"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or("")) else { continue };
                if !s.delete_job(&job) {
                    return None;
                }
            }
        }
        let job = job_from_template(cj, &job_name, scheduled, sched.zone());
        let rt = util::rt(s.server, "batch", "v1", "jobs");
        let ns = object::ns_of(cj).to_string();
        let created_job = match s.server.create(&rt, Some(&ns), job, &util::opts(KCM)) {
            Ok(j) => {
                s.event(EventType::Normal, "SuccessfulCreate", &format!("Created job {job_name}"));
                j
            }
            Err(e) if e.code == 409 => {
                // Created by us before a lost status update: adopt it into the active list.
                let j = s.server.store.get(JOBS, &ns, &job_name)?;
                let ours = object::owner_refs(&j).iter().any(|r| r["controller"] == true && r["uid"] == object::uid_of(cj));
                if !ours || s.in_active(object::uid_of(&j)) {
                    return None;
                }
                j
            }
            Err(e) => {
                s.event(EventType::Warning, "FailedCreate", &format!("Error creating job: {}", e.message));
                return None;
            }
        };
        s.active.push(job_ref(&created_job));
        s.last_schedule = Some(scheduled);
        s.changed = true;
        requeue(s)
    }
}

/// `mostRecentScheduleTime` with the starting deadline: the latest activation in
/// (earliest, now], and whether more than 100 were missed.
fn most_recent(sched: &Schedule, last: DateTime<Utc>, deadline: Option<i64>, now: DateTime<Utc>) -> (Option<DateTime<Utc>>, bool) {
    let mut earliest = last;
    if let Some(d) = deadline {
        earliest = earliest.max(now - chrono::Duration::seconds(d));
    }
    let mut latest = None;
    let mut missed = 0;
    let mut t = sched.next(earliest);
    while let Some(at) = t.filter(|at| *at <= now) {
        latest = Some(at);
        missed += 1;
        // The real controller estimates beyond this point; the answer is the same.
        if missed > 100_000 {
            break;
        }
        t = sched.next(at);
    }
    (latest, missed > 100)
}

/// `nextScheduleTimeDuration`: the activation after the most recent one, plus padding.
fn next_after(sched: &Schedule, last: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (recent, _) = most_recent(sched, last, None, now);
    Some(sched.next(recent.unwrap_or(last))? + NEXT_DELTA)
}

/// `getJobFromTemplate2`.
fn job_from_template(cj: &Value, name: &str, scheduled: DateTime<Utc>, zone: chrono_tz::Tz) -> Value {
    let labels = cj.pointer("/spec/jobTemplate/metadata/labels").cloned().unwrap_or(json!({}));
    let mut annotations = cj.pointer("/spec/jobTemplate/metadata/annotations").cloned().filter(|a| a.is_object()).unwrap_or(json!({}));
    annotations[SCHEDULED_TIMESTAMP] = json!(scheduled.with_timezone(&zone).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": name, "namespace": object::ns_of(cj), "labels": labels, "annotations": annotations,
            "ownerReferences": [object::controller_ref(cj)],
        },
        "spec": cj.pointer("/spec/jobTemplate/spec").cloned().unwrap_or(json!({})),
    })
}

/// `cleanupFinishedJobs`: keep the newest `successfulJobsHistoryLimit` complete and
/// `failedJobsHistoryLimit` failed jobs (by start time, then name).
fn cleanup_finished(s: &mut Sync, jobs: &[Arc<Value>]) {
    let limits = [("Complete", "/spec/successfulJobsHistoryLimit"), ("Failed", "/spec/failedJobsHistoryLimit")];
    for (cond, ptr) in limits {
        let Some(limit) = s.cj.pointer(ptr).and_then(|l| l.as_i64()) else { continue };
        let mut done: Vec<&Arc<Value>> = jobs.iter().filter(|j| finished(j) == Some(cond) && !object::is_deleting(j)).collect();
        let excess = done.len() as i64 - limit;
        if excess <= 0 {
            continue;
        }
        done.sort_by(|a, b| {
            let (ta, tb) = (time_at(a, "/status/startTime"), time_at(b, "/status/startTime"));
            match (ta, tb) {
                (Some(x), Some(y)) if x != y => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                _ => object::name_of(a).cmp(object::name_of(b)),
            }
        });
        for j in done.into_iter().take(excess as usize) {
            s.delete_job(j);
        }
    }
}
