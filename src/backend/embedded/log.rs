//! One topic's partitions: append-only logs with offsets from 0, bounded retention, time lookups
//! and the waiters woken by appends.

use super::*;

pub(super) struct Topic {
    pub(super) name: Arc<str>,
    /// This log's generation: a topic made again (after a restart) has another one, so a client
    /// resuming from a position of the old log is told instead of silently skipping.
    pub(super) epoch: u64,
    pub(super) partitions: Vec<Arc<Partition>>,
}

/// A fresh epoch: distinct across restarts (wall-clock nanoseconds) and within one run.
pub(super) fn new_epoch() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos
        .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
        .max(1)
}

pub(super) struct Partition {
    pub(super) log: Mutex<Log>,
    /// Subscriptions and long-polling fetches waiting for the next message.
    pub(super) waiters: Mutex<Vec<Weak<Notify>>>,
}

pub(super) struct Log {
    /// Offset of `records[0]`: the earliest retained offset.
    pub(super) start: i64,
    pub(super) records: VecDeque<Arc<Record>>,
    pub(super) bytes: usize,
}

impl Log {
    pub(super) fn end(&self) -> i64 {
        self.start + self.records.len() as i64
    }

    pub(super) fn check(&self, offset: i64) -> Result<()> {
        if offset < self.start || offset > self.end() {
            return Err(GatewayError::OffsetOutOfRange {
                offset,
                earliest: self.start,
                end: self.end(),
            });
        }
        Ok(())
    }

    /// Records from `from` (within range), at least one if any exists, then within the bounds.
    pub(super) fn read(
        &self,
        from: i64,
        max_messages: usize,
        max_bytes: usize,
    ) -> Vec<Arc<Record>> {
        let skip = (from - self.start).max(0) as usize;
        let mut out = Vec::new();
        let mut bytes = 0;
        for r in self.records.iter().skip(skip).take(max_messages) {
            if !out.is_empty() && bytes + r.size() > max_bytes {
                break;
            }
            bytes += r.size();
            out.push(r.clone());
        }
        out
    }

    /// The first offset whose timestamp is at or after `ts`: Kafka's ListOffsets by time.
    pub(super) fn offset_for_timestamp(&self, ts: i64) -> Option<i64> {
        self.records
            .iter()
            .find(|r| r.timestamp >= ts)
            .map(|r| r.offset)
    }

    pub(super) fn resolve(&self, start: Start) -> i64 {
        match start {
            Start::Latest => self.end(),
            Start::Earliest => self.start,
            Start::Last => (self.end() - 1).max(self.start),
            Start::Offset(o) => o.clamp(self.start, self.end()),
            Start::Timestamp(ts) => self.offset_for_timestamp(ts).unwrap_or(self.end()),
        }
    }
}

impl Partition {
    pub(super) fn new() -> Partition {
        Partition {
            log: Mutex::new(Log {
                start: 0,
                records: VecDeque::new(),
                bytes: 0,
            }),
            waiters: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn watch(&self, waker: &Arc<Notify>) {
        let mut waiters = lock(&self.waiters);
        waiters.retain(|w| w.strong_count() > 0);
        if !waiters.iter().any(|w| w.as_ptr() == Arc::as_ptr(waker)) {
            waiters.push(Arc::downgrade(waker));
        }
    }

    pub(super) fn wake(&self) {
        lock(&self.waiters).retain(|w| match w.upgrade() {
            Some(n) => {
                n.notify_one();
                true
            }
            None => false,
        });
    }
}
