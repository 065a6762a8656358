//! Parse request paths the way kube-apiserver's RequestInfoResolver does.

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Version,
    Health,
    ApiVersions,
    GroupList,
    Group(String),
    ResourceList { group: String, version: String },
    Resource(ResourcePath),
    OpenApi,
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

pub fn parse(path: &str) -> Route {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let s: Vec<&str> = segs.iter().map(|x| x.as_str()).collect();
    match s.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["openapi", ..] => Route::OpenApi,
        ["api"] => Route::ApiVersions,
        ["api", v] => Route::ResourceList { group: String::new(), version: v.to_string() },
        ["api", v, rest @ ..] => resource("", v, rest),
        ["apis"] => Route::GroupList,
        ["apis", g] => Route::Group(g.to_string()),
        ["apis", g, v] => Route::ResourceList { group: g.to_string(), version: v.to_string() },
        ["apis", g, v, rest @ ..] => resource(g, v, rest),
        _ => Route::NotFound,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let mk = |plural: &str, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            namespace: namespace.map(String::from),
            name: name.map(String::from),
            sub: sub.map(String::from),
        })
    };
    match rest {
        ["namespaces"] => mk("namespaces", None, None, None),
        ["namespaces", name] => mk("namespaces", None, Some(name), None),
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => mk("namespaces", None, Some(name), Some(sub)),
        ["namespaces", ns, plural] => mk(plural, Some(ns), None, None),
        ["namespaces", ns, plural, name] => mk(plural, Some(ns), Some(name), None),
        ["namespaces", ns, plural, name, sub] => mk(plural, Some(ns), Some(name), Some(sub)),
        [plural] => mk(plural, None, None, None),
        [plural, name] => mk(plural, None, Some(name), None),
        [plural, name, sub] => mk(plural, None, Some(name), Some(sub)),
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse("/api/v1/namespaces/kube-system/pods/x/status"), Route::Resource(ResourcePath {
            group: "".into(), version: "v1".into(), plural: "pods".into(), namespace: Some("kube-system".into()), name: Some("x".into()), sub: Some("status".into()),
        }));
        assert_eq!(parse("/api/v1/namespaces/foo"), Route::Resource(ResourcePath {
            version: "v1".into(), plural: "namespaces".into(), name: Some("foo".into()), ..Default::default()
        }));
        assert_eq!(parse("/api/v1/namespaces/foo/finalize"), Route::Resource(ResourcePath {
            version: "v1".into(), plural: "namespaces".into(), name: Some("foo".into()), sub: Some("finalize".into()), ..Default::default()
        }));
        assert_eq!(parse("/apis/apps/v1/deployments"), Route::Resource(ResourcePath {
            group: "apps".into(), version: "v1".into(), plural: "deployments".into(), ..Default::default()
        }));
        assert_eq!(parse("/apis/apps"), Route::Group("apps".into()));
        assert_eq!(parse("/apis"), Route::GroupList);
        assert_eq!(parse("/nope"), Route::NotFound);
    }
}
