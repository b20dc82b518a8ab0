//! Per-message ack and nack in Kafka groups (the gateway runs them; plain rdkafka clients are
//! the oracle): the group's committed offset follows the lowest unacknowledged message, nacks
//! redeliver with the attempt rising, dead letters reach the route's dead-letter topic with
//! every header, and a vanished member's unacknowledged messages go to another member.

use super::*;

fn positions(topic: &str, offsets: &[i64]) -> Vec<MessagePosition> {
    offsets
        .iter()
        .map(|o| MessagePosition {
            topic: topic.into(),
            partition: 0,
            offset: *o,
            position: String::new(),
        })
        .collect()
}

async fn ack(c: &mut Client, subscription_id: i64, topic: &str, offsets: &[i64]) -> Resp {
    c.request(Req::CmdAck(CmdAck {
        subscription_id,
        positions: positions(topic, offsets),
    }))
    .await
}

async fn nack(c: &mut Client, subscription_id: i64, topic: &str, offset: i64, delay_ms: i64) {
    let r = c
        .request(Req::CmdNack(CmdNack {
            subscription_id,
            positions: positions(topic, &[offset]),
            delay_ms,
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "nack answered {r:?}");
}

fn attempts(messages: &[KafkaMessage]) -> Vec<(i64, u32)> {
    messages
        .iter()
        .map(|m| (m.offset, m.delivery_attempt))
        .collect()
}

fn member(t: &str, group: &str) -> CmdKafkaSubscribe {
    CmdKafkaSubscribe {
        topic: t.into(),
        group: group.into(),
        start: StartPosition::Earliest as i32,
        ..Default::default()
    }
}

/// The group's committed offset of partition 0, read by a plain rdkafka client (None: none).
async fn committed(broker: &Broker, group: &str, t: &str) -> Option<i64> {
    let oracle: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut q = rdkafka::TopicPartitionList::new();
    q.add_partition(t, 0);
    let t = t.to_owned();
    tokio::task::spawn_blocking(move || {
        let c = oracle
            .committed_offsets(q, Duration::from_secs(10))
            .unwrap();
        match c.find_partition(&t, 0).unwrap().offset() {
            rdkafka::Offset::Offset(o) => Some(o),
            _ => None,
        }
    })
    .await
    .unwrap()
}

async fn setup(prefix: &str, delivery: &str) -> (Broker, Gateway, String) {
    let broker = Broker::start();
    let t = topic(prefix);
    broker.create_topic(&t, 1).await;
    let mut yaml = kafka_yaml(&broker.bootstrap(), GROUP_PROPS);
    yaml.push_str(delivery);
    let gw = Gateway::start(&yaml).await;
    (broker, gw, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_group_commit_by_acks_never_passes_an_unacknowledged_message() {
    let (broker, gw, t) = setup("kacks", "").await;
    let group = topic("kacks-group");
    let mut p = gw.connect("/kafka").await;
    for i in 0..5 {
        produce(&mut p, &t, Some(0), b"", format!("m{i}").as_bytes()).await;
    }
    let mut a = gw.connect("/kafka").await;
    let id = a.subscribe(member(&t, &group)).await;
    let got = pushed_by(&mut a, id, 5, Duration::from_secs(60)).await;
    assert_eq!(
        attempts(&got),
        vec![(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)],
        "a group's first deliveries are attempt 1"
    );
    let r = ack(&mut a, id, &t, &[0, 1, 3, 4]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    assert_eq!(
        committed(&broker, &group, &t).await,
        Some(2),
        "the commit stops at offset 2, never acknowledged"
    );
    // Settling what was never pushed (or was settled already) answers an error and changes
    // nothing, not even the valid position named beside it.
    let (code, msg) = error_of(ack(&mut a, id, &t, &[2, 99]).await);
    assert_eq!(code, 400, "{msg}");
    let (code, msg) = error_of(ack(&mut a, id, &t, &[1]).await);
    assert_eq!(code, 400, "{msg}");
    // A partition the member does not hold: 409, and nothing changes.
    let r = a
        .request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: vec![MessagePosition {
                topic: t.clone(),
                partition: 1,
                offset: 0,
                position: String::new(),
            }],
        }))
        .await;
    let (code, msg) = error_of(r);
    assert_eq!(code, 409, "{msg}");
    assert_eq!(committed(&broker, &group, &t).await, Some(2));
    let r = ack(&mut a, id, &t, &[2]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    assert_eq!(committed(&broker, &group, &t).await, Some(5));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_group_nack_redelivers_with_delivery_attempt_rising() {
    let (broker, gw, t) = setup("knack", "").await;
    let group = topic("knack-group");
    let mut p = gw.connect("/kafka").await;
    for i in 0..2 {
        produce(&mut p, &t, Some(0), b"", format!("m{i}").as_bytes()).await;
    }
    let mut a = gw.connect("/kafka").await;
    let id = a.subscribe(member(&t, &group)).await;
    let got = pushed_by(&mut a, id, 2, Duration::from_secs(60)).await;
    assert_eq!(attempts(&got), vec![(0, 1), (1, 1)]);
    let r = ack(&mut a, id, &t, &[1]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    nack(&mut a, id, &t, 0, 0).await;
    let again = pushed_by(&mut a, id, 1, Duration::from_secs(10)).await;
    assert_eq!(attempts(&again), vec![(0, 2)]);
    assert_eq!(value_of(&again[0]), "m0");
    // A nacked message is not awaiting an ack until it comes again.
    let started = std::time::Instant::now();
    nack(&mut a, id, &t, 0, 500).await;
    let (code, _) = error_of(ack(&mut a, id, &t, &[0]).await);
    assert_eq!(code, 400);
    let again = pushed_by(&mut a, id, 1, Duration::from_secs(10)).await;
    assert_eq!(attempts(&again), vec![(0, 3)]);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "redelivered after {:?}, before its delay",
        started.elapsed()
    );
    assert_eq!(committed(&broker, &group, &t).await, None, "0 is still out");
    let r = ack(&mut a, id, &t, &[0]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    assert_eq!(committed(&broker, &group, &t).await, Some(2));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_dead_letter_is_read_by_a_plain_consumer_with_every_header() {
    let dlq = topic("kdlq-dead");
    let (broker, gw, t) = setup(
        "kdlq",
        &format!("    delivery: {{ max_deliveries: 2, dead_letter: {dlq} }}\n"),
    )
    .await;
    broker.create_topic(&dlq, 1).await;
    let group = topic("kdlq-group");
    let mut p = gw.connect("/kafka").await;
    let r = p
        .request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: t.clone(),
            partition: Some(0),
            key: Bytes::from_static(b"k1"),
            value: Bytes::from_static(b"poison"),
            headers: vec![header("trace", "abc")],
            ..Default::default()
        }))
        .await;
    assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    let mut a = gw.connect("/kafka").await;
    let id = a.subscribe(member(&t, &group)).await;
    let first_seen = pubsub_gateway::backend::now_ms();
    let got = pushed_by(&mut a, id, 1, Duration::from_secs(60)).await;
    assert_eq!(attempts(&got), vec![(0, 1)]);
    nack(&mut a, id, &t, 0, 0).await;
    let again = pushed_by(&mut a, id, 1, Duration::from_secs(10)).await;
    assert_eq!(attempts(&again), vec![(0, 2)]);
    // The last allowed delivery is nacked: the dead letter is written before the reply, and
    // only then does the commit pass the message.
    nack(&mut a, id, &t, 0, 0).await;
    assert_eq!(committed(&broker, &group, &t).await, Some(1));
    assert!(
        a.pushed_within(id, Duration::from_millis(500))
            .await
            .is_empty(),
        "a dead-lettered message is not delivered again"
    );
    let plain: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", topic("kdlq-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    plain.subscribe(&[&dlq]).unwrap();
    let m = tokio::time::timeout(Duration::from_secs(60), plain.recv())
        .await
        .expect("no dead letter in time")
        .unwrap();
    assert_eq!(m.key(), Some(&b"k1"[..]));
    assert_eq!(m.payload(), Some(&b"poison"[..]));
    let headers: BTreeMap<String, String> = m
        .headers()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h.key.to_owned(),
                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
            )
        })
        .collect();
    assert_eq!(headers["trace"], "abc");
    assert_eq!(headers["x-dead-letter-topic"], t);
    assert_eq!(headers["x-dead-letter-partition"], "0");
    assert_eq!(headers["x-dead-letter-position"], "0");
    assert_eq!(headers["x-dead-letter-delivery-count"], "2");
    assert_eq!(headers["x-dead-letter-reason"], "nack");
    let first: i64 = headers["x-dead-letter-first-delivery-ms"].parse().unwrap();
    assert!(
        (first_seen..=pubsub_gateway::backend::now_ms()).contains(&first),
        "first delivery at {first}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_vanished_members_unacknowledged_messages_go_to_another_member() {
    let (broker, gw, t) = setup("kvanish", "").await;
    let group = topic("kvanish-group");
    let mut p = gw.connect("/kafka").await;
    for i in 0..3 {
        produce(&mut p, &t, Some(0), b"", format!("m{i}").as_bytes()).await;
    }
    let mut a = gw.connect("/kafka").await;
    let ida = a.subscribe(member(&t, &group)).await;
    let got = pushed_by(&mut a, ida, 3, Duration::from_secs(60)).await;
    assert_eq!(offsets_of(&got), vec![0, 1, 2]);
    let r = ack(&mut a, ida, &t, &[0, 2]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    assert_eq!(committed(&broker, &group, &t).await, Some(1));
    // The second member holds no partition while the first has the only one.
    let mut b = gw.connect("/kafka").await;
    let idb = b.subscribe(member(&t, &group)).await;
    // The first client vanishes without a word (its socket dropped).
    drop(a);
    let again = pushed_by(&mut b, idb, 2, Duration::from_secs(90)).await;
    assert_eq!(
        offsets_of(&again),
        vec![1, 2],
        "the next member starts at the unacknowledged message"
    );
    assert_eq!(value_of(&again[0]), "m1");
    let r = ack(&mut b, idb, &t, &[1, 2]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    assert_eq!(committed(&broker, &group, &t).await, Some(3));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_plain_subscription_ack_frees_the_window_and_nack_answers_400() {
    let (_broker, gw, t) = setup("kplain", "").await;
    let mut p = gw.connect("/kafka").await;
    for i in 0..2 {
        produce(&mut p, &t, Some(0), b"", format!("m{i}").as_bytes()).await;
    }
    let mut a = gw.connect("/kafka").await;
    let id = a
        .subscribe(CmdKafkaSubscribe {
            topic: t.clone(),
            start: StartPosition::Earliest as i32,
            max_in_flight: 1,
            ..Default::default()
        })
        .await;
    let got = pushed_by(&mut a, id, 1, Duration::from_secs(20)).await;
    assert_eq!(
        attempts(&got),
        vec![(0, 0)],
        "plain pushes carry no attempt"
    );
    let r = a
        .request(Req::CmdNack(CmdNack {
            subscription_id: id,
            positions: positions(&t, &[0]),
            delay_ms: 0,
        }))
        .await;
    let (code, msg) = error_of(r);
    assert_eq!(code, 400, "{msg}");
    let r = ack(&mut a, id, &t, &[0]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    let got = pushed_by(&mut a, id, 1, Duration::from_secs(20)).await;
    assert_eq!(offsets_of(&got), vec![1], "the ack freed the window");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_ordered_delivery_holds_a_key_until_its_earlier_message_is_acked() {
    let (broker, gw, t) = setup("kord", "    delivery: { ordered: true }\n").await;
    let group = topic("kord-group");
    let mut p = gw.connect("/kafka").await;
    for (key, value) in [("k1", "a"), ("k1", "b"), ("k2", "c"), ("k1", "d")] {
        produce(&mut p, &t, Some(0), key.as_bytes(), value.as_bytes()).await;
    }
    let mut a = gw.connect("/kafka").await;
    let id = a.subscribe(member(&t, &group)).await;
    let got = pushed_by(&mut a, id, 2, Duration::from_secs(60)).await;
    assert_eq!(
        attempts(&got),
        vec![(0, 1), (2, 1)],
        "b and d wait for a (same key); c (another key) does not"
    );
    let (code, msg) = error_of(ack(&mut a, id, &t, &[1]).await);
    assert_eq!(code, 400, "a held message was never delivered: {msg}");
    // A nacked a still holds its key: a comes again before b.
    nack(&mut a, id, &t, 0, 0).await;
    let again = pushed_by(&mut a, id, 1, Duration::from_secs(10)).await;
    assert_eq!(attempts(&again), vec![(0, 2)]);
    let r = ack(&mut a, id, &t, &[0, 2]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    let next = pushed_by(&mut a, id, 1, Duration::from_secs(10)).await;
    assert_eq!(attempts(&next), vec![(1, 1)], "b, released by a's ack");
    assert_eq!(value_of(&next[0]), "b");
    assert_eq!(
        committed(&broker, &group, &t).await,
        Some(1),
        "the commit stops at b, still out"
    );
    let r = ack(&mut a, id, &t, &[1]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    let last = pushed_by(&mut a, id, 1, Duration::from_secs(10)).await;
    assert_eq!(attempts(&last), vec![(3, 1)]);
    let r = ack(&mut a, id, &t, &[3]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    assert_eq!(committed(&broker, &group, &t).await, Some(4));
    gw.stop().await;
}
