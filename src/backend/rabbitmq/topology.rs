//! Exchanges, queues and bindings: what the gateway declares on the broker, and how it names
//! group queues so that plain AMQP consumers can share them.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use super::client::{amqp_error, short, within, Conn};
use crate::config::QueueType;
use crate::error::{GatewayError, Result};

/// Declares the route's exchange as a topic exchange (an existing exchange of another type, or
/// with other flags, is refused by the broker: 409), or with `declare_exchange: false` checks
/// that it exists.
pub(super) async fn declare_exchange(conn: &Conn, ch: &Channel) -> Result<()> {
    let o = &conn.opts;
    let options = ExchangeDeclareOptions {
        passive: !o.declare_exchange,
        durable: o.durable,
        auto_delete: o.auto_delete,
        ..Default::default()
    };
    within(conn.timeouts.read(), "the exchange declaration", async {
        ch.exchange_declare(
            short("exchange", &o.exchange)?,
            ExchangeKind::Topic,
            options,
            FieldTable::default(),
        )
        .await
        .map_err(|e| {
            amqp_error(e).context(format!(
                "exchange `{}` (must be a topic exchange{})",
                o.exchange,
                if o.durable { ", durable" } else { "" }
            ))
        })
    })
    .await
}

/// The shared queue of a group: `{queue_prefix}{group}:{topic}`, by default `gw{uri}:{group}:{topic}`.
pub(super) fn group_queue_name(conn: &Conn, group: &str, topic: &str) -> Result<String> {
    if group.contains(':') || group.chars().any(char::is_control) {
        return Err(GatewayError::BadRequest(format!(
            "group `{}`: no `:` or control characters (it names an AMQP queue)",
            group.escape_debug()
        )));
    }
    let prefix = match &conn.opts.queue_prefix {
        Some(p) => p.clone(),
        None => format!("gw{}:", conn.route),
    };
    let name = format!("{prefix}{group}:{topic}");
    if name.len() > 255 {
        return Err(GatewayError::BadRequest(format!(
            "the group queue name `{prefix}{group}:{topic}` is {} bytes; AMQP allows 255",
            name.len()
        )));
    }
    Ok(name)
}

/// The group's durable queue, with the route's queue type and dead-lettering, bound to the
/// exchange with the topic as binding key.
pub(super) async fn declare_group_queue(
    conn: &Conn,
    ch: &Channel,
    queue: &str,
    topic: &str,
) -> Result<()> {
    let o = &conn.opts;
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from(o.queue_type.as_str())),
    );
    // The route's `delivery:` (exclusive with these two keys): the broker's own limit and
    // dead-letter exchange stay as a backstop for what the gateway cannot dead-letter itself.
    let d = &conn.delivery;
    let dlx = o.dead_letter_exchange.as_ref().or(d.dead_letter.as_ref());
    let limit = o
        .max_deliveries
        .or((d.max_deliveries > 0).then_some(d.max_deliveries));
    if let Some(dlx) = dlx {
        args.insert(
            ShortString::from("x-dead-letter-exchange"),
            AMQPValue::LongString(LongString::from(dlx.as_str())),
        );
    }
    if let (QueueType::Quorum, Some(n)) = (o.queue_type, limit) {
        args.insert(
            ShortString::from("x-delivery-limit"),
            AMQPValue::LongInt(n.min(i32::MAX as u32) as i32),
        );
    }
    let options = QueueDeclareOptions {
        durable: o.durable,
        ..Default::default()
    };
    let name = short("queue name", queue)?;
    within(conn.timeouts.read(), "the queue declaration", async {
        ch.queue_declare(name.clone(), options, args)
            .await
            .map_err(|e| amqp_error(e).context(format!("queue `{queue}`")))?;
        bind(conn, ch, name, topic).await
    })
    .await
}

/// A server-named, exclusive, auto-delete queue bound with the topic: it lives as long as the
/// gateway's connection (or its consumer) does.
pub(super) async fn declare_private_queue(
    conn: &Conn,
    ch: &Channel,
    topic: &str,
) -> Result<String> {
    let options = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    within(conn.timeouts.read(), "the queue declaration", async {
        let q = ch
            .queue_declare(ShortString::from(""), options, FieldTable::default())
            .await
            .map_err(amqp_error)?;
        let name = q.name().clone();
        bind(conn, ch, name.clone(), topic).await?;
        Ok(name.as_str().to_string())
    })
    .await
}

async fn bind(conn: &Conn, ch: &Channel, queue: ShortString, topic: &str) -> Result<()> {
    ch.queue_bind(
        queue,
        short("exchange", &conn.opts.exchange)?,
        short("topic", topic)?,
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(|e| amqp_error(e).context(format!("binding `{topic}` on `{}`", conn.opts.exchange)))
}

/// The stream queue of a stream route (durable, `x-queue-type: stream`, retention from
/// `stream_max_bytes`), bound to the exchange with `#`: it stores every message of the route.
pub(super) async fn declare_stream(conn: &Conn, ch: &Channel, stream: &str) -> Result<()> {
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from("stream")),
    );
    if let Some(n) = conn.opts.stream_max_bytes {
        args.insert(
            ShortString::from("x-max-length-bytes"),
            AMQPValue::LongLongInt(n.min(i64::MAX as u64) as i64),
        );
    }
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let name = short("stream", stream)?;
    within(conn.timeouts.read(), "the stream declaration", async {
        ch.queue_declare(name.clone(), options, args)
            .await
            .map_err(|e| amqp_error(e).context(format!("stream `{stream}`")))?;
        bind(conn, ch, name, "#").await
    })
    .await
}

/// Whether a routing key matches a topic-exchange binding key (`*` one word, `#` zero or more).
/// Dynamic programming over words, so a hostile binding such as `#.#.#...` costs at most
/// (words of binding) x (words of key) steps.
pub(super) fn topic_matches(binding: &str, key: &str) -> bool {
    let b: Vec<&str> = binding.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    // row[j]: the first i binding words match the first j key words.
    let mut row = vec![false; k.len() + 1];
    row[0] = true;
    for w in &b {
        let mut next = vec![false; k.len() + 1];
        for j in 0..=k.len() {
            next[j] = match *w {
                "#" => row[j] || (j > 0 && next[j - 1]),
                "*" => j > 0 && row[j - 1],
                word => j > 0 && row[j - 1] && k[j - 1] == word,
            };
        }
        row = next;
    }
    row[k.len()]
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn binding_keys_match_like_the_topic_exchange() {
        assert!(topic_matches("a.*", "a.b"));
        assert!(!topic_matches("a.*", "a.b.c"));
        assert!(!topic_matches("a.*", "a"));
        assert!(topic_matches("a.#", "a"));
        assert!(topic_matches("a.#", "a.b.c"));
        assert!(topic_matches("#", "x.y"));
        assert!(topic_matches("#.c", "a.b.c"));
        assert!(topic_matches("*.b.#", "a.b"));
        assert!(!topic_matches("a.b", "a.c"));
        assert!(topic_matches("a.b", "a.b"));
    }
}
