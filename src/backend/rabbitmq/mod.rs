//! The RabbitMQ scheme (AMQP 0-9-1), over lapin (tokio, rustls):
//!
//! - `client`: the one AMQP connection of the upstream and its recovery;
//! - `topology`: the route's topic exchange, group queues and private queues, bindings;
//! - `props`: gateway messages to AMQP messages (properties, headers table) and back;
//! - `publish`: publishing with publisher confirms and mandatory routing;
//! - `hub`: plain subscriptions of one binding key share one queue and one consumer;
//! - `groups`: group members share a durable queue, with per-message ack and nack;
//! - `dead`: the route's `delivery:` on group queues: dead letters published by the gateway;
//! - `stream`: stream routes, read from any start position by stream offset;
//! - `stream_read`: fetch, list_offset and metadata on stream routes, by stream offset;
//! - `stream_groups`: groups on stream routes, whose committed offsets the gateway keeps.
//!
//! A topic is a routing key (binding key when subscribing, with the topic exchange's `*` and
//! `#`); there is one partition (0). On classic and quorum routes there is no log: offsets are
//! each group subscription's own delivery numbers, for ack and nack; on stream routes they are
//! stream offsets.

mod client;
mod dead;
mod groups;
mod hub;
mod props;
mod publish;
mod stream;
mod stream_groups;
mod stream_read;
mod topology;

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    Backend, Capabilities, Fetch, FetchLimits, ListOffset, PushSink, SubscribeSpec, Subscription,
    Target, TopicMetadata, TopicUse, Wildcards, ALL_STARTS,
};
use super::{Publish, Published};
use crate::config::{RabbitOptions, Route};
use crate::error::{GatewayError, Result};
use crate::pb::StartPosition;

const QUEUES: Capabilities = Capabilities {
    description: std::borrow::Cow::Borrowed("RabbitMQ"),
    history: false,
    starts: &[StartPosition::Latest],
    fetch: false,
    time_lookup: false,
    offsets: false,
    groups: true,
    ack: true,
    nack: true,
    commit: false,
    wildcards: Wildcards::Amqp,
    headers: true,
    keys: true,
    partitions: false,
    string_positions: false,
    epochs: false,
};

/// A stream route: a log read from any start position, fetched by offset, looked up by time;
/// groups commit offsets (kept by the gateway), nothing is acknowledged message by message.
const STREAM: Capabilities = Capabilities {
    description: std::borrow::Cow::Borrowed("RabbitMQ stream"),
    history: true,
    starts: ALL_STARTS,
    fetch: true,
    time_lookup: true,
    offsets: true,
    groups: true,
    ack: false,
    nack: false,
    commit: true,
    ..QUEUES
};

pub struct RabbitBackend {
    conn: Arc<client::Conn>,
    publisher: Arc<publish::Publisher>,
    hub: Arc<hub::Hub>,
    /// Set on stream routes.
    stream: Option<String>,
    stream_groups: stream_groups::StreamGroups,
    caps: Capabilities,
}

impl RabbitBackend {
    pub fn new(route: &Route, opts: RabbitOptions) -> std::result::Result<RabbitBackend, String> {
        let stream = opts.stream_name();
        let caps = match &stream {
            Some(s) => Capabilities {
                description: std::borrow::Cow::Owned(format!(
                    "RabbitMQ stream {s} (exchange {})",
                    opts.exchange
                )),
                ..STREAM
            },
            None => Capabilities {
                description: std::borrow::Cow::Owned(format!(
                    "RabbitMQ exchange {} ({} queues)",
                    opts.exchange,
                    opts.queue_type.as_str()
                )),
                ..QUEUES
            },
        };
        let conn = Arc::new(client::Conn::new(route, opts)?);
        Ok(RabbitBackend {
            publisher: Arc::new(publish::Publisher::new(conn.clone())),
            hub: Arc::new(hub::Hub::new(conn.clone(), &route.uri)),
            conn,
            stream,
            stream_groups: Default::default(),
            caps,
        })
    }
}

impl RabbitBackend {
    /// The stream of a stream route; other routes keep no log to read.
    fn stream_route(&self) -> Result<&str> {
        self.stream.as_deref().ok_or_else(|| {
            GatewayError::BadRequest(format!(
                "{} keeps no log: fetch, list_offset and metadata need queue_type: stream",
                self.caps.description
            ))
        })
    }
}

fn only_partition_zero(partition: i32) -> Result<()> {
    if partition != 0 {
        return Err(GatewayError::UnknownTopicOrPartition.context(format!(
            "RabbitMQ routes have one partition (0), not {partition}"
        )));
    }
    Ok(())
}

/// Routing keys as the gateway accepts them: 1 to 255 bytes (an AMQP short string) without
/// control characters; words are separated by `.`. `*` (one word) and `#` (zero or more words)
/// only when subscribing, and only as whole words, as the topic exchange reads them.
pub fn validate_routing_key(topic: &str, usage: TopicUse) -> Result<()> {
    let bad = |why: &str| {
        Err(GatewayError::BadRequest(format!(
            "invalid RabbitMQ routing key `{}`: {why}",
            topic.escape_debug()
        )))
    };
    if topic.is_empty() || topic.len() > 255 {
        return bad("1 to 255 bytes");
    }
    if topic.chars().any(char::is_control) {
        return bad("no control characters (NUL, line breaks, tabs)");
    }
    for word in topic.split('.') {
        if !word.contains(['*', '#']) {
            continue;
        }
        if usage != TopicUse::Subscribe {
            return bad("wildcards `*` and `#` are only for subscribing");
        }
        if word != "*" && word != "#" {
            return bad("`*` and `#` must be whole words");
        }
    }
    Ok(())
}

#[async_trait]
impl Backend for RabbitBackend {
    fn scheme(&self) -> &'static str {
        "rabbitmq"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate_topic(&self, topic: &str, usage: TopicUse) -> Result<()> {
        validate_routing_key(topic, usage)
    }

    async fn produce(&self, req: Publish) -> Result<Published> {
        self.publisher.publish(req).await
    }

    async fn subscribe(
        &self,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        let Target::Topic(topic) = spec.target.clone() else {
            return Err(GatewayError::BadRequest(
                "RabbitMQ routes take binding keys with `*` and `#` in topic, not topic_pattern"
                    .into(),
            ));
        };
        if let Some(stream) = &self.stream {
            if spec.max_in_flight > 0 {
                return Err(GatewayError::BadRequest(
                    "max_in_flight needs acknowledgements: stream subscriptions read a log and have none"
                        .into(),
                ));
            }
            let (conn, stream) = (self.conn.clone(), stream.clone());
            return match spec.group {
                Some(_) => {
                    self.stream_groups
                        .subscribe(conn, stream, topic, spec, sink)
                        .await
                }
                None => stream::subscribe(conn, stream, topic, spec, sink).await,
            };
        }
        match spec.group {
            Some(_) => {
                let publisher = self.publisher.clone();
                groups::subscribe(self.conn.clone(), publisher, topic, spec, sink).await
            }
            None => self.hub.subscribe(topic, spec, sink).await,
        }
    }

    async fn list_offset(&self, req: &ListOffset) -> Result<i64> {
        let stream = self.stream_route()?;
        only_partition_zero(req.partition)?;
        stream_read::list_offset(&self.conn, stream, &req.topic, req.timestamp).await
    }

    async fn fetch(
        &self,
        req: &Fetch,
        limits: FetchLimits,
    ) -> Result<Vec<Arc<crate::record::Record>>> {
        let stream = self.stream_route()?;
        only_partition_zero(req.partition)?;
        stream_read::fetch(&self.conn, stream, &req.topic, req.offset, limits).await
    }

    async fn metadata(&self, topic: &str) -> Result<TopicMetadata> {
        stream_read::metadata(&self.conn, self.stream_route()?, topic).await
    }

    async fn ready(&self) -> Result<()> {
        self.conn.connection().await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_follow_the_topic_exchange() {
        for ok in ["a", "game.room.42", "a-b_c.D", "with space"] {
            assert!(validate_routing_key(ok, TopicUse::Publish).is_ok(), "{ok}");
        }
        let long = "x".repeat(256);
        for bad in ["", "a\0b", "a\nb", "a.*", "a.#", long.as_str()] {
            assert!(
                validate_routing_key(bad, TopicUse::Publish).is_err(),
                "{bad:?}"
            );
        }
        for ok in ["a.*", "a.#", "#", "*.b.*", "#.x.#"] {
            assert!(
                validate_routing_key(ok, TopicUse::Subscribe).is_ok(),
                "{ok}"
            );
        }
        for bad in ["a*", "a.b#", "#a"] {
            assert!(
                validate_routing_key(bad, TopicUse::Subscribe).is_err(),
                "{bad}"
            );
        }
        assert!(validate_routing_key("a.*", TopicUse::Read).is_err());
    }
}
