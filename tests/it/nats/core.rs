//! Core NATS: headers, wildcards, queue groups, capabilities, bad input, replicas, outages.

use super::*;

#[tokio::test]
async fn core_headers_travel_both_ways_multi_valued() {
    let nc = oracle().await;
    let subject = unique("gwt.core.h").replace('_', ".");
    let gw = Gateway::start(&core_route("/chat", NATS)).await;
    let mut c = gw.connect("/chat").await;

    // Gateway -> plain NATS.
    let mut plain = nc.subscribe(subject.clone()).await.unwrap();
    settle(&nc).await;
    let r = c
        .produce(CmdKafkaProduce {
            topic: subject.clone(),
            value: "from-gw".as_bytes().to_vec().into(),
            headers: vec![header("X-A", "1"), header("X-A", "2"), header("X-B", "b")],
            ..Default::default()
        })
        .await;
    assert_eq!(r.offset, -1, "core NATS has no positions");
    let m = next_plain(&mut plain).await;
    assert_eq!(&m.payload[..], b"from-gw");
    let h = m.headers.expect("headers arrive");
    let xa: Vec<_> = h.get_all("X-A").map(|v| v.as_str().to_owned()).collect();
    assert_eq!(xa, ["1", "2"]);
    assert_eq!(h.get("X-B").map(|v| v.as_str()), Some("b"));

    // Plain NATS -> gateway.
    let id = c.subscribe(sub(&subject)).await;
    let mut hm = async_nats::HeaderMap::new();
    hm.append("X-C", "x");
    hm.append("X-C", "y");
    nc.publish_with_headers(subject.clone(), hm, "from-nats".into())
        .await
        .unwrap();
    settle(&nc).await;
    let got = c.pushed(id, 1).await;
    assert_eq!(values(&got), ["from-nats"]);
    assert_eq!(got[0].topic, subject);
    let xc: Vec<_> = got[0]
        .headers
        .iter()
        .filter(|h| h.key == "X-C")
        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
        .collect();
    assert_eq!(xc, ["x", "y"]);
    gw.stop().await;
}

#[tokio::test]
async fn core_wildcards_deliver_matching_subjects_and_share_one_nats_subscription() {
    let nc = oracle().await;
    let base = unique("gwt.core.w").replace('_', ".");
    let gw = Gateway::start(&core_route("/chat", NATS)).await;
    let mut a = gw.connect("/chat").await;
    let mut b = gw.connect("/chat").await;
    let star = a.subscribe(sub(&format!("{base}.*"))).await;
    let star_b = b.subscribe(sub(&format!("{base}.*"))).await;
    let rest = b.subscribe(sub(&format!("{base}.>"))).await;
    for s in ["x", "y.z", "q"] {
        nc.publish(format!("{base}.{s}"), s.to_owned().into())
            .await
            .unwrap();
    }
    settle(&nc).await;
    assert_eq!(values(&a.pushed(star, 2).await), ["x", "q"]);
    assert_eq!(values(&b.pushed(star_b, 2).await), ["x", "q"]);
    assert_eq!(values(&b.pushed(rest, 3).await), ["x", "y.z", "q"]);
    assert!(a
        .pushed_within(star, Duration::from_millis(300))
        .await
        .is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn core_group_is_a_queue_group_shared_with_plain_nats_subscribers() {
    let nc = oracle().await;
    let subject = unique("gwt.core.q").replace('_', ".");
    let queue = unique("workers");
    let gw = Gateway::start(&core_route("/chat", NATS)).await;
    let mut a = gw.connect("/chat").await;
    let mut b = gw.connect("/chat").await;
    let ida = a
        .subscribe(CmdKafkaSubscribe {
            group: queue.clone(),
            ..sub(&subject)
        })
        .await;
    let idb = b
        .subscribe(CmdKafkaSubscribe {
            group: queue.clone(),
            ..sub(&subject)
        })
        .await;
    let peer = oracle().await;
    let mut plain = peer
        .queue_subscribe(subject.clone(), queue.clone())
        .await
        .unwrap();
    settle(&peer).await;
    let n = 60;
    for i in 0..n {
        nc.publish(subject.clone(), i.to_string().into())
            .await
            .unwrap();
    }
    settle(&nc).await;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let (mut na, mut nb, mut np) = (0, 0, 0);
    while seen.len() < n && tokio::time::Instant::now() < deadline {
        for m in a.pushed_within(ida, Duration::from_millis(100)).await {
            na += 1;
            seen.push(value_of(&m));
        }
        for m in b.pushed_within(idb, Duration::from_millis(100)).await {
            nb += 1;
            seen.push(value_of(&m));
        }
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(50), plain.next()).await
        {
            np += 1;
            seen.push(String::from_utf8_lossy(&m.payload).into_owned());
        }
    }
    seen.sort_by_key(|v| v.parse::<i32>().unwrap());
    let want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    assert_eq!(
        seen, want,
        "each message exactly once across the queue group"
    );
    assert!(
        na > 0 && nb > 0 && np > 0,
        "all three members got some: {na} {nb} {np}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn core_route_says_what_it_can_do_and_refuses_history_with_capability_errors() {
    let gw = Gateway::start(&core_route("/chat", NATS)).await;
    let mut c = gw.connect("/chat").await;
    let info = route_info(c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await);
    assert_eq!(info.scheme, "nats");
    let caps = info.capabilities.unwrap();
    assert!(!caps.history && !caps.fetch && !caps.ack && caps.groups && caps.headers);
    assert_eq!(caps.starts, [StartPosition::Latest as i32]);
    assert_eq!(caps.wildcards, "nats");

    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(sub_from(
            "gwt.core.e",
            Start::Earliest,
        )))
        .await,
    );
    assert_eq!(code, 400);
    assert!(
        msg.contains("start EARLIEST needs history") && msg.contains("core NATS"),
        "{msg}"
    );
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("gwt.core.e", 0, 0)))
            .await,
    );
    assert_eq!(code, 400);
    assert!(
        msg.contains("fetch needs history") && msg.contains("/chat"),
        "{msg}"
    );
    let (code, _) = error_of(
        c.request(Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: "gwt.core.e".into(),
            partition: 0,
            timestamp: -1,
        }))
        .await,
    );
    assert_eq!(code, 400);
    // The connection lives.
    c.produce_value("gwt.core.e", "still here").await;
    gw.stop().await;
}

#[tokio::test]
async fn bad_subjects_and_oversized_payloads_answer_400_and_the_connection_lives() {
    let gw = Gateway::start(&core_route("/chat", NATS)).await;
    let mut c = gw.connect("/chat").await;
    for bad in ["a..b", "a b", ".a", "a.*", "a.>", "$JS.API.STREAM.LIST"] {
        let (code, msg) = error_of(
            c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: bad.into(),
                value: "x".as_bytes().to_vec().into(),
                ..Default::default()
            }))
            .await,
        );
        assert_eq!(code, 400, "{bad}: {msg}");
        assert!(msg.contains("invalid NATS subject"), "{msg}");
    }
    for bad in ["a.>.b", "a*", "a..*"] {
        let (code, _) = error_of(c.request(Req::CmdKafkaSubscribe(sub(bad))).await);
        assert_eq!(code, 400, "{bad}");
    }
    let nc = oracle().await;
    let max = nc.server_info().max_payload;
    // The gateway's own frame limit must let the oversized message through to be judged.
    let gw2 = Gateway::start(&format!(
        "server:\n  limits: {{ max_frame_bytes: {} }}\n{}",
        max * 2 + 4096,
        core_route("/chat", NATS)
    ))
    .await;
    let mut c2 = gw2.connect("/chat").await;
    let (code, msg) = error_of(
        c2.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "gwt.big".into(),
            value: vec![b'x'; max + 1].into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400);
    assert!(msg.contains("max_payload"), "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "gwt.h".into(),
            value: "x".as_bytes().to_vec().into(),
            headers: vec![header("bad key", "v")],
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    c.produce_value("gwt.ok", "fine").await;
    c2.produce_value("gwt.ok", "fine").await;
    gw.stop().await;
    gw2.stop().await;
}

#[tokio::test]
async fn two_gateways_on_one_nats_server_are_replicas() {
    let nc = oracle().await;
    let subject = unique("gwt.two").replace('_', ".");
    let stream = unique("GWT_TWO");
    let one = Gateway::start(&core_route("/chat", NATS)).await;
    let two = Gateway::start(&core_route("/chat", NATS)).await;
    let mut a = one.connect("/chat").await;
    let mut b = two.connect("/chat").await;
    let id = b.subscribe(sub(&subject)).await;
    a.produce_value(&subject, "across").await;
    assert_eq!(values(&b.pushed(id, 1).await), ["across"]);

    let js_subject = unique("gwt.twojs").replace('_', ".");
    let route = js_route("/js", NATS, &stream, &js_subject, "");
    let one = Gateway::start(&route).await;
    let two = Gateway::start(&route).await;
    let mut a = one.connect("/js").await;
    let mut b = two.connect("/js").await;
    let r = a.produce_value(&format!("{js_subject}.x"), "stored").await;
    let id = b
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..sub(&format!("{js_subject}.>"))
        })
        .await;
    let got = b.pushed(id, 1).await;
    assert_eq!(values(&got), ["stored"]);
    assert_eq!(got[0].offset, r.offset);
    delete_stream(&nc, &stream).await;
}

#[tokio::test]
async fn unreachable_server_answers_503_within_the_connect_timeout() {
    let port = free_port();
    let gw = Gateway::start(&core_route("/chat", &format!("127.0.0.1:{port}"))).await;
    let mut c = gw.connect("/chat").await;
    let started = std::time::Instant::now();
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "gwt.down".into(),
            value: "x".as_bytes().to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert!(matches!(code, 502..=504), "{code} {msg}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (code, _) = error_of(c.request(Req::CmdKafkaSubscribe(sub("gwt.down"))).await);
    assert!(matches!(code, 502..=504));
    // The connection lives, and the route recovers by itself once a server is there.
    let mut server = PrivateServer::start_on(port).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match c
            .request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "gwt.down".into(),
                value: "x".as_bytes().to_vec().into(),
                ..Default::default()
            }))
            .await
        {
            Resp::KafkaProduceResp(_) => break,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "not recovered: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.kill();
    gw.stop().await;
}

#[tokio::test]
async fn wildcard_subscriptions_deliver_only_subjects_the_acl_allows() {
    let nc = oracle().await;
    let base = unique("gwt.acl").replace('_', ".");
    let re = regex_escape(&base);
    let yaml = format!(
        "{}    plugins:\n      topic-acl: {{ read: ['{re}\\.(\\*|pub.*)'], write: ['.*'] }}\n",
        core_route("/chat", NATS)
    );
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/chat").await;
    let id = c.subscribe(sub(&format!("{base}.*"))).await;
    let (code, _) = error_of(
        c.request(Req::CmdKafkaSubscribe(sub(&format!("{base}.secret"))))
            .await,
    );
    assert_eq!(code, 403);
    for s in ["secret", "pub1", "other", "pub2"] {
        nc.publish(format!("{base}.{s}"), s.to_owned().into())
            .await
            .unwrap();
    }
    settle(&nc).await;
    let got = c.pushed(id, 2).await;
    assert_eq!(values(&got), ["pub1", "pub2"]);
    assert!(c
        .pushed_within(id, Duration::from_millis(300))
        .await
        .is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn core_subscriptions_come_back_by_themselves_after_a_server_restart() {
    let mut server = PrivateServer::start().await;
    let gw = Gateway::start(&core_route("/chat", &server.addr())).await;
    let mut c = gw.connect("/chat").await;
    let id = c.subscribe(sub("gwt.back.*")).await;
    server.kill();
    server.restart().await;
    let peer = async_nats::connect(server.addr()).await.unwrap();
    // Core NATS keeps nothing: what is published before the gateway is back is gone, so publish
    // until one arrives.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscription did not come back"
        );
        peer.publish("gwt.back.x", "again".into()).await.unwrap();
        settle(&peer).await;
        let got = c.pushed_within(id, Duration::from_millis(200)).await;
        if !got.is_empty() {
            assert!(values(&got).iter().all(|v| v == "again"));
            break;
        }
    }
    gw.stop().await;
}
