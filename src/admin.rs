//! The admin listener (`server.admin_listen`): `/healthz`, `/readyz`, Prometheus `/metrics`,
//! `/api/routes` and the live console under `/console/`. One request per connection; meant for
//! loopback or a private network, never the internet.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::http::http_answer;
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

/// How long /readyz waits for each upstream.
const READY_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) async fn serve(
    listener: TcpListener,
    inner: Arc<dyn Served>,
    shutdown: CancellationToken,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "admin listening");
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let inner = inner.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(Duration::from_secs(10), request(tcp, inner)).await;
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

async fn request(mut tcp: TcpStream, inner: Arc<dyn Served>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let path = loop {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                if req.method != Some("GET") && req.method != Some("HEAD") {
                    return http_answer(
                        &mut tcp,
                        405,
                        "Allow: GET\r\n",
                        "text/plain",
                        b"GET only\n",
                    )
                    .await;
                }
                let p = req.path.unwrap_or("/");
                break p.split_once('?').map_or(p, |(p, _)| p).to_owned();
            }
            Ok(httparse::Status::Partial) if buf.len() < 8192 => continue,
            _ => return http_answer(&mut tcp, 400, "", "text/plain", b"bad request\n").await,
        }
    };
    match path.as_str() {
        "/healthz" => http_answer(&mut tcp, 200, "", "text/plain", b"ok\n").await,
        "/readyz" => {
            let (ok, body) = readiness(&*inner).await;
            http_answer(
                &mut tcp,
                if ok { 200 } else { 503 },
                "",
                "application/json",
                body.as_bytes(),
            )
            .await
        }
        "/metrics" => {
            let body = METRICS.render();
            http_answer(
                &mut tcp,
                200,
                "",
                "text/plain; version=0.0.4",
                body.as_bytes(),
            )
            .await
        }
        "/api/routes" => {
            let body = routes_json(&*inner);
            http_answer(&mut tcp, 200, "", "application/json", body.as_bytes()).await
        }
        "/" => {
            http_answer(
                &mut tcp,
                200,
                "",
                "text/html; charset=utf-8",
                INDEX.as_bytes(),
            )
            .await
        }
        // The page's relative imports need the trailing slash.
        "/console" => {
            http_answer(&mut tcp, 308, "Location: /console/\r\n", "text/plain", b"").await
        }
        p => match crate::console::asset(p) {
            Some((content_type, body)) => http_answer(&mut tcp, 200, "", content_type, body).await,
            None => http_answer(&mut tcp, 404, "", "text/plain", b"not found\n").await,
        },
    }
}

/// Every route's upstream must answer (Kafka: a metadata request) within READY_TIMEOUT.
async fn readiness(inner: &dyn Served) -> (bool, String) {
    let mut all = true;
    let mut routes = serde_json::Map::new();
    for (uri, backend) in inner.routes() {
        let state = match tokio::time::timeout(READY_TIMEOUT, backend.ready()).await {
            Ok(Ok(())) => "ready".to_string(),
            Ok(Err(e)) => {
                all = false;
                e.to_string()
            }
            Err(_) => {
                all = false;
                "timed out".to_string()
            }
        };
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
