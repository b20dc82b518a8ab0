//! The connections of one Redis upstream, shared by every client of the route: one multiplexed
//! command connection (a `ConnectionManager`, reconnecting by itself), made on first use, plus
//! the dedicated connections the pub/sub hub and the stream reader own. Requests made while the
//! server is down answer 503; the state change is logged once, not on every retry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection, PubSub};
use redis::{AsyncConnectionConfig, Client, FromRedisValue, RedisError};

use crate::config::{RedisOptions, Route, UpstreamTimeout};
use crate::error::{GatewayError, Result};

pub(super) struct Conn {
    client: Client,
    pub timeouts: UpstreamTimeout,
    pub opts: RedisOptions,
    /// The route's delivery policy (stream groups: max_deliveries and the nack backoff).
    pub delivery: crate::config::DeliveryPolicy,
    manager: tokio::sync::Mutex<Option<ConnectionManager>>,
    /// When the last attempt to make the command connection failed: requests within a second
    /// of it answer 503 at once instead of queueing for their own attempt.
    failed_at: std::sync::Mutex<Option<tokio::time::Instant>>,
    route: String,
    server: String,
    /// False while the server is known to be unreachable (for logging state changes only).
    up: AtomicBool,
}

impl Conn {
    pub fn new(route: &Route, opts: RedisOptions) -> std::result::Result<Conn, String> {
        let up = &route.upstream;
        let server = up
            .nodes
            .0
            .first()
            .cloned()
            .ok_or("upstream.nodes: a redis upstream needs one server")?;
        let scheme = if up.tls.is_some() { "rediss" } else { "redis" };
        let info = redis::IntoConnectionInfo::into_connection_info(format!("{scheme}://{server}"))
            .map_err(|e| format!("upstream.nodes: `{server}` is not a Redis address: {e}"))?;
        let mut settings = redis::RedisConnectionInfo::default().set_db(opts.database);
        if let Some(auth) = &route.plugins.redis_auth {
            let password = auth
                .password
                .value()
                .map_err(|e| format!("plugins.redis-auth: {e}"))?;
            settings = settings.set_password(password);
            if let Some(user) = &auth.username {
                settings = settings.set_username(user);
            }
        }
        let info = info.set_redis_settings(settings);
        let client = match &up.tls {
            None => Client::open(info),
            Some(tls) => {
                let read = |p: &std::path::PathBuf, what: &str| {
                    std::fs::read(p)
                        .map_err(|e| format!("upstream.tls.{what} {}: {e}", p.display()))
                };
                let root_cert = match &tls.ca_file {
                    Some(p) => Some(read(p, "ca_file")?),
                    None => None,
                };
                let client_tls = match (&tls.client_cert, &tls.client_key) {
                    (Some(c), Some(k)) => Some(redis::ClientTlsConfig {
                        client_cert: read(c, "client_cert")?,
                        client_key: read(k, "client_key")?,
                    }),
                    _ => None,
                };
                Client::build_with_tls(
                    info,
                    redis::TlsCertificates {
                        client_tls,
                        root_cert,
                    },
                )
            }
        }
        .map_err(|e| format!("upstream: cannot configure the Redis client: {e}"))?;
        Ok(Conn {
            client,
            timeouts: up.timeout.clone(),
            opts,
            delivery: route.delivery.clone(),
            manager: tokio::sync::Mutex::new(None),
            failed_at: std::sync::Mutex::new(None),
            route: route.uri.clone(),
            server,
            up: AtomicBool::new(true),
        })
    }

    /// Records whether the server answers, logging only when that changes.
    pub fn mark(&self, reachable: bool, why: &dyn std::fmt::Display) {
        if self.up.swap(reachable, Ordering::AcqRel) != reachable {
            if reachable {
                tracing::info!(route = %self.route, server = %self.server, "Redis reachable again");
            } else {
                tracing::warn!(route = %self.route, server = %self.server, error = %why, "Redis unreachable; retrying");
            }
        }
    }

    fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// The shared command connection, made on first use within the connect timeout.
    async fn manager(&self) -> Result<ConnectionManager> {
        let mut slot = self.manager.lock().await;
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let recent = crate::backend::lock(&self.failed_at)
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1));
        if recent {
            return Err(self.unavailable(&"the last connection attempt failed"));
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeouts.connect()))
            .set_response_timeout(Some(self.timeouts.read()))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let made = tokio::time::timeout(
            self.timeouts.connect() * 2,
            self.client.get_connection_manager_with_config(config),
        )
        .await;
        match made {
            Ok(Ok(m)) => {
                self.mark(true, &"connected");
                *slot = Some(m.clone());
                Ok(m)
            }
            Ok(Err(e)) => {
                self.failed();
                self.mark(false, &e);
                Err(self.unavailable(&e))
            }
            Err(_) => {
                self.failed();
                self.mark(false, &"connect timed out");
                Err(self.unavailable(&"connect timed out"))
            }
        }
    }

    fn failed(&self) {
        *crate::backend::lock(&self.failed_at) = Some(tokio::time::Instant::now());
    }

    fn unavailable(&self, why: &dyn std::fmt::Display) -> GatewayError {
        GatewayError::Unavailable(format!("Redis server {} unreachable: {why}", self.server))
    }

    /// Maps a Redis error to the gateway's: transport trouble is 503 / 504, a refused command
    /// 400 where the client's input caused it, anything else the server said 502.
    pub fn error(&self, e: &RedisError) -> GatewayError {
        if e.is_timeout() {
            return if self.is_up() {
                GatewayError::Timeout(format!("Redis did not answer in time: {e}"))
            } else {
                self.unavailable(e)
            };
        }
        if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
            return self.unavailable(e);
        }
        // A pipeline's failure names the failing command's code only in its text.
        let text = e.to_string();
        let code = e.code().or_else(|| {
            ["WRONGTYPE", "NOPERM"]
                .into_iter()
                .find(|c| text.contains(c))
        });
        match code {
            Some("WRONGTYPE") => {
                GatewayError::BadRequest("the key holds another Redis type, not a stream".into())
            }
            Some("NOPERM") => GatewayError::Forbidden(format!("Redis refused the command: {e}")),
            _ => GatewayError::Upstream(format!("Redis error: {e}")),
        }
    }

    /// Runs one command on the shared connection, within the route's read timeout.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        let mut m = self.manager().await?;
        self.settle(tokio::time::timeout(self.timeouts.read(), cmd.query_async::<T>(&mut m)).await)
    }

    /// Runs a pipeline on the shared connection, within the route's read timeout.
    pub async fn query_pipe<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T> {
        let mut m = self.manager().await?;
        self.settle(tokio::time::timeout(self.timeouts.read(), pipe.query_async::<T>(&mut m)).await)
    }

    /// A command's outcome as the gateway's, noting whether the server answered.
    pub fn settle<T>(
        &self,
        r: std::result::Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T> {
        match r {
            Ok(Ok(v)) => {
                self.mark(true, &"answered");
                Ok(v)
            }
            Ok(Err(e)) => {
                let transport = e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout();
                if transport {
                    self.mark(false, &e);
                }
                Err(self.error(&e))
            }
            Err(_) => Err(if self.is_up() {
                GatewayError::Timeout(format!(
                    "Redis did not answer within {} ms",
                    self.timeouts.read().as_millis()
                ))
            } else {
                self.unavailable(&"no answer")
            }),
        }
    }

    /// A connection of its own, for blocking reads (XREAD BLOCK would stall the shared one).
    pub async fn dedicated(&self, block: Duration) -> Result<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeouts.connect()))
            .set_response_timeout(Some(block + self.timeouts.read()));
        match tokio::time::timeout(
            self.timeouts.connect() * 2,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => {
                self.mark(false, &e);
                Err(self.unavailable(&e))
            }
            Err(_) => Err(self.unavailable(&"connect timed out")),
        }
    }

    /// The pub/sub connection (RESP2 subscriber mode).
    pub async fn pubsub(&self) -> Result<PubSub> {
        match tokio::time::timeout(self.timeouts.connect(), self.client.get_async_pubsub()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => {
                self.mark(false, &e);
                Err(self.unavailable(&e))
            }
            Err(_) => Err(self.unavailable(&"connect timed out")),
        }
    }

    /// Whether the server answers PING now.
    pub async fn ping(&self) -> Result<()> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }
}

/// The bytes of a string reply, whichever RESP type carried it.
pub(super) fn bulk(v: &redis::Value) -> Option<&[u8]> {
    match v {
        redis::Value::BulkString(b) => Some(b),
        redis::Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}
