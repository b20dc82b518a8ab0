//! A subscription whose log is made again in another epoch while it waits starts the new log
//! at its beginning, and its next push says `reset` (the embedded broker's own cases are unit
//! tests in src/backend/embedded/tests.rs; the clients' side is in clients/rust/tests and
//! tests/browser).

use std::time::Duration;

use async_nats::jetstream::stream::Config as StreamConfig;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::{CmdAck, CmdKafkaSubscribe, KafkaPush, MessagePosition};

use crate::common::nats::{delete_stream, oracle, settle, unique, NATS};
use crate::common::{sub_from, Client, Gateway, Start};

/// The next push of a subscription within `wait`.
async fn next_push(c: &mut Client, id: i64, wait: Duration) -> KafkaPush {
    c.next_push(id, wait)
        .await
        .unwrap_or_else(|| panic!("no push for subscription {id} within {wait:?}"))
}

async fn make_stream(js: &async_nats::jetstream::Context, name: &str, base: &str) -> u64 {
    let mut s = js
        .create_stream(StreamConfig {
            name: name.to_owned(),
            subjects: vec![format!("{base}.>")],
            ..Default::default()
        })
        .await
        .expect("create the stream");
    let created = s.info().await.expect("stream info").created;
    u64::try_from(created.unix_timestamp_nanos()).unwrap()
}

async fn publish(js: &async_nats::jetstream::Context, subject: &str, values: &[&str]) {
    for v in values {
        js.publish(subject.to_owned(), v.as_bytes().to_vec().into())
            .await
            .expect("publish")
            .await
            .expect("stored");
    }
}

fn values(p: &KafkaPush) -> Vec<String> {
    p.messages
        .iter()
        .map(|m| String::from_utf8_lossy(&m.value).into_owned())
        .collect()
}

/// Plain (through the subject's shared tail) and group subscriptions of a JetStream stream that
/// is deleted and made again while they wait: both go on with the new stream from its first
/// message, the first push saying `reset`, the messages carrying the new epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_subscriptions_follow_a_stream_deleted_and_made_again_with_reset() {
    let nc = oracle().await;
    let js = async_nats::jetstream::new(nc.clone());
    let stream = unique("GWT_RESET");
    let base = unique("gwt.reset").replace('_', ".");
    let subject = format!("{base}.a");
    let old_epoch = make_stream(&js, &stream, &base).await;
    let gw = Gateway::start(&format!(
        "routes:\n  - uri: /js\n    upstream:\n      scheme: nats\n      nodes: [\"{NATS}\"]\n      timeout: {{ connect: 2, send: 3, read: 3 }}\n      nats: {{ stream: {stream} }}\n"
    ))
    .await;
    let mut c = gw.connect("/js").await;
    let mut g = gw.connect("/js").await;
    let plain = c.subscribe(sub_from(&subject, Start::Earliest)).await;
    let group = g
        .subscribe(CmdKafkaSubscribe {
            topic: subject.clone(),
            group: "g".into(),
            max_in_flight: 5,
            ..Default::default()
        })
        .await;
    publish(&js, &subject, &["old-1", "old-2", "old-3"]).await;
    let mut got_plain = Vec::new();
    while got_plain.len() < 3 {
        let p = next_push(&mut c, plain, Duration::from_secs(10)).await;
        assert!(!p.reset);
        got_plain.extend(values(&p));
    }
    let mut got_group = Vec::new();
    while got_group.len() < 3 {
        let p = next_push(&mut g, group, Duration::from_secs(10)).await;
        for m in &p.messages {
            assert_eq!(m.epoch, old_epoch);
            let r = g
                .request(Req::CmdAck(CmdAck {
                    subscription_id: group,
                    positions: vec![MessagePosition {
                        topic: m.topic.clone(),
                        offset: m.offset,
                        ..Default::default()
                    }],
                }))
                .await;
            assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
        }
        got_group.extend(values(&p));
    }

    delete_stream(&nc, &stream).await;
    settle(&nc).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let new_epoch = make_stream(&js, &stream, &base).await;
    assert_ne!(new_epoch, old_epoch);
    publish(&js, &subject, &["new-1", "new-2"]).await;

    for (name, c, id) in [("plain", &mut c, plain), ("group", &mut g, group)] {
        let first = next_push(c, id, Duration::from_secs(30)).await;
        assert!(
            first.reset,
            "{name}: the first push of the new stream says reset: {first:?}"
        );
        let mut got = values(&first);
        let mut offsets: Vec<i64> = first.messages.iter().map(|m| m.offset).collect();
        assert!(
            first.messages.iter().all(|m| m.epoch == new_epoch),
            "{name}: {first:?}"
        );
        while got.len() < 2 {
            let p = next_push(c, id, Duration::from_secs(10)).await;
            assert!(!p.reset, "{name}");
            got.extend(values(&p));
            offsets.extend(p.messages.iter().map(|m| m.offset));
        }
        assert_eq!(got, ["new-1", "new-2"], "{name}");
        assert_eq!(offsets, [1, 2], "{name}");
    }
    delete_stream(&nc, &stream).await;
    gw.stop().await;
}
