//! Encoding of `PubSubResp` frames. Replies and pushes that carry messages are assembled from
//! each [`Record`]'s pre-encoded bytes, so a message is protobuf-encoded once however many
//! subscribers and fetches carry it.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message as _;

use crate::error::GatewayError;
use crate::pb::{pub_sub_resp::Resp, PubSubResp};
use crate::record::Record;

const RESP_PONG: u32 = 32;
const PONG_STATE: u32 = 1;
const RESP_KAFKA_FETCH: u32 = 33;
const RESP_KAFKA_PRODUCE: u32 = 35;
const PRODUCE_PARTITION: u32 = 1;
const PRODUCE_OFFSET: u32 = 2;
const RESP_KAFKA_PUSH: u32 = 37;
const FETCH_MESSAGES: u32 = 1;
const PUSH_SUBSCRIPTION_ID: u32 = 1;
const PUSH_MESSAGES: u32 = 2;
const PUSH_RESET: u32 = 3;
const PUSH_DROPPED: u32 = 4;

pub fn resp_frame(sequence: i64, resp: Resp) -> Bytes {
    Bytes::from(
        PubSubResp {
            sequence,
            resp: Some(resp),
        }
        .encode_to_vec(),
    )
}

/// `pong_resp` echoing a ping's state, written straight into a buffer of the exact size: the
/// reply the gateway sends most often skips building a `PubSubResp` to encode.
pub fn pong_frame(sequence: i64, state: Bytes) -> Bytes {
    let inner = if state.is_empty() {
        0
    } else {
        key_len(PONG_STATE) + encoded_len_varint(state.len() as u64) + state.len()
    };
    let mut buf = start(sequence, RESP_PONG, inner);
    if !state.is_empty() {
        encode_key(PONG_STATE, WireType::LengthDelimited, &mut buf);
        encode_varint(state.len() as u64, &mut buf);
        buf.put_slice(&state);
    }
    buf.freeze()
}

/// `kafka_produce_resp`, written straight into a buffer of the exact size (see `pong_frame`).
pub fn produce_frame(sequence: i64, partition: i32, offset: i64) -> Bytes {
    // int32 is sign-extended on the wire, as prost writes it.
    let partition = i64::from(partition);
    let inner = int64_len(PRODUCE_PARTITION, partition) + int64_len(PRODUCE_OFFSET, offset);
    let mut buf = start(sequence, RESP_KAFKA_PRODUCE, inner);
    for (tag, v) in [(PRODUCE_PARTITION, partition), (PRODUCE_OFFSET, offset)] {
        if v != 0 {
            encode_key(tag, WireType::Varint, &mut buf);
            encode_varint(v as u64, &mut buf);
        }
    }
    buf.freeze()
}

pub fn error_frame(sequence: i64, err: &GatewayError) -> Bytes {
    resp_frame(sequence, Resp::ErrorResp(err.to_error_resp()))
}

/// `kafka_fetch_resp` with the records as its messages.
pub fn fetch_frame(sequence: i64, records: &[Arc<Record>]) -> Bytes {
    let inner = records_len(FETCH_MESSAGES, records);
    let mut buf = start(sequence, RESP_KAFKA_FETCH, inner);
    put_records(&mut buf, FETCH_MESSAGES, records);
    buf.freeze()
}

/// What a push says besides its messages (`KafkaPush.reset` and `KafkaPush.dropped`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushFlags {
    /// Delivery started over in a recreated log.
    pub reset: bool,
    /// Messages lost just before these to the slow-consumer policy of a live subscription.
    pub dropped: u64,
}

/// `kafka_push` for a subscription, carrying the subscribe request's sequence.
pub fn push_frame(sequence: i64, subscription_id: i64, records: &[Arc<Record>]) -> Bytes {
    push_frame_with(sequence, subscription_id, records, PushFlags::default())
}

/// A push with its flags.
pub fn push_frame_with(
    sequence: i64,
    subscription_id: i64,
    records: &[Arc<Record>],
    flags: PushFlags,
) -> Bytes {
    push_frame_parts(
        sequence,
        subscription_id,
        records_len(PUSH_MESSAGES, records),
        flags,
        |buf| put_records(buf, PUSH_MESSAGES, records),
    )
}

/// The `messages` fields of a `KafkaPush`, from the records' pre-encoded bytes: a batch handed
/// to many subscriptions is encoded into this once, then framed per subscription with
/// [`push_frame_from_body`].
pub fn push_body(records: &[Arc<Record>]) -> Bytes {
    let mut buf = BytesMut::with_capacity(records_len(PUSH_MESSAGES, records));
    put_records(&mut buf, PUSH_MESSAGES, records);
    buf.freeze()
}

/// A push whose messages are `body` (from [`push_body`]): the same bytes `push_frame_with`
/// writes for those records.
pub fn push_frame_from_body(
    sequence: i64,
    subscription_id: i64,
    body: &[u8],
    flags: PushFlags,
) -> Bytes {
    push_frame_parts(sequence, subscription_id, body.len(), flags, |buf| {
        buf.put_slice(body)
    })
}

/// A `PubSubResp` carrying a `KafkaPush`, its messages (`body_len` bytes) written by `body`.
fn push_frame_parts(
    sequence: i64,
    subscription_id: i64,
    body_len: usize,
    flags: PushFlags,
    body: impl FnOnce(&mut BytesMut),
) -> Bytes {
    let id_len = int64_len(PUSH_SUBSCRIPTION_ID, subscription_id);
    let reset_len = if flags.reset {
        key_len(PUSH_RESET) + 1
    } else {
        0
    };
    let dropped_len = int64_len(PUSH_DROPPED, flags.dropped as i64);
    let inner = id_len + body_len + reset_len + dropped_len;
    let mut buf = start(sequence, RESP_KAFKA_PUSH, inner);
    if id_len > 0 {
        encode_key(PUSH_SUBSCRIPTION_ID, WireType::Varint, &mut buf);
        encode_varint(subscription_id as u64, &mut buf);
    }
    body(&mut buf);
    if flags.reset {
        encode_key(PUSH_RESET, WireType::Varint, &mut buf);
        encode_varint(1, &mut buf);
    }
    if dropped_len > 0 {
        encode_key(PUSH_DROPPED, WireType::Varint, &mut buf);
        encode_varint(flags.dropped, &mut buf);
    }
    buf.freeze()
}

fn int64_len(tag: u32, v: i64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(v as u64)
    }
}

fn records_len(tag: u32, records: &[Arc<Record>]) -> usize {
    records
        .iter()
        .map(|r| key_len(tag) + encoded_len_varint(r.encoded.len() as u64) + r.encoded.len())
        .sum()
}

/// A buffer holding the `sequence` field and the header of the `resp` oneof field.
fn start(sequence: i64, resp_tag: u32, inner_len: usize) -> BytesMut {
    let total = int64_len(1, sequence)
        + key_len(resp_tag)
        + encoded_len_varint(inner_len as u64)
        + inner_len;
    let mut buf = BytesMut::with_capacity(total);
    if sequence != 0 {
        encode_key(1, WireType::Varint, &mut buf);
        encode_varint(sequence as u64, &mut buf);
    }
    encode_key(resp_tag, WireType::LengthDelimited, &mut buf);
    encode_varint(inner_len as u64, &mut buf);
    buf
}

fn put_records(buf: &mut BytesMut, tag: u32, records: &[Arc<Record>]) {
    for r in records {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(r.encoded.len() as u64, buf);
        buf.put_slice(&r.encoded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Header;

    fn rec(offset: i64) -> Arc<Record> {
        Arc::new(Record::new(
            Arc::from("t"),
            2,
            offset,
            1_700_000_000_000,
            Bytes::from_static(b"k"),
            Bytes::from(format!("v{offset}")),
            vec![Header {
                key: "h".into(),
                value: Bytes::from_static(b"\x00\xff"),
            }],
        ))
    }

    #[test]
    fn push_frame_decodes_as_pubsub_resp() {
        let frame = push_frame(-7, 42, &[rec(0), rec(1)]);
        let resp = PubSubResp::decode(frame).unwrap();
        assert_eq!(resp.sequence, -7);
        let Some(Resp::KafkaPush(push)) = resp.resp else {
            panic!("not a push: {resp:?}")
        };
        assert_eq!(push.subscription_id, 42);
        assert_eq!(push.messages.len(), 2);
        assert_eq!(push.messages[1].offset, 1);
        assert_eq!(push.messages[1].topic, "t");
        assert_eq!(push.messages[1].partition, 2);
        assert_eq!(&push.messages[1].value[..], b"v1");
        assert_eq!(&push.messages[1].headers[0].value[..], b"\x00\xff");
    }

    #[test]
    fn push_flags_are_encoded_as_prost_encodes_them_and_a_plain_push_has_none() {
        use crate::pb::{KafkaMessage, KafkaPush};
        let records = [rec(0), rec(1)];
        let messages: Vec<KafkaMessage> = records
            .iter()
            .map(|r| KafkaMessage::decode(r.encoded.clone()).unwrap())
            .collect();
        for (seq, id, reset, dropped) in [
            (3, 9, true, 0),
            (3, 9, false, 0),
            (0, 0, false, 7),
            (-1, 300, true, u64::MAX),
        ] {
            let flags = PushFlags { reset, dropped };
            let want = resp_frame(
                seq,
                Resp::KafkaPush(KafkaPush {
                    subscription_id: id,
                    messages: messages.clone(),
                    reset,
                    dropped,
                }),
            );
            assert_eq!(push_frame_with(seq, id, &records, flags), want, "{flags:?}");
            assert_eq!(
                push_frame_from_body(seq, id, &push_body(&records), flags),
                want,
                "from a shared body, {flags:?}"
            );
        }
    }

    #[test]
    fn pong_frame_is_byte_for_byte_what_prost_encodes() {
        use crate::pb::PongResp;
        for (seq, state) in [
            (0, Bytes::new()),
            (1, Bytes::from_static(b"s")),
            (-3, Bytes::from(vec![7u8; 300])),
            (i64::MAX, Bytes::from_static(b"\x00\xff")),
        ] {
            let want = resp_frame(
                seq,
                Resp::PongResp(PongResp {
                    state: state.clone(),
                }),
            );
            assert_eq!(pong_frame(seq, state), want, "sequence {seq}");
        }
    }

    #[test]
    fn produce_frame_is_byte_for_byte_what_prost_encodes() {
        use crate::pb::KafkaProduceResp;
        for (seq, partition, offset) in [
            (0, 0, 0),
            (5, 0, 1),
            (-1, 3, 0),
            (i64::MAX, i32::MAX, i64::MAX),
            (7, -1, -2),
        ] {
            let want = resp_frame(
                seq,
                Resp::KafkaProduceResp(KafkaProduceResp {
                    partition,
                    offset,
                    position: String::new(),
                }),
            );
            assert_eq!(
                produce_frame(seq, partition, offset),
                want,
                "{seq} {partition} {offset}"
            );
        }
    }

    #[test]
    fn fetch_frame_decodes_even_when_empty() {
        let resp = PubSubResp::decode(fetch_frame(0, &[])).unwrap();
        assert_eq!(resp.resp, Some(Resp::KafkaFetchResp(Default::default())));
        let resp = PubSubResp::decode(fetch_frame(5, &[rec(9)])).unwrap();
        let Some(Resp::KafkaFetchResp(f)) = resp.resp else {
            panic!()
        };
        assert_eq!(f.messages[0].offset, 9);
    }
}
