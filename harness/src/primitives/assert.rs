//! `assert.exists`, `assert.absent` (partial match; lists match as subsets), `assert.count`, `assert.field`.
//!
//! Assertions are eventual, as chainsaw's are: on a real cluster a deleted Deployment's pods go away over
//! seconds, so a check that does not hold yet is re-checked on every watch event of the queried objects until
//! it holds or the step's timeout passes (the last failed check is quoted in the timeout error, so
//! `expect: fails` + `message:` still match it). `immediately: true` checks once.

use futures::{StreamExt, TryStreamExt};
use futures::future::BoxFuture;
use kube::api::{DynamicObject, ListParams, WatchParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Primitive, StepContext, StepError, StepOutcome, dyn_api};

/// Does `actual` contain `expected`? Maps: every expected key matches; lists: every expected item matches
/// a distinct actual item (order ignored); scalars: equal (a number equals its string form).
pub fn partial_match(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e.iter().all(|(k, ev)| a.get(k).is_some_and(|av| partial_match(ev, av))),
        (Value::Array(e), Value::Array(a)) => {
            let mut used = vec![false; a.len()];
            e.iter().all(|ev| {
                for (i, av) in a.iter().enumerate() {
                    if !used[i] && partial_match(ev, av) {
                        used[i] = true;
                        return true;
                    }
                }
                false
            })
        }
        (Value::Null, Value::Null) => true,
        (Value::Number(e), Value::String(a)) | (Value::String(a), Value::Number(e)) => &e.to_string() == a,
        (e, a) => e == a,
    }
}

fn as_json(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// What an assertion looks at.
struct Query<'q> {
    api_version: Option<&'q str>,
    kind: &'q str,
    name: Option<&'q str>,
    namespace: Option<&'q str>,
    selector: Option<&'q str>,
    pattern: Option<&'q Value>,
}

/// Check `holds` against the matching objects; until it holds (unless `immediately`), wait for the next watch
/// event on the queried objects and check again. `holds` returns the success detail, or why it does not hold.
async fn eventually(
    ctx: &mut StepContext,
    q: Query<'_>,
    immediately: bool,
    holds: impl Fn(&[DynamicObject]) -> Result<String, String>,
) -> Result<StepOutcome, StepError> {
    let r = ctx.resolve(q.api_version, q.kind).await?;
    let api = dyn_api(&ctx.client, &r, q.namespace);
    let fields = q.name.map(|n| format!("metadata.name={n}"));
    let mut lp = ListParams::default();
    let mut wp = WatchParams::default().timeout(290);
    if let Some(s) = q.selector {
        lp = lp.labels(s);
        wp = wp.labels(s);
    }
    if let Some(f) = &fields {
        lp = lp.fields(f);
        wp = wp.fields(f);
    }
    loop {
        let list = api.list(&lp).await.map_err(StepError::kube(format!("listing {}", q.kind)))?;
        let items: Vec<DynamicObject> =
            list.items.into_iter().filter(|o| q.pattern.is_none_or(|p| partial_match(p, &as_json(o)))).collect();
        match holds(&items) {
            Ok(detail) => return Ok(StepOutcome::done(detail)),
            Err(why) if immediately => return Err(StepError::Failed(why)),
            Err(why) => ctx.observe(why),
        }
        let rv = list.metadata.resource_version.unwrap_or_default();
        let mut events = api.watch(&wp, &rv).await.map_err(StepError::kube(format!("watching {}", q.kind)))?.boxed();
        // Any event (or the server ending the watch) is a reason to look again.
        let _ = events.try_next().await;
    }
}

fn target(kind: &str, name: Option<&str>, ns: Option<&str>, sel: Option<&str>) -> String {
    let mut s = kind.to_string();
    if let Some(n) = name {
        s += &format!(" {}{n}", ns.map(|n| format!("{n}/")).unwrap_or_default());
    } else if let Some(ns) = ns {
        s += &format!(" in namespace {ns}");
    }
    if let Some(sel) = sel {
        s += &format!(" with selector `{sel}`");
    }
    s
}

macro_rules! object_query {
    ($(#[$m:meta])* $name:ident, $schema:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        #[schemars(rename = $schema)]
        pub struct $name {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub api_version: Option<String>,
            pub kind: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub namespace: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub selector: Option<String>,
            /// Partial object: maps match by key, lists as subsets.
            #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
            pub pattern: Option<Value>,
            /// Check once instead of re-checking until the step's timeout.
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub immediately: bool,
        }
        impl $name {
            fn target(&self) -> String {
                target(&self.kind, self.name.as_deref(), self.namespace.as_deref(), self.selector.as_deref())
            }
            fn query(&self) -> Query<'_> {
                Query { api_version: self.api_version.as_deref(), kind: &self.kind, name: self.name.as_deref(),
                    namespace: self.namespace.as_deref(), selector: self.selector.as_deref(), pattern: self.pattern.as_ref() }
            }
        }
    };
}

object_query!(
    /// At least one object matches.
    Exists, "AssertExists"
);
object_query!(
    /// No object matches.
    Absent, "AssertAbsent"
);

impl Primitive for Exists {
    fn describe(&self) -> String {
        format!("{} to exist", self.target())
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let how = if self.pattern.is_some() { " matching the given fields" } else { "" };
            let target = self.target();
            eventually(ctx, self.query(), self.immediately, |found| {
                if found.is_empty() { Err(format!("expected {target}{how} to exist, found none")) } else { Ok(format!("{} match", found.len())) }
            })
            .await
        })
    }
}

impl Primitive for Absent {
    fn describe(&self) -> String {
        format!("{} to be absent", self.target())
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let target = self.target();
            eventually(ctx, self.query(), self.immediately, |found| {
                if found.is_empty() {
                    return Ok("absent".into());
                }
                let names: Vec<String> = found.iter().map(|o| o.metadata.name.clone().unwrap_or_default()).collect();
                Err(format!("expected {target} to be absent, found: {}", names.join(", ")))
            })
            .await
        })
    }
}

/// How many objects match a selector: exactly `count`, or within `min`..`max`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "AssertCount")]
pub struct Count {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// Check once instead of re-checking until the step's timeout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub immediately: bool,
}

impl Count {
    pub fn validate(&self) -> Result<(), String> {
        if self.count.is_none() && self.min.is_none() && self.max.is_none() {
            return Err("give `count`, or `min` and/or `max`".into());
        }
        Ok(())
    }
}

impl Primitive for Count {
    fn describe(&self) -> String {
        format!("count of {}", target(&self.kind, None, self.namespace.as_deref(), self.selector.as_deref()))
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let want = match (self.count, self.min, self.max) {
                (Some(c), _, _) => format!("exactly {c}"),
                (None, Some(a), Some(b)) => format!("between {a} and {b}"),
                (None, Some(a), None) => format!("at least {a}"),
                (None, None, Some(b)) => format!("at most {b}"),
                _ => String::new(),
            };
            let what = target(&self.kind, None, self.namespace.as_deref(), self.selector.as_deref());
            let q = Query {
                api_version: self.api_version.as_deref(),
                kind: &self.kind,
                name: None,
                namespace: self.namespace.as_deref(),
                selector: self.selector.as_deref(),
                pattern: None,
            };
            eventually(ctx, q, self.immediately, |found| {
                let n = found.len() as u64;
                let ok = self.count.is_none_or(|c| c == n) && self.min.is_none_or(|m| n >= m) && self.max.is_none_or(|m| n <= m);
                if ok { Ok(format!("{n} found ({want})")) } else { Err(format!("expected {want} {what}, found {n}")) }
            })
            .await
        })
    }
}

/// One field equals a value. `path` is dotted (`status.phase`, `spec.ports[0].port`,
/// `metadata.labels["app.kubernetes.io/name"]`) or a JSON pointer (`/status/phase`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "AssertField")]
pub struct Field {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub path: String,
    pub equals: Value,
    /// Check once instead of re-checking until the step's timeout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub immediately: bool,
}

/// Resolve a dotted path into a JSON pointer.
pub fn path_to_pointer(path: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    let mut out = String::new();
    let mut chars = path.chars().peekable();
    let mut seg = String::new();
    let push = |out: &mut String, seg: &mut String| {
        if !seg.is_empty() {
            out.push('/');
            out.push_str(&seg.replace('~', "~0").replace('/', "~1"));
            seg.clear();
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '.' => push(&mut out, &mut seg),
            '[' => {
                push(&mut out, &mut seg);
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    inner.push(c);
                }
                seg = inner.trim_matches('"').trim_matches('\'').to_string();
                push(&mut out, &mut seg);
            }
            c => seg.push(c),
        }
    }
    push(&mut out, &mut seg);
    out
}

impl Primitive for Field {
    fn describe(&self) -> String {
        format!("{} {} field {} to equal {}", self.kind, self.name, self.path, self.equals)
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            if self.kind.eq_ignore_ascii_case("secret") && (self.path.starts_with("data") || self.path.starts_with("/data") || self.path.contains("stringData")) {
                return Err(StepError::Failed("refusing to read Secret data".into()));
            }
            let q = Query {
                api_version: self.api_version.as_deref(),
                kind: &self.kind,
                name: Some(&self.name),
                namespace: self.namespace.as_deref(),
                selector: None,
                pattern: None,
            };
            let pointer = path_to_pointer(&self.path);
            eventually(ctx, q, self.immediately, |found| {
                let Some(obj) = found.first() else {
                    return Err(format!("{} {} not found", self.kind, self.name));
                };
                let got = as_json(obj).pointer(&pointer).cloned().unwrap_or(Value::Null);
                if partial_match(&self.equals, &got) && partial_match(&got, &self.equals) {
                    Ok(format!("{} = {got}", self.path))
                } else {
                    Err(format!("{} {}: {} is {got}, expected {}", self.kind, self.name, self.path, self.equals))
                }
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partial() {
        let a = json!({"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443}]}, "x": 1});
        assert!(partial_match(&json!({"spec": {"ports": [{"port": 443}]}}), &a));
        assert!(partial_match(&json!({"spec": {"ports": [{"port": 443}, {"name": "http"}]}}), &a));
        assert!(!partial_match(&json!({"spec": {"ports": [{"port": 8080}]}}), &a));
        assert!(!partial_match(&json!({"y": 1}), &a));
        assert!(partial_match(&json!({"x": "1"}), &a));
    }

    #[test]
    fn paths() {
        assert_eq!(path_to_pointer("status.phase"), "/status/phase");
        assert_eq!(path_to_pointer("spec.ports[0].port"), "/spec/ports/0/port");
        assert_eq!(path_to_pointer(r#"metadata.labels["app.kubernetes.io/name"]"#), "/metadata/labels/app.kubernetes.io~1name");
    }
}
