//! Accepts connections (plain or TLS), reads the HTTP upgrade request itself so that routing,
//! Origin checks and authentication happen before any WebSocket exists, upgrades, and hands each
//! connection to a session.
//!
//! The route table is swapped whole on reload: new connections see the new table, existing ones
//! keep their route's backend; connections whose route disappeared are closed with 1001. A kept
//! route's new access rules reach its open connections too: each checks its credential again
//! (removed keys are closed with 1008, narrowed ACLs apply to the next command).
//! Shutdown: stop accepting, let sessions drain and send 1001, wait within the grace period.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::Backend;
use crate::config::{Config, Limits};
use crate::http::{plain_close, Body};
use crate::metrics::{Rejection, METRICS};
use crate::session;

mod call;
mod endpoints;
mod groups;
mod handshakes;
mod leases;
mod sse;
mod table;
mod upgrade;
use handshakes::{HandshakeSlot, Handshakes};
pub use table::RouteEntry;
use table::{build_table, Table};
use upgrade::{decide, is_upgrade, split_target, switching_protocols, Decision, WsConn};

/// Largest HTTP request head accepted before the upgrade.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;

pub(crate) struct Inner {
    table: RwLock<Arc<Table>>,
    open: AtomicUsize,
    /// Connections accepted and not yet upgraded or refused.
    handshakes: Arc<Handshakes>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    pub(crate) local_addr: SocketAddr,
}

impl crate::admin::Served for Inner {
    fn routes(&self) -> Vec<(String, Arc<dyn Backend>)> {
        self.table()
            .routes
            .iter()
            .map(|e| (e.route.uri.clone(), e.backend.clone()))
            .collect()
    }

    fn ws_base(&self) -> String {
        let scheme = if self.table().has_tls() { "wss" } else { "ws" };
        format!("{scheme}://{}", self.local_addr)
    }
}

impl Inner {
    pub(crate) fn table(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts a connection against the limits; None when one is reached.
    fn admit(self: &Arc<Self>, ip: IpAddr, limits: &Limits) -> Result<ConnSlot, Rejection> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if self.open.load(Ordering::Acquire) >= limits.max_connections {
            return Err(Rejection::ConnectionLimit);
        }
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= limits.max_connections_per_ip {
            return Err(Rejection::IpConnectionLimit);
        }
        *n += 1;
        self.open.fetch_add(1, Ordering::AcqRel);
        Ok(ConnSlot {
            inner: self.clone(),
            ip,
        })
    }
}

/// An admitted connection; released when dropped.
struct ConnSlot {
    inner: Arc<Inner>,
    ip: IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut per_ip = self.inner.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.inner.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Connections waiting to be accepted; the default 128 overflows when many clients (re)connect
/// at once, and the kernel then makes them retry after a second.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

pub struct Server {
    listener: TcpListener,
    admin: Option<TcpListener>,
    inner: Arc<Inner>,
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
    Route { uri: String, message: String },
    #[error("server.tls: {0}")]
    Tls(String),
}

/// Reloads and shuts down a running server.
#[derive(Clone)]
pub struct ServerHandle {
    pub(crate) inner: Arc<Inner>,
    shutdown: CancellationToken,
}

impl ServerHandle {
    /// Applies a new configuration: routes, upstreams, plugins, limits and TLS certificates.
    /// An error leaves the running configuration as it was.
    pub fn reload(&self, config: Config) -> Result<(), String> {
        let old = self.inner.table();
        let result = build_table(&config, Some(&old), &self.shutdown);
        let new = match result {
            Ok(t) => t,
            Err(e) => {
                METRICS.reloads_failed.fetch_add(1, Ordering::Relaxed);
                return Err(e.to_string());
            }
        };
        if new.listen != old.listen {
            tracing::warn!(old = %old.listen, new = %new.listen, "server.listen changes need a restart; still listening on the old address");
        }
        for o in &old.routes {
            match new.routes.iter().find(|n| n.route.uri == o.route.uri) {
                None => {
                    tracing::info!(route = %o.route.uri, "route removed: closing its connections");
                    o.end.removed();
                }
                Some(n) if !Arc::ptr_eq(&n.backend, &o.backend) => {
                    tracing::info!(route = %o.route.uri, "route's upstream changed: new backend; closing its connections (1012) so that they reconnect to it");
                    o.end.rebuilt();
                }
                Some(_) => {}
            }
        }
        let new = Arc::new(new);
        *self.inner.table.write().unwrap_or_else(|e| e.into_inner()) = new.clone();
        for entry in &new.routes {
            entry.auth_tx.send_replace(entry.auth.clone());
        }
        METRICS.reloads_ok.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

impl Server {
    /// Builds every route's backend once and binds the listeners.
    pub async fn bind(config: Config) -> Result<Server, StartError> {
        let shutdown = CancellationToken::new();
        let table = build_table(&config, None, &shutdown)?;
        let addr = config.server.listen;
        let listener = listen(addr).map_err(|source| StartError::Listen { addr, source })?;
        let admin = match config.server.admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Listen { addr, source })?,
            ),
            None => None,
        };
        let local_addr = listener.local_addr().unwrap_or(addr);
        Ok(Server {
            listener,
            admin,
            inner: Arc::new(Inner {
                table: RwLock::new(Arc::new(table)),
                open: AtomicUsize::new(0),
                handshakes: Arc::default(),
                per_ip: Mutex::new(HashMap::new()),
                local_addr,
            }),
            shutdown,
            tracker: TaskTracker::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Cancelling it starts a graceful shutdown; `run` returns when it is done.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            inner: self.inner.clone(),
            shutdown: self.shutdown.clone(),
        }
    }

    pub async fn run(self) {
        let Server {
            listener,
            admin,
            inner,
            shutdown,
            tracker,
        } = self;
        if let Some(admin) = admin {
            tokio::spawn(crate::admin::serve(admin, inner.clone(), shutdown.clone()));
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let fd = std::os::fd::AsRawFd::as_raw_fd(&tcp);
                        let slot = match inner.handshakes.begin(peer.ip(), fd, &inner.table().limits) {
                            Ok(s) => s,
                            Err(why) => {
                                tracing::debug!(%peer, ?why, "too many handshakes in progress: refusing");
                                inner.handshakes.refuse(tcp, why);
                                continue;
                            }
                        };
                        let _ = tcp.set_nodelay(true);
                        tracker.spawn(connection(
                            tcp,
                            slot,
                            peer,
                            inner.clone(),
                            shutdown.clone(),
                            tracker.clone(),
                        ));
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
        let grace = inner.table().limits.shutdown_grace() + std::time::Duration::from_secs(1);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(
                remaining = tracker.len(),
                "shutdown grace period over with connections still open"
            );
        }
    }
}

/// Each connection's tasks are sized for what lives long: this one only dispatches, the boxed
/// handshake steps are freed after the upgrade, and the session then runs in a task of its own
/// holding nothing but the session.
async fn connection(
    tcp: TcpStream,
    slot: HandshakeSlot,
    peer: SocketAddr,
    inner: Arc<Inner>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let table = inner.table();
    // A client that opened a socket says something quickly or not at all; until it does, a
    // full server may close it to make room for a newer one.
    let limit = table
        .limits
        .request_head_timeout()
        .min(table.limits.handshake_timeout());
    let mut first = [0u8; 1];
    let first_bytes = tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = slot.evicted() => {
            tracing::debug!(%peer, "silent socket closed to make room for a new one");
            return;
        }
        r = tokio::time::timeout(limit, tcp.peek(&mut first)) => r,
    };
    match first_bytes {
        Ok(Ok(n)) if n > 0 => slot.spoke(),
        Ok(_) => return,
        Err(_) => {
            METRICS.reject(Rejection::HandshakeTimeout);
            tracing::debug!(%peer, "nothing sent within the request head timeout");
            return;
        }
    }
    match table.tls.clone() {
        None => Box::pin(serve(tcp, slot, peer, table, inner, shutdown, tracker)).await,
        Some(acceptor) => {
            Box::pin(serve_tls(
                acceptor, tcp, slot, peer, table, inner, shutdown, tracker,
            ))
            .await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve_tls(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    slot: HandshakeSlot,
    peer: SocketAddr,
    table: Arc<Table>,
    inner: Arc<Inner>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    // A client that opened a socket says something quickly or not at all: the TLS handshake
    // gets the short request-head timeout, not the whole handshake timeout.
    let limit = table
        .limits
        .request_head_timeout()
        .min(table.limits.handshake_timeout());
    let accepted = tokio::select! {
        _ = shutdown.cancelled() => return,
        r = tokio::time::timeout(limit, acceptor.accept(tcp)) => r,
    };
    match accepted {
        Ok(Ok(tls)) => Box::pin(serve(tls, slot, peer, table, inner, shutdown, tracker)).await,
        Ok(Err(e)) => {
            METRICS.reject(Rejection::TlsHandshake);
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
        }
        Err(_) => METRICS.reject(Rejection::HandshakeTimeout),
    }
}

/// One connection's HTTP/1.1, by hyper: each request is a WebSocket upgrade (the session then
/// runs in a task of its own) or a call of the HTTP endpoints (`endpoints`), on keep-alive
/// connections. The connection stops counting as a handshake in progress once its first request
/// head has arrived.
async fn serve<S>(
    stream: S,
    slot: HandshakeSlot,
    peer: SocketAddr,
    table: Arc<Table>,
    inner: Arc<Inner>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let head_timeout = table
        .limits
        .request_head_timeout()
        .min(table.limits.handshake_timeout());
    let per_sec = table.limits.max_requests_per_sec;
    drop(table);
    let kill = CancellationToken::new();
    let conn = Arc::new(Conn {
        peer,
        inner,
        kill: kill.clone(),
        shutdown: shutdown.clone(),
        tracker,
        slot: Mutex::new(Some(slot)),
        rate: Mutex::new(session::RateLimit::new(per_sec)),
    });
    let service = hyper::service::service_fn(move |req| {
        let conn = conn.clone();
        async move { Ok::<_, std::convert::Infallible>(conn.respond(req).await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(head_timeout)
        .max_buf_size(MAX_REQUEST_HEAD)
        .max_headers(MAX_HEADERS)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .with_upgrades();
    let mut served = std::pin::pin!(served);
    let done = tokio::select! {
        r = served.as_mut() => r,
        _ = kill.cancelled() => {
            tracing::debug!(%peer, "HTTP connection closed: a slow consumer");
            return;
        }
        _ = shutdown.cancelled() => {
            // Requests in progress finish (streams end on their own at shutdown); no new ones.
            served.as_mut().graceful_shutdown();
            match tokio::time::timeout(std::time::Duration::from_secs(2), served).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = done {
        if e.is_timeout() {
            METRICS.reject(Rejection::HandshakeTimeout);
            tracing::debug!(%peer, "request head timed out");
        } else {
            tracing::debug!(%peer, error = %e, "HTTP connection ended");
        }
    }
}

/// What every request of one connection shares.
struct Conn {
    peer: SocketAddr,
    /// Closes the connection (a stalled event stream under `slow_consumer: close`).
    kill: CancellationToken,
    inner: Arc<Inner>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// Held until the first request head is complete.
    slot: Mutex<Option<HandshakeSlot>>,
    /// The connection's HTTP calls, limited as a WebSocket connection's requests are.
    rate: Mutex<session::RateLimit>,
}

impl Conn {
    async fn respond(&self, mut req: hyper::Request<hyper::body::Incoming>) -> Response {
        drop(self.slot.lock().unwrap_or_else(|e| e.into_inner()).take());
        // Per request: a reload applies to the next request of a keep-alive connection.
        let table = self.inner.table();
        let (path, query) = split_target(req.uri());
        if is_upgrade(req.headers()) {
            return match decide(&req, &path, &query, &table) {
                Decision::Upgrade {
                    entry,
                    accept,
                    protocol,
                    framing,
                    identity,
                } => {
                    let upgrading = hyper::upgrade::on(&mut req);
                    let answer = switching_protocols(&accept, protocol.as_deref());
                    let conn = WsConn {
                        peer: self.peer,
                        inner: self.inner.clone(),
                        shutdown: self.shutdown.clone(),
                        tracker: self.tracker.clone(),
                    };
                    self.tracker.spawn(async move {
                        match upgrading.await {
                            Ok(io) => {
                                let ws = WebSocketStream::from_raw_socket(
                                    hyper_util::rt::TokioIo::new(io),
                                    Role::Server,
                                    Some(table.ws_config),
                                )
                                .await;
                                conn.run(ws, table, entry, identity, protocol, framing)
                                    .await
                            }
                            Err(e) => {
                                tracing::debug!(peer = %conn.peer, error = %e, "upgrade failed")
                            }
                        }
                    });
                    answer
                }
                Decision::Refuse {
                    status,
                    extra,
                    body,
                    reason,
                } => {
                    METRICS.reject(reason);
                    tracing::debug!(peer = %self.peer, status, "upgrade refused");
                    let mut r = plain_close(status, body);
                    if let Some((name, value)) = extra {
                        r.headers_mut()
                            .insert(name, hyper::header::HeaderValue::from_static(value));
                    }
                    r
                }
            };
        }
        let Some((entry, endpoint)) = table
            .routes
            .iter()
            .find_map(|e| endpoints::parse(&e.route.uri, &path).map(|ep| (e, ep)))
        else {
            // The route's own path without an upgrade, or no route at all.
            return if table.routes.iter().any(|r| r.route.matches(&path)) {
                METRICS.reject(Rejection::BadRequest);
                plain_close(
                    400,
                    "this path speaks WebSocket: send an upgrade request (HTTP endpoints: {uri}/topics/{topic}, {uri}/info)\n",
                )
            } else {
                METRICS.reject(Rejection::NotFound);
                plain_close(404, "no route for this path\n")
            };
        };
        if !self.rate.lock().unwrap_or_else(|e| e.into_inner()).take() {
            METRICS.rate_limited.fetch_add(1, Ordering::Relaxed);
            let e = crate::error::GatewayError::Overloaded(format!(
                "rate limit exceeded ({} requests per second)",
                table.limits.max_requests_per_sec
            ));
            return crate::http::error(e.code(), &e.to_string());
        }
        METRICS.http_requests.fetch_add(1, Ordering::Relaxed);
        let route = call::Route {
            uri: Arc::from(entry.route.uri.as_str()),
            backend: entry.backend.clone(),
            auth: entry.auth_tx.borrow().clone(),
            limits: table.limits.clone(),
            end: entry.end.token().clone(),
            connection: self.kill.clone(),
            admit: {
                let (inner, ip, limits) =
                    (self.inner.clone(), self.peer.ip(), table.limits.clone());
                Arc::new(move || match inner.admit(ip, &limits) {
                    Ok(slot) => Some(Box::new(slot) as Box<dyn Send>),
                    Err(r) => {
                        METRICS.reject(r);
                        None
                    }
                })
            },
        };
        let groups = entry.groups.clone();
        drop(table);
        endpoints::serve(req, endpoint, &query, route, groups, self.peer).await
    }
}

type Response = hyper::Response<Body>;
