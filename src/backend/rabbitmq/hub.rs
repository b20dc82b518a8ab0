//! Plain (group-less) subscriptions: all gateway subscribers of one binding key share one
//! exclusive, auto-delete, server-named queue and one consumer on it; each delivery becomes one
//! `Record`, handed to every member. After a reconnection the queue is declared and bound again
//! and the consumer renewed, so members keep their subscription (messages published while the
//! gateway was disconnected are not in the new queue: plain subscriptions are live, LATEST only).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Consumer};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::client::{amqp_error, within, Conn};
use super::props::to_record;
use super::topology::{declare_exchange, declare_private_queue};
use crate::backend::live::{self, Feed, Live};
use crate::backend::{PushSink, SubscribeSpec, Subscription};
use crate::error::Result;

/// Deliveries the broker sends ahead to the shared consumer.
const SHARED_PREFETCH: u16 = 1000;

pub(super) struct Hub {
    conn: Arc<Conn>,
    live: Arc<Live<Bindings>>,
}

/// The live fan-out's side at the broker: one private queue and consumer per binding key.
struct Bindings {
    conn: Arc<Conn>,
}

#[async_trait]
impl live::Upstream for Bindings {
    /// Stops the binding's reader, which then closes its channel (and so its queue).
    type Handle = DropGuard;
    const NAME: &'static str = "RabbitMQ";

    async fn open(
        &self,
        topic: &str,
        feed: &Feed,
        _tag: u64,
        _spec: &SubscribeSpec,
    ) -> Result<DropGuard> {
        // In place at the broker before the reply: LATEST misses nothing after it.
        let first = consume_private(&self.conn, topic).await?;
        let cancel = CancellationToken::new();
        tokio::spawn(read_binding(
            self.conn.clone(),
            topic.to_owned(),
            first,
            feed.clone(),
            cancel.clone(),
        ));
        Ok(cancel.drop_guard())
    }

    async fn close(&self, _topic: &str, handle: DropGuard) {
        drop(handle);
    }
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
    pub fn new(conn: Arc<Conn>, route: &str) -> Hub {
        Hub {
            live: Live::new(Bindings { conn: conn.clone() }, route),
            conn,
        }
    }

    pub async fn subscribe(
        &self,
        topic: String,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        // A clear 503 while the broker is away, even when the binding is already shared.
        self.conn.connection().await?;
        self.live.join(topic, &spec, sink).await
    }
}

/// Reads a binding's consumer and hands each delivery to its feed; renews the queue and
/// consumer after the connection comes back.
async fn read_binding(
    conn: Arc<Conn>,
    topic: String,
    first: (u64, Channel, Consumer),
    feed: Feed,
    cancel: CancellationToken,
) {
    let mut current = Some(first);
    let mut watch = conn.watch();
    loop {
        let Some((generation, ch, mut consumer)) = current.take() else {
            // Wait for a connection newer than the lost one, then set up again.
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
            match consume_private(&conn, &topic).await {
                Ok(c) => current = Some(c),
                Err(e) => {
                    tracing::debug!(route = %conn.route, topic = %topic, error = %e, "RabbitMQ resubscribe failed; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
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
                _ = cancel.cancelled() => {
                    let _ = ch.close(200, ShortString::from("unsubscribed")).await;
                    return;
                }
                d = consumer.next() => d,
            };
            let Some(Ok(delivery)) = next else { break };
            let record = to_record(&delivery, -1);
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
            feed.deliver(&record);
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
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        watch.mark_changed();
    }
}
