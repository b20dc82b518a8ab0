//! A message as the gateway carries it: encoded to protobuf once when it enters the gateway, then
//! shared by every reply and push that carries it. Below the codec and the backends.

use std::sync::Arc;

use bytes::Bytes;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};

use crate::pb::KafkaHeader;

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
            delivery_attempt: 0,
            timestamp,
            key,
            value,
            headers,
        })
    }

    /// A record of a scheme with epochs or non-integer positions.
    pub fn from_parts(p: RecordParts) -> Record {
        let encoded = Bytes::from(encode_message(&p));
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

    /// This log record as delivered to a group for the `attempt`th time: the same bytes with
    /// `delivery_attempt` (field 10, the last) appended, as prost writes it. `self` must carry
    /// no attempt of its own (a log's record, stored with 0).
    pub fn with_attempt(&self, attempt: u32) -> Record {
        let mut buf = Vec::with_capacity(self.encoded.len() + 6);
        buf.extend_from_slice(&self.encoded);
        put_varint(&mut buf, 10, u64::from(attempt));
        Record {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            epoch: self.epoch,
            timestamp: self.timestamp,
            headers: self.headers.clone(),
            encoded: Bytes::from(buf),
        }
    }

    /// The message's key (None: empty), decoded from the encoded message: for ordered delivery
    /// per key, where a scheme's records are not kept decoded.
    pub fn key(&self) -> Option<Bytes> {
        use prost::Message as _;
        crate::pb::KafkaMessage::decode(self.encoded.clone())
            .ok()
            .map(|m| m.key)
            .filter(|k| !k.is_empty())
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
    /// `KafkaMessage.delivery_attempt`: 1 on a group's first delivery, 0 where unknown.
    pub delivery_attempt: u32,
    pub timestamp: i64,
    pub key: Bytes,
    pub value: Bytes,
    pub headers: Vec<Header>,
}

/// The `KafkaMessage` encoding of `p`, byte for byte what prost writes for it, written from the
/// parts themselves: building the message first would copy the topic and every header into
/// owned strings on every produce, only to drop them after encoding.
fn encode_message(p: &RecordParts) -> Vec<u8> {
    let header_body = |h: &Header| len_field(1, h.key.len()) + len_field(2, h.value.len());
    let len = varint_field(1, p.offset as u64)
        + varint_field(2, p.timestamp as u64)
        + len_field(3, p.key.len())
        + len_field(4, p.value.len())
        + p.headers
            .iter()
            .map(|h| {
                let body = header_body(h);
                key_len(5) + encoded_len_varint(body as u64) + body
            })
            .sum::<usize>()
        + varint_field(6, p.partition as u64)
        + len_field(7, p.topic.len())
        + len_field(8, p.position.len())
        + varint_field(9, p.epoch)
        + varint_field(10, u64::from(p.delivery_attempt));
    let mut buf = Vec::with_capacity(len);
    put_varint(&mut buf, 1, p.offset as u64);
    put_varint(&mut buf, 2, p.timestamp as u64);
    put_bytes(&mut buf, 3, &p.key);
    put_bytes(&mut buf, 4, &p.value);
    for h in &p.headers {
        // Repeated messages are written even when empty, as prost does.
        encode_key(5, WireType::LengthDelimited, &mut buf);
        encode_varint(header_body(h) as u64, &mut buf);
        put_bytes(&mut buf, 1, h.key.as_bytes());
        put_bytes(&mut buf, 2, &h.value);
    }
    // An int32 is written sign-extended to 64 bits, as the protobuf encoding says.
    put_varint(&mut buf, 6, i64::from(p.partition) as u64);
    put_bytes(&mut buf, 7, p.topic.as_bytes());
    put_bytes(&mut buf, 8, p.position.as_bytes());
    put_varint(&mut buf, 9, p.epoch);
    put_varint(&mut buf, 10, u64::from(p.delivery_attempt));
    debug_assert_eq!(buf.len(), len);
    buf
}

/// proto3 leaves fields at their default out.
fn varint_field(tag: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(v)
    }
}

fn len_field(tag: u32, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(len as u64) + len
    }
}

fn put_varint(buf: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        encode_key(tag, WireType::Varint, buf);
        encode_varint(v, buf);
    }
}

fn put_bytes(buf: &mut Vec<u8>, tag: u32, data: &[u8]) {
    if !data.is_empty() {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(data.len() as u64, buf);
        buf.extend_from_slice(data);
    }
}

#[cfg(test)]
mod encoding_tests {
    use super::*;
    use crate::pb::KafkaMessage;
    use prost::Message as _;

    fn by_prost(p: &RecordParts) -> Vec<u8> {
        KafkaMessage {
            offset: p.offset,
            timestamp: p.timestamp,
            key: p.key.clone(),
            value: p.value.clone(),
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
            position: p.position.clone(),
            epoch: p.epoch,
            delivery_attempt: p.delivery_attempt,
        }
        .encode_to_vec()
    }

    fn parts(offset: i64, partition: i32, headers: Vec<Header>) -> RecordParts {
        RecordParts {
            topic: Arc::from("tôpic.1"),
            partition,
            offset,
            position: String::new(),
            epoch: 0,
            delivery_attempt: 0,
            timestamp: 1_700_000_000_000,
            key: Bytes::new(),
            value: Bytes::from_static(b"v"),
            headers,
        }
    }

    #[test]
    fn records_are_encoded_byte_for_byte_as_prost_encodes_the_message() {
        let h = |k: &str, v: &'static [u8]| Header {
            key: k.into(),
            value: Bytes::from_static(v),
        };
        let mut cases = vec![
            parts(0, 0, vec![]),
            parts(1, 3, vec![h("a", b"1")]),
            parts(-1, -1, vec![h("", b""), h("k", b""), h("", b"v")]),
            parts(i64::MAX, i32::MAX, vec![h("trace-id", &[0xff; 300])]),
            parts(i64::MIN, i32::MIN, vec![]),
        ];
        let mut full = parts(1 << 40, 7, vec![h("x", b"y")]);
        full.key = Bytes::from(vec![9u8; 200]);
        full.value = Bytes::from(vec![1u8; 70_000]);
        full.position = "1700000000000-5".into();
        full.epoch = u64::MAX;
        full.delivery_attempt = u32::MAX;
        full.timestamp = -5;
        cases.push(full);
        let mut empty = parts(0, 0, vec![]);
        empty.topic = Arc::from("");
        empty.value = Bytes::new();
        empty.timestamp = 0;
        cases.push(empty);
        for p in &cases {
            assert_eq!(encode_message(p), by_prost(p), "offset {}", p.offset);
        }
    }

    #[test]
    fn a_redelivered_record_is_encoded_as_prost_encodes_it_with_its_attempt() {
        let headers = vec![Header {
            key: "k".into(),
            value: Bytes::from_static(b"v"),
        }];
        let first = Record::from_parts(parts(42, 3, headers.clone()));
        for attempt in [1, 2, 127, 128, u32::MAX] {
            let mut again = parts(42, 3, headers.clone());
            again.delivery_attempt = attempt;
            assert_eq!(
                first.with_attempt(attempt).encoded.as_ref(),
                by_prost(&again).as_slice(),
                "attempt {attempt}"
            );
        }
    }
}
