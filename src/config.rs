//! YAML configuration: `load` parses (unknown keys are errors naming the key and line), then
//! `validate` checks what one field alone cannot. Routes follow APISIX's route shape.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// serde_yaml's message names the key path, line and column.
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: String,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    #[serde(deserialize_with = "de_socket_addr")]
    pub listen: SocketAddr,
    /// Serves wss:// when present. The files are read again on every reload (SIGHUP or config
    /// change), so certificates can be renewed without a restart.
    pub tls: Option<ServerTls>,
    /// Health, readiness, Prometheus metrics and the live console. Never expose it publicly.
    #[serde(deserialize_with = "de_opt_socket_addr")]
    pub admin_listen: Option<SocketAddr>,
    pub limits: Limits,
    pub log: LogConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9080)),
            tls: None,
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9091))),
            limits: Limits::default(),
            log: LogConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `pubsub_gateway=debug`; RUST_LOG overrides it.
    pub level: String,
    /// One JSON object per line instead of human-readable text.
    pub json: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            json: false,
        }
    }
}

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
    /// Connections accepted but not yet upgraded (or refused), all routes together; sockets
    /// past it are closed at once. Bounds the descriptors that sockets which never send a
    /// request can hold.
    pub max_handshakes: usize,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// APISIX's `id` and `name` are accepted so routes can be copied over; they label logs.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(deserialize_with = "de_uri")]
    pub uri: String,
    pub upstream: Upstream,
    #[serde(default)]
    pub plugins: Plugins,
    /// Browser `Origin`s allowed to open a WebSocket on this route (exact match, or `*`);
    /// empty = any. Checked before the upgrade against cross-site WebSocket hijacking.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

impl Route {
    /// `uri` ending in `*` matches by prefix, as in APISIX; otherwise the path must be equal.
    pub fn matches(&self, path: &str) -> bool {
        match self.uri.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.uri,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Embedded,
    Kafka,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    pub scheme: Scheme,
    /// APISIX's load-balancer type; accepted and ignored, since Kafka balances itself.
    #[serde(default, rename = "type")]
    pub lb_type: Option<String>,
    #[serde(default)]
    pub nodes: Nodes,
    #[serde(default)]
    pub tls: Option<UpstreamTls>,
    #[serde(default)]
    pub timeout: UpstreamTimeout,
    /// Extra librdkafka properties; keys the gateway sets itself are refused.
    #[serde(default)]
    pub kafka: BTreeMap<String, String>,
    #[serde(default)]
    pub embedded: EmbeddedOptions,
    /// Kafka scheme: consumers shared by all fetches of this upstream (each a librdkafka client).
    #[serde(default = "default_fetch_consumers")]
    pub fetch_consumers: usize,
    /// Kafka scheme: group subscriptions are real group members, one librdkafka consumer each;
    /// this caps how many one upstream runs at once.
    #[serde(default = "default_max_group_consumers")]
    pub max_group_consumers: usize,
    /// Kafka scheme: how often topic patterns look for new matching topics and partitions.
    #[serde(default = "default_metadata_refresh_secs")]
    pub metadata_refresh_secs: f64,
    /// Kafka scheme: recent messages kept per subscribed partition, serving late joiners and
    /// fetches of recent offsets without a broker round trip.
    #[serde(default = "default_partition_cache_messages")]
    pub partition_cache_messages: usize,
}

fn default_fetch_consumers() -> usize {
    2
}
fn default_max_group_consumers() -> usize {
    256
}
fn default_metadata_refresh_secs() -> f64 {
    5.0
}
fn default_partition_cache_messages() -> usize {
    1000
}

/// APISIX's `timeout` block, in seconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamTimeout {
    pub connect: f64,
    pub send: f64,
    pub read: f64,
}

impl Default for UpstreamTimeout {
    fn default() -> Self {
        UpstreamTimeout {
            connect: 10.0,
            send: 10.0,
            read: 10.0,
        }
    }
}

impl UpstreamTimeout {
    pub fn connect(&self) -> Duration {
        Duration::from_secs_f64(self.connect)
    }
    pub fn send(&self) -> Duration {
        Duration::from_secs_f64(self.send)
    }
    pub fn read(&self) -> Duration {
        Duration::from_secs_f64(self.read)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    #[serde(default = "yes")]
    pub verify: bool,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

/// In-process broker settings. Retention bounds memory per partition whatever clients do;
/// `max_topics` and `max_groups` bound how many of each clients can create.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedOptions {
    pub partitions: i32,
    pub retention_messages: usize,
    pub retention_bytes: usize,
    pub max_topics: usize,
    pub max_groups: usize,
    /// Seconds a group with no members and no committed offsets is kept before it is dropped.
    pub group_idle_secs: u64,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            partitions: 1,
            // The worst case, every topic full: max_topics x partitions x retention_bytes
            // = 1,000 x 1 x 1 MiB, about 1 GiB of memory, which a small machine survives.
            retention_messages: 10_000,
            retention_bytes: 1 << 20,
            max_topics: 1_000,
            max_groups: 1_000,
            group_idle_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plugins {
    #[serde(default, rename = "kafka-proxy")]
    pub kafka_proxy: Option<KafkaProxy>,
    #[serde(default, rename = "key-auth")]
    pub key_auth: Option<KeyAuth>,
    #[serde(default, rename = "jwt-auth")]
    pub jwt_auth: Option<JwtAuth>,
    /// The route's topic ACL, for everyone on it; per-key ACLs and JWT claims narrow it.
    #[serde(default, rename = "topic-acl")]
    pub topic_acl: Option<AclConfig>,
}

/// APISIX-style key authentication: the key comes in the `apikey` header, or the `apikey`
/// query parameter for browsers (which cannot set headers on a WebSocket).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAuth {
    pub keys: Vec<ApiKey>,
    #[serde(default = "default_key_header")]
    pub header: String,
    #[serde(default = "default_key_query")]
    pub query: String,
}

fn default_key_header() -> String {
    "apikey".into()
}
fn default_key_query() -> String {
    "apikey".into()
}

impl fmt::Debug for KeyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyAuth")
            .field("keys", &self.keys.len())
            .field("header", &self.header)
            .field("query", &self.query)
            .finish()
    }
}

/// One key: given in the file (`key`) or read from an environment variable (`key_env`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// The identity this key authenticates, for logs and ACLs.
    pub id: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_env: Option<String>,
    #[serde(default)]
    pub acl: Option<AclConfig>,
}

/// JWT authentication. The token comes from `Authorization: Bearer`, the `token` query
/// parameter, or a `bearer.<token>` entry of `Sec-WebSocket-Protocol` (browsers).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtAuth {
    /// HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384.
    pub algorithm: String,
    /// The HMAC secret, in the file or from an environment variable.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
    /// PEM public key for RS*/ES*.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    /// Allowed clock skew for exp/nbf, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    #[serde(default = "default_token_query")]
    pub query: String,
}

fn default_leeway() -> u64 {
    30
}
fn default_token_query() -> String {
    "token".into()
}

impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("algorithm", &self.algorithm)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_env", &self.secret_env)
            .field("public_key_file", &self.public_key_file)
            .finish()
    }
}

/// Topic ACL: regular expressions matching whole topic (or group) names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclConfig {
    /// fetch, list_offset, subscribe, metadata.
    #[serde(default)]
    pub read: Option<Vec<String>>,
    /// produce.
    #[serde(default)]
    pub write: Option<Vec<String>>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaProxy {
    #[serde(default)]
    pub sasl: Option<Sasl>,
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sasl {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub mechanism: SaslMechanism,
}

/// Never prints the password.
impl fmt::Debug for Sasl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sasl")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[default]
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// Broker addresses, as APISIX's map `"host:port": weight`, a list of `"host:port"`, or a list of
/// `{host, port, weight}`. Weights are accepted and ignored: Kafka routes by partition leader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nodes(pub Vec<String>);

impl<'de> Deserialize<'de> for Nodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NodesVisitor;

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Node {
            host: String,
            port: u16,
            #[serde(default)]
            #[allow(dead_code)]
            weight: Option<u32>,
            #[serde(default)]
            #[allow(dead_code)]
            priority: Option<i32>,
        }

        #[derive(Deserialize)]
        #[serde(untagged)]
        enum ListItem {
            Addr(String),
            Node(Node),
        }

        impl<'de> Visitor<'de> for NodesVisitor {
            type Value = Nodes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a map of \"host:port\": weight, or a list of \"host:port\" or {host, port}",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Nodes, A::Error> {
                let mut out = Vec::new();
                while let Some((addr, _weight)) = map.next_entry::<String, u32>()? {
                    out.push(check_host_port(addr).map_err(de::Error::custom)?);
                }
                Ok(Nodes(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Nodes, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<ListItem>()? {
                    let addr = match item {
                        ListItem::Addr(a) => a,
                        ListItem::Node(n) => format!("{}:{}", n.host, n.port),
                    };
                    out.push(check_host_port(addr).map_err(de::Error::custom)?);
                }
                Ok(Nodes(out))
            }
        }
        d.deserialize_any(NodesVisitor)
    }
}

fn check_host_port(addr: String) -> Result<String, String> {
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(addr)
        }
        _ => Err(format!("node `{addr}` is not host:port")),
    }
}

fn de_socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    s.parse()
        .map_err(|e| de::Error::custom(format!("`{s}` is not an ip:port address ({e})")))
}

fn de_opt_socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() || s == "off" => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|e| de::Error::custom(format!("`{s}` is not an ip:port address ({e})"))),
    }
}

fn de_uri<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if !s.starts_with('/') {
        return Err(de::Error::custom(format!("uri `{s}` must start with /")));
    }
    if s[..s.len() - 1].contains('*') {
        return Err(de::Error::custom(format!(
            "uri `{s}`: `*` is only allowed at the end (prefix match)"
        )));
    }
    Ok(s)
}

/// librdkafka properties the gateway sets from the route itself.
const OWNED_KAFKA_KEYS: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "security.protocol",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "partitioner",
    "client.id",
    "message.timeout.ms",
];
const OWNED_KAFKA_PREFIXES: &[&str] = &["sasl.", "ssl."];

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// `origin` names the source in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = serde_yaml::from_str(text).map_err(|source| ConfigError::Parse {
            path: origin.to_owned(),
            source,
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            key,
            message,
        };
        let l = &self.server.limits;
        for (key, value) in [
            ("max_frame_bytes", l.max_frame_bytes),
            ("outbound_queue", l.outbound_queue),
            ("outbound_queue_bytes", l.outbound_queue_bytes),
            ("max_inflight_requests", l.max_inflight_requests),
            ("max_subscriptions", l.max_subscriptions),
            ("fetch_max_messages", l.fetch_max_messages),
            ("fetch_max_bytes", l.fetch_max_bytes),
            ("idle_timeout_secs", l.idle_timeout_secs as usize),
            ("ping_interval_secs", l.ping_interval_secs as usize),
            ("handshake_timeout_secs", l.handshake_timeout_secs as usize),
            (
                "request_head_timeout_ms",
                l.request_head_timeout_ms as usize,
            ),
            ("max_handshakes", l.max_handshakes),
        ] {
            if value == 0 {
                return Err(invalid(
                    format!("server.limits.{key}"),
                    "must be greater than 0".into(),
                ));
            }
        }
        if l.idle_timeout_secs <= l.ping_interval_secs {
            return Err(invalid(
                "server.limits.idle_timeout_secs".into(),
                "must be longer than ping_interval_secs, or clients are closed before the first ping"
                    .into(),
            ));
        }
        if self.routes.is_empty() {
            return Err(invalid(
                "routes".into(),
                "at least one route is needed".into(),
            ));
        }
        let mut seen = HashSet::new();
        for (i, route) in self.routes.iter().enumerate() {
            let at = |k: &str| format!("routes[{i}].{k}");
            if !seen.insert(route.uri.as_str()) {
                return Err(invalid(at("uri"), format!("duplicate uri `{}`", route.uri)));
            }
            if route.plugins.key_auth.is_some() && route.plugins.jwt_auth.is_some() {
                return Err(invalid(
                    at("plugins"),
                    "use key-auth or jwt-auth on a route, not both".into(),
                ));
            }
            if let Some(ka) = &route.plugins.key_auth {
                if ka.keys.is_empty() {
                    return Err(invalid(at("plugins.key-auth.keys"), "no keys".into()));
                }
                for (k, key) in ka.keys.iter().enumerate() {
                    if key.key.is_some() == key.key_env.is_some() {
                        return Err(invalid(
                            at(&format!("plugins.key-auth.keys[{k}]")),
                            "exactly one of key and key_env".into(),
                        ));
                    }
                    if let Some(acl) = &key.acl {
                        crate::auth::Acl::compile(acl).map_err(|m| {
                            invalid(at(&format!("plugins.key-auth.keys[{k}].acl")), m)
                        })?;
                    }
                }
            }
            if let Some(acl) = &route.plugins.topic_acl {
                crate::auth::Acl::compile(acl).map_err(|m| invalid(at("plugins.topic-acl"), m))?;
            }
            if let Some(j) = &route.plugins.jwt_auth {
                crate::auth::jwt_algorithm(&j.algorithm)
                    .map_err(|m| invalid(at("plugins.jwt-auth.algorithm"), m))?;
                let hmac = j.algorithm.starts_with("HS");
                let has_secret = j.secret.is_some() || j.secret_env.is_some();
                if hmac != has_secret || (!hmac && j.public_key_file.is_none()) {
                    return Err(invalid(
                        at("plugins.jwt-auth"),
                        "HS* algorithms need secret or secret_env; RS*/ES* need public_key_file"
                            .into(),
                    ));
                }
            }
            let up = &route.upstream;
            for (k, v) in [
                ("connect", up.timeout.connect),
                ("send", up.timeout.send),
                ("read", up.timeout.read),
            ] {
                if !(v > 0.0 && v <= 3600.0) {
                    return Err(invalid(
                        at(&format!("upstream.timeout.{k}")),
                        "must be between 0 and 3600 seconds".into(),
                    ));
                }
            }
            match up.scheme {
                Scheme::Embedded => {
                    if !up.nodes.0.is_empty() {
                        return Err(invalid(
                            at("upstream.nodes"),
                            "the embedded scheme has no nodes".into(),
                        ));
                    }
                    if !up.kafka.is_empty() || up.tls.is_some() {
                        return Err(invalid(
                            at("upstream"),
                            "kafka and tls options do not apply to the embedded scheme".into(),
                        ));
                    }
                    let e = &up.embedded;
                    if !(1..=1024).contains(&e.partitions) {
                        return Err(invalid(
                            at("upstream.embedded.partitions"),
                            "must be between 1 and 1024".into(),
                        ));
                    }
                    if e.retention_messages == 0 || e.retention_bytes == 0 || e.max_topics == 0 {
                        return Err(invalid(
                            at("upstream.embedded"),
                            "retention_messages, retention_bytes and max_topics must be greater than 0"
                                .into(),
                        ));
                    }
                }
                Scheme::Kafka => {
                    if up.fetch_consumers == 0 || up.fetch_consumers > 64 {
                        return Err(invalid(
                            at("upstream.fetch_consumers"),
                            "must be between 1 and 64".into(),
                        ));
                    }
                    if !(up.metadata_refresh_secs >= 0.1 && up.metadata_refresh_secs <= 3600.0) {
                        return Err(invalid(
                            at("upstream.metadata_refresh_secs"),
                            "must be between 0.1 and 3600".into(),
                        ));
                    }
                    if up.nodes.0.is_empty() {
                        return Err(invalid(
                            at("upstream.nodes"),
                            "a kafka upstream needs at least one broker".into(),
                        ));
                    }
                    for key in up.kafka.keys() {
                        if OWNED_KAFKA_KEYS.contains(&key.as_str())
                            || OWNED_KAFKA_PREFIXES.iter().any(|p| key.starts_with(p))
                        {
                            return Err(invalid(
                                at(&format!("upstream.kafka.{key}")),
                                "is set by the gateway from the route (nodes, tls, plugins.kafka-proxy); it cannot be overridden"
                                    .into(),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = "routes:\n  - uri: /a\n    upstream:\n      scheme: embedded\n      bogus: 1\n";
        let err = Config::parse(text, "t.yaml").unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
        assert!(err.contains("line 5"), "{err}");
    }

    #[test]
    fn nodes_accept_apisix_map_and_lists() {
        let text = r#"
routes:
  - uri: /a
    upstream: { scheme: kafka, type: none, nodes: { "127.0.0.1:9092": 1, "b:9093": 2 } }
  - uri: /b
    upstream: { scheme: kafka, nodes: ["h:1"] }
  - uri: /c
    upstream: { scheme: kafka, nodes: [{ host: h, port: 2, weight: 1 }] }
"#;
        let c = Config::parse(text, "t").unwrap();
        assert_eq!(
            c.routes[0].upstream.nodes.0,
            vec!["127.0.0.1:9092", "b:9093"]
        );
        assert_eq!(c.routes[1].upstream.nodes.0, vec!["h:1"]);
        assert_eq!(c.routes[2].upstream.nodes.0, vec!["h:2"]);
    }

    #[test]
    fn bad_node_is_rejected_with_line() {
        let text =
            "routes:\n  - uri: /a\n    upstream:\n      scheme: kafka\n      nodes: [\"nohost\"]\n";
        let err = Config::parse(text, "t").unwrap_err().to_string();
        assert!(err.contains("nohost") && err.contains("line 5"), "{err}");
    }

    #[test]
    fn gateway_owned_kafka_keys_are_refused() {
        let text = "routes:\n  - uri: /a\n    upstream:\n      scheme: kafka\n      nodes: [\"h:1\"]\n      kafka: { sasl.password: x }\n";
        let err = Config::parse(text, "t").unwrap_err().to_string();
        assert!(
            err.contains("routes[0].upstream.kafka.sasl.password"),
            "{err}"
        );
    }

    #[test]
    fn sasl_debug_never_shows_the_password() {
        let s = Sasl {
            username: "u".into(),
            password: "hunter2".into(),
            mechanism: SaslMechanism::ScramSha512,
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn idle_timeout_must_exceed_the_ping_interval() {
        let text = "server:\n  limits: { idle_timeout_secs: 5, ping_interval_secs: 5 }\nroutes:\n  - uri: /a\n    upstream: { scheme: embedded }\n";
        let err = Config::parse(text, "t").unwrap_err().to_string();
        assert!(err.contains("server.limits.idle_timeout_secs"), "{err}");
    }

    #[test]
    fn prefix_routes_match_by_prefix() {
        let text = "routes:\n  - uri: /ws/*\n    upstream: { scheme: embedded }\n";
        let c = Config::parse(text, "t").unwrap();
        assert!(c.routes[0].matches("/ws/game"));
        assert!(!c.routes[0].matches("/other"));
    }
}
