//! Stream routes (`queue_type: stream`): the route's stream queue stores every message of the
//! exchange; an offset is the stream offset. Each subscription is a stream consumer of its own
//! starting where the client asked (`x-stream-offset`: first, last, next, an offset or a time),
//! keeping the messages whose routing key matches its binding key. After a reconnection it
//! continues from the offset after the last one it read: nothing lost, nothing twice.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Consumer};
use tokio_util::sync::CancellationToken;

use super::client::{amqp_error, short, within, Conn};
use super::props::to_record;
use super::topology::{declare_exchange, declare_stream, topic_matches};
use crate::backend::{CommitOffset, PushSink, Start, SubscribeSpec, Subscription, TaskGauge};
use crate::error::{GatewayError, Result};

/// Stream messages the broker sends ahead of what the client has taken (streams need a
/// prefetch: their consumers are credit-based).
const STREAM_PREFETCH: u16 = 256;

/// Where a stream consumer starts, as `x-stream-offset`.
pub(super) fn offset_arg(start: Start) -> AMQPValue {
    match start {
        Start::Earliest => AMQPValue::LongString(LongString::from("first")),
        Start::Last => AMQPValue::LongString(LongString::from("last")),
        Start::Latest => AMQPValue::LongString(LongString::from("next")),
        Start::Offset(n) => AMQPValue::LongLongInt(n),
        // AMQP timestamps are seconds: the second the asked time falls in.
        Start::Timestamp(ms) => AMQPValue::Timestamp((ms.max(0) / 1000) as u64),
    }
}

/// The stream offset of a delivery (RabbitMQ sets `x-stream-offset` on each).
pub(super) fn stream_offset(d: &lapin::message::Delivery) -> Option<i64> {
    match d
        .properties
        .headers()
        .as_ref()?
        .inner()
        .get("x-stream-offset")?
    {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(*n as i64),
        _ => None,
    }
}

pub(super) async fn consume(
    conn: &Arc<Conn>,
    stream: &str,
    start: Start,
) -> Result<(u64, Channel, Consumer)> {
    let (generation, ch) = conn.channel().await?;
    declare_exchange(conn, &ch).await?;
    declare_stream(conn, &ch, stream).await?;
    let mut args = FieldTable::default();
    args.insert(ShortString::from("x-stream-offset"), offset_arg(start));
    let consumer = within(conn.timeouts.read(), "the stream consume", async {
        ch.basic_qos(STREAM_PREFETCH, BasicQosOptions::default())
            .await
            .map_err(amqp_error)?;
        ch.basic_consume(
            short("stream", stream)?,
            ShortString::from(""),
            BasicConsumeOptions::default(),
            args,
        )
        .await
        .map_err(amqp_error)
    })
    .await?;
    Ok((generation, ch, consumer))
}

pub(super) async fn subscribe(
    conn: Arc<Conn>,
    stream: String,
    topic: String,
    spec: SubscribeSpec,
    sink: PushSink,
) -> Result<Arc<dyn Subscription>> {
    let first = consume(&conn, &stream, spec.start).await?;
    let cancel = CancellationToken::new();
    let reader = Reader {
        conn,
        stream,
        topic,
        spec,
        sink,
        cancel: cancel.clone(),
        guard: None,
    };
    tokio::spawn(run(reader, Some(first)));
    Ok(Arc::new(StreamSubscription { cancel }))
}

/// One subscription's reading of the stream.
pub(super) struct Reader {
    pub conn: Arc<Conn>,
    pub stream: String,
    pub topic: String,
    /// `spec.start` is where reading starts.
    pub spec: SubscribeSpec,
    pub sink: PushSink,
    pub cancel: CancellationToken,
    /// Held for as long as the reader runs (a stream group's active-member permit).
    pub guard: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Reads from `first` (a consumer set up before the subscribe reply), or sets one up itself.
pub(super) async fn run(r: Reader, first: Option<(u64, Channel, Consumer)>) {
    let _task = TaskGauge::new();
    let Reader {
        conn,
        stream,
        topic,
        spec,
        sink,
        cancel,
        guard: _guard,
    } = r;
    let mut watch = conn.watch();
    if first.is_none() {
        watch.mark_changed();
    }
    let mut current = first;
    let mut next = spec.start;
    loop {
        let Some((generation, ch, mut consumer)) = current.take() else {
            let again = tokio::select! {
                _ = cancel.cancelled() => return,
                r = watch.changed() => r,
            };
            if again.is_err() {
                return;
            }
            if watch.borrow().is_none() {
                continue;
            }
            match consume(&conn, &stream, next).await {
                Ok(c) => current = Some(c),
                Err(e) => {
                    tracing::debug!(route = %conn.route, stream = %stream, error = %e, "RabbitMQ stream consumer renewal failed; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                    watch.mark_changed();
                }
            }
            continue;
        };
        loop {
            let d = tokio::select! {
                _ = cancel.cancelled() => {
                    let _ = ch.close(200, ShortString::from("unsubscribed")).await;
                    return;
                }
                d = consumer.next() => d,
            };
            let Some(Ok(delivery)) = d else { break };
            let offset = stream_offset(&delivery).unwrap_or(-1);
            // A stream consumer's ack returns credit; the message stays in the log.
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
            if offset >= 0 {
                next = Start::Offset(offset + 1);
            }
            let key = delivery.routing_key.as_str();
            if !topic_matches(&topic, key)
                || spec.allowed.as_ref().is_some_and(|id| !id.can_read(key))
            {
                continue;
            }
            let record = to_record(&delivery, offset);
            if !record.matches_headers(&spec.match_headers) {
                continue;
            }
            let one = [record];
            let pushed = tokio::select! {
                _ = cancel.cancelled() => {
                    let _ = ch.close(200, ShortString::from("unsubscribed")).await;
                    return;
                }
                p = sink.push(&one) => p,
            };
            if pushed.is_err() {
                let _ = ch.close(200, ShortString::from("unsubscribed")).await;
                return;
            }
        }
        tracing::debug!(route = %conn.route, stream = %stream, generation, "RabbitMQ stream consumer ended; renewing");
        let _ = ch.close(200, ShortString::from("renewing")).await;
        if watch
            .borrow()
            .as_ref()
            .is_some_and(|(g, _)| *g == generation)
        {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        watch.mark_changed();
    }
}

struct StreamSubscription {
    cancel: CancellationToken,
}

#[async_trait]
impl Subscription for StreamSubscription {
    async fn commit(&self, _offsets: Vec<CommitOffset>) -> Result<()> {
        Err(GatewayError::BadRequest(
            "commit keeps a group's offset: this stream subscription has no group".into(),
        ))
    }

    fn close(&self) {
        self.cancel.cancel();
    }
}

impl Drop for StreamSubscription {
    fn drop(&mut self) {
        self.close();
    }
}
