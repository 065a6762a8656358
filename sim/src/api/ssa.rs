//! Server-side apply and managedFields bookkeeping, after structured-merge-diff's
//! `merge.Updater` and k8s.io/apiserver's `managedfields` package.
//!
//! Ownership is tracked per manager as a field set (`fieldsV1`). Apply merges the applied
//! configuration into the live object, removes fields the manager applied before but no
//! longer does (unless someone else owns them), and fails with a conflict when it would
//! change a value another manager owns, unless forced. Ordinary writes are recorded as
//! `operation: Update` entries that take over whatever they changed.

pub(crate) mod fieldset;
#[cfg(test)]
mod tests;
pub(crate) mod walk;

use serde_json::{json, Map, Value};

use crate::api::errors::{ApiError, Cause, Details};
use crate::api::patch::schema::TypeCtx;

pub use fieldset::{path_string, Path, PathElement, Set};
use walk::{compare, merge, remove_path, to_set, Comparison, Pos};

/// Metadata the server owns: never taken from an applied config, never tracked.
const SERVER_META: &[&str] = &[
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// The identity and field set of one managedFields entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: String,
    pub set: Set,
}

impl Entry {
    /// `printManager`: how conflict messages name a manager.
    fn display(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {:?}", self.subresource);
        }
        if self.operation == "Update" {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }

    /// Appliers are identified without their apiVersion (`BuildManagerIdentifier`).
    fn same_manager(&self, manager: &str, operation: &str, api_version: &str, subresource: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource == subresource
            && (operation == "Apply" || self.api_version == api_version)
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }
}

/// Decode `metadata.managedFields`.
pub fn decode_managed_fields(obj: &Value) -> Vec<Entry> {
    let Some(Value::Array(list)) = obj.pointer("/metadata/managedFields") else { return Vec::new() };
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    list.iter()
        .filter(|e| e.is_object())
        .map(|e| Entry {
            manager: s(e, "manager"),
            operation: s(e, "operation"),
            api_version: s(e, "apiVersion"),
            time: e.get("time").and_then(Value::as_str).map(String::from),
            subresource: s(e, "subresource"),
            set: e.get("fieldsV1").map(Set::from_fields_v1).unwrap_or_default(),
        })
        .collect()
}

/// Drop empty entries, sort like `sortEncodedManagedFields` (operation, time, manager,
/// apiVersion, subresource) and store them in `obj.metadata.managedFields`.
fn encode_managed_fields(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|a, b| {
        (&a.operation, a.time.as_deref().unwrap_or(""), &a.manager, &a.api_version, &a.subresource).cmp(&(
            &b.operation,
            b.time.as_deref().unwrap_or(""),
            &b.manager,
            &b.api_version,
            &b.subresource,
        ))
    });
    let Some(Value::Object(meta)) = obj.get_mut("metadata") else { return };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(entries.iter().map(Entry::to_json).collect()));
    }
}

/// The paths `stripMetaManager` removes from every set, plus the `ignored` top-level fields.
fn strip_set(ignored: &[&str]) -> (Set, Set) {
    let f = PathElement::field;
    let mut exact = Set::new();
    for p in ["apiVersion", "kind", "metadata"] {
        exact.insert(&[f(p)]);
    }
    for p in ["name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation", "managedFields", "resourceVersion"] {
        exact.insert(&[f("metadata"), f(p)]);
    }
    let mut recursive = Set::new();
    for p in ignored {
        recursive.insert(&[f(p)]);
    }
    (exact, recursive)
}

fn clean_set(set: &Set, strip: &(Set, Set)) -> Set {
    set.difference(&strip.0).recursive_difference(&strip.1)
}

/// A copy without type meta and server-owned metadata, as compared for ownership.
fn sanitized(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Value::Object(m) = &mut v {
        m.remove("apiVersion");
        m.remove("kind");
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            for k in SERVER_META {
                meta.remove(*k);
            }
        }
    }
    v
}

fn ctx_of(obj: &Value) -> (String, String) {
    let s = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    (s("apiVersion"), s("kind"))
}

/// One field owned by another manager that an apply would change.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    /// The manager as conflict messages print it: `"kubectl"` for appliers,
    /// `"helm" using apps/v1` for updaters.
    pub manager: String,
    /// The field path, e.g. `.data.key` or `.spec.containers[name="app"].image`.
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    #[error("{}", conflict_message(.0))]
    Conflict(Vec<Conflict>),
    /// 400 BadRequest with this message.
    #[error("{0}")]
    BadRequest(String),
}

/// `getConflictMessage` of k8s.io/apiserver/pkg/util/managedfields/internal/conflict.go.
fn conflict_message(conflicts: &[Conflict]) -> String {
    if conflicts.len() == 1 {
        let c = &conflicts[0];
        return format!("Apply failed with 1 conflict: conflict with {}: {}", c.manager, c.field);
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in conflicts.iter().filter(|c| c.manager == m) {
            lines.push(format!("- {}", c.field));
        }
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

impl ApplyError {
    /// The Status kube-apiserver returns. A conflict is `errors.NewApplyConflict`: 409
    /// `Conflict` whose details carry only `FieldManagerConflict` causes (no name/kind);
    /// `resource`/`group`/`name` are accepted for symmetry with other errors but unused.
    pub fn to_api_error(&self, _resource: &str, _group: &str, _name: &str) -> ApiError {
        match self {
            ApplyError::Conflict(cs) => {
                let mut e = ApiError::new(409, "Conflict", conflict_message(cs));
                let causes = cs
                    .iter()
                    .map(|c| Cause::new("FieldManagerConflict", format!("conflict with {}", c.manager), c.field.clone()))
                    .collect();
                e.details = Some(Box::new(Details { causes, ..Default::default() }));
                e
            }
            ApplyError::BadRequest(m) => ApiError::bad_request(m.clone()),
        }
    }
}

/// Options for [`apply_with`].
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions<'a> {
    pub manager: &'a str,
    pub force: bool,
    pub now: &'a str,
    /// `Some("status")` for applies to a subresource (recorded in the entry).
    pub subresource: Option<&'a str>,
    /// Top-level fields the endpoint resets (`GetResetFields`): e.g. `["status"]` for the
    /// main resource of a type with a status subresource. They keep their live value and are
    /// never owned.
    pub ignored: &'a [&'a str],
}

/// Server-side apply of `applied` (an apply configuration: apiVersion, kind,
/// metadata.name, ...) onto `live` (None: create). Returns the new object with
/// `metadata.managedFields` updated.
pub fn apply(live: Option<&Value>, applied: &Value, manager: &str, force: bool, now: &str) -> Result<Value, ApplyError> {
    apply_with(live, applied, &ApplyOptions { manager, force, now, ..Default::default() })
}

pub fn apply_with(live: Option<&Value>, applied: &Value, opts: &ApplyOptions) -> Result<Value, ApplyError> {
    let Value::Object(cfg_map) = applied else {
        return Err(ApplyError::BadRequest("error decoding YAML: apply configuration must be an object".into()));
    };
    if cfg_map.get("metadata").and_then(|m| m.get("managedFields")).is_some_and(|v| !v.is_null()) {
        return Err(ApplyError::BadRequest("metadata.managedFields must be nil".into()));
    }
    let (api_version, kind) = ctx_of(applied);
    let ctx = TypeCtx::new(&api_version, &kind);
    let subresource = opts.subresource.unwrap_or("");
    let strip = strip_set(opts.ignored);

    // The configuration without server-owned metadata and reset fields.
    let mut cfg = cfg_map.clone();
    if let Some(Value::Object(meta)) = cfg.get_mut("metadata") {
        for k in SERVER_META {
            meta.remove(*k);
        }
    }
    for k in opts.ignored {
        cfg.remove(*k);
    }
    let cfg = Value::Object(cfg);

    let mut live_obj = live.cloned().unwrap_or_else(|| json!({}));
    let mut entries = decode_managed_fields(&live_obj);
    if let Some(Value::Object(meta)) = live_obj.get_mut("metadata") {
        meta.remove("managedFields");
    }
    if live.is_some() && entries.is_empty() {
        // skipNonAppliedManager: pre-SSA objects are owned by "before-first-apply".
        let mut cmp = Comparison::default();
        compare(None, Some(&sanitized(&live_obj)), &mut Pos::root(ctx), &mut cmp);
        entries.push(Entry {
            manager: "before-first-apply".into(),
            operation: "Update".into(),
            api_version: ctx_of(&live_obj).0,
            time: Some(opts.now.to_string()),
            subresource: String::new(),
            set: clean_set(&cmp.changed(), &strip),
        });
    }

    let mut config_set = Set::new();
    if let Value::Object(m) = &sanitized(&cfg) {
        to_set(m, &mut Pos::root(ctx), &mut config_set);
    }
    let config_set = clean_set(&config_set, &strip);

    let mine = entries.iter().position(|e| e.same_manager(opts.manager, "Apply", "", subresource));
    let last_set = mine.map(|i| entries[i].set.clone()).unwrap_or_default();
    let prev_time = mine.and_then(|i| entries[i].time.clone());

    // Merge, then prune what this manager stopped applying and nobody else owns.
    let mut merged = merge(&live_obj, &cfg, &mut Pos::root(ctx));
    let mut owned = config_set.clone();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) != mine {
            owned = owned.union(&e.set);
        }
    }
    for p in last_set.difference(&config_set).paths() {
        if !owned.has_at_or_below(&p) {
            remove_path(&mut merged, &p, ctx.builtin);
        }
    }
    for k in opts.ignored {
        match live_obj.get(*k) {
            Some(v) => merged[*k] = v.clone(),
            None => {
                if let Value::Object(m) = &mut merged {
                    m.remove(*k);
                }
            }
        }
    }

    // Conflicts: other managers' fields whose value changes.
    let mut cmp = Comparison::default();
    compare(Some(&sanitized(&live_obj)), Some(&sanitized(&merged)), &mut Pos::root(ctx), &mut cmp);
    let changed = clean_set(&cmp.changed(), &strip);
    let mut conflicts = Vec::new();
    let mut order: Vec<usize> = (0..entries.len()).filter(|i| Some(*i) != mine).collect();
    order.sort_by(|a, b| {
        let (x, y) = (&entries[*a], &entries[*b]);
        (&x.manager, &x.operation, &x.api_version, &x.subresource).cmp(&(&y.manager, &y.operation, &y.api_version, &y.subresource))
    });
    for &i in &order {
        let e = &mut entries[i];
        let c = e.set.intersection(&changed);
        if !c.is_empty() {
            conflicts.extend(c.paths().iter().map(|p| Conflict { manager: e.display(), field: path_string(p) }));
            e.set = e.set.difference(&c);
        }
        e.set = e.set.difference(&cmp.removed);
    }
    if !conflicts.is_empty() && !opts.force {
        return Err(ApplyError::Conflict(conflicts));
    }

    let unchanged = sanitized(&merged) == sanitized(&live_obj) && live.is_some();
    let entry = Entry {
        manager: opts.manager.to_string(),
        operation: "Apply".into(),
        api_version: api_version.clone(),
        // managedFieldsUpdater only stamps the time when the object changed.
        time: if unchanged { prev_time } else { Some(opts.now.to_string()) },
        subresource: subresource.to_string(),
        set: config_set,
    };
    match mine {
        Some(i) => entries[i] = entry,
        None => entries.push(entry),
    }
    for e in &mut entries {
        e.set = clean_set(&e.set, &strip);
    }
    if merged.get("metadata").is_none() {
        merged["metadata"] = json!({});
    }
    encode_managed_fields(&mut merged, entries);
    Ok(merged)
}

/// Record an ordinary write (create/update/patch) by `manager` as an `operation: Update`
/// entry: it takes ownership of every field it added or changed (from whoever owned it),
/// removed fields are dropped from every manager, and the entry's time is refreshed only if
/// it changed something. As on the real server, managedFields sent in `new` (main resource
/// only, non-empty) replace the live ones. Call it on the object as it will be stored
/// (after any status/spec reset of the endpoint).
pub fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, now: &str, subresource: Option<&str>) {
    let subresource = subresource.unwrap_or("");
    let from_new = decode_managed_fields(new);
    let mut entries = if !from_new.is_empty() && subresource.is_empty() {
        from_new
    } else {
        old.map(decode_managed_fields).unwrap_or_default()
    };
    let (api_version, kind) = ctx_of(new);
    let ctx = TypeCtx::new(&api_version, &kind);
    let strip = strip_set(&[]);

    let mut cmp = Comparison::default();
    let old_s = old.map(sanitized);
    compare(old_s.as_ref(), Some(&sanitized(new)), &mut Pos::root(ctx), &mut cmp);
    let op_set = clean_set(&cmp.changed(), &strip);

    for e in &mut entries {
        e.set = e.set.difference(&op_set).difference(&cmp.removed);
    }
    if !op_set.is_empty() {
        let mine = entries.iter().position(|e| e.same_manager(manager, "Update", &api_version, subresource));
        let prev = mine.map(|i| entries[i].set.clone()).unwrap_or_default();
        let entry = Entry {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version: api_version.clone(),
            time: Some(now.to_string()),
            subresource: subresource.to_string(),
            set: prev.union(&op_set),
        };
        match mine {
            Some(i) => entries[i] = entry,
            None => entries.push(entry),
        }
    }
    for e in &mut entries {
        e.set = clean_set(&e.set, &strip);
    }
    if !new.get("metadata").is_some_and(Value::is_object) {
        if !new.is_object() {
            return;
        }
        new["metadata"] = json!({});
    }
    encode_managed_fields(new, entries);
}
