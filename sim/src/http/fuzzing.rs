//! The request-decoding path as one function of bytes, for the fuzz target
//! (`sim/fuzz`) and the randomized test: decode a body in some content type, then push it
//! through create, the four patch types and update. Must never panic.

use std::sync::OnceLock;

use serde_json::json;

use super::codec;
use crate::api::patch::PatchType;
use crate::server::{ApiServer, WriteOptions};

const CONTENT_TYPES: [&str; 7] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

fn server() -> &'static ApiServer {
    static S: OnceLock<ApiServer> = OnceLock::new();
    S.get_or_init(|| {
        let s = ApiServer::new();
        let rt = s.resource("", "v1", "configmaps").unwrap();
        let _ = s.create(&rt, Some("default"), json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "target"}, "data": {"a": "b"}}), &WriteOptions::default());
        s
    })
}

/// First byte selects the content type and the resource; the rest is the body.
pub fn request(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else { return };
    let ct = CONTENT_TYPES[sel as usize % CONTENT_TYPES.len()];
    let s = server();
    let plural = if sel & 0x80 == 0 { "configmaps" } else { "deployments" };
    let group = if plural == "configmaps" { "" } else { "apps" };
    let rt = s.resource(group, "v1", plural).unwrap();
    let Ok(v) = codec::decode_body(ct, body) else { return };
    // Creates are dry runs so the shared server does not grow with every input; updates and
    // patches all land on the one `target` object, which keeps memory bounded.
    let opts = WriteOptions { field_manager: Some("fuzz".into()), dry_run: sel & 0x40 != 0, ..Default::default() };
    let create_opts = WriteOptions { dry_run: true, ..opts.clone() };
    // Put the target back as it was afterwards, so versions stay small and memory bounded.
    let original = s.store.get(&rt.key, "default", "target");
    match PatchType::from_content_type(ct) {
        Some(pt) => {
            let _ = s.patch(&rt, Some("default"), "target", pt, &v, None, &opts);
        }
        None => {
            let _ = s.create(&rt, Some("default"), v.clone(), &create_opts);
            let _ = s.update(&rt, Some("default"), "target", v, None, &opts);
        }
    }
    match original {
        Some(o) => {
            let _ = s.store.update(&rt.key, "default", "target", (*o).clone(), None);
        }
        None => {
            let _ = s.store.remove(&rt.key, "default", "target", None);
        }
    }
}
