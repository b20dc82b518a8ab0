//! Live fan-out, shared by the schemes whose plain subscriptions have no history (core NATS,
//! RabbitMQ without a group, Redis pub/sub, MQTT): every gateway subscriber of one key (a
//! subject, binding key, channel or filter) shares one subscription at the broker, each message
//! becomes one `Record`, and the record is handed to every member's bounded queue.
//!
//! In the style of centrifuge's Broker interface, a scheme supplies only what is its own
//! ([`Upstream`]: open the broker's subscription for a key, close it, and feed what arrives to
//! the key's [`Feed`]); this module owns the members, their filters (ACL, headers), their queues
//! and the slow-consumer policy (`queue`), the metrics, and the subscription handles. Joining
//! and leaving are serialized per upstream, so a key's last member leaving and a new one joining
//! cannot cross.

mod queue;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::backend::{lock, Header, Position, PushSink, Record};
use crate::backend::{SubscribeSpec, Subscription};
use crate::error::{GatewayError, Result};
use crate::metrics::METRICS;
pub(crate) use queue::{forward, MemberQueue};

/// What a scheme does at its broker for live fan-out.
#[async_trait]
pub(crate) trait Upstream: Send + Sync + Sized + 'static {
    /// Kept while a key has members (a reader task's cancel guard, say); given back to `close`.
    type Handle: Send + 'static;
    /// How errors name the scheme's plain subscriptions ("core NATS").
    const NAME: &'static str;
    /// A tag for a member about to join, chosen before it is added so that nothing the broker
    /// sends for it can be missed; `opening` when it is the key's first. The feed hands a record
    /// to a member only if the scheme's filter accepts its tag (`Feed::deliver_where`).
    fn tag(&self, _spec: &SubscribeSpec, _opening: bool) -> u64 {
        0
    }
    /// Subscribes `key` at the broker for its first member (`spec`, tagged `tag`), in place
    /// before it returns (so a LATEST subscriber misses nothing published after its reply);
    /// what arrives for the key goes to `feed`.
    async fn open(
        &self,
        key: &str,
        feed: &Feed,
        tag: u64,
        spec: &SubscribeSpec,
    ) -> Result<Self::Handle>;
    /// A member (`spec`, tagged `tag`) joins a key that is open already.
    async fn rejoin(
        &self,
        _key: &str,
        _handle: &mut Self::Handle,
        _tag: u64,
        _spec: &SubscribeSpec,
    ) -> Result<()> {
        Ok(())
    }
    /// The key's last member left.
    async fn close(&self, key: &str, handle: Self::Handle);
}

/// The fan-out of one upstream: its keys and their members.
pub(crate) struct Live<U: Upstream> {
    upstream: U,
    /// Open keys and their handles; the async lock serializes joining and leaving.
    open: tokio::sync::Mutex<HashMap<String, (Feed, U::Handle)>>,
    /// The feeds of open keys, for schemes that route what arrives by key (`feed`).
    feeds: Mutex<HashMap<String, Feed>>,
    next_member: AtomicU64,
    /// The route's `pubsub_live_dropped_total`.
    dropped: Arc<AtomicU64>,
    weak: Weak<Live<U>>,
}

/// The members of one key: what the broker sends for the key is handed to them here.
#[derive(Clone, Default)]
pub(crate) struct Feed(Arc<Mutex<Vec<Member>>>);

struct Member {
    id: u64,
    queue: Arc<MemberQueue>,
    allowed: Option<Arc<crate::auth::Identity>>,
    match_headers: Vec<Header>,
    tag: u64,
}

impl Feed {
    /// Hands a record to every member that may see it.
    pub fn deliver(&self, record: &Arc<Record>) {
        self.deliver_where(record, |_| true)
    }

    /// Hands a record to every member that may see it and whose tag `wants` accepts.
    pub fn deliver_where(&self, record: &Arc<Record>, wants: impl Fn(u64) -> bool) {
        for m in lock(&self.0).iter() {
            if !wants(m.tag)
                || m.allowed
                    .as_ref()
                    .is_some_and(|id| !id.can_read(&record.topic))
                || !record.matches_headers(&m.match_headers)
            {
                continue;
            }
            m.queue.offer(record);
        }
    }

    fn remove(&self, id: u64) -> bool {
        let mut members = lock(&self.0);
        members.retain(|m| m.id != id);
        members.is_empty()
    }
}

impl<U: Upstream> Live<U> {
    /// `route` names the counter of messages lost to the slow-consumer policy.
    pub fn new(upstream: U, route: &str) -> Arc<Live<U>> {
        Arc::new_cyclic(|weak| Live {
            upstream,
            open: tokio::sync::Mutex::new(HashMap::new()),
            feeds: Mutex::new(HashMap::new()),
            next_member: AtomicU64::new(1),
            dropped: METRICS.live_dropped(route),
            weak: weak.clone(),
        })
    }

    #[cfg_attr(
        not(any(feature = "redis", feature = "mqtt", feature = "aws")),
        allow(dead_code)
    )]
    pub fn upstream(&self) -> &U {
        &self.upstream
    }

    /// The feed of an open key.
    #[cfg_attr(not(any(feature = "redis", feature = "mqtt")), allow(dead_code))]
    pub fn feed(&self, key: &str) -> Option<Feed> {
        lock(&self.feeds).get(key).cloned()
    }

    /// The open keys (to subscribe again after a reconnection).
    #[cfg_attr(not(any(feature = "redis", feature = "mqtt")), allow(dead_code))]
    pub fn keys(&self) -> Vec<String> {
        lock(&self.feeds).keys().cloned().collect()
    }

    /// Adds a subscriber of `key`: the broker's subscription is opened for the key's first.
    pub async fn join(
        &self,
        key: String,
        spec: &SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        let id = self.next_member.fetch_add(1, Ordering::Relaxed);
        let queue = Arc::new(MemberQueue::new(spec.live, self.dropped.clone()));
        let mut open = self.open.lock().await;
        let opening = !open.contains_key(&key);
        let tag = self.upstream.tag(spec, opening);
        let member = Member {
            id,
            queue: queue.clone(),
            allowed: spec.allowed.clone(),
            match_headers: spec.match_headers.clone(),
            tag,
        };
        match open.get_mut(&key) {
            Some((feed, handle)) => {
                lock(&feed.0).push(member);
                if let Err(e) = self.upstream.rejoin(&key, handle, tag, spec).await {
                    feed.remove(id);
                    return Err(e);
                }
            }
            None => {
                // A member before the broker's subscription: nothing it sends is missed.
                let feed = Feed::default();
                lock(&feed.0).push(member);
                let handle = self.upstream.open(&key, &feed, tag, spec).await?;
                lock(&self.feeds).insert(key.clone(), feed.clone());
                open.insert(key.clone(), (feed, handle));
            }
        }
        drop(open);
        let cancel = CancellationToken::new();
        tokio::spawn(forward(queue, sink, cancel.clone()));
        Ok(Arc::new(LiveSubscription {
            cancel,
            live: self.weak.clone(),
            key,
            id,
        }))
    }

    /// Removes a member; the key's last one out closes the broker's subscription.
    async fn leave(&self, key: &str, id: u64) {
        let mut open = self.open.lock().await;
        let empty = open.get(key).is_some_and(|(feed, _)| feed.remove(id));
        if !empty {
            return;
        }
        lock(&self.feeds).remove(key);
        if let Some((_, handle)) = open.remove(key) {
            self.upstream.close(key, handle).await;
        }
    }
}

/// A plain subscription of a live scheme.
struct LiveSubscription<U: Upstream> {
    cancel: CancellationToken,
    live: Weak<Live<U>>,
    key: String,
    id: u64,
}

fn needs_group<U: Upstream>(what: &str) -> GatewayError {
    GatewayError::BadRequest(format!(
        "plain {} subscriptions are live (delivered at most once, nothing to {what}); {what} needs a group",
        U::NAME
    ))
}

#[async_trait]
impl<U: Upstream> Subscription for LiveSubscription<U> {
    async fn ack(&self, _positions: Vec<Position>) -> Result<()> {
        Err(needs_group::<U>("ack"))
    }

    async fn nack(&self, _positions: Vec<Position>, _delay: std::time::Duration) -> Result<()> {
        Err(needs_group::<U>("nack"))
    }

    fn close(&self) {
        if self.cancel.is_cancelled() {
            return;
        }
        self.cancel.cancel();
        let (Some(live), Ok(rt)) = (self.live.upgrade(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let key = self.key.clone();
        let id = self.id;
        rt.spawn(async move { live.leave(&key, id).await });
    }
}

impl<U: Upstream> Drop for LiveSubscription<U> {
    fn drop(&mut self) {
        self.close();
    }
}
