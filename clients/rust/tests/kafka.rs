//! The library on a Kafka route (Tansu, see tests/common/kafka.rs in the root): a subscription
//! resumes with no gap and no duplicate after the gateway itself closed the connection.

#[path = "../../../tests/common/kafka.rs"]
mod broker;
#[path = "../../../tests/common/harness.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Gateway, WAIT};
use pubsub_client::{connect, Backoff, Event, Message, Options, Publish, Start, Subscribe};

/// The root harness falls back to its own crate's scripts/: point it at the root's.
fn tansu() {
    if std::env::var_os("TANSU_BIN").is_none() {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/install-test-broker.sh"
        );
        let out = std::process::Command::new("bash")
            .arg(script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run install-test-broker.sh");
        assert!(
            out.status.success(),
            "{script} failed: this test needs Tansu"
        );
        std::env::set_var("TANSU_BIN", String::from_utf8_lossy(&out.stdout).trim());
    }
}

fn route(uri: &str, bootstrap: &str) -> String {
    route_refreshing(uri, bootstrap, "0.5")
}

fn route_refreshing(uri: &str, bootstrap: &str, refresh_secs: &str) -> String {
    format!(
        "  - uri: {uri}\n    upstream:\n      scheme: kafka\n      nodes:\n        \"{bootstrap}\": 1\n      timeout: {{ connect: 3, send: 5, read: 5 }}\n      metadata_refresh_secs: {refresh_secs}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_resumes_with_no_gap_and_no_duplicate_after_a_reload_rebuilt_its_route() {
    tansu();
    let b = broker::shared();
    let topic = broker::topic("resume");
    b.create_topic(&topic, 2).await;
    let both = format!(
        "routes:\n{}{}",
        route("/kafka", &b.bootstrap()),
        route("/producer", &b.bootstrap())
    );
    // The same routes, /kafka's upstream changed: its backend is rebuilt and its connections
    // closed with 1012 "upstream changed", which clients reconnect after (a removed route's
    // 1001 "route removed" ends them instead: tests/it/ended.rs).
    let rebuilt = format!(
        "routes:\n{}{}",
        route_refreshing("/kafka", &b.bootstrap(), "0.6"),
        route("/producer", &b.bootstrap())
    );
    let gw = Gateway::start(&both).await;

    let producer = connect(&format!("ws://{}/producer", gw.addr), Options::default())
        .await
        .unwrap();
    for i in 0..20 {
        producer
            .produce(Publish::new(&topic, format!("m{i}")).partition(i % 2))
            .await
            .unwrap();
    }
    let options = Options::default().reconnect(Some(Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(200),
        ..Backoff::default()
    }));
    let client = connect(&format!("ws://{}/kafka", gw.addr), options)
        .await
        .unwrap();
    let mut sub = client
        .subscribe(Subscribe::topic(&topic).start(Start::Earliest))
        .await
        .unwrap();

    const N: i32 = 120;
    let t = topic.clone();
    let produce = tokio::spawn(async move {
        for i in 20..N {
            producer
                .produce(Publish::new(&t, format!("m{i}")).partition(i % 2))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let mut got: Vec<Message> = Vec::new();
    let mut reloaded = false;
    while got.len() < N as usize {
        let ev = tokio::time::timeout(WAIT, sub.recv())
            .await
            .expect("messages keep coming")
            .expect("live");
        match ev {
            Event::Message(m) => got.push(m),
            Event::Error(e) => eprintln!("resubscribe: {e}"),
            other => panic!("{other:?}"),
        }
        if !reloaded && got.len() == 40 {
            gw.handle
                .reload(pubsub_gateway::Config::parse(&rebuilt, "t").unwrap())
                .unwrap();
            reloaded = true;
        }
    }
    produce.await.unwrap();
    assert!(client.connections() >= 2, "the connection was reopened");
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for m in &got {
        let want = next.entry(m.partition).or_insert(0);
        assert_eq!(m.offset, *want, "partition {}", m.partition);
        *want += 1;
    }
    let extra = tokio::time::timeout(Duration::from_millis(500), sub.recv()).await;
    assert!(extra.is_err(), "no duplicate: {extra:?}");
    gw.stop().await;
}
