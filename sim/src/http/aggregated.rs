//! Aggregated discovery (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList` at `/api` and `/apis`),
//! which kube-apiserver serves when the client asks for it in `Accept`: one request instead of
//! one per group-version. Built from the same resource lists as the legacy documents.

use serde_json::{json, Map, Value};

use crate::registry::Registry;

pub const CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Does the client accept the v2 aggregated form (kubectl, client-go, kube-rs ask first)?
pub fn wanted(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let p: Vec<&str> = part.split(';').map(str::trim).collect();
        p.contains(&"g=apidiscovery.k8s.io") && p.contains(&"v=v2") && p.contains(&"as=APIGroupDiscoveryList")
    })
}

/// One group's versions (preferred first) as `APIVersionDiscovery` entries.
fn versions(reg: &Registry, group: &str, versions: &[String]) -> Vec<Value> {
    versions
        .iter()
        .filter_map(|v| {
            let doc = reg.resource_list(group, v)?;
            let list = doc["resources"].as_array().cloned().unwrap_or_default();
            let mut resources: Vec<Value> = Vec::new();
            let mut subs: Map<String, Value> = Map::new();
            for r in &list {
                let name = r["name"].as_str().unwrap_or("");
                if let Some((base, sub)) = name.split_once('/') {
                    let kind_group = r["group"].as_str().unwrap_or(group);
                    let kind_version = r["version"].as_str().unwrap_or(v);
                    let entry = json!({
                        "subresource": sub,
                        "responseKind": {"group": kind_group, "version": kind_version, "kind": r["kind"]},
                        "verbs": r["verbs"],
                    });
                    subs.entry(base.to_string()).or_insert_with(|| json!([])).as_array_mut().unwrap().push(entry);
                }
            }
            for r in &list {
                let name = r["name"].as_str().unwrap_or("");
                if name.contains('/') {
                    continue;
                }
                let mut e = json!({
                    "resource": name,
                    "responseKind": {"group": group, "version": v, "kind": r["kind"]},
                    "scope": if r["namespaced"] == true { "Namespaced" } else { "Cluster" },
                    "singularResource": r["singularName"],
                    "verbs": r["verbs"],
                });
                for k in ["shortNames", "categories"] {
                    if r.get(k).is_some_and(|x| x.as_array().is_some_and(|a| !a.is_empty())) {
                        e[k] = r[k].clone();
                    }
                }
                if let Some(s) = subs.remove(name) {
                    e["subresources"] = s;
                }
                resources.push(e);
            }
            Some(json!({"version": v, "resources": resources, "freshness": "Current"}))
        })
        .collect()
}

/// `/api` (core) or `/apis` (every named group) as an `APIGroupDiscoveryList`.
pub fn document(reg: &Registry, core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![json!({"metadata": {"creationTimestamp": null}, "versions": versions(reg, "", &["v1".to_string()])})]
    } else {
        reg.group_list()["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                let name = g["name"].as_str().unwrap_or("").to_string();
                let preferred = g.pointer("/preferredVersion/version").and_then(|v| v.as_str()).unwrap_or("").to_string();
                let mut vs: Vec<String> = g["versions"].as_array().into_iter().flatten().filter_map(|v| v["version"].as_str().map(String::from)).collect();
                // Preferred first, the rest in kube's version priority order.
                vs.sort_by(|a, b| (a != &preferred).cmp(&(b != &preferred)).then_with(|| crate::registry::version_priority_cmp(a, b)));
                json!({"metadata": {"name": name, "creationTimestamp": null}, "versions": versions(reg, &name, &vs)})
            })
            .collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        assert!(wanted("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"));
        assert!(!wanted("application/json, */*"));
        assert!(!wanted("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"));
    }

    #[test]
    fn apps_deployments_have_scale_and_status() {
        let reg = Registry::builtin();
        let d = document(&reg, false);
        let apps = d["items"].as_array().unwrap().iter().find(|g| g["metadata"]["name"] == "apps").unwrap();
        let dep = apps["versions"][0]["resources"].as_array().unwrap().iter().find(|r| r["resource"] == "deployments").unwrap();
        assert_eq!(dep["scope"], "Namespaced");
        assert_eq!(dep["shortNames"], json!(["deploy"]));
        let scale = dep["subresources"].as_array().unwrap().iter().find(|s| s["subresource"] == "scale").unwrap();
        assert_eq!(scale["responseKind"], json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}));
        let autoscaling = d["items"].as_array().unwrap().iter().find(|g| g["metadata"]["name"] == "autoscaling").unwrap();
        assert_eq!(autoscaling["versions"][0]["version"], "v2");
        let core = document(&reg, true);
        assert!(core["items"][0]["versions"][0]["resources"].as_array().unwrap().iter().any(|r| r["resource"] == "pods"));
    }
}
