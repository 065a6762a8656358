//! The ReplicaSet controller: keeps `spec.replicas` active pods (`<rs>-<5 chars>`), adopts
//! matching orphans, and reports replicas/readyReplicas/availableReplicas.

use crate::api::object::At;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::object;
use super::owned_pods::{OwnedPods, PodFacts};
use super::util::{self, Dirty, KCM};
use super::Controller;
use crate::events::{self, EventType};
use crate::server::ApiServer;
use crate::store::StoreEvent;

const KEY: &str = "apps/replicasets";
const COMPONENT: &str = "replicaset-controller";
/// The controller's slow-start cap per sync.
const BURST: usize = 500;

#[derive(Default)]
pub struct ReplicaSetController {
    dirty: Dirty,
    pods: OwnedPods,
}

impl Controller for ReplicaSetController {
    fn name(&self) -> &'static str {
        "replicaset"
    }

    fn observe(&self, _server: &ApiServer, ev: &StoreEvent) -> bool {
        self.pods.observe(ev);
        match &*ev.key {
            KEY => self.dirty.add(&ev.namespace, &ev.name),
            // A pod refused for a missing ServiceAccount is retried once it exists (the real
            // controller's rate-limited requeue).
            "serviceaccounts" if ev.kind == crate::store::EventType::Added => self.dirty.all(),
            "pods" => {
                let hit = self.dirty.add_owner(ev, "ReplicaSet");
                // An orphan may need adopting.
                hit || (object::controller_uid(&ev.object).is_none() && ev.kind != crate::store::EventType::Deleted && !ev.namespace.is_empty() && {
                    let (rss, _) = _server.store.list(KEY, Some(&ev.namespace));
                    let mut any = false;
                    for rs in rss.iter().filter(|rs| util::selector(rs).matches(object::labels(&ev.object))) {
                        any |= self.dirty.add(&ev.namespace, object::name_of(rs));
                    }
                    any
                })
            }
            _ => false,
        }
    }

    fn lagged(&self) {
        self.pods.invalidate();
    }

    fn reconcile(&self, server: &ApiServer) {
        self.pods.ensure_built(server);
        for rs in self.dirty.take(server, KEY) {
            sync(server, &self.pods, &rs);
        }
    }
}

/// One ReplicaSet's sync, counting its pods from `pods` (the controller's watch), as the real
/// controller counts from its informer: pods it creates now are counted once their events
/// arrive, which dirties the ReplicaSet again.
fn sync(server: &ApiServer, pods: &OwnedPods, rs: &Arc<Value>) {
    let ns = object::ns_of(rs).to_string();
    let name = object::name_of(rs).to_string();
    let uid = object::uid_of(rs).to_string();
    let pods_rt = util::rt(server, "", "v1", "pods");
    let sel = util::selector(rs);
    let template_labels = rs.at("/spec/template/metadata/labels").and_then(|l| l.as_object()).cloned().unwrap_or_default();
    let mut counts = pods.count(&ns, &uid, &template_labels);
    if !object::is_deleting(rs) {
        adopt(server, pods, rs, &sel).iter().for_each(|f| counts.add(f, &template_labels));
    }
    let active = counts.active;
    let want = object::int_at(rs, "/spec/replicas", 1).max(0) as usize;
    if !object::is_deleting(rs) {
        if active < want {
            let template = rs.at("/spec/template").cloned().unwrap_or(json!({}));
            for _ in 0..(want - active).min(BURST) {
                let pod = util::pod_from_template(&template, rs, &format!("{name}-"));
                match server.create(&pods_rt, Some(&ns), pod, &util::opts(KCM)) {
                    Ok(p) => events::record(server, rs, EventType::Normal, "SuccessfulCreate", &format!("Created pod: {}", object::name_of(&p)), COMPONENT, None),
                    Err(e) => {
                        events::record(server, rs, EventType::Warning, "FailedCreate", &format!("Error creating: {}", e.message), COMPONENT, None);
                        break;
                    }
                }
            }
        } else if active > want {
            // Which to delete needs the pods themselves.
            let mut active: Vec<Arc<Value>> = util::owned(server, "pods", &ns, &uid).into_iter().filter(|p| object::is_active(p)).collect();
            util::deletion_order(&mut active);
            for p in active.iter().take(active.len() - want) {
                if util::delete(server, &pods_rt, p, None) {
                    events::record(server, rs, EventType::Normal, "SuccessfulDelete", &format!("Deleted pod: {}", object::name_of(p)), COMPONENT, None);
                }
            }
        }
    }
    let rsrt = util::rt(server, "apps", "v1", "replicasets");
    let (fully, ready) = (counts.fully_labeled, counts.ready);
    let _ = util::write_status(server, &rsrt, &ns, &name, |cur| {
        let mut st = json!({"replicas": counts.active});
        if fully > 0 {
            st["fullyLabeledReplicas"] = json!(fully);
        }
        if ready > 0 {
            st["readyReplicas"] = json!(ready);
            st["availableReplicas"] = json!(ready);
        }
        st["observedGeneration"] = cur.at("/metadata/generation").cloned().unwrap_or(json!(1));
        Some(st)
    });
}

/// Orphan pods matching the selector get this ReplicaSet as controller (ControllerRefManager);
/// returns the facts of those adopted, counted as its pods from now on.
fn adopt(server: &ApiServer, pods: &OwnedPods, rs: &Value, sel: &crate::api::selectors::LabelSelector) -> Vec<PodFacts> {
    if sel.is_empty() {
        return Vec::new();
    }
    let ns = object::ns_of(rs);
    let pods_rt = util::rt(server, "", "v1", "pods");
    let mut adopted = Vec::new();
    for name in pods.orphans(ns, |labels| sel.matches(Some(labels))) {
        let r = object::controller_ref(rs);
        let _ = util::update(server, &pods_rt, ns, &name, KCM, |o| {
            if object::controller_uid(o).is_some() || !object::is_active(o) || !sel.matches(object::labels(o)) {
                return false;
            }
            let md = object::metadata_mut(o);
            let refs = md.entry("ownerReferences").or_insert_with(|| json!([]));
            if let Some(a) = refs.as_array_mut() {
                a.push(r.clone());
            }
            true
        });
        if let Some(p) = server.store.get("pods", ns, &name).filter(|p| object::controller_uid(p) == Some(object::uid_of(rs))) {
            adopted.push(PodFacts::of(&p));
        }
    }
    adopted
}
