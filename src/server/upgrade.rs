//! The WebSocket upgrade: `decide` checks an upgrade request (route, Origin, credentials,
//! version, key) and picks the subprotocol and framing (`choose_protocol`); `WsConn` runs the
//! session once hyper has switched protocols.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{parse_query, Credentials, Identity, Refusal};
use crate::close::CloseReason;
use crate::framing::{self, Framing};
use crate::metrics::{Rejection, METRICS};
use crate::session::{self, SessionContext};

use super::{Inner, Response, RouteEntry, Table};

/// A WebSocket connection past its 101.
pub(super) struct WsConn {
    pub(super) peer: SocketAddr,
    pub(super) inner: Arc<Inner>,
    pub(super) shutdown: CancellationToken,
    pub(super) tracker: TaskTracker,
}

impl WsConn {
    pub(super) async fn run<S>(
        self,
        mut ws: WebSocketStream<S>,
        table: Arc<Table>,
        entry: Arc<RouteEntry>,
        identity: Identity,
        protocol: Option<String>,
        framing: Framing,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let WsConn {
            peer,
            inner,
            shutdown,
            tracker,
        } = self;
        let slot = match inner.admit(peer.ip(), &table.limits) {
            Ok(s) => s,
            Err(r) => {
                METRICS.reject(r);
                tracing::info!(%peer, reason = ?r, "connection limit reached: closing with 1013");
                let why = CloseReason::TooManyConnections;
                let close = CloseFrame {
                    code: why.code(),
                    reason: why.reason().into(),
                };
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    futures_util::SinkExt::send(&mut ws, Message::Close(Some(close))),
                )
                .await;
                return;
            }
        };
        METRICS.connections_total.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%peer, route = %entry.route.uri, identity = ?identity.id, ?protocol, "connection upgraded");
        let mut auth = entry.auth_tx.subscribe();
        // A reload between this connection's authentication and now: the session checks it again
        // against the newer rules at once.
        if !Arc::ptr_eq(&auth.borrow(), &entry.auth) {
            auth.mark_changed();
        }
        // `framing` was chosen with `protocol` in `choose_protocol`.
        let ctx = SessionContext {
            backend: entry.backend.clone(),
            limits: table.limits.clone(),
            identity: Arc::new(identity),
            route_end: entry.end.clone(),
            auth: Some(auth),
            route: Arc::from(entry.route.uri.as_str()),
            framing,
            window: entry.window.clone(),
        };
        drop(table);
        drop(entry);
        // A plain map, not an async block: the task holds the session's future once, not next to
        // the stream and context it was made from.
        let session = session::run(ws, ctx, shutdown);
        tracker.spawn(futures_util::FutureExt::map(session, move |()| {
            drop(slot);
            tracing::debug!(%peer, "connection closed");
        }));
    }
}

/// The 101 that completes an upgrade.
pub(super) fn switching_protocols(accept: &str, protocol: Option<&str>) -> Response {
    let mut r = hyper::Response::new(crate::http::full(bytes::Bytes::new()));
    *r.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        hyper::header::UPGRADE,
        hyper::header::HeaderValue::from_static("websocket"),
    );
    h.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(accept) {
        h.insert(hyper::header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(v) = protocol.and_then(|p| hyper::header::HeaderValue::from_str(p).ok()) {
        h.insert(hyper::header::SEC_WEBSOCKET_PROTOCOL, v);
    }
    r
}

/// The request target's path and its decoded query.
pub(super) fn split_target(uri: &hyper::Uri) -> (String, HashMap<String, String>) {
    (
        uri.path().to_string(),
        parse_query(uri.query().unwrap_or("")),
    )
}

/// Asks for a WebSocket (`Upgrade: websocket`): such a request is answered as an upgrade or
/// refused, never served as an HTTP endpoint.
pub(super) fn is_upgrade(headers: &hyper::HeaderMap) -> bool {
    has_token(header(headers, "upgrade"), "websocket")
}

pub(super) enum Decision {
    Upgrade {
        entry: Arc<RouteEntry>,
        accept: String,
        protocol: Option<String>,
        framing: Framing,
        identity: Identity,
    },
    Refuse {
        status: u16,
        extra: Option<(hyper::header::HeaderName, &'static str)>,
        body: &'static str,
        reason: Rejection,
    },
}

pub(super) fn header<'a>(headers: &'a hyper::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

pub(super) fn is_bearer(protocol: &str) -> bool {
    protocol
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("bearer."))
}

pub(super) fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// The subprotocol answered to the client's offer, and the framing the session speaks.
/// `pubsub.json` or `pubsub`, whichever the client lists first, chooses JSON text or binary
/// protobuf; without either, the session is binary and the first offer that is not a token is
/// echoed. A browser that offered subprotocols needs one back (it fails a connection that got
/// none), so browser clients offer `pubsub` or `pubsub.json` along with a token. A `bearer.`
/// entry is never echoed: response headers end up in logs and proxies' caches, and a token
/// there outlives the connection.
pub(super) fn choose_protocol(offered: &[&str]) -> (Option<String>, Framing) {
    let known = offered.iter().find_map(|p| {
        if p.eq_ignore_ascii_case(framing::JSON_PROTOCOL) {
            Some((p, Framing::Json))
        } else if p.eq_ignore_ascii_case("pubsub") {
            Some((p, Framing::Binary))
        } else {
            None
        }
    });
    // The client's own spelling goes back: clients compare the answer with what they offered.
    match known {
        Some((p, f)) => (Some(p.to_string()), f),
        None => (
            offered
                .iter()
                .find(|p| !is_bearer(p))
                .map(|p| p.to_string()),
            Framing::Binary,
        ),
    }
}

pub(super) fn decide<B>(
    req: &hyper::Request<B>,
    path: &str,
    query: &HashMap<String, String>,
    table: &Table,
) -> Decision {
    let refuse = |status, body, reason| Decision::Refuse {
        status,
        extra: None,
        body,
        reason,
    };
    let headers = req.headers();
    let Some(entry) = table.routes.iter().find(|r| r.route.matches(path)) else {
        return refuse(404, "no route for this path\n", Rejection::NotFound);
    };
    if !has_token(header(headers, "connection"), "upgrade") {
        return refuse(
            400,
            "this route speaks WebSocket only: send an upgrade request\n",
            Rejection::BadRequest,
        );
    }
    if req.method() != hyper::Method::GET {
        return refuse(
            400,
            "a WebSocket upgrade must be a GET request\n",
            Rejection::BadRequest,
        );
    }
    if header(headers, "sec-websocket-version") != Some("13") {
        return Decision::Refuse {
            status: 426,
            extra: Some((hyper::header::SEC_WEBSOCKET_VERSION, "13")),
            body: "unsupported WebSocket version: 13 is supported\n",
            reason: Rejection::BadRequest,
        };
    }
    let Some(key) = header(headers, "sec-websocket-key").filter(|k| !k.is_empty()) else {
        return refuse(400, "missing Sec-WebSocket-Key\n", Rejection::BadRequest);
    };
    if !entry.auth.origin_allowed(header(headers, "origin")) {
        return refuse(403, "origin not allowed\n", Rejection::ForbiddenOrigin);
    }
    let protocols: Vec<&str> = headers
        .get_all(hyper::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let lookup = |name: &str| header(headers, name);
    let identity = match entry.auth.authenticate(&Credentials {
        header: &lookup,
        query,
        protocols: &protocols,
    }) {
        Ok(id) => id,
        Err(Refusal::Unauthorized) => {
            return refuse(401, "invalid credentials\n", Rejection::Unauthorized)
        }
        Err(Refusal::Forbidden) => return refuse(403, "forbidden\n", Rejection::ForbiddenOrigin),
    };
    let (protocol, framing) = choose_protocol(&protocols);
    Decision::Upgrade {
        entry: entry.clone(),
        accept: derive_accept_key(key.as_bytes()),
        protocol,
        framing,
        identity,
    }
}
