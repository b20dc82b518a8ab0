//! The storage thread: fsyncs partitions that were written to (at once under `fsync: always`,
//! so produces arriving during one fsync share the next; every N ms under `every_ms`) and
//! applies age retention once a second. One thread per storage directory, off the runtime.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::config::Fsync;

/// What the storage thread does to a partition.
pub(crate) trait Syncable: Send + Sync {
    /// Makes everything written so far durable (and, under `always`, visible). The produces it
    /// completed are handed back rather than woken, so that one round wakes each waiting
    /// connection once, not once per partition.
    fn sync(&self) -> Synced;
    /// Wakes the partition's live readers after a sync made records visible.
    fn wake_readers(&self);
    /// Applies age retention.
    fn sweep(&self);
}

/// What a partition's sync made due.
#[derive(Default)]
pub(crate) struct Synced {
    /// The produces acknowledged by this sync.
    pub(crate) waiters: Vec<Waker>,
    /// Records became visible: live readers have more to read.
    pub(crate) readers: bool,
}

pub(crate) enum SyncMsg {
    /// A partition to sweep from now on.
    Watch(Weak<dyn Syncable>),
    /// A partition written to since its last sync; sent once per sync.
    Dirty(Weak<dyn Syncable>),
    /// The produces the storage thread waits for have arrived.
    Crowd,
}

/// Under `always`, the produces waiting for the next sync. An fdatasync costs ~100 µs of CPU
/// here whatever it writes, so a storage thread that syncs again as soon as a round ends pays
/// that for every written partition a thousand times a second under load, and each round
/// acknowledges only the few produces that came in during the last one. So after a round that
/// acknowledged a crowd of produces, the next one waits until as many have arrived again (their
/// clients got the answers and sent the next) or PACE has passed since the last round began,
/// whichever is first. A lone producer (a round of one) never waits.
#[derive(Default)]
pub(crate) struct Crowd {
    /// Produces that started waiting since the last round began.
    waiting: AtomicUsize,
    /// The count that ends the storage thread's wait; usize::MAX when it is not waiting.
    wanted: AtomicUsize,
}

impl Crowd {
    /// Counts a produce that has to wait for a sync; true when it completes the crowd the
    /// storage thread waits for, so the caller sends [`SyncMsg::Crowd`].
    pub(crate) fn arrived(&self) -> bool {
        let n = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        n == self.wanted.load(Ordering::SeqCst)
    }

    fn is_back(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) >= self.wanted.load(Ordering::SeqCst)
    }
}

/// The longest a round waits for the crowd, from the start of the round before it: the time
/// Kafka 4's producer lingers by default to fill a batch. Measured (BENCHMARKS.md): 1 ms and
/// 2 ms gave smaller rounds and 0.43-0.50 of memory mode's produce rate, 5 ms 0.54.
const PACE: Duration = Duration::from_millis(5);

const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Starts the thread; it ends when every sender (the store and its partitions) is gone.
pub(crate) fn spawn(rx: Receiver<SyncMsg>, fsync: Fsync, crowd: Arc<Crowd>) -> io::Result<()> {
    spawn_paced(rx, fsync, crowd, PACE)
}

fn spawn_paced(
    rx: Receiver<SyncMsg>,
    fsync: Fsync,
    crowd: Arc<Crowd>,
    pace: Duration,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("embedded-storage".into())
        .spawn(move || run(rx, fsync, &crowd, pace))
        .map(|_| ())
}

#[derive(Default)]
struct Work {
    watched: Vec<Weak<dyn Syncable>>,
    dirty: Vec<Weak<dyn Syncable>>,
}

impl Work {
    fn take(&mut self, m: SyncMsg) {
        match m {
            SyncMsg::Watch(p) => self.watched.push(p),
            SyncMsg::Dirty(p) => self.dirty.push(p),
            SyncMsg::Crowd => {}
        }
    }

    /// Takes every message already sent, without waiting.
    fn take_queued(&mut self, rx: &Receiver<SyncMsg>) {
        while let Ok(m) = rx.try_recv() {
            self.take(m);
        }
    }
}

fn run(rx: Receiver<SyncMsg>, fsync: Fsync, crowd: &Crowd, pace: Duration) {
    let tick = match fsync {
        Fsync::Always => None,
        Fsync::EveryMs(ms) => Some(Duration::from_millis(ms)),
    };
    let mut work = Work::default();
    let mut helpers = Helpers::default();
    crowd.wanted.store(usize::MAX, Ordering::SeqCst);
    // Under `always`, when the last round acknowledged a crowd: the latest the next one waits to.
    let mut gather: Option<Instant> = None;
    let mut next_sync = Instant::now() + tick.unwrap_or(SWEEP_EVERY);
    let mut next_sweep = Instant::now() + SWEEP_EVERY;
    loop {
        let wake = match tick {
            Some(_) if !work.dirty.is_empty() => next_sync.min(next_sweep),
            _ => next_sweep,
        };
        let mut closed = false;
        match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(m) => {
                work.take(m);
                work.take_queued(&rx);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => closed = true,
        }
        if let Some(deadline) = gather.filter(|_| !work.dirty.is_empty() && !closed) {
            while !crowd.is_back() {
                match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(m) => work.take(m),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            work.take_queued(&rx);
        }
        let now = Instant::now();
        let round = closed
            || match tick {
                None => !work.dirty.is_empty(),
                Some(_) => now >= next_sync,
            };
        if round {
            crowd.wanted.store(usize::MAX, Ordering::SeqCst);
            crowd.waiting.store(0, Ordering::SeqCst);
            let parts: Vec<_> = work.dirty.drain(..).filter_map(|p| p.upgrade()).collect();
            let acked = helpers.sync_all(&parts);
            gather = None;
            if tick.is_none() && acked > 1 {
                gather = Some(now + pace);
                crowd.wanted.store(acked, Ordering::SeqCst);
            }
            if let Some(t) = tick {
                next_sync = now + t;
            }
        }
        if closed {
            return;
        }
        if now >= next_sweep {
            work.watched.retain(|p| match p.upgrade() {
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

type Job = (Arc<dyn Syncable>, mpsc::Sender<(Arc<dyn Syncable>, Synced)>);

/// Threads that fsync beside the storage thread, started on the first round that needs them
/// and kept: a round every millisecond or so cannot pay for thread starts.
#[derive(Default)]
struct Helpers {
    jobs: Vec<mpsc::Sender<Job>>,
}

impl Helpers {
    /// Syncs `parts` (up to PARALLEL_SYNCS at once), then wakes every produce the round
    /// completed and then the live readers; returns how many produces it completed.
    fn sync_all(&mut self, parts: &[Arc<dyn Syncable>]) -> usize {
        let mut done: Vec<(Arc<dyn Syncable>, Synced)> = Vec::with_capacity(parts.len());
        for chunk in parts.chunks(PARALLEL_SYNCS) {
            let (tx, rx) = mpsc::channel();
            let mut sent = 0;
            for p in &chunk[1..] {
                match self.helper(sent) {
                    Some(h) if h.send((p.clone(), tx.clone())).is_ok() => sent += 1,
                    _ => done.push((p.clone(), p.sync())),
                }
            }
            done.push((chunk[0].clone(), chunk[0].sync()));
            drop(tx);
            done.extend(rx.iter().take(sent));
        }
        let mut acked = 0;
        for (_, s) in &mut done {
            acked += s.waiters.len();
            s.waiters.drain(..).for_each(Waker::wake);
        }
        for (p, s) in &done {
            if s.readers {
                p.wake_readers();
            }
        }
        acked
    }

    /// The i-th helper, started if it is not running; None if no thread can be started.
    fn helper(&mut self, i: usize) -> Option<&mpsc::Sender<Job>> {
        if i >= self.jobs.len() {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("embedded-fsync".into())
                .spawn(move || {
                    for (p, reply) in rx {
                        let synced = p.sync();
                        let _ = reply.send((p, synced));
                    }
                })
                .ok()?;
            self.jobs.push(tx);
        }
        self.jobs.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::mpsc::Sender;
    use std::sync::Mutex;
    use std::task::Wake;
    use std::thread::ThreadId;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A partition whose every sync completes `waiters` produces.
    #[derive(Default)]
    struct Fake {
        waiters: usize,
        syncs: AtomicUsize,
        sweeps: AtomicUsize,
        readers_woken: AtomicUsize,
        produces: Arc<Count>,
        threads: Arc<Mutex<HashSet<ThreadId>>>,
    }

    impl Syncable for Fake {
        fn sync(&self) -> Synced {
            self.threads
                .lock()
                .unwrap()
                .insert(std::thread::current().id());
            self.syncs.fetch_add(1, Ordering::SeqCst);
            Synced {
                waiters: (0..self.waiters)
                    .map(|_| Waker::from(self.produces.clone()))
                    .collect(),
                readers: true,
            }
        }
        fn wake_readers(&self) {
            self.readers_woken.fetch_add(1, Ordering::SeqCst);
        }
        fn sweep(&self) {
            self.sweeps.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn fake(waiters: usize) -> Arc<Fake> {
        Arc::new(Fake {
            waiters,
            ..Fake::default()
        })
    }

    fn weak(p: &Arc<Fake>) -> Weak<dyn Syncable> {
        Arc::downgrade(p) as Weak<dyn Syncable>
    }

    fn dirty(tx: &Sender<SyncMsg>, p: &Arc<Fake>) {
        tx.send(SyncMsg::Dirty(weak(p))).unwrap();
    }

    fn syncs(p: &Fake) -> usize {
        p.syncs.load(Ordering::SeqCst)
    }

    fn eventually(what: &str, ok: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !ok() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Long enough that a round that waits for it cannot pass for one that did not.
    const LONG: Duration = Duration::from_secs(30);

    #[test]
    fn one_round_syncs_every_dirty_partition_on_kept_helpers_and_wakes_each_produce_once() {
        let produces = Arc::new(Count::default());
        let threads = Arc::new(Mutex::new(HashSet::new()));
        // More partitions than are synced at once: two batches in one round.
        let parts: Vec<Arc<Fake>> = (0..PARALLEL_SYNCS + 2)
            .map(|_| {
                Arc::new(Fake {
                    waiters: 2,
                    produces: produces.clone(),
                    threads: threads.clone(),
                    ..Fake::default()
                })
            })
            .collect();
        let (tx, rx) = mpsc::channel();
        parts.iter().for_each(|p| dirty(&tx, p));
        let crowd = Arc::new(Crowd::default());
        spawn_paced(rx, Fsync::Always, crowd.clone(), Duration::ZERO).unwrap();
        let n = parts.len();
        eventually("every produce woken", || {
            produces.0.load(Ordering::SeqCst) == 2 * n
        });
        eventually("the readers woken", || {
            parts
                .iter()
                .all(|p| p.readers_woken.load(Ordering::SeqCst) == 1)
        });
        assert!(parts.iter().all(|p| syncs(p) == 1));
        // The round acknowledged 2n produces: the next waits for as many.
        eventually("the crowd awaited", || {
            crowd.wanted.load(Ordering::SeqCst) == 2 * n
        });
        assert_eq!(produces.0.load(Ordering::SeqCst), 2 * n, "woken once each");
        // The storage thread and PARALLEL_SYNCS - 1 helpers, the same ones round after round.
        let used = threads.lock().unwrap().len();
        assert_eq!(used, PARALLEL_SYNCS);
        for round in 2..=4 {
            parts.iter().for_each(|p| dirty(&tx, p));
            for _ in 0..2 * n {
                crowd.arrived();
            }
            tx.send(SyncMsg::Crowd).unwrap();
            eventually("the next round", || parts.iter().all(|p| syncs(p) == round));
        }
        assert_eq!(threads.lock().unwrap().len(), used, "helpers are kept");
    }

    #[test]
    fn after_a_crowd_the_next_round_waits_until_as_many_produces_wait_again() {
        let p = fake(3);
        let (tx, rx) = mpsc::channel();
        dirty(&tx, &p);
        let crowd = Arc::new(Crowd::default());
        spawn_paced(rx, Fsync::Always, crowd.clone(), LONG).unwrap();
        eventually("the first round's crowd", || {
            crowd.wanted.load(Ordering::SeqCst) == 3
        });
        dirty(&tx, &p);
        assert!(!crowd.arrived(), "one of three");
        assert!(!crowd.arrived(), "two of three");
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(syncs(&p), 1, "no round before the crowd is back");
        assert!(crowd.arrived(), "the third completes the crowd");
        tx.send(SyncMsg::Crowd).unwrap();
        eventually("the second round", || syncs(&p) == 2);
    }

    #[test]
    fn without_its_crowd_the_next_round_still_comes_after_the_pace() {
        let p = fake(2);
        let (tx, rx) = mpsc::channel();
        dirty(&tx, &p);
        let crowd = Arc::new(Crowd::default());
        spawn_paced(rx, Fsync::Always, crowd.clone(), Duration::from_millis(50)).unwrap();
        eventually("the first round's crowd", || {
            crowd.wanted.load(Ordering::SeqCst) == 2
        });
        dirty(&tx, &p);
        eventually("the second round", || syncs(&p) == 2);
    }

    #[test]
    fn a_round_of_one_produce_awaits_nobody() {
        let lone = fake(1);
        let (tx, rx) = mpsc::channel();
        dirty(&tx, &lone);
        let crowd = Arc::new(Crowd::default());
        spawn_paced(rx, Fsync::Always, crowd.clone(), LONG).unwrap();
        eventually("the first round", || syncs(&lone) == 1);
        dirty(&tx, &lone);
        eventually("the second round at once", || syncs(&lone) == 2);
        assert_eq!(crowd.wanted.load(Ordering::SeqCst), usize::MAX);
        assert!(!crowd.arrived());
    }

    #[test]
    fn every_ms_syncs_on_its_tick_not_before_and_awaits_no_crowd() {
        let p = fake(5);
        let (tx, rx) = mpsc::channel();
        let crowd = Arc::new(Crowd::default());
        spawn_paced(rx, Fsync::EveryMs(600), crowd.clone(), LONG).unwrap();
        dirty(&tx, &p);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(syncs(&p), 0, "not before the first tick");
        eventually("the tick's sync", || syncs(&p) == 1);
        dirty(&tx, &p);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(syncs(&p), 1, "not before the next tick");
        eventually("the next tick's sync", || syncs(&p) == 2);
        assert_eq!(crowd.wanted.load(Ordering::SeqCst), usize::MAX);
    }

    #[test]
    fn every_ms_wakes_for_its_tick_not_for_the_next_sweep() {
        let p = fake(1);
        let (tx, rx) = mpsc::channel();
        spawn_paced(rx, Fsync::EveryMs(50), Arc::new(Crowd::default()), LONG).unwrap();
        let t = Instant::now();
        dirty(&tx, &p);
        eventually("the tick's sync", || syncs(&p) == 1);
        // The sweep is a second away; the tick 50 ms.
        assert!(t.elapsed() < SWEEP_EVERY * 3 / 4, "{:?}", t.elapsed());
    }

    #[test]
    fn watched_partitions_are_swept_once_a_second_not_on_every_wake() {
        let p = fake(0);
        let other = fake(0);
        let (tx, rx) = mpsc::channel();
        tx.send(SyncMsg::Watch(weak(&p))).unwrap();
        spawn(rx, Fsync::Always, Arc::new(Crowd::default())).unwrap();
        dirty(&tx, &other);
        eventually("a round", || syncs(&other) == 1);
        assert_eq!(p.sweeps.load(Ordering::SeqCst), 0, "not before a second");
        eventually("the first sweep", || p.sweeps.load(Ordering::SeqCst) == 1);
        for round in 2..=4 {
            dirty(&tx, &other);
            eventually("a round", || syncs(&other) == round);
        }
        assert_eq!(p.sweeps.load(Ordering::SeqCst), 1, "rounds do not sweep");
    }
}
