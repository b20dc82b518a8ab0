//! Where a subscription's pushes go: flow control (max_in_flight), the gate that orders pushes
//! after the subscribe reply and before the unsubscribe reply, and the connection's outbox.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;

use super::Record;
use crate::codec::{self, PushFlags};
use crate::metrics::METRICS;
use crate::outbox::Outbox;

/// Held by a backend task that delivers to a subscription, for as long as it runs: the
/// `pubsub_subscription_tasks` gauge shows tasks that outlive their connection.
pub struct TaskGauge(());

impl TaskGauge {
    pub fn new() -> TaskGauge {
        METRICS
            .subscription_tasks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        TaskGauge(())
    }
}

impl Default for TaskGauge {
    fn default() -> Self {
        TaskGauge::new()
    }
}

impl Drop for TaskGauge {
    fn drop(&mut self) {
        METRICS
            .subscription_tasks
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Pushed offsets not yet acknowledged, per (topic, partition).
type Pending = HashMap<(Arc<str>, i32), VecDeque<i64>>;

/// Flow control for one subscription: pushed messages not yet acknowledged by a commit, per
/// partition, capped at `limit` (0 = no cap).
pub struct Flow {
    limit: usize,
    pending: Mutex<Pending>,
    acked: Notify,
}

impl Flow {
    pub fn new(limit: usize) -> Flow {
        Flow {
            limit,
            pending: Mutex::new(HashMap::new()),
            acked: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many more messages may be pushed now.
    pub fn room(&self) -> usize {
        if self.limit == 0 {
            return usize::MAX;
        }
        let pending: usize = self.lock().values().map(VecDeque::len).sum();
        self.limit.saturating_sub(pending)
    }

    /// Resolves after the next acknowledgement.
    pub async fn acked(&self) {
        self.acked.notified().await
    }

    fn pushed(&self, records: &[Arc<Record>]) {
        if self.limit == 0 {
            return;
        }
        let mut pending = self.lock();
        for r in records {
            pending
                .entry((r.topic.clone(), r.partition))
                .or_default()
                .push_back(r.offset);
        }
    }

    /// The subscription no longer reads the partition (a rebalance took it): what was pushed
    /// from it can no longer be acknowledged by this member, so it stops counting.
    pub fn forget(&self, topic: &str, partition: i32) {
        if self.limit == 0 {
            return;
        }
        self.lock().remove(&(Arc::from(topic), partition));
        self.acked.notify_one();
    }

    /// The log the pushed messages came from is gone (made again): none of them can be
    /// acknowledged any more.
    pub fn forget_all(&self) {
        if self.limit == 0 {
            return;
        }
        self.lock().clear();
        self.acked.notify_one();
    }

    /// One message is acknowledged (schemes that acknowledge message by message, in any order).
    pub fn ack_one(&self, topic: &str, partition: i32, offset: i64) {
        if self.limit == 0 {
            return;
        }
        let mut pending = self.lock();
        if let Some(q) = pending.get_mut(&(Arc::from(topic), partition)) {
            if let Some(i) = q.iter().position(|o| *o == offset) {
                q.remove(i);
            }
        }
        drop(pending);
        self.acked.notify_one();
    }

    /// Messages of the partition below `next_offset` are acknowledged.
    pub fn ack(&self, topic: &str, partition: i32, next_offset: i64) {
        if self.limit == 0 {
            return;
        }
        let mut pending = self.lock();
        if let Some(q) = pending.get_mut(&(Arc::from(topic), partition)) {
            while q.front().is_some_and(|o| *o < next_offset) {
                q.pop_front();
            }
        }
        drop(pending);
        self.acked.notify_one();
    }
}

/// Holds pushes back until the subscribe reply is queued, and shuts them off for good once the
/// subscription is unsubscribed: no push is queued after the unsubscribe's reply.
#[derive(Default)]
pub struct Gate {
    open: std::sync::atomic::AtomicBool,
    shut: std::sync::atomic::AtomicBool,
    changed: Notify,
    /// Held while a push is being queued; `shut` takes it, so a push already under way is in
    /// the queue before the unsubscribe reply, and none follows it.
    pushing: tokio::sync::Mutex<()>,
    /// The next push says `reset` (delivery started over in a recreated log). Kept here, one
    /// allocation fewer per subscription than an `Arc` of its own.
    reset: std::sync::atomic::AtomicBool,
}

impl Gate {
    pub fn open(&self) {
        self.open.store(true, std::sync::atomic::Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Stops pushes; returns once no push is being queued any more.
    pub async fn shut(&self) {
        let _pushing = self.pushing.lock().await;
        self.shut_now();
    }

    /// Stops pushes without waiting, when the connection is going away anyway.
    pub fn shut_now(&self) {
        self.shut.store(true, std::sync::atomic::Ordering::Release);
        self.changed.notify_waiters();
    }

    fn is_open(&self) -> bool {
        self.open.load(std::sync::atomic::Ordering::Acquire)
    }

    fn is_shut(&self) -> bool {
        self.shut.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Resolves once the gate is shut (the subscription is over).
    pub async fn shut_down(&self) {
        loop {
            let changed = self.changed.notified();
            if self.is_shut() {
                return;
            }
            changed.await;
        }
    }

    /// Waits until pushes may go: true when open, false when shut.
    async fn wait(&self) -> bool {
        loop {
            let changed = self.changed.notified();
            if self.is_shut() {
                return false;
            }
            if self.is_open() {
                return true;
            }
            changed.await;
        }
    }
}

/// Where a subscription's pushes go: the connection's bounded outbound queue.
#[derive(Clone)]
pub struct PushSink {
    tx: Outbox,
    pub subscription_id: i64,
    pub sequence: i64,
    pub flow: Arc<Flow>,
    gate: Arc<Gate>,
}

fn count_push(messages: usize, bytes: u64) {
    use std::sync::atomic::Ordering::Relaxed;
    METRICS.push_messages.fetch_add(messages as u64, Relaxed);
    METRICS.push_bytes.fetch_add(bytes, Relaxed);
}

/// The connection has gone; the subscription should stop.
#[derive(Debug)]
pub struct SinkClosed;

impl PushSink {
    pub fn new(tx: Outbox, subscription_id: i64, sequence: i64, max_in_flight: usize) -> PushSink {
        PushSink {
            tx,
            subscription_id,
            sequence,
            flow: Arc::new(Flow::new(max_in_flight)),
            gate: Arc::new(Gate::default()),
        }
    }

    /// The next push tells the client that delivery started over in a recreated log.
    pub fn mark_reset(&self) {
        self.gate
            .reset
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn frame(&self, records: &[Arc<Record>], dropped: u64) -> Bytes {
        let reset = self
            .gate
            .reset
            .swap(false, std::sync::atomic::Ordering::AcqRel);
        let flags = PushFlags { reset, dropped };
        codec::push_frame_with(self.sequence, self.subscription_id, records, flags)
    }

    pub fn gate(&self) -> Arc<Gate> {
        self.gate.clone()
    }

    /// Queues one push frame, waiting while the connection's queue is full (backpressure: the
    /// subscription falls behind in the log instead of buffering in memory).
    pub async fn push(&self, records: &[Arc<Record>]) -> Result<(), SinkClosed> {
        self.push_after_loss(records, 0).await
    }

    /// `push`, telling the client that `dropped` messages were lost just before these (a live
    /// subscription's slow-consumer policy).
    pub async fn push_after_loss(
        &self,
        records: &[Arc<Record>],
        dropped: u64,
    ) -> Result<(), SinkClosed> {
        if records.is_empty() {
            return Ok(());
        }
        // The subscribe reply may never be queued (the connection went away first).
        let open = tokio::select! {
            open = self.gate.wait() => open,
            _ = self.tx.closed() => false,
        };
        if !open {
            return Err(SinkClosed);
        }
        let _pushing = self.gate.pushing.lock().await;
        if self.gate.is_shut() {
            return Err(SinkClosed);
        }
        let frame = self.frame(records, dropped);
        let bytes = frame.len() as u64;
        self.tx.send_frame(frame).await.map_err(|_| SinkClosed)?;
        self.flow.pushed(records);
        count_push(records.len(), bytes);
        Ok(())
    }

    /// Queues one push frame only if there is room now; for shared fan-out, where one slow
    /// subscriber must not hold back the others.
    pub fn try_push(&self, records: &[Arc<Record>]) -> Result<bool, SinkClosed> {
        self.try_push_with(records, |reset| {
            let flags = PushFlags { reset, dropped: 0 };
            codec::push_frame_with(self.sequence, self.subscription_id, records, flags)
        })
    }

    /// `try_push` of a batch handed to many subscriptions: the frame is assembled from the
    /// batch's messages encoded once, and is the very same frame for every subscription whose
    /// push would be byte for byte the same (same subscribe sequence and subscription id).
    pub fn try_push_shared(&self, batch: &mut SharedBatch<'_>) -> Result<bool, SinkClosed> {
        let records = batch.records;
        self.try_push_with(records, |reset| {
            batch.frame(self.sequence, self.subscription_id, reset)
        })
    }

    fn try_push_with(
        &self,
        records: &[Arc<Record>],
        frame: impl FnOnce(bool) -> Bytes,
    ) -> Result<bool, SinkClosed> {
        if records.is_empty() {
            return Ok(true);
        }
        if self.gate.is_shut() {
            return Err(SinkClosed);
        }
        // A push being queued by another task (a catch-up) goes first; this one waits its turn.
        let Ok(_pushing) = self.gate.pushing.try_lock() else {
            return Ok(false);
        };
        if self.gate.is_shut() {
            return Err(SinkClosed);
        }
        if !self.gate.is_open() || self.flow.room() < records.len() {
            return Ok(false);
        }
        let reset = self
            .gate
            .reset
            .swap(false, std::sync::atomic::Ordering::AcqRel);
        let frame = frame(reset);
        let bytes = frame.len() as u64;
        match self.tx.try_send_frame(frame) {
            Ok(false) if reset => {
                // Not queued: the next attempt carries the flag.
                self.mark_reset();
                Ok(false)
            }
            Ok(true) => {
                self.flow.pushed(records);
                count_push(records.len(), bytes);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(_) => Err(SinkClosed),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed() || self.gate.is_shut()
    }

    /// Resolves once the connection's writer has gone or the subscription is over.
    pub async fn stopped(&self) {
        tokio::select! {
            _ = self.tx.closed() => {}
            _ = self.gate.shut_down() => {}
        }
    }

    /// Ends the subscription with an error: an `ErrorResp` carrying the subscribe request's
    /// sequence (after its reply, like every push), and no push after it.
    pub async fn fail(&self, err: &crate::error::GatewayError) {
        let open = tokio::select! {
            open = self.gate.wait() => open,
            _ = self.tx.closed() => false,
        };
        if !open {
            return;
        }
        let _pushing = self.gate.pushing.lock().await;
        if self.gate.is_shut() {
            return;
        }
        self.gate.shut_now();
        let frame = codec::error_frame(self.sequence, err);
        tokio::select! {
            _ = self.tx.send_frame(frame) => {}
            _ = self.tx.closed() => {}
        }
    }

    /// Ends the subscription's pushes without waiting (the connection or the subscription is
    /// going away).
    pub fn stop(&self) {
        self.gate.shut_now();
    }

    /// The client reads too slowly for a live subscription under `slow_consumer: close`: its
    /// connection is closed with 1008 "slow consumer".
    pub fn close_slow(&self) {
        self.gate.shut_now();
        self.tx.mark_slow();
    }
}

/// One batch of records pushed to many subscriptions by a shared reader. Its messages are
/// encoded into a push body once; each distinct (sequence, subscription id) gets one frame, which
/// every subscription with that pair shares (clients that subscribe alike get identical pushes).
pub struct SharedBatch<'a> {
    records: &'a [Arc<Record>],
    body: Option<Bytes>,
    frames: HashMap<(i64, i64), Bytes>,
}

impl<'a> SharedBatch<'a> {
    pub fn new(records: &'a [Arc<Record>]) -> SharedBatch<'a> {
        SharedBatch {
            records,
            body: None,
            frames: HashMap::new(),
        }
    }

    fn frame(&mut self, sequence: i64, subscription_id: i64, reset: bool) -> Bytes {
        let records = self.records;
        let body = self
            .body
            .get_or_insert_with(|| codec::push_body(records))
            .clone();
        if reset {
            let flags = PushFlags { reset, dropped: 0 };
            return codec::push_frame_from_body(sequence, subscription_id, &body, flags);
        }
        self.frames
            .entry((sequence, subscription_id))
            .or_insert_with(|| {
                codec::push_frame_from_body(sequence, subscription_id, &body, PushFlags::default())
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs(n: i64) -> Vec<Arc<Record>> {
        (0..n)
            .map(|o| {
                Arc::new(Record::new(
                    Arc::from("t"),
                    1,
                    o,
                    5,
                    Bytes::from_static(b"k"),
                    Bytes::from(format!("value {o}")),
                    vec![],
                ))
            })
            .collect()
    }

    #[test]
    fn shared_batch_frames_are_the_frames_a_push_of_its_own_would_send() {
        let records = recs(3);
        let mut batch = SharedBatch::new(&records);
        for (seq, id, reset) in [(1, 1, false), (7, 300, false), (1, 1, true), (0, 0, false)] {
            assert_eq!(
                batch.frame(seq, id, reset),
                codec::push_frame_with(seq, id, &records, PushFlags { reset, dropped: 0 }),
                "sequence {seq}, subscription {id}, reset {reset}"
            );
        }
        let a = batch.frame(1, 1, false);
        let b = batch.frame(1, 1, false);
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "alike subscriptions share one frame"
        );
    }

    #[test]
    fn flow_room_shrinks_with_pushes_and_grows_with_acks() {
        let flow = Flow::new(3);
        let t: Arc<str> = Arc::from("t");
        let recs: Vec<_> = (0..3)
            .map(|o| {
                Arc::new(Record::new(
                    t.clone(),
                    0,
                    o,
                    0,
                    Bytes::new(),
                    Bytes::new(),
                    vec![],
                ))
            })
            .collect();
        flow.pushed(&recs);
        assert_eq!(flow.room(), 0);
        flow.ack("t", 0, 2);
        assert_eq!(flow.room(), 2);
    }

    #[test]
    fn ack_one_frees_exactly_that_message_in_any_order() {
        let flow = Flow::new(3);
        let t: Arc<str> = Arc::from("t");
        let recs: Vec<_> = (0..3)
            .map(|o| {
                Arc::new(Record::new(
                    t.clone(),
                    0,
                    o,
                    0,
                    Bytes::new(),
                    Bytes::new(),
                    vec![],
                ))
            })
            .collect();
        flow.pushed(&recs);
        flow.ack_one("t", 0, 2);
        assert_eq!(flow.room(), 1);
        flow.ack_one("t", 0, 2);
        assert_eq!(flow.room(), 1, "acking twice frees nothing more");
        flow.ack_one("t", 0, 0);
        assert_eq!(flow.room(), 2);
        flow.forget("t", 0);
        assert_eq!(flow.room(), 3);
    }
}
