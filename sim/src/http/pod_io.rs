//! Pod subresources that need a kubelet: `log` is read from the emulated kubelet's CRI log
//! files on the pod's node; `exec`, `attach` and `portforward` need container processes, which
//! the embedded cluster does not run, so they fail with an error that says so.

use std::sync::Arc;

use bytes::Bytes;
use hyper::Response;
use serde_json::Value;

use super::codec;
use super::handlers::Query;
use super::Body;
use crate::api::errors::{ApiError, ApiResult};
use crate::api::object;
use crate::server::ApiServer;

pub fn log(server: &Arc<ApiServer>, ns: &str, name: &str, q: &Query) -> ApiResult<Response<Body>> {
    let pods = server.resource("", "v1", "pods")?;
    let pod = server.get(&pods, Some(ns), name)?;
    let containers: Vec<String> = pod.pointer("/spec/containers").and_then(|c| c.as_array()).into_iter().flatten()
        .filter_map(|c| c["name"].as_str().map(String::from)).collect();
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => c.clone(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let status = pod.pointer("/status/containerStatuses").and_then(|c| c.as_array()).and_then(|cs| cs.iter().find(|c| c["name"] == container.as_str()).cloned());
    let Some(status) = status else {
        if !containers.contains(&container) {
            return Err(ApiError::bad_request(format!("container {container} is not valid for pod {name}")));
        }
        return Err(ApiError::bad_request(format!("container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating")));
    };
    let node = object::str_at(&pod, "/spec/nodeName").unwrap_or("");
    let uid = object::str_at(&pod, "/metadata/uid").unwrap_or("");
    let restarts = status["restartCount"].as_i64().unwrap_or(0);
    let previous = q.get("previous").is_some_and(|p| p == "true");
    let restart = if previous { restarts - 1 } else { restarts };
    if previous && restart < 0 {
        return Err(ApiError::bad_request(format!("previous terminated container \"{container}\" in pod \"{name}\" not found")));
    }
    let root = server.nodes_root.read().clone();
    let text = root
        .map(|r| crate::nodes::node_root(&r, node).join(crate::nodes::fs::POD_LOGS).join(crate::nodes::fs::pod_log_dir_name(ns, name, uid)).join(&container).join(format!("{restart}.log")))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    // CRI lines are `<time> <stream> <tag> <message>`; the API returns the messages.
    let timestamps = q.get("timestamps").is_some_and(|t| t == "true");
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(4, ' ');
            let (ts, _stream, _tag, msg) = (parts.next()?, parts.next()?, parts.next()?, parts.next().unwrap_or(""));
            Some(if timestamps { format!("{ts} {msg}") } else { msg.to_string() })
        })
        .collect();
    if let Some(n) = q.get("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut body = lines.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    Ok(codec::bytes_response(200, "text/plain", Bytes::from(body)))
}

/// exec / attach / portforward.
pub fn needs_processes(sub: &str, name: &str, _body: &Value) -> ApiError {
    ApiError::bad_request(format!(
        "pods/{sub} on pod {name:?} needs a running container process; the embedded cluster (cleanroom-sim) runs none \
         (use the kind or existing provider for exec, attach and port-forward)"
    ))
}
