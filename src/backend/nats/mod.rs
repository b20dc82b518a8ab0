//! The NATS scheme, over async-nats: core NATS (no history) and JetStream (a stream's log).
//!
//! - `client`: the one connection of the upstream, shared by every client of the route;
//! - `core`: publish with headers, and subscriptions: one NATS subscription per subject fanned
//!   out to every gateway subscriber of it, or a queue subscription per group member;
//! - `jetstream`: streams, publish with PubAck, fetch, list_offset, metadata;
//! - `consumers`: JetStream subscriptions: a durable consumer shared by a group's members,
//!   per-message ack and nack;
//! - `dead`: dead letters of groups, counted by the gateway from JetStream's delivery count;
//! - `reader`: ordered reading of a stream from a sequence (an ephemeral consumer made again
//!   from where it was when lost, or from the beginning of a stream made again);
//! - `shared`: what a JetStream subscription's tasks share (spec, sink, in-flight messages);
//! - `tail`: plain JetStream subscriptions of one subject share one ordered reader.
//!
//! A topic is a subject; there is one partition (0); on JetStream an offset is the stream
//! sequence and the epoch is the stream's creation time.

mod client;
mod consumers;
mod core;
mod dead;
mod jetstream;
mod reader;
mod shared;
mod tail;

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    Backend, Capabilities, FetchLimits, PushSink, Record, SubscribeSpec, Subscription, Target,
    TopicUse, Wildcards, ALL_STARTS,
};
use super::{Fetch, ListOffset, Publish, Published, TopicMetadata};
use crate::config::{NatsOptions, Route};
use crate::error::{GatewayError, Result};
use crate::pb::StartPosition;

const CORE: Capabilities = Capabilities {
    description: std::borrow::Cow::Borrowed("core NATS"),
    history: false,
    starts: &[StartPosition::Latest],
    fetch: false,
    time_lookup: false,
    offsets: false,
    groups: true,
    ack: false,
    nack: false,
    commit: false,
    wildcards: Wildcards::Nats,
    headers: true,
    keys: false,
    partitions: false,
    string_positions: false,
    epochs: false,
};

const JETSTREAM: Capabilities = Capabilities {
    description: std::borrow::Cow::Borrowed("NATS JetStream"),
    history: true,
    starts: ALL_STARTS,
    fetch: true,
    time_lookup: true,
    offsets: true,
    groups: true,
    ack: true,
    nack: true,
    commit: false,
    wildcards: Wildcards::Nats,
    headers: true,
    keys: false,
    partitions: false,
    string_positions: false,
    epochs: true,
};

pub struct NatsBackend {
    conn: Arc<client::Conn>,
    core: Arc<core::Hub>,
    /// Set on JetStream routes.
    js: Option<Arc<jetstream::Js>>,
    caps: Capabilities,
}

impl NatsBackend {
    pub fn new(route: &Route, opts: NatsOptions) -> std::result::Result<NatsBackend, String> {
        let conn = Arc::new(client::Conn::new(route)?);
        let (js, caps) = if opts.is_jetstream() {
            let description = match &opts.stream {
                Some(s) => std::borrow::Cow::Owned(format!("NATS JetStream stream {s}")),
                None => std::borrow::Cow::Borrowed("NATS JetStream"),
            };
            (
                Some(Arc::new(jetstream::Js::new(
                    conn.clone(),
                    opts,
                    route.delivery.clone(),
                ))),
                Capabilities {
                    description,
                    ..JETSTREAM
                },
            )
        } else {
            (None, CORE)
        };
        Ok(NatsBackend {
            core: Arc::new(core::Hub::new(conn.clone(), &route.uri)),
            conn,
            js,
            caps,
        })
    }

    fn js(&self) -> Result<&Arc<jetstream::Js>> {
        // Dispatch checks capabilities first; this is the core route's answer all the same.
        self.js.as_ref().ok_or(GatewayError::UnknownCommand)
    }
}

/// NATS subject syntax: dot-separated non-empty tokens, no whitespace or NUL; `*` (one token)
/// and `>` (the rest, last token only) only when subscribing. Subjects starting with `$` (the
/// JetStream and system APIs) or `_INBOX.` (replies) are not for gateway clients.
pub fn validate_subject(subject: &str, usage: TopicUse) -> Result<()> {
    let bad = |why: &str| {
        Err(GatewayError::BadRequest(format!(
            "invalid NATS subject `{}`: {why}",
            subject.escape_debug()
        )))
    };
    if subject.is_empty() || subject.len() > 1024 {
        return bad("1 to 1024 bytes");
    }
    if subject.chars().any(|c| c.is_whitespace() || c == '\0') {
        return bad("no spaces, tabs, line breaks or NUL");
    }
    if subject.starts_with('$') || subject == "_INBOX" || subject.starts_with("_INBOX.") {
        return bad("`$...` and `_INBOX.` subjects are reserved for the NATS APIs");
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    if tokens.iter().any(|t| t.is_empty()) {
        return bad("empty token (leading, trailing or double `.`)");
    }
    for (i, t) in tokens.iter().enumerate() {
        if !t.contains(['*', '>']) {
            continue;
        }
        if usage != TopicUse::Subscribe {
            return bad("wildcards `*` and `>` are only for subscribing");
        }
        match *t {
            "*" => {}
            ">" if i == tokens.len() - 1 => {}
            ">" => return bad("`>` must be the last token"),
            _ => return bad("`*` and `>` must be whole tokens"),
        }
    }
    Ok(())
}

/// Whether a subject matches a NATS subject filter (`*`, `>`).
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Subjects gateway subscribers never see, even through a `>` subscription.
fn reserved(subject: &str) -> bool {
    subject.starts_with('$') || subject.starts_with("_INBOX.")
}

fn only_partition_zero(partition: i32) -> Result<()> {
    if partition != 0 {
        return Err(GatewayError::UnknownTopicOrPartition.context(format!(
            "NATS subjects have one partition (0), not {partition}"
        )));
    }
    Ok(())
}

#[async_trait]
impl Backend for NatsBackend {
    fn scheme(&self) -> &'static str {
        if self.js.is_some() {
            "nats-jetstream"
        } else {
            "nats"
        }
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate_topic(&self, topic: &str, usage: TopicUse) -> Result<()> {
        validate_subject(topic, usage)
    }

    async fn list_offset(&self, req: &ListOffset) -> Result<i64> {
        only_partition_zero(req.partition)?;
        self.js()?.list_offset(&req.topic, req.timestamp).await
    }

    async fn fetch(&self, req: &Fetch, limits: FetchLimits) -> Result<Vec<Arc<Record>>> {
        only_partition_zero(req.partition)?;
        self.js()?.fetch(&req.topic, req.offset, limits).await
    }

    async fn produce(&self, req: Publish) -> Result<Published> {
        match &self.js {
            Some(js) => js.publish(req).await,
            None => self.core.publish(req).await,
        }
    }

    async fn metadata(&self, topic: &str) -> Result<TopicMetadata> {
        self.js()?.metadata(topic).await
    }

    async fn subscribe(
        &self,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        let Target::Topic(subject) = spec.target.clone() else {
            return Err(GatewayError::BadRequest(
                "NATS routes take wildcard subjects in topic (`*`, `>`), not topic_pattern".into(),
            ));
        };
        match &self.js {
            Some(js) => consumers::subscribe(js.clone(), subject, spec, sink).await,
            None => self.core.subscribe(subject, spec, sink).await,
        }
    }

    async fn ready(&self) -> Result<()> {
        self.conn.client().await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_nats_rules() {
        for ok in ["a", "a.b.c", "game.room.42", "a-b_c.D"] {
            assert!(validate_subject(ok, TopicUse::Publish).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a..b",
            ".a",
            "a.",
            "a b",
            "a\0b",
            "a.*",
            "a.>",
            "$JS.API.X",
            "_INBOX.x",
        ] {
            assert!(validate_subject(bad, TopicUse::Publish).is_err(), "{bad:?}");
        }
        for ok in ["a.*", "a.>", "*.b.*", ">"] {
            assert!(validate_subject(ok, TopicUse::Subscribe).is_ok(), "{ok}");
        }
        for bad in ["a.>.b", "a*", "a.b>", "a..*"] {
            assert!(validate_subject(bad, TopicUse::Subscribe).is_err(), "{bad}");
        }
        assert!(validate_subject("a.*", TopicUse::Read).is_err());
    }

    #[test]
    fn filters_match_like_nats() {
        assert!(subject_matches("a.*", "a.b"));
        assert!(!subject_matches("a.*", "a.b.c"));
        assert!(subject_matches("a.>", "a.b.c"));
        assert!(!subject_matches("a.>", "a"));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.c"));
        assert!(subject_matches(">", "x.y"));
    }
}
