//! The embedded scheme's shared reader per topic (plain subscriptions): a subscriber that falls
//! behind reads alone and joins again without holding the others back, losing or repeating
//! nothing; leaving mid-stream touches no one else.

use std::time::Duration;

use bytes::Bytes;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;

use crate::common::*;

fn unique(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// Produces `n` values `prefix-i` of `size` bytes, pipelined, and waits for every reply.
async fn produce_many(p: &mut Client, topic: &str, n: usize, size: usize) {
    let mut seqs = Vec::new();
    for i in 0..n {
        let mut value = format!("{i}-").into_bytes();
        value.resize(size.max(value.len()), b'x');
        seqs.push(
            p.send(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: topic.into(),
                value: Bytes::from(value),
                ..Default::default()
            }))
            .await,
        );
    }
    for seq in seqs {
        match p.reply(seq).await {
            Resp::KafkaProduceResp(_) => {}
            other => panic!("produce failed: {other:?}"),
        }
    }
}

fn index_of(m: &KafkaMessage) -> usize {
    let v = std::str::from_utf8(&m.value).expect("utf-8 value");
    v.split('-').next().unwrap().parse().expect("index prefix")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_does_not_hold_the_fast_ones_back_and_later_gets_everything_in_order() {
    let gw = Gateway::start(&format!(
        "server:\n  limits: {{ outbound_queue: 8 }}\n{}",
        embedded_with("retention_bytes: 134217728, partitions: 1")
    ))
    .await;
    let topic = unique("slow-among-fast");
    let mut p = gw.connect("/embedded").await;
    // The topic exists, so every subscriber starts at its end, on the shared reader.
    produce_many(&mut p, &topic, 1, 8).await;
    let mut slow = connect_small_window(gw.addr, "/embedded").await;
    let slow_id = slow.subscribe(sub_from(&topic, Start::Latest)).await;
    let mut fast = Vec::new();
    for _ in 0..3 {
        let mut c = gw.connect("/embedded").await;
        let id = c.subscribe(sub_from(&topic, Start::Latest)).await;
        fast.push((c, id));
    }
    // Far more than the slow client's socket buffers and queue hold: it falls behind.
    const N: usize = 120;
    let producing = tokio::spawn(async move {
        produce_many(&mut p, &topic, N, 64 * 1024).await;
        p
    });
    for (c, id) in &mut fast {
        let got = tokio::time::timeout(WAIT, c.pushed(*id, N))
            .await
            .expect("fast subscribers get everything while the slow one is not reading");
        let idx: Vec<usize> = got.iter().map(index_of).collect();
        assert_eq!(idx, (0..N).collect::<Vec<_>>(), "in order, once each");
    }
    let _p = producing.await.unwrap();
    let got = slow.pushed(slow_id, N).await;
    let idx: Vec<usize> = got.iter().map(index_of).collect();
    assert_eq!(
        idx,
        (0..N).collect::<Vec<_>>(),
        "the slow subscriber catches up in order, losing and repeating nothing"
    );
    let offsets: Vec<i64> = got.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, (1..=N as i64).collect::<Vec<_>>());
    // Caught up, it is back on the shared reader: new messages reach it too.
    let mut p = _p;
    produce_many(&mut p, &unique("slow-among-fast"), 1, 8).await;
    let more = slow.pushed(slow_id, 1).await;
    assert_eq!(index_of(&more[0]), 0);
    assert!(
        slow.pushed_within(slow_id, Duration::from_millis(200))
            .await
            .is_empty(),
        "nothing twice after joining again"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribing_mid_stream_stops_that_subscriber_only_and_the_others_get_everything() {
    let gw = Gateway::start(&embedded_with("partitions: 2")).await;
    let topic = unique("leave-mid-stream");
    let mut p = gw.connect("/embedded").await;
    let mut stay = gw.connect("/embedded").await;
    let stay_id = stay.subscribe(sub_from(&topic, Start::Latest)).await;
    let mut leave = gw.connect("/embedded").await;
    let leave_id = leave.subscribe(sub_from(&topic, Start::Latest)).await;
    const N: usize = 400;
    let t = topic.clone();
    let producing = tokio::spawn(async move {
        produce_many(&mut p, &t, N, 32).await;
        p
    });
    let before = leave.pushed(leave_id, 1).await;
    assert!(!before.is_empty());
    let seq = leave
        .send(Req::CmdUnsubscribe(CmdUnsubscribe {
            subscription_id: leave_id,
        }))
        .await;
    loop {
        let r = leave.recv_frame().await;
        if r.sequence == seq {
            assert!(matches!(r.resp, Some(Resp::OkResp(_))), "{r:?}");
            break;
        }
    }
    let _p = producing.await.unwrap();
    assert!(
        leave
            .pushed_within(leave_id, Duration::from_millis(300))
            .await
            .is_empty(),
        "no push after the unsubscribe reply"
    );
    let got = stay.pushed(stay_id, N).await;
    let mut idx: Vec<usize> = got.iter().map(index_of).collect();
    // Two partitions: in order within each, every message exactly once overall.
    for part in 0..2 {
        let offs: Vec<i64> = got
            .iter()
            .filter(|m| m.partition == part)
            .map(|m| m.offset)
            .collect();
        assert!(
            offs.windows(2).all(|w| w[0] < w[1]),
            "partition {part} in order"
        );
    }
    idx.sort_unstable();
    assert_eq!(idx, (0..N).collect::<Vec<_>>());
    assert!(stay
        .pushed_within(stay_id, Duration::from_millis(200))
        .await
        .is_empty());
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_waiting_for_a_topic_get_its_first_messages_and_late_ones_start_at_its_end() {
    let gw = Gateway::start(&embedded_with("partitions: 1")).await;
    let topic = unique("not-yet");
    let mut early = Vec::new();
    for _ in 0..5 {
        let mut c = gw.connect("/embedded").await;
        let id = c.subscribe(sub_from(&topic, Start::Latest)).await;
        early.push((c, id));
    }
    let mut p = gw.connect("/embedded").await;
    produce_many(&mut p, &topic, 3, 8).await;
    let mut late = gw.connect("/embedded").await;
    let late_id = late.subscribe(sub_from(&topic, Start::Latest)).await;
    let mut from_start = gw.connect("/embedded").await;
    let start_id = from_start
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..sub_from(&topic, Start::Latest)
        })
        .await;
    produce_many(&mut p, &topic, 2, 8).await;
    for (c, id) in &mut early {
        let idx: Vec<usize> = c.pushed(*id, 5).await.iter().map(index_of).collect();
        assert_eq!(idx, vec![0, 1, 2, 0, 1]);
    }
    let idx: Vec<usize> = late.pushed(late_id, 2).await.iter().map(index_of).collect();
    assert_eq!(
        idx,
        vec![0, 1],
        "LATEST on an existing topic: only what came after"
    );
    let offsets: Vec<i64> = from_start
        .pushed(start_id, 5)
        .await
        .iter()
        .map(|m| m.offset)
        .collect();
    assert_eq!(
        offsets,
        vec![0, 1, 2, 3, 4],
        "EARLIEST reads the past, then joins"
    );
    for (c, id) in [(&mut late, late_id), (&mut from_start, start_id)] {
        assert!(c
            .pushed_within(id, Duration::from_millis(200))
            .await
            .is_empty());
    }
    gw.stop().await;
}
