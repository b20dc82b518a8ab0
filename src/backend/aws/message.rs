//! SNS's and SQS's rules, checked before any call (400 naming what breaks them), messages as
//! Publish and SendMessage take them, and received SQS messages as records.
//!
//! Headers become message attributes, one per name (a header given twice is refused: an
//! attribute holds one value): a value that is text SQS accepts goes as a `String` attribute,
//! any other bytes as `Binary`, so values are binary-safe. On FIFO routes the key is the message
//! group id and the header `message-deduplication-id` (not sent as an attribute) the
//! deduplication id; without it the topic or queue must have content-based deduplication.

use std::collections::HashMap;
use std::sync::Arc;

use aws_smithy_types::Blob;

use crate::backend::{Header, Publish, Record, RecordParts};
use crate::config::{valid_queue_name, valid_topic_name, AwsOptions, AwsTarget};
use crate::error::{GatewayError, Result};

/// SNS and SQS carry at most 10 attributes to a queue.
const MAX_ATTRIBUTES: usize = 10;
const MAX_ATTRIBUTE_NAME: usize = 256;
/// SNS's message size (body and attributes); SQS's is 1 MiB.
const MAX_SNS: usize = 262_144;
const MAX_SQS: usize = 1_048_576;
const MAX_GROUP_ID: usize = 128;
/// The header whose value is a FIFO message's deduplication id.
pub(super) const DEDUP_HEADER: &str = "message-deduplication-id";

fn bad<T>(m: String) -> Result<T> {
    Err(GatewayError::BadRequest(m))
}

/// A topic (SNS topic or SQS queue, by the route's target) named after AWS's rules.
pub(super) fn validate_name(o: &AwsOptions, name: &str) -> Result<()> {
    let fifo = if o.fifo {
        ", ending in .fifo (a FIFO route)"
    } else {
        ""
    };
    match o.target {
        AwsTarget::Sns if !valid_topic_name(name, o.fifo) => bad(format!(
            "invalid topic name `{name}`: an SNS topic name is 1 to 256 of [A-Za-z0-9_-]{fifo}"
        )),
        AwsTarget::Sqs if !valid_queue_name(name, o.fifo) => bad(format!(
            "invalid topic name `{name}`: an SQS queue name is 1 to 80 of [A-Za-z0-9_-]{fifo}"
        )),
        _ => Ok(()),
    }
}

/// A group's name is part of its queue's name (SNS target): SQS's characters, and the queue
/// name `{queue_prefix}{group}-{topic}` within 80.
pub(super) fn validate_group(o: &AwsOptions, group: &str, topic: &str) -> Result<()> {
    if group.is_empty()
        || !group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return bad(format!(
            "invalid group `{group}`: SQS queue names (which hold the group) are of [A-Za-z0-9_-]"
        ));
    }
    if o.target == AwsTarget::Sns {
        let q = group_queue(o, group, topic);
        if !valid_queue_name(&q, o.fifo) {
            return bad(format!(
                "group `{group}` on topic `{topic}`: its queue name `{q}` would pass SQS's 80 characters"
            ));
        }
    }
    Ok(())
}

/// The durable queue of a group on an SNS topic: `{queue_prefix}{group}-{topic}` (a FIFO
/// topic's `.fifo` kept at the end).
pub(super) fn group_queue(o: &AwsOptions, group: &str, topic: &str) -> String {
    format!("{}{group}-{topic}", o.queue_prefix)
}

/// Whether SQS takes `s` as text: #x9 #xA #xD, #x20 to #xD7FF, #xE000 to #xFFFD, #x10000 up.
fn sqs_text(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
            || c >= '\u{10000}'
    })
}

/// One attribute value: text, or bytes.
pub(super) enum Value {
    Text(String),
    Bytes(Vec<u8>),
}

/// A message as Publish or SendMessage takes it.
pub(super) struct Outgoing<A> {
    pub topic: String,
    pub body: String,
    pub attributes: HashMap<String, A>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

/// Checks a message against SNS's (`limit` = 256 KiB) or SQS's rules.
fn outgoing(o: &AwsOptions, req: Publish, limit: usize) -> Result<Outgoing<Value>> {
    let body = match String::from_utf8(req.value.to_vec()) {
        Ok(b) if b.is_empty() => {
            return bad("an SNS or SQS message needs a value (its body)".into())
        }
        Ok(b) if !sqs_text(&b) => {
            return bad("the value holds characters SNS and SQS refuse in a message body".into())
        }
        Ok(b) => b,
        Err(_) => return bad("an SNS or SQS message body is UTF-8 text: the value is not".into()),
    };
    let mut size = body.len();
    let mut attributes = HashMap::new();
    // A FIFO topic's or queue's deduplication id: the header when given, else the produce's
    // idempotency key where SQS takes it as one (1 to 128 printable ASCII characters; another
    // key is deduplicated by the gateway's window only).
    let mut dedup_id = (o.fifo
        && req.idempotency_key.bytes().all(|b| b.is_ascii_graphic())
        && (1..=128).contains(&req.idempotency_key.len()))
    .then(|| req.idempotency_key.clone());
    for h in req.headers {
        if o.fifo && h.key.eq_ignore_ascii_case(DEDUP_HEADER) {
            let v = String::from_utf8(h.value.to_vec()).unwrap_or_default();
            if v.is_empty() || v.len() > 128 || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return bad(format!(
                    "header {DEDUP_HEADER}: a deduplication id is 1 to 128 printable ASCII characters"
                ));
            }
            dedup_id = Some(v);
            continue;
        }
        check_attribute_name(&h.key)?;
        if h.value.is_empty() {
            return bad(format!(
                "header `{}`: SNS and SQS attribute values cannot be empty",
                h.key
            ));
        }
        size += h.key.len() + h.value.len();
        let value = match std::str::from_utf8(&h.value) {
            Ok(s) if sqs_text(s) => Value::Text(s.to_string()),
            _ => Value::Bytes(h.value.to_vec()),
        };
        if attributes.insert(h.key.clone(), value).is_some() {
            return bad(format!(
                "header `{}` given twice: an SNS or SQS message attribute holds one value",
                h.key
            ));
        }
    }
    if attributes.len() > MAX_ATTRIBUTES {
        return bad(format!(
            "{} headers: SNS and SQS carry at most {MAX_ATTRIBUTES} message attributes",
            attributes.len()
        ));
    }
    if size > limit {
        return bad(format!(
            "the message is {size} bytes: {} takes at most {limit}",
            if limit == MAX_SNS { "SNS" } else { "SQS" }
        ));
    }
    let group_id = if o.fifo {
        let key = String::from_utf8(req.key.to_vec()).unwrap_or_default();
        if key.is_empty() || key.len() > MAX_GROUP_ID || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return bad(format!(
                "a FIFO message needs a key (its message group id): 1 to {MAX_GROUP_ID} printable ASCII characters"
            ));
        }
        Some(key)
    } else {
        None
    };
    Ok(Outgoing {
        topic: req.topic,
        body,
        attributes,
        group_id,
        dedup_id,
    })
}

/// SNS's and SQS's attribute name rule.
fn check_attribute_name(name: &str) -> Result<()> {
    let lower = name.to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= MAX_ATTRIBUTE_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if ok {
        Ok(())
    } else {
        bad(format!(
            "header name `{name}`: SNS and SQS attribute names are 1 to {MAX_ATTRIBUTE_NAME} of [A-Za-z0-9_.-], no leading, trailing or double `.`, not starting with AWS. or Amazon."
        ))
    }
}

pub(super) fn sns(
    o: &AwsOptions,
    req: Publish,
) -> Result<Outgoing<aws_sdk_sns::types::MessageAttributeValue>> {
    use aws_sdk_sns::types::MessageAttributeValue as V;
    let m = outgoing(o, req, MAX_SNS)?;
    let mut attributes = HashMap::with_capacity(m.attributes.len());
    for (k, v) in m.attributes {
        let v = match v {
            Value::Text(s) => V::builder().data_type("String").string_value(s),
            Value::Bytes(b) => V::builder().data_type("Binary").binary_value(Blob::new(b)),
        }
        .build()
        .map_err(|e| GatewayError::BadRequest(format!("header `{k}`: {e}")))?;
        attributes.insert(k, v);
    }
    Ok(Outgoing {
        topic: m.topic,
        body: m.body,
        attributes,
        group_id: m.group_id,
        dedup_id: m.dedup_id,
    })
}

pub(super) fn sqs(
    o: &AwsOptions,
    req: Publish,
) -> Result<Outgoing<aws_sdk_sqs::types::MessageAttributeValue>> {
    use aws_sdk_sqs::types::MessageAttributeValue as V;
    let m = outgoing(o, req, MAX_SQS)?;
    let mut attributes = HashMap::with_capacity(m.attributes.len());
    for (k, v) in m.attributes {
        let v = match v {
            Value::Text(s) => V::builder().data_type("String").string_value(s),
            Value::Bytes(b) => V::builder().data_type("Binary").binary_value(Blob::new(b)),
        }
        .build()
        .map_err(|e| GatewayError::BadRequest(format!("header `{k}`: {e}")))?;
        attributes.insert(k, v);
    }
    Ok(Outgoing {
        topic: m.topic,
        body: m.body,
        attributes,
        group_id: m.group_id,
        dedup_id: m.dedup_id,
    })
}

/// A received SQS message as a record: partition 0, offset -1 (SQS has no positions), position
/// the message id (what ack and nack name), key the FIFO message group id, timestamp when it was
/// sent, delivery_attempt its receive count, headers its attributes sorted by name.
pub(super) fn record(topic: &Arc<str>, m: aws_sdk_sqs::types::Message) -> Record {
    use aws_sdk_sqs::types::MessageSystemAttributeName as S;
    let system = m.attributes.unwrap_or_default();
    let num = |k: &S| system.get(k).and_then(|v| v.parse::<i64>().ok());
    let timestamp = num(&S::SentTimestamp).unwrap_or(0);
    let attempt = num(&S::ApproximateReceiveCount)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    let key = system.get(&S::MessageGroupId).cloned().unwrap_or_default();
    let mut headers: Vec<Header> = m
        .message_attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(key, v)| {
            let value = match (v.string_value, v.binary_value) {
                (Some(s), _) => bytes::Bytes::from(s),
                (None, Some(b)) => bytes::Bytes::from(b.into_inner()),
                (None, None) => bytes::Bytes::new(),
            };
            Header { key, value }
        })
        .collect();
    headers.sort_by(|a, b| a.key.cmp(&b.key));
    Record::from_parts(RecordParts {
        topic: topic.clone(),
        partition: 0,
        offset: -1,
        position: m.message_id.unwrap_or_default(),
        epoch: 0,
        delivery_attempt: attempt,
        timestamp,
        key: bytes::Bytes::from(key),
        value: bytes::Bytes::from(m.body.unwrap_or_default()),
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(fifo: bool) -> AwsOptions {
        let yaml = format!("region: eu-west-1\nfifo: {fifo}\n");
        serde_yaml::from_str(&yaml).unwrap()
    }

    fn publish(headers: &[(&str, &[u8])], key: &str, value: &[u8]) -> Publish {
        Publish {
            topic: "t1".into(),
            partition: None,
            key: bytes::Bytes::copy_from_slice(key.as_bytes()),
            value: bytes::Bytes::copy_from_slice(value),
            headers: headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: bytes::Bytes::copy_from_slice(v),
                })
                .collect(),
            timestamp: 0,
            idempotency_key: String::new(),
        }
    }

    #[test]
    fn sns_and_sqs_rules_are_checked_before_any_call() {
        let o = opts(false);
        let many: Vec<(String, &[u8])> = (0..11).map(|i| (format!("h{i}"), &b"v"[..])).collect();
        let many: Vec<(&str, &[u8])> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let big = vec![b'x'; MAX_SNS + 1];
        for (p, want) in [
            (publish(&[], "", b""), "needs a value"),
            (publish(&[], "", &[0xff, 0xfe]), "UTF-8"),
            (publish(&[], "", b"a\x01b"), "refuse"),
            (
                publish(&[("a", b"1"), ("a", b"2")], "", b"v"),
                "given twice",
            ),
            (publish(&[("AWS.x", b"1")], "", b"v"), "attribute names"),
            (publish(&[("a..b", b"1")], "", b"v"), "attribute names"),
            (publish(&[("a", b"")], "", b"v"), "cannot be empty"),
            (publish(&many, "", b"v"), "at most 10"),
            (publish(&[], "", &big), "SNS takes at most"),
        ] {
            let e = sns(&o, p).err().expect(want).to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        let m = sqs(&o, publish(&[("bin", &[0, 0xff]), ("t", b"x")], "", b"v")).unwrap();
        assert_eq!(m.attributes["bin"].data_type(), "Binary");
        assert_eq!(m.attributes["t"].string_value(), Some("x"));
        let f = opts(true);
        assert!(sqs(&f, publish(&[], "", b"v")).is_err(), "FIFO needs a key");
        let m = sqs(&f, publish(&[(DEDUP_HEADER, b"d1")], "k", b"v")).unwrap();
        assert_eq!(
            (m.group_id.as_deref(), m.dedup_id.as_deref()),
            (Some("k"), Some("d1"))
        );
        assert!(m.attributes.is_empty());
        // The produce's idempotency key is the deduplication id when SQS takes it as one and
        // no header gives another; on a standard queue it is not sent.
        let keyed = |k: &str| Publish {
            idempotency_key: k.into(),
            ..publish(&[], "k", b"v")
        };
        assert_eq!(
            sqs(&f, keyed("id-1")).unwrap().dedup_id.as_deref(),
            Some("id-1")
        );
        assert_eq!(sqs(&f, keyed("a b")).unwrap().dedup_id, None);
        assert_eq!(sqs(&o, keyed("id-1")).unwrap().dedup_id, None);
        let header_wins = Publish {
            idempotency_key: "id-1".into(),
            ..publish(&[(DEDUP_HEADER, b"d1")], "k", b"v")
        };
        assert_eq!(
            sqs(&f, header_wins).unwrap().dedup_id.as_deref(),
            Some("d1")
        );
        for bad in ["", "a b", "a.b", "ü", &"a".repeat(257)] {
            assert!(validate_name(&o, bad).is_err(), "{bad}");
        }
        assert!(validate_name(&o, "a.fifo").is_err());
        assert!(validate_name(&f, "a.fifo").is_ok());
        assert!(validate_name(&f, "a").is_err());
    }
}
