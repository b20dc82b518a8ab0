//! Scenario http (issue #26), on the embedded scheme, one gateway, in this order:
//! 1. publishes: C keep-alive HTTP/1.1 connections each POSTing `{uri}/topics/{t}` one at a
//!    time, then C WebSocket connections each producing one at a time (the same load shape);
//! 2. fan-out: S Server-Sent Events streams of one topic, then S WebSocket subscribers of
//!    another, each fed R msgs/s by one WebSocket producer for T seconds.
//!
//! The HTTP client is a raw keep-alive TCP connection (requests written by hand, answers read
//! with httparse): the least a client can cost, as the WebSocket side's.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::PubSubResp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::client::{connect, describe, first_errors, frame, now_ns, produce_req, Sources};
use crate::gateway::{embedded_route, Env, Gateway};
use crate::process::CpuMeter;
use crate::push::open_subscribed;
use crate::report::{Hist, Report};
use crate::values::{parse_value, read_values, text_value, Seen};
use crate::WAIT;

async fn tcp(gw: SocketAddr, src: Ipv4Addr) -> Result<TcpStream, String> {
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    sock.bind(SocketAddr::from((src, 0)))
        .map_err(|e| format!("bind {src}: {e}"))?;
    let s = sock
        .connect(gw)
        .await
        .map_err(|e| format!("connect {gw}: {e}"))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// Reads one HTTP response (head and Content-Length body) from `buf` + the stream; returns the
/// status, leaving what follows in `buf`.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16, String> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) =
            resp.parse(buf).map_err(|e| format!("bad response: {e}"))?
        {
            let status = resp.code.unwrap_or(0);
            let len: usize = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= head + len {
                buf.drain(..head + len);
                return Ok(status);
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, s.read(&mut chunk))
            .await
            .map_err(|_| "no response within the wait".to_string())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[derive(Default)]
struct Rt {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    hist: Hist,
}

/// One keep-alive connection POSTing until `stop`, one request at a time.
async fn http_publisher(
    gw: SocketAddr,
    src: Ipv4Addr,
    topic: String,
    size: usize,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> Rt {
    let mut rt = Rt::default();
    let mut s = match tcp(gw, src).await {
        Ok(s) => s,
        Err(e) => {
            rt.first_error = Some(e);
            rt.errors += 1;
            return rt;
        }
    };
    let mut buf = Vec::with_capacity(4096);
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let body = text_value(size, seq);
        seq += 1;
        let mut req = format!(
            "POST /embedded/topics/{topic} HTTP/1.1\r\nHost: {gw}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        let t = Instant::now();
        if let Err(e) = s.write_all(&req).await {
            rt.first_error.get_or_insert(format!("write: {e}"));
            rt.errors += 1;
            break;
        }
        match read_response(&mut s, &mut buf).await {
            Ok(200) => {
                rt.ok += 1;
                count.fetch_add(1, Ordering::Relaxed);
                rt.hist.record_us(t.elapsed().as_micros() as u64);
            }
            Ok(code) => {
                rt.errors += 1;
                rt.first_error.get_or_insert(format!("status {code}"));
            }
            Err(e) => {
                rt.errors += 1;
                rt.first_error.get_or_insert(e);
                break;
            }
        }
    }
    rt
}

/// One WebSocket producing until `stop`, one request at a time.
async fn ws_publisher(
    gw: SocketAddr,
    src: Ipv4Addr,
    topic: String,
    size: usize,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> Rt {
    let mut rt = Rt::default();
    let mut ws = match connect(gw, "/embedded", src, 16 * 1024).await {
        Ok(w) => w,
        Err(e) => {
            rt.first_error = Some(e);
            rt.errors += 1;
            return rt;
        }
    };
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        seq += 1;
        match crate::client::request(
            &mut ws,
            seq as i64,
            produce_req(&topic, text_value(size, seq)),
        )
        .await
        {
            Ok(Resp::KafkaProduceResp(_)) => {
                rt.ok += 1;
                count.fetch_add(1, Ordering::Relaxed);
                rt.hist.record_us(t.elapsed().as_micros() as u64);
            }
            Ok(other) => {
                rt.errors += 1;
                rt.first_error.get_or_insert(describe(Some(other)));
            }
            Err(e) => {
                rt.errors += 1;
                rt.first_error.get_or_insert(e);
                break;
            }
        }
    }
    rt
}

/// Runs `conns` publishers of `kind` for `secs`; adds `{kind}_publishes_per_sec` and latency.
async fn publishes(
    gw: &Gateway,
    sources: &Arc<Sources>,
    kind: &str,
    conns: usize,
    secs: f64,
    size: usize,
    r: &mut Report,
) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let topic = format!("{kind}-pub-{}", std::process::id());
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (src, topic, stop, c) = (sources.pick(), topic.clone(), stop.clone(), count.clone());
        tasks.push(if kind == "http" {
            tokio::spawn(http_publisher(gw.addr, src, topic, size, stop, c))
        } else {
            tokio::spawn(ws_publisher(gw.addr, src, topic, size, stop, c))
        });
    }
    // Connections open and warm for half a second, then the counted span.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu = CpuMeter::start(gw);
    let t0 = Instant::now();
    let c0 = count.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let counted = count.load(Ordering::Relaxed) - c0;
    let wall = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let gw_cpu = cpu.server_secs(gw);
    let (mut ok, mut errors, mut hist, mut first) = (0u64, 0u64, Hist::default(), Vec::new());
    for t in tasks {
        let rt = t.await.map_err(|e| format!("publisher task: {e}"))?;
        ok += rt.ok;
        errors += rt.errors;
        hist.merge(&rt.hist);
        first.extend(rt.first_error);
    }
    r.metric(&format!("{kind}_publishes"), ok, "");
    r.metric(
        &format!("{kind}_publishes_per_sec"),
        counted as f64 / wall.max(1e-9),
        "req/s",
    );
    r.metric(
        &format!("{kind}_publish_latency_p50_ms"),
        hist.ms(0.5),
        "ms",
    );
    r.metric(
        &format!("{kind}_publish_latency_p99_ms"),
        hist.ms(0.99),
        "ms",
    );
    r.metric(
        &format!("{kind}_publish_gateway_cpu_pct"),
        100.0 * gw_cpu / wall.max(1e-9),
        "% of one core",
    );
    if errors > 0 {
        r.fail(format!(
            "{kind} publishes: {errors} errors: {}",
            first_errors(&first)
        ));
    }
    Ok(())
}

/// An SSE stream of `topic` from LATEST, read until `cancel`.
async fn sse_reader(
    mut s: TcpStream,
    n: u64,
    cancel: CancellationToken,
    delivered: Arc<AtomicU64>,
) -> (Seen, Option<String>) {
    let mut seen = Seen::new(n);
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let got = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            r = s.read(&mut chunk) => r,
        };
        let n = match got {
            Ok(0) => return (seen, Some("stream ended".into())),
            Ok(n) => n,
            Err(e) => return (seen, Some(format!("read: {e}"))),
        };
        buf.extend_from_slice(&chunk[..n]);
        let now = now_ns();
        // Whole events only; chunked transfer framing lines are skipped (they hold no `data:`).
        let mut start = 0;
        while let Some(end) = buf[start..].windows(2).position(|w| w == b"\n\n") {
            let ev = &buf[start..start + end];
            for line in ev.split(|b| *b == b'\n') {
                if let Some(data) = line.strip_prefix(b"data: ") {
                    const KEY: &[u8] = b"\"value\":\"";
                    if let Some(i) = data.windows(KEY.len()).position(|w| w == KEY) {
                        let v = &data[i + KEY.len()..];
                        if parse_value(v).is_some() && seen.record(v, now) {
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            start += end + 2;
        }
        buf.drain(..start);
    }
    (seen, None)
}

async fn open_sse(gw: SocketAddr, src: Ipv4Addr, topic: &str) -> Result<TcpStream, String> {
    let mut s = tcp(gw, src).await?;
    let req = format!("GET /embedded/topics/{topic}?start=latest HTTP/1.1\r\nHost: {gw}\r\nAccept: text/event-stream\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    // The head comes once the subscription is made; events after it are in the stream.
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, s.read(&mut b))
            .await
            .map_err(|_| "no SSE head")?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed before the head".into());
        }
        head.push(b[0]);
    }
    if !head.starts_with(b"HTTP/1.1 200") {
        return Err(format!(
            "SSE answered {}",
            String::from_utf8_lossy(&head).lines().next().unwrap_or("")
        ));
    }
    Ok(s)
}

/// One WebSocket producing `rate` text values per second for `secs`; how many were stored.
async fn paced(
    gw: SocketAddr,
    src: Ipv4Addr,
    topic: &str,
    rate: f64,
    secs: f64,
    size: usize,
) -> Result<u64, String> {
    let ws = connect(gw, "/embedded", src, 64 * 1024).await?;
    let (mut sink, mut stream) = ws.split();
    let total = (rate * secs).round() as u64;
    let reader = tokio::spawn(async move {
        let mut acked = 0u64;
        while acked < total {
            match tokio::time::timeout(WAIT, stream.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => match PubSubResp::decode(b).map(|r| r.resp) {
                    Ok(Some(Resp::KafkaProduceResp(_))) => acked += 1,
                    Ok(other) => return Err(format!("produce: {}", describe(other))),
                    Err(e) => return Err(format!("undecodable: {e}")),
                },
                Ok(Some(Ok(_))) => {}
                _ => return Err(format!("producer: {acked} of {total} answered")),
            }
        }
        Ok(acked)
    });
    let t0 = Instant::now();
    for n in 0..total {
        tokio::time::sleep_until((t0 + Duration::from_secs_f64(n as f64 / rate)).into()).await;
        sink.send(frame(n as i64 + 1, produce_req(topic, text_value(size, n))))
            .await
            .map_err(|e| format!("produce send: {e}"))?;
    }
    reader.await.map_err(|e| format!("producer task: {e}"))?
}

/// Fan-out of one topic to `subs` streams (`sse`) or WebSockets; adds `{kind}_*` figures.
#[allow(clippy::too_many_arguments)]
async fn fanout(
    gw: &Gateway,
    sources: &Arc<Sources>,
    kind: &str,
    subs: usize,
    rate: f64,
    secs: f64,
    size: usize,
    r: &mut Report,
) -> Result<(), String> {
    let topic = format!("{kind}-fan-{}", std::process::id());
    let n = (rate * secs).round() as u64;
    let cancel = CancellationToken::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let rss0 = gw.rss_kib();
    let t = Instant::now();
    let mut readers = Vec::new();
    let mut errors = Vec::new();
    if kind == "sse" {
        for _ in 0..subs {
            match open_sse(gw.addr, sources.pick(), &topic).await {
                Ok(s) => readers.push(tokio::spawn(sse_reader(
                    s,
                    n,
                    cancel.clone(),
                    delivered.clone(),
                ))),
                Err(e) => errors.push(e),
            }
        }
    } else {
        let (conns, _, errs, _) = open_subscribed(
            gw.addr,
            "/embedded",
            subs,
            50,
            sources,
            |_| topic.clone(),
            16 * 1024,
        )
        .await;
        errors.extend(errs);
        for ws in conns {
            let (c, d) = (cancel.clone(), delivered.clone());
            readers.push(tokio::spawn(async move {
                let st = read_values(ws, n, c, d).await;
                (st.seen, st.error)
            }));
        }
    }
    r.metric(
        &format!("{kind}_subscribe_secs"),
        t.elapsed().as_secs_f64(),
        "s",
    );
    let rss_subscribed = gw.rss_kib();
    let cpu = CpuMeter::start(gw);
    let t0 = Instant::now();
    let produced = paced(gw.addr, sources.pick(), &topic, rate, secs, size).await?;
    let expected = produced * readers.len() as u64;
    let mut last = (0, Instant::now());
    while delivered.load(Ordering::Relaxed) < expected && last.1.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let d = delivered.load(Ordering::Relaxed);
        if d != last.0 {
            last = (d, Instant::now());
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let gw_cpu = cpu.server_secs(gw);
    cancel.cancel();
    let (mut hist, mut dups, mut last_rx) = (Hist::default(), 0u64, 0u64);
    for h in readers {
        let (seen, err) = h.await.map_err(|e| format!("reader task: {e}"))?;
        hist.merge(&seen.hist);
        dups += seen.dups;
        last_rx = last_rx.max(seen.last_rx_ns);
        errors.extend(err);
    }
    let got = delivered.load(Ordering::Relaxed);
    let t0_ns = (t0 - crate::client::clock()).as_nanos() as u64;
    let span = last_rx.saturating_sub(t0_ns) as f64 / 1e9;
    r.metric(&format!("{kind}_delivered"), got, "msgs");
    r.metric(&format!("{kind}_expected"), expected, "msgs");
    r.metric(
        &format!("{kind}_delivered_per_sec"),
        got as f64 / span.max(1e-9),
        "msg/s",
    );
    r.metric(&format!("{kind}_latency_p50_ms"), hist.ms(0.5), "ms");
    r.metric(&format!("{kind}_latency_p99_ms"), hist.ms(0.99), "ms");
    r.metric(
        &format!("{kind}_gateway_cpu_pct"),
        100.0 * gw_cpu / wall.max(1e-9),
        "% of one core",
    );
    r.metric(
        &format!("{kind}_rss_per_subscriber_kib"),
        rss_subscribed.saturating_sub(rss0) as f64 / subs.max(1) as f64,
        "KiB",
    );
    if got < expected || dups > 0 || !errors.is_empty() {
        r.fail(format!(
            "{kind} fan-out: {got} of {expected} delivered, {dups} duplicates; {}",
            first_errors(&errors)
        ));
    }
    Ok(())
}

pub async fn http(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&[
        "connections",
        "seconds",
        "size",
        "subscribers",
        "rate",
        "fanout-seconds",
    ])?;
    env.needs_gateway("HTTP")?;
    let conns: usize = a.num("connections", 100)?;
    let secs: f64 = a.num("seconds", 5.0)?;
    let size: usize = a.num("size", 100)?;
    let subs: usize = a.num("subscribers", 1000)?;
    let rate: f64 = a.num("rate", 200.0)?;
    let fsecs: f64 = a.num("fanout-seconds", 5.0)?;
    env.check_fds(subs.max(conns) + 16)?;
    let sources = env.sources(subs.max(conns));
    let mut r = Report::new("http");
    r.param("connections", conns);
    r.param("seconds", secs);
    r.param("size", size.max(32));
    r.param("subscribers", subs);
    r.param("rate", rate);
    r.param("fanout_seconds", fsecs);
    let mut gw = Gateway::start(env, "", &embedded_route(""))?;
    gw.describe(&mut r);
    publishes(&gw, &sources, "http", conns, secs, size, &mut r).await?;
    publishes(&gw, &sources, "ws", conns, secs, size, &mut r).await?;
    fanout(&gw, &sources, "sse", subs, rate, fsecs, size, &mut r).await?;
    fanout(&gw, &sources, "ws", subs, rate, fsecs, size, &mut r).await?;
    r.note("publishes: each connection one request at a time (HTTP keep-alive POST; WebSocket produce), all connections at once; counted over --seconds after half a second of warm-up; latency over the whole run");
    r.note("fan-out: one WebSocket producer at --rate; latency from the produce to the event's or push's receipt; rss_per_subscriber: gateway RSS after the streams opened minus before, per stream");
    gw.alive()?;
    gw.stop();
    Ok(r)
}
