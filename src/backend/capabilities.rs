//! What each scheme can do, declared once per scheme and checked by dispatch before a backend
//! sees a request.

use crate::pb::StartPosition;

/// What a route's scheme can do (`RouteCapabilities` on the wire). Dispatch checks every request
/// against it before the backend sees it, so a scheme only implements what it declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// How the route names its scheme to clients and in capability errors ("core NATS").
    pub description: std::borrow::Cow<'static, str>,
    pub history: bool,
    pub starts: &'static [StartPosition],
    pub fetch: bool,
    pub time_lookup: bool,
    pub offsets: bool,
    pub groups: bool,
    pub ack: bool,
    pub nack: bool,
    pub commit: bool,
    pub wildcards: Wildcards,
    pub headers: bool,
    pub keys: bool,
    pub partitions: bool,
    pub string_positions: bool,
    pub epochs: bool,
}

/// The wildcard syntax of a scheme's subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wildcards {
    None,
    /// `topic_pattern`: a regular expression over the listable topic set.
    Regex,
    /// In `topic`: `*` one token, `>` the rest.
    Nats,
    /// In `topic`: `*` one word, `#` zero or more.
    Amqp,
    /// In `topic`: `+` one level, `#` the rest.
    Mqtt,
    /// In `topic`: Redis glob patterns.
    Glob,
}

impl Wildcards {
    pub fn as_str(self) -> &'static str {
        match self {
            Wildcards::None => "",
            Wildcards::Regex => "regex",
            Wildcards::Nats => "nats",
            Wildcards::Amqp => "amqp",
            Wildcards::Mqtt => "mqtt",
            Wildcards::Glob => "glob",
        }
    }
}

pub const ALL_STARTS: &[StartPosition] = &[
    StartPosition::Latest,
    StartPosition::Earliest,
    StartPosition::Last,
    StartPosition::Offset,
    StartPosition::Timestamp,
    StartPosition::TimeDelta,
];

/// A Kafka-shaped log: Kafka itself and the embedded broker.
pub const KAFKA_LIKE: Capabilities = Capabilities {
    description: std::borrow::Cow::Borrowed(""),
    history: true,
    starts: ALL_STARTS,
    fetch: true,
    time_lookup: true,
    offsets: true,
    groups: true,
    ack: false,
    nack: false,
    commit: true,
    wildcards: Wildcards::Regex,
    headers: true,
    keys: true,
    partitions: true,
    string_positions: false,
    epochs: false,
};

impl Capabilities {
    pub fn to_pb(&self) -> crate::pb::RouteCapabilities {
        crate::pb::RouteCapabilities {
            history: self.history,
            starts: self.starts.iter().map(|s| *s as i32).collect(),
            fetch: self.fetch,
            time_lookup: self.time_lookup,
            offsets: self.offsets,
            groups: self.groups,
            ack: self.ack,
            nack: self.nack,
            commit: self.commit,
            wildcards: self.wildcards.as_str().into(),
            headers: self.headers,
            keys: self.keys,
            partitions: self.partitions,
            string_positions: self.string_positions,
            epochs: self.epochs,
        }
    }
}

/// What a topic name is used for: schemes allow wildcards only where they subscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicUse {
    Publish,
    Subscribe,
    /// fetch, list_offset, metadata, commit, ack.
    Read,
}
