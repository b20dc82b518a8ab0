//! The one JSON shape of a message, shared by `pubsub --json` and the gateway's HTTP endpoints
//! (fetch answers and Server-Sent Events), so a script reading one reads the other:
//!
//! `{"topic", "partition", "offset", "timestamp", "key"?, "value", "headers"?, "epoch"?,
//! "position"?, "delivery_attempt"?}`. Keys, values and header values are text when they are
//! UTF-8, else hex under the name with `_hex` appended (`value_hex`, `key_hex`, a header
//! `h_hex`); a key and headers only when there are some, `epoch`, `position` and
//! `delivery_attempt` only when set.

use serde_json::{Map, Value};

use crate::KafkaMessage;

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `b` under `name` as text when it is UTF-8 (and `force_hex` is off), else as hex under
/// `{name}_hex`.
pub fn insert_bytes(obj: &mut Map<String, Value>, name: &str, b: &[u8], force_hex: bool) {
    match std::str::from_utf8(b) {
        Ok(s) if !force_hex => {
            obj.insert(name.into(), Value::from(s));
        }
        _ => {
            obj.insert(format!("{name}_hex"), Value::from(hex(b)));
        }
    }
}

/// The JSON of one message; `force_hex` writes every key, value and header value as hex.
pub fn message(m: &KafkaMessage, force_hex: bool) -> Value {
    let mut o = Map::new();
    o.insert("topic".into(), Value::from(m.topic.as_str()));
    o.insert("partition".into(), Value::from(m.partition));
    o.insert("offset".into(), Value::from(m.offset));
    o.insert("timestamp".into(), Value::from(m.timestamp));
    if !m.key.is_empty() {
        insert_bytes(&mut o, "key", &m.key, force_hex);
    }
    insert_bytes(&mut o, "value", &m.value, force_hex);
    if !m.headers.is_empty() {
        let mut h = Map::new();
        for x in &m.headers {
            insert_bytes(&mut h, &x.key, &x.value, force_hex);
        }
        o.insert("headers".into(), Value::Object(h));
    }
    if m.epoch != 0 {
        o.insert("epoch".into(), Value::from(m.epoch));
    }
    if !m.position.is_empty() {
        o.insert("position".into(), Value::from(m.position.as_str()));
    }
    if m.delivery_attempt != 0 {
        o.insert("delivery_attempt".into(), Value::from(m.delivery_attempt));
    }
    Value::Object(o)
}
