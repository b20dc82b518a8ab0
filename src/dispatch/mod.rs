//! Routes each decoded request to its command's handler and the route's backend.
//!
//! Every command is one type implementing [`Command`], in a file of its own under `cmd/`: what
//! it names (topics, partitions, a group) and what it needs (the route's capabilities) are
//! declared there once, and [`Dispatcher::exec`] checks them all, the same way for every command
//! (`checks`), before the command's handler runs: no handler reaches a backend with an
//! unchecked name, ACL or capability. The `match` on the request's `oneof` has no catch-all arm
//! on purpose: adding a command to proto/pubsub.proto stops the build here until it has a
//! handler.

mod checks;
mod cmd;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::auth::{Identity, RouteAuth};
use crate::backend::{Backend, Capabilities, FetchLimits, Gate, Subscription};
use crate::codec;
use crate::config::Limits;
use crate::error::{GatewayError, Result};
use crate::metrics::METRICS;
use crate::outbox::Outbox;
use crate::pb::pub_sub_req::Req;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{CmdKafkaFetch, PubSubReq};
use bytes::Bytes;
use checks::Checks;
use tokio::sync::watch;

/// One command of the protocol: what it names and needs, checked by [`Dispatcher::exec`] before
/// `run`, the context its failures get, and its handler.
trait Command: Sized {
    /// What the command names (subscription, topics, partitions, group: their syntax and the
    /// identity's ACLs) and which capability of the route it needs and lacks, all checked before
    /// `run`. Every command declares it; `Checks::none()` is a command that names nothing and
    /// needs nothing.
    fn checks(&self, caps: &Capabilities) -> Checks<'_>;
    /// APISIX's wording for the command's failures ("failed to fetch message, topic: t,
    /// partition: 0"); asked for only when one happens.
    fn context(&self) -> Option<String> {
        None
    }
    /// The handler: reached only with every name and capability checked.
    async fn run(self, d: &Dispatcher, seq: i64) -> Result<Reply>;
}

/// What a command answers with.
enum Reply {
    Resp(Resp),
    /// A reply encoded straight into its frame (pong, produce: the most frequent replies).
    Frame(Bytes),
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
    /// The route's idempotent-publish window, shared by its connections (none: keys ignored).
    window: Option<Arc<crate::backend::idempotency::Window>>,
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

/// Failures get the operation's context, in APISIX's wording; "unknown command" and "unknown
/// subscription id" say all there is on their own.
fn ctx(e: GatewayError, context: Option<String>) -> GatewayError {
    match (e, context) {
        (e @ (GatewayError::UnknownCommand | GatewayError::UnknownSubscription(_)), _) => e,
        (e, Some(c)) => e.context(c),
        (e, None) => e,
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
            window: None,
        }
    }

    /// Remembers produces' idempotency keys in the route's window.
    pub fn with_window(mut self, window: Arc<crate::backend::idempotency::Window>) -> Self {
        self.window = window.enabled().then_some(window);
        self
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

    /// The encoded reply to one request, or None when the handler sent it itself.
    ///
    /// Pings and produces, the commands that come by the hundred thousand per second, run
    /// inline; every other command's future is boxed, so this future (which the session boxes
    /// once per request) stays small instead of being sized for the largest handler.
    pub async fn handle(&self, req: PubSubReq, started: std::time::Instant) -> Option<Bytes> {
        let seq = req.sequence;
        let index = command_index(&req);
        let result = match req.req {
            Some(Req::CmdPing(c)) => match self.checked(seq, c) {
                Ok(run) => run.await,
                Err(e) => Err(e),
            },
            Some(Req::CmdKafkaProduce(c)) => match self.checked(seq, c) {
                Ok(run) => run.await,
                Err(e) => Err(e),
            },
            Some(cmd) => Box::pin(self.command(seq, cmd)).await,
            None => Err(GatewayError::BadRequest("request has no command".into())),
        };
        METRICS.command(
            index,
            result.as_ref().err().map(GatewayError::code),
            started.elapsed(),
        );
        match result {
            Ok(Reply::Frame(frame)) => Some(frame),
            Ok(Reply::Resp(r)) => Some(codec::resp_frame(seq, r)),
            Ok(Reply::Records(records)) => Some(codec::fetch_frame(seq, &records)),
            Ok(Reply::Sent) => None,
            Err(e) => {
                tracing::debug!(sequence = seq, code = e.code(), error = %e, "command failed");
                Some(codec::error_frame(seq, &e))
            }
        }
    }

    /// Each command to its handler, through `exec`.
    async fn command(&self, seq: i64, cmd: Req) -> Result<Reply> {
        match cmd {
            Req::CmdEmpty(c) => self.exec(seq, c).await,
            Req::CmdPing(c) => self.exec(seq, c).await,
            Req::CmdKafkaFetch(c) => self.exec(seq, c).await,
            Req::CmdKafkaListOffset(c) => self.exec(seq, c).await,
            Req::CmdKafkaProduce(c) => self.exec(seq, c).await,
            Req::CmdKafkaSubscribe(c) => self.exec(seq, c).await,
            Req::CmdUnsubscribe(c) => self.exec(seq, c).await,
            Req::CmdKafkaCommit(c) => self.exec(seq, c).await,
            Req::CmdKafkaMetadata(c) => self.exec(seq, c).await,
            Req::CmdRefresh(c) => self.exec(seq, c).await,
            Req::CmdRouteInfo(c) => self.exec(seq, c).await,
            Req::CmdAck(c) => self.exec(seq, c).await,
            Req::CmdNack(c) => self.exec(seq, c).await,
        }
    }

    /// A command's names and needs checked, then its handler.
    async fn exec<C: Command>(&self, seq: i64, cmd: C) -> Result<Reply> {
        self.checked(seq, cmd)?.await
    }

    /// A command's names and needs checked: its handler, to be awaited. (Not an `async fn`
    /// itself: pings and produces await the handler's future directly, with no layer of future
    /// around it that would hold the command a second time.)
    fn checked<'a, C: Command + 'a>(
        &'a self,
        seq: i64,
        cmd: C,
    ) -> Result<impl std::future::Future<Output = Result<Reply>> + 'a> {
        let checks = cmd.checks(self.caps());
        let checked = match checks.invalid {
            Some(why) => Err(GatewayError::BadRequest(why)),
            None => Ok(()),
        }
        .and_then(|()| self.check_names(&checks.names))
        .and_then(|()| match checks.missing {
            None => Ok(()),
            Some(missing) => Err(self.unsupported(missing)),
        });
        match checked {
            Ok(()) => Ok(cmd.run(self, seq)),
            Err(e) => Err(ctx(e, cmd.context())),
        }
    }

    fn subs(&self) -> MutexGuard<'_, HashMap<i64, Open>> {
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An open subscription of this connection.
    fn open(&self, id: i64) -> Result<Open> {
        self.subs()
            .get(&id)
            .cloned()
            .ok_or(GatewayError::UnknownSubscription(id))
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
