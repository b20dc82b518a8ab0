//! Pub/sub mode: channels and patterns, shared subscriptions, stalled subscribers.

use super::*;

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
        c.request(Req::CmdKafkaSubscribe(sub_from(&channel, Start::Earliest)))
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
