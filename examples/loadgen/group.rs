//! Scenario group: group throughput with per-message acks. N messages are preloaded into the
//! group's durable subscription (gcp) or queue (aws) and into a plain one of the direct client;
//! then one gateway group member (a WebSocket subscribe with a group, one `cmd_ack` per
//! message, pipelined) consumes them, and then the direct client consumes its copy (Pub/Sub
//! unary Pull of up to 1,000 + Acknowledge; SQS ReceiveMessage of 10 + DeleteMessageBatch), on
//! the same emulator or moto in the same run. Reported: msgs/s of each, the ratio gateway /
//! direct, and the CPU of the gateway, the emulator (moto) and this process in each phase.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::{CmdAck, CmdKafkaSubscribe, MessagePosition, PubSubResp, StartPosition};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::client::{connect, describe, frame, now_ns, recv_binary, recv_resp};
use crate::cloud::{self, text_value, Cloud, Cpu3, Seen};
use crate::gateway::{Env, Gateway};
use crate::report::Report;

const GROUP: &str = "lg";
/// A phase fails when nothing arrives or is answered for this long.
const STALL: Duration = Duration::from_secs(20);

/// What the gateway member saw: messages, acks sent and answered, errors.
struct MemberStats {
    secs: f64,
    seen: Seen,
    acks_sent: u64,
    acked: u64,
    ack_errors: u64,
    first_error: Option<String>,
}

fn subscribe_group(topic: &str, max_in_flight: i32) -> Req {
    Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
        topic: topic.into(),
        start: StartPosition::Latest as i32,
        group: GROUP.into(),
        max_in_flight,
        ..Default::default()
    })
}

/// Joins the group and consumes until `n` distinct messages arrived and every ack is answered.
async fn member(
    gw: std::net::SocketAddr,
    src: Ipv4Addr,
    topic: &str,
    n: u64,
    max_in_flight: i32,
) -> Result<MemberStats, String> {
    let mut ws = connect(gw, "/cloud", src, 256 * 1024).await?;
    let t0 = Instant::now();
    ws.send(frame(1, subscribe_group(topic, max_in_flight)))
        .await
        .map_err(|e| format!("send subscribe: {e}"))?;
    let r = recv_resp(&mut ws).await?;
    let sub_id = match r.resp {
        Some(Resp::KafkaSubscribeResp(s)) => s.subscription_id,
        other => return Err(format!("group subscribe: {}", describe(other))),
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<MessagePosition>();
    let writer = tokio::spawn(async move {
        let mut seq = 2i64;
        while let Some(p) = rx.recv().await {
            let mut next = Some(p);
            // Every ack waiting is written, then flushed once.
            while let Some(p) = next {
                let ack = Req::CmdAck(CmdAck {
                    subscription_id: sub_id,
                    positions: vec![p],
                });
                sink.feed(frame(seq, ack))
                    .await
                    .map_err(|e| format!("send ack: {e}"))?;
                seq += 1;
                next = rx.try_recv().ok();
            }
            sink.flush().await.map_err(|e| format!("flush: {e}"))?;
        }
        let _ = sink.close().await;
        Ok::<(), String>(())
    });
    let mut st = MemberStats {
        secs: 0.0,
        seen: Seen::new(n),
        acks_sent: 0,
        acked: 0,
        ack_errors: 0,
        first_error: None,
    };
    while st.seen.distinct < n || st.acked + st.ack_errors < st.acks_sent {
        let b = match tokio::time::timeout(STALL, async {
            loop {
                match stream.next().await {
                    Some(Ok(Message::Binary(b))) => return Ok(b),
                    Some(Ok(Message::Close(f))) => return Err(format!("closed: {f:?}")),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(format!("connection failed: {e}")),
                    None => return Err("connection ended".to_string()),
                }
            }
        })
        .await
        {
            Ok(b) => b?,
            Err(_) => {
                st.first_error.get_or_insert_with(|| {
                    format!(
                        "stalled {STALL:?}: {} of {n} messages, {} of {} acks answered",
                        st.seen.distinct, st.acked, st.acks_sent
                    )
                });
                break;
            }
        };
        let resp = PubSubResp::decode(b).map_err(|e| format!("undecodable frame: {e}"))?;
        match resp.resp {
            Some(Resp::KafkaPush(p)) => {
                let now = now_ns();
                for m in p.messages {
                    st.seen.record(&m.value, now);
                    // Redeliveries are acked too: the message is settled either way.
                    let pos = MessagePosition {
                        topic: if m.topic.is_empty() {
                            topic.to_string()
                        } else {
                            m.topic
                        },
                        partition: m.partition,
                        offset: m.offset,
                        position: m.position,
                    };
                    tx.send(pos)
                        .map_err(|_| "the ack writer stopped".to_string())?;
                    st.acks_sent += 1;
                }
            }
            Some(Resp::OkResp(_)) if resp.sequence >= 2 => st.acked += 1,
            other => {
                st.ack_errors += 1;
                st.first_error.get_or_insert_with(|| describe(other));
            }
        }
    }
    st.secs = t0.elapsed().as_secs_f64();
    drop(tx);
    // A writer blocked on a gateway that stopped reading must not hang the report.
    match tokio::time::timeout(Duration::from_secs(5), writer).await {
        Ok(Ok(Err(e))) => {
            st.first_error.get_or_insert(e);
        }
        Err(_) => {
            st.first_error
                .get_or_insert_with(|| "the writer was still blocked 5 s after the end".into());
        }
        _ => {}
    }
    Ok(st)
}

/// The direct client's consumer of its own copy: until `n` distinct messages.
async fn direct(cloud: &Arc<dyn Cloud>, id: &str, n: u64) -> Result<(f64, Seen), String> {
    let seen = Arc::new(Mutex::new(Seen::new(n)));
    let s = seen.clone();
    let mut on = move |v: &[u8]| match s.lock() {
        Ok(mut s) => {
            s.record(v, now_ns());
            s.distinct < n
        }
        Err(_) => false,
    };
    let t0 = Instant::now();
    let stop = CancellationToken::new();
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(300)).await;
            stop.cancel();
        })
    };
    let r = cloud.receive(id, false, stop, &mut on).await;
    timer.abort();
    drop(on);
    let secs = t0.elapsed().as_secs_f64();
    r?;
    let seen = Arc::try_unwrap(seen)
        .map_err(|_| "direct consumer still running")?
        .into_inner()
        .map_err(|_| "poisoned")?;
    Ok((secs, seen))
}

pub async fn group(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&["scheme", "messages", "size", "rounds", "max-in-flight"])?;
    env.needs_gateway("the cloud schemes")?;
    let scheme = a.choice("scheme", "gcp", &["gcp", "aws"])?;
    let n: u64 = a.num("messages", 2000)?;
    let size: usize = a.num("size", 100)?;
    let rounds: usize = a.num("rounds", 1)?;
    let max_in_flight: i32 = a.num("max-in-flight", 0)?;
    let mut r = Report::new("group");
    r.param("scheme", scheme.clone());
    r.param("messages", n);
    r.param("size", size.max(32));
    r.param("rounds", rounds);
    r.param("max_in_flight", max_in_flight);
    let cloud: Arc<dyn Cloud> = Arc::from(cloud::start(&scheme).await?);
    let server_name = if scheme == "gcp" { "emulator" } else { "moto" };
    let topic = format!("group-{}", std::process::id());
    cloud.create_topic(&topic).await?;
    cloud.create_direct(&topic, "lg-direct-group").await?;
    let mut gw = Gateway::start(env, "", &cloud.route())?;
    gw.describe(&mut r);
    r.param("route_scheme", cloud.scheme());
    let src = Ipv4Addr::new(127, 0, 0, 2);
    // A first member makes the group's durable subscription (queue) and leaves, so that the
    // preloaded messages wait there for the measured member.
    {
        let mut ws = connect(gw.addr, "/cloud", src, 16 * 1024).await?;
        ws.send(frame(1, subscribe_group(&topic, max_in_flight)))
            .await
            .map_err(|e| format!("send subscribe: {e}"))?;
        let b = tokio::time::timeout(Duration::from_secs(30), recv_binary(&mut ws))
            .await
            .map_err(|_| "no reply to the first member's subscribe")??;
        match PubSubResp::decode(b).map(|r| r.resp) {
            Ok(Some(Resp::KafkaSubscribeResp(_))) => {}
            Ok(other) => return Err(format!("first member: {}", describe(other))),
            Err(e) => return Err(format!("first member: undecodable reply: {e}")),
        }
        let _ = ws.close(None).await;
    }
    // SQS: the first member's long poll (20 s) outlives its leaving at the server, and takes
    // what arrives meanwhile out of sight for the visibility timeout: wait it out.
    let settle = if scheme == "aws" { 21_000 } else { 500 };
    tokio::time::sleep(Duration::from_millis(settle)).await;
    for round in 0..rounds.max(1) {
        let p = if rounds > 1 {
            format!("r{}_", round + 1)
        } else {
            String::new()
        };
        let t = Instant::now();
        let values: Vec<_> = (0..n).map(|i| text_value(size, i)).collect();
        cloud.publish(&topic, values).await?;
        r.metric(&format!("{p}preload_secs"), t.elapsed().as_secs_f64(), "s");

        let cpu = Cpu3::start(&gw, cloud.server());
        let m = member(gw.addr, src, &topic, n, max_in_flight).await?;
        cpu.add_to(
            &gw,
            cloud.server(),
            server_name,
            &mut r,
            &format!("{p}gateway_phase_"),
        );
        let gw_rate = m.seen.distinct as f64 / m.secs.max(1e-9);
        r.metric(&format!("{p}gateway_msgs_per_sec"), gw_rate, "msg/s");
        r.metric(&format!("{p}gateway_secs"), m.secs, "s");
        r.metric(&format!("{p}gateway_received"), m.seen.distinct, "msgs");
        r.metric(&format!("{p}gateway_redelivered"), m.seen.dups, "msgs");
        r.metric(&format!("{p}gateway_acks_answered"), m.acked, "");
        r.metric(
            &format!("{p}gateway_rss_mib"),
            gw.rss_kib() as f64 / 1024.0,
            "MiB",
        );
        if m.seen.distinct < n || m.ack_errors > 0 || m.seen.foreign > 0 {
            r.fail(format!(
                "round {}: the gateway member got {} of {n} ({} not of this run), {} ack errors: {}",
                round + 1,
                m.seen.distinct,
                m.seen.foreign,
                m.ack_errors,
                m.first_error.clone().unwrap_or_default()
            ));
        }
        // The member's connection is closed; let its leave settle before the direct phase.
        tokio::time::sleep(Duration::from_millis(500)).await;

        let cpu = Cpu3::start(&gw, cloud.server());
        let (secs, d) = direct(&cloud, "lg-direct-group", n).await?;
        cpu.add_direct(cloud.server(), server_name, &mut r, &p);
        let d_rate = d.distinct as f64 / secs.max(1e-9);
        r.metric(&format!("{p}direct_msgs_per_sec"), d_rate, "msg/s");
        r.metric(&format!("{p}direct_secs"), secs, "s");
        r.metric(&format!("{p}direct_received"), d.distinct, "msgs");
        r.metric(&format!("{p}direct_redelivered"), d.dups, "msgs");
        r.metric(
            &format!("{p}ratio_gateway_direct"),
            gw_rate / d_rate.max(1e-9),
            "",
        );
        if d.distinct < n {
            r.fail(format!(
                "round {}: the direct consumer got {} of {n}",
                round + 1,
                d.distinct
            ));
        }
    }
    r.note(if scheme == "gcp" {
        "gateway: one member, one cmd_ack per message (pipelined), the member pulls (unary Pull, \
         up to its window) and acks each ack's ids with Acknowledge; direct: one loop of unary \
         Pull (max 1,000, return_immediately) + Acknowledge of each pull's ids (8 in flight)"
    } else {
        "gateway: one member, one cmd_ack per message (pipelined), the member long-polls \
         ReceiveMessage (10 at most) and deletes each ack's message (DeleteMessageBatch); direct: \
         one loop of ReceiveMessage (10) + DeleteMessageBatch of each receive (8 in flight)"
    });
    r.note("phases run one after the other on the same emulator/moto: gateway first, then direct");
    gw.alive()?;
    gw.stop();
    Ok(r)
}
