//! The CronJob controller, driven through kubectl on a manual clock: schedules fire when time
//! is advanced (never by waiting), with kube-controller-manager's job names, annotations,
//! status, events, history limits, `concurrencyPolicy: Forbid` and `suspend`; bad schedules
//! are refused with kube-apiserver's 422 texts.

mod workloads_common;
use workloads_common::*;

use std::time::Duration;

use cleanroom_sim::{Clock, SimCluster, SimOptions};
use serde_json::Value;

fn cronjob(name: &str, extra_spec: &str, command: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  schedule: '* * * * *'\n{extra_spec}  jobTemplate:\n    metadata: {{labels: {{team: ops}}}}\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers: [{{name: main, image: busybox:1.37{command}}}]\n"
    )
}

fn jobs_of(sim: &SimCluster, cj: &str) -> Vec<Value> {
    let mut jobs: Vec<Value> = store_list(sim, "batch/jobs", Some("default")).into_iter()
        .filter(|j| j["metadata"]["ownerReferences"][0]["name"] == cj && j["metadata"]["deletionTimestamp"].is_null())
        .collect();
    jobs.sort_by(|a, b| name(a).cmp(name(b)));
    jobs
}

fn cj_status(sim: &SimCluster, cj: &str) -> Value {
    store_list(sim, "batch/cronjobs", Some("default")).into_iter().find(|c| name(c) == cj).map(|c| c["status"].clone()).unwrap_or_default()
}

fn event_reasons(sim: &SimCluster, cj: &str) -> Vec<String> {
    store_list(sim, "events", Some("default")).iter()
        .filter(|e| e["involvedObject"]["kind"] == "CronJob" && e["involvedObject"]["name"] == cj)
        .map(|e| e["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_creates_jobs_keeps_status_and_prunes_history() {
    let clock = Clock::manual(chrono::Utc::now());
    let (sim, kc, _d) = start_with(SimOptions { clock: clock.clone(), write_storm_limit: Some(100), ..Default::default() }).await;
    apply(&kc, &cronjob("tick", "  successfulJobsHistoryLimit: 2\n", "")).await;
    assert!(jobs_of(&sim, "tick").is_empty(), "nothing before the first schedule time");

    clock.advance(Duration::from_secs(61));
    // The job is created first, then the status records it.
    let (job, scheduled) = watch_until(&sim, 20, "the first job and lastScheduleTime", || {
        let at = cj_status(&sim, "tick")["lastScheduleTime"].as_str()?.to_string();
        Some((jobs_of(&sim, "tick").pop()?, at))
    }).await;
    let at = chrono::DateTime::parse_from_rfc3339(&scheduled).unwrap();
    assert_eq!(name(&job), format!("tick-{}", at.timestamp() / 60), "job named by the schedule time in minutes");
    assert_eq!(job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"], scheduled.as_str());
    assert_eq!(job["metadata"]["labels"]["team"], "ops");
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!((owner["kind"].as_str(), owner["controller"].as_bool(), owner["blockOwnerDeletion"].as_bool()), (Some("CronJob"), Some(true), Some(true)));

    // The job's pod exits 0: the CronJob sees it complete.
    watch_until(&sim, 20, "lastSuccessfulTime and an empty active list", || {
        let st = cj_status(&sim, "tick");
        (st["lastSuccessfulTime"].is_string() && st["active"].as_array().is_none_or(|a| a.is_empty())).then_some(())
    }).await;
    assert!(event_reasons(&sim, "tick").iter().any(|r| r == "SuccessfulCreate"));
    assert!(event_reasons(&sim, "tick").iter().any(|r| r == "SawCompletedJob"));

    // Three more runs; only the newest two complete jobs are kept.
    let mut prev = scheduled.clone();
    for n in 2..=4 {
        clock.advance(Duration::from_secs(60));
        prev = watch_until(&sim, 20, &format!("run {n} scheduled and finished"), || {
            let st = cj_status(&sim, "tick");
            let at = st["lastScheduleTime"].as_str()?;
            (at != prev && st["active"].as_array().is_none_or(|a| a.is_empty())).then(|| at.to_string())
        }).await;
    }
    let kept = watch_until(&sim, 20, "history pruned to 2", || {
        let jobs = jobs_of(&sim, "tick");
        (jobs.len() == 2).then_some(jobs)
    }).await;
    let last = cj_status(&sim, "tick")["lastScheduleTime"].as_str().unwrap().to_string();
    let last_min = chrono::DateTime::parse_from_rfc3339(&last).unwrap().timestamp() / 60;
    assert_eq!(kept.iter().map(|j| name(j).to_string()).collect::<Vec<_>>(), vec![format!("tick-{}", last_min - 1), format!("tick-{last_min}")]);
    assert!(event_reasons(&sim, "tick").iter().any(|r| r == "SuccessfulDelete"));

    // kubectl's table for CronJobs.
    let table = kubectl(&kc, &["get", "cronjob", "tick"]).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbid_waits_for_the_running_job_and_suspend_stops_scheduling() {
    let clock = Clock::manual(chrono::Utc::now());
    let (sim, kc, _d) = start_with(SimOptions { clock: clock.clone(), write_storm_limit: Some(100), ..Default::default() }).await;
    // The embedded kubelet runs no processes: a job pod stays active when its container cannot
    // start (a missing ConfigMap), as it would on a real node.
    apply(&kc, &cronjob("long", "  concurrencyPolicy: Forbid\n", ", envFrom: [{configMapRef: {name: not-there}}]")).await;
    clock.advance(Duration::from_secs(61));
    watch_until(&sim, 20, "one active job", || (cj_status(&sim, "long")["active"].as_array().map(|a| a.len()) == Some(1)).then_some(())).await;

    clock.advance(Duration::from_secs(60));
    watch_until(&sim, 20, "the JobAlreadyActive event", || event_reasons(&sim, "long").iter().any(|r| r == "JobAlreadyActive").then_some(())).await;
    assert_eq!(jobs_of(&sim, "long").len(), 1, "Forbid: no second job while the first runs");

    // Suspended: time passes, nothing is created; deleting the running job empties `active`.
    kubectl(&kc, &["patch", "cronjob", "long", "--type=merge", "-p", r#"{"spec":{"suspend":true,"concurrencyPolicy":"Allow"}}"#]).await;
    let job = name(&jobs_of(&sim, "long")[0]).to_string();
    kubectl(&kc, &["delete", "job", &job, "--wait=true"]).await;
    watch_until(&sim, 20, "active emptied after the job is gone", || cj_status(&sim, "long")["active"].as_array().is_none_or(|a| a.is_empty()).then_some(())).await;
    // A second CronJob on the same schedule is the barrier: the controller handles both in
    // the same pass, so once the probe's job exists the suspended one has had its turn.
    apply(&kc, &cronjob("probe", "", "")).await;
    clock.advance(Duration::from_secs(120));
    watch_until(&sim, 20, "the probe's job", || jobs_of(&sim, "probe").pop()).await;
    kubectl(&kc, &["get", "cronjob", "long"]).await;
    let left: Vec<String> = jobs_of(&sim, "long").iter().map(|j| format!("{} {}", name(j), j["metadata"]["annotations"])).collect();
    assert!(left.is_empty(), "a suspended CronJob creates no job: {left:?} (deleted {job}); events {:?}", event_reasons(&sim, "long"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_schedules_and_time_zones_get_kube_apiservers_422() {
    let (_sim, kc, _d) = start().await;
    let try_apply = |yaml: String| {
        let kc = kc.clone();
        async move { kubectl_raw(&kc, &["apply", "-f", "-"], Some(&yaml)).await }
    };
    let bad = cronjob("bad", "", "").replace("'* * * * *'", "'every minute'");
    let (_, err, ok) = try_apply(bad).await;
    assert!(!ok);
    assert!(err.contains(r#"spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2: [every minute]"#), "{err}");

    let tz = cronjob("tz", "", "").replace("'* * * * *'", "'TZ=UTC * * * * *'");
    let (_, err, ok) = try_apply(tz).await;
    assert!(!ok);
    assert!(err.contains("cannot use TZ or CRON_TZ in schedule, use timeZone field instead"), "{err}");

    let zone = cronjob("zone", "  timeZone: Mars/Olympus\n", "");
    let (_, err, ok) = try_apply(zone).await;
    assert!(!ok);
    assert!(err.contains(r#"spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus"#), "{err}");

    let good = cronjob("berlin", "  timeZone: Europe/Berlin\n", "");
    let (_, err, ok) = try_apply(good).await;
    assert!(ok, "{err}");
}
