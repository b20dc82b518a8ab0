//! Plain subscriptions: start positions, the shared tail, patterns, header filters and flow
//! control.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_receives_new_messages_through_the_shared_tail() {
    let broker = shared();
    let t = topic("tail");
    broker.create_topic(&t, 1).await;
    let gw = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    let mut sub = gw.connect("/kafka").await;
    let mut prod = gw.connect("/kafka").await;
    let r = sub
        .request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: t.clone(),
            ..Default::default()
        }))
        .await;
    let Resp::KafkaSubscribeResp(s) = r else {
        panic!("{r:?}")
    };
    for i in 0..5 {
        produce(&mut prod, &t, None, b"", format!("m{i}").as_bytes()).await;
    }
    let got = sub.pushed(s.subscription_id, 5).await;
    let values: Vec<_> = got
        .iter()
        .map(|m| String::from_utf8_lossy(&m.value).to_string())
        .collect();
    assert_eq!(values, ["m0", "m1", "m2", "m3", "m4"]);
    assert!(got.iter().all(|m| m.topic == t && m.partition == 0));
    let _ = Duration::from_secs(0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_start_position_starts_where_it_should() {
    let (gw, t) = setup("starts", 1).await;
    let mut c = gw.connect("/kafka").await;
    // Timestamps within the last minutes: Tansu answers ListOffsets correctly for those, but
    // answers 0 (Apache Kafka: -1) for a timestamp past the last message, a broker deviation
    // this test stays clear of.
    let base = pubsub_gateway::backend::now_ms() - 5 * 60_000;
    for i in 0..5 {
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: t.clone(),
            partition: Some(0),
            value: Bytes::from(format!("old{i}")),
            timestamp: base + i * 60_000,
            ..Default::default()
        }))
        .await;
    }
    let cases = [
        (StartPosition::Earliest, 0, "old0"),
        (StartPosition::Last, 0, "old4"),
        (StartPosition::Offset, 2, "old2"),
        (StartPosition::Timestamp, base + 90_000, "old2"),
        (StartPosition::TimeDelta, 90_000, "old4"),
    ];
    for (start, start_value, first) in cases {
        let mut s = gw.connect("/kafka").await;
        let id = s
            .subscribe(CmdKafkaSubscribe {
                topic: t.clone(),
                start: start as i32,
                start_value,
                ..Default::default()
            })
            .await;
        let got = s.pushed(id, 1).await;
        assert_eq!(values(&got[..1]), [first], "{start:?}");
    }
    // LATEST gets only new messages.
    let mut latest = gw.connect("/kafka").await;
    let l = latest
        .subscribe(CmdKafkaSubscribe {
            topic: t.clone(),
            ..Default::default()
        })
        .await;
    produce(&mut c, &t, Some(0), b"", b"new").await;
    assert_eq!(values(&latest.pushed(l, 1).await), ["new"]);
    // An offset outside the log is refused at subscribe time.
    let r = c
        .request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: t.clone(),
            start: StartPosition::Offset as i32,
            start_value: 99,
            ..Default::default()
        }))
        .await;
    assert_eq!(error_of(r).0, 416);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_subscribers_share_one_tail_and_each_gets_every_message_in_order() {
    let (gw, t) = setup("fanout", 2).await;
    let mut subs = Vec::new();
    for _ in 0..20 {
        let mut s = gw.connect("/kafka").await;
        let id = s
            .subscribe(CmdKafkaSubscribe {
                topic: t.clone(),
                ..Default::default()
            })
            .await;
        subs.push((s, id));
    }
    let mut p = gw.connect("/kafka").await;
    for i in 0..40 {
        produce(&mut p, &t, Some(i % 2), b"", format!("m{i}").as_bytes()).await;
    }
    for (s, id) in &mut subs {
        let got = s.pushed(*id, 40).await;
        let mut per_part: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for m in &got {
            per_part.entry(m.partition).or_default().push(m.offset);
        }
        assert_eq!(per_part[&0], (0..20).collect::<Vec<_>>());
        assert_eq!(per_part[&1], (0..20).collect::<Vec<_>>());
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_subscriber_from_earliest_catches_up_then_follows_live() {
    let (gw, t) = setup("catchup", 1).await;
    let mut p = gw.connect("/kafka").await;
    let mut live = gw.connect("/kafka").await;
    let lid = live
        .subscribe(CmdKafkaSubscribe {
            topic: t.clone(),
            ..Default::default()
        })
        .await;
    for i in 0..30 {
        produce(&mut p, &t, Some(0), b"", format!("m{i}").as_bytes()).await;
    }
    live.pushed(lid, 30).await;
    let mut late = gw.connect("/kafka").await;
    let id = late.subscribe(sub_from(&t, Start::Earliest)).await;
    for i in 30..35 {
        produce(&mut p, &t, Some(0), b"", format!("m{i}").as_bytes()).await;
    }
    let got = late.pushed(id, 35).await;
    assert_eq!(
        got.iter().map(|m| m.offset).collect::<Vec<_>>(),
        (0..35).collect::<Vec<_>>()
    );
    assert!(
        late.pushed_within(id, Duration::from_millis(300))
            .await
            .is_empty(),
        "no duplicates"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_pauses_until_commit_without_loss() {
    let (gw, t) = setup("flow", 1).await;
    let mut p = gw.connect("/kafka").await;
    let mut s = gw.connect("/kafka").await;
    let id = s
        .subscribe(CmdKafkaSubscribe {
            topic: t.clone(),
            max_in_flight: 3,
            ..Default::default()
        })
        .await;
    for i in 0..8 {
        produce(&mut p, &t, Some(0), b"", format!("m{i}").as_bytes()).await;
    }
    let first = s.pushed(id, 3).await;
    assert_eq!(
        values(&first),
        ["m0", "m1", "m2"],
        "no more than max_in_flight before a commit"
    );
    assert!(
        s.pushed_within(id, Duration::from_millis(500))
            .await
            .is_empty(),
        "window is full"
    );
    let r = s
        .request(Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: id,
            offsets: vec![KafkaPartitionOffset {
                topic: t.clone(),
                partition: 0,
                offset: 3,
            }],
        }))
        .await;
    assert_eq!(r, Resp::OkResp(OkResp {}));
    let next = s.pushed(id, 3).await;
    assert_eq!(values(&next), ["m3", "m4", "m5"]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_pattern_picks_up_topics_created_later_and_headers_filter() {
    let broker = shared();
    let prefix = topic("pat");
    let first = format!("{prefix}-a");
    broker.create_topic(&first, 1).await;
    let gw = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    let mut s = gw.connect("/kafka").await;
    let id = s
        .subscribe(CmdKafkaSubscribe {
            topic_pattern: format!("{prefix}-.*"),
            match_headers: vec![KafkaHeader {
                key: "kind".into(),
                value: Bytes::from_static(b"keep"),
            }],
            ..Default::default()
        })
        .await;
    let second = format!("{prefix}-b");
    broker.create_topic(&second, 1).await;
    // Let the pattern refresh (0.5 s in these routes) find the new topic.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut p = gw.connect("/kafka").await;
    for (t, kind, v) in [
        (&first, "keep", "a1"),
        (&first, "drop", "a2"),
        (&second, "keep", "b1"),
        (&second, "drop", "b2"),
    ] {
        p.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: t.clone(),
            partition: Some(0),
            value: Bytes::from(v),
            headers: vec![KafkaHeader {
                key: "kind".into(),
                value: Bytes::from(kind),
            }],
            ..Default::default()
        }))
        .await;
    }
    let got = s.pushed(id, 2).await;
    let mut got: Vec<_> = got
        .iter()
        .map(|m| {
            (
                m.topic.clone(),
                String::from_utf8_lossy(&m.value).to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (first.clone(), "a1".to_string()),
            (second.clone(), "b1".to_string())
        ]
    );
    assert!(s
        .pushed_within(id, Duration::from_millis(500))
        .await
        .is_empty());
    // Unsubscribe stops pushes; an unknown id is a 404.
    assert_eq!(
        s.request(Req::CmdUnsubscribe(CmdUnsubscribe {
            subscription_id: id
        }))
        .await,
        Resp::OkResp(OkResp {})
    );
    assert_eq!(
        error_of(
            s.request(Req::CmdUnsubscribe(CmdUnsubscribe {
                subscription_id: id
            }))
            .await
        )
        .0,
        404
    );
    gw.stop().await;
}

/// Kafka subscribes wait on the broker, so pipelined ones are in flight together: the limit
/// must count them before they finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_subscribes_never_exceed_the_subscription_limit() {
    let broker = shared();
    let t = topic("pipelined");
    broker.create_topic(&t, 1).await;
    let yaml = format!(
        "server:\n  limits: {{ max_subscriptions: 3 }}\n{}",
        kafka_yaml(&broker.bootstrap(), "")
    );
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/kafka").await;
    let mut seqs = Vec::new();
    for _ in 0..10 {
        seqs.push(
            c.send(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
                topic: t.clone(),
                ..Default::default()
            }))
            .await,
        );
    }
    let mut ok = 0;
    for s in seqs {
        match c.reply(s).await {
            Resp::KafkaSubscribeResp(_) => ok += 1,
            Resp::ErrorResp(e) => assert_eq!(e.code, 429, "{}", e.message),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ok, 3);
    gw.stop().await;
}

/// The tail reads several partitions at once and pushes runs of one partition: a backlog of
/// both partitions, then pipelined produces alternating between them, make its batches mix
/// partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_batches_mixing_partitions_reach_each_subscriber_once_and_in_order() {
    let gw = Gateway::start(&kafka_yaml(&shared().bootstrap(), "")).await;
    // Whether a batch mixes partitions depends on how the broker's fetch responses fall:
    // three topics make a run without mixed batches unlikely.
    for _ in 0..3 {
        let t = topic("mixed");
        shared().create_topic(&t, 2).await;
        mixed_batches_on(&gw, &t).await;
    }
    gw.stop().await;
}

/// Subscriptions that join one partition of the shared tail at different offsets before it
/// has read there: the batch it reads is shared whole only with those that asked for all of
/// it; the others get exactly their part, never what lies before their start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_subscribers_starting_mid_batch_get_exactly_their_part_of_it() {
    let (gw, t) = setup("midbatch", 1).await;
    let mut p = gw.connect("/kafka").await;
    for i in 0..10 {
        produce(&mut p, &t, Some(0), b"", format!("m{i}").as_bytes()).await;
    }
    let at = |start: StartPosition, value: i64| CmdKafkaSubscribe {
        topic: t.clone(),
        start: start as i32,
        start_value: value,
        ..Default::default()
    };
    let (mut a, mut b, mut c) = (
        gw.connect("/kafka").await,
        gw.connect("/kafka").await,
        gw.connect("/kafka").await,
    );
    // Together, so that the tail's first read (offsets 0-9) finds all three attached.
    let (ia, ib, ic) = tokio::join!(
        a.subscribe(at(StartPosition::Earliest, 0)),
        b.subscribe(at(StartPosition::Offset, 5)),
        c.subscribe(at(StartPosition::Offset, 8)),
    );
    for i in 10..13 {
        produce(&mut p, &t, Some(0), b"", format!("m{i}").as_bytes()).await;
    }
    let wait = Duration::from_secs(20);
    for (s, id, from) in [(&mut a, ia, 0), (&mut b, ib, 5), (&mut c, ic, 8)] {
        let got = pushed_by(s, id, 13 - from, wait).await;
        let want: Vec<String> = (from..13).map(|i| format!("m{i}")).collect();
        assert_eq!(values(&got), want, "subscription from offset {from}");
        let more = s.pushed_within(id, Duration::from_millis(500)).await;
        assert!(
            more.is_empty(),
            "from {from}: more than asked: {:?}",
            values(&more)
        );
    }
    gw.stop().await;
}
