//! Plain (group-less) subscriptions: all gateway subscribers of one binding key share one
//! exclusive, auto-delete, server-named queue and one consumer on it; each delivery becomes one
//! `Record`, handed to every member. After a reconnection the queue is declared and bound again
//! and the consumer renewed, so members keep their subscription (messages published while the
//! gateway was disconnected are not in the new queue: plain subscriptions are live, LATEST only).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Consumer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{amqp_error, within, Conn};
use super::props::to_record;
use super::topology::{declare_exchange, declare_private_queue};
use crate::backend::{lock, CommitOffset, Header, PushSink, Record, SubscribeSpec};
use crate::backend::{Position, Subscription};
use crate::error::{GatewayError, Result};

/// Records waiting for one subscriber's connection: past this a subscriber that does not read
/// loses messages (the shared queue is not held back for one slow client).
const SUBSCRIBER_BUFFER: usize = 4096;
/// Deliveries the broker sends ahead to the shared consumer.
const SHARED_PREFETCH: u16 = 1000;

pub(super) struct Hub {
    conn: Arc<Conn>,
    /// One fan-out per binding key; the async lock serializes creating them.
    bindings: tokio::sync::Mutex<HashMap<String, Arc<Fanout>>>,
    next_member: AtomicU64,
}

struct Fanout {
    members: Mutex<Vec<Member>>,
    cancel: CancellationToken,
}

struct Member {
    id: u64,
    tx: mpsc::Sender<Arc<Record>>,
    allowed: Option<Arc<crate::auth::Identity>>,
    match_headers: Vec<Header>,
}

/// Opens a channel, declares the exchange and a private queue bound with `topic`, and consumes
/// it.
async fn consume_private(conn: &Arc<Conn>, topic: &str) -> Result<(u64, Channel, Consumer)> {
    let (generation, ch) = conn.channel().await?;
    declare_exchange(conn, &ch).await?;
    let queue = declare_private_queue(conn, &ch, topic).await?;
    let consumer = within(conn.timeouts.read(), "the consume", async {
        ch.basic_qos(SHARED_PREFETCH, BasicQosOptions::default())
            .await
            .map_err(amqp_error)?;
        ch.basic_consume(
            ShortString::from(queue.as_str()),
            ShortString::from(""),
            // Acknowledged by the gateway once fanned out, so the prefetch bounds what the broker
            // sends ahead (with no_ack it would push without limit).
            BasicConsumeOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(amqp_error)
    })
    .await?;
    Ok((generation, ch, consumer))
}

impl Hub {
    pub fn new(conn: Arc<Conn>) -> Hub {
        Hub {
            conn,
            bindings: tokio::sync::Mutex::new(HashMap::new()),
            next_member: AtomicU64::new(1),
        }
    }

    pub async fn subscribe(
        self: &Arc<Self>,
        topic: String,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        if spec.max_in_flight > 0 {
            return Err(GatewayError::BadRequest(
                "max_in_flight needs acknowledgements: plain RabbitMQ subscriptions have none (use a group)"
                    .into(),
            ));
        }
        // A clear 503 while the broker is away, even when the binding is already shared.
        self.conn.connection().await?;
        let id = self.next_member.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let member = Member {
            id,
            tx,
            allowed: spec.allowed.clone(),
            match_headers: spec.match_headers.clone(),
        };
        {
            let mut bindings = self.bindings.lock().await;
            match bindings.get(&topic) {
                Some(f) if !f.cancel.is_cancelled() => lock(&f.members).push(member),
                _ => {
                    // In place at the broker before the reply: LATEST misses nothing after it.
                    let first = consume_private(&self.conn, &topic).await?;
                    let fanout = Arc::new(Fanout {
                        members: Mutex::new(vec![member]),
                        cancel: CancellationToken::new(),
                    });
                    tokio::spawn(fan_out(
                        self.conn.clone(),
                        topic.clone(),
                        first,
                        fanout.clone(),
                    ));
                    bindings.insert(topic.clone(), fanout);
                }
            }
        }
        let cancel = CancellationToken::new();
        tokio::spawn(crate::backend::forward_batches(rx, sink, cancel.clone()));
        Ok(Arc::new(PlainSubscription {
            cancel,
            hub: self.clone(),
            topic,
            id,
        }))
    }

    /// Removes a member; the last one out ends the shared consumer (and its queue).
    fn leave(self: &Arc<Self>, topic: String, id: u64) {
        let hub = self.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let mut bindings = hub.bindings.lock().await;
            if let Some(f) = bindings.get(&topic) {
                let empty = {
                    let mut members = lock(&f.members);
                    members.retain(|m| m.id != id);
                    members.is_empty()
                };
                if empty {
                    f.cancel.cancel();
                    bindings.remove(&topic);
                }
            }
        });
    }
}

/// Reads the shared consumer and hands each delivery to every member that may see it; renews
/// the queue and consumer after the connection comes back.
async fn fan_out(
    conn: Arc<Conn>,
    topic: String,
    first: (u64, Channel, Consumer),
    fanout: Arc<Fanout>,
) {
    let mut current = Some(first);
    let mut dropped: u64 = 0;
    let mut watch = conn.watch();
    loop {
        let Some((generation, ch, mut consumer)) = current.take() else {
            // Wait for a connection newer than the lost one, then set up again.
            let again = tokio::select! {
                _ = fanout.cancel.cancelled() => return,
                r = watch.changed() => r,
            };
            if again.is_err() {
                return;
            }
            if watch.borrow().is_none() {
                continue;
            }
            match consume_private(&conn, &topic).await {
                Ok(c) => current = Some(c),
                Err(e) => {
                    tracing::debug!(route = %conn.route, topic = %topic, error = %e, "RabbitMQ resubscribe failed; retrying");
                    tokio::select! {
                        _ = fanout.cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                    // Try again with the same connection if it is still up.
                    watch.mark_changed();
                }
            }
            continue;
        };
        loop {
            let next = tokio::select! {
                _ = fanout.cancel.cancelled() => {
                    let _ = ch.close(200, ShortString::from("unsubscribed")).await;
                    return;
                }
                d = consumer.next() => d,
            };
            let Some(Ok(delivery)) = next else { break };
            let record = to_record(&delivery, -1);
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
            let members = lock(&fanout.members);
            for m in members.iter() {
                if m.allowed
                    .as_ref()
                    .is_some_and(|id| !id.can_read(&record.topic))
                    || !record.matches_headers(&m.match_headers)
                {
                    continue;
                }
                if let Err(mpsc::error::TrySendError::Full(_)) = m.tx.try_send(record.clone()) {
                    dropped += 1;
                    if dropped.is_power_of_two() {
                        tracing::warn!(topic = %topic, dropped, "RabbitMQ subscriber too slow; messages dropped");
                    }
                }
            }
        }
        tracing::debug!(route = %conn.route, topic = %topic, generation, "RabbitMQ consumer ended; renewing");
        let _ = ch.close(200, ShortString::from("renewing")).await;
        // The connection may still be up (the channel alone failed): try again at once.
        if watch
            .borrow()
            .as_ref()
            .is_some_and(|(g, _)| *g == generation)
        {
            tokio::select! {
                _ = fanout.cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        watch.mark_changed();
    }
}

struct PlainSubscription {
    cancel: CancellationToken,
    hub: Arc<Hub>,
    topic: String,
    id: u64,
}

#[async_trait]
impl Subscription for PlainSubscription {
    async fn commit(&self, _offsets: Vec<CommitOffset>) -> Result<()> {
        Err(GatewayError::UnknownCommand)
    }

    async fn ack(&self, _positions: Vec<Position>) -> Result<()> {
        Err(GatewayError::BadRequest(
            "plain RabbitMQ subscriptions are acknowledged by the gateway; ack needs a group"
                .into(),
        ))
    }

    async fn nack(&self, _positions: Vec<Position>, _delay: Duration) -> Result<()> {
        Err(GatewayError::BadRequest(
            "plain RabbitMQ subscriptions cannot give messages back; nack needs a group".into(),
        ))
    }

    fn close(&self) {
        if !self.cancel.is_cancelled() {
            self.cancel.cancel();
            self.hub.leave(self.topic.clone(), self.id);
        }
    }
}

impl Drop for PlainSubscription {
    fn drop(&mut self) {
        self.close();
    }
}
