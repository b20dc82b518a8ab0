//! Per-message ack and nack in the embedded broker's groups: the committed offset follows the
//! lowest unacknowledged message, nacks redeliver with the attempt rising, a vanished member's
//! messages go to another, and settling what a subscription was not given changes nothing.

use super::*;

fn positions(topic: &str, partition: i32, offsets: &[i64]) -> Vec<MessagePosition> {
    offsets
        .iter()
        .map(|o| MessagePosition {
            topic: topic.into(),
            partition,
            offset: *o,
            position: String::new(),
        })
        .collect()
}

async fn ack(c: &mut Client, subscription_id: i64, topic: &str, offsets: &[i64]) -> Resp {
    c.request(Req::CmdAck(CmdAck {
        subscription_id,
        positions: positions(topic, 0, offsets),
    }))
    .await
}

async fn nack(c: &mut Client, subscription_id: i64, topic: &str, offset: i64, delay_ms: i64) {
    let r = c
        .request(Req::CmdNack(CmdNack {
            subscription_id,
            positions: positions(topic, 0, &[offset]),
            delay_ms,
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "nack answered {r:?}");
}

fn attempts(messages: &[KafkaMessage]) -> Vec<(i64, u32)> {
    messages
        .iter()
        .map(|m| (m.offset, m.delivery_attempt))
        .collect()
}

async fn produce_n(c: &mut Client, topic: &str, n: usize) {
    for i in 0..n {
        c.produce_to(topic, 0, &format!("m{i}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_commit_by_acks_never_passes_an_unacknowledged_message() {
    let gw = Gateway::start(&embedded_with("partitions: 1")).await;
    let topic = unique_name("acks", '-');
    let mut a = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub(&topic, "billing")).await;
    let mut p = gw.connect("/embedded").await;
    produce_n(&mut p, &topic, 5).await;
    let got = a.pushed(ida, 5).await;
    assert_eq!(
        attempts(&got),
        vec![(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)],
        "a group's first deliveries are attempt 1"
    );
    let r = ack(&mut a, ida, &topic, &[0, 1, 3, 4]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    a.disconnect().await;
    // The group's committed offset is where its next member starts: offset 2, the one message
    // never acknowledged, though 3 and 4 were (at-least-once: they come again too).
    let mut b = gw.connect("/embedded").await;
    let idb = b.subscribe(group_sub(&topic, "billing")).await;
    let again = b.pushed(idb, 3).await;
    assert_eq!(offsets_of(&again), vec![2, 3, 4]);
    assert_eq!(
        again[0].delivery_attempt, 2,
        "the unacknowledged message's count is the group's"
    );
    // Acking everything moves the commit to the end: a later member gets nothing old.
    let r = ack(&mut b, idb, &topic, &[2, 3, 4]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    b.disconnect().await;
    let mut c = gw.connect("/embedded").await;
    let idc = c.subscribe(group_sub(&topic, "billing")).await;
    assert_eq!(c.pushed_within(idc, QUIET).await, vec![]);
    p.produce_to(&topic, 0, "m5").await;
    assert_eq!(offsets_of(&c.pushed(idc, 1).await), vec![5]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nacked_message_comes_again_after_its_delay_with_the_delivery_attempt_rising() {
    let gw = Gateway::start(&embedded_with("partitions: 1")).await;
    let topic = unique_name("nacks", '-');
    let mut a = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub(&topic, "billing")).await;
    a.produce_to(&topic, 0, "m0").await;
    assert_eq!(attempts(&a.pushed(ida, 1).await), vec![(0, 1)]);
    let nacked = Instant::now();
    nack(&mut a, ida, &topic, 0, 400).await;
    let again = a.pushed(ida, 1).await;
    let waited = nacked.elapsed();
    assert_eq!(attempts(&again), vec![(0, 2)]);
    assert_eq!(value_of(&again[0]), "m0");
    assert!(
        waited >= Duration::from_millis(400),
        "redelivered after {waited:?}, before its delay"
    );
    nack(&mut a, ida, &topic, 0, 0).await;
    assert_eq!(attempts(&a.pushed(ida, 1).await), vec![(0, 3)]);
    let r = ack(&mut a, ida, &topic, &[0]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    assert_eq!(a.pushed_within(ida, QUIET).await, vec![], "acked: no more");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_members_unacknowledged_messages_go_to_another_member() {
    let gw = Gateway::start(&embedded_with("partitions: 1")).await;
    let topic = unique_name("vanish", '-');
    let mut a = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub(&topic, "billing")).await;
    // b joins second: the one partition stays with a.
    let mut b = gw.connect("/embedded").await;
    let idb = b.subscribe(group_sub(&topic, "billing")).await;
    let mut p = gw.connect("/embedded").await;
    produce_n(&mut p, &topic, 3).await;
    assert_eq!(offsets_of(&a.pushed(ida, 3).await), vec![0, 1, 2]);
    let r = ack(&mut a, ida, &topic, &[0]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    assert_eq!(
        b.pushed_within(idb, Duration::from_millis(50)).await,
        vec![]
    );
    // a's connection drops without a word.
    drop(a);
    let got = b.pushed(idb, 2).await;
    assert_eq!(attempts(&got), vec![(1, 2), (2, 2)]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settling_what_a_subscription_was_not_given_answers_an_error_and_changes_nothing() {
    let gw = Gateway::start(&embedded_with("partitions: 1")).await;
    let topic = unique_name("foreign", '-');
    let mut a = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub(&topic, "billing")).await;
    // Another subscription of the same connection, in another group, given the same messages.
    let other = a.subscribe(group_sub(&topic, "audit")).await;
    produce_n(&mut a, &topic, 2).await;
    assert_eq!(offsets_of(&a.pushed(ida, 2).await), vec![0, 1]);
    assert_eq!(offsets_of(&a.pushed(other, 2).await), vec![0, 1]);
    // Never delivered: offset 7; a batch with one good and one bad position changes nothing.
    let (code, msg) = error_of(ack(&mut a, ida, &topic, &[0, 7]).await);
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("offset 7"), "{msg}");
    // Of another subscription: acked there, still awaited here.
    let r = ack(&mut a, other, &topic, &[0, 1]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    let (code, msg) = error_of(ack(&mut a, other, &topic, &[0]).await);
    assert_eq!(code, 400, "acked twice: {msg}");
    // A partition the group does not have.
    let r = a
        .request(Req::CmdAck(CmdAck {
            subscription_id: ida,
            positions: positions(&topic, 5, &[0]),
        }))
        .await;
    assert_eq!(error_of(r).0, 409);
    // Nothing changed for the first subscription: 0 and 1 still await their acks, and a member
    // joining after it leaves starts at 0.
    let r = ack(&mut a, ida, &topic, &[1]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    a.disconnect().await;
    let mut b = gw.connect("/embedded").await;
    let idb = b.subscribe(group_sub(&topic, "billing")).await;
    assert_eq!(offsets_of(&b.pushed(idb, 2).await), vec![0, 1]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nack_on_a_plain_subscription_is_refused_and_its_ack_frees_the_window() {
    let gw = Gateway::start(&embedded_with("partitions: 1")).await;
    let topic = unique_name("plain", '-');
    let mut a = gw.connect("/embedded").await;
    let mut cmd = sub_from(&topic, Start::Earliest);
    cmd.max_in_flight = 1;
    let ida = a.subscribe(cmd).await;
    produce_n(&mut a, &topic, 2).await;
    let first = a.pushed(ida, 1).await;
    assert_eq!(attempts(&first), vec![(0, 0)], "no group, no attempt count");
    assert_eq!(a.pushed_within(ida, QUIET).await, vec![], "window of 1");
    let r = a
        .request(Req::CmdNack(CmdNack {
            subscription_id: ida,
            positions: positions(&topic, 0, &[0]),
            delay_ms: 0,
        }))
        .await;
    assert_eq!(error_of(r).0, 400);
    let r = ack(&mut a, ida, &topic, &[0]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    assert_eq!(offsets_of(&a.pushed(ida, 1).await), vec![1]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacked_messages_count_against_a_group_members_window() {
    let gw = Gateway::start(&embedded_with("partitions: 1")).await;
    let topic = unique_name("window", '-');
    let mut a = gw.connect("/embedded").await;
    let mut cmd = group_sub(&topic, "billing");
    cmd.max_in_flight = 2;
    let ida = a.subscribe(cmd).await;
    produce_n(&mut a, &topic, 4).await;
    assert_eq!(offsets_of(&a.pushed(ida, 2).await), vec![0, 1]);
    // Nacked for a long while, they still hold the window: nothing new comes.
    nack(&mut a, ida, &topic, 0, 60_000).await;
    nack(&mut a, ida, &topic, 1, 60_000).await;
    assert_eq!(a.pushed_within(ida, QUIET).await, vec![]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cumulative_commit_acknowledges_every_delivery_below_it() {
    let gw = Gateway::start(&embedded_with("partitions: 1")).await;
    let topic = unique_name("mixed", '-');
    let mut a = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub(&topic, "billing")).await;
    produce_n(&mut a, &topic, 4).await;
    assert_eq!(offsets_of(&a.pushed(ida, 4).await), vec![0, 1, 2, 3]);
    nack(&mut a, ida, &topic, 1, 60_000).await;
    a.commit(ida, &[(&topic, 0, 3)]).await;
    // 0..3 are settled by the commit (the nacked 1 too: it does not come again).
    let (code, _) = error_of(ack(&mut a, ida, &topic, &[2]).await);
    assert_eq!(code, 400);
    let r = ack(&mut a, ida, &topic, &[3]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    a.disconnect().await;
    let mut b = gw.connect("/embedded").await;
    let idb = b.subscribe(group_sub(&topic, "billing")).await;
    assert_eq!(b.pushed_within(idb, QUIET).await, vec![]);
    gw.stop().await;
}

/// An embedded route with one partition and this `delivery:` policy (flow YAML).
fn with_policy(policy: &str) -> String {
    format!(
        "{}    delivery: {{ {policy} }}\n",
        embedded_with("partitions: 1")
    )
}

/// Every message of `topic` from its start, read with a plain fetch: the broker's own log.
async fn read_all(c: &mut Client, topic: &str) -> Vec<KafkaMessage> {
    c.fetch(fetch_cmd(topic, 0, 0)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_nacked_on_its_last_allowed_delivery_is_dead_lettered_with_every_header() {
    let dlq = unique_name("dlq", '-');
    let gw = Gateway::start(&with_policy(&format!(
        "max_deliveries: 2, backoff: {{ min_ms: 200, max_ms: 1000 }}, dead_letter: {dlq}"
    )))
    .await;
    let topic = unique_name("orders", '-');
    let mut a = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub(&topic, "billing")).await;
    let before = now_ms();
    a.produce(CmdKafkaProduce {
        topic: topic.clone(),
        partition: Some(0),
        key: Bytes::from_static(b"player-7"),
        value: Bytes::from_static(b"m0"),
        headers: vec![header("trace", b"t-1")],
        ..Default::default()
    })
    .await;
    assert_eq!(attempts(&a.pushed(ida, 1).await), vec![(0, 1)]);
    // Without a delay of its own the nack waits the policy's backoff: 200 ms on attempt 1.
    let nacked = Instant::now();
    nack(&mut a, ida, &topic, 0, 0).await;
    assert_eq!(attempts(&a.pushed(ida, 1).await), vec![(0, 2)]);
    let waited = nacked.elapsed();
    assert!(waited >= Duration::from_millis(200), "after {waited:?}");
    // The last allowed delivery nacked: dead-lettered, not delivered again.
    nack(&mut a, ida, &topic, 0, 0).await;
    assert_eq!(a.pushed_within(ida, QUIET).await, vec![]);
    let after = now_ms();
    let dead = read_all(&mut a, &dlq).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let d = &dead[0];
    assert_eq!(d.key.as_ref(), b"player-7");
    assert_eq!(d.value.as_ref(), b"m0");
    let h: BTreeMap<String, String> = headers_of(d).into_iter().collect();
    assert_eq!(h["trace"], "t-1", "the original headers are kept");
    assert_eq!(h["x-dead-letter-topic"], topic);
    assert_eq!(h["x-dead-letter-partition"], "0");
    assert_eq!(h["x-dead-letter-position"], "0");
    assert_eq!(h["x-dead-letter-delivery-count"], "2");
    assert_eq!(h["x-dead-letter-reason"], "nack");
    let first: i64 = h["x-dead-letter-first-delivery-ms"].parse().unwrap();
    assert!(
        (before..=after).contains(&first),
        "{first} not in {before}..{after}"
    );
    // Dead-lettered counts as done: the group's commit passed it.
    let (code, _) = error_of(ack(&mut a, ida, &topic, &[0]).await);
    assert_eq!(code, 400);
    a.disconnect().await;
    let mut b = gw.connect("/embedded").await;
    let idb = b.subscribe(group_sub(&topic, "billing")).await;
    assert_eq!(b.pushed_within(idb, QUIET).await, vec![]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backoff_doubles_between_attempts_up_to_its_maximum() {
    let gw = Gateway::start(&with_policy("backoff: { min_ms: 150, max_ms: 400 }")).await;
    let topic = unique_name("backoff", '-');
    let mut a = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub(&topic, "billing")).await;
    a.produce_to(&topic, 0, "m0").await;
    assert_eq!(attempts(&a.pushed(ida, 1).await), vec![(0, 1)]);
    // 150, 300, then 600 capped at 400 ms; the upper bound allows for two busy cores.
    for (attempt, wait_ms) in [(1u32, 150u64), (2, 300), (3, 400)] {
        let nacked = Instant::now();
        nack(&mut a, ida, &topic, 0, 0).await;
        let got = a.pushed(ida, 1).await;
        let waited = nacked.elapsed();
        assert_eq!(attempts(&got), vec![(0, attempt + 1)]);
        assert!(
            waited >= Duration::from_millis(wait_ms)
                && waited < Duration::from_millis(wait_ms + 1500),
            "attempt {attempt}: waited {waited:?}, expected {wait_ms} ms"
        );
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_member_vanished_on_its_last_delivery_is_dead_lettered() {
    let dlq = unique_name("dlq", '-');
    let gw = Gateway::start(&with_policy(&format!(
        "max_deliveries: 1, dead_letter: {dlq}"
    )))
    .await;
    let topic = unique_name("vanish", '-');
    let mut a = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub(&topic, "billing")).await;
    let mut b = gw.connect("/embedded").await;
    let idb = b.subscribe(group_sub(&topic, "billing")).await;
    b.produce_to(&topic, 0, "m0").await;
    b.produce_to(&topic, 0, "m1").await;
    assert_eq!(offsets_of(&a.pushed(ida, 2).await), vec![0, 1]);
    let r = ack(&mut a, ida, &topic, &[1]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    drop(a);
    // b takes the partition over: m0 had its one delivery, so it goes to the dead letters;
    // m1 was acknowledged but lies past the commit, so it comes again (at-least-once).
    let got = b.pushed(idb, 1).await;
    assert_eq!(attempts(&got), vec![(1, 1)]);
    let dead = read_all(&mut b, &dlq).await;
    assert_eq!(values(&dead), vec!["m0"]);
    let h: BTreeMap<String, String> = headers_of(&dead[0]).into_iter().collect();
    assert_eq!(h["x-dead-letter-reason"], "max_deliveries");
    assert_eq!(h["x-dead-letter-delivery-count"], "1");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_dead_letter_topic_a_message_out_of_deliveries_is_dropped_and_committed() {
    let gw = Gateway::start(&with_policy("max_deliveries: 1")).await;
    let topic = unique_name("drop", '-');
    let mut a = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub(&topic, "billing")).await;
    a.produce_to(&topic, 0, "m0").await;
    a.produce_to(&topic, 0, "m1").await;
    assert_eq!(offsets_of(&a.pushed(ida, 2).await), vec![0, 1]);
    nack(&mut a, ida, &topic, 0, 0).await;
    let r = ack(&mut a, ida, &topic, &[1]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    assert_eq!(a.pushed_within(ida, QUIET).await, vec![]);
    a.disconnect().await;
    let mut b = gw.connect("/embedded").await;
    let idb = b.subscribe(group_sub(&topic, "billing")).await;
    assert_eq!(
        b.pushed_within(idb, QUIET).await,
        vec![],
        "the commit is at 2"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ordered_delivery_an_unacknowledged_or_nacked_message_holds_back_its_key() {
    let gw = Gateway::start(&with_policy("ordered: true")).await;
    let topic = unique_name("ordered", '-');
    let mut a = gw.connect("/embedded").await;
    let ida = a.subscribe(group_sub(&topic, "billing")).await;
    for (key, value) in [
        ("k1", "a0"),
        ("k2", "b0"),
        ("k1", "a1"),
        ("", "free"),
        ("k2", "b1"),
    ] {
        a.produce(CmdKafkaProduce {
            topic: topic.clone(),
            partition: Some(0),
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
            ..Default::default()
        })
        .await;
    }
    // a1 and b1 wait for a0 and b0; the keyless message is not held.
    let mut got = a.pushed(ida, 3).await;
    got.extend(a.pushed_within(ida, QUIET).await);
    assert_eq!(values(&got), ["a0", "b0", "free"]);
    // b0 acknowledged: b1 goes out.
    let r = ack(&mut a, ida, &topic, &[1]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    assert_eq!(values(&a.pushed(ida, 1).await), ["b1"]);
    // A held message cannot be settled: it was not delivered.
    let (code, _) = error_of(ack(&mut a, ida, &topic, &[2]).await);
    assert_eq!(code, 400);
    // a0 nacked: it comes again before a1, which still waits.
    nack(&mut a, ida, &topic, 0, 100).await;
    let again = a.pushed(ida, 1).await;
    assert_eq!(attempts(&again), vec![(0, 2)]);
    assert_eq!(a.pushed_within(ida, QUIET).await, vec![], "a1 waits for a0");
    let r = ack(&mut a, ida, &topic, &[0]).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    assert_eq!(attempts(&a.pushed(ida, 1).await), vec![(2, 1)], "then a1");
    gw.stop().await;
}
