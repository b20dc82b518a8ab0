//! One MQTT 5 connection (rumqttc's event loop in a task of its own): reconnecting by itself
//! (50 ms doubling to 2 s), logging state changes only, and pairing every request with the
//! broker's answer. rumqttc does not hand out packet ids, but its event loop takes requests in
//! order and reports each one sent (`Outgoing::Publish(pkid)`, `Outgoing::Subscribe(pkid)`):
//! waiters queue in that same order and move to a pkid map when their packet goes out, and the
//! PUBACK or SUBACK of that pkid answers them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{
    Filter, Packet, PubAckReason, Publish as MqttPublish, Subscribe, SubscribeReasonCode,
};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions as RumqttOptions};
use rumqttc::Outgoing;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

pub(super) use super::endpoint::Endpoint;
use crate::backend::lock;
use crate::config::UpstreamTimeout;
use crate::error::{GatewayError, Result};

/// What a connection hands incoming messages and (re)connections to. Runs on the event loop's
/// task: it must never wait (`try_send` only), or pings stop.
pub(super) trait Handler: Send + Sync + 'static {
    fn message(&self, publish: MqttPublish);
    /// After every CONNACK; `session_present` says whether the broker kept the session.
    fn connected(&self, session_present: bool);
}

/// A waiter for the broker's answer to one request.
type Answer = oneshot::Sender<Result<()>>;

/// Requests sent but not answered yet, in the event loop's order.
#[derive(Default)]
struct Waiting {
    /// Publishes handed to the event loop, not yet on the wire: (QoS 1?, waiter).
    publishes: VecDeque<(bool, Answer)>,
    /// QoS 1 publishes on the wire, by packet id, until their PUBACK.
    acks: HashMap<u16, Answer>,
    /// A publish whose packet id was still in use; rumqttc sends it after that id's PUBACK.
    collided: Option<(u16, Answer)>,
    subscribes: VecDeque<Option<Answer>>,
    subacks: HashMap<u16, Option<Answer>>,
}

impl Waiting {
    /// The connection dropped: nothing pending will be answered by the broker.
    fn fail_all(&mut self, why: &str) {
        let gone = || {
            Err(GatewayError::Unavailable(format!(
                "connection to the MQTT broker lost ({why}); the request may or may not have reached it"
            )))
        };
        for (_, w) in self.publishes.drain(..) {
            let _ = w.send(gone());
        }
        for (_, w) in self.acks.drain() {
            let _ = w.send(gone());
        }
        if let Some((_, w)) = self.collided.take() {
            let _ = w.send(gone());
        }
        for w in self.subscribes.drain(..).flatten() {
            let _ = w.send(gone());
        }
        for (_, w) in self.subacks.drain() {
            if let Some(w) = w {
                let _ = w.send(gone());
            }
        }
    }
}

pub(super) struct Conn {
    client: AsyncClient,
    up: watch::Receiver<bool>,
    waiting: Arc<Mutex<Waiting>>,
    stop: CancellationToken,
    /// Set when another connection takes this session over: no DISCONNECT (which could end
    /// the session first) and no reconnection (which would take it back).
    detached: Arc<std::sync::atomic::AtomicBool>,
    shut: std::sync::atomic::AtomicBool,
    pub timeouts: UpstreamTimeout,
    describe: String,
}

impl Conn {
    /// Starts the connection's task; it connects, and reconnects, by itself until dropped.
    pub fn start(
        ep: &Endpoint,
        client_id: String,
        clean_start: bool,
        session_expiry: u32,
        manual_acks: bool,
        receive_maximum: u16,
        handler: Arc<dyn Handler>,
    ) -> Conn {
        let mut o = RumqttOptions::new(client_id, ep.host.clone(), ep.port);
        o.set_keep_alive(Duration::from_secs(u64::from(
            ep.options.keep_alive_secs.max(5),
        )));
        o.set_clean_start(clean_start);
        o.set_session_expiry_interval(Some(session_expiry));
        o.set_manual_acks(manual_acks);
        o.set_connection_timeout(ep.timeouts.connect().as_secs().max(1));
        o.set_outgoing_inflight_upper_limit(ep.options.max_inflight);
        o.set_receive_maximum(Some(receive_maximum.max(1)));
        o.set_max_packet_size(Some(ep.options.max_packet_bytes));
        if let Some((u, p)) = &ep.credentials {
            o.set_credentials(u.clone(), p.clone());
        }
        if let Some(tls) = &ep.tls {
            o.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls.clone()),
            ));
        }
        // Bounded: publishes beyond max_inflight wait here, then callers wait for room.
        let cap = usize::from(ep.options.max_inflight) + 1024;
        let (client, eventloop) = AsyncClient::new(o, cap);
        let (up_tx, up) = watch::channel(false);
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let stop = CancellationToken::new();
        let detached = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let describe = format!("{}:{}", ep.host, ep.port);
        tokio::spawn(run(
            eventloop,
            waiting.clone(),
            up_tx,
            handler,
            (stop.clone(), detached.clone()),
            ep.route.clone(),
            describe.clone(),
        ));
        Conn {
            client,
            up,
            waiting,
            stop,
            detached,
            shut: std::sync::atomic::AtomicBool::new(false),
            timeouts: ep.timeouts.clone(),
            describe,
        }
    }

    /// Waits up to the connect timeout for the connection to be up; 503 otherwise.
    pub async fn ready(&self) -> Result<()> {
        let mut up = self.up.clone();
        let wait = tokio::time::timeout(self.timeouts.connect(), up.wait_for(|u| *u)).await;
        match wait {
            Ok(Ok(_)) => Ok(()),
            _ => Err(GatewayError::Unavailable(format!(
                "MQTT broker unreachable ({})",
                self.describe
            ))),
        }
    }

    /// Publishes; for QoS 1 the answer is the broker's PUBACK, for QoS 0 the packet written.
    pub async fn publish(&self, publish: MqttPublish) -> Result<()> {
        self.ready().await?;
        let qos1 = publish.qos != QoS::AtMostOnce;
        let (tx, rx) = oneshot::channel();
        self.enqueue(rumqttc::v5::Request::Publish(publish), |w| {
            w.publishes.push_back((qos1, tx))
        })
        .await?;
        self.answer(rx, self.timeouts.send(), "the publish").await
    }

    /// Subscribes to one filter; the answer is the broker's SUBACK.
    pub async fn subscribe(&self, filter: Filter, id: Option<usize>) -> Result<()> {
        self.ready().await?;
        let (tx, rx) = oneshot::channel();
        let props = id.map(|id| rumqttc::v5::mqttbytes::v5::SubscribeProperties {
            id: Some(id),
            user_properties: Vec::new(),
        });
        self.enqueue(
            rumqttc::v5::Request::Subscribe(Subscribe::new(filter, props)),
            |w| w.subscribes.push_back(Some(tx)),
        )
        .await?;
        self.answer(rx, self.timeouts.read(), "the subscribe").await
    }

    /// Renews a subscription after a reconnection, answered by nobody.
    pub fn resubscribe(&self, filter: Filter, id: Option<usize>) {
        let props = id.map(|id| rumqttc::v5::mqttbytes::v5::SubscribeProperties {
            id: Some(id),
            user_properties: Vec::new(),
        });
        let mut w = lock(&self.waiting);
        let req = rumqttc::v5::Request::Subscribe(Subscribe::new(filter, props));
        if self.try_request(req) {
            w.subscribes.push_back(None);
        }
    }

    /// Another connection with this client id is about to take the session over.
    pub fn detach(&self) {
        self.detached
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// UNSUBSCRIBE without waiting for the answer (nobody waits on it).
    pub fn unsubscribe(&self, filter: &str) {
        let _ = self.client.try_unsubscribe(filter);
    }

    /// PUBACK for a delivery (connections with manual acks).
    pub async fn ack(&self, publish: &MqttPublish) -> Result<()> {
        self.client
            .ack(publish)
            .await
            .map_err(|e| GatewayError::Unavailable(format!("MQTT ack not sent: {e}")))
    }

    /// Hands a request to the event loop and queues its waiter in the same order, under one
    /// lock, so the n-th packet reported sent is the n-th waiter. Never cancelled half way: the
    /// lock is not held across an await.
    async fn enqueue(
        &self,
        req: rumqttc::v5::Request,
        queue: impl FnOnce(&mut Waiting),
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.timeouts.send();
        let mut queue = Some(queue);
        loop {
            {
                let mut w = lock(&self.waiting);
                if self.client_try(&req).is_ok() {
                    if let Some(q) = queue.take() {
                        q(&mut w);
                    }
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(GatewayError::Overloaded(
                    "MQTT connection's request queue is full".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn try_request(&self, req: rumqttc::v5::Request) -> bool {
        self.client_try(&req).is_ok()
    }

    fn client_try(&self, req: &rumqttc::v5::Request) -> std::result::Result<(), Full> {
        use rumqttc::v5::Request;
        let sent = match req.clone() {
            Request::Publish(p) => {
                let topic = String::from_utf8_lossy(&p.topic).into_owned();
                match p.properties {
                    Some(props) => self
                        .client
                        .try_publish_with_properties(topic, p.qos, p.retain, p.payload, props),
                    None => self.client.try_publish(topic, p.qos, p.retain, p.payload),
                }
            }
            Request::Subscribe(s) => match (s.filters.into_iter().next(), s.properties) {
                (Some(f), Some(props)) => {
                    self.client.try_subscribe_many_with_properties([f], props)
                }
                (Some(f), None) => self.client.try_subscribe_many([f]),
                (None, _) => return Err(Full),
            },
            _ => return Err(Full),
        };
        sent.map_err(|_| Full)
    }

    async fn answer(
        &self,
        rx: oneshot::Receiver<Result<()>>,
        limit: Duration,
        what: &str,
    ) -> Result<()> {
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(GatewayError::Unavailable(
                "MQTT connection closed before the broker answered".into(),
            )),
            Err(_) => Err(GatewayError::Timeout(format!(
                "MQTT broker did not answer {what} within {} ms",
                limit.as_millis()
            ))),
        }
    }
}

/// The request channel was full (or the request malformed, which validation prevents).
struct Full;

impl Conn {
    /// Ends the session's connection: a clean DISCONNECT, so a session with an expiry stays at
    /// the broker for its successor; a detached one sends nothing (its successor is connecting
    /// and the broker closes this one). Idempotent; also done on drop.
    pub fn shutdown(&self) {
        if self.shut.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let detached = self.detached.load(std::sync::atomic::Ordering::Acquire);
        if !detached {
            let _ = self.client.try_disconnect();
        }
        let stop = self.stop.clone();
        let grace = Duration::from_millis(if detached { 5000 } else { 200 });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                tokio::time::sleep(grace).await;
                stop.cancel();
            });
        } else {
            stop.cancel();
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn run(
    mut eventloop: EventLoop,
    waiting: Arc<Mutex<Waiting>>,
    up: watch::Sender<bool>,
    handler: Arc<dyn Handler>,
    (stop, detached): (CancellationToken, Arc<std::sync::atomic::AtomicBool>),
    route: String,
    describe: String,
) {
    let mut backoff = Duration::from_millis(50);
    let mut down_since_logged = false;
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => break,
            e = eventloop.poll() => e,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(c))) => {
                backoff = Duration::from_millis(50);
                if down_since_logged {
                    tracing::info!(route = %route, broker = %describe, "MQTT broker reachable again");
                    down_since_logged = false;
                }
                let _ = up.send(true);
                handler.connected(c.session_present);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => handler.message(p),
            Ok(Event::Incoming(Packet::PubAck(a))) => {
                let w = lock(&waiting).acks.remove(&a.pkid);
                if let Some(w) = w {
                    let _ = w.send(match a.reason {
                        PubAckReason::Success | PubAckReason::NoMatchingSubscribers => Ok(()),
                        reason => Err(GatewayError::Upstream(format!(
                            "MQTT broker refused the publish: {reason:?}"
                        ))),
                    });
                }
            }
            Ok(Event::Incoming(Packet::SubAck(s))) => {
                let w = lock(&waiting).subacks.remove(&s.pkid).flatten();
                if let Some(w) = w {
                    let refused = s
                        .return_codes
                        .iter()
                        .find(|c| !matches!(c, SubscribeReasonCode::Success(_)));
                    let _ = w.send(match refused {
                        None => Ok(()),
                        Some(SubscribeReasonCode::NotAuthorized) => Err(GatewayError::Forbidden(
                            "MQTT broker refused the subscription: not authorized".into(),
                        )),
                        Some(c) => Err(GatewayError::Upstream(format!(
                            "MQTT broker refused the subscription: {c:?}"
                        ))),
                    });
                }
            }
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                let mut w = lock(&waiting);
                let next = match w.collided.take() {
                    Some((id, tx)) if id == pkid => Some((true, tx)),
                    other => {
                        w.collided = other;
                        w.publishes.pop_front()
                    }
                };
                match next {
                    Some((true, tx)) => {
                        w.acks.insert(pkid, tx);
                    }
                    Some((false, tx)) => {
                        let _ = tx.send(Ok(()));
                    }
                    None => {}
                }
            }
            Ok(Event::Outgoing(Outgoing::AwaitAck(pkid))) => {
                let mut w = lock(&waiting);
                if let Some((_, tx)) = w.publishes.pop_front() {
                    w.collided = Some((pkid, tx));
                }
            }
            Ok(Event::Outgoing(Outgoing::Subscribe(pkid))) => {
                let mut w = lock(&waiting);
                if let Some(tx) = w.subscribes.pop_front() {
                    w.subacks.insert(pkid, tx);
                }
            }
            // Sent by `Conn::drop`: the session ends here, with no reconnection after it.
            Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
            Ok(_) => {}
            // Every handle is gone: the route was dropped.
            Err(rumqttc::v5::ConnectionError::RequestsDone) => break,
            Err(_) if detached.load(std::sync::atomic::Ordering::Acquire) => break,
            Err(e) => {
                let was_up = *up.borrow();
                let _ = up.send(false);
                if was_up || !down_since_logged {
                    tracing::warn!(route = %route, broker = %describe, error = %e, "MQTT broker unreachable; reconnecting");
                    down_since_logged = true;
                }
                {
                    // rumqttc moved what it had not sent into `pending` and resends it on a
                    // resumed session; the gateway answers those requests now instead (nothing
                    // is sent twice or paired with the wrong waiter) and renews subscriptions
                    // itself on the next CONNACK.
                    let mut w = lock(&waiting);
                    let why = e.to_string();
                    let (mut publishes, mut subscribes) = (0, 0);
                    for r in &eventloop.pending {
                        match r {
                            rumqttc::v5::Request::Publish(p) if p.pkid == 0 => publishes += 1,
                            rumqttc::v5::Request::Subscribe(_) => subscribes += 1,
                            _ => {}
                        }
                    }
                    eventloop.pending.clear();
                    let gone = || {
                        GatewayError::Unavailable(format!(
                            "connection to the MQTT broker lost ({why}) before the request was sent"
                        ))
                    };
                    for _ in 0..publishes {
                        if let Some((_, tx)) = w.publishes.pop_front() {
                            let _ = tx.send(Err(gone()));
                        }
                    }
                    for _ in 0..subscribes {
                        if let Some(Some(tx)) = w.subscribes.pop_front() {
                            let _ = tx.send(Err(gone()));
                        }
                    }
                    // On the wire but unanswered: the broker may or may not have them.
                    let unanswered = Waiting {
                        acks: std::mem::take(&mut w.acks),
                        collided: w.collided.take(),
                        subacks: std::mem::take(&mut w.subacks),
                        ..Default::default()
                    };
                    drop(w);
                    let mut unanswered = unanswered;
                    unanswered.fail_all(&why);
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
    let _ = up.send(false);
    lock(&waiting).fail_all("the route was closed");
}
