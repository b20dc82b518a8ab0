//! Routes each decoded request to the route's backend.
//!
//! The `match` on the request's `oneof` has no catch-all arm on purpose: adding a command to
//! proto/pubsub.proto stops the build here until it has a handler.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::auth::{Identity, RouteAuth};
use crate::backend::{
    validate_topic, Backend, FetchLimits, Gate, PushSink, SubscribeSpec, Subscription, Target,
};
use crate::codec;
use crate::config::Limits;
use crate::error::{GatewayError, Result};
use crate::metrics::METRICS;
use crate::pb::pub_sub_req::Req;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{
    CmdKafkaFetch, KafkaListOffsetResp, KafkaSubscribeResp, OkResp, PongResp, PubSubReq,
};
use crate::session::Outbox;
use bytes::Bytes;
use tokio::sync::watch;

/// What a command answers with.
enum Reply {
    Resp(Resp),
    /// A fetch's records, assembled from their pre-encoded bytes.
    Records(Vec<Arc<crate::backend::Record>>),
    /// The handler queued its reply itself (subscribe: the reply must precede the first push).
    Sent,
}

/// One connection's command handling state.
pub struct Dispatcher {
    backend: Arc<dyn Backend>,
    limits: Arc<Limits>,
    out: Outbox,
    /// Replaced by `cmd_refresh` and by reloads; each command reads the current one.
    identity: watch::Sender<Arc<Identity>>,
    /// The route's current access rules, for `cmd_refresh`.
    auth: Option<watch::Receiver<Arc<RouteAuth>>>,
    subscriptions: Mutex<HashMap<i64, Open>>,
    /// Subscribes being set up, counted against the limit with the open ones.
    pending_subscribes: AtomicUsize,
    next_subscription: AtomicI64,
}

/// An open subscription, with what the dispatcher checks and controls itself.
#[derive(Clone)]
struct Open {
    sub: Arc<dyn Subscription>,
    gate: Arc<Gate>,
    group: Option<String>,
}

impl Open {
    /// Stops the subscription without waiting, when the connection is going away.
    fn close_now(&self) {
        self.gate.shut_now();
        self.sub.close();
        METRICS
            .subscriptions_open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A subscribe in progress; released when it is done either way.
struct Reserved<'a>(&'a AtomicUsize);

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Failures other than "unknown command" get the operation's context, in APISIX's wording.
fn ctx(e: GatewayError, context: impl FnOnce() -> String) -> GatewayError {
    match e {
        GatewayError::UnknownCommand => e,
        e => e.context(context()),
    }
}

impl Dispatcher {
    pub fn new(
        backend: Arc<dyn Backend>,
        limits: Arc<Limits>,
        out: Outbox,
        identity: Arc<Identity>,
    ) -> Self {
        Dispatcher {
            backend,
            limits,
            out,
            identity: watch::Sender::new(identity),
            auth: None,
            subscriptions: Mutex::new(HashMap::new()),
            pending_subscribes: AtomicUsize::new(0),
            next_subscription: AtomicI64::new(1),
        }
    }

    /// Lets `cmd_refresh` check tokens against the route's current rules; without it the
    /// command answers 400.
    pub fn with_auth(mut self, auth: Option<watch::Receiver<Arc<RouteAuth>>>) -> Self {
        self.auth = auth;
        self
    }

    pub fn identity(&self) -> Arc<Identity> {
        self.identity.borrow().clone()
    }

    /// Sees every identity change (the session re-arms its expiry timer).
    pub fn watch_identity(&self) -> watch::Receiver<Arc<Identity>> {
        self.identity.subscribe()
    }

    /// A reload changed the route's rules: the connection's credential is checked again and
    /// its identity replaced. false = it no longer authenticates.
    pub fn rederive(&self, auth: &RouteAuth) -> bool {
        loop {
            let current = self.identity();
            match auth.rederive(&current) {
                Ok(new) => {
                    let new = Arc::new(new);
                    // A `cmd_refresh` that replaced the identity meanwhile is not overwritten:
                    // its token is checked instead, on the next turn.
                    let replaced = self.identity.send_if_modified(|id| {
                        let same = Arc::ptr_eq(id, &current);
                        if same {
                            *id = new.clone();
                        }
                        same
                    });
                    if replaced {
                        return true;
                    }
                }
                Err(_) if Arc::ptr_eq(&self.identity(), &current) => return false,
                Err(_) => {}
            }
        }
    }

    fn refresh(&self, token: &str) -> Result<()> {
        let Some(rx) = &self.auth else {
            return Err(GatewayError::BadRequest(
                "this connection has no credentials to refresh".into(),
            ));
        };
        loop {
            let auth = rx.borrow().clone();
            let id = auth
                .refresh(token)
                .map_err(|_| GatewayError::Unauthorized("invalid credentials".into()))?;
            // Holding the rules' read lock: a reload cannot slip in between the check and the
            // swap and leave an identity derived from the rules it replaced.
            let latest = rx.borrow();
            if Arc::ptr_eq(&auth, &latest) {
                self.identity.send_replace(Arc::new(id));
                return Ok(());
            }
        }
    }

    fn subs(&self) -> MutexGuard<'_, HashMap<i64, Open>> {
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The encoded reply to one request, or None when the handler sent it itself.
    pub async fn handle(&self, req: PubSubReq, started: std::time::Instant) -> Option<Bytes> {
        let seq = req.sequence;
        let index = command_index(&req);
        let Some(cmd) = req.req else {
            let err = GatewayError::BadRequest("request has no command".into());
            METRICS.command(index, Some(err.code()), started.elapsed());
            return Some(codec::error_frame(seq, &err));
        };
        let result = self.command(seq, cmd).await;
        METRICS.command(
            index,
            result.as_ref().err().map(GatewayError::code),
            started.elapsed(),
        );
        match result {
            Ok(Reply::Resp(r)) => Some(codec::resp_frame(seq, r)),
            Ok(Reply::Records(records)) => Some(codec::fetch_frame(seq, &records)),
            Ok(Reply::Sent) => None,
            Err(e) => {
                tracing::debug!(sequence = seq, code = e.code(), error = %e, "command failed");
                Some(codec::error_frame(seq, &e))
            }
        }
    }

    fn join_allowed(&self, group: &str) -> Result<()> {
        match self.identity().join_denied(group) {
            None => Ok(()),
            Some(why) => Err(GatewayError::Forbidden(why)),
        }
    }

    fn read_allowed(&self, topic: &str) -> Result<()> {
        if self.identity().can_read(topic) {
            Ok(())
        } else {
            Err(GatewayError::Forbidden(format!(
                "read access to topic {topic} denied"
            )))
        }
    }

    async fn command(&self, seq: i64, cmd: Req) -> Result<Reply> {
        let backend = &*self.backend;
        match cmd {
            Req::CmdEmpty(_) => Err(GatewayError::UnknownCommand),
            Req::CmdPing(c) => Ok(Reply::Resp(Resp::PongResp(PongResp { state: c.state }))),
            Req::CmdKafkaListOffset(c) => async {
                validate_topic(&c.topic)?;
                validate_partition(c.partition)?;
                self.read_allowed(&c.topic)?;
                if c.timestamp < -2 {
                    return Err(GatewayError::BadRequest(format!(
                        "invalid timestamp {}: -1 (end), -2 (earliest) or a time in ms",
                        c.timestamp
                    )));
                }
                backend.list_offset(&c).await
            }
            .await
            .map(|offset| Reply::Resp(Resp::KafkaListOffsetResp(KafkaListOffsetResp { offset })))
            .map_err(|e| {
                ctx(e, || {
                    format!(
                        "failed to list offset, topic: {}, partition: {}",
                        c.topic, c.partition
                    )
                })
            }),
            Req::CmdKafkaFetch(c) => async {
                validate_topic(&c.topic)?;
                validate_partition(c.partition)?;
                self.read_allowed(&c.topic)?;
                backend.fetch(&c, self.fetch_limits(&c)).await
            }
            .await
            .map(Reply::Records)
            .map_err(|e| {
                ctx(e, || {
                    format!(
                        "failed to fetch message, topic: {}, partition: {}",
                        c.topic, c.partition
                    )
                })
            }),
            Req::CmdKafkaProduce(c) => {
                let topic = c.topic.clone();
                let produce = async {
                    validate_topic(&c.topic)?;
                    if !self.identity().can_write(&c.topic) {
                        return Err(GatewayError::Forbidden(format!(
                            "write access to topic {} denied",
                            c.topic
                        )));
                    }
                    backend.produce(c).await
                };
                produce
                    .await
                    .map(|r| Reply::Resp(Resp::KafkaProduceResp(r)))
                    .map_err(|e| ctx(e, || format!("failed to produce message, topic: {topic}")))
            }
            Req::CmdKafkaSubscribe(c) => {
                let what = if c.topic.is_empty() {
                    format!("topic_pattern: {}", c.topic_pattern)
                } else {
                    format!("topic: {}", c.topic)
                };
                self.subscribe(seq, c)
                    .await
                    .map_err(|e| ctx(e, || format!("failed to subscribe, {what}")))
            }
            Req::CmdUnsubscribe(c) => {
                let open = self
                    .subs()
                    .remove(&c.subscription_id)
                    .ok_or(GatewayError::UnknownSubscription(c.subscription_id))?;
                // A push already being queued goes before this reply, none after it.
                open.gate.shut().await;
                open.close_now();
                Ok(Reply::Resp(Resp::OkResp(OkResp {})))
            }
            Req::CmdKafkaCommit(c) => {
                let open = self
                    .subs()
                    .get(&c.subscription_id)
                    .cloned()
                    .ok_or(GatewayError::UnknownSubscription(c.subscription_id))?;
                let checked = (|| {
                    for o in &c.offsets {
                        validate_topic(&o.topic)?;
                        validate_partition(o.partition)?;
                        self.read_allowed(&o.topic)?;
                    }
                    if let Some(g) = &open.group {
                        self.join_allowed(g)?;
                    }
                    Ok(())
                })();
                let commit = async {
                    checked?;
                    open.sub.commit(c.offsets).await
                };
                commit
                    .await
                    .map(|()| Reply::Resp(Resp::OkResp(OkResp {})))
                    .map_err(|e| {
                        ctx(e, || {
                            format!("failed to commit, subscription: {}", c.subscription_id)
                        })
                    })
            }
            Req::CmdRefresh(c) => self
                .refresh(&c.token)
                .map(|()| Reply::Resp(Resp::OkResp(OkResp {})))
                .map_err(|e| ctx(e, || "failed to refresh credentials".into())),
            Req::CmdKafkaMetadata(c) => {
                let metadata = async {
                    validate_topic(&c.topic)?;
                    self.read_allowed(&c.topic)?;
                    backend.metadata(&c.topic).await
                };
                metadata
                    .await
                    .map(|m| Reply::Resp(Resp::KafkaMetadataResp(m)))
                    .map_err(|e| ctx(e, || format!("failed to get metadata, topic: {}", c.topic)))
            }
        }
    }

    async fn subscribe(&self, seq: i64, c: crate::pb::CmdKafkaSubscribe) -> Result<Reply> {
        // Counted before the backend is asked, so pipelined subscribes cannot overshoot.
        let _slot = self.reserve_subscription()?;
        let mut spec = SubscribeSpec::parse(c, self.limits.max_topic_pattern_bytes)?;
        if let Target::Topic(t) = &spec.target {
            self.read_allowed(t)?;
        }
        let identity = self.identity();
        if let Some(g) = &spec.group {
            self.join_allowed(g)?;
        }
        if identity.restricts_read() {
            // Pattern subscriptions only see the topics this identity may read.
            spec.allowed = Some(identity);
        }
        let id = self.next_subscription.fetch_add(1, Ordering::Relaxed);
        let sink = PushSink::new(self.out.clone(), id, seq, spec.max_in_flight);
        let gate = sink.gate();
        let group = spec.group.clone();
        let sub = self.backend.subscribe(spec, sink).await?;
        self.subs().insert(
            id,
            Open {
                sub,
                gate: gate.clone(),
                group,
            },
        );
        METRICS
            .subscriptions_open
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let reply = codec::resp_frame(
            seq,
            Resp::KafkaSubscribeResp(KafkaSubscribeResp {
                subscription_id: id,
            }),
        );
        // Pushes wait behind the gate until the reply is queued, so it always comes first.
        if self.out.send_frame(reply).await.is_ok() {
            gate.open();
        } else if let Some(open) = self.subs().remove(&id) {
            // The connection went away first: nothing would ever open the gate.
            open.close_now();
        }
        Ok(Reply::Sent)
    }

    fn reserve_subscription(&self) -> Result<Reserved<'_>> {
        let subs = self.subs();
        let pending = self.pending_subscribes.fetch_add(1, Ordering::AcqRel);
        if subs.len() + pending >= self.limits.max_subscriptions {
            self.pending_subscribes.fetch_sub(1, Ordering::AcqRel);
            return Err(GatewayError::Overloaded(format!(
                "subscription limit reached ({} per connection)",
                self.limits.max_subscriptions
            )));
        }
        Ok(Reserved(&self.pending_subscribes))
    }

    fn fetch_limits(&self, c: &CmdKafkaFetch) -> FetchLimits {
        let cap = |asked: i32, limit: usize| match usize::try_from(asked) {
            Ok(n) if n > 0 => n.min(limit),
            _ => limit,
        };
        FetchLimits {
            max_messages: cap(c.max_messages, self.limits.fetch_max_messages),
            max_bytes: cap(c.max_bytes, self.limits.fetch_max_bytes),
            max_wait: Duration::from_millis(
                u64::try_from(c.max_wait_ms)
                    .unwrap_or(0)
                    .min(self.limits.fetch_max_wait_ms),
            ),
        }
    }

    /// Stops every subscription of the connection.
    pub fn close_all(&self) {
        for (_, open) in self.subs().drain() {
            open.close_now();
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.close_all();
    }
}

/// Partitions are numbered from 0 on every scheme.
fn validate_partition(partition: i32) -> Result<()> {
    if partition < 0 {
        return Err(GatewayError::BadRequest(format!(
            "invalid partition {partition}"
        )));
    }
    Ok(())
}

/// The metrics index of a request's command.
pub fn command_index(req: &PubSubReq) -> usize {
    match &req.req {
        Some(Req::CmdEmpty(_)) => 0,
        Some(Req::CmdPing(_)) => 1,
        Some(Req::CmdKafkaFetch(_)) => 2,
        Some(Req::CmdKafkaListOffset(_)) => 3,
        Some(Req::CmdKafkaProduce(_)) => 4,
        Some(Req::CmdKafkaSubscribe(_)) => 5,
        Some(Req::CmdUnsubscribe(_)) => 6,
        Some(Req::CmdKafkaCommit(_)) => 7,
        Some(Req::CmdKafkaMetadata(_)) => 8,
        Some(Req::CmdRefresh(_)) => 9,
        None => crate::metrics::CMD_INVALID,
    }
}
