//! A connection's outbound queue: bounded in frames and in bytes, shared by the replies of every
//! request and the pushes of every subscription, drained by the connection's one writer. It sits
//! below the session, the dispatcher and the backends, which all send through it.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, Semaphore};

use crate::metrics::METRICS;

/// What the writer task sends. A queued frame holds its share of the connection's byte budget
/// (see `Outbox::cost`); the writer gives it back once the frame is handed to the socket. Kept
/// small: the queue's first block of slots is allocated with every connection.
#[derive(Debug)]
pub enum Outbound {
    Frame(Bytes),
    Ping,
}

/// The sending side of a connection's outbound queue, bounded in frames
/// (`outbound_queue`) and in bytes (`outbound_queue_bytes`).
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outbound>,
    pub(crate) shared: Arc<Budget>,
    pub(crate) budget: usize,
}

/// The byte budget of one connection's queue, shared by its senders and its writer.
pub(crate) struct Budget {
    pub(crate) bytes: Semaphore,
    /// Senders waiting for room: a queue that still has some bytes free but not enough for the
    /// frame waiting to go in is as full as one with none, for the slow-consumer policy.
    waiting: AtomicUsize,
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

impl Outbox {
    pub(crate) fn new(tx: mpsc::Sender<Outbound>, budget: usize) -> Outbox {
        let budget = budget.clamp(1, Semaphore::MAX_PERMITS);
        Outbox {
            tx,
            shared: Arc::new(Budget {
                bytes: Semaphore::new(budget),
                waiting: AtomicUsize::new(0),
            }),
            budget,
        }
    }

    /// A frame larger than the whole budget takes all of it, so it still goes out alone.
    fn cost(&self, frame: &Bytes) -> u32 {
        cost(frame.len(), self.budget)
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
        let sent = match self.tx.try_send(Outbound::Frame(frame)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Closed),
            Err(mpsc::error::TrySendError::Full(o)) => {
                self.shared.waiting.fetch_add(1, Relaxed);
                let _waiting = Waiting(&self.shared.waiting);
                self.tx.send(o).await.map_err(|_| Closed)
            }
        };
        if sent.is_err() {
            self.shared.bytes.add_permits(cost as usize);
            return Err(Closed);
        }
        METRICS.queued_frames.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Ok(false) when there is no room right now; Err when the connection is gone.
    pub fn try_send_frame(&self, frame: Bytes) -> Result<bool, Closed> {
        if self.tx.is_closed() {
            return Err(Closed);
        }
        let cost = self.cost(&frame);
        let permit = match self.shared.bytes.try_acquire_many(cost) {
            Ok(p) => p,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => return Ok(false),
        };
        permit.forget();
        let sent = match self.tx.try_send(Outbound::Frame(frame)) {
            Ok(()) => {
                METRICS.queued_frames.fetch_add(1, Relaxed);
                return Ok(true);
            }
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Closed),
        };
        self.shared.bytes.add_permits(cost as usize);
        sent
    }

    pub(crate) fn try_ping(&self) {
        if self.tx.try_send(Outbound::Ping).is_ok() {
            METRICS.queued_frames.fetch_add(1, Relaxed);
        }
    }

    /// Whether the connection has gone: its writer ended or the session is over.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed() || self.shared.bytes.is_closed()
    }

    /// Resolves once the connection's writer has gone.
    pub async fn closed(&self) {
        self.tx.closed().await
    }

    /// Refuses every frame from now on and wakes every sender waiting for room.
    pub(crate) fn close(&self) {
        self.shared.bytes.close();
    }

    pub(crate) fn is_full(&self) -> bool {
        self.tx.capacity() == 0
            || self.shared.bytes.available_permits() == 0
            || self.shared.waiting.load(Relaxed) > 0
    }
}
