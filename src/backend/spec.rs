//! Requests as every backend receives them: validated, with the server's limits applied.

use std::sync::Arc;

use regex::Regex;

use super::now_ms;
use crate::error::{GatewayError, Result};
use bytes::Bytes;

use crate::pb::{self, CmdKafkaSubscribe, StartPosition};
use crate::record::Header;

/// Effective fetch bounds after the server's limits are applied to a request.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    pub max_messages: usize,
    pub max_bytes: usize,
    pub max_wait: std::time::Duration,
}

/// list_offset: -1 = the end, -2 = the earliest, else a time in ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffset {
    pub topic: String,
    pub partition: i32,
    pub timestamp: i64,
}

/// A fetch from a position; its bounds come as `FetchLimits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A message to publish. No partition: the scheme picks (Kafka: by key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Bytes,
    pub value: Bytes,
    pub headers: Vec<Header>,
    /// ms since epoch; 0 = now.
    pub timestamp: i64,
    /// The client's idempotency key (empty: none), for the schemes whose broker deduplicates
    /// itself (JetStream's `Nats-Msg-Id`, SQS FIFO's deduplication id); the gateway's window
    /// (`backend::idempotency`) has already answered repeats it remembers.
    pub idempotency_key: String,
}

/// Where a published message was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub partition: i32,
    pub offset: i64,
    /// The scheme's own id of the message where it is not an offset (Pub/Sub's message id);
    /// empty otherwise.
    pub position: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    pub earliest: i64,
    pub latest: i64,
    /// The log's generation (0 = not tracked).
    pub epoch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub topic: String,
    pub partitions: Vec<PartitionInfo>,
}

/// A cumulative commit: everything of the partition below `offset` is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A delivered message, named for a per-message ack or nack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The scheme's own position where it is not an integer.
    pub position: String,
}

// The protocol's messages become these at the edge (dispatch), once.

impl From<pb::CmdKafkaListOffset> for ListOffset {
    fn from(c: pb::CmdKafkaListOffset) -> Self {
        ListOffset {
            topic: c.topic,
            partition: c.partition,
            timestamp: c.timestamp,
        }
    }
}

impl From<&pb::CmdKafkaFetch> for Fetch {
    fn from(c: &pb::CmdKafkaFetch) -> Self {
        Fetch {
            topic: c.topic.clone(),
            partition: c.partition,
            offset: c.offset,
        }
    }
}

impl From<pb::CmdKafkaProduce> for Publish {
    fn from(c: pb::CmdKafkaProduce) -> Self {
        Publish {
            topic: c.topic,
            partition: c.partition,
            key: c.key,
            value: c.value,
            headers: c.headers.into_iter().map(Header::from).collect(),
            timestamp: c.timestamp,
            idempotency_key: c.idempotency_key,
        }
    }
}

impl From<Published> for pb::KafkaProduceResp {
    fn from(p: Published) -> Self {
        pb::KafkaProduceResp {
            partition: p.partition,
            offset: p.offset,
            position: p.position,
        }
    }
}

impl From<TopicMetadata> for pb::KafkaMetadataResp {
    fn from(m: TopicMetadata) -> Self {
        pb::KafkaMetadataResp {
            topic: m.topic,
            partitions: m
                .partitions
                .into_iter()
                .map(|p| pb::KafkaPartitionInfo {
                    partition: p.partition,
                    earliest: p.earliest,
                    latest: p.latest,
                    epoch: p.epoch,
                })
                .collect(),
        }
    }
}

impl From<pb::KafkaPartitionOffset> for CommitOffset {
    fn from(o: pb::KafkaPartitionOffset) -> Self {
        CommitOffset {
            topic: o.topic,
            partition: o.partition,
            offset: o.offset,
        }
    }
}

impl From<pb::MessagePosition> for Position {
    fn from(p: pb::MessagePosition) -> Self {
        Position {
            topic: p.topic,
            partition: p.partition,
            offset: p.offset,
            position: p.position,
        }
    }
}

/// What to subscribe to: a topic, or every topic whose whole name matches a pattern.
#[derive(Debug, Clone)]
pub enum Target {
    Topic(String),
    Pattern(Regex),
}

impl Target {
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Target::Topic(t) => t == topic,
            Target::Pattern(re) => re.is_match(topic),
        }
    }
}

/// Where a partition's delivery starts when the group has no committed offset for it.
/// TIME_DELTA is resolved to a timestamp when the subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Latest,
    Earliest,
    Last,
    Offset(i64),
    Timestamp(i64),
}

/// A validated `CmdKafkaSubscribe`, the same for every backend.
#[derive(Debug, Clone)]
pub struct SubscribeSpec {
    pub target: Target,
    pub partitions: Vec<i32>,
    pub start: Start,
    pub group: Option<String>,
    pub match_headers: Vec<Header>,
    pub max_in_flight: usize,
    /// Set when the connection's identity may read only some topics: pattern subscriptions
    /// (and wildcard subjects) then skip the others.
    pub allowed: Option<Arc<crate::auth::Identity>>,
    /// The epoch the client resumes in (0 = no check): another epoch restarts from the new
    /// log's beginning.
    pub start_epoch: u64,
    /// The scheme's own start position for OFFSET where positions are not integers.
    pub start_position: String,
    /// The start position as the client asked for it (TIME_DELTA is a timestamp in `start`).
    pub start_asked: StartPosition,
    /// The bound and slow-consumer policy of a live subscription's queue (the server's
    /// limits; set by dispatch).
    pub live: crate::config::LiveLimits,
}

/// Memory a compiled `topic_pattern` may take: a client cannot make the gateway build
/// megabytes of automaton.
const PATTERN_SIZE_LIMIT: usize = 256 * 1024;

impl SubscribeSpec {
    /// `max_pattern_bytes` caps the length of `topic_pattern` (`server.limits`).
    pub fn parse(cmd: CmdKafkaSubscribe, max_pattern_bytes: usize) -> Result<SubscribeSpec> {
        let bad = |m: String| GatewayError::BadRequest(m);
        let target = match (cmd.topic.is_empty(), cmd.topic_pattern.is_empty()) {
            // The topic's syntax is the scheme's: dispatch checks it with the backend.
            (false, true) => Target::Topic(cmd.topic),
            (true, false) => {
                if cmd.topic_pattern.len() > max_pattern_bytes {
                    return Err(bad(format!(
                        "topic_pattern is {} bytes, over the limit of {max_pattern_bytes}",
                        cmd.topic_pattern.len()
                    )));
                }
                let re = regex::RegexBuilder::new(&format!("^(?:{})$", cmd.topic_pattern))
                    .size_limit(PATTERN_SIZE_LIMIT)
                    .dfa_size_limit(PATTERN_SIZE_LIMIT)
                    .build()
                    .map_err(|e| bad(format!("invalid topic_pattern: {e}")))?;
                Target::Pattern(re)
            }
            _ => {
                return Err(bad(
                    "exactly one of topic and topic_pattern must be set".into()
                ))
            }
        };
        if let Some(p) = cmd.partitions.iter().find(|p| **p < 0) {
            return Err(bad(format!("invalid partition {p}")));
        }
        let start_asked = StartPosition::try_from(cmd.start)
            .map_err(|_| bad(format!("unknown start position {}", cmd.start)))?;
        let start = match StartPosition::try_from(cmd.start) {
            Ok(StartPosition::Latest) => Start::Latest,
            Ok(StartPosition::Earliest) => Start::Earliest,
            Ok(StartPosition::Last) => Start::Last,
            Ok(StartPosition::Offset) if cmd.start_value >= 0 => Start::Offset(cmd.start_value),
            Ok(StartPosition::Offset) => {
                return Err(bad(format!("invalid start offset {}", cmd.start_value)))
            }
            Ok(StartPosition::Timestamp) if cmd.start_value >= 0 => {
                Start::Timestamp(cmd.start_value)
            }
            Ok(StartPosition::TimeDelta) if cmd.start_value >= 0 => {
                Start::Timestamp(now_ms().saturating_sub(cmd.start_value))
            }
            Ok(StartPosition::Timestamp | StartPosition::TimeDelta) => {
                return Err(bad(format!("invalid start_value {}", cmd.start_value)))
            }
            Err(_) => return Err(bad(format!("unknown start position {}", cmd.start))),
        };
        if cmd.start_position.len() > 256 {
            return Err(bad("start_position is longer than 256 bytes".into()));
        }
        if cmd.max_in_flight < 0 {
            return Err(bad("max_in_flight must not be negative".into()));
        }
        let mut partitions = cmd.partitions;
        partitions.sort_unstable();
        partitions.dedup();
        Ok(SubscribeSpec {
            target,
            partitions,
            start,
            group: Some(cmd.group).filter(|g| !g.is_empty()),
            match_headers: cmd.match_headers.into_iter().map(Header::from).collect(),
            max_in_flight: cmd.max_in_flight as usize,
            allowed: None,
            start_epoch: cmd.start_epoch,
            start_position: cmd.start_position,
            start_asked,
            live: Default::default(),
        })
    }

    /// Whether a topic belongs to this subscription (its target, and the identity's ACL).
    pub fn matches_topic(&self, topic: &str) -> bool {
        self.target.matches(topic) && self.allowed.as_ref().is_none_or(|id| id.can_read(topic))
    }

    pub fn wants_partition(&self, p: i32) -> bool {
        self.partitions.is_empty() || self.partitions.binary_search(&p).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_spec_needs_exactly_one_target() {
        let both = CmdKafkaSubscribe {
            topic: "a".into(),
            topic_pattern: "b.*".into(),
            ..Default::default()
        };
        assert!(SubscribeSpec::parse(both, 1024).is_err());
        assert!(SubscribeSpec::parse(CmdKafkaSubscribe::default(), 1024).is_err());
    }

    #[test]
    fn topic_pattern_matches_whole_names_only() {
        let spec = SubscribeSpec::parse(
            CmdKafkaSubscribe {
                topic_pattern: "orders-.*".into(),
                ..Default::default()
            },
            1024,
        )
        .unwrap();
        assert!(spec.target.matches("orders-eu"));
        assert!(!spec.target.matches("old-orders-eu"));
    }
}
