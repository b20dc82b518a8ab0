//! One topic's partitions: append-only logs with offsets from 0, bounded retention, time lookups
//! and the waiters woken by appends. In memory, or (with `storage`) on disk with the newest
//! messages kept in memory for live subscribers.

use super::storage::{storage_error, Batch, DiskLog, ReadError, SyncMsg};
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
    /// A durable partition's link to the storage thread.
    pub(super) disk: Option<PartitionDisk>,
}

pub(super) struct PartitionDisk {
    pub(super) tx: std::sync::mpsc::Sender<SyncMsg>,
    pub(super) me: Weak<Partition>,
}

pub(super) struct Log {
    /// The earliest retained offset (in memory, that of `records[0]`).
    pub(super) start: i64,
    /// In memory, every retained record; on disk, the newest ones (the rest is read from disk).
    pub(super) records: VecDeque<Arc<Record>>,
    pub(super) bytes: usize,
    pub(super) disk: Option<Box<DiskLog>>,
}

/// What an append asks of its caller.
pub(super) struct Appended {
    /// Readers may see it now (else once synced).
    pub(super) visible: bool,
    /// The partition must be queued for a sync.
    pub(super) queue_sync: bool,
    /// `fsync: always`: the round whose outcome answers the produce.
    pub(super) batch: Option<Arc<Batch>>,
}

impl Log {
    pub(super) fn memory() -> Log {
        Log {
            start: 0,
            records: VecDeque::new(),
            bytes: 0,
            disk: None,
        }
    }

    pub(super) fn end(&self) -> i64 {
        match &self.disk {
            Some(d) => d.visible_end,
            None => self.start + self.records.len() as i64,
        }
    }

    /// The offset the next append gets (past what is still being synced).
    pub(super) fn next_offset(&self) -> i64 {
        match &self.disk {
            Some(d) => d.written_end(),
            None => self.end(),
        }
    }

    /// The first offset held in memory.
    fn tail_start(&self) -> i64 {
        self.records.front().map_or(self.end(), |r| r.offset)
    }

    /// Appends a record with the next offset, then applies retention.
    pub(super) fn append(&mut self, rec: Arc<Record>, opts: &EmbeddedOptions) -> Result<Appended> {
        let Some(d) = self.disk.as_mut() else {
            self.bytes += retained_size(&rec);
            self.records.push_back(rec);
            // Retention: the newest message always stays, so a produce is never lost at once.
            while self.records.len() > 1
                && (self.records.len() > opts.retention_messages
                    || self.bytes > opts.retention_bytes)
            {
                if let Some(old) = self.records.pop_front() {
                    self.bytes -= retained_size(&old);
                    self.start += 1;
                }
            }
            return Ok(Appended {
                visible: true,
                queue_sync: false,
                batch: None,
            });
        };
        d.append(&rec).map_err(|e| {
            let err = storage_error(&format!("failed to write to {}/{}", rec.topic, rec.partition), &e);
            tracing::warn!(topic = %rec.topic, partition = rec.partition, error = %e, "produce not stored");
            err
        })?;
        let always = d.limits.always;
        let queue_sync = !d.sync_queued;
        d.sync_queued = true;
        let mut batch = None;
        if always {
            // Retention waits for the round too: only what is visible can go.
            d.pending.push_back(rec);
            batch = Some(d.batch.clone());
        } else {
            d.visible_end = d.written_end();
            self.push_tail(rec);
            self.retain();
        }
        Ok(Appended {
            visible: !always,
            queue_sync,
            batch,
        })
    }

    /// Keeps the newest records in memory within the cache bounds.
    fn push_tail(&mut self, rec: Arc<Record>) {
        let (messages, bytes) = self.disk.as_ref().map_or((usize::MAX, usize::MAX), |d| {
            (d.limits.cache_messages, d.limits.cache_bytes)
        });
        self.bytes += retained_size(&rec);
        self.records.push_back(rec);
        while self.records.len() > messages || self.bytes > bytes {
            match self.records.pop_front() {
                Some(old) => self.bytes -= retained_size(&old),
                None => break,
            }
        }
    }

    /// Disk retention, and the memory tail brought in line with it.
    pub(super) fn retain(&mut self) {
        let Some(d) = self.disk.as_mut() else { return };
        // The clock only for age retention: this runs for every append under `every_ms`.
        let now = if d.limits.keep_ms > 0 { now_ms() } else { 0 };
        d.retain(now);
        self.start = d.start();
        while self.records.front().is_some_and(|r| r.offset < self.start) {
            if let Some(old) = self.records.pop_front() {
                self.bytes -= retained_size(&old);
            }
        }
    }

    /// `fsync: always`: what a sync covered becomes visible.
    pub(super) fn promote(&mut self, upto: i64) {
        let Some(d) = self.disk.as_mut() else { return };
        let mut moved = Vec::new();
        while d.pending.front().is_some_and(|r| r.offset < upto) {
            moved.extend(d.pending.pop_front());
        }
        d.visible_end = d.visible_end.max(upto);
        for rec in moved {
            self.push_tail(rec);
        }
        self.retain();
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
    /// A damaged stored record is an error naming it (and where reading may resume), never an
    /// empty answer: an empty one would look like "caught up" and stall its reader for ever.
    pub(super) fn read(
        &self,
        from: i64,
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<Vec<Arc<Record>>> {
        if let Some(d) = &self.disk {
            let tail = self.tail_start();
            if from < tail {
                return d
                    .read(from, max_messages, max_bytes, tail)
                    .map_err(|e| match e {
                        ReadError::Damaged(d) => GatewayError::CorruptMessage {
                            offset: d.offset,
                            next: d.next,
                            segment: d.segment,
                        },
                        ReadError::Io(e) => {
                            tracing::warn!(error = %e, "stored messages unreadable");
                            storage_error("failed to read stored messages", &e)
                        }
                    });
            }
        }
        let skip = (from - self.tail_start()).max(0) as usize;
        let mut out = Vec::new();
        let mut bytes = 0;
        for r in self.records.iter().skip(skip).take(max_messages) {
            if !out.is_empty() && bytes + r.size() > max_bytes {
                break;
            }
            bytes += r.size();
            out.push(r.clone());
        }
        Ok(out)
    }

    /// The first offset whose timestamp is at or after `ts`: Kafka's ListOffsets by time.
    pub(super) fn offset_for_timestamp(&self, ts: i64) -> Option<i64> {
        if let Some(d) = &self.disk {
            return d.offset_for_timestamp(ts, self.end()).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "stored messages unreadable");
                None
            });
        }
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
            log: Mutex::new(Log::memory()),
            waiters: Mutex::new(Vec::new()),
            disk: None,
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
