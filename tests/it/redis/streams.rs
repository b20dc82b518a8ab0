//! Streams mode: entries as fields, fetch and offsets by entry id, start positions, groups
//! with acks, nacks and claims, hostile input, replicas.

use super::*;

#[tokio::test]
async fn streams_entries_carry_value_key_and_headers_as_fields_both_ways() {
    let mut rc = oracle().await;
    let key = unique("fields");
    let gw = Gateway::start(&streams_route("/s", REDIS, "")).await;
    let mut c = gw.connect("/s").await;
    let id = c.subscribe(sub_from(&key, Start::Earliest)).await;
    let only_en = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            match_headers: vec![header("lang", "en")],
            ..sub(&key)
        })
        .await;
    let r = c
        .produce(CmdKafkaProduce {
            topic: key.clone(),
            key: value("alice"),
            value: value("hello"),
            headers: vec![header("lang", "en"), header("tag", "a"), header("tag", "b")],
            ..Default::default()
        })
        .await;
    // The reply's offset is the entry id, losslessly.
    let entries: Vec<(String, Vec<(String, String)>)> = {
        let v: redis::Value = redis::cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .query_async(&mut rc)
            .await
            .unwrap();
        redis::from_redis_value::<Vec<(String, Vec<(String, String)>)>>(v).unwrap()
    };
    assert_eq!(entries.len(), 1);
    let (eid, fields) = &entries[0];
    assert_eq!(r.offset, offset_of_id(eid));
    assert_eq!(id_of_offset(r.offset), *eid);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("value", "hello"),
            ("key", "alice"),
            ("lang", "en"),
            ("tag", "a"),
            ("tag", "b")
        ]
    );
    let got = c.pushed(id, 1).await;
    assert_eq!(got[0].position, *eid);
    assert_eq!(got[0].offset, r.offset);
    assert_eq!(got[0].key.as_ref(), b"alice");
    assert_eq!(
        got[0].timestamp,
        eid.split('-').next().unwrap().parse::<i64>().unwrap()
    );
    assert_eq!(got[0].headers.len(), 3);

    // A plain Redis producer's entry: `value` and `key` fields, the rest headers.
    let eid2 = xadd(
        &mut rc,
        &key,
        &[("user", "bob"), ("value", "hi"), ("key", "k2")],
    )
    .await;
    let got = c.pushed(id, 1).await;
    assert_eq!(got[0].position, eid2);
    assert_eq!(value_of(&got[0]), "hi");
    assert_eq!(got[0].key.as_ref(), b"k2");
    assert_eq!(got[0].headers, vec![header("user", "bob")]);
    // match_headers filters on the fields: only the first entry has lang=en.
    assert_eq!(values(&c.pushed(only_en, 1).await), ["hello"]);
    assert!(c
        .pushed_within(only_en, Duration::from_millis(200))
        .await
        .is_empty());
    // Reserved field names as headers are refused.
    let (code, _) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: key.clone(),
            value: value("v"),
            headers: vec![header("value", "x")],
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400);
    del(&mut rc, &key).await;
    gw.stop().await;
}

#[tokio::test]
async fn streams_fetch_list_offset_and_metadata_use_entry_ids_and_hold_at_the_edges() {
    let mut rc = oracle().await;
    let key = unique("fetch");
    let gw = Gateway::start(&streams_route("/s", REDIS, "")).await;
    let mut c = gw.connect("/s").await;
    // Missing stream: 404.
    let (code, _) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd(&key, 0, 0))).await);
    assert_eq!(code, 404);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(c.produce_value(&key, &format!("m{i}")).await.offset);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let got = c.fetch(fetch_cmd(&key, 0, ids[2])).await;
    assert_eq!(values(&got), ["m2", "m3", "m4"]);
    assert_eq!(offsets_of(&got), ids[2..]);
    let lo = |ts: i64| {
        Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: key.clone(),
            partition: 0,
            timestamp: ts,
        })
    };
    let offset = |r: Resp| match r {
        Resp::KafkaListOffsetResp(o) => o.offset,
        other => panic!("{other:?}"),
    };
    assert_eq!(offset(c.request(lo(-2)).await), ids[0]);
    assert_eq!(offset(c.request(lo(-1)).await), ids[4] + 1);
    // By time: the first entry whose id's milliseconds are at or after it.
    let ms3 = ids[3] >> 20;
    assert_eq!(offset(c.request(lo(ms3)).await), ids[3]);
    assert_eq!(offset(c.request(lo((ids[4] >> 20) + 10_000)).await), -1);
    match c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: key.clone(),
        }))
        .await
    {
        Resp::KafkaMetadataResp(m) => {
            assert_eq!(m.partitions.len(), 1);
            assert_eq!(
                (m.partitions[0].earliest, m.partitions[0].latest),
                (ids[0], ids[4] + 1)
            );
        }
        other => panic!("{other:?}"),
    }
    // At the end: empty; past it or before the first: 416; partition 1: 404.
    assert!(c.fetch(fetch_cmd(&key, 0, ids[4] + 1)).await.is_empty());
    for bad in [ids[4] + 2, ids[0] - 1, -5] {
        let (code, _) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd(&key, 0, bad))).await);
        assert_eq!(code, 416, "fetch at {bad}");
    }
    let (code, _) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd(&key, 1, ids[0])))
            .await,
    );
    assert_eq!(code, 404);
    // A long poll at the end returns the next entry as it comes.
    let seq = c
        .send(Req::CmdKafkaFetch(CmdKafkaFetch {
            max_wait_ms: 5_000,
            ..fetch_cmd(&key, 0, ids[4] + 1)
        }))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    xadd(&mut rc, &key, &[("value", "late")]).await;
    match c.reply(seq).await {
        Resp::KafkaFetchResp(r) => assert_eq!(values(&r.messages), ["late"]),
        other => panic!("{other:?}"),
    }
    // A timestamp picks the id's milliseconds; one before the last entry answers 400.
    let later = (ids[4] >> 20) + 60_000;
    let r = c
        .produce(CmdKafkaProduce {
            topic: key.clone(),
            value: value("timed"),
            timestamp: later,
            ..Default::default()
        })
        .await;
    assert_eq!(r.offset >> 20, later);
    let (code, _) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: key.clone(),
            value: value("too early"),
            timestamp: 1,
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400);
    // A key of another type answers 400, not a crash.
    let other = unique("string");
    let _: () = redis::cmd("SET")
        .arg(&other)
        .arg("x")
        .query_async(&mut rc)
        .await
        .unwrap();
    let (code, _) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd(&other, 0, 0))).await);
    assert_eq!(code, 400);
    del(&mut rc, &other).await;
    del(&mut rc, &key).await;
    gw.stop().await;
}

#[tokio::test]
async fn streams_subscribe_honours_every_start_position() {
    let mut rc = oracle().await;
    let key = unique("starts");
    let gw = Gateway::start(&streams_route("/s", REDIS, "")).await;
    let mut c = gw.connect("/s").await;
    let mut ids = Vec::new();
    for i in 1..=3 {
        ids.push(c.produce_value(&key, &format!("m{i}")).await.offset);
        // Distinct milliseconds, so TIMESTAMP has one answer.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ts2 = ids[1] >> 20;
    // (start, start_value, start_position, wanted before m4)
    let pos2 = id_of_offset(ids[1]);
    let starts: Vec<(StartPosition, i64, String, Vec<&str>)> = vec![
        (
            StartPosition::Earliest,
            0,
            String::new(),
            vec!["m1", "m2", "m3"],
        ),
        (StartPosition::Last, 0, String::new(), vec!["m3"]),
        (
            StartPosition::Offset,
            ids[1],
            String::new(),
            vec!["m2", "m3"],
        ),
        // The second entry by its id string.
        (StartPosition::Offset, 0, pos2, vec!["m2", "m3"]),
        (
            StartPosition::Timestamp,
            ts2,
            String::new(),
            vec!["m2", "m3"],
        ),
        (
            StartPosition::TimeDelta,
            3_600_000,
            String::new(),
            vec!["m1", "m2", "m3"],
        ),
        (StartPosition::Latest, 0, String::new(), vec![]),
        // The end offset itself (last + 1): the next entry on.
        (StartPosition::Offset, ids[2] + 1, String::new(), vec![]),
    ];
    let mut subs = Vec::new();
    for (start, start_value, start_position, _) in &starts {
        subs.push(
            c.subscribe(CmdKafkaSubscribe {
                start: *start as i32,
                start_value: *start_value,
                start_position: start_position.clone(),
                ..sub(&key)
            })
            .await,
        );
    }
    c.produce_value(&key, "m4").await;
    for (i, ((start, _, _, want), id)) in starts.iter().zip(subs).enumerate() {
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.push("m4".into());
        let got = c.pushed(id, want.len()).await;
        assert_eq!(values(&got), want, "{start:?} #{i}");
        assert!(c
            .pushed_within(id, Duration::from_millis(100))
            .await
            .is_empty());
    }
    let (code, _) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            start: StartPosition::Offset as i32,
            start_value: ids[2] + 1_000_000_000,
            ..sub(&key)
        }))
        .await,
    );
    assert_eq!(code, 416);
    let (code, _) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            start: StartPosition::Offset as i32,
            start_position: "not-an-id".into(),
            ..sub(&key)
        }))
        .await,
    );
    assert_eq!(code, 400);
    del(&mut rc, &key).await;
    gw.stop().await;
}

#[tokio::test]
async fn streams_subscription_to_a_missing_stream_waits_and_many_subscribers_get_everything() {
    let mut rc = oracle().await;
    let key = unique("fan");
    let gw = Gateway::start(&streams_route("/s", REDIS, ", read_count: 7")).await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut c = gw.connect("/s").await;
        let id = c.subscribe(sub(&key)).await;
        clients.push((c, id));
    }
    let n = 50;
    for i in 0..n {
        xadd(&mut rc, &key, &[("value", &i.to_string())]).await;
    }
    let want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    for (c, id) in clients.iter_mut() {
        let got = c.pushed(*id, n).await;
        assert_eq!(values(&got), want, "in order, each once");
    }
    del(&mut rc, &key).await;
    gw.stop().await;
}

#[tokio::test]
async fn a_stalled_stream_subscriber_neither_holds_back_the_others_nor_loses_entries() {
    let mut rc = oracle().await;
    let key = unique("slow");
    let gw = Gateway::start(&streams_route("/s", REDIS, "")).await;
    let mut slow = connect_small_window(gw.addr, "/s").await;
    let sid = slow.subscribe(sub(&key)).await;
    let mut fast = gw.connect("/s").await;
    let fid = fast.subscribe(sub(&key)).await;
    // About 5 MiB: far more than the stalled client's queue and socket buffers hold.
    let big = "x".repeat(16 * 1024);
    let n = 320;
    for i in 0..n {
        xadd(&mut rc, &key, &[("value", &format!("{i}:{big}"))]).await;
    }
    let order = |ms: &[KafkaMessage]| -> Vec<usize> {
        ms.iter()
            .map(|m| value_of(m).split(':').next().unwrap().parse().unwrap())
            .collect()
    };
    let want: Vec<usize> = (0..n).collect();
    // The fast subscriber gets everything while the slow one reads nothing.
    assert_eq!(order(&fast.pushed(fid, n).await), want);
    // Then the slow one catches up: everything, in order, once.
    assert_eq!(order(&slow.pushed(sid, n).await), want);
    assert!(slow
        .pushed_within(sid, Duration::from_millis(300))
        .await
        .is_empty());
    del(&mut rc, &key).await;
    gw.stop().await;
}

#[tokio::test]
async fn streams_plain_max_in_flight_pauses_until_acks_free_the_window() {
    let mut rc = oracle().await;
    let key = unique("window");
    let gw = Gateway::start(&streams_route("/s", REDIS, "")).await;
    let mut c = gw.connect("/s").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            max_in_flight: 2,
            ..sub(&key)
        })
        .await;
    for i in 0..5 {
        xadd(&mut rc, &key, &[("value", &format!("m{i}"))]).await;
    }
    let first = c.pushed(id, 2).await;
    assert_eq!(values(&first), ["m0", "m1"]);
    assert!(c
        .pushed_within(id, Duration::from_millis(300))
        .await
        .is_empty());
    ack(&mut c, id, &key, &first).await;
    let next = c.pushed(id, 2).await;
    assert_eq!(values(&next), ["m2", "m3"]);
    ack(&mut c, id, &key, &next).await;
    assert_eq!(values(&c.pushed(id, 1).await), ["m4"]);
    // nack needs a group: a plain reader does not redeliver.
    let (code, _) = error_of(
        c.request(Req::CmdNack(CmdNack {
            subscription_id: id,
            positions: positions(&key, &next),
            delay_ms: 0,
        }))
        .await,
    );
    assert_eq!(code, 400);
    del(&mut rc, &key).await;
    gw.stop().await;
}

#[tokio::test]
async fn streams_group_member_without_max_in_flight_holds_at_most_1000_unacknowledged() {
    let mut rc = oracle().await;
    let key = unique("cap");
    let mut pipe = redis::pipe();
    for i in 0..1_100 {
        pipe.cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg("value")
            .arg(i)
            .ignore();
    }
    let _: () = pipe.query_async(&mut rc).await.unwrap();
    let gw = Gateway::start(&streams_route("/s", REDIS, "")).await;
    let mut c = gw.connect("/s").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            start: StartPosition::Earliest as i32,
            ..sub(&key)
        })
        .await;
    let got = c.pushed(id, 1_000).await;
    assert_eq!(got.len(), 1_000);
    assert!(c
        .pushed_within(id, Duration::from_millis(500))
        .await
        .is_empty());
    ack(&mut c, id, &key, &got[..50]).await;
    assert_eq!(c.pushed(id, 50).await.len(), 50);
    del(&mut rc, &key).await;
    gw.stop().await;
}

#[tokio::test]
async fn streams_group_members_share_entries_with_a_plain_redis_consumer_and_ack_clears_pending() {
    let mut rc = oracle().await;
    let key = unique("grp");
    let group = "g1";
    let gw = Gateway::start(&streams_route("/s", REDIS, "")).await;
    let mut a = gw.connect("/s").await;
    let mut b = gw.connect("/s").await;
    let g = CmdKafkaSubscribe {
        group: group.into(),
        start: StartPosition::Earliest as i32,
        max_in_flight: 5,
        ..sub(&key)
    };
    let ida = a.subscribe(g.clone()).await;
    let idb = b.subscribe(g).await;
    let n = 40;
    for i in 0..n {
        xadd(&mut rc, &key, &[("value", &i.to_string())]).await;
    }
    let mut seen: Vec<String> = Vec::new();
    let (mut na, mut nb) = (0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < n && tokio::time::Instant::now() < deadline {
        for (c, id, count) in [(&mut a, ida, &mut na), (&mut b, idb, &mut nb)] {
            let got = c.pushed_within(id, Duration::from_millis(100)).await;
            assert!(got.len() <= 5, "max_in_flight 5, got {}", got.len());
            if !got.is_empty() {
                *count += got.len();
                seen.extend(values(&got));
                ack(c, id, &key, &got).await;
            }
        }
    }
    seen.sort_by_key(|v| v.parse::<i64>().unwrap());
    assert_eq!(
        seen,
        (0..n).map(|i| i.to_string()).collect::<Vec<_>>(),
        "each once"
    );
    assert!(na > 0 && nb > 0, "both members got some: {na} {nb}");
    let pending: (i64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(&key)
        .arg(group)
        .query_async(&mut rc)
        .await
        .unwrap();
    assert_eq!(pending.0, 0, "everything acknowledged at Redis");
    // Members that leave with nothing pending leave the group's consumer list.
    // A plain Redis consumer of the same group takes its share of what comes next.
    let _ = a
        .request(Req::CmdUnsubscribe(CmdUnsubscribe {
            subscription_id: ida,
        }))
        .await;
    let _ = b
        .request(Req::CmdUnsubscribe(CmdUnsubscribe {
            subscription_id: idb,
        }))
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let consumers: Vec<redis::Value> = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&key)
            .arg(group)
            .query_async(&mut rc)
            .await
            .unwrap();
        if consumers.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "members stayed: {consumers:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    xadd(&mut rc, &key, &[("value", "for-plain")]).await;
    let v: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg("plain")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(&key)
        .arg(">")
        .query_async(&mut rc)
        .await
        .unwrap();
    assert!(format!("{v:?}").contains("for-plain"), "{v:?}");
    // Groups with hostile names are refused.
    let (code, _) = error_of(
        a.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            group: "bad group".into(),
            ..sub(&key)
        }))
        .await,
    );
    assert_eq!(code, 400);
    del(&mut rc, &key).await;
    gw.stop().await;
}

#[tokio::test]
async fn streams_group_entries_of_a_vanished_member_are_claimed_by_another_after_the_idle_time() {
    let mut rc = oracle().await;
    let key = unique("claim");
    let gw = Gateway::start(&streams_route("/s", REDIS, ", claim_idle_ms: 500")).await;
    let mut a = gw.connect("/s").await;
    let g = CmdKafkaSubscribe {
        group: "g".into(),
        start: StartPosition::Earliest as i32,
        ..sub(&key)
    };
    let ida = a.subscribe(g.clone()).await;
    for i in 0..3 {
        xadd(&mut rc, &key, &[("value", &format!("m{i}"))]).await;
    }
    let got = a.pushed(ida, 3).await;
    ack(&mut a, ida, &key, &got[..1]).await;
    // A vanishes holding m1 and m2 unacknowledged.
    a.disconnect().await;
    let mut b = gw.connect("/s").await;
    let idb = b.subscribe(g).await;
    let started = tokio::time::Instant::now();
    let got = b.pushed(idb, 2).await;
    assert_eq!(values(&got), ["m1", "m2"]);
    assert!(started.elapsed() < Duration::from_secs(5));
    ack(&mut b, idb, &key, &got).await;
    assert!(
        b.pushed_within(idb, Duration::from_millis(1_200))
            .await
            .is_empty(),
        "acked stay acked"
    );
    del(&mut rc, &key).await;
    gw.stop().await;
}

#[tokio::test]
async fn streams_nack_leaves_the_entry_pending_and_delivers_it_again_after_the_delay() {
    let mut rc = oracle().await;
    let key = unique("nack");
    let gw = Gateway::start(&streams_route("/s", REDIS, "")).await;
    let mut c = gw.connect("/s").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            start: StartPosition::Earliest as i32,
            ..sub(&key)
        })
        .await;
    xadd(&mut rc, &key, &[("value", "again")]).await;
    let got = c.pushed(id, 1).await;
    let r = c
        .request(Req::CmdNack(CmdNack {
            subscription_id: id,
            positions: positions(&key, &got),
            delay_ms: 300,
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    let nacked = tokio::time::Instant::now();
    let again = c.pushed(id, 1).await;
    assert_eq!(again[0].position, got[0].position);
    assert_eq!(
        (got[0].delivery_attempt, again[0].delivery_attempt),
        (1, 2),
        "Redis's delivery count, read with XPENDING after the claim"
    );
    let after = nacked.elapsed();
    assert!(
        after >= Duration::from_millis(250) && after < Duration::from_secs(2),
        "redelivered after the 300 ms delay, not the claim interval: {after:?}"
    );
    ack(&mut c, id, &key, &again).await;
    // Acking twice, or an entry never delivered, answers 400.
    let (code, _) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: positions(&key, &again),
        }))
        .await,
    );
    assert_eq!(code, 400);
    let (code, _) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: vec![MessagePosition {
                topic: key.clone(),
                position: "garbage".into(),
                ..Default::default()
            }],
        }))
        .await,
    );
    assert_eq!(code, 400);
    del(&mut rc, &key).await;
    gw.stop().await;
}

#[tokio::test]
async fn streams_refuse_hostile_input_and_the_connection_lives() {
    let key = unique("hostile");
    let gw = Gateway::start(&streams_route("/s", REDIS, "")).await;
    let mut c = gw.connect("/s").await;
    for bad in ["", "a b", "s*", "q?", "x[1]", "nul\0", "back\\slash"] {
        let (code, _) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd(bad, 0, 0))).await);
        assert_eq!(code, 400, "fetch {bad:?}");
        let (code, _) = error_of(c.request(Req::CmdKafkaSubscribe(sub(bad))).await);
        assert_eq!(code, 400, "subscribe {bad:?}");
    }
    let (code, _) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: key.clone(),
            partition: Some(3),
            value: value("v"),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400, "partitions are a capability streams lack");
    let (code, _) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: key.clone(),
            value: value("v"),
            headers: vec![header("", "x")],
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400);
    let (code, _) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic_pattern: ".*".into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400);
    let r = c.produce_value(&key, "fine").await;
    assert!(r.offset > 0);
    let info = match c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await {
        Resp::RouteInfoResp(i) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(info.scheme, "redis-streams");
    let caps = info.capabilities.unwrap();
    assert!(caps.history && caps.groups && caps.ack && caps.nack && caps.string_positions);
    assert!(caps.headers && caps.keys && !caps.partitions && !caps.commit);
    assert_eq!(caps.starts.len(), 6);
    let mut rc = oracle().await;
    del(&mut rc, &key).await;
    gw.stop().await;
}

#[tokio::test]
async fn two_gateways_on_one_redis_are_replicas_for_channels_and_groups() {
    let mut rc = oracle().await;
    let channel = unique("rep");
    let key = unique("repstream");
    let yaml = format!(
        "{}{}",
        pubsub_route("/ps", REDIS),
        streams_route("/s", REDIS, ", claim_idle_ms: 60000").replace("routes:\n", "")
    );
    let (gw1, gw2) = (Gateway::start(&yaml).await, Gateway::start(&yaml).await);
    let mut sub2 = gw2.connect("/ps").await;
    let id = sub2.subscribe(sub(&channel)).await;
    let mut pub1 = gw1.connect("/ps").await;
    assert_eq!(pub1.produce_value(&channel, "across").await.offset, 1);
    assert_eq!(values(&sub2.pushed(id, 1).await), ["across"]);

    // One group, a member on each gateway: each entry to one of them.
    let g = CmdKafkaSubscribe {
        group: "g".into(),
        start: StartPosition::Earliest as i32,
        ..sub(&key)
    };
    let mut a = gw1.connect("/s").await;
    let mut b = gw2.connect("/s").await;
    let ida = a.subscribe(g.clone()).await;
    let idb = b.subscribe(g).await;
    for i in 0..20 {
        xadd(&mut rc, &key, &[("value", &i.to_string())]).await;
        // Spread over time, so both members get turns.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.len() < 20 && tokio::time::Instant::now() < deadline {
        for (c, id) in [(&mut a, ida), (&mut b, idb)] {
            let got = c.pushed_within(id, Duration::from_millis(100)).await;
            if !got.is_empty() {
                ack(c, id, &key, &got).await;
                seen.extend(values(&got));
            }
        }
    }
    seen.sort_by_key(|v| v.parse::<i64>().unwrap());
    assert_eq!(seen, (0..20).map(|i| i.to_string()).collect::<Vec<_>>());
    del(&mut rc, &key).await;
    gw1.stop().await;
    gw2.stop().await;
}

#[tokio::test]
async fn streams_nacks_wait_the_routes_backoff_and_stop_after_max_deliveries() {
    let mut rc = oracle().await;
    let key = unique("policy");
    let yaml = format!(
        "{}    delivery: {{ max_deliveries: 2, backoff: {{ min_ms: 500, max_ms: 5000 }} }}\n",
        streams_route("/s", REDIS, "")
    );
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/s").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            start: StartPosition::Earliest as i32,
            ..sub(&key)
        })
        .await;
    xadd(&mut rc, &key, &[("value", "poison")]).await;
    let got = c.pushed(id, 1).await;
    assert_eq!(got[0].delivery_attempt, 1);
    let nack = |ms: &[KafkaMessage]| {
        Req::CmdNack(CmdNack {
            subscription_id: id,
            positions: positions(&key, ms),
            delay_ms: 0,
        })
    };
    // No delay of its own: the route's backoff, 500 ms after the first delivery.
    let nacked = tokio::time::Instant::now();
    let r = c.request(nack(&got)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    let again = c.pushed(id, 1).await;
    let waited = nacked.elapsed();
    assert!(waited >= Duration::from_millis(450), "after {waited:?}");
    assert_eq!(again[0].delivery_attempt, 2);
    // The second delivery was the last: the next claim acknowledges it undelivered.
    let r = c.request(nack(&again)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    assert!(
        c.pushed_within(id, Duration::from_millis(2_500))
            .await
            .is_empty(),
        "delivered past max_deliveries"
    );
    // Redis's own view: nothing pending for the group any more.
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(&key)
        .arg("g")
        .query_async(&mut rc)
        .await
        .unwrap();
    let redis::Value::Array(summary) = pending else {
        panic!("XPENDING answered {pending:?}")
    };
    assert_eq!(summary.first(), Some(&redis::Value::Int(0)), "{summary:?}");
    del(&mut rc, &key).await;
    gw.stop().await;
}
