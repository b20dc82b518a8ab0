//! Subscriptions of the embedded broker at the points where they attach to a log.

use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;

use super::*;
use crate::backend::Publish;
use crate::outbox::{Outbound, Outbox};
use crate::pb::{pub_sub_resp::Resp, CmdKafkaSubscribe, KafkaPush, StartPosition};

/// A subscription's pushes as they reach its connection's queue.
struct Pushes(tokio::sync::mpsc::Receiver<Outbound>);

impl Pushes {
    async fn next(&mut self) -> KafkaPush {
        match tokio::time::timeout(Duration::from_secs(5), self.0.recv()).await {
            Ok(Some(Outbound::Frame(f))) => match crate::pb::PubSubResp::decode(f).unwrap().resp {
                Some(Resp::KafkaPush(p)) => p,
                other => panic!("not a push: {other:?}"),
            },
            other => panic!("no push: {other:?}"),
        }
    }
}

async fn subscribe(
    backend: &EmbeddedBackend,
    cmd: CmdKafkaSubscribe,
) -> (Arc<dyn Subscription>, Pushes) {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let sink = PushSink::new(Outbox::new(tx, 1 << 20), 1, 1, 0);
    sink.gate().open();
    let spec = SubscribeSpec::parse(cmd, 1024).unwrap();
    let sub = backend.subscribe(spec, sink).await.unwrap();
    (sub, Pushes(rx))
}

async fn produce(backend: &EmbeddedBackend, topic: &str, n: usize) {
    for i in 0..n {
        backend
            .produce(Publish {
                topic: topic.into(),
                partition: None,
                key: Bytes::new(),
                value: Bytes::from(format!("m{i}")),
                headers: vec![],
                timestamp: 0,
                idempotency_key: String::new(),
            })
            .await
            .unwrap();
    }
}

/// A client resuming after a restart of a memory-mode broker: its subscription (start_epoch of
/// the old log, the next offset in it) arrives before the topic exists again; the new log's
/// messages come from its beginning with `reset`, by topic and by pattern.
#[tokio::test]
async fn a_resume_waiting_for_its_topic_starts_the_new_generation_at_its_beginning_with_reset() {
    for pattern in [false, true] {
        let backend = EmbeddedBackend::new(EmbeddedOptions::default());
        let cmd = CmdKafkaSubscribe {
            topic: if pattern { String::new() } else { "r".into() },
            topic_pattern: if pattern { "r".into() } else { String::new() },
            start: StartPosition::Offset as i32,
            start_value: 5,
            start_epoch: 12345,
            ..Default::default()
        };
        let (_sub, mut pushes) = subscribe(&backend, cmd).await;
        produce(&backend, "r", 8).await;
        let first = pushes.next().await;
        assert!(first.reset, "pattern {pattern}: the first push says reset");
        let mut offsets: Vec<i64> = first.messages.iter().map(|m| m.offset).collect();
        while offsets.len() < 8 {
            let p = pushes.next().await;
            assert!(!p.reset, "pattern {pattern}: reset is said once");
            offsets.extend(p.messages.iter().map(|m| m.offset));
        }
        assert_eq!(offsets, (0..8).collect::<Vec<_>>(), "pattern {pattern}");
    }
}

/// The same resume into the log's own generation continues at its offset, with no reset.
#[tokio::test]
async fn a_resume_into_the_same_generation_continues_at_its_offset() {
    let backend = EmbeddedBackend::new(EmbeddedOptions::default());
    produce(&backend, "r", 5).await;
    let epoch = backend.broker.topic("r").unwrap().epoch;
    for pattern in [false, true] {
        let cmd = CmdKafkaSubscribe {
            topic: if pattern { String::new() } else { "r".into() },
            topic_pattern: if pattern { "r".into() } else { String::new() },
            start: StartPosition::Offset as i32,
            start_value: 3,
            start_epoch: epoch,
            ..Default::default()
        };
        let (_sub, mut pushes) = subscribe(&backend, cmd).await;
        let p = pushes.next().await;
        assert!(!p.reset, "pattern {pattern}");
        assert_eq!(
            p.messages.iter().map(|m| m.offset).collect::<Vec<_>>(),
            vec![3, 4]
        );
    }
}
