//! A message as the gateway carries it: encoded to protobuf once when it enters the gateway, then
//! shared by every reply and push that carries it. Below the codec and the backends.

use std::sync::Arc;

use bytes::Bytes;
use prost::Message as _;

use crate::pb::{KafkaHeader, KafkaMessage};

/// A message header: a key and a binary value. Schemes with multi-valued headers repeat the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Bytes,
}

impl From<KafkaHeader> for Header {
    fn from(h: KafkaHeader) -> Header {
        Header {
            key: h.key,
            value: h.value,
        }
    }
}

/// One message, encoded as a `KafkaMessage` once and shared from then on.
#[derive(Debug)]
pub struct Record {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    /// The generation of the log it belongs to (0 = not tracked).
    pub epoch: u64,
    pub timestamp: i64,
    /// Kept decoded for `match_headers` filtering.
    pub headers: Vec<Header>,
    /// The encoded `KafkaMessage` (topic and partition set), without tag or length.
    pub encoded: Bytes,
}

impl Record {
    pub fn new(
        topic: Arc<str>,
        partition: i32,
        offset: i64,
        timestamp: i64,
        key: Bytes,
        value: Bytes,
        headers: Vec<Header>,
    ) -> Record {
        Record::from_parts(RecordParts {
            topic,
            partition,
            offset,
            position: String::new(),
            epoch: 0,
            timestamp,
            key,
            value,
            headers,
        })
    }

    /// A record of a scheme with epochs or non-integer positions.
    pub fn from_parts(p: RecordParts) -> Record {
        let msg = KafkaMessage {
            offset: p.offset,
            timestamp: p.timestamp,
            key: p.key,
            value: p.value,
            headers: p
                .headers
                .iter()
                .map(|h| KafkaHeader {
                    key: h.key.clone(),
                    value: h.value.clone(),
                })
                .collect(),
            partition: p.partition,
            topic: p.topic.to_string(),
            position: p.position,
            epoch: p.epoch,
        };
        let encoded = Bytes::from(msg.encode_to_vec());
        Record {
            topic: p.topic,
            partition: p.partition,
            offset: p.offset,
            epoch: p.epoch,
            timestamp: p.timestamp,
            headers: p.headers,
            encoded,
        }
    }

    /// What this record costs in memory and in a reply, for byte limits.
    pub fn size(&self) -> usize {
        self.encoded.len()
    }

    pub fn matches_headers(&self, wanted: &[Header]) -> bool {
        wanted.iter().all(|w| {
            self.headers
                .iter()
                .any(|h| h.key == w.key && h.value == w.value)
        })
    }
}

/// Everything a record is made of, for `Record::from_parts`.
pub struct RecordParts {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    /// The scheme's own position where it is not an integer (else empty).
    pub position: String,
    pub epoch: u64,
    pub timestamp: i64,
    pub key: Bytes,
    pub value: Bytes,
    pub headers: Vec<Header>,
}
