//! The shared JetStream tail: every plain (non-group) subscription of one subject of a stream
//! reads the live end of the stream through one ordered consumer, each message made a `Record`
//! once and handed to every subscriber, as the Kafka tail does. A subscription starting in the
//! past, or one that falls behind (its connection's queue full, or its max_in_flight window used
//! up), reads on its own from its next sequence until it reaches the tail, then joins it again:
//! nothing lost, nothing twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::reader::{js_record, new_generation, Reader};
use super::shared::Shared;
use crate::backend::{Record, SinkClosed, TaskGauge};

const PUSH_BATCH: usize = 256;

use crate::backend::lock;

/// (stream, its epoch, subject).
type Key = (String, u64, String);

#[derive(Default)]
pub(super) struct Tails {
    map: Mutex<HashMap<Key, Arc<Tail>>>,
}

pub(super) struct Tail {
    key: Key,
    state: Mutex<TailState>,
    cancel: CancellationToken,
}

struct TailState {
    /// The last stream sequence the tail has handed out: everything after it comes through it.
    seen: u64,
    attached: Vec<Attached>,
    /// Subscriptions using the tail, attached or catching up.
    users: usize,
}

struct Attached {
    shared: Arc<Shared>,
    /// First sequence this subscription still needs.
    from: u64,
    /// Told when it must leave the tail.
    lag: mpsc::UnboundedSender<Lag>,
}

/// Why an attached subscription leaves the tail.
enum Lag {
    /// It fell behind: it catches up alone from this sequence.
    From(u64),
    /// The stream was deleted and made again (this generation, its handle): the subscription
    /// starts over on the new log.
    Generation(Box<async_nats::jetstream::stream::Stream>, u64),
}

impl Tails {
    /// The tail of `reader`'s subject (made on first use, reading from `end`), with one more
    /// user; dropping the `TailUse` gives it back.
    pub fn join(
        self: &Arc<Self>,
        key: Key,
        reader: Reader,
        end: u64,
        timeout: Duration,
    ) -> TailUse {
        let mut map = lock(&self.map);
        let tail = match map.get(&key) {
            // (A tail that ended on a new generation of its stream is not joined again.)
            Some(t) if !t.cancel.is_cancelled() => t.clone(),
            _ => {
                let tail = Arc::new(Tail {
                    key: key.clone(),
                    state: Mutex::new(TailState {
                        seen: end.saturating_sub(1),
                        attached: Vec::new(),
                        users: 0,
                    }),
                    cancel: CancellationToken::new(),
                });
                let mut reader = reader;
                reader.policy = async_nats::jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: end.max(1),
                };
                reader.last = 0;
                tokio::spawn(tail_loop(tail.clone(), reader, timeout));
                map.insert(key, tail.clone());
                tail
            }
        };
        lock(&tail.state).users += 1;
        TailUse {
            tails: self.clone(),
            tail,
        }
    }
}

pub(super) struct TailUse {
    tails: Arc<Tails>,
    pub tail: Arc<Tail>,
}

impl Drop for TailUse {
    fn drop(&mut self) {
        let mut map = lock(&self.tails.map);
        let mut st = lock(&self.tail.state);
        st.users = st.users.saturating_sub(1);
        if st.users == 0 {
            self.tail.cancel.cancel();
            if map
                .get(&self.tail.key)
                .is_some_and(|t| Arc::ptr_eq(t, &self.tail))
            {
                map.remove(&self.tail.key);
            }
        }
    }
}

impl Tail {
    /// Attaches a subscription whose next sequence is `next` if the tail has not handed out
    /// anything it needs yet; false = keep catching up.
    fn attach(&self, shared: &Arc<Shared>, next: u64, lag: &mpsc::UnboundedSender<Lag>) -> bool {
        let mut st = lock(&self.state);
        if next <= st.seen {
            return false;
        }
        st.attached.push(Attached {
            shared: shared.clone(),
            from: next,
            lag: lag.clone(),
        });
        true
    }

    /// The tail's stream was deleted and made again: every attached subscription starts over on
    /// the new log, and the tail ends (nothing attaches to it any more).
    fn end_generation(&self, stream: &async_nats::jetstream::stream::Stream, epoch: u64) {
        let mut st = lock(&self.state);
        st.seen = u64::MAX;
        for a in st.attached.drain(..) {
            let _ = a.lag.send(Lag::Generation(Box::new(stream.clone()), epoch));
        }
        self.cancel.cancel();
    }

    fn detach(&self, shared: &Arc<Shared>) {
        lock(&self.state)
            .attached
            .retain(|a| !Arc::ptr_eq(&a.shared, shared));
    }

    fn deliver(&self, records: &[Arc<Record>]) {
        let Some(last) = records.last() else { return };
        let mut st = lock(&self.state);
        st.seen = st.seen.max(u64::try_from(last.offset).unwrap_or(0));
        st.attached.retain(|a| {
            let due: Vec<Arc<Record>> = records
                .iter()
                .filter(|r| u64::try_from(r.offset).unwrap_or(0) >= a.from)
                .cloned()
                .collect();
            let Some(first) = due.first().map(|r| u64::try_from(r.offset).unwrap_or(0)) else {
                return true;
            };
            let wanted: Vec<Arc<Record>> =
                due.iter().filter(|r| a.shared.wanted(r)).cloned().collect();
            // Known before the push, so an ack racing the push finds them.
            let bounded = a.shared.spec.max_in_flight == 0;
            for r in &wanted {
                a.shared.inflight.delivered(r, None, bounded);
            }
            let forget = || {
                let mut map = a.shared.inflight.lock();
                for r in &wanted {
                    map.remove(&(r.topic.clone(), r.offset));
                }
            };
            match a.shared.sink.try_push(&wanted) {
                Ok(true) => true,
                // Queue full or window used up: read alone from the first one not delivered.
                Ok(false) => {
                    forget();
                    let _ = a.lag.send(Lag::From(first));
                    false
                }
                Err(SinkClosed) => false,
            }
        });
    }
}

async fn tail_loop(tail: Arc<Tail>, mut reader: Reader, timeout: Duration) {
    let mut messages = None;
    let mut errors = 0u32;
    let mut opened = false;
    loop {
        if messages.is_none() && opened {
            if let Some((stream, epoch)) =
                new_generation(&reader.stream, reader.epoch, timeout).await
            {
                tail.end_generation(&stream, epoch);
                return;
            }
        }
        let current = match &mut messages {
            Some(m) => m,
            None => match reader.open(timeout).await {
                Ok(m) => {
                    opened = true;
                    messages.insert(m)
                }
                Err(e) => {
                    opened = true;
                    errors += 1;
                    if errors.is_power_of_two() {
                        tracing::warn!(error = %e, "JetStream tail interrupted; retrying");
                    }
                    tokio::select! {
                        _ = tail.cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    }
                    continue;
                }
            },
        };
        let mut connections = reader.connections.clone();
        let next = tokio::select! {
            _ = tail.cancel.cancelled() => return,
            n = current.next() => n,
            _ = connections.changed() => {
                reader.connections = connections;
                messages = None;
                continue;
            }
        };
        let first = match next {
            Some(Ok(m)) => m,
            Some(Err(_)) | None => {
                messages = None;
                continue;
            }
        };
        errors = 0;
        let mut batch = Vec::new();
        for m in std::iter::once(first)
            .chain(std::iter::from_fn(
                || match futures_util::FutureExt::now_or_never(current.next()) {
                    Some(Some(Ok(m))) => Some(m),
                    _ => None,
                },
            ))
            .take(PUSH_BATCH)
        {
            if let Ok(r) = js_record(&m, reader.epoch) {
                reader.last = reader.last.max(u64::try_from(r.offset).unwrap_or(0));
                batch.push(r);
            }
        }
        tail.deliver(&batch);
    }
}

/// One plain subscription on the tail: attached, or catching up alone from `next`; when its
/// stream is deleted and made again, it starts over on the new log (its next push says
/// `reset`), through the new generation's tail.
pub(super) async fn member_loop(
    shared: Arc<Shared>,
    mut reader: Reader,
    mut tail: TailUse,
    mut next: u64,
    cancel: CancellationToken,
) {
    let _task = TaskGauge::new();
    let (lag_tx, mut lag_rx) = mpsc::unbounded_channel();
    while let Followed::NewGeneration = follow(
        &shared,
        &mut reader,
        &tail,
        &mut next,
        &lag_tx,
        &mut lag_rx,
        &cancel,
    )
    .await
    {
        tail.tail.detach(&shared);
        shared.new_generation();
        next = 1;
        let key = (
            tail.tail.key.0.clone(),
            reader.epoch,
            reader.subject.clone(),
        );
        tail = tail.tails.join(key, reader.clone(), 1, shared.ack_timeout);
    }
    tail.tail.detach(&shared);
}

enum Followed {
    /// The subscription is over.
    Ended,
    /// `reader` is on a new generation of the stream, from its beginning.
    NewGeneration,
}

/// Follows the stream within one generation.
async fn follow(
    shared: &Arc<Shared>,
    reader: &mut Reader,
    tail: &TailUse,
    next: &mut u64,
    lag_tx: &mpsc::UnboundedSender<Lag>,
    lag_rx: &mut mpsc::UnboundedReceiver<Lag>,
    cancel: &CancellationToken,
) -> Followed {
    let bounded = shared.spec.max_in_flight == 0;
    // Attached: the tail delivers until this subscription must leave it.
    let left = |lag: Option<Lag>, reader: &mut Reader, next: &mut u64| match lag {
        Some(Lag::From(from)) => {
            *next = from;
            None
        }
        Some(Lag::Generation(stream, epoch)) => {
            reader.move_to(*stream, epoch);
            Some(Followed::NewGeneration)
        }
        None => Some(Followed::Ended),
    };
    if tail.tail.attach(shared, *next, lag_tx) {
        let lag = tokio::select! {
            _ = cancel.cancelled() => return Followed::Ended,
            lag = lag_rx.recv() => lag,
        };
        if let Some(done) = left(lag, reader, next) {
            return done;
        }
        if shared.sink.is_closed() {
            return Followed::Ended;
        }
    }
    // Catching up: an ordered consumer of its own from `next`, until the tail is reached.
    reader.policy = async_nats::jetstream::consumer::DeliverPolicy::ByStartSequence {
        start_sequence: (*next).max(1),
    };
    reader.last = 0;
    let mut messages = None;
    let mut opened = false;
    loop {
        if !shared.room(cancel).await {
            return Followed::Ended;
        }
        if messages.is_none() && opened && reader.renew_generation(shared.ack_timeout).await {
            return Followed::NewGeneration;
        }
        let current = match &mut messages {
            Some(m) => m,
            None => {
                opened = true;
                match reader.open(shared.ack_timeout).await {
                    Ok(m) => messages.insert(m),
                    Err(_) => {
                        tokio::select! {
                            _ = cancel.cancelled() => return Followed::Ended,
                            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                        }
                        continue;
                    }
                }
            }
        };
        let mut connections = reader.connections.clone();
        let got = tokio::select! {
            _ = cancel.cancelled() => return Followed::Ended,
            n = current.next() => Some(n),
            _ = connections.changed() => {
                reader.connections = connections;
                messages = None;
                continue;
            }
            // Nothing more to read for now: reached the end of the stream.
            _ = tokio::time::sleep(Duration::from_millis(100)) => None,
        };
        let first = match got {
            None => {
                if tail.tail.attach(shared, *next, lag_tx) {
                    // Attached under the tail's lock: wait there.
                    let lag = tokio::select! {
                        _ = cancel.cancelled() => return Followed::Ended,
                        lag = lag_rx.recv() => lag,
                    };
                    if let Some(done) = left(lag, reader, next) {
                        return done;
                    }
                    reader.policy =
                        async_nats::jetstream::consumer::DeliverPolicy::ByStartSequence {
                            start_sequence: (*next).max(1),
                        };
                    reader.last = 0;
                    messages = None;
                    opened = false;
                }
                continue;
            }
            Some(Some(Ok(m))) => m,
            Some(Some(Err(_)) | None) => {
                messages = None;
                continue;
            }
        };
        let room = shared.sink.flow.room().min(PUSH_BATCH);
        let mut batch = Vec::new();
        let mut read = 0;
        for m in std::iter::once(first).chain(std::iter::from_fn(|| {
            match futures_util::FutureExt::now_or_never(current.next()) {
                Some(Some(Ok(m))) => Some(m),
                _ => None,
            }
        })) {
            read += 1;
            if let Ok(r) = js_record(&m, reader.epoch) {
                let seq = u64::try_from(r.offset).unwrap_or(0);
                *next = (*next).max(seq + 1);
                reader.last = reader.last.max(seq);
                if shared.wanted(&r) {
                    batch.push(r);
                }
            }
            if read >= room {
                break;
            }
        }
        for r in &batch {
            shared.inflight.delivered(r, None, bounded);
        }
        let pushed = tokio::select! {
            _ = cancel.cancelled() => return Followed::Ended,
            p = shared.sink.push(&batch) => p,
        };
        if pushed.is_err() {
            return Followed::Ended;
        }
    }
}
