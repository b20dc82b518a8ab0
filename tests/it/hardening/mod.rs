//! Hostile and unlucky clients on the embedded scheme: clients that stop reading and vanish,
//! floods of bad frames, malformed names and patterns, commits the member may not make, and the
//! limits that keep one client from hurting the others.

mod groups;
mod names;
mod slow_clients;

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::SinkExt;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

const QUIET: Duration = Duration::from_millis(300);

fn ping() -> Req {
    Req::CmdPing(CmdPing {
        state: Bytes::from_static(b"alive"),
    })
}

async fn assert_alive(c: &mut Client) {
    assert!(
        matches!(c.request(ping()).await, Resp::PongResp(_)),
        "the connection keeps serving"
    );
}

fn offsets(list: &[(&str, i32, i64)]) -> Vec<KafkaPartitionOffset> {
    list.iter()
        .map(|(topic, partition, offset)| KafkaPartitionOffset {
            topic: topic.to_string(),
            partition: *partition,
            offset: *offset,
        })
        .collect()
}

/// Drops the client's socket at once: with unread data in its receive buffer, the kernel resets
/// the connection (a browser tab killed, a phone leaving coverage).
fn vanish(c: Client) {
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_push_arrives_after_the_unsubscribe_reply() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    let producing = tokio::spawn(async move {
        // Pipelined produces: the subscription has something to push at every moment.
        for round in 0..400 {
            for i in 0..16 {
                let _ = p
                    .send(Req::CmdKafkaProduce(CmdKafkaProduce {
                        topic: "busy".into(),
                        value: Bytes::from(format!("{round}-{i}")),
                        ..Default::default()
                    }))
                    .await;
            }
            let _ = p.try_recv_frame(Duration::from_millis(1)).await;
        }
    });
    let mut s = gw.connect("/embedded").await;
    for _ in 0..20 {
        let id = s.subscribe(sub_from("busy", Start::Earliest)).await;
        let seq = s
            .send(Req::CmdUnsubscribe(CmdUnsubscribe {
                subscription_id: id,
            }))
            .await;
        // Frames up to the reply may carry pushes; none may follow it.
        loop {
            let r = s.recv_frame().await;
            if r.sequence == seq {
                assert!(matches!(r.resp, Some(Resp::OkResp(_))), "{r:?}");
                break;
            }
        }
        let after = s.pushed_within(id, Duration::from_millis(100)).await;
        assert!(
            after.is_empty(),
            "{} pushes after the unsubscribe reply",
            after.len()
        );
    }
    producing.abort();
    gw.stop().await;
}

fn bad_topic_commands(topic: &str) -> Vec<(&'static str, Req)> {
    vec![
        (
            "list_offset by time",
            Req::CmdKafkaListOffset(CmdKafkaListOffset {
                topic: topic.into(),
                partition: 0,
                timestamp: 1_500_000_000_000,
            }),
        ),
        (
            "list_offset end",
            Req::CmdKafkaListOffset(CmdKafkaListOffset {
                topic: topic.into(),
                partition: 0,
                timestamp: -1,
            }),
        ),
        ("fetch", Req::CmdKafkaFetch(fetch_cmd(topic, 0, 0))),
        (
            "produce",
            Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: topic.into(),
                value: Bytes::from_static(b"v"),
                ..Default::default()
            }),
        ),
        (
            "subscribe",
            Req::CmdKafkaSubscribe(sub_from(topic, Start::Latest)),
        ),
        (
            "metadata",
            Req::CmdKafkaMetadata(CmdKafkaMetadata {
                topic: topic.into(),
            }),
        ),
    ]
}

fn pattern_sub(pattern: &str) -> Req {
    Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
        topic_pattern: pattern.into(),
        ..Default::default()
    })
}

#[tokio::test]
async fn subscribing_creates_no_topic_and_delivers_from_the_first_publish() {
    let gw = Gateway::start(&embedded_with("max_topics: 1")).await;
    let mut s = gw.connect("/embedded").await;
    // Typos and rooms nobody has spoken in yet: none of them uses up max_topics.
    for t in ["room-a", "room-b", "room-c"] {
        s.subscribe(sub_from(t, Start::Latest)).await;
    }
    let id = s.subscribe(sub_from("room-1", Start::Latest)).await;
    let mut c = gw.connect("/embedded").await;
    for req in [
        Req::CmdKafkaFetch(fetch_cmd("room-1", 0, 0)),
        Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: "room-1".into(),
            partition: 0,
            timestamp: -1,
        }),
        Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "room-1".into(),
        }),
    ] {
        assert_eq!(error_of(c.request(req).await).0, 404, "nothing created it");
    }
    c.produce_value("room-1", "hello").await;
    c.produce_value("room-1", "again").await;
    let got = s.pushed(id, 2).await;
    assert_eq!(
        got.iter().map(value_of).collect::<Vec<_>>(),
        vec!["hello", "again"]
    );
    assert_eq!(got[0].offset, 0);
    gw.stop().await;
}

#[tokio::test]
async fn rate_limit_lets_exactly_one_seconds_worth_through_a_burst() {
    let gw = Gateway::start(&embedded_with_limits("max_requests_per_sec: 5")).await;
    let mut c = gw.connect("/embedded").await;
    let mut seqs = Vec::new();
    for _ in 0..10 {
        seqs.push(c.send(ping()).await);
    }
    let mut ok = 0;
    let mut limited = 0;
    for seq in seqs {
        match c.reply(seq).await {
            Resp::PongResp(_) => ok += 1,
            Resp::ErrorResp(e) if e.code == 429 => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, limited), (5, 5));
    gw.stop().await;
}

#[tokio::test]
async fn byte_retention_keeps_the_newest_messages_that_fit() {
    // ~1 KiB messages, 8 KiB retained (each also costs its bookkeeping): a few stay.
    let gw = Gateway::start(&embedded_with("retention_bytes: 8192")).await;
    let mut c = gw.connect("/embedded").await;
    let value = "r".repeat(1000);
    for _ in 0..40 {
        c.produce_value("ret", &value).await;
    }
    let meta = match c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "ret".into(),
        }))
        .await
    {
        Resp::KafkaMetadataResp(m) => m,
        other => panic!("{other:?}"),
    };
    let p = &meta.partitions[0];
    assert_eq!(p.latest, 40);
    let kept = p.latest - p.earliest;
    assert!((4..=8).contains(&kept), "kept {kept} messages");
    let id = c.subscribe(sub_from("ret", Start::Earliest)).await;
    let mut got = c.pushed(id, kept as usize).await;
    got.extend(c.pushed_within(id, QUIET).await);
    assert_eq!(offsets_of(&got), (p.earliest..40).collect::<Vec<_>>());
    gw.stop().await;
}

fn acl_route() -> &'static str {
    "routes:\n  - uri: /embedded\n    upstream: { scheme: embedded }\n    plugins:\n      topic-acl: { read: [\"open-.*\"], write: [\"open-.*\"], groups: [\"ok-.*\"] }\n"
}
