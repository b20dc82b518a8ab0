//! Stream entry ids and entries as gateway records.
//!
//! An id `MS-SEQ` is the record's `position` string; its integer `offset` is `MS * 2^20 + SEQ`,
//! lossless while SEQ < 2^20 (a million entries in one millisecond; ids Redis makes itself stay
//! far below) and MS < 2^43 (year 2248). An id outside that range has offset -1 and only its
//! position. Entries are field lists: field `value` is the value, `key` the key, and every
//! other field a header of that name, in order (repeated fields = a multi-valued header).

use std::sync::Arc;

use bytes::Bytes;
use redis::Value;

use super::client::bulk;
use crate::backend::{Header, Record, RecordParts};
use crate::error::{GatewayError, Result};

pub const SEQ_BITS: u32 = 20;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
const MS_MAX: u64 = (1 << (63 - SEQ_BITS)) - 1;
pub const VALUE_FIELD: &str = "value";
pub const KEY_FIELD: &str = "key";

/// A stream entry id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Id {
    pub ms: u64,
    pub seq: u64,
}

impl Id {
    pub const ZERO: Id = Id { ms: 0, seq: 0 };

    pub fn parse(s: &str) -> Option<Id> {
        let (ms, seq) = match s.split_once('-') {
            Some((ms, seq)) => (ms, seq),
            None => (s, "0"),
        };
        let digits =
            |t: &str| !t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return None;
        }
        Some(Id {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The integer offset, when the id maps losslessly.
    pub fn offset(self) -> Option<i64> {
        if self.ms > MS_MAX || self.seq > SEQ_MASK {
            return None;
        }
        i64::try_from((self.ms << SEQ_BITS) | self.seq).ok()
    }

    pub fn from_offset(offset: i64) -> Option<Id> {
        let o = u64::try_from(offset).ok()?;
        Some(Id {
            ms: o >> SEQ_BITS,
            seq: o & SEQ_MASK,
        })
    }

    /// The id just before this one: XREAD and exclusive XRANGE bounds then include `self`.
    pub fn prev(self) -> Id {
        match (self.ms, self.seq) {
            (0, 0) => Id::ZERO,
            (ms, 0) => Id {
                ms: ms - 1,
                seq: u64::MAX,
            },
            (ms, seq) => Id { ms, seq: seq - 1 },
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A client's start or fetch id: `start_position` when given, else the integer offset.
pub fn id_of(position: &str, offset: i64) -> Result<Id> {
    if !position.is_empty() {
        return Id::parse(position).ok_or_else(|| {
            GatewayError::BadRequest(format!(
                "position `{}` is not a Redis stream id (MS-SEQ)",
                position.escape_debug()
            ))
        });
    }
    Id::from_offset(offset)
        .ok_or_else(|| GatewayError::BadRequest(format!("invalid offset {offset}")))
}

/// Fields of an entry the gateway writes: value, then key, then headers in order.
pub fn fields(key: &Bytes, value: &Bytes, headers: &[Header]) -> Result<Vec<(Vec<u8>, Bytes)>> {
    let mut out = vec![(VALUE_FIELD.as_bytes().to_vec(), value.clone())];
    if !key.is_empty() {
        out.push((KEY_FIELD.as_bytes().to_vec(), key.clone()));
    }
    for h in headers {
        if h.key.is_empty() || h.key == VALUE_FIELD || h.key == KEY_FIELD {
            return Err(GatewayError::BadRequest(format!(
                "header name `{}` is reserved or empty on Redis streams (fields `value` and `key` hold the value and key)",
                h.key.escape_debug()
            )));
        }
        out.push((h.key.as_bytes().to_vec(), h.value.clone()));
    }
    Ok(out)
}

/// One entry (`[id, [field, value, ...]]`) as a record of `stream`.
pub fn record(stream: &Arc<str>, entry: &Value) -> Option<(Id, Arc<Record>)> {
    let Value::Array(parts) = entry else {
        return None;
    };
    let [id, fields] = parts.as_slice() else {
        return None;
    };
    let id_text = std::str::from_utf8(bulk(id)?).ok()?.to_owned();
    let id = Id::parse(&id_text)?;
    let mut key = Bytes::new();
    let mut value = Bytes::new();
    let mut headers = Vec::new();
    let flat: Vec<&Value> = match fields {
        Value::Array(f) => f.iter().collect(),
        Value::Map(m) => m.iter().flat_map(|(k, v)| [k, v]).collect(),
        // A deleted entry still listed in a group's pending list.
        Value::Nil => Vec::new(),
        _ => return None,
    };
    for pair in flat.chunks_exact(2) {
        let (Some(f), Some(v)) = (bulk(pair[0]), bulk(pair[1])) else {
            continue;
        };
        let v = Bytes::copy_from_slice(v);
        match f {
            b"value" => value = v,
            b"key" => key = v,
            _ => headers.push(Header {
                key: String::from_utf8_lossy(f).into_owned(),
                value: v,
            }),
        }
    }
    let record = Record::from_parts(RecordParts {
        topic: stream.clone(),
        partition: 0,
        offset: id.offset().unwrap_or(-1),
        position: id.to_string(),
        epoch: 0,
        delivery_attempt: 0,
        timestamp: i64::try_from(id.ms).unwrap_or(i64::MAX),
        key,
        value,
        headers,
    });
    Some((id, Arc::new(record)))
}

/// The entries of an XRANGE / XREVRANGE / XCLAIM reply.
pub fn records(stream: &Arc<str>, reply: &Value) -> Vec<(Id, Arc<Record>)> {
    match reply {
        Value::Array(entries) => entries.iter().filter_map(|e| record(stream, e)).collect(),
        _ => Vec::new(),
    }
}

/// The streams of an XREAD / XREADGROUP reply: (key, entries).
pub fn streams(reply: &Value) -> Vec<(String, &Value)> {
    let pairs: Vec<(&Value, &Value)> = match reply {
        Value::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Value::Array(kv) if kv.len() == 2 => Some((&kv[0], &kv[1])),
                _ => None,
            })
            .collect(),
        Value::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((String::from_utf8_lossy(bulk(k)?).into_owned(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_to_offsets_and_back_losslessly() {
        let id = Id::parse("1700000000000-3").unwrap();
        let o = id.offset().unwrap();
        assert_eq!(o, (1_700_000_000_000 << 20) | 3);
        assert_eq!(Id::from_offset(o), Some(id));
        assert_eq!(Id::parse("5"), Some(Id { ms: 5, seq: 0 }));
        assert_eq!(
            Id {
                ms: 1,
                seq: 1 << 20
            }
            .offset(),
            None
        );
        for bad in [
            "",
            "-",
            "a-1",
            "1-",
            "1-2-3",
            " 1-2",
            "$",
            "99999999999999999999999-0",
        ] {
            assert_eq!(Id::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            Id { ms: 3, seq: 0 }.prev(),
            Id {
                ms: 2,
                seq: u64::MAX
            }
        );
        assert_eq!(Id { ms: 3, seq: 2 }.prev(), Id { ms: 3, seq: 1 });
        assert!(Id { ms: 3, seq: 2 } > Id { ms: 2, seq: 9 });
    }
}
