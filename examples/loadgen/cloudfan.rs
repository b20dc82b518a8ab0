//! Scenario `fanout --scheme gcp|aws`: one Pub/Sub topic or SNS topic, S WebSocket subscribers
//! through the gateway, messages published by a direct client (gcloud-pubsub, aws-sdk-sns) at
//! a rate; beside them, in the same run, the direct client's own subscriber (a plain
//! subscription read by StreamingPull, or an SQS queue subscribed with raw delivery) as the
//! reference latency. These schemes keep no order and no offsets on live subscriptions
//! (offset -1), so loss and duplicates are checked by the sequence number in each value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::client::{clock, first_errors, now_ns};
use crate::cloud::{self, text_value, Cpu3, Seen};
use crate::gateway::{Env, Gateway};
use crate::push::open_subscribed;
use crate::report::{sampler, steady_rate, Hist, Report};
use crate::values::read_values;

pub async fn fanout(env: &Env, a: &Args, scheme: &str) -> Result<Report, String> {
    a.only(&[
        "subscribers",
        "rate",
        "size",
        "seconds",
        "scheme",
        "concurrency",
        "inflight",
    ])?;
    env.needs_gateway("the cloud schemes")?;
    let subs: usize = a.num("subscribers", 1000)?;
    let rate: f64 = a.num("rate", 100.0)?;
    let size: usize = a.num("size", 100)?;
    let secs: f64 = a.num("seconds", 10.0)?;
    let concurrency: usize = a.num("concurrency", 50)?;
    let inflight: usize = a.num("inflight", 32)?;
    if rate <= 0.0 || secs <= 0.0 {
        return Err("--rate and --seconds must be positive".into());
    }
    env.check_fds(subs + 16)?;
    let sources = env.sources(subs);
    let total = (rate * secs).round() as u64;
    let mut r = Report::new("fanout");
    r.param("scheme", scheme);
    r.param("subscribers", subs);
    r.param("rate", rate);
    r.param("size", size.max(32));
    r.param("seconds", secs);
    r.param("publisher", "direct, one call per message");
    r.param("publisher_inflight", inflight);

    let cloud = cloud::start(scheme).await?;
    let server_name = if scheme == "gcp" { "emulator" } else { "moto" };
    let topic = format!("fanout-{}", std::process::id());
    cloud.create_topic(&topic).await?;
    cloud.create_direct(&topic, "lg-direct").await?;
    let mut gw = Gateway::start(env, "", &cloud.route())?;
    gw.describe(&mut r);
    r.param("route_scheme", cloud.scheme());
    let (conns, connect_hist, errors, connect_secs) = open_subscribed(
        gw.addr,
        "/cloud",
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
        .map(|ws| tokio::spawn(read_values(ws, total, cancel.clone(), delivered.clone())))
        .collect();

    // The direct client's own subscriber, in the same run.
    let direct = Arc::new(Mutex::new(Seen::new(total)));
    let direct_stop = CancellationToken::new();
    let cloud: Arc<dyn cloud::Cloud> = Arc::from(cloud);
    let direct_task = {
        let (cloud, direct, stop) = (cloud.clone(), direct.clone(), direct_stop.clone());
        tokio::spawn(async move {
            let mut on = |v: &[u8]| {
                if let Ok(mut d) = direct.lock() {
                    d.record(v, now_ns());
                }
                true
            };
            cloud.receive("lg-direct", true, stop, &mut on).await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let stop_sampling = CancellationToken::new();
    let counter = delivered.clone();
    let samples = sampler(
        move || counter.load(Ordering::Relaxed),
        Duration::from_millis(500),
        stop_sampling.clone(),
    );
    let rss_before = gw.rss_kib();
    let cpu = Cpu3::start(&gw, cloud.server());
    let t0 = Instant::now();
    // Paced: message n is published at t0 + n / rate, each by its own call, `inflight` at once.
    let sem = Arc::new(Semaphore::new(inflight.max(1)));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let mut late = Hist::default();
    for n in 0..total {
        let due = t0 + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let permit = sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        late.record_us(due.elapsed().as_micros() as u64);
        let (cloud, topic) = (cloud.clone(), topic.clone());
        let (ok, failed, first_error) = (ok.clone(), failed.clone(), first_error.clone());
        tokio::spawn(async move {
            match cloud.publish(&topic, vec![text_value(size, n)]).await {
                Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    if let Ok(mut f) = first_error.lock() {
                        f.get_or_insert(e);
                    }
                    failed.fetch_add(1, Ordering::Relaxed)
                }
            };
            drop(permit);
        });
    }
    let _ = sem.acquire_many(inflight.max(1) as u32).await;
    let producing = t0.elapsed().as_secs_f64();
    let published = ok.load(Ordering::Relaxed);
    // Drain: every subscriber and the direct one must get every published message.
    let expected = published * subscribed;
    let direct_got = || direct.lock().map(|d| d.distinct).unwrap_or(0);
    let mut last = (0, 0);
    let mut last_progress = Instant::now();
    while delivered.load(Ordering::Relaxed) < expected || direct_got() < published {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = (delivered.load(Ordering::Relaxed), direct_got());
        if now != last {
            last = now;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > Duration::from_secs(15) {
            break;
        }
    }
    // Anything more (duplicates) would come right away.
    tokio::time::sleep(Duration::from_millis(500)).await;
    cpu.add_to(&gw, cloud.server(), server_name, &mut r, "");
    r.metric("gateway_rss_before_mib", rss_before as f64 / 1024.0, "MiB");
    r.metric("gateway_rss_after_mib", gw.rss_kib() as f64 / 1024.0, "MiB");
    r.metric(
        &format!("{server_name}_rss_mib"),
        cloud.server().rss_kib() as f64 / 1024.0,
        "MiB",
    );
    stop_sampling.cancel();
    cancel.cancel();
    direct_stop.cancel();
    let samples = samples.await.unwrap_or_default();
    let mut hist = Hist::default();
    let (mut frames, mut dups, mut foreign, mut short, mut last_rx) =
        (0u64, 0u64, 0u64, 0usize, 0u64);
    let mut sub_errors = Vec::new();
    for h in readers {
        let st = h.await.map_err(|e| format!("subscriber task: {e}"))?;
        hist.merge(&st.seen.hist);
        frames += st.frames;
        dups += st.seen.dups;
        foreign += st.seen.foreign;
        last_rx = last_rx.max(st.seen.last_rx_ns);
        if st.seen.distinct < published {
            short += 1;
        }
        if let Some(e) = st.error {
            sub_errors.push(e);
        }
    }
    if let Err(e) = direct_task.await.map_err(|e| e.to_string()).and_then(|r| r) {
        r.fail(format!("direct subscriber: {e}"));
    }
    gw.alive()?;
    gw.stop();

    let got = delivered.load(Ordering::Relaxed);
    let t0_ns = (t0 - clock()).as_nanos() as u64;
    let span = (last_rx.saturating_sub(t0_ns)) as f64 / 1e9;
    r.metric("published", published, "msgs");
    r.metric("publish_errors", failed.load(Ordering::Relaxed), "");
    r.metric(
        "publish_rate",
        published as f64 / producing.max(1e-9),
        "msg/s",
    );
    r.metric("publish_start_late_p99_ms", late.ms(0.99), "ms");
    r.metric("delivered", got, "msgs");
    r.metric("expected", expected, "msgs");
    r.metric("delivered_per_sec", got as f64 / span.max(1e-9), "msg/s");
    r.metric(
        "delivered_per_sec_steady",
        steady_rate(&samples, 1.0, (producing - 0.5).max(1.0)),
        "msg/s",
    );
    r.metric("msgs_per_frame", got as f64 / frames.max(1) as f64, "msgs");
    hist.add_to(&mut r, "latency");
    let d = direct.lock().map_err(|_| "poisoned")?;
    r.metric("direct_received", d.distinct, "msgs");
    r.metric("direct_duplicates", d.dups, "");
    r.metric("direct_latency_p50_ms", d.hist.ms(0.5), "ms");
    r.metric("direct_latency_p99_ms", d.hist.ms(0.99), "ms");
    r.note(if scheme == "gcp" {
        "direct_*: a plain subscription of the same topic read by one StreamingPull (acked per \
         response), as the gateway reads its live subscription: the emulator's own latency"
    } else {
        "direct_*: an SQS queue subscribed to the same topic with raw delivery, long-polled \
         (ReceiveMessage of 10, DeleteMessageBatch), as the gateway reads its live queue: \
         moto's own latency"
    });
    r.note("latency: from the publisher's call to the receipt of the push (the send time is in the value)");
    if got < expected {
        r.fail(format!(
            "{} messages missing ({short} subscribers short)",
            expected - got
        ));
    }
    if d.distinct < published {
        r.fail(format!(
            "the direct subscriber missed {}",
            published - d.distinct
        ));
    }
    if dups > 0 || foreign > 0 {
        r.fail(format!(
            "duplicates {dups}, values not of this run {foreign}"
        ));
    }
    if failed.load(Ordering::Relaxed) > 0 {
        let e = first_error.lock().map(|e| e.clone()).unwrap_or_default();
        r.fail(format!("publish failed: {}", e.unwrap_or_default()));
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
