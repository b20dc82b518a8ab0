//! Broker refusals no Mosquitto configuration produces, from a fake broker inside the test: other
//! SUBACK and PUBACK reason codes answer 502 naming the reason. The MQTT credential, TLS and ACL
//! tests set environment variables and live in tests/env_credentials/mqtt.rs.

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::*;

use crate::common::mqtt::*;
use crate::common::*;

fn produce(topic: &str, value: &str) -> Req {
    Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: topic.into(),
        value: value.as_bytes().to_vec().into(),
        ..Default::default()
    })
}

/// A fake MQTT 5 broker that accepts every connection, grants every subscription except those
/// under `refuse/` (SUBACK reason 0x80, Unspecified error) and answers every QoS 1 publish with
/// PUBACK reason 0x97 (Quota exceeded): broker refusals no Mosquitto configuration produces.
async fn refusing_broker() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("fake broker binds");
    let addr = listener.local_addr().expect("addr").to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // One whole packet: type byte, variable-length remaining length, body.
                    let mut parsed = None;
                    if buf.len() >= 2 {
                        let (mut len, mut mul, mut i) = (0usize, 1usize, 1usize);
                        while i < buf.len() && i < 5 {
                            len += usize::from(buf[i] & 0x7f) * mul;
                            mul *= 128;
                            i += 1;
                            if buf[i - 1] & 0x80 == 0 {
                                if buf.len() >= i + len {
                                    parsed = Some((buf[0], i, len));
                                }
                                break;
                            }
                        }
                    }
                    let Some((kind, head, len)) = parsed else {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let body: Vec<u8> = buf[head..head + len].to_vec();
                    buf.drain(..head + len);
                    let reply: Vec<u8> = match kind >> 4 {
                        1 => vec![0x20, 0x03, 0x00, 0x00, 0x00],
                        8 => {
                            // Packet id, properties (length then bytes), then the first filter.
                            let (props, mut mul, mut i) = (&body[2..], 1usize, 0usize);
                            let mut plen = 0usize;
                            loop {
                                plen += usize::from(props[i] & 0x7f) * mul;
                                mul *= 128;
                                i += 1;
                                if props[i - 1] & 0x80 == 0 {
                                    break;
                                }
                            }
                            let f = &props[i + plen..];
                            let flen = usize::from(u16::from_be_bytes([f[0], f[1]]));
                            let filter = String::from_utf8_lossy(&f[2..2 + flen]).into_owned();
                            let code = if filter.starts_with("refuse/") {
                                0x80
                            } else {
                                0x01
                            };
                            vec![0x90, 0x04, body[0], body[1], 0x00, code]
                        }
                        3 if (kind >> 1) & 0x03 == 1 => {
                            let tlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
                            let (hi, lo) = (body[2 + tlen], body[3 + tlen]);
                            vec![0x40, 0x03, hi, lo, 0x97]
                        }
                        12 => vec![0xd0, 0x00],
                        14 => return,
                        _ => Vec::new(),
                    };
                    if !reply.is_empty() && tcp.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn other_suback_and_puback_refusals_answer_502_with_the_reason() {
    let (addr, broker) = refusing_broker().await;
    let gw = Gateway::start(&route("/m", &addr, "")).await;
    let mut c = gw.connect("/m").await;
    c.subscribe(sub("fine/a")).await;
    let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(sub("refuse/a"))).await);
    assert_eq!(code, 502, "{msg}");
    assert!(msg.contains("Unspecified"), "{msg}");
    let (code, msg) = error_of(c.request(produce("fine/a", "v")).await);
    assert_eq!(code, 502, "{msg}");
    assert!(msg.contains("QuotaExceeded"), "{msg}");
    // The connection goes on: the next subscription is granted.
    c.subscribe(sub("fine/b")).await;
    drop(c);
    gw.stop().await;
    broker.abort();
}
