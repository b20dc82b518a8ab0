//! The gateway's idempotent-publish window, one per route, written once for every scheme: a
//! produce with an `idempotency_key` already seen on the same topic within the window is not
//! stored again but answered with the first one's position; a repeat arriving while the first
//! is still being stored waits for it. Bounded in time (the route's `window_secs`) and in keys
//! (`max_keys`: past it the oldest key is forgotten early). Where a route's messages are on disk
//! (the embedded broker with `storage`), the keys are too ([`journal`]), so a restart keeps them.

mod journal;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::spec::Published;
use crate::config::Idempotency;
use crate::error::Result;

/// (topic, idempotency key).
type Key = (String, String);

/// One key's produce: its answer once stored (None while in flight).
struct Slot {
    at: Instant,
    done: watch::Sender<Option<Published>>,
}

#[derive(Default)]
struct Keys {
    map: HashMap<Key, Arc<Slot>>,
    /// Every slot in the order it was made, for expiry and the bound: the map holds a subset.
    order: VecDeque<(Key, Arc<Slot>)>,
}

impl Keys {
    /// Forgets `front` of `order` (the map's entry only if it is still that slot).
    fn pop_front(&mut self) {
        if let Some((key, slot)) = self.order.pop_front() {
            if self.map.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                self.map.remove(&key);
            }
        }
    }
}

/// Where a route's keys are kept on disk: the embedded broker's storage directory, when the
/// route has one and remembers keys at all (its messages outlive the process, so its keys must).
pub fn journal_dir(route: &crate::config::Route) -> Option<&std::path::Path> {
    match &route.upstream.scheme {
        crate::config::SchemeConfig::Embedded(o) if route.idempotency.window_secs > 0 => {
            o.storage.as_ref().map(|s| s.path.as_path())
        }
        _ => None,
    }
}

/// A route's window.
pub struct Window {
    ttl: Duration,
    max_keys: usize,
    keys: Mutex<Keys>,
    /// The keys on disk, for routes whose messages are.
    journal: Option<Mutex<journal::Journal>>,
}

/// What a produce with a key does.
enum Claim {
    /// The first with its key: stores, then answers every repeat.
    First(Arc<Slot>),
    /// A repeat: the first one's answer, now or once stored.
    Repeat(watch::Receiver<Option<Published>>),
}

/// Held by the first produce of a key while it runs: if it fails or is dropped (its connection
/// went away), the key is forgotten so that a retry stores the message, and the repeats waiting
/// on it try again themselves.
struct Running<'a> {
    window: &'a Window,
    key: Option<Key>,
    slot: Arc<Slot>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut keys = self.window.lock();
            if keys
                .map
                .get(&key)
                .is_some_and(|s| Arc::ptr_eq(s, &self.slot))
            {
                keys.map.remove(&key);
            }
        }
    }
}

impl Window {
    /// A window in memory only.
    pub fn new(config: &Idempotency) -> Arc<Window> {
        Arc::new(Window {
            ttl: Duration::from_secs(config.window_secs),
            max_keys: config.max_keys,
            keys: Mutex::new(Keys::default()),
            journal: None,
        })
    }

    /// The window of a route: journaled in [`journal_dir`] when it has one, else in memory.
    pub fn for_route(route: &crate::config::Route) -> Result<Arc<Window>, String> {
        match journal_dir(route) {
            Some(dir) => Window::journaled(&route.idempotency, dir),
            None => Ok(Window::new(&route.idempotency)),
        }
    }

    /// A window whose keys are appended to a journal in `dir` and read back from it now.
    pub fn journaled(config: &Idempotency, dir: &std::path::Path) -> Result<Arc<Window>, String> {
        let ttl = Duration::from_secs(config.window_secs);
        let (journal, recovered) = journal::Journal::open(dir, ttl, config.max_keys)?;
        let mut keys = Keys::default();
        for r in recovered {
            let key = (r.topic, r.key);
            let slot = Arc::new(Slot {
                at: r.at,
                done: watch::Sender::new(Some(r.published)),
            });
            keys.map.insert(key.clone(), slot.clone());
            keys.order.push_back((key, slot));
        }
        if !keys.map.is_empty() {
            tracing::info!(path = %dir.display(), keys = keys.map.len(), "idempotency keys read back");
        }
        Ok(Arc::new(Window {
            ttl,
            max_keys: config.max_keys,
            keys: Mutex::new(keys),
            journal: Some(Mutex::new(journal)),
        }))
    }

    /// Whether keys are remembered at all (`window_secs: 0`: not).
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// Keys remembered now (tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn claim(&self, key: &Key) -> Claim {
        let now = Instant::now();
        let mut keys = self.lock();
        while keys
            .order
            .front()
            .is_some_and(|(_, s)| now.duration_since(s.at) >= self.ttl)
        {
            keys.pop_front();
        }
        if let Some(slot) = keys.map.get(key) {
            return Claim::Repeat(slot.done.subscribe());
        }
        while keys.order.len() >= self.max_keys {
            keys.pop_front();
        }
        let slot = Arc::new(Slot {
            at: now,
            done: watch::Sender::new(None),
        });
        keys.map.insert(key.clone(), slot.clone());
        keys.order.push_back((key.clone(), slot.clone()));
        Claim::First(slot)
    }

    /// Runs `store` once per (topic, key) within the window; a repeat answers what the first
    /// one stored.
    pub async fn once<F, Fut>(&self, topic: &str, key: &str, store: F) -> Result<Published>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Published>>,
    {
        let pair: Key = (topic.to_owned(), key.to_owned());
        let slot = loop {
            match self.claim(&pair) {
                Claim::First(slot) => break slot,
                Claim::Repeat(mut rx) => {
                    // Err: the first failed or was dropped; claim again (as the first, now).
                    if let Ok(p) = rx.wait_for(Option::is_some).await {
                        if let Some(p) = p.clone() {
                            return Ok(p);
                        }
                    }
                }
            }
        };
        let mut running = Running {
            window: self,
            key: Some(pair),
            slot: slot.clone(),
        };
        let stored = store().await;
        if let Ok(p) = &stored {
            if let Some(j) = &self.journal {
                crate::backend::lock(j).append(topic, key, slot.at.elapsed(), p);
            }
            slot.done.send_replace(Some(p.clone()));
            running.key = None;
        }
        stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn published(offset: i64) -> Published {
        Published {
            partition: 0,
            offset,
            position: String::new(),
        }
    }

    fn window(secs: u64, max_keys: usize) -> Arc<Window> {
        Window::new(&Idempotency {
            window_secs: secs,
            max_keys,
        })
    }

    #[tokio::test]
    async fn a_repeat_in_flight_waits_for_the_first_and_stores_nothing() {
        let w = window(60, 10);
        let stores = AtomicUsize::new(0);
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let first = w.once("t", "k", || async {
            stores.fetch_add(1, Ordering::SeqCst);
            let _ = wait.await;
            Ok(published(7))
        });
        let repeat = w.once("t", "k", || async {
            stores.fetch_add(1, Ordering::SeqCst);
            Ok(published(8))
        });
        let (a, b, ()) = tokio::join!(first, repeat, async {
            let _ = go.send(());
        });
        assert_eq!(a.ok(), Some(published(7)));
        assert_eq!(b.ok(), Some(published(7)));
        assert_eq!(stores.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_first_lets_the_retry_store() {
        let w = window(60, 10);
        let failed = w
            .once("t", "k", || async {
                Err(crate::error::GatewayError::Unavailable("down".into()))
            })
            .await;
        assert!(failed.is_err());
        let again = w.once("t", "k", || async { Ok(published(3)) }).await;
        assert_eq!(again.ok(), Some(published(3)));
    }

    #[tokio::test]
    async fn past_the_bound_the_oldest_key_is_forgotten() {
        let w = window(60, 2);
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            let _ = w
                .once("t", k, || async move { Ok(published(i as i64)) })
                .await;
        }
        assert_eq!(w.len(), 2);
        let a = w.once("t", "a", || async { Ok(published(9)) }).await;
        assert_eq!(a.ok(), Some(published(9)), "a was forgotten: stored again");
        let c = w.once("t", "c", || async { Ok(published(9)) }).await;
        assert_eq!(c.ok(), Some(published(2)), "c is still remembered");
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("pubsub-idem-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn journaled(dir: &std::path::Path, secs: u64, max_keys: usize) -> Arc<Window> {
        Window::journaled(
            &Idempotency {
                window_secs: secs,
                max_keys,
            },
            dir,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_journaled_window_reads_its_keys_back_and_answers_repeats_without_storing() {
        let dir = tmp("back");
        let w = journaled(&dir, 60, 10);
        let _ = w.once("t", "k1", || async { Ok(published(4)) }).await;
        let _ = w
            .once("u", "k1", || async {
                Ok(Published {
                    partition: 2,
                    offset: 9,
                    position: "m-9".into(),
                })
            })
            .await;
        let failed = w
            .once("t", "k2", || async {
                Err(crate::error::GatewayError::Unavailable("down".into()))
            })
            .await;
        assert!(failed.is_err());
        drop(w);
        let w = journaled(&dir, 60, 10);
        assert_eq!(w.len(), 2, "the failed key is not journaled");
        let stores = AtomicUsize::new(0);
        let again = w
            .once("t", "k1", || async {
                stores.fetch_add(1, Ordering::SeqCst);
                Ok(published(99))
            })
            .await;
        assert_eq!(again.ok(), Some(published(4)));
        let other = w.once("u", "k1", || async { Ok(published(99)) }).await;
        assert_eq!(
            other.ok().map(|p| (p.partition, p.offset, p.position)),
            Some((2, 9, "m-9".to_string()))
        );
        let retry = w.once("t", "k2", || async { Ok(published(5)) }).await;
        assert_eq!(
            retry.ok(),
            Some(published(5)),
            "the failed key stores on retry"
        );
        assert_eq!(stores.load(Ordering::SeqCst), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_journal_skips_expired_and_unreadable_lines_and_keeps_at_most_max_keys() {
        let dir = tmp("skip");
        std::fs::create_dir_all(&dir).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let line = |at: u64, key: &str, offset: i64| {
            format!(
                "{{\"at_ms\":{at},\"topic\":\"t\",\"key\":\"{key}\",\"partition\":0,\"offset\":{offset}}}\n"
            )
        };
        let text = [
            line(now - 120_000, "old", 1),
            "not json\n".to_string(),
            line(now - 1_000, "a", 2),
            line(now - 500, "b", 3),
            line(now - 100, "c", 4),
            "{\"at_ms\":".to_string(),
        ]
        .concat();
        std::fs::write(dir.join("idempotency-1.jsonl"), text).unwrap();
        // Expired and broken lines are skipped (the bound, 10, keeps every other one).
        let w = journaled(&dir, 60, 10);
        assert_eq!(w.len(), 3, "the expired line and the broken ones are gone");
        let old = w.once("t", "old", || async { Ok(published(100)) }).await;
        assert_eq!(old.ok(), Some(published(100)), "expired: stored again");
        drop(w);
        // Read again with a bound of 2: the newest keys are kept.
        let w = journaled(&dir, 60, 2);
        assert_eq!(w.len(), 2, "the oldest over the bound are gone");
        for (key, want) in [("old", 100), ("c", 4), ("a", 100), ("b", 100)] {
            let got = w.once("t", key, || async { Ok(published(100)) }).await;
            assert_eq!(got.ok(), Some(published(want)), "key {key}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_journal_alternates_its_two_files_so_the_disk_stays_bounded() {
        let dir = tmp("rotate");
        let w = journaled(&dir, 60, 3);
        for i in 0..10 {
            let key = format!("k{i}");
            let _ = w.once("t", &key, || async move { Ok(published(i)) }).await;
        }
        let lines = |n: usize| {
            std::fs::read_to_string(dir.join(format!("idempotency-{n}.jsonl")))
                .unwrap_or_default()
                .lines()
                .count()
        };
        assert!(
            lines(0) <= 3 && lines(1) <= 3,
            "{} and {} lines",
            lines(0),
            lines(1)
        );
        assert_eq!(
            lines(0) + lines(1),
            4,
            "10 keys: the full file of 3 and 1 in the other"
        );
        drop(w);
        let w = journaled(&dir, 60, 3);
        assert_eq!(w.len(), 3);
        for (i, want) in [(9, 9), (8, 8), (7, 7), (6, 100)] {
            let key = format!("k{i}");
            let got = w.once("t", &key, || async { Ok(published(100)) }).await;
            assert_eq!(got.ok(), Some(published(want)), "key {key}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
