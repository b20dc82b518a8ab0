//! Group subscriptions: one durable Pub/Sub subscription per (route, group, topic), named
//! `{subscription_prefix}{group}.{topic}` and created if absent with the route's ack deadline,
//! ordering, exactly-once, retention and dead-letter policy, so plain Pub/Sub subscribers of
//! that subscription share the group's messages. Each member pulls (unary Pull: see `run`) and
//! holds what it pushed until the client acks or nacks it, message by message; while a message
//! is held its ack deadline is extended (up to `max_lease_secs`, as Google's clients bound their
//! leases); what a member holds when it goes away is given back at once (deadline 0).
//!
//! Flow control is the gateway's own: the emulator ignores `max_outstanding_messages`, so a
//! member pulls only while it holds fewer than its window (`max_in_flight`, else 1000), at most
//! the room left, and what it does not take stays at Pub/Sub.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gcloud_gax::grpc::{Code, Status};
use gcloud_googleapis::pubsub::v1::{
    seek_request, DeadLetterPolicy, ExpirationPolicy, GetSubscriptionRequest,
    ModifyAckDeadlineRequest, PullRequest, SeekRequest, Subscription as PsSubscription,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::client::{quick, status_error, Conn};
use super::live::record;
use crate::backend::{lock, retry_pause, Flow, Position, PushSink, Start, SubscribeSpec};
use crate::backend::{Subscription, TaskGauge};
use crate::error::{GatewayError, Result};

/// A member's window when the subscribe sets no `max_in_flight`.
const DEFAULT_WINDOW: usize = 1000;
/// Ack ids per ModifyAckDeadline call, as per Acknowledge call.
const BATCH: usize = super::acks::BATCH;
/// Lapsed entries a member keeps (so a late ack still reaches Pub/Sub) before dropping the oldest.
const MAX_LAPSED: usize = 10_000;

/// A message pushed to the client and not yet settled.
struct Held {
    ack_id: String,
    received: Instant,
    /// Its lease ran out (`max_lease_secs`): Pub/Sub redelivers it; no longer in the window.
    lapsed: bool,
}

struct Member {
    conn: Arc<Conn>,
    topic: Arc<str>,
    fqsn: String,
    /// By the offset this subscription gave each delivery (what the client acks).
    held: Mutex<BTreeMap<i64, Held>>,
    next_offset: AtomicI64,
    window: usize,
    cancel: CancellationToken,
    /// Wakes the reader when the window has room again.
    freed: Notify,
    /// Acks waiting for the next Acknowledge call.
    acks: Arc<super::acks::Batcher>,
}

impl Member {
    fn active(&self) -> usize {
        lock(&self.held).values().filter(|h| !h.lapsed).count()
    }

    /// ModifyAckDeadline in batches; the first error.
    async fn modify(&self, ids: Vec<String>, secs: i32) -> std::result::Result<(), Status> {
        let clients = self
            .conn
            .clients()
            .await
            .map_err(|e| Status::new(Code::Unavailable, e.to_string()))?;
        for chunk in ids.chunks(BATCH) {
            let req = ModifyAckDeadlineRequest {
                subscription: self.fqsn.clone(),
                ack_ids: chunk.to_vec(),
                ack_deadline_seconds: secs,
            };
            tokio::time::timeout(
                self.conn.timeouts.send(),
                clients.subscriber.modify_ack_deadline(req, quick()),
            )
            .await
            .map_err(|_| Status::new(Code::DeadlineExceeded, "modifyAckDeadline timed out"))??;
        }
        Ok(())
    }

    /// Gives back everything held at once (deadline 0): another member receives it now.
    async fn release(&self) {
        let ids: Vec<String> = std::mem::take(&mut *lock(&self.held))
            .into_values()
            .filter(|h| !h.lapsed)
            .map(|h| h.ack_id)
            .collect();
        if ids.is_empty() {
            return;
        }
        if let Err(s) = self.modify(ids, 0).await {
            tracing::debug!(subscription = %self.fqsn, error = %s.message(), "could not give back a Pub/Sub group member's messages; they return after their ack deadline");
        }
    }
}

/// A group's subscription id; 400 for a group outside Pub/Sub's id alphabet or a name past 255.
pub(super) fn subscription_id(prefix: &str, group: &str, topic: &str) -> Result<String> {
    if group.is_empty()
        || group.len() > 100
        || !group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(GatewayError::BadRequest(format!(
            "invalid group `{group}`: a Pub/Sub group is 1 to 100 of [A-Za-z0-9_-]"
        )));
    }
    let id = format!("{prefix}{group}.{topic}");
    if id.len() > 255 {
        return Err(GatewayError::BadRequest(format!(
            "the group's subscription `{id}` would be {} characters: Pub/Sub allows 255",
            id.len()
        )));
    }
    Ok(id)
}

fn secs(n: u64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: n as i64,
        nanos: 0,
    }
}

/// Creates the group's subscription unless it exists; an existing one of another topic is 409.
async fn ensure(conn: &Conn, topic: &str, fqsn: &str) -> Result<()> {
    let o = &conn.opts;
    let fqtn = conn.topic_name(topic);
    let replay = o.replay_window_secs;
    let sub = PsSubscription {
        name: fqsn.to_string(),
        topic: fqtn.clone(),
        ack_deadline_seconds: o.ack_deadline_secs as i32,
        enable_message_ordering: o.message_ordering,
        enable_exactly_once_delivery: o.exactly_once,
        retain_acked_messages: replay > 0,
        message_retention_duration: (replay > 0).then(|| secs(replay)),
        // A group's subscription never expires: it holds the group's backlog.
        expiration_policy: Some(ExpirationPolicy { ttl: None }),
        dead_letter_policy: o.dead_letter_topic.as_ref().map(|t| DeadLetterPolicy {
            dead_letter_topic: conn.topic_name(t),
            max_delivery_attempts: o.max_delivery_attempts as i32,
        }),
        labels: HashMap::from([("pubsub-gateway".to_string(), "group".to_string())]),
        ..Default::default()
    };
    let clients = conn.clients().await?;
    let what = format!("topic `{topic}`");
    let created = conn
        .within("creating the group's subscription", async {
            match clients.subscriber.create_subscription(sub, quick()).await {
                Ok(_) => Ok(None),
                Err(s) if s.code() == Code::AlreadyExists => {
                    let req = GetSubscriptionRequest {
                        subscription: fqsn.to_string(),
                    };
                    let got = clients.subscriber.get_subscription(req, quick()).await;
                    got.map(|r| Some(r.into_inner()))
                        .map_err(|s| status_error(&s, &format!("subscription `{fqsn}`")))
                }
                Err(s) => Err(status_error(&s, &what)),
            }
        })
        .await?;
    match created {
        Some(existing) if existing.topic == "_deleted-topic_" => {
            Err(GatewayError::UnknownTopicOrPartition.context(format!(
                "Pub/Sub topic `{topic}` of the group's subscription `{fqsn}` was deleted"
            )))
        }
        Some(existing) if existing.topic != fqtn => Err(GatewayError::Conflict(format!(
            "the group's subscription `{fqsn}` exists for {}, not {fqtn}",
            existing.topic
        ))),
        _ => Ok(()),
    }
}

/// Seeks the whole group's subscription to a time: every message published (or acked) after it
/// is delivered again.
async fn seek(conn: &Conn, fqsn: &str, ms: i64) -> Result<()> {
    let clients = conn.clients().await?;
    let time = prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    };
    let req = SeekRequest {
        subscription: fqsn.to_string(),
        target: Some(seek_request::Target::Time(time)),
    };
    conn.within("the seek", async {
        clients
            .subscriber
            .seek(req, quick())
            .await
            .map(|_| ())
            .map_err(|s| status_error(&s, &format!("seek of subscription `{fqsn}`")))
    })
    .await
}

pub(super) async fn subscribe(
    conn: Arc<Conn>,
    prefix: &str,
    topic: String,
    spec: SubscribeSpec,
    sink: PushSink,
) -> Result<Arc<dyn Subscription>> {
    let group = spec.group.as_deref().unwrap_or_default();
    let fqsn = conn.subscription_name(&subscription_id(prefix, group, &topic)?);
    if !spec.match_headers.is_empty() {
        return Err(GatewayError::BadRequest(
            "match_headers is for plain subscriptions: a group member cannot skip messages of the group's subscription"
                .into(),
        ));
    }
    ensure(&conn, &topic, &fqsn).await?;
    match spec.start {
        Start::Latest => {}
        Start::Timestamp(ms) => seek(&conn, &fqsn, ms).await?,
        // Dispatch offers only what the capabilities say.
        Start::Earliest | Start::Last | Start::Offset(_) => {
            return Err(GatewayError::BadRequest(
                "a Pub/Sub group starts at LATEST, or at a time (TIMESTAMP, TIME_DELTA)".into(),
            ))
        }
    }
    let topic: Arc<str> = Arc::from(topic);
    let acks = super::acks::Batcher::new(conn.clone(), fqsn.clone(), topic.clone());
    let member = Arc::new(Member {
        conn,
        topic,
        fqsn,
        held: Mutex::new(BTreeMap::new()),
        next_offset: AtomicI64::new(0),
        window: match spec.max_in_flight {
            0 => DEFAULT_WINDOW,
            n => n,
        },
        cancel: CancellationToken::new(),
        freed: Notify::new(),
        acks: Arc::new(acks),
    });
    let flow = sink.flow.clone();
    tokio::spawn(lease(member.clone(), flow.clone()));
    tokio::spawn(run(member.clone(), sink));
    Ok(Arc::new(GroupSubscription { member, flow }))
}

/// Extends the deadline of what the member holds, every half deadline, until `max_lease_secs`
/// after its receipt; past that the message lapses (Pub/Sub redelivers it) and leaves the window.
async fn lease(member: Arc<Member>, flow: Arc<Flow>) {
    let o = &member.conn.opts;
    let deadline = o.ack_deadline_secs;
    let max_lease = Duration::from_secs(u64::from(o.max_lease_secs));
    let every = Duration::from_secs(u64::from(deadline / 2).max(1));
    loop {
        tokio::select! {
            _ = member.cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let mut lapsed_now = Vec::new();
        let ids: Vec<String> = {
            let mut held = lock(&member.held);
            let mut ids = Vec::new();
            for (offset, h) in held.iter_mut().filter(|(_, h)| !h.lapsed) {
                if h.received.elapsed() >= max_lease {
                    h.lapsed = true;
                    lapsed_now.push(*offset);
                } else {
                    ids.push(h.ack_id.clone());
                }
            }
            let lapsed = held.values().filter(|h| h.lapsed).count();
            if lapsed > MAX_LAPSED {
                let oldest: Vec<i64> = held
                    .iter()
                    .filter(|(_, h)| h.lapsed)
                    .take(lapsed - MAX_LAPSED)
                    .map(|(o, _)| *o)
                    .collect();
                for o in oldest {
                    held.remove(&o);
                }
            }
            ids
        };
        for offset in &lapsed_now {
            flow.ack_one(&member.topic, 0, *offset);
        }
        if !lapsed_now.is_empty() {
            member.freed.notify_one();
        }
        if let Err(s) = member.modify(ids, deadline as i32).await {
            tracing::debug!(subscription = %member.fqsn, error = %s.message(), "Pub/Sub lease extension failed");
        }
    }
}

/// The member's reader: Pull while the window has room, each message held then pushed, until
/// the member leaves; then everything it holds is given back. A Pull is never abandoned half
/// way (what it returns is held, so it is given back too).
///
/// Unary Pull, not StreamingPull: on the emulator a StreamingPull that ends (a member leaving,
/// another joining) stays attached to the subscription, and the subscription's messages, the
/// ones the leaving member gave back included, go to the dead stream and never reach the
/// other members (measured: nothing in 40 s). An idle member polls, 50 ms doubling to 1 s.
async fn run(member: Arc<Member>, sink: PushSink) {
    let _task = TaskGauge::new();
    read(&member, &sink).await;
    member.cancel.cancel();
    member.release().await;
}

/// Whether the member should stop.
fn gone(member: &Member, sink: &PushSink) -> bool {
    member.cancel.is_cancelled() || sink.is_closed()
}

async fn read(member: &Member, sink: &PushSink) {
    let conn = &member.conn;
    let mut failures = 0u32;
    let mut idle = 0u32;
    loop {
        // Room in the window, or the member leaves.
        loop {
            if gone(member, sink) {
                return;
            }
            if member.active() < member.window {
                break;
            }
            tokio::select! {
                _ = member.cancel.cancelled() => return,
                _ = sink.stopped() => return,
                _ = member.freed.notified() => {}
            }
        }
        let room = (member.window - member.active()).clamp(1, BATCH);
        let pulled = match conn.clients().await {
            Err(_) => Err(None),
            Ok(clients) => {
                #[allow(deprecated)]
                let req = PullRequest {
                    subscription: member.fqsn.clone(),
                    max_messages: room as i32,
                    return_immediately: true,
                };
                match tokio::time::timeout(
                    conn.timeouts.send(),
                    clients.subscriber.pull(req, quick()),
                )
                .await
                {
                    Ok(Ok(r)) => Ok(r.into_inner().received_messages),
                    Ok(Err(s)) => Err(Some(s)),
                    Err(_) => Err(None),
                }
            }
        };
        let status = match pulled {
            Ok(received) if received.is_empty() => {
                failures = 0;
                idle = (idle + 1).min(5);
                let pause = Duration::from_millis(50 << (idle - 1)).min(Duration::from_secs(1));
                tokio::select! {
                    _ = member.cancel.cancelled() => return,
                    _ = sink.stopped() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                continue;
            }
            Ok(received) => {
                failures = 0;
                idle = 0;
                if !deliver(member, sink, received).await {
                    return;
                }
                continue;
            }
            Err(status) => status,
        };
        if let Some(s) = &status {
            match s.code() {
                Code::NotFound => {
                    // The subscription vanished (deleted, or Pub/Sub restarted empty): what
                    // was held cannot be acked any more; make it again.
                    lock(&member.held).clear();
                    sink.flow.forget_all();
                    // A missing topic is tried again with backoff (it may come back, as
                    // after an emulator restart); a refusal ends the subscription.
                    if let Err(e) = ensure(conn, &member.topic, &member.fqsn).await {
                        if e.code() == 403 {
                            sink.fail(&e).await;
                            return;
                        }
                        tracing::debug!(subscription = %member.fqsn, error = %e, "Pub/Sub group subscription not made again yet");
                    }
                }
                Code::PermissionDenied => {
                    sink.fail(&status_error(s, &format!("subscription `{}`", member.fqsn)))
                        .await;
                    return;
                }
                _ => {
                    tracing::debug!(subscription = %member.fqsn, error = %s.message(), "Pub/Sub group pull failed")
                }
            }
        }
        failures += 1;
        if retry_pause(&member.cancel, failures).await {
            return;
        }
    }
}

/// Holds pulled messages (so they are leased at once), then pushes them one by one within
/// `max_in_flight`; false when the member left meanwhile (what it held is given back).
async fn deliver(
    member: &Member,
    sink: &PushSink,
    received: Vec<gcloud_googleapis::pubsub::v1::ReceivedMessage>,
) -> bool {
    let now = Instant::now();
    let mut records = Vec::with_capacity(received.len());
    {
        let mut held = lock(&member.held);
        for m in received {
            let offset = member.next_offset.fetch_add(1, Ordering::Relaxed);
            held.insert(
                offset,
                Held {
                    ack_id: m.ack_id.clone(),
                    received: now,
                    lapsed: false,
                },
            );
            records.push((offset, Arc::new(record(&member.topic, m, offset))));
        }
    }
    for (offset, r) in records {
        while sink.flow.room() == 0 {
            tokio::select! {
                _ = member.cancel.cancelled() => return false,
                _ = sink.stopped() => return false,
                _ = sink.flow.acked() => {}
            }
        }
        // Settled (or given back by a recreated subscription) before its turn: skip it.
        if !lock(&member.held).contains_key(&offset) {
            continue;
        }
        let one = [r];
        let pushed = tokio::select! {
            _ = member.cancel.cancelled() => return false,
            p = sink.push(&one) => p,
        };
        if pushed.is_err() {
            return false;
        }
    }
    true
}

struct GroupSubscription {
    member: Arc<Member>,
    flow: Arc<Flow>,
}

impl GroupSubscription {
    /// Takes the named deliveries out of the held set, all or none.
    fn take(&self, positions: &[Position]) -> Result<Vec<(i64, Held)>> {
        let mut held = lock(&self.member.held);
        if let Some(p) = positions
            .iter()
            .find(|p| p.topic != *self.member.topic || !held.contains_key(&p.offset))
        {
            return Err(GatewayError::BadRequest(format!(
                "offset {} of topic {} was not delivered to this subscription, or is already acknowledged",
                p.offset, p.topic
            )));
        }
        let taken: Vec<(i64, Held)> = positions
            .iter()
            .filter_map(|p| held.remove(&p.offset).map(|h| (p.offset, h)))
            .collect();
        drop(held);
        for (offset, h) in &taken {
            if !h.lapsed {
                self.flow.ack_one(&self.member.topic, 0, *offset);
            }
        }
        self.member.freed.notify_one();
        Ok(taken)
    }
}

#[async_trait]
impl Subscription for GroupSubscription {
    async fn ack(&self, positions: Vec<Position>) -> Result<()> {
        let taken = self.take(&positions)?;
        let ids = taken.into_iter().map(|(o, h)| (o, h.ack_id)).collect();
        self.member.acks.acknowledge(ids).await
    }

    async fn nack(&self, positions: Vec<Position>, delay: Duration) -> Result<()> {
        let taken = self.take(&positions)?;
        let ids: Vec<String> = taken
            .into_iter()
            .filter(|(_, h)| !h.lapsed)
            .map(|(_, h)| h.ack_id)
            .collect();
        // Pub/Sub's nack with a delay: the deadline set to it (whole seconds, at most 600).
        let secs = delay.as_millis().div_ceil(1000).min(600) as i32;
        let m = &self.member;
        m.conn
            .within("the nack", async {
                m.modify(ids, secs)
                    .await
                    .map_err(|s| status_error(&s, &format!("subscription `{}`", m.fqsn)))
            })
            .await
    }

    fn close(&self) {
        self.member.cancel.cancel();
    }
}

impl Drop for GroupSubscription {
    fn drop(&mut self) {
        self.close();
    }
}
