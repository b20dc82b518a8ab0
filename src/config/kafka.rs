//! The Kafka scheme's options: librdkafka properties (`upstream.kafka`) and the gateway's own
//! settings, written at the top of `upstream` as APISIX's kafka upstream has them.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub struct KafkaOptions {
    /// Extra librdkafka properties (`upstream.kafka`); keys the gateway sets itself are refused.
    pub properties: BTreeMap<String, String>,
    /// Consumers shared by all fetches of this upstream (each a librdkafka client).
    pub fetch_consumers: usize,
    /// Group subscriptions are real group members, one librdkafka consumer each; this caps how
    /// many one upstream runs at once.
    pub max_group_consumers: usize,
    /// How often topic patterns look for new matching topics and partitions.
    pub metadata_refresh_secs: f64,
    /// Recent messages kept per subscribed partition, serving late joiners and fetches of
    /// recent offsets without a broker round trip.
    pub partition_cache_messages: usize,
    /// Bytes of recent messages kept per subscribed partition (encoded size), so a partition of
    /// large messages cannot hold `partition_cache_messages` of them in memory.
    pub partition_cache_bytes: usize,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        KafkaOptions {
            properties: BTreeMap::new(),
            fetch_consumers: 2,
            max_group_consumers: 256,
            metadata_refresh_secs: 5.0,
            partition_cache_messages: 1000,
            partition_cache_bytes: 4 << 20,
        }
    }
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

impl KafkaOptions {
    /// Reads one of the Kafka keys of `upstream` (see `Scheme::owning`).
    pub(super) fn read<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match key {
            "kafka" => self.properties = map.next_value()?,
            "fetch_consumers" => self.fetch_consumers = map.next_value()?,
            "max_group_consumers" => self.max_group_consumers = map.next_value()?,
            "metadata_refresh_secs" => self.metadata_refresh_secs = map.next_value()?,
            "partition_cache_messages" => self.partition_cache_messages = map.next_value()?,
            "partition_cache_bytes" => self.partition_cache_bytes = map.next_value()?,
            other => return Err(de::Error::unknown_field(other, &[])),
        }
        Ok(())
    }
}

impl SchemeOptions for KafkaOptions {
    fn rules(&self) -> SchemeRules {
        SchemeRules {
            nodes: NodeCount::AtLeastOne,
            tls: true,
            unverified_tls: true,
            credentials: Some("kafka-proxy"),
        }
    }

    fn validate(&self, _up: &Upstream) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if self.fetch_consumers == 0 || self.fetch_consumers > 64 {
            return bad("upstream.fetch_consumers", "must be between 1 and 64");
        }
        if !(self.metadata_refresh_secs >= 0.1 && self.metadata_refresh_secs <= 3600.0) {
            return bad(
                "upstream.metadata_refresh_secs",
                "must be between 0.1 and 3600",
            );
        }
        if self.partition_cache_bytes == 0 {
            return bad("upstream.partition_cache_bytes", "must be greater than 0");
        }
        for key in self.properties.keys() {
            if OWNED_KAFKA_KEYS.contains(&key.as_str())
                || OWNED_KAFKA_PREFIXES.iter().any(|p| key.starts_with(p))
            {
                return Err((
                    format!("upstream.kafka.{key}"),
                    "is set by the gateway from the route (nodes, tls, plugins.kafka-proxy); it cannot be overridden"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}
