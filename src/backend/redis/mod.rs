//! The Redis scheme, over redis-rs: pub/sub channels (no history) or streams (a log per key).
//!
//! - `client`: the upstream's shared command connection and its dedicated ones;
//! - `pubsub`: PUBLISH, and one SUBSCRIBE / PSUBSCRIBE per channel or pattern, fanned out;
//! - `entry`: entry ids as positions and offsets, entries as records (field names);
//! - `streams`: XADD, XRANGE fetches, offsets, metadata;
//! - `tail`: one shared XREAD reader per upstream for every followed stream;
//! - `plain`: plain stream subscriptions (catch up alone, then follow the tail);
//! - `groups`: consumer groups (XREADGROUP, XACK, XAUTOCLAIM, nack by XCLAIM);
//! - `dead`: dead letters of groups, XADDed by the gateway before the XACK.

mod client;
mod dead;
mod entry;
mod groups;
mod plain;
mod pubsub;
mod streams;
mod tail;

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    Backend, Capabilities, FetchLimits, PushSink, Record, SubscribeSpec, Subscription, Target,
    TopicUse, Wildcards, ALL_STARTS,
};
use super::{Fetch, ListOffset, Publish, Published, TopicMetadata};
use crate::config::{RedisMode, RedisOptions, Route};
use crate::error::{GatewayError, Result};
use crate::pb::StartPosition;

const PUBSUB: Capabilities = Capabilities {
    description: std::borrow::Cow::Borrowed("Redis pub/sub"),
    history: false,
    starts: &[StartPosition::Latest],
    fetch: false,
    time_lookup: false,
    offsets: false,
    groups: false,
    ack: false,
    nack: false,
    commit: false,
    wildcards: Wildcards::Glob,
    headers: false,
    keys: false,
    partitions: false,
    string_positions: false,
    epochs: false,
};

const STREAMS: Capabilities = Capabilities {
    description: std::borrow::Cow::Borrowed("Redis streams"),
    history: true,
    starts: ALL_STARTS,
    fetch: true,
    time_lookup: true,
    offsets: true,
    groups: true,
    ack: true,
    nack: true,
    commit: false,
    wildcards: Wildcards::None,
    headers: true,
    keys: true,
    partitions: false,
    string_positions: true,
    epochs: false,
};

pub struct RedisBackend {
    conn: Arc<client::Conn>,
    mode: RedisMode,
    hub: Arc<pubsub::Hub>,
    tails: Arc<tail::Tails>,
    caps: Capabilities,
}

impl RedisBackend {
    pub fn new(route: &Route, opts: RedisOptions) -> std::result::Result<RedisBackend, String> {
        let conn = Arc::new(client::Conn::new(route, opts)?);
        let mode = conn.opts.mode;
        Ok(RedisBackend {
            hub: Arc::new(pubsub::Hub::new(conn.clone(), &route.uri)),
            tails: Arc::new(tail::Tails::new(conn.clone())),
            conn,
            mode,
            caps: match mode {
                RedisMode::Pubsub => PUBSUB,
                RedisMode::Streams => STREAMS,
            },
        })
    }
}

/// Channel and stream key names: 1 to 1024 bytes, no whitespace, control characters or `\`.
/// On pub/sub routes `*`, `?` and `[...]` make a glob pattern, for subscribing only; stream
/// keys take none of them.
pub fn validate_name(name: &str, usage: TopicUse, globs: bool) -> Result<()> {
    let bad = |why: &str| {
        Err(GatewayError::BadRequest(format!(
            "invalid Redis {} `{}`: {why}",
            if globs { "channel" } else { "stream key" },
            name.escape_debug()
        )))
    };
    if name.is_empty() || name.len() > 1024 {
        return bad("1 to 1024 bytes");
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return bad("no spaces, control characters or `\\`");
    }
    if !pubsub::is_pattern(name) {
        return Ok(());
    }
    if !globs {
        return bad("`*`, `?` and `[` are not allowed in stream keys");
    }
    if usage != TopicUse::Subscribe {
        return bad("glob characters `*`, `?` and `[` are only for subscribing (PSUBSCRIBE)");
    }
    // Every `[` opens a class that a later `]` closes (`[]` and `[^]` are no classes).
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '[' {
            let mut len = 0;
            loop {
                match chars.next() {
                    None => return bad("unclosed `[`"),
                    Some(']') if len > 0 => break,
                    Some(']') => return bad("empty `[]`"),
                    Some('[') => return bad("nested `[`"),
                    Some(_) => len += 1,
                }
            }
        } else if c == ']' {
            return bad("`]` without `[`");
        }
    }
    Ok(())
}

fn only_partition_zero(partition: i32) -> Result<()> {
    if partition != 0 {
        return Err(GatewayError::UnknownTopicOrPartition.context(format!(
            "Redis streams have one partition (0), not {partition}"
        )));
    }
    Ok(())
}

#[async_trait]
impl Backend for RedisBackend {
    fn scheme(&self) -> &'static str {
        match self.mode {
            RedisMode::Pubsub => "redis",
            RedisMode::Streams => "redis-streams",
        }
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate_topic(&self, topic: &str, usage: TopicUse) -> Result<()> {
        validate_name(topic, usage, self.mode == RedisMode::Pubsub)
    }

    async fn list_offset(&self, req: &ListOffset) -> Result<i64> {
        only_partition_zero(req.partition)?;
        streams::list_offset(&self.conn, &req.topic, req.timestamp).await
    }

    async fn fetch(&self, req: &Fetch, limits: FetchLimits) -> Result<Vec<Arc<Record>>> {
        only_partition_zero(req.partition)?;
        streams::fetch(&self.conn, &req.topic, req.offset, limits).await
    }

    async fn produce(&self, req: Publish) -> Result<Published> {
        match self.mode {
            RedisMode::Pubsub => self.hub.publish(req).await,
            RedisMode::Streams => streams::publish(&self.conn, req).await,
        }
    }

    async fn metadata(&self, topic: &str) -> Result<TopicMetadata> {
        streams::metadata(&self.conn, topic).await
    }

    async fn subscribe(
        &self,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        let Target::Topic(topic) = spec.target.clone() else {
            return Err(GatewayError::BadRequest(
                "Redis routes take glob patterns in topic (pub/sub), not topic_pattern".into(),
            ));
        };
        match (self.mode, spec.group.clone()) {
            (RedisMode::Pubsub, _) => self.hub.subscribe(topic, spec, sink).await,
            (RedisMode::Streams, None) => {
                plain::subscribe(self.conn.clone(), &self.tails, topic, spec, sink).await
            }
            (RedisMode::Streams, Some(group)) => {
                groups::subscribe(self.conn.clone(), &self.tails, topic, group, spec, sink).await
            }
        }
    }

    async fn ready(&self) -> Result<()> {
        self.conn.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_and_globs_are_checked() {
        for ok in ["chat", "room:42", "a.b-c_d", "x/y"] {
            assert!(validate_name(ok, TopicUse::Publish, true).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a\0b", "a\\*", "a*", "a?", "a[b]"] {
            assert!(
                validate_name(bad, TopicUse::Publish, true).is_err(),
                "{bad:?}"
            );
        }
        for ok in ["room:*", "room:?", "room:[ab]*", "*"] {
            assert!(validate_name(ok, TopicUse::Subscribe, true).is_ok(), "{ok}");
        }
        for bad in ["room:[ab", "room:[]", "a*]", "[[a]]"] {
            assert!(
                validate_name(bad, TopicUse::Subscribe, true).is_err(),
                "{bad}"
            );
        }
        assert!(validate_name("s*", TopicUse::Subscribe, false).is_err());
        assert!(validate_name(&"x".repeat(1025), TopicUse::Read, false).is_err());
    }
}
