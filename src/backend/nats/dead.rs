//! Dead letters of JetStream groups. JetStream itself only reports a message that reached
//! `max_deliver` (an advisory on core NATS, lost when no gateway listens at that moment), so
//! with `delivery.dead_letter` the gateway counts instead, from JetStream's own delivery count
//! (`info.delivered`, kept by the server for the durable consumer, so it survives members and
//! gateways): a nack of the last allowed delivery, or a delivery past the limit (the one before
//! went unanswered), is published to the dead-letter subject with the dead-letter headers and
//! then terminated (`+TERM`), so the server never delivers it again.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind};

use super::client::js_error;
use super::jetstream::Js;
use super::reader::js_group_record;
use crate::backend::dead_letter::{self, Origin, Reason};
use crate::config::DeliveryPolicy;
use crate::error::Result;

/// How long a message whose dead letter could not be written waits before it comes again
/// (and the gateway tries again).
const RETRY: Duration = Duration::from_secs(1);

/// JetStream's count of deliveries of `m` to the group's consumer (1 on the first).
pub(super) fn delivered(m: &jetstream::Message) -> u32 {
    m.info()
        .map_or(1, |i| u32::try_from(i.delivered.max(1)).unwrap_or(u32::MAX))
}

/// The dead-letter subject when the gateway runs dead letters for this policy.
pub(super) fn target(policy: &DeliveryPolicy) -> Option<&str> {
    policy
        .dead_letter
        .as_deref()
        .filter(|_| policy.max_deliveries > 0)
}

/// Whether a delivery arriving now is already past the limit: the delivery before it was the
/// last allowed one and went unanswered (the member left or vanished, the ack wait passed).
pub(super) fn past_limit(policy: &DeliveryPolicy, m: &jetstream::Message) -> bool {
    target(policy).is_some() && delivered(m) > policy.max_deliveries
}

/// Whether a nack of `m` gives up on it: it was its last allowed delivery.
pub(super) fn last_allowed(policy: &DeliveryPolicy, m: &jetstream::Message) -> bool {
    target(policy).is_some() && delivered(m) >= policy.max_deliveries
}

/// Publishes the dead letter of `m` to `to`, then terminates `m`. A dead letter that cannot be
/// written is not lost: `m` is given back for [`RETRY`] and dead-lettered when it comes again.
pub(super) async fn give_up(js: &Js, to: &str, m: jetstream::Message, epoch: u64, reason: Reason) {
    // A delivery past the limit is not pushed: the count is of the deliveries before it.
    let count = match reason {
        Reason::MaxDeliveries => delivered(&m).saturating_sub(1),
        Reason::Nack | Reason::Expired => delivered(&m),
    };
    let written = write(js, to, &m, epoch, count, reason).await;
    let kind = match &written {
        Ok(()) => AckKind::Term,
        Err(e) => {
            tracing::warn!(error = %e, subject = %m.subject, "dead letter not written; the message comes again");
            AckKind::Nak(Some(RETRY))
        }
    };
    if let Err(e) = m.double_ack_with(kind).await {
        // Unanswered: the server delivers it again after the ack wait, and the gateway
        // dead-letters it then (a second dead letter if this one was written).
        tracing::warn!(error = %js_error("JetStream acknowledgement failed", e), "dead-lettered message not terminated");
    }
}

async fn write(
    js: &Js,
    to: &str,
    m: &jetstream::Message,
    epoch: u64,
    count: u32,
    reason: Reason,
) -> Result<()> {
    let record = js_group_record(m, epoch)?;
    let origin = Origin {
        topic: &record.topic,
        partition: 0,
        position: record.offset.to_string(),
        delivery_count: count,
        // JetStream keeps no time of first delivery (only the stream's store time).
        first_delivery_ms: 0,
        reason,
    };
    js.publish(dead_letter::publish(to, &record, &origin)?)
        .await
        .map(|_| ())
}
