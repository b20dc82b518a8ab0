//! Fetch, list offsets, produce and metadata against Tansu, with a direct Kafka client as
//! oracle.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offset_by_timestamp_matches_a_direct_kafka_client() {
    let (gw, t) = setup("ts", 1).await;
    let mut c = gw.connect("/kafka").await;
    for (i, ts) in [1_600_000_000_000i64, 1_600_000_001_000, 1_600_000_002_000]
        .iter()
        .enumerate()
    {
        let r = c
            .request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: t.clone(),
                partition: Some(0),
                value: Bytes::from(format!("v{i}")),
                timestamp: *ts,
                ..Default::default()
            }))
            .await;
        assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    }
    assert_eq!(
        offset_of(list_offset(&mut c, &t, 1_600_000_000_500).await),
        1
    );
    assert_eq!(
        offset_of(list_offset(&mut c, &t, 1_600_000_002_000).await),
        2
    );
    // Past the last timestamp Apache Kafka answers -1; Tansu answers 0 (a documented broker
    // deviation). The gateway passes on what the broker says: compare with a direct client.
    let direct: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", shared().bootstrap())
        .create()
        .unwrap();
    let mut q = rdkafka::TopicPartitionList::new();
    q.add_partition_offset(&t, 0, rdkafka::Offset::Offset(1_700_000_000_000))
        .unwrap();
    let t2 = t.clone();
    let oracle = tokio::task::spawn_blocking(move || {
        let r = direct.offsets_for_times(q, Duration::from_secs(5)).unwrap();
        let e = r.find_partition(&t2, 0).unwrap();
        match e.offset() {
            rdkafka::Offset::Offset(o) => o,
            _ => -1,
        }
    })
    .await
    .unwrap();
    assert_eq!(
        offset_of(list_offset(&mut c, &t, 1_700_000_000_000).await),
        oracle
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_is_bounded_and_long_polls_at_the_end() {
    let (gw, t) = setup("fetchb", 1).await;
    let mut c = gw.connect("/kafka").await;
    for i in 0..20 {
        produce(&mut c, &t, Some(0), b"", format!("m{i}").as_bytes()).await;
    }
    let msgs = c
        .fetch(CmdKafkaFetch {
            topic: t.clone(),
            offset: 3,
            max_messages: 5,
            ..Default::default()
        })
        .await;
    assert_eq!(values(&msgs), ["m3", "m4", "m5", "m6", "m7"]);
    let msgs = c
        .fetch(CmdKafkaFetch {
            topic: t.clone(),
            offset: 8,
            max_bytes: 1,
            ..Default::default()
        })
        .await;
    assert_eq!(values(&msgs), ["m8"], "max_bytes still returns one message");
    // Sequential fetches continue where the previous one stopped.
    let msgs = c
        .fetch(CmdKafkaFetch {
            topic: t.clone(),
            offset: 9,
            ..Default::default()
        })
        .await;
    assert_eq!(msgs.first().map(|m| m.offset), Some(9));
    assert_eq!(msgs.last().map(|m| m.offset), Some(19));
    // At the end: empty at once without max_wait_ms ...
    let msgs = c
        .fetch(CmdKafkaFetch {
            topic: t.clone(),
            offset: 20,
            ..Default::default()
        })
        .await;
    assert!(msgs.is_empty());
    // ... and with it, the message produced while waiting.
    let seq = c
        .send(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: t.clone(),
            offset: 20,
            max_wait_ms: 5000,
            ..Default::default()
        }))
        .await;
    let mut p = gw.connect("/kafka").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    produce(&mut p, &t, Some(0), b"", b"late").await;
    let Resp::KafkaFetchResp(f) = c.reply(seq).await else {
        panic!()
    };
    assert_eq!(values(&f.messages), ["late"]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topic_and_partition_answer_404_naming_them() {
    let (gw, t) = setup("missing", 1).await;
    let mut c = gw.connect("/kafka").await;
    let r = c
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "no-such-topic-xyz".into(),
            ..Default::default()
        }))
        .await;
    let (code, msg) = error_of(r);
    assert_eq!(code, 404, "{msg}");
    assert!(
        msg.contains("no-such-topic-xyz") && msg.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{msg}"
    );
    let r = c
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: t.clone(),
            partition: 7,
            ..Default::default()
        }))
        .await;
    let (code, msg) = error_of(r);
    assert_eq!(code, 404, "{msg}");
    assert!(msg.contains("partition: 7"), "{msg}");
    let r = c
        .request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: t.clone(),
            partition: Some(3),
            ..Default::default()
        }))
        .await;
    assert_eq!(error_of(r).0, 404);
    let r = c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "no-such-topic-xyz".into(),
        }))
        .await;
    assert_eq!(error_of(r).0, 404);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_produce_uses_kafkas_default_partitioner_and_keeps_headers_and_timestamps() {
    let (gw, t) = setup("keyed", 4).await;
    let mut c = gw.connect("/kafka").await;
    for key in ["alpha", "beta", "gamma", "delta", "user-42"] {
        let r = produce(&mut c, &t, None, key.as_bytes(), b"v").await;
        assert_eq!(
            r.partition,
            pubsub_gateway::backend::partition_for_key(key.as_bytes(), 4),
            "key {key}"
        );
    }
    let r = c
        .request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: t.clone(),
            partition: Some(2),
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"with-headers"),
            headers: vec![
                KafkaHeader {
                    key: "trace".into(),
                    value: Bytes::from_static(b"abc"),
                },
                KafkaHeader {
                    key: "bin".into(),
                    value: Bytes::from_static(b"\x00\x01\xff"),
                },
            ],
            timestamp: 1_650_000_000_123,
            idempotency_key: String::new(),
        }))
        .await;
    let Resp::KafkaProduceResp(p) = r else {
        panic!("{r:?}")
    };
    assert_eq!(p.partition, 2);
    let msgs = c
        .fetch(CmdKafkaFetch {
            topic: t.clone(),
            partition: 2,
            offset: p.offset,
            ..Default::default()
        })
        .await;
    let m = &msgs[0];
    assert_eq!(&m.value[..], b"with-headers");
    assert_eq!(&m.key[..], b"k");
    assert_eq!(m.timestamp, 1_650_000_000_123);
    assert_eq!(m.headers.len(), 2);
    assert_eq!(&m.headers[1].value[..], b"\x00\x01\xff");
    // A plain Kafka consumer sees the same record.
    let direct: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", shared().bootstrap())
        .set("group.id", "unused")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&t, 2, rdkafka::Offset::Offset(p.offset))
        .unwrap();
    direct.assign(&tpl).unwrap();
    let (hk, ts) = tokio::task::spawn_blocking(move || {
        let m = direct
            .poll(Duration::from_secs(10))
            .expect("a message")
            .expect("no error");
        let h = m.headers().unwrap();
        (h.get(0).key.to_string(), m.timestamp().to_millis())
    })
    .await
    .unwrap();
    assert_eq!(hk, "trace");
    assert_eq!(ts, Some(1_650_000_000_123));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_lists_partitions_with_watermarks() {
    let (gw, t) = setup("meta", 3).await;
    let mut c = gw.connect("/kafka").await;
    produce(&mut c, &t, Some(1), b"", b"x").await;
    produce(&mut c, &t, Some(1), b"", b"y").await;
    let r = c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata { topic: t.clone() }))
        .await;
    let Resp::KafkaMetadataResp(m) = r else {
        panic!("{r:?}")
    };
    assert_eq!(m.topic, t);
    let latest: Vec<_> = m
        .partitions
        .iter()
        .map(|p| (p.partition, p.earliest, p.latest))
        .collect();
    assert_eq!(latest, [(0, 0, 0), (1, 0, 2), (2, 0, 0)]);
    gw.stop().await;
}

/// Long polls wait for new messages without holding one of the upstream's few fetch
/// consumers (two by default): other clients' fetches of existing data answer at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_in_flight_do_not_hold_back_other_fetches() {
    let (gw, t) = setup("longpoll", 2).await;
    let mut p = gw.connect("/kafka").await;
    for i in 0..3 {
        produce(&mut p, &t, Some(1), b"", format!("m{i}").as_bytes()).await;
    }
    let mut poller = gw.connect("/kafka").await;
    let mut polls = Vec::new();
    for _ in 0..2 {
        polls.push(
            poller
                .send(Req::CmdKafkaFetch(CmdKafkaFetch {
                    topic: t.clone(),
                    partition: 0,
                    offset: 0,
                    max_wait_ms: 20_000,
                    ..Default::default()
                }))
                .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut other = gw.connect("/kafka").await;
    let started = std::time::Instant::now();
    let got = other.fetch(fetch_cmd(&t, 1, 0)).await;
    assert_eq!(values(&got), ["m0", "m1", "m2"]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a fetch of existing data took {:?} behind two long polls",
        started.elapsed()
    );
    // The long polls still answer as soon as something arrives.
    let started = std::time::Instant::now();
    produce(&mut p, &t, Some(0), b"", b"late").await;
    for seq in polls {
        match poller.reply(seq).await {
            Resp::KafkaFetchResp(f) => assert_eq!(values(&f.messages), ["late"]),
            other => panic!("long poll answered {other:?}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    gw.stop().await;
}
