//! A connection's outbound queue: bounded in frames and in bytes, shared by the replies of every
//! request and the pushes of every subscription, drained by the connection's one writer. It sits
//! below the session, the dispatcher and the backends, which all send through it.
//!
//! Not a tokio channel: one of those allocates its first block of slots (over a KiB) with every
//! connection, idle or not. This queue's storage grows with what is queued and, after a burst,
//! is given back once the writer has drained it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore};

use crate::metrics::METRICS;

/// What the writer task sends. A queued frame holds its share of the connection's byte budget
/// (see `Outbox::cost`); the writer gives it back once the frame is handed to the socket.
#[derive(Debug)]
pub enum Outbound {
    Frame(Bytes),
    Ping,
}

/// Slots a drained queue keeps while its writer is busy; more are freed at once (a burst's
/// storage is not kept), and all of them once the writer waits for frames.
const KEEP_SLOTS: usize = 8;

/// The sending side of a connection's outbound queue, bounded in frames
/// (`outbound_queue`) and in bytes (`outbound_queue_bytes`).
#[derive(Clone)]
pub struct Outbox {
    pub(crate) shared: Arc<Budget>,
    pub(crate) budget: usize,
}

/// One connection's queue and its bounds, shared by its senders and its writer.
pub(crate) struct Budget {
    queue: Mutex<VecDeque<Outbound>>,
    /// Free frame slots of the queue.
    slots: Semaphore,
    pub(crate) bytes: Semaphore,
    /// Senders waiting for room: a queue that still has some bytes free but not enough for the
    /// frame waiting to go in is as full as one with none, for the slow-consumer policy.
    waiting: AtomicUsize,
    /// Wakes the writer when a frame is queued.
    ready: Notify,
    /// The writer has gone (or stopped taking frames): sends fail, `closed()` resolves.
    gone: AtomicBool,
    gone_changed: Notify,
    /// A live subscription of the connection could not keep up under `slow_consumer: close`.
    slow: AtomicBool,
}

pub(crate) fn cost(len: usize, budget: usize) -> u32 {
    len.clamp(1, budget).min(u32::MAX as usize) as u32
}

/// The connection's writer has gone.
#[derive(Debug)]
pub struct Closed;

/// Counts a sender as waiting for as long as it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

fn lock(q: &Mutex<VecDeque<Outbound>>) -> std::sync::MutexGuard<'_, VecDeque<Outbound>> {
    q.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writer's end of the queue. Dropping it (or `close`) tells the senders it has gone.
pub(crate) struct Inbox {
    shared: Arc<Budget>,
}

impl Outbox {
    /// A queue of at most `frames` frames and `budget` bytes, and the writer's end of it.
    pub(crate) fn channel(frames: usize, budget: usize) -> (Outbox, Inbox) {
        let budget = budget.clamp(1, Semaphore::MAX_PERMITS);
        let shared = Arc::new(Budget {
            queue: Mutex::new(VecDeque::new()),
            slots: Semaphore::new(frames.clamp(1, Semaphore::MAX_PERMITS)),
            bytes: Semaphore::new(budget),
            waiting: AtomicUsize::new(0),
            ready: Notify::new(),
            gone: AtomicBool::new(false),
            gone_changed: Notify::new(),
            slow: AtomicBool::new(false),
        });
        (
            Outbox {
                shared: shared.clone(),
                budget,
            },
            Inbox { shared },
        )
    }

    /// An outbox whose frames are forwarded into `tx`, bounded like it, for as long as `tx`'s
    /// receiver is open: for unit tests that read (or just hold) the queue as a channel.
    #[cfg(test)]
    pub(crate) fn new(tx: tokio::sync::mpsc::Sender<Outbound>, budget: usize) -> Outbox {
        let (out, mut inbox) = Outbox::channel(tx.max_capacity(), budget);
        tokio::spawn(async move {
            loop {
                let o = tokio::select! {
                    o = inbox.recv() => o,
                    _ = tx.closed() => None,
                };
                let Some(o) = o else { return };
                if tx.send(o).await.is_err() {
                    return;
                }
            }
        });
        out
    }

    /// A frame larger than the whole budget takes all of it, so it still goes out alone.
    fn cost(&self, frame: &Bytes) -> u32 {
        cost(frame.len(), self.budget)
    }

    fn gone(&self) -> bool {
        self.shared.gone.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Queues `o` into a slot already taken; Err (slot given back) when the writer has gone.
    fn enqueue(&self, o: Outbound) -> Result<(), Closed> {
        {
            let mut q = lock(&self.shared.queue);
            // Checked under the queue's lock: the writer marks itself gone under it too, so no
            // frame is queued after it stopped looking.
            if self.gone() {
                drop(q);
                self.shared.slots.add_permits(1);
                return Err(Closed);
            }
            q.push_back(o);
        }
        METRICS.queued_frames.fetch_add(1, Relaxed);
        self.shared.ready.notify_one();
        Ok(())
    }

    /// Waits for room; Err when the connection is gone. The budget is closed when the
    /// connection ends, so a sender waiting for room always wakes up then.
    pub async fn send_frame(&self, frame: Bytes) -> Result<(), Closed> {
        let cost = self.cost(&frame);
        let permit = match self.shared.bytes.try_acquire_many(cost) {
            Ok(p) => p,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                self.shared.waiting.fetch_add(1, Relaxed);
                let _waiting = Waiting(&self.shared.waiting);
                self.shared
                    .bytes
                    .acquire_many(cost)
                    .await
                    .map_err(|_| Closed)?
            }
        };
        permit.forget();
        let slot = match self.shared.slots.try_acquire() {
            Ok(p) => Ok(p),
            Err(tokio::sync::TryAcquireError::Closed) => Err(Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                self.shared.waiting.fetch_add(1, Relaxed);
                let _waiting = Waiting(&self.shared.waiting);
                self.shared.slots.acquire().await.map_err(|_| Closed)
            }
        };
        let sent = slot.and_then(|p| {
            p.forget();
            self.enqueue(Outbound::Frame(frame))
        });
        if sent.is_err() {
            self.shared.bytes.add_permits(cost as usize);
            return Err(Closed);
        }
        Ok(())
    }

    /// Ok(false) when there is no room right now; Err when the connection is gone.
    pub fn try_send_frame(&self, frame: Bytes) -> Result<bool, Closed> {
        if self.gone() {
            return Err(Closed);
        }
        let cost = self.cost(&frame);
        let permit = match self.shared.bytes.try_acquire_many(cost) {
            Ok(p) => p,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => return Ok(false),
        };
        let sent = match self.shared.slots.try_acquire() {
            Ok(slot) => {
                slot.forget();
                self.enqueue(Outbound::Frame(frame)).map(|()| true)
            }
            Err(tokio::sync::TryAcquireError::NoPermits) => Ok(false),
            Err(tokio::sync::TryAcquireError::Closed) => Err(Closed),
        };
        if sent.as_ref().is_ok_and(|queued| *queued) {
            permit.forget();
        }
        sent
    }

    pub(crate) fn try_ping(&self) {
        if let Ok(slot) = self.shared.slots.try_acquire() {
            slot.forget();
            let _ = self.enqueue(Outbound::Ping);
        }
    }

    /// Whether the connection has gone: its writer ended or the session is over.
    pub fn is_closed(&self) -> bool {
        self.gone() || self.shared.bytes.is_closed()
    }

    /// Resolves once the connection's writer has gone.
    pub async fn closed(&self) {
        loop {
            let changed = self.shared.gone_changed.notified();
            if self.gone() {
                return;
            }
            changed.await;
        }
    }

    /// Refuses every frame from now on and wakes every sender waiting for room.
    pub(crate) fn close(&self) {
        self.shared.bytes.close();
    }

    /// Asks for the connection to be closed as a slow consumer (see `is_slow`).
    pub fn mark_slow(&self) {
        self.shared.slow.store(true, Relaxed);
    }

    /// Whether a live subscription found the client too slow: the session closes it with 1008
    /// at its next slow-consumer check.
    pub(crate) fn is_slow(&self) -> bool {
        self.shared.slow.load(Relaxed)
    }

    pub(crate) fn is_full(&self) -> bool {
        self.shared.slots.available_permits() == 0
            || self.shared.bytes.available_permits() == 0
            || self.shared.waiting.load(Relaxed) > 0
    }
}

impl Inbox {
    /// The next frame, waiting for one; None once closed and drained.
    pub(crate) async fn recv(&mut self) -> Option<Outbound> {
        loop {
            let ready = self.shared.ready.notified();
            if let Some(o) = self.try_recv() {
                return Some(o);
            }
            if self.shared.gone.load(std::sync::atomic::Ordering::Acquire) {
                return None;
            }
            // Nothing queued: an idle connection keeps no queue storage.
            {
                let mut q = lock(&self.shared.queue);
                if q.is_empty() && q.capacity() > 0 {
                    *q = VecDeque::new();
                }
            }
            ready.await;
        }
    }

    /// The next frame for a writer that is not a WebSocket (an HTTP event stream): its share of
    /// the budget given back as it is taken, pings skipped; None once closed and drained.
    /// `budget` is the outbox's (`Outbox::budget`).
    pub(crate) async fn recv_frame(&mut self, budget: usize) -> Option<Bytes> {
        loop {
            let o = self.recv().await?;
            METRICS.queued_frames.fetch_sub(1, Relaxed);
            if let Outbound::Frame(b) = o {
                self.shared
                    .bytes
                    .add_permits(cost(b.len(), budget) as usize);
                return Some(b);
            }
        }
    }

    pub(crate) fn try_recv(&self) -> Option<Outbound> {
        let o = {
            let mut q = lock(&self.shared.queue);
            let o = q.pop_front();
            if q.is_empty() && q.capacity() > KEEP_SLOTS {
                *q = VecDeque::new();
            }
            o
        }?;
        self.shared.slots.add_permits(1);
        Some(o)
    }

    /// Takes no more frames (those queued can still be taken) and wakes senders waiting for a
    /// slot.
    pub(crate) fn close(&mut self) {
        {
            let _q = lock(&self.shared.queue);
            self.shared
                .gone
                .store(true, std::sync::atomic::Ordering::Release);
        }
        self.shared.slots.close();
        self.shared.gone_changed.notify_waiters();
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.close();
        let left = lock(&self.shared.queue).drain(..).count();
        METRICS.queued_frames.fetch_sub(left as i64, Relaxed);
    }
}
