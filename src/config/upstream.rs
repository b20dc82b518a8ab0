//! A route's upstream: what every scheme shares (nodes, timeouts, TLS) and the scheme with its
//! own options (see `scheme`).

use super::*;

/// `upstream`: what every scheme shares (nodes, TLS, timeouts) and the scheme with its own
/// options. The scheme's options are one type per scheme (see `scheme.rs`); an option of another
/// scheme is refused while parsing, naming the key, the scheme it belongs to, and the line.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// APISIX's load-balancer type; accepted and ignored (each scheme balances itself).
    pub lb_type: Option<String>,
    pub nodes: Nodes,
    pub tls: Option<UpstreamTls>,
    pub timeout: UpstreamTimeout,
    pub scheme: SchemeConfig,
}

/// Every key an upstream can have, for "expected one of" messages.
const UPSTREAM_KEYS: &[&str] = &[
    "scheme",
    "type",
    "nodes",
    "tls",
    "timeout",
    "embedded",
    "kafka",
    "fetch_consumers",
    "max_group_consumers",
    "metadata_refresh_secs",
    "partition_cache_messages",
    "partition_cache_bytes",
    "nats",
    "rabbitmq",
    "redis",
    "mqtt",
    "gcp_pubsub",
    "aws",
];

impl<'de> Deserialize<'de> for Upstream {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct UpstreamVisitor;

        impl<'de> Visitor<'de> for UpstreamVisitor {
            type Value = Upstream;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an upstream: scheme, nodes, tls, timeout and the scheme's options")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Upstream, A::Error> {
                let mut scheme: Option<Scheme> = None;
                let mut lb_type = None;
                let mut nodes = Nodes::default();
                let mut tls = None;
                let mut timeout = UpstreamTimeout::default();
                let mut sections = SchemeSections::default();
                while let Some(key) = map.next_key_seed(UpstreamKey(scheme))? {
                    match key {
                        "scheme" => scheme = Some(map.next_value()?),
                        "type" => lb_type = map.next_value()?,
                        "nodes" => nodes = map.next_value()?,
                        "tls" => tls = map.next_value()?,
                        "timeout" => timeout = map.next_value()?,
                        other => sections.read(other, &mut map)?,
                    }
                }
                let scheme = scheme.ok_or_else(|| de::Error::missing_field("scheme"))?;
                let scheme = sections.into_config(scheme).map_err(de::Error::custom)?;
                Ok(Upstream {
                    lb_type,
                    nodes,
                    tls,
                    timeout,
                    scheme,
                })
            }
        }

        d.deserialize_map(UpstreamVisitor)
    }
}

/// A key of `upstream`, checked as it is read (so that an error names its line): known, and of
/// the scheme when that is known already.
struct UpstreamKey(Option<Scheme>);

impl<'de> DeserializeSeed<'de> for UpstreamKey {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for UpstreamKey {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an upstream key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<&'static str, E> {
        let Some(known) = UPSTREAM_KEYS.iter().find(|k| **k == key) else {
            return Err(E::unknown_field(key, UPSTREAM_KEYS));
        };
        if let (Some(owner), Some(scheme)) = (Scheme::owning(key), self.0) {
            if owner != scheme {
                return Err(E::custom(foreign(key, owner, scheme)));
            }
        }
        Ok(known)
    }
}

fn foreign(key: &str, owner: Scheme, scheme: Scheme) -> String {
    format!("`{key}` is an option of the {owner} scheme, not of {scheme}")
}

/// The scheme-specific upstream keys as they are read, before the scheme is known for sure.
#[derive(Default)]
struct SchemeSections {
    /// Each key read, with the scheme it belongs to.
    seen: Vec<(String, Scheme)>,
    embedded: Option<EmbeddedOptions>,
    kafka: KafkaOptions,
    nats: Option<NatsOptions>,
    rabbitmq: Option<RabbitOptions>,
    redis: Option<RedisOptions>,
    mqtt: Option<MqttOptions>,
    gcp_pubsub: Option<GcpOptions>,
    aws: Option<AwsOptions>,
}

impl SchemeSections {
    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "embedded" => self.embedded = Some(map.next_value()?),
            "nats" => self.nats = Some(map.next_value()?),
            "rabbitmq" => self.rabbitmq = Some(map.next_value()?),
            "redis" => self.redis = Some(map.next_value()?),
            "mqtt" => self.mqtt = Some(map.next_value()?),
            "gcp_pubsub" => self.gcp_pubsub = Some(map.next_value()?),
            "aws" => self.aws = Some(map.next_value()?),
            kafka_key => self.kafka.read(kafka_key, map)?,
        }
        if let Some(owner) = Scheme::owning(key) {
            self.seen.push((key.to_owned(), owner));
        }
        Ok(())
    }

    /// The options of `scheme`; a key of another scheme (read before `scheme`) is an error.
    fn into_config(self, scheme: Scheme) -> Result<SchemeConfig, String> {
        if let Some((key, owner)) = self.seen.iter().find(|(_, o)| *o != scheme) {
            return Err(foreign(key, *owner, scheme));
        }
        Ok(match scheme {
            Scheme::Embedded => SchemeConfig::Embedded(self.embedded.unwrap_or_default()),
            Scheme::Kafka => SchemeConfig::Kafka(self.kafka),
            Scheme::Nats => SchemeConfig::Nats(self.nats.unwrap_or_default()),
            Scheme::Rabbitmq => SchemeConfig::Rabbitmq(
                self.rabbitmq
                    .ok_or("the rabbitmq scheme needs `rabbitmq:` (at least `exchange`)")?,
            ),
            Scheme::Redis => SchemeConfig::Redis(self.redis.unwrap_or_default()),
            Scheme::Mqtt => SchemeConfig::Mqtt(self.mqtt.unwrap_or_default()),
            Scheme::GcpPubsub => SchemeConfig::GcpPubsub(
                self.gcp_pubsub
                    .ok_or("the gcp-pubsub scheme needs `gcp_pubsub:` (at least `project`)")?,
            ),
            Scheme::Aws => SchemeConfig::Aws(
                self.aws
                    .ok_or("the aws scheme needs `aws:` (at least `region`)")?,
            ),
        })
    }
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

pub(super) fn yes() -> bool {
    true
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
