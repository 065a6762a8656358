//! Create, update and patch (including server-side apply).

use std::sync::Arc;

use serde_json::{json, Value};

use super::admission::{AdmissionRequest, Operation};
use super::meta::{self, now_rfc3339};
use super::{decode, defaults, ipalloc, prepare, ApiServer, WriteOptions};
use crate::api::errors::{ApiError, ApiResult, Cause};
use crate::api::object::{self, metadata_mut, name_of, rv_of};
use crate::api::patch::{self, PatchType};
use crate::api::{ssa, validation};
use crate::registry::ResourceType;
use crate::store::StoreError;

/// How many times a read-modify-write retries after losing a race (GuaranteedUpdate).
const MAX_RETRIES: usize = 64;
/// Store.Create's maxNameGenerationCreateAttempts: with 8 tries, a million names from one
/// generateName prefix collide with 0.1% probability.
const MAX_NAME_GENERATION_ATTEMPTS: usize = 8;

impl ApiServer {
    /// Create; a generated name that collides is generated afresh, up to
    /// `MAX_NAME_GENERATION_ATTEMPTS` tries in all (RetryGenerateName, GA in 1.32).
    pub fn create(&self, rt: &ResourceType, ns: Option<&str>, obj: Value, opts: &WriteOptions) -> ApiResult<Arc<Value>> {
        let generated = obj.pointer("/metadata/name").and_then(|n| n.as_str()).is_none_or(|n| n.is_empty())
            && obj.pointer("/metadata/generateName").and_then(|g| g.as_str()).is_some_and(|g| !g.is_empty());
        if !generated {
            return self.create_once(rt, ns, obj, opts);
        }
        let mut last = None;
        for _ in 0..MAX_NAME_GENERATION_ATTEMPTS {
            match self.create_once(rt, ns, obj.clone(), opts) {
                Err(e) if e.reason == "AlreadyExists" => last = Some(e),
                other => return other,
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn create_once(&self, rt: &ResourceType, ns: Option<&str>, mut obj: Value, opts: &WriteOptions) -> ApiResult<Arc<Value>> {
        check_body_type(rt, &obj)?;
        // A type error trumps unknown fields (the strict decoder reports the former alone).
        decode::check_body(gvk(rt), &obj)?;
        if !opts.applying {
            super::strict::reject_unknown_fields(rt, &obj, opts)?;
        }
        let ns = self.effective_namespace(rt, ns, &mut obj)?;
        {
            let md = metadata_mut(&mut obj);
            let has_name = md.get("name").and_then(|n| n.as_str()).is_some_and(|n| !n.is_empty());
            if !has_name
                && let Some(generate) = md.get("generateName").and_then(|g| g.as_str()).filter(|g| !g.is_empty()) {
                    let mut prefix = generate.to_string();
                    // names.SimpleNameGenerator: keep the whole name within 63 chars.
                    prefix.truncate(58);
                    md.insert("name".into(), json!(format!("{prefix}{}", meta::random_suffix(5))));
                }
            for k in ["uid", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
                md.remove(k);
            }
            md.insert("uid".into(), json!(meta::new_uid()));
            md.insert("creationTimestamp".into(), json!(now_rfc3339()));
            if meta::tracks_generation(rt) {
                md.insert("generation".into(), json!(1));
            } else {
                md.remove("generation");
            }
        }
        let name = name_of(&obj).to_string();
        defaults::set_defaults(rt, &mut obj);
        prepare::prepare_for_create(rt, &mut obj);
        prune_custom(rt, &mut obj);
        let manager = opts.manager("unknown");
        if !opts.applying {
            ssa::record_update(None, &mut obj, &manager, &now_rfc3339(), None);
        }
        // kube-apiserver order: mutating admission, object validation, validating admission.
        let mut req = AdmissionRequest { op: Operation::Create, rt, namespace: ns.as_deref(), name: &name, subresource: None, object: Some(&mut obj), old: None, dry_run: opts.dry_run };
        self.run_admission(&mut req)?;
        // Mutating webhooks' results are decoded, hence defaulted, again.
        defaults::set_defaults(rt, &mut obj);
        let mut causes = validation::validate_object_meta(&obj, rt.namespaced, validation::name_rule_for(&rt.group, &rt.kind));
        if !rt.is_custom() {
            causes.extend(validation::validate_create(&rt.group, &rt.kind, &obj));
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(&rt.kind, &rt.group, &name, causes));
        }
        let mut req = AdmissionRequest { op: Operation::Create, rt, namespace: ns.as_deref(), name: &name, subresource: None, object: Some(&mut obj), old: None, dry_run: opts.dry_run };
        self.run_validation_admission(&mut req)?;
        // The service REST storage allocates last (BeginCreate), and releases on failure.
        let ip = self.allocate_cluster_ip(rt, &name, &mut obj, opts.dry_run)?;
        if opts.dry_run {
            return Ok(Arc::new(obj));
        }
        let created = self.store.create(&rt.key, ns.as_deref().unwrap_or(""), &name, obj).map_err(|e| {
            if let Some(ip) = &ip {
                self.service_ips.release(ip);
            }
            self.store_err(rt, &name, e)
        })?;
        self.storm.record(&manager, &rt.key, ns.as_deref().unwrap_or(""), &name);
        self.after_write(rt, &created);
        Ok(meta::as_version(created, rt))
    }

    /// PUT: replace the object (or one subresource of it).
    pub fn update(&self, rt: &ResourceType, ns: Option<&str>, name: &str, mut new: Value, sub: Option<&str>, opts: &WriteOptions) -> ApiResult<Arc<Value>> {
        check_body_type(rt, &new).or_else(|e| if sub.is_some() { Ok(()) } else { Err(e) })?;
        decode::check_body(gvk(rt), &new)?;
        if sub.is_none() {
            super::strict::reject_unknown_fields(rt, &new, opts)?;
        }
        let url_ns = ns.unwrap_or("");
        let body_name = name_of(&new).to_string();
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!("the name of the object ({body_name}) does not match the name on the URL ({name})")));
        }
        if rt.namespaced
            && let Some(bns) = object::str_at(&new, "/metadata/namespace").filter(|s| !s.is_empty())
                && bns != url_ns {
                    return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
                }
        let wanted_rv = object::str_at(&new, "/metadata/resourceVersion").filter(|s| !s.is_empty()).map(String::from);
        if wanted_rv.is_none() && rt.is_custom() && sub.is_none() {
            return Err(ApiError::invalid(&rt.kind, &rt.group, name, vec![Cause::invalid("metadata.resourceVersion", &json!("0x0"), "must be specified for an update")]));
        }
        metadata_mut(&mut new).insert("name".into(), json!(name));
        self.guaranteed_update(rt, url_ns, name, sub, opts, Operation::Update, move |cur| {
            if let Some(w) = &wanted_rv
                && w.parse::<u64>().ok() != rv_of(cur) {
                    return Err(ApiError::stale(&rt.plural, &rt.group, name));
                }
            Ok(new.clone())
        })
    }

    /// PATCH in any of the four patch types. Apply creates the object when absent.
    pub fn patch(&self, rt: &ResourceType, ns: Option<&str>, name: &str, ptype: PatchType, body: &Value, sub: Option<&str>, opts: &WriteOptions) -> ApiResult<Arc<Value>> {
        let url_ns = ns.unwrap_or("");
        let manager = match (&ptype, &opts.field_manager) {
            (PatchType::Apply, None) => {
                return Err(ApiError::invalid("PatchOptions", "meta.k8s.io", "", vec![Cause::new("FieldValueRequired", "Required value: is required for apply patch", "fieldManager")]));
            }
            (_, m) => m.clone().unwrap_or_else(|| "unknown".into()),
        };
        if ptype == PatchType::StrategicMerge && rt.is_custom() {
            return Err(patch::unsupported_patch_error(&rt.group));
        }
        if ptype == PatchType::Apply {
            decode::check_applied(gvk(rt), body)?;
        }
        if ptype == PatchType::Apply && sub.is_none() && self.store.get(&rt.key, url_ns, name).is_none() {
            // Create-if-absent: apply onto nothing, then create.
            let mut obj = apply_object(None, body, &manager, opts.force, &now_rfc3339(), None)?;
            let md = metadata_mut(&mut obj);
            md.insert("name".into(), json!(name));
            if rt.namespaced {
                md.insert("namespace".into(), json!(url_ns));
            }
            match self.create(rt, ns, obj, &WriteOptions { field_manager: Some(manager.clone()), applying: true, ..opts.clone() }) {
                Err(e) if e.reason == "AlreadyExists" => {} // lost a race; patch the winner below
                other => return other,
            }
        }
        let op = Operation::Update;
        self.guaranteed_update(rt, url_ns, name, sub, opts, op, |cur| {
            let patched = match ptype {
                PatchType::Json => patch::apply_json_patch(cur, body).map_err(|e| e.to_api_error())?,
                PatchType::Merge => patch::apply_merge_patch(cur, body),
                PatchType::StrategicMerge => {
                    let av = cur["apiVersion"].as_str().unwrap_or("").to_string();
                    patch::apply_strategic_merge_patch(cur, body, &av, &rt.kind).map_err(|e| e.to_api_error())?
                }
                PatchType::Apply => apply_object(Some(cur), body, &manager, opts.force, &now_rfc3339(), sub)?,
            };
            decode::check_patched(gvk(rt), ptype, &patched, body, opts.strict)?;
            // A resourceVersion inside the patch is a precondition.
            if let Some(prv) = object::str_at(&patched, "/metadata/resourceVersion")
                && !prv.is_empty() && prv.parse::<u64>().ok() != rv_of(cur) {
                    return Err(ApiError::stale(&rt.plural, &rt.group, name));
                }
            if name_of(&patched) != name {
                return Err(ApiError::bad_request(format!("the name of the object ({}) does not match the name on the URL ({name})", name_of(&patched))));
            }
            Ok(patched)
        })
    }

    /// Read-modify-write with retries on lost races; `make` builds the desired object from
    /// the current one. Handles subresource scoping, system fields, generation, admission.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn guaranteed_update(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        sub: Option<&str>,
        opts: &WriteOptions,
        op: Operation,
        make: impl Fn(&Value) -> ApiResult<Value>,
    ) -> ApiResult<Arc<Value>> {
        let manager = opts.manager("unknown");
        for _ in 0..MAX_RETRIES {
            let cur = self.store.get(&rt.key, ns, name).ok_or_else(|| ApiError::not_found(&rt.plural, &rt.group, name))?;
            // A write is made to the object in the request's version (a patch through
            // autoscaling/v2 edits `metrics`, not v1's CPU target), and stored in it.
            let cur = if meta::converts_between_versions(rt) { meta::as_version(cur, rt) } else { cur };
            let desired = make(&cur)?;
            let mut next = scope_to_subresource(rt, &cur, desired, sub);
            preserve_system_fields(&cur, &mut next);
            // Every write path decodes (so defaults) what it is about to store.
            defaults::set_defaults(rt, &mut next);
            if sub.is_none() {
                prepare::prepare_for_update(rt, &cur, &mut next);
            }
            prune_custom(rt, &mut next);
            if meta::tracks_generation(rt) && sub.is_none() && object::spec_changed(&cur, &next) {
                let g = cur.pointer("/metadata/generation").and_then(|g| g.as_i64()).unwrap_or(0);
                metadata_mut(&mut next).insert("generation".into(), json!(g + 1));
            }
            if next == *cur {
                // No-op writes do not bump resourceVersion (as the registry short-circuits).
                return Ok(meta::as_version(cur, rt));
            }
            ssa::record_update(Some(&cur), &mut next, &manager, &now_rfc3339(), sub);
            let nsopt = if rt.namespaced { Some(ns) } else { None };
            let mut req = AdmissionRequest { op, rt, namespace: nsopt, name, subresource: sub, object: Some(&mut next), old: Some(&cur), dry_run: opts.dry_run };
            self.run_admission(&mut req)?;
            defaults::set_defaults(rt, &mut next);
            let mut causes = validation::validate_object_meta(&next, rt.namespaced, validation::name_rule_for(&rt.group, &rt.kind));
            if rt.is_custom() {
                causes.extend(validation::validate_object_meta_update(&cur, &next));
            } else if sub == Some("ephemeralcontainers") {
                causes.extend(validation::validate_object_meta_update(&cur, &next));
                causes.extend(validation::validate_ephemeral_containers_update(&cur, &next));
            } else {
                causes.extend(validation::validate_update(&rt.group, &rt.kind, &cur, &next));
            }
            if !causes.is_empty() {
                return Err(ApiError::invalid(&rt.kind, &rt.group, name, causes));
            }
            let mut req = AdmissionRequest { op, rt, namespace: nsopt, name, subresource: sub, object: Some(&mut next), old: Some(&cur), dry_run: opts.dry_run };
            self.run_validation_admission(&mut req)?;
            if opts.dry_run {
                return Ok(Arc::new(next));
            }
            // Finalization: a deleting object whose last finalizer went away is removed now.
            if object::is_deleting(&next) && object::finalizers(&next).is_empty() && !self.blocks_removal(rt, &next) {
                return match self.store.remove(&rt.key, ns, name, rv_of(&cur)) {
                    Ok(gone) => {
                        self.storm.record(&manager, &rt.key, ns, name);
                        self.after_remove(rt, &gone);
                        Ok(meta::as_version(gone, rt))
                    }
                    Err(StoreError::Conflict) => continue,
                    Err(e) => Err(self.store_err(rt, name, e)),
                };
            }
            // A Service turning from ExternalName into one with a cluster IP gets one.
            let is_service = rt.group.is_empty() && rt.kind == "Service" && sub.is_none();
            let new_ip = if is_service && ipalloc::held_ip(&cur).is_none() { self.allocate_cluster_ip(rt, name, &mut next, false)? } else { None };
            match self.store.update(&rt.key, ns, name, next, rv_of(&cur)) {
                Ok(updated) => {
                    if let Some(old) = ipalloc::held_ip(&cur).filter(|_| is_service && ipalloc::held_ip(&updated).is_none()) {
                        self.service_ips.release(old);
                    }
                    self.storm.record(&manager, &rt.key, ns, name);
                    self.after_write(rt, &updated);
                    return Ok(meta::as_version(updated, rt));
                }
                Err(e) => {
                    if let Some(ip) = &new_ip {
                        self.service_ips.release(ip);
                    }
                    if e == StoreError::Conflict {
                        continue;
                    }
                    return Err(self.store_err(rt, name, e));
                }
            }
        }
        Err(ApiError::stale(&rt.plural, &rt.group, name))
    }

    /// Namespace scoping for a create: URL vs body namespace, and cluster-scoped types.
    fn effective_namespace(&self, rt: &ResourceType, ns: Option<&str>, obj: &mut Value) -> ApiResult<Option<String>> {
        let md = metadata_mut(obj);
        if !rt.namespaced {
            md.remove("namespace");
            return Ok(None);
        }
        let body_ns = md.get("namespace").and_then(|n| n.as_str()).filter(|s| !s.is_empty()).map(String::from);
        let ns = match (ns, body_ns) {
            (Some(u), Some(b)) if u != b => {
                return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
            }
            (Some(u), _) => u.to_string(),
            (None, Some(b)) => b,
            (None, None) => "default".to_string(),
        };
        md.insert("namespace".into(), json!(ns));
        Ok(Some(ns))
    }

    /// Side effects of a stored write that kube-apiserver performs synchronously enough that
    /// clients cannot tell (CRD naming/establishing).
    pub(crate) fn after_write(&self, rt: &ResourceType, obj: &Arc<Value>) {
        if rt.group == "apiextensions.k8s.io" && rt.kind == "CustomResourceDefinition" {
            super::prepare::establish_crd(self, obj);
        }
    }

    /// A new Service's cluster IP (None for headless and ExternalName Services).
    fn allocate_cluster_ip(&self, rt: &ResourceType, name: &str, obj: &mut Value, dry_run: bool) -> ApiResult<Option<String>> {
        if !(rt.group.is_empty() && rt.kind == "Service") {
            return Ok(None);
        }
        let ip = self.service_ips.allocate(name, &obj["spec"], dry_run)?;
        if let (Some(ip), Some(spec)) = (&ip, obj.get_mut("spec").and_then(|s| s.as_object_mut())) {
            ipalloc::fill_spec(spec, ip);
        }
        Ok(ip.filter(|_| !dry_run))
    }

    pub(crate) fn after_remove(&self, rt: &ResourceType, obj: &Arc<Value>) {
        if rt.group.is_empty() && rt.kind == "Service"
            && let Some(ip) = ipalloc::held_ip(obj) {
                self.service_ips.release(ip);
            }
        if rt.group == "apiextensions.k8s.io" && rt.kind == "CustomResourceDefinition" {
            self.registry.remove_crd(name_of(obj));
        }
    }

    /// Namespaces are removed only when both spec.finalizers and metadata.finalizers are empty.
    fn blocks_removal(&self, rt: &ResourceType, obj: &Value) -> bool {
        rt.group.is_empty() && rt.kind == "Namespace"
            && obj.pointer("/spec/finalizers").and_then(|f| f.as_array()).is_some_and(|a| !a.is_empty())
    }
}

/// Custom resources keep only what their structural schema declares.
fn prune_custom(rt: &ResourceType, obj: &mut Value) {
    if let Some(schema) = rt.crd.as_ref().and_then(|c| c.schema.as_ref()) {
        super::strict::prune_custom(obj, schema, true);
    }
}

/// The Go type objects of `rt` decode into.
fn gvk(rt: &ResourceType) -> decode::Gvk<'_> {
    (&rt.group, &rt.version, &rt.kind)
}

/// The body's apiVersion/kind must match the URL's resource.
fn check_body_type(rt: &ResourceType, obj: &Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the object provided is unrecognized (must be of type object)"));
    }
    let kind = obj.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    let av = obj.get("apiVersion").and_then(|k| k.as_str()).unwrap_or("");
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!("Object 'Kind' is missing in '{}'", truncate(&obj.to_string(), 1024))));
    }
    if !av.is_empty() && av != rt.api_version() {
        let (g, _) = crate::registry::split_api_version(av);
        if g != rt.group {
            return Err(ApiError::bad_request(format!("the API version in the data ({av}) does not match the expected API version ({})", rt.api_version())));
        }
    }
    if kind != rt.kind {
        return Err(ApiError::bad_request(format!("the kind in the data ({kind}) does not match the expected kind ({})", rt.kind)));
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> &str {
    if s.len() <= n { s } else { let mut i = n; while !s.is_char_boundary(i) { i -= 1; } &s[..i] }
}

/// Main-resource writes keep status (when a status subresource exists); status writes keep
/// everything but status; finalize writes change only spec.finalizers.
fn scope_to_subresource(rt: &ResourceType, cur: &Value, mut desired: Value, sub: Option<&str>) -> Value {
    match sub {
        None => {
            if rt.has_subresource("status") {
                match cur.get("status") {
                    Some(s) => desired["status"] = s.clone(),
                    None => {
                        if let Some(m) = desired.as_object_mut() { m.remove("status"); }
                    }
                }
            }
            desired
        }
        Some("status") => {
            let mut next = cur.clone();
            match desired.get("status") {
                Some(s) => next["status"] = s.clone(),
                None => { next.as_object_mut().unwrap().remove("status"); }
            }
            next
        }
        Some("ephemeralcontainers") => {
            // dropNonEphemeralContainerUpdates: only spec.ephemeralContainers changes.
            let mut next = cur.clone();
            match desired.pointer("/spec/ephemeralContainers") {
                Some(e) => next["spec"]["ephemeralContainers"] = e.clone(),
                None => {
                    if let Some(s) = next.get_mut("spec").and_then(|s| s.as_object_mut()) {
                        s.remove("ephemeralContainers");
                    }
                }
            }
            next
        }
        Some("finalize") => {
            let mut next = cur.clone();
            next["spec"]["finalizers"] = desired.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
            next
        }
        Some(_) => desired,
    }
}

/// Fields clients cannot change.
fn preserve_system_fields(cur: &Value, next: &mut Value) {
    let cm = cur.get("metadata").and_then(|m| m.as_object()).cloned().unwrap_or_default();
    let md = metadata_mut(next);
    for k in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "namespace", "name", "resourceVersion"] {
        match cm.get(k) {
            Some(v) => { md.insert(k.into(), v.clone()); }
            None => { md.remove(k); }
        }
    }
    if next.get("apiVersion").is_none() { next["apiVersion"] = cur["apiVersion"].clone(); }
    if next.get("kind").is_none() { next["kind"] = cur["kind"].clone(); }
    // Storage keeps the apiVersion the object was written with.
    next["apiVersion"] = cur["apiVersion"].clone();
}

/// Server-side apply of a whole object by `manager`: status is never taken from an apply to
/// the main resource, nor spec from an apply to `status` (the endpoints' reset fields), and an
/// apply to a subresource is recorded as such in its managedFields entry.
fn apply_object(live: Option<&Value>, applied: &Value, manager: &str, force: bool, now: &str, sub: Option<&str>) -> ApiResult<Value> {
    let ignored: &[&str] = if sub == Some("status") { &["spec"] } else { &["status"] };
    let opts = ssa::ApplyOptions { manager, force, now, subresource: sub, ignored };
    ssa::apply_with(live, applied, &opts).map_err(|e| e.to_api_error("", "", ""))
}
