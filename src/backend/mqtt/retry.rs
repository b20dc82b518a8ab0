//! Nacks and the route's `delivery:` policy on shared subscriptions. MQTT has no negative
//! acknowledgement and no redelivery to a live session, so the gateway runs them: a nacked
//! delivery stays unacknowledged at the broker (its session still holds it, so a member that
//! leaves meanwhile hands it over like any other) and goes out again to the same member after
//! the nack's delay or the route's backoff, its attempt counted by the gateway. The nack of the
//! last allowed delivery publishes the dead letter (QoS 1, after its PUBACK) to the
//! `dead_letter` topic with the message's payload and properties and the dead-letter headers
//! as user properties, then acknowledges the original (PUBACK).
//!
//! Limits (MQTT keeps no count): the count lives with the member; a message the broker resends
//! (a resumed or taken-over session, DUP) starts over (attempt 0, counted as 1), and a
//! delivery that goes unanswered is not counted at all, so reason `max_deliveries` does not
//! occur on MQTT; only nacks use up deliveries.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{Publish as MqttPublish, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;

use super::members::{Delivered, Incoming, Member};
use crate::backend::dead_letter::{self, Origin, Reason};
use crate::backend::{lock, Position};
use crate::error::{GatewayError, Result};

/// How long the gateway waits before it tries a dead letter that could not be published again.
const RETRY: Duration = Duration::from_secs(1);

/// Marks the named deliveries nacked (all or none), then delivers them again after their wait,
/// or dead-letters the last allowed ones.
pub(super) async fn nack(
    member: &Arc<Member>,
    positions: &[Position],
    delay: Duration,
) -> Result<()> {
    let mut waits = Vec::with_capacity(positions.len());
    {
        let mut pending = lock(&member.pending);
        for p in positions {
            if pending.get(&p.offset).is_none_or(|d| d.nacked) {
                return Err(GatewayError::BadRequest(format!(
                    "offset {} is not an unacknowledged delivery of this subscription (acknowledged or nacked already, QoS 0, or void after a reconnection: the broker resends those)",
                    p.offset
                )));
            }
        }
        for p in positions {
            if let Some(d) = pending.get_mut(&p.offset) {
                d.nacked = true;
                waits.push((p.offset, d.attempt.max(1)));
            }
        }
    }
    let policy = &member.delivery;
    for (offset, attempt) in waits {
        // Out of the window at once: the client has answered it.
        if let Some(topic) = lock(&member.pending)
            .get(&offset)
            .map(|d| d.publish.topic.clone())
        {
            member
                .sink
                .flow
                .ack_one(&String::from_utf8_lossy(&topic), 0, offset);
        }
        if policy.may_deliver_again(attempt) {
            let wait = policy.nack_wait(delay, attempt);
            tokio::spawn(again_after(member.clone(), offset, wait));
        } else {
            tokio::spawn(dead_letter(member.clone(), offset));
        }
    }
    Ok(())
}

/// Takes the nacked delivery out once its wait is over and hands it to the member's delivery
/// task, unless the member left (its session keeps the message) or a reconnection voided it
/// (the broker resends it).
async fn again_after(member: Arc<Member>, offset: i64, wait: Duration) {
    tokio::select! {
        _ = member.cancel.cancelled() => return,
        _ = tokio::time::sleep(wait) => {}
    }
    let taken = {
        let mut pending = lock(&member.pending);
        match pending.get(&offset) {
            Some(d) if d.nacked => pending.remove(&offset),
            _ => None,
        }
    };
    if let Some(d) = taken {
        let _ = member.tx.send(Incoming::Again(Box::new(d))).await;
    }
}

/// Publishes the dead letter of a nacked last delivery (or drops it without a dead-letter
/// topic), then acknowledges it; a dead letter that cannot be published is tried again every
/// [`RETRY`] while the member lasts (then the session keeps the message: not lost).
async fn dead_letter(member: Arc<Member>, offset: i64) {
    let to = member.delivery.dead_letter.clone();
    loop {
        let letter = lock(&member.pending)
            .get(&offset)
            .map(|d| (d.publish.clone(), to.as_deref().map(|t| letter_of(d, t))));
        let Some((original, letter)) = letter else {
            // Voided by a reconnection: the broker resends it.
            return;
        };
        let written = match letter {
            None => Ok(()),
            Some(l) => member.conn.publish(l).await,
        };
        match written {
            Ok(()) => {
                let done = lock(&member.pending).remove(&offset);
                if let Some(d) = done {
                    if let Err(e) = d.conn.ack(&original).await {
                        tracing::debug!(error = %e, "dead-lettered MQTT message not acknowledged; the broker resends it");
                    }
                }
                return;
            }
            Err(e) => {
                tracing::warn!(route = %member.share, error = %e, "dead letter not published; trying again");
                tokio::select! {
                    _ = member.cancel.cancelled() => return,
                    _ = tokio::time::sleep(RETRY) => {}
                }
            }
        }
    }
}

/// The dead letter of `d` for topic `to`.
fn letter_of(d: &Delivered, to: &str) -> MqttPublish {
    {
        let p = &d.publish;
        let origin = Origin {
            topic: &String::from_utf8_lossy(&p.topic),
            partition: 0,
            // MQTT messages have no position.
            position: String::new(),
            delivery_count: d.attempt.max(1),
            first_delivery_ms: d.first_ms,
            reason: Reason::Nack,
        };
        let mut user_properties: Vec<(String, String)> = p
            .properties
            .as_ref()
            .map(|pp| pp.user_properties.clone())
            .unwrap_or_default();
        user_properties.extend(
            dead_letter::headers(&[], &origin)
                .into_iter()
                .map(|h| (h.key, String::from_utf8_lossy(&h.value).into_owned())),
        );
        // What a publisher may send: not the subscription identifiers or topic alias the
        // broker set on the delivery.
        let props = p.properties.clone().unwrap_or_default();
        let properties = PublishProperties {
            payload_format_indicator: props.payload_format_indicator,
            message_expiry_interval: props.message_expiry_interval,
            topic_alias: None,
            response_topic: props.response_topic,
            correlation_data: props.correlation_data,
            user_properties,
            subscription_identifiers: Vec::new(),
            content_type: props.content_type,
        };
        MqttPublish::new(to, QoS::AtLeastOnce, p.payload.clone(), Some(properties))
    }
}
