//! Arbitrary client frames through a real session (`session::run`) on an embedded route with
//! small limits, over an in-memory WebSocket. Checks that nothing panics, that the session ends
//! once the client closes, and that every reply is a `PubSubResp` with a `resp`, a sequence the
//! client sent (0 for undecodable frames) and, for errors, one of the documented codes; pushes
//! come after their subscribe reply, with its sequence, and never after the OkResp of their
//! unsubscribe; after a clean close every request was answered exactly once, but for the
//! reader's own replies the session counts as dropped (outbound queue full).
//!
//! Input: frames, each a little-endian u16 header then that many bytes (the last one takes what
//! is left). Header bit 15 sends the frame as a text message (lossy UTF-8), bits 0-14 are the
//! length, so frames up to 32 KiB reach past `max_frame_bytes` (close 1009).
#![no_main]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use pubsub_gateway::auth::{Credentials, Identity, RouteAuth};
use pubsub_gateway::backend::{self, Backend};
use pubsub_gateway::config::Limits;
use pubsub_gateway::metrics::METRICS;
use pubsub_gateway::pb::{pub_sub_req::Req, pub_sub_resp::Resp, PubSubReq, PubSubResp};
use pubsub_gateway::session::{self, SessionContext};
use pubsub_gateway::Config;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

/// Small limits so one input can reach each of them: frame size (1009), requests in flight and
/// the rate limit (429), subscriptions, fetch bounds, topic and group counts, retention.
/// The route ACL lets some names through and refuses others (403).
const CONFIG: &str = r#"
server:
  admin_listen: null
  limits:
    max_frame_bytes: 2048
    outbound_queue: 8
    outbound_queue_bytes: 16384
    max_inflight_requests: 4
    max_subscriptions: 3
    fetch_max_messages: 16
    fetch_max_bytes: 4096
    fetch_max_wait_ms: 20
    max_requests_per_sec: 40
    max_topic_pattern_bytes: 64
    idle_timeout_secs: 10
    ping_interval_secs: 5
routes:
  - uri: /fuzz
    upstream:
      scheme: embedded
      embedded:
        partitions: 3
        retention_messages: 64
        retention_bytes: 65536
        max_topics: 16
        max_groups: 8
    plugins:
      topic-acl:
        read: ["[a-z]{1,3}", "t.*"]
        write: ["[a-z]{1,3}", "tw.*"]
        groups: ["g.*"]
"#;

/// How long the client waits after its last frame before it closes, so requests in flight finish.
/// The runtime's clock is paused and jumps forward only when every task waits, so this costs no
/// wall time and ends only once all work not waiting on a timer is done.
const SETTLE: Duration = Duration::from_millis(500);

/// The exchange must finish, and the session end, this long (paused-clock time) after the
/// client's last frame; longer than the idle timeout and the writer's linger, so only a stall
/// reaches it.
const BOUND: Duration = Duration::from_secs(120);

/// ErrorResp codes: those proto/pubsub.proto documents, and 409 (`GatewayError::Conflict`: a
/// commit for a partition the group member does not own).
const CODES: &[i32] = &[400, 401, 403, 404, 409, 416, 429, 502, 503, 504];

struct World {
    rt: Runtime,
    backend: Arc<dyn Backend>,
    limits: Arc<Limits>,
    identity: Arc<Identity>,
    /// Kept so the sessions' receivers see a live channel (no reload ever comes).
    auth: watch::Sender<Arc<RouteAuth>>,
    ws_config: WebSocketConfig,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let config = Config::parse(CONFIG, "fuzz config").expect("the fuzz config is valid");
        let route = &config.routes[0];
        // One thread: inputs run one after the other and the backend's tasks (deliveries)
        // only advance while an input runs, which keeps runs cheap. A paused clock makes
        // timers (rate limit refill, long polls, SETTLE) deterministic and free.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let backend = {
            let _guard = rt.enter();
            backend::build(route).expect("embedded backend")
        };
        let auth = RouteAuth::build(route).expect("route auth");
        let no_header = |_: &str| None;
        let query = Default::default();
        let identity = auth
            .authenticate(&Credentials {
                header: &no_header,
                query: &query,
                protocols: &[],
            })
            .unwrap_or_else(|_| panic!("an open route admits everyone"));
        let (auth, _) = watch::channel(Arc::new(auth));
        let limits = config.server.limits.clone();
        // As the server configures an upgraded connection (server.rs, build_table).
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(limits.max_frame_bytes))
            .max_frame_size(Some(limits.max_frame_bytes))
            .read_buffer_size(1024)
            .write_buffer_size(8 * 1024);
        World {
            rt,
            backend,
            limits: Arc::new(limits),
            identity: Arc::new(identity),
            auth,
            ws_config,
        }
    })
}

fn split_frames(mut data: &[u8]) -> Vec<Message> {
    let mut frames = Vec::new();
    while data.len() >= 2 {
        let header = u16::from_le_bytes([data[0], data[1]]);
        data = &data[2..];
        let len = usize::from(header & 0x7fff).min(data.len());
        let (body, rest) = data.split_at(len);
        data = rest;
        frames.push(if header & 0x8000 != 0 {
            Message::Text(String::from_utf8_lossy(body).into_owned().into())
        } else {
            Message::Binary(Bytes::copy_from_slice(body))
        });
    }
    frames
}

/// `FUZZ_SHOW_REPLIES=1` prints every reply, to read what a reproducer does.
fn show_replies() -> bool {
    static SHOW: OnceLock<bool> = OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("FUZZ_SHOW_REPLIES").is_some_and(|v| v == "1"))
}

/// What the client sent, and so what it may and must get back.
#[derive(Default)]
struct Sent {
    /// Sequences of requests that decode.
    sequences: HashSet<i64>,
    /// Replies owed per sequence: one per decodable request, and one with sequence 0 per
    /// undecodable binary frame.
    owed: HashMap<i64, usize>,
    /// Unsubscribes whose sequence no other request carries: sequence -> subscription id.
    unsubscribes: HashMap<i64, i64>,
}

impl Sent {
    fn new(frames: &[Message]) -> Sent {
        let mut sent = Sent::default();
        let mut unsubscribes = Vec::new();
        for m in frames {
            let Message::Binary(b) = m else { continue };
            match PubSubReq::decode(b.clone()) {
                Ok(r) => {
                    sent.sequences.insert(r.sequence);
                    *sent.owed.entry(r.sequence).or_default() += 1;
                    if let Some(Req::CmdUnsubscribe(u)) = r.req {
                        unsubscribes.push((r.sequence, u.subscription_id));
                    }
                }
                Err(_) => *sent.owed.entry(0).or_default() += 1,
            }
        }
        sent.unsubscribes = unsubscribes
            .into_iter()
            .filter(|(seq, _)| sent.owed[seq] == 1)
            .collect();
        sent
    }
}

/// What the client saw so far.
#[derive(Default)]
struct Seen {
    /// Replies other than pushes, per sequence.
    replies: HashMap<i64, usize>,
    /// Subscription id -> the sequence of the subscribe that opened it.
    subscriptions: HashMap<i64, i64>,
    /// Subscriptions whose unsubscribe was answered OkResp.
    unsubscribed: HashSet<i64>,
}

fn check_reply(frame: &[u8], sent: &Sent, seen: &mut Seen) {
    let resp = match PubSubResp::decode(frame) {
        Ok(r) => r,
        Err(e) => panic!("reply does not decode as PubSubResp: {e}; {frame:02x?}"),
    };
    if show_replies() {
        eprintln!("reply: {resp:?}");
    }
    let seq = resp.sequence;
    assert!(
        seq == 0 || sent.sequences.contains(&seq),
        "reply carries sequence {seq} the client never sent: {resp:?}"
    );
    match &resp.resp {
        None => panic!("reply without a resp: {resp:?}"),
        Some(Resp::KafkaPush(p)) => {
            let id = p.subscription_id;
            match seen.subscriptions.get(&id) {
                None => panic!("push for subscription {id} before its subscribe reply: {resp:?}"),
                Some(&s) => assert_eq!(
                    s, seq,
                    "push for subscription {id} does not carry its subscribe's sequence"
                ),
            }
            assert!(
                !seen.unsubscribed.contains(&id),
                "push for subscription {id} after the OkResp of its unsubscribe: {resp:?}"
            );
            return;
        }
        Some(Resp::ErrorResp(e)) => assert!(
            CODES.contains(&e.code),
            "error reply with an undocumented code: {resp:?}"
        ),
        Some(Resp::KafkaSubscribeResp(r)) => {
            let previous = seen.subscriptions.insert(r.subscription_id, seq);
            assert!(
                previous.is_none(),
                "subscription id {} given twice: {resp:?}",
                r.subscription_id
            );
        }
        Some(Resp::OkResp(_)) => {
            if let Some(&id) = sent.unsubscribes.get(&seq) {
                seen.unsubscribed.insert(id);
            }
        }
        Some(_) => {}
    }
    *seen.replies.entry(seq).or_default() += 1;
}

/// After a clean end (every frame sent, the client closed and the server answered with a normal
/// close), every request was answered exactly once (the client waited SETTLE before closing),
/// except the reader's own replies (refusals, undecodable frames) that found the outbound queue
/// full: those are dropped by design and counted in `replies_dropped`, so the count of missing
/// replies must equal it, and no sequence has more replies than requests.
fn check_all_answered(sent: &Sent, seen: &Seen, dropped: u64) {
    let mut missing = 0;
    for (seq, &owed) in &sent.owed {
        let got = seen.replies.get(seq).copied().unwrap_or(0);
        assert!(
            got <= owed,
            "sequence {seq}: {got} replies for {owed} requests (0 = undecodable frames)"
        );
        missing += (owed - got) as u64;
    }
    for (seq, got) in &seen.replies {
        assert!(
            sent.owed.contains_key(seq),
            "{got} replies with sequence {seq}"
        );
    }
    assert_eq!(
        missing, dropped,
        "{missing} requests without a reply, but {dropped} replies counted as dropped"
    );
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let frames = split_frames(data);
    let sent = Sent::new(&frames);
    w.rt.block_on(async {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let server_ws =
            WebSocketStream::from_raw_socket(server_io, Role::Server, Some(w.ws_config)).await;
        let client_ws = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let ctx = SessionContext {
            backend: w.backend.clone(),
            limits: w.limits.clone(),
            identity: w.identity.clone(),
            route_end: Default::default(),
            auth: Some(w.auth.subscribe()),
            route: std::sync::Arc::from("/fuzz"),
            framing: Default::default(),
        };
        let dropped_before = METRICS.replies_dropped.load(Relaxed);
        let session = tokio::spawn(session::run(server_ws, ctx, CancellationToken::new()));
        let (mut tx, mut rx) = client_ws.split();
        let send = async move {
            for m in frames {
                if tx.send(m).await.is_err() {
                    // The server closed (e.g. 1009); what it sent before is still checked.
                    return false;
                }
            }
            tokio::time::sleep(SETTLE).await;
            tx.send(Message::Close(None)).await.is_ok()
        };
        let recv = async {
            let mut seen = Seen::default();
            let mut close = None;
            while let Some(m) = rx.next().await {
                match m {
                    Ok(Message::Binary(b)) => check_reply(&b, &sent, &mut seen),
                    Ok(Message::Text(t)) => panic!("the server sent a text frame: {t:?}"),
                    Ok(Message::Close(c)) => {
                        if show_replies() {
                            eprintln!("close: {c:?}");
                        }
                        close = Some(c.map(|c| c.code));
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            (seen, close)
        };
        let Ok((all_sent, (seen, close))) =
            tokio::time::timeout(BOUND, futures_util::future::join(send, recv)).await
        else {
            panic!("the exchange did not finish within {BOUND:?} of the last frame");
        };
        if all_sent && matches!(close, Some(None | Some(CloseCode::Normal))) {
            // One session at a time on this runtime, so the counter's growth is this session's.
            let dropped = METRICS.replies_dropped.load(Relaxed) - dropped_before;
            check_all_answered(&sent, &seen, dropped);
        }
        match tokio::time::timeout(BOUND, session).await {
            Err(_) => panic!("the session did not end within {BOUND:?} of the client closing"),
            Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(_) => {}
        }
    });
});
