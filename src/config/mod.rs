//! YAML configuration: `load` parses (unknown keys are errors naming the key and line), then
//! `validate` checks what one field alone cannot. Routes follow APISIX's route shape.

mod aws;
mod delivery;
mod embedded;
mod gcp;
mod idempotency;
mod kafka;
mod limits;
mod mqtt;
mod nats;
mod plugins;
mod rabbitmq;
mod redis;
mod scheme;
mod storage;
#[cfg(test)]
mod tests;
mod upstream;

pub use aws::*;
pub use delivery::*;
pub use embedded::*;
pub use gcp::*;
pub use idempotency::*;
pub use kafka::*;
pub use limits::*;
pub use mqtt::*;
pub use nats::*;
pub use plugins::*;
pub use rabbitmq::*;
pub use redis::*;
pub use scheme::*;
pub use storage::*;
pub use upstream::*;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
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
    /// The at-least-once policy of its groups: retries, backoff, dead letters, ordering.
    #[serde(default)]
    pub delivery: DeliveryPolicy,
    /// How long and for how many keys a produce's `idempotency_key` is remembered.
    #[serde(default)]
    pub idempotency: Idempotency,
}

/// Everything a route's backend is built from: the upstream section, every plugin but those
/// that check clients (so the credentials the gateway presents upstream, whatever the scheme),
/// and the contents of the files they name (TLS keys and CAs, NATS credentials, librdkafka's
/// `*.location` files). A reload builds a new backend exactly when this changes.
#[derive(Clone, PartialEq)]
pub struct BackendInput {
    upstream: Upstream,
    plugins: Plugins,
    /// Each named file and a digest of its contents (None: unreadable now).
    files: Vec<(PathBuf, Option<u64>)>,
    delivery: DeliveryPolicy,
}

impl Route {
    /// What the route's backend is built from, read now (files included).
    pub fn backend_input(&self) -> BackendInput {
        // The client-side plugins are not: a reload's new rules reach open connections without
        // a new backend (see `server`).
        let plugins = self.plugins.upstream_side();
        let up = &self.upstream;
        let mut files: Vec<PathBuf> = up
            .tls
            .iter()
            .flat_map(|t| [&t.ca_file, &t.client_cert, &t.client_key])
            .flatten()
            .cloned()
            .collect();
        if let Some(auth) = &self.plugins.nats_auth {
            if let NatsAuthMethod::NkeySeedFile(p) | NatsAuthMethod::CredsFile(p) = &auth.method {
                files.push(p.clone());
            }
        }
        if let Some(auth) = &self.plugins.gcp_auth {
            files.push(auth.credentials_file.clone());
        }
        let kafka = match &up.scheme {
            SchemeConfig::Kafka(k) => Some(&k.properties),
            _ => None,
        };
        files.extend(
            kafka
                .into_iter()
                .flatten()
                .filter(|(k, _)| k.ends_with(".location"))
                .map(|(_, v)| PathBuf::from(v)),
        );
        let digest = |p: &Path| {
            use std::hash::{Hash, Hasher};
            std::fs::read(p).ok().map(|bytes| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                h.finish()
            })
        };
        BackendInput {
            upstream: up.clone(),
            plugins,
            files: files
                .into_iter()
                .map(|p| {
                    let d = digest(&p);
                    (p, d)
                })
                .collect(),
            delivery: self.delivery.clone(),
        }
    }

    /// `uri` ending in `*` matches by prefix, as in APISIX; otherwise the path must be equal.
    pub fn matches(&self, path: &str) -> bool {
        match self.uri.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.uri,
        }
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
            ("max_handshakes_per_ip", l.max_handshakes_per_ip),
            ("live_queue_messages", l.live_queue_messages),
            ("live_queue_bytes", l.live_queue_bytes),
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
                        acl.check().map_err(|m| {
                            invalid(at(&format!("plugins.key-auth.keys[{k}].acl")), m)
                        })?;
                    }
                }
            }
            if let Some(acl) = &route.plugins.topic_acl {
                acl.check()
                    .map_err(|m| invalid(at("plugins.topic-acl"), m))?;
            }
            if let Some(j) = &route.plugins.jwt_auth {
                if !JWT_ALGORITHMS.contains(&j.algorithm.as_str()) {
                    return Err(invalid(
                        at("plugins.jwt-auth.algorithm"),
                        format!(
                            "unsupported algorithm `{}`: one of {}",
                            j.algorithm,
                            JWT_ALGORITHMS.join(", ")
                        ),
                    ));
                }
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
            if let SchemeConfig::GcpPubsub(g) = &route.upstream.scheme {
                if g.emulator && route.plugins.gcp_auth.is_some() {
                    return Err(invalid(
                        at("plugins.gcp-auth"),
                        "the emulator takes no credentials (gcp_pubsub.emulator: true)".into(),
                    ));
                }
            }
            route
                .upstream
                .validate(&route.plugins)
                .map_err(|(k, m)| invalid(at(&k), m))?;
            route
                .delivery
                .validate(&route.upstream.scheme)
                .map_err(|(k, m)| invalid(at(&k), m))?;
        }
        Ok(())
    }
}
