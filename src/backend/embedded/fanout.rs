//! The shared tail of a topic for plain (non-group) subscriptions by topic name: one reader task
//! per topic, whatever the number of subscriptions, reads each partition's new messages once and
//! hands every batch to each attached subscription with `try_push` (the batch encoded once, alike
//! subscriptions sharing one frame), as the Kafka and JetStream tails do. An attached
//! subscription costs no task. One that cannot take a batch now (its connection's queue full,
//! its max_in_flight window used up, its subscribe reply not queued yet) or that starts in the
//! past is detached and catches up alone in a task of its own, reading the log from its first
//! undelivered offset with backpressure, then attaches again once it has reached the reader's
//! position: nothing lost, nothing twice, in offset order, and a slow subscription never holds
//! the others back.

use super::*;
use crate::backend::sink::SharedBatch;
use crate::backend::{SinkClosed, TaskGauge};

/// The fan-outs of the broker's topics, by name; one exists while a subscription uses it.
#[derive(Default)]
pub(super) struct Fans {
    map: Mutex<HashMap<Arc<str>, Arc<Fan>>>,
}

pub(super) struct Fan {
    name: Arc<str>,
    state: Mutex<FanState>,
    /// Registered with every partition of the topic: appends wake the reader.
    waker: Arc<Notify>,
    /// Stops the reader once no subscription uses the fan any more.
    cancel: CancellationToken,
}

#[derive(Default)]
struct FanState {
    /// None until the topic exists (only publishing creates topics).
    topic: Option<Arc<Topic>>,
    /// Per partition of `topic`: the next offset the reader hands out.
    next: Vec<i64>,
    /// Subscriptions the reader delivers to.
    attached: Vec<Member>,
    /// Subscriptions using the fan: attached or catching up.
    users: usize,
}

/// A subscription as the fan delivers to it.
struct Member {
    id: u64,
    sink: PushSink,
    spec: Arc<SubscribeSpec>,
    /// Per partition: the first offset this subscription still needs (`i64::MAX` for the
    /// partitions it does not read); empty while the topic does not exist.
    from: Vec<i64>,
}

impl Fans {
    /// The fan of topic `name`, with one more user (made, with its reader, on first use).
    fn join(&self, broker: &Arc<Broker>, name: &str) -> Arc<Fan> {
        let mut map = lock(&self.map);
        let fan = match map.get(name) {
            Some(f) => f.clone(),
            None => {
                let name: Arc<str> = Arc::from(name);
                let fan = Arc::new(Fan {
                    name: name.clone(),
                    state: Mutex::new(FanState::default()),
                    waker: Arc::new(Notify::new()),
                    cancel: CancellationToken::new(),
                });
                tokio::spawn(read_loop(fan.clone(), broker.clone()));
                map.insert(name, fan.clone());
                fan
            }
        };
        lock(&fan.state).users += 1;
        fan
    }

    /// Gives a use of `fan` back; the last one stops its reader.
    fn leave(&self, fan: &Arc<Fan>) {
        let mut map = lock(&self.map);
        let mut st = lock(&fan.state);
        st.users = st.users.saturating_sub(1);
        if st.users == 0 {
            fan.cancel.cancel();
            if map.get(&fan.name).is_some_and(|f| Arc::ptr_eq(f, fan)) {
                map.remove(&fan.name);
            }
        }
    }
}

/// Where a subscription whose topic appeared after it started begins: LATEST and LAST at the
/// log's start (every message in it is newer than the subscription), the rest as asked.
fn late_start(log: &Log, start: Start) -> i64 {
    match start {
        Start::Latest | Start::Last => log.start,
        s => log.resolve(s),
    }
}

impl Fan {
    /// Takes the topic on once it exists: the positions of the subscriptions that waited for
    /// it are resolved, and the reader starts at the earliest of them (or at the end).
    fn discover(&self, st: &mut FanState, broker: &Broker) {
        if st.topic.is_some() {
            return;
        }
        let Some(topic) = broker.topic(&self.name) else {
            return;
        };
        st.next = topic
            .partitions
            .iter()
            .enumerate()
            .map(|(p, part)| {
                part.watch(&self.waker);
                let log = lock(&part.log);
                let mut next = log.end();
                for m in &mut st.attached {
                    let from = if m.spec.wants_partition(p as i32) {
                        late_start(&log, m.spec.start)
                    } else {
                        i64::MAX
                    };
                    m.from.push(from);
                    next = next.min(from);
                }
                next
            })
            .collect();
        st.topic = Some(topic);
    }

    /// Attaches a subscription whose next offsets are `from` (empty: the topic does not exist
    /// yet) if the reader has handed out nothing it still needs; false = catch up first.
    fn attach(&self, st: &mut FanState, m: Member) -> Result<(), Member> {
        let behind = m.from.iter().zip(&st.next).any(|(f, n)| f < n);
        if behind || m.sink.is_closed() {
            return Err(m);
        }
        st.attached.push(m);
        Ok(())
    }

    /// The reader met a damaged stored record in partition `p`: the attached subscriptions
    /// that still need an offset before the next readable one end with the error (as they
    /// would reading alone), and the reader moves past the damage, so the topic's other
    /// partitions and later subscribers go on. Whether the reader moved.
    fn damaged(&self, p: usize, e: GatewayError) -> bool {
        let resume = match &e {
            GatewayError::CorruptMessage { next, .. } => *next,
            // Not damage (an I/O error): tried again on the next wake-up.
            _ => return false,
        };
        let e = e.context(format!(
            "failed to fetch message, topic: {}, partition: {p}",
            self.name
        ));
        let mut st = lock(&self.state);
        let mut i = 0;
        while i < st.attached.len() {
            if st.attached[i].from.get(p).is_some_and(|f| *f < resume) {
                let m = st.attached.swap_remove(i);
                let e = e.clone();
                tokio::spawn(async move { m.sink.fail(&e).await });
            } else {
                i += 1;
            }
        }
        match st.next.get_mut(p) {
            Some(n) if *n < resume => {
                *n = resume;
                true
            }
            _ => false,
        }
    }

    fn detach(&self, id: u64) {
        let mut st = lock(&self.state);
        if let Some(i) = st.attached.iter().position(|m| m.id == id) {
            st.attached.swap_remove(i);
        }
    }

    /// Hands a batch of partition `p` to every attached subscription.
    fn hand_out(self: &Arc<Self>, broker: &Arc<Broker>, p: usize, batch: &[Arc<Record>]) {
        let Some(last) = batch.last().map(|r| r.offset) else {
            return;
        };
        let mut shared = SharedBatch::new(batch);
        let mut st = lock(&self.state);
        let mut i = 0;
        while i < st.attached.len() {
            let m = &mut st.attached[i];
            let from = m.from.get(p).copied().unwrap_or(i64::MAX);
            if from > last {
                i += 1;
                continue;
            }
            let due = &batch[batch.partition_point(|r| r.offset < from)..];
            let pushed = if !m.spec.match_headers.is_empty() {
                let wanted: Vec<_> = due
                    .iter()
                    .filter(|r| r.matches_headers(&m.spec.match_headers))
                    .cloned()
                    .collect();
                m.sink.try_push(&wanted)
            } else if due.len() == batch.len() {
                m.sink.try_push_shared(&mut shared)
            } else {
                m.sink.try_push(due)
            };
            match pushed {
                Ok(true) => {
                    if let Some(f) = m.from.get_mut(p) {
                        *f = last + 1;
                    }
                    i += 1;
                }
                Ok(false) => {
                    // Falls behind: reads alone from the first message it did not get.
                    if let (Some(f), Some(r)) = (m.from.get_mut(p), due.first()) {
                        *f = r.offset;
                    }
                    let m = st.attached.swap_remove(i);
                    tokio::spawn(catch_up(self.clone(), broker.clone(), m));
                }
                Err(SinkClosed) => {
                    st.attached.swap_remove(i);
                }
            }
        }
        if let Some(n) = st.next.get_mut(p) {
            *n = (*n).max(last + 1);
        }
    }
}

/// The one reader of a topic's fan: waits for the topic to exist, then hands out each
/// partition's new messages as they are appended.
async fn read_loop(fan: Arc<Fan>, broker: Arc<Broker>) {
    let _task = TaskGauge::new();
    let mut topics_rx = broker.topics_changed.subscribe();
    let topic = loop {
        topics_rx.borrow_and_update();
        let found = {
            let mut st = lock(&fan.state);
            fan.discover(&mut st, &broker);
            st.topic.clone()
        };
        if let Some(t) = found {
            break t;
        }
        tokio::select! {
            _ = fan.cancel.cancelled() => return,
            changed = topics_rx.changed() => if changed.is_err() { return },
        }
    };
    drop(topics_rx);
    loop {
        let mut any = false;
        for (p, part) in topic.partitions.iter().enumerate() {
            let next = lock(&fan.state).next.get(p).copied().unwrap_or(0);
            let batch = {
                let log = lock(&part.log);
                log.read(next.max(log.start), PUSH_BATCH_MESSAGES, PUSH_BATCH_BYTES)
            };
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    any |= fan.damaged(p, e);
                    continue;
                }
            };
            if !batch.is_empty() {
                any = true;
                fan.hand_out(&broker, p, &batch);
            }
        }
        if any {
            // Busy topics must not starve the connections' writers on this worker.
            tokio::task::yield_now().await;
            if fan.cancel.is_cancelled() {
                return;
            }
            continue;
        }
        tokio::select! {
            _ = fan.cancel.cancelled() => return,
            _ = fan.waker.notified() => {}
        }
    }
}

/// A subscription of the fan reading alone, with backpressure, until it has reached the
/// reader's position; then it attaches again and the task ends.
async fn catch_up(fan: Arc<Fan>, broker: Arc<Broker>, m: Member) {
    let Some(topic) = lock(&fan.state).topic.clone() else {
        return;
    };
    let waker = Arc::new(Notify::new());
    let mut cursors = BTreeMap::new();
    for (p, (part, from)) in topic.partitions.iter().zip(&m.from).enumerate() {
        if *from != i64::MAX {
            part.watch(&waker);
            cursors.insert((topic.name.clone(), p as i32), (part.clone(), *from));
        }
    }
    let mut alone = Delivery {
        broker: broker.clone(),
        membership: None,
        topics_rx: broker.topics_changed.subscribe(),
        generation_rx: None,
        spec: m.spec.clone(),
        policy: Default::default(),
        sink: m.sink.clone(),
        waker,
        cursors,
        origin: HashMap::new(),
        next_due: None,
        _task: TaskGauge::new(),
    };
    let mut m = m;
    loop {
        if m.sink.is_closed() {
            return;
        }
        let room = m.sink.flow.room();
        if room == 0 {
            tokio::select! {
                _ = m.sink.stopped() => return,
                _ = m.sink.flow.acked() => {}
            }
            continue;
        }
        // `stopped` covers a push waiting for room in a queue nobody reads any more.
        let pushed = tokio::select! {
            _ = m.sink.stopped() => return,
            d = alone.deliver(room) => d,
        };
        match pushed {
            Ok(true) => continue,
            Ok(false) => {}
            Err(SinkClosed) => return,
        }
        // Read everything there is: attach where the reader stands, unless it has moved on.
        for (p, from) in m.from.iter_mut().enumerate() {
            if let Some((_, at)) = alone.cursors.get(&(topic.name.clone(), p as i32)) {
                *from = *at;
            }
        }
        let mut st = lock(&fan.state);
        match fan.attach(&mut st, m) {
            Ok(()) => return,
            Err(back) => m = back,
        }
    }
}

/// A plain subscription to one topic, delivered by the topic's fan.
pub(super) struct FanSubscription {
    fan: Arc<Fan>,
    broker: Arc<Broker>,
    id: u64,
    /// Its pushes: stopping them (the gate shut) also stops a catch-up.
    sink: PushSink,
    left: std::sync::atomic::AtomicBool,
}

impl FanSubscription {
    /// Stops delivery: detached from the reader, its catch-up (if any) cancelled.
    pub(super) fn stop(&self) {
        if self.left.swap(true, Ordering::AcqRel) {
            return;
        }
        // Stopped first: a catch-up attaching concurrently sees it under the fan's lock.
        self.sink.stop();
        self.fan.detach(self.id);
        self.broker.fans.leave(&self.fan);
    }
}

impl Drop for FanSubscription {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a plain subscription to topic `name` on its fan. Positions are fixed before the
/// reply, so a message produced after the client sees the subscribe reply is delivered even
/// with LATEST.
pub(super) fn subscribe(
    broker: &Arc<Broker>,
    name: &str,
    spec: SubscribeSpec,
    sink: PushSink,
) -> Result<FanSubscription> {
    let fan = broker.fans.join(broker, name);
    let id = broker.next_member.fetch_add(1, Ordering::Relaxed);
    let handle = FanSubscription {
        fan: fan.clone(),
        broker: broker.clone(),
        id,
        sink: sink.clone(),
        left: std::sync::atomic::AtomicBool::new(false),
    };
    let spec = Arc::new(spec);
    let mut st = lock(&fan.state);
    fan.discover(&mut st, broker);
    let from = match &st.topic {
        None => Ok(Vec::new()),
        Some(topic) => starts(topic, &spec),
    };
    let from = match from {
        Ok(f) => f,
        Err(e) => {
            drop(st);
            return Err(e);
        }
    };
    let m = Member {
        id,
        sink,
        spec,
        from,
    };
    if let Err(m) = fan.attach(&mut st, m) {
        tokio::spawn(catch_up(fan.clone(), broker.clone(), m));
    }
    drop(st);
    Ok(handle)
}

/// Where a subscription to an existing topic starts, per partition.
fn starts(topic: &Topic, spec: &SubscribeSpec) -> Result<Vec<i64>> {
    let mut from = Vec::with_capacity(topic.partitions.len());
    for (p, part) in topic.partitions.iter().enumerate() {
        if !spec.wants_partition(p as i32) {
            from.push(i64::MAX);
            continue;
        }
        let log = lock(&part.log);
        from.push(match spec.start {
            Start::Offset(o) => {
                log.check(o)?;
                o
            }
            s => log.resolve(s),
        });
    }
    Ok(from)
}
