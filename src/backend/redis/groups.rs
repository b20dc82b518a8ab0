//! Consumer groups: each gateway group subscription is one consumer of the Redis group
//! (XGROUP CREATE, XREADGROUP, XACK), so plain Redis consumers of the same group share its
//! entries. Members learn of new entries from the shared reader (no connection of their own),
//! claim entries another member left unacknowledged longer than `claim_idle_ms` (XAUTOCLAIM:
//! what a vanished member held is redelivered), and a nack leaves the entry pending and
//! claims it back after the delay (XCLAIM), so it is delivered again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redis::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{bulk, Conn};
use super::dead;
use super::entry::{self, Id};
use super::plain::start_after;
use super::streams::{self, Bounds};
use super::tail::{Filter, TailUse, Tails};
use crate::backend::dead_letter::Reason;
use crate::backend::retry_delay;
use crate::backend::{lock, Position, PushSink, Record, SubscribeSpec};
use crate::backend::{Subscription, TaskGauge};
use crate::error::{GatewayError, Result};

static NEXT: AtomicU64 = AtomicU64::new(1);

/// Entries read for a member, with the attempt each delivery is (0: unknown).
type Got = Vec<(Id, Arc<Record>, u32)>;

/// Unacknowledged entries a group member holds when the subscribe sets no `max_in_flight`: a
/// client that never acknowledges stops receiving instead of growing its pending list forever.
pub(super) const MAX_UNACKED: usize = 1000;

/// Group names go into XGROUP as one argument; keep them printable.
fn check_group(group: &str) -> Result<()> {
    if group.is_empty()
        || group.len() > 255
        || group.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(GatewayError::BadRequest(format!(
            "group `{}` is not a Redis consumer group name (1 to 255 characters, no spaces or control characters)",
            group.escape_debug()
        )));
    }
    Ok(())
}

struct Member {
    conn: Arc<Conn>,
    key: Arc<str>,
    group: String,
    consumer: String,
    sink: PushSink,
    filter: Filter,
    /// Delivered, not yet acknowledged, with the delivery's attempt (and the entry, for its
    /// dead letter should this delivery be nacked as the last allowed one).
    inflight: Mutex<BTreeMap<Id, (u32, Arc<Record>)>>,
    /// Nacked: claimed back (and so delivered again) once the instant passes.
    nacked: Mutex<Vec<(Instant, Id)>>,
    /// Wakes the member loop when a nack sets an earlier redelivery time.
    nudge: tokio::sync::Notify,
}

pub(super) async fn subscribe(
    conn: Arc<Conn>,
    tails: &Arc<Tails>,
    key: String,
    group: String,
    spec: SubscribeSpec,
    sink: PushSink,
) -> Result<Arc<dyn Subscription>> {
    check_group(&group)?;
    let b = streams::bounds(&conn, &key).await?.unwrap_or(Bounds {
        first: None,
        last: None,
    });
    // Where a new group starts; an existing group keeps its own position.
    let start = start_after(&spec, &b)?;
    let created: Result<Value> = conn
        .query(
            redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&key)
                .arg(&group)
                .arg(start.to_string())
                .arg("MKSTREAM"),
        )
        .await;
    match created {
        Ok(_) => {}
        Err(GatewayError::Upstream(m)) if m.contains("BUSYGROUP") => {}
        Err(e) => return Err(e),
    }
    let consumer = format!(
        "gw-{}-{}-{}",
        std::process::id(),
        crate::backend::now_ms(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let member = Arc::new(Member {
        conn: conn.clone(),
        key: Arc::from(key.as_str()),
        group,
        consumer,
        sink,
        filter: Filter {
            allowed: spec.allowed.clone(),
            match_headers: spec.match_headers.clone(),
        },
        inflight: Mutex::new(BTreeMap::new()),
        nacked: Mutex::new(Vec::new()),
        nudge: tokio::sync::Notify::new(),
    });
    let tail = tails.join(&key, b.last.unwrap_or(Id::ZERO));
    let cancel = CancellationToken::new();
    tokio::spawn(member_loop(member.clone(), tail, cancel.clone()));
    Ok(Arc::new(GroupSubscription { member, cancel }))
}

impl Member {
    fn cmd(&self, name: &str) -> redis::Cmd {
        let mut c = redis::cmd(name);
        c.arg(self.key.as_ref()).arg(&self.group);
        c
    }

    /// Entries read for this consumer: delivered, or acknowledged at once when this member's
    /// identity or filter excludes them (they are the group's all the same).
    /// Entries past the route's `delivery.max_deliveries` (their last allowed delivery went
    /// unanswered) are dead-lettered, or dropped without a dead-letter stream, and acknowledged
    /// without delivery.
    async fn deliver(&self, got: Got) -> std::result::Result<(), ()> {
        let mut batch = Vec::new();
        let mut skip = Vec::new();
        for (id, r, attempt) in got {
            let exhausted = attempt > 0
                && !self
                    .conn
                    .delivery
                    .may_deliver_again(attempt.saturating_sub(1));
            if exhausted {
                // This claim counted a delivery that does not happen.
                let count = attempt.saturating_sub(1);
                if self.give_up(id, &r, count, Reason::MaxDeliveries).await {
                    skip.push(id);
                }
            } else if self.filter.wanted(&r) {
                lock(&self.inflight).insert(id, (attempt, r.clone()));
                batch.push(r);
            } else {
                skip.push(id);
            }
        }
        if !skip.is_empty() {
            let mut c = self.cmd("XACK");
            for id in &skip {
                c.arg(id.to_string());
            }
            let _ = self.conn.query::<i64>(&c).await;
        }
        self.sink.push(&batch).await.map_err(|_| ())
    }

    /// Writes the dead letter of `id` when the route names a dead-letter stream; false when
    /// it could not be written (the entry stays pending, claimed and tried again later).
    async fn give_up(&self, id: Id, r: &Record, count: u32, reason: Reason) -> bool {
        let Some(to) = &self.conn.delivery.dead_letter else {
            return true;
        };
        match dead::write(&self.conn, to, (&self.key, id), r, count, reason).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, stream = %self.key, entry = %id,
                    "dead letter not written; the entry stays pending");
                false
            }
        }
    }

    async fn read_new(&self, count: usize) -> Result<Got> {
        let reply: Value = self
            .conn
            .query(
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(&self.group)
                    .arg(&self.consumer)
                    .arg("COUNT")
                    .arg(count)
                    .arg("STREAMS")
                    .arg(self.key.as_ref())
                    .arg(">"),
            )
            .await?;
        // `>`: entries never delivered to the group before, so each is its first delivery.
        Ok(entry::streams(&reply)
            .into_iter()
            .flat_map(|(_, entries)| entry::records(&self.key, entries))
            .map(|(id, r)| (id, Arc::new(r.with_attempt(1)), 1))
            .collect())
    }

    /// Claimed entries stamped with their delivery count as Redis keeps it (XPENDING's
    /// fourth field; the claim already counted this delivery); 0 where Redis does not say.
    async fn with_counts(&self, got: Vec<(Id, Arc<Record>)>) -> Result<Got> {
        let (Some(first), Some(last)) =
            (got.iter().map(|g| g.0).min(), got.iter().map(|g| g.0).max())
        else {
            return Ok(Vec::new());
        };
        let reply: Value = self
            .conn
            .query(
                self.cmd("XPENDING")
                    .arg(first.to_string())
                    .arg(last.to_string())
                    .arg(got.len().max(1) * 4)
                    .arg(&self.consumer),
            )
            .await?;
        let mut counts = BTreeMap::new();
        if let Value::Array(rows) = &reply {
            for row in rows {
                let Value::Array(f) = row else { continue };
                let id = f
                    .first()
                    .and_then(bulk)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(Id::parse);
                if let (Some(id), Some(Value::Int(n))) = (id, f.get(3)) {
                    counts.insert(id, u32::try_from(*n).unwrap_or(0));
                }
            }
        }
        Ok(got
            .into_iter()
            .map(|(id, r)| {
                let n = counts.get(&id).copied().unwrap_or(0);
                (id, Arc::new(r.with_attempt(n)), n)
            })
            .collect())
    }

    /// Takes over what other members left pending longer than the claim idle time.
    async fn autoclaim(&self, cursor: &mut Id, count: usize) -> Result<Got> {
        let reply: Value = self
            .conn
            .query(
                self.cmd("XAUTOCLAIM")
                    .arg(&self.consumer)
                    .arg(self.conn.opts.claim_idle_ms)
                    .arg(cursor.to_string())
                    .arg("COUNT")
                    .arg(count),
            )
            .await?;
        let Value::Array(parts) = &reply else {
            return Ok(Vec::new());
        };
        *cursor = parts
            .first()
            .and_then(bulk)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(Id::parse)
            .unwrap_or(Id::ZERO);
        let got = parts
            .get(1)
            .map(|e| entry::records(&self.key, e))
            .unwrap_or_default();
        self.with_counts(got).await
    }

    /// Nacked entries whose delay passed, claimed back to this consumer (delivered again).
    async fn reclaim_due(&self) -> Result<Got> {
        let now = Instant::now();
        let due: Vec<Id> = {
            let mut nacked = lock(&self.nacked);
            let (due, later): (Vec<_>, Vec<_>) = nacked.drain(..).partition(|(at, _)| *at <= now);
            *nacked = later;
            due.into_iter().map(|(_, id)| id).collect()
        };
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.cmd("XCLAIM");
        c.arg(&self.consumer).arg(0);
        for id in &due {
            c.arg(id.to_string());
        }
        let reply: Value = self.conn.query(&c).await?;
        self.with_counts(entry::records(&self.key, &reply)).await
    }

    fn next_nack(&self) -> Option<Instant> {
        lock(&self.nacked).iter().map(|(at, _)| *at).min()
    }

    /// Leaves the group's consumer list when nothing is pending for it; otherwise the pending
    /// entries stay for the others to claim after the idle time.
    async fn leave(&self) {
        let pending: Result<Value> = self
            .conn
            .query(
                self.cmd("XPENDING")
                    .arg("-")
                    .arg("+")
                    .arg(1)
                    .arg(&self.consumer),
            )
            .await;
        if matches!(pending, Ok(Value::Array(ref v)) if v.is_empty()) {
            let _ = self
                .conn
                .query::<i64>(
                    redis::cmd("XGROUP")
                        .arg("DELCONSUMER")
                        .arg(self.key.as_ref())
                        .arg(&self.group)
                        .arg(&self.consumer),
                )
                .await;
        }
    }
}

async fn member_loop(m: Arc<Member>, tail: TailUse, cancel: CancellationToken) {
    let _task = TaskGauge::new();
    let mut activity = tail.tail.activity();
    let claim_every = Duration::from_millis((m.conn.opts.claim_idle_ms / 2).clamp(50, 5_000));
    let mut next_claim = Instant::now();
    let mut claim_cursor = Id::ZERO;
    let mut failures = 0u32;
    'run: loop {
        let room = || {
            let held = lock(&m.inflight).len();
            m.sink.flow.room().min(MAX_UNACKED.saturating_sub(held))
        };
        while room() == 0 {
            tokio::select! {
                _ = cancel.cancelled() => break 'run,
                _ = m.sink.flow.acked() => {}
                // Acks of a subscription without max_in_flight notify nobody: look again soon.
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        let count = room().min(m.conn.opts.read_count);
        activity.borrow_and_update();
        let round = async {
            let mut got = m.reclaim_due().await?;
            if got.is_empty() && Instant::now() >= next_claim {
                got = m.autoclaim(&mut claim_cursor, count).await?;
                if claim_cursor == Id::ZERO {
                    next_claim = Instant::now() + claim_every;
                }
            }
            if got.is_empty() {
                got = m.read_new(count).await?;
            }
            Ok::<_, GatewayError>(got)
        };
        let got = tokio::select! {
            _ = cancel.cancelled() => break 'run,
            g = round => g,
        };
        match got {
            Ok(got) if !got.is_empty() => {
                failures = 0;
                let pushed = tokio::select! {
                    _ = cancel.cancelled() => break 'run,
                    p = m.deliver(got) => p,
                };
                if pushed.is_err() {
                    break 'run;
                }
                continue;
            }
            Ok(_) => failures = 0,
            Err(_) => failures += 1,
        }
        let mut wake = next_claim;
        if let Some(n) = m.next_nack() {
            wake = wake.min(n);
        }
        if failures > 0 {
            wake = Instant::now() + retry_delay(failures);
        }
        tokio::select! {
            _ = cancel.cancelled() => break 'run,
            _ = activity.changed() => {}
            _ = m.nudge.notified() => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
    drop(tail);
    m.leave().await;
}

struct GroupSubscription {
    member: Arc<Member>,
    cancel: CancellationToken,
}

impl GroupSubscription {
    /// The named entries out of the in-flight set, all or none.
    fn take(&self, positions: &[Position]) -> Result<Vec<(Id, u32, Arc<Record>)>> {
        let mut inflight = lock(&self.member.inflight);
        let mut ids = Vec::new();
        for p in positions {
            let id = entry::id_of(&p.position, p.offset)?;
            if p.topic != *self.member.key || !inflight.contains_key(&id) {
                return Err(GatewayError::BadRequest(format!(
                    "entry {id} of stream {} was not delivered to this subscription, or is already acknowledged",
                    p.topic
                )));
            }
            ids.push(id);
        }
        Ok(ids
            .into_iter()
            .filter_map(|id| inflight.remove(&id).map(|(n, r)| (id, n, r)))
            .collect())
    }

    fn release(&self, ids: &[Id]) {
        for id in ids {
            self.member
                .sink
                .flow
                .ack_one(&self.member.key, 0, id.offset().unwrap_or(-1));
        }
    }
}

#[async_trait]
impl Subscription for GroupSubscription {
    async fn ack(&self, positions: Vec<Position>) -> Result<()> {
        let ids: Vec<Id> = self.take(&positions)?.into_iter().map(|t| t.0).collect();
        let mut c = self.member.cmd("XACK");
        for id in &ids {
            c.arg(id.to_string());
        }
        let acked = self.member.conn.query::<i64>(&c).await;
        self.release(&ids);
        acked.map(|_| ())
    }

    async fn nack(&self, positions: Vec<Position>, delay: Duration) -> Result<()> {
        let mut taken = self.take(&positions)?;
        let policy = &self.member.conn.delivery;
        // The nack of a last allowed delivery: its dead letter at once, then XACK.
        if policy.dead_letter.is_some() {
            let mut dead = Vec::new();
            let mut kept = Vec::new();
            for (id, n, r) in taken {
                if n > 0 && !policy.may_deliver_again(n) {
                    dead.push((id, n, r));
                } else {
                    kept.push((id, n, r));
                }
            }
            taken = kept;
            let mut written = Vec::new();
            for (id, n, r) in dead {
                if self.member.give_up(id, &r, n, Reason::Nack).await {
                    written.push(id);
                } else {
                    // Claimed back after its wait and dead-lettered then.
                    taken.push((id, n, r));
                }
            }
            if !written.is_empty() {
                let mut c = self.member.cmd("XACK");
                for id in &written {
                    c.arg(id.to_string());
                }
                let acked = self.member.conn.query::<i64>(&c).await;
                self.release(&written);
                acked?;
            }
        }
        let now = Instant::now();
        // Without a delay of its own, the route's backoff for the delivery it answers.
        let wait = |attempt: u32| match delay.is_zero() {
            true => policy.backoff_for(attempt.max(1)),
            false => delay,
        };
        lock(&self.member.nacked).extend(taken.iter().map(|(id, n, _)| (now + wait(*n), *id)));
        let ids: Vec<Id> = taken.into_iter().map(|t| t.0).collect();
        self.member.nudge.notify_one();
        self.release(&ids);
        Ok(())
    }

    fn close(&self) {
        self.cancel.cancel();
    }
}

impl Drop for GroupSubscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
