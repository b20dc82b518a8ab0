//! Fetch bounds, produce and metadata.

use super::*;

// ---------------------------------------------------------------------------------------------
// Fetch bounds
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn fetch_max_messages_caps_the_count() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    produce_apisix_test_messages(&mut c).await;
    let msgs = c
        .fetch(CmdKafkaFetch {
            max_messages: 5,
            ..fetch_cmd("test-consumer", 0, 3)
        })
        .await;
    assert_eq!(offsets_of(&msgs), vec![3, 4, 5, 6, 7]);
    gw.stop().await;
}

#[tokio::test]
async fn fetch_max_bytes_returns_at_least_one_message_and_stops_within_the_bound() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    produce_apisix_test_messages(&mut c).await;
    // A bound smaller than any message still returns the first one.
    let msgs = c
        .fetch(CmdKafkaFetch {
            max_bytes: 1,
            ..fetch_cmd("test-consumer", 0, 10)
        })
        .await;
    assert_eq!(offsets_of(&msgs), vec![10]);
    // Messages 10.. all have the same encoded size: room for two and a half holds two.
    let size = msgs[0].encoded_len() as i32;
    let msgs = c
        .fetch(CmdKafkaFetch {
            max_bytes: 2 * size + size / 2,
            ..fetch_cmd("test-consumer", 0, 10)
        })
        .await;
    assert_eq!(offsets_of(&msgs), vec![10, 11]);
    gw.stop().await;
}

#[tokio::test]
async fn fetch_at_the_end_offset_answers_empty_at_once() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    for i in 0..3 {
        c.produce_value("end", &format!("m{i}")).await;
    }
    let started = Instant::now();
    let msgs = c.fetch(fetch_cmd("end", 0, 3)).await;
    assert!(msgs.is_empty(), "{msgs:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // One past the end is out of range.
    let (code, _) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd("end", 0, 4))).await);
    assert_eq!(code, 416);
    gw.stop().await;
}

#[tokio::test]
async fn fetch_with_max_wait_at_the_end_answers_empty_after_the_wait() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    c.produce_value("quiet", "only").await;
    let started = Instant::now();
    let msgs = c
        .fetch(CmdKafkaFetch {
            max_wait_ms: 300,
            ..fetch_cmd("quiet", 0, 1)
        })
        .await;
    let waited = started.elapsed();
    assert!(msgs.is_empty(), "{msgs:?}");
    assert!(
        waited >= Duration::from_millis(280),
        "answered after {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
    gw.stop().await;
}

#[tokio::test]
async fn fetch_with_max_wait_at_the_end_returns_a_message_produced_by_another_client_while_waiting()
{
    let gw = Gateway::start(EMBEDDED).await;
    let mut consumer = gw.connect("/embedded").await;
    let mut producer = gw.connect("/embedded").await;
    producer.produce_value("lp", "before").await;
    let started = Instant::now();
    let fetch = consumer
        .send(Req::CmdKafkaFetch(CmdKafkaFetch {
            max_wait_ms: 5_000,
            ..fetch_cmd("lp", 0, 1)
        }))
        .await;
    // Once the ping sent after it is answered, the server has read the fetch.
    assert_eq!(consumer.request(ping(b"")).await, pong(b""));
    let produced = producer.produce_value("lp", "while waiting").await;
    assert_eq!(produced.offset, 1);
    let Resp::KafkaFetchResp(f) = consumer.reply(fetch).await else {
        panic!("not a fetch reply")
    };
    assert_eq!(f.messages.len(), 1);
    assert_eq!(f.messages[0].offset, 1);
    assert_eq!(value_of(&f.messages[0]), "while waiting");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    gw.stop().await;
}

#[tokio::test]
async fn long_polling_fetch_does_not_delay_a_ping_sent_after_it() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    c.produce_value("pipe", "m0").await;
    let started = Instant::now();
    let fetch = c
        .send(Req::CmdKafkaFetch(CmdKafkaFetch {
            max_wait_ms: 3_000,
            ..fetch_cmd("pipe", 0, 1)
        }))
        .await;
    let ping_seq = c.send(ping(b"first")).await;
    let first = c.recv_frame().await;
    assert_eq!(
        first.sequence, ping_seq,
        "the pong must come first: {first:?}"
    );
    assert_eq!(first.resp, Some(pong(b"first")));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // End the poll instead of waiting for it.
    c.produce_value("pipe", "m1").await;
    let Resp::KafkaFetchResp(f) = c.reply(fetch).await else {
        panic!("not a fetch reply")
    };
    assert_eq!(offsets_of(&f.messages), vec![1]);
    assert_eq!(value_of(&f.messages[0]), "m1");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Produce
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn produce_to_an_explicit_partition_lands_there() {
    let gw = Gateway::start(&embedded_with("partitions: 4")).await;
    let mut c = gw.connect("/embedded").await;
    assert_eq!(
        c.produce_to("p", 2, "a").await,
        KafkaProduceResp {
            partition: 2,
            offset: 0,
            position: String::new(),
        }
    );
    assert_eq!(
        c.produce_to("p", 2, "b").await,
        KafkaProduceResp {
            partition: 2,
            offset: 1,
            position: String::new(),
        }
    );
    assert_eq!(
        c.produce_to("p", 3, "c").await,
        KafkaProduceResp {
            partition: 3,
            offset: 0,
            position: String::new(),
        }
    );
    let msgs = c.fetch(fetch_cmd("p", 2, 0)).await;
    assert_eq!(
        msgs.iter().map(value_of).collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    assert!(msgs.iter().all(|m| m.partition == 2 && m.topic == "p"));
    gw.stop().await;
}

#[tokio::test]
async fn produce_to_a_partition_out_of_range_answers_404() {
    let gw = Gateway::start(&embedded_with("partitions: 4")).await;
    let mut c = gw.connect("/embedded").await;
    for partition in [4, -1] {
        let (code, message) = error_of(
            c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "p".into(),
                partition: Some(partition),
                value: Bytes::from_static(b"x"),
                ..Default::default()
            }))
            .await,
        );
        assert_eq!(code, 404, "partition {partition}");
        assert_eq!(
            message,
            "failed to produce message, topic: p, err: UNKNOWN_TOPIC_OR_PARTITION"
        );
    }
    gw.stop().await;
}

/// Produces each key three times on `route`; asserts the partition is `partition_for_key` and the
/// one Kafka picks (`kafka`), and that one key's messages follow each other on that partition.
async fn produce_keys(gw: &Gateway, route: &str, count: i32, keys: &[(&str, i32)]) {
    let mut c = gw.connect(route).await;
    for (key, kafka) in keys {
        let expected = partition_for_key(key.as_bytes(), count);
        assert_eq!(expected, *kafka, "partition_for_key({key:?}, {count})");
        let mut offsets = Vec::new();
        for i in 0..3 {
            let r = c
                .produce(CmdKafkaProduce {
                    topic: "keyed".into(),
                    key: Bytes::copy_from_slice(key.as_bytes()),
                    value: format!("{key}-{i}").into_bytes().into(),
                    ..Default::default()
                })
                .await;
            assert_eq!(r.partition, expected, "key {key:?} among {count}");
            offsets.push(r.offset);
        }
        assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{offsets:?}");
    }
}

#[tokio::test]
async fn keyed_produce_picks_kafkas_murmur2_partition_and_keeps_a_key_on_one_partition() {
    let yaml = "routes:
  - uri: /embedded
    upstream: { scheme: embedded, embedded: { partitions: 4 } }
  - uri: /five
    upstream: { scheme: embedded, embedded: { partitions: 5 } }
";
    let gw = Gateway::start(yaml).await;
    // Keys from Kafka's murmur2 test vectors, with the partitions Kafka's default partitioner
    // picks. Five partitions tell a sign-masked hash from an unmasked one; four cannot.
    produce_keys(
        &gw,
        "/embedded",
        4,
        &[
            ("21", 0),
            ("foobar", 2),
            ("abc", 3),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 1),
            ("a-little-bit-long-string", 0),
        ],
    )
    .await;
    produce_keys(
        &gw,
        "/five",
        5,
        &[
            ("21", 0),
            ("foobar", 1),
            ("abc", 2),
            ("a-little-bit-longer-string", 4),
        ],
    )
    .await;
    // The messages are where the replies said, with their keys.
    let mut c = gw.connect("/embedded").await;
    let p0 = c.fetch(fetch_cmd("keyed", 0, 0)).await;
    let keys0: Vec<_> = p0.iter().map(|m| m.key.clone()).collect();
    assert_eq!(
        keys0,
        [
            b"21".as_slice(),
            b"21",
            b"21",
            b"a-little-bit-long-string",
            b"a-little-bit-long-string",
            b"a-little-bit-long-string"
        ]
        .map(Bytes::from_static)
        .to_vec()
    );
    gw.stop().await;
}

#[tokio::test]
async fn produce_without_key_spreads_over_all_partitions() {
    let gw = Gateway::start(&embedded_with("partitions: 4")).await;
    let mut c = gw.connect("/embedded").await;
    let mut per_partition: BTreeMap<i32, usize> = BTreeMap::new();
    for i in 0..8 {
        let r = c.produce_value("spread", &format!("m{i}")).await;
        *per_partition.entry(r.partition).or_default() += 1;
    }
    assert_eq!(
        per_partition.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(per_partition.values().all(|n| *n == 2), "{per_partition:?}");
    gw.stop().await;
}

#[tokio::test]
async fn headers_key_and_explicit_timestamp_come_back_in_fetch() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let headers = vec![
        header("content-type", b"application/json"),
        header("binary", &[0x00, 0xff, 0x80, 0x01]),
        header("empty", b""),
    ];
    let r = c
        .produce(CmdKafkaProduce {
            topic: "hdr".into(),
            partition: None,
            key: Bytes::from_static(b"\x01key"),
            value: Bytes::from_static(b"{\"a\":1}"),
            headers: headers.clone(),
            timestamp: 1_600_000_000_123,
            idempotency_key: String::new(),
        })
        .await;
    assert_eq!(
        r,
        KafkaProduceResp {
            partition: 0,
            offset: 0,
            position: String::new(),
        }
    );
    let msgs = c.fetch(fetch_cmd("hdr", 0, 0)).await;
    assert_eq!(
        msgs,
        vec![KafkaMessage {
            offset: 0,
            timestamp: 1_600_000_000_123,
            key: Bytes::from_static(b"\x01key"),
            value: Bytes::from_static(b"{\"a\":1}"),
            headers,
            partition: 0,
            topic: "hdr".into(),
            position: String::new(),
            // The log's generation, set by the embedded broker.
            epoch: msgs[0].epoch,
            // A fetch is not a group delivery.
            delivery_attempt: 0,
        }]
    );
    assert_ne!(msgs[0].epoch, 0);
    // Without a timestamp the broker stamps the message with the time of the produce.
    let before = now_ms();
    c.produce_value("hdr", "now").await;
    let after = now_ms();
    let msgs = c.fetch(fetch_cmd("hdr", 0, 1)).await;
    assert!(
        (before..=after).contains(&msgs[0].timestamp),
        "{} not in [{before}, {after}]",
        msgs[0].timestamp
    );
    gw.stop().await;
}

#[tokio::test]
async fn produce_to_an_invalid_topic_name_answers_400() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    for topic in ["bad topic", "", "a/b", ".."] {
        let (code, message) = error_of(
            c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: topic.into(),
                value: Bytes::from_static(b"x"),
                ..Default::default()
            }))
            .await,
        );
        assert_eq!(code, 400, "topic {topic:?}: {message}");
        assert!(message.contains("invalid topic name"), "{message}");
    }
    // Nothing was created.
    let (code, _) = error_of(
        c.request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "bad topic".into(),
        }))
        .await,
    );
    assert_eq!(code, 400);
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn metadata_lists_partitions_with_earliest_and_latest() {
    let gw = Gateway::start(&embedded_with("partitions: 4")).await;
    let mut c = gw.connect("/embedded").await;
    c.produce_to("meta", 0, "a").await;
    c.produce_to("meta", 0, "b").await;
    c.produce_to("meta", 2, "c").await;
    let r = c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "meta".into(),
        }))
        .await;
    let info = |partition, earliest, latest| KafkaPartitionInfo {
        partition,
        earliest,
        latest,
        epoch: 0,
    };
    assert_eq!(
        without_epochs(r),
        Resp::KafkaMetadataResp(KafkaMetadataResp {
            topic: "meta".into(),
            partitions: vec![info(0, 0, 2), info(1, 0, 0), info(2, 0, 1), info(3, 0, 0)],
        })
    );
    gw.stop().await;
}

#[tokio::test]
async fn metadata_of_an_unknown_topic_answers_404() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let (code, message) = error_of(
        c.request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "ghost".into(),
        }))
        .await,
    );
    assert_eq!(code, 404);
    assert_eq!(
        message,
        "failed to get metadata, topic: ghost, err: UNKNOWN_TOPIC_OR_PARTITION"
    );
    gw.stop().await;
}
