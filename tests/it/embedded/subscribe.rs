//! Subscribe: start positions, partitions, patterns, headers, flow control.

use super::*;

#[tokio::test]
async fn subscribe_latest_delivers_only_new_messages() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    let mut s = gw.connect("/embedded").await;
    p.produce_value("news", "old0").await;
    p.produce_value("news", "old1").await;
    let id = s.subscribe(sub_from("news", Start::Latest)).await;
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
    let id = s.subscribe(sub_from("hist", Start::Earliest)).await;
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
    let id = s.subscribe(sub_from("last", Start::Last)).await;
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
    let id = s.subscribe(sub_from("empty-last", Start::Last)).await;
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
    let id = s.subscribe(sub_from("off", Start::Offset(3))).await;
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
        c.request(Req::CmdKafkaSubscribe(sub_from(
            "off-range",
            Start::Offset(10),
        )))
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
    let id = s.subscribe(sub_from("ts", Start::Timestamp(1_500))).await;
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
        .subscribe(sub_from("delta", Start::TimeDelta(60_000)))
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
        .send(Req::CmdKafkaSubscribe(sub_from("seq", Start::Earliest)))
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
    let id = s.subscribe(sub_from("order", Start::Latest)).await;
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
            ..sub_from("parts", Start::Earliest)
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
            ..sub_from("few", Start::Earliest)
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
            ..sub_from("hdrs", Start::Latest)
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
    let id = s.subscribe(sub_from("unsub", Start::Latest)).await;
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
            ..sub_from("flow", Start::Earliest)
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
