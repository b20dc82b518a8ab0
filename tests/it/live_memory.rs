//! Subscribers of live schemes (core NATS, RabbitMQ without a group, Redis pub/sub, MQTT) that
//! stop reading while large messages flow: the gateway's memory stays within the documented
//! bound (README, "Slow consumers"), the subject's other subscribers get everything, and what a
//! stalled subscriber lost is counted per route and told on its next push. Under
//! `slow_consumer: close` a stalled live subscriber is closed with 1008.

use std::time::Duration;

use pubsub_gateway::pb::pub_sub_resp::Resp;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::proc::{metric, Proc};
use crate::common::schemes::Live;
use crate::common::{connect_small_window, free_port, sub, Client};

const MESSAGE_BYTES: usize = 256 * 1024;
/// 80 MiB past the stalled subscribers.
const MESSAGES: usize = 320;
const STALLED: usize = 4;
/// What the stalled subscribers may add to the gateway's RSS: each holds at most
/// `live_queue_bytes` (1 MiB) + `outbound_queue_bytes` (1 MiB) + one push being queued (one
/// 256 KiB message), ~10 MiB for four; the rest is allocator and broker-client slack.
const RSS_BOUND_KIB: u64 = 40 * 1024;

fn payload(i: usize) -> Vec<u8> {
    let mut body = format!("{i:08}").into_bytes();
    body.resize(MESSAGE_BYTES, b'x');
    body
}

fn index(value: &[u8]) -> usize {
    std::str::from_utf8(&value[..8])
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("a message of this test")
}

fn gateway(scheme: Live, exchange: &str, admin: u16, policy: &str) -> Proc {
    Proc::start(&format!("live-{scheme:?}-{policy}"), |port| {
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: \"127.0.0.1:{admin}\"\n  limits: {{ max_requests_per_sec: 1000000, slow_consumer: {policy}, slow_consumer_timeout_ms: 400 }}\n{}",
            scheme.route("/live", exchange)
        )
    })
}

/// Publishes up to message `upto`, paced by the reading subscriber (two messages at a time, so
/// that it keeps up), which must get every one, in order.
async fn publish_and_read(
    publisher: &mut crate::common::schemes::Publisher,
    topic: &str,
    reader: &mut Client,
    rid: i64,
    next: &mut usize,
    upto: usize,
) {
    while *next < upto {
        publisher.publish(topic, payload(*next)).await;
        publisher.publish(topic, payload(*next + 1)).await;
        let got: Vec<usize> = reader
            .pushed(rid, 2)
            .await
            .iter()
            .map(|m| index(&m.value))
            .collect();
        assert_eq!(
            got,
            vec![*next, *next + 1],
            "the reading subscriber gets everything, in order"
        );
        *next += 2;
    }
}

async fn stalled_subscribers_keep_memory_bounded_and_the_others_get_everything(scheme: Live) {
    let exchange = crate::common::rabbitmq::unique("gw-live-mem");
    let admin = free_port();
    let p = gateway(scheme, &exchange, admin, "pause");
    let topic = scheme.topic("live-mem");
    let mut publisher = scheme.publisher(&exchange).await;
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        let mut c = connect_small_window(p.addr, "/live").await;
        let id = c.subscribe(sub(&topic)).await;
        stalled.push((c, id));
    }
    let mut reader = Client::connect(p.addr, "/live").await;
    let rid = reader.subscribe(sub(&topic)).await;
    let mut next = 0;
    // Warm-up: the stalled clients' sockets fill and their queues reach their bound.
    publish_and_read(&mut publisher, &topic, &mut reader, rid, &mut next, 40).await;
    let before = p.rss_kib();
    let mut peak = before;
    for upto in (80..=MESSAGES).step_by(40) {
        publish_and_read(&mut publisher, &topic, &mut reader, rid, &mut next, upto).await;
        peak = peak.max(p.rss_kib());
    }
    eprintln!("{scheme:?}: RSS {before} KiB before, peak {peak} KiB while {} MiB passed {STALLED} stalled subscribers", ((MESSAGES - 40) * MESSAGE_BYTES) >> 20);
    assert!(
        peak <= before + RSS_BOUND_KIB,
        "{scheme:?}: RSS grew from {before} KiB to {peak} KiB"
    );
    let lost = metric(admin, "pubsub_live_dropped_total{route=\"/live\"}").await;
    assert!(
        lost >= (STALLED * MESSAGES / 2) as i64,
        "{scheme:?}: the stalled subscribers' losses are counted ({lost})"
    );

    // A stalled subscriber reads again: it gets a subsequence in order, and the pushes say how
    // many messages it lost before each, so that what it got and what it was told it lost
    // account for every message.
    let (mut back, id) = stalled.pop().expect("a stalled subscriber");
    let mut got = Vec::new();
    let mut told = 0u64;
    let mut tail_sent = false;
    loop {
        let Some(frame) = back.try_recv_frame(Duration::from_secs(3)).await else {
            assert!(!tail_sent, "{scheme:?}: the last message never came");
            // Drained what was held: one more message carries the count of the last gap.
            publisher.publish(&topic, payload(MESSAGES)).await;
            tail_sent = true;
            continue;
        };
        let Some(Resp::KafkaPush(push)) = frame.resp else {
            continue;
        };
        assert_eq!(push.subscription_id, id);
        told += push.dropped;
        got.extend(push.messages.iter().map(|m| index(&m.value)));
        if got.last() == Some(&MESSAGES) {
            break;
        }
    }
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "{scheme:?}: in order: {got:?}"
    );
    assert!(told > 0, "{scheme:?}: the gap is told");
    assert_eq!(
        got.len() as u64 + told,
        MESSAGES as u64 + 1,
        "{scheme:?}: got {} and was told of {told} lost",
        got.len()
    );
    publisher.cleanup().await;
    drop(stalled);
}

async fn under_close_a_stalled_live_subscriber_is_closed_with_1008(scheme: Live) {
    let exchange = crate::common::rabbitmq::unique("gw-live-close");
    let admin = free_port();
    let p = gateway(scheme, &exchange, admin, "close");
    let topic = scheme.topic("live-close");
    let mut publisher = scheme.publisher(&exchange).await;
    let mut stalled = connect_small_window(p.addr, "/live").await;
    stalled.subscribe(sub(&topic)).await;
    let mut reader = Client::connect(p.addr, "/live").await;
    let rid = reader.subscribe(sub(&topic)).await;
    // 16 MiB: past what the stalled client's socket buffers (up to 4 MiB each way), outbound
    // queue and live queue hold.
    for i in 0..64 {
        publisher.publish(&topic, payload(i)).await;
        assert_eq!(index(&reader.pushed(rid, 1).await[0].value), i);
    }
    let close = stalled.closed().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Policy, "{scheme:?}: {close:?}");
    assert_eq!(close.reason.as_str(), "slow consumer");
    assert!(metric(admin, "pubsub_slow_consumer_closes_total").await >= 1);
    // The reader was not affected.
    publisher.publish(&topic, payload(64)).await;
    assert_eq!(index(&reader.pushed(rid, 1).await[0].value), 64);
    publisher.cleanup().await;
}

macro_rules! per_live_scheme {
    ($($name:ident: $scheme:expr;)*) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stalled_subscribers_keep_memory_bounded_and_the_others_get_everything() {
                super::stalled_subscribers_keep_memory_bounded_and_the_others_get_everything($scheme).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn under_close_a_stalled_live_subscriber_is_closed_with_1008() {
                super::under_close_a_stalled_live_subscriber_is_closed_with_1008($scheme).await
            }
        }
    )*};
}

per_live_scheme! {
    core_nats: Live::CoreNats;
    rabbitmq: Live::Rabbitmq;
    redis_pubsub: Live::RedisPubsub;
    mqtt: Live::Mqtt;
}
