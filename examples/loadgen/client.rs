//! WebSocket clients of the gateway: source addresses, connect, requests and replies, and the
//! process clock that producers write into message values.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::{
    CmdKafkaProduce, CmdKafkaSubscribe, PubSubReq, PubSubResp, StartPosition,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::WAIT;

pub fn clock() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

pub fn now_ns() -> u64 {
    clock().elapsed().as_nanos() as u64
}

/// A message value of `size` bytes (at least 16): send time (ns on the process clock), sequence.
pub fn make_value(size: usize, seq: u64) -> Bytes {
    let mut v = vec![b'x'; size.max(16)];
    v[0..8].copy_from_slice(&now_ns().to_le_bytes());
    v[8..16].copy_from_slice(&seq.to_le_bytes());
    Bytes::from(v)
}

pub fn sent_ns(value: &[u8]) -> Option<u64> {
    value
        .get(0..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
}

pub type Ws = WebSocketStream<TcpStream>;

/// Client source addresses 127.0.0.2, 127.0.0.3, ... used round robin.
pub struct Sources {
    pub ips: Vec<Ipv4Addr>,
    pub next: AtomicUsize,
}

impl Sources {
    pub fn new(n: usize) -> Sources {
        Sources {
            ips: (0..n)
                .map(|i| Ipv4Addr::new(127, 0, 0, 2 + i as u8))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    pub fn pick(&self) -> Ipv4Addr {
        self.ips[self.next.fetch_add(1, Ordering::Relaxed) % self.ips.len()]
    }
}

/// Opens a WebSocket to the gateway from `src`. The source port is picked at connect time
/// (IP_BIND_ADDRESS_NO_PORT), so each address serves a full ephemeral range per destination.
pub async fn connect(
    gw: SocketAddr,
    path: &str,
    src: Ipv4Addr,
    read_buf: usize,
) -> Result<Ws, String> {
    use std::os::fd::AsRawFd;
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    let one: libc::c_int = 1;
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    sock.bind(SocketAddr::from((src, 0)))
        .map_err(|e| format!("bind {src}: {e}"))?;
    let tcp = sock
        .connect(gw)
        .await
        .map_err(|e| format!("connect {gw} from {src}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(read_buf)
        .write_buffer_size(16 * 1024);
    let upgrade =
        tokio_tungstenite::client_async_with_config(format!("ws://{gw}{path}"), tcp, Some(config));
    let (ws, _) = tokio::time::timeout(crate::WAIT, upgrade)
        .await
        .map_err(|_| format!("upgrade from {src}: no answer within {:?}", crate::WAIT))?
        .map_err(|e| format!("upgrade from {src}: {e}"))?;
    Ok(ws)
}

pub fn frame(sequence: i64, req: Req) -> Message {
    Message::Binary(
        PubSubReq {
            sequence,
            req: Some(req),
        }
        .encode_to_vec()
        .into(),
    )
}

pub fn subscribe_req(topic: &str, start: StartPosition) -> Req {
    Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
        topic: topic.into(),
        start: start as i32,
        ..Default::default()
    })
}

pub fn produce_req(topic: &str, value: Bytes) -> Req {
    Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: topic.into(),
        value,
        ..Default::default()
    })
}

/// The next binary frame; a close, an error or the end of the stream is an error.
pub async fn recv_binary(ws: &mut Ws) -> Result<Bytes, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return Ok(b),
            Some(Ok(Message::Close(f))) => return Err(format!("closed by the gateway: {f:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("connection failed: {e}")),
            None => return Err("connection ended".into()),
        }
    }
}

pub async fn recv_resp(ws: &mut Ws) -> Result<PubSubResp, String> {
    let b = tokio::time::timeout(WAIT, recv_binary(ws))
        .await
        .map_err(|_| format!("no frame within {WAIT:?}"))??;
    PubSubResp::decode(b).map_err(|e| format!("undecodable frame: {e}"))
}

pub fn describe(resp: Option<Resp>) -> String {
    match resp {
        Some(Resp::ErrorResp(e)) => format!("error {}: {}", e.code, e.message),
        other => format!("unexpected reply {other:?}"),
    }
}

/// Subscribes with this sequence; returns the subscription id.
pub async fn subscribe(
    ws: &mut Ws,
    seq: i64,
    topic: &str,
    start: StartPosition,
) -> Result<i64, String> {
    ws.send(frame(seq, subscribe_req(topic, start)))
        .await
        .map_err(|e| format!("send subscribe: {e}"))?;
    // Pushes never precede the subscribe reply, so the first frame is it.
    let r = recv_resp(ws).await?;
    match r.resp {
        Some(Resp::KafkaSubscribeResp(s)) if r.sequence == seq => Ok(s.subscription_id),
        other => Err(format!("subscribe {topic}: {}", describe(other))),
    }
}

/// One request, one reply (no other traffic on the connection).
pub async fn request(ws: &mut Ws, seq: i64, req: Req) -> Result<Resp, String> {
    ws.send(frame(seq, req))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        let r = recv_resp(ws).await?;
        if r.sequence == seq && !matches!(r.resp, Some(Resp::KafkaPush(_))) {
            return r.resp.ok_or_else(|| "reply without resp".to_string());
        }
    }
}

pub fn first_errors(errors: &[String]) -> String {
    let mut distinct: Vec<&String> = Vec::new();
    for e in errors {
        if distinct.len() < 3 && !distinct.contains(&e) {
            distinct.push(e);
        }
    }
    distinct
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}
