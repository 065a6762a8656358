//! Request decoding (JSON, YAML, protobuf) and response encoding (JSON, Table).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::Value;

use super::Body;
use crate::api::errors::ApiError;

/// kube-apiserver's default `--max-request-body-bytes`... (3 MiB for JSON/YAML bodies).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

pub fn json_response(status: u16, v: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    bytes_response(status, "application/json", Bytes::from(bytes))
}

pub fn bytes_response(status: u16, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert("cache-control", HeaderValue::from_static("no-cache, private"));
    r
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(s) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
    r
}

/// Decode a request body according to its Content-Type.
pub fn decode_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match ct.as_str() {
        "application/vnd.kubernetes.protobuf" => crate::api::protobuf::decode(body).map_err(|e| {
            if e.is_unsupported() {
                ApiError::unsupported_media_type(&ct)
            } else {
                ApiError::bad_request(format!("unable to decode protobuf body: {e}"))
            }
        }),
        "application/yaml" | "application/apply-patch+yaml" | "text/yaml" => decode_yaml_or_json(body),
        "" | "application/json" | "application/json-patch+json" | "application/merge-patch+json" | "application/strategic-merge-patch+json" | "*/*" => {
            serde_json::from_slice(body).map_err(|e| json_error(body, &e))
        }
        other => Err(ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf, application/cbor (got {other})"))),
    }
}

fn decode_yaml_or_json(body: &[u8]) -> Result<Value, ApiError> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("error converting YAML to JSON: invalid UTF-8"))?;
    serde_saphyr::from_str::<Value>(text).map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
}

/// The message kube-apiserver gives for undecodable JSON (json.SyntaxError via the serializer).
fn json_error(body: &[u8], e: &serde_json::Error) -> ApiError {
    let snippet: String = String::from_utf8_lossy(&body[..body.len().min(64)]).into_owned();
    ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e} (near {snippet:?})"))
}
