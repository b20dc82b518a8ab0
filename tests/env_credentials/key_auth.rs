//! key-auth with a key from the environment (`key_env`): header or query key, 401s that say
//! nothing more, and the key's topic ACL.

use std::time::Duration;

use bytes::Bytes;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;

use crate::common::*;

const KEY_AUTH: &str = r#"
routes:
  - uri: /embedded
    upstream: { scheme: embedded }
    plugins:
      key-auth:
        keys:
          - { id: alice, key: alice-key }
          - { id: bob, key_env: PUBSUB_GW_TEST_BOB_KEY, acl: { read: ["public-.*"], write: [], groups: ["g-ok"] } }
"#;

#[tokio::test]
async fn key_auth_accepts_header_or_query_and_refuses_with_401_that_says_nothing_more() {
    std::env::set_var("PUBSUB_GW_TEST_BOB_KEY", "bob-secret-key");
    let gw = Gateway::start(KEY_AUTH).await;
    let (mut c, _) = upgrade(gw.addr, "/embedded", &[("apikey", "alice-key")])
        .await
        .expect("header key");
    ping_ok(&mut c).await;
    let (mut c, _) = upgrade(gw.addr, "/embedded?apikey=bob-secret-key", &[])
        .await
        .expect("query key from env");
    ping_ok(&mut c).await;
    assert_eq!(upgrade(gw.addr, "/embedded", &[]).await.err(), Some(401));
    assert_eq!(
        upgrade(gw.addr, "/embedded", &[("apikey", "alice-kez")])
            .await
            .err(),
        Some(401)
    );
    // The body is the same whatever was wrong.
    let missing = raw_http(gw.addr, "/embedded", "").await;
    let wrong = raw_http(gw.addr, "/embedded", "apikey: nope\r\n").await;
    assert!(missing.starts_with("HTTP/1.1 401"), "{missing}");
    assert_eq!(body(&missing), body(&wrong));
    assert_eq!(body(&missing), "invalid credentials\n");
    gw.stop().await;
}

#[tokio::test]
async fn acl_denies_with_403_naming_the_topic_and_the_connection_stays_open() {
    std::env::set_var("PUBSUB_GW_TEST_BOB_KEY", "bob-secret-key");
    let gw = Gateway::start(KEY_AUTH).await;
    let (mut alice, _) = upgrade(gw.addr, "/embedded", &[("apikey", "alice-key")])
        .await
        .unwrap();
    for t in ["public-news", "secret-plans"] {
        let r = alice
            .request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: t.into(),
                value: Bytes::from_static(b"x"),
                ..Default::default()
            }))
            .await;
        assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    }
    let (mut bob, _) = upgrade(gw.addr, "/embedded", &[("apikey", "bob-secret-key")])
        .await
        .unwrap();
    let r = bob
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "secret-plans".into(),
            ..Default::default()
        }))
        .await;
    let (code, msg) = error_of(r);
    assert_eq!(code, 403);
    assert!(msg.contains("secret-plans"), "{msg}");
    let r = bob
        .request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "public-news".into(),
            ..Default::default()
        }))
        .await;
    assert_eq!(error_of(r).0, 403, "bob may not write at all");
    let r = bob
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "secret-plans".into(),
        }))
        .await;
    assert_eq!(error_of(r).0, 403);
    let r = bob
        .request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "public-news".into(),
            group: "g-bad".into(),
            ..Default::default()
        }))
        .await;
    assert_eq!(error_of(r).0, 403, "group not allowed");
    let msgs = match bob
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "public-news".into(),
            ..Default::default()
        }))
        .await
    {
        Resp::KafkaFetchResp(f) => f.messages,
        other => panic!("{other:?}"),
    };
    assert_eq!(msgs.len(), 1);
    // A pattern subscription sees only the topics bob may read.
    let r = bob
        .request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic_pattern: ".*".into(),
            start: StartPosition::Earliest as i32,
            ..Default::default()
        }))
        .await;
    let Resp::KafkaSubscribeResp(s) = r else {
        panic!("{r:?}")
    };
    let got = bob.pushed(s.subscription_id, 1).await;
    assert_eq!(got[0].topic, "public-news");
    assert!(bob
        .pushed_within(s.subscription_id, Duration::from_millis(300))
        .await
        .is_empty());
    ping_ok(&mut bob).await;
    gw.stop().await;
}
