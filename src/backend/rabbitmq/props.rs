//! Gateway messages to AMQP messages and back. The protocol has headers, a key and a timestamp,
//! so AMQP's basic properties travel as reserved headers named `amqp-<property>`
//! (`amqp-content-type`, `amqp-priority`, ...), the key is the `message_id` and the timestamp
//! the `timestamp` property (AMQP keeps seconds). Every other header is an entry of the AMQP
//! headers table, its value a byte string.

use std::sync::Arc;

use bytes::Bytes;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;

use super::client::short;
use crate::backend::{now_ms, Header, Publish, Record, RecordParts};
use crate::error::{GatewayError, Result};

/// The basic properties a publisher may set through reserved headers.
pub(super) const PROPERTY_HEADERS: &[&str] = &[
    "amqp-content-type",
    "amqp-content-encoding",
    "amqp-correlation-id",
    "amqp-reply-to",
    "amqp-expiration",
    "amqp-priority",
    "amqp-type",
    "amqp-app-id",
    "amqp-user-id",
    "amqp-delivery-mode",
];

/// Set on pushed messages the broker delivered before (never sent by publishers).
pub(super) const REDELIVERED: &str = "amqp-redelivered";

fn text<'a>(key: &str, value: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(value).map_err(|_| {
        GatewayError::BadRequest(format!("header `{key}`: AMQP properties are UTF-8 text"))
    })
}

/// The AMQP properties (headers table included) of a publish. `persistent`: delivery mode 2
/// unless the publisher sets `amqp-delivery-mode`.
pub(super) fn to_properties(req: &Publish, persistent: bool) -> Result<BasicProperties> {
    let mut p = BasicProperties::default();
    let mut table = FieldTable::default();
    let mut delivery_mode = if persistent { 2 } else { 1 };
    for h in &req.headers {
        let key = h.key.as_str();
        if key.is_empty() {
            return Err(GatewayError::BadRequest("empty header name".into()));
        }
        if let Some(prop) = key.strip_prefix("amqp-") {
            let v = text(key, &h.value)?;
            let s = || short(&format!("header `{key}`"), v);
            p = match prop {
                "content-type" => p.with_content_type(s()?),
                "content-encoding" => p.with_content_encoding(s()?),
                "correlation-id" => p.with_correlation_id(s()?),
                "reply-to" => p.with_reply_to(s()?),
                "expiration" => {
                    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || v.len() > 10 {
                        return Err(GatewayError::BadRequest(format!(
                            "header `{key}`: a TTL in milliseconds (digits), not `{}`",
                            v.escape_debug()
                        )));
                    }
                    p.with_expiration(s()?)
                }
                "priority" => p.with_priority(v.parse::<u8>().map_err(|_| {
                    GatewayError::BadRequest(format!(
                        "header `{key}`: a priority 0 to 255, not `{}`",
                        v.escape_debug()
                    ))
                })?),
                "type" => p.with_type(s()?),
                "app-id" => p.with_app_id(s()?),
                "user-id" => p.with_user_id(s()?),
                "delivery-mode" => {
                    delivery_mode = match v {
                        "1" => 1,
                        "2" => 2,
                        _ => {
                            return Err(GatewayError::BadRequest(format!(
                                "header `{key}`: 1 (transient) or 2 (persistent)"
                            )))
                        }
                    };
                    p
                }
                _ => {
                    return Err(GatewayError::BadRequest(format!(
                        "header `{key}`: `amqp-` names are reserved for the AMQP properties ({})",
                        PROPERTY_HEADERS.join(", ")
                    )))
                }
            };
            continue;
        }
        let name = short(&format!("header name `{}`", key.escape_debug()), key)?;
        if table.contains_key(key) {
            return Err(GatewayError::BadRequest(format!(
                "header `{key}` repeated: an AMQP headers table holds one value per name"
            )));
        }
        table.insert(
            name,
            AMQPValue::LongString(LongString::from(h.value.to_vec())),
        );
    }
    p = p.with_delivery_mode(delivery_mode);
    if !table.inner().is_empty() {
        p = p.with_headers(table);
    }
    if !req.key.is_empty() {
        let id = std::str::from_utf8(&req.key).map_err(|_| {
            GatewayError::BadRequest("the key becomes the AMQP message_id: UTF-8 text".into())
        })?;
        p = p.with_message_id(short("the key (AMQP message_id)", id)?);
    }
    let ms = if req.timestamp > 0 {
        req.timestamp
    } else {
        now_ms()
    };
    Ok(p.with_timestamp((ms / 1000) as u64))
}

/// A header value from an AMQP table value: byte strings as they are, numbers and booleans as
/// their decimal or `true`/`false` text, nested tables and arrays (such as `x-death`) as JSON.
fn value_bytes(v: &AMQPValue) -> Bytes {
    match v {
        AMQPValue::LongString(s) => Bytes::copy_from_slice(s.as_bytes()),
        AMQPValue::ByteArray(b) => Bytes::copy_from_slice(b.as_slice()),
        AMQPValue::ShortString(s) => Bytes::copy_from_slice(s.as_str().as_bytes()),
        AMQPValue::Void => Bytes::new(),
        other => match json(other) {
            serde_json::Value::String(s) => Bytes::from(s),
            j => Bytes::from(j.to_string()),
        },
    }
}

fn json(v: &AMQPValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        AMQPValue::Boolean(b) => J::Bool(*b),
        AMQPValue::ShortShortInt(n) => J::from(*n),
        AMQPValue::ShortShortUInt(n) => J::from(*n),
        AMQPValue::ShortInt(n) => J::from(*n),
        AMQPValue::ShortUInt(n) => J::from(*n),
        AMQPValue::LongInt(n) => J::from(*n),
        AMQPValue::LongUInt(n) => J::from(*n),
        AMQPValue::LongLongInt(n) => J::from(*n),
        AMQPValue::Float(n) => J::from(*n),
        AMQPValue::Double(n) => J::from(*n),
        AMQPValue::Timestamp(n) => J::from(*n),
        AMQPValue::DecimalValue(d) => J::from(d.value as f64 / 10f64.powi(d.scale as i32)),
        AMQPValue::ShortString(s) => J::String(s.as_str().to_string()),
        AMQPValue::LongString(s) => J::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ByteArray(b) => J::String(String::from_utf8_lossy(b.as_slice()).into_owned()),
        AMQPValue::FieldArray(a) => J::Array(a.as_slice().iter().map(json).collect()),
        AMQPValue::FieldTable(t) => J::Object(
            t.inner()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), json(v)))
                .collect(),
        ),
        AMQPValue::Void => J::Null,
    }
}

fn prop(out: &mut Vec<Header>, key: &str, v: &Option<ShortString>) {
    if let Some(v) = v {
        out.push(Header {
            key: key.into(),
            value: Bytes::copy_from_slice(v.as_str().as_bytes()),
        });
    }
}

/// A delivery as a gateway record. `offset` is the subscription's own delivery number (-1 where
/// there is nothing to acknowledge).
pub(super) fn to_record(d: &Delivery, offset: i64) -> Arc<Record> {
    let p = &d.properties;
    let mut headers = Vec::new();
    prop(&mut headers, "amqp-content-type", p.content_type());
    prop(&mut headers, "amqp-content-encoding", p.content_encoding());
    prop(&mut headers, "amqp-correlation-id", p.correlation_id());
    prop(&mut headers, "amqp-reply-to", p.reply_to());
    prop(&mut headers, "amqp-expiration", p.expiration());
    if let Some(n) = p.priority() {
        headers.push(Header {
            key: "amqp-priority".into(),
            value: Bytes::from(n.to_string()),
        });
    }
    prop(&mut headers, "amqp-type", p.kind());
    prop(&mut headers, "amqp-app-id", p.app_id());
    prop(&mut headers, "amqp-user-id", p.user_id());
    if let Some(n) = p.delivery_mode() {
        headers.push(Header {
            key: "amqp-delivery-mode".into(),
            value: Bytes::from(n.to_string()),
        });
    }
    if d.redelivered {
        headers.push(Header {
            key: REDELIVERED.into(),
            value: Bytes::from_static(b"true"),
        });
    }
    if let Some(t) = p.headers() {
        for (k, v) in t.inner() {
            headers.push(Header {
                key: k.as_str().to_string(),
                value: value_bytes(v),
            });
        }
    }
    let key = p
        .message_id()
        .as_ref()
        .map(|m| Bytes::copy_from_slice(m.as_str().as_bytes()))
        .unwrap_or_default();
    let timestamp = p
        .timestamp()
        .map(|s| (s as i64).saturating_mul(1000))
        .unwrap_or_else(now_ms);
    Arc::new(Record::from_parts(RecordParts {
        topic: Arc::from(d.routing_key.as_str()),
        partition: 0,
        offset,
        position: String::new(),
        epoch: 0,
        delivery_attempt: 0,
        timestamp,
        key,
        value: Bytes::from(d.data.clone()),
        headers,
    }))
}
