//! One subscription's delivery loop: a cursor per assigned partition, pushing batches, waiting
//! on the partitions' wakers when caught up.

use super::*;

/// One subscription's delivery loop: a cursor per assigned partition, reading the logs and
/// pushing batches, waiting on the partitions' wakers when caught up.
pub(super) struct Delivery {
    pub(super) broker: Arc<Broker>,
    pub(super) membership: Option<Membership>,
    pub(super) topics_rx: watch::Receiver<u64>,
    pub(super) generation_rx: Option<watch::Receiver<u64>>,
    pub(super) spec: Arc<SubscribeSpec>,
    /// The route's delivery policy (groups).
    pub(super) policy: Arc<crate::config::DeliveryPolicy>,
    pub(super) sink: PushSink,
    pub(super) waker: Arc<Notify>,
    pub(super) cursors: BTreeMap<Tp, (Arc<Partition>, i64)>,
    /// LATEST and LAST resolved when the subscription started, for every partition it matched
    /// then: a group member given one of them later starts there, not at the log's start.
    pub(super) origin: HashMap<Tp, i64>,
    /// When the next nacked message falls due (groups).
    pub(super) next_due: Option<tokio::time::Instant>,
    pub(super) _task: crate::backend::TaskGauge,
}

impl Delivery {
    /// Brings the cursors in line with what the subscription (or the group) assigns now.
    /// Partitions of topics found after the start begin at their earliest offset for LATEST and
    /// LAST, since every message in them is newer than the subscription; partitions that
    /// existed at the start begin where LATEST or LAST pointed then.
    pub(super) fn refresh(&mut self, initial: bool) -> Result<()> {
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
            let Ok((topic, part)) = self.broker.partition(&tp.0, tp.1) else {
                continue;
            };
            let committed = self
                .membership
                .as_ref()
                .and_then(|m| m.group.committed(&tp));
            // A resume (`start_epoch`) meeting a topic of another generation, there at the start
            // or made later: its whole new log is unseen, so it starts at the log's beginning,
            // and the client is told.
            let new_generation = committed.is_none()
                && self.spec.start_epoch != 0
                && topic.epoch != self.spec.start_epoch;
            if new_generation {
                self.sink.mark_reset();
            }
            let offset = {
                let log = lock(&part.log);
                match (committed, self.spec.start) {
                    _ if new_generation => log.start,
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

    pub(super) async fn run(mut self, cancel: CancellationToken) {
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
                _ = tokio::time::sleep_until(self.next_due.unwrap_or_else(tokio::time::Instant::now)), if self.next_due.is_some() => {}
                // The connection may go away while nothing is produced.
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    }

    /// One batch per partition with news; whether anything was read.
    pub(super) async fn deliver(
        &mut self,
        mut room: usize,
    ) -> Result<bool, crate::backend::SinkClosed> {
        let mut any = false;
        self.next_due = None;
        if let Some(m) = &self.membership {
            // A group member's window: what it holds unacknowledged, nacked ones included.
            let window = match self.spec.max_in_flight {
                0 => super::acks::DEFAULT_WINDOW,
                n => n,
            };
            room = room.min(window.saturating_sub(m.group.unacked(m.id, self.cursors.keys())));
        }
        for (tp, (part, cursor)) in self.cursors.iter_mut() {
            if room == 0 {
                break;
            }
            if let Some(m) = &self.membership {
                // Nacked messages whose backoff is over go out again first.
                let (again, due) = m.group.due_again(m.id, tp, *cursor, room);
                if let Some(due) = due {
                    self.next_due = Some(self.next_due.map_or(due, |n| n.min(due)));
                }
                if !again.is_empty() {
                    let mut records = Vec::with_capacity(again.len());
                    let mut gone = Vec::new();
                    {
                        let log = lock(&part.log);
                        for (offset, attempt) in &again {
                            let read = (*offset >= log.start)
                                .then(|| log.read(*offset, 1, usize::MAX).ok())
                                .flatten()
                                .and_then(|v| v.into_iter().next())
                                .filter(|r| r.offset == *offset);
                            match read {
                                Some(r) => records.push(Arc::new(r.with_attempt(*attempt))),
                                None => gone.push(*offset),
                            }
                        }
                    }
                    if !gone.is_empty() && m.group.done(tp, &gone) {
                        let _ = self.broker.persist_groups().await;
                    }
                    room = room.saturating_sub(records.len());
                    any = true;
                    self.sink.push(&records).await?;
                    if room == 0 {
                        break;
                    }
                }
            }
            let batch = {
                let log = lock(&part.log);
                // Retention overtook a slow subscription: continue from the earliest kept.
                *cursor = (*cursor).max(log.start);
                log.read(*cursor, room.min(PUSH_BATCH_MESSAGES), PUSH_BATCH_BYTES)
            };
            // A damaged stored record ends the subscription with an error naming it, as a Kafka
            // consumer's poll fails on a corrupt record: skipping would lose messages unseen,
            // retrying would spin. The client resubscribes from the offset the error names.
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    let e = e.context(format!(
                        "failed to fetch message, topic: {}, partition: {}",
                        tp.0, tp.1
                    ));
                    self.sink.fail(&e).await;
                    return Err(crate::backend::SinkClosed);
                }
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
            // A group's deliveries await their acks and say which attempt they are.
            let batch = match &self.membership {
                Some(m) => {
                    let (batch, dead) = m.group.delivering(m.id, tp, batch, *cursor, &self.policy);
                    if !dead.is_empty()
                        && self.broker.dead_letter(&self.policy, &m.group, dead).await
                    {
                        let _ = self.broker.persist_groups().await;
                    }
                    batch
                }
                None => batch,
            };
            room = room.saturating_sub(batch.len());
            self.sink.push(&batch).await?;
        }
        Ok(any)
    }
}
