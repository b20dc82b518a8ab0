//! Group subscriptions: MQTT 5 shared subscriptions `$share/{group}/{filter}`, so gateway
//! members and plain MQTT clients of the share split its messages. Each member holds an MQTT
//! connection of its own, with manual acks: the PUBACK of a delivery is what the client's
//! `cmd_ack` sends, and a broker redelivers unacknowledged QoS 1 messages only to the session
//! they were sent to. So sessions are named per slot (`{prefix}-g-{group}-{filter hash}-{slot}`)
//! and outlive their member (`group_session_expiry_secs`): what a departed member left
//! unacknowledged goes to another member of the group in this gateway (`handover`), or else
//! to the member that next takes the slot and resumes the session.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use async_trait::async_trait;
use rumqttc::v5::mqttbytes::v5::{Filter, Publish as MqttPublish, RetainForwardRule};
use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{Conn, Endpoint, Handler};
use crate::backend::{lock, Position, PushSink, SubscribeSpec, Subscription, TaskGauge};
use crate::error::{GatewayError, Result};

type Key = (String, String);

/// The slots in use and the live members, per (group, filter), for this upstream.
#[derive(Default)]
pub(super) struct Slots {
    used: Mutex<HashMap<Key, HashSet<u32>>>,
    members: Mutex<HashMap<Key, Vec<Weak<Member>>>>,
}

impl Slots {
    /// The lowest free slot, so a new member resumes the session a departed one left.
    fn take(&self, key: &Key, max: usize) -> Result<u32> {
        let mut used = lock(&self.used);
        if used.values().map(HashSet::len).sum::<usize>() >= max {
            return Err(GatewayError::Overloaded(format!(
                "this MQTT upstream holds {max} group members (mqtt.max_group_members)"
            )));
        }
        let set = used.entry(key.clone()).or_default();
        let slot = (0..).find(|s| !set.contains(s)).unwrap_or(0);
        set.insert(slot);
        Ok(slot)
    }

    fn free(&self, key: &Key, slot: u32) {
        let mut used = lock(&self.used);
        if let Some(set) = used.get_mut(key) {
            set.remove(&slot);
            if set.is_empty() {
                used.remove(key);
            }
        }
    }

    fn join(&self, key: &Key, m: &Arc<Member>) {
        let mut members = lock(&self.members);
        let list = members.entry(key.clone()).or_default();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(m));
    }

    /// Another live member of the same share, to take over what a departing one held.
    fn heir(&self, key: &Key, leaving: &Arc<Member>) -> Option<Arc<Member>> {
        let mut members = lock(&self.members);
        let list = members.get_mut(key)?;
        list.retain(|w| w.strong_count() > 0);
        let heir = list
            .iter()
            .filter_map(Weak::upgrade)
            .find(|m| !Arc::ptr_eq(m, leaving) && !m.cancel.is_cancelled());
        if list.is_empty() {
            members.remove(key);
        }
        heir
    }
}

/// FNV-1a: a hash that stays the same across builds, since it names broker sessions.
fn fnv(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// What a member's delivery task gets: deliveries with the connection whose session holds
/// them (its own, or a departed member's taken over), and reconnections (after which the broker
/// resends that session's unacknowledged messages, so their earlier positions are void).
pub(super) enum Incoming {
    Message(Box<MqttPublish>, Weak<Conn>),
    Reconnected(Weak<Conn>),
}

pub(super) struct MemberHandler {
    pub tx: mpsc::Sender<Incoming>,
    pub connects: AtomicI64,
    pub share: String,
    /// Renew the share after a reconnection (members), or drop it (a taken-over session).
    pub subscribed: bool,
    /// Weak: the connection's task owns this handler.
    pub conn: Arc<OnceLock<Weak<Conn>>>,
}

impl MemberHandler {
    fn conn(&self) -> Weak<Conn> {
        self.conn.get().cloned().unwrap_or_default()
    }
}

impl Handler for MemberHandler {
    fn message(&self, p: MqttPublish) {
        // The broker sends at most Receive Maximum unacknowledged QoS 1 messages and the
        // queue is larger; should it still be full, the message stays unacknowledged and comes
        // back with the session.
        let _ = self
            .tx
            .try_send(Incoming::Message(Box::new(p), self.conn()));
    }

    fn connected(&self, _session_present: bool) {
        let first = self.connects.fetch_add(1, Ordering::Relaxed) == 0;
        if !first {
            let _ = self.tx.try_send(Incoming::Reconnected(self.conn()));
        }
        let Some(conn) = self.conn().upgrade() else {
            return;
        };
        if !self.subscribed {
            conn.unsubscribe(&self.share);
        } else if !first {
            conn.resubscribe(share_filter(&self.share), None);
        }
    }
}

pub(super) fn share_filter(share: &str) -> Filter {
    Filter {
        path: share.to_owned(),
        qos: QoS::AtLeastOnce,
        nolocal: false,
        preserve_retain: false,
        retain_forward_rule: RetainForwardRule::Never,
    }
}

pub(super) struct Member {
    pub conn: Arc<Conn>,
    /// Deliveries pushed and not yet acknowledged, by the position the client sees, with the
    /// connection whose session the PUBACK goes to.
    pub pending: Mutex<HashMap<i64, (Arc<Conn>, MqttPublish)>>,
    pub sink: PushSink,
    /// Where this member's deliveries (and those of sessions it took over) arrive.
    pub tx: mpsc::Sender<Incoming>,
    pub cancel: CancellationToken,
    /// Sessions of departed members this one took over, until their messages are done.
    pub heirlooms: Mutex<Vec<super::handover::Heirloom>>,
    pub client_id: String,
    pub share: String,
    pub receive_max: u16,
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
    let key = (group.clone(), filter.clone());
    let slot = slots.take(&key, o.max_group_members)?;
    let release = Release {
        slots: slots.clone(),
        key: key.clone(),
        slot,
    };
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
    // Room for this session's and taken-over sessions' unacknowledged messages.
    let (tx, rx) = mpsc::channel(usize::from(receive_max) * 4 + 64);
    let cell = Arc::new(OnceLock::new());
    let handler = Arc::new(MemberHandler {
        tx: tx.clone(),
        connects: AtomicI64::new(0),
        share: share.clone(),
        subscribed: true,
        conn: cell.clone(),
    });
    let conn = Arc::new(Conn::start(
        ep,
        client_id.clone(),
        false,
        o.group_session_expiry_secs,
        true,
        receive_max,
        handler,
    ));
    let _ = cell.set(Arc::downgrade(&conn));
    conn.subscribe(share_filter(&share), None).await?;
    let member = Arc::new(Member {
        conn,
        pending: Mutex::new(HashMap::new()),
        sink,
        tx,
        cancel: CancellationToken::new(),
        heirlooms: Mutex::new(Vec::new()),
        client_id,
        share,
        receive_max,
    });
    slots.join(&key, &member);
    tokio::spawn(deliver(rx, spec, member.clone()));
    Ok(Arc::new(GroupSubscription {
        member,
        ep: ep.clone(),
        release: Mutex::new(Some(release)),
    }))
}

/// Gives the slot back when its session is no longer held (also when a subscribe failed).
pub(super) struct Release {
    slots: Arc<Slots>,
    key: Key,
    slot: u32,
}

impl Release {
    /// Another live member of this slot's share.
    pub fn heir(&self, leaving: &Arc<Member>) -> Option<Arc<Member>> {
        self.slots.heir(&self.key, leaving)
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        self.slots.free(&self.key, self.slot);
    }
}

/// Pushes the member's deliveries one by one, each with its own position (offset) so the client
/// can acknowledge it.
async fn deliver(mut rx: mpsc::Receiver<Incoming>, spec: SubscribeSpec, member: Arc<Member>) {
    let _task = TaskGauge::new();
    let mut next: i64 = 0;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let got = tokio::select! {
            _ = member.cancel.cancelled() => return,
            _ = tick.tick() => {
                super::handover::prune(&member);
                continue;
            }
            r = rx.recv() => r,
        };
        let (p, from) = match got {
            None => return,
            Some(Incoming::Reconnected(from)) => {
                lock(&member.pending)
                    .retain(|_, (c, _)| !std::ptr::eq(Arc::as_ptr(c), from.as_ptr()));
                continue;
            }
            Some(Incoming::Message(p, from)) => (*p, from),
        };
        // The session is gone (its holder left): it resends the message to whoever resumes it.
        let Some(from) = from.upgrade() else { continue };
        let record = super::hub::record(&p, next);
        let excluded = super::reserved(&record.topic)
            || spec
                .allowed
                .as_ref()
                .is_some_and(|id| !id.can_read(&record.topic))
            || !record.matches_headers(&spec.match_headers);
        if excluded {
            // Acknowledged for the group: nobody else in it would be allowed to see it either.
            let _ = from.ack(&p).await;
            continue;
        }
        if p.qos != QoS::AtMostOnce {
            lock(&member.pending).insert(next, (from, p));
        }
        next += 1;
        let one = [record];
        let pushed = tokio::select! {
            _ = member.cancel.cancelled() => return,
            r = member.sink.push(&one) => r,
        };
        if pushed.is_err() {
            return;
        }
    }
}

struct GroupSubscription {
    member: Arc<Member>,
    ep: Endpoint,
    release: Mutex<Option<Release>>,
}

#[async_trait]
impl Subscription for GroupSubscription {
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
                if let Some((conn, m)) = pending.remove(&p.offset) {
                    found.push((p.topic.clone(), p.offset, conn, m));
                }
            }
        }
        for (topic, offset, conn, m) in found {
            conn.ack(&m).await?;
            self.member.sink.flow.ack_one(&topic, 0, offset);
        }
        Ok(())
    }

    fn close(&self) {
        if self.member.cancel.is_cancelled() {
            return;
        }
        self.member.cancel.cancel();
        let release = lock(&self.release).take();
        super::handover::leave(&self.ep, &self.member, release);
    }
}

impl Drop for GroupSubscription {
    fn drop(&mut self) {
        self.close();
    }
}
