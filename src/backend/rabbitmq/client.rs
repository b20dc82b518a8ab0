//! The one AMQP connection of an upstream, shared by every client of the route, and its
//! recovery. A supervisor task (started on first use, so building a route never blocks) keeps
//! the connection up: when it drops, it reconnects with backoff (50 ms doubling to 2 s) across the
//! nodes, logging only state changes. Requests made while it is down answer 503 within the
//! route's connect timeout; subscriptions wait for the next connection and set themselves up
//! again on it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::ShortString;
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{RabbitOptions, Route, UpstreamTimeout};
use crate::error::{GatewayError, Result};

/// The connection as subscriptions see it: `Some` while connected, with a generation that
/// changes on every reconnection.
pub(super) type Current = Option<(u64, Arc<Connection>)>;

pub(super) struct Conn {
    /// Built with the credentials; never logged (its `Debug` shows the password).
    uris: Vec<AMQPUri>,
    tls: OwnedTLSConfig,
    pub timeouts: UpstreamTimeout,
    pub opts: RabbitOptions,
    /// The route's delivery policy (group queues' delivery limit and dead letters, the nack
    /// backoff).
    pub delivery: crate::config::DeliveryPolicy,
    pub route: String,
    state: watch::Sender<Current>,
    started: std::sync::Once,
    stop: CancellationToken,
}

impl Conn {
    pub fn new(route: &Route, opts: RabbitOptions) -> std::result::Result<Conn, String> {
        let up = &route.upstream;
        let (username, password) = match &route.plugins.rabbitmq_auth {
            Some(a) => (
                a.username.clone(),
                a.password
                    .value()
                    .map_err(|e| format!("plugins.rabbitmq-auth: {e}"))?,
            ),
            None => ("guest".into(), "guest".into()),
        };
        let mut tls = OwnedTLSConfig::default();
        if let Some(t) = &up.tls {
            if let Some(ca) = &t.ca_file {
                tls.cert_chain = Some(
                    std::fs::read_to_string(ca)
                        .map_err(|e| format!("upstream.tls.ca_file {}: {e}", ca.display()))?,
                );
            }
            if let (Some(cert), Some(key)) = (&t.client_cert, &t.client_key) {
                let read = |p: &std::path::Path| {
                    std::fs::read(p).map_err(|e| format!("upstream.tls {}: {e}", p.display()))
                };
                tls.identity = Some(OwnedIdentity::PKCS8 {
                    pem: read(cert)?,
                    key: read(key)?,
                });
            }
        }
        let mut uris = Vec::new();
        for node in &up.nodes.0 {
            let (host, port) = node
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| format!("upstream.nodes: `{node}` is not host:port"))?;
            uris.push(AMQPUri {
                scheme: if up.tls.is_some() {
                    AMQPScheme::AMQPS
                } else {
                    AMQPScheme::AMQP
                },
                authority: AMQPAuthority {
                    userinfo: AMQPUserInfo {
                        username: username.clone(),
                        password: password.clone(),
                    },
                    host,
                    port,
                },
                vhost: opts.vhost.clone(),
                query: AMQPQueryString {
                    heartbeat: Some(opts.heartbeat_secs),
                    connection_timeout: Some(up.timeout.connect().as_millis() as u64),
                    ..Default::default()
                },
            });
        }
        Ok(Conn {
            uris,
            tls,
            timeouts: up.timeout.clone(),
            opts,
            delivery: route.delivery.clone(),
            route: route.uri.clone(),
            state: watch::Sender::new(None),
            started: std::sync::Once::new(),
            stop: CancellationToken::new(),
        })
    }

    fn start(self: &Arc<Self>) {
        self.started.call_once(|| {
            // The supervisor holds only a weak reference: dropping the route stops it.
            tokio::spawn(supervise(Arc::downgrade(self), self.stop.clone()));
        });
    }

    /// Changes whenever the connection goes down or comes back.
    pub fn watch(self: &Arc<Self>) -> watch::Receiver<Current> {
        self.start();
        self.state.subscribe()
    }

    /// The shared connection once it is up (waiting up to the connect timeout), else 503.
    pub async fn connection(self: &Arc<Self>) -> Result<(u64, Arc<Connection>)> {
        let mut rx = self.watch();
        let wait = async {
            rx.wait_for(|c| c.as_ref().is_some_and(|(_, c)| c.status().connected()))
                .await
                .ok()
                .and_then(|c| c.clone())
        };
        match tokio::time::timeout(self.timeouts.connect(), wait).await {
            Ok(Some(c)) => Ok(c),
            _ => Err(self.unreachable()),
        }
    }

    /// A new channel on the shared connection.
    pub async fn channel(self: &Arc<Self>) -> Result<(u64, Channel)> {
        let (generation, conn) = self.connection().await?;
        let ch = within(self.timeouts.read(), "opening a channel", async {
            conn.create_channel().await.map_err(amqp_error)
        })
        .await?;
        Ok((generation, ch))
    }

    fn unreachable(&self) -> GatewayError {
        GatewayError::Unavailable(format!("RabbitMQ unreachable ({})", self.describe()))
    }

    fn describe(&self) -> String {
        self.uris
            .iter()
            .map(|u| format!("{}:{}", u.authority.host, u.authority.port))
            .collect::<Vec<_>>()
            .join(", ")
    }

    async fn connect_once(&self, uri: &AMQPUri) -> std::result::Result<Connection, String> {
        let props = ConnectionProperties::default()
            .with_connection_name(format!("pubsub-gateway {}", self.route).into());
        let runtime = lapin::runtime::default_runtime().map_err(|e| e.to_string())?;
        let connect =
            Connection::connect_uri_with_config(uri.clone(), props, self.tls.clone(), runtime);
        match tokio::time::timeout(self.timeouts.connect(), connect).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("connect timed out".into()),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Keeps the upstream's connection up for as long as the route lives.
async fn supervise(conn: std::sync::Weak<Conn>, stop: CancellationToken) {
    let mut generation = 0u64;
    let mut failures = 0u32;
    let mut was_up = true;
    loop {
        let Some(c) = conn.upgrade() else { return };
        let mut last_error = String::new();
        let mut connected = None;
        for uri in &c.uris {
            match c.connect_once(uri).await {
                Ok(conn) => {
                    connected = Some(conn);
                    break;
                }
                Err(e) => last_error = e,
            }
        }
        let Some(amqp) = connected else {
            if was_up {
                tracing::warn!(route = %c.route, nodes = %c.describe(), error = %last_error, "RabbitMQ unreachable; retrying");
                was_up = false;
            }
            drop(c);
            failures = failures.saturating_add(1);
            let delay = Duration::from_millis(50u64 << failures.min(5)).min(Duration::from_secs(2));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => continue,
            }
        };
        failures = 0;
        generation += 1;
        tracing::info!(route = %c.route, generation, "RabbitMQ connected");
        let amqp = Arc::new(amqp);
        let mut events = amqp.events_listener();
        c.state.send_replace(Some((generation, amqp.clone())));
        drop(c);
        // Until the connection fails: an error event, or a status that says so.
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    let _ = amqp.close(200, ShortString::from("route removed")).await;
                    return;
                }
                ev = events.next() => match ev {
                    Some(lapin::Event::Error(_)) | None => break,
                    Some(_) => {}
                },
                _ = tick.tick() => {
                    if !amqp.status().connected() {
                        break;
                    }
                }
            }
        }
        let Some(c) = conn.upgrade() else { return };
        tracing::warn!(route = %c.route, "RabbitMQ connection lost; reconnecting");
        c.state.send_replace(None);
        was_up = false;
        // Subscriptions are told (above) before the old connection is dropped.
        drop(amqp);
    }
}

/// A lapin error as the gateway's: broker refusals keep their AMQP reply text.
pub(super) fn amqp_error(e: lapin::Error) -> GatewayError {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    match e.kind() {
        lapin::ErrorKind::ProtocolError(p) => {
            let text = format!("RabbitMQ: {}", p.get_message());
            match p.kind() {
                AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND) => {
                    GatewayError::UnknownTopicOrPartition.context(text)
                }
                AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED) => GatewayError::Forbidden(text),
                AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)
                | AMQPErrorKind::Soft(AMQPSoftError::RESOURCELOCKED) => {
                    GatewayError::Conflict(text)
                }
                _ => GatewayError::Upstream(text),
            }
        }
        lapin::ErrorKind::ChannelsLimitReached => GatewayError::Overloaded(
            "the RabbitMQ connection of this route has no channel left (channel_max): too many group or stream subscriptions".into(),
        ),
        lapin::ErrorKind::InvalidChannelState(..)
        | lapin::ErrorKind::InvalidConnectionState(_)
        | lapin::ErrorKind::IOError(_)
        | lapin::ErrorKind::MissingHeartbeatError => {
            GatewayError::Unavailable(format!("RabbitMQ connection lost: {e}"))
        }
        _ => GatewayError::Upstream(format!("RabbitMQ: {e}")),
    }
}

/// A bounded wait on the broker: the route's timeout answers 504.
pub(super) async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    crate::backend::within("RabbitMQ", limit, what, fut).await
}

/// An AMQP short string from client input: over 255 bytes answers 400 (lapin would panic).
pub(super) fn short(what: &str, s: &str) -> Result<ShortString> {
    ShortString::try_new(s).map_err(|_| {
        GatewayError::BadRequest(format!(
            "{what} is {} bytes; AMQP allows at most 255",
            s.len()
        ))
    })
}
