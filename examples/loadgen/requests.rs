//! Scenario requests: round trips per second (ping or produce) over pipelining connections.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use prost::Message as _;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::{CmdPing, PubSubResp};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::client::{connect, describe, first_errors, frame, make_value, now_ns, produce_req, Ws};
use crate::gateway::{embedded_route, kafka_route, Env, Gateway};
use crate::kafka::Tansu;
use crate::process::CpuMeter;
use crate::report::{sampler, steady_rate, Hist, Report};
use crate::WAIT;

#[derive(Default)]
pub struct ReqStats {
    pub replies: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub hist: Hist,
    pub failed: Option<String>,
}

/// What every pipelining client shares.
pub struct PipelineShared {
    pub kind: String,
    pub topic: String,
    pub size: usize,
    pub inflight: usize,
    pub go: tokio::sync::Notify,
    pub stop_at: OnceLock<Instant>,
    pub replies: AtomicU64,
}

pub async fn pipeline(mut ws: Ws, sh: Arc<PipelineShared>) -> ReqStats {
    const RING: usize = 4096;
    let (kind, topic, size, inflight) = (&sh.kind, &sh.topic, sh.size, sh.inflight);
    let mut st = ReqStats::default();
    let mut sent_at = vec![(0i64, 0u64); RING];
    let mut seq = 0i64;
    let mut outstanding = 0usize;
    sh.go.notified().await;
    let stop = *sh.stop_at.get().expect("stop time set before go");
    let make = |seq: i64| -> Message {
        if kind == "ping" {
            frame(
                seq,
                Req::CmdPing(CmdPing {
                    state: Bytes::copy_from_slice(&seq.to_le_bytes()),
                }),
            )
        } else {
            frame(seq, produce_req(topic, make_value(size, seq as u64)))
        }
    };
    let result: Result<(), String> = async {
        loop {
            if Instant::now() < stop {
                while outstanding < inflight {
                    seq += 1;
                    sent_at[seq as usize % RING] = (seq, now_ns());
                    ws.feed(make(seq)).await.map_err(|e| format!("send: {e}"))?;
                    outstanding += 1;
                }
                ws.flush().await.map_err(|e| format!("flush: {e}"))?;
            } else if outstanding == 0 {
                return Ok(());
            }
            let first = tokio::time::timeout(WAIT, ws.next())
                .await
                .map_err(|_| format!("no reply within {WAIT:?} ({outstanding} outstanding)"))?;
            let mut next = Some(first);
            while let Some(m) = next.take() {
                let b = match m {
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Close(f))) => return Err(format!("closed: {f:?}")),
                    Some(Ok(_)) => {
                        next = ws.next().now_or_never();
                        continue;
                    }
                    Some(Err(e)) => return Err(format!("connection failed: {e}")),
                    None => return Err("connection ended".into()),
                };
                let now = now_ns();
                let r = PubSubResp::decode(b).map_err(|e| format!("undecodable: {e}"))?;
                outstanding = outstanding.saturating_sub(1);
                match r.resp {
                    Some(Resp::PongResp(_)) | Some(Resp::KafkaProduceResp(_)) => {
                        st.replies += 1;
                        sh.replies.fetch_add(1, Ordering::Relaxed);
                        let (s, t) = sent_at[r.sequence as usize % RING];
                        if s == r.sequence {
                            st.hist.record_us(now.saturating_sub(t) / 1000);
                        }
                    }
                    other => {
                        st.errors += 1;
                        st.first_error.get_or_insert_with(|| describe(other));
                    }
                }
                next = ws.next().now_or_never();
            }
        }
    }
    .await;
    if let Err(e) = result {
        st.failed = Some(e);
    }
    let _ = ws.close(None).await;
    st
}

pub async fn requests(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&[
        "connections",
        "kind",
        "inflight",
        "seconds",
        "size",
        "scheme",
        "concurrency",
    ])?;
    let conns_n: usize = a.num("connections", 1000)?;
    let kind = a.choice("kind", "ping", &["ping", "produce"])?;
    let inflight: usize = a.num("inflight", 16)?;
    let secs: f64 = a.num("seconds", 10.0)?;
    let size: usize = a.num("size", 100)?;
    let scheme = a.choice("scheme", "embedded", &["embedded", "kafka"])?;
    if scheme == "kafka" {
        env.needs_gateway("the kafka scheme")?;
    }
    let concurrency: usize = a.num("concurrency", 100)?;
    env.check_fds(conns_n)?;
    let sources = env.sources(conns_n);
    let mut r = Report::new(&format!("requests ({kind})"));
    r.param("connections", conns_n);
    r.param("kind", kind.clone());
    r.param("inflight", inflight);
    r.param("seconds", secs);
    r.param("scheme", scheme.clone());
    if kind == "produce" {
        r.param("size", size);
    }
    let topic = format!("requests-{}", std::process::id());
    let tansu = if scheme == "kafka" {
        let t = Tansu::start(env)?;
        t.create_topic(&topic, 1).await?;
        Some(t)
    } else {
        None
    };
    let mut routes = embedded_route("");
    if let Some(t) = &tansu {
        routes.push_str(&kafka_route(&t.bootstrap()));
    }
    let mut gw = Gateway::start(env, "", &routes)?;
    gw.describe(&mut r);
    let path: &'static str = if scheme == "kafka" {
        "/kafka"
    } else {
        "/embedded"
    };

    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut handles = Vec::new();
    for _ in 0..conns_n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let src = sources.pick();
        let addr = gw.addr;
        handles.push(tokio::spawn(async move {
            let r = tokio::time::timeout(WAIT, connect(addr, path, src, 16 * 1024))
                .await
                .unwrap_or_else(|_| Err("connect timed out".into()));
            drop(permit);
            r
        }));
    }
    let mut conns = Vec::new();
    let mut errors = Vec::new();
    for h in handles {
        match h.await {
            Ok(Ok(ws)) => conns.push(ws),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        r.fail(format!(
            "{} of {conns_n} connections failed: {}",
            errors.len(),
            first_errors(&errors)
        ));
    }
    let sh = Arc::new(PipelineShared {
        kind: kind.clone(),
        topic: topic.clone(),
        size,
        inflight,
        go: tokio::sync::Notify::new(),
        stop_at: OnceLock::new(),
        replies: AtomicU64::new(0),
    });
    let opened = conns.len();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(pipeline(ws, sh.clone())))
        .collect();
    // Every task waits on `go`; give them a moment to get there.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stop_sampling = CancellationToken::new();
    let counter = sh.clone();
    let samples = sampler(
        move || counter.replies.load(Ordering::Relaxed),
        Duration::from_millis(500),
        stop_sampling.clone(),
    );
    let cpu = CpuMeter::start(&gw);
    let start = Instant::now();
    let _ = sh.stop_at.set(start + Duration::from_secs_f64(secs));
    sh.go.notify_waiters();
    let mut hist = Hist::default();
    let (mut total, mut errs, mut failed) = (0u64, 0u64, Vec::new());
    let mut first_error = None;
    for t in tasks {
        let st = t.await.map_err(|e| format!("client task: {e}"))?;
        total += st.replies;
        errs += st.errors;
        hist.merge(&st.hist);
        if first_error.is_none() {
            first_error = st.first_error;
        }
        if let Some(e) = st.failed {
            failed.push(e);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    cpu.add_to(&gw, &mut r);
    // On a busy machine the server gets a share of a core that varies from run to run; work
    // per CPU second varies less than work per wall second.
    let server_cpu = cpu.server_secs(&gw);
    stop_sampling.cancel();
    let samples = samples.await.unwrap_or_default();
    gw.alive()?;
    gw.stop();
    drop(tansu);
    let steady = steady_rate(&samples, 1.0, secs - 0.5);
    r.metric("connections_opened", opened, "");
    r.metric("round_trips", total, "");
    r.metric("round_trips_per_sec", total as f64 / elapsed, "req/s");
    r.metric("round_trips_per_sec_steady", steady, "req/s");
    r.metric(
        "round_trips_per_server_cpu_sec",
        (server_cpu > 0.0).then(|| total as f64 / server_cpu),
        "req/cpu-s",
    );
    r.metric("error_replies", errs, "");
    hist.add_to(&mut r, "latency");
    if kind == "ping" {
        let (v, which) = match steady {
            Some(v) => (v, "steady"),
            None => (total as f64 / elapsed, "overall"),
        };
        r.target(
            ">= 200,000 pings/s",
            v >= 200_000.0,
            format!("{v:.0} pings/s {which}"),
        );
    }
    if errs > 0 {
        r.fail(format!(
            "{errs} error replies: {}",
            first_error.unwrap_or_default()
        ));
    }
    if !failed.is_empty() {
        r.fail(format!(
            "{} connections failed: {}",
            failed.len(),
            first_errors(&failed)
        ));
    }
    Ok(r)
}
