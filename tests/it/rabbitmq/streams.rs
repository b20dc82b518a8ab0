//! Stream routes: replay by stream offset, fetch and list offsets, stream groups, outages.

use super::*;

fn stream_route(uri: &str, node: &str, ex: &str, stream: &str) -> String {
    route(
        uri,
        node,
        ex,
        &format!(", queue_type: stream, stream: \"{stream}\""),
    )
}

fn start(topic: &str, start: StartPosition, value: i64) -> CmdKafkaSubscribe {
    CmdKafkaSubscribe {
        start: start as i32,
        start_value: value,
        ..sub(topic)
    }
}

#[tokio::test]
async fn stream_replays_from_each_start_position_by_stream_offset() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.stream");
    let stream = format!("{ex}.log");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![stream.clone()],
    };
    let gw = Gateway::start(&stream_route("/log", AMQP, &ex, &stream)).await;
    let mut c = gw.connect("/log").await;
    for (t, v) in [
        ("s.a", "a0"),
        ("s.b", "b0"),
        ("s.a", "a1"),
        ("s.b", "b1"),
        ("s.a", "a2"),
    ] {
        c.produce_value(t, v).await;
    }
    // A plain stream consumer sees what the gateway stored, at the same offsets.
    let oracle_ch = channel(&amqp).await;
    oracle_ch
        .basic_qos(10, Default::default())
        .await
        .expect("qos");
    let mut args = lapin::types::FieldTable::default();
    args.insert(
        "x-stream-offset".into(),
        lapin::types::AMQPValue::LongString("first".into()),
    );
    let mut plain = oracle_ch
        .basic_consume(stream.as_str().into(), "".into(), Default::default(), args)
        .await
        .expect("consume the stream");
    for want in ["a0", "b0", "a1", "b1", "a2"] {
        let d = next_delivery(&mut plain).await;
        assert_eq!(d.data, want.as_bytes());
        d.acker.ack(BasicAckOptions::default()).await.expect("ack");
    }

    let all = c.subscribe(start("s.#", StartPosition::Earliest, 0)).await;
    let got = c.pushed(all, 5).await;
    assert_eq!(values(&got), ["a0", "b0", "a1", "b1", "a2"]);
    assert_eq!(offsets_of(&got), [0, 1, 2, 3, 4]);

    let only_a = c.subscribe(start("s.a", StartPosition::Earliest, 0)).await;
    let got = c.pushed(only_a, 3).await;
    assert_eq!(values(&got), ["a0", "a1", "a2"]);
    assert_eq!(offsets_of(&got), [0, 2, 4]);

    let from2 = c.subscribe(start("s.*", StartPosition::Offset, 2)).await;
    assert_eq!(offsets_of(&c.pushed(from2, 3).await), [2, 3, 4]);

    let delta = c
        .subscribe(start("s.#", StartPosition::TimeDelta, 600_000))
        .await;
    assert_eq!(offsets_of(&c.pushed(delta, 5).await), [0, 1, 2, 3, 4]);

    let last = c.subscribe(start("s.#", StartPosition::Last, 0)).await;
    let got = c.pushed_within(last, Duration::from_millis(1500)).await;
    assert_eq!(
        got.last().map(|m| m.offset),
        Some(4),
        "LAST reads RabbitMQ's last chunk, which ends with the last message"
    );

    let latest = c.subscribe(start("s.#", StartPosition::Latest, 0)).await;
    assert!(c
        .pushed_within(latest, Duration::from_millis(700))
        .await
        .is_empty());

    // TIMESTAMP: a time after the first batch starts with the second batch.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    c.produce_value("s.b", "b2").await;
    publish(&ch, &ex, "s.a", b"a3-plain", BasicProperties::default()).await;
    let at = c.subscribe(start("s.#", StartPosition::Timestamp, t)).await;
    let got = c.pushed(at, 2).await;
    assert_eq!(values(&got), ["b2", "a3-plain"]);
    assert_eq!(offsets_of(&got), [5, 6]);
    let got = c.pushed(latest, 2).await;
    assert_eq!(offsets_of(&got), [5, 6], "LATEST gets only what came after");
    assert_eq!(offsets_of(&c.pushed(all, 2).await), [5, 6]);

    // What a stream route cannot do answers 400.
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(start(
            "s.#",
            StartPosition::Offset,
            -3,
        )))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: all,
            positions: vec![],
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("RabbitMQ stream"), "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            max_in_flight: 3,
            ..sub("s.#")
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    ping(&mut c).await;
    drop(plain);
    gw.stop().await;
}

#[tokio::test]
async fn stream_subscription_resumes_after_an_outage_without_loss_or_duplicates() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.sout");
    let stream = format!("{ex}.log");
    let proxy = Proxy::start(AMQP).await;
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![stream.clone()],
    };
    let gw = Gateway::start(&stream_route("/log", &proxy.addr, &ex, &stream)).await;
    let mut c = gw.connect("/log").await;
    let id = c.subscribe(start("e.#", StartPosition::Earliest, 0)).await;
    c.produce_value("e.1", "m0").await;
    assert_eq!(offsets_of(&c.pushed(id, 1).await), [0]);
    proxy.cut();
    for i in 1..=10 {
        publish(
            &ch,
            &ex,
            "e.1",
            format!("m{i}").as_bytes(),
            BasicProperties::default(),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    proxy.restore();
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < 10 && tokio::time::Instant::now() < deadline {
        got.extend(c.pushed_within(id, Duration::from_millis(500)).await);
    }
    assert_eq!(offsets_of(&got), (1..=10).collect::<Vec<i64>>());
    assert!(
        c.pushed_within(id, Duration::from_millis(500))
            .await
            .is_empty(),
        "nothing twice"
    );
    gw.stop().await;
}

#[tokio::test]
async fn refused_credentials_answer_503_and_never_show_the_password() {
    let ex = unique("gwt.auth");
    let yaml = format!(
        "{}    plugins:\n      rabbitmq-auth: {{ username: guest, password: wrong-s3cret-pw }}\n",
        route("/rabbit", AMQP, &ex, "")
    );
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/rabbit").await;
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "t".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 503, "{msg}");
    assert!(!msg.contains("wrong-s3cret-pw"), "{msg}");
    let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(sub("t"))).await);
    assert_eq!(code, 503, "{msg}");
    assert!(!msg.contains("wrong-s3cret-pw"), "{msg}");
    gw.stop().await;
}

#[tokio::test]
async fn a_member_that_stops_reading_then_vanishes_gives_everything_it_held_to_the_group() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.stall");
    let group = unique("g");
    let queue = group_queue("/rabbit", &group, "bulk");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![queue.clone()],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, ", prefetch_count: 50")).await;
    let mut stalled = connect_small_window(gw.addr, "/rabbit").await;
    stalled.subscribe(group_sub("bulk", &group, 0)).await;
    let body = vec![b'x'; 16 * 1024];
    for i in 0..120 {
        let mut b = body.clone();
        b.extend_from_slice(format!("#{i}").as_bytes());
        publish(&ch, &ex, "bulk", &b, BasicProperties::default()).await;
    }
    // The stalled member holds its prefetch (its queue to the client is full); then it vanishes
    // without a close frame.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(stalled);
    let mut c = gw.connect("/rabbit").await;
    let id = c.subscribe(group_sub("bulk", &group, 0)).await;
    let mut seen = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < 120 && tokio::time::Instant::now() < deadline {
        let ms = c.pushed_within(id, Duration::from_millis(500)).await;
        for m in &ms {
            let v = value_of(m);
            seen.insert(v[16 * 1024..].to_string());
        }
        if !ms.is_empty() {
            ack(&mut c, id, &ms).await;
        }
    }
    assert_eq!(
        seen.len(),
        120,
        "every message reached the remaining member"
    );
    assert_eq!(
        consumer_count(&ch, &queue).await,
        1,
        "the vanished member's consumer is gone"
    );
    gw.stop().await;
}

#[tokio::test]
async fn amqps_with_the_routes_ca_publishes_and_an_unknown_ca_is_refused_with_503() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.tls");
    let q = plain_queue(&ch, &ex, "secure.#").await;
    let mut plain = consume(&ch, &q, true).await;
    let pki = certs::make_pki();
    let tls = TlsTerminator::start(&pki.cert, &pki.key);
    let node = format!("127.0.0.1:{}", tls.port);
    let with_ca = route("/tls", &node, &ex, "").replace(
        "      rabbitmq:",
        &format!(
            "      tls: {{ ca_file: \"{}\" }}\n      rabbitmq:",
            pki.ca.display()
        ),
    );
    let without_ca = route("/untrusted", &node, &ex, "").replace(
        "      rabbitmq:",
        "      tls: { verify: true }\n      rabbitmq:",
    );
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&with_ca).await;
    let mut c = gw.connect("/tls").await;
    c.produce_value("secure.1", "over amqps").await;
    assert_eq!(next_delivery(&mut plain).await.data, b"over amqps");
    let gw2 = Gateway::start(&without_ca).await;
    let mut c2 = gw2.connect("/untrusted").await;
    let (code, msg) = error_of(
        c2.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "secure.2".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(
        code, 503,
        "a certificate no trusted CA signed is refused: {msg}"
    );
    gw.stop().await;
    gw2.stop().await;
}

#[tokio::test]
async fn stream_group_resumes_from_its_committed_offset_with_one_active_member_at_a_time() {
    // Fails loudly when the broker is missing.
    let _amqp = oracle().await;
    let ex = unique("gwt.sgrp");
    let stream = format!("{ex}.log");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![stream.clone()],
    };
    let gw = Gateway::start(&stream_route("/log", AMQP, &ex, &stream)).await;
    let mut a = gw.connect("/log").await;
    for i in 0..5 {
        a.produce_value("g.x", &format!("m{i}")).await;
    }
    let ida = a
        .subscribe(CmdKafkaSubscribe {
            group: "readers".into(),
            ..start("g.#", StartPosition::Earliest, 0)
        })
        .await;
    assert_eq!(offsets_of(&a.pushed(ida, 5).await), [0, 1, 2, 3, 4]);
    a.commit(ida, &[("g.x", 0, 3)]).await;
    // A second member waits while the first reads, and may not commit.
    let mut b = gw.connect("/log").await;
    let idb = b
        .subscribe(CmdKafkaSubscribe {
            group: "readers".into(),
            ..start("g.#", StartPosition::Latest, 0)
        })
        .await;
    a.produce_value("g.x", "m5").await;
    assert_eq!(offsets_of(&a.pushed(ida, 1).await), [5]);
    assert!(b
        .pushed_within(idb, Duration::from_millis(700))
        .await
        .is_empty());
    let (code, msg) = error_of(
        b.request(Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: idb,
            offsets: vec![KafkaPartitionOffset {
                topic: "g.x".into(),
                partition: 0,
                offset: 6,
            }],
        }))
        .await,
    );
    assert_eq!(code, 409, "{msg}");
    // The first member leaves: the second takes over from the committed offset (3), so what
    // was not committed is read again, and its own start position (LATEST) does not apply.
    a.disconnect().await;
    assert_eq!(offsets_of(&b.pushed(idb, 3).await), [3, 4, 5]);
    // A plain stream subscription has nothing to commit.
    let plain = b.subscribe(start("g.#", StartPosition::Latest, 0)).await;
    let (code, msg) = error_of(
        b.request(Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: plain,
            offsets: vec![],
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    gw.stop().await;
}

fn rabbit_list_offset(topic: &str, timestamp: i64) -> Req {
    Req::CmdKafkaListOffset(CmdKafkaListOffset {
        topic: topic.into(),
        partition: 0,
        timestamp,
    })
}

fn offset_in(r: Resp) -> i64 {
    match r {
        Resp::KafkaListOffsetResp(o) => o.offset,
        other => panic!("expected an offset, got {other:?}"),
    }
}

/// Offsets of the topic's messages as a plain stream consumer from `first` reads them.
async fn oracle_offsets(amqp: &lapin::Connection, stream: &str, topic: &str, n: usize) -> Vec<i64> {
    let ch = channel(amqp).await;
    ch.basic_qos(50, Default::default()).await.expect("qos");
    let mut args = lapin::types::FieldTable::default();
    args.insert(
        "x-stream-offset".into(),
        lapin::types::AMQPValue::LongString("first".into()),
    );
    let mut plain = ch
        .basic_consume(stream.into(), "".into(), Default::default(), args)
        .await
        .expect("consume the stream");
    let mut out = Vec::new();
    for _ in 0..n {
        let d = next_delivery(&mut plain).await;
        d.acker.ack(BasicAckOptions::default()).await.expect("ack");
        let off = match d
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get("x-stream-offset").cloned())
        {
            Some(lapin::types::AMQPValue::LongLongInt(n)) => n,
            other => panic!("no stream offset: {other:?}"),
        };
        if d.routing_key.as_str() == topic {
            out.push(off);
        }
    }
    let _ = ch.close(200, "done".into()).await;
    out
}

#[tokio::test]
async fn stream_route_fetches_by_offset_and_lists_offsets_as_a_plain_stream_consumer_sees_them() {
    let amqp = oracle().await;
    let ex = unique("gwt.sfetch");
    let stream = format!("{ex}.log");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![stream.clone()],
    };
    let gw = Gateway::start(&stream_route("/log", AMQP, &ex, &stream)).await;
    let mut c = gw.connect("/log").await;
    let info = route_info_of(c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await);
    let caps = info.capabilities.expect("capabilities");
    assert!(caps.history && caps.fetch && caps.offsets && caps.time_lookup && caps.commit);
    assert!(caps.groups && !caps.ack && !caps.nack);

    for (t, v) in [
        ("f.a", "a0"),
        ("f.b", "b0"),
        ("f.a", "a1"),
        ("f.b", "b1"),
        ("f.a", "a2"),
    ] {
        c.produce_value(t, v).await;
    }
    assert_eq!(oracle_offsets(&amqp, &stream, "f.a", 5).await, [0, 2, 4]);
    assert_eq!(offset_in(c.request(rabbit_list_offset("f.a", -2)).await), 0);
    assert_eq!(offset_in(c.request(rabbit_list_offset("f.a", -1)).await), 5);

    let got = c.fetch(fetch_cmd("f.a", 0, 0)).await;
    assert_eq!(values(&got), ["a0", "a1", "a2"]);
    assert_eq!(offsets_of(&got), [0, 2, 4]);
    let got = c.fetch(fetch_cmd("f.a", 0, 1)).await;
    assert_eq!(offsets_of(&got), [2, 4]);
    let got = c.fetch(fetch_cmd("f.b", 0, 2)).await;
    assert_eq!(values(&got), ["b1"]);
    let got = c
        .fetch(CmdKafkaFetch {
            max_messages: 2,
            ..fetch_cmd("f.a", 0, 0)
        })
        .await;
    assert_eq!(offsets_of(&got), [0, 2], "max_messages bounds the fetch");
    assert!(c.fetch(fetch_cmd("f.a", 0, 5)).await.is_empty());
    let (code, msg) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd("f.a", 0, 6))).await);
    assert_eq!(code, 416, "{msg}");

    match c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "f.a".into(),
        }))
        .await
    {
        Resp::KafkaMetadataResp(m) => {
            assert_eq!(m.partitions.len(), 1);
            assert_eq!((m.partitions[0].earliest, m.partitions[0].latest), (0, 5));
        }
        other => panic!("{other:?}"),
    }

    // By time: after a pause, the first message of the topic published after the time.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    c.produce_value("f.b", "b2").await;
    c.produce_value("f.a", "a3").await;
    assert_eq!(oracle_offsets(&amqp, &stream, "f.a", 7).await, [0, 2, 4, 6]);
    assert_eq!(offset_in(c.request(rabbit_list_offset("f.a", t)).await), 6);
    assert_eq!(offset_in(c.request(rabbit_list_offset("f.b", t)).await), 5);
    assert_eq!(
        offset_in(c.request(rabbit_list_offset("f.a", t + 60_000)).await),
        -1
    );
    assert_eq!(offset_in(c.request(rabbit_list_offset("f.a", -1)).await), 7);

    // Long poll at the end: the next message of the topic ends the wait.
    let seq = c
        .send(Req::CmdKafkaFetch(CmdKafkaFetch {
            max_wait_ms: 5000,
            ..fetch_cmd("f.a", 0, 7)
        }))
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut p = gw.connect("/log").await;
    p.produce_value("f.a", "a4").await;
    match c.reply(seq).await {
        Resp::KafkaFetchResp(f) => {
            assert_eq!(f.messages.iter().map(|m| m.offset).collect::<Vec<_>>(), [7]);
        }
        other => panic!("{other:?}"),
    }
    // A long poll that times out answers nothing; no reader outlives its fetch.
    let started = std::time::Instant::now();
    let got = c
        .fetch(CmdKafkaFetch {
            max_wait_ms: 400,
            ..fetch_cmd("f.a", 0, 8)
        })
        .await;
    assert!(got.is_empty() && started.elapsed() >= Duration::from_millis(400));
    let ch = channel(&amqp).await;
    assert_eq!(
        consumer_count(&ch, &stream).await,
        0,
        "every fetch reader is cancelled"
    );
    let (code, msg) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd("f.a", 1, 0))).await);
    assert_eq!(code, 404, "{msg}");
    ping(&mut c).await;
    gw.stop().await;
}

fn route_info_of(r: Resp) -> RouteInfoResp {
    match r {
        Resp::RouteInfoResp(i) => i,
        other => panic!("expected route info, got {other:?}"),
    }
}
