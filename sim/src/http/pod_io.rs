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
    let names = |key: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{key}")).and_then(|c| c.as_array()).into_iter().flatten().filter_map(|c| c["name"].as_str().map(String::from)).collect()
    };
    let containers = names("containers");
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
    let Some(status) = container_status(&pod, &container) else {
        let known = containers.iter().chain(&names("initContainers")).chain(&names("ephemeralContainers")).any(|c| *c == container);
        if !known {
            return Err(ApiError::bad_request(format!("container {container} is not valid for pod {name}")));
        }
        return Err(ApiError::bad_request(format!("container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating")));
    };
    let node = object::str_at(&pod, "/spec/nodeName").unwrap_or("");
    let uid = object::str_at(&pod, "/metadata/uid").unwrap_or("").to_string();
    let restarts = status["restartCount"].as_i64().unwrap_or(0);
    let previous = q.get("previous").is_some_and(|p| p == "true");
    let restart = if previous { restarts - 1 } else { restarts };
    if previous && restart < 0 {
        return Err(ApiError::bad_request(format!("previous terminated container \"{container}\" in pod \"{name}\" not found")));
    }
    let opts = LogOptions::parse(q)?;
    let path = server.nodes_root.read().clone().map(|r| {
        crate::nodes::node_root(&r, node).join(crate::nodes::fs::POD_LOGS).join(crate::nodes::fs::pod_log_dir_name(ns, name, &uid)).join(&container).join(format!("{restart}.log"))
    });
    let text = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().filter_map(|l| opts.render(l)).collect();
    if let Some(n) = opts.tail {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut body = lines.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    let follow = q.get("follow").is_some_and(|f| f == "true") && !previous;
    match (follow, path) {
        (true, Some(path)) if !terminated(&status) => Ok(follow_response(server.clone(), body, path, text.len() as u64, opts, (ns.to_string(), name.to_string(), uid, container))),
        _ => Ok(codec::bytes_response(200, "text/plain", Bytes::from(body))),
    }
}

fn container_status(pod: &Value, container: &str) -> Option<Value> {
    ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"].iter()
        .filter_map(|k| pod.pointer(&format!("/status/{k}")).and_then(|c| c.as_array()))
        .flatten()
        .find(|c| c["name"] == container)
        .cloned()
}

fn terminated(status: &Value) -> bool {
    status.pointer("/state/terminated").is_some()
}

/// PodLogOptions that shape each line.
#[derive(Clone)]
struct LogOptions {
    timestamps: bool,
    tail: Option<usize>,
    since: Option<chrono::DateTime<chrono::Utc>>,
}

impl LogOptions {
    fn parse(q: &Query) -> ApiResult<LogOptions> {
        let since = match (q.get("sinceSeconds").filter(|s| !s.is_empty()), q.get("sinceTime").filter(|s| !s.is_empty())) {
            (Some(_), Some(_)) => return Err(ApiError::bad_request("at most one of sinceTime or sinceSeconds may be specified")),
            (Some(s), None) => {
                let secs: i64 = s.parse().ok().filter(|n| *n > 0).ok_or_else(|| ApiError::bad_request(format!("invalid sinceSeconds: {s:?}")))?;
                Some(chrono::Utc::now() - chrono::Duration::seconds(secs))
            }
            (None, Some(t)) => Some(chrono::DateTime::parse_from_rfc3339(t).map_err(|_| ApiError::bad_request(format!("invalid sinceTime: {t:?}")))?.with_timezone(&chrono::Utc)),
            (None, None) => None,
        };
        Ok(LogOptions {
            timestamps: q.get("timestamps").is_some_and(|t| t == "true"),
            tail: q.get("tailLines").and_then(|t| t.parse::<usize>().ok()),
            since,
        })
    }

    /// A CRI line (`<time> <stream> <tag> <message>`) as the API returns it, or None when
    /// it is malformed or older than `since`.
    fn render(&self, line: &str) -> Option<String> {
        let mut parts = line.splitn(4, ' ');
        let (ts, _stream, _tag, msg) = (parts.next()?, parts.next()?, parts.next()?, parts.next().unwrap_or(""));
        if let Some(since) = self.since {
            let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?.with_timezone(&chrono::Utc);
            if t < since {
                return None;
            }
        }
        Some(if self.timestamps { format!("{ts} {msg}") } else { msg.to_string() })
    }
}

/// `follow=true`: what is there now, then every line appended to the log file, until the
/// container terminates (or the pod goes) or the client disconnects.
fn follow_response(server: Arc<ApiServer>, head: String, path: std::path::PathBuf, offset: u64, opts: LogOptions, who: (String, String, String, String)) -> Response<Body> {
    use futures::StreamExt;
    use http_body_util::{BodyExt, StreamBody};
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    if !head.is_empty() {
        let _ = tx.try_send(Bytes::from(head));
    }
    tokio::spawn(async move {
        let (ns, name, uid, container) = who;
        let mut events = server.store.subscribe();
        let mut offset = offset;
        let mut pending = String::new();
        // The kubelet's follower is woken by fsnotify; a short poll of one local file does
        // the same job here. Store events end the stream when the container stops.
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
        loop {
            let ended = tokio::select! {
                _ = tx.closed() => return,
                _ = tick.tick() => false,
                ev = events.recv() => match ev {
                    Ok(ev) if &*ev.key == "pods" && ev.namespace == ns && ev.name == name => {
                        object::uid_of(&ev.object) != uid || ev.kind == crate::store::EventType::Deleted
                            || container_status(&ev.object, &container).is_none_or(|s| terminated(&s))
                    }
                    Ok(_) => false,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => false,
                    Err(_) => true,
                },
            };
            let Some(chunk) = read_from(&path, &mut offset) else { return };
            pending.push_str(&chunk);
            while let Some(nl) = pending.find('\n') {
                let line: String = pending.drain(..=nl).collect();
                if let Some(out) = opts.render(line.trim_end_matches('\n'))
                    && tx.send(Bytes::from(out + "\n")).await.is_err()
                {
                    return;
                }
            }
            if ended {
                return;
            }
        }
    });
    let live = futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(|b| Ok::<_, std::io::Error>(hyper::body::Frame::data(b)));
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(live)));
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    r
}

/// Bytes appended to `path` since `offset` (None when the file is gone).
fn read_from(path: &std::path::Path, offset: &mut u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len < *offset {
        *offset = 0; // truncated or rotated
    }
    f.seek(SeekFrom::Start(*offset)).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    *offset += buf.len() as u64;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// exec / attach / portforward.
pub fn needs_processes(sub: &str, name: &str, _body: &Value) -> ApiError {
    ApiError::bad_request(format!(
        "pods/{sub} on pod {name:?} needs a running container process; the embedded cluster (cleanroom-sim) runs none \
         (use the kind or existing provider for exec, attach and port-forward)"
    ))
}
