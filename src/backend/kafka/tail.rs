//! The shared tail consumer: every partition a non-group subscription reads, read once and
//! fanned out; slow subscribers catch up on their own and re-attach.

use super::*;
use crate::backend::sink::SharedBatch;

/// The shared tail consumer of one upstream: every partition some non-group subscription
/// reads, each read once.
pub(super) struct Tail {
    pub(super) consumer: Arc<StreamConsumer<GwContext>>,
    pub(super) parts: Mutex<HashMap<Tp, Arc<TailPart>>>,
    pub(super) cache_messages: usize,
    pub(super) cache_bytes: usize,
}

pub(super) struct TailPart {
    pub(super) state: Mutex<TailState>,
}

pub(super) struct TailState {
    /// Subscriptions reading this partition, attached or catching up.
    pub(super) users: usize,
    /// The offset the tail consumer delivers next.
    pub(super) next: i64,
    /// The most recent records, ending just before `next`.
    pub(super) cache: VecDeque<Arc<Record>>,
    /// Encoded size of `cache`.
    pub(super) cache_size: usize,
    pub(super) attached: Vec<Attached>,
}

impl TailState {
    pub(super) fn cache_start(&self) -> i64 {
        self.cache.front().map_or(self.next, |r| r.offset)
    }
}

/// A subscription receiving a partition live from the tail, from offset `from` on.
pub(super) struct Attached {
    pub(super) sub: Arc<SubShared>,
    pub(super) from: i64,
}

impl Tail {
    /// Starts reading a partition for one more subscription; the first one positions the
    /// consumer at its start offset.
    pub(super) fn join(&self, tp: &Tp, start: i64) -> Result<Arc<TailPart>> {
        let mut parts = lock(&self.parts);
        if let Some(p) = parts.get(tp) {
            lock(&p.state).users += 1;
            return Ok(p.clone());
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(start))
            .map_err(|e| upstream_error(&e))?;
        self.consumer
            .incremental_assign(&tpl)
            .map_err(|e| upstream_error(&e))?;
        let part = Arc::new(TailPart {
            state: Mutex::new(TailState {
                users: 1,
                next: start,
                cache: VecDeque::new(),
                cache_size: 0,
                attached: Vec::new(),
            }),
        });
        parts.insert(tp.clone(), part.clone());
        Ok(part)
    }

    pub(super) fn leave(&self, tp: &Tp, sub: &Arc<SubShared>) {
        let mut parts = lock(&self.parts);
        let Some(p) = parts.get(tp).cloned() else {
            return;
        };
        let mut st = lock(&p.state);
        st.attached.retain(|a| !Arc::ptr_eq(&a.sub, sub));
        st.users = st.users.saturating_sub(1);
        if st.users == 0 {
            drop(st);
            parts.remove(tp);
            let mut tpl = TopicPartitionList::new();
            if tpl
                .add_partition(&tp.0, tp.1)
                .set_offset(Offset::Invalid)
                .is_ok()
            {
                if let Err(e) = self.consumer.incremental_unassign(&tpl) {
                    tracing::warn!(topic = %tp.0, partition = tp.1, error = %e, "tail unassign failed");
                }
            }
        }
    }

    /// Whether the tail has read the partition past `offset`.
    pub(super) fn has(&self, tp: &Tp, offset: i64) -> bool {
        lock(&self.parts)
            .get(tp)
            .is_some_and(|p| lock(&p.state).next > offset)
    }

    /// Recent records from `offset`, if the cache covers it.
    pub(super) fn cached(
        &self,
        tp: &Tp,
        offset: i64,
        limits: FetchLimits,
    ) -> Option<Vec<Arc<Record>>> {
        let p = lock(&self.parts).get(tp).cloned()?;
        let st = lock(&p.state);
        if offset < st.cache_start() || offset >= st.next {
            return None;
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        for r in st
            .cache
            .iter()
            .filter(|r| r.offset >= offset)
            .take(limits.max_messages)
        {
            if !out.is_empty() && bytes + r.size() > limits.max_bytes {
                break;
            }
            bytes += r.size();
            out.push(r.clone());
        }
        Some(out)
    }

    pub(super) async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut errors = 0u32;
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                m = self.consumer.recv() => m,
            };
            let mut batch = Vec::with_capacity(BATCH);
            match first {
                Ok(m) => batch.push(m),
                Err(e) => {
                    errors += 1;
                    if errors % 100 == 1 {
                        tracing::warn!(error = %e, "kafka tail consumer error");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
            errors = 0;
            while batch.len() < BATCH {
                match self.consumer.recv().now_or_never() {
                    Some(Ok(m)) => batch.push(m),
                    _ => break,
                }
            }
            // Consecutive messages of one partition go out as one push.
            let mut i = 0;
            while i < batch.len() {
                let topic = batch[i].topic();
                let partition = batch[i].partition();
                let mut j = i;
                while j < batch.len()
                    && batch[j].partition() == partition
                    && batch[j].topic() == topic
                {
                    j += 1;
                }
                let tp: Tp = (Arc::from(topic), partition);
                let records: Vec<_> = batch[i..j].iter().map(|m| to_record(m, &tp.0)).collect();
                self.deliver(&tp, records);
                i = j;
            }
        }
    }

    pub(super) fn deliver(&self, tp: &Tp, records: Vec<Arc<Record>>) {
        let Some(p) = lock(&self.parts).get(tp).cloned() else {
            return;
        };
        let mut st = lock(&p.state);
        let fresh: Vec<_> = records
            .into_iter()
            .filter(|r| r.offset >= st.next)
            .collect();
        let Some(last) = fresh.last() else { return };
        st.next = last.offset + 1;
        for r in &fresh {
            st.cache_size += r.size();
            st.cache.push_back(r.clone());
        }
        while st.cache.len() > self.cache_messages || st.cache_size > self.cache_bytes {
            match st.cache.pop_front() {
                Some(r) => st.cache_size -= r.size(),
                None => break,
            }
        }
        // Encoded once for every subscription that takes the whole batch unfiltered (the
        // embedded scheme's fan-out does the same): one frame shared, not one encoding each.
        let mut shared = SharedBatch::new(&fresh);
        st.attached.retain(|a| {
            let due = &fresh[fresh.partition_point(|r| r.offset < a.from)..];
            let Some(first) = due.first().map(|r| r.offset) else {
                return true;
            };
            let pushed = if !a.sub.match_headers.is_empty() {
                a.sub.sink.try_push(&a.sub.filter(due))
            } else if due.len() == fresh.len() {
                a.sub.sink.try_push_shared(&mut shared)
            } else {
                a.sub.sink.try_push(due)
            };
            match pushed {
                Ok(true) => true,
                Ok(false) => {
                    // Queue full or window used up: catch up alone from the first undelivered.
                    a.sub.lagging(tp.clone(), first);
                    false
                }
                Err(SinkClosed) => false,
            }
        });
    }
}

/// State a non-group subscription shares with the tail.
pub(super) struct SubShared {
    pub(super) sink: PushSink,
    pub(super) match_headers: Vec<crate::backend::Header>,
    /// Partitions detached for lagging, with the offset to resume from.
    pub(super) lagging: Mutex<Vec<(Tp, i64)>>,
    pub(super) wake: Notify,
}

impl SubShared {
    pub(super) fn filter(&self, records: &[Arc<Record>]) -> Vec<Arc<Record>> {
        records
            .iter()
            .filter(|r| r.matches_headers(&self.match_headers))
            .cloned()
            .collect()
    }

    pub(super) fn lagging(&self, tp: Tp, from: i64) {
        lock(&self.lagging).push((tp, from));
        self.wake.notify_one();
    }
}

pub(super) fn topics_of(tps: &BTreeSet<Tp>) -> Vec<String> {
    let mut v: Vec<String> = tps.iter().map(|(t, _)| t.to_string()).collect();
    v.dedup();
    v
}

/// The partitions a non-group subscription holds in the tail; leaves them all when dropped.
pub(super) struct Joined {
    pub(super) tail: Arc<Tail>,
    pub(super) sub: Arc<SubShared>,
    pub(super) tps: BTreeSet<Tp>,
}

impl Joined {
    /// Joins a partition: attached at once when the start is at or past the tail's position,
    /// otherwise marked lagging to catch up from the cache or the broker.
    pub(super) fn add(&mut self, tp: &Tp, start: i64) -> Result<()> {
        let part = self.tail.join(tp, start)?;
        self.tps.insert(tp.clone());
        let mut st = lock(&part.state);
        if start >= st.next {
            st.attached.push(Attached {
                sub: self.sub.clone(),
                from: start,
            });
        } else {
            drop(st);
            self.sub.lagging(tp.clone(), start);
        }
        Ok(())
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        for tp in &self.tps {
            self.tail.leave(tp, &self.sub);
        }
    }
}

/// A non-group subscription's own work: catching up partitions it fell behind on, and
/// picking up new partitions of matching topics.
pub(super) async fn shared_loop(
    inner: Arc<Inner>,
    spec: SubscribeSpec,
    mut joined: Joined,
    cancel: CancellationToken,
    mut catalog: Option<tokio::sync::watch::Receiver<Option<Arc<Catalog>>>>,
    mut failed: BTreeSet<Arc<str>>,
) {
    let _task = crate::backend::TaskGauge::new();
    loop {
        let work: Vec<(Tp, i64)> = std::mem::take(&mut *lock(&joined.sub.lagging));
        for (tp, from) in work {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = catch_up(&inner, &joined, &tp, from) => if r.is_err() { return },
            }
        }
        if !lock(&joined.sub.lagging).is_empty() {
            continue;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = joined.sub.wake.notified() => {}
            changed = changed(&mut catalog) => {
                let Some(now) = changed else {
                    catalog = None;
                    continue;
                };
                let Ok(now) = select_topics(&now.topics, &spec) else { continue };
                let found = async {
                    let mut found = Vec::new();
                    for tp in now.tps.difference(&joined.tps) {
                        // A topic that failed before was already there: it starts where the
                        // subscription says. Anything else appeared after the subscription,
                        // so all its messages are new.
                        let start = if failed.contains(&tp.0) { spec.start } else { Start::Earliest };
                        if let Ok(o) = inner.resolve(tp, start).await {
                            found.push((tp.clone(), o));
                        }
                    }
                    found
                };
                let found = tokio::select! {
                    _ = cancel.cancelled() => return,
                    f = found => f,
                };
                for (tp, o) in found {
                    let _ = joined.add(&tp, o);
                }
                failed.retain(|t| now.failed.contains(t) || !joined.tps.iter().any(|(n, _)| n == t));
            }
            _ = tokio::time::sleep(Duration::from_secs(30)) => {
                if joined.sub.sink.is_closed() { return; }
            }
        }
    }
}

/// The next catalog a pattern subscription sees; None once there will be none (never for a
/// topic subscription, which waits forever).
pub(super) async fn changed(
    catalog: &mut Option<tokio::sync::watch::Receiver<Option<Arc<Catalog>>>>,
) -> Option<Arc<Catalog>> {
    let Some(rx) = catalog else {
        return std::future::pending().await;
    };
    loop {
        rx.changed().await.ok()?;
        if let Some(c) = rx.borrow_and_update().clone() {
            return Some(c);
        }
    }
}

/// Delivers a partition from `from` until the subscriber reaches the tail, then re-attaches.
pub(super) async fn catch_up(
    inner: &Arc<Inner>,
    joined: &Joined,
    tp: &Tp,
    mut from: i64,
) -> std::result::Result<(), SinkClosed> {
    let sub = &joined.sub;
    let Some(part) = lock(&joined.tail.parts).get(tp).cloned() else {
        return Ok(());
    };
    loop {
        while sub.sink.flow.room() == 0 {
            sub.sink.flow.acked().await;
        }
        let room = sub.sink.flow.room().min(BATCH);
        let limits = FetchLimits {
            max_messages: room,
            max_bytes: PUSH_BYTES,
            max_wait: Duration::ZERO,
        };
        // Attach when the tail's cache reaches back to `from` and the backlog fits now.
        let batch = {
            let mut st = lock(&part.state);
            if from >= st.cache_start() {
                let backlog: Vec<_> = st
                    .cache
                    .iter()
                    .filter(|r| r.offset >= from)
                    .cloned()
                    .collect();
                let wanted = sub.filter(&backlog);
                if from >= st.next || sub.sink.try_push(&wanted)? {
                    let from = from.max(st.next);
                    st.attached.push(Attached {
                        sub: sub.clone(),
                        from,
                    });
                    return Ok(());
                }
                backlog.into_iter().take(room).collect::<Vec<_>>()
            } else {
                Vec::new()
            }
        };
        let batch = if batch.is_empty() {
            match read_history(inner, tp, from, limits).await {
                Ok(b) => b,
                Err(GatewayError::OffsetOutOfRange { .. }) => {
                    // Retention removed what this subscriber had not read: go on from the earliest.
                    match inner.watermarks(tp).await {
                        Ok((lo, _)) if lo > from => {
                            from = lo;
                            continue;
                        }
                        _ => Vec::new(),
                    }
                }
                Err(e) => {
                    tracing::debug!(topic = %tp.0, partition = tp.1, error = %e, "catch-up read failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        } else {
            batch
        };
        let Some(last) = batch.last() else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        from = last.offset + 1;
        sub.sink.push(&sub.filter(&batch)).await?;
    }
}

pub(super) async fn read_history(
    inner: &Arc<Inner>,
    tp: &Tp,
    from: i64,
    limits: FetchLimits,
) -> Result<Vec<Arc<Record>>> {
    let (_, hi) = inner.check_offset(tp, from).await?;
    if from >= hi {
        return Ok(Vec::new());
    }
    inner.read(tp, from, limits, inner.timeout).await
}
