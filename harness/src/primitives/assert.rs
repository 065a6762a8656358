//! `assert.exists`, `assert.absent` (partial match; lists match as subsets), `assert.count`, `assert.field`.

use futures::future::BoxFuture;
use kube::api::{DynamicObject, ListParams};
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

async fn matching(
    ctx: &mut StepContext,
    api_version: Option<&str>,
    kind: &str,
    name: Option<&str>,
    namespace: Option<&str>,
    selector: Option<&str>,
    pattern: Option<&Value>,
) -> Result<Vec<DynamicObject>, StepError> {
    let r = ctx.resolve(api_version, kind).await?;
    let api = dyn_api(&ctx.client, &r, namespace);
    let items = match name {
        Some(n) => match api.get_opt(n).await.map_err(StepError::kube(format!("reading {kind} {n}")))? {
            Some(o) => vec![o],
            None => vec![],
        },
        None => {
            let mut lp = ListParams::default();
            if let Some(s) = selector {
                lp = lp.labels(s);
            }
            api.list(&lp).await.map_err(StepError::kube(format!("listing {kind}")))?.items
        }
    };
    Ok(items.into_iter().filter(|o| pattern.is_none_or(|p| partial_match(p, &as_json(o)))).collect())
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
        }
        impl $name {
            fn target(&self) -> String {
                target(&self.kind, self.name.as_deref(), self.namespace.as_deref(), self.selector.as_deref())
            }
            async fn find(&self, ctx: &mut StepContext) -> Result<Vec<DynamicObject>, StepError> {
                matching(ctx, self.api_version.as_deref(), &self.kind, self.name.as_deref(), self.namespace.as_deref(),
                    self.selector.as_deref(), self.pattern.as_ref()).await
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
            let found = self.find(ctx).await?;
            if found.is_empty() {
                let how = if self.pattern.is_some() { " matching the given fields" } else { "" };
                return Err(StepError::Failed(format!("expected {}{how} to exist, found none", self.target())));
            }
            Ok(StepOutcome::done(format!("{} match", found.len())))
        })
    }
}

impl Primitive for Absent {
    fn describe(&self) -> String {
        format!("{} to be absent", self.target())
    }
    fn run<'a>(&'a self, ctx: &'a mut StepContext) -> BoxFuture<'a, Result<StepOutcome, StepError>> {
        Box::pin(async move {
            let found = self.find(ctx).await?;
            if !found.is_empty() {
                let names: Vec<String> = found.iter().map(|o| o.metadata.name.clone().unwrap_or_default()).collect();
                return Err(StepError::Failed(format!("expected {} to be absent, found: {}", self.target(), names.join(", "))));
            }
            Ok(StepOutcome::done("absent"))
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
            let n = matching(ctx, self.api_version.as_deref(), &self.kind, None, self.namespace.as_deref(), self.selector.as_deref(), None)
                .await?
                .len() as u64;
            let ok = self.count.is_none_or(|c| c == n) && self.min.is_none_or(|m| n >= m) && self.max.is_none_or(|m| n <= m);
            let want = match (self.count, self.min, self.max) {
                (Some(c), _, _) => format!("exactly {c}"),
                (None, Some(a), Some(b)) => format!("between {a} and {b}"),
                (None, Some(a), None) => format!("at least {a}"),
                (None, None, Some(b)) => format!("at most {b}"),
                _ => String::new(),
            };
            if ok {
                Ok(StepOutcome::done(format!("{n} found ({want})")))
            } else {
                Err(StepError::Failed(format!("expected {want} {}, found {n}", self.describe().trim_start_matches("count of "))))
            }
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
            let found = matching(ctx, self.api_version.as_deref(), &self.kind, Some(&self.name), self.namespace.as_deref(), None, None).await?;
            let Some(obj) = found.first() else {
                return Err(StepError::Failed(format!("{} {} not found", self.kind, self.name)));
            };
            if self.kind.eq_ignore_ascii_case("secret") && self.path.starts_with("data") {
                return Err(StepError::Failed("refusing to read Secret data".into()));
            }
            let v = as_json(obj);
            let got = v.pointer(&path_to_pointer(&self.path)).cloned().unwrap_or(Value::Null);
            if partial_match(&self.equals, &got) && partial_match(&got, &self.equals) {
                Ok(StepOutcome::done(format!("{} = {got}", self.path)))
            } else {
                Err(StepError::Failed(format!("{} {}: {} is {got}, expected {}", self.kind, self.name, self.path, self.equals)))
            }
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
