//! Group members that stall and vanish, commits the member may not make, max_in_flight across
//! rebalances, idle groups.

use super::*;

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
