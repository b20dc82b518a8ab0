//! Schemes as the configuration sees them: each scheme's options are one type implementing
//! [`SchemeOptions`] (its rules for the parts every upstream shares, and its own checks), and a
//! route's upstream holds exactly one of them ([`SchemeConfig`]). What every scheme shares is
//! checked once, in [`Upstream::validate`].

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Embedded,
    Kafka,
    Nats,
    #[serde(alias = "amqp")]
    Rabbitmq,
    Redis,
    Mqtt,
    #[serde(rename = "gcp-pubsub")]
    GcpPubsub,
    Aws,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Embedded => "embedded",
            Scheme::Kafka => "kafka",
            Scheme::Nats => "nats",
            Scheme::Rabbitmq => "rabbitmq",
            Scheme::Redis => "redis",
            Scheme::Mqtt => "mqtt",
            Scheme::GcpPubsub => "gcp-pubsub",
            Scheme::Aws => "aws",
        }
    }

    /// The Cargo feature that compiles the scheme in (the embedded broker is always there).
    pub fn feature(self) -> &'static str {
        self.as_str()
    }

    /// Whether this build has the scheme.
    pub fn compiled(self) -> bool {
        match self {
            Scheme::Embedded => true,
            Scheme::Kafka => cfg!(feature = "kafka"),
            Scheme::Nats => cfg!(feature = "nats"),
            Scheme::Rabbitmq => cfg!(feature = "rabbitmq"),
            Scheme::Redis => cfg!(feature = "redis"),
            Scheme::Mqtt => cfg!(feature = "mqtt"),
            Scheme::GcpPubsub => cfg!(feature = "gcp-pubsub"),
            Scheme::Aws => cfg!(feature = "aws"),
        }
    }

    /// Why a route of this scheme cannot be served by this build.
    pub fn not_compiled(self) -> String {
        format!(
            "the {self} scheme is not compiled into this gateway: build it with `--features {}`",
            self.feature()
        )
    }

    /// The scheme a scheme-specific key of `upstream` belongs to; None for shared or unknown
    /// keys.
    pub fn owning(key: &str) -> Option<Scheme> {
        Some(match key {
            "embedded" => Scheme::Embedded,
            "kafka"
            | "fetch_consumers"
            | "max_group_consumers"
            | "metadata_refresh_secs"
            | "partition_cache_messages"
            | "partition_cache_bytes" => Scheme::Kafka,
            "nats" => Scheme::Nats,
            "rabbitmq" => Scheme::Rabbitmq,
            "redis" => Scheme::Redis,
            "mqtt" => Scheme::Mqtt,
            "gcp_pubsub" => Scheme::GcpPubsub,
            "aws" => Scheme::Aws,
            _ => return None,
        })
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A route's scheme with its own options.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemeConfig {
    Embedded(EmbeddedOptions),
    Kafka(KafkaOptions),
    Nats(NatsOptions),
    Rabbitmq(RabbitOptions),
    Redis(RedisOptions),
    Mqtt(MqttOptions),
    GcpPubsub(GcpOptions),
    Aws(AwsOptions),
}

impl SchemeConfig {
    pub fn scheme(&self) -> Scheme {
        match self {
            SchemeConfig::Embedded(_) => Scheme::Embedded,
            SchemeConfig::Kafka(_) => Scheme::Kafka,
            SchemeConfig::Nats(_) => Scheme::Nats,
            SchemeConfig::Rabbitmq(_) => Scheme::Rabbitmq,
            SchemeConfig::Redis(_) => Scheme::Redis,
            SchemeConfig::Mqtt(_) => Scheme::Mqtt,
            SchemeConfig::GcpPubsub(_) => Scheme::GcpPubsub,
            SchemeConfig::Aws(_) => Scheme::Aws,
        }
    }

    fn options(&self) -> &dyn SchemeOptions {
        match self {
            SchemeConfig::Embedded(o) => o,
            SchemeConfig::Kafka(o) => o,
            SchemeConfig::Nats(o) => o,
            SchemeConfig::Rabbitmq(o) => o,
            SchemeConfig::Redis(o) => o,
            SchemeConfig::Mqtt(o) => o,
            SchemeConfig::GcpPubsub(o) => o,
            SchemeConfig::Aws(o) => o,
        }
    }
}

/// How many `nodes` a scheme takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeCount {
    None,
    One,
    /// None (the scheme's default endpoint) or one.
    AtMostOne,
    AtLeastOne,
}

/// What a scheme says about the parts every upstream shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemeRules {
    pub nodes: NodeCount,
    /// `upstream.tls` applies.
    pub tls: bool,
    /// `tls.verify: false` is allowed (otherwise the scheme always verifies the broker).
    pub unverified_tls: bool,
    /// The plugin holding the credentials the gateway presents to the broker.
    pub credentials: Option<&'static str>,
}

/// One scheme's options: its rules for the shared parts, and its own checks. Keys in errors are
/// relative to the route (`upstream.nats.stream`).
pub trait SchemeOptions {
    fn rules(&self) -> SchemeRules;
    fn validate(&self, _up: &Upstream) -> Result<(), (String, String)> {
        Ok(())
    }
}

impl Upstream {
    /// The scheme's name.
    pub fn scheme(&self) -> Scheme {
        self.scheme.scheme()
    }

    /// The shared parts against the scheme's rules, then the scheme's own checks.
    pub fn validate(&self, plugins: &Plugins) -> Result<(), (String, String)> {
        let scheme = self.scheme();
        if !scheme.compiled() {
            return Err(("upstream.scheme".into(), scheme.not_compiled()));
        }
        let options = self.scheme.options();
        let rules = options.rules();
        let bad = |k: &str, m: String| Err((k.to_string(), m));
        for (k, v) in [
            ("connect", self.timeout.connect),
            ("send", self.timeout.send),
            ("read", self.timeout.read),
        ] {
            if !(v > 0.0 && v <= 3600.0) {
                return bad(
                    &format!("upstream.timeout.{k}"),
                    "must be between 0 and 3600 seconds".into(),
                );
            }
        }
        let nodes = self.nodes.0.len();
        match rules.nodes {
            NodeCount::None if nodes > 0 => {
                return bad(
                    "upstream.nodes",
                    format!("the {scheme} scheme has no nodes"),
                )
            }
            NodeCount::One if nodes != 1 => {
                return bad(
                    "upstream.nodes",
                    format!("a {scheme} upstream needs exactly one server (host:port)"),
                )
            }
            NodeCount::AtMostOne if nodes > 1 => {
                return bad(
                    "upstream.nodes",
                    format!("a {scheme} upstream takes at most one endpoint (host:port)"),
                )
            }
            NodeCount::AtLeastOne if nodes == 0 => {
                return bad(
                    "upstream.nodes",
                    format!("a {scheme} upstream needs at least one server"),
                )
            }
            _ => {}
        }
        if let Some(tls) = &self.tls {
            if !rules.tls {
                return bad(
                    "upstream.tls",
                    format!("does not apply to the {scheme} scheme"),
                );
            }
            if !tls.verify && !rules.unverified_tls {
                return bad(
                    "upstream.tls.verify",
                    format!("the {scheme} scheme always verifies the broker's certificate (give ca_file for a private CA)"),
                );
            }
            if tls.client_cert.is_some() != tls.client_key.is_some() {
                return bad(
                    "upstream.tls",
                    "client_cert and client_key go together".into(),
                );
            }
        }
        for plugin in plugins.upstream_credentials() {
            if rules.credentials != Some(plugin) {
                let hint = match rules.credentials {
                    Some(own) => format!("; use {own}"),
                    None => String::new(),
                };
                return bad(
                    &format!("plugins.{plugin}"),
                    format!("does not apply to the {scheme} scheme{hint}"),
                );
            }
        }
        options.validate(self)
    }
}
