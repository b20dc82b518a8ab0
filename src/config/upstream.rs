//! A route's upstream: its scheme, nodes, timeouts, TLS, and the sections of each scheme.

use super::*;

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
    /// NATS scheme: JetStream and consumer settings (absent = core NATS).
    #[serde(default)]
    pub nats: Option<NatsOptions>,
    /// RabbitMQ scheme: the exchange and how queues are declared.
    #[serde(default)]
    pub rabbitmq: Option<RabbitOptions>,
    /// Redis scheme: mode (pubsub or streams), database, trimming, groups (absent = pubsub).
    #[serde(default)]
    pub redis: Option<RedisOptions>,
    /// MQTT scheme: session and publish defaults (absent = the defaults).
    #[serde(default)]
    pub mqtt: Option<MqttOptions>,
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
    /// Kafka scheme: bytes of recent messages kept per subscribed partition (encoded size), so a
    /// partition of large messages cannot hold `partition_cache_messages` of them in memory.
    #[serde(default = "default_partition_cache_bytes")]
    pub partition_cache_bytes: usize,
}

pub(super) fn default_fetch_consumers() -> usize {
    2
}
pub(super) fn default_max_group_consumers() -> usize {
    256
}
pub(super) fn default_metadata_refresh_secs() -> f64 {
    5.0
}
pub(super) fn default_partition_cache_messages() -> usize {
    1000
}
pub(super) fn default_partition_cache_bytes() -> usize {
    4 << 20
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
    /// Durable storage (absent = memory only); with it, the retention limits bound the disk.
    pub storage: Option<StorageOptions>,
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
            storage: None,
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
