//! Core NATS: publish, and subscriptions with no history. Plain subscriptions of one subject
//! (wildcards included) share one NATS subscription through the shared live fan-out
//! (`backend::live`): each message becomes one `Record`, handed to every gateway subscriber.
//! Group members each hold a queue subscription, so NATS gives each message to one member of
//! the queue group, gateway clients and plain NATS clients alike. Either way a subscriber's
//! messages wait in a queue bounded in messages and bytes (`server.limits.live_queue_*`).

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::client::{check_payload, from_nats_headers, to_nats_headers, within, Conn};
use crate::backend::live::{self, Feed, Live, MemberQueue};
use crate::backend::{now_ms, PushSink, Record, RecordParts, SubscribeSpec, Subscription};
use crate::backend::{Publish, Published};
use crate::error::{GatewayError, Result};

pub(super) struct Hub {
    conn: Arc<Conn>,
    live: Arc<Live<Subjects>>,
    /// The route's `pubsub_live_dropped_total`, for queue group members.
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

/// Plain subscriptions' side of the live fan-out: one NATS subscription per subject.
struct Subjects {
    conn: Arc<Conn>,
}

#[async_trait]
impl live::Upstream for Subjects {
    /// Stops the subject's reader, which then unsubscribes.
    type Handle = DropGuard;
    const NAME: &'static str = "core NATS";

    async fn open(
        &self,
        subject: &str,
        feed: &Feed,
        _tag: u64,
        _spec: &SubscribeSpec,
    ) -> Result<DropGuard> {
        let client = self.conn.client().await?.clone();
        let sub = within(self.conn.timeouts.read(), "the subscribe", async {
            let sub = client
                .subscribe(subject.to_owned())
                .await
                .map_err(|e| GatewayError::Upstream(format!("NATS subscribe failed: {e}")))?;
            // Registered at the server before the reply: LATEST misses nothing after it.
            self.conn.round_trip(&client).await?;
            Ok(sub)
        })
        .await?;
        let cancel = CancellationToken::new();
        tokio::spawn(read_subject(sub, feed.clone(), cancel.clone()));
        Ok(cancel.drop_guard())
    }

    async fn close(&self, _subject: &str, handle: DropGuard) {
        drop(handle);
    }
}

/// A core message as a gateway record: no position (offset -1), received now.
pub(super) fn core_record(m: &async_nats::Message) -> Arc<Record> {
    Arc::new(Record::from_parts(RecordParts {
        topic: Arc::from(m.subject.as_str()),
        partition: 0,
        offset: -1,
        position: String::new(),
        epoch: 0,
        delivery_attempt: 0,
        timestamp: now_ms(),
        key: bytes::Bytes::new(),
        value: m.payload.clone(),
        headers: from_nats_headers(m.headers.as_ref()),
    }))
}

impl Hub {
    pub fn new(conn: Arc<Conn>, route: &str) -> Hub {
        Hub {
            live: Live::new(Subjects { conn: conn.clone() }, route),
            dropped: crate::metrics::METRICS.live_dropped(route),
            conn,
        }
    }

    pub async fn publish(&self, req: Publish) -> Result<Published> {
        let client = self.conn.client().await?;
        check_payload(client, &req.value, &req.headers)?;
        let headers = to_nats_headers(&req.headers)?;
        let send = async {
            let sent = match headers {
                Some(h) => client.publish_with_headers(req.topic, h, req.value).await,
                None => client.publish(req.topic, req.value).await,
            };
            sent.map_err(|e| GatewayError::Upstream(format!("NATS publish failed: {e}")))?;
            // Written to the server's socket, not left in the client's buffer.
            client
                .flush()
                .await
                .map_err(|e| GatewayError::Unavailable(format!("NATS flush failed: {e}")))
        };
        within(self.conn.timeouts.send(), "the publish", send).await?;
        // Core NATS keeps no log: there is no position to answer.
        Ok(Published {
            partition: 0,
            offset: -1,
            position: String::new(),
        })
    }

    pub async fn subscribe(
        self: &Arc<Self>,
        subject: String,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        let Some(group) = spec.group.clone() else {
            // A clear 503 while the server is away, even when the subject is already shared.
            self.conn.client().await?;
            return self.live.join(subject, &spec, sink).await;
        };
        if group.len() > 255 || group.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(GatewayError::BadRequest(format!(
                "group `{}` is not a NATS queue group name (no spaces or control characters)",
                group.escape_debug()
            )));
        }
        let client = self.conn.client().await?.clone();
        let sub = within(self.conn.timeouts.read(), "the subscribe", async {
            let sub = client
                .queue_subscribe(subject.clone(), group)
                .await
                .map_err(|e| GatewayError::Upstream(format!("NATS subscribe failed: {e}")))?;
            // Registered at the server before the reply: nothing published after it is missed.
            self.conn.round_trip(&client).await?;
            Ok(sub)
        })
        .await?;
        let cancel = CancellationToken::new();
        let queue = Arc::new(MemberQueue::new(spec.live, self.dropped.clone()));
        tokio::spawn(queue_member(sub, spec, queue.clone(), cancel.clone()));
        tokio::spawn(live::forward(queue, sink, cancel.clone()));
        Ok(Arc::new(QueueMember { cancel }))
    }
}

/// Reads a subject's NATS subscription and hands each message to its feed, until the last
/// member leaves (or the client is gone: the route was replaced).
async fn read_subject(mut sub: async_nats::Subscriber, feed: Feed, cancel: CancellationToken) {
    loop {
        let msg = tokio::select! {
            _ = cancel.cancelled() => break,
            m = sub.next() => m,
        };
        let Some(msg) = msg else { break };
        if !super::reserved(msg.subject.as_str()) {
            feed.deliver(&core_record(&msg));
        }
    }
    let _ = sub.unsubscribe().await;
}

/// One queue-group member: its own queue subscription, read at once into the member's
/// bounded queue (core NATS does not wait for a slow member either).
async fn queue_member(
    mut sub: async_nats::Subscriber,
    spec: SubscribeSpec,
    queue: Arc<MemberQueue>,
    cancel: CancellationToken,
) {
    loop {
        let msg = tokio::select! {
            _ = cancel.cancelled() => break,
            m = sub.next() => m,
        };
        let Some(msg) = msg else { break };
        if super::reserved(msg.subject.as_str()) {
            continue;
        }
        let record = core_record(&msg);
        if spec
            .allowed
            .as_ref()
            .is_some_and(|id| !id.can_read(&record.topic))
            || !record.matches_headers(&spec.match_headers)
        {
            continue;
        }
        queue.offer(&record);
    }
    let _ = sub.unsubscribe().await;
}

struct QueueMember {
    cancel: CancellationToken,
}

#[async_trait]
impl Subscription for QueueMember {
    fn close(&self) {
        self.cancel.cancel();
    }
}

impl Drop for QueueMember {
    fn drop(&mut self) {
        self.close();
    }
}
