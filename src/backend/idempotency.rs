//! The gateway's idempotent-publish window, one per route, written once for every scheme: a
//! produce with an `idempotency_key` already seen on the same topic within the window is not
//! stored again but answered with the first one's position; a repeat arriving while the first
//! is still being stored waits for it. Bounded in time (the route's `window_secs`) and in keys
//! (`max_keys`: past it the oldest key is forgotten early).

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

/// A route's window.
pub struct Window {
    ttl: Duration,
    max_keys: usize,
    keys: Mutex<Keys>,
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
    pub fn new(config: &Idempotency) -> Arc<Window> {
        Arc::new(Window {
            ttl: Duration::from_secs(config.window_secs),
            max_keys: config.max_keys,
            keys: Mutex::new(Keys::default()),
        })
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
        let key: Key = (topic.to_owned(), key.to_owned());
        let slot = loop {
            match self.claim(&key) {
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
            key: Some(key),
            slot: slot.clone(),
        };
        let stored = store().await;
        if let Ok(p) = &stored {
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
}
