//! Dead letters of the embedded broker's groups: the message as it was (key, value, headers,
//! timestamp) plus the dead-letter headers, appended to the route's `delivery.dead_letter`
//! topic before the group counts it done, so the commit never passes a message that was
//! neither acknowledged nor dead-lettered.

use prost::Message as _;

use super::acks::Dead;
use super::*;
use crate::backend::dead_letter;
use crate::config::DeliveryPolicy;

/// How long a message whose dead letter could not be written waits before it goes out again.
const RETRY: Duration = Duration::from_secs(1);

impl Broker {
    /// Dead-letters (or, without a dead-letter topic, drops) what delivery gave up on; true
    /// when a committed offset moved.
    pub(super) async fn dead_letter(
        &self,
        policy: &DeliveryPolicy,
        group: &Group,
        dead: Vec<Dead>,
    ) -> bool {
        let mut moved = false;
        for d in dead {
            let written = match &policy.dead_letter {
                None => Ok(()),
                Some(to) => self.write_dead_letter(to, &d).await,
            };
            match written {
                Ok(()) => moved |= group.done(&d.tp, &[d.offset]),
                Err(e) => {
                    tracing::warn!(error = %e, topic = %d.tp.0, partition = d.tp.1,
                        offset = d.offset, "dead letter not written; the message goes out again");
                    group.retry_later(&d.tp, d.offset, RETRY);
                }
            }
        }
        moved
    }

    async fn write_dead_letter(&self, to: &str, d: &Dead) -> Result<()> {
        let (_, part) = self.partition(&d.tp.0, d.tp.1)?;
        let record = {
            let log = lock(&part.log);
            if d.offset < log.start {
                None
            } else {
                log.read(d.offset, 1, usize::MAX)?
                    .into_iter()
                    .next()
                    .filter(|r| r.offset == d.offset)
            }
        };
        // Retention removed it meanwhile: there is nothing left to write.
        let Some(record) = record else {
            return Ok(());
        };
        let m = crate::pb::KafkaMessage::decode(record.encoded.clone())
            .map_err(|e| GatewayError::Upstream(format!("stored message unreadable: {e}")))?;
        let headers = dead_letter::headers(
            &record.headers,
            &dead_letter::Origin {
                topic: &d.tp.0,
                partition: d.tp.1,
                position: d.offset.to_string(),
                delivery_count: d.attempts,
                first_delivery_ms: d.first_ms,
                reason: d.reason,
            },
        );
        self.publish(crate::backend::Publish {
            topic: to.to_owned(),
            partition: None,
            key: m.key,
            value: m.value,
            headers,
            timestamp: m.timestamp,
            idempotency_key: String::new(),
        })
        .await
        .map(|_| ())
    }
}
