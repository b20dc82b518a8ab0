//! Idempotent publish: a produce's `idempotency_key` stores the message once per topic within
//! the route's window, and a repeat answers the first one's position. The gateway's own window,
//! against the embedded broker and real brokers (each broker's client counts what is stored).

use std::time::Duration;

use futures_util::StreamExt;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::*;

use crate::common::*;

fn keyed(topic: &str, value: &str, key: &str) -> CmdKafkaProduce {
    CmdKafkaProduce {
        topic: topic.into(),
        value: value.as_bytes().to_vec().into(),
        idempotency_key: key.into(),
        ..Default::default()
    }
}

fn embedded_window(secs: u64) -> String {
    format!("{EMBEDDED}    idempotency: {{ window_secs: {secs} }}\n")
}

#[tokio::test]
async fn the_same_key_twice_stores_one_message_and_answers_the_first_position() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let t = unique_name("idem", '-');
    let first = c.produce(keyed(&t, "a", "k1")).await;
    let again = c.produce(keyed(&t, "a-resent", "k1")).await;
    assert_eq!(again, first, "the repeat answers the first one's position");
    // A second connection on the route shares the window.
    let mut other = gw.connect("/embedded").await;
    assert_eq!(other.produce(keyed(&t, "a-other", "k1")).await, first);
    let stored = c.fetch(fetch_cmd(&t, 0, 0)).await;
    assert_eq!(values(&stored), ["a"]);
    gw.stop().await;
}

#[tokio::test]
async fn another_key_or_another_topic_or_no_key_stores_again() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let t = unique_name("idem", '-');
    let u = unique_name("idem", '-');
    let a = c.produce(keyed(&t, "a", "k1")).await;
    let b = c.produce(keyed(&t, "b", "k2")).await;
    assert_ne!(a.offset, b.offset);
    c.produce(keyed(&u, "c", "k1")).await;
    c.produce(keyed(&t, "d", "")).await;
    c.produce(keyed(&t, "e", "")).await;
    assert_eq!(
        values(&c.fetch(fetch_cmd(&t, 0, 0)).await),
        ["a", "b", "d", "e"]
    );
    assert_eq!(values(&c.fetch(fetch_cmd(&u, 0, 0)).await), ["c"]);
    gw.stop().await;
}

#[tokio::test]
async fn repeats_sent_together_store_once_and_all_answer_the_same_position() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let t = unique_name("idem", '-');
    // Pipelined: the gateway runs a connection's requests concurrently, so the repeats arrive
    // while the first is still being stored.
    let mut seqs = Vec::new();
    for i in 0..20 {
        seqs.push(
            c.feed(Req::CmdKafkaProduce(keyed(&t, &format!("v{i}"), "same")))
                .await,
        );
    }
    c.flush().await;
    let mut answers = Vec::new();
    for s in seqs {
        match c.reply(s).await {
            pubsub_gateway::pb::pub_sub_resp::Resp::KafkaProduceResp(r) => answers.push(r),
            other => panic!("expected a produce reply, got {other:?}"),
        }
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(values(&c.fetch(fetch_cmd(&t, 0, 0)).await), ["v0"]);
    gw.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_over_128_bytes_answers_400_and_stores_nothing() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let t = unique_name("idem", '-');
    let long = "k".repeat(129);
    let (code, msg) = error_of(c.request(Req::CmdKafkaProduce(keyed(&t, "x", &long))).await);
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("idempotency_key"), "{msg}");
    // 128 bytes is fine, and the connection keeps serving.
    c.produce(keyed(&t, "y", &"k".repeat(128))).await;
    assert_eq!(values(&c.fetch(fetch_cmd(&t, 0, 0)).await), ["y"]);
    gw.stop().await;
}

#[tokio::test]
async fn after_the_window_the_same_key_stores_again() {
    let gw = Gateway::start(&embedded_window(1)).await;
    let mut c = gw.connect("/embedded").await;
    let t = unique_name("idem", '-');
    let first = c.produce(keyed(&t, "a", "k")).await;
    assert_eq!(c.produce(keyed(&t, "a", "k")).await, first);
    // The window is time itself: nothing to wait for but the clock.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = c.produce(keyed(&t, "b", "k")).await;
    assert_ne!(later.offset, first.offset);
    assert_eq!(values(&c.fetch(fetch_cmd(&t, 0, 0)).await), ["a", "b"]);
    gw.stop().await;
}

#[tokio::test]
async fn a_window_of_zero_ignores_keys() {
    let gw = Gateway::start(&embedded_window(0)).await;
    let mut c = gw.connect("/embedded").await;
    let t = unique_name("idem", '-');
    c.produce(keyed(&t, "a", "k")).await;
    c.produce(keyed(&t, "b", "k")).await;
    assert_eq!(values(&c.fetch(fetch_cmd(&t, 0, 0)).await), ["a", "b"]);
    gw.stop().await;
}

#[tokio::test]
async fn redis_streams_store_a_repeated_key_once() {
    use crate::common::redis_support as r;
    let mut rc = r::oracle().await;
    let key = r::unique("idem");
    let gw = Gateway::start(&r::streams_route("/s", r::REDIS, "")).await;
    let mut c = gw.connect("/s").await;
    let first = c.produce(keyed(&key, "a", "k")).await;
    assert_eq!(c.produce(keyed(&key, "a", "k")).await, first);
    c.produce(keyed(&key, "b", "other")).await;
    assert_eq!(r::xrange_values(&mut rc, &key).await, ["a", "b"]);
    r::del(&mut rc, &key).await;
    gw.stop().await;
}

#[tokio::test]
async fn core_nats_publishes_a_repeated_key_once() {
    use crate::common::nats as n;
    let nc = n::oracle().await;
    let subject = n::unique("idem");
    let mut plain = nc.subscribe(subject.clone()).await.unwrap();
    nc.flush().await.unwrap();
    let gw = Gateway::start(&n::core_route("/n", n::NATS)).await;
    let mut c = gw.connect("/n").await;
    let first = c.produce(keyed(&subject, "a", "k")).await;
    assert_eq!(c.produce(keyed(&subject, "a", "k")).await, first);
    // A later message under another key: it arrives right after the one stored, so a
    // duplicate would have come between them.
    c.produce(keyed(&subject, "end", "k2")).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = tokio::time::timeout(Duration::from_secs(5), plain.next())
            .await
            .expect("plain NATS got the message in time")
            .expect("subscription open");
        got.push(String::from_utf8_lossy(&m.payload).into_owned());
    }
    assert_eq!(got, ["a", "end"]);
    gw.stop().await;
}

#[tokio::test]
async fn jetstream_stores_a_repeated_key_once_even_through_another_gateway() {
    use crate::common::nats as n;
    let nc = n::oracle().await;
    let stream = n::unique("IDEM");
    let subject = n::unique("idem");
    let route = n::js_route("/js", n::NATS, &stream, &subject, "");
    // Two gateways (replicas): each has its own window, so the second one's repeat reaches
    // JetStream, whose `Nats-Msg-Id` deduplication answers the first one's sequence.
    let gw = Gateway::start(&route).await;
    let other = Gateway::start(&route).await;
    let mut c = gw.connect("/js").await;
    let mut d = other.connect("/js").await;
    let t = format!("{subject}.x");
    let first = c.produce(keyed(&t, "a", "k")).await;
    assert_eq!(d.produce(keyed(&t, "a", "k")).await, first);
    assert_eq!(c.produce(keyed(&t, "a", "k")).await, first);
    let jsc = async_nats::jetstream::new(nc.clone());
    let mut s = jsc
        .get_stream(&stream)
        .await
        .expect("the route made its stream");
    assert_eq!(s.info().await.expect("stream info").state.messages, 1);
    d.produce(keyed(&t, "b", "k2")).await;
    assert_eq!(s.info().await.expect("stream info").state.messages, 2);
    n::delete_stream(&nc, &stream).await;
    gw.stop().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_stores_a_repeated_key_once() {
    use crate::common::kafka as k;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let broker = k::shared();
    let t = k::topic("idem");
    broker.create_topic(&t, 1).await;
    let gw = Gateway::start(&k::kafka_yaml(&broker.bootstrap(), "")).await;
    let mut c = gw.connect("/kafka").await;
    let first = c.produce(keyed(&t, "a", "k")).await;
    assert_eq!(c.produce(keyed(&t, "a", "k")).await, first);
    c.produce(keyed(&t, "b", "k2")).await;
    // A direct Kafka client counts what the partition holds.
    let direct: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("direct client");
    let t2 = t.clone();
    let (low, high) = tokio::task::spawn_blocking(move || {
        direct
            .fetch_watermarks(&t2, 0, Duration::from_secs(5))
            .expect("watermarks")
    })
    .await
    .expect("joined");
    assert_eq!(high - low, 2);
    gw.stop().await;
}

#[tokio::test]
async fn rabbitmq_publishes_a_repeated_key_once() {
    use crate::common::rabbitmq as r;
    let conn = r::oracle().await;
    let ch = r::channel(&conn).await;
    let ex = r::unique("idem");
    let topic = r::unique("idem");
    let q = r::plain_queue(&ch, &ex, &topic).await;
    let mut plain = r::consume(&ch, &q, true).await;
    let gw = Gateway::start(&r::route("/r", r::AMQP, &ex, "")).await;
    let mut c = gw.connect("/r").await;
    let first = c.produce(keyed(&topic, "a", "k")).await;
    assert_eq!(c.produce(keyed(&topic, "a", "k")).await, first);
    // Confirmed in order on one channel: a duplicate would come before "end".
    c.produce(keyed(&topic, "end", "k2")).await;
    assert_eq!(r::next_delivery(&mut plain).await.data, b"a");
    assert_eq!(r::next_delivery(&mut plain).await.data, b"end");
    gw.stop().await;
    r::cleanup(&ch, &[&ex], &[&q]).await;
}

#[tokio::test]
async fn mqtt_publishes_a_repeated_key_once() {
    use crate::common::mqtt as m;
    let topic = m::unique("idem");
    let mut peer = m::Peer::connect().await;
    peer.subscribe(&topic).await;
    let gw = Gateway::start(&m::route("/m", m::MOSQUITTO, "")).await;
    let mut c = gw.connect("/m").await;
    let first = c.produce(keyed(&topic, "a", "k")).await;
    assert_eq!(c.produce(keyed(&topic, "a", "k")).await, first);
    // QoS 1 from one client, in order: a duplicate would come before "end".
    c.produce(keyed(&topic, "end", "k2")).await;
    assert_eq!(&peer.next().await.payload[..], b"a");
    assert_eq!(&peer.next().await.payload[..], b"end");
    gw.stop().await;
}
