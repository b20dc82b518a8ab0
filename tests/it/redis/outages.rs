//! Outages on a private redis-server: lost connections, a stopped server, an unreachable one,
//! vanished clients, credentials and TLS.

use super::*;

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
    let id = c.subscribe(sub_from("tls", Start::Earliest)).await;
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
