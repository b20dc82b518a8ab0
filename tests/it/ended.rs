//! Closes that say "do not reconnect" (src/close.rs): the Rust client ends instead of retrying
//! a connection that cannot succeed, its subscription streams say why, and its requests fail
//! with that reason. The JavaScript client's side is in tests/browser/library.test.mjs.

use std::time::Duration;

use pubsub_client::{connect, Backoff, Error, Event, Options, Subscribe};

use crate::common::proc::Proc;

fn fast_reconnect() -> Options {
    Options::default().reconnect(Some(Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(100),
        ..Backoff::default()
    }))
}

/// The subscription's next events up to its end: the events other than messages.
async fn events_until_end(sub: &mut pubsub_client::Subscription) -> Vec<(u16, String)> {
    let mut ended = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), sub.recv())
            .await
            .expect("the subscription ends in time");
        match next {
            None => return ended,
            Some(Event::Ended { code, reason }) => ended.push((code, reason)),
            Some(Event::Message(_)) | Some(Event::Error(_)) | Some(Event::Gap { .. }) => {}
            Some(Event::Reset { .. }) => panic!("no reset expected"),
        }
    }
}

/// The client is closed for good: waiting for another connection ends at once with the
/// gateway's reason, and so does a request.
async fn assert_ended(client: &pubsub_client::Client, code: u16, reason: &str) {
    let waited = tokio::time::timeout(Duration::from_secs(5), client.wait_connection(1))
        .await
        .expect("the client does not keep trying to reconnect");
    assert!(waited.is_err(), "no second connection: {waited:?}");
    match client.ping("after").await {
        Err(Error::Ended { code: c, reason: r }) => assert_eq!((c, r.as_str()), (code, reason)),
        other => panic!("a request after the end fails with Ended: {other:?}"),
    }
    assert_eq!(client.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_removed_by_reload_ends_the_rust_client_instead_of_reconnecting() {
    let config = |port: u16, both: bool| {
        let gone = if both {
            "  - uri: /gone\n    upstream: { scheme: embedded }\n"
        } else {
            ""
        };
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\nroutes:\n  - uri: /kept\n    upstream: {{ scheme: embedded }}\n{gone}"
        )
    };
    let gw = Proc::start("ended-route-removed", |port| config(port, true));
    let client = connect(&format!("ws://{}/gone", gw.addr), fast_reconnect())
        .await
        .unwrap();
    let mut sub = client.subscribe(Subscribe::topic("t")).await.unwrap();
    std::fs::write(&gw.config, config(gw.addr.port(), false)).unwrap();
    gw.signal(libc::SIGHUP);
    assert_eq!(
        events_until_end(&mut sub).await,
        [(1001, "route removed".to_string())]
    );
    assert_ended(&client, 1001, "route removed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_ends_the_rust_client_instead_of_reconnecting_with_it() {
    let gw = Proc::start("ended-token-expired", |port| {
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\nroutes:\n  - uri: /jwt\n    upstream: {{ scheme: embedded }}\n    plugins:\n      jwt-auth: {{ algorithm: HS256, secret: ended-secret, leeway_secs: 0 }}\n"
        )
    });
    let exp = pubsub_gateway::backend::now_ms() / 1000 + 2;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({ "sub": "ended", "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(b"ended-secret"),
    )
    .unwrap();
    let client = connect(
        &format!("ws://{}/jwt", gw.addr),
        fast_reconnect().token(token),
    )
    .await
    .unwrap();
    let mut sub = client.subscribe(Subscribe::topic("t")).await.unwrap();
    assert_eq!(
        events_until_end(&mut sub).await,
        [(1008, "token expired".to_string())]
    );
    assert_ended(&client, 1008, "token expired").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_upstream_is_not_final_the_rust_client_reconnects() {
    // The control: a close that says "reconnect" (1012 upstream changed) keeps the client going.
    let config = |port: u16, partitions: u32| {
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\nroutes:\n  - uri: /e\n    upstream: {{ scheme: embedded, embedded: {{ partitions: {partitions} }} }}\n"
        )
    };
    let gw = Proc::start("ended-rebuilt", |port| config(port, 1));
    let client = connect(&format!("ws://{}/e", gw.addr), fast_reconnect())
        .await
        .unwrap();
    std::fs::write(&gw.config, config(gw.addr.port(), 2)).unwrap();
    gw.signal(libc::SIGHUP);
    let n = tokio::time::timeout(Duration::from_secs(20), client.wait_connection(1))
        .await
        .expect("reconnects in time")
        .expect("a second connection");
    assert_eq!(n, 2);
    client.ping("again").await.unwrap();
}
