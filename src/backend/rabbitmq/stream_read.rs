//! fetch, list_offset and metadata on stream routes. AMQP 0-9-1 has no "stream info" call, so
//! every answer comes from a short-lived stream consumer on a channel of its own (basic.qos
//! bounds what the broker sends ahead; the channel is closed on every outcome, which cancels
//! the consumer):
//!
//! - earliest: the offset of the first message `x-stream-offset: first` delivers;
//! - end (last offset + 1): `x-stream-offset: last` attaches at the last chunk; it is read
//!   until nothing more comes within `QUIET`, so every call costs about `QUIET` plus the
//!   size of that chunk;
//! - a time: `x-stream-offset` as a timestamp (AMQP keeps seconds), then the first message of
//!   the topic whose timestamp is in or after that second.
//!
//! An empty stream answers earliest = end = 0 (what AMQP can tell about a stream whose
//! retention dropped everything).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Consumer};
use tokio::time::{timeout_at, Instant};

use super::client::{amqp_error, short, within, Conn};
use super::props::to_record;
use super::stream::{offset_arg, stream_offset};
use super::topology::{declare_exchange, declare_stream};
use crate::backend::{FetchLimits, PartitionInfo, Start, TopicMetadata};
use crate::error::{GatewayError, Result};
use crate::record::Record;

/// How long the last chunk may stay silent before it counts as read to the end.
const QUIET: Duration = Duration::from_millis(150);

/// The most messages the broker sends ahead of a reader.
const MAX_PREFETCH: usize = 256;

/// The stream's bounds: first offset and last offset + 1.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    earliest: i64,
    end: i64,
}

/// Runs `body` on a fresh stream consumer, then closes its channel whatever happened.
async fn with_consumer<T>(
    conn: &Arc<Conn>,
    stream: &str,
    start: Start,
    prefetch: usize,
    body: impl AsyncFnOnce(&mut Consumer) -> Result<T>,
) -> Result<T> {
    let (_, ch) = conn.channel().await?;
    let opened = open(conn, &ch, stream, start, prefetch).await;
    let result = match opened {
        Ok(mut consumer) => body(&mut consumer).await,
        Err(e) => Err(e),
    };
    let _ = tokio::time::timeout(
        conn.timeouts.read(),
        ch.close(200, ShortString::from("read done")),
    )
    .await;
    result
}

async fn open(
    conn: &Arc<Conn>,
    ch: &Channel,
    stream: &str,
    start: Start,
    prefetch: usize,
) -> Result<Consumer> {
    within(conn.timeouts.read(), "the stream read", async {
        declare_exchange(conn, ch).await?;
        declare_stream(conn, ch, stream).await?;
        let mut args = FieldTable::default();
        args.insert(ShortString::from("x-stream-offset"), offset_arg(start));
        let qos = prefetch.clamp(1, MAX_PREFETCH) as u16;
        ch.basic_qos(qos, BasicQosOptions::default())
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
    .await
}

/// The next delivery before `deadline` (None on timeout or when the consumer ends), acked so
/// the broker sends more (a stream ack only returns credit).
async fn next(c: &mut Consumer, deadline: Instant) -> Result<Option<lapin::message::Delivery>> {
    match timeout_at(deadline, c.next()).await {
        Err(_) | Ok(None) => Ok(None),
        Ok(Some(Err(e))) => Err(amqp_error(e)),
        Ok(Some(Ok(d))) => {
            let _ = d.acker.ack(BasicAckOptions::default()).await;
            Ok(Some(d))
        }
    }
}

async fn bounds(conn: &Arc<Conn>, stream: &str) -> Result<Bounds> {
    let wait = conn.timeouts.read();
    let first = with_consumer(
        conn,
        stream,
        Start::Earliest,
        1,
        async |c: &mut Consumer| {
            // An empty stream delivers nothing: QUIET is how long that takes to tell.
            Ok(next(c, Instant::now() + QUIET.min(wait))
                .await?
                .and_then(|d| stream_offset(&d)))
        },
    )
    .await?;
    let Some(earliest) = first else {
        return Ok(Bounds {
            earliest: 0,
            end: 0,
        });
    };
    let last = with_consumer(
        conn,
        stream,
        Start::Last,
        MAX_PREFETCH,
        async |c: &mut Consumer| {
            let give_up = Instant::now() + wait;
            let mut highest = earliest;
            loop {
                let quiet = (Instant::now() + QUIET).min(give_up);
                match next(c, quiet).await? {
                    Some(d) => highest = highest.max(stream_offset(&d).unwrap_or(highest)),
                    None => return Ok(highest),
                }
            }
        },
    )
    .await?;
    Ok(Bounds {
        earliest,
        end: last + 1,
    })
}

pub(super) async fn metadata(conn: &Arc<Conn>, stream: &str, topic: &str) -> Result<TopicMetadata> {
    let b = bounds(conn, stream).await?;
    Ok(TopicMetadata {
        topic: topic.to_owned(),
        partitions: vec![PartitionInfo {
            partition: 0,
            earliest: b.earliest,
            latest: b.end,
            epoch: 0,
        }],
    })
}

pub(super) async fn list_offset(
    conn: &Arc<Conn>,
    stream: &str,
    topic: &str,
    timestamp: i64,
) -> Result<i64> {
    match timestamp {
        -1 => Ok(bounds(conn, stream).await?.end),
        -2 => Ok(bounds(conn, stream).await?.earliest),
        ms if ms < 0 => Err(GatewayError::BadRequest(format!(
            "timestamp {ms}: -1 (end), -2 (earliest) or a time in ms"
        ))),
        ms => {
            let second_ms = ms / 1000 * 1000;
            let wait = conn.timeouts.read();
            with_consumer(
                conn,
                stream,
                Start::Timestamp(ms),
                MAX_PREFETCH,
                async |c: &mut Consumer| {
                    let give_up = Instant::now() + wait;
                    loop {
                        // Nothing more within QUIET: no message of the topic at or after the time.
                        let quiet = (Instant::now() + QUIET).min(give_up);
                        let Some(d) = next(c, quiet).await? else {
                            return Ok(-1);
                        };
                        let Some(offset) = stream_offset(&d) else {
                            continue;
                        };
                        // The broker seeks by chunk: earlier messages of that chunk come too.
                        if d.routing_key.as_str() == topic
                            && to_record(&d, offset).timestamp >= second_ms
                        {
                            return Ok(offset);
                        }
                    }
                },
            )
            .await
        }
    }
}

pub(super) async fn fetch(
    conn: &Arc<Conn>,
    stream: &str,
    topic: &str,
    offset: i64,
    limits: FetchLimits,
) -> Result<Vec<Arc<Record>>> {
    let b = bounds(conn, stream).await?;
    if offset < b.earliest || offset > b.end {
        return Err(GatewayError::OffsetOutOfRange {
            offset,
            earliest: b.earliest,
            end: b.end,
        });
    }
    if offset == b.end && limits.max_wait.is_zero() {
        return Ok(Vec::new());
    }
    let max = limits.max_messages.max(1);
    let read = conn.timeouts.read();
    with_consumer(
        conn,
        stream,
        Start::Offset(offset),
        max,
        async |c: &mut Consumer| {
            let started = Instant::now();
            // Reading what is stored is bounded by the read timeout; waiting for news by max_wait.
            let give_up = started + read + limits.max_wait;
            let mut out: Vec<Arc<Record>> = Vec::new();
            let mut bytes = 0usize;
            let mut caught_up = offset >= b.end;
            while out.len() < max {
                if caught_up && (!out.is_empty() || Instant::now() >= started + limits.max_wait) {
                    break;
                }
                let deadline = if caught_up {
                    (started + limits.max_wait).min(give_up)
                } else {
                    (started + read).min(give_up)
                };
                let Some(d) = next(c, deadline).await? else {
                    break;
                };
                let Some(at) = stream_offset(&d) else {
                    continue;
                };
                if at + 1 >= b.end {
                    caught_up = true;
                }
                if at < offset || d.routing_key.as_str() != topic {
                    continue;
                }
                let r = to_record(&d, at);
                if !out.is_empty() && bytes + r.size() > limits.max_bytes {
                    break;
                }
                bytes += r.size();
                out.push(r);
            }
            Ok(out)
        },
    )
    .await
}
