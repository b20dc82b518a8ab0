//! Group subscriptions: MQTT 5 shared subscriptions `$share/{group}/{filter}`, so gateway
//! members and plain MQTT clients of the share split its messages. Each member holds an MQTT
//! connection of its own, with manual acks: the PUBACK of a delivery is what the client's
//! `cmd_ack` sends, and a broker redelivers unacknowledged QoS 1 messages only to the session
//! they were sent to. That session therefore outlives the member (`group_session_expiry_secs`)
//! under a client id per slot (`{prefix}-g-{group}-{filter hash}-{slot}`): the member that next
//! takes the slot resumes it and gets what its predecessor left unacknowledged. A member that
//! leaves unsubscribes first, so the broker stops sending to its session.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rumqttc::v5::mqttbytes::v5::{Filter, Publish as MqttPublish, RetainForwardRule};
use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{Conn, Endpoint, Handler};
use crate::backend::{
    lock, CommitOffset, Position, PushSink, SubscribeSpec, Subscription, TaskGauge,
};
use crate::error::{GatewayError, Result};

/// The slots in use, per (group, filter), and how many members the upstream holds.
#[derive(Default)]
pub(super) struct Slots {
    used: Mutex<HashMap<(String, String), HashSet<u32>>>,
}

impl Slots {
    fn total(&self) -> usize {
        lock(&self.used).values().map(HashSet::len).sum()
    }

    /// The lowest free slot, so a new member resumes the session a departed one left.
    fn take(&self, group: &str, filter: &str, max: usize) -> Result<u32> {
        if self.total() >= max {
            return Err(GatewayError::Overloaded(format!(
                "this MQTT upstream holds {max} group members (mqtt.max_group_members)"
            )));
        }
        let mut used = lock(&self.used);
        let set = used
            .entry((group.to_owned(), filter.to_owned()))
            .or_default();
        let slot = (0..).find(|s| !set.contains(s)).unwrap_or(0);
        set.insert(slot);
        Ok(slot)
    }

    fn free(&self, group: &str, filter: &str, slot: u32) {
        let mut used = lock(&self.used);
        let key = (group.to_owned(), filter.to_owned());
        if let Some(set) = used.get_mut(&key) {
            set.remove(&slot);
            if set.is_empty() {
                used.remove(&key);
            }
        }
    }
}

/// FNV-1a: a hash that stays the same across builds, since it names broker sessions.
fn fnv(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// What the member's event loop hands on: deliveries, and reconnections (after which the
/// broker resends what was unacknowledged, so earlier positions are void).
enum Incoming {
    Message(Box<MqttPublish>),
    Reconnected,
}

struct MemberHandler {
    tx: mpsc::Sender<Incoming>,
    connects: AtomicI64,
    share: String,
    /// Weak: the connection's task owns this handler.
    conn: Arc<std::sync::OnceLock<std::sync::Weak<Conn>>>,
}

impl Handler for MemberHandler {
    fn message(&self, p: MqttPublish) {
        // The broker sends at most Receive Maximum unacknowledged QoS 1 messages and the
        // queue is larger; should it still be full, the message stays unacknowledged and comes
        // back with the session.
        let _ = self.tx.try_send(Incoming::Message(Box::new(p)));
    }

    fn connected(&self, _session_present: bool) {
        if self.connects.fetch_add(1, Ordering::Relaxed) > 0 {
            let _ = self.tx.try_send(Incoming::Reconnected);
            if let Some(conn) = self.conn.get().and_then(std::sync::Weak::upgrade) {
                conn.resubscribe(share_filter(&self.share), None);
            }
        }
    }
}

fn share_filter(share: &str) -> Filter {
    Filter {
        path: share.to_owned(),
        qos: QoS::AtLeastOnce,
        nolocal: false,
        preserve_retain: false,
        retain_forward_rule: RetainForwardRule::Never,
    }
}

pub(super) async fn subscribe(
    ep: &Endpoint,
    slots: Arc<Slots>,
    filter: String,
    group: String,
    spec: SubscribeSpec,
    sink: PushSink,
) -> Result<Arc<dyn Subscription>> {
    super::topic::validate_group(&group)?;
    let o = &ep.options;
    let slot = slots.take(&group, &filter, o.max_group_members)?;
    let client_id = format!(
        "{}-g-{group}-{:08x}-{slot}",
        o.client_id_prefix,
        fnv(&filter)
    );
    let share = format!("$share/{group}/{filter}");
    let receive_max = if spec.max_in_flight > 0 {
        u16::try_from(spec.max_in_flight).unwrap_or(u16::MAX)
    } else {
        o.max_inflight
    };
    let (tx, rx) = mpsc::channel(usize::from(receive_max) + 64);
    let cell = Arc::new(std::sync::OnceLock::new());
    let handler = Arc::new(MemberHandler {
        tx,
        connects: AtomicI64::new(0),
        share: share.clone(),
        conn: cell.clone(),
    });
    let conn = Arc::new(Conn::start(
        ep,
        client_id,
        false,
        o.group_session_expiry_secs,
        true,
        receive_max,
        handler,
    ));
    let _ = cell.set(Arc::downgrade(&conn));
    let member = Arc::new(Member {
        conn: conn.clone(),
        pending: Mutex::new(HashMap::new()),
        sink: sink.clone(),
    });
    let release = Release {
        slots,
        group,
        filter,
        slot,
    };
    conn.subscribe(share_filter(&share), None).await?;
    let cancel = CancellationToken::new();
    tokio::spawn(deliver(rx, spec, member.clone(), cancel.clone()));
    Ok(Arc::new(GroupSubscription {
        member,
        share,
        cancel,
        _release: release,
    }))
}

/// Gives the slot back when the member is gone (also when its subscribe failed).
struct Release {
    slots: Arc<Slots>,
    group: String,
    filter: String,
    slot: u32,
}

impl Drop for Release {
    fn drop(&mut self) {
        self.slots.free(&self.group, &self.filter, self.slot);
    }
}

struct Member {
    conn: Arc<Conn>,
    /// Deliveries pushed and not yet acknowledged, by the position the client sees.
    pending: Mutex<HashMap<i64, MqttPublish>>,
    sink: PushSink,
}

/// Pushes the member's deliveries one by one, each with its own position (offset) so the client
/// can acknowledge it.
async fn deliver(
    mut rx: mpsc::Receiver<Incoming>,
    spec: SubscribeSpec,
    member: Arc<Member>,
    cancel: CancellationToken,
) {
    let _task = TaskGauge::new();
    let mut next: i64 = 0;
    loop {
        let got = tokio::select! {
            _ = cancel.cancelled() => return,
            r = rx.recv() => r,
        };
        let p = match got {
            None => return,
            Some(Incoming::Reconnected) => {
                // The broker resends what was unacknowledged; the old positions are void.
                lock(&member.pending).clear();
                continue;
            }
            Some(Incoming::Message(p)) => *p,
        };
        let record = super::hub::record(&p, next);
        let excluded = super::reserved(&record.topic)
            || spec
                .allowed
                .as_ref()
                .is_some_and(|id| !id.can_read(&record.topic))
            || !record.matches_headers(&spec.match_headers);
        if excluded {
            // Acknowledged for the group: nobody else in it would be allowed to see it either.
            let _ = member.conn.ack(&p).await;
            continue;
        }
        if p.qos != QoS::AtMostOnce {
            lock(&member.pending).insert(next, p);
        }
        next += 1;
        let one = [record];
        let pushed = tokio::select! {
            _ = cancel.cancelled() => return,
            r = member.sink.push(&one) => r,
        };
        if pushed.is_err() {
            return;
        }
    }
}

struct GroupSubscription {
    member: Arc<Member>,
    share: String,
    cancel: CancellationToken,
    _release: Release,
}

#[async_trait]
impl Subscription for GroupSubscription {
    async fn commit(&self, _offsets: Vec<CommitOffset>) -> Result<()> {
        Err(GatewayError::UnknownCommand)
    }

    async fn ack(&self, positions: Vec<Position>) -> Result<()> {
        let mut found = Vec::with_capacity(positions.len());
        {
            let mut pending = lock(&self.member.pending);
            for p in &positions {
                if !pending.contains_key(&p.offset) {
                    return Err(GatewayError::BadRequest(format!(
                        "offset {} is not an unacknowledged delivery of this subscription (acknowledged already, QoS 0, or void after a reconnection: the broker resends those)",
                        p.offset
                    )));
                }
            }
            for p in &positions {
                if let Some(m) = pending.remove(&p.offset) {
                    found.push((p.topic.clone(), p.offset, m));
                }
            }
        }
        for (topic, offset, m) in found {
            self.member.conn.ack(&m).await?;
            self.member.sink.flow.ack_one(&topic, 0, offset);
        }
        Ok(())
    }

    fn close(&self) {
        if !self.cancel.is_cancelled() {
            self.cancel.cancel();
            // No new messages for this session; what it holds unacknowledged stays with it
            // for the next member of the slot. The connection closes when the last handle
            // (this subscription, the delivery task) is dropped.
            self.member.conn.unsubscribe(&self.share);
        }
    }
}

impl Drop for GroupSubscription {
    fn drop(&mut self) {
        self.close();
    }
}
