//! The route's `delivery:` on group queues (classic and quorum). RabbitMQ's own dead-lettering
//! would deliver its `x-death` headers, not the `x-dead-letter-*` ones every other scheme
//! gives, so the gateway publishes the dead letter itself: the message as it came (body, basic
//! properties, headers table, routing key) plus the dead-letter headers, to the `dead_letter`
//! exchange with publisher confirms and `mandatory`, and only then acknowledges the original.
//! The count is the quorum queue's (`x-delivery-count`), kept by the broker across members and
//! gateways. The queue also carries RabbitMQ's own `x-delivery-limit` (= max_deliveries) and
//! `x-dead-letter-exchange` (= dead_letter): a message the gateway could not dead-letter (the
//! dead letter unroutable or refused) is given back, and once over the limit the broker
//! dead-letters it itself (then with `x-death`), so nothing loops forever and nothing is lost
//! silently by the gateway.

use lapin::message::Delivery;
use lapin::types::{AMQPValue, LongString, ShortString};

use super::client::Conn;
use super::publish::{Destination, Publisher};
use crate::backend::dead_letter::{self, Origin, Reason};
use crate::error::Result;

/// The broker's count on quorum queues; not carried over to the dead letter (it counted the
/// deliveries of the original queue, which the dead-letter headers now say).
const DELIVERY_COUNT: &str = "x-delivery-count";

/// Whether a delivery with `attempt` arriving now is past the route's limit: the one before it
/// was the last allowed and went unanswered (its member left or vanished).
pub(super) fn past_limit(conn: &Conn, attempt: u32) -> bool {
    let max = conn.delivery.max_deliveries;
    max > 0 && attempt > max
}

/// Whether a nack of the delivery with `attempt` gives up on the message.
pub(super) fn last_allowed(conn: &Conn, attempt: u32) -> bool {
    let max = conn.delivery.max_deliveries;
    max > 0 && attempt >= max
}

/// Publishes the dead letter of `d` (delivered `count` times) to the route's dead-letter
/// exchange; without one there is nothing to write (the message is dropped).
pub(super) async fn write(
    conn: &Conn,
    publisher: &Publisher,
    d: &Delivery,
    count: u32,
    reason: Reason,
) -> Result<()> {
    let Some(exchange) = &conn.delivery.dead_letter else {
        return Ok(());
    };
    let origin = Origin {
        topic: d.routing_key.as_str(),
        partition: 0,
        // Classic and quorum queues have no position: the gateway's delivery number of one
        // subscription would mean nothing to the reader of the dead letter.
        position: String::new(),
        delivery_count: count,
        // RabbitMQ keeps no time of first delivery.
        first_delivery_ms: 0,
        reason,
    };
    let mut table = d.properties.headers().clone().unwrap_or_default();
    let mut kept = lapin::types::FieldTable::default();
    for (k, v) in table.inner() {
        if k.as_str() != DELIVERY_COUNT {
            kept.insert(k.clone(), v.clone());
        }
    }
    table = kept;
    for h in dead_letter::headers(&[], &origin) {
        table.insert(
            ShortString::from(h.key),
            AMQPValue::LongString(LongString::from(h.value.to_vec())),
        );
    }
    let properties = d.properties.clone().with_headers(table);
    let to = Destination {
        exchange,
        routing_key: d.routing_key.as_str(),
        mandatory: true,
    };
    publisher
        .publish_to(to, &d.data, properties)
        .await
        .map(|_| ())
}
