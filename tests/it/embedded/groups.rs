//! Consumer groups: splitting partitions, rebalances, commits.

use super::*;

/// `c`'s subscription `id` gets exactly offset 1 of partitions 0..4, valued `{prefix}{partition}`,
/// and nothing more within a quiet spell.
async fn assert_gets_offset_1_of_each_of_4_partitions(c: &mut Client, id: i64, prefix: &str) {
    let mut got = Vec::new();
    while got.len() < 4 {
        got.extend(c.pushed(id, 1).await);
    }
    got.extend(c.pushed_within(id, QUIET).await);
    let mut seen: Vec<(i32, i64, String)> = got
        .iter()
        .map(|m| (m.partition, m.offset, value_of(m)))
        .collect();
    seen.sort();
    let expected: Vec<(i32, i64, String)> = (0..4)
        .map(|partition| (partition, 1, format!("{prefix}{partition}")))
        .collect();
    assert_eq!(seen, expected);
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
    assert_gets_offset_1_of_each_of_4_partitions(&mut b, idb, "second").await;
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
    assert_gets_offset_1_of_each_of_4_partitions(&mut b, idb, "after-b").await;
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
            ..sub_from("jobs", Start::Earliest)
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
            ..sub_from("jobs", Start::Earliest)
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
            ..sub_from("jobs", Start::Earliest)
        })
        .await;
    assert_eq!(
        offsets_of(&c.pushed(ido, 10).await),
        (0..10).collect::<Vec<_>>()
    );
    gw.stop().await;
}
