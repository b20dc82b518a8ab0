//! The Redis scheme against the machine's Redis 7 (127.0.0.1:6379), through a real WebSocket
//! client, with plain redis-rs as oracle and interop peer. Every test uses its own channels and
//! keys and deletes the keys it made; outages use a private `redis-server` on a free port.

use std::time::Duration;

use futures_util::StreamExt;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use redis::aio::MultiplexedConnection;

use crate::common::redis_support::*;
use crate::common::*;

async fn xadd(conn: &mut MultiplexedConnection, key: &str, fields: &[(&str, &str)]) -> String {
    let mut c = redis::cmd("XADD");
    c.arg(key).arg("*");
    for (f, v) in fields {
        c.arg(*f).arg(*v);
    }
    c.query_async(conn).await.expect("XADD")
}

/// The offset the gateway gives an entry id `MS-SEQ`.
fn offset_of_id(id: &str) -> i64 {
    let (ms, seq) = id.split_once('-').expect("an entry id");
    (ms.parse::<i64>().unwrap() << 20) | seq.parse::<i64>().unwrap()
}

fn id_of_offset(offset: i64) -> String {
    format!("{}-{}", offset >> 20, offset & ((1 << 20) - 1))
}

fn positions(topic: &str, ms: &[KafkaMessage]) -> Vec<MessagePosition> {
    ms.iter()
        .map(|m| MessagePosition {
            topic: topic.into(),
            partition: 0,
            offset: m.offset,
            position: m.position.clone(),
        })
        .collect()
}

async fn ack(c: &mut Client, id: i64, topic: &str, ms: &[KafkaMessage]) {
    let r = c
        .request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: positions(topic, ms),
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
}

// ---------------------------------------------------------------------------------------------
// pub/sub mode
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn pubsub_interoperates_both_ways_and_publish_reports_the_receivers() {
    let mut rc = oracle().await;
    let channel = unique("ps");
    let gw = Gateway::start(&pubsub_route("/ps", REDIS)).await;
    let mut c = gw.connect("/ps").await;
    let id = c.subscribe(sub(&channel)).await;

    // A plain Redis subscriber of the same channel.
    let mut plain = oracle_pubsub().await;
    plain.subscribe(&channel).await.unwrap();
    // Gateway -> plain Redis; the reply counts the Redis subscribers: the gateway's one shared
    // subscription and the plain client.
    let r = c.produce_value(&channel, "from-gateway").await;
    assert_eq!((r.partition, r.offset), (0, 2), "offset = receivers");
    let got = c.pushed(id, 1).await;
    assert_eq!(values(&got), ["from-gateway"]);
    assert_eq!(
        (got[0].topic.as_str(), got[0].offset),
        (channel.as_str(), -1)
    );
    let msg = tokio::time::timeout(WAIT, plain.on_message().next())
        .await
        .expect("plain subscriber got it")
        .unwrap();
    assert_eq!(msg.get_payload_bytes(), b"from-gateway");

    // Plain Redis -> gateway.
    let n: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg("from-redis")
        .query_async(&mut rc)
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(values(&c.pushed(id, 1).await), ["from-redis"]);
    gw.stop().await;
}

#[tokio::test]
async fn pubsub_subscribers_of_one_channel_share_one_redis_subscription() {
    let mut rc = oracle().await;
    let channel = unique("share");
    let gw = Gateway::start(&pubsub_route("/ps", REDIS)).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = gw.connect("/ps").await;
        let id = c.subscribe(sub(&channel)).await;
        clients.push((c, id));
    }
    let numsub: (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&channel)
        .query_async(&mut rc)
        .await
        .unwrap();
    assert_eq!(
        numsub.1, 1,
        "three gateway subscribers, one Redis subscription"
    );
    let _: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg("x")
        .query_async(&mut rc)
        .await
        .unwrap();
    for (c, id) in clients.iter_mut() {
        assert_eq!(values(&c.pushed(*id, 1).await), ["x"]);
    }
    // The last one out unsubscribes at the server.
    for (c, _) in clients {
        c.disconnect().await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let numsub: (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut rc)
            .await
            .unwrap();
        if numsub.1 == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still subscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.stop().await;
}

#[tokio::test]
async fn pubsub_stalled_subscriber_loses_messages_but_never_holds_back_the_others() {
    let mut rc = oracle().await;
    let channel = unique("stall");
    let gw = Gateway::start(&pubsub_route("/ps", REDIS)).await;
    let mut slow = connect_small_window(gw.addr, "/ps").await;
    let sid = slow.subscribe(sub(&channel)).await;
    let mut fast = gw.connect("/ps").await;
    let fid = fast.subscribe(sub(&channel)).await;
    // Far more than its 4,096-message buffer, its queue and its socket hold.
    let n = 15_000;
    let pad = "p".repeat(1024);
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("PUBLISH")
            .arg(&channel)
            .arg(format!("{i}:{pad}"))
            .ignore();
    }
    let _: () = pipe.query_async(&mut rc).await.unwrap();
    let number =
        |m: &KafkaMessage| -> usize { value_of(m).split(':').next().unwrap().parse().unwrap() };
    let got: Vec<usize> = fast.pushed(fid, n).await.iter().map(number).collect();
    assert_eq!(
        got,
        (0..n).collect::<Vec<_>>(),
        "the reading subscriber gets all, in order"
    );
    // The stalled one got what fit in its buffer, in order, without duplicates.
    let late: Vec<usize> = slow
        .pushed_within(sid, Duration::from_secs(2))
        .await
        .iter()
        .map(number)
        .collect();
    assert!(!late.is_empty() && late.len() < n, "{}", late.len());
    assert!(late.windows(2).all(|w| w[0] < w[1]));
    del(&mut rc, &channel).await;
    gw.stop().await;
}

#[tokio::test]
async fn pubsub_glob_patterns_deliver_only_channels_the_acl_allows() {
    let mut rc = oracle().await;
    let base = unique("pat");
    // Readers may subscribe to the pattern itself and read `BASE:pub...` channels only.
    let acl = format!("topic-acl: {{ read: [\"{base}:([*]|pub.*)\"] }}");
    let gw = Gateway::start(&route("/ps", REDIS, "mode: pubsub", &acl)).await;
    let mut c = gw.connect("/ps").await;
    let id = c.subscribe(sub(&format!("{base}:*"))).await;
    for ch in ["pub1", "secret", "pub2"] {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(format!("{base}:{ch}"))
            .arg(ch)
            .query_async(&mut rc)
            .await
            .unwrap();
    }
    let got = c.pushed(id, 2).await;
    assert_eq!(values(&got), ["pub1", "pub2"]);
    assert_eq!(
        got[0].topic,
        format!("{base}:pub1"),
        "the channel, not the pattern"
    );
    assert!(c
        .pushed_within(id, Duration::from_millis(200))
        .await
        .is_empty());
    // A pattern the ACL does not cover is refused up front.
    let (code, _) = error_of(
        c.request(Req::CmdKafkaSubscribe(sub(&format!("{base}?*"))))
            .await,
    );
    assert_eq!(code, 403);
    // `?` and classes are globs too.
    let id2 = c.subscribe(sub(&format!("{base}:pub[0-9]"))).await;
    let _: i64 = redis::cmd("PUBLISH")
        .arg(format!("{base}:pub7"))
        .arg("seven")
        .query_async(&mut rc)
        .await
        .unwrap();
    assert_eq!(values(&c.pushed(id2, 1).await), ["seven"]);
    gw.stop().await;
}

#[tokio::test]
async fn pubsub_refuses_headers_keys_history_and_bad_names_with_clear_errors() {
    let channel = unique("caps");
    let gw = Gateway::start(&pubsub_route("/ps", REDIS)).await;
    let mut c = gw.connect("/ps").await;
    let info = match c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await {
        Resp::RouteInfoResp(i) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(info.scheme, "redis");
    let caps = info.capabilities.unwrap();
    assert_eq!(caps.wildcards, "glob");
    assert!(!caps.history && !caps.headers && !caps.groups);
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: channel.clone(),
            value: value("v"),
            headers: vec![header("a", "b")],
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400);
    assert!(
        msg.contains("needs headers") && msg.contains("Redis pub/sub"),
        "{msg}"
    );
    let (code, _) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..sub(&channel)
        }))
        .await,
    );
    assert_eq!(code, 400);
    let (code, _) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd(&channel, 0, 0)))
            .await,
    );
    assert_eq!(code, 400);
    for bad in ["", "a b", "a\0b", "x\\y", "unclosed[", &"x".repeat(2000)] {
        let (code, _) = error_of(c.request(Req::CmdKafkaSubscribe(sub(bad))).await);
        assert_eq!(code, 400, "subscribe {bad:?}");
    }
    for bad in ["glob*", "a b", ""] {
        let (code, _) = error_of(
            c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: bad.into(),
                value: value("v"),
                ..Default::default()
            }))
            .await,
        );
        assert_eq!(code, 400, "publish {bad:?}");
    }
    // Still alive.
    let r = c.produce_value(&channel, "ok").await;
    assert_eq!(r.offset, 0, "nobody listens");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// streams mode
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn streams_entries_carry_value_key_and_headers_as_fields_both_ways() {
    let mut rc = oracle().await;
    let key = unique("fields");
    let gw = Gateway::start(&streams_route("/s", REDIS, "")).await;
    let mut c = gw.connect("/s").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..sub(&key)
        })
        .await;
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

// ---------------------------------------------------------------------------------------------
// outages (a private redis-server)
// ---------------------------------------------------------------------------------------------

async fn kill_gateway_connections(conn: &mut MultiplexedConnection) {
    // Every connection but this one: the gateway's command, pub/sub and reader connections.
    let _: redis::RedisResult<i64> = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("SKIPME")
        .arg("yes")
        .query_async(conn)
        .await;
}

#[tokio::test]
async fn streams_subscriptions_resume_after_lost_connections_with_no_gap_or_duplicate() {
    let server = PrivateRedis::start().await;
    let mut rc = oracle_at(&server.addr()).await;
    let key = "outage";
    let other = "outage2";
    let gw = Gateway::start(&streams_route("/s", &server.addr(), ", block_ms: 200")).await;
    let mut c = gw.connect("/s").await;
    let id = c.subscribe(sub(key)).await;
    let id2 = c.subscribe(sub(key)).await;
    let id3 = c.subscribe(sub(other)).await;
    let gid = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            ..sub(other)
        })
        .await;
    // Three subscriptions of two streams: one blocked reader at the server, never more.
    let mut seen_one = false;
    for _ in 0..40 {
        let info: String = redis::cmd("INFO")
            .arg("clients")
            .query_async(&mut rc)
            .await
            .unwrap();
        assert!(
            info.contains("blocked_clients:1") || info.contains("blocked_clients:0"),
            "{info}"
        );
        seen_one |= info.contains("blocked_clients:1");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen_one, "the shared reader blocks in XREAD");
    xadd(&mut rc, key, &[("value", "a")]).await;
    assert_eq!(values(&c.pushed(id, 1).await), ["a"]);
    for round in 0..3 {
        kill_gateway_connections(&mut rc).await;
        // Written while the gateway reconnects: delivered once it is back.
        xadd(&mut rc, key, &[("value", &format!("r{round}"))]).await;
        xadd(&mut rc, other, &[("value", &format!("o{round}"))]).await;
    }
    let want = ["a", "r0", "r1", "r2"];
    assert_eq!(values(&c.pushed(id, 3).await), want[1..]);
    assert_eq!(values(&c.pushed(id2, 4).await), want);
    assert_eq!(values(&c.pushed(id3, 3).await), ["o0", "o1", "o2"]);
    // The group member goes on too: each entry once.
    let mut got = c.pushed(gid, 3).await;
    got.sort_by(|a, b| a.position.cmp(&b.position));
    assert_eq!(values(&got), ["o0", "o1", "o2"]);
    for s in [id, id2, id3, gid] {
        assert!(
            c.pushed_within(s, Duration::from_millis(500))
                .await
                .is_empty(),
            "no duplicates"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn an_idle_followed_stream_is_not_polled() {
    let server = PrivateRedis::start().await;
    let mut rc = oracle_at(&server.addr()).await;
    let gw = Gateway::start(&streams_route("/s", &server.addr(), "")).await;
    let mut c = gw.connect("/s").await;
    let id = c.subscribe(sub("idle")).await;
    xadd(&mut rc, "idle", &[("value", "one")]).await;
    assert_eq!(values(&c.pushed(id, 1).await), ["one"]);
    let xrange_calls = |info: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_xrange:calls="))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let stats = |rc: &mut MultiplexedConnection| {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("commandstats");
        let rc = rc.clone();
        async move {
            let mut rc = rc;
            let info: String = cmd.query_async(&mut rc).await.unwrap();
            info
        }
    };
    let before = xrange_calls(&stats(&mut rc).await);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = xrange_calls(&stats(&mut rc).await);
    // Attached to the shared reader, which blocks in XREAD: no XRANGE while nothing happens.
    assert!(after - before <= 1, "{before} -> {after} XRANGE calls");
    gw.stop().await;
}

#[tokio::test]
async fn a_stopped_server_answers_503_and_subscriptions_resume_when_it_is_back() {
    let mut server = PrivateRedis::start().await;
    let addr = server.addr();
    let yaml = format!(
        "{}{}",
        streams_route("/s", &addr, ", block_ms: 200"),
        pubsub_route("/ps", &addr).replace("routes:\n", "")
    );
    let gw = Gateway::start(&yaml).await;
    let mut s = gw.connect("/s").await;
    let mut p = gw.connect("/ps").await;
    let sid = s.subscribe(sub("st")).await;
    let pid = p.subscribe(sub("ch")).await;
    s.produce_value("st", "before").await;
    assert_eq!(values(&s.pushed(sid, 1).await), ["before"]);

    server.kill();
    let started = tokio::time::Instant::now();
    let (code, msg) = error_of(
        s.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "st".into(),
            value: value("down"),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 503, "{msg}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (code, _) = error_of(
        p.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "ch".into(),
            value: value("down"),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 503);

    server.restart().await;
    let mut rc = oracle_at(&addr).await;
    // Back: the stream subscription goes on (the new server's ids are later), the pub/sub one
    // is subscribed again by itself.
    // One budget for both: the produce getting through, then the resubscription.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    s.produce_once_recovered(
        CmdKafkaProduce {
            topic: "st".into(),
            value: value("after"),
            ..Default::default()
        },
        Duration::from_secs(15),
        "gateway never recovered",
    )
    .await;
    assert_eq!(values(&s.pushed(sid, 1).await), ["after"]);
    loop {
        let numsub: (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("ch")
            .query_async(&mut rc)
            .await
            .unwrap();
        if numsub.1 == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pub/sub never resubscribed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _: i64 = redis::cmd("PUBLISH")
        .arg("ch")
        .arg("back")
        .query_async(&mut rc)
        .await
        .unwrap();
    assert_eq!(values(&p.pushed(pid, 1).await), ["back"]);
    gw.stop().await;
}

#[tokio::test]
async fn a_client_that_vanishes_with_a_full_queue_releases_its_reader_and_subscriptions() {
    let server = PrivateRedis::start().await;
    let addr = server.addr();
    let mut rc = oracle_at(&addr).await;
    let yaml = format!(
        "{}{}",
        streams_route("/s", &addr, ", block_ms: 100"),
        pubsub_route("/ps", &addr).replace("routes:\n", "")
    );
    let gw = Gateway::start(&yaml).await;
    let mut s = connect_small_window(gw.addr, "/s").await;
    let mut p = connect_small_window(gw.addr, "/ps").await;
    s.subscribe(sub("full")).await;
    s.subscribe(CmdKafkaSubscribe {
        group: "g".into(),
        ..sub("full")
    })
    .await;
    p.subscribe(sub("chan")).await;
    let big = "y".repeat(32 * 1024);
    for _ in 0..100 {
        xadd(&mut rc, "full", &[("value", &big)]).await;
        let _: i64 = redis::cmd("PUBLISH")
            .arg("chan")
            .arg(&big)
            .query_async(&mut rc)
            .await
            .unwrap();
    }
    // Before: the shared reader blocks for the stream, the hub is subscribed.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info: String = redis::cmd("INFO")
            .arg("clients")
            .query_async(&mut rc)
            .await
            .unwrap();
        if info.contains("blocked_clients:1") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{info}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Gone without a close frame, queues full.
    drop(s);
    drop(p);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info: String = redis::cmd("INFO")
            .arg("clients")
            .query_async(&mut rc)
            .await
            .unwrap();
        let numsub: (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("chan")
            .query_async(&mut rc)
            .await
            .unwrap();
        if info.contains("blocked_clients:0") && numsub.1 == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still reading: {info} numsub {}",
            numsub.1
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_answers_503_quickly_on_every_command() {
    let addr = format!("127.0.0.1:{}", free_port());
    let yaml = format!(
        "{}{}",
        streams_route("/s", &addr, ""),
        pubsub_route("/ps", &addr).replace("routes:\n", "")
    );
    let gw = Gateway::start(&yaml).await;
    let mut s = gw.connect("/s").await;
    let mut p = gw.connect("/ps").await;
    let produce = |t: &str| {
        Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: t.into(),
            value: value("v"),
            ..Default::default()
        })
    };
    let started = tokio::time::Instant::now();
    let reqs = [
        produce("k"),
        Req::CmdKafkaFetch(fetch_cmd("k", 0, 0)),
        Req::CmdKafkaMetadata(CmdKafkaMetadata { topic: "k".into() }),
        Req::CmdKafkaSubscribe(sub("k")),
        Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            group: "g".into(),
            ..sub("k")
        }),
    ];
    for req in reqs {
        let (code, msg) = error_of(s.request(req).await);
        assert_eq!(code, 503, "{msg}");
    }
    for req in [produce("c"), Req::CmdKafkaSubscribe(sub("c"))] {
        let (code, msg) = error_of(p.request(req).await);
        assert_eq!(code, 503, "{msg}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Pipelined requests while it is down do not queue behind each other's attempts.
    let started = tokio::time::Instant::now();
    let mut sent = Vec::new();
    for _ in 0..20 {
        sent.push(s.send(produce("k")).await);
    }
    for seq in sent {
        let (code, _) = error_of(s.reply(seq).await);
        assert_eq!(code, 503);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    gw.stop().await;
}

#[tokio::test]
async fn redis_auth_password_is_used_and_never_shown_in_debug_output() {
    let server = PrivateRedis::start_with(|port| {
        ["--port", &port.to_string(), "--requirepass", "s3cret-pw"]
            .map(String::from)
            .to_vec()
    })
    .await;
    let yaml = route(
        "/s",
        &server.addr(),
        "mode: streams",
        "redis-auth: { password: s3cret-pw }",
    );
    let config = pubsub_gateway::config::Config::parse(&yaml, "test").unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cret-pw"), "{debug}");
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/s").await;
    assert!(c.produce_value("k", "v").await.offset > 0);
    gw.stop().await;
    let wrong = route(
        "/s",
        &server.addr(),
        "mode: streams",
        "redis-auth: { password: nope-pw }",
    );
    let gw = Gateway::start(&wrong).await;
    let mut c = gw.connect("/s").await;
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "k".into(),
            value: value("v"),
            ..Default::default()
        }))
        .await,
    );
    assert!(code == 503 || code == 502, "{code} {msg}");
    assert!(!msg.contains("nope-pw"), "{msg}");
    gw.stop().await;
}

#[tokio::test]
async fn tls_routes_verify_the_server_with_the_given_ca() {
    let pki = certs::make_pki();
    let (cert, key, ca) = (pki.cert.clone(), pki.key.clone(), pki.ca.clone());
    let server = PrivateRedis::start_with(move |port| {
        vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            cert.display().to_string(),
            "--tls-key-file".into(),
            key.display().to_string(),
            "--tls-ca-cert-file".into(),
            ca.display().to_string(),
            "--tls-auth-clients".into(),
            "no".into(),
        ]
    })
    .await;
    let tls_route = |uri: &str, tls: &str| {
        // A TLS handshake (and loading the system roots) under a loaded test machine takes
        // longer than the plain routes' 1 s.
        route(uri, &server.addr(), "mode: streams", "")
            .replace("connect: 1,", "connect: 5,")
            .replace(
                "      redis:",
                &format!("      tls: {{ {tls} }}\n      redis:"),
            )
    };
    let yaml = format!(
        "{}{}",
        tls_route("/s", &format!("ca_file: {}", pki.ca.display())),
        tls_route("/untrusted", "verify: true").replace("routes:\n", "")
    );
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/s").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..sub("tls")
        })
        .await;
    c.produce_value("tls", "over rediss").await;
    assert_eq!(values(&c.pushed(id, 1).await), ["over rediss"]);
    // Without the CA the server's certificate is refused: no connection, 503.
    let mut u = gw.connect("/untrusted").await;
    let (code, msg) = error_of(
        u.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "tls".into(),
            value: value("v"),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 503, "{msg}");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// route options: trimming, database, ACL users, persistence across a restart
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn streams_routes_trim_exactly_approximately_and_by_age_as_a_plain_client_sees() {
    let mut rc = oracle().await;
    let (exact, approx, aged) = (
        unique("trim-exact"),
        unique("trim-approx"),
        unique("trim-age"),
    );
    let _cleanup = Keys {
        db: 0,
        keys: vec![exact.clone(), approx.clone(), aged.clone()],
    };
    let gw = Gateway::start(&joined_routes(&[
        streams_route("/exact", REDIS, ", maxlen: 10, approximate: false"),
        streams_route("/approx", REDIS, ", maxlen: 10"),
        streams_route("/age", REDIS, ", max_age_secs: 3600, approximate: false"),
    ]))
    .await;

    // MAXLEN = 10: after 25 publishes the stream holds exactly the last 10.
    let mut c = gw.connect("/exact").await;
    for i in 0..25 {
        c.produce_value(&exact, &format!("v{i}")).await;
    }
    assert_eq!(xlen(&mut rc, &exact).await, 10);
    let want: Vec<String> = (15..25).map(|i| format!("v{i}")).collect();
    assert_eq!(xrange_values(&mut rc, &exact).await, want);

    // MAXLEN ~ 10: Redis drops only whole nodes of `stream-node-max-entries` entries, and only
    // while at least 10 remain. So a stream shorter than 10 + one node is not trimmed at all
    // (exact trimming would cut it to 10), and however many entries come, fewer than 10 + one
    // node remain.
    let (_, node): (String, usize) = redis::cmd("CONFIG")
        .arg("GET")
        .arg("stream-node-max-entries")
        .query_async(&mut rc)
        .await
        .expect("CONFIG GET");
    assert!(node > 0, "stream-node-max-entries {node}");
    drop(c);
    let mut c = gw.connect("/approx").await;
    let short = 10 + node - 1;
    for i in 0..short {
        c.produce_value(&approx, &format!("a{i}")).await;
    }
    assert_eq!(xlen(&mut rc, &approx).await, short, "`~` kept whole nodes");
    let total = 10 + 3 * node + node / 2;
    for i in short..total {
        c.produce_value(&approx, &format!("a{i}")).await;
    }
    let len = xlen(&mut rc, &approx).await;
    assert!(
        (10..10 + node).contains(&len),
        "{len} entries after {total} publishes with MAXLEN ~ 10 (nodes of {node})"
    );
    let kept = xrange_values(&mut rc, &approx).await;
    let want: Vec<String> = (total - len..total).map(|i| format!("a{i}")).collect();
    assert_eq!(kept, want, "the newest entries stay, in order");

    // max_age_secs = 3600: XADD drops entries whose id is older than an hour (MINID), keeping
    // the younger ones a plain client wrote.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for (id, v) in [
        (format!("{}-0", now_ms - 7_200_000), "two hours"),
        (format!("{}-1", now_ms - 7_200_000), "two hours too"),
        (format!("{}-0", now_ms - 60_000), "a minute"),
    ] {
        let _: String = redis::cmd("XADD")
            .arg(&aged)
            .arg(id)
            .arg("value")
            .arg(v)
            .query_async(&mut rc)
            .await
            .expect("XADD with an id");
    }
    drop(c);
    let mut c = gw.connect("/age").await;
    c.produce_value(&aged, "now").await;
    assert_eq!(xrange_values(&mut rc, &aged).await, ["a minute", "now"]);

    drop(c);
    gw.stop().await;
}

#[tokio::test]
async fn a_route_on_database_7_reads_and_writes_there_and_never_in_database_0() {
    let mut db0 = oracle().await;
    let mut db7 = oracle_at(&format!("{REDIS}/7")).await;
    let key = unique("db7");
    let _cleanup = [0, 7].map(|db| Keys {
        db,
        keys: vec![key.clone()],
    });
    // The same key in database 0, which the route must not see.
    xadd(&mut db0, &key, &[("value", "in db 0")]).await;
    let gw = Gateway::start(&streams_route("/s", REDIS, ", database: 7")).await;
    let mut c = gw.connect("/s").await;
    // The shared reader (its own connection) and a group member (the command connection).
    let id = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..sub(&key)
        })
        .await;
    let gid = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            start: StartPosition::Earliest as i32,
            ..sub(&key)
        })
        .await;
    let first = c.produce_value(&key, "from the gateway").await.offset;
    xadd(&mut db7, &key, &[("value", "from db 7")]).await;
    let want = ["from the gateway", "from db 7"];
    assert_eq!(values(&c.pushed(id, 2).await), want);
    let got = c.pushed(gid, 2).await;
    assert_eq!(values(&got), want);
    ack(&mut c, gid, &key, &got).await;
    assert_eq!(values(&c.fetch(fetch_cmd(&key, 0, first)).await), want);
    // The plain client on database 7 sees the gateway's entry and the group; database 0
    // holds only its own entry and no group.
    assert_eq!(xrange_values(&mut db7, &key).await, want);
    assert_eq!(xrange_values(&mut db0, &key).await, ["in db 0"]);
    let groups: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(&key)
        .query_async(&mut db0)
        .await
        .expect("XINFO GROUPS");
    assert!(groups.is_empty(), "a group in database 0: {groups:?}");
    assert!(c
        .pushed_within(id, Duration::from_millis(300))
        .await
        .is_empty());
    drop(c);
    gw.stop().await;
}

#[tokio::test]
async fn streams_survive_a_restart_of_a_persistent_server_with_no_gap_or_duplicate() {
    let mut server = PrivateRedis::start_persistent().await;
    let addr = server.addr();
    let mut rc = oracle_at(&addr).await;
    let key = "kept";
    let mut ids = Vec::new();
    for v in ["e0", "e1", "e2"] {
        ids.push(xadd(&mut rc, key, &[("value", v)]).await);
    }
    let gw = Gateway::start(&streams_route(
        "/s",
        &addr,
        ", block_ms: 200, claim_idle_ms: 600000",
    ))
    .await;
    let mut c = gw.connect("/s").await;
    // From a given id, and a group from the start that acknowledges only the first entry.
    let id = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Offset as i32,
            start_position: ids[1].clone(),
            ..sub(key)
        })
        .await;
    let gid = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            start: StartPosition::Earliest as i32,
            ..sub(key)
        })
        .await;
    assert_eq!(values(&c.pushed(id, 2).await), ["e1", "e2"]);
    let mut held = c.pushed(gid, 3).await;
    assert_eq!(values(&held), ["e0", "e1", "e2"]);
    ack(&mut c, gid, key, &held[..1]).await;
    held.remove(0);
    c.produce_value(key, "e3").await;
    assert_eq!(values(&c.pushed(id, 1).await), ["e3"]);
    held.extend(c.pushed(gid, 1).await);

    server.kill();
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: key.into(),
            value: value("down"),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 503, "{msg}");
    server.restart().await;
    let mut rc = oracle_at(&addr).await;
    // Everything acknowledged before the kill is back, the group's pending entries too.
    assert_eq!(xrange_values(&mut rc, key).await, ["e0", "e1", "e2", "e3"]);
    // Written by a plain client while the gateway is still reconnecting.
    xadd(&mut rc, key, &[("value", "e4")]).await;
    xadd(&mut rc, key, &[("value", "e5")]).await;
    c.produce_once_recovered(
        CmdKafkaProduce {
            topic: key.into(),
            value: value("e6"),
            ..Default::default()
        },
        Duration::from_secs(15),
        "gateway never recovered",
    )
    .await;
    // The subscription goes on after e3: the entries it had are not sent again, the ones
    // written meanwhile are not skipped.
    assert_eq!(values(&c.pushed(id, 3).await), ["e4", "e5", "e6"]);
    let new = c.pushed(gid, 3).await;
    assert_eq!(values(&new), ["e4", "e5", "e6"]);
    for s in [id, gid] {
        assert!(
            c.pushed_within(s, Duration::from_millis(500))
                .await
                .is_empty(),
            "no duplicates"
        );
    }
    // Deliveries from before the restart are acknowledged after it: the group's pending list
    // at the server empties.
    ack(&mut c, gid, key, &held).await;
    ack(&mut c, gid, key, &new).await;
    let pending: (i64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(key)
        .arg("g")
        .query_async(&mut rc)
        .await
        .expect("XPENDING");
    assert_eq!(pending.0, 0, "{pending:?}");
    // A new subscription from the first id reads the whole kept stream.
    let again = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Offset as i32,
            start_position: ids[0].clone(),
            ..sub(key)
        })
        .await;
    assert_eq!(
        values(&c.pushed(again, 7).await),
        ["e0", "e1", "e2", "e3", "e4", "e5", "e6"]
    );
    drop(c);
    gw.stop().await;
}

#[test]
fn redis_config_refuses_unknown_keys_and_misplaced_options() {
    use pubsub_gateway::config::Config;
    let bad = [
        route("/s", REDIS, "mode: streams, maxlenn: 5", ""),
        route("/s", REDIS, "mode: pubsub, maxlen: 5", ""),
        route("/s", REDIS, "mode: fifo", ""),
        route("/s", REDIS, "mode: streams, block_ms: 0", ""),
        route(
            "/s",
            REDIS,
            "mode: streams",
            "redis-auth: { password: a, password_env: B }",
        ),
        route("/s", REDIS, "mode: streams", "nats-auth: { token: t }"),
        "routes:\n  - uri: /x\n    upstream: { scheme: embedded, redis: { mode: pubsub } }\n"
            .to_string(),
    ];
    for yaml in bad {
        let parsed = Config::parse(&yaml, "test");
        assert!(parsed.is_err(), "accepted: {yaml}");
    }
    let err = Config::parse(&route("/s", REDIS, "mode: streams, maxlenn: 5", ""), "test")
        .unwrap_err()
        .to_string();
    assert!(err.contains("maxlenn") && err.contains("line"), "{err}");
    assert!(Config::parse(
        &route("/s", REDIS, "mode: streams, maxlen: 1000, database: 2", ""),
        "test"
    )
    .is_ok());
}
