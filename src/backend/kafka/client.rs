//! Settings every client of an upstream shares, error mapping, and what librdkafka reports:
//! its logs, TLS and authentication causes, and the upstream's health (logged on changes).

use super::*;

pub(super) use crate::backend::lock;

/// Maps an rdkafka error to the gateway's codes; never includes configuration (no secrets).
pub(super) fn upstream_error(e: &KafkaError) -> GatewayError {
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

pub(super) fn join_error(e: tokio::task::JoinError) -> GatewayError {
    GatewayError::Upstream(format!("kafka call failed: {e}"))
}

/// Turns a consumed message into a record: decoded and encoded once, here.
pub(super) fn to_record(m: &BorrowedMessage<'_>, topic: &Arc<str>) -> Arc<Record> {
    let headers = m
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| crate::backend::Header {
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
pub(super) struct Diagnostics {
    pub(super) last: Mutex<Option<(Instant, Cause)>>,
    pub(super) health: Health,
}

/// Whether the upstream is reachable, and the log of its trouble. librdkafka reports every
/// failed reconnect of every client (several a second while the cluster is down): the log
/// says when the state changes, and repeats are summarized at most once a minute.
#[derive(Default)]
pub(super) struct Health {
    pub(super) down: std::sync::atomic::AtomicBool,
    pub(super) log: Mutex<TroubleLog>,
}

#[derive(Default)]
pub(super) struct TroubleLog {
    pub(super) down_since: Option<Instant>,
    /// Start of the current summary window; None before any trouble.
    pub(super) window: Option<Instant>,
    /// Trouble reports not logged in the current window.
    pub(super) quiet: u64,
}

/// How often repeated upstream trouble is summarized in the log.
pub(super) const TROUBLE_SUMMARY: Duration = Duration::from_secs(60);
/// How long calls wait on an upstream known to be down before answering 503.
pub(super) const DOWN_WAIT: Duration = Duration::from_millis(800);

impl Health {
    pub(super) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// A client reported a failure; `all_down` when no broker of the upstream is reachable.
    pub(super) fn trouble(&self, all_down: bool, what: &str, reason: &str) {
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
    pub(super) fn ok(&self) {
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
pub(super) enum Cause {
    Tls(String),
    Authentication,
}

/// How long a reported TLS or authentication failure explains later transport errors.
pub(super) const CAUSE_TTL: Duration = Duration::from_secs(60);

impl Diagnostics {
    pub(super) fn record(&self, cause: Cause) {
        *lock(&self.last) = Some((Instant::now(), cause));
    }

    pub(super) fn clear(&self) {
        *lock(&self.last) = None;
    }

    /// A transport failure or timeout, explained by a recent TLS or authentication failure.
    pub(super) fn explain(&self, err: GatewayError) -> GatewayError {
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
pub(super) struct GwContext {
    pub(super) diag: Arc<Diagnostics>,
}

pub(super) fn observe(diag: &Diagnostics, error: &KafkaError, reason: &str) {
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
pub(super) fn log_line(
    diag: &Diagnostics,
    level: rdkafka::config::RDKafkaLogLevel,
    fac: &str,
    message: &str,
) {
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

pub(super) fn log_to_tracing(level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
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

/// A gateway default that the route's `upstream.kafka` properties may override.
pub(super) fn default_setting(config: &mut ClientConfig, key: &str, value: &str) {
    if config.get(key).is_none() {
        config.set(key, value);
    }
}

/// Settings every gateway consumer shares: offsets are the gateway's to manage.
pub(super) fn consumer_config(base: &ClientConfig) -> ClientConfig {
    let mut c = base.clone();
    c.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("allow.auto.create.topics", "false")
        .set("group.id", "pubsub-gateway-unused");
    default_setting(&mut c, "fetch.wait.max.ms", "100");
    c
}
