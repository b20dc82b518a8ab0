//! Scenario fetch: a preloaded partition read through the gateway, against a direct rdkafka
//! consumer of the same broker.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use prost::Message as _;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::{CmdKafkaFetch, PubSubResp};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;
use rdkafka::Message as _;
use rdkafka::{Offset, TopicPartitionList};

use crate::args::Args;
use crate::client::{connect, describe, frame, make_value, recv_binary};
use crate::gateway::{embedded_route, kafka_route, Env, Gateway};
use crate::kafka::{rdkafka_producer, rdkafka_send, Tansu};
use crate::process::CpuMeter;
use crate::produce::produce_bulk;
use crate::push::{scan_messages, RESP_FETCH};
use crate::report::Report;
use crate::WAIT;

/// Fetches offsets [0, n) sequentially; returns (seconds, fetch requests, bytes of values).
pub async fn fetch_through_gateway(
    gw: SocketAddr,
    path: &'static str,
    topic: &str,
    n: u64,
    max_messages: i32,
    src: Ipv4Addr,
) -> Result<(f64, u64, u64), String> {
    let mut ws = connect(gw, path, src, 256 * 1024).await?;
    let start = Instant::now();
    let (mut offset, mut fetches, mut bytes, mut empty) = (0i64, 0u64, 0u64, 0u32);
    while (offset as u64) < n {
        fetches += 1;
        let seq = fetches as i64;
        ws.send(frame(
            seq,
            Req::CmdKafkaFetch(CmdKafkaFetch {
                topic: topic.into(),
                partition: 0,
                offset,
                max_messages,
                ..Default::default()
            }),
        ))
        .await
        .map_err(|e| format!("send fetch: {e}"))?;
        let b = tokio::time::timeout(WAIT, recv_binary(&mut ws))
            .await
            .map_err(|_| format!("fetch at {offset}: no reply within {WAIT:?}"))??;
        let mut bad = None;
        let mut next = offset;
        let scanned = scan_messages(&b, RESP_FETCH, |o, v| {
            if o != next && bad.is_none() {
                bad = Some(format!(
                    "fetch at {offset}: offset {o} where {next} was due"
                ));
            }
            next = o + 1;
            bytes += v.len() as u64;
        })?;
        match scanned {
            Some(0) => {
                empty += 1;
                if empty > 20 {
                    return Err(format!("fetch at {offset}: empty replies before the end"));
                }
            }
            Some(_) => empty = 0,
            None => {
                let resp = PubSubResp::decode(b).map_err(|e| e.to_string())?.resp;
                return Err(format!("fetch at {offset}: {}", describe(resp)));
            }
        }
        if let Some(e) = bad {
            return Err(e);
        }
        offset = next;
    }
    Ok((start.elapsed().as_secs_f64(), fetches, bytes))
}

/// Reads offsets [0, n) of partition 0 with a plain rdkafka consumer: (seconds, bytes).
pub fn fetch_direct(bootstrap: &str, topic: &str, n: u64) -> Result<(f64, u64), String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "loadgen-direct")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "error")
        .create()
        .map_err(|e| format!("direct consumer: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(0))
        .map_err(|e| e.to_string())?;
    c.assign(&tpl).map_err(|e| format!("assign: {e}"))?;
    let start = Instant::now();
    let (mut next, mut bytes) = (0i64, 0u64);
    let mut idle_since = Instant::now();
    while (next as u64) < n {
        match c.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                if m.offset() != next {
                    return Err(format!(
                        "direct: offset {} where {next} was due",
                        m.offset()
                    ));
                }
                next += 1;
                bytes += m.payload().map_or(0, |p| p.len() as u64);
                idle_since = Instant::now();
            }
            Some(Err(e)) => return Err(format!("direct consumer: {e}")),
            None if idle_since.elapsed() > WAIT => {
                return Err(format!("direct consumer stalled at offset {next}"))
            }
            None => {}
        }
    }
    Ok((start.elapsed().as_secs_f64(), bytes))
}

pub async fn fetch(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&["messages", "size", "scheme", "rounds", "fetch-max-messages"])?;
    let n: u64 = a.num("messages", 1_000_000)?;
    let size: usize = a.num("size", 100)?;
    let scheme = a.choice("scheme", "kafka", &["embedded", "kafka"])?;
    env.needs_gateway("fetch")?;
    let rounds: usize = a.num("rounds", 2)?;
    let fmm: i32 = a.num("fetch-max-messages", 0)?;
    let mut r = Report::new("fetch");
    r.param("messages", n);
    r.param("size", size);
    r.param("scheme", scheme.clone());
    r.param("rounds", rounds);
    r.param("fetch_max_messages", fmm);
    let topic = format!("fetch-{}", std::process::id());
    let limits = if fmm > 0 {
        format!("fetch_max_messages: {fmm}")
    } else {
        String::new()
    };
    let sources = env.sources(1);

    if scheme == "embedded" {
        let retention = format!(
            "retention_messages: {}, retention_bytes: {}",
            n.max(100_000),
            (n * (size as u64 + 64)).max(64 << 20)
        );
        let mut gw = Gateway::start(env, &limits, &embedded_route(&retention))?;
        gw.describe(&mut r);
        let mut ws = connect(gw.addr, "/embedded", sources.pick(), 64 * 1024).await?;
        let t = Instant::now();
        produce_bulk(&mut ws, &topic, n, size, 64).await?;
        r.metric(
            "preload_rate",
            n as f64 / t.elapsed().as_secs_f64(),
            "msg/s",
        );
        drop(ws);
        let cpu = CpuMeter::start(&gw);
        let mut rates = Vec::new();
        for _ in 0..rounds.max(1) {
            let (s, fetches, bytes) =
                fetch_through_gateway(gw.addr, "/embedded", &topic, n, fmm, sources.pick()).await?;
            rates.push(n as f64 / s);
            r.metric("gateway_fetches", fetches, "requests");
            r.metric("gateway_mb_per_sec", bytes as f64 / s / 1e6, "MB/s");
        }
        cpu.add_to(&gw, &mut r);
        gw.alive()?;
        gw.stop();
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        r.metric("gateway_msgs_per_sec", mean, "msg/s");
        r.note("embedded scheme: no direct consumer to compare with");
        return Ok(r);
    }

    let tansu = Tansu::start(env)?;
    tansu.create_topic(&topic, 1).await?;
    let bootstrap = tansu.bootstrap();
    // Preload with a batching producer.
    {
        let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
        let t = Instant::now();
        let (ok, failed, first) = tokio::task::spawn_blocking(move || {
            let (p, d) = rdkafka_producer(
                &bootstrap,
                &[
                    ("linger.ms", "20"),
                    ("batch.num.messages", "10000"),
                    ("batch.size", "1000000"),
                    ("queue.buffering.max.messages", "1000000"),
                ],
            )?;
            let mut last_log = Instant::now();
            for i in 0..n {
                rdkafka_send(&p, &topic, &make_value(size, i))?;
                if last_log.elapsed() > Duration::from_secs(10) {
                    eprintln!(
                        "preload: {i} of {n} queued, {} stored",
                        d.ok.load(Ordering::Relaxed)
                    );
                    last_log = Instant::now();
                }
            }
            p.flush(Duration::from_secs(300))
                .map_err(|e| format!("preload flush: {e}"))?;
            let first = d.first_error.lock().unwrap().clone();
            Ok::<_, String>((
                d.ok.load(Ordering::Relaxed),
                d.failed.load(Ordering::Relaxed),
                first,
            ))
        })
        .await
        .map_err(|e| format!("preload thread: {e}"))??;
        if ok != n || failed > 0 {
            return Err(format!(
                "preload: {ok} of {n} stored, {failed} failed: {first:?}"
            ));
        }
        r.metric(
            "preload_rate",
            n as f64 / t.elapsed().as_secs_f64(),
            "msg/s",
        );
    }
    let mut gw = Gateway::start(env, &limits, &kafka_route(&bootstrap))?;
    gw.describe(&mut r);
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    let mut gw_cpu = 0.0;
    let mut gw_secs = 0.0;
    let mut fetches = 0;
    // ABBA order: neither side always reads a warmer broker.
    for round in 0..rounds.max(1) {
        for side in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            if side == 0 {
                let (b, t) = (bootstrap.clone(), topic.clone());
                let (s, _) = tokio::task::spawn_blocking(move || fetch_direct(&b, &t, n))
                    .await
                    .map_err(|e| format!("direct thread: {e}"))??;
                eprintln!("fetch round {round}: direct {:.0} msg/s", n as f64 / s);
                direct.push(n as f64 / s);
            } else {
                let c0 = gw.cpu_secs();
                let (s, f, _) =
                    fetch_through_gateway(gw.addr, "/kafka", &topic, n, fmm, sources.pick())
                        .await?;
                gw_cpu += gw.cpu_secs() - c0;
                gw_secs += s;
                fetches = f;
                eprintln!("fetch round {round}: gateway {:.0} msg/s", n as f64 / s);
                through.push(n as f64 / s);
            }
        }
    }
    gw.alive()?;
    gw.stop();
    drop(tansu);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let ratio = mean(&through) / mean(&direct);
    for (i, v) in direct.iter().enumerate() {
        r.metric(&format!("direct_msgs_per_sec_run{i}"), *v, "msg/s");
    }
    for (i, v) in through.iter().enumerate() {
        r.metric(&format!("gateway_msgs_per_sec_run{i}"), *v, "msg/s");
    }
    r.metric("direct_msgs_per_sec", mean(&direct), "msg/s");
    r.metric("gateway_msgs_per_sec", mean(&through), "msg/s");
    r.metric("gateway_fetches_per_run", fetches, "requests");
    r.metric("msgs_per_fetch", n as f64 / fetches.max(1) as f64, "msgs");
    r.metric(
        "gateway_cpu_pct_while_fetching",
        100.0 * gw_cpu / gw_secs.max(1e-9),
        "% of one core",
    );
    r.metric("ratio_gateway_to_direct", ratio, "");
    r.target("gateway/direct >= 0.9", ratio >= 0.9, format!("{ratio:.3}"));
    Ok(r)
}
