//! LIST with label/field selectors and limit/continue pagination.

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use super::meta;
use super::ApiServer;
use crate::api::errors::{ApiError, ApiResult};
use crate::api::selectors::{FieldSelector, LabelSelector};
use crate::api::object;
use crate::registry::ResourceType;

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub label: Option<LabelSelector>,
    pub field: Option<FieldSelector>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

impl ListOptions {
    pub fn matches(&self, obj: &Value) -> bool {
        self.label.as_ref().is_none_or(|l| l.matches(object::labels(obj)))
            && self.field.as_ref().is_none_or(|f| f.matches(obj))
    }
}

pub struct ListResult {
    pub items: Vec<Arc<Value>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<u64>,
}

impl ListResult {
    /// The list's `metadata`: resourceVersion, and continue/remainingItemCount for a page.
    pub fn metadata(&self) -> Value {
        let mut md = json!({"resourceVersion": self.resource_version.to_string()});
        if let Some(c) = &self.continue_token {
            md["continue"] = json!(c);
        }
        if let Some(r) = self.remaining {
            md["remainingItemCount"] = json!(r);
        }
        md
    }

    /// The `<Kind>List` body, serialized straight from the stored objects (building it as a
    /// `Value` first would deep-copy every item).
    pub fn to_bytes(&self, rt: &ResourceType) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            kind: String,
            #[serde(rename = "apiVersion")]
            api_version: String,
            metadata: Value,
            items: Vec<&'a Value>,
        }
        let body = Body {
            kind: format!("{}List", rt.kind),
            api_version: rt.api_version(),
            metadata: self.metadata(),
            items: self.items.iter().map(|a| a.as_ref()).collect(),
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    let v = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{ns}/{name}\u{0}")});
    base64::engine::general_purpose::STANDARD.encode(v.to_string())
}

fn decode_continue(tok: &str) -> ApiResult<(u64, String, String)> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {tok}"));
    let bytes = base64::engine::general_purpose::STANDARD.decode(tok).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    let start = v["start"].as_str().ok_or_else(bad)?.trim_end_matches('\u{0}');
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((rv, ns.to_string(), name.to_string()))
}

impl ApiServer {
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>, opts: &ListOptions) -> ApiResult<ListResult> {
        let after = match &opts.continue_token {
            Some(t) => Some(decode_continue(t)?),
            None => None,
        };
        let (all, rv) = self.store.list_after(&rt.key, ns, after.as_ref().map(|(_, n, name)| (n.as_str(), name.as_str())));
        let mut items = Vec::new();
        let mut continue_token = None;
        let mut remaining = None;
        let limit = opts.limit.filter(|l| *l > 0);
        let mut iter = all.into_iter();
        for obj in iter.by_ref() {
            if !opts.matches(&obj) {
                continue;
            }
            items.push(meta::as_version(obj, rt));
            if limit.is_some_and(|l| items.len() >= l) {
                break;
            }
        }
        if limit.is_some_and(|l| items.len() >= l) {
            let rest = iter.filter(|o| opts.matches(o)).count() as u64;
            if rest > 0 {
                let last = items.last().unwrap();
                let lrv = after.as_ref().map(|a| a.0).unwrap_or(rv);
                continue_token = Some(encode_continue(lrv, object::str_at(last, "/metadata/namespace").unwrap_or(""), object::name_of(last)));
                remaining = Some(rest);
            }
        }
        Ok(ListResult { items, resource_version: rv, continue_token, remaining })
    }
}
