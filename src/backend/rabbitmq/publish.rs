//! Publishing with publisher confirms: one confirm-mode channel per connection, shared by every
//! publish of the route; the reply comes once the broker confirmed the message (for a durable
//! queue: stored). A mandatory message no queue is bound for answers 404.

use std::sync::Arc;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation};

use super::client::{amqp_error, short, within, Conn};
use super::props::to_properties;
use super::topology::{declare_exchange, declare_stream};
use crate::backend::{Publish, Published};
use crate::error::{GatewayError, Result};

/// Where a publish goes.
pub(super) struct Destination<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    /// Unroutable answers an error instead of being dropped by the broker.
    pub mandatory: bool,
}

pub(super) struct Publisher {
    conn: Arc<Conn>,
    /// The confirm channel and the connection generation it belongs to.
    channel: tokio::sync::Mutex<Option<(u64, Channel)>>,
}

impl Publisher {
    pub fn new(conn: Arc<Conn>) -> Publisher {
        Publisher {
            conn,
            channel: tokio::sync::Mutex::new(None),
        }
    }

    /// The confirm channel, opened again after a reconnection or a channel error (the broker
    /// closes a channel on errors such as a deleted exchange).
    async fn channel(&self) -> Result<Channel> {
        let mut slot = self.channel.lock().await;
        let (generation, conn) = self.conn.connection().await?;
        if let Some((g, ch)) = slot.as_ref() {
            if *g == generation && ch.status().connected() {
                return Ok(ch.clone());
            }
        }
        *slot = None;
        let ch = within(self.conn.timeouts.read(), "opening a channel", async {
            let ch = conn.create_channel().await.map_err(amqp_error)?;
            ch.confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(amqp_error)?;
            Ok(ch)
        })
        .await?;
        declare_exchange(&self.conn, &ch).await?;
        // On a stream route the stream exists before the first message: nothing published
        // through the gateway misses it.
        if let Some(stream) = self.conn.opts.stream_name() {
            declare_stream(&self.conn, &ch, &stream).await?;
        }
        *slot = Some((generation, ch.clone()));
        Ok(ch)
    }

    pub async fn publish(&self, req: Publish) -> Result<Published> {
        let properties = to_properties(&req, self.conn.opts.durable)?;
        let to = Destination {
            exchange: &self.conn.opts.exchange,
            routing_key: &req.topic,
            mandatory: self.conn.opts.mandatory,
        };
        self.publish_to(to, &req.value, properties).await
    }

    /// Publishes `body` with `properties` and waits for the broker's confirm.
    pub async fn publish_to(
        &self,
        to: Destination<'_>,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<Published> {
        let routing_key = short("topic (routing key)", to.routing_key)?;
        let exchange = short("exchange", to.exchange)?;
        let ch = self.channel().await?;
        let options = BasicPublishOptions {
            mandatory: to.mandatory,
            immediate: false,
        };
        let confirm = within(self.conn.timeouts.send(), "the publish", async {
            let pending = ch
                .basic_publish(exchange, routing_key, options, body, properties)
                .await
                .map_err(amqp_error)?;
            pending.await.map_err(amqp_error)
        })
        .await?;
        match confirm {
            Confirmation::Ack(None) => {}
            Confirmation::Ack(Some(_)) => {
                return Err(GatewayError::UnknownTopicOrPartition.context(format!(
                    "no queue bound for routing key `{}` on exchange `{}` (mandatory)",
                    to.routing_key, to.exchange
                )))
            }
            Confirmation::Nack(_) => {
                return Err(GatewayError::Upstream(
                    "RabbitMQ refused the message (publisher confirm nack)".into(),
                ))
            }
            Confirmation::NotRequested => {
                return Err(GatewayError::Upstream(
                    "RabbitMQ channel lost confirm mode; the message may not be stored".into(),
                ))
            }
        }
        // AMQP has no position to answer.
        Ok(Published {
            partition: 0,
            offset: -1,
            position: String::new(),
        })
    }
}
