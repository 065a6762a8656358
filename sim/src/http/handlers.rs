//! Request dispatch: discovery documents and the resource verbs.

use std::collections::HashMap;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Method, Request, Response};
use serde_json::{json, Value};

use super::codec::{self, bytes_response, error_response, json_response, MAX_BODY_BYTES};
use super::route::{self, ResourcePath, Route};
use super::{watch, Body};
use crate::api::errors::{ApiError, ApiResult};
use crate::api::patch::PatchType;
use crate::api::selectors::{self, FieldSelector, LabelSelector};
use crate::api::table;
use crate::registry::{self, ResourceType};
use crate::server::{strict, subresources, ApiServer, DeleteOptions, DeleteOutcome, ListOptions, Propagation, WriteOptions};

pub type Query = HashMap<String, String>;

fn parse_query(q: Option<&str>) -> Query {
    let mut m = HashMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
        m.insert(dec(k), dec(v));
    }
    m
}

pub async fn dispatch(server: Arc<ApiServer>, req: Request<Incoming>) -> Response<Body> {
    let query = parse_query(req.uri().query());
    let route = route::parse(req.uri().path());
    let method = req.method().clone();
    let accept = header(&req, ACCEPT);
    let content_type = header(&req, CONTENT_TYPE);
    let result = match route {
        Route::Version => Ok(json_response(200, &version_info())),
        Route::Health => Ok(codec::bytes_response(200, "text/plain; charset=utf-8", bytes::Bytes::from_static(b"ok"))),
        Route::ApiVersions | Route::GroupList if super::aggregated::wanted(&accept) => {
            let doc = super::aggregated::document(&server.registry, route == Route::ApiVersions);
            Ok(codec::bytes_response(200, super::aggregated::CONTENT_TYPE, bytes::Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())))
        }
        Route::ApiVersions => Ok(json_response(200, &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}))),
        Route::GroupList => Ok(json_response(200, &server.registry.group_list())),
        Route::Group(g) => server.registry.group(&g).map(|d| json_response(200, &d)).ok_or_else(ApiError::no_route),
        Route::ResourceList { group, version } => {
            server.registry.resource_list(&group, &version).map(|d| json_response(200, &d)).ok_or_else(ApiError::no_route)
        }
        Route::OpenApi => {
            let path = req.uri().path();
            if path.trim_end_matches('/') == "/openapi/v3" {
                Ok(json_response(200, &super::openapi::root(&server.registry)))
            } else {
                super::openapi::group_version(&server.registry, path).map(|d| json_response(200, &d)).ok_or_else(ApiError::no_route)
            }
        }
        Route::NotFound => Err(ApiError::no_route()),
        Route::Resource(rp) => {
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(e) => return error_response(&e),
            };
            resource(&server, &method, &rp, &query, &accept, &content_type, &body).await
        }
    };
    result.unwrap_or_else(|e| error_response(&e))
}

fn header(req: &Request<Incoming>, name: hyper::header::HeaderName) -> String {
    req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

async fn read_body(req: Request<Incoming>) -> ApiResult<bytes::Bytes> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY_BYTES);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                Err(ApiError::too_large())
            } else {
                Err(ApiError::bad_request(format!("error reading request body: {e}")))
            }
        }
    }
}

pub fn version_info() -> Value {
    json!({
        "major": registry::SERVER_MAJOR, "minor": registry::SERVER_MINOR,
        "emulationMajor": registry::SERVER_MAJOR, "emulationMinor": registry::SERVER_MINOR,
        "minCompatibilityMajor": "1", "minCompatibilityMinor": "34",
        "gitVersion": registry::SERVER_GIT_VERSION, "gitCommit": "cleanroom-sim", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.0", "compiler": "gc", "platform": "linux/amd64"
    })
}

fn write_options(q: &Query) -> ApiResult<WriteOptions> {
    let force = match q.get("force").map(|s| s.as_str()) {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(ApiError::bad_request(format!("invalid value for force: {other:?}"))),
    };
    Ok(WriteOptions {
        field_manager: q.get("fieldManager").filter(|s| !s.is_empty()).cloned(),
        dry_run: q.get("dryRun").is_some_and(|d| d == "All"),
        strict: q.get("fieldValidation").is_some_and(|v| v == "Strict"),
        force,
        applying: false,
    })
}

pub fn list_options(rt: &ResourceType, q: &Query) -> ApiResult<ListOptions> {
    let label = match q.get("labelSelector").filter(|s| !s.is_empty()) {
        Some(s) => Some(LabelSelector::parse(s).map_err(ApiError::bad_request)?),
        None => None,
    };
    let field = match q.get("fieldSelector").filter(|s| !s.is_empty()) {
        Some(s) => {
            let f = FieldSelector::parse(s).map_err(ApiError::bad_request)?;
            match &rt.crd {
                Some(c) => {
                    let extra: Vec<&str> = c.selectable_fields.iter().map(|s| s.as_str()).collect();
                    selectors::validate_custom_field_selector(&f, !rt.namespaced, &extra).map_err(ApiError::bad_request)?;
                }
                None => selectors::validate_field_selector(&rt.group, &rt.kind, &f).map_err(ApiError::bad_request)?,
            }
            Some(f)
        }
        None => None,
    };
    let limit = match q.get("limit").filter(|s| !s.is_empty()) {
        Some(l) => Some(l.parse::<usize>().map_err(|_| ApiError::bad_request(format!("invalid limit: {l:?}")))?),
        None => None,
    };
    Ok(ListOptions { label, field, limit, continue_token: q.get("continue").filter(|s| !s.is_empty()).cloned() })
}

fn wants_table(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| first.contains("as=Table"))
}

fn object_response(code: u16, obj: &Value, rt: &ResourceType, accept: &str, q: &Query) -> Response<Body> {
    if wants_table(accept) {
        let t = table_for(rt, &[obj], q);
        return json_response(code, &t);
    }
    json_response(code, obj)
}

fn table_for(rt: &ResourceType, items: &[&Value], q: &Query) -> Value {
    let cols = rt.crd.as_ref().map(|c| c.printer_columns.as_slice());
    table::IncludeObject::parse(q.get("includeObject").map(|s| s.as_str()))
        .map(|include| table::to_table(&rt.group, &rt.kind, items, chrono::Utc::now(), include, cols))
        .unwrap_or_else(|e| ApiError::bad_request(e).to_status())
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    server: &Arc<ApiServer>,
    method: &Method,
    rp: &ResourcePath,
    q: &Query,
    accept: &str,
    content_type: &str,
    body: &[u8],
) -> ApiResult<Response<Body>> {
    let rt = server.resource(&rp.group, &rp.version, &rp.plural)?;
    // Scope checks: a namespaced resource is addressed in a namespace (or across all for
    // collections); a cluster-scoped one never in a namespace.
    if rp.namespace.is_some() && !rt.namespaced {
        return Err(ApiError::no_route());
    }
    if rt.namespaced && rp.namespace.is_none() && rp.name.is_some() {
        return Err(ApiError::no_route());
    }
    if let Some(sub) = &rp.sub
        && !rt.has_subresource(sub) && !(rt.kind == "Namespace" && sub == "finalize") {
            return Err(ApiError::no_route());
        }
    let ns = rp.namespace.as_deref();
    let is_watch = q.get("watch").is_some_and(|w| w == "true" || w == "1");
    match (method.clone(), rp.name.as_deref()) {
        (Method::GET, None) if is_watch => {
            require_verb(&rt, "watch")?;
            let lo = list_options(&rt, q)?;
            watch::serve_watch(server.clone(), rt, ns.map(String::from), lo, q).await
        }
        (Method::GET, None) => {
            require_verb(&rt, "list")?;
            let lo = list_options(&rt, q)?;
            let res = server.list(&rt, ns, &lo)?;
            if wants_table(accept) {
                let items: Vec<&Value> = res.items.iter().map(|a| a.as_ref()).collect();
                let mut t = table_for(&rt, &items, q);
                t["metadata"] = res.metadata();
                return Ok(json_response(200, &t));
            }
            Ok(bytes_response(200, "application/json", res.to_bytes(&rt).into()))
        }
        (Method::GET, Some(name)) if rt.kind == "Pod" && rp.sub.as_deref() == Some("log") => super::pod_io::log(server, ns.unwrap_or(""), name, q),
        (_, Some(name)) if rt.kind == "Pod" && matches!(rp.sub.as_deref(), Some("exec" | "attach" | "portforward")) => {
            Err(super::pod_io::needs_processes(rp.sub.as_deref().unwrap_or(""), name, &Value::Null))
        }
        (Method::GET, Some(name)) => {
            require_verb(&rt, "get")?;
            match rp.sub.as_deref() {
                Some("scale") => Ok(json_response(200, &server.get_scale(&rt, ns, name)?)),
                _ => Ok(object_response(200, &*server.get(&rt, ns, name)?, &rt, accept, q)),
            }
        }
        (Method::POST, None) => {
            require_verb(&rt, "create")?;
            let obj = codec::decode_body(content_type, body)?;
            let opts = write_options(q)?;
            if subresources::is_review(&rt) {
                return Ok(json_response(201, &subresources::review_answer(obj)));
            }
            let created = server.create(&rt, ns, obj, &opts)?;
            Ok(object_response(201, &created, &rt, accept, q))
        }
        (Method::POST, Some(name)) => {
            // Subresource POSTs (pods/eviction, serviceaccounts/token, pods/binding).
            let obj = codec::decode_body(content_type, body)?;
            post_subresource(server, &rt, ns, name, rp.sub.as_deref(), obj)
        }
        (Method::PUT, Some(name)) => {
            require_verb(&rt, "update")?;
            let obj = codec::decode_body(content_type, body)?;
            let opts = write_options(q)?;
            if rp.sub.as_deref() == Some("scale") {
                return Ok(json_response(200, &server.update_scale(&rt, ns, name, &obj, &opts)?));
            }
            let updated = server.update(&rt, ns, name, obj, rp.sub.as_deref(), &opts)?;
            Ok(object_response(200, &updated, &rt, accept, q))
        }
        (Method::PATCH, Some(name)) => {
            require_verb(&rt, "patch")?;
            let ptype = PatchType::from_content_type(content_type).ok_or_else(|| {
                ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{}", if rt.is_custom() { "" } else { ", application/strategic-merge-patch+json" }))
            })?;
            let patch = codec::decode_body(content_type, body)?;
            let opts = write_options(q)?;
            // A built-in kind's unknown applied fields fail the field manager's schema check
            // first (server/decode.rs), before any strict decoding.
            if ptype == PatchType::Apply && rt.is_custom() {
                strict::reject_unknown_fields(&rt, &patch, &opts)?;
            }
            if rp.sub.as_deref() == Some("scale") {
                return Ok(json_response(200, &server.patch_scale(&rt, ns, name, ptype, &patch, &opts)?));
            }
            let created_before = server.store.get(&rt.key, ns.unwrap_or(""), name).is_some();
            let updated = server.patch(&rt, ns, name, ptype, &patch, rp.sub.as_deref(), &opts)?;
            let code = if !created_before && ptype == PatchType::Apply { 201 } else { 200 };
            Ok(object_response(code, &updated, &rt, accept, q))
        }
        (Method::DELETE, Some(name)) => {
            require_verb(&rt, "delete")?;
            let opts = delete_options(q, content_type, body)?;
            match server.delete(&rt, ns, name, &opts)? {
                DeleteOutcome::Pending(o) => Ok(json_response(200, &o)),
                DeleteOutcome::Removed(o) => {
                    if rt.group.is_empty() && rt.kind == "Pod" {
                        return Ok(json_response(200, &o));
                    }
                    let uid = o.pointer("/metadata/uid").cloned().unwrap_or(json!(""));
                    Ok(json_response(200, &json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": uid}
                    })))
                }
            }
        }
        (Method::DELETE, None) => {
            require_verb(&rt, "deletecollection")?;
            let lo = list_options(&rt, q)?;
            let opts = delete_options(q, content_type, body)?;
            let items = server.delete_collection(&rt, ns, &lo, &opts)?;
            let items: Vec<&Value> = items.iter().map(|a| a.as_ref()).collect();
            Ok(json_response(200, &json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": {"resourceVersion": server.store.current_rv().to_string()}, "items": items})))
        }
        _ => Err(ApiError::method_not_allowed("")),
    }
}

fn require_verb(rt: &ResourceType, verb: &str) -> ApiResult<()> {
    if rt.has_verb(verb) { Ok(()) } else { Err(ApiError::method_not_allowed("")) }
}

fn delete_options(q: &Query, content_type: &str, body: &[u8]) -> ApiResult<DeleteOptions> {
    let mut o = DeleteOptions::default();
    if let Some(p) = q.get("propagationPolicy").filter(|s| !s.is_empty()) {
        o.propagation = Some(Propagation::parse(p)?);
    }
    if q.get("orphanDependents").is_some_and(|s| s == "true") {
        o.propagation = Some(Propagation::Orphan);
    }
    if let Some(g) = q.get("gracePeriodSeconds") {
        o.grace_period_seconds = g.parse().ok();
    }
    o.dry_run = q.get("dryRun").is_some_and(|d| d == "All");
    if !body.iter().all(|b| b.is_ascii_whitespace()) {
        let v = codec::decode_body(content_type, body)?;
        o.merge_body(&v)?;
    }
    Ok(o)
}

/// Subresource POSTs: pods/eviction, pods/binding, serviceaccounts/token.
fn post_subresource(server: &Arc<ApiServer>, rt: &ResourceType, ns: Option<&str>, name: &str, sub: Option<&str>, body: Value) -> ApiResult<Response<Body>> {
    match (rt.kind.as_str(), sub) {
        ("Pod", Some("eviction")) => {
            crate::server::evict(server, ns.unwrap_or(""), name, &body)?;
            Ok(json_response(201, &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})))
        }
        ("Pod", Some("binding")) => {
            server.bind_pod(ns, name, &body)?;
            Ok(json_response(201, &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})))
        }
        ("ServiceAccount", Some("token")) => Ok(json_response(201, &server.token_request(ns, name, body)?)),
        _ => Err(ApiError::method_not_allowed("")),
    }
}
