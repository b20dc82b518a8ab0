//! Dead letters: the headers every scheme adds to a message its group gave up on, so a consumer
//! of the dead-letter topic can tell where it came from and why, whatever the broker.

use super::Header;

/// The topic (subject, queue, stream) the message was delivered from.
pub const TOPIC: &str = "x-dead-letter-topic";
/// Its partition (0 where the scheme has none).
pub const PARTITION: &str = "x-dead-letter-partition";
/// Its offset, or the scheme's own position where it is not an integer.
pub const POSITION: &str = "x-dead-letter-position";
/// How many times it was delivered.
pub const DELIVERY_COUNT: &str = "x-dead-letter-delivery-count";
/// When it was first delivered, in ms since the epoch (0 where the broker does not say).
pub const FIRST_DELIVERY: &str = "x-dead-letter-first-delivery-ms";
/// Why: see [`Reason`].
pub const REASON: &str = "x-dead-letter-reason";

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its last allowed delivery was nacked.
    Nack,
    /// Its last allowed delivery went unanswered (the member left or vanished, the broker's
    /// ack deadline passed).
    MaxDeliveries,
    /// It could not be delivered again before the broker expired it.
    Expired,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Nack => "nack",
            Reason::MaxDeliveries => "max_deliveries",
            Reason::Expired => "expired",
        }
    }
}

/// Where a dead letter came from.
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// The offset as text, or the scheme's own position.
    pub position: String,
    pub delivery_count: u32,
    pub first_delivery_ms: i64,
    pub reason: Reason,
}

/// The message's own headers followed by the dead-letter headers.
pub fn headers(original: &[Header], o: &Origin<'_>) -> Vec<Header> {
    let h = |key: &str, value: String| Header {
        key: key.to_owned(),
        value: value.into(),
    };
    let mut out = original.to_vec();
    out.extend([
        h(TOPIC, o.topic.to_owned()),
        h(PARTITION, o.partition.to_string()),
        h(POSITION, o.position.clone()),
        h(DELIVERY_COUNT, o.delivery_count.to_string()),
        h(FIRST_DELIVERY, o.first_delivery_ms.to_string()),
        h(REASON, o.reason.as_str().to_owned()),
    ]);
    out
}

/// The dead letter of `record` for topic `to`: its key, value and timestamp as they were, its
/// headers followed by the dead-letter headers.
pub fn publish(
    to: &str,
    record: &super::Record,
    o: &Origin<'_>,
) -> crate::error::Result<super::Publish> {
    use prost::Message as _;
    let m = crate::pb::KafkaMessage::decode(record.encoded.clone())
        .map_err(|e| crate::error::GatewayError::Upstream(format!("message unreadable: {e}")))?;
    Ok(super::Publish {
        topic: to.to_owned(),
        partition: None,
        key: m.key,
        value: m.value,
        headers: headers(&record.headers, o),
        timestamp: m.timestamp,
        // A dead letter is written once per message, by the gateway itself.
        idempotency_key: String::new(),
    })
}
