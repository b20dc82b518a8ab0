//! Plain (non-group) stream subscriptions: the start is fixed as an entry id before the reply,
//! then the subscription catches up alone with XRANGE until it reaches the shared tail, and
//! follows the tail from there (see `tail`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::Conn;
use super::entry::{self, Id};
use super::streams::{self, Bounds};
use super::tail::{Filter, TailUse, Tails};
use crate::backend::retry_pause;
use crate::backend::TaskGauge;
use crate::backend::{Position, PushSink, Start, SubscribeSpec, Subscription};
use crate::error::{GatewayError, Result};

static NEXT: AtomicU64 = AtomicU64::new(1);

/// The id after which delivery starts (exclusive), from the subscribe's start position.
pub(super) fn start_after(spec: &SubscribeSpec, b: &Bounds) -> Result<Id> {
    let last = b.last.unwrap_or(Id::ZERO);
    Ok(match spec.start {
        Start::Latest => last,
        Start::Earliest => Id::ZERO,
        Start::Last => b.last.map_or(Id::ZERO, Id::prev),
        Start::Offset(o) => {
            let id = entry::id_of(&spec.start_position, o)?;
            if spec.start_position.is_empty() && o > b.end() {
                return Err(GatewayError::OffsetOutOfRange {
                    offset: o,
                    earliest: b.earliest(),
                    end: b.end(),
                });
            }
            id.prev()
        }
        Start::Timestamp(t) => Id {
            ms: u64::try_from(t).unwrap_or(0),
            seq: 0,
        }
        .prev(),
    })
}

pub(super) async fn subscribe(
    conn: Arc<Conn>,
    tails: &Arc<Tails>,
    key: String,
    spec: SubscribeSpec,
    sink: PushSink,
) -> Result<Arc<dyn Subscription>> {
    // A missing stream is followed from its first entry: a client may subscribe to a room
    // before anyone speaks.
    let b = streams::bounds(&conn, &key).await?.unwrap_or(Bounds {
        first: None,
        last: None,
    });
    let after = start_after(&spec, &b)?;
    let filter = Arc::new(Filter {
        allowed: spec.allowed.clone(),
        match_headers: spec.match_headers.clone(),
    });
    let tail = tails.join(&key, after);
    let cancel = CancellationToken::new();
    tokio::spawn(member_loop(
        conn,
        tail,
        filter,
        sink.clone(),
        after,
        cancel.clone(),
    ));
    Ok(Arc::new(PlainSubscription { cancel, sink }))
}

async fn member_loop(
    conn: Arc<Conn>,
    tail: TailUse,
    filter: Arc<Filter>,
    sink: PushSink,
    mut after: Id,
    cancel: CancellationToken,
) {
    let _task = TaskGauge::new();
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let (lag_tx, mut lag_rx) = mpsc::unbounded_channel();
    let key = tail.tail.key.clone();
    let mut failures = 0u32;
    loop {
        while sink.flow.room() == 0 {
            tokio::select! {
                _ = cancel.cancelled() => return tail.tail.detach(id),
                _ = sink.flow.acked() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
        if cancel.is_cancelled() || sink.is_closed() {
            break;
        }
        let count = sink.flow.room().min(conn.opts.read_count);
        let got = tokio::select! {
            _ = cancel.cancelled() => break,
            g = streams::range_after(&conn, &key, after, count) => g,
        };
        let got = match got {
            Ok(g) => {
                failures = 0;
                g
            }
            Err(_) => {
                failures += 1;
                if retry_pause(&cancel, failures).await {
                    break;
                }
                continue;
            }
        };
        if let Some((last, _)) = got.last() {
            let last = *last;
            let batch: Vec<_> = got
                .into_iter()
                .filter(|(_, r)| filter.wanted(r))
                .map(|(_, r)| r)
                .collect();
            let pushed = tokio::select! {
                _ = cancel.cancelled() => break,
                p = sink.push(&batch) => p,
            };
            if pushed.is_err() {
                break;
            }
            after = last;
            continue;
        }
        // Reached the end: follow the tail until it says this subscription fell behind.
        if tail.tail.attach(id, &sink, &filter, after, &lag_tx) {
            tokio::select! {
                _ = cancel.cancelled() => break,
                from = lag_rx.recv() => match from {
                    Some(from) => after = from,
                    None => break,
                },
            }
        }
    }
    tail.tail.detach(id);
}

struct PlainSubscription {
    cancel: CancellationToken,
    sink: PushSink,
}

#[async_trait]
impl Subscription for PlainSubscription {
    /// Frees the max_in_flight window; a plain reader has nothing to tell Redis.
    async fn ack(&self, positions: Vec<Position>) -> Result<()> {
        for p in positions {
            let id = entry::id_of(&p.position, p.offset)?;
            self.sink
                .flow
                .ack_one(&p.topic, 0, id.offset().unwrap_or(-1));
        }
        Ok(())
    }

    async fn nack(&self, _positions: Vec<Position>, _delay: Duration) -> Result<()> {
        Err(GatewayError::BadRequest(
            "nack needs a group subscription on Redis streams: a plain reader does not redeliver"
                .into(),
        ))
    }

    fn close(&self) {
        self.cancel.cancel();
    }
}

impl Drop for PlainSubscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
