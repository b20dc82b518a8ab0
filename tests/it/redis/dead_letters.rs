//! Stream groups' dead letters: XADDed by the gateway to the route's dead-letter stream with
//! the dead-letter headers as fields, then XACKed. Plain redis-rs reads them.

use std::collections::BTreeMap;

use super::*;

/// An entry as XREAD answers it: its id and fields.
type Entry = (String, Vec<(String, String)>);

/// The first entry of `key`, waiting for it (XREAD BLOCK): its id and fields.
async fn first_entry(key: &str) -> (String, BTreeMap<String, String>) {
    let mut rc = oracle().await;
    let v: redis::Value = redis::cmd("XREAD")
        .arg("BLOCK")
        .arg(10_000)
        .arg("STREAMS")
        .arg(key)
        .arg("0")
        .query_async(&mut rc)
        .await
        .expect("XREAD");
    let streams: Vec<(String, Vec<Entry>)> =
        redis::from_redis_value(v).expect("a dead letter within 10 s");
    let (id, fields) = streams[0].1[0].clone();
    (id, fields.into_iter().collect())
}

async fn pending_count(rc: &mut MultiplexedConnection, key: &str, group: &str) -> i64 {
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(key)
        .arg(group)
        .query_async(rc)
        .await
        .unwrap();
    let redis::Value::Array(summary) = pending else {
        panic!("XPENDING answered {pending:?}")
    };
    match summary.first() {
        Some(redis::Value::Int(n)) => *n,
        other => panic!("XPENDING count {other:?}"),
    }
}

fn policy_route(policy: &str, extra: &str) -> String {
    format!(
        "{}    delivery: {{ {policy} }}\n",
        streams_route("/s", REDIS, extra)
    )
}

#[tokio::test]
async fn streams_a_nacked_last_delivery_is_xadded_to_the_dead_letter_stream_and_acknowledged() {
    let mut rc = oracle().await;
    let key = unique("dl-src");
    let dlq = unique("dl-dlq");
    let gw = Gateway::start(&policy_route(
        &format!("max_deliveries: 2, dead_letter: {dlq}"),
        "",
    ))
    .await;
    let mut c = gw.connect("/s").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            start: StartPosition::Earliest as i32,
            ..sub(&key)
        })
        .await;
    let eid = xadd(
        &mut rc,
        &key,
        &[("value", "poison"), ("key", "k1"), ("trace", "t-1")],
    )
    .await;
    let nack = |ms: &[KafkaMessage]| {
        Req::CmdNack(CmdNack {
            subscription_id: id,
            positions: positions(&key, ms),
            delay_ms: 0,
        })
    };
    let first = c.pushed(id, 1).await;
    assert_eq!(first[0].delivery_attempt, 1);
    let r = c.request(nack(&first)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    let again = c.pushed(id, 1).await;
    assert_eq!(again[0].delivery_attempt, 2);
    let r = c.request(nack(&again)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    let (_, f) = first_entry(&dlq).await;
    assert_eq!(f["value"], "poison");
    assert_eq!(f["key"], "k1");
    assert_eq!(f["trace"], "t-1");
    assert_eq!(f["x-dead-letter-topic"], key);
    assert_eq!(f["x-dead-letter-partition"], "0");
    assert_eq!(f["x-dead-letter-position"], eid);
    assert_eq!(f["x-dead-letter-delivery-count"], "2");
    assert_eq!(f["x-dead-letter-first-delivery-ms"], "0");
    assert_eq!(f["x-dead-letter-reason"], "nack");
    assert_eq!(xlen(&mut rc, &dlq).await, 1);
    // Acknowledged in the group: nothing pending, never delivered again.
    assert_eq!(pending_count(&mut rc, &key, "g").await, 0);
    assert!(c
        .pushed_within(id, Duration::from_millis(1_000))
        .await
        .is_empty());
    del(&mut rc, &key).await;
    del(&mut rc, &dlq).await;
    gw.stop().await;
}

#[tokio::test]
async fn streams_a_last_delivery_left_unanswered_is_dead_lettered_when_claimed() {
    let mut rc = oracle().await;
    let key = unique("dl-src");
    let dlq = unique("dl-dlq");
    let gw = Gateway::start(&policy_route(
        &format!("max_deliveries: 1, dead_letter: {dlq}"),
        ", claim_idle_ms: 300",
    ))
    .await;
    let g = CmdKafkaSubscribe {
        group: "g".into(),
        start: StartPosition::Earliest as i32,
        ..sub(&key)
    };
    let mut a = gw.connect("/s").await;
    let ida = a.subscribe(g.clone()).await;
    let e0 = xadd(&mut rc, &key, &[("value", "m0")]).await;
    xadd(&mut rc, &key, &[("value", "m1")]).await;
    let got = a.pushed(ida, 2).await;
    ack(&mut a, ida, &key, &got[1..]).await;
    // A vanishes with m0 unanswered on its one allowed delivery: B claims it after the idle
    // time and dead-letters it instead of delivering it.
    a.disconnect().await;
    let mut b = gw.connect("/s").await;
    let idb = b.subscribe(g).await;
    let (_, f) = first_entry(&dlq).await;
    assert_eq!(f["value"], "m0");
    assert_eq!(f["x-dead-letter-reason"], "max_deliveries");
    assert_eq!(f["x-dead-letter-delivery-count"], "1");
    assert_eq!(f["x-dead-letter-position"], e0);
    assert_eq!(f["x-dead-letter-topic"], key);
    assert!(b
        .pushed_within(idb, Duration::from_millis(800))
        .await
        .is_empty());
    assert_eq!(pending_count(&mut rc, &key, "g").await, 0);
    del(&mut rc, &key).await;
    del(&mut rc, &dlq).await;
    gw.stop().await;
}

#[tokio::test]
async fn streams_an_entry_whose_dead_letter_cannot_be_written_stays_pending_until_it_can() {
    let mut rc = oracle().await;
    let key = unique("dl-src");
    let dlq = unique("dl-dlq");
    // The dead-letter key holds a string: XADD fails (WRONGTYPE) until it is deleted.
    let _: () = redis::cmd("SET")
        .arg(&dlq)
        .arg("not a stream")
        .query_async(&mut rc)
        .await
        .unwrap();
    let gw = Gateway::start(&policy_route(
        &format!("max_deliveries: 1, dead_letter: {dlq}"),
        ", claim_idle_ms: 300",
    ))
    .await;
    let mut c = gw.connect("/s").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            start: StartPosition::Earliest as i32,
            ..sub(&key)
        })
        .await;
    let eid = xadd(&mut rc, &key, &[("value", "poison")]).await;
    let got = c.pushed(id, 1).await;
    let r = c
        .request(Req::CmdNack(CmdNack {
            subscription_id: id,
            positions: positions(&key, &got),
            delay_ms: 0,
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    // Not written, not lost: still pending in the group, and not delivered again.
    assert!(c
        .pushed_within(id, Duration::from_millis(1_000))
        .await
        .is_empty());
    assert_eq!(pending_count(&mut rc, &key, "g").await, 1);
    del(&mut rc, &dlq).await;
    let (_, f) = first_entry(&dlq).await;
    assert_eq!(f["value"], "poison");
    assert_eq!(f["x-dead-letter-position"], eid);
    // Its nacked delivery was the last allowed; the one that writes it is a claim past it.
    assert_eq!(f["x-dead-letter-reason"], "max_deliveries");
    assert_eq!(xlen(&mut rc, &dlq).await, 1, "written once");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while pending_count(&mut rc, &key, "g").await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    del(&mut rc, &key).await;
    del(&mut rc, &dlq).await;
    gw.stop().await;
}
