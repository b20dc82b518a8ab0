//! The group memberships the gateway holds for HTTP consumers (the calls, leases and ack_ids
//! are `leases`'): group consumption over plain HTTP, at least once (KrakenD's consumer, with
//! acknowledgements). A lease that lapses gives its message back, so the group redelivers it.
//!
//! A GET has no connection to hold a group membership, so the gateway holds one for HTTP
//! consumers: one per (group, topic, identity) on a route, created by the first GET, shared by
//! every HTTP client of that group and identity, released after `idle_ms` without a call (its
//! leased and unleased messages given back first), when the route goes, or when its rules change.
//! Two identities in one group hold two memberships, members of the broker's one group like two
//! WebSocket subscribers. The membership is an ordinary group `cmd_kafka_subscribe` of a
//! dispatcher of its own, settled with `cmd_ack` and `cmd_nack`, so every check, the ACLs and
//! each scheme's acknowledgement are the WebSocket's; its `max_in_flight` bounds what it holds.
//!

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::call::{decode, run_on, Commands, Route};
use crate::auth::{Identity, RouteAuth};
use crate::dispatch::Dispatcher;
use crate::http::{error, Body};
use crate::outbox::Inbox;
use crate::pb::pub_sub_req::Req;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{CmdAck, CmdKafkaSubscribe, CmdNack, CmdRouteInfo, KafkaMessage, MessagePosition};

type Response = hyper::Response<Body>;

/// Messages one membership holds at most, leased or waiting for a GET: its subscription's
/// `max_in_flight`, so the broker stops delivering until some are settled.
pub(super) const MAX_LEASED: usize = 1000;
/// Memberships one route holds at most; a GET that would make another answers 429.
pub(super) const MAX_MEMBERSHIPS: usize = 1024;
/// A lease without `ack_timeout_ms`.
pub(super) const DEFAULT_ACK_TIMEOUT_MS: u64 = 30_000;
/// The longest lease (as the longest nack delay): a client cannot park messages for days.
pub(super) const MAX_ACK_TIMEOUT_MS: u64 = 12 * 60 * 60 * 1000;
/// A membership without a call for this long is released, without `idle_ms`.
pub(super) const DEFAULT_IDLE_MS: u64 = 60_000;
/// The bounds of `idle_ms`.
pub(super) const MIN_IDLE_MS: u64 = 100;
pub(super) const MAX_IDLE_MS: u64 = 60 * 60 * 1000;

/// Which membership: group, topic, and the identity's id (None on open routes).
pub(super) type Key = (String, String, Option<String>);

/// A route's memberships.
#[derive(Default)]
pub(super) struct Registry {
    members: Mutex<HashMap<Key, Arc<Membership>>>,
}

/// One membership of a group, shared by the HTTP clients of that group and identity.
pub(super) struct Membership {
    pub(super) key: Key,
    /// Makes its `ack_id`s its own.
    pub(super) nonce: u64,
    pub(super) dispatcher: Dispatcher,
    /// Its queue's byte budget (what a frame may cost of it).
    pub(super) budget: usize,
    pub(super) subscription: i64,
    /// The route's rules it was made under: new rules release it (ACLs may have narrowed).
    pub(super) auth: Arc<RouteAuth>,
    pub(super) state: Mutex<State>,
    /// Messages arrived for GETs waiting.
    pub(super) arrived: Notify,
    /// Leases were added or a GET ended: the task recomputes when the next lease lapses and
    /// when the membership goes idle.
    pub(super) changed: Notify,
    /// Cancelled once released.
    pub(super) released: CancellationToken,
}

pub(super) struct State {
    /// Delivered to the membership, not yet answered to a GET.
    pub(super) ready: VecDeque<KafkaMessage>,
    /// By token.
    pub(super) leases: HashMap<u64, Lease>,
    pub(super) last_call: Instant,
    /// GETs waiting on it now: it is not idle while one waits.
    pub(super) waiting: usize,
    pub(super) idle: Duration,
}

impl State {
    fn idle(&self, now: Instant) -> bool {
        self.waiting == 0 && self.last_call + self.idle <= now
    }
}

pub(super) struct Lease {
    pub(super) position: MessagePosition,
    pub(super) deadline: Instant,
}

pub(super) fn position(m: &KafkaMessage) -> MessagePosition {
    MessagePosition {
        topic: m.topic.clone(),
        partition: m.partition,
        offset: m.offset,
        position: m.position.clone(),
    }
}

/// A random 64-bit number: SipHash under the process's random keys, of a counter.
pub(super) fn random() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::hash::RandomState::new().hash_one((n, std::time::SystemTime::now()))
}

/// What a group GET asks for.
pub(super) struct Get {
    pub(super) group: String,
    pub(super) topic: String,
    pub(super) max: usize,
    pub(super) wait: Duration,
    pub(super) ack_timeout: Duration,
    pub(super) idle: Duration,
    /// The start position of a membership this GET creates (where the group has no progress).
    pub(super) start: i32,
    pub(super) start_value: i64,
}

impl Registry {
    /// The membership `key` names, made (subscribed) when there is none.
    pub(super) async fn membership(
        self: &Arc<Self>,
        route: &Route,
        identity: Identity,
        get: &Get,
    ) -> Result<Arc<Membership>, Response> {
        let key: Key = (get.group.clone(), get.topic.clone(), identity.id.clone());
        let stale = {
            let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
            match members.get(&key) {
                Some(m) if Arc::ptr_eq(&m.auth, &route.auth) && !m.released.is_cancelled() => {
                    return Ok(m.clone())
                }
                Some(m) => Some(m.clone()),
                None if members.len() >= MAX_MEMBERSHIPS => {
                    return Err(error(
                        429,
                        &format!(
                            "too many HTTP group memberships on this route ({MAX_MEMBERSHIPS}): try again later"
                        ),
                    ))
                }
                None => None,
            }
        };
        if let Some(old) = stale {
            // Made under other rules: its messages go back before a new one is made.
            old.release().await;
            self.remove(&old);
        }
        let (membership, inbox) = Membership::subscribe(route, identity, key.clone(), get).await?;
        let raced = {
            let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
            match members.get(&key) {
                Some(m) if !m.released.is_cancelled() => Some(m.clone()),
                _ => {
                    members.insert(key, membership.clone());
                    None
                }
            }
        };
        if let Some(winner) = raced {
            // Another GET made it first: this one's subscription closes unused.
            membership.dispatcher.close_all();
            return Ok(winner);
        }
        tokio::spawn(run(
            membership.clone(),
            inbox,
            self.clone(),
            route.end.clone(),
        ));
        Ok(membership)
    }

    fn remove(&self, m: &Arc<Membership>) {
        let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        if members.get(&m.key).is_some_and(|x| Arc::ptr_eq(x, m)) {
            members.remove(&m.key);
        }
    }

    pub(super) fn find(&self, key: &Key) -> Option<Arc<Membership>> {
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .filter(|m| !m.released.is_cancelled())
            .cloned()
    }
}

fn answer(r: Option<Resp>) -> Response {
    match r {
        Some(Resp::ErrorResp(e)) => error(e.code, &e.message),
        _ => error(500, "internal error: unexpected reply"),
    }
}

impl Membership {
    /// Subscribes the group; refuses (with dispatch's capability error) a scheme that cannot
    /// acknowledge and give back messages one by one.
    async fn subscribe(
        route: &Route,
        identity: Identity,
        key: Key,
        get: &Get,
    ) -> Result<(Arc<Membership>, Inbox), Response> {
        let Commands {
            dispatcher,
            out,
            mut inbox,
        } = Commands::new(route, identity);
        let sub = CmdKafkaSubscribe {
            topic: get.topic.clone(),
            group: get.group.clone(),
            start: get.start,
            start_value: get.start_value,
            max_in_flight: MAX_LEASED as i32,
            ..Default::default()
        };
        if let Some(r) = run_on(&dispatcher, Req::CmdKafkaSubscribe(sub)).await {
            return Err(answer(Some(r)));
        }
        let subscription = match inbox.recv_frame(out.budget).await.map(|f| decode(&f)) {
            Some(Resp::KafkaSubscribeResp(r)) => r.subscription_id,
            Some(other) => return Err(answer(Some(other))),
            None => return Err(error(503, "the group membership ended before it started")),
        };
        let caps = match run_on(&dispatcher, Req::CmdRouteInfo(CmdRouteInfo {})).await {
            Some(Resp::RouteInfoResp(info)) => info.capabilities.unwrap_or_default(),
            other => return Err(answer(other)),
        };
        // Dispatch words the refusal (it names the scheme); nothing reaches the backend.
        let missing = if !caps.ack {
            Some(Req::CmdAck(CmdAck {
                subscription_id: subscription,
                positions: Vec::new(),
            }))
        } else if !caps.nack {
            Some(Req::CmdNack(CmdNack {
                subscription_id: subscription,
                positions: Vec::new(),
                delay_ms: 0,
            }))
        } else {
            None
        };
        if let Some(req) = missing {
            let refused = run_on(&dispatcher, req).await;
            dispatcher.close_all();
            return Err(answer(refused));
        }
        let membership = Arc::new(Membership {
            key,
            nonce: random(),
            budget: out.budget,
            dispatcher,
            subscription,
            auth: route.auth.clone(),
            state: Mutex::new(State {
                ready: VecDeque::new(),
                leases: HashMap::new(),
                last_call: Instant::now(),
                waiting: 0,
                idle: get.idle,
            }),
            arrived: Notify::new(),
            changed: Notify::new(),
            released: CancellationToken::new(),
        });
        Ok((membership, inbox))
    }

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives back `positions` for redelivery after `delay_ms`.
    pub(super) async fn nack(
        &self,
        positions: Vec<MessagePosition>,
        delay_ms: i64,
    ) -> Option<Resp> {
        run_on(
            &self.dispatcher,
            Req::CmdNack(CmdNack {
                subscription_id: self.subscription,
                positions,
                delay_ms,
            }),
        )
        .await
    }

    /// Gives back every message it holds, then closes its subscription.
    async fn release(&self) {
        if self.released.is_cancelled() {
            return;
        }
        self.released.cancel();
        let held: Vec<MessagePosition> = {
            let mut s = self.state();
            let mut held: Vec<MessagePosition> =
                s.leases.drain().map(|(_, l)| l.position).collect();
            held.extend(s.ready.drain(..).map(|m| position(&m)));
            held
        };
        if !held.is_empty() {
            if let Some(Resp::ErrorResp(e)) = self.nack(held, 0).await {
                tracing::debug!(code = e.code, message = %e.message, "giving back a released HTTP membership's messages failed");
            }
        }
        self.dispatcher.close_all();
    }

    /// Nacks the leases that lapsed; the time of the next lapse.
    async fn lapse(&self) -> Option<Instant> {
        let now = Instant::now();
        let (lapsed, next) = {
            let mut s = self.state();
            let lapsed: Vec<u64> = s
                .leases
                .iter()
                .filter(|(_, l)| l.deadline <= now)
                .map(|(t, _)| *t)
                .collect();
            let positions: Vec<MessagePosition> = lapsed
                .iter()
                .filter_map(|t| s.leases.remove(t))
                .map(|l| l.position)
                .collect();
            (positions, s.leases.values().map(|l| l.deadline).min())
        };
        if !lapsed.is_empty() {
            tracing::debug!(group = %self.key.0, topic = %self.key.1, n = lapsed.len(), "HTTP leases lapsed: redelivering");
            if let Some(Resp::ErrorResp(e)) = self.nack(lapsed, 0).await {
                tracing::debug!(code = e.code, message = %e.message, "giving back lapsed HTTP leases failed");
            }
        }
        next
    }
}

/// A membership's task: takes its deliveries, lapses its leases, releases it when idle or when
/// the route goes.
async fn run(
    m: Arc<Membership>,
    mut inbox: Inbox,
    registry: Arc<Registry>,
    end: CancellationToken,
) {
    let budget = m.budget;
    let mut next_lapse: Option<Instant> = None;
    loop {
        let far = Instant::now() + Duration::from_secs(3600);
        let (idle_at, room) = {
            let s = m.state();
            (
                // Not idle while a GET waits: the GET's end wakes the task (`changed`).
                if s.waiting > 0 {
                    far
                } else {
                    s.last_call + s.idle
                },
                s.ready.len() + s.leases.len() < MAX_LEASED,
            )
        };
        tokio::select! {
            _ = end.cancelled() => break,
            _ = m.released.cancelled() => break,
            frame = inbox.recv_frame(budget), if room => match frame.map(|f| decode(&f)) {
                Some(Resp::KafkaPush(p)) => {
                    m.state().ready.extend(p.messages);
                    m.arrived.notify_waiters();
                }
                Some(Resp::ErrorResp(e)) => {
                    tracing::debug!(code = e.code, message = %e.message, "an HTTP group membership's subscription ended");
                    break;
                }
                Some(_) => {}
                None => break,
            },
            _ = tokio::time::sleep_until(next_lapse.unwrap_or(far)) => next_lapse = m.lapse().await,
            _ = m.changed.notified() => next_lapse = m.lapse().await,
            _ = tokio::time::sleep_until(idle_at) => {
                if m.state().idle(Instant::now()) {
                    tracing::debug!(group = %m.key.0, topic = %m.key.1, "HTTP group membership idle: released");
                    break;
                }
            }
        }
    }
    registry.remove(&m);
    m.release().await;
    // GETs waiting see the release.
    m.arrived.notify_waiters();
}
