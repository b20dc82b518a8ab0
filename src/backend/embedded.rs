//! An in-process broker with Kafka's semantics: topics of partitions, each an append-only log
//! with offsets from 0 and CreateTime timestamps, bounded retention that moves the earliest
//! offset forward, consumer groups that split partitions between members and keep committed
//! offsets. Memory is bounded by retention times `max_topics` (clients cannot create more).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
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
use crate::pb::{
    CmdKafkaFetch, CmdKafkaListOffset, CmdKafkaProduce, KafkaMetadataResp, KafkaPartitionInfo,
    KafkaPartitionOffset, KafkaProduceResp,
};

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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the broker down with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct EmbeddedBackend {
    broker: Arc<Broker>,
}

impl EmbeddedBackend {
    pub fn new(opts: EmbeddedOptions) -> EmbeddedBackend {
        EmbeddedBackend {
            broker: Arc::new(Broker {
                opts,
                topics: RwLock::new(HashMap::new()),
                topics_changed: watch::Sender::new(0),
                groups: Mutex::new(HashMap::new()),
                next_member: AtomicU64::new(1),
                spread: AtomicU32::new(0),
            }),
        }
    }
}

struct Broker {
    opts: EmbeddedOptions,
    topics: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
    /// Bumped on every topic creation, so pattern subscriptions and groups look again.
    topics_changed: watch::Sender<u64>,
    groups: Mutex<HashMap<String, Arc<Group>>>,
    next_member: AtomicU64,
    /// Round-robin counter for messages without key or partition.
    spread: AtomicU32,
}

struct Topic {
    name: Arc<str>,
    partitions: Vec<Arc<Partition>>,
}

struct Partition {
    log: Mutex<Log>,
    /// Subscriptions and long-polling fetches waiting for the next message.
    waiters: Mutex<Vec<Weak<Notify>>>,
}

struct Log {
    /// Offset of `records[0]`: the earliest retained offset.
    start: i64,
    records: VecDeque<Arc<Record>>,
    bytes: usize,
}

impl Log {
    fn end(&self) -> i64 {
        self.start + self.records.len() as i64
    }

    fn check(&self, offset: i64) -> Result<()> {
        if offset < self.start || offset > self.end() {
            return Err(GatewayError::OffsetOutOfRange {
                offset,
                earliest: self.start,
                end: self.end(),
            });
        }
        Ok(())
    }

    /// Records from `from` (within range), at least one if any exists, then within the bounds.
    fn read(&self, from: i64, max_messages: usize, max_bytes: usize) -> Vec<Arc<Record>> {
        let skip = (from - self.start).max(0) as usize;
        let mut out = Vec::new();
        let mut bytes = 0;
        for r in self.records.iter().skip(skip).take(max_messages) {
            if !out.is_empty() && bytes + r.size() > max_bytes {
                break;
            }
            bytes += r.size();
            out.push(r.clone());
        }
        out
    }

    /// The first offset whose timestamp is at or after `ts`: Kafka's ListOffsets by time.
    fn offset_for_timestamp(&self, ts: i64) -> Option<i64> {
        self.records
            .iter()
            .find(|r| r.timestamp >= ts)
            .map(|r| r.offset)
    }

    fn resolve(&self, start: Start) -> i64 {
        match start {
            Start::Latest => self.end(),
            Start::Earliest => self.start,
            Start::Last => (self.end() - 1).max(self.start),
            Start::Offset(o) => o.clamp(self.start, self.end()),
            Start::Timestamp(ts) => self.offset_for_timestamp(ts).unwrap_or(self.end()),
        }
    }
}

impl Partition {
    fn new() -> Partition {
        Partition {
            log: Mutex::new(Log {
                start: 0,
                records: VecDeque::new(),
                bytes: 0,
            }),
            waiters: Mutex::new(Vec::new()),
        }
    }

    fn watch(&self, waker: &Arc<Notify>) {
        let mut waiters = lock(&self.waiters);
        waiters.retain(|w| w.strong_count() > 0);
        if !waiters.iter().any(|w| w.as_ptr() == Arc::as_ptr(waker)) {
            waiters.push(Arc::downgrade(waker));
        }
    }

    fn wake(&self) {
        lock(&self.waiters).retain(|w| match w.upgrade() {
            Some(n) => {
                n.notify_one();
                true
            }
            None => false,
        });
    }
}

impl Broker {
    fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    fn topic_or_create(&self, name: &str) -> Result<Arc<Topic>> {
        if let Some(t) = self.topic(name) {
            return Ok(t);
        }
        validate_topic(name)?;
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = topics.get(name) {
            return Ok(t.clone());
        }
        if topics.len() >= self.opts.max_topics {
            return Err(GatewayError::Overloaded(format!(
                "topic limit reached ({} topics)",
                self.opts.max_topics
            )));
        }
        let name: Arc<str> = Arc::from(name);
        let topic = Arc::new(Topic {
            name: name.clone(),
            partitions: (0..self.opts.partitions)
                .map(|_| Arc::new(Partition::new()))
                .collect(),
        });
        topics.insert(name, topic.clone());
        drop(topics);
        self.topics_changed.send_modify(|g| *g += 1);
        Ok(topic)
    }

    fn partition(&self, topic: &str, partition: i32) -> Result<(Arc<Topic>, Arc<Partition>)> {
        let t = self
            .topic(topic)
            .ok_or(GatewayError::UnknownTopicOrPartition)?;
        let p = usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get(i))
            .cloned()
            .ok_or(GatewayError::UnknownTopicOrPartition)?;
        Ok((t, p))
    }

    /// Every (topic, partition) the subscription asks for, as the topics stand now.
    fn matching(&self, spec: &SubscribeSpec) -> BTreeSet<Tp> {
        let topics = self.topics.read().unwrap_or_else(|e| e.into_inner());
        let mut out = BTreeSet::new();
        let mut add = |t: &Topic| {
            for p in 0..t.partitions.len() as i32 {
                if spec.wants_partition(p) {
                    out.insert((t.name.clone(), p));
                }
            }
        };
        match &spec.target {
            Target::Topic(name) => {
                if let Some(t) = topics.get(name.as_str()) {
                    add(t)
                }
            }
            Target::Pattern(_) => {
                for t in topics.values().filter(|t| spec.matches_topic(&t.name)) {
                    add(t)
                }
            }
        }
        out
    }

    fn append(&self, topic: &Topic, partition: i32, req: CmdKafkaProduce) -> Result<i64> {
        let p = usize::try_from(partition)
            .ok()
            .and_then(|i| topic.partitions.get(i))
            .ok_or(GatewayError::UnknownTopicOrPartition)?;
        let timestamp = if req.timestamp > 0 {
            req.timestamp
        } else {
            now_ms()
        };
        let offset = {
            let mut log = lock(&p.log);
            let offset = log.end();
            let rec = Arc::new(Record::new(
                topic.name.clone(),
                partition,
                offset,
                timestamp,
                req.key,
                req.value,
                req.headers,
            ));
            log.bytes += retained_size(&rec);
            log.records.push_back(rec);
            // Retention: the newest message always stays, so a produce is never lost at once.
            while log.records.len() > 1
                && (log.records.len() > self.opts.retention_messages
                    || log.bytes > self.opts.retention_bytes)
            {
                if let Some(old) = log.records.pop_front() {
                    log.bytes -= retained_size(&old);
                    log.start += 1;
                }
            }
            offset
        };
        p.wake();
        Ok(offset)
    }

    /// Adds a member to a group, creating the group if needed. Under the groups' lock, so a
    /// sweep never drops a group someone is joining.
    fn join_group(&self, name: &str, id: u64, spec: SubscribeSpec) -> Result<Arc<Group>> {
        let mut groups = lock(&self.groups);
        let idle = Duration::from_secs(self.opts.group_idle_secs);
        // Groups nobody has been in for a while and that hold no commits keep no state worth
        // keeping; they would otherwise fill `max_groups` for good.
        groups.retain(|_, g| {
            let st = lock(&g.state);
            !(st.members.is_empty()
                && st.committed.is_empty()
                && st.idle_since.is_some_and(|t| t.elapsed() >= idle))
        });
        let group = match groups.get(name) {
            Some(g) => g.clone(),
            None => {
                let g = self.new_group(groups.len())?;
                groups.insert(name.to_owned(), g.clone());
                g
            }
        };
        {
            let mut st = lock(&group.state);
            st.members.insert(id, spec);
            st.idle_since = None;
        }
        Ok(group)
    }

    fn new_group(&self, count: usize) -> Result<Arc<Group>> {
        if count >= self.opts.max_groups {
            return Err(GatewayError::Overloaded(format!(
                "group limit reached ({} groups)",
                self.opts.max_groups
            )));
        }
        Ok(Arc::new(Group {
            state: Mutex::new(GroupState::default()),
            generation: watch::Sender::new(0),
        }))
    }
}

/// A consumer group: partitions are split between the members interested in them, and
/// committed offsets outlive the members (as Kafka keeps them).
struct Group {
    state: Mutex<GroupState>,
    /// Bumped when the assignment changes; members then re-read theirs.
    generation: watch::Sender<u64>,
}

#[derive(Default)]
struct GroupState {
    members: BTreeMap<u64, SubscribeSpec>,
    assignment: HashMap<u64, BTreeSet<Tp>>,
    committed: HashMap<Tp, i64>,
    /// Since when the group has had no members.
    idle_since: Option<std::time::Instant>,
}

impl Group {
    /// Recomputes the assignment: each partition goes to the interested member with the fewest
    /// partitions so far (lowest id on ties), which is balanced and deterministic.
    fn rebalance(&self, broker: &Broker) {
        let mut st = lock(&self.state);
        let mut wanted: BTreeMap<Tp, Vec<u64>> = BTreeMap::new();
        for (id, spec) in &st.members {
            for tp in broker.matching(spec) {
                wanted.entry(tp).or_default().push(*id);
            }
        }
        let mut next: HashMap<u64, BTreeSet<Tp>> =
            st.members.keys().map(|id| (*id, BTreeSet::new())).collect();
        for (tp, candidates) in wanted {
            let chosen = candidates
                .iter()
                .min_by_key(|id| (next.get(id).map_or(0, BTreeSet::len), **id))
                .copied();
            if let Some(id) = chosen {
                next.entry(id).or_default().insert(tp);
            }
        }
        if next != st.assignment {
            st.assignment = next;
            drop(st);
            self.generation.send_modify(|g| *g += 1);
        }
    }

    fn assigned(&self, member: u64) -> BTreeSet<Tp> {
        lock(&self.state)
            .assignment
            .get(&member)
            .cloned()
            .unwrap_or_default()
    }

    fn committed(&self, tp: &Tp) -> Option<i64> {
        lock(&self.state).committed.get(tp).copied()
    }
}

/// Leaves the group when the subscription's task ends, however it ends.
struct Membership {
    group: Arc<Group>,
    id: u64,
    broker: Arc<Broker>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        {
            let mut st = lock(&self.group.state);
            st.members.remove(&self.id);
            st.assignment.remove(&self.id);
            if st.members.is_empty() {
                st.idle_since = Some(std::time::Instant::now());
            }
        }
        self.group.rebalance(&self.broker);
    }
}

#[async_trait]
impl Backend for EmbeddedBackend {
    async fn list_offset(&self, req: &CmdKafkaListOffset) -> Result<i64> {
        let (_, p) = self.broker.partition(&req.topic, req.partition)?;
        let log = lock(&p.log);
        Ok(match req.timestamp {
            -1 => log.end(),
            -2 => log.start,
            ts => log.offset_for_timestamp(ts).unwrap_or(-1),
        })
    }

    async fn fetch(&self, req: &CmdKafkaFetch, limits: FetchLimits) -> Result<Vec<Arc<Record>>> {
        let (_, p) = self.broker.partition(&req.topic, req.partition)?;
        let deadline = tokio::time::Instant::now() + limits.max_wait;
        let waker = Arc::new(Notify::new());
        loop {
            {
                let log = lock(&p.log);
                log.check(req.offset)?;
                if req.offset < log.end() || limits.max_wait.is_zero() {
                    return Ok(log.read(req.offset, limits.max_messages, limits.max_bytes));
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

    async fn produce(&self, req: CmdKafkaProduce) -> Result<KafkaProduceResp> {
        // A partition a new topic would not have is refused before the topic is created.
        let known = self.broker.topic(&req.topic).is_some();
        if !known
            && req
                .partition
                .is_some_and(|p| p < 0 || p >= self.broker.opts.partitions)
        {
            return Err(GatewayError::UnknownTopicOrPartition);
        }
        let topic = self.broker.topic_or_create(&req.topic)?;
        let count = topic.partitions.len() as i32;
        let partition = match req.partition {
            Some(p) if (0..count).contains(&p) => p,
            Some(_) => return Err(GatewayError::UnknownTopicOrPartition),
            None if !req.key.is_empty() => partition_for_key(&req.key, count),
            None => (self.broker.spread.fetch_add(1, Ordering::Relaxed) % count as u32) as i32,
        };
        let offset = self.broker.append(&topic, partition, req)?;
        Ok(KafkaProduceResp { partition, offset })
    }

    async fn metadata(&self, topic: &str) -> Result<KafkaMetadataResp> {
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
                KafkaPartitionInfo {
                    partition: i as i32,
                    earliest: log.start,
                    latest: log.end(),
                }
            })
            .collect();
        Ok(KafkaMetadataResp {
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
        if let Target::Topic(name) = &spec.target {
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
        let mut delivery = Delivery {
            broker: broker.clone(),
            topics_rx: broker.topics_changed.subscribe(),
            generation_rx: membership.as_ref().map(|m| m.group.generation.subscribe()),
            membership,
            spec,
            sink: sink.clone(),
            waker: Arc::new(Notify::new()),
            cursors: BTreeMap::new(),
            origin: HashMap::new(),
            _task: super::TaskGauge::new(),
        };
        // Positions are fixed before the reply, so a message produced after the client sees the
        // subscribe reply is delivered even with LATEST.
        delivery.refresh(true)?;
        let cancel = CancellationToken::new();
        tokio::spawn(delivery.run(cancel.clone()));
        Ok(Arc::new(EmbeddedSubscription {
            broker: broker.clone(),
            group,
            sink,
            cancel,
        }))
    }
}

struct EmbeddedSubscription {
    broker: Arc<Broker>,
    /// The group and this member's id in it.
    group: Option<(Arc<Group>, u64)>,
    sink: PushSink,
    cancel: CancellationToken,
}

#[async_trait]
impl Subscription for EmbeddedSubscription {
    /// All or nothing: every offset is checked before any is committed.
    async fn commit(&self, offsets: Vec<KafkaPartitionOffset>) -> Result<()> {
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
            let mut st = lock(&g.state);
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
            st.committed.extend(checked);
        }
        for o in &offsets {
            self.sink.flow.ack(&o.topic, o.partition, o.offset);
        }
        Ok(())
    }

    fn close(&self) {
        self.cancel.cancel();
    }
}

impl Drop for EmbeddedSubscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// One subscription's delivery loop: a cursor per assigned partition, reading the logs and
/// pushing batches, waiting on the partitions' wakers when caught up.
struct Delivery {
    broker: Arc<Broker>,
    membership: Option<Membership>,
    topics_rx: watch::Receiver<u64>,
    generation_rx: Option<watch::Receiver<u64>>,
    spec: SubscribeSpec,
    sink: PushSink,
    waker: Arc<Notify>,
    cursors: BTreeMap<Tp, (Arc<Partition>, i64)>,
    /// LATEST and LAST resolved when the subscription started, for every partition it matched
    /// then: a group member given one of them later starts there, not at the log's start.
    origin: HashMap<Tp, i64>,
    _task: super::TaskGauge,
}

impl Delivery {
    /// Brings the cursors in line with what the subscription (or the group) assigns now.
    /// Partitions of topics found after the start begin at their earliest offset for LATEST and
    /// LAST, since every message in them is newer than the subscription; partitions that
    /// existed at the start begin where LATEST or LAST pointed then.
    fn refresh(&mut self, initial: bool) -> Result<()> {
        self.topics_rx.borrow_and_update();
        if let Some(rx) = &mut self.generation_rx {
            rx.borrow_and_update();
        }
        if initial && matches!(self.spec.start, Start::Latest | Start::Last) {
            for tp in self.broker.matching(&self.spec) {
                if let Ok((_, part)) = self.broker.partition(&tp.0, tp.1) {
                    let at = lock(&part.log).resolve(self.spec.start);
                    self.origin.insert(tp, at);
                }
            }
        }
        let want = match &self.membership {
            Some(m) => m.group.assigned(m.id),
            None => self.broker.matching(&self.spec),
        };
        let flow = &self.sink.flow;
        self.cursors.retain(|tp, _| {
            let keep = want.contains(tp);
            if !keep {
                // Its unacknowledged pushes can no longer be committed here.
                flow.forget(&tp.0, tp.1);
            }
            keep
        });
        for tp in want {
            if self.cursors.contains_key(&tp) {
                continue;
            }
            let Ok((_, part)) = self.broker.partition(&tp.0, tp.1) else {
                continue;
            };
            let committed = self
                .membership
                .as_ref()
                .and_then(|m| m.group.committed(&tp));
            let offset = {
                let log = lock(&part.log);
                match (committed, self.spec.start) {
                    (Some(c), _) if c >= log.start && c <= log.end() => c,
                    (_, Start::Offset(o)) if initial && committed.is_none() => {
                        log.check(o)?;
                        o
                    }
                    (_, Start::Latest | Start::Last) if !initial => self
                        .origin
                        .get(&tp)
                        .map_or(log.start, |o| (*o).clamp(log.start, log.end())),
                    (_, start) => log.resolve(start),
                }
            };
            part.watch(&self.waker);
            self.cursors.insert(tp, (part, offset));
        }
        Ok(())
    }

    async fn run(mut self, cancel: CancellationToken) {
        loop {
            if cancel.is_cancelled() || self.sink.is_closed() {
                return;
            }
            // A rebalance may have taken partitions away: drop them before reading, or a message
            // woken for here could go out from both this member and its new owner.
            if self
                .generation_rx
                .as_ref()
                .is_some_and(|rx| rx.has_changed().unwrap_or(false))
            {
                let _ = self.refresh(false);
            }
            let room = self.sink.flow.room();
            let mut pushed = false;
            if room > 0 {
                // A push waits for room in the connection's queue: it must not outlive the
                // subscription (a client that stopped reading, then vanished).
                let delivered = tokio::select! {
                    _ = cancel.cancelled() => return,
                    d = self.deliver(room) => d,
                };
                match delivered {
                    Ok(p) => pushed = p,
                    Err(_) => return,
                }
            }
            if pushed {
                continue;
            }
            let generation = async {
                match &mut self.generation_rx {
                    Some(rx) => rx.changed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.waker.notified() => {}
                changed = self.topics_rx.changed() => {
                    if changed.is_err() { return; }
                    if let Some(m) = &self.membership { m.group.rebalance(&self.broker); }
                    let _ = self.refresh(false);
                }
                changed = generation => {
                    if changed.is_err() { return; }
                    let _ = self.refresh(false);
                }
                _ = self.sink.flow.acked(), if room == 0 => {}
                // The connection may go away while nothing is produced.
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    }

    /// One batch per partition with news; whether anything was read.
    async fn deliver(&mut self, mut room: usize) -> Result<bool, super::SinkClosed> {
        let mut any = false;
        for (part, cursor) in self.cursors.values_mut() {
            if room == 0 {
                break;
            }
            let batch = {
                let log = lock(&part.log);
                // Retention overtook a slow subscription: continue from the earliest kept.
                *cursor = (*cursor).max(log.start);
                log.read(*cursor, room.min(PUSH_BATCH_MESSAGES), PUSH_BATCH_BYTES)
            };
            // A rebalance while this member was busy (say, pushing to a slow connection) may have
            // given the partition away: refresh before delivering anything more. Checked after
            // the read, so a message read here that its new owner will deliver is never pushed.
            if self
                .generation_rx
                .as_ref()
                .is_some_and(|rx| rx.has_changed().unwrap_or(false))
            {
                return Ok(true);
            }
            let Some(last) = batch.last() else { continue };
            *cursor = last.offset + 1;
            any = true;
            let batch: Vec<_> = if self.spec.match_headers.is_empty() {
                batch
            } else {
                batch
                    .into_iter()
                    .filter(|r| r.matches_headers(&self.spec.match_headers))
                    .collect()
            };
            room = room.saturating_sub(batch.len());
            self.sink.push(&batch).await?;
        }
        Ok(any)
    }
}
