//! Figures for the embedded broker's storage: produce throughput in memory and on disk (fsync
//! per batch, fsync every 100 ms), a fetch of a 1,000,000-message partition from disk, restart
//! time and RSS with 1 GiB stored against an empty gateway. Every gateway runs in a child
//! process (this program run as `serve CONFIG`), so its memory is its own.
//!
//! cargo run --release --example storage_bench -- [--dir DIR] [--seconds S] [--gib G]
//!     [--fetch-messages N]
//! STORAGE_BENCH_PRODUCE_ONLY=1 stops after the produce figures.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use prost::Message as _;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The gateway's own allocator (src/main.rs): in `serve` mode this process is the gateway.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(Path::new(&args[2]));
        return;
    }
    let mut dir = std::env::temp_dir().join(format!("storage-bench-{}", std::process::id()));
    let mut seconds = 5.0;
    let mut gib = 1.0;
    let mut fetch_messages = 1_000_000u64;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().expect("a value after each option");
        match a.as_str() {
            "--dir" => dir = PathBuf::from(v),
            "--seconds" => seconds = v.parse().expect("seconds"),
            "--gib" => gib = v.parse().expect("gib"),
            "--fetch-messages" => fetch_messages = v.parse().expect("fetch-messages"),
            other => panic!("unknown option {other}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench directory");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(&dir, seconds, gib, fetch_messages));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The gateway itself, in this process.
fn serve(config: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let config = pubsub_gateway::Config::load(config).expect("config loads");
        let server = pubsub_gateway::Server::bind(config)
            .await
            .expect("gateway starts");
        println!("listening {}", server.local_addr());
        server.run().await;
    });
}

struct Gateway {
    child: Child,
    addr: SocketAddr,
    /// From spawn to listening (the storage opened and recovered).
    started_in: Duration,
}

impl Gateway {
    fn start(dir: &Path, name: &str, embedded: &str) -> Gateway {
        let config = dir.join(format!("{name}.yaml"));
        let body = format!(
            "server:\n  listen: \"127.0.0.1:0\"\n  admin_listen: off\n  limits: {{ max_requests_per_sec: 10000000, max_inflight_requests: 64 }}\nroutes:\n  - uri: /b\n    upstream: {{ scheme: embedded, embedded: {{ {embedded} }} }}\n"
        );
        std::fs::write(&config, body).expect("config written");
        let t = Instant::now();
        let mut child = Command::new(std::env::current_exe().expect("this program"))
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::piped())
            .spawn()
            .expect("gateway process");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("listening line");
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("gateway did not start: {line:?}"));
        Gateway {
            child,
            addr,
            started_in: t.elapsed(),
        }
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// With TCP_NODELAY, as browsers and the load generator's clients: with Nagle's algorithm a
/// client pipelining small produces holds each one back until the gateway acknowledges the
/// last, which is late exactly when replies wait for an fsync.
async fn connect(addr: SocketAddr) -> Ws {
    tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/b"), None, true)
        .await
        .expect("websocket")
        .0
}

fn frame(sequence: i64, req: Req) -> Message {
    Message::Binary(
        PubSubReq {
            sequence,
            req: Some(req),
        }
        .encode_to_vec()
        .into(),
    )
}

async fn recv(ws: &mut Ws) -> PubSubResp {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return PubSubResp::decode(b).expect("decodes"),
            Some(Ok(_)) => continue,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

fn produce(topic: &str, partition: Option<i32>, value: &Bytes) -> Req {
    Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: topic.into(),
        partition,
        value: value.clone(),
        ..Default::default()
    })
}

/// `connections` x `window` produces in flight until `until` or `total` acknowledged.
async fn produce_load(
    addr: SocketAddr,
    topic: &str,
    partition: Option<i32>,
    size: usize,
    connections: usize,
    window: u64,
    (until, total): (Instant, u64),
) -> u64 {
    let acked = Arc::new(AtomicU64::new(0));
    let sent_all = Arc::new(AtomicU64::new(0));
    let value = Bytes::from(vec![b'x'; size]);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (acked, sent_all, value, topic) = (
            acked.clone(),
            sent_all.clone(),
            value.clone(),
            topic.to_owned(),
        );
        let mut ws = connect(addr).await;
        tasks.push(tokio::spawn(async move {
            let (mut sent, mut got) = (0u64, 0u64);
            loop {
                let more = Instant::now() < until && sent_all.load(Ordering::Relaxed) < total;
                while more && sent - got < window {
                    if sent_all.fetch_add(1, Ordering::Relaxed) >= total {
                        break;
                    }
                    sent += 1;
                    ws.feed(frame(sent as i64, produce(&topic, partition, &value)))
                        .await
                        .expect("send");
                }
                if sent == got {
                    return;
                }
                ws.flush().await.expect("flush");
                // The reply awaited, then every one already here, before the window is
                // refilled with one flush (not one write per reply).
                let mut next = Some(recv(&mut ws).await);
                while let Some(reply) = next.take() {
                    match reply.resp {
                        Some(Resp::KafkaProduceResp(_)) => {
                            got += 1;
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("produce failed: {other:?}"),
                    }
                    if sent > got {
                        next = recv(&mut ws).now_or_never();
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("producer");
    }
    acked.load(Ordering::Relaxed)
}

/// Sequential fetches of a whole partition; messages read and the time taken.
async fn fetch_all(addr: SocketAddr, topic: &str, end: i64) -> (u64, Duration) {
    let mut ws = connect(addr).await;
    let t = Instant::now();
    let (mut offset, mut n, mut seq) = (0i64, 0u64, 0i64);
    while offset < end {
        seq += 1;
        ws.send(frame(
            seq,
            Req::CmdKafkaFetch(CmdKafkaFetch {
                topic: topic.into(),
                partition: 0,
                offset,
                ..Default::default()
            }),
        ))
        .await
        .expect("send");
        match recv(&mut ws).await.resp {
            Some(Resp::KafkaFetchResp(r)) => {
                let Some(last) = r.messages.last() else { break };
                offset = last.offset + 1;
                n += r.messages.len() as u64;
            }
            other => panic!("fetch failed: {other:?}"),
        }
    }
    (n, t.elapsed())
}

const DURABLE: &str =
    "retention_messages: 1000000000, retention_bytes: 1000000000000000, storage: { path: \"PATH\", FSYNC }";

fn durable(dir: &Path, name: &str, fsync: &str, partitions: i32) -> String {
    format!(
        "partitions: {partitions}, {}",
        DURABLE
            .replace("PATH", &dir.join(name).display().to_string())
            .replace("FSYNC", fsync)
    )
}

async fn run(dir: &Path, seconds: f64, gib: f64, fetch_messages: u64) {
    println!("# storage_bench: the gateway in a child process, clients in this one, same machine");
    // 1. Produce throughput, 100 B messages, 64 connections x 32 in flight (or
    // STORAGE_BENCH_WINDOW), 4 partitions.
    let window: u64 = std::env::var("STORAGE_BENCH_WINDOW")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(32);
    println!("# 64 connections x {window} produces in flight");
    let mut memory_rate = 0.0;
    for (name, embedded) in [
        ("memory", "partitions: 4".to_string()),
        ("fsync-always", durable(dir, "always", "fsync: always", 4)),
        (
            "fsync-every-100ms",
            durable(dir, "every", "fsync: { every_ms: 100 }", 4),
        ),
    ] {
        let gw = Gateway::start(dir, name, &embedded);
        let until = Instant::now() + Duration::from_secs_f64(seconds);
        let t = Instant::now();
        let n = produce_load(gw.addr, "p", None, 100, 64, window, (until, u64::MAX)).await;
        let took = t.elapsed().as_secs_f64();
        let rate = n as f64 / took;
        eprintln!("  ({n} acknowledged in {took:.1} s)");
        if name == "memory" {
            memory_rate = rate;
        }
        println!(
            "produce {name:<18} {rate:>10.0} msgs/s  ({:.2} of memory)",
            rate / memory_rate
        );
        // A lone producer, one produce at a time: what each acknowledgement takes when there
        // is no crowd to share an fsync with.
        let until = Instant::now() + Duration::from_secs(1);
        let t = Instant::now();
        let n = produce_load(gw.addr, "lone", None, 100, 1, 1, (until, u64::MAX)).await;
        println!(
            "produce {name:<18} one at a time: {:>8.3} ms per produce",
            t.elapsed().as_secs_f64() * 1000.0 / n.max(1) as f64
        );
        gw.kill();
    }

    if std::env::var_os("STORAGE_BENCH_PRODUCE_ONLY").is_some() {
        return;
    }
    // 2. Fetch of a 1,000,000-message partition from disk after a restart (OS page cache warm).
    let embedded = durable(dir, "fetch", "fsync: { every_ms: 100 }", 1);
    let gw = Gateway::start(dir, "fetch", &embedded);
    let far = Instant::now() + Duration::from_secs(3600);
    let n = produce_load(gw.addr, "f", Some(0), 100, 16, 64, (far, fetch_messages)).await;
    gw.kill();
    let gw = Gateway::start(dir, "fetch", &embedded);
    let (read, took) = fetch_all(gw.addr, "f", n as i64).await;
    println!(
        "fetch {n} x 100 B from disk: {read} msgs in {:.2} s = {:.0} msgs/s (restart {:.0} ms)",
        took.as_secs_f64(),
        read as f64 / took.as_secs_f64(),
        gw.started_in.as_secs_f64() * 1000.0
    );
    gw.kill();
    let _ = std::fs::remove_dir_all(dir.join("fetch"));

    // 3. Restart time and RSS with `gib` GiB stored (4 KiB messages, 4 partitions).
    let empty = Gateway::start(dir, "empty", &durable(dir, "empty", "fsync: always", 4));
    let mut ws = connect(empty.addr).await;
    ws.send(frame(1, produce("e", None, &Bytes::from_static(b"x"))))
        .await
        .expect("send");
    recv(&mut ws).await;
    let empty_rss = empty.rss_mib();
    empty.kill();
    let embedded = durable(dir, "big", "fsync: { every_ms: 100 }", 4);
    let gw = Gateway::start(dir, "big", &embedded);
    let count = (gib * (1u64 << 30) as f64 / 4096.0) as u64;
    let t = Instant::now();
    let n = produce_load(gw.addr, "big", None, 4096, 16, 32, (far, count)).await;
    let fill = t.elapsed().as_secs_f64();
    let filled_rss = gw.rss_mib();
    gw.kill();
    let stored = du(&dir.join("big"));
    println!(
        "filled {:.2} GiB ({n} x 4 KiB) in {fill:.1} s; RSS while full {filled_rss:.1} MiB",
        stored as f64 / (1u64 << 30) as f64
    );
    for round in 0..3 {
        let gw = Gateway::start(dir, "big", &embedded);
        let idle_rss = gw.rss_mib();
        println!(
            "restart {round} after SIGKILL with {:.2} GiB: listening in {:.0} ms; RSS {idle_rss:.1} MiB vs empty {empty_rss:.1} MiB (+{:.1})",
            stored as f64 / (1u64 << 30) as f64,
            gw.started_in.as_secs_f64() * 1000.0,
            idle_rss - empty_rss
        );
        if round == 2 {
            let (read, took) = fetch_all(gw.addr, "big", i64::MAX).await;
            println!(
                "read partition 0 whole ({read} x 4 KiB) in {:.1} s; RSS after {:.1} MiB",
                took.as_secs_f64(),
                gw.rss_mib()
            );
        }
        gw.kill();
    }
}

fn du(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
