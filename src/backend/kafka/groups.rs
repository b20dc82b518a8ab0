//! Group subscriptions: real members of Kafka consumer groups, one consumer each.

use super::*;

/// Counts group consumers against `max_group_consumers`.
pub(super) struct GroupSlot(Arc<Inner>);

impl GroupSlot {
    pub(super) fn take(inner: &Arc<Inner>) -> Result<GroupSlot> {
        let n = inner.group_consumers.fetch_add(1, Ordering::AcqRel);
        if n >= inner.max_group_consumers {
            inner.group_consumers.fetch_sub(1, Ordering::AcqRel);
            return Err(GatewayError::Overloaded(format!(
                "group subscription limit reached ({} on this upstream)",
                inner.max_group_consumers
            )));
        }
        crate::metrics::METRICS
            .kafka_group_consumers
            .fetch_add(1, Ordering::Relaxed);
        Ok(GroupSlot(inner.clone()))
    }
}

impl Drop for GroupSlot {
    fn drop(&mut self) {
        self.0.group_consumers.fetch_sub(1, Ordering::AcqRel);
        crate::metrics::METRICS
            .kafka_group_consumers
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the rebalance callback hands the member's loop. The callback runs inside
/// `consumer.recv()` on an async worker, so it only forwards: the loop looks committed offsets
/// up off the async threads and then assigns (librdkafka lets the application call assign
/// after the callback returned).
pub(super) enum GroupEvent {
    Assign(TopicPartitionList),
    Revoked(TopicPartitionList),
}

pub(super) struct GroupContext {
    pub(super) diag: Arc<Diagnostics>,
    pub(super) events: tokio::sync::mpsc::UnboundedSender<GroupEvent>,
}

impl ClientContext for GroupContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_line(&self.diag, level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        observe(&self.diag, &error, reason);
    }
}

impl ConsumerContext for GroupContext {
    fn rebalance(&self, c: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(c.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // The loop assigns once it knows where each partition starts. When the loop
                // is gone (the consumer is closing) nobody will: take the assignment as is.
                if self.events.send(GroupEvent::Assign(tpl.clone())).is_err() {
                    let _ = if cooperative {
                        c.incremental_assign(tpl)
                    } else {
                        c.assign(tpl)
                    };
                }
            }
            _ => {
                // Unassigning is local (no broker call) and must happen before the rebalance
                // completes, so it is done here; the loop only updates its bookkeeping.
                let r = if cooperative {
                    c.incremental_unassign(tpl)
                } else {
                    c.unassign()
                };
                if let Err(e) = r {
                    tracing::warn!(error = %e, "group unassign failed");
                }
                let _ = self.events.send(GroupEvent::Revoked(tpl.clone()));
            }
        }
    }
}

/// A group member's state shared between its loop and its subscription handle.
pub(super) struct Member {
    pub(super) group: String,
    /// Partitions assigned to this member now: commits for others are refused.
    pub(super) owned: Mutex<BTreeSet<Tp>>,
    /// What it pushed and has not had acknowledged, bounded by its window.
    pub(super) acks: Mutex<Acks>,
    /// Rung on every ack, nack and commit: the window may have room, a nack may fall due.
    pub(super) wake: Notify,
}

/// Where each partition of the subscribed topics starts when the group has no committed
/// offset for it, fixed at subscribe time: resolving it at assignment (as
/// `auto.offset.reset` does) would skip what was produced between the reply and the
/// assignment. Partitions that appear later start at their beginning: all their messages are
/// new to the subscription.
pub(super) struct GroupStarts {
    pub(super) start: Start,
    pub(super) fixed: Mutex<HashMap<Tp, i64>>,
}

impl GroupStarts {
    pub(super) async fn resolve(
        inner: &Inner,
        start: Start,
        tps: &BTreeSet<Tp>,
    ) -> Result<GroupStarts> {
        let starts = GroupStarts {
            start,
            fixed: Mutex::new(HashMap::new()),
        };
        starts.add(inner, tps.iter()).await?;
        Ok(starts)
    }

    pub(super) async fn add(&self, inner: &Inner, tps: impl Iterator<Item = &Tp>) -> Result<()> {
        if matches!(
            self.start,
            Start::Latest | Start::Last | Start::Timestamp(_)
        ) {
            for tp in tps {
                let o = inner.resolve(tp, self.start).await?;
                lock(&self.fixed).insert(tp.clone(), o);
            }
        }
        Ok(())
    }

    pub(super) fn offset(&self, tp: &Tp) -> Offset {
        match self.start {
            Start::Earliest => Offset::Beginning,
            Start::Offset(o) => Offset::Offset(o),
            _ => lock(&self.fixed)
                .get(tp)
                .map_or(Offset::Beginning, |o| Offset::Offset(*o)),
        }
    }
}

/// A lazily created plain client of the member's group, for committed-offset lookups: the
/// member's own consumer is in the middle of the rebalance being handled, and asking it could
/// wait for that very rebalance.
pub(super) struct Lookup {
    pub(super) config: ClientConfig,
    pub(super) client: Option<Arc<BaseConsumer>>,
}

impl Lookup {
    /// Creates the client and has it find the group's coordinator, so the first rebalance
    /// does not wait for that.
    pub(super) async fn warm(&mut self, tps: &BTreeSet<Tp>, timeout: Duration) {
        let mut tpl = TopicPartitionList::new();
        for (t, p) in tps {
            tpl.add_partition(t, *p);
        }
        let _ = self.committed(&tpl, timeout).await;
    }

    /// Committed offsets of `tpl`'s partitions; None if they cannot be had in time.
    pub(super) async fn committed(
        &mut self,
        tpl: &TopicPartitionList,
        timeout: Duration,
    ) -> Option<TopicPartitionList> {
        let client = match &self.client {
            Some(c) => c.clone(),
            None => {
                let config = self.config.clone();
                let c: BaseConsumer = tokio::task::spawn_blocking(move || config.create())
                    .await
                    .ok()?
                    .map_err(
                        |e| tracing::warn!(error = %e, "cannot create the offset lookup client"),
                    )
                    .ok()?;
                let c = Arc::new(c);
                self.client = Some(c.clone());
                c
            }
        };
        let q = tpl.clone();
        let call = tokio::task::spawn_blocking(move || client.committed_offsets(q, timeout));
        match tokio::time::timeout(timeout + Duration::from_secs(1), call).await {
            Ok(Ok(Ok(c))) => Some(c),
            _ => None,
        }
    }
}

/// Sets each newly assigned partition to its committed offset, else to the subscription's
/// start. If the committed offsets cannot be had, partitions keep Offset::Stored (the
/// committed offset, else auto.offset.reset): a commit is never overridden.
pub(super) async fn position_assigned(
    tpl: &TopicPartitionList,
    starts: &GroupStarts,
    lookup: &mut Lookup,
    timeout: Duration,
) -> TopicPartitionList {
    let mut out = TopicPartitionList::new();
    if starts.start == Start::Earliest {
        // librdkafka's own behaviour is the start here: the committed offset, else
        // auto.offset.reset=earliest. No lookup, so the assignment is not delayed.
        for e in tpl.elements() {
            let _ = out.add_partition_offset(e.topic(), e.partition(), Offset::Stored);
        }
        return out;
    }
    let committed = lookup.committed(tpl, timeout).await;
    if committed.is_none() {
        tracing::warn!(
            "committed offsets unavailable; partitions resume from the group's own position"
        );
    }
    for e in tpl.elements() {
        let tp: Tp = (Arc::from(e.topic()), e.partition());
        let offset = match &committed {
            None => Offset::Stored,
            Some(c) => match c
                .find_partition(e.topic(), e.partition())
                .map(|c| c.offset())
            {
                Some(Offset::Offset(o)) if o >= 0 => Offset::Offset(o),
                _ => starts.offset(&tp),
            },
        };
        let _ = out.add_partition_offset(e.topic(), e.partition(), offset);
    }
    out
}

pub(super) fn tps_of(tpl: &TopicPartitionList) -> Vec<Tp> {
    tpl.elements()
        .iter()
        .map(|e| (Arc::from(e.topic()), e.partition()))
        .collect()
}

/// Everything a group member's loop owns.
pub(super) struct GroupRun {
    pub(super) inner: Arc<Inner>,
    pub(super) consumer: Arc<StreamConsumer<GroupContext>>,
    pub(super) spec: SubscribeSpec,
    pub(super) topics: Vec<String>,
    pub(super) sink: PushSink,
    pub(super) cancel: CancellationToken,
    pub(super) slot: GroupSlot,
    pub(super) events: tokio::sync::mpsc::UnboundedReceiver<GroupEvent>,
    pub(super) member: Arc<Member>,
    pub(super) starts: GroupStarts,
    pub(super) lookup: Lookup,
    pub(super) catalog: Option<tokio::sync::watch::Receiver<Option<Arc<Catalog>>>>,
    /// Matching topics whose metadata failed at subscribe time (see `Matched::failed`).
    pub(super) failed: BTreeSet<Arc<str>>,
}

impl GroupRun {
    /// Applies a rebalance event; false when the subscription was cancelled meanwhile.
    pub(super) async fn handle(&mut self, ev: GroupEvent, held: &mut Held) -> bool {
        match ev {
            GroupEvent::Assign(tpl) => {
                let positioned = tokio::select! {
                    _ = self.cancel.cancelled() => return false,
                    p = position_assigned(&tpl, &self.starts, &mut self.lookup, self.inner.timeout) => p,
                };
                let cooperative = matches!(
                    self.consumer.rebalance_protocol(),
                    RebalanceProtocol::Cooperative
                );
                let r = if cooperative {
                    self.consumer.incremental_assign(&positioned)
                } else {
                    self.consumer.assign(&positioned)
                };
                if let Err(e) = r {
                    tracing::warn!(error = %e, "group assign failed");
                }
                let mut owned = lock(&self.member.owned);
                if !cooperative {
                    owned.clear();
                }
                owned.extend(tps_of(&tpl));
                drop(owned);
                // librdkafka keeps a partition's pause across unassign and assign: set it
                // either way.
                self.pause(held.paused);
            }
            GroupEvent::Revoked(tpl) => {
                let cooperative = matches!(
                    self.consumer.rebalance_protocol(),
                    RebalanceProtocol::Cooperative
                );
                let mut gone = tps_of(&tpl);
                if !cooperative {
                    // The callback unassigned already; this undoes an assignment the loop
                    // applied from an event queued before that revocation.
                    let _ = self.consumer.unassign();
                    gone.extend(lock(&self.member.owned).iter().cloned());
                }
                let mut owned = lock(&self.member.owned);
                let mut acks = lock(&self.member.acks);
                for tp in &gone {
                    owned.remove(tp);
                    // Acknowledgements for it can no longer be sent by this member; what it
                    // left unacknowledged, the next owner reads again from the commit.
                    self.sink.flow.forget(&tp.0, tp.1);
                    acks.forget(tp);
                }
                drop(acks);
                drop(owned);
                let owned = lock(&self.member.owned);
                held.records
                    .retain(|r| owned.contains(&(r.topic.clone(), r.partition)));
            }
        }
        true
    }

    /// Stops (or restarts) fetching the assigned partitions while the flow window is full, so
    /// the loop can keep polling the consumer, which serves rebalances, without reading on.
    pub(super) fn pause(&self, on: bool) {
        let Ok(assigned) = self.consumer.assignment() else {
            return;
        };
        let r = if on {
            self.consumer.pause(&assigned)
        } else {
            self.consumer.resume(&assigned)
        };
        if let Err(e) = r {
            tracing::debug!(error = %e, "group pause or resume failed");
        }
    }

    /// Pushes for the first time (noted for acks, stamped with delivery attempt 1).
    pub(super) async fn push(&self, records: Vec<Arc<Record>>) -> bool {
        let stamped = lock(&self.member.acks).delivering(records);
        self.send(&stamped).await
    }

    /// Pushes, giving up when the subscription is cancelled (a vanished client's queue may
    /// never drain).
    async fn send(&self, records: &[Arc<Record>]) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            r = self.sink.push(records) => r.is_ok(),
        }
    }

    /// How many more messages may be pushed: the flow window and the window of
    /// unacknowledged messages.
    fn room(&self) -> usize {
        self.sink.flow.room().min(lock(&self.member.acks).room())
    }

    /// Pushes nacked messages whose time has come again; false when the subscription ended.
    /// Returns when the next one falls due.
    async fn redeliver(&self) -> Option<Option<tokio::time::Instant>> {
        loop {
            let room = self.sink.flow.room().min(BATCH);
            if room == 0 {
                return Some(None);
            }
            let (again, next) = lock(&self.member.acks).due_again(room);
            if again.is_empty() {
                return Some(next);
            }
            if !self.send(&again).await {
                return None;
            }
        }
    }
}

/// Records a group member read but may not push yet (its max_in_flight window is full).
pub(super) struct Held {
    pub(super) records: VecDeque<Arc<Record>>,
    /// The assigned partitions are paused until the window has room again.
    pub(super) paused: bool,
}

/// A group member's loop: consume, filter, push within the flow window; follow new topics of a
/// pattern. The consumer leaves the group when the loop ends.
pub(super) async fn group_loop(mut run: GroupRun) {
    let task = crate::backend::TaskGauge::new();
    let mut held = Held {
        records: VecDeque::new(),
        paused: false,
    };
    loop {
        let Some(next_due) = run.redeliver().await else {
            break;
        };
        let due = async move {
            match next_due {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(due);
        let room = run.room();
        if !held.records.is_empty() {
            if room == 0 {
                if !held.paused {
                    run.pause(true);
                    held.paused = true;
                }
                tokio::select! {
                    biased;
                    _ = run.cancel.cancelled() => break,
                    Some(ev) = run.events.recv() => if !run.handle(ev, &mut held).await { break },
                    _ = run.sink.flow.acked() => {}
                    _ = run.member.wake.notified() => {}
                    _ = &mut due => {}
                    // Polling serves rebalances; what was fetched before the pause is kept.
                    m = run.consumer.recv() => if let Ok(m) = m {
                        let r = to_record(&m, &Arc::from(m.topic()));
                        if r.matches_headers(&run.spec.match_headers) {
                            held.records.push_back(r);
                        }
                    },
                }
                continue;
            }
            let n = room.min(held.records.len()).min(BATCH);
            let batch: Vec<_> = held.records.drain(..n).collect();
            if !run.push(batch).await {
                break;
            }
            continue;
        }
        if held.paused {
            run.pause(false);
            held.paused = false;
        }
        tokio::select! {
            biased;
            _ = run.cancel.cancelled() => break,
            Some(ev) = run.events.recv() => if !run.handle(ev, &mut held).await { break },
            _ = run.member.wake.notified() => {}
            _ = &mut due => {}
            m = run.consumer.recv() => match m {
                Ok(m) => {
                    let topic: Arc<str> = Arc::from(m.topic());
                    let mut batch = vec![to_record(&m, &topic)];
                    drop(m);
                    let room = run.room();
                    let mut bytes = batch[0].size();
                    while batch.len() < BATCH.min(room) && bytes < PUSH_BYTES {
                        match run.consumer.recv().now_or_never() {
                            Some(Ok(m)) => {
                                let t: Arc<str> = if m.topic() == &*topic { topic.clone() } else { Arc::from(m.topic()) };
                                let r = to_record(&m, &t);
                                bytes += r.size();
                                batch.push(r);
                            }
                            _ => break,
                        }
                    }
                    let mut wanted: Vec<_> = batch
                        .into_iter()
                        .filter(|r| r.matches_headers(&run.spec.match_headers))
                        .collect();
                    while wanted.len() > room {
                        if let Some(r) = wanted.pop() {
                            held.records.push_front(r);
                        }
                    }
                    if !run.push(wanted).await {
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "group consumer error");
                    tokio::select! {
                        _ = run.cancel.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
            changed = changed(&mut run.catalog) => {
                let Some(now) = changed else {
                    run.catalog = None;
                    continue;
                };
                let Ok(now) = select_topics(&now.topics, &run.spec) else { continue };
                let names = topics_of(&now.tps);
                if names != run.topics && !names.is_empty() {
                    // Topics that failed at subscribe time start where the subscription says.
                    let back: Vec<Tp> = now
                        .tps
                        .iter()
                        .filter(|tp| run.failed.contains(&tp.0))
                        .cloned()
                        .collect();
                    let added = tokio::select! {
                        _ = run.cancel.cancelled() => break,
                        r = run.starts.add(&run.inner, back.iter()) => r,
                    };
                    if added.is_err() {
                        continue;
                    }
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    if run.consumer.subscribe(&refs).is_ok() {
                        run.topics = names;
                        let now_failed = now.failed;
                        run.failed.retain(|t| now_failed.contains(t));
                    }
                }
            }
        }
    }
    let GroupRun {
        consumer,
        slot,
        lookup,
        member,
        ..
    } = run;
    tracing::debug!(group = %member.group, "group member leaving");
    // Closing a consumer blocks while it leaves the group.
    tokio::task::spawn_blocking(move || {
        consumer.unsubscribe();
        drop(consumer);
        drop(lookup);
        drop(slot);
        drop(task);
    });
}
