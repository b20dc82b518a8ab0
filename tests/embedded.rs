//! The full command set on the embedded scheme, through the real server and a real client.

mod common;

use bytes::Bytes;
use common::*;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;

#[tokio::test]
async fn ping_echoes_state() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let r = c
        .request(Req::CmdPing(CmdPing {
            state: Bytes::from_static(b"abc"),
        }))
        .await;
    assert_eq!(
        r,
        Resp::PongResp(PongResp {
            state: Bytes::from_static(b"abc")
        })
    );
    gw.stop().await;
}

#[tokio::test]
async fn produce_then_fetch_returns_the_message() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let r = c
        .request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "t".into(),
            value: Bytes::from_static(b"hello"),
            ..Default::default()
        }))
        .await;
    assert_eq!(
        r,
        Resp::KafkaProduceResp(KafkaProduceResp {
            partition: 0,
            offset: 0
        })
    );
    let r = c
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "t".into(),
            ..Default::default()
        }))
        .await;
    let Resp::KafkaFetchResp(f) = r else { panic!("{r:?}") };
    assert_eq!(f.messages.len(), 1);
    assert_eq!(&f.messages[0].value[..], b"hello");
    gw.stop().await;
}
