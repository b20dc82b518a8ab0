//! Backends: one `Arc<dyn Backend>` per route, built once from config and chosen by scheme.
//!
//! Every operation but the ones a scheme implements answers "unknown command", so a scheme can
//! grow command by command. Messages travel as [`Record`]s, encoded to protobuf once when they
//! enter the gateway and shared by every reply and push that carries them.

pub mod embedded;
pub mod kafka;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use prost::Message as _;
use regex::Regex;
use tokio::sync::Notify;

use crate::codec;
use crate::config::{Route, Scheme};
use crate::error::{GatewayError, Result};
use crate::metrics::METRICS;
use crate::pb::{
    CmdKafkaFetch, CmdKafkaListOffset, CmdKafkaProduce, CmdKafkaSubscribe, KafkaHeader,
    KafkaMessage, KafkaMetadataResp, KafkaPartitionOffset, KafkaProduceResp, StartPosition,
};
use crate::session::Outbox;

/// Builds the backend a route's scheme names.
pub fn build(route: &Route) -> Result<Arc<dyn Backend>, String> {
    match route.upstream.scheme {
        Scheme::Embedded => Ok(Arc::new(embedded::EmbeddedBackend::new(
            route.upstream.embedded.clone(),
        ))),
        Scheme::Kafka => Ok(Arc::new(kafka::KafkaBackend::new(route)?)),
    }
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn list_offset(&self, _req: &CmdKafkaListOffset) -> Result<i64> {
        Err(GatewayError::UnknownCommand)
    }
    async fn fetch(&self, _req: &CmdKafkaFetch, _limits: FetchLimits) -> Result<Vec<Arc<Record>>> {
        Err(GatewayError::UnknownCommand)
    }
    async fn produce(&self, _req: CmdKafkaProduce) -> Result<KafkaProduceResp> {
        Err(GatewayError::UnknownCommand)
    }
    async fn metadata(&self, _topic: &str) -> Result<KafkaMetadataResp> {
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
    /// subscription also commits them for the group.
    async fn commit(&self, offsets: Vec<KafkaPartitionOffset>) -> Result<()>;
    /// Stops delivery and leaves the group, if any. Idempotent.
    fn close(&self);
}

/// Held by a backend task that delivers to a subscription, for as long as it runs: the
/// `pubsub_subscription_tasks` gauge shows tasks that outlive their connection.
pub struct TaskGauge(());

impl TaskGauge {
    pub fn new() -> TaskGauge {
        METRICS
            .subscription_tasks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        TaskGauge(())
    }
}

impl Default for TaskGauge {
    fn default() -> Self {
        TaskGauge::new()
    }
}

impl Drop for TaskGauge {
    fn drop(&mut self) {
        METRICS
            .subscription_tasks
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Effective fetch bounds after the server's limits are applied to a request.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    pub max_messages: usize,
    pub max_bytes: usize,
    pub max_wait: std::time::Duration,
}

/// One message, encoded as a `KafkaMessage` once and shared from then on.
#[derive(Debug)]
pub struct Record {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    /// Kept decoded for `match_headers` filtering.
    pub headers: Vec<KafkaHeader>,
    /// The encoded `KafkaMessage` (topic and partition set), without tag or length.
    pub encoded: Bytes,
}

impl Record {
    pub fn new(
        topic: Arc<str>,
        partition: i32,
        offset: i64,
        timestamp: i64,
        key: Bytes,
        value: Bytes,
        headers: Vec<KafkaHeader>,
    ) -> Record {
        let msg = KafkaMessage {
            offset,
            timestamp,
            key,
            value,
            headers,
            partition,
            topic: topic.to_string(),
        };
        let encoded = Bytes::from(msg.encode_to_vec());
        Record {
            topic,
            partition,
            offset,
            timestamp,
            headers: msg.headers,
            encoded,
        }
    }

    /// What this record costs in memory and in a reply, for byte limits.
    pub fn size(&self) -> usize {
        self.encoded.len()
    }

    pub fn matches_headers(&self, wanted: &[KafkaHeader]) -> bool {
        wanted.iter().all(|w| {
            self.headers
                .iter()
                .any(|h| h.key == w.key && h.value == w.value)
        })
    }
}

/// What to subscribe to: a topic, or every topic whose whole name matches a pattern.
#[derive(Debug, Clone)]
pub enum Target {
    Topic(String),
    Pattern(Regex),
}

impl Target {
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Target::Topic(t) => t == topic,
            Target::Pattern(re) => re.is_match(topic),
        }
    }
}

/// Where a partition's delivery starts when the group has no committed offset for it.
/// TIME_DELTA is resolved to a timestamp when the subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Latest,
    Earliest,
    Last,
    Offset(i64),
    Timestamp(i64),
}

/// A validated `CmdKafkaSubscribe`, the same for every backend.
#[derive(Debug, Clone)]
pub struct SubscribeSpec {
    pub target: Target,
    pub partitions: Vec<i32>,
    pub start: Start,
    pub group: Option<String>,
    pub match_headers: Vec<KafkaHeader>,
    pub max_in_flight: usize,
    /// Set when the connection's identity may read only some topics: pattern subscriptions
    /// then skip the others.
    pub allowed: Option<Arc<crate::auth::Identity>>,
}

/// Memory a compiled `topic_pattern` may take: a client cannot make the gateway build
/// megabytes of automaton.
const PATTERN_SIZE_LIMIT: usize = 256 * 1024;

impl SubscribeSpec {
    /// `max_pattern_bytes` caps the length of `topic_pattern` (`server.limits`).
    pub fn parse(cmd: CmdKafkaSubscribe, max_pattern_bytes: usize) -> Result<SubscribeSpec> {
        let bad = |m: String| GatewayError::BadRequest(m);
        let target = match (cmd.topic.is_empty(), cmd.topic_pattern.is_empty()) {
            (false, true) => {
                validate_topic(&cmd.topic)?;
                Target::Topic(cmd.topic)
            }
            (true, false) => {
                if cmd.topic_pattern.len() > max_pattern_bytes {
                    return Err(bad(format!(
                        "topic_pattern is {} bytes, over the limit of {max_pattern_bytes}",
                        cmd.topic_pattern.len()
                    )));
                }
                let re = regex::RegexBuilder::new(&format!("^(?:{})$", cmd.topic_pattern))
                    .size_limit(PATTERN_SIZE_LIMIT)
                    .dfa_size_limit(PATTERN_SIZE_LIMIT)
                    .build()
                    .map_err(|e| bad(format!("invalid topic_pattern: {e}")))?;
                Target::Pattern(re)
            }
            _ => {
                return Err(bad(
                    "exactly one of topic and topic_pattern must be set".into()
                ))
            }
        };
        if let Some(p) = cmd.partitions.iter().find(|p| **p < 0) {
            return Err(bad(format!("invalid partition {p}")));
        }
        let start = match StartPosition::try_from(cmd.start) {
            Ok(StartPosition::Latest) => Start::Latest,
            Ok(StartPosition::Earliest) => Start::Earliest,
            Ok(StartPosition::Last) => Start::Last,
            Ok(StartPosition::Offset) if cmd.start_value >= 0 => Start::Offset(cmd.start_value),
            Ok(StartPosition::Offset) => {
                return Err(bad(format!("invalid start offset {}", cmd.start_value)))
            }
            Ok(StartPosition::Timestamp) if cmd.start_value >= 0 => {
                Start::Timestamp(cmd.start_value)
            }
            Ok(StartPosition::TimeDelta) if cmd.start_value >= 0 => {
                Start::Timestamp(now_ms().saturating_sub(cmd.start_value))
            }
            Ok(StartPosition::Timestamp | StartPosition::TimeDelta) => {
                return Err(bad(format!("invalid start_value {}", cmd.start_value)))
            }
            Err(_) => return Err(bad(format!("unknown start position {}", cmd.start))),
        };
        if cmd.max_in_flight < 0 {
            return Err(bad("max_in_flight must not be negative".into()));
        }
        let mut partitions = cmd.partitions;
        partitions.sort_unstable();
        partitions.dedup();
        Ok(SubscribeSpec {
            target,
            partitions,
            start,
            group: Some(cmd.group).filter(|g| !g.is_empty()),
            match_headers: cmd.match_headers,
            max_in_flight: cmd.max_in_flight as usize,
            allowed: None,
        })
    }

    /// Whether a topic belongs to this subscription (its target, and the identity's ACL).
    pub fn matches_topic(&self, topic: &str) -> bool {
        self.target.matches(topic) && self.allowed.as_ref().is_none_or(|id| id.can_read(topic))
    }

    pub fn wants_partition(&self, p: i32) -> bool {
        self.partitions.is_empty() || self.partitions.binary_search(&p).is_ok()
    }
}

/// Kafka's topic name rules, so names valid here are valid on a real cluster.
pub fn validate_topic(topic: &str) -> Result<()> {
    let ok = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(GatewayError::BadRequest(format!(
            "invalid topic name `{topic}`: 1 to 249 of [a-zA-Z0-9._-]"
        )))
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

/// Pushed offsets not yet acknowledged, per (topic, partition).
type Pending = HashMap<(Arc<str>, i32), VecDeque<i64>>;

/// Flow control for one subscription: pushed messages not yet acknowledged by a commit, per
/// partition, capped at `limit` (0 = no cap).
pub struct Flow {
    limit: usize,
    pending: Mutex<Pending>,
    acked: Notify,
}

impl Flow {
    pub fn new(limit: usize) -> Flow {
        Flow {
            limit,
            pending: Mutex::new(HashMap::new()),
            acked: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many more messages may be pushed now.
    pub fn room(&self) -> usize {
        if self.limit == 0 {
            return usize::MAX;
        }
        let pending: usize = self.lock().values().map(VecDeque::len).sum();
        self.limit.saturating_sub(pending)
    }

    /// Resolves after the next acknowledgement.
    pub async fn acked(&self) {
        self.acked.notified().await
    }

    fn pushed(&self, records: &[Arc<Record>]) {
        if self.limit == 0 {
            return;
        }
        let mut pending = self.lock();
        for r in records {
            pending
                .entry((r.topic.clone(), r.partition))
                .or_default()
                .push_back(r.offset);
        }
    }

    /// The subscription no longer reads the partition (a rebalance took it): what was pushed
    /// from it can no longer be acknowledged by this member, so it stops counting.
    pub fn forget(&self, topic: &str, partition: i32) {
        if self.limit == 0 {
            return;
        }
        self.lock().remove(&(Arc::from(topic), partition));
        self.acked.notify_one();
    }

    /// Messages of the partition below `next_offset` are acknowledged.
    pub fn ack(&self, topic: &str, partition: i32, next_offset: i64) {
        if self.limit == 0 {
            return;
        }
        let mut pending = self.lock();
        if let Some(q) = pending.get_mut(&(Arc::from(topic), partition)) {
            while q.front().is_some_and(|o| *o < next_offset) {
                q.pop_front();
            }
        }
        drop(pending);
        self.acked.notify_one();
    }
}

/// Holds pushes back until the subscribe reply is queued, and shuts them off for good once the
/// subscription is unsubscribed: no push is queued after the unsubscribe's reply.
#[derive(Default)]
pub struct Gate {
    open: std::sync::atomic::AtomicBool,
    shut: std::sync::atomic::AtomicBool,
    changed: Notify,
    /// Held while a push is being queued; `shut` takes it, so a push already under way is in
    /// the queue before the unsubscribe reply, and none follows it.
    pushing: tokio::sync::Mutex<()>,
}

impl Gate {
    pub fn open(&self) {
        self.open.store(true, std::sync::atomic::Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Stops pushes; returns once no push is being queued any more.
    pub async fn shut(&self) {
        let _pushing = self.pushing.lock().await;
        self.shut_now();
    }

    /// Stops pushes without waiting, when the connection is going away anyway.
    pub fn shut_now(&self) {
        self.shut.store(true, std::sync::atomic::Ordering::Release);
        self.changed.notify_waiters();
    }

    fn is_open(&self) -> bool {
        self.open.load(std::sync::atomic::Ordering::Acquire)
    }

    fn is_shut(&self) -> bool {
        self.shut.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits until pushes may go: true when open, false when shut.
    async fn wait(&self) -> bool {
        loop {
            let changed = self.changed.notified();
            if self.is_shut() {
                return false;
            }
            if self.is_open() {
                return true;
            }
            changed.await;
        }
    }
}

/// Where a subscription's pushes go: the connection's bounded outbound queue.
#[derive(Clone)]
pub struct PushSink {
    tx: Outbox,
    pub subscription_id: i64,
    pub sequence: i64,
    pub flow: Arc<Flow>,
    gate: Arc<Gate>,
}

fn count_push(messages: usize, bytes: u64) {
    use std::sync::atomic::Ordering::Relaxed;
    METRICS.push_messages.fetch_add(messages as u64, Relaxed);
    METRICS.push_bytes.fetch_add(bytes, Relaxed);
}

/// The connection has gone; the subscription should stop.
#[derive(Debug)]
pub struct SinkClosed;

impl PushSink {
    pub fn new(tx: Outbox, subscription_id: i64, sequence: i64, max_in_flight: usize) -> PushSink {
        PushSink {
            tx,
            subscription_id,
            sequence,
            flow: Arc::new(Flow::new(max_in_flight)),
            gate: Arc::new(Gate::default()),
        }
    }

    pub fn gate(&self) -> Arc<Gate> {
        self.gate.clone()
    }

    /// Queues one push frame, waiting while the connection's queue is full (backpressure: the
    /// subscription falls behind in the log instead of buffering in memory).
    pub async fn push(&self, records: &[Arc<Record>]) -> Result<(), SinkClosed> {
        if records.is_empty() {
            return Ok(());
        }
        // The subscribe reply may never be queued (the connection went away first).
        let open = tokio::select! {
            open = self.gate.wait() => open,
            _ = self.tx.closed() => false,
        };
        if !open {
            return Err(SinkClosed);
        }
        let _pushing = self.gate.pushing.lock().await;
        if self.gate.is_shut() {
            return Err(SinkClosed);
        }
        let frame = codec::push_frame(self.sequence, self.subscription_id, records);
        let bytes = frame.len() as u64;
        self.tx.send_frame(frame).await.map_err(|_| SinkClosed)?;
        self.flow.pushed(records);
        count_push(records.len(), bytes);
        Ok(())
    }

    /// Queues one push frame only if there is room now; for shared fan-out, where one slow
    /// subscriber must not hold back the others.
    pub fn try_push(&self, records: &[Arc<Record>]) -> Result<bool, SinkClosed> {
        if records.is_empty() {
            return Ok(true);
        }
        if self.gate.is_shut() {
            return Err(SinkClosed);
        }
        // A push being queued by another task (a catch-up) goes first; this one waits its turn.
        let Ok(_pushing) = self.gate.pushing.try_lock() else {
            return Ok(false);
        };
        if self.gate.is_shut() {
            return Err(SinkClosed);
        }
        if !self.gate.is_open() || self.flow.room() < records.len() {
            return Ok(false);
        }
        let frame = codec::push_frame(self.sequence, self.subscription_id, records);
        let bytes = frame.len() as u64;
        match self.tx.try_send_frame(frame) {
            Ok(true) => {
                self.flow.pushed(records);
                count_push(records.len(), bytes);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(_) => Err(SinkClosed),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed() || self.gate.is_shut()
    }
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

    #[test]
    fn subscribe_spec_needs_exactly_one_target() {
        let both = CmdKafkaSubscribe {
            topic: "a".into(),
            topic_pattern: "b.*".into(),
            ..Default::default()
        };
        assert!(SubscribeSpec::parse(both, 1024).is_err());
        assert!(SubscribeSpec::parse(CmdKafkaSubscribe::default(), 1024).is_err());
    }

    #[test]
    fn topic_pattern_matches_whole_names_only() {
        let spec = SubscribeSpec::parse(
            CmdKafkaSubscribe {
                topic_pattern: "orders-.*".into(),
                ..Default::default()
            },
            1024,
        )
        .unwrap();
        assert!(spec.target.matches("orders-eu"));
        assert!(!spec.target.matches("old-orders-eu"));
    }

    #[test]
    fn flow_room_shrinks_with_pushes_and_grows_with_acks() {
        let flow = Flow::new(3);
        let t: Arc<str> = Arc::from("t");
        let recs: Vec<_> = (0..3)
            .map(|o| {
                Arc::new(Record::new(
                    t.clone(),
                    0,
                    o,
                    0,
                    Bytes::new(),
                    Bytes::new(),
                    vec![],
                ))
            })
            .collect();
        flow.pushed(&recs);
        assert_eq!(flow.room(), 0);
        flow.ack("t", 0, 2);
        assert_eq!(flow.room(), 2);
    }
}
