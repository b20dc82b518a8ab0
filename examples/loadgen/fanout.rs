//! Scenario fanout: S subscribers of one topic and R msgs/s produced; delivered msgs/s,
//! latency from send to receipt, and no loss, duplicate or reordering.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::Producer;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::client::{clock, connect, first_errors, make_value};
use crate::gateway::{embedded_route, kafka_route, Env, Gateway};
use crate::kafka::{direct_tail, rdkafka_producer, rdkafka_send, Tansu};
use crate::process::CpuMeter;
use crate::produce::produce_paced;
use crate::push::{open_subscribed, read_pushes};
use crate::report::{sampler, steady_rate, Hist, Report};
use crate::WAIT;

pub async fn fanout(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&[
        "subscribers",
        "rate",
        "size",
        "seconds",
        "scheme",
        "producer",
        "producers",
        "concurrency",
    ])?;
    let subs: usize = a.num("subscribers", 1000)?;
    let rate: f64 = a.num("rate", 500.0)?;
    let size: usize = a.num("size", 100)?;
    let secs: f64 = a.num("seconds", 10.0)?;
    let scheme = a.choice("scheme", "embedded", &["embedded", "kafka"])?;
    if scheme == "kafka" {
        env.needs_gateway("the kafka scheme")?;
    }
    let producer_kind = a.choice("producer", "gateway", &["gateway", "rdkafka"])?;
    let producers: usize = a.num("producers", 1)?;
    let concurrency: usize = a.num("concurrency", 100)?;
    if producer_kind == "rdkafka" && scheme != "kafka" {
        return Err("--producer rdkafka needs --scheme kafka".into());
    }
    env.check_fds(subs + producers)?;
    let sources = env.sources(subs);
    let mut r = Report::new("fanout");
    r.param("subscribers", subs);
    r.param("rate", rate);
    r.param("size", size);
    r.param("seconds", secs);
    r.param("scheme", scheme.clone());
    r.param("producer", producer_kind.clone());
    r.param("producers", producers);

    let topic = format!("fanout-{}", std::process::id());
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

    let (conns, connect_hist, errors, connect_secs) = open_subscribed(
        gw.addr,
        path,
        subs,
        concurrency,
        &sources,
        |_| topic.clone(),
        16 * 1024,
    )
    .await;
    r.metric("subscribed", conns.len(), "");
    r.metric("subscribe_secs", connect_secs, "s");
    r.metric("subscribe_p99_ms", connect_hist.ms(0.99), "ms");
    if !errors.is_empty() {
        r.fail(format!(
            "{} of {subs} subscribers failed: {}",
            errors.len(),
            first_errors(&errors)
        ));
    }
    let subscribed = conns.len() as u64;
    let cancel = CancellationToken::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(read_pushes(ws, cancel.clone(), delivered.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Kafka: a direct consumer measures the broker's own produce-to-consume latency alongside.
    let tail_stop = Arc::new(AtomicBool::new(false));
    let tail = match &tansu {
        Some(t) => {
            let (b, tp, stop) = (t.bootstrap(), topic.clone(), tail_stop.clone());
            let (tx, rx) = std::sync::mpsc::channel();
            let h = tokio::task::spawn_blocking(move || direct_tail(&b, &tp, tx, stop));
            let _ = tokio::task::spawn_blocking(move || rx.recv_timeout(WAIT)).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            Some(h)
        }
        None => None,
    };
    let stop_sampling = CancellationToken::new();
    let counter = delivered.clone();
    let samples = sampler(
        move || counter.load(Ordering::Relaxed),
        Duration::from_millis(500),
        stop_sampling.clone(),
    );
    let cpu = CpuMeter::start(&gw);
    let t0 = Instant::now();
    let mut produced_ok = 0u64;
    let mut produce_errors = 0u64;
    let mut produce_secs = 0.0;
    if producer_kind == "gateway" {
        let mut tasks = Vec::new();
        for _ in 0..producers.max(1) {
            let ws = connect(gw.addr, path, sources.pick(), 16 * 1024).await?;
            tasks.push(tokio::spawn(produce_paced(
                ws,
                topic.clone(),
                rate / producers.max(1) as f64,
                secs,
                size,
            )));
        }
        for t in tasks {
            let st = t.await.map_err(|e| format!("producer task: {e}"))?;
            produced_ok += st.acked;
            produce_errors += st.errors + (st.sent - st.acked - st.errors);
            if let (Some(a), Some(b)) = (st.first_send, st.last_send) {
                produce_secs = f64::max(produce_secs, (b - a).as_secs_f64());
            }
            if let Some(e) = st.first_error {
                r.fail(format!("producer: {e}"));
            }
        }
    } else {
        let bootstrap = tansu.as_ref().unwrap().bootstrap();
        let topic = topic.clone();
        let (ok, failed, first, psecs) = tokio::task::spawn_blocking(move || {
            let (p, d) = rdkafka_producer(&bootstrap, &[("linger.ms", "1")])?;
            let total = (rate * secs).round() as u64;
            let start = Instant::now();
            let mut n = 0u64;
            while n < total {
                let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
                while n < due {
                    rdkafka_send(&p, &topic, &make_value(size, n))?;
                    n += 1;
                }
                let next_at = start + Duration::from_secs_f64(n as f64 / rate);
                if let Some(d) = next_at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
            let psecs = start.elapsed().as_secs_f64();
            p.flush(Duration::from_secs(60))
                .map_err(|e| format!("rdkafka flush: {e}"))?;
            let first = d.first_error.lock().unwrap().clone();
            Ok::<_, String>((
                d.ok.load(Ordering::Relaxed),
                d.failed.load(Ordering::Relaxed),
                first,
                psecs,
            ))
        })
        .await
        .map_err(|e| format!("producer thread: {e}"))??;
        produced_ok = ok;
        produce_errors = failed;
        produce_secs = psecs;
        if let Some(e) = first {
            r.fail(format!("rdkafka producer: {e}"));
        }
    }
    let producing = t0.elapsed().as_secs_f64();
    // Drain: every subscriber must get every acknowledged message.
    let expected = produced_ok * subscribed;
    let mut last = delivered.load(Ordering::Relaxed);
    let mut last_progress = Instant::now();
    while delivered.load(Ordering::Relaxed) < expected {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = delivered.load(Ordering::Relaxed);
        if now != last {
            last = now;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    // Anything more (duplicates) would come right away.
    tokio::time::sleep(Duration::from_millis(200)).await;
    cpu.add_to(&gw, &mut r);
    stop_sampling.cancel();
    cancel.cancel();
    let samples = samples.await.unwrap_or_default();
    let mut hist = Hist::default();
    let (mut frames, mut gaps, mut dups, mut last_rx) = (0u64, 0u64, 0u64, 0u64);
    let mut sub_errors = Vec::new();
    let mut short = 0usize;
    for h in readers {
        let st = h.await.map_err(|e| format!("subscriber task: {e}"))?;
        hist.merge(&st.hist);
        frames += st.frames;
        gaps += st.gaps;
        dups += st.dups;
        last_rx = last_rx.max(st.last_rx_ns);
        if st.received < produced_ok {
            short += 1;
        }
        if let Some(e) = st.error {
            sub_errors.push(e);
        }
    }
    tail_stop.store(true, Ordering::Relaxed);
    let tail = match tail {
        Some(h) => Some(h.await.map_err(|e| format!("direct tail thread: {e}"))??),
        None => None,
    };
    gw.alive()?;
    gw.stop();
    drop(tansu);

    let got = delivered.load(Ordering::Relaxed);
    let t0_ns = (t0 - clock()).as_nanos() as u64;
    let span = (last_rx.saturating_sub(t0_ns)) as f64 / 1e9;
    let overall = got as f64 / span.max(1e-9);
    // Steady state: the production window without its first and last second.
    let steady = steady_rate(&samples, 1.0, (producing - 0.5).max(1.0));
    r.metric("produced", produced_ok, "msgs");
    r.metric("produce_errors", produce_errors, "");
    r.metric(
        "produce_rate",
        produced_ok as f64 / produce_secs.max(1e-9),
        "msg/s",
    );
    r.metric("delivered", got, "msgs");
    r.metric("expected", expected, "msgs");
    r.metric("delivered_per_sec", overall, "msg/s");
    r.metric("delivered_per_sec_steady", steady, "msg/s");
    r.metric("frames_per_sec", frames as f64 / span.max(1e-9), "frames/s");
    r.metric("msgs_per_frame", got as f64 / frames.max(1) as f64, "msgs");
    hist.add_to(&mut r, "latency");
    if let Some((n, h)) = &tail {
        r.metric("direct_consumer_received", *n, "msgs");
        r.metric("direct_consumer_latency_p50_ms", h.ms(0.5), "ms");
        r.metric("direct_consumer_latency_p99_ms", h.ms(0.99), "ms");
        r.note(
            "direct_consumer_*: a plain rdkafka consumer (fetch.wait.max.ms 100, as the gateway's) \
             tailing the same partition: the broker's own latency",
        );
    }
    let p99 = hist.ms(0.99).unwrap_or(f64::INFINITY);
    let (rate_for_target, which) = match steady {
        Some(v) => (v, "steady"),
        None => (overall, "overall"),
    };
    r.target(
        "delivered >= 500,000 msgs/s",
        rate_for_target >= 500_000.0,
        format!(
            "{rate_for_target:.0} msgs/s {which} ({:.0} offered)",
            rate * subscribed as f64
        ),
    );
    r.target("p99 < 50 ms", p99 < 50.0, format!("{p99:.2} ms"));
    if got < expected {
        r.fail(format!(
            "{} messages missing ({short} subscribers short)",
            expected - got
        ));
    }
    if gaps > 0 || dups > 0 {
        r.fail(format!("offset gaps {gaps}, duplicates {dups}"));
    }
    if !sub_errors.is_empty() {
        r.fail(format!(
            "{} subscribers failed: {}",
            sub_errors.len(),
            first_errors(&sub_errors)
        ));
    }
    Ok(r)
}
