//! A group's members in this gateway: their slots (one MQTT session name each), their
//! connections and what they hold unacknowledged, the handler that feeds a member's deliveries
//! in, and the sessions of departed members an heir holds (`Heirloom`, see `handover`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::v5::{Filter, Publish as MqttPublish, RetainForwardRule};
use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{Conn, Handler};
use crate::backend::{lock, PushSink};
use crate::error::{GatewayError, Result};

pub(super) type Key = (String, String);

/// The slots in use and the live members, per (group, filter), for this upstream.
#[derive(Default)]
pub(super) struct Slots {
    used: Mutex<HashMap<Key, HashSet<u32>>>,
    members: Mutex<HashMap<Key, Vec<Weak<Member>>>>,
}

impl Slots {
    /// The lowest free slot, so a new member resumes the session a departed one left.
    pub(super) fn take(&self, key: &Key, max: usize) -> Result<u32> {
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

    pub(super) fn free(&self, key: &Key, slot: u32) {
        let mut used = lock(&self.used);
        if let Some(set) = used.get_mut(key) {
            set.remove(&slot);
            if set.is_empty() {
                used.remove(key);
            }
        }
    }

    pub(super) fn join(&self, key: &Key, m: &Arc<Member>) {
        let mut members = lock(&self.members);
        let list = members.entry(key.clone()).or_default();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(m));
    }

    /// Another live member of the same share, to take over what a departing one held.
    pub(super) fn heir(&self, key: &Key, leaving: &Arc<Member>) -> Option<Arc<Member>> {
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
pub(super) fn fnv(s: &str) -> u32 {
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
    /// A nacked delivery whose wait is over, delivered again by the gateway (MQTT has no
    /// redelivery of its own): its attempt and first delivery time carry on.
    Again(Box<Delivered>),
}

/// A delivery pushed and not yet acknowledged, with the connection whose session the PUBACK
/// goes to. MQTT does not count deliveries: the gateway does, per member (`retry`).
pub(super) struct Delivered {
    pub conn: Arc<Conn>,
    pub publish: MqttPublish,
    /// 1 on a first delivery; 0 on one the broker resent (DUP: how often is unknown).
    pub attempt: u32,
    /// When the gateway first delivered it (ms since the epoch).
    pub first_ms: i64,
    /// Nacked and waiting to go out again: not acknowledgeable, still unacknowledged at the
    /// broker (so a departing member's session still holds it).
    pub nacked: bool,
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
    pub pending: Mutex<HashMap<i64, Delivered>>,
    /// The route's delivery policy (the gateway's own retries and dead letters).
    pub delivery: crate::config::DeliveryPolicy,
    pub sink: PushSink,
    /// Where this member's deliveries (and those of sessions it took over) arrive.
    pub tx: mpsc::Sender<Incoming>,
    pub cancel: CancellationToken,
    /// Sessions of departed members this one took over, until their messages are done.
    pub heirlooms: Mutex<Vec<Heirloom>>,
    pub client_id: String,
    pub share: String,
    pub receive_max: u16,
}

/// Gives the slot back when its session is no longer held (also when a subscribe failed).
pub(super) struct Release {
    pub slots: Arc<Slots>,
    pub key: Key,
    pub slot: u32,
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

/// How long a taken-over session is kept at least: the broker resends right after CONNACK.
pub(super) const KEEP: Duration = Duration::from_secs(5);

/// A departed member's session held by its heir until what it resent is acknowledged.
pub(super) struct Heirloom {
    pub conn: Arc<Conn>,
    pub release: Option<Release>,
    pub since: Instant,
}

impl Drop for Heirloom {
    fn drop(&mut self) {
        retire(&self.conn, self.release.take());
    }
}

/// Ends a session's connection, and frees its slot only once the DISCONNECT had time to
/// reach the broker: a new member taking the slot earlier would take the live session over.
pub(super) fn retire(conn: &Conn, release: Option<Release>) {
    conn.shutdown();
    if let (Some(release), Ok(rt)) = (release, tokio::runtime::Handle::try_current()) {
        rt.spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            drop(release);
        });
    }
}
