//! Plain subscriptions on the upstream's one shared connection: all gateway subscribers of a
//! filter share one MQTT subscription. Each subscription carries an MQTT 5 subscription
//! identifier, so a delivery names the filters it is for and is made a `Record` once for every
//! member of them. A LAST subscriber of a filter others already watch re-subscribes it with a
//! fresh identifier: the broker then sends the retained messages again (retain flag set, that
//! identifier), and only that subscriber gets them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use async_trait::async_trait;
use rumqttc::v5::mqttbytes::v5::{Filter, Publish as MqttPublish, RetainForwardRule};
use rumqttc::v5::mqttbytes::QoS;

use super::client::{Conn, Endpoint, Handler};
use crate::backend::live::{self, Feed, Live};
use crate::backend::Subscription;
use crate::backend::{lock, now_ms, PushSink, Record, RecordParts, Start, SubscribeSpec};
use crate::error::Result;

/// Subscription identifiers a filter keeps answering to after a LAST re-subscribe replaced
/// them (deliveries already on their way carry the old one).
const KEPT_IDS: usize = 4;
/// MQTT's largest subscription identifier.
const MAX_SUBSCRIPTION_ID: usize = 268_435_455;

pub(super) struct Hub {
    live: Arc<Live<Filters>>,
}

/// The live fan-out's side at the broker: one MQTT subscription per filter on the upstream's
/// shared connection, each with its subscription identifiers.
struct Filters {
    ep: Endpoint,
    conn: OnceLock<Conn>,
    ids: Mutex<Ids>,
    next_id: AtomicUsize,
    client_id: String,
    /// The fan-out this is the upstream of, for the connection's handler.
    live: OnceLock<Weak<Live<Filters>>>,
}

#[derive(Default)]
struct Ids {
    /// Subscription identifier -> filter.
    by_id: HashMap<usize, String>,
    /// Filter -> its identifiers, the newest first.
    by_filter: HashMap<String, Vec<usize>>,
}

impl Ids {
    /// `id` is now the filter's newest identifier.
    fn add(&mut self, filter: &str, id: usize) {
        let ids = self.by_filter.entry(filter.to_owned()).or_default();
        ids.insert(0, id);
        let old: Vec<usize> = ids.drain(KEPT_IDS.min(ids.len())..).collect();
        self.by_id.insert(id, filter.to_owned());
        for id in old {
            self.by_id.remove(&id);
        }
    }

    fn remove(&mut self, filter: &str) {
        for id in self.by_filter.remove(filter).unwrap_or_default() {
            self.by_id.remove(&id);
        }
    }
}

/// An MQTT delivery as a gateway record: no position (offset -1), received now.
pub(super) fn record(p: &MqttPublish, offset: i64) -> Arc<Record> {
    Arc::new(Record::from_parts(RecordParts {
        topic: Arc::from(String::from_utf8_lossy(&p.topic).as_ref()),
        partition: 0,
        offset,
        position: String::new(),
        epoch: 0,
        delivery_attempt: 0,
        timestamp: now_ms(),
        key: bytes::Bytes::new(),
        value: p.payload.clone(),
        headers: super::topic::incoming(p.qos, p.retain, p.properties.as_ref()),
    }))
}

struct HubHandler(Weak<Live<Filters>>);

impl Handler for HubHandler {
    fn message(&self, p: MqttPublish) {
        if let Some(live) = self.0.upgrade() {
            deliver(&live, p);
        }
    }

    fn connected(&self, _session_present: bool) {
        // Renewed whether or not the broker kept the session: a re-SUBSCRIBE replaces the
        // same subscription, and never asks for retained messages again.
        let Some(live) = self.0.upgrade() else { return };
        let filters = live.upstream();
        let newest: Vec<(String, usize)> = lock(&filters.ids)
            .by_filter
            .iter()
            .filter_map(|(f, ids)| ids.first().map(|id| (f.clone(), *id)))
            .collect();
        if let Some(conn) = filters.conn.get() {
            for (f, id) in newest {
                conn.resubscribe(filter(&f, RetainForwardRule::Never), Some(id));
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

/// Hands a delivery to the members of the filters it is for: those its subscription
/// identifiers name, or, from a broker that sends none, those whose filter matches.
fn deliver(live: &Live<Filters>, p: MqttPublish) {
    let record = record(&p, -1);
    if super::reserved(&record.topic) {
        return;
    }
    let ids: Vec<usize> = p
        .properties
        .as_ref()
        .map(|pr| pr.subscription_identifiers.clone())
        .unwrap_or_default();
    let filters: Vec<String> = if ids.is_empty() {
        live.keys()
            .into_iter()
            .filter(|f| super::topic::matches(f, &record.topic))
            .collect()
    } else {
        let known = lock(&live.upstream().ids);
        let mut filters: Vec<String> = ids
            .iter()
            .filter_map(|id| known.by_id.get(id).cloned())
            .collect();
        filters.sort_unstable();
        filters.dedup();
        filters
    };
    for f in filters {
        if let Some(feed) = live.feed(&f) {
            // A retained message is sent because of one (re-)subscribe: it is for the LAST
            // subscriber that made it (tagged with its identifier), not for those already
            // watching.
            feed.deliver_where(&record, |tag| {
                !p.retain || ids.contains(&usize::try_from(tag).unwrap_or(0))
            });
        }
    }
}

impl Filters {
    /// The shared connection, started on first use so building a route never blocks.
    fn conn(&self) -> &Conn {
        self.conn.get_or_init(|| {
            let o = &self.ep.options;
            let live = self.live.get().cloned().unwrap_or_default();
            Conn::start(
                &self.ep,
                self.client_id.clone(),
                o.clean_start,
                o.session_expiry_secs,
                false,
                o.max_inflight,
                Arc::new(HubHandler(live)),
            )
        })
    }

    fn fresh_id(&self) -> usize {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        (id - 1) % MAX_SUBSCRIPTION_ID + 1
    }

    /// SUBSCRIBE `path` with identifier `id`, asking for its retained messages when `last`.
    async fn subscribe(&self, path: &str, id: usize, last: bool) -> Result<()> {
        lock(&self.ids).add(path, id);
        let rule = if last {
            RetainForwardRule::OnEverySubscribe
        } else {
            RetainForwardRule::Never
        };
        self.conn().subscribe(filter(path, rule), Some(id)).await
    }
}

#[async_trait]
impl live::Upstream for Filters {
    type Handle = ();
    const NAME: &'static str = "MQTT";

    /// A LAST subscriber, or a filter's first: a SUBSCRIBE with a fresh identifier, which tags
    /// the member.
    fn tag(&self, spec: &SubscribeSpec, opening: bool) -> u64 {
        if opening || spec.start == Start::Last {
            self.fresh_id() as u64
        } else {
            0
        }
    }

    async fn open(&self, path: &str, _feed: &Feed, tag: u64, spec: &SubscribeSpec) -> Result<()> {
        let id = usize::try_from(tag).unwrap_or(1);
        let subscribed = self.subscribe(path, id, spec.start == Start::Last).await;
        if subscribed.is_err() {
            lock(&self.ids).remove(path);
        }
        subscribed
    }

    async fn rejoin(&self, path: &str, _: &mut (), tag: u64, spec: &SubscribeSpec) -> Result<()> {
        if spec.start != Start::Last {
            return Ok(());
        }
        let id = usize::try_from(tag).unwrap_or(1);
        self.subscribe(path, id, true).await
    }

    async fn close(&self, path: &str, _: ()) {
        lock(&self.ids).remove(path);
        if let Some(conn) = self.conn.get() {
            conn.unsubscribe(path);
        }
    }
}

impl Hub {
    pub fn new(ep: Endpoint, route: &str) -> Arc<Hub> {
        let client_id = format!(
            "{}-{:016x}",
            ep.options.client_id_prefix,
            now_ms() as u64 ^ u64::from(std::process::id()).rotate_left(40)
        );
        let live = Live::new(
            Filters {
                ep,
                conn: OnceLock::new(),
                ids: Mutex::new(Ids::default()),
                next_id: AtomicUsize::new(1),
                client_id,
                live: OnceLock::new(),
            },
            route,
        );
        let _ = live.upstream().live.set(Arc::downgrade(&live));
        Arc::new(Hub { live })
    }

    /// The shared connection, started on first use so building a route never blocks.
    pub fn conn(&self) -> &Conn {
        self.live.upstream().conn()
    }

    pub async fn subscribe(
        &self,
        filter_path: String,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        self.conn().ready().await?;
        self.live.join(filter_path, &spec, sink).await
    }
}
