//! The Rust client (clients/rust) on two gateway processes serving one route: when the gateway
//! it is on is killed (SIGKILL), it moves to the other and its subscription resumes there from
//! the last delivered position, on a log both gateways read (a JetStream stream, a Redis
//! stream): every message once, in order.

use std::time::Duration;

use pubsub_client::{
    connect, connect_any, Backoff, Event, Options, Start, Subscribe, Subscription,
};

use crate::common::proc::Proc;
use crate::common::{nats, redis_support};

/// The first connection fails over at once; later attempts back off a little.
fn options() -> Options {
    Options::default()
        .connect_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(10))
        .reconnect(Some(Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(500),
            ..Backoff::default()
        }))
}

fn gateway(name: &str, route: &str) -> Proc {
    Proc::start(name, |port| {
        format!("server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\n{route}")
    })
}

/// The next message within `wait`, skipping other events; panics with `what` otherwise.
async fn next_value(sub: &mut Subscription, wait: Duration, what: &str) -> (String, i64) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, sub.recv()).await {
            Ok(Some(Event::Message(m))) => {
                return (String::from_utf8_lossy(&m.value).into_owned(), m.offset)
            }
            Ok(Some(Event::Error(e))) => eprintln!("resubscribing: {e}"),
            Ok(Some(other)) => panic!("{what}: unexpected {other:?}"),
            Ok(None) => panic!("{what}: the subscription ended"),
            Err(_) => panic!("{what}: no message within {wait:?}"),
        }
    }
}

/// Subscribed EARLIEST through a, the client gets 1..5; a is killed; 6..10 are published
/// through b; the client gets exactly 1..10, once each, in order, now connected to b.
async fn fails_over_without_gap_or_duplicate(route: &str, topic: &str, name: &str) {
    let a = gateway(&format!("{name}-a"), route);
    let b = gateway(&format!("{name}-b"), route);
    let (url_a, url_b) = (format!("ws://{}/r", a.addr), format!("ws://{}/r", b.addr));
    let client = connect_any(&[&url_a, &url_b], options()).await.unwrap();
    assert_eq!(client.url(), url_a);
    let publisher = connect(&url_b, options()).await.unwrap();
    let mut sub = client
        .subscribe(Subscribe::topic(topic).start(Start::Earliest))
        .await
        .unwrap();
    let mut got = Vec::new();
    for i in 1..=5 {
        publisher.publish(topic, format!("{i}")).await.unwrap();
    }
    for _ in 1..=5 {
        got.push(next_value(&mut sub, Duration::from_secs(10), "before the kill").await);
    }
    a.signal(libc::SIGKILL);
    for i in 6..=10 {
        publisher.publish(topic, format!("{i}")).await.unwrap();
    }
    for _ in 6..=10 {
        got.push(
            next_value(
                &mut sub,
                Duration::from_secs(20),
                "after the kill (the client did not fail over to the other gateway)",
            )
            .await,
        );
    }
    let values: Vec<String> = got.iter().map(|(v, _)| v.clone()).collect();
    let want: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
    assert_eq!(values, want);
    assert!(got.windows(2).all(|w| w[0].1 < w[1].1), "{got:?}");
    // Nothing twice.
    if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(700), sub.recv()).await {
        panic!("more than 1..10: {e:?}");
    }
    assert_eq!(client.url(), url_b);
    assert_eq!(client.connections(), 2);
    assert_eq!(sub.resubscriptions(), 1);
    client.close().await;
    publisher.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_fails_over_to_another_gateway_on_a_jetstream_stream() {
    let nc = nats::oracle().await;
    nats::sweep_stale_streams(&nc).await;
    let stream = nats::unique("GWT_FAILOVER");
    let subjects = nats::unique("gwt.failover").replace('_', ".");
    let route = nats::js_route("/r", nats::NATS, &stream, &subjects, "");
    fails_over_without_gap_or_duplicate(&route, &format!("{subjects}.x"), "failover-js").await;
    nats::delete_stream(&nc, &stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_fails_over_to_another_gateway_on_a_redis_stream() {
    let mut rc = redis_support::oracle().await;
    let key = redis_support::unique("failover");
    let route = redis_support::streams_route("/r", redis_support::REDIS, "");
    fails_over_without_gap_or_duplicate(&route, &key, "failover-redis").await;
    redis_support::del(&mut rc, &key).await;
}

/// On a live route (core NATS) there is nothing to resume from: after the failover the
/// subscription is made again as at first, and what is published from then on arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_fails_over_to_another_gateway_on_core_nats() {
    drop(nats::oracle().await);
    let subject = nats::unique("gwt.failover.live").replace('_', ".");
    let route = nats::core_route("/r", nats::NATS);
    let a = gateway("failover-live-a", &route);
    let b = gateway("failover-live-b", &route);
    let (url_a, url_b) = (format!("ws://{}/r", a.addr), format!("ws://{}/r", b.addr));
    let client = connect_any(&[&url_a, &url_b], options()).await.unwrap();
    let publisher = connect(&url_b, options()).await.unwrap();
    let mut sub = client.subscribe(Subscribe::topic(&subject)).await.unwrap();
    publisher.publish(&subject, "before").await.unwrap();
    let (v, _) = next_value(&mut sub, Duration::from_secs(10), "before the kill").await;
    assert_eq!(v, "before");
    a.signal(libc::SIGKILL);
    tokio::time::timeout(Duration::from_secs(20), client.wait_connection(1))
        .await
        .expect("the client did not fail over to the other gateway")
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while sub.resubscriptions() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the subscription was not made again on the other gateway"
        );
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await {
            eprintln!("while resubscribing: {e:?}");
        }
    }
    assert_eq!(client.url(), url_b);
    publisher.publish(&subject, "after").await.unwrap();
    let (v, _) = next_value(&mut sub, Duration::from_secs(10), "after the failover").await;
    assert_eq!(v, "after");
    client.close().await;
    publisher.close().await;
}
