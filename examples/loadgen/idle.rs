//! Scenario idle: N idle subscribed connections; the server's RSS per connection, the connect
//! rate, and one message per topic reaching every connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pubsub_gateway::pb::pub_sub_resp::Resp;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::client::{connect, describe, first_errors, make_value, produce_req, request};
use crate::gateway::{embedded_route, Env, Gateway};
use crate::process::{self_rss_kib, CpuMeter};
use crate::push::{open_subscribed, read_pushes};
use crate::report::Report;
use crate::WAIT;

pub async fn idle(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&["connections", "topics", "concurrency", "hold"])?;
    let n: usize = a.num("connections", 10_000)?;
    let topics: usize = a.num("topics", 1)?;
    let concurrency: usize = a.num("concurrency", 100)?;
    let hold: f64 = a.num("hold", 3.0)?;
    let topics = topics.max(1);
    env.check_fds(n)?;
    let sources = env.sources(n);
    let mut r = Report::new("idle");
    r.param("connections", n);
    r.param("topics", topics);
    r.param("concurrency", concurrency);
    r.param("source_addresses", sources.ips.len());
    let mut gw = Gateway::start(
        env,
        "",
        &embedded_route(&format!("max_topics: {}", topics.max(1000))),
    )?;
    gw.describe(&mut r);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base_rss = gw.rss_kib();
    let base_fds = gw.fds();
    let my_base = self_rss_kib();
    let cpu = CpuMeter::start(&gw);

    let (conns, connect_hist, errors, connect_secs) = open_subscribed(
        gw.addr,
        "/embedded",
        n,
        concurrency,
        &sources,
        |i| format!("idle-{}", i % topics),
        4096,
    )
    .await;
    let opened = conns.len();
    cpu.add_to(&gw, &mut r);
    // Hold: every connection keeps reading (answering the gateway's pings) until cancelled.
    let cancel = CancellationToken::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(read_pushes(ws, cancel.clone(), delivered.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(hold)).await;
    gw.alive()?;
    let rss = gw.rss_kib();
    let fds = gw.fds();
    let my_rss = self_rss_kib();

    // Liveness: one message per topic must reach every connection.
    let mut producer = connect(gw.addr, "/embedded", sources.pick(), 4096).await?;
    let t = Instant::now();
    for i in 0..topics {
        match request(
            &mut producer,
            i as i64 + 1,
            produce_req(&format!("idle-{i}"), make_value(16, i as u64)),
        )
        .await?
        {
            Resp::KafkaProduceResp(_) => {}
            other => r.fail(format!("liveness produce: {}", describe(Some(other)))),
        }
    }
    let deadline = Instant::now() + WAIT + Duration::from_secs((n / 5000) as u64);
    while delivered.load(Ordering::Relaxed) < opened as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fanout_ms = t.elapsed().as_secs_f64() * 1000.0;
    let got = delivered.load(Ordering::Relaxed);
    cancel.cancel();
    let mut dropped = Vec::new();
    for h in readers {
        if let Ok(st) = h.await {
            if let Some(e) = st.error {
                dropped.push(e);
            }
        }
    }
    drop(producer);
    gw.stop();

    let per_conn = (rss.saturating_sub(base_rss)) as f64 / opened.max(1) as f64;
    r.metric("connections_opened", opened, "");
    r.metric("connections_failed", errors.len(), "");
    r.metric("connect_secs", connect_secs, "s");
    r.metric("connect_rate", opened as f64 / connect_secs, "conn/s");
    connect_hist.add_to(&mut r, "connect_latency");
    r.metric("gateway_rss_baseline_mib", base_rss as f64 / 1024.0, "MiB");
    r.metric("gateway_rss_after_mib", rss as f64 / 1024.0, "MiB");
    r.metric("gateway_rss_per_conn_kib", per_conn, "KiB");
    r.metric("gateway_fds", fds.saturating_sub(base_fds), "opened");
    r.metric(
        "loadgen_rss_per_conn_kib",
        my_rss.saturating_sub(my_base) as f64 / opened.max(1) as f64,
        "KiB",
    );
    r.metric("liveness_delivered", got, "msgs");
    r.metric("liveness_expected", opened, "msgs");
    r.metric("liveness_fanout_ms", fanout_ms, "ms");
    r.target(
        "rss per idle connection <= 10 KiB",
        per_conn <= 10.0,
        format!("{per_conn:.2} KiB"),
    );
    if !errors.is_empty() {
        r.fail(format!(
            "{} of {n} connections failed: {}",
            errors.len(),
            first_errors(&errors)
        ));
    }
    if got != opened as u64 {
        r.fail(format!(
            "liveness: {got} of {opened} connections got the message"
        ));
    }
    if !dropped.is_empty() {
        r.fail(format!(
            "{} connections dropped while idle: {}",
            dropped.len(),
            first_errors(&dropped)
        ));
    }
    Ok(r)
}
