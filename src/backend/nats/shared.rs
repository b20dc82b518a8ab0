//! What a JetStream subscription's tasks share: its spec and sink, the messages delivered and
//! not yet acknowledged, and the stream generation its messages belong to.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use tokio_util::sync::CancellationToken;

use crate::backend::{lock, PushSink, Record, SubscribeSpec};

/// Delivered messages a plain subscription remembers for `ack` when it has no max_in_flight.
const REMEMBERED: usize = 10_000;
/// (subject, stream sequence) -> the message, kept for groups (which acknowledge it).
type Delivered = BTreeMap<(Arc<str>, i64), Option<jetstream::Message>>;

/// Delivered, not yet acknowledged.
#[derive(Default)]
pub(super) struct InFlight {
    map: Mutex<Delivered>,
}

impl InFlight {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Delivered> {
        lock(&self.map)
    }

    pub fn delivered(&self, r: &Record, msg: Option<jetstream::Message>, bounded: bool) {
        let mut map = lock(&self.map);
        map.insert((r.topic.clone(), r.offset), msg);
        while bounded && map.len() > REMEMBERED {
            map.pop_first();
        }
    }

    /// The lowest unacknowledged sequence of a subject, for the flow window.
    pub fn lowest(&self, subject: &Arc<str>) -> i64 {
        lock(&self.map)
            .range((subject.clone(), i64::MIN)..=(subject.clone(), i64::MAX))
            .next()
            .map_or(i64::MAX, |((_, s), _)| *s)
    }
}

pub(super) struct Shared {
    pub spec: SubscribeSpec,
    pub sink: PushSink,
    pub inflight: Arc<InFlight>,
    /// The stream's generation a group's messages belong to (a group follows its stream when
    /// it is made again).
    pub epoch: AtomicU64,
    pub ack_timeout: Duration,
    pub connections: tokio::sync::watch::Receiver<u64>,
    /// The route's delivery policy (a group's nack backoff).
    pub delivery: crate::config::DeliveryPolicy,
}

impl Shared {
    /// The stream was deleted and made again: what was delivered from the old log can no longer
    /// be acknowledged, and the next push says `reset`.
    pub fn new_generation(&self) {
        self.inflight.lock().clear();
        self.sink.flow.forget_all();
        self.sink.mark_reset();
    }

    pub fn wanted(&self, r: &Record) -> bool {
        !super::reserved(&r.topic)
            && self
                .spec
                .allowed
                .as_ref()
                .is_none_or(|id| id.can_read(&r.topic))
            && r.matches_headers(&self.spec.match_headers)
    }

    /// Waits while the max_in_flight window is used up; false when cancelled.
    pub async fn room(&self, cancel: &CancellationToken) -> bool {
        while self.sink.flow.room() == 0 {
            tokio::select! {
                _ = cancel.cancelled() => return false,
                _ = self.sink.flow.acked() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
        !cancel.is_cancelled()
    }
}
