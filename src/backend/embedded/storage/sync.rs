//! The storage thread: fsyncs partitions that were written to (at once under `fsync: always`,
//! so produces arriving during one fsync share the next; every N ms under `every_ms`) and
//! applies age retention once a second. One thread per storage directory, off the runtime.

use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::config::Fsync;

/// What the storage thread does to a partition.
pub(crate) trait Syncable: Send + Sync {
    /// Makes everything written so far durable (and, under `always`, visible).
    fn sync(&self);
    /// Applies age retention.
    fn sweep(&self);
}

pub(crate) enum SyncMsg {
    /// A partition to sweep from now on.
    Watch(Weak<dyn Syncable>),
    /// A partition written to since its last sync; sent once per sync.
    Dirty(Weak<dyn Syncable>),
}

const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Starts the thread; it ends when every sender (the store and its partitions) is gone.
pub(crate) fn spawn(rx: Receiver<SyncMsg>, fsync: Fsync) -> io::Result<()> {
    std::thread::Builder::new()
        .name("embedded-storage".into())
        .spawn(move || run(rx, fsync))
        .map(|_| ())
}

fn run(rx: Receiver<SyncMsg>, fsync: Fsync) {
    let tick = match fsync {
        Fsync::Always => None,
        Fsync::EveryMs(ms) => Some(Duration::from_millis(ms)),
    };
    let mut watched: Vec<Weak<dyn Syncable>> = Vec::new();
    let mut dirty: Vec<Weak<dyn Syncable>> = Vec::new();
    let mut next_sync = Instant::now() + tick.unwrap_or(SWEEP_EVERY);
    let mut next_sweep = Instant::now() + SWEEP_EVERY;
    loop {
        let wake = match tick {
            Some(_) if !dirty.is_empty() => next_sync.min(next_sweep),
            _ => next_sweep,
        };
        let mut closed = false;
        let mut take = |m: SyncMsg| match m {
            SyncMsg::Watch(p) => watched.push(p),
            SyncMsg::Dirty(p) => dirty.push(p),
        };
        match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(m) => {
                take(m);
                while let Ok(m) = rx.try_recv() {
                    take(m);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => closed = true,
        }
        let now = Instant::now();
        if tick.is_none() || now >= next_sync || closed {
            sync_all(dirty.drain(..).filter_map(|p| p.upgrade()).collect());
            if let Some(t) = tick {
                next_sync = now + t;
            }
        }
        if closed {
            return;
        }
        if now >= next_sweep {
            watched.retain(|p| match p.upgrade() {
                Some(p) => {
                    p.sweep();
                    true
                }
                None => false,
            });
            next_sweep = now + SWEEP_EVERY;
        }
    }
}

/// Partitions synced at once: their fsyncs overlap on the disk, so a round over many dirty
/// partitions costs about one fsync, not one per partition.
const PARALLEL_SYNCS: usize = 8;

fn sync_all(parts: Vec<std::sync::Arc<dyn Syncable>>) {
    if parts.len() <= 1 {
        parts.iter().for_each(|p| p.sync());
        return;
    }
    for chunk in parts.chunks(PARALLEL_SYNCS) {
        std::thread::scope(|s| {
            for p in chunk {
                s.spawn(move || p.sync());
            }
        });
    }
}
