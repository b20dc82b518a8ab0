//! Scenario churn: connect, subscribe, receive one message and disconnect at a fixed rate;
//! the gateway's RSS and file descriptors must come back to where they were.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use prost::Message as _;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::{PubSubResp, StartPosition};
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::client::{
    connect, describe, first_errors, make_value, produce_req, recv_binary, request, subscribe,
};
use crate::gateway::{embedded_route, Env, Gateway};
use crate::process::{proc_status_kib, CpuMeter};
use crate::push::{scan_messages, RESP_PUSH};
use crate::report::{Hist, Report};
use crate::WAIT;

pub async fn churn_cycle(gw: SocketAddr, src: Ipv4Addr, topic: String) -> Result<(), String> {
    let mut ws = connect(gw, "/embedded", src, 4096).await?;
    // LAST: the topic's last message comes right away.
    subscribe(&mut ws, 1, &topic, StartPosition::Last).await?;
    let b = tokio::time::timeout(WAIT, recv_binary(&mut ws))
        .await
        .map_err(|_| "no push within 30 s".to_string())??;
    match scan_messages(&b, RESP_PUSH, |_, _| {})? {
        Some(1) => {}
        Some(k) => return Err(format!("{k} messages pushed where 1 was due")),
        None => return Err(format!("unexpected frame: {:?}", PubSubResp::decode(b))),
    }
    ws.close(None).await.map_err(|e| format!("close: {e}"))?;
    // Wait for the gateway's close and the end of the connection.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    Ok(())
}

pub async fn churn(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&[
        "rate",
        "seconds",
        "topics",
        "max-pending",
        "settle",
        "rounds",
    ])?;
    env.needs_gateway("churn (it subscribes from LAST)")?;
    let rounds: usize = a.num("rounds", 2)?;
    let rate: f64 = a.num("rate", 200.0)?;
    let secs: f64 = a.num("seconds", 20.0)?;
    let topics: usize = a.num("topics", 10)?;
    let max_pending: usize = a.num("max-pending", 2000)?;
    let settle: f64 = a.num("settle", 3.0)?;
    let topics = topics.max(1);
    let total = (rate * secs).round() as u64;
    // TIME_WAIT keeps a 4-tuple for 60 s: spread over enough source addresses.
    let sources = env.sources((rate * 60.0) as usize);
    let mut r = Report::new("churn");
    r.param("rate", rate);
    r.param("seconds", secs);
    r.param("topics", topics);
    r.param("rounds", rounds);
    r.param("source_addresses", sources.ips.len());
    let mut gw = Gateway::start(env, "", &embedded_route(""))?;
    gw.describe(&mut r);
    {
        let mut ws = connect(gw.addr, "/embedded", sources.pick(), 4096).await?;
        for i in 0..topics {
            let resp = request(
                &mut ws,
                i as i64 + 1,
                produce_req(&format!("churn-{i}"), make_value(32, i as u64)),
            )
            .await?;
            if !matches!(resp, Resp::KafkaProduceResp(_)) {
                return Err(format!("churn preload: {}", describe(Some(resp))));
            }
        }
        let _ = ws.close(None).await;
    }
    // Warm up: a few cycles, so the baseline includes what the first connections allocate once.
    for i in 0..topics.min(20) {
        churn_cycle(gw.addr, sources.pick(), format!("churn-{}", i % topics)).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base_rss = gw.rss_kib();
    let base_fds = gw.fds();

    let pending = Arc::new(AtomicUsize::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let hist = Arc::new(Mutex::new(Hist::default()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(AtomicU64::new(0));
    let stop_sampling = CancellationToken::new();
    let peak = {
        let (pid, stop) = (gw.pid, stop_sampling.clone());
        tokio::spawn(async move {
            let mut peak = 0;
            loop {
                peak = u64::max(peak, proc_status_kib(pid, "VmRSS").unwrap_or(0));
                tokio::select! {
                    _ = stop.cancelled() => return peak,
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
        })
    };
    let cpu = CpuMeter::start(&gw);
    let mut skipped = 0u64;
    let mut n = 0u64;
    let mut elapsed = 0.0;
    let mut after_rounds = Vec::new();
    for round in 0..rounds.max(1) {
        let start = Instant::now();
        let round_end = total * (round as u64 + 1);
        while n < round_end {
            let due = (round_end - total + (start.elapsed().as_secs_f64() * rate) as u64 + 1)
                .min(round_end);
            while n < due {
                n += 1;
                if pending.load(Ordering::Relaxed) >= max_pending {
                    skipped += 1;
                    continue;
                }
                pending.fetch_add(1, Ordering::Relaxed);
                let (pending, completed, hist, errors, failures) = (
                    pending.clone(),
                    completed.clone(),
                    hist.clone(),
                    errors.clone(),
                    failures.clone(),
                );
                let (addr, src, topic) = (
                    gw.addr,
                    sources.pick(),
                    format!("churn-{}", n as usize % topics),
                );
                tokio::spawn(async move {
                    let t = Instant::now();
                    let res = tokio::time::timeout(WAIT, churn_cycle(addr, src, topic))
                        .await
                        .unwrap_or_else(|_| Err("cycle took over 30 s".into()));
                    match res {
                        Ok(()) => {
                            hist.lock()
                                .unwrap()
                                .record_us(t.elapsed().as_micros() as u64);
                            completed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            let mut errs = errors.lock().unwrap();
                            if errs.len() < 100 {
                                errs.push(e);
                            }
                        }
                    }
                    pending.fetch_sub(1, Ordering::Relaxed);
                });
            }
            let next_at = start + Duration::from_secs_f64((n + total - round_end) as f64 / rate);
            tokio::time::sleep_until(next_at.into()).await;
        }
        let deadline = Instant::now() + WAIT + Duration::from_secs(5);
        while pending.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        elapsed += start.elapsed().as_secs_f64();
        if round + 1 < rounds {
            tokio::time::sleep(Duration::from_secs_f64(settle)).await;
            after_rounds.push(gw.rss_kib());
        }
    }
    cpu.add_to(&gw, &mut r);
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    stop_sampling.cancel();
    let peak = peak.await.unwrap_or(0);
    gw.alive()?;
    let rss = gw.rss_kib();
    let fds = gw.fds();
    let threads = gw.threads();
    gw.stop();
    after_rounds.push(rss);
    let total = total * rounds.max(1) as u64;

    let done = completed.load(Ordering::Relaxed);
    let failed = failures.load(Ordering::Relaxed);
    let growth = peak.saturating_sub(base_rss);
    let left = rss.saturating_sub(base_rss);
    // "Back to baseline": at most 1 MiB or a tenth of the growth at the peak remains.
    let returned = left <= 1024 || (left as f64) <= 0.1 * growth as f64;
    r.metric("cycles_attempted", n, "");
    r.metric("cycles_completed", done, "");
    r.metric("cycles_failed", failed, "");
    r.metric("cycles_skipped", skipped, "(max-pending reached)");
    r.metric("sustained_rate", done as f64 / elapsed, "cycles/s");
    hist.lock().unwrap().add_to(&mut r, "cycle");
    r.metric("gateway_rss_baseline_mib", base_rss as f64 / 1024.0, "MiB");
    r.metric("gateway_rss_peak_mib", peak as f64 / 1024.0, "MiB");
    r.metric("gateway_rss_after_mib", rss as f64 / 1024.0, "MiB");
    r.metric("gateway_rss_left_kib", left, "KiB above baseline");
    if after_rounds.len() > 1 {
        for (i, kib) in after_rounds.iter().enumerate() {
            r.metric(
                &format!("gateway_rss_after_round{i}_mib"),
                *kib as f64 / 1024.0,
                "MiB",
            );
        }
        let growth_after = rss as i64 - after_rounds[0] as i64;
        r.metric(
            "gateway_rss_growth_after_round0_kib",
            growth_after,
            "KiB (a leak keeps growing; allocator retention does not)",
        );
        r.target(
            "RSS stable across rounds (no leak)",
            growth_after <= 256,
            format!("{growth_after} KiB growth after the first round"),
        );
    }
    r.metric("gateway_fds_baseline", base_fds, "");
    r.metric("gateway_fds_after", fds, "");
    r.metric("gateway_threads_after", threads, "");
    r.target(
        "RSS returns to baseline",
        returned,
        format!("{left} KiB left of {growth} KiB peak growth, {settle} s after the last cycle"),
    );
    r.target(
        "sustained rate = offered rate",
        done as f64 >= 0.98 * total as f64,
        format!("{done} of {total} cycles"),
    );
    if fds > base_fds + 2 {
        r.fail(format!(
            "gateway file descriptors: {base_fds} before, {fds} after the churn"
        ));
    }
    if failed > 0 {
        r.fail(format!(
            "{failed} cycles failed: {}",
            first_errors(&errors.lock().unwrap())
        ));
    }
    Ok(r)
}
