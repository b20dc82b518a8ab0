//! The one NATS connection of an upstream, shared by every client of the route: made on first
//! use (so building a route never blocks), reconnecting by itself for as long as the route
//! lives. Requests made while it is down answer 503 within the route's connect timeout.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, HeaderMap, HeaderName, HeaderValue, ServerAddr};
use tokio::sync::OnceCell;

use crate::backend::Header;
use crate::config::{NatsAuth, NatsAuthMethod, Route, UpstreamTimeout, UpstreamTls};
use crate::error::{GatewayError, Result};

pub(super) struct Conn {
    servers: Vec<ServerAddr>,
    tls: Option<UpstreamTls>,
    /// Read from the environment when the route was built: a missing variable fails the
    /// route's build, not its first client.
    auth: Option<Auth>,
    pub timeouts: UpstreamTimeout,
    client: OnceCell<Client>,
    route: String,
    /// Bumped on every (re)connection: subscriptions then renew their JetStream consumers,
    /// which the outage may have cost (a restarted server forgets pull requests).
    connections: Arc<tokio::sync::watch::Sender<u64>>,
}

enum Auth {
    UserPassword(String, String),
    Token(String),
    Nkey(String),
    CredsFile(std::path::PathBuf),
}

impl Conn {
    pub fn new(route: &Route) -> std::result::Result<Conn, String> {
        let up = &route.upstream;
        let scheme = if up.tls.is_some() { "tls" } else { "nats" };
        let servers = up
            .nodes
            .0
            .iter()
            .map(|n| {
                ServerAddr::from_str(&format!("{scheme}://{n}"))
                    .map_err(|e| format!("upstream.nodes: `{n}` is not a NATS server address: {e}"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let auth = match route.plugins.nats_auth.as_ref() {
            None => None,
            Some(NatsAuth { method }) => Some(match method {
                NatsAuthMethod::UserPassword { user, password } => Auth::UserPassword(
                    user.clone(),
                    password
                        .value()
                        .map_err(|e| format!("plugins.nats-auth: {e}"))?,
                ),
                NatsAuthMethod::Token(t) => {
                    Auth::Token(t.value().map_err(|e| format!("plugins.nats-auth: {e}"))?)
                }
                NatsAuthMethod::NkeySeedFile(p) => Auth::Nkey(
                    std::fs::read_to_string(p)
                        .map_err(|e| {
                            format!("plugins.nats-auth.nkey_seed_file {}: {e}", p.display())
                        })?
                        .trim()
                        .to_owned(),
                ),
                NatsAuthMethod::CredsFile(p) => Auth::CredsFile(p.clone()),
            }),
        };
        Ok(Conn {
            servers,
            tls: up.tls.clone(),
            auth,
            timeouts: up.timeout.clone(),
            client: OnceCell::new(),
            route: route.uri.clone(),
            connections: Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }

    /// The shared client, once it is connected (waiting up to the connect timeout).
    pub async fn client(&self) -> Result<&Client> {
        let client = self.client.get_or_try_init(|| self.connect()).await?;
        let deadline = tokio::time::Instant::now() + self.timeouts.connect();
        while client.connection_state() != async_nats::connection::State::Connected {
            if tokio::time::Instant::now() >= deadline {
                return Err(GatewayError::Unavailable(format!(
                    "NATS server unreachable ({})",
                    self.describe()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(client)
    }

    /// Returns once the server has processed everything this client sent before (a request
    /// nobody answers comes back "no responders" after the commands ahead of it). async-nats'
    /// `flush` only writes the socket; a subscription must be in place at the server before
    /// the subscribe reply, or a message published right after it could be missed.
    pub async fn round_trip(&self, client: &Client) -> Result<()> {
        match client
            .request(client.new_inbox(), bytes::Bytes::new())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == async_nats::client::RequestErrorKind::NoResponders => Ok(()),
            Err(e) if e.kind() == async_nats::client::RequestErrorKind::TimedOut => Err(
                GatewayError::Timeout(format!("NATS server did not answer in time: {e}")),
            ),
            Err(e) => Err(GatewayError::Unavailable(format!(
                "NATS round trip failed: {e}"
            ))),
        }
    }

    /// Changes on every reconnection.
    pub fn connections(&self) -> tokio::sync::watch::Receiver<u64> {
        self.connections.subscribe()
    }

    fn describe(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("{}:{}", s.host(), s.port()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    async fn connect(&self) -> Result<Client> {
        let route = self.route.clone();
        let connections = self.connections.clone();
        let mut opts = ConnectOptions::new()
            .name("pubsub-gateway")
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(self.timeouts.connect())
            .request_timeout(Some(self.timeouts.read()))
            // Back soon after an outage: 50 ms, doubling, at most 2 s between attempts.
            .reconnect_delay_callback(|n| {
                Duration::from_millis(50u64 << n.min(5)).min(Duration::from_secs(2))
            })
            .event_callback(move |event| {
                let route = route.clone();
                let connections = connections.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            connections.send_modify(|n| *n += 1);
                            tracing::info!(route = %route, "NATS connected")
                        }
                        async_nats::Event::Disconnected => {
                            tracing::warn!(route = %route, "NATS disconnected; reconnecting")
                        }
                        other => tracing::debug!(route = %route, event = %other, "NATS event"),
                    }
                }
            });
        match &self.auth {
            None => {}
            Some(Auth::UserPassword(u, p)) => opts = opts.user_and_password(u.clone(), p.clone()),
            Some(Auth::Token(t)) => opts = opts.token(t.clone()),
            Some(Auth::Nkey(seed)) => opts = opts.nkey(seed.clone()),
            Some(Auth::CredsFile(p)) => {
                opts = opts.credentials_file(p).await.map_err(|e| {
                    GatewayError::Upstream(format!(
                        "cannot read NATS credentials file {}: {e}",
                        p.display()
                    ))
                })?
            }
        }
        if let Some(tls) = &self.tls {
            opts = opts.require_tls(true);
            if let Some(ca) = &tls.ca_file {
                opts = opts.add_root_certificates(ca.clone());
            }
            if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
                opts = opts.add_client_certificate(cert.clone(), key.clone());
            }
        }
        opts.connect(self.servers.clone())
            .await
            .map_err(|e| GatewayError::Unavailable(format!("NATS connect failed: {e}")))
    }
}

/// Gateway headers to NATS headers: repeated keys become one multi-valued header, in order.
pub(super) fn to_nats_headers(headers: &[Header]) -> Result<Option<HeaderMap>> {
    if headers.is_empty() {
        return Ok(None);
    }
    let mut map = HeaderMap::new();
    for h in headers {
        let name = HeaderName::from_str(&h.key)
            .ok()
            .filter(|_| !h.key.is_empty());
        let Some(name) = name else {
            return Err(GatewayError::BadRequest(format!(
                "invalid NATS header name `{}`: printable ASCII without `:` or spaces",
                h.key.escape_debug()
            )));
        };
        let value = std::str::from_utf8(&h.value)
            .ok()
            .filter(|v| !v.contains(['\r', '\n']))
            .and_then(|v| HeaderValue::from_str(v).ok());
        let Some(value) = value else {
            return Err(GatewayError::BadRequest(format!(
                "header `{}`: NATS header values are UTF-8 text without line breaks",
                h.key
            )));
        };
        map.append(name, value);
    }
    Ok(Some(map))
}

/// NATS headers to gateway headers: one `Header` per value.
pub(super) fn from_nats_headers(headers: Option<&HeaderMap>) -> Vec<Header> {
    let Some(map) = headers else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, values) in map.iter() {
        for v in values {
            out.push(Header {
                key: name.to_string(),
                value: bytes::Bytes::copy_from_slice(v.as_str().as_bytes()),
            });
        }
    }
    out
}

/// Bytes a message takes against the server's `max_payload` (headers count too).
pub(super) fn check_payload(client: &Client, value: &[u8], headers: &[Header]) -> Result<()> {
    let max = client.server_info().max_payload;
    let size = value.len()
        + headers
            .iter()
            .map(|h| h.key.len() + h.value.len() + 4)
            .sum::<usize>();
    if max > 0 && size > max {
        return Err(GatewayError::BadRequest(format!(
            "message of {size} bytes is over the NATS server's max_payload of {max}"
        )));
    }
    Ok(())
}

/// A bounded wait on the upstream: the route's timeout answers 504.
pub(super) async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    crate::backend::within("NATS", limit, what, fut).await
}

/// Maps an async-nats error to the gateway's codes by what it says (its kinds differ per call).
pub(super) fn js_error(what: &str, e: impl std::fmt::Display) -> GatewayError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("timed out") || lower.contains("timeout") {
        GatewayError::Timeout(format!("{what}: {text}"))
    } else if lower.contains("no responders") || lower.contains("does not exist") {
        GatewayError::Unavailable(format!("{what}: {text}"))
    } else {
        GatewayError::Upstream(format!("{what}: {text}"))
    }
}
