//! The Deployment controller: one ReplicaSet per template (`<deploy>-<pod-template-hash>`),
//! rollouts that scale the new ReplicaSet up and old ones down once it is available, and
//! the Available/Progressing conditions with the real reasons and messages.

use crate::api::object::At;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::object;
use super::util::{self, Dirty, KCM};
use super::Controller;
use crate::events::{self, EventType};
use crate::server::ApiServer;
use crate::store::StoreEvent;

const KEY: &str = "apps/deployments";
const RS_KEY: &str = "apps/replicasets";
const COMPONENT: &str = "deployment-controller";
pub const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";

#[derive(Default)]
pub struct DeploymentController {
    dirty: Dirty,
}

impl Controller for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        match &*ev.key {
            KEY => self.dirty.add(&ev.namespace, &ev.name),
            RS_KEY => self.dirty.add_owner(ev, "Deployment"),
            _ => false,
        }
    }

    fn reconcile(&self, server: &ApiServer) {
        for d in self.dirty.take(server, KEY) {
            sync(server, &d);
        }
    }
}

/// The template without the hash label (EqualIgnoreHash).
fn strip_hash(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(l) = t.pointer_mut("/metadata/labels").and_then(|l| l.as_object_mut()) {
        l.remove(HASH_LABEL);
        if l.is_empty() {
            t["metadata"].as_object_mut().map(|m| m.remove("labels"));
        }
    }
    t
}

fn revision(obj: &Value) -> i64 {
    object::str_at(obj, &format!("/metadata/annotations/{}", REVISION.replace('/', "~1"))).and_then(|r| r.parse().ok()).unwrap_or(0)
}

fn scale_event(server: &ApiServer, d: &Value, rs: &str, from: i64, to: i64) {
    let verb = if to > from { "up" } else { "down" };
    events::record(server, d, EventType::Normal, "ScalingReplicaSet", &format!("Scaled {verb} replica set {rs} from {from} to {to}"), COMPONENT, None);
}

fn sync(server: &ApiServer, d: &Arc<Value>) {
    let ns = object::ns_of(d).to_string();
    let uid = object::uid_of(d).to_string();
    let rsrt = util::rt(server, "apps", "v1", "replicasets");
    let drt = util::rt(server, "apps", "v1", "deployments");
    let replicas = object::int_at(d, "/spec/replicas", 1);
    let template = d.at("/spec/template").cloned().unwrap_or(json!({}));
    let owned = util::owned(server, RS_KEY, &ns, &uid);
    let mut new_rs = owned.iter().find(|rs| strip_hash(rs.at("/spec/template").unwrap_or(&Value::Null)) == strip_hash(&template)).cloned();
    let mut created = false;
    if object::is_deleting(d) {
        return;
    }
    let paused = d.at("/spec/paused") == Some(&json!(true));
    if new_rs.is_none() && !paused {
        let collision = d.at("/status/collisionCount").and_then(|c| c.as_i64());
        let hash = util::compute_hash(&template, collision);
        let name = format!("{}-{hash}", object::name_of(d));
        let rev = owned.iter().map(|r| revision(r)).max().unwrap_or(0) + 1;
        let mut t = template.clone();
        t["metadata"]["labels"][HASH_LABEL] = json!(hash);
        let mut sel = d.at("/spec/selector").cloned().unwrap_or(json!({}));
        sel["matchLabels"][HASH_LABEL] = json!(hash);
        let surge = max_surge(d, replicas);
        let mut ann = serde_json::Map::new();
        for (k, v) in d.at("/metadata/annotations").and_then(|a| a.as_object()).into_iter().flatten() {
            if !k.starts_with("deployment.kubernetes.io/") && k != "kubectl.kubernetes.io/last-applied-configuration" {
                ann.insert(k.clone(), v.clone());
            }
        }
        ann.insert("deployment.kubernetes.io/desired-replicas".into(), json!(replicas.to_string()));
        ann.insert("deployment.kubernetes.io/max-replicas".into(), json!((replicas + surge).to_string()));
        ann.insert(REVISION.into(), json!(rev.to_string()));
        let rs = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": ns, "labels": t["metadata"]["labels"], "annotations": ann, "ownerReferences": [object::controller_ref(d)]},
            "spec": {"replicas": 0, "minReadySeconds": d.at("/spec/minReadySeconds").cloned().unwrap_or(json!(0)), "selector": sel, "template": t},
        });
        match server.create(&rsrt, Some(&ns), rs, &util::opts(KCM)) {
            Ok(rs) => {
                new_rs = Some(rs);
                created = true;
            }
            Err(e) if e.code == 409 => {
                // A same-named ReplicaSet with another template: bump collisionCount and retry.
                let _ = util::write_status(server, &drt, &ns, object::name_of(d), |cur| {
                    let mut st = cur["status"].clone();
                    if !st.is_object() {
                        st = json!({});
                    }
                    st["collisionCount"] = json!(cur.at("/status/collisionCount").and_then(|c| c.as_i64()).unwrap_or(0) + 1);
                    Some(st)
                });
                return;
            }
            Err(_) => return,
        }
    }
    let Some(mut new_rs) = new_rs else { return };
    let new_name = object::name_of(&new_rs).to_string();
    let old: Vec<&Arc<Value>> = owned.iter().filter(|r| object::name_of(r) != new_name).collect();
    // An older template coming back (rollout undo) takes the next revision, and its former
    // one goes to revision-history (deploymentutil.SetNewReplicaSetAnnotations).
    let max_old = old.iter().map(|r| revision(r)).max().unwrap_or(0);
    if !paused && revision(&new_rs) <= max_old {
        let prev = revision(&new_rs).to_string();
        let _ = util::update(server, &rsrt, &ns, &new_name, KCM, |o| {
            let ann = object::metadata_mut(o).entry("annotations").or_insert_with(|| json!({}));
            let hist = ann.get(REVISION_HISTORY).and_then(|h| h.as_str()).filter(|h| !h.is_empty()).map(|h| format!("{h},{prev}"));
            ann[REVISION_HISTORY] = json!(hist.unwrap_or_else(|| prev.clone()));
            ann[REVISION] = json!((max_old + 1).to_string());
            true
        });
        match server.store.get(RS_KEY, &ns, &new_name) {
            Some(rs) => new_rs = rs,
            None => return,
        }
    }
    let recreate = d.at("/spec/strategy/type") == Some(&json!("Recreate"));
    if !paused {
        // Revision of the deployment follows its newest ReplicaSet.
        let rev = revision(&new_rs).to_string();
        if revision(d).to_string() != rev {
            let _ = util::update(server, &drt, &ns, object::name_of(d), KCM, |o| {
                let md = object::metadata_mut(o);
                let ann = md.entry("annotations").or_insert_with(|| json!({}));
                if ann.get(REVISION) == Some(&json!(rev)) {
                    return false;
                }
                ann[REVISION] = json!(rev);
                true
            });
        }
        let plan = if recreate { plan_recreate(&new_rs, &old, replicas) } else { plan_rolling(d, &new_rs, &old, replicas) };
        let surge = max_surge(d, replicas);
        for (rs_name, from, to) in plan {
            let is_new = rs_name == new_name;
            let r = util::update(server, &rsrt, &ns, &rs_name, KCM, |o| {
                o["spec"]["replicas"] = json!(to);
                if is_new {
                    let ann = object::metadata_mut(o).entry("annotations").or_insert_with(|| json!({}));
                    ann["deployment.kubernetes.io/desired-replicas"] = json!(replicas.to_string());
                    ann["deployment.kubernetes.io/max-replicas"] = json!((replicas + surge).to_string());
                }
                true
            });
            if r.is_ok() {
                scale_event(server, d, &rs_name, from, to);
            }
        }
        cleanup_history(server, d, &old);
    }
    write_deployment_status(server, d, &new_rs, created, replicas);
}

/// Recreate: old ReplicaSets to zero first, the new one up once their pods are gone.
fn plan_recreate(new_rs: &Value, old: &[&Arc<Value>], replicas: i64) -> Vec<(String, i64, i64)> {
    let mut plan = Vec::new();
    for r in old {
        let n = object::int_at(r, "/spec/replicas", 0);
        if n > 0 {
            plan.push((object::name_of(r).to_string(), n, 0));
        }
    }
    let old_pods_gone = old.iter().all(|r| object::int_at(r, "/status/replicas", 0) == 0);
    let cur = object::int_at(new_rs, "/spec/replicas", 0);
    if cur != replicas && (old_pods_gone || cur > replicas) {
        plan.push((object::name_of(new_rs).to_string(), cur, replicas));
    }
    plan
}

/// RollingUpdate, one step (pkg/controller/deployment/rolling.go): scale the new ReplicaSet up
/// within maxSurge, then the old ones down as far as maxUnavailable allows. Each ReplicaSet
/// status change brings the next step.
fn plan_rolling(d: &Value, new_rs: &Value, old: &[&Arc<Value>], replicas: i64) -> Vec<(String, i64, i64)> {
    let spec = |r: &Value| object::int_at(r, "/spec/replicas", 0);
    let available = |r: &Value| object::int_at(r, "/status/availableReplicas", 0);
    let (surge, unavailable) = (max_surge(d, replicas), max_unavailable(d, replicas));
    let mut plan = Vec::new();
    let cur = spec(new_rs);
    let mut new_count = cur;
    let total: i64 = cur + old.iter().map(|r| spec(r)).sum::<i64>();
    if cur > replicas {
        new_count = replicas;
    } else if cur < replicas {
        let room = (replicas + surge - total).max(0);
        new_count = cur + room.min(replicas - cur);
    }
    if new_count != cur {
        plan.push((object::name_of(new_rs).to_string(), cur, new_count));
    }
    // reconcileOldReplicaSets: how many old pods may go without dropping below minAvailable.
    let old_count: i64 = old.iter().map(|r| spec(r)).sum();
    if old_count == 0 {
        return plan;
    }
    let all = new_count + old_count;
    let min_available = replicas - unavailable;
    let new_unavailable = (new_count - available(new_rs)).max(0);
    if all - min_available - new_unavailable <= 0 {
        return plan;
    }
    let all_available: i64 = available(new_rs) + old.iter().map(|r| available(r)).sum::<i64>();
    let mut budget = (all_available - min_available).min(all - min_available - new_unavailable);
    // Oldest ReplicaSets first.
    let mut olds: Vec<&&Arc<Value>> = old.iter().filter(|r| spec(r) > 0).collect();
    olds.sort_by_key(|r| revision(r));
    for r in olds {
        if budget <= 0 {
            break;
        }
        let n = spec(r);
        let down = n.min(budget);
        plan.push((object::name_of(r).to_string(), n, n - down));
        budget -= down;
    }
    plan
}

/// maxUnavailable rounds down; with maxSurge also zero it becomes 1 (so a rollout can move).
fn max_unavailable(d: &Value, replicas: i64) -> i64 {
    if d.at("/spec/strategy/type") == Some(&json!("Recreate")) {
        return replicas;
    }
    let u = util::int_or_percent(d.at("/spec/strategy/rollingUpdate/maxUnavailable"), replicas, false, 0);
    if u == 0 && max_surge(d, replicas) == 0 { 1 } else { u.min(replicas) }
}

fn max_surge(d: &Value, replicas: i64) -> i64 {
    if d.at("/spec/strategy/type") == Some(&json!("Recreate")) {
        return 0;
    }
    util::int_or_percent(d.at("/spec/strategy/rollingUpdate/maxSurge"), replicas, true, 1)
}

/// Old ReplicaSets beyond revisionHistoryLimit (scaled to zero) are deleted, oldest first.
fn cleanup_history(server: &ApiServer, d: &Value, old: &[&Arc<Value>]) {
    let limit = object::int_at(d, "/spec/revisionHistoryLimit", 10).max(0) as usize;
    let mut idle: Vec<&Arc<Value>> = old.iter().copied()
        .filter(|r| object::int_at(r, "/spec/replicas", 0) == 0 && object::int_at(r, "/status/replicas", 0) == 0 && !object::is_deleting(r))
        .collect();
    if idle.len() <= limit {
        return;
    }
    idle.sort_by_key(|r| revision(r));
    let rsrt = util::rt(server, "apps", "v1", "replicasets");
    for r in idle.iter().take(idle.len() - limit) {
        util::delete(server, &rsrt, r, None);
    }
}

fn write_deployment_status(server: &ApiServer, d: &Value, new_rs: &Value, created: bool, replicas: i64) {
    let ns = object::ns_of(d).to_string();
    let uid = object::uid_of(d).to_string();
    let drt = util::rt(server, "apps", "v1", "deployments");
    // Fresh view of the ReplicaSets (their status is what the RS controller last wrote).
    let rss = util::owned(server, RS_KEY, &ns, &uid);
    let sum = |p: &str| rss.iter().map(|r| object::int_at(r, p, 0)).sum::<i64>();
    let (total, ready, available) = (sum("/status/replicas"), sum("/status/readyReplicas"), sum("/status/availableReplicas"));
    let new_name = object::name_of(new_rs).to_string();
    let new_now = rss.iter().find(|r| object::name_of(r) == new_name);
    let updated = new_now.map(|r| object::int_at(r, "/status/replicas", 0)).unwrap_or(0);
    let recreate = d.at("/spec/strategy/type") == Some(&json!("Recreate"));
    let max_unavailable = if recreate { 0 } else { util::int_or_percent(d.at("/spec/strategy/rollingUpdate/maxUnavailable"), replicas, false, 0) };
    let complete = updated == replicas && available == replicas && total == replicas;
    let _ = util::write_status(server, &drt, &ns, object::name_of(d), |cur| {
        let mut st = cur.get("status").cloned().filter(|s| s.is_object()).unwrap_or(json!({}));
        let m = st.as_object_mut().unwrap();
        m.insert("observedGeneration".into(), cur.at("/metadata/generation").cloned().unwrap_or(json!(1)));
        m.insert("replicas".into(), json!(total));
        m.insert("updatedReplicas".into(), json!(updated));
        for (k, v) in [("readyReplicas", ready), ("availableReplicas", available), ("unavailableReplicas", (replicas - available).max(0))] {
            if v > 0 { m.insert(k.into(), json!(v)); } else { m.remove(k); }
        }
        // calculateStatus sets Available before syncRolloutStatus sets Progressing.
        let avail = if available >= replicas - max_unavailable {
            json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."})
        } else {
            json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."})
        };
        util::set_condition(m, avail, true);
        let progressing = if created {
            ("NewReplicaSetCreated", format!("Created new replica set \"{new_name}\""))
        } else if complete {
            ("NewReplicaSetAvailable", format!("ReplicaSet \"{new_name}\" has successfully progressed."))
        } else if object::condition(cur, "Progressing").is_none() {
            ("FoundNewReplicaSet", format!("Found new replica set \"{new_name}\""))
        } else {
            ("ReplicaSetUpdated", format!("ReplicaSet \"{new_name}\" is progressing."))
        };
        // A completed rollout keeps NewReplicaSetAvailable until the template changes again.
        let keep_done = !created && object::condition(cur, "Progressing").is_some_and(|c| c["reason"] == "NewReplicaSetAvailable" && c["message"].as_str().is_some_and(|msg| msg.contains(&format!("\"{new_name}\""))));
        if !keep_done {
            util::set_condition(m, json!({"type": "Progressing", "status": "True", "reason": progressing.0, "message": progressing.1}), true);
        }
        Some(st)
    });
}
