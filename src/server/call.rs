//! What every HTTP call shares: the route it is on, and a command runner (a dispatcher of its
//! own, whose replies are decoded back from their frames) so that a call is checked and run
//! exactly as a WebSocket request is.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message as _;
use tokio_util::sync::CancellationToken;

use crate::auth::{Identity, RouteAuth};
use crate::backend::Backend;
use crate::config::Limits;
use crate::dispatch::Dispatcher;
use crate::http::{error, Body};
use crate::metrics::{Rejection, METRICS};
use crate::outbox::{Inbox, Outbox};
use crate::pb::pub_sub_req::Req;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{PubSubReq, PubSubResp};

type Response = hyper::Response<Body>;

/// What an endpoint needs of its route.
pub(super) struct Route {
    pub(super) uri: Arc<str>,
    pub(super) backend: Arc<dyn Backend>,
    /// The route's current rules.
    pub(super) auth: Arc<RouteAuth>,
    pub(super) limits: Arc<Limits>,
    /// Cancelled when the route goes (reload) or at shutdown: streams end.
    pub(super) end: CancellationToken,
    /// Counts a long-lived call (an event stream) against the connection limits, as a WebSocket
    /// is counted; None when a limit is reached. The slot is released when dropped.
    pub(super) admit: Arc<dyn Fn() -> Option<Box<dyn Send>> + Send + Sync>,
    /// Cancelling it closes the call's connection: how a stalled event stream is ended (its
    /// body is not polled while the client does not read, so it cannot end itself).
    pub(super) connection: CancellationToken,
}

/// A command runner for one HTTP call (or one event stream): the dispatcher, and the queue its
/// subscribe replies and pushes come through.
pub(super) struct Commands {
    pub(super) dispatcher: Dispatcher,
    pub(super) out: Outbox,
    pub(super) inbox: Inbox,
}

impl Commands {
    pub(super) fn new(route: &Route, identity: Identity) -> Commands {
        let (out, inbox) = Outbox::channel(
            route.limits.outbound_queue,
            route.limits.outbound_queue_bytes,
        );
        let dispatcher = Dispatcher::new(
            route.backend.clone(),
            route.limits.clone(),
            out.clone(),
            Arc::new(identity),
        )
        .with_route(route.uri.clone());
        Commands {
            dispatcher,
            out,
            inbox,
        }
    }

    /// Runs one command; None when its reply went to the queue (a subscribe's).
    pub(super) async fn run(&self, req: Req) -> Option<Resp> {
        run_on(&self.dispatcher, req).await
    }
}

/// Runs one command on `dispatcher`; None when its reply went to the queue (a subscribe's).
pub(super) async fn run_on(dispatcher: &Dispatcher, req: Req) -> Option<Resp> {
    let frame = dispatcher
        .handle(
            PubSubReq {
                sequence: 0,
                req: Some(req),
            },
            std::time::Instant::now(),
        )
        .await?;
    Some(decode(&frame))
}

/// A reply frame back into its message (the dispatcher encodes replies once, for WebSocket).
pub(super) fn decode(frame: &[u8]) -> Resp {
    match PubSubResp::decode(frame).ok().and_then(|r| r.resp) {
        Some(r) => r,
        None => Resp::ErrorResp(crate::pb::ErrorResp {
            code: 500,
            message: "internal error: undecodable reply".into(),
        }),
    }
}

/// A query parameter as a number; Err(answer) when present and not one.
pub(super) fn number<T: std::str::FromStr>(
    query: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, Box<Response>> {
    match query.get(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            METRICS.reject(Rejection::BadRequest);
            Box::new(error(
                400,
                &format!("query parameter {name}: `{v}` is not a valid number"),
            ))
        }),
    }
}
