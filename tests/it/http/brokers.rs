//! The endpoints on other schemes: NATS (core), Kafka.

use super::*;
use crate::common::nats::{core_route, oracle, NATS};

#[tokio::test]
async fn on_nats_a_post_reaches_a_nats_subscriber_and_an_event_stream() {
    let gw = Gateway::start(&core_route("/n", NATS)).await;
    let nc = oracle().await;
    let subject = crate::common::nats::unique("gwhttp").replace('_', ".");
    let mut oracle_sub = nc.subscribe(subject.clone()).await.unwrap();
    nc.flush().await.unwrap();
    let mut s = Http::connect(gw.addr)
        .await
        .events(&format!("/n/topics/{subject}"), &[])
        .await
        .expect("stream");
    let mut http = Http::connect(gw.addr).await;
    let a = http
        .send(
            "POST",
            &format!("/n/topics/{subject}"),
            &[("pubsub-header-h", "v")],
            "over http",
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let m = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut oracle_sub))
        .await
        .expect("nats message in time")
        .expect("nats message");
    assert_eq!(&m.payload[..], b"over http");
    let e = s.next().await;
    assert_eq!(e.json()["value"], json!("over http"));
    assert_eq!(e.json()["headers"], json!({"h": "v"}));
    // A published message the oracle sends is streamed too.
    nc.publish(subject.clone(), "from nats".into())
        .await
        .unwrap();
    let e = s.next().await;
    assert_eq!(e.json()["value"], json!("from nats"));
    // What core NATS cannot do answers the capability error, as on WebSocket.
    let a = http.get(&format!("/n/topics/{subject}")).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(
        a.json()["message"].as_str().unwrap().contains("core NATS"),
        "{:?}",
        a.body
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_kafka_a_post_is_fetched_by_get_and_streamed_with_resume() {
    use crate::common::kafka::{kafka_yaml, shared, topic as kafka_topic};
    let broker = shared();
    let t = kafka_topic("http");
    broker.create_topic(&t, 1).await;
    let gw = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    let mut http = Http::connect(gw.addr).await;
    for v in ["k1", "k2", "k3"] {
        let a = http
            .send("POST", &format!("/kafka/topics/{t}?key=x"), &[], v)
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let v = http
        .get(&format!("/kafka/topics/{t}?offset=0&wait_ms=2000"))
        .await
        .json();
    assert_eq!(fetched_values(&v), ["k1", "k2", "k3"]);
    let mut s = Http::connect(gw.addr)
        .await
        .events(&format!("/kafka/topics/{t}?start=earliest"), &[])
        .await
        .expect("stream");
    let first = s.next().await;
    assert_eq!(first.json()["value"], json!("k1"));
    drop(s);
    let mut s = Http::connect(gw.addr)
        .await
        .events(
            &format!("/kafka/topics/{t}?start=earliest"),
            &[("last-event-id", first.id.as_deref().unwrap())],
        )
        .await
        .expect("resumed stream");
    let next = s.next().await;
    assert_eq!(next.json()["value"], json!("k2"), "{next:?}");
    assert_eq!(s.next().await.json()["value"], json!("k3"));
    gw.stop().await;
}
