//! Scenario acks (issue #25): group throughput with per-message acks against cumulative
//! commits, on the embedded broker or Kafka (Tansu), through one member and through several,
//! in the same run; and the gateway memory a member's unacknowledged messages cost at its
//! `max_in_flight` bound.
//!
//! Each case gets a fresh topic of P partitions, preloaded with N messages through the gateway
//! (no key: spread over the partitions), then M members of a new group subscribe from EARLIEST
//! and consume until the N messages arrived, each member settling as it goes: `ack`, one
//! `cmd_ack` per message (pipelined), or `commit`, one cumulative `cmd_kafka_commit` per push
//! frame (the next offset of each partition in it). The time runs from the first subscribe to
//! the last settle answered.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::{
    CmdAck, CmdKafkaCommit, CmdKafkaSubscribe, KafkaPartitionOffset, MessagePosition, PubSubResp,
    StartPosition,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::client::{connect, describe, frame, now_ns, produce_req, recv_resp, Sources};
use crate::cloud::{text_value, Seen};
use crate::gateway::{embedded_route, kafka_route, Env, Gateway};
use crate::kafka::Tansu;
use crate::report::Report;

const STALL: Duration = Duration::from_secs(30);

/// Produces `n` text values to `topic` through the gateway, `window` in flight.
async fn preload(
    gw: SocketAddr,
    path: &str,
    src: std::net::Ipv4Addr,
    topic: &str,
    n: u64,
    size: usize,
) -> Result<(), String> {
    let mut ws = connect(gw, path, src, 64 * 1024).await?;
    let window = 256u64;
    let (mut sent, mut acked) = (0u64, 0u64);
    while acked < n {
        while sent < n && sent - acked < window {
            ws.feed(frame(
                sent as i64 + 1,
                produce_req(topic, text_value(size, sent)),
            ))
            .await
            .map_err(|e| format!("send: {e}"))?;
            sent += 1;
        }
        ws.flush().await.map_err(|e| format!("flush: {e}"))?;
        match recv_resp(&mut ws).await?.resp {
            Some(Resp::KafkaProduceResp(_)) => acked += 1,
            other => return Err(format!("preload produce: {}", describe(other))),
        }
    }
    let _ = ws.close(None).await;
    Ok(())
}

fn subscribe(topic: &str, group: &str, max_in_flight: i32) -> Req {
    Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
        topic: topic.into(),
        start: StartPosition::Earliest as i32,
        group: group.into(),
        max_in_flight,
        ..Default::default()
    })
}

struct MemberOut {
    settles_sent: u64,
    answered: u64,
    /// Settles refused because a rebalance had moved the partition (409): the message goes
    /// again to its new owner.
    moved: u64,
    errors: u64,
    first_error: Option<String>,
}

/// One group member: consumes until `done`, settling by `mode`; then waits for its answers.
#[allow(clippy::too_many_arguments)]
async fn member(
    gw: SocketAddr,
    path: &'static str,
    src: std::net::Ipv4Addr,
    topic: String,
    group: String,
    commit: bool,
    seen: Arc<Mutex<Seen>>,
    n: u64,
    done: CancellationToken,
    start: Arc<tokio::sync::Barrier>,
) -> Result<MemberOut, String> {
    let ws = connect(gw, path, src, 256 * 1024).await;
    // Every member connects first, then all subscribe at once: one rebalance, not M.
    start.wait().await;
    let mut ws = ws?;
    ws.send(frame(1, subscribe(&topic, &group, 0)))
        .await
        .map_err(|e| format!("send subscribe: {e}"))?;
    let sub_id = match recv_resp(&mut ws).await?.resp {
        Some(Resp::KafkaSubscribeResp(s)) => s.subscription_id,
        other => return Err(format!("group subscribe: {}", describe(other))),
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Req>();
    // Requests the writer has flushed to the socket: a stall report says which side holds
    // the missing answers (written and unanswered, or never written).
    let flushed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let flushed_w = flushed.clone();
    let writer = tokio::spawn(async move {
        let mut seq = 2i64;
        while let Some(r) = rx.recv().await {
            let mut next = Some(r);
            let mut batch = 0u64;
            while let Some(r) = next {
                sink.feed(frame(seq, r))
                    .await
                    .map_err(|e| format!("send: {e}"))?;
                seq += 1;
                batch += 1;
                next = rx.try_recv().ok();
            }
            sink.flush().await.map_err(|e| format!("flush: {e}"))?;
            flushed_w.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
        }
        let _ = sink.close().await;
        Ok::<(), String>(())
    });
    let mut out = MemberOut {
        settles_sent: 0,
        answered: 0,
        moved: 0,
        errors: 0,
        first_error: None,
    };
    let mut last_data = Instant::now();
    loop {
        if done.is_cancelled() && out.answered + out.moved + out.errors >= out.settles_sent {
            break;
        }
        // A stall is STALL without a data frame: the gateway's keep-alive pings do not count.
        let Some(left) = STALL.checked_sub(last_data.elapsed()) else {
            out.first_error.get_or_insert_with(|| {
                format!(
                    "member stalled {STALL:?}: {} of {} settles answered, {} written to the socket",
                    out.answered + out.moved + out.errors,
                    out.settles_sent,
                    flushed.load(std::sync::atomic::Ordering::Relaxed)
                )
            });
            break;
        };
        let next = tokio::time::timeout(left, async {
            tokio::select! {
                // Woken by the end only while nothing is awaited.
                _ = done.cancelled(), if out.answered + out.moved + out.errors >= out.settles_sent => None,
                m = stream.next() => Some(m),
            }
        })
        .await;
        let b = match next {
            Err(_) => continue,
            Ok(None) => break,
            Ok(Some(Some(Ok(Message::Binary(b))))) => {
                last_data = Instant::now();
                b
            }
            Ok(Some(Some(Ok(Message::Close(f))))) => return Err(format!("closed: {f:?}")),
            Ok(Some(Some(Ok(_)))) => continue,
            Ok(Some(Some(Err(e)))) => return Err(format!("connection failed: {e}")),
            Ok(Some(None)) => return Err("connection ended".into()),
        };
        let resp = PubSubResp::decode(b).map_err(|e| format!("undecodable frame: {e}"))?;
        match resp.resp {
            Some(Resp::KafkaPush(p)) => {
                let now = now_ns();
                let mut next_of: Vec<(i32, i64)> = Vec::new();
                {
                    let mut s = seen.lock().map_err(|_| "poisoned")?;
                    for m in &p.messages {
                        s.record(&m.value, now);
                    }
                    if s.distinct >= n {
                        done.cancel();
                    }
                }
                for m in p.messages {
                    if commit {
                        match next_of.iter_mut().find(|(p, _)| *p == m.partition) {
                            Some(e) => e.1 = e.1.max(m.offset + 1),
                            None => next_of.push((m.partition, m.offset + 1)),
                        }
                    } else {
                        let ack = Req::CmdAck(CmdAck {
                            subscription_id: sub_id,
                            positions: vec![MessagePosition {
                                topic: topic.clone(),
                                partition: m.partition,
                                offset: m.offset,
                                position: m.position,
                            }],
                        });
                        tx.send(ack).map_err(|_| "the writer stopped")?;
                        out.settles_sent += 1;
                    }
                }
                if !next_of.is_empty() {
                    let c = Req::CmdKafkaCommit(CmdKafkaCommit {
                        subscription_id: sub_id,
                        offsets: next_of
                            .into_iter()
                            .map(|(partition, offset)| KafkaPartitionOffset {
                                topic: topic.clone(),
                                partition,
                                offset,
                            })
                            .collect(),
                    });
                    tx.send(c).map_err(|_| "the writer stopped")?;
                    out.settles_sent += 1;
                }
            }
            Some(Resp::OkResp(_)) if resp.sequence >= 2 => out.answered += 1,
            Some(Resp::ErrorResp(e)) if e.code == 409 => out.moved += 1,
            other => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| describe(other));
            }
        }
    }
    drop(tx);
    // A writer blocked on a gateway that stopped reading must not hang the report.
    match tokio::time::timeout(Duration::from_secs(5), writer).await {
        Ok(Ok(Err(e))) => {
            out.first_error.get_or_insert(e);
        }
        Err(_) => {
            out.first_error
                .get_or_insert_with(|| "the writer was still blocked 5 s after the end".into());
        }
        _ => {}
    }
    Ok(out)
}

/// Gateway RSS with one member holding `window` unsettled messages, against before it joined.
async fn held_rss(
    gw: &Gateway,
    path: &'static str,
    sources: &Sources,
    topic: &str,
    window: u64,
    r: &mut Report,
) -> Result<(), String> {
    let before = gw.rss_kib();
    let mut ws = connect(gw.addr, path, sources.pick(), 1 << 20).await?;
    ws.send(frame(1, subscribe(topic, "lg-hold", window as i32)))
        .await
        .map_err(|e| format!("send subscribe: {e}"))?;
    let mut got = 0u64;
    while got < window {
        let resp = recv_resp(&mut ws).await?;
        match resp.resp {
            Some(Resp::KafkaPush(p)) => got += p.messages.len() as u64,
            Some(Resp::KafkaSubscribeResp(_)) => {}
            other => return Err(format!("hold member: {}", describe(other))),
        }
    }
    // Nothing more may come (the window is full); give the gateway a moment to settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = gw.rss_kib();
    r.metric("hold_window", window, "msgs");
    r.metric("hold_received", got, "msgs");
    r.metric("hold_rss_before_mib", before as f64 / 1024.0, "MiB");
    r.metric("hold_rss_held_mib", held as f64 / 1024.0, "MiB");
    r.metric(
        "hold_bytes_per_unacked_msg",
        (held.saturating_sub(before) * 1024) as f64 / window.max(1) as f64,
        "B",
    );
    let _ = ws.close(None).await;
    Ok(())
}

pub async fn acks(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&[
        "scheme",
        "messages",
        "size",
        "members",
        "partitions",
        "hold",
    ])?;
    env.needs_gateway("groups")?;
    let scheme = a.choice("scheme", "embedded", &["embedded", "kafka"])?;
    let n: u64 = a.num("messages", 20_000)?;
    let size: usize = a.num("size", 100)?;
    let partitions: i32 = a.num("partitions", 4)?;
    let hold: u64 = a.num("hold", 10_000)?;
    let members: Vec<usize> = a
        .str("members", "1,4")
        .split(',')
        .map(|m| {
            m.trim()
                .parse()
                .map_err(|_| format!("--members: not a list of numbers: {m}"))
        })
        .collect::<Result<_, _>>()?;
    let mut r = Report::new("acks");
    r.param("scheme", scheme.clone());
    r.param("messages", n);
    r.param("size", size.max(32));
    r.param("partitions", partitions);
    r.param("members", a.str("members", "1,4"));
    let tansu = if scheme == "kafka" {
        Some(Tansu::start(env)?)
    } else {
        None
    };
    let routes = match &tansu {
        Some(t) => kafka_route(&t.bootstrap()),
        // Retention that keeps every preloaded message: the defaults (10,000 messages or 1 MiB
        // a partition) would drop the oldest of a large preload, and the members would wait for
        // messages that no longer exist.
        None => embedded_route(&format!(
            "partitions: {partitions}, retention_messages: {}, retention_bytes: {}",
            n.max(1),
            (n.max(1) as usize).saturating_mul(size.max(32) + 512)
        )),
    };
    let path: &'static str = if scheme == "kafka" {
        "/kafka"
    } else {
        "/embedded"
    };
    let mut gw = Gateway::start(env, "", &routes)?;
    gw.describe(&mut r);
    let sources = env.sources(8);
    let pid = std::process::id();
    let mut case = 0;
    for &m in &members {
        for commit in [false, true] {
            case += 1;
            let mode = if commit { "commit" } else { "ack" };
            let topic = format!("acks-{pid}-{case}");
            if let Some(t) = &tansu {
                t.create_topic(&topic, partitions).await?;
            }
            preload(gw.addr, path, sources.pick(), &topic, n, size).await?;
            let seen = Arc::new(Mutex::new(Seen::new(n)));
            let done = CancellationToken::new();
            let start = Arc::new(tokio::sync::Barrier::new(m.max(1)));
            let cpu = crate::process::CpuMeter::start(&gw);
            let t0 = Instant::now();
            let tasks: Vec<_> = (0..m.max(1))
                .map(|_| {
                    tokio::spawn(member(
                        gw.addr,
                        path,
                        sources.pick(),
                        topic.clone(),
                        format!("lg-{case}"),
                        commit,
                        seen.clone(),
                        n,
                        done.clone(),
                        start.clone(),
                    ))
                })
                .collect();
            let mut errors = Vec::new();
            let (mut sent, mut answered, mut moved) = (0u64, 0u64, 0u64);
            for t in tasks {
                match t.await.map_err(|e| format!("member task: {e}"))? {
                    Ok(o) => {
                        sent += o.settles_sent;
                        answered += o.answered;
                        moved += o.moved;
                        if o.errors > 0 || o.first_error.is_some() {
                            errors.push(format!(
                                "{} errors: {}",
                                o.errors,
                                o.first_error.unwrap_or_default()
                            ));
                        }
                    }
                    Err(e) => errors.push(e),
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            let gw_cpu = cpu.server_secs(&gw);
            let s = seen.lock().map_err(|_| "poisoned")?;
            let k = format!("{mode}_{m}m_");
            r.metric(
                &format!("{k}msgs_per_sec"),
                s.distinct as f64 / secs.max(1e-9),
                "msg/s",
            );
            r.metric(&format!("{k}secs"), secs, "s");
            r.metric(&format!("{k}received"), s.distinct, "msgs");
            r.metric(&format!("{k}redelivered"), s.dups, "msgs");
            r.metric(&format!("{k}settles"), sent, "");
            r.metric(&format!("{k}settles_refused_after_rebalance"), moved, "");
            r.metric(
                &format!("{k}gateway_cpu_pct"),
                100.0 * gw_cpu / secs.max(1e-9),
                "% of one core",
            );
            if s.distinct < n || answered + moved < sent || !errors.is_empty() {
                r.fail(format!(
                    "{mode} with {m} members: {} of {n} messages, {answered} of {sent} settles answered; {}",
                    s.distinct,
                    errors.join("; ")
                ));
            }
        }
    }
    if hold > 0 {
        let topic = format!("acks-{pid}-hold");
        if let Some(t) = &tansu {
            t.create_topic(&topic, partitions).await?;
        }
        preload(gw.addr, path, sources.pick(), &topic, hold, size).await?;
        held_rss(&gw, path, &sources, &topic, hold, &mut r).await?;
    }
    r.note("members connect first and then subscribe at once; settles a rebalance refused (409: the partition moved to another member while its messages were in flight) are counted, not failures: those messages go again to the new owner (redelivered)");
    r.note("ack: one cmd_ack per message, pipelined; commit: one cumulative cmd_kafka_commit per push frame");
    r.note("hold_bytes_per_unacked_msg: (gateway RSS with one member holding --hold unsettled messages - RSS before it joined) / --hold; it includes the pushed frames' buffers and allocator slack, so it is an upper bound of the per-message state");
    gw.alive()?;
    gw.stop();
    drop(tansu);
    Ok(r)
}
