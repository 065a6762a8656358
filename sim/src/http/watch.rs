//! WATCH: replay from a resourceVersion (or initial events), then stream live changes as
//! newline-delimited `{"type", "object"}` frames.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::handlers::Query;
use super::Body;
use crate::api::errors::{ApiError, ApiResult};
use crate::registry::ResourceType;
use crate::server::{meta, ApiServer, ListOptions};
use crate::store::{EventType, StoreError, StoreEvent};

/// How often a watch with `allowWatchBookmarks` gets a BOOKMARK.
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

fn frame(kind: &str, obj: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Bytes {
    let mut md = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    frame("BOOKMARK", &json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": md}))
}

/// Decide what a filtered watcher sees for one store event (the watch cache's semantics:
/// an object leaving the selection is DELETED, one entering it is ADDED).
fn translate(ev: &StoreEvent, rt: &ResourceType, ns: Option<&str>, lo: &ListOptions) -> Option<(&'static str, Arc<Value>)> {
    if &*ev.key != rt.key.as_str() || ns.is_some_and(|n| n != ev.namespace) {
        return None;
    }
    let cur = lo.matches(&ev.object);
    let prev = ev.prev.as_ref().is_some_and(|p| lo.matches(p));
    let obj = meta::as_version(ev.object.clone(), rt);
    match ev.kind {
        EventType::Added if cur => Some(("ADDED", obj)),
        EventType::Modified if cur && prev => Some(("MODIFIED", obj)),
        EventType::Modified if cur => Some(("ADDED", obj)),
        EventType::Modified if prev => Some(("DELETED", obj)),
        EventType::Deleted if prev || cur => Some(("DELETED", obj)),
        _ => None,
    }
}

pub async fn serve_watch(server: Arc<ApiServer>, rt: Arc<ResourceType>, ns: Option<String>, lo: ListOptions, q: &Query) -> ApiResult<Response<Body>> {
    let rv_param = q.get("resourceVersion").cloned().unwrap_or_default();
    let send_initial = q.get("sendInitialEvents").map(|s| s == "true");
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|s| s == "true");
    if send_initial.is_some() {
        let rvm = q.get("resourceVersionMatch").map(|s| s.as_str()).unwrap_or("");
        if rvm != "NotOlderThan" {
            return Err(ApiError::invalid("ListOptions", "meta.k8s.io", "", vec![crate::api::errors::Cause::forbidden(
                "resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")]));
        }
    }
    let timeout = q.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).unwrap_or(1800);
    let (tx, rx) = mpsc::channel::<Bytes>(1024);

    // Backlog + live receiver, consistent with each other.
    let mut initial: Vec<Bytes> = Vec::new();
    let start_rv;
    let mut live;
    let from_version = rv_param.parse::<u64>().ok().filter(|v| *v > 0 && send_initial != Some(true));
    match from_version {
        Some(v) => match server.store.watch_from(v) {
            Ok((backlog, r)) => {
                for ev in backlog {
                    if let Some((k, o)) = translate(&ev, &rt, ns.as_deref(), &lo) {
                        initial.push(frame(k, &o));
                    }
                }
                start_rv = v;
                live = r;
            }
            Err(StoreError::Gone { requested, oldest }) => {
                let e = ApiError::gone(format!("too old resource version: {requested} ({oldest})"));
                initial.push(frame("ERROR", &e.to_status()));
                return Ok(stream_response(initial, None));
            }
            Err(_) => return Err(ApiError::internal("watch setup failed")),
        },
        None => {
            let (items, rv, r) = server.store.list_and_watch(&rt.key, ns.as_deref());
            if send_initial != Some(false) {
                for o in items.into_iter().filter(|o| lo.matches(o)) {
                    initial.push(frame("ADDED", &meta::as_version(o, &rt)));
                }
            }
            if send_initial == Some(true) && bookmarks {
                initial.push(bookmark(&rt, rv, true));
            }
            start_rv = rv;
            live = r;
        }
    }
    let rt2 = rt.clone();
    tokio::spawn(async move {
        for b in initial {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        // Periodic bookmarks (kube-apiserver sends them about once a minute) carry the newest
        // resourceVersion this stream has passed, so a client can resume without a relist.
        let mut bookmark_tick = tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        let mut seen_rv = start_rv;
        let mut bookmarked_rv = start_rv;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = bookmark_tick.tick(), if bookmarks => {
                    if seen_rv > bookmarked_rv {
                        bookmarked_rv = seen_rv;
                        if tx.send(bookmark(&rt2, seen_rv, false)).await.is_err() { return; }
                    }
                }
                ev = live.recv() => match ev {
                    Ok(ev) => {
                        seen_rv = seen_rv.max(ev.rv);
                        if let Some((k, o)) = translate(&ev, &rt2, ns.as_deref(), &lo)
                            && tx.send(frame(k, &o)).await.is_err() { return; }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let e = ApiError::gone("too old resource version: watch fell behind");
                        let _ = tx.send(frame("ERROR", &e.to_status())).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        }
    });
    Ok(stream_response(Vec::new(), Some(rx)))
}

fn stream_response(initial: Vec<Bytes>, rx: Option<mpsc::Receiver<Bytes>>) -> Response<Body> {
    let head = futures::stream::iter(initial.into_iter().map(|b| Ok::<_, std::io::Error>(Frame::data(b))));
    let body: Body = match rx {
        Some(rx) => {
            let live = tokio_stream_from(rx).map(|b| Ok::<_, std::io::Error>(Frame::data(b)));
            BodyExt::boxed(StreamBody::new(head.chain(live)))
        }
        None => BodyExt::boxed(StreamBody::new(head)),
    };
    let mut r = Response::new(body);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn tokio_stream_from(mut rx: mpsc::Receiver<Bytes>) -> impl futures::Stream<Item = Bytes> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
