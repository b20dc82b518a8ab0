//! Arbitrary client frames through a real session (`session::run`) on an embedded route with
//! small limits, over an in-memory WebSocket. Checks that nothing panics, that the session ends
//! once the client closes, and that every reply is a `PubSubResp` with a `resp`, a sequence the
//! client sent (0 for undecodable frames) and, for errors, one of the documented codes.
//!
//! Input: frames, each a little-endian u16 header then that many bytes (the last one takes what
//! is left). Header bit 15 sends the frame as a text message (lossy UTF-8), bits 0-14 are the
//! length, so frames up to 32 KiB reach past `max_frame_bytes` (close 1009).
#![no_main]

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use pubsub_gateway::auth::{Credentials, Identity, RouteAuth};
use pubsub_gateway::backend::{self, Backend};
use pubsub_gateway::config::Limits;
use pubsub_gateway::pb::{pub_sub_resp::Resp, PubSubReq, PubSubResp};
use pubsub_gateway::session::{self, SessionContext};
use pubsub_gateway::Config;
use tokio::runtime::Runtime;
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

/// Codes proto/pubsub.proto documents for ErrorResp.
const CODES: &[i32] = &[400, 401, 403, 404, 416, 429, 502, 503, 504];

struct World {
    rt: Runtime,
    backend: Arc<dyn Backend>,
    limits: Arc<Limits>,
    identity: Arc<Identity>,
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

fn check_reply(frame: &[u8], sent: &HashSet<i64>) {
    let resp = match PubSubResp::decode(frame) {
        Ok(r) => r,
        Err(e) => panic!("reply does not decode as PubSubResp: {e}; {frame:02x?}"),
    };
    if show_replies() {
        eprintln!("reply: {resp:?}");
    }
    assert!(
        resp.sequence == 0 || sent.contains(&resp.sequence),
        "reply carries sequence {} the client never sent: {resp:?}",
        resp.sequence
    );
    match &resp.resp {
        None => panic!("reply without a resp: {resp:?}"),
        Some(Resp::ErrorResp(e)) => assert!(
            CODES.contains(&e.code),
            "error reply with an undocumented code: {resp:?}"
        ),
        Some(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let frames = split_frames(data);
    let sent: HashSet<i64> = frames
        .iter()
        .filter_map(|m| match m {
            Message::Binary(b) => PubSubReq::decode(b.clone()).ok().map(|r| r.sequence),
            _ => None,
        })
        .collect();
    w.rt.block_on(async {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let server_ws =
            WebSocketStream::from_raw_socket(server_io, Role::Server, Some(w.ws_config)).await;
        let client_ws = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let ctx = SessionContext {
            backend: w.backend.clone(),
            limits: w.limits.clone(),
            identity: w.identity.clone(),
            route_removed: CancellationToken::new(),
        };
        let session = tokio::spawn(session::run(server_ws, ctx, CancellationToken::new()));
        let (mut tx, mut rx) = client_ws.split();
        let send = async move {
            for m in frames {
                if tx.send(m).await.is_err() {
                    // The server closed (e.g. 1009); what it sent before is still checked.
                    return;
                }
            }
            tokio::time::sleep(SETTLE).await;
            let _ = tx.send(Message::Close(None)).await;
        };
        let recv = async {
            while let Some(m) = rx.next().await {
                match m {
                    Ok(Message::Binary(b)) => check_reply(&b, &sent),
                    Ok(Message::Text(t)) => panic!("the server sent a text frame: {t:?}"),
                    Ok(m) if show_replies() => eprintln!("message: {m:?}"),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        };
        if tokio::time::timeout(BOUND, futures_util::future::join(send, recv))
            .await
            .is_err()
        {
            panic!("the exchange did not finish within {BOUND:?} of the last frame");
        }
        match tokio::time::timeout(BOUND, session).await {
            Err(_) => panic!("the session did not end within {BOUND:?} of the client closing"),
            Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(_) => {}
        }
    });
});
