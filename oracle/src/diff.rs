//! `diff(baseline, current, churn, purges)`: every added or changed object that is not expected churn,
//! each with the likely reason it survived.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::churn::{ChangeKind, ChurnRule};
use super::inventory::{Inventory, ObjectEntry};
use super::reasons::{Reason, explain};
use crate::PurgeRecord;

/// An object that differs from the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    /// `added` or `changed`.
    pub change: ChangeKind,
    pub kind: String,
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// The likely reason, as a sentence.
    pub reason: String,
    /// The same, machine-readable.
    pub reason_code: Reason,
}

impl Leftover {
    pub fn line(&self) -> String {
        let kind = if self.group.is_empty() { self.kind.clone() } else { format!("{}.{}", self.kind, self.group) };
        let obj = match &self.namespace {
            Some(ns) => format!("{kind} {ns}/{}", self.name),
            None => format!("{kind} {}", self.name),
        };
        let change = if self.change == ChangeKind::Changed { " (changed)" } else { "" };
        format!("{obj}{change}: {}", self.reason)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Diff {
    pub leftovers: Vec<Leftover>,
    /// Objects of the baseline that are gone (reported, not a failure).
    pub removed: Vec<String>,
    /// Differences ignored as expected churn.
    pub ignored: usize,
}

impl Diff {
    pub fn is_clean(&self) -> bool {
        self.leftovers.is_empty()
    }
    pub fn listing(&self) -> String {
        self.leftovers.iter().map(|l| format!("  - {}", l.line())).collect::<Vec<_>>().join("\n")
    }
}

type Key<'a> = (&'a str, &'a str, &'a str, &'a str);

fn key(o: &ObjectEntry) -> Key<'_> {
    (o.group.as_str(), o.kind.as_str(), o.namespace.as_deref().unwrap_or(""), o.name.as_str())
}

pub fn diff(baseline: &Inventory, current: &Inventory, churn: &[ChurnRule], purges: &[PurgeRecord]) -> Diff {
    let base: HashMap<Key<'_>, &ObjectEntry> = baseline.objects.iter().map(|o| (key(o), o)).collect();
    let cur_keys: HashSet<Key<'_>> = current.objects.iter().map(key).collect();
    let present_uids: HashSet<&str> = current.objects.iter().map(|o| o.uid.as_str()).collect();
    let services = |inv: &Inventory| -> HashSet<(String, String)> {
        inv.objects
            .iter()
            .filter(|o| o.kind == "Service" && o.group.is_empty())
            .map(|o| (o.namespace.clone().unwrap_or_default(), o.name.clone()))
            .collect()
    };
    let (base_svcs, cur_svcs) = (services(baseline), services(current));
    let kept_service = |ns: &str, name: &str| {
        let k = (ns.to_string(), name.to_string());
        base_svcs.contains(&k) && cur_svcs.contains(&k)
    };
    let base_uids: HashSet<&str> = baseline.objects.iter().map(|o| o.uid.as_str()).collect();
    let kept_owner = |uid: &str| base_uids.contains(uid) && present_uids.contains(uid);
    let ignored_by = |o: &ObjectEntry, change: ChangeKind| churn.iter().any(|r| r.matches(o, change, kept_service, kept_owner));

    let mut ignored = 0;
    let mut pending: Vec<(ChangeKind, &ObjectEntry, Option<Vec<String>>)> = Vec::new();
    for o in &current.objects {
        match base.get(&key(o)) {
            None => {
                if ignored_by(o, ChangeKind::Added) {
                    ignored += 1;
                } else {
                    pending.push((ChangeKind::Added, o, None));
                }
            }
            Some(b) => {
                let fields = changed_fields(b, o);
                if fields.is_empty() {
                    continue;
                }
                if ignored_by(o, ChangeKind::Changed) {
                    ignored += 1;
                } else {
                    pending.push((ChangeKind::Changed, o, Some(fields)));
                }
            }
        }
    }
    let leftover_namespaces: HashSet<&str> = pending
        .iter()
        .filter(|(c, o, _)| *c == ChangeKind::Added && o.kind == "Namespace" && o.group.is_empty())
        .map(|(_, o, _)| o.name.as_str())
        .collect();
    let leftovers = pending
        .into_iter()
        .map(|(change, o, fields)| {
            let reason = match fields {
                Some(f) if !f.iter().any(|x| x == "uid") => Reason::Modified { fields: f },
                _ => explain(o, &present_uids, &leftover_namespaces, purges),
            };
            Leftover {
                change,
                kind: o.kind.clone(),
                group: o.group.clone(),
                namespace: o.namespace.clone(),
                name: o.name.clone(),
                reason: reason.to_string(),
                reason_code: reason,
            }
        })
        .collect();
    let removed = baseline
        .objects
        .iter()
        .filter(|o| !cur_keys.contains(&key(o)) && !ignored_by(o, ChangeKind::Removed))
        .map(ObjectEntry::display)
        .collect();
    Diff { leftovers, removed, ignored }
}

fn changed_fields(b: &ObjectEntry, o: &ObjectEntry) -> Vec<String> {
    let mut f = Vec::new();
    if b.uid != o.uid {
        f.push("uid".to_string());
        return f;
    }
    if b.labels != o.labels {
        f.push("labels".into());
    }
    if b.finalizers != o.finalizers {
        f.push("finalizers".into());
    }
    if b.owners != o.owners {
        f.push("ownerReferences".into());
    }
    if b.phase != o.phase {
        f.push(format!("phase {} -> {}", b.phase.as_deref().unwrap_or("-"), o.phase.as_deref().unwrap_or("-")));
    }
    if b.deletion_timestamp != o.deletion_timestamp {
        f.push("deletionTimestamp".into());
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::default_churn;

    fn obj(group: &str, kind: &str, ns: Option<&str>, name: &str, labels: &[(&str, &str)]) -> ObjectEntry {
        ObjectEntry {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
            namespace: ns.map(Into::into),
            name: name.into(),
            uid: format!("uid-{kind}-{name}"),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            owners: vec![],
            finalizers: vec![],
            phase: None,
            deletion_timestamp: None,
            resource_policy: None,
            reclaim_policy: None,
            claim: None,
            service_name: None,
            helm_hook: None,
            managers: vec![],
        }
    }

    #[test]
    fn crds_and_namespaces_blame_helm_only_when_helm_made_them() {
        let base = Inventory::default();
        let crd = |name: &str, managers: &[&str]| {
            let mut o = obj("apiextensions.k8s.io", "CustomResourceDefinition", None, name, &[]);
            o.managers = managers.iter().map(|m| m.to_string()).collect();
            o
        };
        let mut ns = obj("", "Namespace", None, "made-ns", &[]);
        ns.managers = vec!["cleanroom".into()];
        let cur = Inventory {
            objects: vec![crd("a.x", &["helm"]), crd("b.x", &["kubectl-client-side-apply"]), crd("c.x", &[]), ns, obj("", "ConfigMap", Some("made-ns"), "cm", &[("a", "b")])],
            ..Default::default()
        };
        let mut d = diff(&base, &cur, &[], &[]);
        let reason = |name: &str, d: &Diff| d.leftovers.iter().find(|l| l.name == name).unwrap().reason.clone();
        assert_eq!(reason("a.x", &d), "CRD from the chart's crds/ directory: helm uninstall never deletes CRDs");
        assert_eq!(reason("b.x", &d), "CRD applied by kubectl (`kubectl-client-side-apply`), not by Helm (field manager), and nothing deleted it");
        assert_eq!(reason("c.x", &d), "CRD from the chart's crds/ directory: helm uninstall never deletes CRDs", "no manager recorded: Helm's reason stands");
        assert_eq!(reason("made-ns", &d), "namespace created by cleanroom, not by Helm (field manager), and nothing deleted it");
        assert_eq!(reason("cm", &d), "inside leftover namespace made-ns");
        let origin = |kind: &str, ns: Option<&str>, name: &str, step: &str| crate::Origin {
            group: String::new(),
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
            step: step.into(),
            during: false,
        };
        crate::attribute(&mut d, &[origin("Namespace", None, "made-ns", "step 2 `namespace.create`"), origin("ConfigMap", Some("made-ns"), "cm", "step 3 `manifests.apply`")]);
        assert_eq!(reason("made-ns", &d), "namespace created by step 2 `namespace.create`, not by Helm, and never deleted");
        assert_eq!(reason("cm", &d), "inside leftover namespace made-ns", "a reason that is not a guess stays");
        assert_eq!(reason("a.x", &d), "CRD from the chart's crds/ directory: helm uninstall never deletes CRDs", "no origin: unchanged");
    }

    #[test]
    fn an_automanaged_apiservice_follows_its_crds() {
        let cur = Inventory {
            objects: vec![
                obj("apiregistration.k8s.io", "APIService", None, "v1.demo.cleanroom.dev", &[("kube-aggregator.kubernetes.io/automanaged", "true")]),
                obj("apiregistration.k8s.io", "APIService", None, "v1.metrics.example.dev", &[]),
            ],
            ..Default::default()
        };
        let d = diff(&Inventory::default(), &cur, &[], &[]);
        let reason = |name: &str| d.leftovers.iter().find(|l| l.name == name).unwrap().reason.clone();
        assert_eq!(reason("v1.demo.cleanroom.dev"), "registered by kube-apiserver for the CRDs of demo.cleanroom.dev/v1: it goes with the last of them, which is left over");
        assert_eq!(reason("v1.metrics.example.dev"), "unknown", "an APIService someone registered is not explained away");
    }

    #[test]
    fn names_reasons() {
        let base = Inventory { objects: vec![obj("", "Namespace", None, "default", &[])], ..Default::default() };
        let mut pvc = obj("", "PersistentVolumeClaim", Some("default"), "data", &[("app.kubernetes.io/instance", "x-prom")]);
        pvc.finalizers = vec!["kubernetes.io/pvc-protection".into()];
        let mut kept = obj("", "ConfigMap", Some("default"), "keep", &[("app.kubernetes.io/instance", "x")]);
        kept.resource_policy = Some(" Keep ".into());
        let mut orphan = obj("apps", "ReplicaSet", Some("default"), "rs", &[("app.kubernetes.io/instance", "x")]);
        orphan.owners = vec![crate::OwnerRef { kind: "Deployment".into(), name: "d".into(), uid: "gone".into() }];
        let cur = Inventory {
            objects: vec![
                obj("", "Namespace", None, "default", &[]),
                pvc,
                kept,
                orphan,
                obj("apiextensions.k8s.io", "CustomResourceDefinition", None, "w.example.com", &[]),
                obj("", "Event", Some("default"), "e1", &[]),
                obj("rbac.authorization.k8s.io", "ClusterRole", None, "cr", &[("app.kubernetes.io/instance", "x")]),
            ],
            ..Default::default()
        };
        let purges = vec![PurgeRecord {
            selector: "app.kubernetes.io/instance=x".into(),
            kinds: vec!["PersistentVolumeClaim".into(), "ConfigMap".into(), "ReplicaSet".into(), "CustomResourceDefinition".into()],
            namespace: None,
        }];
        let d = diff(&base, &cur, &default_churn(), &purges);
        assert_eq!(d.ignored, 1, "event ignored");
        let reason = |name: &str| d.leftovers.iter().find(|l| l.name == name).unwrap().reason_code.clone();
        assert!(matches!(reason("data"), Reason::LabelValueDiffers { .. }), "{:?}", reason("data"));
        assert_eq!(reason("keep"), Reason::KeptByPolicy);
        assert!(matches!(reason("rs"), Reason::OwnerGone { .. }));
        assert!(matches!(reason("w.example.com"), Reason::NoLabels { .. }));
        assert!(matches!(reason("cr"), Reason::KindNotPurged { .. }));
    }

    #[test]
    fn hooks_and_statefulset_claims() {
        let base = Inventory { objects: vec![obj("", "Namespace", None, "default", &[])], ..Default::default() };
        let sel = [("app.kubernetes.io/name", "db")];
        let mut hook = obj("batch", "Job", Some("default"), "db-migrate", &[("app.kubernetes.io/managed-by", "Helm")]);
        hook.helm_hook = Some("post-install".into());
        let cur = Inventory {
            objects: vec![
                obj("", "Namespace", None, "default", &[]),
                hook,
                obj("", "PersistentVolumeClaim", Some("default"), "data-db-0", &sel),
                // Not the controller's naming (no set name before the ordinal), or no labels: not claimed.
                obj("", "PersistentVolumeClaim", Some("default"), "data-0", &sel),
                obj("", "PersistentVolumeClaim", Some("default"), "scratch-db-1", &[]),
            ],
            ..Default::default()
        };
        let d = diff(&base, &cur, &default_churn(), &[]);
        let reason = |name: &str| d.leftovers.iter().find(|l| l.name == name).unwrap().reason_code.clone();
        assert_eq!(reason("db-migrate"), Reason::HelmHook { hook: "post-install".into() });
        assert_eq!(reason("data-db-0"), Reason::StatefulSetClaim);
        assert_eq!(reason("data-0"), Reason::Unknown);
        assert_eq!(reason("scratch-db-1"), Reason::Unknown);
    }

    #[test]
    fn changed_and_churn() {
        let mut node = obj("", "Node", None, "n1", &[]);
        let base = Inventory { objects: vec![node.clone(), obj("", "ConfigMap", Some("a"), "c", &[])], ..Default::default() };
        node.labels.insert("x".into(), "y".into());
        let mut cm = obj("", "ConfigMap", Some("a"), "c", &[]);
        cm.finalizers = vec!["f".into()];
        let cur = Inventory { objects: vec![node, cm], ..Default::default() };
        let d = diff(&base, &cur, &default_churn(), &[]);
        assert_eq!(d.leftovers.len(), 1);
        assert_eq!(d.leftovers[0].change, ChangeKind::Changed);
        assert!(d.leftovers[0].reason.contains("finalizers"));
        let d = diff(&base, &cur, &[], &[]);
        assert_eq!(d.leftovers.len(), 2, "no churn rules: node change counts");
    }
}
