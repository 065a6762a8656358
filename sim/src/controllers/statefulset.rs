//! The StatefulSet controller: ordinal pods `<sts>-<i>`, their claims
//! `<template>-<sts>-<i>` (created first, kept when present, owner refs per the retention
//! policy), OrderedReady vs Parallel, rolling updates by revision, and status.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::object;
use super::daemonset::{ensure_revision, REVISION_HASH};
use super::util::{self, Dirty, KCM};
use super::Controller;
use crate::events::{self, EventType};
use crate::server::ApiServer;
use crate::store::StoreEvent;

const KEY: &str = "apps/statefulsets";
const COMPONENT: &str = "statefulset-controller";

#[derive(Default)]
pub struct StatefulSetController {
    dirty: Dirty,
}

impl Controller for StatefulSetController {
    fn name(&self) -> &'static str {
        "statefulset"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        match &*ev.key {
            KEY => self.dirty.add(&ev.namespace, &ev.name),
            // A pod refused for a missing ServiceAccount is retried once it exists (the real
            // controller's rate-limited requeue).
            "serviceaccounts" if ev.kind == crate::store::EventType::Added => self.dirty.all(),
            "pods" => self.dirty.add_owner(ev, "StatefulSet"),
            _ => false,
        }
    }

    fn reconcile(&self, server: &ApiServer) {
        for sts in self.dirty.take(server, KEY) {
            sync(server, &sts);
        }
    }
}

fn ordinal_of(sts: &str, pod: &Value) -> Option<i64> {
    object::name_of(pod).strip_prefix(&format!("{sts}-"))?.parse().ok()
}

pub fn claim_name(template: &str, sts: &str, ordinal: i64) -> String {
    format!("{template}-{sts}-{ordinal}")
}

fn pod_event(server: &ApiServer, sts: &Value, verb: &str, pod: &str) {
    let reason = format!("Successful{}{}", verb[..1].to_uppercase(), &verb[1..]);
    events::record(server, sts, EventType::Normal, &reason, &format!("{verb} Pod {pod} in StatefulSet {} successful", object::name_of(sts)), COMPONENT, None);
}

/// Create missing claims for ordinal `i` (labels: template's + the selector's matchLabels).
fn ensure_claims(server: &ApiServer, sts: &Value, i: i64, pod_name: &str) -> bool {
    let ns = object::ns_of(sts);
    let name = object::name_of(sts);
    let pvc_rt = util::rt(server, "", "v1", "persistentvolumeclaims");
    let delete_with_set = sts.pointer("/spec/persistentVolumeClaimRetentionPolicy/whenDeleted") == Some(&json!("Delete"));
    for t in sts.pointer("/spec/volumeClaimTemplates").and_then(|t| t.as_array()).into_iter().flatten() {
        let tname = object::name_of(t);
        let cname = claim_name(tname, name, i);
        if server.store.get("persistentvolumeclaims", ns, &cname).is_some() {
            continue;
        }
        let mut labels = t.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
        for (k, v) in sts.pointer("/spec/selector/matchLabels").and_then(|m| m.as_object()).into_iter().flatten() {
            labels[k] = v.clone();
        }
        let mut md = json!({"name": cname, "namespace": ns, "labels": labels});
        if let Some(a) = t.pointer("/metadata/annotations") {
            md["annotations"] = a.clone();
        }
        if delete_with_set {
            md["ownerReferences"] = json!([object::controller_ref(sts)]);
        }
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": md, "spec": t.get("spec").cloned().unwrap_or(json!({}))});
        match server.create(&pvc_rt, Some(ns), pvc, &util::opts(KCM)) {
            Ok(_) => events::record(server, sts, EventType::Normal, "SuccessfulCreate", &format!("create Claim {cname} Pod {pod_name} in StatefulSet {name} success"), COMPONENT, None),
            Err(e) if e.code == 409 => {}
            Err(e) => {
                events::record(server, sts, EventType::Warning, "FailedCreate", &format!("create Claim {cname} Pod {pod_name} in StatefulSet {name} failed error: {}", e.message), COMPONENT, None);
                return false;
            }
        }
    }
    true
}

fn new_pod(sts: &Value, i: i64, revision: &str) -> Value {
    let name = object::name_of(sts);
    let pod_name = format!("{name}-{i}");
    let template = sts.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut pod = util::pod_from_template(&template, sts, "");
    let md = pod["metadata"].as_object_mut().unwrap();
    md.remove("generateName");
    md.insert("name".into(), json!(pod_name));
    let labels = md.entry("labels").or_insert_with(|| json!({}));
    labels[REVISION_HASH] = json!(revision);
    labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
    labels["apps.kubernetes.io/pod-index"] = json!(i.to_string());
    let spec = &mut pod["spec"];
    spec["hostname"] = json!(pod_name);
    if let Some(svc) = sts.pointer("/spec/serviceName").and_then(|s| s.as_str()).filter(|s| !s.is_empty()) {
        spec["subdomain"] = json!(svc);
    }
    for t in sts.pointer("/spec/volumeClaimTemplates").and_then(|t| t.as_array()).into_iter().flatten() {
        let tname = object::name_of(t);
        let vol = json!({"name": tname, "persistentVolumeClaim": {"claimName": claim_name(tname, name, i)}});
        if !spec["volumes"].is_array() {
            spec["volumes"] = json!([]);
        }
        let vols = spec["volumes"].as_array_mut().unwrap();
        vols.retain(|v| v["name"] != tname);
        vols.push(vol);
    }
    pod
}

fn sync(server: &ApiServer, sts: &Arc<Value>) {
    let ns = object::ns_of(sts).to_string();
    let name = object::name_of(sts).to_string();
    let pods_rt = util::rt(server, "", "v1", "pods");
    if object::is_deleting(sts) {
        return write_status(server, sts, "");
    }
    let template = sts.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let (revision, _) = ensure_revision(server, sts, &template);
    let replicas = object::int_at(sts, "/spec/replicas", 1);
    let start = object::int_at(sts, "/spec/ordinals/start", 0);
    let parallel = sts.pointer("/spec/podManagementPolicy") == Some(&json!("Parallel"));
    let mut pods: Vec<(i64, Arc<Value>)> = util::owned(server, "pods", &ns, object::uid_of(sts)).into_iter()
        .filter_map(|p| ordinal_of(&name, &p).map(|i| (i, p)))
        .collect();
    pods.sort_by_key(|(i, _)| *i);
    let healthy = |p: &Value| object::is_ready(p) && !object::is_deleting(p);
    // Terminal pods are deleted and recreated.
    for (_, p) in pods.iter().filter(|(_, p)| object::is_terminal(p) && !object::is_deleting(p)) {
        if util::delete(server, &pods_rt, p, None) {
            pod_event(server, sts, "delete", object::name_of(p));
        }
    }
    for i in start..start + replicas {
        if pods.iter().any(|(o, _)| *o == i) {
            if !parallel && !pods.iter().find(|(o, _)| *o == i).is_some_and(|(_, p)| healthy(p)) {
                break;
            }
            continue;
        }
        let pod_name = format!("{name}-{i}");
        if !ensure_claims(server, sts, i, &pod_name) {
            break;
        }
        match server.create(&pods_rt, Some(&ns), new_pod(sts, i, &revision), &util::opts(KCM)) {
            Ok(_) => pod_event(server, sts, "create", &pod_name),
            Err(e) if e.code == 409 => {}
            Err(e) => {
                events::record(server, sts, EventType::Warning, "FailedCreate", &format!("create Pod {pod_name} in StatefulSet {name} failed error: {}", e.message), COMPONENT, None);
            }
        }
        if !parallel {
            break;
        }
    }
    // Scale down from the highest ordinal (one at a time unless Parallel).
    let all_healthy = pods.iter().all(|(_, p)| healthy(p));
    let when_scaled_delete = sts.pointer("/spec/persistentVolumeClaimRetentionPolicy/whenScaled") == Some(&json!("Delete"));
    for (i, p) in pods.iter().rev().filter(|(i, _)| *i < start || *i >= start + replicas) {
        if object::is_deleting(p) || (!parallel && !all_healthy) {
            continue;
        }
        if when_scaled_delete {
            set_claims_owner(server, sts, *i, p);
        }
        if util::delete(server, &pods_rt, p, None) {
            pod_event(server, sts, "delete", object::name_of(p));
        }
        if !parallel {
            break;
        }
    }
    // RollingUpdate: replace the highest old-revision pod at or above the partition.
    let rolling = sts.pointer("/spec/updateStrategy/type") != Some(&json!("OnDelete"));
    let partition = object::int_at(sts, "/spec/updateStrategy/rollingUpdate/partition", 0);
    if rolling && all_healthy && pods.len() as i64 == replicas
        && let Some((_, p)) = pods.iter().rev().find(|(i, p)| *i >= partition && object::str_at(p, &format!("/metadata/labels/{REVISION_HASH}")) != Some(revision.as_str()))
            && util::delete(server, &pods_rt, p, None) {
                pod_event(server, sts, "delete", object::name_of(p));
            }
    write_status(server, sts, &revision);
}

/// whenScaled: Delete — the scaled-down pod owns its claims, so they go with it.
fn set_claims_owner(server: &ApiServer, sts: &Value, i: i64, pod: &Value) {
    let pvc_rt = util::rt(server, "", "v1", "persistentvolumeclaims");
    let r = object::controller_ref(pod);
    for t in sts.pointer("/spec/volumeClaimTemplates").and_then(|t| t.as_array()).into_iter().flatten() {
        let cname = claim_name(object::name_of(t), object::name_of(sts), i);
        let _ = util::update(server, &pvc_rt, object::ns_of(sts), &cname, KCM, |o| {
            let md = object::metadata_mut(o);
            md.insert("ownerReferences".into(), json!([r.clone()]));
            true
        });
    }
}

fn write_status(server: &ApiServer, sts: &Value, revision: &str) {
    let ns = object::ns_of(sts).to_string();
    let name = object::name_of(sts).to_string();
    let pods: Vec<Arc<Value>> = util::owned(server, "pods", &ns, object::uid_of(sts)).into_iter().filter(|p| ordinal_of(&name, p).is_some()).collect();
    let ready = pods.iter().filter(|p| object::is_ready(p)).count();
    let rt = util::rt(server, "apps", "v1", "statefulsets");
    let _ = util::write_status(server, &rt, &ns, &name, |cur| {
        let update = if revision.is_empty() { cur.pointer("/status/updateRevision").and_then(|r| r.as_str()).unwrap_or("").to_string() } else { revision.to_string() };
        let updated = pods.iter().filter(|p| object::str_at(p, &format!("/metadata/labels/{REVISION_HASH}")) == Some(update.as_str())).count();
        let replicas = object::int_at(cur, "/spec/replicas", 1) as usize;
        let prev_current = cur.pointer("/status/currentRevision").and_then(|r| r.as_str()).unwrap_or("").to_string();
        // The rollout is complete when every pod runs the update revision.
        let current = if prev_current.is_empty() || (updated == replicas && ready == replicas) { update.clone() } else { prev_current };
        let current_n = pods.iter().filter(|p| object::str_at(p, &format!("/metadata/labels/{REVISION_HASH}")) == Some(current.as_str())).count();
        let mut st = json!({
            "availableReplicas": ready, "collisionCount": 0, "currentReplicas": current_n, "currentRevision": current,
            "observedGeneration": cur.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
            "replicas": pods.len(), "updateRevision": update, "updatedReplicas": updated,
        });
        if ready > 0 {
            st["readyReplicas"] = json!(ready);
        }
        Some(st)
    });
}
