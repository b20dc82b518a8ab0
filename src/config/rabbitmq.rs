//! The RabbitMQ scheme's upstream section (`upstream.rabbitmq`) and credentials
//! (`plugins.rabbitmq-auth`). Names follow AMQP 0-9-1 and KrakenD's AMQP backend, so a user of
//! either recognizes them.

use super::*;

/// `upstream.rabbitmq`: the exchange a route publishes to and binds its queues on, and how group
/// queues are declared. Checked while parsing, so errors name the key and its line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RabbitOptionsRaw")]
pub struct RabbitOptions {
    /// The virtual host (`/` by default).
    pub vhost: String,
    /// The topic exchange: publishes go to it with the topic as routing key, subscriptions bind
    /// their queues to it with the topic as binding key.
    pub exchange: String,
    /// Declare the exchange (type topic) when it does not exist; false: it must exist.
    pub declare_exchange: bool,
    /// Exchange and group queues survive a broker restart; published messages are persistent.
    pub durable: bool,
    /// The exchange is deleted by the broker once its last binding goes (when the gateway
    /// declares it).
    pub auto_delete: bool,
    /// The type of group queues (`x-queue-type`).
    pub queue_type: QueueType,
    /// Unacknowledged messages per group member when the subscribe sets no `max_in_flight`.
    pub prefetch_count: u16,
    /// Where group queues send rejected (nacked) and over-delivered messages.
    pub dead_letter_exchange: Option<String>,
    /// Quorum queues: `x-delivery-limit`. A message returned to the queue (nacked, or held by
    /// a consumer that left) more than this many times is dead-lettered, or dropped without a
    /// dead-letter exchange: at most `max_deliveries + 1` deliveries.
    pub max_deliveries: Option<u32>,
    /// Publishes are mandatory: a message no queue is bound for answers 404.
    pub mandatory: bool,
    /// Group queue names are `{queue_prefix}{group}:{topic}`; default `gw{uri}:`.
    pub queue_prefix: Option<String>,
    /// AMQP heartbeat in seconds: how soon a silently dead connection is noticed (0 = off).
    pub heartbeat_secs: u16,
    /// `queue_type: stream`: the route's stream queue, bound to the exchange with `#`; default
    /// `{exchange}.stream`.
    pub stream: Option<String>,
    /// `queue_type: stream`: the stream's retention in bytes (`x-max-length-bytes`).
    pub stream_max_bytes: Option<u64>,
}

impl RabbitOptions {
    /// The stream queue of a stream route.
    pub fn stream_name(&self) -> Option<String> {
        (self.queue_type == QueueType::Stream).then(|| {
            self.stream
                .clone()
                .unwrap_or_else(|| format!("{}.stream", self.exchange))
        })
    }
}

/// The queue type of group queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    Classic,
    Quorum,
    /// One stream queue per route: a log with offsets, read from any start position.
    Stream,
}

impl QueueType {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
            QueueType::Stream => "stream",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RabbitOptionsRaw {
    #[serde(default = "default_vhost")]
    vhost: String,
    exchange: String,
    #[serde(default = "yes")]
    declare_exchange: bool,
    #[serde(default = "yes")]
    durable: bool,
    #[serde(default)]
    auto_delete: bool,
    #[serde(default)]
    queue_type: Option<String>,
    #[serde(default = "default_prefetch")]
    prefetch_count: u16,
    #[serde(default)]
    dead_letter_exchange: Option<String>,
    #[serde(default)]
    max_deliveries: Option<u32>,
    #[serde(default)]
    mandatory: bool,
    #[serde(default)]
    queue_prefix: Option<String>,
    #[serde(default = "default_heartbeat")]
    heartbeat_secs: u16,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    stream_max_bytes: Option<u64>,
}

fn default_vhost() -> String {
    "/".into()
}
fn default_prefetch() -> u16 {
    100
}
fn default_heartbeat() -> u16 {
    10
}

/// AMQP short strings: at most 255 bytes; the gateway also refuses control characters.
fn short_name(key: &str, v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 255 || v.chars().any(char::is_control) {
        return Err(format!(
            "rabbitmq.{key} `{}` must be 1 to 255 bytes without control characters",
            v.escape_debug()
        ));
    }
    Ok(())
}

impl TryFrom<RabbitOptionsRaw> for RabbitOptions {
    type Error = String;
    fn try_from(r: RabbitOptionsRaw) -> Result<Self, String> {
        short_name("vhost", &r.vhost)?;
        short_name("exchange", &r.exchange)?;
        if r.exchange.starts_with("amq.") && r.declare_exchange {
            return Err(
                "rabbitmq.exchange: `amq.*` exchanges are the broker's; set declare_exchange: false"
                    .into(),
            );
        }
        if let Some(d) = &r.dead_letter_exchange {
            short_name("dead_letter_exchange", d)?;
        }
        let queue_type = match r.queue_type.as_deref() {
            None | Some("classic") => QueueType::Classic,
            Some("quorum") => QueueType::Quorum,
            Some("stream") => QueueType::Stream,
            Some(other) => {
                return Err(format!(
                    "rabbitmq.queue_type `{other}`: one of classic, quorum, stream"
                ))
            }
        };
        if queue_type == QueueType::Stream {
            if !r.durable {
                return Err("rabbitmq.queue_type stream needs durable: true".into());
            }
            if r.dead_letter_exchange.is_some() {
                return Err("rabbitmq.dead_letter_exchange does not apply to stream queues (nothing is rejected from a log)".into());
            }
        } else if r.stream.is_some() || r.stream_max_bytes.is_some() {
            return Err("rabbitmq.stream and stream_max_bytes need queue_type: stream".into());
        }
        if let Some(name) = &r.stream {
            short_name("stream", name)?;
            if name.starts_with("amq.") {
                return Err("rabbitmq.stream: `amq.` names are the broker's".into());
            }
        }
        if r.max_deliveries.is_some() && queue_type != QueueType::Quorum {
            return Err(
                "rabbitmq.max_deliveries needs queue_type: quorum (classic queues do not count deliveries)"
                    .into(),
            );
        }
        if r.max_deliveries == Some(0) {
            return Err("rabbitmq.max_deliveries must be at least 1".into());
        }
        if queue_type == QueueType::Quorum && !r.durable {
            return Err("rabbitmq.queue_type quorum needs durable: true".into());
        }
        if r.prefetch_count == 0 {
            return Err("rabbitmq.prefetch_count must be at least 1".into());
        }
        if let Some(p) = &r.queue_prefix {
            if p.len() > 128 || p.chars().any(char::is_control) || p.starts_with("amq.") {
                return Err(
                    "rabbitmq.queue_prefix: at most 128 bytes, no control characters, not `amq.`"
                        .into(),
                );
            }
        }
        Ok(RabbitOptions {
            vhost: r.vhost,
            exchange: r.exchange,
            declare_exchange: r.declare_exchange,
            durable: r.durable,
            auto_delete: r.auto_delete,
            queue_type,
            prefetch_count: r.prefetch_count,
            dead_letter_exchange: r.dead_letter_exchange,
            max_deliveries: r.max_deliveries,
            mandatory: r.mandatory,
            queue_prefix: r.queue_prefix,
            heartbeat_secs: r.heartbeat_secs,
            stream: r.stream,
            stream_max_bytes: r.stream_max_bytes,
        })
    }
}

/// `plugins.rabbitmq-auth`: the user the gateway logs in as (PLAIN). `Debug` never shows the
/// password; without this plugin the gateway logs in as guest/guest.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RabbitAuthRaw")]
pub struct RabbitAuth {
    pub username: String,
    pub password: Secret,
}

impl fmt::Debug for RabbitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RabbitAuthRaw {
    username: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_env: Option<String>,
}

impl TryFrom<RabbitAuthRaw> for RabbitAuth {
    type Error = String;
    fn try_from(r: RabbitAuthRaw) -> Result<Self, String> {
        let password = match (r.password, r.password_env) {
            (Some(p), None) => Secret::Inline(p),
            (None, Some(e)) => Secret::Env(e),
            _ => return Err("rabbitmq-auth: exactly one of password and password_env".into()),
        };
        if r.username.is_empty() {
            return Err("rabbitmq-auth.username must not be empty".into());
        }
        Ok(RabbitAuth {
            username: r.username,
            password,
        })
    }
}

/// The scheme's arm of `Config::validate`: what one field alone cannot check.
impl SchemeOptions for RabbitOptions {
    fn rules(&self) -> SchemeRules {
        SchemeRules {
            nodes: NodeCount::AtLeastOne,
            tls: true,
            unverified_tls: false,
            credentials: Some("rabbitmq-auth"),
        }
    }
}
