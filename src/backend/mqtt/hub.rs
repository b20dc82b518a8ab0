//! Plain subscriptions on the upstream's one shared connection: all gateway subscribers of a
//! filter share one MQTT subscription. Each subscription carries an MQTT 5 subscription
//! identifier, so a delivery names the filters it is for and is made a `Record` once for every
//! member of them. A LAST subscriber of a filter others already watch re-subscribes it with a
//! fresh identifier: the broker then sends the retained messages again (retain flag set, that
//! identifier), and only that subscriber gets them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use async_trait::async_trait;
use rumqttc::v5::mqttbytes::v5::{Filter, Publish as MqttPublish, RetainForwardRule};
use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{Conn, Endpoint, Handler};
use crate::backend::{
    lock, now_ms, CommitOffset, Header, PushSink, Record, RecordParts, Start, SubscribeSpec,
    Subscription,
};
use crate::error::{GatewayError, Result};

/// Records waiting for one subscriber's connection. Plain MQTT subscriptions keep no history
/// here: past this a subscriber that does not read loses messages.
const SUBSCRIBER_BUFFER: usize = 4096;
/// Subscription identifiers a filter keeps answering to after a LAST re-subscribe replaced
/// them (deliveries already on their way carry the old one).
const KEPT_IDS: usize = 4;
/// MQTT's largest subscription identifier.
const MAX_SUBSCRIPTION_ID: usize = 268_435_455;

pub(super) struct Hub {
    ep: Endpoint,
    conn: OnceLock<Conn>,
    state: Mutex<State>,
    /// Serializes subscribing and leaving, so a filter's last member leaving and a new one
    /// joining cannot cross.
    ops: tokio::sync::Mutex<()>,
    next_member: AtomicU64,
    next_id: AtomicUsize,
    client_id: String,
    weak: Weak<Hub>,
}

#[derive(Default)]
struct State {
    filters: HashMap<String, Fanout>,
    /// Subscription identifier -> filter.
    by_id: HashMap<usize, String>,
}

struct Fanout {
    /// The newest identifier first.
    ids: Vec<usize>,
    members: Vec<Member>,
}

struct Member {
    id: u64,
    tx: mpsc::Sender<Arc<Record>>,
    allowed: Option<Arc<crate::auth::Identity>>,
    match_headers: Vec<Header>,
    /// The identifier of this member's LAST subscribe: retained messages carrying it are its.
    retained_for: Option<usize>,
}

/// An MQTT delivery as a gateway record: no position (offset -1), received now.
pub(super) fn record(p: &MqttPublish, offset: i64) -> Arc<Record> {
    Arc::new(Record::from_parts(RecordParts {
        topic: Arc::from(String::from_utf8_lossy(&p.topic).as_ref()),
        partition: 0,
        offset,
        position: String::new(),
        epoch: 0,
        timestamp: now_ms(),
        key: bytes::Bytes::new(),
        value: p.payload.clone(),
        headers: super::topic::incoming(p.qos, p.retain, p.properties.as_ref()),
    }))
}

struct HubHandler(Weak<Hub>);

impl Handler for HubHandler {
    fn message(&self, p: MqttPublish) {
        if let Some(hub) = self.0.upgrade() {
            hub.deliver(p);
        }
    }

    fn connected(&self, _session_present: bool) {
        // Renewed whether or not the broker kept the session: a re-SUBSCRIBE replaces the
        // same subscription, and never asks for retained messages again.
        if let Some(hub) = self.0.upgrade() {
            let filters: Vec<(String, usize)> = lock(&hub.state)
                .filters
                .iter()
                .filter_map(|(f, fan)| fan.ids.first().map(|id| (f.clone(), *id)))
                .collect();
            if let Some(conn) = hub.conn.get() {
                for (f, id) in filters {
                    conn.resubscribe(filter(&f, RetainForwardRule::Never), Some(id));
                }
            }
        }
    }
}

fn filter(path: &str, retained: RetainForwardRule) -> Filter {
    Filter {
        path: path.to_owned(),
        qos: QoS::AtLeastOnce,
        nolocal: false,
        preserve_retain: false,
        retain_forward_rule: retained,
    }
}

impl Hub {
    pub fn new(ep: Endpoint) -> Arc<Hub> {
        let client_id = format!(
            "{}-{:016x}",
            ep.options.client_id_prefix,
            now_ms() as u64 ^ u64::from(std::process::id()).rotate_left(40)
        );
        Arc::new_cyclic(|weak| Hub {
            ep,
            conn: OnceLock::new(),
            state: Mutex::new(State::default()),
            ops: tokio::sync::Mutex::new(()),
            next_member: AtomicU64::new(1),
            next_id: AtomicUsize::new(1),
            client_id,
            weak: weak.clone(),
        })
    }

    /// The shared connection, started on first use so building a route never blocks.
    pub fn conn(&self) -> &Conn {
        self.conn.get_or_init(|| {
            let o = &self.ep.options;
            Conn::start(
                &self.ep,
                self.client_id.clone(),
                o.clean_start,
                o.session_expiry_secs,
                false,
                o.max_inflight,
                Arc::new(HubHandler(self.weak.clone())),
            )
        })
    }

    fn fresh_id(&self) -> usize {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        (id - 1) % MAX_SUBSCRIPTION_ID + 1
    }

    fn deliver(&self, p: MqttPublish) {
        let record = record(&p, -1);
        if super::reserved(&record.topic) {
            return;
        }
        let ids: Vec<usize> = p
            .properties
            .as_ref()
            .map(|pr| pr.subscription_identifiers.clone())
            .unwrap_or_default();
        let state = lock(&self.state);
        let mut fanouts: Vec<&Fanout> = Vec::new();
        if ids.is_empty() {
            // A broker that sends no identifiers: match the filters here.
            fanouts.extend(
                state
                    .filters
                    .iter()
                    .filter(|(f, _)| super::topic::matches(f, &record.topic))
                    .map(|(_, fan)| fan),
            );
        } else {
            for id in &ids {
                if let Some(fan) = state.by_id.get(id).and_then(|f| state.filters.get(f)) {
                    if !fanouts.iter().any(|x| std::ptr::eq(*x, fan)) {
                        fanouts.push(fan);
                    }
                }
            }
        }
        for fan in fanouts {
            for m in &fan.members {
                // A retained message is sent because of one (re-)subscribe: it is for the
                // LAST subscriber that made it, not for those already watching.
                if p.retain && !m.retained_for.is_some_and(|id| ids.contains(&id)) {
                    continue;
                }
                if m.allowed
                    .as_ref()
                    .is_some_and(|id| !id.can_read(&record.topic))
                    || !record.matches_headers(&m.match_headers)
                {
                    continue;
                }
                if let Err(mpsc::error::TrySendError::Full(_)) = m.tx.try_send(record.clone()) {
                    tracing::debug!(topic = %record.topic, "MQTT subscriber too slow; message dropped");
                }
            }
        }
    }

    pub async fn subscribe(
        self: &Arc<Self>,
        filter_path: String,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        if spec.max_in_flight > 0 {
            return Err(GatewayError::BadRequest(
                "max_in_flight needs acknowledgements; plain MQTT subscriptions are acknowledged by the gateway on receipt (use a group)".into(),
            ));
        }
        let last = spec.start == Start::Last;
        let conn = self.conn();
        conn.ready().await?;
        let member_id = self.next_member.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let _ops = self.ops.lock().await;
        let exists = lock(&self.state).filters.contains_key(&filter_path);
        // LAST, or a filter nobody watches yet: a SUBSCRIBE with a fresh identifier.
        let new_id = (last || !exists).then(|| self.fresh_id());
        let member = Member {
            id: member_id,
            tx,
            allowed: spec.allowed.clone(),
            match_headers: spec.match_headers.clone(),
            retained_for: if last { new_id } else { None },
        };
        {
            let mut st = lock(&self.state);
            let st = &mut *st;
            let fan = st
                .filters
                .entry(filter_path.clone())
                .or_insert_with(|| Fanout {
                    ids: Vec::new(),
                    members: Vec::new(),
                });
            if let Some(id) = new_id {
                fan.ids.insert(0, id);
                st.by_id.insert(id, filter_path.clone());
                for old in fan.ids.drain(KEPT_IDS.min(fan.ids.len())..) {
                    st.by_id.remove(&old);
                }
            }
            fan.members.push(member);
        }
        if let Some(id) = new_id {
            let rule = if last {
                RetainForwardRule::OnEverySubscribe
            } else {
                RetainForwardRule::Never
            };
            if let Err(e) = conn.subscribe(filter(&filter_path, rule), Some(id)).await {
                self.remove(&filter_path, member_id);
                return Err(e);
            }
        }
        drop(_ops);
        let cancel = CancellationToken::new();
        tokio::spawn(crate::backend::forward_batches(rx, sink, cancel.clone()));
        Ok(Arc::new(HubSubscription {
            cancel,
            hub: self.clone(),
            filter: filter_path,
            member: member_id,
        }))
    }

    /// Removes a member; returns whether its filter has none left (and was dropped).
    fn remove(&self, filter_path: &str, member: u64) -> bool {
        let mut st = lock(&self.state);
        let Some(fan) = st.filters.get_mut(filter_path) else {
            return false;
        };
        fan.members.retain(|m| m.id != member);
        if !fan.members.is_empty() {
            return false;
        }
        if let Some(fan) = st.filters.remove(filter_path) {
            for id in fan.ids {
                st.by_id.remove(&id);
            }
        }
        true
    }

    /// The last member out ends the MQTT subscription.
    fn leave(self: &Arc<Self>, filter_path: String, member: u64) {
        let hub = self.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let _ops = hub.ops.lock().await;
            if hub.remove(&filter_path, member) {
                if let Some(conn) = hub.conn.get() {
                    conn.unsubscribe(&filter_path);
                }
            }
        });
    }
}

struct HubSubscription {
    cancel: CancellationToken,
    hub: Arc<Hub>,
    filter: String,
    member: u64,
}

#[async_trait]
impl Subscription for HubSubscription {
    async fn commit(&self, _offsets: Vec<CommitOffset>) -> Result<()> {
        Err(GatewayError::UnknownCommand)
    }

    async fn ack(&self, _positions: Vec<crate::backend::Position>) -> Result<()> {
        Err(GatewayError::BadRequest(
            "plain MQTT subscriptions are acknowledged by the gateway on receipt; only group deliveries take ack".into(),
        ))
    }

    fn close(&self) {
        if !self.cancel.is_cancelled() {
            self.cancel.cancel();
            self.hub.leave(self.filter.clone(), self.member);
        }
    }
}

impl Drop for HubSubscription {
    fn drop(&mut self) {
        self.close();
    }
}
