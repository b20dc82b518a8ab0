//! Ordered reading of one subject of a stream, for plain subscriptions: an ephemeral consumer
//! without acks (what async-nats's ordered consumer makes), read with heartbeats, and made again
//! by the gateway, not by async-nats, whenever it is lost: from the last sequence read while the
//! stream is the same one, or from the beginning of a stream that was deleted and made again
//! (async-nats's own ordered consumer would make itself again from the last sequence read,
//! silently skipping the new stream's first messages).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures_util::Stream;

use super::client::{from_nats_headers, js_error, within};
use crate::backend::{Record, RecordParts};
use crate::error::{GatewayError, Result};

/// Messages pulled at once, and how long a pull waits (as async-nats's ordered consumer).
const PULL_BATCH: usize = 500;
const PULL_EXPIRES: Duration = Duration::from_secs(30);
const PULL_HEARTBEAT: Duration = Duration::from_secs(15);

/// What an ordered consumer needs to be made again, from where it was.
#[derive(Clone)]
pub(super) struct Reader {
    pub stream: jetstream::stream::Stream,
    pub subject: String,
    pub policy: consumer::DeliverPolicy,
    /// The last stream sequence read (0 = none yet).
    pub last: u64,
    pub epoch: u64,
    pub connections: tokio::sync::watch::Receiver<u64>,
}

/// The stream `stream` names, when it is another generation than `epoch` (deleted and made
/// again): its handle and epoch. None while it is the same one, or cannot be read (deleted and
/// not made again yet, or the server away).
pub(super) async fn new_generation(
    stream: &jetstream::stream::Stream,
    epoch: u64,
    timeout: Duration,
) -> Option<(jetstream::stream::Stream, u64)> {
    let mut now = stream.clone();
    let current = within(timeout, "the stream info", async {
        now.info()
            .await
            .map(epoch_of)
            .map_err(|e| js_error("JetStream stream info", e))
    })
    .await
    .ok()?;
    (current != epoch).then_some((now, current))
}

impl Reader {
    /// After the reader lost its consumer: if its stream was deleted and made again, the reader
    /// moves to the new log's beginning (every message in it is new to the subscription) and
    /// answers true.
    pub async fn renew_generation(&mut self, timeout: Duration) -> bool {
        let Some((stream, epoch)) = new_generation(&self.stream, self.epoch, timeout).await else {
            return false;
        };
        self.move_to(stream, epoch);
        true
    }

    /// Reads generation `epoch` of the stream from its beginning.
    pub fn move_to(&mut self, stream: jetstream::stream::Stream, epoch: u64) {
        self.stream = stream;
        self.epoch = epoch;
        self.last = 0;
        self.policy = consumer::DeliverPolicy::All;
    }

    /// A consumer from the policy, or from after the last sequence read.
    pub async fn open(&self, timeout: Duration) -> Result<Ordered> {
        let deliver_policy = match self.last {
            0 => self.policy,
            n => consumer::DeliverPolicy::ByStartSequence {
                start_sequence: n + 1,
            },
        };
        // Exactly the consumer async-nats's ordered consumer makes.
        let config: consumer::pull::Config = consumer::pull::OrderedConfig {
            filter_subject: self.subject.clone(),
            deliver_policy,
            ..Default::default()
        }
        .into();
        within(timeout, "creating the consumer", async {
            let c = self
                .stream
                .create_consumer(config)
                .await
                .map_err(|e| js_error("cannot create a JetStream consumer", e))?;
            let inner = c
                .stream()
                .max_messages_per_batch(PULL_BATCH)
                .expires(PULL_EXPIRES)
                .heartbeat(PULL_HEARTBEAT)
                .messages()
                .await
                .map_err(|e| js_error("cannot read the JetStream consumer", e))?;
            Ok(Ordered {
                inner,
                consumer_sequence: 0,
            })
        })
        .await
    }
}

/// A consumer's messages in order: a gap in its consumer sequence, a missed heartbeat or the
/// consumer's deletion ends it with an error, and the reader makes a new one.
pub(super) struct Ordered {
    inner: consumer::pull::Stream,
    consumer_sequence: u64,
}

impl Stream for Ordered {
    type Item = Result<jetstream::Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => {
                return Poll::Ready(Some(Err(js_error("JetStream consumer lost", e))))
            }
            Poll::Ready(Some(Ok(m))) => m,
        };
        let sequence = next.info().map(|i| i.consumer_sequence).unwrap_or(0);
        if sequence != self.consumer_sequence + 1 {
            return Poll::Ready(Some(Err(GatewayError::Upstream(format!(
                "JetStream consumer sequence {sequence} after {}: reading again",
                self.consumer_sequence
            )))));
        }
        self.consumer_sequence = sequence;
        Poll::Ready(Some(Ok(next)))
    }
}

pub(super) fn epoch_of(info: &stream::Info) -> u64 {
    u64::try_from(info.created.unix_timestamp_nanos())
        .unwrap_or(1)
        .max(1)
}

fn ms_of(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// A JetStream message as a gateway record: offset = stream sequence, epoch = the stream's.
pub(super) fn js_record(m: &jetstream::Message, epoch: u64) -> Result<Arc<Record>> {
    js_record_attempt(m, epoch, false)
}

/// A group's JetStream delivery: also its delivery attempt, the server's count of deliveries
/// of the message to the durable consumer (`info.delivered`).
pub(super) fn js_group_record(m: &jetstream::Message, epoch: u64) -> Result<Arc<Record>> {
    js_record_attempt(m, epoch, true)
}

fn js_record_attempt(m: &jetstream::Message, epoch: u64, group: bool) -> Result<Arc<Record>> {
    let info = m
        .info()
        .map_err(|e| GatewayError::Upstream(format!("JetStream message without metadata: {e}")))?;
    let delivery_attempt = if group {
        u32::try_from(info.delivered.max(0)).unwrap_or(u32::MAX)
    } else {
        0
    };
    Ok(Arc::new(Record::from_parts(RecordParts {
        topic: Arc::from(m.subject.as_str()),
        partition: 0,
        offset: i64::try_from(info.stream_sequence).unwrap_or(i64::MAX),
        position: String::new(),
        epoch,
        delivery_attempt,
        timestamp: ms_of(info.published),
        key: bytes::Bytes::new(),
        value: m.payload.clone(),
        headers: from_nats_headers(m.headers.as_ref()),
    })))
}
