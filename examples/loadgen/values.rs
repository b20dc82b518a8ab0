//! Message values in text (SNS takes UTF-8 only) carrying the send time and a sequence number,
//! and a receiver's record of them: each sequence once, in any order.

use bytes::Bytes;

use crate::client::now_ns;
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
