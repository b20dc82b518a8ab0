//! MQTT names and message properties: topic and filter rules, filter matching, and the
//! reserved `mqtt.*` headers through which clients of the scheme-neutral protocol set (and
//! read) QoS, retain, content type, correlation data and response topic. Every other header
//! is an MQTT 5 user property.

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use rumqttc::v5::mqttbytes::QoS;

use crate::backend::{Header, TopicUse};
use crate::error::{GatewayError, Result};

/// Longest topic or filter the gateway passes on (MQTT allows 65,535 bytes; nothing real needs
/// more than this, and every subscription keeps its filter in memory).
pub const MAX_TOPIC_BYTES: usize = 4096;

pub const QOS: &str = "mqtt.qos";
pub const RETAIN: &str = "mqtt.retain";
pub const CONTENT_TYPE: &str = "mqtt.content_type";
pub const CORRELATION_DATA: &str = "mqtt.correlation_data";
pub const RESPONSE_TOPIC: &str = "mqtt.response_topic";

/// MQTT topic rules: UTF-8 without NUL or control characters, 1 to `MAX_TOPIC_BYTES` bytes;
/// `+` (a whole level) and `#` (the last level) only when subscribing. Names starting with `$`
/// (`$SYS`, `$share`) are the broker's: shared subscriptions go through `group`.
pub fn validate(topic: &str, usage: TopicUse) -> Result<()> {
    let bad = |why: &str| {
        Err(GatewayError::BadRequest(format!(
            "invalid MQTT topic `{}`: {why}",
            topic.escape_debug()
        )))
    };
    if topic.is_empty() || topic.len() > MAX_TOPIC_BYTES {
        return bad(&format!("1 to {MAX_TOPIC_BYTES} bytes"));
    }
    if topic.chars().any(char::is_control) {
        return bad("no NUL or control characters");
    }
    if topic.starts_with('$') {
        return bad("topics starting with `$` ($SYS, $share) are the broker's");
    }
    let levels: Vec<&str> = topic.split('/').collect();
    for (i, l) in levels.iter().enumerate() {
        if !l.contains(['+', '#']) {
            continue;
        }
        if usage != TopicUse::Subscribe {
            return bad("wildcards `+` and `#` are only for subscribing");
        }
        match *l {
            "+" => {}
            "#" if i == levels.len() - 1 => {}
            "#" => return bad("`#` must be the last level"),
            _ => return bad("`+` and `#` must be whole levels"),
        }
    }
    Ok(())
}

/// A group name goes into `$share/{group}/{filter}`: no `/`, wildcards or control characters.
pub fn validate_group(group: &str) -> Result<()> {
    if group.is_empty()
        || group.len() > 128
        || group.contains(['/', '+', '#'])
        || group.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(GatewayError::BadRequest(format!(
            "group `{}` is not an MQTT share name (1 to 128 bytes, no `/`, `+`, `#`, spaces or control characters)",
            group.escape_debug()
        )));
    }
    Ok(())
}

/// Whether a topic matches an MQTT filter (`+` one level, `#` this level and all below).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// How a gateway publish becomes an MQTT one.
pub struct Outgoing {
    pub qos: QoS,
    pub retain: bool,
    pub properties: PublishProperties,
}

/// Splits headers into the reserved `mqtt.*` settings and user properties.
pub fn outgoing(headers: &[Header], qos: u8, retain: bool) -> Result<Outgoing> {
    let mut out = Outgoing {
        qos: if qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        },
        retain,
        properties: PublishProperties::default(),
    };
    let text = |h: &Header| {
        std::str::from_utf8(&h.value)
            .map(str::to_owned)
            .map_err(|_| {
                GatewayError::BadRequest(format!(
                    "header `{}`: MQTT user properties and settings are UTF-8 text",
                    h.key.escape_debug()
                ))
            })
    };
    for h in headers {
        match h.key.as_str() {
            QOS => {
                out.qos = match &h.value[..] {
                    b"0" => QoS::AtMostOnce,
                    b"1" => QoS::AtLeastOnce,
                    _ => {
                        return Err(GatewayError::BadRequest(
                            "header mqtt.qos: 0 or 1 (QoS 2 is not offered)".into(),
                        ))
                    }
                }
            }
            RETAIN => {
                out.retain = match &h.value[..] {
                    b"true" | b"1" => true,
                    b"false" | b"0" => false,
                    _ => {
                        return Err(GatewayError::BadRequest(
                            "header mqtt.retain: true or false".into(),
                        ))
                    }
                }
            }
            CONTENT_TYPE => out.properties.content_type = Some(text(h)?),
            CORRELATION_DATA => out.properties.correlation_data = Some(h.value.clone()),
            RESPONSE_TOPIC => {
                let t = text(h)?;
                validate(&t, TopicUse::Publish)?;
                out.properties.response_topic = Some(t);
            }
            k if k.starts_with("mqtt.") => {
                return Err(GatewayError::BadRequest(format!(
                    "header `{}`: unknown mqtt.* setting (mqtt.qos, mqtt.retain, mqtt.content_type, mqtt.correlation_data, mqtt.response_topic)",
                    k.escape_debug()
                )))
            }
            k => {
                if k.is_empty() || k.contains('\0') {
                    return Err(GatewayError::BadRequest(
                        "header names must be non-empty and without NUL".into(),
                    ));
                }
                out.properties.user_properties.push((k.to_owned(), text(h)?));
            }
        }
    }
    Ok(out)
}

/// An MQTT delivery's properties as gateway headers: user properties in order, then the
/// reserved `mqtt.*` ones that are set.
pub fn incoming(qos: QoS, retain: bool, props: Option<&PublishProperties>) -> Vec<Header> {
    let mut out = Vec::new();
    let h = |k: &str, v: Bytes| Header {
        key: k.to_owned(),
        value: v,
    };
    if let Some(p) = props {
        for (k, v) in &p.user_properties {
            out.push(h(k, Bytes::copy_from_slice(v.as_bytes())));
        }
        if let Some(ct) = &p.content_type {
            out.push(h(CONTENT_TYPE, Bytes::copy_from_slice(ct.as_bytes())));
        }
        if let Some(cd) = &p.correlation_data {
            out.push(h(CORRELATION_DATA, cd.clone()));
        }
        if let Some(rt) = &p.response_topic {
            out.push(h(RESPONSE_TOPIC, Bytes::copy_from_slice(rt.as_bytes())));
        }
    }
    let q: &'static [u8] = if qos == QoS::AtMostOnce { b"0" } else { b"1" };
    out.push(h(QOS, Bytes::from_static(q)));
    if retain {
        out.push(h(RETAIN, Bytes::from_static(b"true")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_mqtt_rules() {
        for ok in ["a", "a/b/c", "game/room/42", "/a", "a//b", "a b"] {
            assert!(validate(ok, TopicUse::Publish).is_ok(), "{ok}");
        }
        for bad in ["", "a/+", "a/#", "$SYS/x", "$share/g/a", "a\0b", "a\nb"] {
            assert!(validate(bad, TopicUse::Publish).is_err(), "{bad:?}");
        }
        for ok in ["a/+", "a/#", "+/b/+", "#", "+"] {
            assert!(validate(ok, TopicUse::Subscribe).is_ok(), "{ok}");
        }
        for bad in ["a/#/b", "a+", "a/b#", "$SYS/#"] {
            assert!(validate(bad, TopicUse::Subscribe).is_err(), "{bad}");
        }
        assert!(validate(&"a".repeat(MAX_TOPIC_BYTES + 1), TopicUse::Publish).is_err());
    }

    #[test]
    fn filters_match_like_mqtt() {
        assert!(matches("a/+", "a/b"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(matches("#", "x/y"));
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("a/b", "a/c"));
        assert!(matches("+/+", "/x"));
    }
}
