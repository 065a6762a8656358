//! The HTTP surface: hyper on 127.0.0.1. Routes requests, decodes bodies and query options,
//! encodes answers (JSON, tables, watch streams, discovery, OpenAPI); what a request does
//! is decided by `crate::server`.

mod aggregated;
mod codec;
mod handlers;
mod metrics;
mod openapi;
mod openapi_schemas;
mod pod_io;
pub mod fuzzing;
pub mod route;
mod watch;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch as tokio_watch;

use crate::server::ApiServer;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// Serve `server` on `listener` until `shutdown` flips to true.
pub async fn serve(listener: TcpListener, server: Arc<ApiServer>, mut shutdown: tokio_watch::Receiver<bool>) {
    let metrics = Arc::new(metrics::Metrics::default());
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, peer)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let server = server.clone();
        let metrics = metrics.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (server, metrics) = (server.clone(), metrics.clone());
                async move { Ok::<_, Infallible>(handle(server, metrics, req, peer).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

async fn handle(server: Arc<ApiServer>, metrics: Arc<metrics::Metrics>, req: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if path == "/metrics" {
        return codec::bytes_response(200, "text/plain; version=0.0.4; charset=utf-8", Bytes::from(metrics.render()));
    }
    let query = req.uri().query().unwrap_or("").to_string();
    let content_type = req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let resp = handlers::dispatch(server, req).await;
    metrics.record(&method, &path, &query, &content_type, resp.status().as_u16());
    tracing::debug!(%method, %path, status = resp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
    resp
}
