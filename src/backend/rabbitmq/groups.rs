//! Group subscriptions: the members of a group share one durable queue per (route, group,
//! topic), competing for its messages with every plain AMQP consumer of that queue. Each member
//! has its own channel whose prefetch is its `max_in_flight` (or the route's `prefetch_count`),
//! and acknowledges message by message; what it has not acknowledged when it goes away (or when
//! the connection drops) the broker delivers again to another consumer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Consumer};
use tokio_util::sync::CancellationToken;

use super::client::{amqp_error, short, within, Conn};
use super::dead;
use super::props::to_record;
use super::publish::Publisher;
use super::topology::{declare_exchange, declare_group_queue, group_queue_name};
use crate::backend::dead_letter::Reason;
use crate::backend::{lock, PushSink, Record, SubscribeSpec, Subscription, TaskGauge};
use crate::backend::{Flow, Position};
use crate::config::QueueType;
use crate::error::{GatewayError, Result};

/// Deliveries pushed and not yet acknowledged, by the offset the subscription gave them, with
/// their attempt (the delivery is kept whole for its dead letter; at most the prefetch).
type Pending = HashMap<i64, (Arc<str>, Delivery, u32)>;

/// A pending delivery taken out for an answer: its offset, topic, delivery and attempt.
type Taken = (i64, Arc<str>, Delivery, u32);

struct Member {
    conn: Arc<Conn>,
    /// Publishes the dead letters of the route's `delivery:` policy.
    publisher: Arc<Publisher>,
    queue: String,
    topic: String,
    prefetch: u16,
    pending: Mutex<Pending>,
    /// Each delivery's offset: this subscription's own count, so acks name one delivery even
    /// across reconnections (AMQP delivery tags start over on every channel).
    next_offset: AtomicI64,
    cancel: CancellationToken,
    /// Nack gives back for redelivery, or dead-letters (see `requeue_on_nack`).
    requeue_on_nack: bool,
}

/// A nack requeues, unless the route dead-letters: a dead-letter exchange on a classic queue
/// (or a quorum queue without `max_deliveries`) receives nacked messages at once; with
/// `max_deliveries` the broker requeues until the limit and then dead-letters.
fn requeue_on_nack(conn: &Conn) -> bool {
    let o = &conn.opts;
    match (&o.dead_letter_exchange, o.queue_type, o.max_deliveries) {
        (None, _, _) => true,
        (Some(_), QueueType::Quorum, Some(_)) => true,
        (Some(_), _, _) => false,
    }
}

impl Member {
    async fn consume(&self) -> Result<(u64, Channel, Consumer)> {
        let (generation, ch) = self.conn.channel().await?;
        declare_exchange(&self.conn, &ch).await?;
        declare_group_queue(&self.conn, &ch, &self.queue, &self.topic).await?;
        let consumer = within(self.conn.timeouts.read(), "the consume", async {
            ch.basic_qos(self.prefetch, BasicQosOptions::default())
                .await
                .map_err(amqp_error)?;
            ch.basic_consume(
                short("queue name", &self.queue)?,
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(amqp_error)
        })
        .await?;
        Ok((generation, ch, consumer))
    }

    /// Dead-letters `d` (or drops it without a dead-letter exchange) and acknowledges it; a
    /// dead letter that cannot be written gives the message back (requeued: the queue's
    /// `x-delivery-limit` lets RabbitMQ dead-letter it itself once over the limit).
    async fn give_up(&self, d: Delivery, count: u32, reason: Reason) {
        let written = dead::write(&self.conn, &self.publisher, &d, count, reason).await;
        let answered = match &written {
            Ok(()) => d.acker.ack(BasicAckOptions::default()).await,
            Err(e) => {
                tracing::warn!(route = %self.conn.route, queue = %self.queue, error = %e,
                    "dead letter not written; the message goes back to the queue");
                d.acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await
            }
        };
        if let Err(e) = answered {
            // The channel is gone: the broker gives the message back by itself.
            tracing::debug!(error = %amqp_error(e), "dead-lettered message not answered");
        }
    }

    /// Deliveries of a lost channel cannot be acknowledged any more: the broker redelivers them.
    fn forget_pending(&self, sink: &PushSink) {
        let topics: Vec<Arc<str>> = lock(&self.pending)
            .drain()
            .map(|(_, (topic, _, _))| topic)
            .collect();
        for t in topics {
            sink.flow.forget(&t, 0);
        }
    }
}

pub(super) async fn subscribe(
    conn: Arc<Conn>,
    publisher: Arc<Publisher>,
    topic: String,
    spec: SubscribeSpec,
    sink: PushSink,
) -> Result<Arc<dyn Subscription>> {
    let Some(group) = spec.group.clone() else {
        return Err(GatewayError::BadRequest(
            "a group subscription needs a group".into(),
        ));
    };
    if !spec.match_headers.is_empty() {
        return Err(GatewayError::BadRequest(
            "match_headers is for plain subscriptions: a group member cannot skip messages of the group's queue"
                .into(),
        ));
    }
    if spec.allowed.is_some() && topic.split('.').any(|w| w == "*" || w == "#") {
        return Err(GatewayError::Forbidden(
            "a group subscription to a wildcard needs read access to every topic: the group's queue cannot skip messages for one identity"
                .into(),
        ));
    }
    let prefetch = match spec.max_in_flight {
        0 => conn.opts.prefetch_count,
        n => u16::try_from(n).map_err(|_| {
            GatewayError::BadRequest(format!(
                "max_in_flight {n} is over AMQP's prefetch limit of 65535"
            ))
        })?,
    };
    let member = Arc::new(Member {
        queue: group_queue_name(&conn, &group, &topic)?,
        requeue_on_nack: requeue_on_nack(&conn),
        conn,
        publisher,
        topic,
        prefetch,
        pending: Mutex::new(HashMap::new()),
        next_offset: AtomicI64::new(0),
        cancel: CancellationToken::new(),
    });
    let first = member.consume().await?;
    let flow = sink.flow.clone();
    tokio::spawn(run(member.clone(), first, sink));
    Ok(Arc::new(GroupSubscription { member, flow }))
}

/// Delivers the member's messages, and sets its consumer up again after a reconnection.
async fn run(member: Arc<Member>, first: (u64, Channel, Consumer), sink: PushSink) {
    let _task = TaskGauge::new();
    let mut current = Some(first);
    let mut watch = member.conn.watch();
    loop {
        let Some((generation, ch, mut consumer)) = current.take() else {
            let again = tokio::select! {
                _ = member.cancel.cancelled() => return,
                r = watch.changed() => r,
            };
            if again.is_err() {
                return;
            }
            if watch.borrow().is_none() {
                continue;
            }
            match member.consume().await {
                Ok(c) => current = Some(c),
                Err(e) => {
                    tracing::debug!(route = %member.conn.route, queue = %member.queue, error = %e, "RabbitMQ group consumer renewal failed; retrying");
                    tokio::select! {
                        _ = member.cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                    watch.mark_changed();
                }
            }
            continue;
        };
        loop {
            let next = tokio::select! {
                _ = member.cancel.cancelled() => {
                    // Closing the channel gives every unacknowledged message back at once.
                    let _ = ch.close(200, ShortString::from("member left")).await;
                    return;
                }
                d = consumer.next() => d,
            };
            let Some(Ok(delivery)) = next else { break };
            let offset = member.next_offset.fetch_add(1, Ordering::Relaxed);
            let record = to_record(&delivery, offset);
            let n = attempt(&delivery, &record);
            if dead::past_limit(&member.conn, n) {
                // Its last allowed delivery went unanswered: a dead letter, not a delivery.
                member.give_up(delivery, n - 1, Reason::MaxDeliveries).await;
                continue;
            }
            let record = Arc::new(record.with_attempt(n));
            lock(&member.pending).insert(offset, (record.topic.clone(), delivery, n));
            let one = [record];
            let pushed = tokio::select! {
                _ = member.cancel.cancelled() => {
                    let _ = ch.close(200, ShortString::from("member left")).await;
                    return;
                }
                p = sink.push(&one) => p,
            };
            if pushed.is_err() {
                let _ = ch.close(200, ShortString::from("member left")).await;
                return;
            }
        }
        tracing::debug!(route = %member.conn.route, queue = %member.queue, generation, "RabbitMQ group consumer ended; renewing");
        let _ = ch.close(200, ShortString::from("renewing")).await;
        member.forget_pending(&sink);
        if watch
            .borrow()
            .as_ref()
            .is_some_and(|(g, _)| *g == generation)
        {
            tokio::select! {
                _ = member.cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        watch.mark_changed();
    }
}

struct GroupSubscription {
    member: Arc<Member>,
    /// The sink's `max_in_flight` window, freed by acks and nacks.
    flow: Arc<Flow>,
}

impl GroupSubscription {
    /// Takes the deliveries named by `positions` out of the pending set, all or none.
    fn take(&self, positions: &[Position]) -> Result<Vec<Taken>> {
        let mut pending = lock(&self.member.pending);
        if let Some(p) = positions.iter().find(|p| !pending.contains_key(&p.offset)) {
            return Err(GatewayError::BadRequest(format!(
                "offset {} was not delivered to this subscription, or is acknowledged already (deliveries before a reconnection are redelivered instead)",
                p.offset
            )));
        }
        Ok(positions
            .iter()
            .filter_map(|p| {
                pending
                    .remove(&p.offset)
                    .map(|(t, d, n)| (p.offset, t, d, n))
            })
            .collect())
    }
}

#[async_trait]
impl Subscription for GroupSubscription {
    async fn ack(&self, positions: Vec<Position>) -> Result<()> {
        for (offset, topic, d, _) in self.take(&positions)? {
            self.flow.ack_one(&topic, 0, offset);
            d.acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(amqp_error)?;
        }
        Ok(())
    }

    async fn nack(&self, positions: Vec<Position>, delay: Duration) -> Result<()> {
        let requeue = self.member.requeue_on_nack;
        let taken = self.take(&positions)?;
        for (offset, topic, _, _) in &taken {
            self.flow.ack_one(topic, 0, *offset);
        }
        // The nack of a last allowed delivery (the route's `delivery.max_deliveries`): its
        // dead letter at once, written by the gateway.
        let mut given_back = Vec::new();
        for (_, _, d, n) in taken {
            if dead::last_allowed(&self.member.conn, n) {
                self.member.give_up(d, n, Reason::Nack).await;
            } else {
                given_back.push((d.acker, n));
            }
        }
        let options = BasicNackOptions {
            requeue,
            ..Default::default()
        };
        // Without a delay of its own, the route's backoff for the delivery it answers.
        let policy = &self.member.conn.delivery;
        let mut later = Vec::new();
        for (acker, n) in given_back {
            let wait = policy.nack_wait(delay, n);
            if wait.is_zero() {
                acker.nack(options).await.map_err(amqp_error)?;
            } else {
                later.push((wait, acker));
            }
        }
        if later.is_empty() {
            return Ok(());
        }
        // AMQP has no delayed requeue: the gateway holds the messages (they keep counting
        // against the prefetch) and gives them back after the delay, or when the member leaves.
        later.sort_by_key(|(wait, _)| *wait);
        let cancel = self.member.cancel.clone();
        let start = tokio::time::Instant::now();
        tokio::spawn(async move {
            for (wait, acker) in later {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep_until(start + wait) => {}
                }
                let _ = acker.nack(options).await;
            }
        });
        Ok(())
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

/// A group delivery's attempt: a quorum queue counts the earlier deliveries in
/// `x-delivery-count`; a classic queue only says whether the message was delivered before
/// (then 0: how often is unknown).
fn attempt(d: &lapin::message::Delivery, r: &Record) -> u32 {
    let counted = r
        .headers
        .iter()
        .find(|h| h.key == "x-delivery-count")
        .and_then(|h| std::str::from_utf8(&h.value).ok()?.parse::<u32>().ok());
    match counted {
        Some(n) => n.saturating_add(1),
        None if d.redelivered => 0,
        None => 1,
    }
}
