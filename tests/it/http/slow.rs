//! Slow event-stream clients: under `slow_consumer: close` a stream whose client stops reading
//! is ended, as a WebSocket is closed; under the default `pause` it waits for the client and
//! then goes on without losing a message.

use super::*;

/// 80 pushes of 256 KiB (20 MiB): more than the sockets' and the client's buffers hold, so
/// the stream's queue fills while its client does not read.
const N: usize = 80;

fn gateway_yaml(limits: &str) -> String {
    format!(
        "server:\n  limits: {{ {limits} }}\n{}",
        embedded_with("retention_bytes: 67108864")
    )
}

/// Opens a stream of `t` from the start, then publishes `N` large messages it does not read.
async fn stalled_stream(gw: &Gateway, t: &str) -> Events {
    let s = Http::connect(gw.addr)
        .await
        .events(&format!("/embedded/topics/{t}?start=earliest"), &[])
        .await
        .expect("stream");
    let mut p = gw.connect("/embedded").await;
    let big = "z".repeat(256 * 1024);
    for i in 0..N {
        p.produce_value(t, &format!("{i:08}{big}")).await;
    }
    s
}

fn slow_closes() -> u64 {
    pubsub_gateway::metrics::METRICS
        .slow_consumer_closes
        .load(std::sync::atomic::Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_close_ends_an_event_stream_whose_client_stopped_reading() {
    let gw = Gateway::start(&gateway_yaml(
        "slow_consumer: close, slow_consumer_timeout_ms: 300",
    ))
    .await;
    let before = slow_closes();
    let mut s = stalled_stream(&gw, &topic("slowc")).await;
    // The gateway finds the stream's queue full past the timeout while its client is away.
    let deadline = tokio::time::Instant::now() + WAIT;
    while slow_closes() == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no slow-consumer close in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reading now gets what was already sent, then the end: not all N messages.
    let mut messages = 0;
    while let Some(e) = s.next_within(WAIT).await {
        if e.event == "message" {
            messages += 1;
        }
    }
    assert!(s.ends_within(WAIT).await, "the stream ended");
    assert!(messages < N, "the stream was cut short ({messages} of {N})");
    // The gateway serves on.
    let mut http = Http::connect(gw.addr).await;
    assert_eq!(http.get("/embedded/info").await.status, 200);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_default_pause_policy_a_stalled_event_stream_resumes_without_losing_a_message() {
    let gw = Gateway::start(&gateway_yaml("slow_consumer_timeout_ms: 300")).await;
    let mut s = stalled_stream(&gw, &topic("slowp")).await;
    // Stalled well past the timeout that `close` would apply: nothing happens under `pause`.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let got = s.messages(N).await;
    assert!(got.iter().all(|e| e.event == "message"), "no gap, no close");
    let indices: Vec<usize> = got
        .iter()
        .map(|e| e.json()["value"].as_str().unwrap()[..8].parse().unwrap())
        .collect();
    assert_eq!(indices, (0..N).collect::<Vec<_>>());
    gw.stop().await;
}
