//! key-auth keys and topic ACLs: exact keys, group allow-lists, internal topics, keys and ACLs
//! changed by reload.

use super::*;

#[tokio::test]
async fn only_the_exact_key_authenticates_never_a_longer_shorter_or_prefix_one() {
    let yaml = r#"
routes:
  - uri: /e
    upstream: { scheme: embedded }
    plugins:
      key-auth:
        keys:
          - { id: alice, key: alice-key-0123456789 }
          - { id: bob, key: bob-key-abcdefghij }
"#;
    let gw = Gateway::start(yaml).await;
    for good in ["alice-key-0123456789", "bob-key-abcdefghij"] {
        let (mut c, _) = upgrade(gw.addr, "/e", &[("apikey", good)])
            .await
            .unwrap_or_else(|s| panic!("{good}: {s}"));
        ping_ok(&mut c).await;
    }
    for bad in [
        "alice-key-012345678",
        "alice-key-01234567890",
        "alice",
        "a",
        "Alice-key-0123456789",
        "alice-key-0123456788",
        "bob-key-abcdefghij-alice-key-0123456789",
        "bob-key-abcdefghijalice-key-0123456789",
    ] {
        assert_eq!(
            upgrade(gw.addr, "/e", &[("apikey", bad)]).await.err(),
            Some(401),
            "{bad:?}"
        );
    }
    // Header values lose surrounding whitespace (HTTP); query values keep it.
    assert_eq!(
        upgrade(gw.addr, "/e?apikey=alice-key-0123456789%20", &[])
            .await
            .err(),
        Some(401)
    );
    gw.stop().await;
}

#[tokio::test]
async fn kafka_routes_refuse_consumer_groups_without_an_allow_list_naming_the_setting() {
    let gw = Gateway::start(&kafka_unreachable("")).await;
    let mut c = gw.connect("/k").await;
    let (code, msg) = quick_error(
        &mut c,
        Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "orders".into(),
            group: "billing".into(),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(code, 403, "{msg}");
    assert!(msg.contains("topic-acl.groups"), "{msg}");
    ping_ok(&mut c).await;
    gw.stop().await;

    // An allow-list lets the groups it names through, and only them.
    let gw = Gateway::start(&kafka_unreachable(
        "    plugins:\n      topic-acl: { groups: [\"game-.*\"] }\n",
    ))
    .await;
    let mut c = gw.connect("/k").await;
    let (code, msg) = quick_error(
        &mut c,
        Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "orders".into(),
            group: "billing".into(),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(code, 403, "{msg}");
    ping_ok(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn embedded_routes_keep_allowing_groups_by_default() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let r = c
        .request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "room".into(),
            group: "g".into(),
            ..Default::default()
        }))
        .await;
    assert!(matches!(r, Resp::KafkaSubscribeResp(_)), "{r:?}");
    gw.stop().await;
}

#[tokio::test]
async fn kafka_internal_topics_are_refused_for_every_command_unless_an_acl_names_them() {
    let gw = Gateway::start(&kafka_unreachable("")).await;
    let mut c = gw.connect("/k").await;
    for req in internal_topic_commands("__consumer_offsets") {
        let (code, msg) = quick_error(&mut c, req.clone()).await;
        assert_eq!(code, 403, "{req:?}: {msg}");
    }
    ping_ok(&mut c).await;
    gw.stop().await;

    // A broad pattern is not enough: `.*` does not name internal topics.
    let gw = Gateway::start(&kafka_unreachable(
        "    plugins:\n      topic-acl: { read: [\".*\"], write: [\".*\"] }\n",
    ))
    .await;
    let mut c = gw.connect("/k").await;
    for req in internal_topic_commands("__transaction_state") {
        let (code, msg) = quick_error(&mut c, req.clone()).await;
        assert_eq!(code, 403, "{req:?}: {msg}");
    }
    gw.stop().await;

    // An explicit pattern starting with `__` lets that internal topic through the ACL: the
    // command then goes on to the (unreachable) broker instead of answering 403.
    let gw = Gateway::start(&kafka_unreachable(
        "    plugins:\n      topic-acl: { read: [\"__consumer_offsets\"] }\n",
    ))
    .await;
    let mut c = gw.connect("/k").await;
    let seq = c
        .send(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "__consumer_offsets".into(),
        }))
        .await;
    match tokio::time::timeout(Duration::from_secs(2), c.reply(seq)).await {
        Err(_) => {} // waiting on the broker: the ACL let it through
        Ok(r) => assert_ne!(error_of(r).0, 403, "the ACL names the topic"),
    }
    let (code, _) = quick_error(
        &mut c,
        Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "__other_internal".into(),
        }),
    )
    .await;
    assert_eq!(code, 403);
    gw.stop().await;
}

#[tokio::test]
async fn embedded_routes_do_not_treat_double_underscore_topics_as_internal() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let r = c
        .request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "__mine".into(),
            value: Bytes::from_static(b"x"),
            ..Default::default()
        }))
        .await;
    assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    gw.stop().await;
}

#[tokio::test]
async fn a_reload_closes_connections_of_removed_keys_and_narrows_acls_of_kept_ones() {
    let keys = |alice_acl: &str, bob: bool| {
        format!(
            "routes:\n  - uri: /e\n    upstream: {{ scheme: embedded }}\n    plugins:\n      key-auth:\n        keys:\n          - {{ id: alice, key: alice-reload-key{alice_acl} }}\n{}",
            if bob {
                "          - { id: bob, key: bob-reload-key }\n"
            } else {
                "          - { id: carol, key: carol-reload-key }\n"
            }
        )
    };
    let gw = Gateway::start(&keys("", true)).await;
    let (mut alice, _) = upgrade(gw.addr, "/e", &[("apikey", "alice-reload-key")])
        .await
        .unwrap();
    let (mut bob, _) = upgrade(gw.addr, "/e", &[("apikey", "bob-reload-key")])
        .await
        .unwrap();
    for c in [&mut alice, &mut bob] {
        assert!(matches!(
            c.request(produce("anything")).await,
            Resp::KafkaProduceResp(_)
        ));
    }
    let next =
        pubsub_gateway::Config::parse(&keys(", acl: { write: [\"only-this\"] }", false), "t")
            .unwrap();
    gw.handle.reload(next).expect("valid reload");
    assert_eq!(
        error_of(alice.request(produce("anything")).await).0,
        403,
        "the narrowed ACL applies to the next command"
    );
    assert!(matches!(
        alice.request(produce("only-this")).await,
        Resp::KafkaProduceResp(_)
    ));
    let close = bob.closed().await.expect("a close frame for a removed key");
    assert_eq!(close.code, CloseCode::Policy);
    assert_eq!(close.reason.as_str(), "credentials revoked");
    assert_eq!(
        upgrade(gw.addr, "/e", &[("apikey", "bob-reload-key")])
            .await
            .err(),
        Some(401)
    );
    // A reload that changes nothing about alice keeps her connection.
    let same =
        pubsub_gateway::Config::parse(&keys(", acl: { write: [\"only-this\"] }", false), "t")
            .unwrap();
    gw.handle.reload(same).unwrap();
    ping_ok(&mut alice).await;
    gw.stop().await;
}
