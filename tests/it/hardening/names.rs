//! Malformed names, partitions and patterns on every command, and the ACL on every command
//! that carries a topic.

use super::*;

#[tokio::test]
async fn topic_names_kafka_cannot_hold_answer_400_on_every_command() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    for topic in ["bad\0name", "with space", "", "..", &"x".repeat(250)] {
        for (what, req) in bad_topic_commands(topic) {
            let (code, message) = error_of(c.request(req).await);
            assert_eq!(code, 400, "{what} of {topic:?}: {message}");
        }
    }
    // A commit carries topics too.
    c.produce_value("good", "v").await;
    let id = c.subscribe(sub_from("good", Start::Earliest)).await;
    let r = c
        .request(Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: id,
            offsets: offsets(&[("bad\0name", 0, 0)]),
        }))
        .await;
    assert_eq!(error_of(r).0, 400);
    assert_alive(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn kafka_route_refuses_a_nul_topic_before_the_broker_is_asked() {
    // Nothing listens on the upstream: validation must answer first, and the session live on.
    let gw = Gateway::start(&unreachable_kafka_route()).await;
    let mut c = gw.connect("/kafka").await;
    for (what, req) in bad_topic_commands("bad\0name") {
        let started = Instant::now();
        let (code, message) = error_of(c.request(req).await);
        assert_eq!(code, 400, "{what}: {message}");
        assert!(started.elapsed() < Duration::from_millis(500), "{what}");
    }
    assert_alive(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn negative_partitions_answer_400() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    c.produce_value("t", "v").await;
    let r = c
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "t".into(),
            partition: -1,
            ..Default::default()
        }))
        .await;
    assert_eq!(error_of(r).0, 400);
    let r = c
        .request(Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: "t".into(),
            partition: -3,
            timestamp: -1,
        }))
        .await;
    assert_eq!(error_of(r).0, 400);
    assert_alive(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn topic_pattern_longer_than_the_limit_answers_400() {
    let gw = Gateway::start(&embedded_with_limits("max_topic_pattern_bytes: 64")).await;
    let mut c = gw.connect("/embedded").await;
    let long = vec!["room"; 20].join("|");
    let (code, message) = error_of(c.request(pattern_sub(&long)).await);
    assert_eq!(code, 400, "{message}");
    assert!(message.contains("topic_pattern"), "{message}");
    // A short one is fine.
    assert!(matches!(
        c.request(pattern_sub("room-.*")).await,
        Resp::KafkaSubscribeResp(_)
    ));
    gw.stop().await;
}

#[tokio::test]
async fn default_pattern_length_limit_is_one_kib() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let long = "a".repeat(1025);
    assert_eq!(error_of(c.request(pattern_sub(&long)).await).0, 400);
    assert!(matches!(
        c.request(pattern_sub(&"a".repeat(1000))).await,
        Resp::KafkaSubscribeResp(_)
    ));
    gw.stop().await;
}

#[tokio::test]
async fn a_short_pattern_that_compiles_to_a_huge_automaton_answers_400_quickly() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    // 20 bytes, but Unicode word classes repeated hundreds of times: megabytes of program.
    let started = Instant::now();
    let (code, message) = error_of(c.request(pattern_sub(r"\w{300}\w{300}")).await);
    assert_eq!(code, 400, "{message}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_alive(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn subscribing_to_a_partition_a_new_topic_would_not_have_answers_404() {
    let gw = Gateway::start(&embedded_with("partitions: 2")).await;
    let mut s = gw.connect("/embedded").await;
    let r = s
        .request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "later".into(),
            partitions: vec![2],
            ..Default::default()
        }))
        .await;
    assert_eq!(error_of(r).0, 404);
    gw.stop().await;
}

#[tokio::test]
async fn every_command_that_carries_a_topic_checks_the_acl_and_the_connection_lives() {
    let gw = Gateway::start(acl_route()).await;
    let mut c = gw.connect("/embedded").await;
    c.produce_value("open-t", "v").await;
    for (what, req) in bad_topic_commands("secret") {
        let (code, message) = error_of(c.request(req).await);
        assert_eq!(code, 403, "{what}: {message}");
    }
    let id = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..group_sub("open-t", "ok-g")
        })
        .await;
    let r = c
        .request(Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: id,
            offsets: offsets(&[("secret", 0, 0)]),
        }))
        .await;
    assert_eq!(error_of(r).0, 403, "commit checks the topic's read ACL");
    let r = c
        .request(Req::CmdKafkaSubscribe(group_sub("open-t", "other")))
        .await;
    assert_eq!(error_of(r).0, 403, "group ACL");
    assert_alive(&mut c).await;
    gw.stop().await;
}
