//! The Kafka scheme against a real Kafka-protocol broker (Tansu, started by the test harness).

mod acks;
mod fetch_produce;
mod groups;
mod security;
mod subscribe;

use std::time::Duration;

use bytes::Bytes;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;

use crate::common::kafka as broker;
use crate::common::*;
use broker::{kafka_yaml, shared, topic};

async fn produce(
    c: &mut Client,
    topic: &str,
    partition: Option<i32>,
    key: &[u8],
    value: &[u8],
) -> KafkaProduceResp {
    match c
        .request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: topic.into(),
            partition,
            key: Bytes::copy_from_slice(key),
            value: Bytes::copy_from_slice(value),
            ..Default::default()
        }))
        .await
    {
        Resp::KafkaProduceResp(r) => r,
        other => panic!("produce failed: {other:?}"),
    }
}

async fn list_offset(c: &mut Client, topic: &str, timestamp: i64) -> Resp {
    c.request(Req::CmdKafkaListOffset(CmdKafkaListOffset {
        topic: topic.into(),
        partition: 0,
        timestamp,
    }))
    .await
}

fn offset_of(r: Resp) -> i64 {
    match r {
        Resp::KafkaListOffsetResp(r) => r.offset,
        other => panic!("list_offset failed: {other:?}"),
    }
}

/// APISIX's t/pubsub/kafka.t cases, answered the same way through the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apisix_kafka_cases_give_apisix_answers() {
    let broker = shared();
    let t = topic("test-consumer");
    broker.create_topic(&t, 1).await;
    let gw = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    let mut c = gw.connect("/kafka").await;
    for i in 1..=30 {
        let r = produce(&mut c, &t, Some(0), b"", format!("testmsg{i}").as_bytes()).await;
        assert_eq!(r.offset, i - 1);
    }
    assert_eq!(offset_of(list_offset(&mut c, &t, -2).await), 0);
    assert_eq!(offset_of(list_offset(&mut c, &t, -1).await), 30);
    assert_eq!(
        offset_of(list_offset(&mut c, &t, 1_500_000_000_000).await),
        0
    );

    let r = c
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: t.clone(),
            partition: 0,
            offset: 14,
            ..Default::default()
        }))
        .await;
    let Resp::KafkaFetchResp(f) = r else {
        panic!("fetch failed: {r:?}")
    };
    assert_eq!(f.messages[0].offset, 14);
    assert_eq!(&f.messages[0].value[..], b"testmsg15");

    let r = c
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: t.clone(),
            partition: 0,
            offset: 999,
            ..Default::default()
        }))
        .await;
    let (code, message) = error_of(r);
    assert_eq!(code, 416);
    assert!(
        message.starts_with(&format!(
            "failed to fetch message, topic: {t}, partition: 0, err: OFFSET_OUT_OF_RANGE"
        )),
        "{message}"
    );
    gw.stop().await;
}

use broker::{Broker, BrokerOptions};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::Message as _;
use std::collections::{BTreeMap, BTreeSet};

/// Pushes for a subscription until `n` arrived, failing after `wait`.
async fn pushed_by(c: &mut Client, id: i64, n: usize, wait: Duration) -> Vec<KafkaMessage> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} pushes in {wait:?}",
            out.len()
        );
        out.extend(c.pushed_within(id, Duration::from_millis(300)).await);
    }
    out
}

async fn setup(prefix: &str, partitions: i32) -> (Gateway, String) {
    let broker = shared();
    let t = topic(prefix);
    broker.create_topic(&t, partitions).await;
    let gw = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    (gw, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_answers_5xx_in_time_and_the_connection_keeps_serving() {
    let port = free_port();
    let yaml = format!(
        "routes:\n  - uri: /kafka\n    upstream:\n      scheme: kafka\n      nodes: [\"127.0.0.1:{port}\"]\n      timeout: {{ connect: 1, send: 2, read: 2 }}\n"
    );
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/kafka").await;
    let cmds = [
        Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: "t".into(),
            partition: 0,
            timestamp: -1,
        }),
        Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "t".into(),
            ..Default::default()
        }),
        Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "t".into(),
            value: Bytes::from_static(b"x"),
            ..Default::default()
        }),
        Req::CmdKafkaMetadata(CmdKafkaMetadata { topic: "t".into() }),
        Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "t".into(),
            ..Default::default()
        }),
    ];
    for cmd in cmds {
        let started = std::time::Instant::now();
        let (code, msg) = error_of(c.request(cmd).await);
        assert!((502..=504).contains(&code), "{code} {msg}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "answered after {:?}",
            started.elapsed()
        );
    }
    let r = c
        .request(Req::CmdPing(CmdPing {
            state: Bytes::from_static(b"still"),
        }))
        .await;
    assert!(matches!(r, Resp::PongResp(_)));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_subscription_loses_and_duplicates_nothing() {
    let broker = Broker::start();
    let port = broker.port;
    let dir = broker.dir.clone();
    let t = topic("restart");
    broker.create_topic(&t, 1).await;
    let gw = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    let mut s = gw.connect("/kafka").await;
    let id = s
        .subscribe(CmdKafkaSubscribe {
            topic: t.clone(),
            ..Default::default()
        })
        .await;
    let mut p = gw.connect("/kafka").await;
    for i in 0..5 {
        produce(&mut p, &t, Some(0), b"", format!("m{i}").as_bytes()).await;
    }
    assert_eq!(s.pushed(id, 5).await.len(), 5);
    // Stop the broker but keep its directory (SQLite storage survives).
    broker.stop();
    let (code, _) = error_of(
        p.request(Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: t.clone(),
            partition: 0,
            timestamp: -1,
        }))
        .await,
    );
    assert!((502..=504).contains(&code), "{code}");
    let restarted = Broker::start_with(BrokerOptions {
        port: Some(port),
        dir: Some(dir),
        authentication: false,
    });
    std::mem::forget(broker);
    for i in 5..10 {
        // The producer may need a moment to reconnect.
        p.produce_once_recovered(
            CmdKafkaProduce {
                topic: t.clone(),
                partition: Some(0),
                value: Bytes::from(format!("m{i}")),
                ..Default::default()
            },
            Duration::from_secs(20),
            "produce after restart",
        )
        .await;
    }
    let got = s.pushed(id, 5).await;
    assert_eq!(values(&got), ["m5", "m6", "m7", "m8", "m9"]);
    assert!(
        s.pushed_within(id, Duration::from_millis(500))
            .await
            .is_empty(),
        "no duplicates"
    );
    gw.stop().await;
    drop(restarted);
}

/// Upstream properties for tests that form consumer groups on Tansu: its first join waits
/// session.timeout.ms / 2, and a rebalance waits for departed members up to the rebalance
/// timeout (max.poll.interval.ms).
const GROUP_PROPS: &str =
    "      kafka: { max.poll.interval.ms: \"10000\", session.timeout.ms: \"6000\" }\n";

/// Produces to partitions 0 and 1 alternately, `N` requests pipelined at a time (within the
/// connection's 64 in flight); message `n` holds "<partition>-<n>".
async fn produce_alternating(p: &mut Client, t: &str, rounds: std::ops::Range<i32>) {
    for round in rounds {
        let mut seqs = Vec::new();
        for i in 0..N_PIPELINED {
            let n = round * N_PIPELINED + i;
            seqs.push(
                p.send(Req::CmdKafkaProduce(CmdKafkaProduce {
                    topic: t.into(),
                    partition: Some(n % 2),
                    value: Bytes::from(format!("{}-{n}", n % 2)),
                    ..Default::default()
                }))
                .await,
            );
        }
        for s in seqs {
            let r = p.reply(s).await;
            assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
        }
    }
}

const N_PIPELINED: i32 = 50;

async fn mixed_batches_on(gw: &Gateway, t: &str) {
    let t = t.to_owned();
    let mut p = gw.connect("/kafka").await;
    const ROUNDS: i32 = 8;
    const N: i32 = N_PIPELINED;
    // The first subscriber's EARLIEST start has the tail read the backlog of both partitions.
    produce_alternating(&mut p, &t, 0..ROUNDS / 2).await;
    let mut both = gw.connect("/kafka").await;
    let both_id = both.subscribe(sub_from(&t, Start::Earliest)).await;
    let mut one = gw.connect("/kafka").await;
    let one_id = one
        .subscribe(CmdKafkaSubscribe {
            topic: t.clone(),
            partitions: vec![1],
            start: StartPosition::Earliest as i32,
            ..Default::default()
        })
        .await;
    produce_alternating(&mut p, &t, ROUNDS / 2..ROUNDS).await;
    let total = (ROUNDS * N) as usize;
    let got = pushed_by(&mut both, both_id, total, Duration::from_secs(60)).await;
    assert_eq!(got.len(), total);
    for part in 0..2 {
        let mine: Vec<_> = got.iter().filter(|m| m.partition == part).collect();
        let offs: Vec<i64> = mine.iter().map(|m| m.offset).collect();
        assert_eq!(
            offs,
            (0..total as i64 / 2).collect::<Vec<_>>(),
            "partition {part}"
        );
        assert!(mine
            .iter()
            .all(|m| value_of(m).starts_with(&format!("{part}-"))));
    }
    let got = pushed_by(&mut one, one_id, total / 2, Duration::from_secs(60)).await;
    assert!(got.iter().all(|m| m.partition == 1));
    assert_eq!(offsets_of(&got), (0..total as i64 / 2).collect::<Vec<_>>());
    assert!(both
        .pushed_within(both_id, Duration::from_millis(500))
        .await
        .is_empty());
    assert!(one
        .pushed_within(one_id, Duration::from_millis(500))
        .await
        .is_empty());
}

/// Produces `n` messages of `size` bytes to one partition straight to the broker (faster than
/// through the gateway, for tests that need a large backlog).
async fn produce_bulk(broker: &Broker, topic: &str, partition: i32, n: usize, size: usize) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let value = vec![b'x'; size];
    let sends = (0..n).map(|_| {
        producer.send(
            FutureRecord::<[u8], [u8]>::to(topic)
                .partition(partition)
                .payload(&value[..]),
            Duration::from_secs(60),
        )
    });
    for r in futures_util::future::join_all(sends).await {
        r.map_err(|(e, _)| e).expect("bulk produce");
    }
}

/// Produces one probe to each partition per round until each member receives exactly one
/// partition, different from the other's; returns (a's partition, b's partition).
async fn wait_for_split(
    p: &mut Client,
    t: &str,
    a: &mut Client,
    a_id: i64,
    b: &mut Client,
    b_id: i64,
) -> (i32, i32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut n = 0;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the group never split the partitions between the members"
        );
        for part in 0..2 {
            produce(p, t, Some(part), b"", format!("probe{n}").as_bytes()).await;
            n += 1;
        }
        let got_a: BTreeSet<i32> = a
            .pushed_within(a_id, Duration::from_millis(700))
            .await
            .iter()
            .map(|m| m.partition)
            .collect();
        let got_b: BTreeSet<i32> = b
            .pushed_within(b_id, Duration::from_millis(300))
            .await
            .iter()
            .map(|m| m.partition)
            .collect();
        if got_a.len() == 1 && got_b.len() == 1 && got_a != got_b {
            return (*got_a.first().unwrap(), *got_b.first().unwrap());
        }
    }
}

/// Committed offsets of the group, read by a plain client (the oracle).
async fn committed_by_group(broker: &Broker, group: &str, t: &str) -> Vec<rdkafka::Offset> {
    let oracle: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut q = rdkafka::TopicPartitionList::new();
    q.add_partition(t, 0);
    q.add_partition(t, 1);
    let t = t.to_owned();
    tokio::task::spawn_blocking(move || {
        let c = oracle
            .committed_offsets(q, Duration::from_secs(10))
            .unwrap();
        (0..2)
            .map(|p| c.find_partition(&t, p).unwrap().offset())
            .collect()
    })
    .await
    .unwrap()
}

/// Gateways are stateless replicas: a message published through one reaches a subscriber of
/// another on the same Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_kafka_serve_each_others_messages() {
    let broker = shared();
    let t = topic("replicas");
    broker.create_topic(&t, 1).await;
    let a = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    let b = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    let mut sub_b = b.connect("/kafka").await;
    let id = sub_b
        .subscribe(CmdKafkaSubscribe {
            topic: t.clone(),
            ..Default::default()
        })
        .await;
    let mut pub_a = a.connect("/kafka").await;
    produce(&mut pub_a, &t, None, b"", b"from-a").await;
    let got = pushed_by(&mut sub_b, id, 1, Duration::from_secs(20)).await;
    assert_eq!(values(&got), vec!["from-a".to_string()]);
    a.stop().await;
    b.stop().await;
}
