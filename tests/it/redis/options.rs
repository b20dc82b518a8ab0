//! Route options: trimming, database, ACL users, persistence across a restart.

use super::*;

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
    let id = c.subscribe(sub_from(&key, Start::Earliest)).await;
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
