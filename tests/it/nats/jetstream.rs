//! JetStream: sequences as offsets, headers, start positions, missing streams, restarts and
//! resets, TLS (consumers and acknowledgements are in jetstream_consumers.rs).

use super::*;

#[tokio::test]
async fn jetstream_publish_answers_the_sequence_and_fetch_offsets_metadata_hold_at_the_edges() {
    let js = Js::start("").await;
    let t = js.subject("a");
    let mut c = js.gw.connect("/js").await;
    let info = route_info(c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await);
    assert_eq!(info.scheme, "nats-jetstream");
    let caps = info.capabilities.unwrap();
    assert!(caps.history && caps.fetch && caps.ack && caps.nack && caps.epochs && !caps.commit);
    assert_eq!(caps.starts, (0..=5).collect::<Vec<i32>>());

    let before = now_ms();
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(c.produce_value(&t, &format!("m{i}")).await.offset);
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    // Plain JetStream sees the same sequences.
    let jsc = async_nats::jetstream::new(js.nc.clone());
    let mut stream = jsc.get_stream(&js.stream).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.last_sequence, 5);

    let all = c.fetch(fetch_cmd(&t, 0, 1)).await;
    assert_eq!(offsets_of(&all), [1, 2, 3, 4, 5]);
    assert!(all
        .iter()
        .all(|m| m.epoch > 0 && m.partition == 0 && m.topic == t));
    let two = c
        .fetch(CmdKafkaFetch {
            max_messages: 2,
            ..fetch_cmd(&t, 0, 3)
        })
        .await;
    assert_eq!(values(&two), ["m2", "m3"]);
    assert!(
        c.fetch(fetch_cmd(&t, 0, 6)).await.is_empty(),
        "at the end: empty"
    );
    let (code, msg) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd(&t, 0, 7))).await);
    assert_eq!(code, 416, "{msg}");
    let (code, _) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd(&t, 0, 0))).await);
    assert_eq!(code, 416);
    let (code, _) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd(&t, 1, 1))).await);
    assert_eq!(code, 404, "partition 1 does not exist on NATS");

    assert_eq!(offset_of(c.request(list_offset(&t, -2)).await), 1);
    assert_eq!(offset_of(c.request(list_offset(&t, -1)).await), 6);
    assert_eq!(
        offset_of(c.request(list_offset(&t, before - 60_000)).await),
        1
    );
    assert_eq!(
        offset_of(c.request(list_offset(&t, now_ms() + 60_000)).await),
        -1
    );
    let third = all[2].timestamp;
    let at = offset_of(c.request(list_offset(&t, third)).await);
    assert!(at <= 3 && all[(at - 1) as usize].timestamp >= third, "{at}");

    match c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata { topic: t.clone() }))
        .await
    {
        Resp::KafkaMetadataResp(m) => {
            assert_eq!(m.partitions.len(), 1);
            assert_eq!((m.partitions[0].earliest, m.partitions[0].latest), (1, 6));
            assert_eq!(m.partitions[0].epoch, all[0].epoch, "the stream's epoch");
        }
        other => panic!("{other:?}"),
    }

    // Long poll at the end: answered by the next message.
    let seq = c
        .send(Req::CmdKafkaFetch(CmdKafkaFetch {
            max_wait_ms: 5_000,
            ..fetch_cmd(&t, 0, 6)
        }))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    jsc.publish(t.clone(), "late".into())
        .await
        .unwrap()
        .await
        .unwrap();
    match c.reply(seq).await {
        Resp::KafkaFetchResp(r) => assert_eq!(values(&r.messages), ["late"]),
        other => panic!("{other:?}"),
    }
    js.end().await;
}

#[tokio::test]
async fn jetstream_headers_interoperate_with_plain_jetstream_clients() {
    let js = Js::start("").await;
    let t = js.subject("h");
    let mut c = js.gw.connect("/js").await;
    let id = c.subscribe(sub_from(&t, Start::Earliest)).await;
    let jsc = async_nats::jetstream::new(js.nc.clone());
    let mut hm = async_nats::HeaderMap::new();
    hm.append("X-K", "1");
    hm.append("X-K", "2");
    let ack = jsc
        .publish_with_headers(t.clone(), hm, "plain".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let got = c.pushed(id, 1).await;
    assert_eq!(got[0].offset as u64, ack.sequence);
    let ks: Vec<_> = got[0]
        .headers
        .iter()
        .filter(|h| h.key == "X-K")
        .map(|h| h.value.to_vec())
        .collect();
    assert_eq!(ks, [b"1".to_vec(), b"2".to_vec()]);
    // Gateway -> a plain consumer of the stream.
    let r = c
        .produce(CmdKafkaProduce {
            topic: t.clone(),
            value: "gw".as_bytes().to_vec().into(),
            headers: vec![header("X-G", "a"), header("X-G", "b")],
            ..Default::default()
        })
        .await;
    let stream = jsc.get_stream(&js.stream).await.unwrap();
    let reader = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::ByStartSequence {
                start_sequence: r.offset as u64,
            },
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = reader.fetch().max_messages(1).messages().await.unwrap();
    let m = batch.next().await.expect("stored").unwrap();
    assert_eq!(&m.payload[..], b"gw");
    let g: Vec<_> = m
        .headers
        .as_ref()
        .expect("headers stored")
        .get_all("X-G")
        .map(|v| v.as_str().to_owned())
        .collect();
    assert_eq!(g, ["a", "b"]);
    js.end().await;
}

#[tokio::test]
async fn jetstream_subscribe_honours_every_start_position() {
    let js = Js::start("").await;
    let t = js.subject("s");
    let mut c = js.gw.connect("/js").await;
    for i in 1..=3 {
        c.produce_value(&t, &format!("m{i}")).await;
        // Distinct millisecond timestamps, so TIMESTAMP has one answer.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = c.fetch(fetch_cmd(&t, 0, 1)).await;
    let ts2 = all[1].timestamp;
    let starts = [
        (StartPosition::Earliest, 0, vec!["m1", "m2", "m3"]),
        (StartPosition::Last, 0, vec!["m3"]),
        (StartPosition::Offset, 2, vec!["m2", "m3"]),
        (StartPosition::Timestamp, ts2, vec!["m2", "m3"]),
        (StartPosition::TimeDelta, 3_600_000, vec!["m1", "m2", "m3"]),
        (StartPosition::Latest, 0, vec![]),
    ];
    let mut ids = Vec::new();
    for (start, value, _) in &starts {
        ids.push(
            c.subscribe(CmdKafkaSubscribe {
                start: *start as i32,
                start_value: *value,
                ..sub(&t)
            })
            .await,
        );
    }
    c.produce_value(&t, "m4").await;
    for ((start, _, want), id) in starts.iter().zip(ids) {
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.push("m4".into());
        let got = c.pushed(id, want.len()).await;
        assert_eq!(values(&got), want, "{start:?}");
        assert!(c
            .pushed_within(id, Duration::from_millis(100))
            .await
            .is_empty());
    }
    let (code, _) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            start: StartPosition::Offset as i32,
            start_value: 99,
            ..sub(&t)
        }))
        .await,
    );
    assert_eq!(code, 416);
    js.end().await;
}

#[tokio::test]
async fn jetstream_missing_stream_answers_404_and_is_not_created() {
    let nc = oracle().await;
    let stream = unique("GWT_MISSING");
    let gw = Gateway::start(&format!(
        "routes:\n  - uri: /js\n    upstream:\n      scheme: nats\n      nodes: [\"{NATS}\"]\n      nats: {{ stream: {stream} }}\n"
    ))
    .await;
    let mut c = gw.connect("/js").await;
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("gwt.none", 0, 1)))
            .await,
    );
    assert_eq!(code, 404, "{msg}");
    assert!(
        msg.contains(&stream) && msg.contains("does not exist"),
        "{msg}"
    );
    let (code, _) = error_of(c.request(Req::CmdKafkaSubscribe(sub("gwt.none"))).await);
    assert_eq!(code, 404);
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "gwt.none".into(),
            value: "x".as_bytes().to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 404, "{msg}");
    let jsc = async_nats::jetstream::new(nc.clone());
    assert!(
        jsc.get_stream(&stream).await.is_err(),
        "the gateway made no stream"
    );
    // The connection lives.
    let pong = c
        .request(Req::CmdPing(CmdPing {
            state: b"ok".to_vec().into(),
        }))
        .await;
    assert!(matches!(pong, Resp::PongResp(_)), "{pong:?}");
    gw.stop().await;
}

#[tokio::test]
async fn jetstream_resume_into_a_recreated_stream_starts_over_with_reset() {
    let js = Js::start("").await;
    let t = js.subject("e");
    let mut c = js.gw.connect("/js").await;
    c.produce_value(&t, "old1").await;
    c.produce_value(&t, "old2").await;
    let old = c.fetch(fetch_cmd(&t, 0, 1)).await;
    let old_epoch = old[0].epoch;
    delete_stream(&js.nc, &js.stream).await;
    // The route makes the stream again on the next publish: a new epoch.
    let gw2 = Gateway::start(&js_route("/js", NATS, &js.stream, &js.base, "")).await;
    let mut c2 = gw2.connect("/js").await;
    c2.produce_value(&t, "new1").await;
    c2.produce_value(&t, "new2").await;
    c2.produce_value(&t, "new3").await;
    let seq = c2
        .send(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            start: StartPosition::Offset as i32,
            start_value: 3,
            start_epoch: old_epoch,
            ..sub(&t)
        }))
        .await;
    let id = match c2.reply(seq).await {
        Resp::KafkaSubscribeResp(r) => r.subscription_id,
        other => panic!("{other:?}"),
    };
    let frame = loop {
        let f = c2.recv_frame().await;
        if let Some(Resp::KafkaPush(p)) = f.resp {
            if p.subscription_id == id {
                break p;
            }
        }
    };
    assert!(frame.reset, "first push says reset");
    let mut got = values(&frame.messages);
    if got.len() < 3 {
        got.extend(values(&c2.pushed(id, 3 - got.len()).await));
    }
    assert_eq!(
        got,
        ["new1", "new2", "new3"],
        "from the new stream's beginning"
    );
    assert_ne!(frame.messages[0].epoch, old_epoch);
    gw2.stop().await;
    js.end().await;
}

#[tokio::test]
async fn jetstream_subscription_survives_a_server_restart_without_loss() {
    let mut server = PrivateServer::start().await;
    let stream = unique("GWT_OUT");
    let base = "gwt.out";
    let t = format!("{base}.x");
    let gw = Gateway::start(&js_route("/js", &server.addr(), &stream, base, "")).await;
    let mut c = gw.connect("/js").await;
    let mut pub_c = gw.connect("/js").await;
    let plain = c.subscribe(sub_from(&t, Start::Earliest)).await;
    let group = c
        .subscribe(CmdKafkaSubscribe {
            group: "survivors".into(),
            start: StartPosition::Earliest as i32,
            ..sub(&t)
        })
        .await;
    for i in 1..=3 {
        pub_c.produce_value(&t, &format!("m{i}")).await;
    }
    assert_eq!(values(&c.pushed(plain, 3).await), ["m1", "m2", "m3"]);
    let g = c.pushed(group, 3).await;
    let r = c
        .request(Req::CmdAck(CmdAck {
            subscription_id: group,
            positions: positions(&t, &offsets_of(&g)),
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");

    server.kill();
    let (code, _) = error_of(
        pub_c
            .request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: t.clone(),
                value: "lost?".as_bytes().to_vec().into(),
                ..Default::default()
            }))
            .await,
    );
    assert!(matches!(code, 502..=504), "{code}");
    server.restart().await;
    // Publishes succeed again once the gateway has reconnected by itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut sent = 0;
    while sent < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gateway did not recover"
        );
        match pub_c
            .request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: t.clone(),
                value: format!("n{}", sent + 1).into_bytes().into(),
                ..Default::default()
            }))
            .await
        {
            Resp::KafkaProduceResp(_) => sent += 1,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let after = tokio::time::timeout(Duration::from_secs(30), c.pushed(plain, 3))
        .await
        .expect("plain subscription resumed after the restart");
    assert_eq!(values(&after), ["n1", "n2", "n3"]);
    // A hard kill may lose the server's record of the last acks (it writes consumer state
    // lazily): those come again (at least once), and nothing is lost.
    let mut got: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !["n1", "n2", "n3"]
        .iter()
        .all(|n| got.iter().any(|g| g == n))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "group got only {got:?}"
        );
        let batch = c.pushed_within(group, Duration::from_millis(200)).await;
        if !batch.is_empty() {
            let r = c
                .request(Req::CmdAck(CmdAck {
                    subscription_id: group,
                    positions: positions(&t, &offsets_of(&batch)),
                }))
                .await;
            assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
        }
        got.extend(values(&batch));
    }
    assert!(
        got.iter()
            .all(|v| ["m1", "m2", "m3", "n1", "n2", "n3"].contains(&v.as_str())),
        "{got:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn jetstream_route_looks_up_each_subjects_stream_and_answers_404_without_one() {
    let nc = oracle().await;
    let stream = unique("GWT_LOOKUP");
    let base = unique("gwt.lookup").replace('_', ".");
    let jsc = async_nats::jetstream::new(nc.clone());
    jsc.create_stream(async_nats::jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![format!("{base}.>")],
        ..Default::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&format!(
        "routes:\n  - uri: /js\n    upstream:\n      scheme: nats\n      nodes: [\"{NATS}\"]\n      nats: {{ jetstream: true }}\n"
    ))
    .await;
    let mut c = gw.connect("/js").await;
    let info = route_info(c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await);
    assert_eq!(info.scheme, "nats-jetstream");
    let t = format!("{base}.a");
    assert_eq!(c.produce_value(&t, "found").await.offset, 1);
    assert_eq!(values(&c.fetch(fetch_cmd(&t, 0, 1)).await), ["found"]);
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd(
            &format!("{base}x.none"),
            0,
            1,
        )))
        .await,
    );
    assert_eq!(code, 404, "{msg}");
    assert!(msg.contains("no JetStream stream holds subject"), "{msg}");
    delete_stream(&nc, &stream).await;
    gw.stop().await;
}

#[tokio::test]
async fn tls_upstream_verifies_the_server_with_the_route_ca() {
    let pki = certs::make_pki();
    let cert = pki.cert.display().to_string();
    let key = pki.key.display().to_string();
    let server = PrivateServer::start_with(&["--tls", "--tlscert", &cert, "--tlskey", &key]).await;
    let route = |uri: &str, tls: &str| {
        format!(
            "  - uri: {uri}\n    upstream:\n      scheme: nats\n      nodes: [\"{}\"]\n      timeout: {{ connect: 2, send: 3, read: 3 }}\n      tls: {{ {tls} }}\n",
            server.addr()
        )
    };
    let yaml = format!(
        "routes:\n{}{}",
        route("/tls", &format!("ca_file: \"{}\"", pki.ca.display())),
        route("/untrusted", "verify: true")
    );
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/tls").await;
    let id = c.subscribe(sub("gwt.tls")).await;
    c.produce_value("gwt.tls", "sealed").await;
    assert_eq!(values(&c.pushed(id, 1).await), ["sealed"]);
    // Without the CA the server's certificate is not trusted: no connection, 503 in time.
    let mut u = gw.connect("/untrusted").await;
    let started = std::time::Instant::now();
    let (code, msg) = error_of(
        u.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "gwt.tls".into(),
            value: "x".as_bytes().to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert!(matches!(code, 502..=504), "{code} {msg}");
    assert!(started.elapsed() < Duration::from_secs(5));
    gw.stop().await;
}
