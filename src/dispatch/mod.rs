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
    Backend, FetchLimits, Gate, PushSink, SubscribeSpec, Subscription, Target, TopicUse, Wildcards,
};
use crate::codec;
use crate::config::Limits;
use crate::error::{GatewayError, Result};
use crate::metrics::METRICS;
use crate::outbox::Outbox;
use crate::pb::pub_sub_req::Req;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{
    CmdKafkaFetch, KafkaListOffsetResp, KafkaSubscribeResp, OkResp, PongResp, PubSubReq,
    RouteInfoResp,
};
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
    /// The route's uri, for route_info and capability errors.
    route: Arc<str>,
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
            route: Arc::from(""),
        }
    }

    /// The route this connection is on, for route_info and capability errors.
    pub fn with_route(mut self, route: Arc<str>) -> Self {
        self.route = route;
        self
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
    ///
    /// Pings and produces, the commands that come by the hundred thousand per second, run
    /// inline; every other command's future is boxed, so this future (which the session boxes
    /// once per request) stays small instead of being sized for the largest handler.
    pub async fn handle(&self, req: PubSubReq, started: std::time::Instant) -> Option<Bytes> {
        let seq = req.sequence;
        let index = command_index(&req);
        let result = match req.req {
            None => Err(GatewayError::BadRequest("request has no command".into())),
            Some(Req::CmdPing(c)) => {
                METRICS.command(index, None, started.elapsed());
                return Some(codec::pong_frame(seq, c.state));
            }
            Some(Req::CmdKafkaProduce(c)) => match self.produce(c).await {
                Ok(p) => {
                    METRICS.command(index, None, started.elapsed());
                    return Some(codec::produce_frame(seq, p.partition, p.offset));
                }
                Err(e) => Err(e),
            },
            Some(cmd) => Box::pin(self.command(seq, cmd)).await,
        };
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

    async fn produce(&self, c: crate::pb::CmdKafkaProduce) -> Result<crate::backend::Published> {
        let topic = c.topic.clone();
        let produce = async {
            self.check_topic(&c.topic, TopicUse::Publish)?;
            if !self.identity.borrow().can_write(&c.topic) {
                return Err(GatewayError::Forbidden(format!(
                    "write access to topic {} denied",
                    c.topic
                )));
            }
            let caps = self.caps();
            if !c.headers.is_empty() {
                self.need(caps.headers, "publishing headers", "headers")?;
            }
            if !c.key.is_empty() {
                self.need(caps.keys, "publishing a key", "keys")?;
            }
            if c.partition.is_some() {
                self.need(caps.partitions, "publishing to a partition", "partitions")?;
            }
            self.backend.produce(c.into()).await
        };
        produce
            .await
            .map_err(|e| ctx(e, || format!("failed to produce message, topic: {topic}")))
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
                self.check_read(&c.topic, c.partition)?;
                if c.timestamp < -2 {
                    return Err(GatewayError::BadRequest(format!(
                        "invalid timestamp {}: -1 (end), -2 (earliest) or a time in ms",
                        c.timestamp
                    )));
                }
                if c.timestamp >= 0 {
                    self.need(
                        self.caps().time_lookup,
                        "list_offset by time",
                        "time lookup",
                    )?;
                } else {
                    self.need(self.caps().offsets, "list_offset", "offsets")?;
                }
                backend.list_offset(&c.clone().into()).await
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
                self.check_read(&c.topic, c.partition)?;
                self.need(self.caps().fetch, "fetch", "history")?;
                backend.fetch(&(&c).into(), self.fetch_limits(&c)).await
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
            Req::CmdKafkaProduce(c) => self
                .produce(c)
                .await
                .map(|r| Reply::Resp(Resp::KafkaProduceResp(r.into()))),
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
                    self.need(self.caps().commit, "commit", "cumulative commit")?;
                    for o in &c.offsets {
                        self.check_read(&o.topic, o.partition)?;
                    }
                    if let Some(g) = &open.group {
                        self.join_allowed(g)?;
                    }
                    Ok(())
                })();
                let commit = async {
                    checked?;
                    open.sub
                        .commit(c.offsets.into_iter().map(Into::into).collect())
                        .await
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
            Req::CmdRouteInfo(_) => Ok(Reply::Resp(Resp::RouteInfoResp(RouteInfoResp {
                route: self.route.to_string(),
                scheme: backend.scheme().into(),
                capabilities: Some(self.caps().to_pb()),
            }))),
            Req::CmdAck(c) => {
                let id = c.subscription_id;
                self.acknowledge(id, c.positions, None)
                    .await
                    .map(|()| Reply::Resp(Resp::OkResp(OkResp {})))
                    .map_err(|e| ctx(e, || format!("failed to ack, subscription: {id}")))
            }
            Req::CmdNack(c) => {
                let id = c.subscription_id;
                let delay = Duration::from_millis(u64::try_from(c.delay_ms).unwrap_or(0));
                self.acknowledge(id, c.positions, Some(delay))
                    .await
                    .map(|()| Reply::Resp(Resp::OkResp(OkResp {})))
                    .map_err(|e| ctx(e, || format!("failed to nack, subscription: {id}")))
            }
            Req::CmdKafkaMetadata(c) => {
                let metadata = async {
                    self.check_topic(&c.topic, TopicUse::Read)?;
                    self.read_allowed(&c.topic)?;
                    self.need(self.caps().offsets, "metadata", "offsets")?;
                    backend.metadata(&c.topic).await
                };
                metadata
                    .await
                    .map(|m| Reply::Resp(Resp::KafkaMetadataResp(m.into())))
                    .map_err(|e| ctx(e, || format!("failed to get metadata, topic: {}", c.topic)))
            }
        }
    }

    async fn subscribe(&self, seq: i64, c: crate::pb::CmdKafkaSubscribe) -> Result<Reply> {
        // Counted before the backend is asked, so pipelined subscribes cannot overshoot.
        let _slot = self.reserve_subscription()?;
        let mut spec = SubscribeSpec::parse(c, self.limits.max_topic_pattern_bytes)?;
        if let Target::Topic(t) = &spec.target {
            self.check_topic(t, TopicUse::Subscribe)?;
            self.read_allowed(t)?;
        }
        self.check_subscribe(&spec)?;
        let identity = self.identity();
        if let Some(g) = &spec.group {
            self.join_allowed(g)?;
        }
        if identity.restricts_read() {
            // Pattern subscriptions only see the topics this identity may read.
            spec.allowed = Some(identity);
        }
        spec.live = self.limits.live_queue();
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

    /// Every capability a subscribe needs, so no request is silently downgraded.
    fn check_subscribe(&self, spec: &SubscribeSpec) -> Result<()> {
        let caps = self.caps();
        if !caps.starts.contains(&spec.start_asked) {
            let start = spec.start_asked.as_str_name();
            let why = if caps.history {
                "a start the route offers"
            } else {
                "history"
            };
            return Err(self.unsupported(&format!("start {start}"), why));
        }
        if matches!(spec.target, Target::Pattern(_)) {
            self.need(
                caps.wildcards == Wildcards::Regex,
                "topic_pattern",
                "regular-expression patterns",
            )?;
        }
        if spec.group.is_some() {
            self.need(caps.groups, "group", "consumer groups")?;
        }
        if !spec.partitions.is_empty() {
            self.need(caps.partitions, "partitions", "partitions")?;
        }
        if spec.start_epoch != 0 {
            self.need(caps.epochs, "start_epoch", "epochs")?;
        }
        if spec.max_in_flight > 0 {
            // A window of unacknowledged messages closes with acknowledgements: a group's acks
            // or commits, or a plain subscription's commits of a log it reads.
            let acknowledged = match spec.group {
                Some(_) => caps.ack || caps.commit,
                None => caps.history,
            };
            self.need(acknowledged, "max_in_flight", "acknowledgements")?;
        }
        if !spec.start_position.is_empty() {
            self.need(caps.string_positions, "start_position", "string positions")?;
        }
        Ok(())
    }

    /// Ack (delay None) or nack of delivered messages, where the scheme acknowledges one by one.
    async fn acknowledge(
        &self,
        id: i64,
        positions: Vec<crate::pb::MessagePosition>,
        nack: Option<Duration>,
    ) -> Result<()> {
        let open = self
            .subs()
            .get(&id)
            .cloned()
            .ok_or(GatewayError::UnknownSubscription(id))?;
        match nack {
            None => self.need(self.caps().ack, "ack", "per-message ack")?,
            Some(_) => self.need(self.caps().nack, "nack", "per-message nack")?,
        }
        for p in &positions {
            self.check_read(&p.topic, p.partition)?;
        }
        match nack {
            None => {
                open.sub
                    .ack(positions.into_iter().map(Into::into).collect())
                    .await
            }
            Some(delay) => {
                let positions = positions.into_iter().map(Into::into).collect();
                open.sub.nack(positions, delay).await
            }
        }
    }

    fn caps(&self) -> &crate::backend::Capabilities {
        self.backend.capabilities()
    }

    /// A partition a command reads or acknowledges: its name in the scheme's syntax, a partition
    /// number, and the identity's read ACL, checked before the backend is asked.
    fn check_read(&self, topic: &str, partition: i32) -> Result<()> {
        self.check_topic(topic, TopicUse::Read)?;
        validate_partition(partition)?;
        self.read_allowed(topic)
    }

    fn check_topic(&self, topic: &str, usage: TopicUse) -> Result<()> {
        self.backend.validate_topic(topic, usage)
    }

    fn need(&self, has: bool, what: &str, capability: &str) -> Result<()> {
        if has {
            Ok(())
        } else {
            Err(self.unsupported(what, capability))
        }
    }

    /// "start EARLIEST needs history; route /chat is core NATS, which has none".
    fn unsupported(&self, what: &str, capability: &str) -> GatewayError {
        let caps = self.caps();
        let scheme: &str = if caps.description.is_empty() {
            self.backend.scheme()
        } else {
            &caps.description
        };
        GatewayError::Unsupported(format!(
            "{what} needs {capability}; route {} is {scheme}, which has none",
            self.route
        ))
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
        Some(Req::CmdRouteInfo(_)) => 10,
        Some(Req::CmdAck(_)) => 11,
        Some(Req::CmdNack(_)) => 12,
        None => crate::metrics::CMD_INVALID,
    }
}

#[cfg(test)]
mod tests;
