//! One live member's queue: the records a broker pushed for a subscription, waiting for its
//! connection. A live broker does not wait for a slow client and keeps no history to resume
//! from, so the queue is bounded in messages and in bytes (`server.limits.live_queue_*`), and
//! past its bound the slow-consumer policy applies at once:
//! - `pause` (the default): the oldest waiting records give way to the new one; the next push
//!   says how many were lost (`KafkaPush.dropped`), and they are counted per route;
//! - `close`: the connection is closed with 1008 "slow consumer".
//!
//! Together with the connection's own outbound queue (`outbound_queue_bytes`) and the one frame
//! being handed to it, this is everything a slow live subscriber can hold.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::backend::{lock, PushSink, Record, TaskGauge};
use crate::config::LiveLimits;

/// Records handed to the connection in one push, at most; fewer when they are large.
const PUSH_MESSAGES: usize = 256;
/// Bytes of records handed to the connection in one push, at most (one record always goes, so
/// a record larger than this is pushed alone).
const PUSH_BYTES: usize = 256 * 1024;

pub(crate) struct MemberQueue {
    state: Mutex<State>,
    ready: Notify,
    limits: LiveLimits,
    /// The route's `pubsub_live_dropped_total`.
    dropped_total: Arc<AtomicU64>,
}

#[derive(Default)]
struct State {
    records: VecDeque<Arc<Record>>,
    bytes: usize,
    /// Lost since the last batch taken: the next push says so.
    gap: u64,
    /// Past its bound under `close`: the member is over.
    overflowed: bool,
}

/// What the member's connection gets next.
pub(crate) enum Next {
    /// Records in arrival order, and how many were lost just before them.
    Batch(Vec<Arc<Record>>, u64),
    /// The bound was passed under `slow_consumer: close`.
    Overflowed,
}

fn size(r: &Record) -> usize {
    r.encoded.len()
}

impl MemberQueue {
    pub fn new(limits: LiveLimits, dropped_total: Arc<AtomicU64>) -> MemberQueue {
        MemberQueue {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            limits,
            dropped_total,
        }
    }

    /// Queues a record without waiting, applying the slow-consumer policy past the bound.
    pub fn offer(&self, record: &Arc<Record>) {
        let mut st = lock(&self.state);
        if st.overflowed {
            return;
        }
        let mut lost: u64 = 0;
        // An empty queue takes any one record, however large (as the outbound queue does).
        while !st.records.is_empty()
            && (st.records.len() >= self.limits.messages
                || st.bytes + size(record) > self.limits.bytes)
        {
            if self.limits.close {
                lost = st.records.len() as u64 + 1;
                st.records = VecDeque::new();
                st.bytes = 0;
                st.overflowed = true;
                break;
            }
            if let Some(old) = st.records.pop_front() {
                st.bytes -= size(&old);
                lost += 1;
            }
        }
        if !st.overflowed {
            st.bytes += size(record);
            st.records.push_back(record.clone());
            st.gap += lost;
        }
        drop(st);
        if lost > 0 {
            self.dropped_total.fetch_add(lost, Relaxed);
        }
        self.ready.notify_one();
    }

    /// Takes what is queued, waiting for something.
    pub async fn next(&self) -> Next {
        loop {
            let ready = self.ready.notified();
            if let Some(next) = self.take() {
                return next;
            }
            ready.await;
        }
    }

    fn take(&self) -> Option<Next> {
        let mut st = lock(&self.state);
        if st.overflowed {
            return Some(Next::Overflowed);
        }
        let mut bytes = 0;
        let n = st
            .records
            .iter()
            .take(PUSH_MESSAGES)
            .take_while(|r| {
                let first = bytes == 0;
                bytes += size(r).max(1);
                first || bytes <= PUSH_BYTES
            })
            .count();
        if n == 0 {
            return None;
        }
        let batch: Vec<_> = st.records.drain(..n).collect();
        st.bytes -= batch.iter().map(|r| size(r)).sum::<usize>();
        if st.records.is_empty() && st.records.capacity() > PUSH_MESSAGES {
            // A burst's storage is not kept by an idle member.
            st.records = VecDeque::new();
        }
        Some(Next::Batch(batch, std::mem::take(&mut st.gap)))
    }
}

/// A live member's task: pushes what its queue holds, with the connection's backpressure, until
/// cancelled or the connection goes; closes the connection if the queue overflowed under
/// `slow_consumer: close`.
pub(crate) async fn forward(queue: Arc<MemberQueue>, sink: PushSink, cancel: CancellationToken) {
    let _task = TaskGauge::new();
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => return,
            _ = sink.stopped() => return,
            n = queue.next() => n,
        };
        let (batch, dropped) = match next {
            Next::Batch(b, d) => (b, d),
            Next::Overflowed => {
                tracing::info!(
                    subscription = sink.subscription_id,
                    "live subscriber too slow under slow_consumer: close; closing its connection"
                );
                sink.close_slow();
                return;
            }
        };
        let pushed = tokio::select! {
            _ = cancel.cancelled() => return,
            p = sink.push_after_loss(&batch, dropped) => p,
        };
        if pushed.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rec(n: usize, len: usize) -> Arc<Record> {
        Arc::new(Record::new(
            Arc::from("t"),
            0,
            n as i64,
            0,
            Bytes::new(),
            Bytes::from(vec![b'x'; len]),
            vec![],
        ))
    }

    fn offsets(next: Next) -> (Vec<i64>, u64) {
        match next {
            Next::Batch(b, gap) => (b.iter().map(|r| r.offset).collect(), gap),
            Next::Overflowed => panic!("overflowed"),
        }
    }

    fn queue(messages: usize, bytes: usize, close: bool) -> (MemberQueue, Arc<AtomicU64>) {
        let counter = Arc::new(AtomicU64::new(0));
        let limits = LiveLimits {
            messages,
            bytes,
            close,
        };
        (MemberQueue::new(limits, counter.clone()), counter)
    }

    #[test]
    fn past_its_message_bound_the_oldest_give_way_and_the_next_batch_counts_them() {
        let (q, counter) = queue(3, usize::MAX, false);
        for n in 0..5 {
            q.offer(&rec(n, 10));
        }
        assert_eq!(offsets(q.take().unwrap()), (vec![2, 3, 4], 2));
        assert_eq!(counter.load(Relaxed), 2);
        q.offer(&rec(5, 10));
        assert_eq!(
            offsets(q.take().unwrap()),
            (vec![5], 0),
            "the gap is told once"
        );
        assert!(q.take().is_none());
    }

    #[test]
    fn past_its_byte_bound_the_oldest_give_way_but_one_large_record_always_fits() {
        let size = rec(1, 1000).encoded.len();
        let (q, counter) = queue(usize::MAX, 2 * size, false);
        for n in 1..4 {
            q.offer(&rec(n, 1000));
        }
        assert_eq!(lock(&q.state).bytes, 2 * size);
        q.offer(&rec(4, 10 * size));
        assert_eq!(counter.load(Relaxed), 3);
        assert_eq!(offsets(q.take().unwrap()), (vec![4], 3));
        assert_eq!(lock(&q.state).bytes, 0);
    }

    #[test]
    fn under_close_the_first_record_past_the_bound_ends_the_member() {
        let (q, counter) = queue(2, usize::MAX, true);
        q.offer(&rec(0, 1));
        q.offer(&rec(1, 1));
        assert!(matches!(q.take(), Some(Next::Batch(..))));
        q.offer(&rec(2, 1));
        q.offer(&rec(3, 1));
        q.offer(&rec(4, 1));
        assert!(matches!(q.take(), Some(Next::Overflowed)));
        assert_eq!(counter.load(Relaxed), 3, "what it held and the one refused");
        q.offer(&rec(5, 1));
        assert_eq!(
            lock(&q.state).records.len(),
            0,
            "an overflowed member takes nothing more"
        );
    }

    #[test]
    fn a_batch_is_bounded_in_bytes_and_messages() {
        let (q, _) = queue(usize::MAX, usize::MAX, false);
        for n in 0..PUSH_MESSAGES + 10 {
            q.offer(&rec(n, 10));
        }
        assert_eq!(offsets(q.take().unwrap()).0.len(), PUSH_MESSAGES);
        assert_eq!(offsets(q.take().unwrap()).0.len(), 10);
        let big = PUSH_BYTES / 3;
        for n in 0..5 {
            q.offer(&rec(n, big));
        }
        assert_eq!(offsets(q.take().unwrap()).0, vec![0, 1]);
        q.offer(&rec(9, 2 * PUSH_BYTES));
        assert_eq!(offsets(q.take().unwrap()).0, vec![2, 3]);
        assert_eq!(offsets(q.take().unwrap()).0, vec![4]);
        assert_eq!(
            offsets(q.take().unwrap()).0,
            vec![9],
            "alone, however large"
        );
    }
}
