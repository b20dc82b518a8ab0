//! The test harness: the real gateway on 127.0.0.1:0, a real WebSocket client, and the small
//! helpers every area's tests share (free ports, subscriptions, temp dirs). Mounted as `common`
//! by tests/common/mod.rs, and by the Rust client's tests (clients/rust/tests) on its own.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use pubsub_client::Subscribe;
use pubsub_gateway::pb::{
    pub_sub_req::Req, pub_sub_resp::Resp, CmdKafkaCommit, CmdKafkaFetch, CmdKafkaProduce,
    CmdKafkaSubscribe, KafkaHeader, KafkaMessage, KafkaPartitionOffset, KafkaProduceResp,
    KafkaPush, PubSubReq, PubSubResp,
};
use pubsub_gateway::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub use pubsub_client::Start;

pub const WAIT: Duration = Duration::from_secs(10);

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A subscription to one topic from its latest message (the server's default), as the Rust
/// client's `Subscribe` builder makes it; tests add fields with `..sub(topic)`.
pub fn sub(topic: &str) -> CmdKafkaSubscribe {
    Subscribe::topic(topic).command().clone()
}

/// A subscription to one topic from `start` (`Start::Offset(n)` and the like carry their
/// value), as the Rust client's `Subscribe` builder makes it.
pub fn sub_from(topic: &str, start: Start) -> CmdKafkaSubscribe {
    Subscribe::topic(topic).start(start).command().clone()
}

/// A member of consumer group `group` on one topic, from the latest message, as the Rust
/// client's `Subscribe` builder makes it.
pub fn group_sub(topic: &str, group: &str) -> CmdKafkaSubscribe {
    Subscribe::topic(topic).group(group).command().clone()
}

pub fn header(key: &str, value: &str) -> KafkaHeader {
    KafkaHeader {
        key: key.into(),
        value: value.as_bytes().to_vec().into(),
    }
}

/// The headers of a message, as (key, text) pairs in order.
pub fn headers_of(m: &KafkaMessage) -> Vec<(String, String)> {
    m.headers
        .iter()
        .map(|h| {
            (
                h.key.clone(),
                String::from_utf8_lossy(&h.value).into_owned(),
            )
        })
        .collect()
}

/// The values of messages, as text.
pub fn values(messages: &[KafkaMessage]) -> Vec<String> {
    messages.iter().map(value_of).collect()
}

pub struct Gateway {
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub handle: pubsub_gateway::ServerHandle,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// Starts the gateway from YAML; `server.listen` is forced to 127.0.0.1:0.
    pub async fn start(yaml: &str) -> Gateway {
        let mut config = Config::parse(yaml, "test").expect("test config parses");
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        // An admin listener (on by default) moves to a free port too.
        config.server.admin_listen = config
            .server
            .admin_listen
            .map(|_| "127.0.0.1:0".parse().unwrap());
        Gateway::start_config(config).await
    }

    pub async fn start_config(config: Config) -> Gateway {
        let server = Server::bind(config).await.expect("gateway binds");
        let addr = server.local_addr();
        let admin = server.admin_addr();
        let handle = server.handle();
        let shutdown = server.shutdown_token();
        let task = tokio::spawn(server.run());
        Gateway {
            addr,
            admin,
            handle,
            shutdown,
            task,
        }
    }

    pub async fn connect(&self, path: &str) -> Client {
        Client::connect(self.addr, path).await
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
    }
}

pub const EMBEDDED: &str = "routes:\n  - uri: /embedded\n    upstream: { scheme: embedded }\n";

/// One embedded route on /embedded with these `embedded:` options, e.g. `partitions: 4`.
pub fn embedded_with(options: &str) -> String {
    format!("routes:\n  - uri: /embedded\n    upstream: {{ scheme: embedded, embedded: {{ {options} }} }}\n")
}

/// One embedded route on /embedded with these `server.limits`, e.g. `max_subscriptions: 2`.
pub fn embedded_with_limits(limits: &str) -> String {
    format!("server:\n  limits: {{ {limits} }}\n{EMBEDDED}")
}

/// A Kafka route on /kafka whose broker address nobody listens on, with 1 s timeouts: for what
/// the gateway must answer before (or without) asking the broker.
pub fn unreachable_kafka_route() -> String {
    let port = free_port();
    format!(
        "routes:\n  - uri: /kafka\n    upstream:\n      scheme: kafka\n      nodes: {{ \"127.0.0.1:{port}\": 1 }}\n      timeout: {{ connect: 1, send: 1, read: 1 }}\n"
    )
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_seq: i64,
    /// Frames received while waiting for something else.
    pending: VecDeque<PubSubResp>,
}

impl Client {
    pub fn from_ws(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            next_seq: 1,
            pending: VecDeque::new(),
        }
    }

    pub async fn connect(addr: SocketAddr, path: &str) -> Client {
        let url = format!("ws://{addr}{path}");
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("websocket upgrade");
        Client {
            ws,
            next_seq: 1,
            pending: VecDeque::new(),
        }
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.ws.send(msg).await.expect("send frame");
    }

    /// Sends a command with a fresh sequence; returns the sequence.
    pub async fn send(&mut self, req: Req) -> i64 {
        let sequence = self.feed(req).await;
        self.flush().await;
        sequence
    }

    /// Queues a command without flushing: commands fed in a row go out in one TCP write at
    /// `flush`, as a busy client's pipelined requests arrive. Returns the sequence.
    pub async fn feed(&mut self, req: Req) -> i64 {
        let sequence = self.next_seq;
        self.next_seq += 1;
        let frame = PubSubReq {
            sequence,
            req: Some(req),
        }
        .encode_to_vec();
        self.ws
            .feed(Message::Binary(frame.into()))
            .await
            .expect("feed frame");
        sequence
    }

    pub async fn flush(&mut self) {
        self.ws.flush().await.expect("flush frames");
    }

    /// The next binary frame, decoded; panics after WAIT.
    pub async fn recv_frame(&mut self) -> PubSubResp {
        self.try_recv_frame(WAIT).await.expect("a frame in time")
    }

    /// The next binary frame within `wait`, or None.
    pub async fn try_recv_frame(&mut self, wait: Duration) -> Option<PubSubResp> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            match msg {
                Some(Ok(Message::Binary(b))) => {
                    return Some(PubSubResp::decode(b).expect("server frames decode"))
                }
                Some(Ok(Message::Close(f))) => panic!("connection closed: {f:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("connection failed: {e}"),
                None => panic!("connection ended"),
            }
        }
    }

    /// The reply with this sequence that is not a push; other frames are kept for later.
    pub async fn reply(&mut self, sequence: i64) -> Resp {
        if let Some(i) = self
            .pending
            .iter()
            .position(|r| r.sequence == sequence && !matches!(r.resp, Some(Resp::KafkaPush(_))))
        {
            let r = self.pending.remove(i).unwrap();
            return r.resp.expect("reply has a resp");
        }
        loop {
            let r = self.recv_frame().await;
            if r.sequence == sequence && !matches!(r.resp, Some(Resp::KafkaPush(_))) {
                return r.resp.expect("reply has a resp");
            }
            self.pending.push_back(r);
        }
    }

    pub async fn request(&mut self, req: Req) -> Resp {
        let seq = self.send(req).await;
        self.reply(seq).await
    }

    /// Pushed messages for a subscription, until `n` arrived (panics after WAIT).
    pub async fn pushed(&mut self, subscription_id: i64, n: usize) -> Vec<KafkaMessage> {
        let mut out = Vec::new();
        let mut kept = VecDeque::new();
        while let Some(r) = self.pending.pop_front() {
            match r.resp {
                Some(Resp::KafkaPush(p))
                    if p.subscription_id == subscription_id && out.len() < n =>
                {
                    out.extend(p.messages)
                }
                _ => kept.push_back(r),
            }
        }
        self.pending = kept;
        while out.len() < n {
            let r = self.recv_frame().await;
            match r.resp {
                Some(Resp::KafkaPush(p)) if p.subscription_id == subscription_id => {
                    out.extend(p.messages)
                }
                _ => self.pending.push_back(r),
            }
        }
        out
    }

    /// The next push of a subscription, whole (its flags too), within `wait`; other frames are
    /// kept for later.
    pub async fn next_push(&mut self, subscription_id: i64, wait: Duration) -> Option<KafkaPush> {
        let kept = self.pending.iter().position(
            |r| matches!(&r.resp, Some(Resp::KafkaPush(p)) if p.subscription_id == subscription_id),
        );
        if let Some(i) = kept {
            if let Some(Resp::KafkaPush(p)) = self.pending.remove(i).and_then(|r| r.resp) {
                return Some(p);
            }
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let r = self.try_recv_frame(left).await?;
            match r.resp {
                Some(Resp::KafkaPush(p)) if p.subscription_id == subscription_id => return Some(p),
                _ => self.pending.push_back(r),
            }
        }
    }

    /// Pushes for a subscription that arrive within `wait` (for proving nothing more comes).
    pub async fn pushed_within(
        &mut self,
        subscription_id: i64,
        wait: Duration,
    ) -> Vec<KafkaMessage> {
        let mut out = Vec::new();
        // Pushes kept aside while `reply` waited come first.
        let mut kept = VecDeque::new();
        while let Some(r) = self.pending.pop_front() {
            match r.resp {
                Some(Resp::KafkaPush(p)) if p.subscription_id == subscription_id => {
                    out.extend(p.messages)
                }
                _ => kept.push_back(r),
            }
        }
        self.pending = kept;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(r) = self.try_recv_frame(left).await else {
                return out;
            };
            match r.resp {
                Some(Resp::KafkaPush(p)) if p.subscription_id == subscription_id => {
                    out.extend(p.messages)
                }
                _ => self.pending.push_back(r),
            }
        }
    }

    /// Waits for the server's close frame.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("close in time")
            {
                Some(Ok(Message::Close(f))) => return f,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// A client whose TCP receive buffer is as small as the OS allows: when it stops reading, the
/// server's writes back up after a few frames (for backpressure tests).
pub async fn connect_small_window(addr: SocketAddr, path: &str) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().expect("tcp socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let tcp = tokio::time::timeout(WAIT, socket.connect(addr))
        .await
        .expect("connect in time")
        .expect("tcp connect");
    let url = format!("ws://{addr}{path}");
    let (ws, _) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)),
    )
    .await
    .expect("upgrade in time")
    .expect("websocket upgrade");
    Client::from_ws(ws)
}

/// Typed shortcuts: each panics unless the server answers with the expected response.
impl Client {
    pub async fn produce(&mut self, cmd: CmdKafkaProduce) -> KafkaProduceResp {
        match self.request(Req::CmdKafkaProduce(cmd)).await {
            Resp::KafkaProduceResp(r) => r,
            other => panic!("expected a produce reply, got {other:?}"),
        }
    }

    /// Produces `cmd` again every 200 ms while the gateway answers with an error (its broker
    /// is coming back), until it is stored; panics with `what` and the last answer once
    /// `within` has passed.
    pub async fn produce_once_recovered(
        &mut self,
        cmd: CmdKafkaProduce,
        within: Duration,
        what: &str,
    ) -> KafkaProduceResp {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let r = self.request(Req::CmdKafkaProduce(cmd.clone())).await;
            if let Resp::KafkaProduceResp(p) = r {
                return p;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: {r:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Produces `value` to `topic` without key or partition.
    pub async fn produce_value(&mut self, topic: &str, value: &str) -> KafkaProduceResp {
        self.produce(CmdKafkaProduce {
            topic: topic.into(),
            value: value.as_bytes().to_vec().into(),
            ..Default::default()
        })
        .await
    }

    /// Produces `value` to one partition of `topic`.
    pub async fn produce_to(
        &mut self,
        topic: &str,
        partition: i32,
        value: &str,
    ) -> KafkaProduceResp {
        self.produce(CmdKafkaProduce {
            topic: topic.into(),
            partition: Some(partition),
            value: value.as_bytes().to_vec().into(),
            ..Default::default()
        })
        .await
    }

    pub async fn fetch(&mut self, cmd: CmdKafkaFetch) -> Vec<KafkaMessage> {
        match self.request(Req::CmdKafkaFetch(cmd)).await {
            Resp::KafkaFetchResp(r) => r.messages,
            other => panic!("expected a fetch reply, got {other:?}"),
        }
    }

    /// Subscribes; returns the subscription id.
    pub async fn subscribe(&mut self, cmd: CmdKafkaSubscribe) -> i64 {
        match self.request(Req::CmdKafkaSubscribe(cmd)).await {
            Resp::KafkaSubscribeResp(r) => r.subscription_id,
            other => panic!("expected a subscribe reply, got {other:?}"),
        }
    }

    /// Commits `(topic, partition, next offset)` for a subscription and expects OkResp.
    pub async fn commit(&mut self, subscription_id: i64, offsets: &[(&str, i32, i64)]) {
        let offsets = offsets
            .iter()
            .map(|(topic, partition, offset)| KafkaPartitionOffset {
                topic: topic.to_string(),
                partition: *partition,
                offset: *offset,
            })
            .collect();
        let r = self
            .request(Req::CmdKafkaCommit(CmdKafkaCommit {
                subscription_id,
                offsets,
            }))
            .await;
        assert!(matches!(r, Resp::OkResp(_)), "commit answered {r:?}");
    }

    /// Closes the connection from the client side and waits until the server has closed it.
    pub async fn disconnect(mut self) {
        let _ = self.ws.close(None).await;
        let _ = tokio::time::timeout(WAIT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

/// A fetch of one partition from `offset`, with the server's default bounds.
pub fn fetch_cmd(topic: &str, partition: i32, offset: i64) -> CmdKafkaFetch {
    CmdKafkaFetch {
        topic: topic.into(),
        partition,
        offset,
        ..Default::default()
    }
}

pub fn value_of(m: &KafkaMessage) -> String {
    String::from_utf8_lossy(&m.value).into_owned()
}

pub fn offsets_of(messages: &[KafkaMessage]) -> Vec<i64> {
    messages.iter().map(|m| m.offset).collect()
}

/// Upgrades with extra request headers; Err(status) when the gateway refuses.
pub async fn upgrade(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<
    (
        Client,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    u16,
> {
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{addr}{path}"),
    )
    .unwrap();
    for (k, v) in headers {
        let name =
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        req.headers_mut().insert(
            name,
            tokio_tungstenite::tungstenite::http::HeaderValue::from_str(v).unwrap(),
        );
    }
    let tcp = TcpStream::connect(addr).await.unwrap();
    match tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(tcp)).await
    {
        Ok((ws, resp)) => Ok((Client::from_ws(ws), resp)),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("upgrade failed oddly: {e}"),
    }
}

/// A ping that must be answered with a pong.
pub async fn ping_ok(c: &mut Client) {
    let r = c
        .request(Req::CmdPing(pubsub_gateway::pb::CmdPing {
            state: bytes::Bytes::from_static(b"p"),
        }))
        .await;
    assert!(matches!(r, Resp::PongResp(_)), "{r:?}");
}

/// A WebSocket upgrade request with `extra` header lines, written by hand; the whole answer
/// (the server closes after refusing it).
pub async fn raw_http(addr: std::net::SocketAddr, path: &str, extra: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

/// The body of an HTTP answer.
pub fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

/// Sends raw bytes as an HTTP request and returns the status code of the answer.
pub async fn http_status(addr: SocketAddr, request: &str) -> u16 {
    let mut tcp = TcpStream::connect(addr).await.expect("tcp connect");
    tcp.write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut buf))
        .await
        .expect("answer in time")
        .expect("read answer");
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"))
}

pub fn error_of(resp: Resp) -> (i32, String) {
    match resp {
        Resp::ErrorResp(e) => (e.code, e.message),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A name no other test (or run) uses: `prefix`, the process id, a counter and the clock's
/// nanoseconds, joined by `sep` (each broker's names take their own separator).
pub fn unique_name(prefix: &str, sep: char) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}{sep}{}{sep}{n}{sep}{nanos}", std::process::id())
}

/// A path under the temp dir no other test (or run) uses: `prefix-<pid>-<n>`.
pub fn temp_path(prefix: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()))
}

/// A directory of a test's own under the temp dir, open to every user (a broker may drop to
/// its own user), removed with what is in it on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        use std::os::unix::fs::PermissionsExt;
        let d = temp_path(prefix);
        std::fs::create_dir_all(&d).expect("temp dir");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes `prefix<pid>-*` directories in the temp dir left by test processes that are gone
/// (a process-wide test broker is never dropped, so its directory outlives it).
pub fn sweep_stale_dirs(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
