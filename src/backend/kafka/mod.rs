//! The Kafka scheme, over rdkafka, talking to the brokers in `upstream.nodes` directly.
//!
//! Clients are shared per upstream, never per connection:
//! - one idempotent producer (acks=all, Kafka's murmur2 partitioner);
//! - one metadata client for metadata, watermarks and offsets by time;
//! - a small pool of fetch consumers serving `cmd_kafka_fetch` and catch-up reads;
//! - one tail consumer for every non-group subscription: each subscribed partition is read once,
//!   each message decoded and encoded once, then fanned out to every subscriber as shared bytes;
//! - group subscriptions are real group members, one consumer each (capped by
//!   `max_group_consumers`), so plain Kafka consumers in the same group share partitions with
//!   gateway clients.
//!
//! Slow subscribers never hold the tail back: a subscriber whose queue is full (or whose
//! max_in_flight window is used up) is detached and catches up from the partition cache or the
//! broker on its own, then re-attaches; nothing is lost or duplicated.
//!
//! Files by job: `client` (settings, errors, diagnostics, health), `inner` (the shared clients
//! and blocking calls), `catalog` (shared pattern metadata), `fetch` (the fetch pool), `tail`
//! (shared fan-out and catch-up), `groups` (group members), `acks` (a member's per-message
//! acknowledgements, nacks and dead letters), this file (the backend and its subscriptions).

mod acks;
mod catalog;
mod client;
mod fetch;
mod groups;
mod inner;
mod tail;
#[cfg(test)]
mod tests;

use acks::*;
use catalog::*;
use client::*;
use fetch::*;
use groups::*;
use inner::*;
use tail::*;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::FutureExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::util::Timeout;
use rdkafka::{ClientContext, Message as _, Offset, TopicPartitionList};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{
    FetchLimits, PushSink, Record, SinkClosed, Start, SubscribeSpec, Subscription, Target,
};
use crate::config::{DeliveryPolicy, KafkaOptions, Route, SaslMechanism};
use crate::error::{GatewayError, Result};

type Tp = (Arc<str>, i32);

/// Messages per push or fetch batch read from a consumer at once.
const BATCH: usize = 256;
/// Bytes a push frame collects before it goes out (more when a single message is larger).
const PUSH_BYTES: usize = 256 * 1024;
/// How often a long-polling fetch looks for new messages.
const LONG_POLL_CHECK: Duration = Duration::from_millis(200);
/// Blocking librdkafka calls (metadata, offsets) in flight at once per upstream.
const ADMIN_CONCURRENCY: usize = 32;
/// How long partition counts are trusted before produce asks the broker again.
const PARTITION_COUNT_TTL: Duration = Duration::from_secs(10);
pub struct KafkaBackend {
    inner: Arc<Inner>,
    /// The route's `delivery:` policy, run by group members in the gateway.
    policy: Arc<DeliveryPolicy>,
}

impl KafkaBackend {
    /// Builds the shared clients. Nothing connects yet, so the gateway starts with Kafka down.
    pub fn new(route: &Route, opts: &KafkaOptions) -> std::result::Result<KafkaBackend, String> {
        let up = &route.upstream;
        let mut base = ClientConfig::new();
        base.set("bootstrap.servers", up.nodes.0.join(","));
        base.set("client.id", "pubsub-gateway");
        base.set(
            "socket.connection.setup.timeout.ms",
            (up.timeout.connect().as_millis().max(1000)).to_string(),
        );
        let sasl = route
            .plugins
            .kafka_proxy
            .as_ref()
            .and_then(|k| k.sasl.as_ref());
        let protocol = match (up.tls.is_some(), sasl.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        };
        base.set("security.protocol", protocol);
        if let Some(tls) = &up.tls {
            base.set(
                "enable.ssl.certificate.verification",
                if tls.verify { "true" } else { "false" },
            );
            base.set(
                "ssl.endpoint.identification.algorithm",
                if tls.verify { "https" } else { "none" },
            );
            if let Some(ca) = &tls.ca_file {
                base.set("ssl.ca.location", ca.display().to_string());
            }
            if let Some(cert) = &tls.client_cert {
                base.set("ssl.certificate.location", cert.display().to_string());
            }
            if let Some(key) = &tls.client_key {
                base.set("ssl.key.location", key.display().to_string());
            }
        }
        if let Some(sasl) = sasl {
            base.set("sasl.mechanism", sasl.mechanism.as_str());
            base.set("sasl.username", &sasl.username);
            base.set("sasl.password", &sasl.password);
            if sasl.mechanism == SaslMechanism::Plain && up.tls.is_none() {
                tracing::warn!(route = %route.uri, "SASL PLAIN without TLS sends the password in clear text");
            }
        }
        for (k, v) in &opts.properties {
            base.set(k, v);
        }
        let timeout = up.timeout.read();
        let send_timeout = up.timeout.send();

        let diag = Arc::new(Diagnostics::default());
        let context = GwContext { diag: diag.clone() };
        let mut producer_config = base.clone();
        producer_config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("message.timeout.ms", send_timeout.as_millis().to_string());
        default_setting(&mut producer_config, "linger.ms", "1");
        default_setting(&mut producer_config, "queue.buffering.max.kbytes", "65536");
        let producer: FutureProducer<GwContext> = producer_config
            .create_with_context(context.clone())
            .map_err(|e| format!("cannot create the kafka producer: {e}"))?;
        let admin: BaseConsumer<GwContext> = consumer_config(&base)
            .create_with_context(context.clone())
            .map_err(|e| format!("cannot create the kafka metadata client: {e}"))?;
        let mut fetchers = Vec::with_capacity(opts.fetch_consumers);
        for _ in 0..opts.fetch_consumers {
            let mut config = consumer_config(&base);
            config.set("auto.offset.reset", "error");
            default_setting(&mut config, "queued.max.messages.kbytes", "16384");
            let consumer: StreamConsumer<GwContext> =
                config
                    .create_with_context(context.clone())
                    .map_err(|e| format!("cannot create a kafka fetch consumer: {e}"))?;
            fetchers.push(tokio::sync::Mutex::new(Fetcher {
                consumer,
                at: None,
                held: None,
            }));
        }
        Ok(KafkaBackend {
            inner: Arc::new(Inner {
                base,
                timeout,
                send_timeout,
                refresh: Duration::from_secs_f64(opts.metadata_refresh_secs),
                cache_messages: opts.partition_cache_messages,
                cache_bytes: opts.partition_cache_bytes,
                max_group_consumers: opts.max_group_consumers,
                group_consumers: AtomicUsize::new(0),
                diag,
                producer,
                admin: Arc::new(admin),
                admin_permits: Semaphore::new(ADMIN_CONCURRENCY),
                fetchers,
                tail: OnceLock::new(),
                context,
                watermarks: Mutex::new(HashMap::new()),
                partition_counts: Mutex::new(HashMap::new()),
                catalog: tokio::sync::watch::channel(None).0,
                catalog_task: OnceLock::new(),
                shutdown: CancellationToken::new(),
            }),
            policy: Arc::new(route.delivery.clone()),
        })
    }
}

impl Drop for KafkaBackend {
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
        // The last reference closes every librdkafka client of the upstream, which blocks
        // (the producer flushes for up to 500 ms): let that happen on a blocking thread.
        // Subscriptions still running keep their reference and drop it when they end.
        let inner = self.inner.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn_blocking(move || {
                for _ in 0..100 {
                    if Arc::strong_count(&inner) == 1 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                drop(inner);
            });
        }
    }
}

struct KafkaSubscription {
    cancel: CancellationToken,
    flow: Arc<super::Flow>,
    /// Weak: the member's loop owns the consumer, so closing it (which blocks while it leaves
    /// the group) always happens on a blocking thread, never on an async worker.
    group: Option<std::sync::Weak<StreamConsumer<GroupContext>>>,
    member: Option<Arc<Member>>,
    inner: Arc<Inner>,
    policy: Arc<DeliveryPolicy>,
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn commit(&self, offsets: Vec<super::CommitOffset>) -> Result<()> {
        if let Some(consumer) = &self.group {
            let consumer = consumer.upgrade().ok_or_else(|| {
                GatewayError::Unavailable("the group member has left the group".into())
            })?;
            if let Some(member) = &self.member {
                let owned = lock(&member.owned);
                if let Some(o) = offsets
                    .iter()
                    .find(|o| !owned.contains(&(Arc::from(o.topic.as_str()), o.partition)))
                {
                    // Committing a partition another member now reads would move its position.
                    return Err(GatewayError::Conflict(format!(
                        "partition {}/{} is not assigned to this group member",
                        o.topic, o.partition
                    )));
                }
            }
            if let Some(o) = offsets.iter().find(|o| o.offset < 0) {
                return Err(GatewayError::BadRequest(format!(
                    "invalid commit offset {}",
                    o.offset
                )));
            }
            let points: Vec<(Tp, i64)> = offsets
                .iter()
                .map(|o| ((Arc::from(o.topic.as_str()), o.partition), o.offset))
                .collect();
            commit_points(&consumer, &points, self.inner.timeout).await?;
            if let Some(member) = &self.member {
                // A commit acknowledges every delivery below it (`acks`): mixing the two is
                // defined, as on the embedded broker.
                let mut acks = lock(&member.acks);
                for (tp, offset) in &points {
                    acks.committed_below(tp, *offset);
                }
                drop(acks);
                member.wake.notify_one();
            }
        }
        for o in &offsets {
            self.flow.ack(&o.topic, o.partition, o.offset);
        }
        Ok(())
    }

    async fn ack(&self, positions: Vec<super::Position>) -> Result<()> {
        self.settle(positions, Settle::Ack).await
    }

    async fn nack(&self, positions: Vec<super::Position>, delay: Duration) -> Result<()> {
        self.settle(positions, Settle::Nack(delay)).await
    }

    fn close(&self) {
        self.cancel.cancel();
    }
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

const CAPABILITIES: super::Capabilities = super::Capabilities {
    description: std::borrow::Cow::Borrowed("Kafka"),
    ack: true,
    nack: true,
    ..super::KAFKA_LIKE
};

#[async_trait]
impl super::Backend for KafkaBackend {
    fn scheme(&self) -> &'static str {
        "kafka"
    }

    fn capabilities(&self) -> &super::Capabilities {
        &CAPABILITIES
    }

    async fn list_offset(&self, req: &super::ListOffset) -> Result<i64> {
        let tp: Tp = (Arc::from(req.topic.as_str()), req.partition);
        match req.timestamp {
            -1 => Ok(self.inner.watermarks(&tp).await?.1),
            -2 => Ok(self.inner.watermarks(&tp).await?.0),
            ts => self.inner.offset_for_time(&tp, ts).await,
        }
    }

    async fn fetch(&self, req: &super::Fetch, limits: FetchLimits) -> Result<Vec<Arc<Record>>> {
        let tp: Tp = (Arc::from(req.topic.as_str()), req.partition);
        if let Some(Ok(tail)) = self.inner.tail.get() {
            if let Some(records) = tail.cached(&tp, req.offset, limits) {
                return Ok(records);
            }
        }
        let (_, hi) = self.inner.check_offset(&tp, req.offset).await?;
        if req.offset >= hi {
            // A long poll waits for the end to move without holding a pooled consumer: a few
            // long polls would otherwise keep every other fetch of the upstream waiting.
            if limits.max_wait.is_zero()
                || !self.inner.arrival(&tp, req.offset, limits.max_wait).await?
            {
                return Ok(Vec::new());
            }
            if let Some(Ok(tail)) = self.inner.tail.get() {
                if let Some(records) = tail.cached(&tp, req.offset, limits) {
                    return Ok(records);
                }
            }
        }
        self.inner
            .read(&tp, req.offset, limits, self.inner.timeout)
            .await
    }

    async fn produce(&self, req: super::Publish) -> Result<super::Published> {
        self.inner.produce(req).await
    }

    async fn metadata(&self, topic: &str) -> Result<super::TopicMetadata> {
        let count = self.inner.topic_partitions(topic).await?;
        let name: Arc<str> = Arc::from(topic);
        let mut partitions = Vec::with_capacity(count as usize);
        for p in 0..count {
            let (earliest, latest) = self.inner.watermarks(&(name.clone(), p)).await?;
            partitions.push(super::PartitionInfo {
                partition: p,
                earliest,
                latest,
                // Kafka's topic ids (KIP-516) would be one; not tracked yet.
                epoch: 0,
            });
        }
        Ok(super::TopicMetadata {
            topic: topic.to_owned(),
            partitions,
        })
    }

    async fn subscribe(
        &self,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        match spec.group.clone() {
            Some(group) => self.subscribe_group(group, spec, sink).await,
            None => self.subscribe_shared(spec, sink).await,
        }
    }

    async fn ready(&self) -> Result<()> {
        self.inner
            .admin_call(|c, t| c.fetch_metadata(None, t).map(|_| ()))
            .await
    }
}

impl KafkaBackend {
    async fn subscribe_shared(
        &self,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        let inner = self.inner.clone();
        let tail = inner.tail()?;
        let Matched { tps, failed } = inner.matching(&spec).await?;
        if matches!(spec.target, Target::Topic(_)) && tps.is_empty() {
            return Err(GatewayError::UnknownTopicOrPartition);
        }
        // Start offsets are fixed before the reply, so LATEST misses nothing produced after it.
        let mut starts = Vec::with_capacity(tps.len());
        for tp in &tps {
            starts.push((tp.clone(), inner.resolve(tp, spec.start).await?));
        }
        let shared = Arc::new(SubShared {
            sink: sink.clone(),
            match_headers: spec.match_headers.clone(),
            lagging: Mutex::new(Vec::new()),
            wake: Notify::new(),
        });
        let cancel = CancellationToken::new();
        let mut joined = Joined {
            tail: tail.clone(),
            sub: shared.clone(),
            tps: BTreeSet::new(),
        };
        for (tp, start) in starts {
            joined.add(&tp, start)?;
        }
        let flow = sink.flow.clone();
        let catalog = matches!(spec.target, Target::Pattern(_)).then(|| inner.watch_catalog());
        tokio::spawn(shared_loop(
            inner.clone(),
            spec,
            joined,
            cancel.clone(),
            catalog,
            failed,
        ));
        Ok(Arc::new(KafkaSubscription {
            cancel,
            flow,
            group: None,
            member: None,
            inner,
            policy: self.policy.clone(),
        }))
    }

    async fn subscribe_group(
        &self,
        group: String,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        if !spec.partitions.is_empty() {
            return Err(GatewayError::BadRequest(
                "partitions cannot be combined with group: the group assigns partitions".into(),
            ));
        }
        let inner = self.inner.clone();
        let slot = GroupSlot::take(&inner)?;
        let Matched { tps, failed } = inner.matching(&spec).await?;
        let topics: Vec<String> = match &spec.target {
            Target::Topic(t) => vec![t.clone()],
            Target::Pattern(_) => topics_of(&tps),
        };
        // Fixed before the reply, so LATEST misses nothing produced after it.
        let starts = GroupStarts::resolve(&inner, spec.start, &tps).await?;
        let mut lookup_config = consumer_config(&inner.base);
        lookup_config.set("group.id", &group);
        let mut lookup = Lookup {
            config: lookup_config,
            client: None,
        };
        if spec.start != Start::Earliest {
            lookup.warm(&tps, inner.timeout).await;
        }
        let (events_tx, events) = tokio::sync::mpsc::unbounded_channel();
        let context = GroupContext {
            diag: inner.diag.clone(),
            events: events_tx,
        };
        let mut config = consumer_config(&inner.base);
        config.set("group.id", &group).set(
            "auto.offset.reset",
            if spec.start == Start::Earliest {
                "earliest"
            } else {
                "latest"
            },
        );
        default_setting(&mut config, "session.timeout.ms", "10000");
        default_setting(&mut config, "queued.max.messages.kbytes", "4096");
        let consumer: StreamConsumer<GroupContext> = config
            .create_with_context(context)
            .map_err(|e| upstream_error(&e))?;
        let consumer = Arc::new(consumer);
        if !topics.is_empty() {
            let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
            consumer.subscribe(&refs).map_err(|e| upstream_error(&e))?;
        }
        let cancel = CancellationToken::new();
        let flow = sink.flow.clone();
        let member = Arc::new(Member {
            group,
            owned: Mutex::new(BTreeSet::new()),
            acks: Mutex::new(Acks::new(spec.max_in_flight, self.policy.ordered)),
            wake: Notify::new(),
        });
        let catalog = matches!(spec.target, Target::Pattern(_)).then(|| inner.watch_catalog());
        tokio::spawn(group_loop(GroupRun {
            catalog,
            failed,
            inner: inner.clone(),
            consumer: consumer.clone(),
            spec,
            topics,
            sink,
            cancel: cancel.clone(),
            slot,
            events,
            member: member.clone(),
            starts,
            lookup,
        }));
        Ok(Arc::new(KafkaSubscription {
            cancel,
            flow,
            group: Some(Arc::downgrade(&consumer)),
            member: Some(member),
            inner,
            policy: self.policy.clone(),
        }))
    }
}

impl Inner {
    /// Produces one message with the upstream's producer (client publishes and dead letters).
    pub(super) async fn produce(&self, req: super::Publish) -> Result<super::Published> {
        let inner = self;
        inner.reachable().await?;
        let mut count = inner.partition_count(&req.topic).await?;
        if let Some(p) = req.partition {
            if p >= count {
                count = inner.topic_partitions(&req.topic).await?;
            }
            if p < 0 || p >= count {
                return Err(GatewayError::UnknownTopicOrPartition);
            }
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&req.topic).payload(&req.value[..]);
        if !req.key.is_empty() {
            record = record.key(&req.key[..]);
        }
        if let Some(p) = req.partition {
            record = record.partition(p);
        }
        if req.timestamp > 0 {
            record = record.timestamp(req.timestamp);
        }
        if !req.headers.is_empty() {
            let mut hs = OwnedHeaders::new_with_capacity(req.headers.len());
            for h in &req.headers {
                hs = hs.insert(Header {
                    key: &h.key,
                    value: Some(&h.value[..]),
                });
            }
            record = record.headers(hs);
        }
        let send = inner
            .producer
            .send(record, Timeout::After(inner.send_timeout));
        match tokio::time::timeout(inner.send_timeout + Duration::from_secs(1), send).await {
            Ok(Ok(d)) => {
                inner.diag.health.ok();
                Ok(super::Published {
                    partition: d.partition,
                    offset: d.offset,
                    position: String::new(),
                })
            }
            Ok(Err((e, _))) => Err(inner.unreachable(upstream_error(&e))),
            Err(_) => Err(GatewayError::Timeout(
                "kafka did not acknowledge in time".into(),
            )),
        }
    }
}
