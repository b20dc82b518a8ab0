//! Per-message acknowledgement in a Kafka group member: what each assigned partition pushed and
//! has not had acknowledged yet, how often, and when a nacked message is due again. The offset
//! committed to Kafka follows the lowest unacknowledged offset of each partition (as the
//! embedded broker's groups and Confluent's parallel consumer do), so the partition's next
//! owner (after a rebalance, a vanished client, a gateway restart) starts there and loses
//! nothing.
//!
//! The delivery count is the gateway's own and lives in memory with the member: a partition that
//! moves to another member (or another gateway) starts counting again at 1 there.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::*;
use crate::backend::dead_letter::Reason;
use crate::config::DeliveryPolicy;

/// Unacknowledged messages a member holds at most when its subscription sets no
/// `max_in_flight`: the state kept per message is bounded, and a member that acknowledges
/// nothing stops reading there.
pub(super) const DEFAULT_WINDOW: usize = 10_000;

/// A pushed message awaiting its ack.
struct Out {
    /// As read, without a delivery attempt: redeliveries stamp their own.
    record: Arc<Record>,
    attempts: u32,
    first_ms: i64,
    /// Set by a nack: pushed again from then on.
    due: Option<Instant>,
    /// Being dead-lettered: neither ack nor nack may touch it.
    dying: bool,
    /// Its key, with `delivery.ordered` (a keyless message is never held back).
    key: Option<Bytes>,
    /// Not delivered yet: an earlier message of its key is still out (`delivery.ordered`).
    held: bool,
}

/// One partition's pushed and unacknowledged messages.
#[derive(Default)]
struct Part {
    /// The offset after the last one pushed.
    next: i64,
    /// What this member last committed (or saw committed) for the partition.
    committed: i64,
    out: BTreeMap<i64, Out>,
    /// With `delivery.ordered`: how many messages of each key are in `out`.
    keys: HashMap<Bytes, usize>,
}

impl Part {
    /// The offset the group may commit: nothing unacknowledged below it.
    fn commit_point(&self) -> i64 {
        self.out.keys().next().copied().unwrap_or(self.next)
    }

    /// Takes `offset` out; with its key, the next held message of that key falls due now.
    fn remove(&mut self, offset: i64) {
        let Some(out) = self.out.remove(&offset) else {
            return;
        };
        if let Some(k) = out.key {
            match self.keys.get_mut(&k) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    self.release(&k);
                }
                _ => {
                    self.keys.remove(&k);
                }
            }
        }
    }

    /// When no message of `key` is out with the client (delivered, nacked or being
    /// dead-lettered), the first held one falls due now.
    fn release(&mut self, key: &Bytes) {
        let mut of_key = self
            .out
            .values_mut()
            .filter(|o| o.key.as_ref() == Some(key));
        if let Some(first) = of_key.next() {
            if first.held {
                first.held = false;
                first.due = Some(Instant::now());
            }
        }
    }

    /// After messages left `out` in bulk (a cumulative commit): the key counts again, and each
    /// key's first message released if it was held.
    fn recount(&mut self) {
        self.keys.clear();
        for k in self.out.values().filter_map(|o| o.key.clone()) {
            *self.keys.entry(k).or_insert(0) += 1;
        }
        let keys: Vec<Bytes> = self.keys.keys().cloned().collect();
        for k in keys {
            self.release(&k);
        }
    }
}

/// Commit points: each partition's offset to commit.
pub(super) type Points = Vec<(Tp, i64)>;

/// A message delivery gave up on, to be dead-lettered.
pub(super) struct Dead {
    pub(super) tp: Tp,
    pub(super) record: Arc<Record>,
    pub(super) attempts: u32,
    pub(super) first_ms: i64,
    pub(super) reason: Reason,
}

/// What a client does with pushed messages.
pub(super) enum Settle {
    Ack,
    /// Push again after the delay (zero: the route's backoff).
    Nack(Duration),
}

/// A member's unacknowledged messages.
pub(super) struct Acks {
    parts: HashMap<Tp, Part>,
    window: usize,
    /// `delivery.ordered`: a message waits while an earlier one of its key is out.
    ordered: bool,
}

impl Acks {
    pub(super) fn new(max_in_flight: usize, ordered: bool) -> Acks {
        Acks {
            ordered,
            parts: HashMap::new(),
            window: if max_in_flight == 0 {
                DEFAULT_WINDOW
            } else {
                max_in_flight
            },
        }
    }

    /// How many more messages may be pushed before the window of unacknowledged ones is full.
    pub(super) fn room(&self) -> usize {
        let held: usize = self.parts.values().map(|p| p.out.len()).sum();
        self.window.saturating_sub(held)
    }

    /// Notes the first push of `records` and returns those to push now, stamped with delivery
    /// attempt 1; with `delivery.ordered`, a message whose key has an earlier one out is held
    /// (noted, counted in the window, pushed once that one is acknowledged or dead-lettered).
    pub(super) fn delivering(&mut self, records: Vec<Arc<Record>>) -> Vec<Arc<Record>> {
        let now = crate::backend::now_ms();
        let ordered = self.ordered;
        records
            .into_iter()
            .filter_map(|r| {
                let p = self
                    .parts
                    .entry((r.topic.clone(), r.partition))
                    .or_insert_with(|| Part {
                        next: r.offset,
                        // Where the member started reading: the group's commit, or the start.
                        committed: r.offset,
                        out: BTreeMap::new(),
                        keys: HashMap::new(),
                    });
                p.next = p.next.max(r.offset + 1);
                if !p.out.contains_key(&r.offset) {
                    let key = if ordered { r.key() } else { None };
                    let held = key.as_ref().is_some_and(|k| {
                        let n = p.keys.entry(k.clone()).or_insert(0);
                        *n += 1;
                        *n > 1
                    });
                    p.out.insert(
                        r.offset,
                        Out {
                            record: r.clone(),
                            attempts: 0,
                            first_ms: now,
                            due: None,
                            dying: false,
                            key,
                            held,
                        },
                    );
                }
                let out = p.out.get_mut(&r.offset)?;
                if out.held {
                    return None;
                }
                out.attempts = out.attempts.saturating_add(1);
                out.due = None;
                Some(Arc::new(r.with_attempt(out.attempts)))
            })
            .collect()
    }

    /// Takes up to `max` nacked messages whose time has come, stamped with their next attempt;
    /// also says when the next one falls due.
    pub(super) fn due_again(&mut self, max: usize) -> (Vec<Arc<Record>>, Option<Instant>) {
        let now = Instant::now();
        let mut again = Vec::new();
        let mut next_due: Option<Instant> = None;
        for p in self.parts.values_mut() {
            for out in p.out.values_mut() {
                let Some(due) = out.due else { continue };
                if due <= now && again.len() < max {
                    if out.attempts == 0 {
                        // Held until now (`delivery.ordered`): this is its first delivery.
                        out.first_ms = crate::backend::now_ms();
                    }
                    out.attempts = out.attempts.saturating_add(1);
                    out.due = None;
                    again.push(Arc::new(out.record.with_attempt(out.attempts)));
                } else {
                    next_due = Some(next_due.map_or(due, |n| n.min(due)));
                }
            }
        }
        (again, next_due)
    }

    /// Acks or nacks pushed messages: all or nothing, every position checked before any
    /// change. Returns the partitions whose commit point moved (to commit) and the messages the
    /// policy allows no more deliveries (to dead-letter).
    pub(super) fn settle(
        &mut self,
        positions: &[crate::backend::Position],
        how: &Settle,
        policy: &DeliveryPolicy,
    ) -> Result<(Points, Vec<Dead>)> {
        let mut tps = Vec::with_capacity(positions.len());
        for p in positions {
            let tp: Tp = (Arc::from(p.topic.as_str()), p.partition);
            let awaiting = self
                .parts
                .get(&tp)
                .and_then(|part| part.out.get(&p.offset))
                .is_some_and(|o| o.due.is_none() && !o.dying && !o.held);
            if !awaiting {
                return Err(GatewayError::BadRequest(format!(
                    "message {}/{} at offset {} is not awaiting an ack from this subscription",
                    p.topic, p.partition, p.offset
                )));
            }
            tps.push(tp);
        }
        let mut dead = Vec::new();
        let mut touched = Vec::new();
        for (p, tp) in positions.iter().zip(tps) {
            let Some(part) = self.parts.get_mut(&tp) else {
                continue;
            };
            match how {
                Settle::Ack => part.remove(p.offset),
                Settle::Nack(delay) => {
                    let Some(out) = part.out.get_mut(&p.offset) else {
                        continue;
                    };
                    if out.due.is_some() || out.dying {
                        continue; // named twice in this nack
                    }
                    if policy.may_deliver_again(out.attempts) {
                        out.due = Some(Instant::now() + policy.nack_wait(*delay, out.attempts));
                    } else {
                        out.dying = true;
                        dead.push(Dead {
                            tp: tp.clone(),
                            record: out.record.clone(),
                            attempts: out.attempts,
                            first_ms: out.first_ms,
                            reason: Reason::Nack,
                        });
                    }
                }
            }
            touched.push(tp);
        }
        Ok((self.moved(touched), dead))
    }

    /// A dead-lettered (or dropped) message is done; the commit point, if it moved.
    pub(super) fn done(&mut self, tp: &Tp, offset: i64) -> Vec<(Tp, i64)> {
        if let Some(p) = self.parts.get_mut(tp) {
            p.remove(offset);
        }
        self.moved([tp.clone()])
    }

    /// A dead letter that could not be written: the message goes out again after `delay`.
    pub(super) fn retry_later(&mut self, tp: &Tp, offset: i64, delay: Duration) {
        if let Some(out) = self.parts.get_mut(tp).and_then(|p| p.out.get_mut(&offset)) {
            out.dying = false;
            out.due = Some(Instant::now() + delay);
            // Not counted as a delivery: the next one may still be dead-lettered.
            out.attempts = out.attempts.saturating_sub(1);
        }
    }

    /// A cumulative commit (cmd_kafka_commit): what was pushed below `offset` is acknowledged.
    pub(super) fn committed_below(&mut self, tp: &Tp, offset: i64) {
        if let Some(p) = self.parts.get_mut(tp) {
            p.out = p.out.split_off(&offset);
            p.committed = p.committed.max(offset);
            p.next = p.next.max(offset);
            if self.ordered {
                p.recount();
            }
        }
    }

    /// The partition went to another member: its messages are that member's to deliver again,
    /// from the committed offset.
    pub(super) fn forget(&mut self, tp: &Tp) {
        self.parts.remove(tp);
    }

    /// The partitions among `tps` whose commit point passed what was committed, with it.
    fn moved(&mut self, tps: impl IntoIterator<Item = Tp>) -> Vec<(Tp, i64)> {
        let mut out: Vec<(Tp, i64)> = Vec::new();
        for tp in tps {
            let Some(p) = self.parts.get_mut(&tp) else {
                continue;
            };
            let point = p.commit_point();
            if point > p.committed {
                p.committed = point;
                out.retain(|(t, _)| *t != tp);
                out.push((tp, point));
            }
        }
        out
    }
}

/// How long a message whose dead letter could not be written waits before it goes out again.
const DEAD_LETTER_RETRY: Duration = Duration::from_secs(1);

/// Commits `points` for the member's group (synchronously: the reply says it is done).
pub(super) async fn commit_points(
    consumer: &Arc<StreamConsumer<GroupContext>>,
    points: &[(Tp, i64)],
    timeout: Duration,
) -> Result<()> {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in points {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .map_err(|e| upstream_error(&e))?;
    }
    let consumer = consumer.clone();
    let call = tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync));
    match tokio::time::timeout(timeout, call).await {
        Ok(joined) => joined.map_err(join_error)?.map_err(|e| upstream_error(&e)),
        Err(_) => Err(GatewayError::Timeout(
            "kafka commit did not finish in time".into(),
        )),
    }
}

impl KafkaSubscription {
    /// Acks or nacks for a group member: checked all or nothing, then the commit point of each
    /// partition moves up to its lowest unacknowledged message, after the dead letters of
    /// messages the policy gave up on are written.
    pub(super) async fn settle(
        &self,
        positions: Vec<crate::backend::Position>,
        how: Settle,
    ) -> Result<()> {
        let (Some(member), Some(consumer)) = (&self.member, &self.group) else {
            if let Settle::Nack(_) = how {
                return Err(GatewayError::BadRequest(
                    "nack needs a group subscription: a plain one delivers nothing again".into(),
                ));
            }
            for p in &positions {
                self.flow.ack_one(&p.topic, p.partition, p.offset);
            }
            return Ok(());
        };
        let consumer = consumer.upgrade().ok_or_else(|| {
            GatewayError::Unavailable("the group member has left the group".into())
        })?;
        {
            let owned = lock(&member.owned);
            if let Some(p) = positions
                .iter()
                .find(|p| !owned.contains(&(Arc::from(p.topic.as_str()), p.partition)))
            {
                return Err(GatewayError::Conflict(format!(
                    "partition {}/{} is not assigned to this group member",
                    p.topic, p.partition
                )));
            }
        }
        let (mut moved, dead) = lock(&member.acks).settle(&positions, &how, &self.policy)?;
        for p in &positions {
            self.flow.ack_one(&p.topic, p.partition, p.offset);
        }
        for d in dead {
            let written = match &self.policy.dead_letter {
                None => Ok(()),
                Some(to) => self.write_dead_letter(to, &d).await,
            };
            let mut acks = lock(&member.acks);
            match written {
                Ok(()) => moved.extend(acks.done(&d.tp, d.record.offset)),
                Err(e) => {
                    tracing::warn!(error = %e, topic = %d.tp.0, partition = d.tp.1,
                        offset = d.record.offset, "dead letter not written; the message goes out again");
                    acks.retry_later(&d.tp, d.record.offset, DEAD_LETTER_RETRY);
                }
            }
        }
        member.wake.notify_one();
        // Only partitions still held: another member now commits the others.
        let owned: Vec<(Tp, i64)> = {
            let owned = lock(&member.owned);
            moved.retain(|(tp, _)| owned.contains(tp));
            moved
        };
        if owned.is_empty() {
            return Ok(());
        }
        commit_points(&consumer, &owned, self.inner.timeout).await
    }

    /// The message as it was (key, value, headers, timestamp) plus the dead-letter headers,
    /// produced to `to` with the route's producer.
    async fn write_dead_letter(&self, to: &str, d: &Dead) -> Result<()> {
        let origin = crate::backend::dead_letter::Origin {
            topic: &d.tp.0,
            partition: d.tp.1,
            position: d.record.offset.to_string(),
            delivery_count: d.attempts,
            first_delivery_ms: d.first_ms,
            reason: d.reason,
        };
        let letter = crate::backend::dead_letter::publish(to, &d.record, &origin)?;
        self.inner.produce(letter).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(offset: i64) -> Arc<Record> {
        Arc::new(Record::new(
            Arc::from("t"),
            0,
            offset,
            0,
            Bytes::new(),
            Bytes::new(),
            Vec::new(),
        ))
    }

    fn keyed(offset: i64, key: &'static str) -> Arc<Record> {
        Arc::new(Record::new(
            Arc::from("t"),
            0,
            offset,
            0,
            Bytes::from_static(key.as_bytes()),
            Bytes::new(),
            Vec::new(),
        ))
    }

    fn offsets(records: &[Arc<Record>]) -> Vec<i64> {
        records.iter().map(|r| r.offset).collect()
    }

    fn pos(offset: i64) -> crate::backend::Position {
        crate::backend::Position {
            topic: "t".into(),
            partition: 0,
            offset,
            position: String::new(),
        }
    }

    #[test]
    fn commit_point_never_passes_an_unacknowledged_message() {
        let mut a = Acks::new(0, false);
        a.delivering((0..3).map(rec).collect());
        let policy = DeliveryPolicy::default();
        let (moved, _) = a.settle(&[pos(1), pos(2)], &Settle::Ack, &policy).unwrap();
        assert!(moved.is_empty(), "offset 0 is still unacknowledged");
        let (moved, _) = a.settle(&[pos(0)], &Settle::Ack, &policy).unwrap();
        assert_eq!(moved, vec![((Arc::from("t"), 0), 3)]);
    }

    #[test]
    fn settling_a_position_never_pushed_changes_nothing() {
        let mut a = Acks::new(0, false);
        a.delivering(vec![rec(0)]);
        let policy = DeliveryPolicy::default();
        assert!(a.settle(&[pos(0), pos(7)], &Settle::Ack, &policy).is_err());
        let (moved, _) = a.settle(&[pos(0)], &Settle::Ack, &policy).unwrap();
        assert_eq!(moved.len(), 1, "offset 0 was still awaiting its ack");
    }

    #[test]
    fn nack_past_max_deliveries_gives_the_message_up() {
        let mut a = Acks::new(0, false);
        a.delivering(vec![rec(0)]);
        let policy = DeliveryPolicy {
            max_deliveries: 2,
            ..Default::default()
        };
        let (_, dead) = a
            .settle(&[pos(0)], &Settle::Nack(Duration::ZERO), &policy)
            .unwrap();
        assert!(dead.is_empty());
        let (again, _) = a.due_again(10);
        assert_eq!(again.len(), 1);
        let (_, dead) = a
            .settle(&[pos(0)], &Settle::Nack(Duration::ZERO), &policy)
            .unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].attempts, 2);
        assert_eq!(
            a.done(&(Arc::from("t"), 0), 0),
            vec![((Arc::from("t"), 0), 1)]
        );
    }

    #[test]
    fn ordered_holds_a_key_while_its_earlier_message_is_out_and_releases_it_on_ack() {
        let mut a = Acks::new(0, true);
        let policy = DeliveryPolicy {
            ordered: true,
            ..Default::default()
        };
        let pushed = a.delivering(vec![
            keyed(0, "a"),
            keyed(1, "a"),
            keyed(2, "b"),
            keyed(3, ""),
            keyed(4, "a"),
        ]);
        assert_eq!(offsets(&pushed), [0, 2, 3], "a's later messages wait");
        assert_eq!(
            a.room(),
            DEFAULT_WINDOW - 5,
            "held messages count in the window"
        );
        assert!(
            a.settle(&[pos(1)], &Settle::Ack, &policy).is_err(),
            "a held message was not delivered: it cannot be acked"
        );
        // A nack keeps the key held: the nacked message goes again first.
        a.settle(&[pos(0)], &Settle::Nack(Duration::ZERO), &policy)
            .unwrap();
        let (again, _) = a.due_again(10);
        assert_eq!(offsets(&again), [0]);
        assert_eq!(again[0].key().as_deref(), Some(&b"a"[..]));
        a.settle(&[pos(0)], &Settle::Ack, &policy).unwrap();
        let (again, _) = a.due_again(10);
        assert_eq!(offsets(&again), [1], "released by the ack, first delivery");
        let m =
            <crate::pb::KafkaMessage as prost::Message>::decode(again[0].encoded.clone()).unwrap();
        assert_eq!(m.delivery_attempt, 1);
        a.settle(&[pos(1)], &Settle::Ack, &policy).unwrap();
        let (again, _) = a.due_again(10);
        assert_eq!(offsets(&again), [4]);
    }

    #[test]
    fn ordered_releases_the_next_of_a_key_when_one_is_dead_lettered_or_committed_past() {
        let mut a = Acks::new(0, true);
        let policy = DeliveryPolicy {
            ordered: true,
            max_deliveries: 1,
            ..Default::default()
        };
        let pushed = a.delivering(vec![keyed(0, "a"), keyed(1, "a"), keyed(2, "a")]);
        assert_eq!(offsets(&pushed), [0]);
        let (_, dead) = a
            .settle(&[pos(0)], &Settle::Nack(Duration::ZERO), &policy)
            .unwrap();
        assert_eq!(dead.len(), 1);
        assert!(
            a.due_again(10).0.is_empty(),
            "held while 0 is being dead-lettered"
        );
        a.done(&(Arc::from("t"), 0), 0);
        assert_eq!(offsets(&a.due_again(10).0), [1]);
        // A cumulative commit past 1 acknowledges it; 2 goes out.
        a.committed_below(&(Arc::from("t"), 0), 2);
        assert_eq!(offsets(&a.due_again(10).0), [2]);
    }

    #[test]
    fn without_ordered_every_message_of_a_key_goes_out_at_once() {
        let mut a = Acks::new(0, false);
        let pushed = a.delivering(vec![keyed(0, "a"), keyed(1, "a")]);
        assert_eq!(offsets(&pushed), [0, 1]);
    }
}
