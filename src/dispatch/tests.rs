//! Dispatch against a scheme that can do almost nothing: every capability check must refuse
//! before the backend is asked.

use super::*;
use crate::backend::{Capabilities, Publish, Published, Wildcards};
use crate::pb::{
    CmdAck, CmdKafkaCommit, CmdKafkaListOffset, CmdKafkaMetadata, CmdKafkaProduce,
    CmdKafkaSubscribe, CmdNack, KafkaHeader, StartPosition,
};
use async_trait::async_trait;
use tokio::sync::mpsc;

/// A scheme that can publish plain values and subscribe from LATEST, and nothing else: every
/// other request must be refused by dispatch before it reaches the backend.
struct Bare;

const BARE: Capabilities = Capabilities {
    description: std::borrow::Cow::Borrowed("a bare scheme"),
    history: false,
    starts: &[StartPosition::Latest],
    fetch: false,
    time_lookup: false,
    offsets: false,
    groups: false,
    ack: false,
    nack: false,
    commit: false,
    wildcards: Wildcards::None,
    headers: false,
    keys: false,
    partitions: false,
    string_positions: false,
    epochs: false,
};

#[async_trait]
impl Backend for Bare {
    fn scheme(&self) -> &'static str {
        "bare"
    }
    fn capabilities(&self) -> &Capabilities {
        &BARE
    }
    async fn produce(&self, _req: Publish) -> Result<Published> {
        Ok(Published {
            partition: 0,
            offset: 7,
            position: String::new(),
        })
    }
    // Everything else answers "unknown command": reaching it means dispatch let it through.
}

fn dispatcher() -> (Dispatcher, mpsc::Receiver<crate::outbox::Outbound>) {
    let (tx, rx) = mpsc::channel(64);
    let d = Dispatcher::new(
        Arc::new(Bare),
        Arc::new(Limits::default()),
        Outbox::new(tx, 1 << 20),
        Arc::new(Identity::default()),
    )
    .with_route(Arc::from("/bare"));
    (d, rx)
}

async fn answer(d: &Dispatcher, req: Req) -> Result<Reply> {
    d.command(1, req).await
}

fn refused(r: Result<Reply>, what: &str) {
    match r {
        Err(e) => {
            let text = e.to_string();
            assert_eq!(e.code(), 400, "{what}: {text}");
            assert!(
                text.contains("route /bare is a bare scheme, which has none"),
                "{what}: {text}"
            );
        }
        Ok(_) => panic!("{what} was let through"),
    }
}

fn produce(f: impl FnOnce(&mut CmdKafkaProduce)) -> Req {
    let mut c = CmdKafkaProduce {
        topic: "t".into(),
        value: Bytes::from_static(b"v"),
        ..Default::default()
    };
    f(&mut c);
    Req::CmdKafkaProduce(c)
}

fn subscribe(f: impl FnOnce(&mut CmdKafkaSubscribe)) -> Req {
    let mut c = CmdKafkaSubscribe {
        topic: "t".into(),
        ..Default::default()
    };
    f(&mut c);
    Req::CmdKafkaSubscribe(c)
}

#[tokio::test]
async fn requests_needing_what_the_scheme_lacks_answer_the_capability_error() {
    let (d, _rx) = dispatcher();
    let list = |timestamp| {
        Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: "t".into(),
            partition: 0,
            timestamp,
        })
    };
    refused(answer(&d, list(1_000)).await, "list_offset by time");
    refused(answer(&d, list(-1)).await, "list_offset end");
    refused(answer(&d, list(-2)).await, "list_offset earliest");
    refused(
        answer(
            &d,
            Req::CmdKafkaFetch(CmdKafkaFetch {
                topic: "t".into(),
                ..Default::default()
            }),
        )
        .await,
        "fetch",
    );
    refused(
        answer(
            &d,
            Req::CmdKafkaMetadata(CmdKafkaMetadata { topic: "t".into() }),
        )
        .await,
        "metadata",
    );
    refused(
        answer(
            &d,
            produce(|c| {
                c.headers = vec![KafkaHeader {
                    key: "h".into(),
                    value: Bytes::new(),
                }]
            }),
        )
        .await,
        "headers",
    );
    refused(
        answer(&d, produce(|c| c.key = Bytes::from_static(b"k"))).await,
        "key",
    );
    refused(
        answer(&d, produce(|c| c.partition = Some(0))).await,
        "partition",
    );
    for start in [
        StartPosition::Earliest,
        StartPosition::Last,
        StartPosition::Offset,
        StartPosition::Timestamp,
        StartPosition::TimeDelta,
    ] {
        refused(
            answer(&d, subscribe(|c| c.start = start as i32)).await,
            start.as_str_name(),
        );
    }
    refused(
        answer(&d, subscribe(|c| c.group = "g".into())).await,
        "group",
    );
    refused(
        answer(&d, subscribe(|c| c.partitions = vec![0])).await,
        "partitions",
    );
    refused(
        answer(&d, subscribe(|c| c.start_epoch = 3)).await,
        "start_epoch",
    );
    refused(
        answer(&d, subscribe(|c| c.start_position = "1-0".into())).await,
        "start_position",
    );
    refused(
        answer(
            &d,
            Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
                topic_pattern: "t.*".into(),
                ..Default::default()
            }),
        )
        .await,
        "topic_pattern",
    );
}

#[tokio::test]
async fn what_the_scheme_can_do_reaches_the_backend() {
    let (d, _rx) = dispatcher();
    match answer(&d, produce(|_| {})).await {
        Ok(Reply::Frame(f)) => {
            let r = <crate::pb::PubSubResp as prost::Message>::decode(f).unwrap();
            match r.resp {
                Some(Resp::KafkaProduceResp(r)) => assert_eq!(r.offset, 7),
                other => panic!("not a produce reply: {other:?}"),
            }
        }
        Ok(_) => panic!("not a produce reply"),
        Err(e) => panic!("plain publish refused: {e}"),
    }
    // LATEST passes the capability checks and reaches the backend, which has no handler.
    let r = answer(&d, subscribe(|_| {})).await;
    match r {
        Err(e) => assert_eq!(e.to_string(), "unknown command"),
        Ok(_) => panic!("a backend without subscribe subscribed"),
    }
}

#[tokio::test]
async fn commit_ack_and_nack_need_their_capability() {
    let (d, _rx) = dispatcher();
    let open = Open {
        sub: Arc::new(NoSub),
        gate: Arc::new(Gate::default()),
        group: None,
    };
    d.subs().insert(5, open);
    refused(
        answer(
            &d,
            Req::CmdKafkaCommit(CmdKafkaCommit {
                subscription_id: 5,
                offsets: vec![],
            }),
        )
        .await,
        "commit",
    );
    refused(
        answer(
            &d,
            Req::CmdAck(CmdAck {
                subscription_id: 5,
                positions: vec![],
            }),
        )
        .await,
        "ack",
    );
    refused(
        answer(
            &d,
            Req::CmdNack(CmdNack {
                subscription_id: 5,
                positions: vec![],
                delay_ms: 0,
            }),
        )
        .await,
        "nack",
    );
}

struct NoSub;

#[async_trait]
impl Subscription for NoSub {
    async fn commit(&self, _offsets: Vec<crate::backend::CommitOffset>) -> Result<()> {
        Ok(())
    }
    fn close(&self) {}
}

#[test]
fn every_command_has_its_own_metrics_index() {
    let reqs = [
        Req::CmdEmpty(Default::default()),
        Req::CmdPing(Default::default()),
        Req::CmdKafkaFetch(Default::default()),
        Req::CmdKafkaListOffset(Default::default()),
        Req::CmdKafkaProduce(Default::default()),
        Req::CmdKafkaSubscribe(Default::default()),
        Req::CmdUnsubscribe(Default::default()),
        Req::CmdKafkaCommit(Default::default()),
        Req::CmdKafkaMetadata(Default::default()),
        Req::CmdRefresh(Default::default()),
        Req::CmdRouteInfo(Default::default()),
        Req::CmdAck(Default::default()),
        Req::CmdNack(Default::default()),
    ];
    for (i, req) in reqs.into_iter().enumerate() {
        let index = command_index(&PubSubReq {
            sequence: 0,
            req: Some(req),
        });
        assert_eq!(index, i);
        assert_ne!(crate::metrics::COMMANDS[index], "invalid");
    }
    let none = PubSubReq {
        sequence: 0,
        req: None,
    };
    assert_eq!(command_index(&none), crate::metrics::CMD_INVALID);
}
