//! Plain publishing and subscribing on an exchange: interop with plain clients, one queue per
//! routing key, wildcard bindings, mandatory publishes, hostile input, capabilities, config.

use super::*;

#[tokio::test]
async fn publish_reaches_a_plain_consumer_with_headers_properties_and_key_as_message_id() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.pub");
    let q = plain_queue(&ch, &ex, "game.*.score").await;
    let mut plain = consume(&ch, &q, true).await;
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    let r = c
        .produce(CmdKafkaProduce {
            topic: "game.7.score".into(),
            key: b"msg-1".to_vec().into(),
            value: b"{\"score\":42}".to_vec().into(),
            timestamp: 1_700_000_123_456,
            headers: vec![
                header("player", "alice"),
                header("amqp-content-type", "application/json"),
                header("amqp-content-encoding", "identity"),
                header("amqp-correlation-id", "corr-9"),
                header("amqp-reply-to", "replies"),
                header("amqp-expiration", "60000"),
                header("amqp-priority", "7"),
                header("amqp-type", "score"),
                header("amqp-app-id", "game-server"),
            ],
            ..Default::default()
        })
        .await;
    assert_eq!((r.partition, r.offset), (0, -1), "AMQP has no position");
    let d = next_delivery(&mut plain).await;
    assert_eq!(d.data, b"{\"score\":42}");
    assert_eq!(d.routing_key.as_str(), "game.7.score");
    let p = &d.properties;
    assert_eq!(p.message_id().as_ref().map(|s| s.as_str()), Some("msg-1"));
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    assert_eq!(
        p.content_encoding().as_ref().map(|s| s.as_str()),
        Some("identity")
    );
    assert_eq!(
        p.correlation_id().as_ref().map(|s| s.as_str()),
        Some("corr-9")
    );
    assert_eq!(p.reply_to().as_ref().map(|s| s.as_str()), Some("replies"));
    assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("60000"));
    assert_eq!(*p.priority(), Some(7));
    assert_eq!(p.kind().as_ref().map(|s| s.as_str()), Some("score"));
    assert_eq!(p.app_id().as_ref().map(|s| s.as_str()), Some("game-server"));
    assert_eq!(*p.timestamp(), Some(1_700_000_123), "AMQP keeps seconds");
    assert_eq!(*p.delivery_mode(), Some(2), "durable route: persistent");
    assert_eq!(header_text(&d, "player").as_deref(), Some("alice"));
    assert!(
        header_text(&d, "amqp-priority").is_none(),
        "properties are not copied into the headers table"
    );
    // Not routed to a queue bound with another key.
    c.produce_value("game.7.chat", "not for the score queue")
        .await;
    c.produce_value("game.8.score", "second").await;
    assert_eq!(next_delivery(&mut plain).await.data, b"second");
    gw.stop().await;
}

#[tokio::test]
async fn plain_publisher_reaches_every_gateway_subscriber_through_one_queue() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.fan");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut a = gw.connect("/rabbit").await;
    let mut b = gw.connect("/rabbit").await;
    let ida = a.subscribe(sub("room.1")).await;
    let idb = b.subscribe(sub("room.1")).await;
    let idb2 = b.subscribe(sub("room.1")).await;
    // rabbitmqctl may come back empty on a busy machine: ask again until it sees the binding.
    let mut bindings = 0;
    for _ in 0..5 {
        bindings = bindings_with_key(&ex, "room.1");
        if bindings > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        bindings, 1,
        "three gateway subscribers of one binding key cost one queue"
    );
    let props = BasicProperties::default()
        .with_message_id("m-1".into())
        .with_content_type("text/plain".into())
        .with_correlation_id("c-1".into())
        .with_timestamp(1_700_000_000)
        .with_headers(table(&[("lang", "en")]));
    publish(&ch, &ex, "room.1", b"hello", props).await;
    let mut got = a.pushed(ida, 1).await;
    got.extend(b.pushed(idb, 1).await);
    got.extend(b.pushed(idb2, 1).await);
    assert_eq!(got.len(), 3);
    for m in got.chunks(1) {
        assert_eq!(value_of(&m[0]), "hello");
        assert_eq!(m[0].topic, "room.1");
        assert_eq!(m[0].key.as_ref(), b"m-1", "message_id is the key");
        assert_eq!(m[0].timestamp, 1_700_000_000_000);
        assert_eq!(hval(&m[0], "lang").as_deref(), Some("en"));
        assert_eq!(
            hval(&m[0], "amqp-content-type").as_deref(),
            Some("text/plain")
        );
        assert_eq!(hval(&m[0], "amqp-correlation-id").as_deref(), Some("c-1"));
        assert_eq!(m[0].offset, -1, "plain subscriptions have no position");
    }
    // The last subscriber out removes the shared queue.
    a.disconnect().await;
    b.disconnect().await;
    let mut gone = false;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if bindings_with_key(&ex, "room.1") == 0 {
            gone = true;
            break;
        }
    }
    assert!(gone, "the shared queue went with its last subscriber");
    gw.stop().await;
}

#[tokio::test]
async fn wildcard_bindings_star_and_hash_deliver_only_matching_routing_keys() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.wild");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    let star = c.subscribe(sub("game.*.move")).await;
    let hash = c.subscribe(sub("game.#")).await;
    for key in [
        "game.1.move",
        "game.1.2.move",
        "game",
        "chat.1.move",
        "game.x",
    ] {
        publish(&ch, &ex, key, key.as_bytes(), BasicProperties::default()).await;
    }
    let got_star = c.pushed_within(star, Duration::from_millis(1500)).await;
    assert_eq!(values(&got_star), ["game.1.move"]);
    let got_hash: BTreeSet<String> =
        values(&c.pushed_within(hash, Duration::from_millis(500)).await)
            .into_iter()
            .collect();
    let want: BTreeSet<String> = ["game.1.move", "game.1.2.move", "game", "game.x"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got_hash, want, "`#` matches zero or more words");
    gw.stop().await;
}

#[tokio::test]
async fn mandatory_publish_with_no_queue_bound_answers_404() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.mand");
    let ex2 = unique("gwt.nomand");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone(), ex2.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, ", mandatory: true")).await;
    let mut c = gw.connect("/rabbit").await;
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "nobody.listens".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 404, "{msg}");
    assert!(msg.contains("no queue bound for routing key"), "{msg}");
    // Once a queue is bound, the same publish is confirmed.
    let q = plain_queue(&ch, &ex, "nobody.listens").await;
    let mut plain = consume(&ch, &q, true).await;
    c.produce_value("nobody.listens", "now someone does").await;
    assert_eq!(next_delivery(&mut plain).await.data, b"now someone does");
    // Without mandatory (the default) an unroutable message is confirmed and dropped.
    let gw2 = Gateway::start(&route("/r2", AMQP, &ex2, "")).await;
    let mut c2 = gw2.connect("/r2").await;
    c2.produce_value("nobody.listens", "dropped").await;
    gw.stop().await;
    gw2.stop().await;
}

#[tokio::test]
async fn hostile_input_answers_400_or_capability_errors_and_the_connection_lives() {
    // Fails loudly when the broker is missing.
    let _amqp = oracle().await;
    let ex = unique("gwt.bad");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    let long = "k".repeat(256);
    for topic in ["", "a.*", "a.#", "a\0b", "line\nbreak", long.as_str()] {
        let (code, msg) = error_of(
            c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: topic.into(),
                value: b"x".to_vec().into(),
                ..Default::default()
            }))
            .await,
        );
        assert_eq!(code, 400, "publish to {topic:?}: {msg}");
    }
    for topic in ["a*", "a.b#", "#x", "a\0", long.as_str()] {
        let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(sub(topic))).await);
        assert_eq!(code, 400, "subscribe to {topic:?}: {msg}");
    }
    let bad_headers: Vec<Vec<KafkaHeader>> = vec![
        vec![header("amqp-priority", "high")],
        vec![header("amqp-priority", "300")],
        vec![header("amqp-expiration", "-5")],
        vec![header("amqp-delivery-mode", "3")],
        vec![header("amqp-unknown", "x")],
        vec![header(&"h".repeat(300), "x")],
        vec![header("amqp-content-type", &"t".repeat(300))],
        vec![header("dup", "1"), header("dup", "2")],
        vec![KafkaHeader {
            key: "amqp-type".into(),
            value: vec![0xff, 0xfe].into(),
        }],
    ];
    for headers in bad_headers {
        let (code, msg) = error_of(
            c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "ok.topic".into(),
                value: b"x".to_vec().into(),
                headers: headers.clone(),
                ..Default::default()
            }))
            .await,
        );
        assert_eq!(code, 400, "{headers:?}: {msg}");
    }
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "ok.topic".into(),
            key: "k".repeat(300).into_bytes().into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(
        code, 400,
        "a key over 255 bytes cannot be a message_id: {msg}"
    );
    // Start positions and commands the route cannot do answer the capability error.
    for start in [
        StartPosition::Earliest,
        StartPosition::Last,
        StartPosition::Offset,
        StartPosition::Timestamp,
        StartPosition::TimeDelta,
    ] {
        let (code, msg) = error_of(
            c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
                start: start as i32,
                ..sub("ok.topic")
            }))
            .await,
        );
        assert_eq!(code, 400, "{start:?}: {msg}");
        assert!(msg.contains("RabbitMQ"), "names the scheme: {msg}");
    }
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("ok.topic", 0, 0)))
            .await,
    );
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("RabbitMQ"), "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic_pattern: "ok.*".into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            max_in_flight: 5,
            ..sub("ok.topic")
        }))
        .await,
    );
    assert_eq!(code, 400, "plain subscriptions cannot acknowledge: {msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(group_sub(
            "ok.topic",
            "bad:group",
            0,
        )))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(group_sub("ok.topic", "g", 70_000)))
            .await,
    );
    assert_eq!(code, 400, "over AMQP's prefetch limit: {msg}");
    let plain = c.subscribe(sub("ok.topic")).await;
    let (code, msg) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: plain,
            positions: vec![],
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    ping(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn route_info_names_rabbitmq_and_its_capabilities() {
    let ex = unique("gwt.info");
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    let info = match c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await {
        Resp::RouteInfoResp(i) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(info.scheme, "rabbitmq");
    let caps = info.capabilities.expect("capabilities");
    assert!(!caps.history && !caps.fetch && !caps.offsets && !caps.commit);
    assert!(caps.groups && caps.ack && caps.nack && caps.headers && caps.keys);
    assert_eq!(caps.wildcards, "amqp");
    assert_eq!(caps.starts, vec![StartPosition::Latest as i32]);
    gw.stop().await;
}

#[tokio::test]
async fn an_existing_exchange_of_another_type_is_refused_with_409() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.fanout");
    ch.exchange_declare(
        ex.as_str().into(),
        lapin::ExchangeKind::Fanout,
        lapin::options::ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        Default::default(),
    )
    .await
    .expect("declare fanout");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "t".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 409, "{msg}");
    assert!(msg.contains("must be a topic exchange"), "{msg}");
    // The publisher channel recovers from the broker closing it: the next publish gets the
    // same clear answer, not a stale channel error.
    let (code, _) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "t".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 409);
    let _ = BasicPublishOptions::default();
    gw.stop().await;
}

#[test]
fn config_accepts_the_amqp_alias_refuses_unknown_keys_and_redacts_the_password() {
    let yaml = "routes:\n  - uri: /r\n    upstream:\n      scheme: amqp\n      nodes: [\"127.0.0.1:5672\"]\n      rabbitmq: { exchange: ev, queue_type: quorum, max_deliveries: 3, dead_letter_exchange: ev.dlx }\n    plugins:\n      rabbitmq-auth: { username: gw, password: s3cret-pw }\n";
    let config = pubsub_gateway::Config::parse(yaml, "t").expect("parses");
    let debug = format!("{:?}", config.routes[0]);
    assert!(!debug.contains("s3cret-pw"), "{debug}");
    let bad = yaml.replace("max_deliveries: 3", "max_deliverys: 3");
    let err = pubsub_gateway::Config::parse(&bad, "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("max_deliverys") && err.contains("line"),
        "{err}"
    );
    let classic_limit = yaml.replace("queue_type: quorum", "queue_type: classic");
    let err = pubsub_gateway::Config::parse(&classic_limit, "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("max_deliveries needs queue_type: quorum"),
        "{err}"
    );
    let on_nats = "routes:\n  - uri: /n\n    upstream:\n      scheme: nats\n      nodes: [\"127.0.0.1:4222\"]\n      rabbitmq: { exchange: ev }\n";
    let err = pubsub_gateway::Config::parse(on_nats, "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`rabbitmq` is an option of the rabbitmq scheme, not of nats"),
        "{err}"
    );
    let no_section = "routes:\n  - uri: /r\n    upstream:\n      scheme: rabbitmq\n      nodes: [\"127.0.0.1:5672\"]\n";
    let err = pubsub_gateway::Config::parse(no_section, "t")
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs `rabbitmq:`"), "{err}");
}
