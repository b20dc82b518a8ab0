//! The Rust client library resuming after the gateway restarts: the embedded broker's logs
//! come back empty, in new epochs, and a subscription that resubscribed before its topic exists
//! again gets a reset and the new log from its beginning (#21 item 3; the JavaScript client's
//! side is in tests/browser/positions.test.mjs).

use std::time::Duration;

use pubsub_client::{connect, Backoff, Event, Options, Start, Subscribe};

use crate::common::proc::Proc;

fn gateway(name: &str) -> Proc {
    Proc::start(name, |port| {
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\nroutes:\n  - uri: /e\n    upstream: {{ scheme: embedded }}\n"
        )
    })
}

fn fast_reconnect() -> Options {
    Options::default().reconnect(Some(Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        ..Backoff::default()
    }))
}

/// Events until `n` messages came (or a timeout): (offset, epoch, value) of each message, and
/// how many resets came before the first of them.
async fn collect(
    sub: &mut pubsub_client::Subscription,
    n: usize,
) -> (Vec<(i64, u64, String)>, usize) {
    let mut got = Vec::new();
    let mut resets = 0;
    while got.len() < n {
        let event = tokio::time::timeout(Duration::from_secs(20), sub.recv())
            .await
            .expect("an event in time")
            .expect("the subscription lives");
        match event {
            Event::Message(m) => got.push((
                m.offset,
                m.epoch,
                String::from_utf8_lossy(&m.value).into_owned(),
            )),
            Event::Reset { .. } if got.is_empty() => resets += 1,
            Event::Reset { .. } => panic!("a reset after messages: {got:?}"),
            Event::Error(_) | Event::Gap { .. } => {}
            Event::Ended { code, reason } => {
                panic!("the gateway ended the client: {code} {reason}")
            }
        }
    }
    (got, resets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_before_the_topic_exists_again_gets_a_reset_and_the_new_log_from_its_start() {
    for pattern in [false, true] {
        let mut gw = gateway(if pattern {
            "resume-pattern"
        } else {
            "resume-topic"
        });
        let url = format!("ws://{}/e", gw.addr);
        let topic = format!("r{}", u8::from(pattern));
        let client = connect(&url, fast_reconnect()).await.unwrap();
        let what = if pattern {
            Subscribe::pattern(&topic)
        } else {
            Subscribe::topic(&topic)
        };
        let mut sub = client.subscribe(what.start(Start::Earliest)).await.unwrap();
        let producer = connect(&url, Options::default().reconnect(None))
            .await
            .unwrap();
        for i in 0..5 {
            producer.publish(&topic, format!("old-{i}")).await.unwrap();
        }
        producer.close().await;
        let (old, _) = collect(&mut sub, 5).await;
        assert_eq!(old.iter().map(|m| m.0).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        let old_epoch = old[0].1;

        gw.restart();
        // Resubscribed before anything is published: the topic does not exist yet.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while sub.handle().resubscriptions() < 1 {
            assert!(tokio::time::Instant::now() < deadline, "no resubscription");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let producer = connect(&url, Options::default().reconnect(None))
            .await
            .unwrap();
        for i in 0..8 {
            producer.publish(&topic, format!("new-{i}")).await.unwrap();
        }
        let (new, resets) = collect(&mut sub, 8).await;
        assert!(resets >= 1, "pattern {pattern}: a reset before the new log");
        assert_eq!(
            new.iter().map(|m| m.0).collect::<Vec<_>>(),
            (0..8).collect::<Vec<i64>>(),
            "pattern {pattern}: {new:?}"
        );
        assert!(new.iter().all(|m| m.1 != old_epoch && m.1 != 0), "{new:?}");
        assert_eq!(new[0].2, "new-0");
        producer.close().await;
        client.close().await;
    }
}
