//! One WebSocket connection: a reader loop that decodes requests and runs them concurrently
//! (pipelining), and one writer task fed by a bounded queue that carries replies and pushes
//! alike, plus a priority lane for the close frame.
//!
//! Every close of the gateway's own is a `close::CloseReason` (its code, its reason text and
//! whether the client should reconnect).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, SplitSink};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use crate::auth::{Identity, RouteAuth};
use crate::backend::Backend;
use crate::close::CloseReason;
use crate::codec;
use crate::config::{Limits, SlowConsumerPolicy};
use crate::dispatch::Dispatcher;
use crate::error::GatewayError;
use crate::framing::{self, Framing};
use crate::metrics::{CMD_INVALID, METRICS};
use crate::outbox::{cost, Budget, Closed, Inbox, Outbound, Outbox};
use crate::pb::PubSubReq;

/// What a connection runs with, decided at upgrade time.
pub struct SessionContext {
    pub backend: Arc<dyn Backend>,
    pub limits: Arc<Limits>,
    pub identity: Arc<Identity>,
    /// Ends the connection when a reload removes its route or rebuilds its backend (and, a
    /// child of the server's token, at shutdown).
    pub route_end: RouteEnd,
    /// The route's access rules; a reload sends new ones, and the session then checks its
    /// credential again (`Dispatcher::rederive`). `cmd_refresh` checks tokens against them.
    pub auth: Option<watch::Receiver<Arc<RouteAuth>>>,
    /// The route's uri, for route_info and capability errors.
    pub route: Arc<str>,
    /// Binary protobuf, or JSON text for a client that asked for `pubsub.json`.
    pub framing: Framing,
    /// The route's idempotent-publish window.
    pub window: Arc<crate::backend::idempotency::Window>,
}

/// How a route ends for the connections open on it, shutdown aside: removed by a reload, or
/// its backend rebuilt (new upstream settings or credentials), each with its close code.
#[derive(Clone, Default)]
pub struct RouteEnd {
    token: CancellationToken,
    why: Arc<std::sync::OnceLock<Closing>>,
}

impl RouteEnd {
    /// Ends at `shutdown` too.
    pub fn child_of(shutdown: &CancellationToken) -> RouteEnd {
        RouteEnd {
            token: shutdown.child_token(),
            why: Arc::default(),
        }
    }

    /// The route was removed: its connections close with 1001.
    pub fn removed(&self) {
        self.end(CloseReason::RouteRemoved);
    }

    /// The route's backend was rebuilt: its connections close with 1012 and clients reconnect
    /// to the new one (and resume where they were).
    pub fn rebuilt(&self) {
        self.end(CloseReason::UpstreamChanged);
    }

    /// Cancelled when the route ends (and at shutdown): for HTTP streams on the route.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    fn end(&self, why: Closing) {
        let _ = self.why.set(why);
        self.token.cancel();
    }

    fn why(&self) -> Closing {
        self.why.get().copied().unwrap_or(CloseReason::RouteRemoved)
    }
}

/// Closes when the identity's credential expires; None when it never does.
fn expiry_timer(identity: &Identity) -> Option<Pin<Box<tokio::time::Sleep>>> {
    identity
        .expires_in()
        .map(|left| Box::pin(tokio::time::sleep(left)))
}

/// How long the writer gets to flush after the session ends, when not shutting down.
const WRITER_LINGER: Duration = Duration::from_secs(2);

/// How long a client gets to answer the close frame once it is sent, its input drained
/// meanwhile; then the socket is closed.
const CLOSE_ANSWER_WAIT: Duration = Duration::from_millis(250);

/// Why the gateway closes a connection.
type Closing = CloseReason;

/// Requests in flight (they finish with None) and the connection's `control` (Some(why)).
type InFlight<'a> = FuturesUnordered<Pin<Box<dyn Future<Output = Option<Closing>> + Send + 'a>>>;

/// A token bucket holding one second's worth of requests (a WebSocket connection's, an HTTP
/// keep-alive connection's).
pub(crate) struct RateLimit {
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    pub(crate) fn new(per_sec: u32) -> RateLimit {
        RateLimit {
            per_sec: per_sec as f64,
            tokens: per_sec as f64,
            last: Instant::now(),
        }
    }

    pub(crate) fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_sec;
        self.tokens = (self.tokens + refill).min(self.per_sec);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Log lines about one connection's bad frames: the first at once, then at most one per
/// interval with the count of those left out, so a flood cannot fill the disk.
#[derive(Default)]
struct LogLimit {
    last: Option<Instant>,
    suppressed: u64,
}

const LOG_INTERVAL: Duration = Duration::from_secs(10);

impl LogLimit {
    /// Some(lines left out since the last one) when this line may be written.
    fn allow(&mut self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < LOG_INTERVAL)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The reader's own replies (refusals, undecodable frames) never wait for room: a client that
/// floods requests without reading loses those replies (counted in `replies_dropped`) instead
/// of pinning the reader, which must keep watching idle time, the slow-consumer policy,
/// shutdown and route removal.
fn reply_now(out: &Outbox, frame: Bytes) -> Result<(), Closed> {
    if !out.try_send_frame(frame)? {
        METRICS.replies_dropped.fetch_add(1, Relaxed);
    }
    Ok(())
}

/// The connection's session. Set up here, outside the future, so that the future (which lives
/// as long as the connection) holds what the session loop uses and not a second copy of the
/// WebSocket stream and the context it was made from.
pub fn run<S>(
    ws: WebSocketStream<S>,
    ctx: SessionContext,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = ctx.limits.clone();
    let (sink, mut stream) = ws.split();
    let (out, out_rx) = Outbox::channel(limits.outbound_queue, limits.outbound_queue_bytes);
    let (close_tx, close_rx) = oneshot::channel();
    let framing = ctx.framing;
    let mut writer = tokio::spawn(write_loop(
        sink,
        out_rx,
        close_rx,
        out.shared.clone(),
        out.budget,
        framing,
    ));
    let mut auth = ctx.auth;
    let dispatcher = Dispatcher::new(ctx.backend, limits.clone(), out.clone(), ctx.identity)
        .with_auth(auth.clone())
        .with_route(ctx.route.clone())
        .with_window(ctx.window);
    // A child of `shutdown`: cancelled at shutdown too.
    let route_end = ctx.route_end;
    async move {
        let mut writer_done = false;
        let mut inflight: InFlight<'_> = FuturesUnordered::new();
        // What ends a connection from outside (shutdown, route removal, token expiry, a reload
        // revoking the credential) runs as one more future among the requests in flight: the
        // set polls only futures that were woken, so a request does not pay for registering
        // and dropping these waiters on every turn of the loop, as select! branches would.
        inflight.push(Box::pin(control(
            &dispatcher,
            auth.clone(),
            &route_end,
            &shutdown,
        )));
        let mut rate = RateLimit::new(limits.max_requests_per_sec);
        let mut last_seen = Instant::now();
        let mut keepalive = tokio::time::interval(limits.ping_interval());
        keepalive.reset();
        // Only the `close` policy watches the queue; idle connections under `pause` carry no timer.
        let mut slow_tick = (limits.slow_consumer == SlowConsumerPolicy::Close).then(|| {
            tokio::time::interval(Duration::from_millis(
                (limits.slow_consumer_timeout_ms / 4).max(10),
            ))
        });
        let mut full_since: Option<Instant> = None;
        let mut noisy = LogLimit::default();
        METRICS.connections_open.fetch_add(1, Relaxed);

        let close: Option<Closing> = loop {
            tokio::select! {
                // Finished requests (and `control`) before new ones: the connection finishes
                // what it took on before it reads more, so what is in flight stays small.
                biased;
                Some(done) = inflight.next(), if !inflight.is_empty() => {
                    let Some(reason) = done else { continue };
                    if shutdown.is_cancelled() {
                        // Requests already read get their replies before the close frame.
                        let _ = tokio::time::timeout(limits.shutdown_grace(), async {
                            while inflight.next().await.is_some() {}
                        }).await;
                    }
                    break Some(reason);
                }
                _ = &mut writer => {
                    writer_done = true;
                    break None;
                }
                _ = keepalive.tick() => {
                    if last_seen.elapsed() >= limits.idle_timeout() {
                        break Some(CloseReason::IdleTimeout);
                    }
                    out.try_ping();
                }
                _ = async {
                    match &mut slow_tick {
                        Some(t) => t.tick().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if out.is_slow() {
                        METRICS.slow_consumer_closes.fetch_add(1, Relaxed);
                        tracing::info!("closing a slow consumer: a live subscription's queue overflowed");
                        break Some(CloseReason::SlowConsumer);
                    }
                    if !out.is_full() {
                        full_since = None;
                    } else if full_since.get_or_insert_with(Instant::now).elapsed()
                        >= Duration::from_millis(limits.slow_consumer_timeout_ms)
                    {
                        METRICS.slow_consumer_closes.fetch_add(1, Relaxed);
                        tracing::info!("closing a slow consumer: its outbound queue stayed full");
                        break Some(CloseReason::SlowConsumer);
                    }
                }
                msg = stream.next() => {
                    let msg = match msg {
                        None => break None,
                        Some(Ok(m)) => m,
                        Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                            METRICS.frames_too_big.fetch_add(1, Relaxed);
                            tracing::info!(size, max_size, "closing: frame too big");
                            break Some(CloseReason::MessageTooBig);
                        }
                        // Invalid UTF-8 in a text frame breaks the WebSocket protocol itself.
                        Some(Err(WsError::Utf8(e))) => {
                            tracing::info!(error = %e, "closing: text frame not UTF-8");
                            break Some(CloseReason::ProtocolError);
                        }
                        Some(Err(WsError::Protocol(e))) => {
                            tracing::info!(error = %e, "closing: websocket protocol error");
                            break Some(CloseReason::ProtocolError);
                        }
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "connection read failed");
                            break None;
                        }
                    };
                    last_seen = Instant::now();
                    // Frames that arrived together are parsed from the reader's buffer without
                    // touching the socket, so tokio's budget alone would let this loop take
                    // thousands of them in one turn, while the writer (on this worker when the
                    // others are busy) waits: the replies fill the queue and the refusals
                    // behind them are dropped. Each frame counts against the budget instead.
                    tokio::task::consume_budget().await;
                    let started = std::time::Instant::now();
                    let decoded = match (msg, framing) {
                        (Message::Binary(data), Framing::Binary) => {
                            PubSubReq::decode(data).map_err(|e| {
                                if let Some(suppressed) = noisy.allow() {
                                    tracing::info!(error = %e, suppressed, "undecodable request");
                                }
                                (0, GatewayError::WrongCommand)
                            })
                        }
                        (Message::Text(text), Framing::Binary) => {
                            if let Some(suppressed) = noisy.allow() {
                                tracing::info!(len = text.len(), suppressed, "ignoring text frame: the protocol is binary protobuf");
                            }
                            continue;
                        }
                        (Message::Text(text), Framing::Json) => {
                            framing::request(&text).map_err(|r| {
                                if let Some(suppressed) = noisy.allow() {
                                    tracing::info!(error = %r.error, suppressed, "unreadable JSON request");
                                }
                                (r.sequence, r.error)
                            })
                        }
                        (Message::Binary(_), Framing::Json) => Err((0, GatewayError::BadRequest(format!(
                            "binary frame on a {} session: send requests as JSON text frames",
                            framing::JSON_PROTOCOL
                        )))),
                        (Message::Close(_), _) => break None,
                        (Message::Ping(_) | Message::Pong(_) | Message::Frame(_), _) => continue,
                    };
                    let req = match decoded {
                        Ok(req) => req,
                        Err((sequence, err)) => {
                            METRICS.command(CMD_INVALID, Some(err.code()), started.elapsed());
                            if reply_now(&out, codec::error_frame(sequence, &err)).is_err() {
                                break None;
                            }
                            continue;
                        }
                    };
                    // Limits answer at once instead of holding the connection's reading back.
                    let refusal = if !rate.take() {
                        METRICS.rate_limited.fetch_add(1, Relaxed);
                        Some(GatewayError::Overloaded(format!(
                            "rate limit exceeded ({} requests per second)",
                            limits.max_requests_per_sec
                        )))
                    } else if inflight.len() > limits.max_inflight_requests {
                        // (`control` is one of them while the loop runs.)
                        Some(GatewayError::Overloaded(format!(
                            "too many requests in flight ({} per connection)",
                            limits.max_inflight_requests
                        )))
                    } else {
                        None
                    };
                    if let Some(err) = refusal {
                        METRICS.command(crate::dispatch::command_index(&req), Some(err.code()), started.elapsed());
                        if reply_now(&out, codec::error_frame(req.sequence, &err)).is_err() {
                            break None;
                        }
                        continue;
                    }
                    // A reload's rules apply to every command read after it, whichever select
                    // branch the runtime picks first.
                    if auth.as_ref().is_some_and(|rx| rx.has_changed().unwrap_or(false))
                        && !rederive(&dispatcher, &mut auth)
                    {
                        break Some(CloseReason::CredentialsRevoked);
                    }
                    let tx = out.clone();
                    let dispatcher = &dispatcher;
                    inflight.push(Box::pin(async move {
                        if let Some(frame) = dispatcher.handle(req, started).await {
                            let _ = tx.send_frame(frame).await;
                        }
                        None
                    }));
                }
            }
        };

        drop(inflight);
        // Pushes waiting for room give up now rather than when the writer is done lingering.
        out.close();
        dispatcher.close_all();
        drop(dispatcher);
        METRICS.connections_open.fetch_sub(1, Relaxed);
        let linger = if shutdown.is_cancelled() {
            limits.shutdown_grace()
        } else {
            WRITER_LINGER
        };
        // Every `break None` is a reader or writer that ended; only a close of the gateway's
        // own has a client left to hear it.
        let reader_open = close.is_some() && !writer_done;
        let _ = close_tx.send(close.unwrap_or(CloseReason::Normal));
        drop(out);
        // Boxed: it runs once, at the end, and its state (timers, the drain) would otherwise
        // make every connection's session larger for its whole life.
        Box::pin(async {
            let deadline = Instant::now() + linger;
            // The close handshake (RFC 6455 §7.1.1): while the writer gets the close frame out,
            // what the client still sends is read and dropped, up to its own close. A socket closed
            // with unread input is reset, and a reset can take the close frame (and the replies
            // before it) away from a client that has not read them yet.
            let drain = async {
                if reader_open {
                    while let Some(Ok(m)) = stream.next().await {
                        if m.is_close() {
                            break;
                        }
                    }
                }
            };
            tokio::pin!(drain);
            let mut drained = false;
            if !writer_done {
                tokio::select! {
                    _ = tokio::time::timeout_at(deadline, &mut writer) => {}
                    _ = &mut drain => {
                        drained = true;
                        let _ = tokio::time::timeout_at(deadline, &mut writer).await;
                    }
                }
            }
            // A client that neither answers the close nor hangs up is not waited for long.
            if !drained {
                let answer_by = deadline.min(Instant::now() + CLOSE_ANSWER_WAIT);
                let _ = tokio::time::timeout_at(answer_by, drain).await;
            }
        })
        .await;
        // Past the deadline the frames still queued are given up (a no-op once it ended).
        writer.abort();
    }
}

/// Watches what closes a connection from outside it and returns why. The shutdown token is
/// the route end's parent: one waiter serves both.
async fn control(
    dispatcher: &Dispatcher,
    mut auth: Option<watch::Receiver<Arc<RouteAuth>>>,
    route_end: &RouteEnd,
    shutdown: &CancellationToken,
) -> Option<Closing> {
    let mut identity = dispatcher.watch_identity();
    let mut expiry = expiry_timer(&identity.borrow_and_update());
    let ended = route_end.token.cancelled();
    tokio::pin!(ended);
    let reason = loop {
        tokio::select! {
            _ = &mut ended => {
                break if shutdown.is_cancelled() {
                    CloseReason::ShuttingDown
                } else {
                    route_end.why()
                };
            }
            _ = async {
                match &mut expiry {
                    Some(t) => t.as_mut().await,
                    None => std::future::pending().await,
                }
            } => {
                tracing::info!("closing: token expired");
                break CloseReason::TokenExpired;
            }
            Ok(()) = identity.changed() => {
                expiry = expiry_timer(&identity.borrow_and_update());
            }
            Ok(()) = async {
                match &mut auth {
                    Some(rx) => rx.changed().await,
                    None => std::future::pending().await,
                }
            } => {
                if !rederive(dispatcher, &mut auth) {
                    break CloseReason::CredentialsRevoked;
                }
            }
        }
    };
    Some(reason)
}

/// Takes the route's new rules and checks the connection against them; false = revoked.
fn rederive(dispatcher: &Dispatcher, auth: &mut Option<watch::Receiver<Arc<RouteAuth>>>) -> bool {
    let Some(rx) = auth else { return true };
    let rules = rx.borrow_and_update().clone();
    let kept = dispatcher.rederive(&rules);
    if !kept {
        tracing::info!("closing: a reload revoked the connection's credentials");
    }
    kept
}

async fn write_loop<S>(
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    mut rx: Inbox,
    mut close: oneshot::Receiver<Closing>,
    shared: Arc<Budget>,
    budget: usize,
    framing: Framing,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    write_frames(
        &mut sink,
        &mut rx,
        &mut close,
        &shared.bytes,
        budget,
        framing,
    )
    .await;
    // Whatever is left will never be sent; senders waiting for room must not wait for good.
    // Dropping the inbox discards (and uncounts) what is still queued.
    shared.bytes.close();
    drop(rx);
}

async fn write_frames<S>(
    sink: &mut SplitSink<WebSocketStream<S>, Message>,
    rx: &mut Inbox,
    close: &mut oneshot::Receiver<Closing>,
    bytes: &Semaphore,
    budget: usize,
    framing: Framing,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // A frame taken from the queue while the last one was written: frames queued behind each
    // other go out with one flush, without a wait on the queue for each.
    let mut next: Option<Outbound> = None;
    loop {
        // (A sender dropped unsent counts as a normal close here, as in the select below: the
        // receiver must not be polled again once `try_recv` has seen it closed.)
        let closing = if next.is_some() {
            match close.try_recv() {
                Ok(c) => Some(c),
                Err(oneshot::error::TryRecvError::Closed) => Some(CloseReason::Normal),
                Err(oneshot::error::TryRecvError::Empty) => None,
            }
        } else {
            None
        };
        let out = match (next.take(), closing) {
            (Some(o), None) => o,
            // Boxed: the close runs once, and its state would otherwise make every idle
            // connection's writer larger.
            (pending, Some(c)) => return Box::pin(close_with(sink, rx, pending, c, framing)).await,
            (None, None) => tokio::select! {
                biased;
                c = &mut *close => {
                    let c = c.unwrap_or(CloseReason::Normal);
                    return Box::pin(close_with(sink, rx, None, c, framing)).await;
                }
                o = rx.recv() => match o {
                    Some(o) => o,
                    None => {
                        let _ = sink.close().await;
                        return;
                    }
                },
            },
        };
        METRICS.queued_frames.fetch_sub(1, Relaxed);
        let msg = match out {
            Outbound::Frame(b) => {
                // The budget is given back once the frame is handed to the socket.
                bytes.add_permits(cost(b.len(), budget) as usize);
                frame_message(b, framing)
            }
            Outbound::Ping => Message::Ping(Bytes::new()),
        };
        if sink.feed(msg).await.is_err() {
            return;
        }
        next = rx.try_recv();
        // Batch what is queued into one flush.
        if next.is_none() && sink.flush().await.is_err() {
            return;
        }
    }
}

/// A finished frame as the session's framing sends it: as it is on a binary session, converted
/// to JSON text on a `pubsub.json` one.
fn frame_message(frame: Bytes, framing: Framing) -> Message {
    match framing {
        Framing::Binary => Message::Binary(frame),
        Framing::Json => Message::text(framing::response(&frame)),
    }
}

/// Sends the close frame. Frames already queued (replies drained at shutdown) go before it;
/// only a slow consumer's close does not wait behind its full queue.
async fn close_with<S>(
    sink: &mut SplitSink<WebSocketStream<S>, Message>,
    rx: &mut Inbox,
    pending: Option<Outbound>,
    why: Closing,
    framing: Framing,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if pending.is_some() {
        METRICS.queued_frames.fetch_sub(1, Relaxed);
    }
    if why.flushes_queue() {
        let queued = pending.into_iter().chain(std::iter::from_fn(|| {
            let o = rx.try_recv();
            if o.is_some() {
                METRICS.queued_frames.fetch_sub(1, Relaxed);
            }
            o
        }));
        for o in queued {
            if let Outbound::Frame(b) = o {
                if sink.feed(frame_message(b, framing)).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: why.code(),
            reason: why.reason().into(),
        })))
        .await;
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_frame_logs_come_once_per_interval_with_the_count_left_out() {
        let start = Instant::now();
        let mut l = LogLimit::default();
        assert_eq!(
            l.allow_at(start),
            Some(0),
            "the first line is written at once"
        );
        for i in 1..=5 {
            assert_eq!(l.allow_at(start + Duration::from_secs(i)), None);
        }
        assert_eq!(
            l.allow_at(start + LOG_INTERVAL - Duration::from_millis(1)),
            None
        );
        assert_eq!(
            l.allow_at(start + LOG_INTERVAL),
            Some(6),
            "with the six left out"
        );
        assert_eq!(l.allow_at(start + LOG_INTERVAL), None);
    }
}
