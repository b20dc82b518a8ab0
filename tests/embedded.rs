//! The full command set on the embedded scheme, through the real server and a real client.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use prost::Message as _;
use pubsub_gateway::backend::partition_for_key;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// Long enough to notice a push that should not come, short enough to keep the suite fast.
const QUIET: Duration = Duration::from_millis(300);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Metadata with each partition's epoch checked (the broker sets one) and then cleared, so the
/// rest compares exactly.
fn without_epochs(mut r: Resp) -> Resp {
    if let Resp::KafkaMetadataResp(m) = &mut r {
        for p in &mut m.partitions {
            assert_ne!(p.epoch, 0, "partition {} has no epoch", p.partition);
            p.epoch = 0;
        }
    }
    r
}

fn ping(state: &'static [u8]) -> Req {
    Req::CmdPing(CmdPing {
        state: Bytes::from_static(state),
    })
}

fn pong(state: &'static [u8]) -> Resp {
    Resp::PongResp(PongResp {
        state: Bytes::from_static(state),
    })
}

fn list_offset(topic: &str, timestamp: i64) -> Req {
    Req::CmdKafkaListOffset(CmdKafkaListOffset {
        topic: topic.into(),
        partition: 0,
        timestamp,
    })
}

fn sub(topic: &str, start: StartPosition) -> CmdKafkaSubscribe {
    CmdKafkaSubscribe {
        topic: topic.into(),
        start: start as i32,
        ..Default::default()
    }
}

fn header(key: &str, value: &[u8]) -> KafkaHeader {
    KafkaHeader {
        key: key.into(),
        value: Bytes::copy_from_slice(value),
    }
}

/// APISIX's Kafka test data: testmsg1..testmsg30 in `test-consumer`, partition 0.
async fn produce_apisix_test_messages(c: &mut Client) {
    for i in 1..=30 {
        let r = c
            .produce_value("test-consumer", &format!("testmsg{i}"))
            .await;
        assert_eq!(
            r,
            KafkaProduceResp {
                partition: 0,
                offset: i - 1,
                position: String::new(),
            }
        );
    }
}

const UPGRADE_HEADERS: &str =
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

// ---------------------------------------------------------------------------------------------
// APISIX's pubsub cases
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ping_echoes_state() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let seq = c.send(ping(b"abc")).await;
    let r = c.recv_frame().await;
    assert_eq!(r.sequence, seq);
    assert_eq!(r.resp, Some(pong(b"abc")));
    // Binary state, and the empty state, come back unchanged too.
    assert_eq!(
        c.request(ping(b"\x00\xff\x01")).await,
        pong(b"\x00\xff\x01")
    );
    assert_eq!(c.request(ping(b"")).await, pong(b""));
    gw.stop().await;
}

#[tokio::test]
async fn cmd_empty_answers_unknown_command_with_its_sequence_and_the_connection_keeps_serving() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let seq = c.send(Req::CmdEmpty(CmdEmpty {})).await;
    let r = c.recv_frame().await;
    assert_eq!(r.sequence, seq);
    let (code, message) = error_of(r.resp.unwrap());
    assert_eq!(message, "unknown command");
    assert_eq!(code, 400);
    assert_eq!(c.request(ping(b"after")).await, pong(b"after"));
    gw.stop().await;
}

#[tokio::test]
async fn text_frame_is_ignored_and_the_connection_keeps_serving() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    c.send_raw(Message::Text("hello".into())).await;
    let seq = c.send(ping(b"x")).await;
    // The next frame is the pong: the text frame got no answer at all.
    let r = c.recv_frame().await;
    assert_eq!(r.sequence, seq);
    assert_eq!(r.resp, Some(pong(b"x")));
    gw.stop().await;
}

#[tokio::test]
async fn undecodable_binary_frame_answers_wrong_command_with_sequence_0_and_the_connection_keeps_serving(
) {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    c.send_raw(Message::Binary(Bytes::from_static(&[0xff, 0xff, 0xff])))
        .await;
    let r = c.recv_frame().await;
    assert_eq!(r.sequence, 0);
    assert_eq!(
        r.resp,
        Some(Resp::ErrorResp(ErrorResp {
            code: 400,
            message: "wrong command".into()
        }))
    );
    assert_eq!(c.request(ping(b"still")).await, pong(b"still"));
    gw.stop().await;
}

#[tokio::test]
async fn request_without_command_answers_error_with_its_sequence() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let frame = PubSubReq {
        sequence: 77,
        req: None,
    }
    .encode_to_vec();
    c.send_raw(Message::Binary(frame.into())).await;
    let r = c.recv_frame().await;
    assert_eq!(r.sequence, 77);
    assert_eq!(
        r.resp,
        Some(Resp::ErrorResp(ErrorResp {
            code: 400,
            message: "request has no command".into()
        }))
    );
    assert_eq!(c.request(ping(b"ok")).await, pong(b"ok"));
    gw.stop().await;
}

#[tokio::test]
async fn plain_http_get_on_the_route_answers_400() {
    let gw = Gateway::start(EMBEDDED).await;
    let status = http_status(gw.addr, "GET /embedded HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status, 400);
    gw.stop().await;
}

#[tokio::test]
async fn unknown_path_answers_404() {
    let gw = Gateway::start(EMBEDDED).await;
    let req = format!(
        "GET /nowhere HTTP/1.1\r\nHost: localhost\r\n{UPGRADE_HEADERS}Sec-WebSocket-Version: 13\r\n\r\n"
    );
    assert_eq!(http_status(gw.addr, &req).await, 404);
    gw.stop().await;
}

#[tokio::test]
async fn websocket_version_12_answers_426() {
    let gw = Gateway::start(EMBEDDED).await;
    let req = format!(
        "GET /embedded HTTP/1.1\r\nHost: localhost\r\n{UPGRADE_HEADERS}Sec-WebSocket-Version: 12\r\n\r\n"
    );
    assert_eq!(http_status(gw.addr, &req).await, 426);
    // The refusal did not disturb the server.
    let mut c = gw.connect("/embedded").await;
    assert_eq!(c.request(ping(b"v13")).await, pong(b"v13"));
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// APISIX's Kafka cases, on the embedded scheme
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn apisix_list_offset_cases_earliest_latest_and_by_timestamp() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    produce_apisix_test_messages(&mut c).await;
    let offset = |r: Resp| match r {
        Resp::KafkaListOffsetResp(r) => r.offset,
        other => panic!("expected a list_offset reply, got {other:?}"),
    };
    assert_eq!(offset(c.request(list_offset("test-consumer", -2)).await), 0);
    assert_eq!(
        offset(c.request(list_offset("test-consumer", -1)).await),
        30
    );
    assert_eq!(
        offset(
            c.request(list_offset("test-consumer", 1_500_000_000_000))
                .await
        ),
        0
    );
    assert_eq!(
        offset(
            c.request(list_offset("test-consumer", now_ms() + 3_600_000))
                .await
        ),
        -1
    );
    gw.stop().await;
}

#[tokio::test]
async fn apisix_fetch_from_offset_14_returns_testmsg15_first() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    produce_apisix_test_messages(&mut c).await;
    let msgs = c.fetch(fetch_cmd("test-consumer", 0, 14)).await;
    assert_eq!(msgs[0].offset, 14);
    assert_eq!(value_of(&msgs[0]), "testmsg15");
    assert_eq!(offsets_of(&msgs), (14..30).collect::<Vec<_>>());
    assert_eq!(value_of(&msgs[15]), "testmsg30");
    let first = c.fetch(fetch_cmd("test-consumer", 0, 0)).await;
    assert_eq!(value_of(&first[0]), "testmsg1");
    gw.stop().await;
}

#[tokio::test]
async fn apisix_fetch_past_the_end_answers_416_offset_out_of_range() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    produce_apisix_test_messages(&mut c).await;
    let (code, message) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("test-consumer", 0, 999)))
            .await,
    );
    assert_eq!(code, 416);
    let prefix =
        "failed to fetch message, topic: test-consumer, partition: 0, err: OFFSET_OUT_OF_RANGE";
    assert!(message.starts_with(prefix), "{message}");
    // A negative offset is outside the log too.
    let (code, _) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("test-consumer", 0, -5)))
            .await,
    );
    assert_eq!(code, 416);
    gw.stop().await;
}

#[tokio::test]
async fn fetch_of_a_missing_topic_answers_404_unknown_topic_or_partition() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let (code, message) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("no-such-topic", 0, 0)))
            .await,
    );
    assert_eq!(code, 404);
    assert_eq!(
        message,
        "failed to fetch message, topic: no-such-topic, partition: 0, err: UNKNOWN_TOPIC_OR_PARTITION"
    );
    // A partition the topic does not have is the same error.
    c.produce_value("one-partition", "x").await;
    let (code, message) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("one-partition", 3, 0)))
            .await,
    );
    assert_eq!(code, 404);
    assert!(message.ends_with("UNKNOWN_TOPIC_OR_PARTITION"), "{message}");
    gw.stop().await;
}

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

// ---------------------------------------------------------------------------------------------
// Subscribe
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn subscribe_latest_delivers_only_new_messages() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    let mut s = gw.connect("/embedded").await;
    p.produce_value("news", "old0").await;
    p.produce_value("news", "old1").await;
    let id = s.subscribe(sub("news", StartPosition::Latest)).await;
    p.produce_value("news", "new2").await;
    // Pushes come in offset order: an old message would come first.
    let got = s.pushed(id, 1).await;
    assert_eq!(offsets_of(&got), vec![2]);
    assert_eq!(value_of(&got[0]), "new2");
    assert!(s.pushed_within(id, QUIET).await.is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn subscribe_earliest_delivers_retained_messages_then_new_ones() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    let mut s = gw.connect("/embedded").await;
    for i in 0..3 {
        p.produce_value("hist", &format!("m{i}")).await;
    }
    let id = s.subscribe(sub("hist", StartPosition::Earliest)).await;
    let got = s.pushed(id, 3).await;
    assert_eq!(offsets_of(&got), vec![0, 1, 2]);
    assert_eq!(
        got.iter().map(value_of).collect::<Vec<_>>(),
        vec!["m0", "m1", "m2"]
    );
    p.produce_value("hist", "m3").await;
    assert_eq!(offsets_of(&s.pushed(id, 1).await), vec![3]);
    assert!(s.pushed_within(id, QUIET).await.is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn subscribe_last_delivers_the_last_existing_message_then_new_ones() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    let mut s = gw.connect("/embedded").await;
    for i in 0..3 {
        p.produce_value("last", &format!("m{i}")).await;
    }
    let id = s.subscribe(sub("last", StartPosition::Last)).await;
    let got = s.pushed(id, 1).await;
    assert_eq!(offsets_of(&got), vec![2]);
    assert_eq!(value_of(&got[0]), "m2");
    p.produce_value("last", "m3").await;
    let got = s.pushed(id, 1).await;
    assert_eq!(offsets_of(&got), vec![3]);
    assert!(s.pushed_within(id, QUIET).await.is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn subscribe_last_on_an_empty_partition_delivers_the_first_new_message() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut s = gw.connect("/embedded").await;
    let id = s.subscribe(sub("empty-last", StartPosition::Last)).await;
    s.produce_value("empty-last", "first").await;
    let got = s.pushed(id, 1).await;
    assert_eq!(offsets_of(&got), vec![0]);
    assert_eq!(value_of(&got[0]), "first");
    gw.stop().await;
}

#[tokio::test]
async fn subscribe_offset_starts_at_that_offset() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    let mut s = gw.connect("/embedded").await;
    for i in 0..5 {
        p.produce_value("off", &format!("m{i}")).await;
    }
    let id = s
        .subscribe(CmdKafkaSubscribe {
            start_value: 3,
            ..sub("off", StartPosition::Offset)
        })
        .await;
    let got = s.pushed(id, 2).await;
    assert_eq!(offsets_of(&got), vec![3, 4]);
    assert_eq!(value_of(&got[0]), "m3");
    assert!(s.pushed_within(id, QUIET).await.is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn subscribe_offset_out_of_range_answers_416() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    for i in 0..3 {
        c.produce_value("off-range", &format!("m{i}")).await;
    }
    let (code, message) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            start_value: 10,
            ..sub("off-range", StartPosition::Offset)
        }))
        .await,
    );
    assert_eq!(code, 416);
    assert!(
        message.starts_with("failed to subscribe, topic: off-range, err: OFFSET_OUT_OF_RANGE"),
        "{message}"
    );
    // The failed subscription left nothing behind: no pushes for the new message.
    c.produce_value("off-range", "m3").await;
    let stray = c.try_recv_frame(QUIET).await;
    assert!(stray.is_none(), "{stray:?}");
    gw.stop().await;
}

#[tokio::test]
async fn subscribe_timestamp_starts_at_the_first_message_at_or_after_it() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    let mut s = gw.connect("/embedded").await;
    for (i, ts) in [1_000, 2_000, 3_000].into_iter().enumerate() {
        p.produce(CmdKafkaProduce {
            topic: "ts".into(),
            value: format!("m{i}").into_bytes().into(),
            timestamp: ts,
            ..Default::default()
        })
        .await;
    }
    let id = s
        .subscribe(CmdKafkaSubscribe {
            start_value: 1_500,
            ..sub("ts", StartPosition::Timestamp)
        })
        .await;
    let got = s.pushed(id, 2).await;
    assert_eq!(offsets_of(&got), vec![1, 2]);
    assert_eq!(got[0].timestamp, 2_000);
    p.produce_value("ts", "m3").await;
    assert_eq!(offsets_of(&s.pushed(id, 1).await), vec![3]);
    gw.stop().await;
}

#[tokio::test]
async fn subscribe_time_delta_starts_that_many_ms_back() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    let mut s = gw.connect("/embedded").await;
    let now = now_ms();
    for (i, ts) in [now - 3_600_000, now - 120_000, now - 5_000]
        .into_iter()
        .enumerate()
    {
        p.produce(CmdKafkaProduce {
            topic: "delta".into(),
            value: format!("m{i}").into_bytes().into(),
            timestamp: ts,
            ..Default::default()
        })
        .await;
    }
    let id = s
        .subscribe(CmdKafkaSubscribe {
            start_value: 60_000,
            ..sub("delta", StartPosition::TimeDelta)
        })
        .await;
    let got = s.pushed(id, 1).await;
    assert_eq!(offsets_of(&got), vec![2]);
    assert_eq!(value_of(&got[0]), "m2");
    assert!(s.pushed_within(id, QUIET).await.is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn subscribe_reply_precedes_the_first_push_and_pushes_carry_its_sequence_topic_and_partition()
{
    let gw = Gateway::start(&embedded_with("partitions: 2")).await;
    let mut c = gw.connect("/embedded").await;
    c.produce_to("seq", 1, "a").await;
    c.produce_to("seq", 1, "b").await;
    let seq = c
        .send(Req::CmdKafkaSubscribe(sub("seq", StartPosition::Earliest)))
        .await;
    let first = c.recv_frame().await;
    assert_eq!(first.sequence, seq);
    let Some(Resp::KafkaSubscribeResp(KafkaSubscribeResp { subscription_id })) = first.resp else {
        panic!("the subscribe reply must come first: {first:?}")
    };
    let mut messages = Vec::new();
    while messages.len() < 2 {
        let frame = c.recv_frame().await;
        assert_eq!(frame.sequence, seq, "{frame:?}");
        let Some(Resp::KafkaPush(push)) = frame.resp else {
            panic!("expected a push: {frame:?}")
        };
        assert_eq!(push.subscription_id, subscription_id);
        messages.extend(push.messages);
    }
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(m.topic, "seq");
        assert_eq!(m.partition, 1);
        assert_eq!(m.offset, i as i64);
    }
    gw.stop().await;
}

#[tokio::test]
async fn pushes_arrive_in_offset_order_per_partition() {
    let gw = Gateway::start(&embedded_with("partitions: 3")).await;
    let mut p = gw.connect("/embedded").await;
    let mut s = gw.connect("/embedded").await;
    let id = s.subscribe(sub("order", StartPosition::Latest)).await;
    // 300 per partition: more than one push batch each, produced while delivery runs.
    const N: usize = 900;
    for chunk in 0..N / 100 {
        let mut seqs = Vec::new();
        for i in 0..100 {
            let req = Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "order".into(),
                value: format!("{}", chunk * 100 + i).into_bytes().into(),
                ..Default::default()
            });
            seqs.push(p.send(req).await);
        }
        for seq in seqs {
            assert!(matches!(p.reply(seq).await, Resp::KafkaProduceResp(_)));
        }
    }
    let got = s.pushed(id, N).await;
    assert_eq!(got.len(), N);
    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for m in &got {
        per_partition.entry(m.partition).or_default().push(m.offset);
    }
    assert_eq!(per_partition.len(), 3);
    for (partition, offsets) in &per_partition {
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(offsets, &expected, "partition {partition}");
    }
    let values: BTreeSet<usize> = got.iter().map(|m| value_of(m).parse().unwrap()).collect();
    assert_eq!(values, (0..N).collect());
    gw.stop().await;
}

#[tokio::test]
async fn subscribe_to_explicit_partitions_delivers_only_those() {
    let gw = Gateway::start(&embedded_with("partitions: 4")).await;
    let mut p = gw.connect("/embedded").await;
    let mut s = gw.connect("/embedded").await;
    for partition in 0..4 {
        p.produce_to("parts", partition, &format!("old{partition}"))
            .await;
    }
    let id = s
        .subscribe(CmdKafkaSubscribe {
            partitions: vec![3, 1],
            ..sub("parts", StartPosition::Earliest)
        })
        .await;
    let mut got = s.pushed(id, 2).await;
    for partition in 0..4 {
        p.produce_to("parts", partition, &format!("new{partition}"))
            .await;
    }
    got.extend(s.pushed(id, 2).await);
    got.extend(s.pushed_within(id, QUIET).await);
    let mut seen: Vec<(i32, i64, String)> = got
        .iter()
        .map(|m| (m.partition, m.offset, value_of(m)))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (1, 0, "old1".to_string()),
            (1, 1, "new1".to_string()),
            (3, 0, "old3".to_string()),
            (3, 1, "new3".to_string()),
        ]
    );
    gw.stop().await;
}

#[tokio::test]
async fn subscribe_to_a_partition_the_topic_does_not_have_answers_404() {
    let gw = Gateway::start(&embedded_with("partitions: 4")).await;
    let mut c = gw.connect("/embedded").await;
    c.produce_to("few", 0, "x").await;
    let (code, message) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            partitions: vec![1, 7],
            ..sub("few", StartPosition::Earliest)
        }))
        .await,
    );
    assert_eq!(code, 404, "{message}");
    assert!(
        message.starts_with("failed to subscribe, topic: few, err: "),
        "{message}"
    );
    assert!(message.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{message}");
    gw.stop().await;
}

#[tokio::test]
async fn topic_pattern_subscription_picks_up_a_topic_created_later_from_its_first_message() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    let mut s = gw.connect("/embedded").await;
    p.produce_value("news-old", "before").await;
    let id = s
        .subscribe(CmdKafkaSubscribe {
            topic_pattern: "news-.*".into(),
            ..Default::default()
        })
        .await;
    // Created after the subscription: its very first message is delivered.
    p.produce_value("news-sports", "first").await;
    let got = s.pushed(id, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].topic.as_str(), got[0].offset), ("news-sports", 0));
    assert_eq!(value_of(&got[0]), "first");
    // Names must match whole; existing topics start at LATEST.
    p.produce_value("old-news-x", "no").await;
    p.produce_value("weather", "no").await;
    p.produce_value("news-old", "after").await;
    let got = s.pushed(id, 1).await;
    assert_eq!((got[0].topic.as_str(), got[0].offset), ("news-old", 1));
    assert_eq!(value_of(&got[0]), "after");
    assert!(s.pushed_within(id, QUIET).await.is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn match_headers_delivers_only_messages_carrying_every_header() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    let mut s = gw.connect("/embedded").await;
    let id = s
        .subscribe(CmdKafkaSubscribe {
            match_headers: vec![header("type", b"a"), header("region", b"\x00eu")],
            ..sub("hdrs", StartPosition::Latest)
        })
        .await;
    let cases: &[(&str, Vec<KafkaHeader>)] = &[
        (
            "both",
            vec![header("region", b"\x00eu"), header("type", b"a")],
        ),
        (
            "wrong type",
            vec![header("type", b"b"), header("region", b"\x00eu")],
        ),
        ("none", vec![]),
        ("type only", vec![header("type", b"a")]),
        (
            "both and more",
            vec![
                header("x", b"1"),
                header("type", b"a"),
                header("region", b"\x00eu"),
            ],
        ),
        (
            "prefix value",
            vec![header("type", b"a"), header("region", b"\x00e")],
        ),
    ];
    for (value, headers) in cases {
        p.produce(CmdKafkaProduce {
            topic: "hdrs".into(),
            value: value.as_bytes().to_vec().into(),
            headers: headers.clone(),
            ..Default::default()
        })
        .await;
    }
    let mut got = s.pushed(id, 2).await;
    got.extend(s.pushed_within(id, QUIET).await);
    assert_eq!(
        got.iter()
            .map(|m| (m.offset, value_of(m)))
            .collect::<Vec<_>>(),
        vec![(0, "both".to_string()), (4, "both and more".to_string())]
    );
    gw.stop().await;
}

#[tokio::test]
async fn unsubscribe_stops_pushes() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    let mut s = gw.connect("/embedded").await;
    let id = s.subscribe(sub("unsub", StartPosition::Latest)).await;
    p.produce_value("unsub", "m0").await;
    assert_eq!(offsets_of(&s.pushed(id, 1).await), vec![0]);
    let r = s
        .request(Req::CmdUnsubscribe(CmdUnsubscribe {
            subscription_id: id,
        }))
        .await;
    assert_eq!(r, Resp::OkResp(OkResp {}));
    p.produce_value("unsub", "m1").await;
    assert!(s.pushed_within(id, QUIET).await.is_empty());
    // The id is gone: a second unsubscribe is unknown.
    let (code, _) = error_of(
        s.request(Req::CmdUnsubscribe(CmdUnsubscribe {
            subscription_id: id,
        }))
        .await,
    );
    assert_eq!(code, 404);
    gw.stop().await;
}

#[tokio::test]
async fn unsubscribe_or_commit_of_an_unknown_id_answers_404() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let r = c
        .request(Req::CmdUnsubscribe(CmdUnsubscribe {
            subscription_id: 4242,
        }))
        .await;
    assert_eq!(
        error_of(r),
        (404, "unknown subscription id 4242".to_string())
    );
    let r = c
        .request(Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: 4242,
            offsets: vec![],
        }))
        .await;
    assert_eq!(
        error_of(r),
        (404, "unknown subscription id 4242".to_string())
    );
    gw.stop().await;
}

#[tokio::test]
async fn max_in_flight_pauses_delivery_until_commit_acknowledges() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    for i in 0..5 {
        c.produce_value("flow", &format!("m{i}")).await;
    }
    let id = c
        .subscribe(CmdKafkaSubscribe {
            max_in_flight: 2,
            ..sub("flow", StartPosition::Earliest)
        })
        .await;
    assert_eq!(offsets_of(&c.pushed(id, 2).await), vec![0, 1]);
    assert!(c.pushed_within(id, QUIET).await.is_empty());
    // Acknowledging one frees room for one.
    c.commit(id, &[("flow", 0, 1)]).await;
    assert_eq!(offsets_of(&c.pushed(id, 1).await), vec![2]);
    assert!(c.pushed_within(id, QUIET).await.is_empty());
    c.commit(id, &[("flow", 0, 3)]).await;
    assert_eq!(offsets_of(&c.pushed(id, 2).await), vec![3, 4]);
    assert!(c.pushed_within(id, QUIET).await.is_empty());
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Consumer groups
// ---------------------------------------------------------------------------------------------

fn group_sub(topic: &str, group: &str) -> CmdKafkaSubscribe {
    CmdKafkaSubscribe {
        group: group.into(),
        ..sub(topic, StartPosition::Latest)
    }
}

/// Pushes to two subscribers until `total` messages arrived between them, then a quiet spell.
async fn collect_two(
    a: &mut Client,
    ida: i64,
    b: &mut Client,
    idb: i64,
    total: usize,
) -> (Vec<KafkaMessage>, Vec<KafkaMessage>) {
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + WAIT;
    while got_a.len() + got_b.len() < total {
        assert!(
            Instant::now() < deadline,
            "only {} + {} of {total} messages arrived",
            got_a.len(),
            got_b.len()
        );
        got_a.extend(a.pushed_within(ida, Duration::from_millis(20)).await);
        got_b.extend(b.pushed_within(idb, Duration::from_millis(20)).await);
    }
    got_a.extend(a.pushed_within(ida, QUIET).await);
    got_b.extend(b.pushed_within(idb, QUIET).await);
    (got_a, got_b)
}

fn partitions_of(messages: &[KafkaMessage]) -> BTreeSet<i32> {
    messages.iter().map(|m| m.partition).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_split_the_partitions_and_get_every_message_exactly_once() {
    let gw = Gateway::start(&embedded_with("partitions: 4")).await;
    let mut a = gw.connect("/embedded").await;
    let mut b = gw.connect("/embedded").await;
    let mut p = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub("orders", "billing")).await;
    let idb = b.subscribe(group_sub("orders", "billing")).await;
    for i in 0..20 {
        p.produce_to("orders", i % 4, &format!("m{i}")).await;
    }
    let (got_a, got_b) = collect_two(&mut a, ida, &mut b, idb, 20).await;
    let (pa, pb) = (partitions_of(&got_a), partitions_of(&got_b));
    assert!(!pa.is_empty() && !pb.is_empty(), "a: {pa:?}, b: {pb:?}");
    assert!(pa.is_disjoint(&pb), "a: {pa:?}, b: {pb:?}");
    assert_eq!(pa.union(&pb).copied().collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    let mut all: Vec<(i32, i64)> = got_a
        .iter()
        .chain(&got_b)
        .map(|m| (m.partition, m.offset))
        .collect();
    all.sort();
    let expected: Vec<(i32, i64)> = (0..4).flat_map(|p| (0..5).map(move |o| (p, o))).collect();
    assert_eq!(all, expected, "every message exactly once");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_rebalance_takes_effect_before_messages_produced_along_with_it_are_delivered() {
    let gw = Gateway::start(&embedded_with("partitions: 4")).await;
    let mut a = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub("orders", "billing")).await;
    // b joins and produces in one burst: a's delivery wakes with the rebalance and the new
    // messages at once, and must not push messages of partitions it just lost.
    let mut b = gw.connect("/embedded").await;
    let sub_seq = b
        .send(Req::CmdKafkaSubscribe(group_sub("orders", "billing")))
        .await;
    let mut produced = Vec::new();
    for partition in 0..4 {
        let req = Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "orders".into(),
            partition: Some(partition),
            value: format!("m{partition}").into_bytes().into(),
            ..Default::default()
        });
        produced.push(b.send(req).await);
    }
    let Resp::KafkaSubscribeResp(r) = b.reply(sub_seq).await else {
        panic!("not a subscribe reply")
    };
    let idb = r.subscription_id;
    for seq in produced {
        assert!(matches!(b.reply(seq).await, Resp::KafkaProduceResp(_)));
    }
    let (got_a, got_b) = collect_two(&mut a, ida, &mut b, idb, 4).await;
    let mut all: Vec<(i32, i64)> = got_a
        .iter()
        .chain(&got_b)
        .map(|m| (m.partition, m.offset))
        .collect();
    all.sort();
    assert_eq!(
        all,
        vec![(0, 0), (1, 0), (2, 0), (3, 0)],
        "every message exactly once"
    );
    assert!(partitions_of(&got_a).is_disjoint(&partitions_of(&got_b)));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_member_blocked_on_a_slow_connection_does_not_deliver_a_partition_it_lost() {
    let gw = Gateway::start(&format!(
        "server:\n  limits: {{ outbound_queue: 1, outbound_queue_bytes: 1 }}\n{}",
        // Retention holds all N messages (12 MiB), so none is skipped while a is stuck.
        embedded_with("partitions: 2, retention_bytes: 67108864")
    ))
    .await;
    // a holds both partitions and stops reading: its delivery ends up waiting in the middle of
    // pushing partition 0, with partition 1 next.
    let mut a = connect_small_window(gw.addr, "/embedded").await;
    let ida = a.subscribe(group_sub("orders", "billing")).await;
    let mut p = gw.connect("/embedded").await;
    // More than the kernel's socket buffers hold (Linux: up to 4 MiB each way by default).
    const N: usize = 48;
    let big = "x".repeat(256 * 1024);
    for _ in 0..N {
        p.produce_to("orders", 0, &big).await;
    }
    // b takes partition 1 while a is stuck; a message for partition 1 is b's alone.
    let mut b = gw.connect("/embedded").await;
    let idb = b.subscribe(group_sub("orders", "billing")).await;
    p.produce_to("orders", 1, "for-b").await;
    let got_b = b.pushed(idb, 1).await;
    assert_eq!(
        got_b
            .iter()
            .map(|m| (m.partition, m.offset, value_of(m)))
            .collect::<Vec<_>>(),
        vec![(1, 0, "for-b".to_string())]
    );
    // a reads again: partition 0's messages, none of partition 1.
    let mut got_a = a.pushed(ida, N).await;
    got_a.extend(a.pushed_within(ida, QUIET).await);
    assert_eq!(got_a.len(), N);
    assert_eq!(partitions_of(&got_a), BTreeSet::from([0]));
    assert_eq!(offsets_of(&got_a), (0..N as i64).collect::<Vec<_>>());
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_member_leaving_hands_its_partitions_to_the_other_which_resumes_after_commits() {
    let gw = Gateway::start(&embedded_with("partitions: 4")).await;
    let mut a = gw.connect("/embedded").await;
    let mut b = gw.connect("/embedded").await;
    let mut p = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub("orders", "billing")).await;
    let idb = b.subscribe(group_sub("orders", "billing")).await;
    for partition in 0..4 {
        p.produce_to("orders", partition, &format!("first{partition}"))
            .await;
    }
    let (got_a, got_b) = collect_two(&mut a, ida, &mut b, idb, 4).await;
    assert_eq!(got_a.len() + got_b.len(), 4);
    let pa = partitions_of(&got_a);
    let pb = partitions_of(&got_b);
    assert!(!pa.is_empty() && !pb.is_empty(), "a: {pa:?}, b: {pb:?}");
    let commits: Vec<(&str, i32, i64)> = pa.iter().map(|p| ("orders", *p, 1)).collect();
    a.commit(ida, &commits).await;
    a.disconnect().await;
    for partition in 0..4 {
        p.produce_to("orders", partition, &format!("second{partition}"))
            .await;
    }
    let mut got = Vec::new();
    while got.len() < 4 {
        got.extend(b.pushed(idb, 1).await);
    }
    got.extend(b.pushed_within(idb, QUIET).await);
    let mut seen: Vec<(i32, i64, String)> = got
        .iter()
        .map(|m| (m.partition, m.offset, value_of(m)))
        .collect();
    seen.sort();
    let expected: Vec<(i32, i64, String)> = (0..4)
        .map(|partition| (partition, 1, format!("second{partition}")))
        .collect();
    assert_eq!(seen, expected);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_taken_over_without_commit_starts_at_the_start_position_not_the_log_start() {
    let gw = Gateway::start(&embedded_with("partitions: 4")).await;
    let mut a = gw.connect("/embedded").await;
    let mut p = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub("orders", "billing")).await;
    for partition in 0..4 {
        p.produce_to("orders", partition, &format!("before-b{partition}"))
            .await;
    }
    // Alone in the group, a gets everything.
    let got = a.pushed(ida, 4).await;
    assert_eq!(partitions_of(&got), BTreeSet::from([0, 1, 2, 3]));
    // b joins with LATEST: messages produced before it subscribed are not its to get, even in
    // the partitions it takes over from a, which leaves without committing.
    let mut b = gw.connect("/embedded").await;
    let idb = b.subscribe(group_sub("orders", "billing")).await;
    a.disconnect().await;
    for partition in 0..4 {
        p.produce_to("orders", partition, &format!("after-b{partition}"))
            .await;
    }
    let mut got = Vec::new();
    while got.len() < 4 {
        got.extend(b.pushed(idb, 1).await);
    }
    got.extend(b.pushed_within(idb, QUIET).await);
    let mut seen: Vec<(i32, i64, String)> = got
        .iter()
        .map(|m| (m.partition, m.offset, value_of(m)))
        .collect();
    seen.sort();
    let expected: Vec<(i32, i64, String)> = (0..4)
        .map(|partition| (partition, 1, format!("after-b{partition}")))
        .collect();
    assert_eq!(seen, expected);
    gw.stop().await;
}

#[tokio::test]
async fn new_group_member_resumes_after_the_committed_offset() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    for i in 0..10 {
        p.produce_value("jobs", &format!("job{i}")).await;
    }
    let mut a = gw.connect("/embedded").await;
    let ida = a
        .subscribe(CmdKafkaSubscribe {
            group: "workers".into(),
            ..sub("jobs", StartPosition::Earliest)
        })
        .await;
    assert_eq!(
        offsets_of(&a.pushed(ida, 10).await),
        (0..10).collect::<Vec<_>>()
    );
    a.commit(ida, &[("jobs", 0, 6)]).await;
    a.disconnect().await;
    let mut c = gw.connect("/embedded").await;
    let idc = c
        .subscribe(CmdKafkaSubscribe {
            group: "workers".into(),
            ..sub("jobs", StartPosition::Earliest)
        })
        .await;
    let got = c.pushed(idc, 4).await;
    assert_eq!(offsets_of(&got), vec![6, 7, 8, 9]);
    assert_eq!(value_of(&got[0]), "job6");
    assert!(c.pushed_within(idc, QUIET).await.is_empty());
    // Another group has its own offsets: EARLIEST applies.
    let ido = c
        .subscribe(CmdKafkaSubscribe {
            group: "auditors".into(),
            ..sub("jobs", StartPosition::Earliest)
        })
        .await;
    assert_eq!(
        offsets_of(&c.pushed(ido, 10).await),
        (0..10).collect::<Vec<_>>()
    );
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn retention_moves_earliest_forward_and_fetch_before_it_answers_416() {
    let gw = Gateway::start(&embedded_with("retention_messages: 10")).await;
    let mut c = gw.connect("/embedded").await;
    for i in 0..25 {
        c.produce_value("ret", &format!("m{i}")).await;
    }
    let r = c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "ret".into(),
        }))
        .await;
    assert_eq!(
        without_epochs(r),
        Resp::KafkaMetadataResp(KafkaMetadataResp {
            topic: "ret".into(),
            partitions: vec![KafkaPartitionInfo {
                partition: 0,
                earliest: 15,
                latest: 25,
                epoch: 0,
            }],
        })
    );
    let (code, message) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd("ret", 0, 0))).await);
    assert_eq!(code, 416);
    assert!(message.contains("OFFSET_OUT_OF_RANGE"), "{message}");
    let msgs = c.fetch(fetch_cmd("ret", 0, 15)).await;
    assert_eq!(offsets_of(&msgs), (15..25).collect::<Vec<_>>());
    assert_eq!(value_of(&msgs[0]), "m15");
    let earliest = match c.request(list_offset("ret", -2)).await {
        Resp::KafkaListOffsetResp(r) => r.offset,
        other => panic!("{other:?}"),
    };
    assert_eq!(earliest, 15);
    // EARLIEST means the earliest retained message.
    let id = c.subscribe(sub("ret", StartPosition::Earliest)).await;
    assert_eq!(
        offsets_of(&c.pushed(id, 10).await),
        (15..25).collect::<Vec<_>>()
    );
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Limits and shutdown
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn frame_over_max_frame_bytes_closes_with_1009_and_the_server_keeps_accepting() {
    let gw = Gateway::start(&embedded_with_limits("max_frame_bytes: 1024")).await;
    let mut c = gw.connect("/embedded").await;
    // Just under the limit is fine.
    let state = vec![b's'; 900];
    let r = c
        .request(Req::CmdPing(CmdPing {
            state: state.clone().into(),
        }))
        .await;
    assert_eq!(
        r,
        Resp::PongResp(PongResp {
            state: state.into()
        })
    );
    c.send_raw(Message::Binary(vec![0u8; 2048].into())).await;
    let close = c.closed().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Size);
    let mut again = gw.connect("/embedded").await;
    assert_eq!(again.request(ping(b"again")).await, pong(b"again"));
    gw.stop().await;
}

#[tokio::test]
async fn subscription_limit_answers_429() {
    let gw = Gateway::start(&embedded_with_limits("max_subscriptions: 2")).await;
    let mut c = gw.connect("/embedded").await;
    let first = c.subscribe(sub("lim", StartPosition::Latest)).await;
    c.subscribe(sub("lim", StartPosition::Latest)).await;
    let (code, message) = error_of(
        c.request(Req::CmdKafkaSubscribe(sub("lim", StartPosition::Latest)))
            .await,
    );
    assert_eq!(code, 429);
    assert!(message.contains("subscription limit reached"), "{message}");
    // Freeing one makes room again.
    let r = c
        .request(Req::CmdUnsubscribe(CmdUnsubscribe {
            subscription_id: first,
        }))
        .await;
    assert_eq!(r, Resp::OkResp(OkResp {}));
    c.subscribe(sub("lim", StartPosition::Latest)).await;
    gw.stop().await;
}

#[tokio::test]
async fn shutdown_closes_connected_clients_with_1001() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    assert_eq!(c.request(ping(b"up")).await, pong(b"up"));
    gw.shutdown.cancel();
    let close = c.closed().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Away);
    tokio::time::timeout(WAIT, gw.task)
        .await
        .expect("the server stops in time")
        .expect("the server task ends cleanly");
}

#[tokio::test]
async fn list_offset_with_an_invalid_negative_timestamp_answers_400() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    c.produce_value("ts-neg", "x").await;
    let r = c
        .request(Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: "ts-neg".into(),
            partition: 0,
            timestamp: -3,
        }))
        .await;
    let (code, msg) = error_of(r);
    assert_eq!(code, 400, "{msg}");
    assert!(
        msg.starts_with("failed to list offset, topic: ts-neg, partition: 0"),
        "{msg}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn produce_to_a_partition_a_new_topic_would_not_have_creates_no_topic() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let r = c
        .request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "never-created".into(),
            partition: Some(5),
            ..Default::default()
        }))
        .await;
    assert_eq!(error_of(r).0, 404);
    let r = c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "never-created".into(),
        }))
        .await;
    assert_eq!(error_of(r).0, 404, "the topic was not created");
    gw.stop().await;
}

#[tokio::test]
async fn a_client_that_never_answers_pings_is_closed_with_1001_idle_timeout() {
    let gw = Gateway::start(&embedded_with_limits(
        "idle_timeout_secs: 2, ping_interval_secs: 1",
    ))
    .await;
    let mut quiet = gw.connect("/embedded").await;
    let mut lively = gw.connect("/embedded").await;
    // `lively` keeps reading, so its WebSocket library answers the gateway's pings.
    let keep = tokio::spawn(async move {
        let r = lively
            .pushed_within(0, std::time::Duration::from_millis(3500))
            .await;
        assert!(r.is_empty());
        lively.request(Req::CmdPing(CmdPing::default())).await
    });
    // `quiet` reads nothing for a while: no pongs, no frames.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let close = quiet.closed().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Away);
    assert_eq!(close.reason.as_str(), "idle timeout");
    assert!(
        matches!(keep.await.unwrap(), Resp::PongResp(_)),
        "the answering client stays"
    );
    gw.stop().await;
}
