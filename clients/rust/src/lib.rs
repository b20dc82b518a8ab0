//! A client for pubsub-gateway: publish, fetch and subscribe over one
//! WebSocket, with the gateway's protobuf protocol (the [`pb`] types, generated from
//! `proto/pubsub.proto` and shared with the gateway).
//!
//! The model is the JavaScript client's: [`connect`] opens a [`Client`]; requests are pipelined
//! (any number in flight, each reply paired with its request by sequence, a reader task
//! demultiplexing replies and subscription pushes); every command has a typed method; a lost
//! connection is reopened with backoff, and subscriptions without a group resume from the last
//! delivered position of each partition, with no gap and no duplicate. When the log was
//! recreated meanwhile (an embedded broker restarted), the subscription says so with
//! [`Event::Reset`] and starts over at the new log's beginning.
//!
//! ```no_run
//! use pubsub_client::{connect, Event, Options, Start, Subscribe};
//!
//! # async fn run() -> Result<(), pubsub_client::Error> {
//! let client = connect("ws://127.0.0.1:9080/embedded", Options::default()).await?;
//! let mut sub = client
//!     .subscribe(Subscribe::topic("chat").start(Start::Earliest))
//!     .await?;
//! client.publish("chat", "hello").await?;
//! while let Some(event) = sub.recv().await {
//!     match event {
//!         Event::Message(m) => {
//!             println!("{}: {}", m.offset, String::from_utf8_lossy(&m.value));
//!             sub.commit_message(&m).await?;
//!         }
//!         Event::Reset { topic, .. } => println!("{topic} was recreated: starting over"),
//!         Event::Error(e) => eprintln!("resubscribing failed: {e}"),
//!         Event::Gap { count } => eprintln!("{count} messages lost: reading too slowly"),
//!         // Closed by the gateway for good (route removed, token expired, ...): the stream ends.
//!         Event::Ended { code, reason } => eprintln!("closed by the gateway: {code} {reason}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Dropping the last [`Client`] and [`Subscription`] closes the connection; [`Client::close`]
//! does it at once.
//!
//! [`connect_any`] takes several URLs, the same route on several gateway replicas: the client
//! connects to the first that answers and, whenever an attempt fails or the connection is lost,
//! tries the next one (round robin, with the same backoff). Subscriptions resume there as after
//! any reconnect, so on routes whose history the replicas share (one Kafka cluster, one
//! JetStream stream, one Redis stream) a failover loses and repeats nothing.

mod conn;
mod error;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub use error::{Error, Result};
/// The protocol's types, generated from `proto/pubsub.proto` (the `pubsub-proto` crate).
pub use pubsub_proto as pb;

use pb::{pub_sub_req::Req, pub_sub_resp::Resp};

/// A delivered or fetched message (topic, partition, offset, timestamp, key, value, headers,
/// and the epoch of the log it belongs to).
pub type Message = pb::KafkaMessage;

/// `list_offset` timestamp for the end offset (the offset the next message gets).
pub const LATEST: i64 = -1;
/// `list_offset` timestamp for the earliest retained offset.
pub const EARLIEST: i64 = -2;

/// Reconnection after a lost connection: exponential backoff with jitter.
#[derive(Clone, Debug)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
    /// 0.2 = each delay is moved by up to +-20 %, so many clients do not return in step.
    pub jitter: f64,
    /// None = forever.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            factor: 2.0,
            jitter: 0.2,
            max_attempts: None,
        }
    }
}

impl Backoff {
    fn delay(&self, attempt: u32) -> Duration {
        let base = self.initial.as_secs_f64() * self.factor.powi(attempt.min(64) as i32);
        let base = base.min(self.max.as_secs_f64());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let unit = (nanos % 10_000) as f64 / 10_000.0 * 2.0 - 1.0;
        Duration::from_secs_f64((base * (1.0 + self.jitter * unit)).max(0.0))
    }
}

/// How to connect. `Options::default()`: no token, the webpki root certificates, 10 s to
/// connect, 30 s per request, reconnect forever with [`Backoff::default`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Sent as `?token=` and as the subprotocol `bearer.<token>`.
    pub token: Option<String>,
    /// PEM file of the CA certificates to trust for wss:// (instead of the webpki roots).
    pub ca_file: Option<PathBuf>,
    /// Per connection attempt (TCP, TLS and the upgrade).
    pub connect_timeout: Duration,
    /// Per request (a fetch adds its `max_wait`); zero = none.
    pub request_timeout: Duration,
    /// None = a lost connection ends the client.
    pub reconnect: Option<Backoff>,
    /// Extra subprotocols, offered after `pubsub`.
    pub protocols: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            reconnect: Some(Backoff::default()),
            protocols: Vec::new(),
        }
    }
}

impl Options {
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }
    pub fn reconnect(mut self, backoff: Option<Backoff>) -> Self {
        self.reconnect = backoff;
        self
    }
}

/// Where a subscription starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Only messages published after the subscription started.
    Latest,
    /// The earliest retained message of each partition.
    Earliest,
    /// The last existing message of each partition, then new ones.
    Last,
    /// This offset in every partition.
    Offset(i64),
    /// The first message at or after this time (ms since the epoch).
    Timestamp(i64),
    /// This many ms back from now.
    TimeDelta(i64),
}

impl Start {
    fn wire(self) -> (pb::StartPosition, i64) {
        match self {
            Start::Latest => (pb::StartPosition::Latest, 0),
            Start::Earliest => (pb::StartPosition::Earliest, 0),
            Start::Last => (pb::StartPosition::Last, 0),
            Start::Offset(o) => (pb::StartPosition::Offset, o),
            Start::Timestamp(t) => (pb::StartPosition::Timestamp, t),
            Start::TimeDelta(d) => (pb::StartPosition::TimeDelta, d),
        }
    }
}

/// What to subscribe to: built with [`Subscribe::topic`] or [`Subscribe::pattern`].
#[derive(Clone, Debug)]
pub struct Subscribe {
    cmd: pb::CmdKafkaSubscribe,
}

impl Subscribe {
    /// One topic (on NATS routes, a subject that may hold wildcards).
    pub fn topic(topic: impl Into<String>) -> Self {
        Subscribe {
            cmd: pb::CmdKafkaSubscribe {
                topic: topic.into(),
                ..Default::default()
            },
        }
    }
    /// Every topic whose whole name matches this regular expression (Kafka and embedded
    /// routes), including topics created later.
    pub fn pattern(regex: impl Into<String>) -> Self {
        Subscribe {
            cmd: pb::CmdKafkaSubscribe {
                topic_pattern: regex.into(),
                ..Default::default()
            },
        }
    }
    pub fn start(mut self, start: Start) -> Self {
        let (s, v) = start.wire();
        self.cmd.start = s as i32;
        self.cmd.start_value = v;
        self
    }
    /// Share the partitions with the group's other members; resume from its commits.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.cmd.group = group.into();
        self
    }
    /// Only these partitions (default: all).
    pub fn partitions(mut self, partitions: impl IntoIterator<Item = i32>) -> Self {
        self.cmd.partitions = partitions.into_iter().collect();
        self
    }
    /// Deliver only messages carrying this header with this value (repeatable: all must match).
    pub fn match_header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.cmd.match_headers.push(pb::KafkaHeader {
            key: key.into(),
            value: value.into(),
        });
        self
    }
    /// Pause while this many pushed messages are not committed/acknowledged (0 = no limit).
    pub fn max_in_flight(mut self, n: i32) -> Self {
        self.cmd.max_in_flight = n;
        self
    }
    /// The request as sent first.
    pub fn command(&self) -> &pb::CmdKafkaSubscribe {
        &self.cmd
    }
}

/// A message to publish: built with [`Publish::new`].
#[derive(Clone, Debug, Default)]
pub struct Publish {
    cmd: pb::CmdKafkaProduce,
}

impl Publish {
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Publish {
            cmd: pb::CmdKafkaProduce {
                topic: topic.into(),
                value: value.into(),
                ..Default::default()
            },
        }
    }
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.cmd.key = key.into();
        self
    }
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.cmd.headers.push(pb::KafkaHeader {
            key: key.into(),
            value: value.into(),
        });
        self
    }
    /// Default: chosen from the key (Kafka's partitioner), or spread when there is none.
    pub fn partition(mut self, partition: i32) -> Self {
        self.cmd.partition = Some(partition);
        self
    }
    /// ms since the epoch; default now.
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.cmd.timestamp = ms;
        self
    }
    /// The gateway stores one message per key and topic within the route's window (at most
    /// 128 bytes). Default: a random 128-bit key in hex, made by [`Client::produce`].
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.cmd.idempotency_key = key.into();
        self
    }
}

/// A produce's idempotency key: 128 random bits in hex (rustls's ring provider's generator;
/// none when it fails, which leaves the produce without a key).
fn new_idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    match rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
    {
        Ok(()) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        Err(_) => String::new(),
    }
}

/// Where a published message was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Produced {
    pub partition: i32,
    pub offset: i64,
}

/// Bounds of one fetch; zero = the gateway's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct FetchOptions {
    pub max_messages: i32,
    pub max_bytes: i32,
    /// At the end of the log, wait up to this long for a message before answering empty.
    pub max_wait: Duration,
}

/// What a subscription yields.
#[derive(Debug)]
pub enum Event {
    /// A message, in offset order per partition; without a group, exactly once per
    /// (topic, partition, offset) across reconnects.
    Message(Message),
    /// The log was recreated since the last delivered message (e.g. the embedded broker
    /// restarted): delivery starts over at the new log's beginning with the messages that follow.
    /// `partitions`: the ones concerned, None = all of the topic's.
    Reset {
        topic: String,
        partitions: Option<Vec<i32>>,
    },
    /// Resubscribing after a reconnect failed; the client tries again. Not the end of the stream.
    Error(Error),
    /// `count` messages were lost just before the next ones: the client read more slowly than
    /// they arrived on a route without history (a live scheme under `slow_consumer: pause`).
    Gap { count: u64 },
    /// The gateway closed the connection for a reason a reconnect cannot fix ([`final_close`]):
    /// the client does not reconnect and the stream ends after this event.
    Ended { code: u16, reason: String },
}

/// The gateway's closes that a reconnect cannot fix (its README's "WebSocket close codes"):
/// why, or None when the client should reconnect. This client has no token refresh loop of its
/// own, so an expired token is final (call [`Client::refresh`] before `exp` to avoid it).
pub fn final_close(code: u16, reason: &str) -> Option<&'static str> {
    match (code, reason) {
        (1001, "route removed") => Some("route removed"),
        (1002, _) => Some("protocol error"),
        (1008, "token expired") => Some("token expired"),
        (1008, "credentials revoked") => Some("credentials revoked"),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// client internals
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conn {
    Connecting,
    Open(u64),
    Closed,
}

type Reply = oneshot::Sender<Result<Resp>>;

enum Enqueue {
    Sent,
    /// Another connection than the one the caller saw: look again.
    Stale,
    NoWriter,
    Failed,
}

struct Pending {
    tx: Reply,
    /// A subscribe request: the subscription and the partitions this server subscription covers.
    sub: Option<(Arc<SubShared>, Option<Vec<i32>>)>,
}

#[derive(Default)]
struct State {
    writer: Option<mpsc::UnboundedSender<WsMessage>>,
    connection: u64,
    pending: HashMap<i64, Pending>,
    by_id: HashMap<i64, Arc<SubShared>>,
    subs: Vec<Arc<SubShared>>,
    closed: bool,
    /// The gateway's final close (code, reason), once it said not to reconnect.
    ended: Option<(u16, String)>,
}

struct Inner {
    /// Where the client may connect, in the order they are tried.
    targets: Vec<conn::Target>,
    /// Into `targets`: the current connection's, or the next attempt's.
    at: AtomicUsize,
    options: Options,
    token: Mutex<Option<String>>,
    tls: Option<Arc<rustls::ClientConfig>>,
    state: Mutex<State>,
    conn: watch::Sender<Conn>,
    next_seq: AtomicI64,
    close: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct SubShared {
    spec: pb::CmdKafkaSubscribe,
    subscribed_at: Instant,
    st: Mutex<SubState>,
}

#[derive(Default)]
struct SubState {
    tx: Option<mpsc::UnboundedSender<Event>>,
    ids: Vec<i64>,
    /// Server subscription id -> the partitions it covers (None = the spec's).
    covers: HashMap<i64, Option<Vec<i32>>>,
    /// Next offset to deliver per (topic, partition): last delivered + 1.
    next: BTreeMap<(String, i32), i64>,
    /// The epoch of the last delivered message per topic (when the route tracks epochs).
    epochs: HashMap<String, u64>,
    /// Partition -> (earliest, end) just before a LATEST/LAST subscription started.
    baseline: Option<HashMap<i32, (i64, i64)>>,
    closed: bool,
    resubscriptions: u32,
}

impl SubShared {
    fn grouped(&self) -> bool {
        !self.spec.group.is_empty()
    }
}

/// Opens a client; returns once the first connection is open ([`Error::Connect`] when that
/// first attempt fails: later losses are reconnected by the client).
///
/// The URL is a route's ws:// or wss:// URL (http:// and https:// are mapped to them). For
/// several gateway replicas serving the route, see [`connect_any`].
///
/// ```no_run
/// # async fn run() -> Result<(), pubsub_client::Error> {
/// use std::time::Duration;
/// let options = pubsub_client::Options::default()
///     .token("eyJ...")
///     .ca_file("/etc/ssl/my-ca.pem")
///     .request_timeout(Duration::from_secs(5));
/// let client = pubsub_client::connect("wss://gw.example.com/chat", options).await?;
/// client.ping("hi").await?;
/// # Ok(())
/// # }
/// ```
pub async fn connect(url: &str, options: Options) -> Result<Client> {
    connect_any(&[url], options).await
}

/// Opens a client on the first of `urls` that accepts a connection: the same route on several
/// gateway replicas. Each URL gets one attempt, in order ([`Error::Connect`] naming every
/// failure when none connects). Afterwards, whenever an attempt fails or the connection is
/// lost, the next attempt goes to the next URL (round robin), with the backoff of
/// [`Options::reconnect`]; subscriptions resume there from their last delivered positions.
///
/// ```no_run
/// # async fn run() -> Result<(), pubsub_client::Error> {
/// let client = pubsub_client::connect_any(
///     &["wss://gw-a.example.com/chat", "wss://gw-b.example.com/chat"],
///     pubsub_client::Options::default(),
/// )
/// .await?;
/// println!("connected to {}", client.url());
/// # Ok(())
/// # }
/// ```
pub async fn connect_any<S: AsRef<str>>(urls: &[S], options: Options) -> Result<Client> {
    if urls.is_empty() {
        return Err(Error::Url("no URL to connect to".into()));
    }
    let targets = urls
        .iter()
        .map(|u| conn::parse_url(u.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    let tls = if targets.iter().any(|t| t.tls) {
        Some(conn::tls_config(options.ca_file.as_deref())?)
    } else {
        None
    };
    let (conn_tx, _) = watch::channel(Conn::Connecting);
    let inner = Arc::new(Inner {
        targets,
        at: AtomicUsize::new(0),
        token: Mutex::new(options.token.clone()),
        options,
        tls,
        state: Mutex::new(State::default()),
        conn: conn_tx,
        next_seq: AtomicI64::new(1),
        close: Notify::new(),
    });
    let mut failures = Vec::new();
    let ws = loop {
        match inner.dial().await {
            Ok(ws) => break ws,
            Err(e) if inner.targets.len() == 1 => return Err(e),
            Err(e) => {
                let why = match e {
                    Error::Connect(m) => m,
                    other => other.to_string(),
                };
                failures.push(format!("{}: {why}", inner.url()));
                if failures.len() == inner.targets.len() {
                    return Err(Error::Connect(format!(
                        "none of {} URLs: {}",
                        failures.len(),
                        failures.join("; ")
                    )));
                }
                inner.next_target();
            }
        }
    };
    tokio::spawn(supervise(inner.clone(), ws));
    let mut rx = inner.conn.subscribe();
    let _ = rx.wait_for(|c| *c != Conn::Connecting).await;
    Ok(Client {
        _guard: Arc::new(CloseGuard(inner.clone())),
        inner,
    })
}

impl Inner {
    fn target(&self) -> &conn::Target {
        &self.targets[self.at.load(Ordering::Relaxed) % self.targets.len()]
    }

    fn url(&self) -> &str {
        &self.target().url
    }

    /// The next attempt goes to the next URL (with one, the same).
    fn next_target(&self) {
        let n = self.targets.len();
        let _ = self
            .at
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |i| Some((i + 1) % n));
    }

    /// One attempt at the current URL.
    async fn dial(&self) -> Result<conn::Ws> {
        let token = lock(&self.token).clone();
        let target = self.target();
        let attempt = conn::dial(
            target,
            token.as_deref(),
            &self.options.protocols,
            self.tls.as_ref(),
        );
        match tokio::time::timeout(self.options.connect_timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(Error::Connect(format!(
                "{}: no connection within {:?}",
                target.url, self.options.connect_timeout
            ))),
        }
    }

    fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Sends one request and waits for its reply. `on_conn`: only on this connection (a
    /// resubscription must not land on a later one, which resubscribes by itself).
    async fn request(
        self: &Arc<Self>,
        req: Req,
        sub: Option<(Arc<SubShared>, Option<Vec<i32>>)>,
        extra: Duration,
        on_conn: Option<u64>,
    ) -> Result<Resp> {
        let timeout = self.options.request_timeout;
        let deadline = (!timeout.is_zero()).then(|| tokio::time::Instant::now() + timeout + extra);
        let within = async {
            let mut rx = self.conn.subscribe();
            let sub = sub;
            let reply = loop {
                let c = *rx.borrow_and_update();
                match c {
                    Conn::Closed => return Err(self.closed_error()),
                    Conn::Connecting => {
                        if on_conn.is_some() {
                            return Err(Error::Disconnected);
                        }
                        if rx.changed().await.is_err() {
                            return Err(Error::Closed);
                        }
                        continue;
                    }
                    Conn::Open(n) => {
                        if on_conn.is_some_and(|want| want != n) {
                            return Err(Error::Disconnected);
                        }
                        let sequence = self.next_seq.fetch_add(1, Ordering::Relaxed);
                        let frame = pb::PubSubReq {
                            sequence,
                            req: Some(req.clone()),
                        }
                        .encode_to_vec();
                        let (tx, reply) = oneshot::channel();
                        match self.enqueue(n, sequence, tx, sub.clone(), frame) {
                            Enqueue::Sent => break (sequence, reply),
                            Enqueue::Stale => continue,
                            Enqueue::NoWriter => {
                                if on_conn.is_some() {
                                    return Err(Error::Disconnected);
                                }
                                if rx.changed().await.is_err() {
                                    return Err(Error::Closed);
                                }
                                continue;
                            }
                            Enqueue::Failed => return Err(Error::Disconnected),
                        }
                    }
                }
            };
            let (sequence, reply) = reply;
            let guard = PendingGuard {
                inner: self,
                sequence,
            };
            let r = reply.await.unwrap_or(Err(Error::Disconnected));
            drop(guard);
            r
        };
        match deadline {
            Some(d) => tokio::time::timeout_at(d, within)
                .await
                .unwrap_or(Err(Error::Timeout(timeout + extra))),
            None => within.await,
        }
    }

    /// Registers a request and hands its frame to connection `n`'s writer.
    fn enqueue(
        &self,
        n: u64,
        sequence: i64,
        tx: Reply,
        sub: Option<(Arc<SubShared>, Option<Vec<i32>>)>,
        frame: Vec<u8>,
    ) -> Enqueue {
        let mut st = lock(&self.state);
        if st.connection != n {
            return Enqueue::Stale;
        }
        let Some(writer) = st.writer.clone() else {
            return Enqueue::NoWriter;
        };
        st.pending.insert(sequence, Pending { tx, sub });
        if writer.send(WsMessage::Binary(frame.into())).is_err() {
            st.pending.remove(&sequence);
            return Enqueue::Failed;
        }
        Enqueue::Sent
    }

    /// Called by the reader for every frame.
    fn on_frame(self: &Arc<Self>, resp: pb::PubSubResp) {
        let sequence = resp.sequence;
        match resp.resp {
            Some(Resp::KafkaPush(push)) => self.on_push(push),
            Some(other) => {
                let Some(p) = lock(&self.state).pending.remove(&sequence) else {
                    return;
                };
                let result = match other {
                    Resp::ErrorResp(e) => Err(Error::Server {
                        code: e.code,
                        message: e.message,
                    }),
                    Resp::KafkaSubscribeResp(r) => {
                        if let Some((sub, covers)) = p.sub {
                            self.register(&sub, r.subscription_id, covers);
                        }
                        Ok(Resp::KafkaSubscribeResp(r))
                    }
                    other => Ok(other),
                };
                let _ = p.tx.send(result);
            }
            None => {
                if let Some(p) = lock(&self.state).pending.remove(&sequence) {
                    let _ = p.tx.send(Err(Error::Protocol("an empty reply".into())));
                }
            }
        }
    }

    /// The subscribe reply, before any push for it is read: from now on its pushes are routed.
    fn register(self: &Arc<Self>, sub: &Arc<SubShared>, id: i64, covers: Option<Vec<i32>>) {
        let mut st = lock(&self.state);
        let mut s = lock(&sub.st);
        if s.closed {
            drop(s);
            drop(st);
            let inner = self.clone();
            tokio::spawn(async move {
                let _ = inner
                    .request(
                        Req::CmdUnsubscribe(pb::CmdUnsubscribe {
                            subscription_id: id,
                        }),
                        None,
                        Duration::ZERO,
                        None,
                    )
                    .await;
            });
            return;
        }
        s.ids.push(id);
        s.covers.insert(id, covers);
        st.by_id.insert(id, sub.clone());
        if !st.subs.iter().any(|x| Arc::ptr_eq(x, sub)) {
            st.subs.push(sub.clone());
        }
    }

    fn on_push(&self, push: pb::KafkaPush) {
        let Some(sub) = lock(&self.state).by_id.get(&push.subscription_id).cloned() else {
            return;
        };
        let mut s = lock(&sub.st);
        if s.closed {
            return;
        }
        let Some(tx) = s.tx.clone() else { return };
        if push.reset {
            let topic = if sub.spec.topic.is_empty() {
                push.messages
                    .first()
                    .map(|m| m.topic.clone())
                    .unwrap_or_default()
            } else {
                sub.spec.topic.clone()
            };
            let covers = s.covers.get(&push.subscription_id).cloned().flatten();
            s.next
                .retain(|(t, p), _| *t != topic || covers.as_ref().is_some_and(|c| !c.contains(p)));
            let _ = tx.send(Event::Reset {
                topic,
                partitions: covers,
            });
        }
        if push.dropped > 0 {
            let _ = tx.send(Event::Gap {
                count: push.dropped,
            });
        }
        for m in push.messages {
            // A message of a route without history has no position (offset -1): there is
            // nothing to de-duplicate or resume from.
            if m.offset < 0 {
                let _ = tx.send(Event::Message(m));
                continue;
            }
            let key = (m.topic.clone(), m.partition);
            // Without a group, every (topic, partition, offset) is delivered once: after a
            // reconnect two server subscriptions can cover one partition for a moment.
            if !sub.grouped() && s.next.get(&key).is_some_and(|next| m.offset < *next) {
                continue;
            }
            s.next.insert(key, m.offset + 1);
            if m.epoch != 0 {
                s.epochs.insert(m.topic.clone(), m.epoch);
            }
            let _ = tx.send(Event::Message(m));
        }
    }

    /// The connection is gone: what was in flight fails, server subscription ids are forgotten.
    fn on_disconnect(&self) {
        let mut st = lock(&self.state);
        st.writer = None;
        let why = st.closed;
        let ended = st.ended.clone();
        for (_, p) in st.pending.drain() {
            let _ = p.tx.send(Err(match &ended {
                Some((code, reason)) => Error::Ended {
                    code: *code,
                    reason: reason.clone(),
                },
                None if why => Error::Closed,
                None => Error::Disconnected,
            }));
        }
        st.by_id.clear();
        for sub in &st.subs {
            let mut s = lock(&sub.st);
            s.ids.clear();
            s.covers.clear();
        }
    }

    /// Why requests fail once the client is closed: the gateway's final close, or Closed.
    fn closed_error(&self) -> Error {
        match &lock(&self.state).ended {
            Some((code, reason)) => Error::Ended {
                code: *code,
                reason: reason.clone(),
            },
            None => Error::Closed,
        }
    }

    /// No more connections: requests fail with Closed, subscription streams end.
    fn shut(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        let ended = st.ended.clone();
        for sub in st.subs.drain(..) {
            let tx = lock(&sub.st).tx.take();
            if let (Some(tx), Some((code, reason))) = (tx, &ended) {
                let _ = tx.send(Event::Ended {
                    code: *code,
                    reason: reason.clone(),
                });
            }
        }
        drop(st);
        self.conn.send_replace(Conn::Closed);
    }
}

/// Removes a request's pending entry when its caller stops waiting (timeout, cancellation).
struct PendingGuard<'a> {
    inner: &'a Inner,
    sequence: i64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.inner.state).pending.remove(&self.sequence);
    }
}

/// Owns the connection: reads frames, and reconnects with backoff when it is lost.
async fn supervise(inner: Arc<Inner>, first: conn::Ws) {
    let mut ws = Some(first);
    loop {
        let Some(sock) = ws.take() else { break };
        let (mut sink, mut stream) = sock.split();
        let (wtx, mut wrx) = mpsc::unbounded_channel::<WsMessage>();
        let writer = tokio::spawn(async move {
            while let Some(m) = wrx.recv().await {
                if sink.feed(m).await.is_err() {
                    return;
                }
                // Write what is queued in one go, then flush.
                while let Ok(m) = wrx.try_recv() {
                    if sink.feed(m).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            let _ = sink.send(WsMessage::Close(None)).await;
            let _ = sink.close().await;
        });
        let n = {
            let mut st = lock(&inner.state);
            if st.closed {
                drop(wtx);
                None
            } else {
                st.connection += 1;
                st.writer = Some(wtx);
                Some(st.connection)
            }
        };
        let Some(n) = n else {
            // Closed while connecting: the writer sends a close frame as it ends.
            let _ = writer.await;
            break;
        };
        inner.conn.send_replace(Conn::Open(n));
        if n > 1 {
            let subs = lock(&inner.state).subs.clone();
            for sub in subs {
                tokio::spawn(resubscribe(inner.clone(), sub, n));
            }
        }
        let closing = loop {
            tokio::select! {
                frame = stream.next() => match frame {
                    Some(Ok(WsMessage::Binary(b))) => match pb::PubSubResp::decode(b) {
                        Ok(resp) => inner.on_frame(resp),
                        Err(_) => continue,
                    },
                    Some(Ok(WsMessage::Close(Some(f))))
                        if final_close(f.code.into(), &f.reason).is_some() =>
                    {
                        lock(&inner.state).ended = Some((f.code.into(), f.reason.to_string()));
                        break true;
                    }
                    Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break false,
                    Some(Ok(_)) => continue,
                },
                _ = inner.close.notified() => break true,
            }
        };
        if closing {
            lock(&inner.state).closed = true;
        }
        inner.on_disconnect();
        if !inner.is_closed() {
            inner.conn.send_replace(Conn::Connecting);
        }
        // The writer ends once its sender is gone (on_disconnect dropped it): with a close frame.
        let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
        if inner.is_closed() {
            break;
        }
        let Some(backoff) = inner.options.reconnect.clone() else {
            break;
        };
        // A lost connection: the next attempt goes to the next URL, and so does each one after
        // a failed attempt.
        inner.next_target();
        let mut attempt = 0u32;
        while ws.is_none() {
            if backoff.max_attempts.is_some_and(|m| attempt >= m) {
                break;
            }
            let delay = backoff.delay(attempt);
            attempt += 1;
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = inner.close.notified() => {
                    lock(&inner.state).closed = true;
                    break;
                }
            }
            if inner.is_closed() {
                break;
            }
            match inner.dial().await {
                Ok(sock) => ws = Some(sock),
                Err(_) => inner.next_target(),
            }
        }
    }
    inner.shut();
}

/// After a reconnect: a group subscription rejoins its group (its commits apply); the others
/// resume each partition at the last delivered offset + 1, and partitions that delivered nothing
/// yet from where the original start put them.
async fn resubscribe(inner: Arc<Inner>, sub: Arc<SubShared>, conn: u64) {
    loop {
        if lock(&sub.st).closed {
            return;
        }
        let result = async {
            let plans = plan_resubscription(&inner, &sub, conn).await?;
            for (wire, covers) in plans {
                if lock(&sub.st).closed {
                    return Ok(());
                }
                inner
                    .request(
                        Req::CmdKafkaSubscribe(wire),
                        Some((sub.clone(), covers)),
                        Duration::ZERO,
                        Some(conn),
                    )
                    .await?;
            }
            lock(&sub.st).resubscriptions += 1;
            Ok::<_, Error>(())
        }
        .await;
        let Err(e) = result else { return };
        if e.is_connection() {
            // The next connection resubscribes by itself.
            return;
        }
        // Undo a partial resubscription and try again shortly.
        let ids = {
            let mut s = lock(&sub.st);
            s.covers.clear();
            std::mem::take(&mut s.ids)
        };
        for id in ids {
            lock(&inner.state).by_id.remove(&id);
            let _ = inner
                .request(
                    Req::CmdUnsubscribe(pb::CmdUnsubscribe {
                        subscription_id: id,
                    }),
                    None,
                    Duration::ZERO,
                    Some(conn),
                )
                .await;
        }
        if let Some(tx) = lock(&sub.st).tx.clone() {
            let _ = tx.send(Event::Error(e));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if *inner.conn.borrow() != Conn::Open(conn) {
            return;
        }
    }
}

type Plan = (pb::CmdKafkaSubscribe, Option<Vec<i32>>);

async fn plan_resubscription(inner: &Arc<Inner>, sub: &SubShared, conn: u64) -> Result<Vec<Plan>> {
    let spec = &sub.spec;
    let original = || {
        let mut w = spec.clone();
        // TIME_DELTA moves back by the time since the subscription began.
        if w.start == pb::StartPosition::TimeDelta as i32 {
            w.start_value += sub.subscribed_at.elapsed().as_millis() as i64;
        }
        w
    };
    if sub.grouped() {
        return Ok(vec![(spec.clone(), None)]);
    }
    let caps = capabilities(inner, conn).await?;
    if let Some(c) = &caps {
        if !c.starts.contains(&(pb::StartPosition::Offset as i32)) {
            // A route without positions to resume from (a live one): subscribe as at first.
            return Ok(vec![(original(), None)]);
        }
    }
    let mut plans = plan_positions(inner, sub, conn, caps.as_ref()).await?;
    // A route without numbered partitions (JetStream, Redis streams: one log per topic, its
    // partition 0) refuses `partitions`: there each plan's topic is that one partition.
    if caps.as_ref().is_some_and(|c| !c.partitions) {
        for (wire, _) in &mut plans {
            wire.partitions.clear();
        }
    }
    Ok(plans)
}

/// The route's capabilities, asked on connection `conn` (a replica may differ from the last
/// one); None from a gateway that does not answer route_info.
async fn capabilities(inner: &Arc<Inner>, conn: u64) -> Result<Option<pb::RouteCapabilities>> {
    let r = inner
        .request(
            Req::CmdRouteInfo(pb::CmdRouteInfo {}),
            None,
            Duration::ZERO,
            Some(conn),
        )
        .await;
    match r {
        Ok(Resp::RouteInfoResp(info)) => Ok(info.capabilities),
        Ok(other) => Err(unexpected("route_info", &other)),
        Err(Error::Server { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Each partition from the last delivered offset + 1, or from where the original start put it.
async fn plan_positions(
    inner: &Arc<Inner>,
    sub: &SubShared,
    conn: u64,
    caps: Option<&pb::RouteCapabilities>,
) -> Result<Vec<Plan>> {
    let spec = &sub.spec;
    let original = || {
        let mut w = spec.clone();
        // TIME_DELTA moves back by the time since the subscription began.
        if w.start == pb::StartPosition::TimeDelta as i32 {
            w.start_value += sub.subscribed_at.elapsed().as_millis() as i64;
        }
        w
    };
    let offset_plan = |topic: &str, partitions: Vec<i32>, offset: i64, epoch: u64| {
        let mut w = spec.clone();
        w.topic = topic.to_string();
        w.topic_pattern = String::new();
        w.partitions = partitions.clone();
        w.start = pb::StartPosition::Offset as i32;
        w.start_value = offset;
        w.start_epoch = epoch;
        (w, Some(partitions))
    };
    let (next, epochs, baseline) = {
        let s = lock(&sub.st);
        (s.next.clone(), s.epochs.clone(), s.baseline.clone())
    };
    let mut plans = Vec::new();
    if spec.topic.is_empty() {
        // A pattern: the known topic-partitions exactly, plus the pattern itself for the others
        // (the duplicate filter drops what it repeats).
        let mut by: BTreeMap<(String, i64), Vec<i32>> = BTreeMap::new();
        for ((t, p), o) in &next {
            by.entry((t.clone(), *o)).or_default().push(*p);
        }
        for ((t, o), ps) in by {
            let epoch = epochs.get(&t).copied().unwrap_or(0);
            plans.push(offset_plan(&t, ps, o, epoch));
        }
        plans.push((original(), None));
        return Ok(plans);
    }
    let epoch = epochs.get(&spec.topic).copied().unwrap_or(0);
    let mut partitions = spec.partitions.clone();
    if partitions.is_empty() {
        let mut known: Vec<i32> = if caps.is_some_and(|c| !c.offsets) {
            Vec::new()
        } else {
            match end_offsets(inner, &spec.topic, Some(conn)).await? {
                Some(m) => m.keys().copied().collect(),
                None => Vec::new(),
            }
        };
        known.extend(
            next.keys()
                .filter(|(t, _)| *t == spec.topic)
                .map(|(_, p)| *p),
        );
        if let Some(b) = &baseline {
            known.extend(b.keys().copied());
        }
        known.sort_unstable();
        known.dedup();
        partitions = known;
    }
    if partitions.is_empty() {
        let mut w = original();
        if baseline.is_some() {
            // The topic did not exist when the LATEST/LAST subscription started (nor now): all
            // of its messages are newer than the subscription, including any published between
            // this lookup and the resubscription.
            w.start = pb::StartPosition::Earliest as i32;
            w.start_value = 0;
        }
        w.start_epoch = epoch;
        return Ok(vec![(w, None)]);
    }
    let mut by_offset: BTreeMap<i64, Vec<i32>> = BTreeMap::new();
    let mut earliest = Vec::new();
    let mut as_original = Vec::new();
    for p in partitions {
        if let Some(o) = next.get(&(spec.topic.clone(), p)) {
            by_offset.entry(*o).or_default().push(p);
            continue;
        }
        match &baseline {
            None => as_original.push(p),
            // Not there before the subscription: all of its messages are newer than it.
            Some(b) => match b.get(&p) {
                None => earliest.push(p),
                Some((_, end)) if spec.start == pb::StartPosition::Latest as i32 => {
                    by_offset.entry(*end).or_default().push(p)
                }
                // LAST: the last message that existed then, if any.
                Some((first, end)) if end > first => by_offset.entry(end - 1).or_default().push(p),
                Some(_) => earliest.push(p),
            },
        }
    }
    for (o, ps) in by_offset {
        plans.push(offset_plan(&spec.topic, ps, o, epoch));
    }
    if !earliest.is_empty() {
        let mut w = spec.clone();
        w.partitions = earliest.clone();
        w.start = pb::StartPosition::Earliest as i32;
        w.start_value = 0;
        w.start_epoch = epoch;
        plans.push((w, Some(earliest)));
    }
    if !as_original.is_empty() {
        let mut w = original();
        w.partitions = as_original.clone();
        w.start_epoch = epoch;
        plans.push((w, Some(as_original)));
    }
    Ok(plans)
}

/// partition -> (earliest, end); an empty map when the topic does not exist yet.
async fn end_offsets(
    inner: &Arc<Inner>,
    topic: &str,
    conn: Option<u64>,
) -> Result<Option<HashMap<i32, (i64, i64)>>> {
    let r = inner
        .request(
            Req::CmdKafkaMetadata(pb::CmdKafkaMetadata {
                topic: topic.to_string(),
            }),
            None,
            Duration::ZERO,
            conn,
        )
        .await;
    match r {
        Ok(Resp::KafkaMetadataResp(m)) => Ok(Some(
            m.partitions
                .iter()
                .map(|p| (p.partition, (p.earliest, p.latest)))
                .collect(),
        )),
        Ok(other) => Err(unexpected("metadata", &other)),
        Err(Error::Server { code: 404, .. }) => Ok(Some(HashMap::new())),
        Err(e) => Err(e),
    }
}

fn unexpected(what: &str, resp: &Resp) -> Error {
    Error::Protocol(format!("expected a {what} reply, got {resp:?}"))
}

struct CloseGuard(Arc<Inner>);

impl Drop for CloseGuard {
    fn drop(&mut self) {
        self.0.close.notify_waiters();
        lock(&self.0.state).closed = true;
        self.0.close.notify_one();
    }
}

// ---------------------------------------------------------------------------------------------
// public client
// ---------------------------------------------------------------------------------------------

/// A connection to one route. Cheap to clone; all clones share the connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// Closes the connection when the last clone (and subscription) is gone.
    _guard: Arc<CloseGuard>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.url())
            .field("connections", &self.connections())
            .finish()
    }
}

macro_rules! expect_resp {
    ($r:expr, $variant:ident, $what:literal) => {
        match $r {
            Resp::$variant(x) => Ok(x),
            other => Err(unexpected($what, &other)),
        }
    };
}

impl Client {
    /// Sends any request and returns its reply (an `ErrorResp` becomes [`Error::Server`]).
    pub async fn request(&self, req: Req) -> Result<Resp> {
        self.inner.request(req, None, Duration::ZERO, None).await
    }

    /// Application-level ping: the gateway echoes `state`.
    pub async fn ping(&self, state: impl Into<Bytes>) -> Result<Bytes> {
        let r = self
            .request(Req::CmdPing(pb::CmdPing {
                state: state.into(),
            }))
            .await?;
        expect_resp!(r, PongResp, "pong").map(|p| p.state)
    }

    /// Publishes a value without key or headers.
    pub async fn publish(&self, topic: &str, value: impl Into<Bytes>) -> Result<Produced> {
        self.produce(Publish::new(topic, value)).await
    }

    /// Publishes a message; returns once the broker stored it.
    ///
    /// ```no_run
    /// # async fn run(client: pubsub_client::Client) -> Result<(), pubsub_client::Error> {
    /// use pubsub_client::Publish;
    /// let at = client
    ///     .produce(Publish::new("orders", "{}").key("customer-7").header("type", "created"))
    ///     .await?;
    /// println!("stored at {}/{}", at.partition, at.offset);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Every produce carries an idempotency key ([`Publish::idempotency_key`], or a random
    /// one): when the connection is lost before the reply, the produce is sent again with the
    /// same key once the client has reconnected (within the request timeout), and the gateway
    /// stores it once.
    pub async fn produce(&self, message: Publish) -> Result<Produced> {
        let mut cmd = message.cmd;
        if cmd.idempotency_key.is_empty() {
            cmd.idempotency_key = new_idempotency_key();
        }
        let timeout = self.inner.options.request_timeout;
        let started = tokio::time::Instant::now();
        let r = loop {
            match self.request(Req::CmdKafkaProduce(cmd.clone())).await {
                Err(Error::Disconnected)
                    if self.inner.options.reconnect.is_some()
                        && !cmd.idempotency_key.is_empty()
                        && (timeout.is_zero() || started.elapsed() < timeout) => {}
                r => break r?,
            }
        };
        expect_resp!(r, KafkaProduceResp, "produce").map(|p| Produced {
            partition: p.partition,
            offset: p.offset,
        })
    }

    /// Messages of one partition from `offset` on (416 when it is outside [earliest, end]).
    pub async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        options: FetchOptions,
    ) -> Result<Vec<Message>> {
        let r = self
            .inner
            .request(
                Req::CmdKafkaFetch(pb::CmdKafkaFetch {
                    topic: topic.to_string(),
                    partition,
                    offset,
                    max_messages: options.max_messages,
                    max_bytes: options.max_bytes,
                    max_wait_ms: options.max_wait.as_millis().min(i32::MAX as u128) as i32,
                }),
                None,
                options.max_wait,
                None,
            )
            .await?;
        expect_resp!(r, KafkaFetchResp, "fetch").map(|f| f.messages)
    }

    /// `timestamp`: [`LATEST`] (-1) the end offset, [`EARLIEST`] (-2) the earliest retained,
    /// else the first offset at or after it (ms since the epoch; -1 when there is none).
    pub async fn list_offset(&self, topic: &str, partition: i32, timestamp: i64) -> Result<i64> {
        let r = self
            .request(Req::CmdKafkaListOffset(pb::CmdKafkaListOffset {
                topic: topic.to_string(),
                partition,
                timestamp,
            }))
            .await?;
        expect_resp!(r, KafkaListOffsetResp, "list_offset").map(|o| o.offset)
    }

    /// A topic's partitions with their earliest and end offsets (404 for an unknown topic).
    pub async fn metadata(&self, topic: &str) -> Result<pb::KafkaMetadataResp> {
        let r = self
            .request(Req::CmdKafkaMetadata(pb::CmdKafkaMetadata {
                topic: topic.to_string(),
            }))
            .await?;
        expect_resp!(r, KafkaMetadataResp, "metadata")
    }

    /// The route's scheme and what it can do (start positions, fetch, groups, ack, ...).
    pub async fn route_info(&self) -> Result<pb::RouteInfoResp> {
        let r = self.request(Req::CmdRouteInfo(pb::CmdRouteInfo {})).await?;
        expect_resp!(r, RouteInfoResp, "route_info")
    }

    /// Replaces the connection's credential before it expires (401 keeps the old one). Later
    /// reconnects use the new token.
    pub async fn refresh(&self, token: &str) -> Result<()> {
        let r = self
            .request(Req::CmdRefresh(pb::CmdRefresh {
                token: token.to_string(),
            }))
            .await?;
        expect_resp!(r, OkResp, "refresh")?;
        *lock(&self.inner.token) = Some(token.to_string());
        Ok(())
    }

    /// Commits offsets (the next offset to read) for a server subscription id. Prefer
    /// [`SubscriptionHandle::commit`], which follows the subscription across reconnects.
    pub async fn commit(&self, subscription_id: i64, offsets: &[(&str, i32, i64)]) -> Result<()> {
        let r = self
            .request(Req::CmdKafkaCommit(pb::CmdKafkaCommit {
                subscription_id,
                offsets: offsets
                    .iter()
                    .map(|(t, p, o)| pb::KafkaPartitionOffset {
                        topic: t.to_string(),
                        partition: *p,
                        offset: *o,
                    })
                    .collect(),
            }))
            .await?;
        expect_resp!(r, OkResp, "commit").map(|_| ())
    }

    /// Subscribes; returns once the gateway accepted it. The [`Subscription`] is a stream of
    /// [`Event`]s and survives reconnects.
    pub async fn subscribe(&self, what: Subscribe) -> Result<Subscription> {
        let spec = what.cmd;
        let (tx, rx) = mpsc::unbounded_channel();
        let sub = Arc::new(SubShared {
            spec: spec.clone(),
            subscribed_at: Instant::now(),
            st: Mutex::new(SubState {
                tx: Some(tx),
                ..Default::default()
            }),
        });
        // LATEST and LAST are positions of the moment: remember where each partition ended just
        // before subscribing, so a reconnect resumes partitions that delivered nothing yet from
        // there (at or before the real start: no gap, and never a message twice).
        let moment = spec.start == pb::StartPosition::Latest as i32
            || spec.start == pb::StartPosition::Last as i32;
        if !spec.topic.is_empty() && spec.group.is_empty() && moment {
            let baseline = end_offsets(&self.inner, &spec.topic, None)
                .await
                .ok()
                .flatten();
            lock(&sub.st).baseline = baseline;
        }
        let covers = (!spec.partitions.is_empty()).then(|| spec.partitions.clone());
        self.inner
            .request(
                Req::CmdKafkaSubscribe(spec),
                Some((sub.clone(), covers)),
                Duration::ZERO,
                None,
            )
            .await?;
        Ok(Subscription {
            handle: SubscriptionHandle {
                client: self.clone(),
                sub,
            },
            rx,
        })
    }

    /// Closes the connection for good (no reconnect); subscription streams end.
    pub async fn close(&self) {
        lock(&self.inner.state).closed = true;
        self.inner.close.notify_waiters();
        self.inner.close.notify_one();
        let mut rx = self.inner.conn.subscribe();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|c| *c == Conn::Closed)).await;
    }

    /// The URL of the current connection, or of the next attempt while reconnecting (without
    /// the token).
    pub fn url(&self) -> String {
        self.inner.url().to_string()
    }

    /// Every URL the client may connect to, in the order they are tried (without the token).
    pub fn urls(&self) -> Vec<String> {
        self.inner.targets.iter().map(|t| t.url.clone()).collect()
    }

    /// True while a connection is open.
    pub fn is_connected(&self) -> bool {
        matches!(*self.inner.conn.borrow(), Conn::Open(_))
    }

    /// Connections opened so far (1 after the first, +1 per reconnect).
    pub fn connections(&self) -> u64 {
        lock(&self.inner.state).connection
    }

    /// Waits until a connection is open after `connections` (e.g. for a reconnect).
    pub async fn wait_connection(&self, after: u64) -> Result<u64> {
        let mut rx = self.inner.conn.subscribe();
        let c = rx
            .wait_for(|c| matches!(c, Conn::Open(n) if *n > after) || *c == Conn::Closed)
            .await
            .map_err(|_| Error::Closed)?;
        match *c {
            Conn::Open(n) => Ok(n),
            _ => Err(Error::Closed),
        }
    }
}

/// A handle to a subscription: commit, ack, nack, unsubscribe. Cheap to clone (e.g. into the
/// task that processes messages while the [`Subscription`] stream is read elsewhere).
#[derive(Clone)]
pub struct SubscriptionHandle {
    client: Client,
    sub: Arc<SubShared>,
}

impl SubscriptionHandle {
    /// The server subscription ids on the current connection (several after a reconnect that
    /// resumed partitions at different offsets; none while reconnecting).
    pub fn ids(&self) -> Vec<i64> {
        lock(&self.sub.st).ids.clone()
    }

    /// Next offset to deliver per (topic, partition): last delivered + 1.
    pub fn positions(&self) -> Vec<(String, i32, i64)> {
        lock(&self.sub.st)
            .next
            .iter()
            .map(|((t, p), o)| (t.clone(), *p, *o))
            .collect()
    }

    /// How often the subscription was re-established after a reconnect.
    pub fn resubscriptions(&self) -> u32 {
        lock(&self.sub.st).resubscriptions
    }

    fn live_ids(&self) -> Result<Vec<i64>> {
        let s = lock(&self.sub.st);
        if s.closed {
            return Err(Error::Closed);
        }
        if s.ids.is_empty() {
            return Err(Error::NotSubscribed);
        }
        Ok(s.ids.clone())
    }

    async fn to_all(&self, make: impl Fn(i64) -> Req) -> Result<()> {
        for id in self.live_ids()? {
            let r = self.client.request(make(id)).await?;
            expect_resp!(r, OkResp, "ok")?;
        }
        Ok(())
    }

    /// Commits offsets (the next offset to read, Kafka's convention) for the group and as
    /// acknowledgement of pushed messages below them (`max_in_flight`).
    pub async fn commit(&self, offsets: &[(&str, i32, i64)]) -> Result<()> {
        let offsets: Vec<pb::KafkaPartitionOffset> = offsets
            .iter()
            .map(|(t, p, o)| pb::KafkaPartitionOffset {
                topic: t.to_string(),
                partition: *p,
                offset: *o,
            })
            .collect();
        self.to_all(|subscription_id| {
            Req::CmdKafkaCommit(pb::CmdKafkaCommit {
                subscription_id,
                offsets: offsets.clone(),
            })
        })
        .await
    }

    /// Commits everything up to and including this message.
    pub async fn commit_message(&self, m: &Message) -> Result<()> {
        self.commit(&[(&m.topic, m.partition, m.offset + 1)]).await
    }

    /// Acknowledges messages one by one (routes with `capabilities.ack`; Kafka and embedded
    /// answer the capability error: use [`commit`](Self::commit)).
    pub async fn ack(&self, messages: &[&Message]) -> Result<()> {
        let positions = positions_of(messages);
        self.to_all(|subscription_id| {
            Req::CmdAck(pb::CmdAck {
                subscription_id,
                positions: positions.clone(),
            })
        })
        .await
    }

    /// Gives messages back for redelivery after `delay` (routes with `capabilities.nack`).
    pub async fn nack(&self, messages: &[&Message], delay: Duration) -> Result<()> {
        let positions = positions_of(messages);
        let delay_ms = delay.as_millis().min(i64::MAX as u128) as i64;
        self.to_all(|subscription_id| {
            Req::CmdNack(pb::CmdNack {
                subscription_id,
                positions: positions.clone(),
                delay_ms,
            })
        })
        .await
    }

    /// Stops the subscription, also across reconnects; its stream ends.
    pub async fn unsubscribe(&self) -> Result<()> {
        let ids = {
            let mut s = lock(&self.sub.st);
            if s.closed {
                return Ok(());
            }
            s.closed = true;
            s.tx = None;
            s.covers.clear();
            std::mem::take(&mut s.ids)
        };
        {
            let mut st = lock(&self.client.inner.state);
            st.subs.retain(|x| !Arc::ptr_eq(x, &self.sub));
            for id in &ids {
                st.by_id.remove(id);
            }
        }
        if !self.client.is_connected() {
            return Ok(());
        }
        for id in ids {
            let r = self
                .client
                .request(Req::CmdUnsubscribe(pb::CmdUnsubscribe {
                    subscription_id: id,
                }))
                .await;
            match r {
                Ok(_) | Err(Error::Server { code: 404, .. }) => {}
                Err(e) if e.is_connection() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn positions_of(messages: &[&Message]) -> Vec<pb::MessagePosition> {
    messages
        .iter()
        .map(|m| pb::MessagePosition {
            topic: m.topic.clone(),
            partition: m.partition,
            offset: m.offset,
            position: m.position.clone(),
        })
        .collect()
}

/// A subscription: a [`Stream`](futures_util::Stream) of [`Event`]s (or [`recv`](Self::recv)),
/// plus the [`SubscriptionHandle`] methods. It ends when unsubscribed or when the client is
/// closed for good. Dropping it unsubscribes.
///
/// Pushed messages wait here until read; to bound that for a slow reader, subscribe with
/// [`Subscribe::max_in_flight`] and commit (or ack) as you go: the gateway then pauses delivery.
pub struct Subscription {
    handle: SubscriptionHandle,
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Subscription {
    /// The next event; None once the subscription ended.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next message, skipping resets and resubscription errors.
    pub async fn next_message(&mut self) -> Option<Message> {
        loop {
            match self.rx.recv().await? {
                Event::Message(m) => return Some(m),
                _ => continue,
            }
        }
    }

    /// A clonable handle (commit, ack, nack, unsubscribe) for use elsewhere.
    pub fn handle(&self) -> SubscriptionHandle {
        self.handle.clone()
    }
}

impl std::fmt::Debug for SubscriptionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.sub.spec.topic)
            .field("topic_pattern", &self.sub.spec.topic_pattern)
            .field("ids", &self.ids())
            .finish()
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle.fmt(f)
    }
}

impl std::ops::Deref for Subscription {
    type Target = SubscriptionHandle;
    fn deref(&self) -> &SubscriptionHandle {
        &self.handle
    }
}

impl futures_util::Stream for Subscription {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if lock(&self.handle.sub.st).closed {
            return;
        }
        let handle = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = handle.unsubscribe().await;
            });
        }
    }
}
