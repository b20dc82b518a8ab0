//! Subscribers: opening subscribed connections and reading their pushes, with a protobuf walk
//! that checks offsets and latencies without decoding into owned messages.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use prost::Message as _;
use pubsub_gateway::pb::{PubSubResp, StartPosition};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::client::{connect, now_ns, recv_binary, sent_ns, subscribe, Sources, Ws};
use crate::report::Hist;
use crate::WAIT;

// Reading frames without allocating: a protobuf walk that picks out (offset, value) of every
// message of a push (PubSubResp field 37) or of a fetch reply (field 33).

pub fn varint(b: &mut &[u8]) -> Result<u64, String> {
    prost::encoding::decode_varint(b).map_err(|e| e.to_string())
}

pub fn key(b: &mut &[u8]) -> Result<(u64, u64), String> {
    let k = varint(b)?;
    Ok((k >> 3, k & 7))
}

pub fn delimited<'a>(b: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let n = varint(b)? as usize;
    if n > b.len() {
        return Err("truncated field".into());
    }
    let (head, tail) = b.split_at(n);
    *b = tail;
    Ok(head)
}

pub fn skip(b: &mut &[u8], wire: u64) -> Result<(), String> {
    let n = match wire {
        0 => {
            varint(b)?;
            return Ok(());
        }
        1 => 8,
        2 => {
            delimited(b)?;
            return Ok(());
        }
        5 => 4,
        w => return Err(format!("unsupported wire type {w}")),
    };
    if n > b.len() {
        return Err("truncated field".into());
    }
    *b = &b[n..];
    Ok(())
}

pub const RESP_FETCH: u64 = 33;
pub const RESP_PUSH: u64 = 37;

/// Calls `on_msg(offset, value)` for each message when the frame's resp is `resp_field` (fetch:
/// messages are field 1; push: field 2) and returns how many; None for any other resp.
pub fn scan_messages(
    frame: &[u8],
    resp_field: u64,
    mut on_msg: impl FnMut(i64, &[u8]),
) -> Result<Option<usize>, String> {
    let msgs_field = if resp_field == RESP_PUSH { 2 } else { 1 };
    let mut b = frame;
    let mut found = None;
    while !b.is_empty() {
        let (f, w) = key(&mut b)?;
        if f != resp_field || w != 2 {
            skip(&mut b, w)?;
            continue;
        }
        let mut inner = delimited(&mut b)?;
        let mut n = 0;
        while !inner.is_empty() {
            let (f, w) = key(&mut inner)?;
            if f != msgs_field || w != 2 {
                skip(&mut inner, w)?;
                continue;
            }
            let mut m = delimited(&mut inner)?;
            let (mut offset, mut value): (i64, &[u8]) = (0, &[]);
            while !m.is_empty() {
                match key(&mut m)? {
                    (1, 0) => offset = varint(&mut m)? as i64,
                    (4, 2) => value = delimited(&mut m)?,
                    (_, w) => skip(&mut m, w)?,
                }
            }
            on_msg(offset, value);
            n += 1;
        }
        found = Some(n);
    }
    Ok(found)
}

/// What one subscriber saw.
#[derive(Default)]
pub struct SubStats {
    pub received: u64,
    pub frames: u64,
    pub gaps: u64,
    pub dups: u64,
    pub last_rx_ns: u64,
    pub hist: Hist,
    pub error: Option<String>,
}

/// Reads pushes until cancelled: counts messages, checks offsets are contiguous (one partition),
/// records latency from the send time in each value.
pub async fn read_pushes(
    mut ws: Ws,
    cancel: CancellationToken,
    delivered: Arc<AtomicU64>,
) -> SubStats {
    let mut st = SubStats::default();
    let mut next: Option<i64> = None;
    loop {
        let b = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            r = recv_binary(&mut ws) => match r {
                Ok(b) => b,
                Err(e) => {
                    st.error = Some(e);
                    break;
                }
            },
        };
        let now = now_ns();
        let (mut received, mut gaps, mut dups) = (0u64, 0u64, 0u64);
        let hist = &mut st.hist;
        let scanned = scan_messages(&b, RESP_PUSH, |offset, value| {
            match next {
                Some(n) if offset < n => {
                    dups += 1;
                    return;
                }
                Some(n) if offset > n => gaps += (offset - n) as u64,
                _ => {}
            }
            next = Some(offset + 1);
            received += 1;
            if let Some(t) = sent_ns(value) {
                hist.record_us(now.saturating_sub(t) / 1000);
            }
        });
        match scanned {
            Ok(Some(_)) => {
                st.received += received;
                st.gaps += gaps;
                st.dups += dups;
                st.frames += 1;
                st.last_rx_ns = now;
                delivered.fetch_add(received, Ordering::Relaxed);
            }
            Ok(None) => {
                let r = PubSubResp::decode(b).map(|r| r.resp);
                st.error = Some(format!("unexpected frame: {r:?}"));
                break;
            }
            Err(e) => {
                st.error = Some(format!("bad frame: {e}"));
                break;
            }
        }
    }
    st
}

/// Opens `n` connections (at most `concurrency` connecting at once), each subscribed to the
/// topic `topic_of(i)` from LATEST; returns them with each one's connect-to-subscribed time.
pub async fn open_subscribed(
    gw: SocketAddr,
    path: &'static str,
    n: usize,
    concurrency: usize,
    sources: &Arc<Sources>,
    topic_of: impl Fn(usize) -> String,
    read_buf: usize,
) -> (Vec<Ws>, Hist, Vec<String>, f64) {
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let src = sources.pick();
        let topic = topic_of(i);
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = tokio::time::timeout(WAIT, async {
                let mut ws = connect(gw, path, src, read_buf).await?;
                subscribe(&mut ws, 1, &topic, StartPosition::Latest).await?;
                Ok::<_, String>(ws)
            })
            .await
            .unwrap_or_else(|_| Err(format!("connect and subscribe took over {WAIT:?}")));
            drop(permit);
            r.map(|ws| (ws, t.elapsed()))
        }));
    }
    let mut conns = Vec::with_capacity(n);
    let mut hist = Hist::default();
    let mut errors = Vec::new();
    for h in handles {
        match h.await {
            Ok(Ok((ws, d))) => {
                hist.record_us(d.as_micros() as u64);
                conns.push(ws);
            }
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(format!("task failed: {e}")),
        }
    }
    (conns, hist, errors, started.elapsed().as_secs_f64())
}
