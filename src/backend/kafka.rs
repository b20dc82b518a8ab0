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

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
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
use crate::config::{Route, SaslMechanism};
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Maps an rdkafka error to the gateway's codes; never includes configuration (no secrets).
fn upstream_error(e: &KafkaError) -> GatewayError {
    use RDKafkaErrorCode as C;
    crate::metrics::METRICS
        .kafka_client_errors
        .fetch_add(1, Ordering::Relaxed);
    match e.rdkafka_error_code() {
        Some(C::UnknownTopicOrPartition | C::UnknownTopic | C::UnknownPartition) => {
            GatewayError::UnknownTopicOrPartition
        }
        Some(C::MessageTimedOut | C::OperationTimedOut | C::RequestTimedOut) => {
            GatewayError::Timeout(format!("kafka did not answer in time ({e})"))
        }
        Some(
            C::AllBrokersDown
            | C::BrokerTransportFailure
            | C::NetworkException
            | C::BrokerNotAvailable
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::Resolve,
        ) => GatewayError::Unavailable(format!("kafka unavailable ({e})")),
        Some(C::Authentication | C::SaslAuthenticationFailed) => {
            GatewayError::Upstream("authentication with the kafka brokers failed".into())
        }
        _ => GatewayError::Upstream(format!("kafka error: {e}")),
    }
}

fn join_error(e: tokio::task::JoinError) -> GatewayError {
    GatewayError::Upstream(format!("kafka call failed: {e}"))
}

/// Turns a consumed message into a record: decoded and encoded once, here.
fn to_record(m: &BorrowedMessage<'_>, topic: &Arc<str>) -> Arc<Record> {
    let headers = m
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| super::Header {
                    key: h.key.to_owned(),
                    value: Bytes::copy_from_slice(h.value.unwrap_or_default()),
                })
                .collect()
        })
        .unwrap_or_default();
    Arc::new(Record::new(
        topic.clone(),
        m.partition(),
        m.offset(),
        m.timestamp().to_millis().unwrap_or(-1),
        Bytes::copy_from_slice(m.key().unwrap_or_default()),
        Bytes::copy_from_slice(m.payload().unwrap_or_default()),
        headers,
    ))
}

/// What librdkafka reported last about TLS or authentication: it reports those only through
/// the error callback, while the calls the gateway makes just see "transport failure" or a
/// timeout. Kept so a client is told the real cause.
#[derive(Default)]
struct Diagnostics {
    last: Mutex<Option<(Instant, Cause)>>,
    health: Health,
}

/// Whether the upstream is reachable, and the log of its trouble. librdkafka reports every
/// failed reconnect of every client (several a second while the cluster is down): the log
/// says when the state changes, and repeats are summarized at most once a minute.
#[derive(Default)]
struct Health {
    down: std::sync::atomic::AtomicBool,
    log: Mutex<TroubleLog>,
}

#[derive(Default)]
struct TroubleLog {
    down_since: Option<Instant>,
    /// Start of the current summary window; None before any trouble.
    window: Option<Instant>,
    /// Trouble reports not logged in the current window.
    quiet: u64,
}

/// How often repeated upstream trouble is summarized in the log.
const TROUBLE_SUMMARY: Duration = Duration::from_secs(60);
/// How long calls wait on an upstream known to be down before answering 503.
const DOWN_WAIT: Duration = Duration::from_millis(800);

impl Health {
    fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// A client reported a failure; `all_down` when no broker of the upstream is reachable.
    fn trouble(&self, all_down: bool, what: &str, reason: &str) {
        let mut log = lock(&self.log);
        if all_down && !self.is_down() {
            self.down.store(true, Ordering::Release);
            log.down_since = Some(Instant::now());
            log.window = Some(Instant::now());
            log.quiet = 0;
            tracing::warn!(
                reason,
                "kafka upstream unreachable; commands answer 503 until it is back"
            );
            return;
        }
        let fresh = log.window.is_none_or(|w| w.elapsed() >= TROUBLE_SUMMARY);
        if !fresh {
            log.quiet += 1;
            return;
        }
        let repeats = std::mem::take(&mut log.quiet);
        log.window = Some(Instant::now());
        if self.is_down() {
            let secs = log.down_since.map_or(0, |t| t.elapsed().as_secs());
            tracing::warn!(
                reason,
                repeats,
                down_for_secs = secs,
                "kafka upstream still unreachable"
            );
        } else if repeats > 0 {
            tracing::warn!(
                reason,
                repeats,
                "{what} (and {repeats} similar reports in the last minute)"
            );
        } else {
            tracing::warn!(reason, "{what}");
        }
    }

    /// A call to the upstream succeeded.
    fn ok(&self) {
        if !self.is_down() {
            return;
        }
        let mut log = lock(&self.log);
        if self.down.swap(false, Ordering::AcqRel) {
            let secs = log.down_since.take().map_or(0, |t| t.elapsed().as_secs());
            let repeats = std::mem::take(&mut log.quiet);
            log.window = None;
            tracing::info!(
                down_for_secs = secs,
                repeats,
                "kafka upstream reachable again"
            );
        }
    }
}

#[derive(Clone)]
enum Cause {
    Tls(String),
    Authentication,
}

/// How long a reported TLS or authentication failure explains later transport errors.
const CAUSE_TTL: Duration = Duration::from_secs(60);

impl Diagnostics {
    fn record(&self, cause: Cause) {
        *lock(&self.last) = Some((Instant::now(), cause));
    }

    fn clear(&self) {
        *lock(&self.last) = None;
    }

    /// A transport failure or timeout, explained by a recent TLS or authentication failure.
    fn explain(&self, err: GatewayError) -> GatewayError {
        if !matches!(err, GatewayError::Unavailable(_) | GatewayError::Timeout(_)) {
            return err;
        }
        match lock(&self.last).clone() {
            Some((at, Cause::Tls(reason))) if at.elapsed() < CAUSE_TTL => GatewayError::Upstream(
                format!("TLS handshake with the kafka brokers failed: {reason}"),
            ),
            Some((at, Cause::Authentication)) if at.elapsed() < CAUSE_TTL => {
                GatewayError::Upstream("authentication with the kafka brokers failed".into())
            }
            _ => err,
        }
    }
}

/// The context of every librdkafka client of one upstream: librdkafka's logs go to `tracing`,
/// and TLS and authentication failures are remembered for error replies. librdkafka's messages
/// never contain the SASL password.
#[derive(Clone)]
struct GwContext {
    diag: Arc<Diagnostics>,
}

fn observe(diag: &Diagnostics, error: &KafkaError, reason: &str) {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::SSL) => {
            // "ssl://host:port/id: SSL handshake failed: ...": keep what follows the address.
            let why = reason
                .split_once(": ")
                .map_or(reason, |(_, rest)| rest)
                .to_owned();
            diag.record(Cause::Tls(why));
        }
        Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed) => {
            diag.record(Cause::Authentication)
        }
        _ => {}
    }
    use RDKafkaErrorCode as C;
    match error.rdkafka_error_code() {
        Some(C::AllBrokersDown) => diag.health.trouble(true, "kafka client error", reason),
        Some(C::BrokerTransportFailure | C::Resolve | C::NetworkException) => {
            diag.health
                .trouble(false, &format!("kafka client error: {error}"), reason)
        }
        _ => tracing::warn!(error = %error, reason, "kafka client error"),
    }
}

/// librdkafka's own log lines, with connection failures (facility FAIL, one per failed
/// reconnect of each client) going through the upstream's trouble log.
fn log_line(diag: &Diagnostics, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
    use rdkafka::config::RDKafkaLogLevel as L;
    if fac == "FAIL"
        && matches!(
            level,
            L::Emerg | L::Alert | L::Critical | L::Error | L::Warning
        )
    {
        diag.health
            .trouble(false, "kafka broker connection failed", message);
        return;
    }
    log_to_tracing(level, fac, message);
}

fn log_to_tracing(level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
    use rdkafka::config::RDKafkaLogLevel as L;
    match level {
        L::Emerg | L::Alert | L::Critical | L::Error => {
            tracing::error!(target: "librdkafka", fac, "{message}")
        }
        L::Warning => tracing::warn!(target: "librdkafka", fac, "{message}"),
        L::Notice | L::Info => tracing::info!(target: "librdkafka", fac, "{message}"),
        L::Debug => tracing::debug!(target: "librdkafka", fac, "{message}"),
    }
}

impl ClientContext for GwContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_line(&self.diag, level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        observe(&self.diag, &error, reason);
    }
}

impl ConsumerContext for GwContext {}

pub struct KafkaBackend {
    inner: Arc<Inner>,
}

struct Inner {
    /// Connection settings every client of this upstream shares (brokers, TLS, SASL, extras).
    base: ClientConfig,
    timeout: Duration,
    send_timeout: Duration,
    refresh: Duration,
    cache_messages: usize,
    cache_bytes: usize,
    max_group_consumers: usize,
    group_consumers: AtomicUsize,
    diag: Arc<Diagnostics>,
    producer: FutureProducer<GwContext>,
    admin: Arc<BaseConsumer<GwContext>>,
    admin_permits: Semaphore,
    fetchers: Vec<tokio::sync::Mutex<Fetcher>>,
    tail: OnceLock<std::result::Result<Arc<Tail>, String>>,
    context: GwContext,
    watermarks: Mutex<HashMap<Tp, (i64, i64)>>,
    partition_counts: Mutex<HashMap<String, (i32, Instant)>>,
    /// The latest full topic list, shared by every pattern subscription of the upstream.
    catalog: tokio::sync::watch::Sender<Option<Arc<Catalog>>>,
    catalog_task: OnceLock<()>,
    /// Cancelled when the backend is dropped (route removed or replaced by a reload): stops
    /// the tasks that would otherwise keep this upstream's clients alive.
    shutdown: CancellationToken,
}

impl KafkaBackend {
    /// Builds the shared clients. Nothing connects yet, so the gateway starts with Kafka down.
    pub fn new(route: &Route) -> std::result::Result<KafkaBackend, String> {
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
        for (k, v) in &up.kafka {
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
        let mut fetchers = Vec::with_capacity(up.fetch_consumers);
        for _ in 0..up.fetch_consumers {
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
                refresh: Duration::from_secs_f64(up.metadata_refresh_secs),
                cache_messages: up.partition_cache_messages,
                cache_bytes: up.partition_cache_bytes,
                max_group_consumers: up.max_group_consumers,
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

/// A gateway default that the route's `upstream.kafka` properties may override.
fn default_setting(config: &mut ClientConfig, key: &str, value: &str) {
    if config.get(key).is_none() {
        config.set(key, value);
    }
}

/// Settings every gateway consumer shares: offsets are the gateway's to manage.
fn consumer_config(base: &ClientConfig) -> ClientConfig {
    let mut c = base.clone();
    c.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("allow.auto.create.topics", "false")
        .set("group.id", "pubsub-gateway-unused");
    default_setting(&mut c, "fetch.wait.max.ms", "100");
    c
}

impl Inner {
    /// Runs a blocking librdkafka call off the async threads, bounded in number and time.
    async fn admin_call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&BaseConsumer<GwContext>, Duration) -> std::result::Result<T, KafkaError>
            + Send
            + 'static,
    {
        let _permit = self
            .admin_permits
            .acquire()
            .await
            .map_err(|_| GatewayError::Unavailable("kafka client closed".into()))?;
        let admin = self.admin.clone();
        let down = self.diag.health.is_down();
        // Known down: one short try (which notices the upstream coming back), then 503.
        let timeout = if down {
            DOWN_WAIT.min(self.timeout)
        } else {
            self.timeout
        };
        let call = tokio::task::spawn_blocking(move || f(&admin, timeout));
        let result = match tokio::time::timeout(timeout + Duration::from_secs(1), call).await {
            Ok(joined) => joined.map_err(join_error)?.map_err(|e| upstream_error(&e)),
            Err(_) => Err(GatewayError::Timeout("kafka did not answer in time".into())),
        };
        if result.is_ok() {
            self.diag.clear();
            self.diag.health.ok();
        }
        result.map_err(|e| self.unreachable(self.diag.explain(e)))
    }

    /// While the upstream is known down, a timeout or transport failure says so.
    fn unreachable(&self, err: GatewayError) -> GatewayError {
        if self.diag.health.is_down()
            && matches!(err, GatewayError::Timeout(_) | GatewayError::Unavailable(_))
        {
            // Worded as librdkafka's own "all brokers down" (the reason is in the log).
            return upstream_error(&KafkaError::MetadataFetch(RDKafkaErrorCode::AllBrokersDown));
        }
        err
    }

    /// Answers 503 quickly when the upstream is known down and still is; for calls that would
    /// otherwise wait their full timeout (produce, reads with a pooled consumer).
    async fn reachable(&self) -> Result<()> {
        if self.diag.health.is_down() {
            self.admin_call(|c, t| c.fetch_metadata(None, t).map(|_| ()))
                .await?;
        }
        Ok(())
    }

    async fn watermarks(&self, tp: &Tp) -> Result<(i64, i64)> {
        let (topic, partition) = (tp.0.to_string(), tp.1);
        let w = self
            .admin_call(move |c, t| c.fetch_watermarks(&topic, partition, t))
            .await?;
        lock(&self.watermarks).insert(tp.clone(), w);
        Ok(w)
    }

    /// Checks an offset against [earliest, end], trusting a cached range when it already
    /// contains the offset (end only grows; retention is caught by the broker's own error).
    async fn check_offset(&self, tp: &Tp, offset: i64) -> Result<(i64, i64)> {
        if let Some((lo, hi)) = lock(&self.watermarks).get(tp).copied() {
            if offset >= lo && offset < hi {
                return Ok((lo, hi));
            }
        }
        let (lo, hi) = self.watermarks(tp).await?;
        if offset < lo || offset > hi {
            return Err(GatewayError::OffsetOutOfRange {
                offset,
                earliest: lo,
                end: hi,
            });
        }
        Ok((lo, hi))
    }

    async fn topic_partitions(&self, topic: &str) -> Result<i32> {
        let name = topic.to_owned();
        let md = self
            .admin_call(move |c, t| c.fetch_metadata(Some(&name), t))
            .await?;
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .ok_or(GatewayError::UnknownTopicOrPartition)?;
        if let Some(err) = t.error() {
            let code = RDKafkaErrorCode::from(err);
            return Err(upstream_error(&KafkaError::MetadataFetch(code)));
        }
        let n = t.partitions().len() as i32;
        if n == 0 {
            return Err(GatewayError::UnknownTopicOrPartition);
        }
        lock(&self.partition_counts).insert(topic.to_owned(), (n, Instant::now()));
        Ok(n)
    }

    async fn partition_count(&self, topic: &str) -> Result<i32> {
        if let Some((n, at)) = lock(&self.partition_counts).get(topic).copied() {
            if at.elapsed() < PARTITION_COUNT_TTL {
                return Ok(n);
            }
        }
        self.topic_partitions(topic).await
    }

    /// Every (topic, partition) a subscription covers, from fresh metadata.
    async fn matching(&self, spec: &SubscribeSpec) -> Result<Matched> {
        match &spec.target {
            Target::Topic(t) => {
                let name = t.clone();
                let topics = self
                    .admin_call(move |c, t| {
                        c.fetch_metadata(Some(&name), t).map(|md| topic_infos(&md))
                    })
                    .await?;
                select_topics(&topics, spec)
            }
            // Fresh: a topic a stale catalog missed would later count as new and replay from
            // its first message.
            Target::Pattern(_) => select_topics(&self.refresh_catalog().await?.topics, spec),
        }
    }

    /// Fetches every topic's metadata and publishes it to the pattern subscriptions.
    async fn refresh_catalog(&self) -> Result<Arc<Catalog>> {
        let topics = self
            .admin_call(|c, t| c.fetch_metadata(None, t).map(|md| topic_infos(&md)))
            .await?;
        let catalog = Arc::new(Catalog { topics });
        self.catalog.send_replace(Some(catalog.clone()));
        Ok(catalog)
    }

    /// Catalog updates for a pattern subscription; starts the upstream's one refresh task.
    fn watch_catalog(self: &Arc<Self>) -> tokio::sync::watch::Receiver<Option<Arc<Catalog>>> {
        self.catalog_task.get_or_init(|| {
            tokio::spawn(catalog_loop(
                Arc::downgrade(self),
                self.refresh,
                self.shutdown.clone(),
            ));
        });
        self.catalog.subscribe()
    }

    /// Where a partition's delivery starts.
    async fn resolve(&self, tp: &Tp, start: Start) -> Result<i64> {
        let (lo, hi) = self.watermarks(tp).await?;
        Ok(match start {
            Start::Latest => hi,
            Start::Earliest => lo,
            Start::Last => (hi - 1).max(lo),
            Start::Offset(o) => {
                if o < lo || o > hi {
                    return Err(GatewayError::OffsetOutOfRange {
                        offset: o,
                        earliest: lo,
                        end: hi,
                    });
                }
                o
            }
            Start::Timestamp(ts) => match self.offset_for_time(tp, ts).await? {
                -1 => hi,
                o => o,
            },
        })
    }

    async fn offset_for_time(&self, tp: &Tp, ts: i64) -> Result<i64> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(ts))
            .map_err(|e| upstream_error(&e))?;
        let out = self
            .admin_call(move |c, t| c.offsets_for_times(tpl, t))
            .await?;
        let offset = out
            .elements()
            .first()
            .map(|e| {
                if let Err(err) = e.error() {
                    return Err(upstream_error(&err));
                }
                Ok(match e.offset() {
                    Offset::Offset(o) => o,
                    _ => -1,
                })
            })
            .unwrap_or(Ok(-1))?;
        Ok(offset)
    }

    /// Waits until the partition holds a message at `offset` (the end of the log when called),
    /// watching the tail's cache and the broker's end offset; false when `wait` passed first.
    async fn arrival(&self, tp: &Tp, offset: i64, wait: Duration) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            tokio::time::sleep(left.min(LONG_POLL_CHECK)).await;
            if let Some(Ok(tail)) = self.tail.get() {
                if tail.has(tp, offset) {
                    return Ok(true);
                }
            }
            let (_, hi) = self.watermarks(tp).await?;
            if hi > offset {
                return Ok(true);
            }
        }
    }

    /// Reads up to the limits from `offset` (already checked to be in range) with a pooled
    /// fetch consumer, preferring one already positioned there.
    async fn read(
        &self,
        tp: &Tp,
        offset: i64,
        limits: FetchLimits,
        wait: Duration,
    ) -> Result<Vec<Arc<Record>>> {
        self.reachable().await?;
        let mut slot = None;
        for f in &self.fetchers {
            if let Ok(g) = f.try_lock() {
                let positioned = g.at.as_ref() == Some(&(tp.clone(), offset));
                if positioned || slot.is_none() {
                    slot = Some(g);
                    if positioned {
                        break;
                    }
                }
            }
        }
        let mut fetcher = match slot {
            Some(g) => g,
            None => {
                let i = (offset as usize).wrapping_add(tp.1 as usize) % self.fetchers.len().max(1);
                let f = self
                    .fetchers
                    .get(i)
                    .ok_or_else(|| GatewayError::Unavailable("no fetch consumer".into()))?;
                tokio::time::timeout(self.timeout, f.lock())
                    .await
                    .map_err(|_| {
                        GatewayError::Overloaded("all kafka fetch consumers are busy".into())
                    })?
            }
        };
        let result = fetcher.read(tp, offset, limits, wait).await;
        if result.as_ref().is_ok_and(|r| !r.is_empty()) {
            self.diag.health.ok();
        }
        result.map_err(|e| self.diag.explain(e))
    }

    fn tail(self: &Arc<Self>) -> Result<Arc<Tail>> {
        self.tail
            .get_or_init(|| {
                let mut config = consumer_config(&self.base);
                config.set("auto.offset.reset", "earliest");
                default_setting(&mut config, "queued.max.messages.kbytes", "32768");
                let consumer: StreamConsumer<GwContext> = config
                    .create_with_context(self.context.clone())
                    .map_err(|e| format!("cannot create the kafka tail consumer: {e}"))?;
                let tail = Arc::new(Tail {
                    consumer: Arc::new(consumer),
                    parts: Mutex::new(HashMap::new()),
                    cache_messages: self.cache_messages,
                    cache_bytes: self.cache_bytes,
                });
                tokio::spawn(tail.clone().run(self.shutdown.clone()));
                Ok(tail)
            })
            .clone()
            .map_err(GatewayError::Upstream)
    }
}

/// Every topic of the cluster, as one metadata request saw it.
struct Catalog {
    topics: Vec<TopicInfo>,
}

struct TopicInfo {
    name: Arc<str>,
    /// The broker reported an error for the topic (it may be transient).
    failed: bool,
    partitions: Vec<i32>,
}

fn topic_infos(md: &rdkafka::metadata::Metadata) -> Vec<TopicInfo> {
    md.topics()
        .iter()
        .map(|t| TopicInfo {
            name: Arc::from(t.name()),
            failed: t.error().is_some(),
            partitions: t.partitions().iter().map(|p| p.id()).collect(),
        })
        .collect()
}

/// What a subscription covers in one metadata view.
struct Matched {
    tps: BTreeSet<Tp>,
    /// Matching topics whose metadata had an error: they are not new, and when they come back
    /// they start where the subscription says, not at their first message.
    failed: BTreeSet<Arc<str>>,
}

fn select_topics(topics: &[TopicInfo], spec: &SubscribeSpec) -> Result<Matched> {
    let mut out = Matched {
        tps: BTreeSet::new(),
        failed: BTreeSet::new(),
    };
    for t in topics {
        if !spec.matches_topic(&t.name) || t.name.starts_with("__") {
            continue;
        }
        if t.failed {
            if matches!(spec.target, Target::Topic(_)) {
                return Err(GatewayError::UnknownTopicOrPartition);
            }
            out.failed.insert(t.name.clone());
            continue;
        }
        for p in &t.partitions {
            if spec.wants_partition(*p) {
                out.tps.insert((t.name.clone(), *p));
            }
        }
        if let (Target::Topic(_), Some(missing)) = (
            &spec.target,
            spec.partitions.iter().find(|p| !t.partitions.contains(p)),
        ) {
            return Err(GatewayError::BadRequest(format!(
                "topic {} has no partition {missing}",
                t.name
            )));
        }
    }
    Ok(out)
}

/// The upstream's one metadata refresh for all its pattern subscriptions; idle while there
/// are none. Holds the upstream weakly, so it never keeps a dropped backend's clients alive.
async fn catalog_loop(inner: std::sync::Weak<Inner>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(inner) = inner.upgrade() else { return };
        if inner.catalog.receiver_count() == 0 {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = inner.refresh_catalog() => if let Err(e) = r {
                tracing::debug!(error = %e, "topic metadata refresh failed");
            },
        }
    }
}

/// A pooled consumer for reads at arbitrary offsets.
struct Fetcher {
    consumer: StreamConsumer<GwContext>,
    /// The partition and next offset the consumer is positioned at.
    at: Option<(Tp, i64)>,
    /// A message read past a batch's limits, kept for the next read.
    held: Option<Arc<Record>>,
}

impl Fetcher {
    async fn read(
        &mut self,
        tp: &Tp,
        offset: i64,
        limits: FetchLimits,
        wait: Duration,
    ) -> Result<Vec<Arc<Record>>> {
        if self.at.as_ref() != Some(&(tp.clone(), offset)) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(offset))
                .map_err(|e| upstream_error(&e))?;
            self.consumer.assign(&tpl).map_err(|e| upstream_error(&e))?;
            self.at = Some((tp.clone(), offset));
            self.held = None;
        }
        let mut out: Vec<Arc<Record>> = Vec::new();
        let mut bytes = 0;
        let mut next = offset;
        if let Some(r) = self.held.take() {
            if r.offset >= next {
                bytes += r.size();
                next = r.offset + 1;
                out.push(r);
            }
        }
        let deadline = tokio::time::Instant::now() + wait;
        while out.len() < limits.max_messages {
            let msg = if out.is_empty() {
                match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                    Ok(m) => m,
                    Err(_) => break,
                }
            } else {
                match self.consumer.recv().now_or_never() {
                    Some(m) => m,
                    None => break,
                }
            };
            let m = match msg {
                Ok(m) => m,
                Err(e) => {
                    self.at = None;
                    return Err(match e.rdkafka_error_code() {
                        Some(RDKafkaErrorCode::OffsetOutOfRange) => {
                            GatewayError::OffsetOutOfRange {
                                offset: next,
                                earliest: -1,
                                end: -1,
                            }
                        }
                        _ => upstream_error(&e),
                    });
                }
            };
            // Stale messages from an earlier assignment are skipped.
            if m.topic() != &*tp.0 || m.partition() != tp.1 || m.offset() < next {
                continue;
            }
            let r = to_record(&m, &tp.0);
            if !out.is_empty() && bytes + r.size() > limits.max_bytes {
                self.held = Some(r);
                break;
            }
            bytes += r.size();
            next = r.offset + 1;
            out.push(r);
        }
        self.at = Some((tp.clone(), next));
        Ok(out)
    }
}

/// The shared tail consumer of one upstream: every partition some non-group subscription
/// reads, each read once.
struct Tail {
    consumer: Arc<StreamConsumer<GwContext>>,
    parts: Mutex<HashMap<Tp, Arc<TailPart>>>,
    cache_messages: usize,
    cache_bytes: usize,
}

struct TailPart {
    state: Mutex<TailState>,
}

struct TailState {
    /// Subscriptions reading this partition, attached or catching up.
    users: usize,
    /// The offset the tail consumer delivers next.
    next: i64,
    /// The most recent records, ending just before `next`.
    cache: VecDeque<Arc<Record>>,
    /// Encoded size of `cache`.
    cache_size: usize,
    attached: Vec<Attached>,
}

impl TailState {
    fn cache_start(&self) -> i64 {
        self.cache.front().map_or(self.next, |r| r.offset)
    }
}

/// A subscription receiving a partition live from the tail, from offset `from` on.
struct Attached {
    sub: Arc<SubShared>,
    from: i64,
}

impl Tail {
    /// Starts reading a partition for one more subscription; the first one positions the
    /// consumer at its start offset.
    fn join(&self, tp: &Tp, start: i64) -> Result<Arc<TailPart>> {
        let mut parts = lock(&self.parts);
        if let Some(p) = parts.get(tp) {
            lock(&p.state).users += 1;
            return Ok(p.clone());
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(start))
            .map_err(|e| upstream_error(&e))?;
        self.consumer
            .incremental_assign(&tpl)
            .map_err(|e| upstream_error(&e))?;
        let part = Arc::new(TailPart {
            state: Mutex::new(TailState {
                users: 1,
                next: start,
                cache: VecDeque::new(),
                cache_size: 0,
                attached: Vec::new(),
            }),
        });
        parts.insert(tp.clone(), part.clone());
        Ok(part)
    }

    fn leave(&self, tp: &Tp, sub: &Arc<SubShared>) {
        let mut parts = lock(&self.parts);
        let Some(p) = parts.get(tp).cloned() else {
            return;
        };
        let mut st = lock(&p.state);
        st.attached.retain(|a| !Arc::ptr_eq(&a.sub, sub));
        st.users = st.users.saturating_sub(1);
        if st.users == 0 {
            drop(st);
            parts.remove(tp);
            let mut tpl = TopicPartitionList::new();
            if tpl
                .add_partition(&tp.0, tp.1)
                .set_offset(Offset::Invalid)
                .is_ok()
            {
                if let Err(e) = self.consumer.incremental_unassign(&tpl) {
                    tracing::warn!(topic = %tp.0, partition = tp.1, error = %e, "tail unassign failed");
                }
            }
        }
    }

    /// Whether the tail has read the partition past `offset`.
    fn has(&self, tp: &Tp, offset: i64) -> bool {
        lock(&self.parts)
            .get(tp)
            .is_some_and(|p| lock(&p.state).next > offset)
    }

    /// Recent records from `offset`, if the cache covers it.
    fn cached(&self, tp: &Tp, offset: i64, limits: FetchLimits) -> Option<Vec<Arc<Record>>> {
        let p = lock(&self.parts).get(tp).cloned()?;
        let st = lock(&p.state);
        if offset < st.cache_start() || offset >= st.next {
            return None;
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        for r in st
            .cache
            .iter()
            .filter(|r| r.offset >= offset)
            .take(limits.max_messages)
        {
            if !out.is_empty() && bytes + r.size() > limits.max_bytes {
                break;
            }
            bytes += r.size();
            out.push(r.clone());
        }
        Some(out)
    }

    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut errors = 0u32;
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                m = self.consumer.recv() => m,
            };
            let mut batch = Vec::with_capacity(BATCH);
            match first {
                Ok(m) => batch.push(m),
                Err(e) => {
                    errors += 1;
                    if errors % 100 == 1 {
                        tracing::warn!(error = %e, "kafka tail consumer error");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
            errors = 0;
            while batch.len() < BATCH {
                match self.consumer.recv().now_or_never() {
                    Some(Ok(m)) => batch.push(m),
                    _ => break,
                }
            }
            // Consecutive messages of one partition go out as one push.
            let mut i = 0;
            while i < batch.len() {
                let topic = batch[i].topic();
                let partition = batch[i].partition();
                let mut j = i;
                while j < batch.len()
                    && batch[j].partition() == partition
                    && batch[j].topic() == topic
                {
                    j += 1;
                }
                let tp: Tp = (Arc::from(topic), partition);
                let records: Vec<_> = batch[i..j].iter().map(|m| to_record(m, &tp.0)).collect();
                self.deliver(&tp, records);
                i = j;
            }
        }
    }

    fn deliver(&self, tp: &Tp, records: Vec<Arc<Record>>) {
        let Some(p) = lock(&self.parts).get(tp).cloned() else {
            return;
        };
        let mut st = lock(&p.state);
        let fresh: Vec<_> = records
            .into_iter()
            .filter(|r| r.offset >= st.next)
            .collect();
        let Some(last) = fresh.last() else { return };
        st.next = last.offset + 1;
        for r in &fresh {
            st.cache_size += r.size();
            st.cache.push_back(r.clone());
        }
        while st.cache.len() > self.cache_messages || st.cache_size > self.cache_bytes {
            match st.cache.pop_front() {
                Some(r) => st.cache_size -= r.size(),
                None => break,
            }
        }
        st.attached.retain(|a| {
            let due: Vec<_> = fresh
                .iter()
                .filter(|r| r.offset >= a.from)
                .cloned()
                .collect();
            let Some(first) = due.first().map(|r| r.offset) else {
                return true;
            };
            match a.sub.sink.try_push(&a.sub.filter(&due)) {
                Ok(true) => true,
                Ok(false) => {
                    // Queue full or window used up: catch up alone from the first undelivered.
                    a.sub.lagging(tp.clone(), first);
                    false
                }
                Err(SinkClosed) => false,
            }
        });
    }
}

/// State a non-group subscription shares with the tail.
struct SubShared {
    sink: PushSink,
    match_headers: Vec<super::Header>,
    /// Partitions detached for lagging, with the offset to resume from.
    lagging: Mutex<Vec<(Tp, i64)>>,
    wake: Notify,
}

impl SubShared {
    fn filter(&self, records: &[Arc<Record>]) -> Vec<Arc<Record>> {
        records
            .iter()
            .filter(|r| r.matches_headers(&self.match_headers))
            .cloned()
            .collect()
    }

    fn lagging(&self, tp: Tp, from: i64) {
        lock(&self.lagging).push((tp, from));
        self.wake.notify_one();
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
            let mut tpl = TopicPartitionList::new();
            for o in &offsets {
                if o.offset < 0 {
                    return Err(GatewayError::BadRequest(format!(
                        "invalid commit offset {}",
                        o.offset
                    )));
                }
                tpl.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.offset))
                    .map_err(|e| upstream_error(&e))?;
            }
            let call = tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync));
            match tokio::time::timeout(self.inner.timeout, call).await {
                Ok(joined) => joined
                    .map_err(join_error)?
                    .map_err(|e| upstream_error(&e))?,
                Err(_) => {
                    return Err(GatewayError::Timeout(
                        "kafka commit did not finish in time".into(),
                    ))
                }
            }
        }
        for o in &offsets {
            self.flow.ack(&o.topic, o.partition, o.offset);
        }
        Ok(())
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
    description: "Kafka",
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
        let inner = &self.inner;
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
                })
            }
            Ok(Err((e, _))) => Err(inner.unreachable(upstream_error(&e))),
            Err(_) => Err(GatewayError::Timeout(
                "kafka did not acknowledge in time".into(),
            )),
        }
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
        }))
    }
}

fn topics_of(tps: &BTreeSet<Tp>) -> Vec<String> {
    let mut v: Vec<String> = tps.iter().map(|(t, _)| t.to_string()).collect();
    v.dedup();
    v
}

/// The partitions a non-group subscription holds in the tail; leaves them all when dropped.
struct Joined {
    tail: Arc<Tail>,
    sub: Arc<SubShared>,
    tps: BTreeSet<Tp>,
}

impl Joined {
    /// Joins a partition: attached at once when the start is at or past the tail's position,
    /// otherwise marked lagging to catch up from the cache or the broker.
    fn add(&mut self, tp: &Tp, start: i64) -> Result<()> {
        let part = self.tail.join(tp, start)?;
        self.tps.insert(tp.clone());
        let mut st = lock(&part.state);
        if start >= st.next {
            st.attached.push(Attached {
                sub: self.sub.clone(),
                from: start,
            });
        } else {
            drop(st);
            self.sub.lagging(tp.clone(), start);
        }
        Ok(())
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        for tp in &self.tps {
            self.tail.leave(tp, &self.sub);
        }
    }
}

/// A non-group subscription's own work: catching up partitions it fell behind on, and
/// picking up new partitions of matching topics.
async fn shared_loop(
    inner: Arc<Inner>,
    spec: SubscribeSpec,
    mut joined: Joined,
    cancel: CancellationToken,
    mut catalog: Option<tokio::sync::watch::Receiver<Option<Arc<Catalog>>>>,
    mut failed: BTreeSet<Arc<str>>,
) {
    let _task = super::TaskGauge::new();
    loop {
        let work: Vec<(Tp, i64)> = std::mem::take(&mut *lock(&joined.sub.lagging));
        for (tp, from) in work {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = catch_up(&inner, &joined, &tp, from) => if r.is_err() { return },
            }
        }
        if !lock(&joined.sub.lagging).is_empty() {
            continue;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = joined.sub.wake.notified() => {}
            changed = changed(&mut catalog) => {
                let Some(now) = changed else {
                    catalog = None;
                    continue;
                };
                let Ok(now) = select_topics(&now.topics, &spec) else { continue };
                let found = async {
                    let mut found = Vec::new();
                    for tp in now.tps.difference(&joined.tps) {
                        // A topic that failed before was already there: it starts where the
                        // subscription says. Anything else appeared after the subscription,
                        // so all its messages are new.
                        let start = if failed.contains(&tp.0) { spec.start } else { Start::Earliest };
                        if let Ok(o) = inner.resolve(tp, start).await {
                            found.push((tp.clone(), o));
                        }
                    }
                    found
                };
                let found = tokio::select! {
                    _ = cancel.cancelled() => return,
                    f = found => f,
                };
                for (tp, o) in found {
                    let _ = joined.add(&tp, o);
                }
                failed.retain(|t| now.failed.contains(t) || !joined.tps.iter().any(|(n, _)| n == t));
            }
            _ = tokio::time::sleep(Duration::from_secs(30)) => {
                if joined.sub.sink.is_closed() { return; }
            }
        }
    }
}

/// The next catalog a pattern subscription sees; None once there will be none (never for a
/// topic subscription, which waits forever).
async fn changed(
    catalog: &mut Option<tokio::sync::watch::Receiver<Option<Arc<Catalog>>>>,
) -> Option<Arc<Catalog>> {
    let Some(rx) = catalog else {
        return std::future::pending().await;
    };
    loop {
        rx.changed().await.ok()?;
        if let Some(c) = rx.borrow_and_update().clone() {
            return Some(c);
        }
    }
}

/// Delivers a partition from `from` until the subscriber reaches the tail, then re-attaches.
async fn catch_up(
    inner: &Arc<Inner>,
    joined: &Joined,
    tp: &Tp,
    mut from: i64,
) -> std::result::Result<(), SinkClosed> {
    let sub = &joined.sub;
    let Some(part) = lock(&joined.tail.parts).get(tp).cloned() else {
        return Ok(());
    };
    loop {
        while sub.sink.flow.room() == 0 {
            sub.sink.flow.acked().await;
        }
        let room = sub.sink.flow.room().min(BATCH);
        let limits = FetchLimits {
            max_messages: room,
            max_bytes: PUSH_BYTES,
            max_wait: Duration::ZERO,
        };
        // Attach when the tail's cache reaches back to `from` and the backlog fits now.
        let batch = {
            let mut st = lock(&part.state);
            if from >= st.cache_start() {
                let backlog: Vec<_> = st
                    .cache
                    .iter()
                    .filter(|r| r.offset >= from)
                    .cloned()
                    .collect();
                let wanted = sub.filter(&backlog);
                if from >= st.next || sub.sink.try_push(&wanted)? {
                    let from = from.max(st.next);
                    st.attached.push(Attached {
                        sub: sub.clone(),
                        from,
                    });
                    return Ok(());
                }
                backlog.into_iter().take(room).collect::<Vec<_>>()
            } else {
                Vec::new()
            }
        };
        let batch = if batch.is_empty() {
            match read_history(inner, tp, from, limits).await {
                Ok(b) => b,
                Err(GatewayError::OffsetOutOfRange { .. }) => {
                    // Retention removed what this subscriber had not read: go on from the earliest.
                    match inner.watermarks(tp).await {
                        Ok((lo, _)) if lo > from => {
                            from = lo;
                            continue;
                        }
                        _ => Vec::new(),
                    }
                }
                Err(e) => {
                    tracing::debug!(topic = %tp.0, partition = tp.1, error = %e, "catch-up read failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        } else {
            batch
        };
        let Some(last) = batch.last() else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        from = last.offset + 1;
        sub.sink.push(&sub.filter(&batch)).await?;
    }
}

async fn read_history(
    inner: &Arc<Inner>,
    tp: &Tp,
    from: i64,
    limits: FetchLimits,
) -> Result<Vec<Arc<Record>>> {
    let (_, hi) = inner.check_offset(tp, from).await?;
    if from >= hi {
        return Ok(Vec::new());
    }
    inner.read(tp, from, limits, inner.timeout).await
}

/// Counts group consumers against `max_group_consumers`.
struct GroupSlot(Arc<Inner>);

impl GroupSlot {
    fn take(inner: &Arc<Inner>) -> Result<GroupSlot> {
        let n = inner.group_consumers.fetch_add(1, Ordering::AcqRel);
        if n >= inner.max_group_consumers {
            inner.group_consumers.fetch_sub(1, Ordering::AcqRel);
            return Err(GatewayError::Overloaded(format!(
                "group subscription limit reached ({} on this upstream)",
                inner.max_group_consumers
            )));
        }
        crate::metrics::METRICS
            .kafka_group_consumers
            .fetch_add(1, Ordering::Relaxed);
        Ok(GroupSlot(inner.clone()))
    }
}

impl Drop for GroupSlot {
    fn drop(&mut self) {
        self.0.group_consumers.fetch_sub(1, Ordering::AcqRel);
        crate::metrics::METRICS
            .kafka_group_consumers
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the rebalance callback hands the member's loop. The callback runs inside
/// `consumer.recv()` on an async worker, so it only forwards: the loop looks committed offsets
/// up off the async threads and then assigns (librdkafka lets the application call assign
/// after the callback returned).
enum GroupEvent {
    Assign(TopicPartitionList),
    Revoked(TopicPartitionList),
}

struct GroupContext {
    diag: Arc<Diagnostics>,
    events: tokio::sync::mpsc::UnboundedSender<GroupEvent>,
}

impl ClientContext for GroupContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_line(&self.diag, level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        observe(&self.diag, &error, reason);
    }
}

impl ConsumerContext for GroupContext {
    fn rebalance(&self, c: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(c.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // The loop assigns once it knows where each partition starts. When the loop
                // is gone (the consumer is closing) nobody will: take the assignment as is.
                if self.events.send(GroupEvent::Assign(tpl.clone())).is_err() {
                    let _ = if cooperative {
                        c.incremental_assign(tpl)
                    } else {
                        c.assign(tpl)
                    };
                }
            }
            _ => {
                // Unassigning is local (no broker call) and must happen before the rebalance
                // completes, so it is done here; the loop only updates its bookkeeping.
                let r = if cooperative {
                    c.incremental_unassign(tpl)
                } else {
                    c.unassign()
                };
                if let Err(e) = r {
                    tracing::warn!(error = %e, "group unassign failed");
                }
                let _ = self.events.send(GroupEvent::Revoked(tpl.clone()));
            }
        }
    }
}

/// A group member's state shared between its loop and its subscription handle.
struct Member {
    group: String,
    /// Partitions assigned to this member now: commits for others are refused.
    owned: Mutex<BTreeSet<Tp>>,
}

/// Where each partition of the subscribed topics starts when the group has no committed
/// offset for it, fixed at subscribe time: resolving it at assignment (as
/// `auto.offset.reset` does) would skip what was produced between the reply and the
/// assignment. Partitions that appear later start at their beginning: all their messages are
/// new to the subscription.
struct GroupStarts {
    start: Start,
    fixed: Mutex<HashMap<Tp, i64>>,
}

impl GroupStarts {
    async fn resolve(inner: &Inner, start: Start, tps: &BTreeSet<Tp>) -> Result<GroupStarts> {
        let starts = GroupStarts {
            start,
            fixed: Mutex::new(HashMap::new()),
        };
        starts.add(inner, tps.iter()).await?;
        Ok(starts)
    }

    async fn add(&self, inner: &Inner, tps: impl Iterator<Item = &Tp>) -> Result<()> {
        if matches!(
            self.start,
            Start::Latest | Start::Last | Start::Timestamp(_)
        ) {
            for tp in tps {
                let o = inner.resolve(tp, self.start).await?;
                lock(&self.fixed).insert(tp.clone(), o);
            }
        }
        Ok(())
    }

    fn offset(&self, tp: &Tp) -> Offset {
        match self.start {
            Start::Earliest => Offset::Beginning,
            Start::Offset(o) => Offset::Offset(o),
            _ => lock(&self.fixed)
                .get(tp)
                .map_or(Offset::Beginning, |o| Offset::Offset(*o)),
        }
    }
}

/// A lazily created plain client of the member's group, for committed-offset lookups: the
/// member's own consumer is in the middle of the rebalance being handled, and asking it could
/// wait for that very rebalance.
struct Lookup {
    config: ClientConfig,
    client: Option<Arc<BaseConsumer>>,
}

impl Lookup {
    /// Creates the client and has it find the group's coordinator, so the first rebalance
    /// does not wait for that.
    async fn warm(&mut self, tps: &BTreeSet<Tp>, timeout: Duration) {
        let mut tpl = TopicPartitionList::new();
        for (t, p) in tps {
            tpl.add_partition(t, *p);
        }
        let _ = self.committed(&tpl, timeout).await;
    }

    /// Committed offsets of `tpl`'s partitions; None if they cannot be had in time.
    async fn committed(
        &mut self,
        tpl: &TopicPartitionList,
        timeout: Duration,
    ) -> Option<TopicPartitionList> {
        let client = match &self.client {
            Some(c) => c.clone(),
            None => {
                let config = self.config.clone();
                let c: BaseConsumer = tokio::task::spawn_blocking(move || config.create())
                    .await
                    .ok()?
                    .map_err(
                        |e| tracing::warn!(error = %e, "cannot create the offset lookup client"),
                    )
                    .ok()?;
                let c = Arc::new(c);
                self.client = Some(c.clone());
                c
            }
        };
        let q = tpl.clone();
        let call = tokio::task::spawn_blocking(move || client.committed_offsets(q, timeout));
        match tokio::time::timeout(timeout + Duration::from_secs(1), call).await {
            Ok(Ok(Ok(c))) => Some(c),
            _ => None,
        }
    }
}

/// Sets each newly assigned partition to its committed offset, else to the subscription's
/// start. If the committed offsets cannot be had, partitions keep Offset::Stored (the
/// committed offset, else auto.offset.reset): a commit is never overridden.
async fn position_assigned(
    tpl: &TopicPartitionList,
    starts: &GroupStarts,
    lookup: &mut Lookup,
    timeout: Duration,
) -> TopicPartitionList {
    let mut out = TopicPartitionList::new();
    if starts.start == Start::Earliest {
        // librdkafka's own behaviour is the start here: the committed offset, else
        // auto.offset.reset=earliest. No lookup, so the assignment is not delayed.
        for e in tpl.elements() {
            let _ = out.add_partition_offset(e.topic(), e.partition(), Offset::Stored);
        }
        return out;
    }
    let committed = lookup.committed(tpl, timeout).await;
    if committed.is_none() {
        tracing::warn!(
            "committed offsets unavailable; partitions resume from the group's own position"
        );
    }
    for e in tpl.elements() {
        let tp: Tp = (Arc::from(e.topic()), e.partition());
        let offset = match &committed {
            None => Offset::Stored,
            Some(c) => match c
                .find_partition(e.topic(), e.partition())
                .map(|c| c.offset())
            {
                Some(Offset::Offset(o)) if o >= 0 => Offset::Offset(o),
                _ => starts.offset(&tp),
            },
        };
        let _ = out.add_partition_offset(e.topic(), e.partition(), offset);
    }
    out
}

fn tps_of(tpl: &TopicPartitionList) -> Vec<Tp> {
    tpl.elements()
        .iter()
        .map(|e| (Arc::from(e.topic()), e.partition()))
        .collect()
}

/// Everything a group member's loop owns.
struct GroupRun {
    inner: Arc<Inner>,
    consumer: Arc<StreamConsumer<GroupContext>>,
    spec: SubscribeSpec,
    topics: Vec<String>,
    sink: PushSink,
    cancel: CancellationToken,
    slot: GroupSlot,
    events: tokio::sync::mpsc::UnboundedReceiver<GroupEvent>,
    member: Arc<Member>,
    starts: GroupStarts,
    lookup: Lookup,
    catalog: Option<tokio::sync::watch::Receiver<Option<Arc<Catalog>>>>,
    /// Matching topics whose metadata failed at subscribe time (see `Matched::failed`).
    failed: BTreeSet<Arc<str>>,
}

impl GroupRun {
    /// Applies a rebalance event; false when the subscription was cancelled meanwhile.
    async fn handle(&mut self, ev: GroupEvent, held: &mut Held) -> bool {
        match ev {
            GroupEvent::Assign(tpl) => {
                let positioned = tokio::select! {
                    _ = self.cancel.cancelled() => return false,
                    p = position_assigned(&tpl, &self.starts, &mut self.lookup, self.inner.timeout) => p,
                };
                let cooperative = matches!(
                    self.consumer.rebalance_protocol(),
                    RebalanceProtocol::Cooperative
                );
                let r = if cooperative {
                    self.consumer.incremental_assign(&positioned)
                } else {
                    self.consumer.assign(&positioned)
                };
                if let Err(e) = r {
                    tracing::warn!(error = %e, "group assign failed");
                }
                let mut owned = lock(&self.member.owned);
                if !cooperative {
                    owned.clear();
                }
                owned.extend(tps_of(&tpl));
                drop(owned);
                // librdkafka keeps a partition's pause across unassign and assign: set it
                // either way.
                self.pause(held.paused);
            }
            GroupEvent::Revoked(tpl) => {
                let cooperative = matches!(
                    self.consumer.rebalance_protocol(),
                    RebalanceProtocol::Cooperative
                );
                let mut gone = tps_of(&tpl);
                if !cooperative {
                    // The callback unassigned already; this undoes an assignment the loop
                    // applied from an event queued before that revocation.
                    let _ = self.consumer.unassign();
                    gone.extend(lock(&self.member.owned).iter().cloned());
                }
                let mut owned = lock(&self.member.owned);
                for tp in &gone {
                    owned.remove(tp);
                    // Acknowledgements for it can no longer be sent by this member.
                    self.sink.flow.forget(&tp.0, tp.1);
                }
                drop(owned);
                let owned = lock(&self.member.owned);
                held.records
                    .retain(|r| owned.contains(&(r.topic.clone(), r.partition)));
            }
        }
        true
    }

    /// Stops (or restarts) fetching the assigned partitions while the flow window is full, so
    /// the loop can keep polling the consumer, which serves rebalances, without reading on.
    fn pause(&self, on: bool) {
        let Ok(assigned) = self.consumer.assignment() else {
            return;
        };
        let r = if on {
            self.consumer.pause(&assigned)
        } else {
            self.consumer.resume(&assigned)
        };
        if let Err(e) = r {
            tracing::debug!(error = %e, "group pause or resume failed");
        }
    }

    /// Pushes, giving up when the subscription is cancelled (a vanished client's queue may
    /// never drain).
    async fn push(&self, records: &[Arc<Record>]) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            r = self.sink.push(records) => r.is_ok(),
        }
    }
}

/// Records a group member read but may not push yet (its max_in_flight window is full).
struct Held {
    records: VecDeque<Arc<Record>>,
    /// The assigned partitions are paused until the window has room again.
    paused: bool,
}

/// A group member's loop: consume, filter, push within the flow window; follow new topics of a
/// pattern. The consumer leaves the group when the loop ends.
async fn group_loop(mut run: GroupRun) {
    let task = super::TaskGauge::new();
    let mut held = Held {
        records: VecDeque::new(),
        paused: false,
    };
    loop {
        let room = run.sink.flow.room();
        if !held.records.is_empty() {
            if room == 0 {
                if !held.paused {
                    run.pause(true);
                    held.paused = true;
                }
                tokio::select! {
                    biased;
                    _ = run.cancel.cancelled() => break,
                    Some(ev) = run.events.recv() => if !run.handle(ev, &mut held).await { break },
                    _ = run.sink.flow.acked() => {}
                    // Polling serves rebalances; what was fetched before the pause is kept.
                    m = run.consumer.recv() => if let Ok(m) = m {
                        let r = to_record(&m, &Arc::from(m.topic()));
                        if r.matches_headers(&run.spec.match_headers) {
                            held.records.push_back(r);
                        }
                    },
                }
                continue;
            }
            let n = room.min(held.records.len()).min(BATCH);
            let batch: Vec<_> = held.records.drain(..n).collect();
            if !run.push(&batch).await {
                break;
            }
            continue;
        }
        if held.paused {
            run.pause(false);
            held.paused = false;
        }
        tokio::select! {
            biased;
            _ = run.cancel.cancelled() => break,
            Some(ev) = run.events.recv() => if !run.handle(ev, &mut held).await { break },
            m = run.consumer.recv() => match m {
                Ok(m) => {
                    let topic: Arc<str> = Arc::from(m.topic());
                    let mut batch = vec![to_record(&m, &topic)];
                    drop(m);
                    let room = run.sink.flow.room();
                    let mut bytes = batch[0].size();
                    while batch.len() < BATCH.min(room) && bytes < PUSH_BYTES {
                        match run.consumer.recv().now_or_never() {
                            Some(Ok(m)) => {
                                let t: Arc<str> = if m.topic() == &*topic { topic.clone() } else { Arc::from(m.topic()) };
                                let r = to_record(&m, &t);
                                bytes += r.size();
                                batch.push(r);
                            }
                            _ => break,
                        }
                    }
                    let mut wanted: Vec<_> = batch
                        .into_iter()
                        .filter(|r| r.matches_headers(&run.spec.match_headers))
                        .collect();
                    while wanted.len() > room {
                        if let Some(r) = wanted.pop() {
                            held.records.push_front(r);
                        }
                    }
                    if !run.push(&wanted).await {
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "group consumer error");
                    tokio::select! {
                        _ = run.cancel.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
            changed = changed(&mut run.catalog) => {
                let Some(now) = changed else {
                    run.catalog = None;
                    continue;
                };
                let Ok(now) = select_topics(&now.topics, &run.spec) else { continue };
                let names = topics_of(&now.tps);
                if names != run.topics && !names.is_empty() {
                    // Topics that failed at subscribe time start where the subscription says.
                    let back: Vec<Tp> = now
                        .tps
                        .iter()
                        .filter(|tp| run.failed.contains(&tp.0))
                        .cloned()
                        .collect();
                    let added = tokio::select! {
                        _ = run.cancel.cancelled() => break,
                        r = run.starts.add(&run.inner, back.iter()) => r,
                    };
                    if added.is_err() {
                        continue;
                    }
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    if run.consumer.subscribe(&refs).is_ok() {
                        run.topics = names;
                        let now_failed = now.failed;
                        run.failed.retain(|t| now_failed.contains(t));
                    }
                }
            }
        }
    }
    let GroupRun {
        consumer,
        slot,
        lookup,
        member,
        ..
    } = run;
    tracing::debug!(group = %member.group, "group member leaving");
    // Closing a consumer blocks while it leaves the group.
    tokio::task::spawn_blocking(move || {
        consumer.unsubscribe();
        drop(consumer);
        drop(lookup);
        drop(slot);
        drop(task);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, failed: bool, partitions: &[i32]) -> TopicInfo {
        TopicInfo {
            name: Arc::from(name),
            failed,
            partitions: partitions.to_vec(),
        }
    }

    /// A pattern's topic whose metadata failed is remembered as existing, so it is not later
    /// treated as a new topic (replayed from its first message).
    #[test]
    fn failed_topics_of_a_pattern_are_remembered_not_dropped() {
        let spec = SubscribeSpec::parse(
            crate::pb::CmdKafkaSubscribe {
                topic_pattern: "a.*".into(),
                ..Default::default()
            },
            1024,
        )
        .unwrap();
        let m = select_topics(
            &[
                info("a1", false, &[0, 1]),
                info("a2", true, &[]),
                info("b", false, &[0]),
                info("__a", false, &[0]),
            ],
            &spec,
        )
        .unwrap();
        let tps: Vec<_> = m.tps.iter().map(|(t, p)| (t.to_string(), *p)).collect();
        assert_eq!(tps, [("a1".to_string(), 0), ("a1".to_string(), 1)]);
        assert_eq!(
            m.failed.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            ["a2"]
        );
    }

    /// A partition of large messages must not keep `partition_cache_messages` of them.
    #[tokio::test]
    async fn the_tail_cache_is_bounded_in_bytes_as_well_as_messages() {
        let mut base = ClientConfig::new();
        base.set("bootstrap.servers", "127.0.0.1:1");
        let consumer: StreamConsumer<GwContext> = consumer_config(&base)
            .create_with_context(GwContext {
                diag: Arc::new(Diagnostics::default()),
            })
            .unwrap();
        let tail = Tail {
            consumer: Arc::new(consumer),
            parts: Mutex::new(HashMap::new()),
            cache_messages: 1000,
            cache_bytes: 10_000,
        };
        let tp: Tp = (Arc::from("t"), 0);
        let part = tail.join(&tp, 0).unwrap();
        let big = |o: i64| {
            Arc::new(Record::new(
                tp.0.clone(),
                0,
                o,
                0,
                Bytes::new(),
                Bytes::from(vec![0u8; 1000]),
                vec![],
            ))
        };
        tail.deliver(&tp, (0..100).map(big).collect());
        let st = lock(&part.state);
        assert!(st.cache_size <= 10_000, "{} bytes cached", st.cache_size);
        assert_eq!(
            st.cache_size,
            st.cache.iter().map(|r| r.size()).sum::<usize>()
        );
        assert!(st.cache.len() >= 9, "only {} kept", st.cache.len());
        assert_eq!(st.cache.back().map(|r| r.offset), Some(99));
        assert_eq!(st.next, 100);
    }

    /// Upstream trouble is logged on state changes: down once, up once.
    #[test]
    fn health_tracks_down_and_back() {
        let h = Health::default();
        assert!(!h.is_down());
        h.trouble(false, "connect failed", "refused");
        assert!(
            !h.is_down(),
            "one failed connection is not the whole upstream"
        );
        h.trouble(true, "all down", "1/1 brokers are down");
        assert!(h.is_down());
        for _ in 0..100 {
            h.trouble(true, "all down", "1/1 brokers are down");
        }
        assert_eq!(lock(&h.log).quiet, 100);
        h.ok();
        assert!(!h.is_down());
        assert_eq!(lock(&h.log).quiet, 0);
    }
}
