//! Server-Sent Events: `GET {uri}/topics/{topic}` with `Accept: text/event-stream` is a
//! subscription whose pushes are events, one per message (`data:` its JSON, in the shape of
//! `pubsub --json`; `id:` where it is, to resume from).
//!
//! The subscription is an ordinary `cmd_kafka_subscribe` run by the stream's own dispatcher, so
//! the stream has what a WebSocket subscriber has: the same checks, the connection's bounded
//! queue and the slow-consumer policy (`close` ends the stream). Everything it holds is released
//! when the client goes: hyper drops the body, the dispatcher with it, and the dispatcher closes
//! its subscriptions.
//!
//! An event's id is `{partition}/{offset}/{epoch}/{position}/{topic}` (position and topic
//! percent-encoded). `Last-Event-ID` resumes exactly after it: from `offset + 1` (or, for
//! schemes with string positions, from `position`, the message there skipped) of the epoch it
//! names; when the log is not that epoch's any more (an embedded broker restarted in memory
//! mode), the stream starts over from the new log's beginning with a `reset` event first. The
//! offset applies to every partition of the subscription: resuming is exact on one partition
//! (every scheme's topics but Kafka's, or `?partition=`).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Frame;
use hyper::header::HeaderValue;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::call::{decode, number, Commands, Route};
use crate::auth::percent_decode;
use crate::config::SlowConsumerPolicy;
use crate::http::{error, Body};
use crate::pb::pub_sub_req::Req;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{
    CmdAck, CmdKafkaCommit, CmdKafkaSubscribe, KafkaHeader, KafkaPartitionOffset, KafkaPush,
    MessagePosition, StartPosition,
};

/// What reconnecting `EventSource`s wait before trying again, in ms.
const RETRY_MS: u64 = 1000;

/// Where a stream resumes: a `Last-Event-ID`.
#[derive(Debug, PartialEq, Eq)]
struct EventId {
    partition: i32,
    offset: i64,
    epoch: u64,
    position: String,
    topic: String,
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl EventId {
    fn render(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}",
            self.partition,
            self.offset,
            self.epoch,
            encode(&self.position),
            encode(&self.topic)
        )
    }

    fn parse(s: &str) -> Option<EventId> {
        let mut it = s.trim().splitn(5, '/');
        Some(EventId {
            partition: it.next()?.parse().ok()?,
            offset: it.next()?.parse().ok()?,
            epoch: it.next()?.parse().ok()?,
            position: percent_decode(it.next()?),
            topic: percent_decode(it.next()?),
        })
    }
}

/// The start position named by `?start=`.
pub(super) fn start(name: &str) -> Option<StartPosition> {
    Some(match name.to_ascii_lowercase().as_str() {
        "latest" => StartPosition::Latest,
        "earliest" => StartPosition::Earliest,
        "last" => StartPosition::Last,
        "offset" => StartPosition::Offset,
        "timestamp" => StartPosition::Timestamp,
        "time_delta" => StartPosition::TimeDelta,
        _ => return None,
    })
}

fn bad(message: &str) -> Box<hyper::Response<Body>> {
    crate::metrics::METRICS.reject(crate::metrics::Rejection::BadRequest);
    Box::new(error(400, message))
}

/// The subscribe a stream's query and `Last-Event-ID` ask for; the position of a resumed
/// message to skip (string positions resume inclusively).
fn subscribe(
    topic: String,
    query: &HashMap<String, String>,
    last: Option<&str>,
) -> Result<(CmdKafkaSubscribe, Option<String>), Box<hyper::Response<Body>>> {
    let pattern = match query.get("pattern").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(v) => {
            return Err(bad(&format!(
                "query parameter pattern: `{v}` is not true or false"
            )))
        }
    };
    let mut sub = CmdKafkaSubscribe {
        group: query.get("group").cloned().unwrap_or_default(),
        ..Default::default()
    };
    if pattern {
        sub.topic_pattern = topic;
    } else {
        sub.topic = topic;
    }
    if let Some(p) = number::<i32>(query, "partition")? {
        sub.partitions = vec![p];
    }
    if let Some(s) = query.get("start") {
        sub.start = start(s)
            .ok_or_else(|| {
                bad(&format!(
                    "query parameter start: `{s}` is not one of latest, earliest, last, offset, timestamp, time_delta"
                ))
            })? as i32;
    }
    sub.start_value = number::<i64>(query, "start_value")?.unwrap_or(0);
    sub.max_in_flight = 0;
    let mut filters: Vec<KafkaHeader> = query
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("match.").map(|name| KafkaHeader {
                key: name.to_string(),
                value: Bytes::from(v.clone()),
            })
        })
        .collect();
    filters.sort_by(|a, b| a.key.cmp(&b.key));
    sub.match_headers = filters;
    let mut skip = None;
    if let Some(last) = last {
        let id = EventId::parse(last).ok_or_else(|| {
            bad("Last-Event-ID is not an id this gateway gave ({partition}/{offset}/{epoch}/{position}/{topic})")
        })?;
        sub.start_epoch = id.epoch;
        if id.position.is_empty() {
            sub.start = StartPosition::Offset as i32;
            sub.start_value = id.offset.saturating_add(1);
        } else {
            sub.start = StartPosition::Offset as i32;
            sub.start_position = id.position.clone();
            skip = Some(id.position);
        }
    }
    Ok((sub, skip))
}

/// Answers the stream, or the subscribe's error.
pub(super) async fn stream(
    topic: String,
    query: &HashMap<String, String>,
    last: Option<String>,
    mut c: Commands,
    route: &Route,
    peer: SocketAddr,
) -> hyper::Response<Body> {
    let (sub, skip) = match subscribe(topic, query, last.as_deref()) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let grouped = !sub.group.is_empty();
    // A stream is a connection as long-lived as a WebSocket: counted against the same limits.
    let Some(slot) = (route.admit)() else {
        let mut r = error(503, "too many connections: try again later");
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        return r;
    };
    if let Some(r) = c.run(Req::CmdKafkaSubscribe(sub)).await {
        return answer_error(r);
    }
    // The subscribe's reply comes through the queue, before any push.
    let budget = c.out.budget;
    let subscription = match c.inbox.recv_frame(budget).await.map(|f| decode(&f)) {
        Some(Resp::KafkaSubscribeResp(r)) => r.subscription_id,
        Some(other) => return answer_error(other),
        None => return error(503, "the subscription ended before it started"),
    };
    // A group's progress is settled as its events are written: committed (cumulative schemes)
    // or acknowledged (per-message ones).
    let settle = if grouped {
        match c.run(Req::CmdRouteInfo(crate::pb::CmdRouteInfo {})).await {
            Some(Resp::RouteInfoResp(info)) => match info.capabilities {
                Some(caps) if caps.ack => Settle::Ack,
                Some(caps) if caps.commit => Settle::Commit,
                _ => Settle::Nothing,
            },
            _ => Settle::Nothing,
        }
    } else {
        Settle::Nothing
    };
    crate::metrics::METRICS
        .http_streams
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let slow = CancellationToken::new();
    let watch = (route.limits.slow_consumer == SlowConsumerPolicy::Close).then(|| {
        let done = CancellationToken::new();
        tokio::spawn(watch_slow(
            c.out.clone(),
            route.limits.slow_consumer_timeout_ms,
            slow.clone(),
            route.connection.clone(),
            done.clone(),
        ));
        done.drop_guard()
    });
    tracing::debug!(%peer, route = %route.uri, "event stream opened");
    let state = Stream {
        c,
        end: route.end.clone(),
        heartbeat: tokio::time::interval_at(
            tokio::time::Instant::now() + route.limits.ping_interval(),
            route.limits.ping_interval().max(Duration::from_millis(100)),
        ),
        queued: VecDeque::from([Bytes::from(format!("retry: {RETRY_MS}\n\n"))]),
        skip,
        budget,
        done: false,
        _slot: slot,
        subscription,
        settle,
        written: Vec::new(),
        slow,
        _watch: watch,
    };
    let events = futures_util::stream::unfold(state, |mut s| async move {
        let event = s.next().await?;
        Some((Ok::<_, Infallible>(Frame::data(event)), s))
    });
    let mut r = hyper::Response::new(http_body_util::BodyExt::boxed_unsync(
        http_body_util::StreamBody::new(events),
    ));
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    // nginx and the like: do not buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

fn answer_error(r: Resp) -> hyper::Response<Body> {
    match r {
        Resp::ErrorResp(e) => error(e.code, &e.message),
        _ => error(500, "internal error: unexpected reply"),
    }
}

/// One stream's state between events.
struct Stream {
    c: Commands,
    end: CancellationToken,
    heartbeat: tokio::time::Interval,
    queued: VecDeque<Bytes>,
    /// A resumed string position: the message there was delivered already.
    skip: Option<String>,
    budget: usize,
    done: bool,
    /// The stream's place under the connection limits.
    _slot: Box<dyn Send>,
    subscription: i64,
    settle: Settle,
    /// A group's messages queued as events, settled once they are written.
    written: Vec<MessagePosition>,
    /// Cancelled by `watch_slow`: the stream ends with a `close` event if it still can.
    slow: CancellationToken,
    /// Stops `watch_slow` when the stream ends.
    _watch: Option<tokio_util::sync::DropGuard>,
}

/// How long a stream found slow has to end itself with a `close` event (its client reading
/// again) before its connection is closed.
const SLOW_GRACE: Duration = Duration::from_millis(500);

/// `slow_consumer: close` for an event stream, as a WebSocket session applies it: a live
/// subscription's queue overflowed, or the stream's queue stayed full for `timeout_ms`. A stream
/// whose client does not read is not polled, so it is watched from outside: it is asked to end,
/// and if it has not within `SLOW_GRACE`, its connection is closed.
async fn watch_slow(
    out: crate::outbox::Outbox,
    timeout_ms: u64,
    slow: CancellationToken,
    connection: CancellationToken,
    done: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis((timeout_ms / 4).max(10)));
    let mut full_since: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tick.tick() => {}
        }
        if !out.is_full() {
            full_since = None;
        }
        let full_too_long = out.is_full()
            && full_since
                .get_or_insert_with(tokio::time::Instant::now)
                .elapsed()
                >= Duration::from_millis(timeout_ms);
        if out.is_slow() || full_too_long {
            break;
        }
    }
    crate::metrics::METRICS
        .slow_consumer_closes
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::info!("closing a slow event stream");
    slow.cancel();
    if tokio::time::timeout(SLOW_GRACE, done.cancelled())
        .await
        .is_err()
    {
        connection.cancel();
    }
}

/// How a group stream's delivered messages are settled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// Not a group, or a scheme that keeps no group progress.
    Nothing,
    /// `cmd_kafka_commit` of the next offsets (Kafka, embedded).
    Commit,
    /// `cmd_ack` of each message (RabbitMQ, NATS JetStream, Redis, Pub/Sub).
    Ack,
}

impl Stream {
    /// The next event to write; None when the stream is over.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(e) = self.queued.pop_front() {
                return Some(e);
            }
            // Asked for the next event: hyper has taken the ones before.
            if !self.written.is_empty() {
                self.settle_written().await;
            }
            if self.done {
                return None;
            }
            if self.slow.is_cancelled() {
                return self.finish("slow consumer: the stream could not keep up");
            }
            tokio::select! {
                _ = self.slow.cancelled() => return self.finish("slow consumer: the stream could not keep up"),
                _ = self.end.cancelled() => return self.finish("the gateway is going away or the route changed"),
                frame = self.c.inbox.recv_frame(self.budget) => match frame.map(|f| decode(&f)) {
                    Some(Resp::KafkaPush(p)) => self.push(p),
                    Some(Resp::ErrorResp(e)) => {
                        let data = json!({"code": e.code, "message": e.message});
                        self.queued.push_back(Bytes::from(format!("event: error\ndata: {data}\n\n")));
                        self.done = true;
                    }
                    Some(_) => {}
                    None => return None,
                },
                _ = self.heartbeat.tick() => return Some(Bytes::from_static(b": heartbeat\n\n")),
            }
        }
    }

    /// Commits or acknowledges the group's messages written so far.
    async fn settle_written(&mut self) {
        let positions = std::mem::take(&mut self.written);
        let req = match self.settle {
            Settle::Nothing => return,
            Settle::Ack => Req::CmdAck(CmdAck {
                subscription_id: self.subscription,
                positions,
            }),
            Settle::Commit => {
                let mut next: Vec<KafkaPartitionOffset> = Vec::new();
                for p in positions {
                    match next
                        .iter_mut()
                        .find(|o| o.topic == p.topic && o.partition == p.partition)
                    {
                        Some(o) => o.offset = o.offset.max(p.offset + 1),
                        None => next.push(KafkaPartitionOffset {
                            topic: p.topic,
                            partition: p.partition,
                            offset: p.offset + 1,
                        }),
                    }
                }
                Req::CmdKafkaCommit(CmdKafkaCommit {
                    subscription_id: self.subscription,
                    offsets: next,
                })
            }
        };
        if let Some(Resp::ErrorResp(e)) = self.c.run(req).await {
            tracing::debug!(code = e.code, message = %e.message, "settling a group stream's messages failed");
        }
    }

    /// A last `close` event, then the end.
    fn finish(&mut self, why: &str) -> Option<Bytes> {
        self.done = true;
        Some(Bytes::from(format!(
            "event: close\ndata: {}\n\n",
            json!({ "reason": why })
        )))
    }

    fn push(&mut self, p: KafkaPush) {
        if p.reset {
            let topics: Vec<&str> = p.messages.iter().map(|m| m.topic.as_str()).collect();
            self.queued.push_back(Bytes::from(format!(
                "event: reset\ndata: {}\n\n",
                json!({ "topics": topics })
            )));
            self.skip = None;
        }
        if p.dropped > 0 {
            self.queued.push_back(Bytes::from(format!(
                "event: gap\ndata: {}\n\n",
                json!({ "dropped": p.dropped })
            )));
        }
        for m in &p.messages {
            if let Some(skip) = self.skip.take() {
                if skip == m.position {
                    continue;
                }
            }
            let id = EventId {
                partition: m.partition,
                offset: m.offset,
                epoch: m.epoch,
                position: m.position.clone(),
                topic: m.topic.clone(),
            };
            if self.settle != Settle::Nothing {
                self.written.push(MessagePosition {
                    topic: m.topic.clone(),
                    partition: m.partition,
                    offset: m.offset,
                    position: m.position.clone(),
                });
            }
            let data = pubsub_proto::json::message(m, false);
            self.queued.push_back(Bytes::from(format!(
                "id: {}\ndata: {data}\n\n",
                id.render()
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip_with_any_topic_and_position() {
        let id = EventId {
            partition: 3,
            offset: 41,
            epoch: 7,
            position: "1700000000-0".into(),
            topic: "a/b c%:é".into(),
        };
        assert_eq!(EventId::parse(&id.render()), Some(id));
        assert_eq!(EventId::parse("nonsense"), None);
    }
}
