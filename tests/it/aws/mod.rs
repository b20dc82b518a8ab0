//! The aws scheme (Amazon SNS + SQS) against moto's server (one per test binary; private ones
//! for tests that stop it or turn its authentication on), through a real WebSocket client, with
//! AWS's SDK as oracle and peer. Each test uses its own topic, queue and prefix names.

mod process;

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::{
    CmdAck, CmdKafkaProduce, CmdKafkaSubscribe, CmdNack, CmdUnsubscribe, KafkaHeader, KafkaMessage,
    MessagePosition, StartPosition,
};

use crate::common::aws::{attributes, name, route, Oracle};
use crate::common::{error_of, headers_of, value_of, Client, Gateway, WAIT};

pub(super) fn header(k: &str, v: &[u8]) -> KafkaHeader {
    KafkaHeader {
        key: k.into(),
        value: v.to_vec().into(),
    }
}

pub(super) fn produce(topic: &str, key: &str, value: &str, headers: Vec<KafkaHeader>) -> Req {
    Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: topic.into(),
        key: key.as_bytes().to_vec().into(),
        value: value.as_bytes().to_vec().into(),
        headers,
        ..Default::default()
    })
}

/// Produces and returns the reply's position (the message id); panics on an error.
pub(super) async fn send(c: &mut Client, topic: &str, key: &str, value: &str) -> String {
    match c.request(produce(topic, key, value, vec![])).await {
        Resp::KafkaProduceResp(r) => r.position,
        other => panic!("produce to {topic} answered {other:?}"),
    }
}

pub(super) fn plain(topic: &str) -> CmdKafkaSubscribe {
    CmdKafkaSubscribe {
        topic: topic.into(),
        start: StartPosition::Latest as i32,
        ..Default::default()
    }
}

fn group(topic: &str, g: &str, max_in_flight: i32) -> CmdKafkaSubscribe {
    CmdKafkaSubscribe {
        topic: topic.into(),
        group: g.into(),
        start: StartPosition::Latest as i32,
        max_in_flight,
        ..Default::default()
    }
}

fn positions(topic: &str, ms: &[&KafkaMessage]) -> Vec<MessagePosition> {
    ms.iter()
        .map(|m| MessagePosition {
            topic: topic.into(),
            position: m.position.clone(),
            ..Default::default()
        })
        .collect()
}

async fn ack(c: &mut Client, sid: i64, topic: &str, ms: &[&KafkaMessage]) -> Resp {
    c.request(Req::CmdAck(CmdAck {
        subscription_id: sid,
        positions: positions(topic, ms),
    }))
    .await
}

/// Waits until `f` holds, polling every 100 ms (panics after `within`, naming `what`).
pub(super) async fn until<F, Fut>(within: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !f().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn aws_produce_reaches_a_plain_sqs_queue_subscribed_to_the_topic_with_attributes_and_the_message_id(
) {
    let o = Oracle::new();
    let topic = name("orders");
    let arn = o.create_topic(&topic).await;
    let url = o.create_queue(&name("peer"), &[]).await;
    o.subscribe_raw(&arn, &url).await;
    let gw = Gateway::start(&route("/aws", "")).await;
    let mut c = gw.connect("/aws").await;
    let r = c
        .request(produce(
            &topic,
            "",
            "hello",
            vec![header("b", b"2"), header("a", "ü".as_bytes())],
        ))
        .await;
    let Resp::KafkaProduceResp(r) = r else {
        panic!("produce answered {r:?}")
    };
    assert!(!r.position.is_empty(), "the message id is the position");
    let got = o.receive(&url, 1, WAIT).await;
    assert_eq!(got.len(), 1, "the peer queue got the message");
    assert_eq!(got[0].body.as_deref(), Some("hello"));
    assert_eq!(
        attributes(&got[0]),
        [("a".to_string(), "ü".to_string()), ("b".into(), "2".into())]
    );
    gw.stop().await;
}

#[tokio::test]
async fn aws_plain_subscribers_share_one_queue_fed_by_a_plain_publisher_removed_with_its_subscription_when_the_last_leaves(
) {
    let o = Oracle::new();
    let topic = name("scores");
    let arn = o.create_topic(&topic).await;
    let prefix = format!("p{:x}{}-", std::process::id(), rand_suffix());
    let gw = Gateway::start(&route("/aws", &format!("queue_prefix: {prefix}"))).await;
    let mut a = gw.connect("/aws").await;
    let mut b = gw.connect("/aws").await;
    let sa = a.subscribe(plain(&topic)).await;
    let sb = b.subscribe(plain(&topic)).await;
    let queues = o.queues(&prefix).await;
    assert_eq!(queues.len(), 1, "one queue for both members: {queues:?}");
    assert_eq!(o.subscriptions(&arn).await.len(), 1);
    let id = o.publish(&arn, "goal", &[("team", "red")]).await;
    for (c, sid) in [(&mut a, sa), (&mut b, sb)] {
        let m = c.pushed(sid, 1).await;
        assert_eq!(value_of(&m[0]), "goal");
        // Raw delivery: the position is the live queue's SQS message id, not SNS's.
        assert!(!m[0].position.is_empty() && m[0].position != id);
        assert_eq!(headers_of(&m[0]), [("team".to_string(), "red".to_string())]);
    }
    a.request(Req::CmdUnsubscribe(CmdUnsubscribe {
        subscription_id: sa,
    }))
    .await;
    assert_eq!(o.queues(&prefix).await.len(), 1, "b still reads it");
    b.disconnect().await;
    until(WAIT, "the live queue removed", || async {
        o.queues(&prefix).await.is_empty()
    })
    .await;
    until(WAIT, "its SNS subscription removed", || async {
        o.subscriptions(&arn).await.is_empty()
    })
    .await;
    gw.stop().await;
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn aws_a_groups_durable_queue_is_shared_with_a_plain_sqs_consumer_and_acks_delete() {
    let o = Oracle::new();
    let topic = name("jobs");
    let arn = o.create_topic(&topic).await;
    let prefix = format!("g{:x}{}-", std::process::id(), rand_suffix());
    let gw = Gateway::start(&route("/aws", &format!("queue_prefix: {prefix}"))).await;
    let mut c = gw.connect("/aws").await;
    let sid = c.subscribe(group(&topic, "workers", 1)).await;
    let queue = format!("{prefix}workers-{topic}");
    let url = o
        .sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await
        .expect("the group's queue is named {queue_prefix}{group}-{topic}")
        .queue_url
        .unwrap();
    assert_eq!(o.subscriptions(&arn).await.len(), 1);
    // With max_in_flight 1 the member holds one; the plain consumer takes the rest.
    for i in 0..4 {
        o.publish(&arn, &format!("j{i}"), &[]).await;
    }
    let m = c.pushed(sid, 1).await;
    assert_eq!(m[0].delivery_attempt, 1);
    let peer = o.receive(&url, 3, WAIT).await;
    assert_eq!(peer.len(), 3, "the plain consumer shares the queue");
    let mut all: Vec<String> = peer.iter().filter_map(|p| p.body.clone()).collect();
    all.push(value_of(&m[0]));
    all.sort();
    assert_eq!(all, ["j0", "j1", "j2", "j3"]);
    for p in &peer {
        o.delete(&url, p).await;
    }
    assert!(matches!(
        ack(&mut c, sid, &topic, &[&m[0]]).await,
        Resp::OkResp(_)
    ));
    until(WAIT, "the acked message deleted", || async {
        o.counts(&url).await == (0, 0)
    })
    .await;
    // Acking it again: it is not held any more.
    let (code, msg) = error_of(ack(&mut c, sid, &topic, &[&m[0]]).await);
    assert_eq!(code, 400, "{msg}");
    gw.stop().await;
}

#[tokio::test]
async fn aws_nack_redelivers_after_its_delay_with_the_receive_count_as_delivery_attempt() {
    let o = Oracle::new();
    let topic = name("retry");
    let arn = o.create_topic(&topic).await;
    let prefix = format!("n{:x}{}-", std::process::id(), rand_suffix());
    let gw = Gateway::start(&route("/aws", &format!("queue_prefix: {prefix}"))).await;
    let mut c = gw.connect("/aws").await;
    let sid = c.subscribe(group(&topic, "g", 10)).await;
    o.publish(&arn, "once", &[]).await;
    let m = c.pushed(sid, 1).await;
    assert_eq!(
        (value_of(&m[0]).as_str(), m[0].delivery_attempt),
        ("once", 1)
    );
    let at = Instant::now();
    let r = c
        .request(Req::CmdNack(CmdNack {
            subscription_id: sid,
            positions: positions(&topic, &[&m[0]]),
            delay_ms: 1500,
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    let again = c.pushed(sid, 1).await;
    assert!(
        at.elapsed() >= Duration::from_millis(1000),
        "not before its delay"
    );
    assert_eq!(again[0].position, m[0].position, "the same message");
    assert_eq!(again[0].delivery_attempt, 2);
    assert!(matches!(
        ack(&mut c, sid, &topic, &[&again[0]]).await,
        Resp::OkResp(_)
    ));
    let url = o
        .sqs
        .get_queue_url()
        .queue_name(format!("{prefix}g-{topic}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    until(WAIT, "deleted after the ack", || async {
        o.counts(&url).await == (0, 0)
    })
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn aws_a_vanished_members_messages_go_to_another_and_a_held_one_stays_hidden_until_max_hold()
{
    let o = Oracle::new();
    let topic = name("held");
    let arn = o.create_topic(&topic).await;
    let prefix = format!("v{:x}{}-", std::process::id(), rand_suffix());
    // Visibility 1 s, extended while held, for 3 s at most.
    let gw = Gateway::start(&route(
        "/aws",
        &format!("queue_prefix: {prefix}, visibility_timeout_secs: 1, max_hold_secs: 3"),
    ))
    .await;
    let mut a = gw.connect("/aws").await;
    let sa = a.subscribe(group(&topic, "g", 1)).await;
    o.publish(&arn, "first", &[]).await;
    let m = a.pushed(sa, 1).await;
    let mut b = gw.connect("/aws").await;
    let sb = b.subscribe(group(&topic, "g", 1)).await;
    // Held by a: extended past its 1 s visibility, so b gets nothing meanwhile.
    assert!(
        b.pushed_within(sb, Duration::from_millis(2000))
            .await
            .is_empty(),
        "a held message stays invisible while its member holds it"
    );
    a.disconnect().await;
    let got = b.pushed(sb, 1).await;
    assert_eq!(
        got[0].position, m[0].position,
        "released to the other member"
    );
    assert_eq!(got[0].delivery_attempt, 2);
    // b holds it past max_hold_secs without acking: it comes back after the visibility timeout.
    let again = b.pushed(sb, 1).await;
    assert_eq!(again[0].position, m[0].position);
    assert_eq!(again[0].delivery_attempt, 3);
    gw.stop().await;
}

#[tokio::test]
async fn aws_messages_nacked_max_receive_count_times_go_to_the_dead_letter_queue() {
    let o = Oracle::new();
    let topic = name("poison");
    let arn = o.create_topic(&topic).await;
    let prefix = format!("d{:x}{}-", std::process::id(), rand_suffix());
    let dlq = name("dlq");
    let gw = Gateway::start(&route(
        "/aws",
        &format!("queue_prefix: {prefix}, max_receive_count: 2, dead_letter_queue: {dlq}"),
    ))
    .await;
    let mut c = gw.connect("/aws").await;
    let sid = c.subscribe(group(&topic, "g", 10)).await;
    o.publish(&arn, "bad", &[]).await;
    for attempt in 1..=2 {
        let m = c.pushed(sid, 1).await;
        assert_eq!(m[0].delivery_attempt, attempt);
        c.request(Req::CmdNack(CmdNack {
            subscription_id: sid,
            positions: positions(&topic, &[&m[0]]),
            delay_ms: 0,
        }))
        .await;
    }
    let url = o
        .sqs
        .get_queue_url()
        .queue_name(&dlq)
        .send()
        .await
        .expect("the gateway made the dead-letter queue")
        .queue_url
        .unwrap();
    let dead = o.receive(&url, 1, WAIT).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body.as_deref(), Some("bad"));
    assert!(c
        .pushed_within(sid, Duration::from_millis(500))
        .await
        .is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn aws_fifo_queues_keep_each_groups_order_and_drop_duplicates() {
    let o = Oracle::new();
    let queue = format!("{}.fifo", name("fifo"));
    o.create_queue(
        &queue,
        &[(QueueAttributeName::ContentBasedDeduplication, "true")],
    )
    .await;
    let gw = Gateway::start(&route("/aws", "target: sqs, fifo: true")).await;
    let mut c = gw.connect("/aws").await;
    // A FIFO message needs a key (its message group id).
    let (code, msg) = error_of(c.request(produce(&queue, "", "x", vec![])).await);
    assert_eq!(code, 400, "{msg}");
    for i in 0..5 {
        for k in ["k1", "k2"] {
            send(&mut c, &queue, k, &format!("{k}-{i}")).await;
        }
    }
    // The same dedup id again: dropped.
    let dup = produce(
        &queue,
        "k1",
        "k1-dup",
        vec![header("message-deduplication-id", b"d-1")],
    );
    assert!(matches!(
        c.request(dup.clone()).await,
        Resp::KafkaProduceResp(_)
    ));
    assert!(matches!(c.request(dup).await, Resp::KafkaProduceResp(_)));
    let sid = c.subscribe(group(&queue, "g", 20)).await;
    // A FIFO queue holds a message group while one of its messages is in flight: ack as they come.
    let mut got = Vec::new();
    while got.len() < 11 {
        let batch = c
            .next_push(sid, WAIT)
            .await
            .unwrap_or_else(|| panic!("only {} of 11 messages came", got.len()))
            .messages;
        let refs: Vec<&KafkaMessage> = batch.iter().collect();
        assert!(matches!(
            ack(&mut c, sid, &queue, &refs).await,
            Resp::OkResp(_)
        ));
        got.extend(batch);
    }
    for k in ["k1", "k2"] {
        let vs: Vec<String> = got
            .iter()
            .filter(|m| m.key.as_ref() == k.as_bytes())
            .map(value_of)
            .collect();
        let mut want: Vec<String> = (0..5).map(|i| format!("{k}-{i}")).collect();
        if k == "k1" {
            want.push("k1-dup".into());
        }
        assert_eq!(vs, want, "group {k} in order, the duplicate once");
    }
    assert!(c
        .pushed_within(sid, Duration::from_millis(500))
        .await
        .is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn aws_sqs_routes_send_to_the_queue_serve_groups_and_refuse_a_plain_subscription() {
    let o = Oracle::new();
    let queue = name("inbox");
    let url = o.create_queue(&queue, &[]).await;
    let gw = Gateway::start(&route("/aws", "target: sqs")).await;
    let mut c = gw.connect("/aws").await;
    let r = c
        .request(produce(
            &queue,
            "",
            "m1",
            vec![header("bin", &[0, 159, 255])],
        ))
        .await;
    let Resp::KafkaProduceResp(r) = r else {
        panic!("{r:?}")
    };
    let got = o.receive(&url, 1, WAIT).await;
    assert_eq!(got[0].message_id.as_deref(), Some(r.position.as_str()));
    let bin = got[0]
        .message_attributes
        .as_ref()
        .and_then(|a| a.get("bin"))
        .expect("the binary header");
    assert_eq!(bin.data_type(), "Binary");
    assert_eq!(
        bin.binary_value().map(|b| b.as_ref().to_vec()),
        Some(vec![0, 159, 255])
    );
    o.delete(&url, &got[0]).await;

    let r = c.request(Req::CmdKafkaSubscribe(plain(&queue))).await;
    let (code, msg) = error_of(r);
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("group"), "{msg}");

    let sid = c.subscribe(group(&queue, "any", 5)).await;
    o.sqs
        .send_message()
        .queue_url(&url)
        .message_body("from-sdk")
        .send()
        .await
        .unwrap();
    let m = c.pushed(sid, 1).await;
    assert_eq!(value_of(&m[0]), "from-sdk");
    assert!(matches!(
        ack(&mut c, sid, &queue, &[&m[0]]).await,
        Resp::OkResp(_)
    ));
    until(WAIT, "deleted", || async { o.counts(&url).await == (0, 0) }).await;
    gw.stop().await;
}

#[tokio::test]
async fn aws_bad_names_and_messages_answer_400_and_missing_topics_or_queues_404() {
    let gw = Gateway::start(&format!(
        "{}{}",
        route("/sns", ""),
        route("/sqs", "target: sqs").replacen("routes:\n", "", 1)
    ))
    .await;
    let mut c = gw.connect("/sns").await;
    for (req, what) in [
        (produce("a b", "", "v", vec![]), "space in a topic"),
        (
            produce("t.fifo", "", "v", vec![]),
            "a .fifo topic on a standard route",
        ),
        (produce(&"t".repeat(257), "", "v", vec![]), "257 characters"),
        (produce("ok", "", "", vec![]), "an empty body"),
        (
            produce("ok", "", "v", vec![header("AWS.x", b"1")]),
            "a reserved attribute",
        ),
        (produce("ok", "k", "v", vec![]), "a key on a standard route"),
    ] {
        let (code, msg) = error_of(c.request(req).await);
        assert_eq!(code, 400, "{what}: {msg}");
    }
    let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(plain("a/b"))).await);
    assert_eq!(code, 400, "{msg}");
    let mut windowed = plain("ok");
    windowed.max_in_flight = 5;
    let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(windowed)).await);
    assert_eq!(code, 400, "plain subscriptions have nothing to ack: {msg}");
    let missing = name("missing");
    let (code, msg) = error_of(c.request(produce(&missing, "", "v", vec![])).await);
    assert_eq!(code, 404, "{msg}");
    let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(plain(&missing))).await);
    assert_eq!(code, 404, "{msg}");
    let mut q = gw.connect("/sqs").await;
    let (code, msg) = error_of(q.request(produce(&"q".repeat(81), "", "v", vec![])).await);
    assert_eq!(code, 400, "{msg}");
    let (code, msg) = error_of(q.request(produce(&missing, "", "v", vec![])).await);
    assert_eq!(code, 404, "{msg}");
    let (code, msg) = error_of(
        q.request(Req::CmdKafkaSubscribe(group(&missing, "g", 1)))
            .await,
    );
    assert_eq!(code, 404, "{msg}");
    // Still serving.
    crate::common::ping_ok(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn aws_a_group_with_match_headers_gets_only_matching_messages_and_the_others_are_acknowledged_unseen(
) {
    let o = Oracle::new();
    let queue = name("kinds");
    let url = o.create_queue(&queue, &[]).await;
    let gw = Gateway::start(&route("/aws", "target: sqs")).await;
    let mut c = gw.connect("/aws").await;
    let mut cmd = group(&queue, "g", 5);
    cmd.match_headers = vec![header("kind", b"a")];
    let sid = c.subscribe(cmd).await;
    for (body, kind) in [("m-b", "b"), ("m-a", "a")] {
        o.sqs
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .message_attributes(
                "kind",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(kind)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let m = c.pushed(sid, 1).await;
    assert_eq!(value_of(&m[0]), "m-a");
    assert!(matches!(
        ack(&mut c, sid, &queue, &[&m[0]]).await,
        Resp::OkResp(_)
    ));
    until(WAIT, "both gone from the queue", || async {
        o.counts(&url).await == (0, 0)
    })
    .await;
    assert!(c
        .pushed_within(sid, Duration::from_millis(300))
        .await
        .is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn aws_a_member_that_leaves_during_a_long_poll_gives_back_what_the_poll_took_at_once() {
    let o = Oracle::new();
    let topic = name("poll");
    let arn = o.create_topic(&topic).await;
    let prefix = format!("p{:x}{}-", std::process::id(), rand_suffix());
    // A visibility timeout far beyond the wait below: only a give-back delivers in time.
    let gw = Gateway::start(&route(
        "/aws",
        &format!("queue_prefix: {prefix}, visibility_timeout_secs: 60"),
    ))
    .await;
    let mut a = gw.connect("/aws").await;
    a.subscribe(group(&topic, "g", 10)).await;
    // a's member opens its long poll on the empty queue right after the reply; then a leaves.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.disconnect().await;
    // SQS (moto) still runs a's poll: it is the only one open when the message arrives.
    o.publish(&arn, "taken by the orphaned poll", &[]).await;
    let mut b = gw.connect("/aws").await;
    let sb = b.subscribe(group(&topic, "g", 10)).await;
    let got = tokio::time::timeout(Duration::from_secs(25), b.pushed(sb, 1))
        .await
        .expect("given back when the poll ended, not hidden for the 60 s visibility timeout");
    assert_eq!(
        got.iter().map(value_of).collect::<Vec<_>>(),
        ["taken by the orphaned poll"],
        "given back when the poll ended, not hidden for the 60 s visibility timeout"
    );
    gw.stop().await;
}
