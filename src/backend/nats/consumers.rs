//! JetStream subscriptions. A plain subscription reads with an ordered consumer (ephemeral,
//! recreated by async-nats from the last sequence after an outage, so nothing is lost); a group
//! subscription is a member of a durable pull consumer named after the group, shared with
//! every other member and with plain NATS clients bound to it. Group messages are acknowledged
//! one by one; what a member held unacknowledged when it leaves is given back at once (NAK),
//! and anything else after the consumer's ack wait.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, AckKind};
use async_trait::async_trait;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::client::js_error;
use super::client::within;
use super::dead;
use super::jetstream::Js;
use super::reader::{js_group_record, js_record, new_generation, Ordered, Reader};
use super::shared::{InFlight, Shared};
use crate::backend::dead_letter::Reason;
use crate::backend::Position;
use crate::backend::{PushSink, Record, Start, SubscribeSpec, Subscription, TaskGauge};
use crate::error::{GatewayError, Result};

const PUSH_BATCH: usize = 256;
/// How long a group member's pull requests live at the server: a member that leaves gives its
/// unacknowledged messages back after this (instead of the consumer's ack wait).
const PULL_EXPIRES: Duration = Duration::from_secs(2);

/// A message taken out of the in-flight map for an ack or nack: its subject, its sequence, and
/// the JetStream message to answer (kept for groups only; plain subscriptions have none).
type Taken = (Arc<str>, i64, Option<jetstream::Message>);

fn deliver_policy(start: Start, subject: &str) -> consumer::DeliverPolicy {
    match start {
        Start::Latest => consumer::DeliverPolicy::New,
        Start::Earliest => consumer::DeliverPolicy::All,
        // The last message of each subject a wildcard covers, like Kafka's per partition.
        Start::Last if subject.contains(['*', '>']) => consumer::DeliverPolicy::LastPerSubject,
        Start::Last => consumer::DeliverPolicy::Last,
        Start::Offset(o) => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: u64::try_from(o.max(1)).unwrap_or(1),
        },
        Start::Timestamp(ts) => consumer::DeliverPolicy::ByStartTime {
            start_time: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts) * 1_000_000)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        },
    }
}

/// A durable consumer name: what plain NATS clients bind to.
fn check_group(group: &str) -> Result<()> {
    if group.is_empty()
        || group.len() > 255
        || group.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\')
        })
    {
        return Err(GatewayError::BadRequest(format!(
            "group `{}` is not a JetStream consumer name (no spaces, `.`, `*`, `>`, `/`)",
            group.escape_debug()
        )));
    }
    Ok(())
}

pub(super) async fn subscribe(
    js: Arc<Js>,
    subject: String,
    mut spec: SubscribeSpec,
    sink: PushSink,
) -> Result<Arc<dyn Subscription>> {
    if let Some(g) = &spec.group {
        check_group(g)?;
    }
    let ctx = js.context().await?;
    let view = js.view(&ctx, &subject).await?;
    // A resume into another generation of the stream starts over at its beginning, and says so.
    if spec.start_epoch != 0 && spec.start_epoch != view.epoch {
        spec.start = Start::Earliest;
        sink.mark_reset();
    }
    if let Start::Offset(o) = spec.start {
        if o > view.end {
            return Err(GatewayError::OffsetOutOfRange {
                offset: o,
                earliest: view.earliest,
                end: view.end,
            });
        }
    }
    let policy = deliver_policy(spec.start, &subject);
    let timeout = js.conn.timeouts.read();
    let inflight = Arc::new(InFlight::default());
    let cancel = CancellationToken::new();
    let shared = Arc::new(Shared {
        spec,
        sink,
        inflight: inflight.clone(),
        epoch: AtomicU64::new(view.epoch),
        ack_timeout: js.conn.timeouts.send(),
        connections: js.conn.connections(),
        delivery: js.delivery.clone(),
    });
    let group = shared.spec.group.clone();
    match group {
        None => {
            let reader = Reader {
                stream: view.stream.clone(),
                subject: subject.clone(),
                policy,
                last: 0,
                epoch: view.epoch,
                connections: js.conn.connections(),
            };
            if matches!(policy, consumer::DeliverPolicy::LastPerSubject) {
                // The last of each subject a wildcard covers has no one start sequence: this
                // subscription reads alone.
                let messages = reader.open(timeout).await?;
                tokio::spawn(plain_loop(shared.clone(), reader, messages, cancel.clone()));
            } else {
                // Fixed as a stream sequence before the reply: LATEST misses nothing after it.
                let next = match shared.spec.start {
                    Start::Latest => view.end,
                    Start::Earliest => view.earliest,
                    Start::Offset(o) => o,
                    Start::Last | Start::Timestamp(_) => js
                        .first_sequence(&view, &subject, policy)
                        .await?
                        .unwrap_or(view.end),
                };
                let next = u64::try_from(next.max(1)).unwrap_or(1);
                let end = u64::try_from(view.end.max(1)).unwrap_or(1);
                let key = (view.name.clone(), view.epoch, subject.clone());
                let tail = js.tails.join(key, reader.clone(), end, timeout);
                tokio::spawn(super::tail::member_loop(
                    shared.clone(),
                    reader,
                    tail,
                    next,
                    cancel.clone(),
                ));
            }
        }
        Some(name) => {
            let max_ack_pending = match shared.spec.max_in_flight {
                0 => js.opts.max_ack_pending,
                n => i64::try_from(n).unwrap_or(i64::MAX),
            };
            let config = consumer::pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: subject.clone(),
                deliver_policy: policy,
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs_f64(js.opts.ack_wait_secs),
                max_ack_pending,
                // The route's `delivery.max_deliveries` (0 = the server's default: no limit).
                // With a dead-letter subject the gateway counts instead (JetStream would only
                // report the message): no limit at the server, see `dead`.
                max_deliver: match dead::target(&js.delivery) {
                    Some(_) => 0,
                    None => i64::from(js.delivery.max_deliveries),
                },
                ..Default::default()
            };
            let stream_name = view.name.clone();
            let consumer = within(timeout, "joining the group", async {
                view.stream
                    .get_or_create_consumer(&name, config.clone())
                    .await
                    .map_err(|e| {
                        js_error(
                            &format!("cannot join consumer {name} of stream {stream_name}"),
                            e,
                        )
                    })
            })
            .await?;
            let filter = consumer.cached_info().config.filter_subject.clone();
            if filter != subject {
                return Err(GatewayError::Conflict(format!(
                    "group {name} is a consumer of subject `{filter}` on stream {stream_name}, not `{subject}`"
                )));
            }
            let batch = usize::try_from(max_ack_pending)
                .unwrap_or(100)
                .clamp(1, 100);
            let member = GroupMember {
                stream: view.stream.clone(),
                config,
                consumer,
                batch,
            };
            tokio::spawn(group_loop(
                shared.clone(),
                js.clone(),
                member,
                cancel.clone(),
            ));
        }
    }
    Ok(Arc::new(JsSubscription { shared, js, cancel }))
}

async fn plain_loop(
    shared: Arc<Shared>,
    mut reader: Reader,
    messages: Ordered,
    cancel: CancellationToken,
) {
    let _task = TaskGauge::new();
    let bounded = shared.spec.max_in_flight == 0;
    let mut connections = shared.connections.clone();
    connections.borrow_and_update();
    let mut messages = Some(messages);
    let mut errors = 0u32;
    loop {
        if !shared.room(&cancel).await {
            return;
        }
        if messages.is_none() && reader.renew_generation(shared.ack_timeout).await {
            // The stream was deleted and made again: its new log, from the beginning.
            shared.new_generation();
        }
        let current = match &mut messages {
            Some(m) => m,
            None => match reader.open(shared.ack_timeout).await {
                Ok(m) => messages.insert(m),
                Err(e) => {
                    errors += 1;
                    if errors.is_power_of_two() {
                        tracing::warn!(error = %e, "JetStream subscription interrupted; retrying");
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    }
                    continue;
                }
            },
        };
        let next = tokio::select! {
            _ = cancel.cancelled() => return,
            n = current.next() => n,
            // After an outage the consumer is made again from the last sequence read: nothing
            // lost, nothing twice.
            _ = connections.changed() => {
                messages = None;
                continue;
            }
        };
        let first = match next {
            Some(Ok(m)) => m,
            Some(Err(_)) | None => {
                messages = None;
                continue;
            }
        };
        errors = 0;
        let mut batch = Vec::new();
        let room = shared.sink.flow.room().min(PUSH_BATCH);
        let mut add = |m: jetstream::Message, batch: &mut Vec<Arc<Record>>| {
            if let Ok(r) = js_record(&m, reader.epoch) {
                reader.last = reader.last.max(u64::try_from(r.offset).unwrap_or(0));
                if shared.wanted(&r) {
                    shared.inflight.delivered(&r, None, bounded);
                    batch.push(r);
                }
            }
        };
        add(first, &mut batch);
        let mut read = 1;
        while read < room {
            match futures_util::FutureExt::now_or_never(current.next()) {
                Some(Some(Ok(m))) => add(m, &mut batch),
                _ => break,
            }
            read += 1;
        }
        let pushed = tokio::select! {
            _ = cancel.cancelled() => return,
            p = shared.sink.push(&batch) => p,
        };
        if pushed.is_err() {
            return;
        }
    }
}

/// A group member's durable consumer, and what it takes to make it again.
struct GroupMember {
    stream: jetstream::stream::Stream,
    config: consumer::pull::Config,
    consumer: consumer::Consumer<consumer::pull::Config>,
    batch: usize,
}

impl GroupMember {
    /// When the consumer is lost: if its stream was deleted and made again, the group's
    /// consumer is made again on it, reading the new log from its beginning, and the
    /// subscription's next push says `reset`. Whether that happened.
    async fn follow_new_generation(&mut self, shared: &Shared) -> bool {
        let epoch = shared.epoch.load(Ordering::Acquire);
        let Some((stream, epoch)) = new_generation(&self.stream, epoch, shared.ack_timeout).await
        else {
            return false;
        };
        let mut config = self.config.clone();
        config.deliver_policy = consumer::DeliverPolicy::All;
        let name = config.durable_name.clone().unwrap_or_default();
        let made = within(shared.ack_timeout, "joining the group", async {
            stream
                .get_or_create_consumer(&name, config)
                .await
                .map_err(|e| js_error("cannot make the group's consumer again", e))
        })
        .await;
        let Ok(consumer) = made else { return false };
        tracing::info!(stream = %consumer.cached_info().stream_name, group = %name, "JetStream stream made again: the group reads its new log from the beginning");
        self.stream = stream;
        self.consumer = consumer;
        shared.epoch.store(epoch, Ordering::Release);
        shared.new_generation();
        true
    }
}

async fn group_loop(
    shared: Arc<Shared>,
    js: Arc<Js>,
    mut member: GroupMember,
    cancel: CancellationToken,
) {
    let _task = TaskGauge::new();
    let mut messages = None;
    let mut errors = 0u32;
    let mut connections = shared.connections.clone();
    connections.borrow_and_update();
    loop {
        if !shared.room(&cancel).await {
            break;
        }
        let stream = match &mut messages {
            Some(s) => s,
            None => {
                let made = tokio::select! {
                    _ = cancel.cancelled() => break,
                    m = member
                        .consumer
                        .stream()
                        .max_messages_per_batch(member.batch)
                        .expires(PULL_EXPIRES)
                        .heartbeat(PULL_EXPIRES / 2)
                        .messages() => m,
                };
                match made {
                    Ok(s) => messages.insert(s),
                    Err(e) => {
                        if member.follow_new_generation(&shared).await {
                            continue;
                        }
                        errors += 1;
                        if errors.is_power_of_two() {
                            tracing::warn!(error = %e, "JetStream group consumer unavailable; retrying");
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        continue;
                    }
                }
            }
        };
        let next = tokio::select! {
            _ = cancel.cancelled() => break,
            n = stream.next() => n,
            // A restarted server forgot the pull requests: pull again.
            _ = connections.changed() => {
                messages = None;
                continue;
            }
        };
        let msg = match next {
            None => {
                messages = None;
                continue;
            }
            Some(Err(e)) => {
                messages = None;
                if member.follow_new_generation(&shared).await {
                    continue;
                }
                errors += 1;
                if errors.is_power_of_two() {
                    tracing::warn!(error = %e, "JetStream group delivery interrupted; resuming");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Some(Ok(m)) => m,
        };
        errors = 0;
        let epoch = shared.epoch.load(Ordering::Acquire);
        if dead::past_limit(&shared.delivery, &msg) {
            // Its last allowed delivery went unanswered: a dead letter, not a delivery.
            if let Some(to) = dead::target(&shared.delivery) {
                dead::give_up(&js, to, msg, epoch, Reason::MaxDeliveries).await;
            }
            continue;
        }
        let Ok(record) = js_group_record(&msg, epoch) else {
            continue;
        };
        if !shared.wanted(&record) {
            // Not for this member's identity or filter: consumed for the group all the same.
            let _ = msg.ack().await;
            continue;
        }
        shared.inflight.delivered(&record, Some(msg), false);
        let one = [record];
        let pushed = tokio::select! {
            _ = cancel.cancelled() => break,
            p = shared.sink.push(&one) => p,
        };
        if pushed.is_err() {
            break;
        }
    }
    // Gone without acknowledging: the group gets these back soon, not after the ack wait. What
    // the pull subscription holds is given back too. The pull requests it left at the server
    // must expire first, or the server would hand the messages straight back to them.
    let mut held: Vec<_> = std::mem::take(&mut *shared.inflight.lock())
        .into_values()
        .flatten()
        .collect();
    if let Some(mut s) = messages.take() {
        while let Some(Some(Ok(m))) = futures_util::FutureExt::now_or_never(s.next()) {
            held.push(m);
        }
    }
    if held.is_empty() {
        return;
    }
    tokio::time::sleep(PULL_EXPIRES + Duration::from_millis(200)).await;
    for m in held {
        let _ = m.ack_with(AckKind::Nak(None)).await;
    }
}

struct JsSubscription {
    shared: Arc<Shared>,
    /// Publishes the dead letters of nacked last deliveries.
    js: Arc<Js>,
    cancel: CancellationToken,
}

impl JsSubscription {
    /// Takes the named messages out of the in-flight set, all or none.
    fn take(&self, positions: &[Position]) -> Result<Vec<Taken>> {
        let mut map = self.shared.inflight.lock();
        for p in positions {
            if !map.contains_key(&(Arc::from(p.topic.as_str()), p.offset)) {
                return Err(GatewayError::BadRequest(format!(
                    "message {} of subject {} was not delivered to this subscription, or is already acknowledged",
                    p.offset, p.topic
                )));
            }
        }
        Ok(positions
            .iter()
            .filter_map(|p| {
                let key = (Arc::<str>::from(p.topic.as_str()), p.offset);
                map.remove(&key).map(|m| (key.0, key.1, m))
            })
            .collect())
    }

    /// The acknowledged messages stop counting against max_in_flight, one by one: acks may come
    /// in any order.
    /// Everything below the lowest still unacknowledged goes too (messages the bounded
    /// in-flight map forgot can no longer be acknowledged).
    fn release(&self, done: &[(Arc<str>, i64)]) {
        for (s, offset) in done {
            self.shared.sink.flow.ack_one(s, 0, *offset);
            let lowest = self.shared.inflight.lowest(s);
            self.shared.sink.flow.ack(s, 0, lowest);
        }
    }

    async fn reply(
        &self,
        taken: Vec<Taken>,
        kind: impl Fn(&jetstream::Message) -> AckKind + Send + Sync,
    ) -> Result<()> {
        let done: Vec<(Arc<str>, i64)> = taken.iter().map(|(s, o, _)| (s.clone(), *o)).collect();
        let result = within(self.shared.ack_timeout, "the acknowledgement", async {
            // Confirmed by the server: an acknowledged message is not redelivered after an outage.
            for m in taken.into_iter().filter_map(|(_, _, m)| m) {
                m.double_ack_with(kind(&m))
                    .await
                    .map_err(|e| js_error("JetStream acknowledgement failed", e))?;
            }
            Ok(())
        })
        .await;
        self.release(&done);
        result
    }
}

#[async_trait]
impl Subscription for JsSubscription {
    async fn ack(&self, positions: Vec<Position>) -> Result<()> {
        let taken = self.take(&positions)?;
        self.reply(taken, |_| AckKind::Ack).await
    }

    async fn nack(&self, positions: Vec<Position>, delay: Duration) -> Result<()> {
        if self.shared.spec.group.is_none() {
            return Err(GatewayError::BadRequest(
                "nack needs a group subscription on JetStream: a plain subscription's ordered consumer does not redeliver"
                    .into(),
            ));
        }
        let mut taken = self.take(&positions)?;
        // The nack of a last allowed delivery: its dead letter, at once (no backoff).
        if let Some(to) = dead::target(&self.shared.delivery) {
            let epoch = self.shared.epoch.load(Ordering::Acquire);
            let mut done = Vec::new();
            for (s, o, m) in &mut taken {
                if m.as_ref()
                    .is_some_and(|m| dead::last_allowed(&self.shared.delivery, m))
                {
                    if let Some(m) = m.take() {
                        dead::give_up(&self.js, to, m, epoch, Reason::Nack).await;
                    }
                    done.push((s.clone(), *o));
                }
            }
            self.release(&done);
            taken.retain(|(_, _, m)| m.is_some());
        }
        // A nack without a delay of its own waits the route's backoff for the delivery it
        // answers (JetStream's count); the server redelivers after it.
        let backoff = self.shared.delivery.clone();
        self.reply(taken, move |m| {
            let wait = if delay.is_zero() {
                backoff.backoff_for(dead::delivered(m))
            } else {
                delay
            };
            AckKind::Nak((!wait.is_zero()).then_some(wait))
        })
        .await
    }

    fn close(&self) {
        self.cancel.cancel();
    }
}

impl Drop for JsSubscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
