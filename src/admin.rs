//! The admin listener (`server.admin_listen`): `/healthz`, `/readyz`, Prometheus `/metrics`,
//! `/api/routes` and the live console under `/console/`. Served by hyper (HTTP/1.1), one request
//! per connection (`Connection: close`), at most [`MAX_CONNECTIONS`] at once; meant for loopback
//! or a private network, never the internet.

use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::http::{full, Body};
use crate::metrics::METRICS;

/// What the admin listener shows of the running gateway; the server implements it, so this
/// module needs nothing of the server's.
pub(crate) trait Served: Send + Sync + 'static {
    /// Every route's uri and backend, as the current configuration has them.
    fn routes(&self) -> Vec<(String, Arc<dyn Backend>)>;
    /// `ws://` or `wss://` and the listen address.
    fn ws_base(&self) -> String;
}

const INDEX: &str = "<!doctype html><title>pubsub-gateway admin</title><ul><li><a href=\"/console/\">console</a><li><a href=\"/metrics\">metrics</a><li><a href=\"/readyz\">readyz</a><li><a href=\"/healthz\">healthz</a><li><a href=\"/api/routes\">routes</a></ul>\n";

/// How long /readyz waits for each upstream (all are asked at once).
const READY_TIMEOUT: Duration = Duration::from_secs(3);
/// A connection's whole life: the request head, the answer (readiness takes at most
/// READY_TIMEOUT) and its writing. A client that holds a connection longer is cut off.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// The request head must arrive within this.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; one more is closed at once. Scrapers and a console need a few;
/// a flood must not cost the gateway unbounded tasks and buffers.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// The request head's bytes at most (431 beyond).
const MAX_HEAD: usize = 8 * 1024;

pub(crate) async fn serve(
    listener: TcpListener,
    inner: Arc<dyn Served>,
    shutdown: CancellationToken,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "admin listening");
    }
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    // Over the bound: dropped (closed) unanswered.
                    let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
                    let inner = inner.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection(tcp, inner)).await;
                        drop(slot);
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

async fn connection(tcp: TcpStream, inner: Arc<dyn Served>) {
    let service = hyper::service::service_fn(move |req| {
        let inner = inner.clone();
        async move { Ok::<_, std::convert::Infallible>(respond(req, &*inner).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .keep_alive(false)
        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
        .await;
}

fn answer(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<bytes::Bytes>,
) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn respond(req: Request<hyper::body::Incoming>, inner: &dyn Served) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = answer(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/healthz" => answer(StatusCode::OK, "text/plain", "ok\n"),
        "/readyz" => {
            let (ok, body) = readiness(inner).await;
            let status = if ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            answer(status, "application/json", body)
        }
        "/metrics" => answer(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            METRICS.render(),
        ),
        "/api/routes" => answer(StatusCode::OK, "application/json", routes_json(inner)),
        "/" => answer(StatusCode::OK, "text/html; charset=utf-8", INDEX),
        // The page's relative imports need the trailing slash.
        "/console" => {
            let mut r = answer(StatusCode::PERMANENT_REDIRECT, "text/plain", "");
            r.headers_mut()
                .insert(LOCATION, HeaderValue::from_static("/console/"));
            r
        }
        p => match crate::console::asset(p) {
            Some((content_type, body)) => answer(StatusCode::OK, content_type, body),
            None => answer(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
        },
    }
}

/// Every route's upstream must answer (Kafka: a metadata request) within READY_TIMEOUT; the
/// routes are asked at once, so the answer takes at most READY_TIMEOUT however many there are.
async fn readiness(inner: &dyn Served) -> (bool, String) {
    let checks = inner.routes().into_iter().map(|(uri, backend)| async move {
        let state = match tokio::time::timeout(READY_TIMEOUT, backend.ready()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("timed out".to_string()),
        };
        (uri, state)
    });
    let mut all = true;
    let mut routes = serde_json::Map::new();
    for (uri, state) in futures_util::future::join_all(checks).await {
        all &= state.is_none();
        let state = state.unwrap_or_else(|| "ready".to_string());
        routes.insert(uri, serde_json::Value::String(state));
    }
    let body = serde_json::json!({ "ready": all, "routes": routes });
    (all, body.to_string())
}

fn routes_json(inner: &dyn Served) -> String {
    let routes: Vec<_> = inner
        .routes()
        .into_iter()
        .map(|(uri, backend)| serde_json::json!({ "uri": uri, "scheme": backend.scheme() }))
        .collect();
    serde_json::json!({ "ws_base": inner.ws_base(), "routes": routes }).to_string()
}
