//! The library against the real gateway, started in-process on 127.0.0.1:0 (the root crate's
//! test harness, tests/common).

#[path = "../../../tests/common/harness.rs"]
mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{embedded_with, Gateway, EMBEDDED, WAIT};
use pubsub_client::{
    connect, connect_any, Backoff, Error, Event, FetchOptions, Message, Options, Publish, Start,
    Subscribe, Subscription, EARLIEST, LATEST,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/embedded")
}

fn fast_reconnect() -> Options {
    Options::default().reconnect(Some(Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        ..Backoff::default()
    }))
}

/// The next event within WAIT; panics otherwise.
async fn event(sub: &mut Subscription) -> Event {
    tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("an event in time")
        .expect("the subscription is live")
}

async fn messages(sub: &mut Subscription, n: usize) -> Vec<Message> {
    let mut out = Vec::new();
    while out.len() < n {
        match event(sub).await {
            Event::Message(m) => out.push(m),
            other => panic!("expected a message, got {other:?}"),
        }
    }
    out
}

fn value(m: &Message) -> &str {
    std::str::from_utf8(&m.value).expect("utf-8 value")
}

fn code(r: Result<impl std::fmt::Debug, Error>) -> i32 {
    match r {
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("expected an error reply, got {e:?}")),
        Ok(v) => panic!("expected an error reply, got {v:?}"),
    }
}

#[tokio::test]
async fn every_command_answers_through_its_typed_method_on_an_embedded_route() {
    let gw = Gateway::start(&embedded_with("partitions: 2")).await;
    let client = connect(&url(gw.addr), Options::default())
        .await
        .expect("connect");

    assert_eq!(&client.ping("state").await.expect("ping")[..], b"state");
    let a = client
        .produce(Publish::new("t", "a").partition(0))
        .await
        .expect("produce");
    assert_eq!((a.partition, a.offset), (0, 0));
    let b = client
        .produce(
            Publish::new("t", "b")
                .partition(0)
                .key("k")
                .header("h", "v")
                .timestamp(1_000),
        )
        .await
        .expect("produce with key and header");
    assert_eq!(b.offset, 1);
    let spread = client.publish("other", "c").await.expect("publish");
    assert!(spread.partition == 0 || spread.partition == 1);

    let fetched = client
        .fetch("t", 0, 0, FetchOptions::default())
        .await
        .expect("fetch");
    assert_eq!(fetched.len(), 2);
    assert_eq!(value(&fetched[0]), "a");
    assert_eq!(&fetched[1].key[..], b"k");
    assert_eq!(fetched[1].headers[0].key, "h");
    assert_eq!(fetched[1].timestamp, 1_000);

    assert_eq!(client.list_offset("t", 0, EARLIEST).await.unwrap(), 0);
    assert_eq!(client.list_offset("t", 0, LATEST).await.unwrap(), 2);
    assert_eq!(
        client.list_offset("t", 0, 4_000_000_000_000).await.unwrap(),
        -1
    );

    let meta = client.metadata("t").await.expect("metadata");
    assert_eq!(meta.partitions.len(), 2);

    let info = client.route_info().await.expect("route_info");
    assert_eq!(info.route, "/embedded");
    assert_eq!(info.scheme, "embedded");
    let caps = info.capabilities.expect("capabilities");
    assert!(caps.commit && caps.epochs && caps.ack && caps.nack);

    let mut sub = client
        .subscribe(Subscribe::topic("t").partitions([0]).start(Start::Earliest))
        .await
        .expect("subscribe");
    let got = messages(&mut sub, 2).await;
    assert_eq!(
        got.iter().map(value).collect::<Vec<_>>(),
        ["a", "b"],
        "in offset order"
    );
    sub.commit_message(&got[1]).await.expect("commit");
    assert_eq!(sub.positions(), [("t".to_string(), 0, 2)]);
    // On a plain subscription an ack frees the flow-control window, and a nack is refused (a
    // plain subscription does not redeliver).
    sub.ack(&[&got[0]]).await.expect("ack");
    assert_eq!(code(sub.nack(&[&got[0]], Duration::ZERO).await), 400);
    // A route without an auth plugin takes any credential.
    client.refresh("x").await.expect("refresh");

    sub.unsubscribe().await.expect("unsubscribe");
    assert!(
        tokio::time::timeout(WAIT, sub.recv())
            .await
            .expect("ends")
            .is_none(),
        "the stream ends after unsubscribe"
    );
    client.close().await;
    assert!(matches!(client.ping("").await, Err(Error::Closed)));
    gw.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_paired_with_their_replies_even_out_of_order() {
    let gw = Gateway::start(EMBEDDED).await;
    let client = connect(&url(gw.addr), Options::default())
        .await
        .expect("connect");
    client.publish("p", "first").await.expect("publish");

    // A long-polling fetch at the end of the log does not hold back what is sent after it.
    let waiting = {
        let c = client.clone();
        tokio::spawn(async move {
            c.fetch(
                "p",
                0,
                1,
                FetchOptions {
                    max_wait: Duration::from_secs(8),
                    ..Default::default()
                },
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sends = (0..100).map(|i| {
        let c = client.clone();
        async move { (i, c.ping(format!("s{i}")).await) }
    });
    for (i, r) in futures_util::future::join_all(sends).await {
        assert_eq!(r.expect("pong"), format!("s{i}").as_bytes(), "reply {i}");
    }
    assert!(!waiting.is_finished(), "the fetch is still waiting");
    let at = client
        .produce(Publish::new("p", "second").partition(0))
        .await
        .unwrap();
    let got = tokio::time::timeout(WAIT, waiting)
        .await
        .expect("fetch answered")
        .unwrap()
        .expect("fetch");
    assert_eq!(got[0].offset, at.offset);
    assert_eq!(value(&got[0]), "second");
    gw.stop().await;
}

#[tokio::test]
async fn error_replies_carry_the_gateway_code_and_the_connection_lives() {
    let gw = Gateway::start(EMBEDDED).await;
    let client = connect(&url(gw.addr), Options::default())
        .await
        .expect("connect");
    client.publish("e", "x").await.unwrap();
    assert_eq!(
        code(client.fetch("e", 0, 99, FetchOptions::default()).await),
        416
    );
    assert_eq!(code(client.metadata("missing").await), 404);
    assert_eq!(
        code(
            client
                .subscribe(Subscribe::topic("e").partitions([99]))
                .await
        ),
        404
    );
    assert_eq!(code(client.commit(987_654, &[("e", 0, 1)]).await), 404);
    match client.publish("", "x").await {
        Err(Error::Server { code: 400, message }) => assert!(!message.is_empty()),
        other => panic!("expected 400, got {other:?}"),
    }
    assert_eq!(&client.ping("alive").await.unwrap()[..], b"alive");

    // No answer at all is not a code: a closed port, a route that does not exist.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let e = connect(&url(dead), Options::default()).await.unwrap_err();
    assert!(
        matches!(e, Error::Connect(_)) && e.code().is_none(),
        "{e:?}"
    );
    let e = connect(&format!("ws://{}/nope", gw.addr), Options::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connect(_)), "{e:?}");
    gw.stop().await;
}

/// `connect_any`: each URL gets one attempt, in order; the first that connects is used, and when
/// none does the error names every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_any_takes_the_first_url_that_connects_and_names_every_failure() {
    let gw = Gateway::start(EMBEDDED).await;
    let dead = |ip| {
        let free = std::net::TcpListener::bind((ip, 0)).unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        url(addr)
    };
    let (dead1, dead2) = (dead("127.0.0.1"), dead("127.0.0.2"));
    let client = connect_any(&[&dead1, &url(gw.addr)], Options::default())
        .await
        .unwrap();
    assert_eq!(client.url(), url(gw.addr));
    assert_eq!(client.urls(), [dead1.clone(), url(gw.addr)]);
    assert_eq!(&client.ping("up").await.unwrap()[..], b"up");
    client.close().await;

    let e = connect_any(&[&dead1, &dead2], Options::default())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, Error::Connect(_)) && text.contains(&dead1) && text.contains(&dead2),
        "{e:?}"
    );
    let none: [&str; 0] = [];
    assert!(matches!(
        connect_any(&none, Options::default()).await,
        Err(Error::Url(_))
    ));
    gw.stop().await;
}

/// A TCP proxy whose connections can be cut, as a network failure would.
struct Proxy {
    addr: SocketAddr,
    cut: watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, _) = watch::channel(0u64);
        let cuts = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut a, _)) = listener.accept().await {
                let mut rx = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut b) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut a, &mut b) => {}
                        _ = rx.changed() => {}
                    }
                });
            }
        });
        Proxy { addr, cut }
    }

    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

/// Asserts that each partition's offsets are consecutive from `first[partition]`.
fn assert_no_gap_no_dup(got: &[Message], first: &BTreeMap<i32, i64>) {
    let mut next = first.clone();
    for m in got {
        let want = next.entry(m.partition).or_insert(0);
        assert_eq!(
            m.offset, *want,
            "partition {}: expected offset {want}, got {}",
            m.partition, m.offset
        );
        *want += 1;
    }
}

#[tokio::test]
async fn reconnect_resumes_every_partition_with_no_gap_and_no_duplicate() {
    let gw = Gateway::start(&embedded_with("partitions: 2")).await;
    let proxy = Proxy::start(gw.addr).await;
    let producer = connect(&url(gw.addr), Options::default()).await.unwrap();
    // Two messages per partition exist before the subscriptions: LATEST must skip them.
    for i in 0..4 {
        producer
            .produce(Publish::new("r", format!("old{i}")).partition(i % 2))
            .await
            .unwrap();
    }
    let client = connect(&format!("ws://{}/embedded", proxy.addr), fast_reconnect())
        .await
        .unwrap();
    let mut earliest = client
        .subscribe(Subscribe::topic("r").start(Start::Earliest))
        .await
        .unwrap();
    let mut latest = client
        .subscribe(Subscribe::topic("r").start(Start::Latest))
        .await
        .unwrap();
    let _ = messages(&mut earliest, 4).await;
    // Cut before LATEST delivered anything: it resumes from where the partitions ended then.
    proxy.cut();
    client.wait_connection(1).await.unwrap();

    const N: i32 = 200;
    let produce = tokio::spawn(async move {
        for i in 0..N {
            producer
                .produce(Publish::new("r", format!("m{i}")).partition(i % 2))
                .await
                .unwrap();
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let mut got_e = Vec::new();
    let mut got_l = Vec::new();
    let mut cuts = 1;
    while got_e.len() < N as usize || got_l.len() < N as usize {
        tokio::select! {
            ev = event(&mut earliest), if got_e.len() < N as usize => match ev {
                Event::Message(m) => got_e.push(m),
                other => panic!("{other:?}"),
            },
            ev = event(&mut latest), if got_l.len() < N as usize => match ev {
                Event::Message(m) => got_l.push(m),
                other => panic!("{other:?}"),
            },
        }
        // Cut mid-stream, a few times.
        if cuts < 4 && got_e.len() >= cuts * 50 {
            let n = client.connections();
            proxy.cut();
            client.wait_connection(n).await.unwrap();
            cuts += 1;
        }
    }
    produce.await.unwrap();
    assert!(
        client.connections() >= 4,
        "{} connections",
        client.connections()
    );
    assert_no_gap_no_dup(&got_e, &BTreeMap::from([(0, 2), (1, 2)]));
    assert_no_gap_no_dup(&got_l, &BTreeMap::from([(0, 2), (1, 2)]));
    // Nothing more comes: no duplicate arrives late either.
    let extra = tokio::time::timeout(Duration::from_millis(300), earliest.recv()).await;
    assert!(extra.is_err(), "unexpected {extra:?}");
    assert!(earliest.resubscriptions() >= 3);
    gw.stop().await;
}

#[tokio::test]
async fn a_restarted_embedded_broker_is_announced_as_a_reset_and_its_new_log_delivered_whole() {
    let gw = Gateway::start(EMBEDDED).await;
    let addr = gw.addr;
    let client = connect(&url(addr), fast_reconnect()).await.unwrap();
    let mut sub = client
        .subscribe(Subscribe::topic("room").start(Start::Earliest))
        .await
        .unwrap();
    for i in 0..5 {
        client.publish("room", format!("old{i}")).await.unwrap();
    }
    let old = messages(&mut sub, 5).await;
    assert!(old[0].epoch != 0, "embedded messages carry an epoch");
    gw.stop().await;

    // A new gateway on the same port: a new broker, whose log starts at offset 0 again.
    let mut config = pubsub_gateway::Config::parse(EMBEDDED, "test").unwrap();
    config.server.listen = addr;
    config.server.admin_listen = None;
    let gw = Gateway::start_config(config).await;
    client.wait_connection(1).await.unwrap();
    for i in 0..3 {
        // A reconnect may still be settling: retry what the lost connection dropped.
        loop {
            match client.publish("room", format!("new{i}")).await {
                Ok(_) => break,
                Err(e) if e.is_connection() => continue,
                Err(e) => panic!("{e}"),
            }
        }
    }
    match event(&mut sub).await {
        Event::Reset { topic, .. } => assert_eq!(topic, "room"),
        other => panic!("expected a reset first, got {other:?}"),
    }
    let new = messages(&mut sub, 3).await;
    assert_eq!(
        new.iter().map(|m| (m.offset, value(m))).collect::<Vec<_>>(),
        [(0, "new0"), (1, "new1"), (2, "new2")],
        "the new log from its beginning, none skipped"
    );
    assert_ne!(new[0].epoch, old[0].epoch);
    gw.stop().await;
}

#[tokio::test]
async fn a_group_subscription_rejoins_its_group_after_a_reconnect_and_resumes_at_its_commit() {
    let gw = Gateway::start(EMBEDDED).await;
    let proxy = Proxy::start(gw.addr).await;
    let client = connect(&format!("ws://{}/embedded", proxy.addr), fast_reconnect())
        .await
        .unwrap();
    for i in 0..3 {
        client.publish("g", format!("m{i}")).await.unwrap();
    }
    let mut sub = client
        .subscribe(
            Subscribe::topic("g")
                .group("workers")
                .start(Start::Earliest),
        )
        .await
        .unwrap();
    let got = messages(&mut sub, 3).await;
    sub.commit_message(&got[1]).await.unwrap();
    proxy.cut();
    client.wait_connection(1).await.unwrap();
    // Redelivered from the commit (offset 2) on: a group resumes as the group, not the client.
    let again = messages(&mut sub, 1).await;
    assert_eq!(again[0].offset, 2);
    gw.stop().await;
}

#[tokio::test]
async fn a_pattern_subscription_resumes_each_topic_it_delivered_after_a_reconnect() {
    let gw = Gateway::start(EMBEDDED).await;
    let proxy = Proxy::start(gw.addr).await;
    let producer = connect(&url(gw.addr), Options::default()).await.unwrap();
    let client = connect(&format!("ws://{}/embedded", proxy.addr), fast_reconnect())
        .await
        .unwrap();
    for t in ["pat-a", "pat-b", "other"] {
        producer.publish(t, format!("{t}0")).await.unwrap();
    }
    let mut sub = client
        .subscribe(Subscribe::pattern("pat-.*").start(Start::Earliest))
        .await
        .unwrap();
    let first = messages(&mut sub, 2).await;
    assert!(first.iter().all(|m| m.topic.starts_with("pat-")));
    proxy.cut();
    client.wait_connection(1).await.unwrap();
    for t in ["pat-a", "pat-b", "other"] {
        producer.publish(t, format!("{t}1")).await.unwrap();
    }
    let mut got: Vec<(String, i64)> = first.iter().map(|m| (m.topic.clone(), m.offset)).collect();
    got.extend(
        messages(&mut sub, 2)
            .await
            .iter()
            .map(|m| (m.topic.clone(), m.offset)),
    );
    got.sort();
    assert_eq!(
        got,
        [
            ("pat-a".to_string(), 0),
            ("pat-a".to_string(), 1),
            ("pat-b".to_string(), 0),
            ("pat-b".to_string(), 1)
        ]
    );
    let extra = tokio::time::timeout(Duration::from_millis(300), sub.recv()).await;
    assert!(extra.is_err(), "no duplicate: {extra:?}");
    gw.stop().await;
}

#[tokio::test]
async fn an_unsubscribed_subscription_stays_gone_after_a_reconnect() {
    let gw = Gateway::start(EMBEDDED).await;
    let proxy = Proxy::start(gw.addr).await;
    let client = connect(&format!("ws://{}/embedded", proxy.addr), fast_reconnect())
        .await
        .unwrap();
    let mut gone = client.subscribe(Subscribe::topic("u")).await.unwrap();
    let mut kept = client.subscribe(Subscribe::topic("u")).await.unwrap();
    gone.unsubscribe().await.unwrap();
    assert!(gone.recv().await.is_none());
    proxy.cut();
    client.wait_connection(1).await.unwrap();
    // Published while `kept` (LATEST, on a topic that did not exist yet) may still be
    // resubscribing: it is newer than the subscription, so it must arrive.
    client.publish("u", "after").await.unwrap();
    let m = messages(&mut kept, 1).await;
    assert_eq!(value(&m[0]), "after");
    assert_eq!(kept.ids().len(), 1);
    assert!(gone.ids().is_empty());
    gw.stop().await;
}

/// A TCP proxy that, when armed, ends the connection in place of the next bytes the gateway
/// sends (a reply lost with its connection, after the gateway acted on the request).
struct ReplyEater {
    addr: SocketAddr,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    eaten: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ReplyEater {
    async fn start(upstream: SocketAddr) -> ReplyEater {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let eater = ReplyEater {
            addr,
            armed: Default::default(),
            connections: Default::default(),
            eaten: Default::default(),
        };
        let (armed, connections, eaten) = (
            eater.armed.clone(),
            eater.connections.clone(),
            eater.eaten.clone(),
        );
        tokio::spawn(async move {
            while let Ok((a, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let (armed, eaten) = (armed.clone(), eaten.clone());
                tokio::spawn(async move {
                    let Ok(b) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut ar, mut aw) = a.into_split();
                    let (mut br, mut bw) = b.into_split();
                    let up = async {
                        let _ = tokio::io::copy(&mut ar, &mut bw).await;
                    };
                    let down = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let Ok(n) = br.read(&mut buf).await else {
                                return;
                            };
                            if n == 0 {
                                return;
                            }
                            if armed.swap(false, Ordering::SeqCst) {
                                eaten.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                            if aw.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    tokio::select! {
                        () = up => {}
                        () = down => {}
                    }
                });
            }
        });
        eater
    }
}

#[tokio::test]
async fn a_produce_whose_reply_is_lost_with_its_connection_is_sent_again_and_stored_once() {
    use std::sync::atomic::Ordering;
    let gw = Gateway::start(EMBEDDED).await;
    let eater = ReplyEater::start(gw.addr).await;
    let client = connect(&format!("ws://{}/embedded", eater.addr), fast_reconnect())
        .await
        .unwrap();
    eater.armed.store(true, Ordering::SeqCst);
    let p = client.publish("idem", "once").await.unwrap();
    assert_eq!(eater.eaten.load(Ordering::SeqCst), 1, "the reply was lost");
    assert!(eater.connections.load(Ordering::SeqCst) >= 2, "reconnected");
    let stored = client
        .fetch("idem", 0, 0, FetchOptions::default())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        (stored[0].offset, &stored[0].value[..]),
        (p.offset, &b"once"[..])
    );
    gw.stop().await;
}
