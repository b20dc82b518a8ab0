//! Per-message acknowledgement in a group: what each partition delivered and has not had
//! acknowledged yet, how often, and when a nacked message is due again. The group's committed
//! offset follows the lowest unacknowledged offset of each partition (as Confluent's parallel
//! consumer commits), so a crash or a vanished member loses nothing: the partition's next owner
//! starts there.

use super::*;

use bytes::Bytes;
use tokio::time::Instant;

use crate::backend::dead_letter::Reason;
use crate::config::DeliveryPolicy;

/// Unacknowledged messages a group member holds at most when its subscription sets no
/// `max_in_flight` (as JetStream's max ack pending bounds a consumer): the state a group keeps
/// per message is bounded, and a member that acknowledges nothing pauses there.
pub(super) const DEFAULT_WINDOW: usize = 10_000;

/// One partition's delivered and unacknowledged messages.
#[derive(Default)]
pub(super) struct Outstanding {
    /// The offset after the last one delivered from the partition.
    pub(super) next: i64,
    pub(super) out: BTreeMap<i64, Out>,
    /// With `delivery.ordered`: the offsets in `out` of each key, so a key's first one is known.
    by_key: HashMap<Bytes, BTreeSet<i64>>,
}

/// A delivered message awaiting its ack.
pub(super) struct Out {
    /// The member it was last delivered to: only that member may settle it.
    pub(super) member: u64,
    pub(super) attempts: u32,
    /// When it was first delivered (ms since the epoch).
    pub(super) first_ms: i64,
    /// Set by a nack: delivered again from then on.
    pub(super) due: Option<Instant>,
    /// Its key, with `delivery.ordered` (a keyless message is not held back).
    key: Option<Bytes>,
    /// Not delivered yet: an earlier message of its key awaits its ack (`delivery.ordered`).
    held: bool,
}

impl Outstanding {
    /// The offset the group may commit: nothing unacknowledged below it.
    fn commit_point(&self) -> i64 {
        self.out.keys().next().copied().unwrap_or(self.next)
    }

    /// A message is done: when it held back the next one of its key, that one goes out now.
    fn remove(&mut self, offset: i64) {
        let Some(gone) = self.out.remove(&offset) else {
            return;
        };
        let Some(key) = gone.key else { return };
        let Some(offsets) = self.by_key.get_mut(&key) else {
            return;
        };
        offsets.remove(&offset);
        let Some(first) = offsets.first().copied() else {
            self.by_key.remove(&key);
            return;
        };
        if let Some(next) = self.out.get_mut(&first).filter(|o| o.held) {
            next.held = false;
            next.due = Some(Instant::now());
        }
    }

    /// Whether no earlier message of the key awaits its ack.
    fn first_of_key(&self, key: &Bytes, offset: i64) -> bool {
        self.by_key
            .get(key)
            .and_then(|o| o.first())
            .is_none_or(|f| *f == offset)
    }
}

/// How long a message being dead-lettered is kept from going out again (the dead letter is
/// written well within it, or the message is given back).
const SETTLING: Duration = Duration::from_secs(3600);

/// A message delivery gave up on, to be dead-lettered.
pub(super) struct Dead {
    pub(super) tp: Tp,
    pub(super) offset: i64,
    pub(super) attempts: u32,
    pub(super) first_ms: i64,
    pub(super) reason: Reason,
}

/// What a settle did.
#[derive(Default)]
pub(super) struct Settled {
    /// A committed offset moved.
    pub(super) moved: bool,
    pub(super) dead: Vec<Dead>,
}

/// What a client does with delivered messages.
pub(super) enum Settle {
    Ack,
    /// Deliver again after the delay.
    Nack(Duration),
}

impl Group {
    /// Notes that `member` delivers `records` (read from `tp` up to `next`, filtered), each for
    /// the first time or again, and returns them stamped with their delivery attempt; those the
    /// policy allows no more deliveries (their last member left without an answer) come back
    /// apart, to be dead-lettered.
    pub(super) fn delivering(
        &self,
        member: u64,
        tp: &Tp,
        records: Vec<Arc<Record>>,
        next: i64,
        policy: &DeliveryPolicy,
    ) -> (Vec<Arc<Record>>, Vec<Dead>) {
        let mut st = lock(&self.state);
        let o = st.outstanding.entry(tp.clone()).or_default();
        o.next = o.next.max(next);
        let now = now_ms();
        let mut dead = Vec::new();
        let mut deliver = Vec::with_capacity(records.len());
        for r in records {
            if !o.out.contains_key(&r.offset) {
                let key = policy.ordered.then(|| r.key()).flatten();
                if let Some(k) = &key {
                    o.by_key.entry(k.clone()).or_default().insert(r.offset);
                }
                o.out.insert(
                    r.offset,
                    Out {
                        member,
                        attempts: 0,
                        first_ms: now,
                        due: None,
                        key,
                        held: false,
                    },
                );
            }
            let first = match o.out.get(&r.offset).and_then(|out| out.key.as_ref()) {
                Some(k) => o.first_of_key(k, r.offset),
                None => true,
            };
            let Some(out) = o.out.get_mut(&r.offset) else {
                continue;
            };
            if !first {
                // An earlier message of its key is out or nacked: this one waits for it.
                out.member = member;
                out.held = true;
                out.due = None;
                continue;
            }
            out.held = false;
            if out.attempts > 0 && !policy.may_deliver_again(out.attempts) {
                out.due = Some(Instant::now() + SETTLING);
                dead.push(Dead {
                    tp: tp.clone(),
                    offset: r.offset,
                    attempts: out.attempts,
                    first_ms: out.first_ms,
                    reason: Reason::MaxDeliveries,
                });
                continue;
            }
            out.member = member;
            out.attempts = out.attempts.saturating_add(1);
            out.due = None;
            deliver.push(Arc::new(r.with_attempt(out.attempts)));
        }
        (deliver, dead)
    }

    /// Takes up to `max` nacked messages of `tp` below `cursor` whose time has come, for
    /// `member` to deliver again: their offsets and attempts. Also says when the next one of
    /// the partition falls due.
    pub(super) fn due_again(
        &self,
        member: u64,
        tp: &Tp,
        cursor: i64,
        max: usize,
    ) -> (Vec<(i64, u32)>, Option<Instant>) {
        let mut st = lock(&self.state);
        let Some(o) = st.outstanding.get_mut(tp) else {
            return (Vec::new(), None);
        };
        let now = Instant::now();
        let mut again = Vec::new();
        let mut next_due: Option<Instant> = None;
        for (offset, out) in o.out.range_mut(..cursor) {
            let Some(due) = out.due else { continue };
            if due <= now && again.len() < max {
                out.member = member;
                out.attempts = out.attempts.saturating_add(1);
                out.due = None;
                again.push((*offset, out.attempts));
            } else {
                next_due = Some(next_due.map_or(due, |n| n.min(due)));
            }
        }
        (again, next_due)
    }

    /// Messages of `tp` that are done for good without an ack (dead-lettered, or removed by
    /// retention) stop counting; true when the committed offset moved.
    pub(super) fn done(&self, tp: &Tp, offsets: &[i64]) -> bool {
        let mut st = lock(&self.state);
        if let Some(o) = st.outstanding.get_mut(tp) {
            for offset in offsets {
                o.remove(*offset);
            }
        }
        st.advance(tp)
    }

    /// A dead letter that could not be written: the message goes out again after `delay`.
    pub(super) fn retry_later(&self, tp: &Tp, offset: i64, delay: Duration) {
        let mut st = lock(&self.state);
        if let Some(out) = st
            .outstanding
            .get_mut(tp)
            .and_then(|o| o.out.get_mut(&offset))
        {
            out.due = Some(Instant::now() + delay);
            // Not counted as a delivery: the next one may still be dead-lettered.
            out.attempts = out.attempts.saturating_sub(1);
        }
    }

    /// How many messages of these partitions `member` holds unacknowledged (its window);
    /// those a member before it left behind are not its until it delivers them again.
    pub(super) fn unacked<'a>(&self, member: u64, tps: impl Iterator<Item = &'a Tp>) -> usize {
        let st = lock(&self.state);
        tps.filter_map(|tp| st.outstanding.get(tp))
            .map(|o| o.out.values().filter(|out| out.member == member).count())
            .sum()
    }

    /// Acks or nacks messages `member` was given: all or nothing, every position checked
    /// before any changes. A nack without a delay waits the policy's backoff; a nack of a
    /// message the policy allows no more deliveries returns it to be dead-lettered.
    pub(super) fn settle(
        &self,
        member: u64,
        positions: &[crate::backend::Position],
        how: &Settle,
        policy: &DeliveryPolicy,
    ) -> Result<Settled> {
        let mut st = lock(&self.state);
        let mut tps = Vec::with_capacity(positions.len());
        for p in positions {
            let tp: Tp = (Arc::from(p.topic.as_str()), p.partition);
            if !st.assignment.get(&member).is_some_and(|a| a.contains(&tp)) {
                return Err(GatewayError::Conflict(format!(
                    "partition {}/{} is not assigned to this group member",
                    p.topic, p.partition
                )));
            }
            let out = st.outstanding.get(&tp).and_then(|o| o.out.get(&p.offset));
            if out.is_some_and(|o| o.member != member) {
                // Its partition moved during a rebalance and the message went out again to
                // another member (or waits to): this delivery is stale, as on Kafka.
                return Err(GatewayError::Conflict(format!(
                    "message {}/{} at offset {} was delivered again after a rebalance: ack that delivery",
                    p.topic, p.partition, p.offset
                )));
            }
            let awaiting = out.is_some_and(|o| o.due.is_none() && !o.held);
            if !awaiting {
                return Err(GatewayError::BadRequest(format!(
                    "message {}/{} at offset {} is not awaiting an ack from this subscription",
                    p.topic, p.partition, p.offset
                )));
            }
            tps.push(tp);
        }
        let mut settled = Settled::default();
        for (p, tp) in positions.iter().zip(&tps) {
            let Some(o) = st.outstanding.get_mut(tp) else {
                continue;
            };
            match how {
                Settle::Ack => o.remove(p.offset),
                Settle::Nack(delay) => {
                    let Some(out) = o.out.get_mut(&p.offset) else {
                        continue;
                    };
                    if out.due.is_some() {
                        continue; // named twice in this nack
                    }
                    if policy.may_deliver_again(out.attempts) {
                        out.due = Some(Instant::now() + policy.nack_wait(*delay, out.attempts));
                    } else {
                        out.due = Some(Instant::now() + SETTLING);
                        settled.dead.push(Dead {
                            tp: tp.clone(),
                            offset: p.offset,
                            attempts: out.attempts,
                            first_ms: out.first_ms,
                            reason: Reason::Nack,
                        });
                    }
                }
            }
            settled.moved |= st.advance(tp);
        }
        Ok(settled)
    }

    /// A cumulative commit: what `member` was given below `offset` is acknowledged.
    pub(super) fn committed_below(&self, tp: &Tp, offset: i64) {
        let mut st = lock(&self.state);
        if let Some(o) = st.outstanding.get_mut(tp) {
            let below: Vec<i64> = o.out.range(..offset).map(|(k, _)| *k).collect();
            for k in below {
                o.remove(k);
            }
        }
    }
}

impl GroupState {
    /// Moves the committed offset of `tp` up to its lowest unacknowledged message; true when
    /// it moved.
    fn advance(&mut self, tp: &Tp) -> bool {
        let Some(point) = self.outstanding.get(tp).map(Outstanding::commit_point) else {
            return false;
        };
        match self.committed.get_mut(tp) {
            Some(c) if *c >= point => false,
            Some(c) => {
                *c = point;
                true
            }
            None => {
                self.committed.insert(tp.clone(), point);
                true
            }
        }
    }
}
