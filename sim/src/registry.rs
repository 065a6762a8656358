//! Resource types the server knows: the built-in ones (from kube-apiserver 1.35's golden
//! discovery documents) plus whatever Established CRDs add.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::{json, Value};

macro_rules! golden {
    ($($file:literal),* $(,)?) => { &[$(include_str!(concat!("../resources/discovery/", $file))),*] };
}

/// Golden `APIResourceList`s, in the order kube-apiserver lists their groups.
const BUILTIN_DOCS: &[&str] = golden![
    "api__v1.json",
    "apis__apiregistration.k8s.io__v1.json",
    "apis__apps__v1.json",
    "apis__events.k8s.io__v1.json",
    "apis__authentication.k8s.io__v1.json",
    "apis__authorization.k8s.io__v1.json",
    "apis__autoscaling__v2.json",
    "apis__autoscaling__v1.json",
    "apis__batch__v1.json",
    "apis__certificates.k8s.io__v1.json",
    "apis__networking.k8s.io__v1.json",
    "apis__policy__v1.json",
    "apis__rbac.authorization.k8s.io__v1.json",
    "apis__storage.k8s.io__v1.json",
    "apis__admissionregistration.k8s.io__v1.json",
    "apis__apiextensions.k8s.io__v1.json",
    "apis__scheduling.k8s.io__v1.json",
    "apis__coordination.k8s.io__v1.json",
    "apis__node.k8s.io__v1.json",
    "apis__discovery.k8s.io__v1.json",
    "apis__flowcontrol.apiserver.k8s.io__v1.json",
    "apis__resource.k8s.io__v1.json",
];

/// The Kubernetes version the server reports (matches the golden discovery and k8s-openapi's `v1_35`).
pub const SERVER_MAJOR: &str = "1";
pub const SERVER_MINOR: &str = "35";
pub const SERVER_GIT_VERSION: &str = "v1.35.0";

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Served subresources, e.g. `status`, `scale`, `finalize`, `eviction`.
    pub subresources: Vec<String>,
    /// Storage bucket shared by every version of this resource.
    pub key: String,
    /// For custom resources: the CRD's name and its version entry (printer columns, schema).
    pub crd: Option<CrdVersionInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CrdVersionInfo {
    pub crd_name: String,
    pub printer_columns: Vec<Value>,
    pub selectable_fields: Vec<String>,
    pub scale: Option<Value>,
    /// `openAPIV3Schema` of this version (structural pruning, strict validation).
    pub schema: Option<Value>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.iter().any(|s| s == sub)
    }
    pub fn storage_key(group: &str, plural: &str) -> String {
        if group.is_empty() { plural.to_string() } else { format!("{group}/{plural}") }
    }
    pub fn is_custom(&self) -> bool {
        self.crd.is_some()
    }
}

#[derive(Default)]
struct Inner {
    /// (group, version) in serving order → resources.
    versions: Vec<(String, String)>,
    by_gvr: BTreeMap<(String, String, String), Arc<ResourceType>>,
    /// Golden documents (built-in subresource entries included) keyed by "group/version".
    builtin_docs: BTreeMap<String, Value>,
    /// Preferred version per group.
    preferred: BTreeMap<String, String>,
}

pub struct Registry {
    inner: RwLock<Inner>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Registry {
    pub fn builtin() -> Self {
        let mut inner = Inner::default();
        for text in BUILTIN_DOCS {
            let doc: Value = serde_json::from_str(text).expect("golden discovery parses");
            let gv = doc["groupVersion"].as_str().unwrap().to_string();
            let (group, version) = match gv.split_once('/') {
                Some((g, v)) => (g.to_string(), v.to_string()),
                None => (String::new(), gv.clone()),
            };
            let resources = doc["resources"].as_array().unwrap();
            let mut subs: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for r in resources {
                if let Some((base, sub)) = r["name"].as_str().unwrap().split_once('/') {
                    subs.entry(base.to_string()).or_default().push(sub.to_string());
                }
            }
            for r in resources {
                let name = r["name"].as_str().unwrap();
                if name.contains('/') {
                    continue;
                }
                let strs = |k: &str| -> Vec<String> {
                    r[k].as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
                };
                let rt = ResourceType {
                    group: group.clone(),
                    version: version.clone(),
                    plural: name.to_string(),
                    singular: r["singularName"].as_str().unwrap_or("").to_string(),
                    kind: r["kind"].as_str().unwrap().to_string(),
                    namespaced: r["namespaced"].as_bool().unwrap_or(false),
                    verbs: strs("verbs"),
                    short_names: strs("shortNames"),
                    categories: strs("categories"),
                    subresources: subs.remove(name).unwrap_or_default(),
                    key: storage_key_for_builtin(&group, name),
                    crd: None,
                };
                inner.by_gvr.insert((group.clone(), version.clone(), name.to_string()), Arc::new(rt));
            }
            if !inner.preferred.contains_key(&group) {
                inner.preferred.insert(group.clone(), version.clone());
            }
            inner.versions.push((group.clone(), version.clone()));
            inner.builtin_docs.insert(gv, doc);
        }
        Registry { inner: RwLock::new(inner) }
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.inner.read().by_gvr.get(&(group.to_string(), version.to_string(), plural.to_string())).cloned()
    }

    /// The preferred-version type for `group` + `plural`.
    pub fn preferred(&self, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
        let inner = self.inner.read();
        let v = inner.preferred.get(group)?;
        inner.by_gvr.get(&(group.to_string(), v.clone(), plural.to_string())).cloned()
    }

    /// Look up by apiVersion + kind (what an object body names).
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (g, v) = split_api_version(api_version);
        self.inner.read().by_gvr.values().find(|rt| rt.group == g && rt.version == v && rt.kind == kind).cloned()
    }

    /// Every type sharing a storage bucket is the same resource in another version.
    pub fn all(&self) -> Vec<Arc<ResourceType>> {
        self.inner.read().by_gvr.values().cloned().collect()
    }

    pub fn group_known(&self, group: &str, version: &str) -> bool {
        self.inner.read().versions.iter().any(|(g, v)| g == group && v == version)
    }

    /// `/api/v1` or `/apis/G/V` document.
    pub fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let inner = self.inner.read();
        let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
        if let Some(doc) = inner.builtin_docs.get(&gv) {
            return Some(doc.clone());
        }
        if !inner.versions.iter().any(|(g, v)| g == group && v == version) {
            return None;
        }
        let mut resources = Vec::new();
        for rt in inner.by_gvr.values().filter(|rt| rt.group == group && rt.version == version) {
            let mut r = json!({
                "name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                "kind": rt.kind, "verbs": rt.verbs,
                "storageVersionHash": storage_version_hash(&rt.group, &rt.version, &rt.kind),
            });
            if !rt.short_names.is_empty() { r["shortNames"] = json!(rt.short_names); }
            if !rt.categories.is_empty() { r["categories"] = json!(rt.categories); }
            resources.push(r);
            for sub in &rt.subresources {
                let kind = if sub == "scale" { "Scale" } else { rt.kind.as_str() };
                let mut s = json!({"name": format!("{}/{}", rt.plural, sub), "singularName": "", "namespaced": rt.namespaced, "kind": kind, "verbs": ["get", "patch", "update"]});
                if sub == "scale" { s["group"] = json!("autoscaling"); s["version"] = json!("v1"); }
                resources.push(s);
            }
        }
        Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
    }

    /// `/apis` (APIGroupList).
    pub fn group_list(&self) -> Value {
        let inner = self.inner.read();
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for (g, v) in &inner.versions {
            if g.is_empty() { continue; }
            match groups.iter_mut().find(|(gg, _)| gg == g) {
                Some((_, vs)) => vs.push(v.clone()),
                None => groups.push((g.clone(), vec![v.clone()])),
            }
        }
        let groups: Vec<Value> = groups.into_iter().map(|(g, vs)| {
            let pref = inner.preferred.get(&g).cloned().unwrap_or_else(|| vs[0].clone());
            json!({
                "name": g,
                "versions": vs.iter().map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v})).collect::<Vec<_>>(),
                "preferredVersion": {"groupVersion": format!("{g}/{pref}"), "version": pref},
            })
        }).collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `/apis/G` (APIGroup).
    pub fn group(&self, group: &str) -> Option<Value> {
        let list = self.group_list();
        list["groups"].as_array()?.iter().find(|g| g["name"] == group).map(|g| {
            let mut g = g.clone();
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            g
        })
    }

    /// Serve (or re-serve) a CRD's versions. Returns the types added.
    pub fn install_crd(&self, crd: &Value) -> Vec<Arc<ResourceType>> {
        let types = crd_types(crd);
        let mut inner = self.inner.write();
        // Replace whatever this CRD served before (versions may have changed).
        let crd_name = crd.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or("");
        inner.by_gvr.retain(|_, rt| rt.crd.as_ref().is_none_or(|c| c.crd_name != crd_name));
        for rt in &types {
            inner.by_gvr.insert((rt.group.clone(), rt.version.clone(), rt.plural.clone()), rt.clone());
        }
        Self::rebuild_versions(&mut inner);
        if let Some(first) = types.first() {
            // Preferred version: the storage version, as the CRD discovery controller does... kube sorts by
            // version priority; the first served version in priority order is preferred.
            let mut vs: Vec<&str> = types.iter().map(|t| t.version.as_str()).collect();
            vs.sort_by(|a, b| version_priority_cmp(a, b));
            inner.preferred.insert(first.group.clone(), vs[0].to_string());
        }
        types
    }

    /// Stop serving a CRD's resources.
    pub fn remove_crd(&self, crd_name: &str) {
        let mut inner = self.inner.write();
        inner.by_gvr.retain(|_, rt| rt.crd.as_ref().is_none_or(|c| c.crd_name != crd_name));
        Self::rebuild_versions(&mut inner);
    }

    fn rebuild_versions(inner: &mut Inner) {
        let builtin: Vec<(String, String)> = inner.versions.iter().filter(|(g, v)| {
            let gv = if g.is_empty() { v.clone() } else { format!("{g}/{v}") };
            inner.builtin_docs.contains_key(&gv)
        }).cloned().collect();
        let mut custom: Vec<(String, String)> = inner.by_gvr.values().filter(|rt| rt.crd.is_some())
            .map(|rt| (rt.group.clone(), rt.version.clone())).collect();
        custom.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| version_priority_cmp(&a.1, &b.1)));
        custom.dedup();
        let live_groups: Vec<String> = custom.iter().map(|(g, _)| g.clone()).collect();
        inner.preferred.retain(|g, _| builtin.iter().any(|(bg, _)| bg == g) || live_groups.contains(g));
        inner.versions = builtin;
        inner.versions.extend(custom);
    }
}

fn storage_key_for_builtin(group: &str, plural: &str) -> String {
    // events.k8s.io/v1 serves the same objects as core/v1 events (one storage, two shapes).
    if group == "events.k8s.io" && plural == "events" {
        return "events".into();
    }
    ResourceType::storage_key(group, plural)
}

pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// kube's version priority: GA > beta > alpha, higher numbers first, then non-kube versions alphabetically.
pub fn version_priority_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parse(v: &str) -> (u8, u64, u64, String) {
        let re_ok = v.starts_with('v') && v[1..].chars().next().is_some_and(|c| c.is_ascii_digit());
        if !re_ok { return (0, 0, 0, v.to_string()); }
        let rest = &v[1..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let major: u64 = digits.parse().unwrap_or(0);
        let tail = &rest[digits.len()..];
        if tail.is_empty() { return (3, major, 0, String::new()); }
        for (prefix, rank) in [("beta", 2u8), ("alpha", 1u8)] {
            if let Some(n) = tail.strip_prefix(prefix)
                && let Ok(minor) = n.parse::<u64>() { return (rank, major, minor, String::new()); }
        }
        (0, 0, 0, v.to_string())
    }
    let (ra, ma, na, sa) = parse(a);
    let (rb, mb, nb, sb) = parse(b);
    rb.cmp(&ra).then(mb.cmp(&ma)).then(nb.cmp(&na)).then(sa.cmp(&sb))
}

/// `storageVersionHash` as kube computes it: base64(sha256("group/version/Kind")[:8]).
pub fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("{group}/{version}/{kind}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&d[..8])
}

/// The resource types a CRD object serves (served versions only).
pub fn crd_types(crd: &Value) -> Vec<Arc<ResourceType>> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or("").to_string();
    let names = &spec["names"];
    let plural = names["plural"].as_str().unwrap_or("").to_string();
    let strs = |v: &Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
    };
    let crd_name = crd.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let mut out = Vec::new();
    for ver in spec["versions"].as_array().into_iter().flatten() {
        if ver["served"].as_bool() == Some(false) { continue; }
        let mut subresources = Vec::new();
        if ver.pointer("/subresources/status").is_some() { subresources.push("status".to_string()); }
        if ver.pointer("/subresources/scale").is_some() { subresources.push("scale".to_string()); }
        out.push(Arc::new(ResourceType {
            group: group.clone(),
            version: ver["name"].as_str().unwrap_or("").to_string(),
            plural: plural.clone(),
            singular: names["singular"].as_str().map(String::from).unwrap_or_else(|| names["kind"].as_str().unwrap_or("").to_lowercase()),
            kind: names["kind"].as_str().unwrap_or("").to_string(),
            namespaced: spec["scope"].as_str() != Some("Cluster"),
            verbs: ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"].iter().map(|s| s.to_string()).collect(),
            short_names: strs(&names["shortNames"]),
            categories: strs(&names["categories"]),
            subresources,
            key: ResourceType::storage_key(&group, &plural),
            crd: Some(CrdVersionInfo {
                crd_name: crd_name.clone(),
                printer_columns: ver["additionalPrinterColumns"].as_array().cloned().unwrap_or_default(),
                selectable_fields: ver["selectableFields"].as_array().into_iter().flatten()
                    .filter_map(|f| f["jsonPath"].as_str().map(|s| s.trim_start_matches('.').to_string())).collect(),
                scale: ver.pointer("/subresources/scale").cloned(),
                schema: ver.pointer("/schema/openAPIV3Schema").cloned(),
            }),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_types_load_with_subresources() {
        let r = Registry::builtin();
        let pods = r.get("", "v1", "pods").unwrap();
        assert!(pods.namespaced);
        assert!(pods.has_subresource("status"));
        assert_eq!(pods.categories, vec!["all"]);
        let sts = r.get("apps", "v1", "statefulsets").unwrap();
        assert_eq!(sts.short_names, vec!["sts"]);
        assert!(sts.has_subresource("scale"));
        assert_eq!(r.preferred("autoscaling", "horizontalpodautoscalers").unwrap().version, "v2");
        assert!(r.get("", "v1", "pods/status").is_none());
    }

    #[test]
    fn hash_matches_golden() {
        // configmaps' storageVersionHash in the golden /api/v1.
        assert_eq!(storage_version_hash("", "v1", "ConfigMap"), "qFsyl6wFWjQ=");
    }

    #[test]
    fn version_priority() {
        let mut v = vec!["v1alpha1", "v1", "v2beta1", "v2", "foo", "v1beta2"];
        v.sort_by(|a, b| version_priority_cmp(a, b));
        assert_eq!(v, vec!["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
    }
}
