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
