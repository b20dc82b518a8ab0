//! Message values in text (SNS takes UTF-8 only) carrying the send time and a sequence number,
//! and a receiver's record of them: each sequence once, in any order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::client::{now_ns, recv_binary, Ws};
use crate::push::{scan_messages, RESP_PUSH};
use crate::report::Hist;

/// A text value of `size` bytes (at least 32): send time (ns on the process clock) and
/// sequence, 16 hex digits each, then `x`s.
pub fn text_value(size: usize, seq: u64) -> Bytes {
    let mut s = format!("{:016x}{seq:016x}", now_ns());
    s.extend(std::iter::repeat_n('x', size.saturating_sub(32)));
    Bytes::from(s)
}

/// (send time, sequence) of a value made by `text_value`.
pub fn parse_value(v: &[u8]) -> Option<(u64, u64)> {
    let s = std::str::from_utf8(v.get(0..32)?).ok()?;
    Some((
        u64::from_str_radix(&s[..16], 16).ok()?,
        u64::from_str_radix(&s[16..], 16).ok()?,
    ))
}

/// What one receiver saw of messages 0..n: each sequence once (no order on these schemes),
/// latency from the send time in the value.
pub struct Seen {
    bits: Vec<bool>,
    pub distinct: u64,
    pub dups: u64,
    /// Values not made by this run (unparsable, or a sequence out of range).
    pub foreign: u64,
    pub hist: Hist,
    pub last_rx_ns: u64,
}

impl Seen {
    pub fn new(n: u64) -> Seen {
        Seen {
            bits: vec![false; n as usize],
            distinct: 0,
            dups: 0,
            foreign: 0,
            hist: Hist::default(),
            last_rx_ns: 0,
        }
    }

    /// Records one value received at `now`; true when it is new.
    pub fn record(&mut self, v: &[u8], now: u64) -> bool {
        let Some((sent, seq)) = parse_value(v) else {
            self.foreign += 1;
            return false;
        };
        match self.bits.get_mut(seq as usize) {
            None => {
                self.foreign += 1;
                false
            }
            Some(true) => {
                self.dups += 1;
                false
            }
            Some(b) => {
                *b = true;
                self.distinct += 1;
                self.last_rx_ns = now;
                self.hist.record_us(now.saturating_sub(sent) / 1000);
                true
            }
        }
    }
}

/// What one gateway subscriber saw.
pub struct SubSeen {
    pub seen: Seen,
    pub frames: u64,
    pub error: Option<String>,
}

/// Reads pushes until cancelled, recording each value's sequence and latency.
pub async fn read_values(
    mut ws: Ws,
    n: u64,
    cancel: CancellationToken,
    delivered: Arc<AtomicU64>,
) -> SubSeen {
    let mut st = SubSeen {
        seen: Seen::new(n),
        frames: 0,
        error: None,
    };
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
        let mut new = 0;
        let seen = &mut st.seen;
        match scan_messages(&b, RESP_PUSH, |_, v| new += u64::from(seen.record(v, now))) {
            Ok(Some(_)) => {
                st.frames += 1;
                delivered.fetch_add(new, Ordering::Relaxed);
            }
            Ok(None) => {
                st.error = Some("a frame other than a push".into());
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
