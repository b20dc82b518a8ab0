//! Accepts connections, reads the HTTP upgrade request itself (so routing and refusals happen
//! before any WebSocket exists), upgrades, and hands each connection to a session. Shutdown:
//! stop accepting, let sessions send 1001 and drain, wait for them within the grace period.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{self, Backend};
use crate::config::{Config, Limits, Route};
use crate::session;

/// Largest HTTP request head accepted before the upgrade.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;

struct RouteEntry {
    route: Route,
    backend: Arc<dyn Backend>,
}

struct Shared {
    routes: Vec<RouteEntry>,
    limits: Arc<Limits>,
    ws_config: WebSocketConfig,
}

pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("route {uri}: {message}")]
    Backend { uri: String, message: String },
}

impl Server {
    /// Builds every route's backend once and binds the listener.
    pub async fn bind(config: Config) -> Result<Server, StartError> {
        let mut routes = Vec::with_capacity(config.routes.len());
        for route in config.routes {
            let backend = backend::build(&route).map_err(|message| StartError::Backend {
                uri: route.uri.clone(),
                message,
            })?;
            routes.push(RouteEntry { route, backend });
        }
        let addr = config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Listen { addr, source })?;
        let limits = config.server.limits;
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(limits.max_frame_bytes))
            .max_frame_size(Some(limits.max_frame_bytes))
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0);
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                routes,
                limits: Arc::new(limits),
                ws_config,
            }),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Cancelling it starts a graceful shutdown; `run` returns when it is done.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run(self) {
        let Server {
            listener,
            shared,
            shutdown,
            tracker,
        } = self;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let _ = tcp.set_nodelay(true);
                        tracker.spawn(connection(tcp, peer, shared.clone(), shutdown.clone()));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        }
        drop(listener);
        tracker.close();
        let grace = shared.limits.shutdown_grace() + std::time::Duration::from_secs(1);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(
                remaining = tracker.len(),
                "shutdown grace period over with connections still open"
            );
        }
    }
}

async fn connection(
    mut tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let upgraded = tokio::select! {
        _ = shutdown.cancelled() => return,
        r = tokio::time::timeout(shared.limits.handshake_timeout(), handshake(&mut tcp, &shared)) => r,
    };
    let (index, leftover) = match upgraded {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "upgrade refused");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "handshake timed out");
            return;
        }
    };
    let entry = &shared.routes[index];
    tracing::debug!(%peer, route = %entry.route.uri, "connection upgraded");
    let ws =
        WebSocketStream::from_partially_read(tcp, leftover, Role::Server, Some(shared.ws_config))
            .await;
    session::run(ws, entry.backend.clone(), shared.limits.clone(), shutdown).await;
    tracing::debug!(%peer, "connection closed");
}

/// Why an upgrade did not happen; the HTTP answer has been written already where there is one.
#[derive(Debug, thiserror::Error)]
enum HandshakeError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed before a full request")]
    Eof,
    #[error("answered {0}")]
    Refused(u16),
}

/// Reads one HTTP request head and either upgrades (returns the route index and any bytes read
/// past the head) or answers with an HTTP error.
async fn handshake<S>(stream: &mut S, shared: &Shared) -> Result<(usize, Vec<u8>), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(HandshakeError::Eof);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let answer = decide(&req, shared);
                return match answer {
                    Decision::Upgrade { route, accept } => {
                        let resp = format!(
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                        );
                        stream.write_all(resp.as_bytes()).await?;
                        Ok((route, buf.split_off(len)))
                    }
                    Decision::Refuse {
                        status,
                        extra,
                        body,
                    } => {
                        refuse(stream, status, extra, body).await?;
                        Err(HandshakeError::Refused(status))
                    }
                };
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST_HEAD => continue,
            Ok(httparse::Status::Partial) => {
                refuse(stream, 431, "", "request head too large\n").await?;
                return Err(HandshakeError::Refused(431));
            }
            Err(_) => {
                refuse(stream, 400, "", "malformed HTTP request\n").await?;
                return Err(HandshakeError::Refused(400));
            }
        }
    }
}

enum Decision {
    Upgrade {
        route: usize,
        accept: String,
    },
    Refuse {
        status: u16,
        extra: &'static str,
        body: &'static str,
    },
}

fn header<'a>(req: &'a httparse::Request<'_, '_>, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

fn decide(req: &httparse::Request<'_, '_>, shared: &Shared) -> Decision {
    let refuse = |status, body| Decision::Refuse {
        status,
        extra: "",
        body,
    };
    let path = req.path.unwrap_or("/");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let Some(route) = shared.routes.iter().position(|r| r.route.matches(path)) else {
        return refuse(404, "no route for this path\n");
    };
    if !has_token(header(req, "upgrade"), "websocket")
        || !has_token(header(req, "connection"), "upgrade")
    {
        return refuse(
            400,
            "this route speaks WebSocket only: send an upgrade request\n",
        );
    }
    if req.method != Some("GET") {
        return refuse(400, "a WebSocket upgrade must be a GET request\n");
    }
    if header(req, "sec-websocket-version") != Some("13") {
        return Decision::Refuse {
            status: 426,
            extra: "Sec-WebSocket-Version: 13\r\n",
            body: "unsupported WebSocket version: 13 is supported\n",
        };
    }
    let Some(key) = header(req, "sec-websocket-key").filter(|k| !k.is_empty()) else {
        return refuse(400, "missing Sec-WebSocket-Key\n");
    };
    Decision::Upgrade {
        route,
        accept: derive_accept_key(key.as_bytes()),
    }
}

async fn refuse<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    extra: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    stream.write_all(resp.as_bytes()).await?;
    stream.shutdown().await
}
