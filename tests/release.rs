//! Separate binary: the metrics are process-wide, so the tests that read them run here, one at a time.
//!
//! Everything a connection held is released when it ends, as the admin listener's gauges show;
//! a slow consumer under `slow_consumer: close` is closed, as the close counter shows.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures_util::StreamExt;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// Drops the client's socket at once: with unread data in its receive buffer, the kernel resets
/// the connection.
fn vanish(c: Client) {
    drop(c);
}

/// Tests that compare subscription gauges with a baseline run one at a time.
static GAUGES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_subscribers_release_their_subscriptions_in_the_metrics() {
    let _one_at_a_time = GAUGES.lock().await;
    let gw = Gateway::start(&embedded_with("retention_bytes: 67108864")).await;
    let admin = gw.admin.expect("admin listener");
    let mut p = gw.connect("/embedded").await;
    p.produce_value("feed", "first").await;
    let baseline = gauge(admin, "pubsub_subscriptions_open").await;
    let tasks = gauge(admin, "pubsub_subscription_tasks").await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut c = connect_small_window(gw.addr, "/embedded").await;
        c.subscribe(sub_from("feed", Start::Earliest)).await;
        clients.push(c);
    }
    assert_eq!(
        gauge(admin, "pubsub_subscriptions_open").await,
        baseline + 4.0
    );
    let big = "y".repeat(256 * 1024);
    for _ in 0..64 {
        p.produce_value("feed", &big).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for c in clients {
        vanish(c);
    }
    let now = subscription_gauges_settled(admin, (baseline, tasks)).await;
    assert_eq!(
        now,
        (baseline, tasks),
        "subscriptions (or their delivery tasks) of vanished clients are still open"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_reader_subscribers_vanishing_with_full_queues_release_their_slots_and_the_reader() {
    let gw = Gateway::start(&format!(
        "server:\n  limits: {{ outbound_queue: 8 }}\n{}",
        embedded_with("retention_bytes: 67108864")
    ))
    .await;
    let _one_at_a_time = GAUGES.lock().await;
    let admin = gw.admin.expect("admin listener");
    let mut p = gw.connect("/embedded").await;
    p.produce_value("shared-feed", "first").await;
    let baseline = gauge(admin, "pubsub_subscriptions_open").await;
    let tasks = gauge(admin, "pubsub_subscription_tasks").await;
    let mut reader = gw.connect("/embedded").await;
    let reader_id = reader
        .subscribe(sub_from("shared-feed", Start::Latest))
        .await;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut c = connect_small_window(gw.addr, "/embedded").await;
        c.subscribe(sub_from("shared-feed", Start::Latest)).await;
        stalled.push(c);
    }
    let big = "z".repeat(256 * 1024);
    for _ in 0..32 {
        p.produce_value("shared-feed", &big).await;
    }
    // The reading subscriber gets everything while the others sit on full queues.
    assert_eq!(reader.pushed(reader_id, 32).await.len(), 32);
    for c in stalled {
        vanish(c);
    }
    p.produce_value("shared-feed", "after").await;
    let last = reader.pushed(reader_id, 1).await;
    assert_eq!(
        value_of(&last[0]),
        "after",
        "the shared reader still serves the others"
    );
    // One subscription left, on the topic's one reader task.
    let now = subscription_gauges_settled(admin, (baseline + 1.0, tasks + 1.0)).await;
    assert_eq!(
        now,
        (baseline + 1.0, tasks + 1.0),
        "vanished subscribers (or their catch-up tasks) are still held"
    );
    reader.disconnect().await;
    let now = subscription_gauges_settled(admin, (baseline, tasks)).await;
    assert_eq!(
        now,
        (baseline, tasks),
        "the last subscriber's leaving stops the reader"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_json_subscribers_release_their_subscriptions_in_the_metrics() {
    use futures_util::SinkExt;
    let _one_at_a_time = GAUGES.lock().await;
    let gw = Gateway::start(EMBEDDED).await;
    let admin = gw.admin.expect("admin listener");
    let mut p = gw.connect("/embedded").await;
    p.produce_value("json-feed", "first").await;
    let baseline = gauge(admin, "pubsub_subscriptions_open").await;
    let tasks = gauge(admin, "pubsub_subscription_tasks").await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("ws://{}/embedded", gw.addr),
            )
            .unwrap();
        req.headers_mut()
            .insert("sec-websocket-protocol", "pubsub.json".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        ws.send(Message::text(
            r#"{"sequence":"1","cmdKafkaSubscribe":{"topic":"json-feed","start":"EARLIEST"}}"#,
        ))
        .await
        .unwrap();
        // The subscribe reply, then the first push: the subscription is live.
        for _ in 0..2 {
            let m = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
            assert!(matches!(m, Some(Ok(Message::Text(_)))), "{m:?}");
        }
        clients.push(ws);
    }
    assert_eq!(
        gauge(admin, "pubsub_subscriptions_open").await,
        baseline + 4.0
    );
    let big = "y".repeat(64 * 1024);
    for _ in 0..32 {
        p.produce_value("json-feed", &big).await;
    }
    drop(clients);
    let now = subscription_gauges_settled(admin, (baseline, tasks)).await;
    assert_eq!(
        now,
        (baseline, tasks),
        "subscriptions (or their delivery tasks) of vanished JSON clients are still open"
    );
    gw.stop().await;
}

/// The gauges (subscriptions open, subscription tasks) once they equal `want`, or as they are
/// after 3 s.
async fn subscription_gauges_settled(admin: std::net::SocketAddr, want: (f64, f64)) -> (f64, f64) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let now = (
            gauge(admin, "pubsub_subscriptions_open").await,
            gauge(admin, "pubsub_subscription_tasks").await,
        );
        if now == want || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A metric's value from the admin listener's /metrics.
async fn gauge(admin: std::net::SocketAddr, name: &str) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(admin).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut body))
        .await
        .expect("metrics in time")
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[tokio::test]
async fn error_replies_a_reading_client_gets_are_not_counted_as_dropped() {
    let gw = Gateway::start(EMBEDDED).await;
    let admin = gw.admin.expect("admin listener");
    let before = gauge(admin, "pubsub_replies_dropped_total").await;
    let mut c = gw.connect("/embedded").await;
    for _ in 0..5 {
        c.send_raw(tokio_tungstenite::tungstenite::Message::Binary(
            bytes::Bytes::from_static(&[0xff, 0xff]),
        ))
        .await;
        let r = c.recv_frame().await;
        assert!(matches!(
            r.resp,
            Some(pubsub_gateway::pb::pub_sub_resp::Resp::ErrorResp(_))
        ));
    }
    assert_eq!(gauge(admin, "pubsub_replies_dropped_total").await, before);
    gw.stop().await;
}

#[tokio::test]
async fn slow_consumer_with_close_policy_is_closed_and_others_keep_flowing() {
    let _one_at_a_time = GAUGES.lock().await;
    let yaml = format!(
        "server:\n  limits: {{ outbound_queue: 8, slow_consumer: close, slow_consumer_timeout_ms: 300 }}\n{}",
        // Retention holds the whole flood (6.4 MiB), so the reading client misses nothing.
        embedded_with("retention_bytes: 67108864")
    );
    let gw = Gateway::start(&yaml).await;
    let before = pubsub_gateway::metrics::METRICS
        .slow_consumer_closes
        .load(std::sync::atomic::Ordering::Relaxed);
    // The slow client subscribes over a raw socket and then never reads.
    let mut slow = gw.connect("/embedded").await;
    let sid = match slow
        .request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "flood".into(),
            ..Default::default()
        }))
        .await
    {
        Resp::KafkaSubscribeResp(s) => s.subscription_id,
        other => panic!("{other:?}"),
    };
    let mut fast = gw.connect("/embedded").await;
    let fid = match fast
        .request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "flood".into(),
            ..Default::default()
        }))
        .await
    {
        Resp::KafkaSubscribeResp(s) => s.subscription_id,
        other => panic!("{other:?}"),
    };
    let mut p = gw.connect("/embedded").await;
    let value = Bytes::from(vec![b'x'; 16 * 1024]);
    for _ in 0..400 {
        p.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "flood".into(),
            value: value.clone(),
            ..Default::default()
        }))
        .await;
    }
    assert_eq!(
        fast.pushed(fid, 400).await.len(),
        400,
        "a reading client gets everything"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while pubsub_gateway::metrics::METRICS
        .slow_consumer_closes
        .load(std::sync::atomic::Ordering::Relaxed)
        == before
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow consumer was never closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reading now, the slow client finds its connection ended (1008, or reset if the close
    // frame could not be written into its full socket).
    let mut n = 0;
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(10), slow.ws.next())
            .await
            .expect("ends")
        {
            Some(Ok(Message::Close(f))) => break f.map(|f| f.code),
            Some(Ok(_)) => n += 1,
            Some(Err(_)) | None => break None,
        }
    };
    assert!(
        ended.is_none() || ended == Some(CloseCode::Policy),
        "{ended:?}"
    );
    assert!(
        n < 400,
        "it did not get everything: it was cut off ({n} frames, sub {sid})"
    );
    gw.stop().await;
}
