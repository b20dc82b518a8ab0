//! An in-process broker with Kafka's semantics: topics of partitions, each an append-only log
//! with offsets from 0 and CreateTime timestamps, bounded retention that moves the earliest
//! offset forward, consumer groups that split partitions between members and keep committed
//! offsets. Memory is bounded by retention times `max_topics` (clients cannot create more).
//!
//! Files by job: `log` (partitions and their logs), `broker` (topics, appends, groups' registry),
//! `groups` (assignment and commits), `acks` (per-message ack and nack in groups), `dead` (their dead
//! letters), `delivery` (a subscription's loop), `fanout` (one shared reader per topic for plain
//! subscriptions), `durable` (the broker opened from and kept in its
//! `storage` directory), `storage/` (segment files, recovery, the sync thread), this file (the
//! backend and its subscriptions).

mod acks;
mod broker;
mod dead;
mod delivery;
mod durable;
mod fanout;
mod groups;
mod log;
mod storage;
#[cfg(test)]
mod tests;

use acks::Settle;
use broker::*;
use delivery::*;
use groups::*;
use log::*;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::{
    now_ms, partition_for_key, validate_topic, Backend, FetchLimits, PushSink, Record, Start,
    SubscribeSpec, Subscription, Target,
};
use crate::config::EmbeddedOptions;
use crate::error::{GatewayError, Result};

/// What a retained record costs in memory beyond its encoded bytes (the `Record`, its `Arc`,
/// the decoded headers' vector and the log's slot), so `retention_bytes` bounds real memory.
const RECORD_OVERHEAD: usize = 192;

fn retained_size(r: &Record) -> usize {
    r.size() + RECORD_OVERHEAD
}

/// Messages one push frame carries at most.
const PUSH_BATCH_MESSAGES: usize = 256;
const PUSH_BATCH_BYTES: usize = 256 * 1024;

type Tp = (Arc<str>, i32);

use crate::backend::lock;

pub struct EmbeddedBackend {
    broker: Arc<Broker>,
    /// The route's delivery policy, run by the gateway for the broker's groups.
    policy: Arc<crate::config::DeliveryPolicy>,
}

impl EmbeddedBackend {
    pub fn new(opts: EmbeddedOptions) -> EmbeddedBackend {
        EmbeddedBackend {
            broker: Arc::new(Broker {
                opts,
                topics: RwLock::new(TopicMap::default()),
                topics_changed: watch::Sender::new(0),
                groups: Mutex::new(HashMap::new()),
                fans: fanout::Fans::default(),
                next_member: AtomicU64::new(1),
                spread: AtomicU32::new(0),
                store: None,
            }),
            policy: Arc::default(),
        }
    }

    /// The route's delivery policy for its groups (retries, backoff, dead letters).
    pub fn with_delivery(mut self, policy: crate::config::DeliveryPolicy) -> EmbeddedBackend {
        self.policy = Arc::new(policy);
        self
    }
}

/// Kafka's model, plus epochs: each topic's log is a new generation when it is created (after a
/// restart, every topic is, unless the route keeps its logs in `storage`).
const CAPABILITIES: super::Capabilities = super::Capabilities {
    description: std::borrow::Cow::Borrowed("the embedded broker"),
    epochs: true,
    ack: true,
    nack: true,
    ..super::KAFKA_LIKE
};

#[async_trait]
impl Backend for EmbeddedBackend {
    fn scheme(&self) -> &'static str {
        "embedded"
    }

    fn capabilities(&self) -> &super::Capabilities {
        &CAPABILITIES
    }

    async fn list_offset(&self, req: &super::ListOffset) -> Result<i64> {
        let (_, p) = self.broker.partition(&req.topic, req.partition)?;
        let log = lock(&p.log);
        Ok(match req.timestamp {
            -1 => log.end(),
            -2 => log.start,
            ts => log.offset_for_timestamp(ts).unwrap_or(-1),
        })
    }

    async fn fetch(&self, req: &super::Fetch, limits: FetchLimits) -> Result<Vec<Arc<Record>>> {
        let (_, p) = self.broker.partition(&req.topic, req.partition)?;
        let deadline = tokio::time::Instant::now() + limits.max_wait;
        let waker = Arc::new(Notify::new());
        loop {
            {
                let log = lock(&p.log);
                log.check(req.offset)?;
                if req.offset < log.end() || limits.max_wait.is_zero() {
                    return log.read(req.offset, limits.max_messages, limits.max_bytes);
                }
                // Registered under the log lock: an append after this wakes us.
                p.watch(&waker);
            }
            if tokio::time::timeout_at(deadline, waker.notified())
                .await
                .is_err()
            {
                return Ok(Vec::new());
            }
        }
    }

    async fn produce(&self, req: super::Publish) -> Result<super::Published> {
        self.broker.publish(req).await
    }

    async fn metadata(&self, topic: &str) -> Result<super::TopicMetadata> {
        let t = self
            .broker
            .topic(topic)
            .ok_or(GatewayError::UnknownTopicOrPartition)?;
        let partitions = t
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let log = lock(&p.log);
                super::PartitionInfo {
                    partition: i as i32,
                    earliest: log.start,
                    latest: log.end(),
                    epoch: t.epoch,
                }
            })
            .collect();
        Ok(super::TopicMetadata {
            topic: topic.to_owned(),
            partitions,
        })
    }

    async fn subscribe(
        &self,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        let broker = &self.broker;
        let mut spec = spec;
        if let Target::Topic(name) = &spec.target {
            // A resume into another generation of the log starts over at its beginning (a topic
            // not made yet will be a new generation too), and the client is told.
            if spec.start_epoch != 0
                && broker
                    .topic(name)
                    .is_none_or(|t| t.epoch != spec.start_epoch)
            {
                spec.start = Start::Earliest;
                sink.mark_reset();
            }
            // Only publishing creates topics: a subscription to a topic nobody has published to
            // yet waits for it (a room subscribed before anyone speaks), and a typo costs nothing.
            // The partitions it asks for must exist, or be ones a new topic will have.
            let count = broker
                .topic(name)
                .map_or(broker.opts.partitions as usize, |t| t.partitions.len());
            if let Some(p) = spec.partitions.iter().find(|p| **p as usize >= count) {
                tracing::debug!(topic = %name, partition = p, count, "subscribe to a missing partition");
                return Err(GatewayError::UnknownTopicOrPartition);
            }
        }
        // Plain subscriptions to a topic share its reader and cost no task while they keep up.
        if let (Target::Topic(name), None) = (&spec.target, &spec.group) {
            let name = name.clone();
            let fan = fanout::subscribe(broker, &name, spec, sink.clone())?;
            return Ok(Arc::new(EmbeddedSubscription {
                broker: broker.clone(),
                policy: self.policy.clone(),
                group: None,
                sink,
                waker: None,
                delivery: Delivering::Fan(fan),
            }));
        }
        let membership = match &spec.group {
            Some(name) => {
                let id = broker.next_member.fetch_add(1, Ordering::Relaxed);
                let group = broker.join_group(name, id, spec.clone())?;
                let m = Membership {
                    group,
                    id,
                    broker: broker.clone(),
                };
                m.group.rebalance(broker);
                Some(m)
            }
            None => None,
        };
        let group = membership.as_ref().map(|m| (m.group.clone(), m.id));
        let waker = Arc::new(Notify::new());
        let mut delivery = Delivery {
            broker: broker.clone(),
            topics_rx: broker.topics_changed.subscribe(),
            generation_rx: membership.as_ref().map(|m| m.group.generation.subscribe()),
            membership,
            spec: Arc::new(spec),
            policy: self.policy.clone(),
            sink: sink.clone(),
            waker: waker.clone(),
            cursors: BTreeMap::new(),
            origin: HashMap::new(),
            next_due: None,
            _task: super::TaskGauge::new(),
        };
        // Positions are fixed before the reply, so a message produced after the client sees the
        // subscribe reply is delivered even with LATEST.
        delivery.refresh(true)?;
        let cancel = CancellationToken::new();
        tokio::spawn(delivery.run(cancel.clone()));
        Ok(Arc::new(EmbeddedSubscription {
            broker: broker.clone(),
            policy: self.policy.clone(),
            group,
            sink,
            waker: Some(waker),
            delivery: Delivering::Task(cancel),
        }))
    }
}

/// Who delivers a subscription's pushes.
enum Delivering {
    /// A delivery task of its own (groups, patterns), stopped by the token.
    Task(CancellationToken),
    /// The topic's shared reader.
    Fan(fanout::FanSubscription),
}

struct EmbeddedSubscription {
    broker: Arc<Broker>,
    policy: Arc<crate::config::DeliveryPolicy>,
    /// The group and this member's id in it.
    group: Option<(Arc<Group>, u64)>,
    sink: PushSink,
    /// Wakes the delivery task when an ack frees its window or a nack gives a message back.
    waker: Option<Arc<Notify>>,
    delivery: Delivering,
}

impl EmbeddedSubscription {
    /// Acks or nacks, one by one: in a group the member's own deliveries only, and the
    /// committed offset follows the lowest unacknowledged one; on a plain subscription an ack
    /// frees the `max_in_flight` window (nothing is redelivered there, so a nack is refused).
    async fn settle(&self, positions: Vec<super::Position>, how: Settle) -> Result<()> {
        let Some((g, member)) = &self.group else {
            if let Settle::Nack(_) = how {
                return Err(GatewayError::BadRequest(
                    "nack needs a group subscription: a plain one delivers nothing again".into(),
                ));
            }
            for p in &positions {
                self.sink.flow.ack_one(&p.topic, p.partition, p.offset);
            }
            return Ok(());
        };
        let settled = g.settle(*member, &positions, &how, &self.policy)?;
        for p in &positions {
            self.sink.flow.ack_one(&p.topic, p.partition, p.offset);
        }
        let mut moved = settled.moved;
        if !settled.dead.is_empty() {
            moved |= self.broker.dead_letter(&self.policy, g, settled.dead).await;
        }
        if let Some(w) = &self.waker {
            w.notify_one();
        }
        if moved {
            self.broker.persist_groups().await?;
        }
        Ok(())
    }

    fn stop(&self) {
        match &self.delivery {
            Delivering::Task(cancel) => cancel.cancel(),
            Delivering::Fan(fan) => fan.stop(),
        }
    }
}

#[async_trait]
impl Subscription for EmbeddedSubscription {
    /// All or nothing: every offset is checked before any is committed.
    async fn commit(&self, offsets: Vec<super::CommitOffset>) -> Result<()> {
        let mut checked = Vec::with_capacity(offsets.len());
        for o in &offsets {
            let (t, p) = self.broker.partition(&o.topic, o.partition)?;
            let end = lock(&p.log).end();
            if o.offset < 0 || o.offset > end {
                return Err(GatewayError::BadRequest(format!(
                    "commit offset {} of {}/{} is past the end {end}",
                    o.offset, o.topic, o.partition
                )));
            }
            checked.push(((t.name.clone(), o.partition), o.offset));
        }
        if let Some((g, member)) = &self.group {
            let st = lock(&g.state);
            let owned = st.assignment.get(member);
            if let Some(((topic, partition), _)) = checked
                .iter()
                .find(|(tp, _)| !owned.is_some_and(|a| a.contains(tp)))
            {
                // Kafka refuses commits from a member for partitions it does not hold.
                return Err(GatewayError::Conflict(format!(
                    "partition {topic}/{partition} is not assigned to this group member"
                )));
            }
            drop(st);
            // A commit acknowledges every delivery below it (`acks`): mixing the two is defined.
            for (tp, offset) in &checked {
                g.committed_below(tp, *offset);
            }
            lock(&g.state).committed.extend(checked);
        }
        if self.group.is_some() {
            self.broker.persist_groups().await?;
        }
        for o in &offsets {
            self.sink.flow.ack(&o.topic, o.partition, o.offset);
        }
        if let Some(w) = &self.waker {
            w.notify_one();
        }
        Ok(())
    }

    async fn ack(&self, positions: Vec<super::Position>) -> Result<()> {
        self.settle(positions, Settle::Ack).await
    }

    async fn nack(&self, positions: Vec<super::Position>, delay: Duration) -> Result<()> {
        self.settle(positions, Settle::Nack(delay)).await
    }

    fn close(&self) {
        self.stop();
    }
}

impl Drop for EmbeddedSubscription {
    fn drop(&mut self) {
        self.stop();
    }
}
