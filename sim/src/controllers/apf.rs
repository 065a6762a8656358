//! kube-apiserver's API Priority and Fairness configuration objects: the bootstrap ensurer
//! (pkg/registry/flowcontrol/ensurer, run at start and every minute) keeps the suggested and
//! mandatory FlowSchemas and PriorityLevelConfigurations, and the config consumer
//! (apiserver's apf_controller.go) sets each FlowSchema's `Dangling` condition.
//! The objects are kube-apiserver 1.35.4's, captured from a real server
//! (`resources/apf-bootstrap.json`).

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::clock::Clock;
use super::util;
use super::Controller;
use crate::api::object;
use crate::api::patch::PatchType;
use crate::server::{meta, ApiServer, WriteOptions};
use crate::store::StoreEvent;

const BOOTSTRAP: &str = include_str!("../../resources/apf-bootstrap.json");
const GROUP: &str = "flowcontrol.apiserver.k8s.io";
const PRODUCER: &str = "api-priority-and-fairness-config-producer-v1";
const CONSUMER: &str = "api-priority-and-fairness-config-consumer-v1";
const AUTO_UPDATE: &str = "apf.kubernetes.io/autoupdate-spec";
const FS: &str = "flowcontrol.apiserver.k8s.io/flowschemas";
const PLC: &str = "flowcontrol.apiserver.k8s.io/prioritylevelconfigurations";
/// The ensurer's period (`wait.PollImmediateUntil(time.Minute, …)`).
const PERIOD_SECS: i64 = 60;

/// The bootstrap objects in the ensurer's order: suggested PriorityLevelConfigurations, suggested
/// FlowSchemas, then the mandatory ones (whose spec is always put back).
pub fn bootstrap_objects() -> &'static [(Value, bool)] {
    static OBJS: OnceLock<Vec<(Value, bool)>> = OnceLock::new();
    OBJS.get_or_init(|| {
        let all: Vec<Value> = serde_json::from_str(BOOTSTRAP).expect("apf-bootstrap.json parses");
        let mandatory = |o: &Value| matches!(object::name_of(o), "exempt" | "catch-all");
        let mut ordered = Vec::new();
        for (want_mandatory, kind) in [(false, "PriorityLevelConfiguration"), (false, "FlowSchema"), (true, "PriorityLevelConfiguration"), (true, "FlowSchema")] {
            ordered.extend(all.iter().filter(|o| o["kind"] == kind && mandatory(o) == want_mandatory).map(|o| (o.clone(), want_mandatory)));
        }
        ordered
    })
}

fn plural(kind: &str) -> &'static str {
    if kind == "FlowSchema" { "flowschemas" } else { "prioritylevelconfigurations" }
}

/// Create what is missing; put back the spec of an object that is mandatory or marked for
/// auto-update (`ReviseIfNeeded`); delete auto-updated objects that are no longer bootstrap ones.
pub fn ensure(server: &ApiServer) {
    let opts = util::opts(PRODUCER);
    for (boot, mandatory) in bootstrap_objects() {
        let kind = boot["kind"].as_str().unwrap_or_default();
        let name = object::name_of(boot);
        let rt = util::rt(server, GROUP, "v1", plural(kind));
        let Some(current) = server.store.get(&rt.key, "", name) else {
            let _ = server.create(&rt, None, boot.clone(), &opts);
            continue;
        };
        let annotation = current.pointer("/metadata/annotations/apf.kubernetes.io~1autoupdate-spec").and_then(|v| v.as_str());
        let parsed = annotation.and_then(parse_bool);
        let auto_update = *mandatory || parsed.unwrap_or(object::int_at(&current, "/metadata/generation", 0) == 1);
        let update_annotation = parsed != Some(auto_update);
        let spec_changed = auto_update && current.get("spec") != boot.get("spec");
        if !(update_annotation || spec_changed) {
            continue;
        }
        let _ = util::update(server, &rt, "", name, PRODUCER, |o| {
            if spec_changed {
                o["spec"] = boot["spec"].clone();
            }
            object::metadata_mut(o).entry("annotations").or_insert_with(|| json!({}))[AUTO_UPDATE] = json!(auto_update.to_string());
            true
        });
    }
    // RemoveUnwantedObjects: only objects that say they are auto-updated.
    for (key, kind) in [(FS, "FlowSchema"), (PLC, "PriorityLevelConfiguration")] {
        for o in server.store.list(key, None).0 {
            let name = object::name_of(&o);
            let wanted = bootstrap_objects().iter().any(|(b, _)| b["kind"] == kind && object::name_of(b) == name);
            let auto = o.pointer("/metadata/annotations/apf.kubernetes.io~1autoupdate-spec").and_then(|v| v.as_str()).and_then(parse_bool);
            if !wanted && auto == Some(true) && !object::is_deleting(&o) {
                util::delete(server, &util::rt(server, GROUP, "v1", plural(kind)), &o, None);
            }
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `presyncFlowSchemaStatus`: the `Dangling` condition every FlowSchema carries, applied to
/// the status subresource by the config consumer when it changes.
pub fn sync_dangling(server: &ApiServer) {
    let rt = util::rt(server, GROUP, "v1", "flowschemas");
    let opts = WriteOptions { field_manager: Some(CONSUMER.into()), force: true, ..Default::default() };
    for fs in server.store.list(FS, None).0 {
        if object::is_deleting(&fs) {
            continue;
        }
        let pl = object::str_at(&fs, "/spec/priorityLevelConfiguration/name").unwrap_or_default();
        let (status, reason, message) = if server.store.get(PLC, "", pl).is_some() {
            ("False", "Found", format!("This FlowSchema references the PriorityLevelConfiguration object named {pl:?} and it exists"))
        } else {
            ("True", "NotFound", format!("This FlowSchema references the PriorityLevelConfiguration object named {pl:?} but there is no such object"))
        };
        let current = fs.pointer("/status/conditions").and_then(|c| c.as_array()).and_then(|cs| cs.iter().find(|c| c["type"] == "Dangling"));
        if current.is_some_and(|c| c["status"] == status && c["reason"] == reason && c["message"] == message.as_str()) {
            continue;
        }
        let body = json!({"apiVersion": format!("{GROUP}/v1"), "kind": "FlowSchema", "metadata": {"name": object::name_of(&fs)},
            "status": {"conditions": [{"type": "Dangling", "status": status, "lastTransitionTime": meta::now_rfc3339(), "reason": reason, "message": message}]}});
        let _ = server.patch(&rt, None, object::name_of(&fs), PatchType::Apply, &body, Some("status"), &opts);
    }
}

/// The bootstrap objects and their conditions, before anything else runs (a fresh cluster's
/// baseline has them, as kube-apiserver's post-start hook creates them before it is ready).
pub fn install(server: &ApiServer) {
    ensure(server);
    sync_dangling(server);
}

pub struct ApfConfig {
    clock: Clock,
    next_ensure: Mutex<DateTime<Utc>>,
}

impl ApfConfig {
    pub fn new(clock: Clock) -> Self {
        let first = clock.now() + Duration::seconds(PERIOD_SECS);
        ApfConfig { clock, next_ensure: Mutex::new(first) }
    }
}

impl Controller for ApfConfig {
    fn name(&self) -> &'static str {
        "apf-config"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        // A FlowSchema changed or a priority level came or went.
        &*ev.key == FS || &*ev.key == PLC
    }

    fn reconcile(&self, server: &ApiServer) {
        let now = self.clock.now();
        let due = {
            let mut next = self.next_ensure.lock();
            let due = now >= *next;
            if due {
                *next = now + Duration::seconds(PERIOD_SECS);
            }
            due
        };
        if due {
            ensure(server);
        }
        sync_dangling(server);
    }

    fn next_wake(&self) -> Option<DateTime<Utc>> {
        Some(*self.next_ensure.lock())
    }
}
