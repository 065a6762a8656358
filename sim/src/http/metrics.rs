//! `/metrics`: kube-apiserver's request counter in the Prometheus text format
//! (`apiserver_request_total` with its upstream labels), counted per served resource request.

use std::collections::BTreeMap;

use hyper::Method;
use parking_lot::Mutex;

use super::route::{ResourcePath, Route};

/// (verb, dry_run, group, version, resource, subresource, scope, code).
type Key = (String, String, String, String, String, String, String, u16);

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<Key, u64>>,
}

/// The verb as the apiserver's metrics report it (`cleanVerb`): LIST and WATCH for
/// collections, APPLY for server-side apply patches.
fn verb(method: &Method, rp: &ResourcePath, query: &str, content_type: &str) -> &'static str {
    let watch = query.split('&').any(|p| p == "watch=true" || p == "watch=1");
    match *method {
        Method::GET if watch => "WATCH",
        Method::GET if rp.name.is_none() => "LIST",
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH if content_type.starts_with("application/apply-patch") => "APPLY",
        Method::PATCH => "PATCH",
        Method::DELETE if rp.name.is_none() => "DELETECOLLECTION",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

impl Metrics {
    /// Count one answered request (resource requests only).
    pub fn record(&self, method: &Method, path: &str, query: &str, content_type: &str, code: u16) {
        let Route::Resource(rp) = super::route::parse(path) else { return };
        let scope = match (&rp.name, &rp.namespace) {
            (Some(_), _) => "resource",
            (None, Some(_)) => "namespace",
            (None, None) => "cluster",
        };
        let dry_run = if query.split('&').any(|p| p == "dryRun=All") { "All" } else { "" };
        let key = (
            verb(method, &rp, query, content_type).to_string(), dry_run.to_string(), rp.group.clone(), rp.version.clone(),
            rp.plural.clone(), rp.sub.clone().unwrap_or_default(), scope.to_string(), code,
        );
        *self.requests.lock().entry(key).or_insert(0) += 1;
    }

    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.\n# TYPE apiserver_request_total counter\n",
        );
        for ((verb, dry_run, group, version, resource, sub, scope, code), n) in self.requests.lock().iter() {
            out.push_str(&format!(
                "apiserver_request_total{{code=\"{code}\",component=\"apiserver\",dry_run=\"{dry_run}\",group=\"{group}\",resource=\"{resource}\",scope=\"{scope}\",subresource=\"{sub}\",verb=\"{verb}\",version=\"{version}\"}} {n}\n"
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_verb_scope_and_code() {
        let m = Metrics::default();
        m.record(&Method::GET, "/api/v1/namespaces/default/pods", "", "", 200);
        m.record(&Method::GET, "/api/v1/namespaces/default/pods", "", "", 200);
        m.record(&Method::GET, "/apis/apps/v1/deployments", "watch=true", "", 200);
        m.record(&Method::PATCH, "/apis/apps/v1/namespaces/a/deployments/d/scale", "", "application/apply-patch+yaml", 200);
        m.record(&Method::GET, "/version", "", "", 200);
        let text = m.render();
        assert!(text.contains("apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\"} 2\n"), "{text}");
        assert!(text.contains("group=\"apps\",resource=\"deployments\",scope=\"cluster\",subresource=\"\",verb=\"WATCH\""), "{text}");
        assert!(text.contains("scope=\"resource\",subresource=\"scale\",verb=\"APPLY\""), "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("apiserver_request_total")).count(), 3);
    }
}
