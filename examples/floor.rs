//! The floor: the thinnest pub/sub server that can be written on the gateway's own stack
//! (tokio + tokio-tungstenite + prost), so that every load-generator figure has a baseline
//! measured in the same run (`loadgen ... --gateway target/release/examples/floor`).
//!
//! Per connection: one reader task (this connection's requests, in order) and one writer task
//! fed by a bounded queue, batching whatever is queued into one flush, as the gateway does.
//! A topic is a list of subscriber queues; a produce encodes its push frame once and hands a
//! clone of the same bytes to every subscriber. It keeps no log.
//!
//! What it speaks: `cmd_ping`, `cmd_kafka_produce`, `cmd_kafka_subscribe` from LATEST, and
//! pushes. Everything else answers an error. It deliberately pays for nothing the gateway does
//! beyond that: no configuration, routes, auth, limits, metrics, keepalive, ordering gate or
//! per-subscription sequence: every push carries subscription id 1 and sequence 0, which is
//! right for the load generator's one subscription per connection and wrong in general. A
//! subscriber whose queue is full is disconnected (close 1008), as the floor has no flow control.
//!
//! ```text
//! cargo build --release --example floor
//! target/release/examples/floor --listen 127.0.0.1:9080
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::{
    ErrorResp, KafkaMessage, KafkaProduceResp, KafkaPush, KafkaSubscribeResp, PongResp, PubSubReq,
    PubSubResp, StartPosition,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Frames a connection may have queued (replies and pushes), as the gateway's default queue.
const QUEUE: usize = 1024;

/// A subscriber: its connection's queue, and the token that closes the connection.
struct Subscriber {
    tx: mpsc::Sender<Bytes>,
    kill: CancellationToken,
}

#[derive(Default)]
struct Topic {
    next_offset: i64,
    subscribers: Vec<Subscriber>,
}

type Topics = Arc<Mutex<HashMap<String, Topic>>>;

fn main() -> std::io::Result<()> {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 9080));
    let mut threads: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next();
        match (a.as_str(), v) {
            ("--listen", Some(v)) => {
                listen = v.parse().map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("--listen: {e}"))
                })?
            }
            ("--threads", Some(v)) => threads = v.parse().ok(),
            _ => {
                eprintln!("usage: floor [--listen ADDR] [--threads N]");
                std::process::exit(2);
            }
        }
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        rt.worker_threads(n.max(1));
    }
    rt.enable_all().build()?.block_on(serve(listen))
}

async fn serve(listen: SocketAddr) -> std::io::Result<()> {
    // The gateway's backlog, so bursts of connects are treated alike.
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(listen)?;
    let listener: TcpListener = sock.listen(4096)?;
    eprintln!("floor listening on {}", listener.local_addr()?);
    let topics: Topics = Arc::default();
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(connection(tcp, topics.clone()));
    }
}

async fn connection(tcp: TcpStream, topics: Topics) {
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(8 * 1024);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    let kill = CancellationToken::new();
    let writer_kill = kill.clone();
    // Topic lists hold clones of `tx`, so the queue does not close when the reader ends: the
    // writer is told, and its end drops the queue, which prunes the subscriber on next produce.
    let done = CancellationToken::new();
    let writer_done = done.clone();
    let writer = tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                biased;
                _ = writer_kill.cancelled() => {
                    let close = CloseFrame { code: CloseCode::Policy, reason: "slow consumer".into() };
                    let _ = sink.send(Message::Close(Some(close))).await;
                    return;
                }
                _ = writer_done.cancelled() => break,
                f = rx.recv() => match f {
                    Some(f) => f,
                    None => break,
                },
            };
            if sink.feed(Message::Binary(frame)).await.is_err() {
                return;
            }
            if rx.is_empty() && sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    loop {
        let msg = tokio::select! {
            _ = kill.cancelled() => break,
            m = stream.next() => m,
        };
        let data = match msg {
            Some(Ok(Message::Binary(data))) => data,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => continue,
        };
        let reply = match PubSubReq::decode(data) {
            Ok(req) => handle(req, &tx, &kill, &topics),
            Err(_) => Some(error(0, 400, "undecodable request")),
        };
        if let Some(reply) = reply {
            if tx.send(reply).await.is_err() {
                break;
            }
        }
    }
    done.cancel();
    drop(tx);
    let _ = writer.await;
}

fn encode(sequence: i64, resp: Resp) -> Bytes {
    Bytes::from(
        PubSubResp {
            sequence,
            resp: Some(resp),
        }
        .encode_to_vec(),
    )
}

fn error(sequence: i64, code: i32, message: &str) -> Bytes {
    encode(
        sequence,
        Resp::ErrorResp(ErrorResp {
            code,
            message: message.into(),
        }),
    )
}

/// The reply to one request; a subscriber is added after its reply is queued (the caller
/// queues the reply first, so it precedes the first push).
fn handle(
    req: PubSubReq,
    tx: &mpsc::Sender<Bytes>,
    kill: &CancellationToken,
    topics: &Topics,
) -> Option<Bytes> {
    let seq = req.sequence;
    match req.req {
        Some(Req::CmdPing(p)) => Some(encode(seq, Resp::PongResp(PongResp { state: p.state }))),
        Some(Req::CmdKafkaProduce(p)) => {
            let mut topics = topics.lock().unwrap_or_else(|e| e.into_inner());
            let topic = topics.entry(p.topic.clone()).or_default();
            let offset = topic.next_offset;
            topic.next_offset += 1;
            if !topic.subscribers.is_empty() {
                let push = encode(
                    0,
                    Resp::KafkaPush(KafkaPush {
                        subscription_id: 1,
                        messages: vec![KafkaMessage {
                            offset,
                            value: p.value,
                            topic: p.topic,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                );
                topic
                    .subscribers
                    .retain(|s| match s.tx.try_send(push.clone()) {
                        Ok(()) => true,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            s.kill.cancel();
                            false
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => false,
                    });
            }
            Some(encode(
                seq,
                Resp::KafkaProduceResp(KafkaProduceResp {
                    partition: 0,
                    offset,
                    position: String::new(),
                }),
            ))
        }
        Some(Req::CmdKafkaSubscribe(s)) if s.start == StartPosition::Latest as i32 => {
            // The reply goes into the queue before the subscriber joins the list: under the
            // topics lock, so no push can overtake it.
            let mut topics = topics.lock().unwrap_or_else(|e| e.into_inner());
            let reply = encode(
                seq,
                Resp::KafkaSubscribeResp(KafkaSubscribeResp { subscription_id: 1 }),
            );
            if tx.try_send(reply).is_err() {
                kill.cancel();
                return None;
            }
            topics
                .entry(s.topic)
                .or_default()
                .subscribers
                .push(Subscriber {
                    tx: tx.clone(),
                    kill: kill.clone(),
                });
            None
        }
        Some(Req::CmdKafkaSubscribe(_)) => {
            Some(error(seq, 400, "the floor subscribes from LATEST only"))
        }
        _ => Some(error(seq, 400, "the floor does not implement this command")),
    }
}
