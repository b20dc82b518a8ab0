//! `cmd_kafka_subscribe`: a push subscription. Its reply is queued before its first push (the
//! subscription's gate opens once it is).

use std::sync::atomic::Ordering;

use super::super::checks::{Checks, Names, Topics};
use super::super::{ctx, Command, Dispatcher, Open, Reply};
use crate::backend::{Capabilities, PushSink, SubscribeSpec, Wildcards};
use crate::codec;
use crate::error::Result;
use crate::metrics::METRICS;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{CmdKafkaSubscribe, KafkaSubscribeResp, StartPosition};

impl Command for CmdKafkaSubscribe {
    fn checks(&self, caps: &Capabilities) -> Checks<'_> {
        let names = Names {
            subscription: None,
            // A topic_pattern is matched against the identity's ACL topic by topic.
            topics: if self.topic.is_empty() {
                Topics::None
            } else {
                Topics::Subscribe(&self.topic)
            },
            group: Some(self.group.as_str()).filter(|g| !g.is_empty()),
        };
        // Every capability a subscribe needs, so no request is silently downgraded. (An
        // unknown start is refused when the request is parsed.)
        let start = StartPosition::try_from(self.start).ok();
        let start_offered = start.is_none_or(|s| caps.starts.contains(&s));
        let start_name = start.map_or("", |s| s.as_str_name());
        let why = if caps.history {
            "a start the route offers"
        } else {
            "history"
        };
        // A window of unacknowledged messages closes with acknowledgements: a group's acks or
        // commits, or a plain subscription's commits of a log it reads.
        let acknowledged = if self.group.is_empty() {
            caps.history
        } else {
            caps.ack || caps.commit
        };
        Checks::of(names)
            .needs(!start_offered, false, format!("start {start_name}"), why)
            .needs(
                !self.topic_pattern.is_empty(),
                caps.wildcards == Wildcards::Regex,
                "topic_pattern",
                "regular-expression patterns",
            )
            .needs(
                !self.group.is_empty(),
                caps.groups,
                "group",
                "consumer groups",
            )
            .needs(
                !self.partitions.is_empty(),
                caps.partitions,
                "partitions",
                "partitions",
            )
            .needs(self.start_epoch != 0, caps.epochs, "start_epoch", "epochs")
            .needs(
                self.max_in_flight > 0,
                acknowledged,
                "max_in_flight",
                "acknowledgements",
            )
            .needs(
                !self.start_position.is_empty(),
                caps.string_positions,
                "start_position",
                "string positions",
            )
    }

    fn context(&self) -> Option<String> {
        Some(if self.topic.is_empty() {
            format!("failed to subscribe, topic_pattern: {}", self.topic_pattern)
        } else {
            format!("failed to subscribe, topic: {}", self.topic)
        })
    }

    async fn run(self, d: &Dispatcher, seq: i64) -> Result<Reply> {
        let context = self.context();
        subscribe(d, seq, self).await.map_err(|e| ctx(e, context))
    }
}

async fn subscribe(d: &Dispatcher, seq: i64, c: CmdKafkaSubscribe) -> Result<Reply> {
    // Counted before the backend is asked, so pipelined subscribes cannot overshoot.
    let _slot = d.reserve_subscription()?;
    let mut spec = SubscribeSpec::parse(c, d.limits.max_topic_pattern_bytes)?;
    let identity = d.identity();
    if identity.restricts_read() {
        // Pattern subscriptions only see the topics this identity may read.
        spec.allowed = Some(identity);
    }
    spec.live = d.limits.live_queue();
    let id = d.next_subscription.fetch_add(1, Ordering::Relaxed);
    let sink = PushSink::new(d.out.clone(), id, seq, spec.max_in_flight);
    let gate = sink.gate();
    let group = spec.group.clone();
    let sub = d.backend.subscribe(spec, sink).await?;
    d.subs().insert(
        id,
        Open {
            sub,
            gate: gate.clone(),
            group,
        },
    );
    METRICS.subscriptions_open.fetch_add(1, Ordering::Relaxed);
    let reply = codec::resp_frame(
        seq,
        Resp::KafkaSubscribeResp(KafkaSubscribeResp {
            subscription_id: id,
        }),
    );
    // Pushes wait behind the gate until the reply is queued, so it always comes first.
    if d.out.send_frame(reply).await.is_ok() {
        gate.open();
    } else if let Some(open) = d.subs().remove(&id) {
        // The connection went away first: nothing would ever open the gate.
        open.close_now();
    }
    Ok(Reply::Sent)
}
