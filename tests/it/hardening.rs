//! Hostile and unlucky clients on the embedded scheme: clients that stop reading and vanish,
//! floods of bad frames, malformed names and patterns, commits the member may not make, and the
//! limits that keep one client from hurting the others.

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

/// On one runtime thread (as when the other workers are busy) the connection's reader must give
/// its writer a turn while it works through requests that arrived together: otherwise the
/// replies fill the queue, the requests behind them count as in flight, and the refusals past
/// the in-flight limit find no room and are dropped, leaving the client waiting for good.
#[tokio::test]
async fn a_thousand_requests_arriving_in_one_write_each_get_their_reply() {
    let gw = Gateway::start(&format!(
        "server:\n  limits: {{ max_requests_per_sec: 1000000 }}\n{}",
        embedded_with("partitions: 1")
    ))
    .await;
    let mut c = gw.connect("/embedded").await;
    let topic = "one-write";
    let mut seqs = Vec::new();
    for i in 0..1000 {
        let req = if i % 2 == 0 {
            Req::CmdPing(CmdPing::default())
        } else {
            Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: topic.into(),
                value: Bytes::from(format!("m{i}")),
                ..Default::default()
            })
        };
        seqs.push(c.feed(req).await);
    }
    c.flush().await;
    for (i, s) in seqs.into_iter().enumerate() {
        match c.reply(s).await {
            Resp::PongResp(_) if i % 2 == 0 => {}
            Resp::KafkaProduceResp(r) if i % 2 == 1 => assert_eq!(r.offset, (i / 2) as i64),
            other => panic!("request {i}: {other:?}"),
        }
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_member_that_stalls_then_vanishes_hands_its_partition_to_the_group() {
    let gw = Gateway::start(&embedded_with("retention_bytes: 67108864")).await;
    let mut a = connect_small_window(gw.addr, "/embedded").await;
    a.subscribe(group_sub("room", "players")).await;
    let mut p = gw.connect("/embedded").await;
    // ~24 MiB: far more than the connection's queue and the kernel's socket buffers hold, so
    // a's delivery ends up waiting for room in its queue.
    let big = "x".repeat(256 * 1024);
    for _ in 0..96 {
        p.produce_value("room", &big).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    vanish(a);
    let mut b = gw.connect("/embedded").await;
    let idb = b.subscribe(group_sub("room", "players")).await;
    // b gets the partition once a's membership is gone, and then every new message.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.is_empty() && Instant::now() < deadline {
        p.produce_value("room", "after").await;
        got = b.pushed_within(idb, Duration::from_millis(250)).await;
    }
    assert!(
        got.iter().any(|m| value_of(m) == "after"),
        "the vanished member's partition was never given to the other member"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_close_fires_with_the_default_queue_and_large_pushes() {
    // Default queue sizes (256 frames, 1 MiB): 200 KiB pushes never use up the byte budget
    // exactly, so "full" must mean "a push is waiting for room".
    let gw = Gateway::start(&format!(
        "server:\n  limits: {{ slow_consumer: close, slow_consumer_timeout_ms: 500 }}\n{}",
        embedded_with("retention_bytes: 67108864")
    ))
    .await;
    let mut s = connect_small_window(gw.addr, "/embedded").await;
    s.subscribe(sub_from("big", Start::Earliest)).await;
    let mut p = gw.connect("/embedded").await;
    let big = "z".repeat(200 * 1024);
    for _ in 0..60 {
        p.produce_value("big", &big).await;
    }
    // The subscriber stays away past the policy's timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Reading now drains what was queued, then the close frame.
    let frame = s.closed().await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Policy);
    assert_eq!(frame.reason, "slow consumer");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_flooding_bad_frames_without_reading_is_still_closed_as_a_slow_consumer() {
    let gw = Gateway::start(&embedded_with_limits(
        "slow_consumer: close, slow_consumer_timeout_ms: 300, outbound_queue: 8, max_requests_per_sec: 1000000",
    ))
    .await;
    let mut p = gw.connect("/embedded").await;
    p.produce_value("flood-big", &"z".repeat(256 * 1024)).await;
    let mut c = connect_small_window(gw.addr, "/embedded").await;
    // First 10 MiB of fetch replies the client does not read: more than the kernel's socket
    // buffers hold (4 MiB at most here), so its queue is full from then on, whatever the writer
    // does. Tiny replies alone would fill it only while the writer waits for a turn.
    for _ in 0..40 {
        c.feed(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "flood-big".into(),
            ..Default::default()
        }))
        .await;
    }
    c.flush().await;
    // Undecodable frames each answer "wrong command"; the client reads none of them. The flood
    // lasts three times the policy's timeout (the reader is busy all along), then the client
    // waits out one more before it reads.
    let garbage = Message::Binary(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]));
    let flood_until = Instant::now() + Duration::from_millis(900);
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while Instant::now() < flood_until {
            if c.ws.feed(garbage.clone()).await.is_err() {
                break;
            }
        }
        let _ = c.ws.flush().await;
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The close frame reaches the client although it sent on after the gateway had closed: the
    // gateway drained its input instead of resetting the connection.
    let frame = c.closed().await.expect("a close frame");
    assert_eq!(
        frame.code,
        CloseCode::Policy,
        "the reader kept watching the queue"
    );
    gw.stop().await;
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

#[tokio::test]
async fn topic_names_kafka_cannot_hold_answer_400_on_every_command() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    for topic in ["bad\0name", "with space", "", "..", &"x".repeat(250)] {
        for (what, req) in bad_topic_commands(topic) {
            let (code, message) = error_of(c.request(req).await);
            assert_eq!(code, 400, "{what} of {topic:?}: {message}");
        }
    }
    // A commit carries topics too.
    c.produce_value("good", "v").await;
    let id = c.subscribe(sub_from("good", Start::Earliest)).await;
    let r = c
        .request(Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: id,
            offsets: offsets(&[("bad\0name", 0, 0)]),
        }))
        .await;
    assert_eq!(error_of(r).0, 400);
    assert_alive(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn kafka_route_refuses_a_nul_topic_before_the_broker_is_asked() {
    // Nothing listens on the upstream: validation must answer first, and the session live on.
    let gw = Gateway::start(&unreachable_kafka_route()).await;
    let mut c = gw.connect("/kafka").await;
    for (what, req) in bad_topic_commands("bad\0name") {
        let started = Instant::now();
        let (code, message) = error_of(c.request(req).await);
        assert_eq!(code, 400, "{what}: {message}");
        assert!(started.elapsed() < Duration::from_millis(500), "{what}");
    }
    assert_alive(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn negative_partitions_answer_400() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    c.produce_value("t", "v").await;
    let r = c
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "t".into(),
            partition: -1,
            ..Default::default()
        }))
        .await;
    assert_eq!(error_of(r).0, 400);
    let r = c
        .request(Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: "t".into(),
            partition: -3,
            timestamp: -1,
        }))
        .await;
    assert_eq!(error_of(r).0, 400);
    assert_alive(&mut c).await;
    gw.stop().await;
}

fn pattern_sub(pattern: &str) -> Req {
    Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
        topic_pattern: pattern.into(),
        ..Default::default()
    })
}

#[tokio::test]
async fn topic_pattern_longer_than_the_limit_answers_400() {
    let gw = Gateway::start(&embedded_with_limits("max_topic_pattern_bytes: 64")).await;
    let mut c = gw.connect("/embedded").await;
    let long = vec!["room"; 20].join("|");
    let (code, message) = error_of(c.request(pattern_sub(&long)).await);
    assert_eq!(code, 400, "{message}");
    assert!(message.contains("topic_pattern"), "{message}");
    // A short one is fine.
    assert!(matches!(
        c.request(pattern_sub("room-.*")).await,
        Resp::KafkaSubscribeResp(_)
    ));
    gw.stop().await;
}

#[tokio::test]
async fn default_pattern_length_limit_is_one_kib() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let long = "a".repeat(1025);
    assert_eq!(error_of(c.request(pattern_sub(&long)).await).0, 400);
    assert!(matches!(
        c.request(pattern_sub(&"a".repeat(1000))).await,
        Resp::KafkaSubscribeResp(_)
    ));
    gw.stop().await;
}

#[tokio::test]
async fn a_short_pattern_that_compiles_to_a_huge_automaton_answers_400_quickly() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    // 20 bytes, but Unicode word classes repeated hundreds of times: megabytes of program.
    let started = Instant::now();
    let (code, message) = error_of(c.request(pattern_sub(r"\w{300}\w{300}")).await);
    assert_eq!(code, 400, "{message}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_alive(&mut c).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_of_a_partition_the_member_does_not_own_answers_409_and_commits_nothing() {
    let gw = Gateway::start(&embedded_with("partitions: 2")).await;
    let mut p = gw.connect("/embedded").await;
    for partition in 0..2 {
        p.produce_to("orders", partition, "m").await;
    }
    let mut a = gw.connect("/embedded").await;
    let ida = a
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..group_sub("orders", "billing")
        })
        .await;
    let mut b = gw.connect("/embedded").await;
    let idb = b
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..group_sub("orders", "billing")
        })
        .await;
    let got_b = b.pushed(idb, 1).await;
    let theirs = got_b[0].partition;
    let mine = 1 - theirs;
    // a's commit names b's partition too: refused whole, a's own partition included.
    let r = a
        .request(Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: ida,
            offsets: offsets(&[("orders", mine, 1), ("orders", theirs, 1)]),
        }))
        .await;
    let (code, message) = error_of(r);
    assert_eq!(code, 409, "{message}");
    // Nothing was committed: once both have left, a new member starts over at EARLIEST.
    a.disconnect().await;
    b.disconnect().await;
    let mut c = gw.connect("/embedded").await;
    let idc = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..group_sub("orders", "billing")
        })
        .await;
    let mut got = c.pushed(idc, 2).await;
    got.extend(c.pushed_within(idc, QUIET).await);
    let mut seen: Vec<(i32, i64)> = got.iter().map(|m| (m.partition, m.offset)).collect();
    seen.sort();
    assert_eq!(seen, vec![(0, 0), (1, 0)]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_commit_is_all_or_nothing() {
    let gw = Gateway::start(&embedded_with("partitions: 2")).await;
    let mut p = gw.connect("/embedded").await;
    for partition in 0..2 {
        for _ in 0..3 {
            p.produce_to("orders", partition, "m").await;
        }
    }
    let mut a = gw.connect("/embedded").await;
    let ida = a
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..group_sub("orders", "billing")
        })
        .await;
    a.pushed(ida, 6).await;
    // Partition 1's offset is past the end: partition 0's must not be committed either.
    let r = a
        .request(Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: ida,
            offsets: offsets(&[("orders", 0, 2), ("orders", 1, 99)]),
        }))
        .await;
    assert_eq!(error_of(r).0, 400);
    a.disconnect().await;
    let mut b = gw.connect("/embedded").await;
    let idb = b
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..group_sub("orders", "billing")
        })
        .await;
    let mut got = b.pushed(idb, 6).await;
    got.extend(b.pushed_within(idb, QUIET).await);
    assert_eq!(
        got.iter().filter(|m| m.partition == 0).count(),
        3,
        "partition 0 resumed from a commit that was refused"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_forgets_a_partition_taken_away_by_a_rebalance() {
    let gw = Gateway::start(&embedded_with("partitions: 2")).await;
    let mut a = gw.connect("/embedded").await;
    let ida = a
        .subscribe(CmdKafkaSubscribe {
            max_in_flight: 2,
            ..group_sub("orders", "billing")
        })
        .await;
    let mut p = gw.connect("/embedded").await;
    // a's window fills with partition 1's messages, which it never acknowledges.
    p.produce_to("orders", 1, "p1-a").await;
    p.produce_to("orders", 1, "p1-b").await;
    assert_eq!(a.pushed(ida, 2).await.len(), 2);
    // b joins and takes partition 1 (a keeps 0, the lower one, as the tie-break goes).
    let mut b = gw.connect("/embedded").await;
    let idb = b.subscribe(group_sub("orders", "billing")).await;
    p.produce_to("orders", 1, "p1-c").await;
    assert_eq!(value_of(&b.pushed(idb, 1).await[0]), "p1-c");
    // a's unacknowledged partition-1 messages no longer count against its window.
    p.produce_to("orders", 0, "p0-a").await;
    let got = a.pushed(ida, 1).await;
    assert_eq!(value_of(&got[0]), "p0-a");
    gw.stop().await;
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
async fn subscribing_to_a_partition_a_new_topic_would_not_have_answers_404() {
    let gw = Gateway::start(&embedded_with("partitions: 2")).await;
    let mut s = gw.connect("/embedded").await;
    let r = s
        .request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "later".into(),
            partitions: vec![2],
            ..Default::default()
        }))
        .await;
    assert_eq!(error_of(r).0, 404);
    gw.stop().await;
}

#[tokio::test]
async fn idle_groups_without_commits_are_dropped_and_free_their_slot() {
    let gw = Gateway::start(&embedded_with("max_groups: 1, group_idle_secs: 1")).await;
    let mut p = gw.connect("/embedded").await;
    p.produce_value("t", "v").await;
    let mut a = gw.connect("/embedded").await;
    a.subscribe(group_sub("t", "first")).await;
    a.disconnect().await;
    let mut b = gw.connect("/embedded").await;
    let r = b
        .request(Req::CmdKafkaSubscribe(group_sub("t", "second")))
        .await;
    assert_eq!(error_of(r).0, 429, "the empty group is kept for a while");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    b.subscribe(group_sub("t", "second")).await;
    gw.stop().await;
}

#[tokio::test]
async fn idle_groups_with_commits_are_kept() {
    let gw = Gateway::start(&embedded_with("max_groups: 1, group_idle_secs: 1")).await;
    let mut p = gw.connect("/embedded").await;
    p.produce_value("t", "v").await;
    let mut a = gw.connect("/embedded").await;
    let ida = a
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..group_sub("t", "first")
        })
        .await;
    a.pushed(ida, 1).await;
    a.commit(ida, &[("t", 0, 1)]).await;
    a.disconnect().await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let mut b = gw.connect("/embedded").await;
    let r = b
        .request(Req::CmdKafkaSubscribe(group_sub("t", "second")))
        .await;
    assert_eq!(
        error_of(r).0,
        429,
        "a group's committed offsets outlive its members"
    );
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

#[tokio::test]
async fn every_command_that_carries_a_topic_checks_the_acl_and_the_connection_lives() {
    let gw = Gateway::start(acl_route()).await;
    let mut c = gw.connect("/embedded").await;
    c.produce_value("open-t", "v").await;
    for (what, req) in bad_topic_commands("secret") {
        let (code, message) = error_of(c.request(req).await);
        assert_eq!(code, 403, "{what}: {message}");
    }
    let id = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..group_sub("open-t", "ok-g")
        })
        .await;
    let r = c
        .request(Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: id,
            offsets: offsets(&[("secret", 0, 0)]),
        }))
        .await;
    assert_eq!(error_of(r).0, 403, "commit checks the topic's read ACL");
    let r = c
        .request(Req::CmdKafkaSubscribe(group_sub("open-t", "other")))
        .await;
    assert_eq!(error_of(r).0, 403, "group ACL");
    assert_alive(&mut c).await;
    gw.stop().await;
}

#[test]
fn a_flood_of_bad_frames_writes_a_bounded_number_of_log_lines() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("pubsub-gw-flood{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\n  limits: {{ max_requests_per_sec: 1000000 }}\nroutes:\n  - uri: /e\n    upstream: {{ scheme: embedded }}\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pubsub-gateway"))
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "gateway did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut tasks = Vec::new();
        for _ in 0..4 {
            tasks.push(tokio::spawn(async move {
                let mut c = Client::connect(addr, "/e").await;
                for i in 0..5_000u32 {
                    let junk = Message::Binary(Bytes::from(vec![0xff, (i % 251) as u8, 0xff]));
                    c.ws.feed(junk).await.unwrap();
                    let _ = c.ws.feed(Message::Text("hello".into())).await;
                }
                c.ws.flush().await.unwrap();
                // Frames are handled in order: once the ping answers, every bad frame was seen.
                assert_alive(&mut c).await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(dir.join("log")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let lines = text
        .lines()
        .filter(|l| l.contains("undecodable") || l.contains("text frame"))
        .count();
    assert!(
        (1..=16).contains(&lines),
        "{lines} log lines for 40,000 bad frames"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_catches_up_is_not_closed_as_a_slow_consumer() {
    let gw = Gateway::start(&format!(
        "server:\n  limits: {{ slow_consumer: close, slow_consumer_timeout_ms: 2000, outbound_queue: 8, max_requests_per_sec: 100000 }}\n{}",
        embedded_with("retention_bytes: 67108864")
    ))
    .await;
    let mut s = connect_small_window(gw.addr, "/embedded").await;
    let id = s.subscribe(sub_from("burst", Start::Earliest)).await;
    let mut p = gw.connect("/embedded").await;
    // A burst far larger than the socket buffers, pipelined so it takes well under the policy's
    // timeout: the queue fills and pushes wait for room while the client looks away.
    let big = Bytes::from("b".repeat(64 * 1024));
    let mut seqs = Vec::new();
    for _ in 0..200 {
        seqs.push(
            p.send(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "burst".into(),
                value: big.clone(),
                ..Default::default()
            }))
            .await,
        );
        if seqs.len() == 32 {
            for seq in seqs.drain(..) {
                assert!(matches!(p.reply(seq).await, Resp::KafkaProduceResp(_)));
            }
        }
    }
    for seq in seqs.drain(..) {
        assert!(matches!(p.reply(seq).await, Resp::KafkaProduceResp(_)));
    }
    assert_eq!(s.pushed(id, 200).await.len(), 200);
    // Caught up: its queue is empty from now on, and it must stay open past the timeout.
    for i in 0..12 {
        p.produce_value("burst", &format!("small{i}")).await;
        assert_eq!(s.pushed(id, 1).await.len(), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_alive(&mut s).await;
    gw.stop().await;
}

#[tokio::test]
async fn commit_offsets_run_from_zero_to_the_end() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    c.produce_value("t", "v").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..group_sub("t", "g")
        })
        .await;
    c.pushed(id, 1).await;
    let commit = |offset| {
        Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: id,
            offsets: offsets(&[("t", 0, offset)]),
        })
    };
    // 0 (nothing read yet) and the end are valid; below 0 and past the end are not.
    assert!(matches!(c.request(commit(0)).await, Resp::OkResp(_)));
    assert!(matches!(c.request(commit(1)).await, Resp::OkResp(_)));
    assert_eq!(error_of(c.request(commit(-1)).await).0, 400);
    assert_eq!(error_of(c.request(commit(2)).await).0, 400);
    gw.stop().await;
}
