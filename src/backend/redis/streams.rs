//! Redis streams as logs: XADD (with the route's trimming), XRANGE fetches, offsets and
//! metadata from the first and last entry ids. A topic is a stream key; there is one
//! partition (0); positions are entry ids (see `entry` for the integer offsets).

use std::sync::Arc;
use std::time::Duration;

use redis::Value;

use super::client::{bulk, Conn};
use super::entry::{self, Id};
use crate::backend::TopicMetadata;
use crate::backend::{now_ms, FetchLimits, PartitionInfo, Publish, Published, Record};
use crate::error::{GatewayError, Result};

/// The first and last entry of a stream; None = the key does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bounds {
    pub first: Option<Id>,
    pub last: Option<Id>,
}

impl Bounds {
    /// Offset of the first entry (0 when empty).
    pub fn earliest(&self) -> i64 {
        self.first.and_then(Id::offset).unwrap_or(0)
    }

    /// One past the last entry's offset (0 when empty): what list_offset -1 answers.
    pub fn end(&self) -> i64 {
        self.last
            .and_then(Id::offset)
            .map_or(0, |o| o.saturating_add(1))
    }
}

pub(super) async fn bounds(conn: &Conn, key: &str) -> Result<Option<Bounds>> {
    let mut pipe = redis::pipe();
    pipe.cmd("EXISTS")
        .arg(key)
        .cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1);
    let (exists, first, last): (i64, Value, Value) = conn.query_pipe(&pipe).await?;
    if exists == 0 {
        return Ok(None);
    }
    let id_of = |v: &Value| match v {
        Value::Array(entries) => entries.first().and_then(|e| match e {
            Value::Array(parts) => parts
                .first()
                .and_then(bulk)
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(Id::parse),
            _ => None,
        }),
        _ => None,
    };
    Ok(Some(Bounds {
        first: id_of(&first),
        last: id_of(&last),
    }))
}

pub(super) fn missing() -> GatewayError {
    GatewayError::UnknownTopicOrPartition
}

/// XADD with the route's trimming; a timestamp picks the id's milliseconds (`MS-*`).
pub(super) async fn publish(conn: &Conn, req: Publish) -> Result<Published> {
    let fields = entry::fields(&req.key, &req.value, &req.headers)?;
    let mut cmd = redis::cmd("XADD");
    cmd.arg(&req.topic);
    let mode = if conn.opts.approximate { "~" } else { "=" };
    if let Some(n) = conn.opts.maxlen {
        cmd.arg("MAXLEN").arg(mode).arg(n);
    } else if let Some(age) = conn.opts.max_age_secs {
        let min =
            now_ms().saturating_sub(i64::try_from(age.saturating_mul(1000)).unwrap_or(i64::MAX));
        cmd.arg("MINID").arg(mode).arg(min.max(0));
    }
    if req.timestamp > 0 {
        cmd.arg(format!("{}-*", req.timestamp));
    } else if req.timestamp < 0 {
        return Err(GatewayError::BadRequest(format!(
            "invalid timestamp {}",
            req.timestamp
        )));
    } else {
        cmd.arg("*");
    }
    for (f, v) in &fields {
        cmd.arg(f.as_slice()).arg(v.as_ref());
    }
    let id: String = match conn.query(&cmd).await {
        Err(GatewayError::Upstream(m)) if m.contains("equal or smaller") => {
            return Err(GatewayError::BadRequest(format!(
                "timestamp {} is before the stream's last entry id",
                req.timestamp
            )))
        }
        other => other?,
    };
    let id = Id::parse(&id)
        .ok_or_else(|| GatewayError::Upstream(format!("XADD answered a bad id `{id}`")))?;
    Ok(Published {
        partition: 0,
        offset: id.offset().unwrap_or(-1),
        position: String::new(),
    })
}

/// Entries from `from` (inclusive), at most `count`.
pub(super) async fn range(
    conn: &Conn,
    key: &Arc<str>,
    from: Id,
    count: usize,
) -> Result<Vec<(Id, Arc<Record>)>> {
    let reply: Value = conn
        .query(
            redis::cmd("XRANGE")
                .arg(key.as_ref())
                .arg(from.to_string())
                .arg("+")
                .arg("COUNT")
                .arg(count),
        )
        .await?;
    Ok(entry::records(key, &reply))
}

pub(super) async fn fetch(
    conn: &Conn,
    key: &str,
    offset: i64,
    limits: FetchLimits,
) -> Result<Vec<Arc<Record>>> {
    let b = bounds(conn, key).await?.ok_or_else(missing)?;
    if offset < b.earliest() || offset > b.end() {
        return Err(GatewayError::OffsetOutOfRange {
            offset,
            earliest: b.earliest(),
            end: b.end(),
        });
    }
    let from = entry::id_of("", offset)?;
    let key: Arc<str> = Arc::from(key);
    let deadline = tokio::time::Instant::now() + limits.max_wait;
    let count = limits
        .max_messages
        .clamp(1, conn.opts.read_count.max(1) * 8);
    loop {
        let got = range(conn, &key, from, count).await?;
        if !got.is_empty() || tokio::time::Instant::now() >= deadline {
            let mut out = Vec::new();
            let mut bytes = 0;
            for (_, r) in got {
                if !out.is_empty() && bytes + r.size() > limits.max_bytes {
                    break;
                }
                bytes += r.size();
                out.push(r);
            }
            return Ok(out);
        }
        // A long poll at the end: look again soon, without holding any connection.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(super) async fn list_offset(conn: &Conn, key: &str, timestamp: i64) -> Result<i64> {
    let b = bounds(conn, key).await?.ok_or_else(missing)?;
    match timestamp {
        -2 => Ok(b.earliest()),
        -1 => Ok(b.end()),
        t => {
            let key: Arc<str> = Arc::from(key);
            let from = Id {
                ms: u64::try_from(t).unwrap_or(0),
                seq: 0,
            };
            let got = range(conn, &key, from, 1).await?;
            Ok(got.first().map_or(-1, |(id, _)| id.offset().unwrap_or(-1)))
        }
    }
}

pub(super) async fn metadata(conn: &Conn, key: &str) -> Result<TopicMetadata> {
    let b = bounds(conn, key).await?.ok_or_else(missing)?;
    Ok(TopicMetadata {
        topic: key.to_owned(),
        partitions: vec![PartitionInfo {
            partition: 0,
            earliest: b.earliest(),
            latest: b.end(),
            epoch: 0,
        }],
    })
}

/// Entries after `after` (exclusive), at most `count`.
pub(super) async fn range_after(
    conn: &Conn,
    key: &Arc<str>,
    after: Id,
    count: usize,
) -> Result<Vec<(Id, Arc<Record>)>> {
    let reply: Value = conn
        .query(
            redis::cmd("XRANGE")
                .arg(key.as_ref())
                .arg(format!("({after}"))
                .arg("+")
                .arg("COUNT")
                .arg(count.max(1)),
        )
        .await?;
    Ok(entry::records(key, &reply))
}
