//! The shared stream reader: one dedicated connection per upstream runs one `XREAD BLOCK` over
//! every stream somebody follows, each entry made a `Record` once and handed to every attached
//! subscriber (`try_push`, so one slow subscriber never holds back the others: it detaches and
//! catches up alone with XRANGE, then attaches again). Group members follow the same reader to
//! learn that their stream has new entries. Every position is an entry id, so after an outage
//! the reader and the catching-up subscribers go on from the last id they handed out: nothing
//! lost, nothing twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::Value;
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use super::client::Conn;
use super::entry::{self, Id};
use crate::backend::retry_pause;
use crate::backend::{lock, PushSink, Record, SinkClosed};

pub(super) struct Tails {
    conn: Arc<Conn>,
    map: Mutex<HashMap<Arc<str>, Arc<Tail>>>,
    /// A stream joined: the reader takes it into its next XREAD.
    joined: Arc<Notify>,
    /// The reader connection's CLIENT ID while it blocks, so a join can cut the block short.
    reader_id: Mutex<Option<i64>>,
    started: std::sync::atomic::AtomicBool,
    cancel: CancellationToken,
}

pub(super) struct Tail {
    pub key: Arc<str>,
    state: Mutex<TailState>,
    /// Bumped after every batch the reader hands out (group members wait on it).
    activity: watch::Sender<u64>,
}

struct TailState {
    /// The last id handed out: everything after it comes through the tail.
    seen: Id,
    attached: Vec<Attached>,
    users: usize,
}

/// What a subscriber's records are filtered by, shared by its catch-up and the tail.
pub(super) struct Filter {
    pub allowed: Option<Arc<crate::auth::Identity>>,
    pub match_headers: Vec<crate::backend::Header>,
}

impl Filter {
    pub fn wanted(&self, r: &Record) -> bool {
        self.allowed.as_ref().is_none_or(|i| i.can_read(&r.topic))
            && r.matches_headers(&self.match_headers)
    }
}

struct Attached {
    id: u64,
    sink: PushSink,
    filter: Arc<Filter>,
    /// The last id this subscriber got (exclusive start of what it still needs).
    from: Id,
    /// Told where to catch up from when it falls behind.
    lag: mpsc::UnboundedSender<Id>,
}

impl Drop for Tails {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Tails {
    pub fn new(conn: Arc<Conn>) -> Tails {
        Tails {
            conn,
            map: Mutex::new(HashMap::new()),
            joined: Arc::new(Notify::new()),
            reader_id: Mutex::new(None),
            started: std::sync::atomic::AtomicBool::new(false),
            cancel: CancellationToken::new(),
        }
    }

    /// The tail of `key` (made on first use, reading after `seen`), with one more user;
    /// dropping the `TailUse` gives it back.
    pub fn join(self: &Arc<Self>, key: &str, seen: Id) -> TailUse {
        if !self.started.swap(true, std::sync::atomic::Ordering::AcqRel) {
            tokio::spawn(reader(Arc::downgrade(self), self.cancel.clone()));
        }
        let mut map = lock(&self.map);
        let tail = match map.get(key) {
            Some(t) => t.clone(),
            None => {
                let tail = Arc::new(Tail {
                    key: Arc::from(key),
                    state: Mutex::new(TailState {
                        seen,
                        attached: Vec::new(),
                        users: 0,
                    }),
                    activity: watch::Sender::new(0),
                });
                map.insert(tail.key.clone(), tail.clone());
                self.joined.notify_one();
                self.unblock();
                tail
            }
        };
        lock(&tail.state).users += 1;
        TailUse {
            tails: self.clone(),
            tail,
        }
    }

    /// Cuts the reader's current block short so it reads the new stream at once.
    fn unblock(self: &Arc<Self>) {
        let Some(id) = *lock(&self.reader_id) else {
            return;
        };
        let tails = self.clone();
        tokio::spawn(async move {
            let _ = tails
                .conn
                .query::<Value>(redis::cmd("CLIENT").arg("UNBLOCK").arg(id))
                .await;
        });
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
        if st.users == 0
            && map
                .get(&self.tail.key)
                .is_some_and(|t| Arc::ptr_eq(t, &self.tail))
        {
            map.remove(&self.tail.key);
        }
    }
}

impl Tail {
    /// Attaches a subscriber whose last id is `from` if the tail has handed out nothing it
    /// still needs; false = keep catching up.
    pub fn attach(
        &self,
        id: u64,
        sink: &PushSink,
        filter: &Arc<Filter>,
        from: Id,
        lag: &mpsc::UnboundedSender<Id>,
    ) -> bool {
        let mut st = lock(&self.state);
        if from < st.seen {
            return false;
        }
        st.attached.push(Attached {
            id,
            sink: sink.clone(),
            filter: filter.clone(),
            from,
            lag: lag.clone(),
        });
        true
    }

    pub fn detach(&self, id: u64) {
        lock(&self.state).attached.retain(|a| a.id != id);
    }

    pub fn activity(&self) -> watch::Receiver<u64> {
        self.activity.subscribe()
    }

    fn deliver(&self, records: &[(Id, Arc<Record>)]) {
        let Some((last, _)) = records.last() else {
            return;
        };
        let mut st = lock(&self.state);
        st.seen = st.seen.max(*last);
        st.attached.retain_mut(|a| {
            let wanted: Vec<Arc<Record>> = records
                .iter()
                .filter(|(id, r)| *id > a.from && a.filter.wanted(r))
                .map(|(_, r)| r.clone())
                .collect();
            match a.sink.try_push(&wanted) {
                Ok(true) => {
                    a.from = a.from.max(*last);
                    true
                }
                // Queue full or window used up: read alone from what it got last.
                Ok(false) => {
                    let _ = a.lag.send(a.from);
                    false
                }
                Err(SinkClosed) => false,
            }
        });
        drop(st);
        self.activity.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The reader: XREAD BLOCK over every followed stream from the id each one handed out last.
async fn reader(tails: Weak<Tails>, cancel: CancellationToken) {
    let mut conn = None;
    let mut failures = 0u32;
    loop {
        let Some(t) = tails.upgrade() else { return };
        let wanted: Vec<(Arc<str>, Id)> = lock(&t.map)
            .values()
            .map(|tail| (tail.key.clone(), lock(&tail.state).seen))
            .collect();
        if wanted.is_empty() {
            let joined = t.joined.clone();
            drop(t);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = joined.notified() => {}
                // A drop of the last stream wakes nobody; look again now and then.
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        let block = Duration::from_millis(t.conn.opts.block_ms);
        if conn.is_none() {
            match t.conn.dedicated(block).await {
                Ok(mut c) => {
                    let id: Option<i64> = redis::cmd("CLIENT")
                        .arg("ID")
                        .query_async(&mut c)
                        .await
                        .ok();
                    *lock(&t.reader_id) = id;
                    conn = Some(c);
                }
                Err(_) => {
                    failures += 1;
                    drop(t);
                    retry_pause(&cancel, failures).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(t.conn.opts.read_count)
            .arg("BLOCK")
            .arg(t.conn.opts.block_ms)
            .arg("STREAMS");
        for (k, _) in &wanted {
            cmd.arg(k.as_ref());
        }
        for (_, id) in &wanted {
            cmd.arg(id.to_string());
        }
        let conn_ref = t.conn.clone();
        drop(t);
        let reply = tokio::select! {
            _ = cancel.cancelled() => return,
            r = tokio::time::timeout(block + conn_ref.timeouts.read(), cmd.query_async::<Value>(c)) => r,
        };
        let reply = match conn_ref.settle(reply) {
            Ok(v) => {
                failures = 0;
                v
            }
            Err(e) => {
                // WRONGTYPE and the like stay until that stream's users leave; transport
                // errors need a new connection.
                tracing::debug!(error = %e, "Redis stream reader interrupted");
                conn = None;
                if let Some(t) = tails.upgrade() {
                    *lock(&t.reader_id) = None;
                }
                failures += 1;
                retry_pause(&cancel, failures).await;
                continue;
            }
        };
        let Some(t) = tails.upgrade() else { return };
        for (key, entries) in entry::streams(&reply) {
            let tail = lock(&t.map).get(key.as_str()).cloned();
            if let Some(tail) = tail {
                let records = entry::records(&tail.key, entries);
                tail.deliver(&records);
            }
        }
    }
}
