//! `server.limits`: what one connection and the whole server may use.

use super::*;

/// Per-connection limits. Every one bounds memory or time a single client can take.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest WebSocket frame or message accepted; past it the connection closes with 1009.
    pub max_frame_bytes: usize,
    /// Frames queued for one connection's writer (replies and pushes). When full, reading
    /// requests and push delivery wait: the slow-consumer policy is backpressure, never an
    /// unbounded queue.
    pub outbound_queue: usize,
    /// Bytes of frames queued for one connection's writer; the same backpressure applies.
    pub outbound_queue_bytes: usize,
    /// Requests of one connection being handled at once; past it requests answer 429.
    pub max_inflight_requests: usize,
    pub max_subscriptions: usize,
    /// Seconds without any frame from the client (pongs count) before it is closed with 1001.
    pub idle_timeout_secs: u64,
    /// Seconds between WebSocket pings sent to keep the connection alive.
    pub ping_interval_secs: u64,
    /// Seconds a connection has from its TCP accept to the end of the WebSocket upgrade (TLS
    /// handshake, request head, 101 answer) all together.
    pub handshake_timeout_secs: u64,
    /// Milliseconds a client has for its TLS handshake and, separately, for sending its whole
    /// HTTP request head. Short, so that idle or trickling sockets give their file descriptor
    /// back quickly instead of holding it for the whole handshake timeout.
    pub request_head_timeout_ms: u64,
    /// Connections accepted but not yet upgraded (or refused), all routes together. Past it
    /// the oldest one that has sent nothing yet is closed to make room (silent sockets cannot
    /// keep real clients out), or, when every one has spoken, the new socket is refused. Bounds
    /// the descriptors that sockets which never send a request can hold.
    pub max_handshakes: usize,
    /// Handshakes in progress (accepted, not yet upgraded) from one client IP address; past it
    /// new sockets from that address are refused (an HTTP 503 with `Retry-After` once their
    /// request head is read). Keeps one address from taking the server's `max_handshakes`.
    pub max_handshakes_per_ip: usize,
    pub fetch_max_messages: usize,
    pub fetch_max_bytes: usize,
    /// Cap on `CmdKafkaFetch.max_wait_ms`.
    pub fetch_max_wait_ms: u64,
    /// Seconds connections get to drain on shutdown.
    pub shutdown_grace_secs: u64,
    /// Open connections, all routes together; past it new ones are closed with 1013.
    pub max_connections: usize,
    /// Open connections from one client IP address; past it new ones are closed with 1013.
    pub max_connections_per_ip: usize,
    /// Requests per second one connection may send (a token bucket holding one second's worth);
    /// past it requests answer 429.
    pub max_requests_per_sec: u32,
    /// Milliseconds a client may leave its outbound queue full (it stopped reading) before
    /// the slow-consumer policy applies: `pause` (default) keeps waiting, `close` closes with 1008.
    pub slow_consumer_timeout_ms: u64,
    pub slow_consumer: SlowConsumerPolicy,
    /// Longest `topic_pattern` a subscribe may carry, in bytes; longer ones answer 400.
    pub max_topic_pattern_bytes: usize,
    /// Messages a live subscription (core NATS, RabbitMQ without a group, Redis pub/sub, MQTT)
    /// may have waiting for its connection. A live broker does not wait for a slow client, so
    /// past this (or `live_queue_bytes`) the slow-consumer policy applies at once: `pause` drops
    /// the oldest waiting messages (the next push says how many), `close` closes with 1008.
    pub live_queue_messages: usize,
    /// Bytes of messages a live subscription may have waiting; see `live_queue_messages`.
    pub live_queue_bytes: usize,
}

/// The bound of one live subscription's queue (see `Limits::live_queue_messages`) and what
/// happens past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveLimits {
    pub messages: usize,
    pub bytes: usize,
    /// `slow_consumer: close`: the connection is closed with 1008 instead of losing messages.
    pub close: bool,
}

impl Default for LiveLimits {
    fn default() -> Self {
        LiveLimits {
            messages: 4_096,
            bytes: 1 << 20,
            close: false,
        }
    }
}

/// What happens to a client that stops reading while messages flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlowConsumerPolicy {
    /// Subscriptions pause where they are in the log and resume with no loss.
    #[default]
    Pause,
    /// The connection is closed with 1008 "slow consumer".
    Close,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 1 << 20,
            outbound_queue: 256,
            outbound_queue_bytes: 1 << 20,
            max_inflight_requests: 64,
            max_subscriptions: 64,
            idle_timeout_secs: 60,
            ping_interval_secs: 20,
            handshake_timeout_secs: 10,
            request_head_timeout_ms: 2_500,
            max_handshakes: 1_024,
            max_handshakes_per_ip: 128,
            fetch_max_messages: 2_000,
            fetch_max_bytes: 1 << 20,
            fetch_max_wait_ms: 30_000,
            shutdown_grace_secs: 10,
            max_connections: 100_000,
            max_connections_per_ip: 1_000,
            max_requests_per_sec: 1_000,
            slow_consumer_timeout_ms: 10_000,
            slow_consumer: SlowConsumerPolicy::Pause,
            max_topic_pattern_bytes: 1024,
            live_queue_messages: LiveLimits::default().messages,
            live_queue_bytes: LiveLimits::default().bytes,
        }
    }
}

impl Limits {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }
    pub fn request_head_timeout(&self) -> Duration {
        Duration::from_millis(self.request_head_timeout_ms)
    }
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
    /// The bound and policy of every live subscription's queue.
    pub fn live_queue(&self) -> LiveLimits {
        LiveLimits {
            messages: self.live_queue_messages,
            bytes: self.live_queue_bytes,
            close: self.slow_consumer == SlowConsumerPolicy::Close,
        }
    }
}
