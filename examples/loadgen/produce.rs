//! Producing through the gateway: paced (fan-out) and as fast as acknowledged (preloading).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::PubSubResp;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{describe, frame, make_value, produce_req, recv_resp, Ws};
use crate::WAIT;

/// Produces through the gateway at `rate` msgs/s for `secs` seconds on one connection
/// (pipelined: sending never waits for replies).
#[derive(Default, Debug)]
pub struct ProduceStats {
    pub sent: u64,
    pub acked: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub first_send: Option<Instant>,
    pub last_send: Option<Instant>,
}

pub async fn produce_paced(
    ws: Ws,
    topic: String,
    rate: f64,
    secs: f64,
    size: usize,
) -> ProduceStats {
    let (mut sink, mut stream) = ws.split();
    let total = (rate * secs).round() as u64;
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (sent, done) = (sent.clone(), done.clone());
        tokio::spawn(async move {
            let (mut acked, mut errors, mut first_error) = (0u64, 0u64, None);
            loop {
                let finished = done.load(Ordering::Acquire);
                if finished && acked + errors >= sent.load(Ordering::Acquire) {
                    break;
                }
                let wait = if finished {
                    WAIT
                } else {
                    Duration::from_millis(200)
                };
                let m = match tokio::time::timeout(wait, stream.next()).await {
                    Ok(m) => m,
                    Err(_) if finished => {
                        first_error.get_or_insert_with(|| "produce replies missing".to_string());
                        break;
                    }
                    Err(_) => continue,
                };
                match m {
                    Some(Ok(Message::Binary(b))) => match PubSubResp::decode(b).map(|r| r.resp) {
                        Ok(Some(Resp::KafkaProduceResp(_))) => acked += 1,
                        Ok(other) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| describe(other));
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| format!("undecodable: {e}"));
                        }
                    },
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        first_error.get_or_insert_with(|| format!("producer connection: {e}"));
                        break;
                    }
                    None => {
                        first_error.get_or_insert_with(|| "producer connection ended".into());
                        break;
                    }
                }
            }
            (acked, errors, first_error)
        })
    };
    let mut st = ProduceStats::default();
    let start = Instant::now();
    let mut n = 0u64;
    while n < total {
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        if st.first_send.is_none() {
            st.first_send = Some(Instant::now());
        }
        let mut failed = false;
        while n < due {
            if let Err(e) = sink
                .feed(frame(
                    n as i64 + 1,
                    produce_req(&topic, make_value(size, n)),
                ))
                .await
            {
                st.first_error = Some(format!("produce send: {e}"));
                failed = true;
                break;
            }
            n += 1;
            sent.store(n, Ordering::Release);
        }
        if failed || sink.flush().await.is_err() {
            break;
        }
        st.last_send = Some(Instant::now());
        let next_at = start + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(next_at.into()).await;
    }
    st.sent = n;
    done.store(true, Ordering::Release);
    match reader.await {
        Ok((acked, errors, first_error)) => {
            st.acked = acked;
            st.errors = errors;
            if st.first_error.is_none() {
                st.first_error = first_error;
            }
        }
        Err(e) => st.first_error = Some(format!("reader task: {e}")),
    }
    let _ = sink.close().await;
    st
}

/// Produces `n` messages on a connection, `window` in flight; fails on any error reply.
pub async fn produce_bulk(
    ws: &mut Ws,
    topic: &str,
    n: u64,
    size: usize,
    window: u64,
) -> Result<(), String> {
    let mut sent = 0u64;
    let mut acked = 0u64;
    while acked < n {
        while sent < n && sent - acked < window {
            ws.feed(frame(
                sent as i64 + 1,
                produce_req(topic, make_value(size, sent)),
            ))
            .await
            .map_err(|e| format!("send: {e}"))?;
            sent += 1;
        }
        ws.flush().await.map_err(|e| format!("flush: {e}"))?;
        let r = recv_resp(ws).await?;
        match r.resp {
            Some(Resp::KafkaProduceResp(_)) => acked += 1,
            other => return Err(format!("produce: {}", describe(other))),
        }
    }
    Ok(())
}
