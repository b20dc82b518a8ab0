//! Backends: one `Arc<dyn Backend>` per route, built once from config and chosen by scheme.
//!
//! Every operation but the ones a scheme implements answers "unknown command", so a scheme can
//! grow command by command. Messages travel as [`Record`]s, encoded to protobuf once when they
//! enter the gateway and shared by every reply and push that carries them.

#[cfg(feature = "aws")]
pub mod aws;
mod capabilities;
pub mod dead_letter;
pub mod embedded;
#[cfg(feature = "gcp-pubsub")]
pub mod gcp;
pub mod idempotency;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(any(
    feature = "nats",
    feature = "rabbitmq",
    feature = "redis",
    feature = "mqtt",
    feature = "gcp-pubsub",
    feature = "aws"
))]
mod live;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;
mod sink;
mod spec;

pub use crate::record::Header;
pub use capabilities::{Capabilities, TopicUse, Wildcards, ALL_STARTS, KAFKA_LIKE};
pub use sink::{Flow, Gate, PushSink, SinkClosed, TaskGauge};
pub use spec::{
    CommitOffset, Fetch, FetchLimits, ListOffset, PartitionInfo, Position, Publish, Published,
    Start, SubscribeSpec, Target, TopicMetadata,
};

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::config::{Route, SchemeConfig};
use crate::error::{GatewayError, Result};

/// Locks a mutex even if a panic elsewhere poisoned it: one failed task must not take a broker
/// or a subscription down with it. Every scheme's shared state goes through this.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds the backend a route's scheme names.
pub fn build(route: &Route) -> Result<Arc<dyn Backend>, String> {
    // A scheme not compiled in is refused when the configuration is validated, naming its
    // feature (`Scheme::compiled`); these arms answer the same should one get here.
    #[allow(unreachable_patterns)]
    match &route.upstream.scheme {
        SchemeConfig::Embedded(o) => Ok(Arc::new(
            embedded::EmbeddedBackend::open(o.clone())?.with_delivery(route.delivery.clone()),
        )),
        #[cfg(feature = "kafka")]
        SchemeConfig::Kafka(o) => Ok(Arc::new(kafka::KafkaBackend::new(route, o)?)),
        #[cfg(feature = "nats")]
        SchemeConfig::Nats(o) => Ok(Arc::new(nats::NatsBackend::new(route, o.clone())?)),
        #[cfg(feature = "rabbitmq")]
        SchemeConfig::Rabbitmq(o) => Ok(Arc::new(rabbitmq::RabbitBackend::new(route, o.clone())?)),
        #[cfg(feature = "redis")]
        SchemeConfig::Redis(o) => Ok(Arc::new(redis::RedisBackend::new(route, o.clone())?)),
        #[cfg(feature = "mqtt")]
        SchemeConfig::Mqtt(o) => Ok(Arc::new(mqtt::MqttBackend::new(route, o.clone())?)),
        #[cfg(feature = "gcp-pubsub")]
        SchemeConfig::GcpPubsub(o) => Ok(Arc::new(gcp::GcpBackend::new(route, o.clone())?)),
        #[cfg(feature = "aws")]
        SchemeConfig::Aws(o) => Ok(Arc::new(aws::AwsBackend::new(route, o.clone())?)),
        other => Err(other.scheme().not_compiled()),
    }
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The scheme's name as clients see it in `RouteInfoResp.scheme`.
    fn scheme(&self) -> &'static str;
    fn capabilities(&self) -> &Capabilities;
    /// The scheme's topic syntax; Kafka's rules unless the scheme says otherwise.
    fn validate_topic(&self, topic: &str, _usage: TopicUse) -> Result<()> {
        validate_topic(topic)
    }
    async fn list_offset(&self, _req: &ListOffset) -> Result<i64> {
        Err(GatewayError::UnknownCommand)
    }
    async fn fetch(&self, _req: &Fetch, _limits: FetchLimits) -> Result<Vec<Arc<Record>>> {
        Err(GatewayError::UnknownCommand)
    }
    async fn produce(&self, _req: Publish) -> Result<Published> {
        Err(GatewayError::UnknownCommand)
    }
    async fn metadata(&self, _topic: &str) -> Result<TopicMetadata> {
        Err(GatewayError::UnknownCommand)
    }
    async fn subscribe(
        &self,
        _spec: SubscribeSpec,
        _sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        Err(GatewayError::UnknownCommand)
    }
    /// Whether the upstream answers now; for readiness reporting.
    async fn ready(&self) -> Result<()> {
        Ok(())
    }
}

/// A running push subscription. The session closes it on unsubscribe and on disconnect.
#[async_trait]
pub trait Subscription: Send + Sync {
    /// Acknowledges pushed messages below each offset (see max_in_flight); for a group
    /// subscription also commits them for the group (schemes whose capabilities say `commit`).
    async fn commit(&self, _offsets: Vec<CommitOffset>) -> Result<()> {
        Err(GatewayError::UnknownCommand)
    }
    /// Acknowledges delivered messages one by one (schemes whose capabilities say `ack`).
    async fn ack(&self, _positions: Vec<Position>) -> Result<()> {
        Err(GatewayError::UnknownCommand)
    }
    /// Gives delivered messages back for redelivery after `delay` (capability `nack`).
    async fn nack(&self, _positions: Vec<Position>, _delay: std::time::Duration) -> Result<()> {
        Err(GatewayError::UnknownCommand)
    }
    /// Stops delivery and leaves the group, if any. Idempotent.
    fn close(&self);
}

pub use crate::record::{Record, RecordParts};

/// The bytes a Kafka topic name may hold: `[a-zA-Z0-9._-]`.
const TOPIC_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-';
        b += 1;
    }
    t
};

/// Kafka's topic name rules, so names valid here are valid on a real cluster. (Checked on every
/// produce: a table lookup per byte.)
pub fn validate_topic(topic: &str) -> Result<()> {
    let ok = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic.bytes().all(|b| TOPIC_BYTES[usize::from(b)]);
    if ok {
        Ok(())
    } else {
        Err(GatewayError::BadRequest(format!(
            "invalid topic name `{topic}`: 1 to 249 of [a-zA-Z0-9._-]"
        )))
    }
}

/// A bounded wait on a broker: past `limit` the request answers 504 naming the broker and what
/// it did not answer.
pub async fn within<T>(
    broker: &str,
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(GatewayError::Timeout(format!(
            "{broker} did not answer {what} within {} ms",
            limit.as_millis()
        ))),
    }
}

/// How long a broker reader waits before its next attempt after `failures` failed ones in a
/// row: 100 ms, doubling, at most 2 s.
pub fn retry_delay(failures: u32) -> Duration {
    Duration::from_millis(50u64 << failures.min(6)).min(Duration::from_secs(2))
}

/// Waits `retry_delay(failures)` unless `cancel` comes first; true when it did.
pub async fn retry_pause(cancel: &tokio_util::sync::CancellationToken, failures: u32) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(retry_delay(failures)) => false,
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Kafka's `Utils.murmur2`, as used by its default partitioner for keyed messages.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for a key.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from Kafka's own UtilsTest.testMurmur2.
    #[test]
    fn murmur2_matches_kafka_test_vectors() {
        let cases: &[(&str, i32)] = &[
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            ("abc", 479470107),
        ];
        for (input, want) in cases {
            assert_eq!(murmur2(input.as_bytes()), *want, "murmur2({input:?})");
        }
    }
}
