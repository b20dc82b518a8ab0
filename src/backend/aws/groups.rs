//! Group subscriptions: each member long-polls the group's queue (SNS target: a durable queue
//! per (route, group, topic), `{queue_prefix}{group}-{topic}`, subscribed to the topic with raw
//! delivery and the route's redrive policy; SQS target: the queue itself), so the members of a
//! group and any plain SQS consumer of the queue share its messages.
//!
//! A member holds what it was pushed until the client acks it (DeleteMessage) or nacks it
//! (ChangeMessageVisibility to the nack's delay); while held, the message's visibility is
//! extended every half visibility timeout, for at most `max_hold_secs`. A member that goes away
//! releases what it held (visibility 0: redelivered at once); a gateway that dies leaves it to
//! the visibility timeout. Each push carries the message's receive count as `delivery_attempt`;
//! SQS sends `maxReceiveCount`-times received messages to the dead-letter queue. FIFO queues
//! hold a message group while one of its messages is in flight, so a group's order is kept.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry as Change, MessageSystemAttributeName,
    QueueAttributeName,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::client::{sdk_error, Conn};
use super::live::{queue_arn, subscribe_queue, WAIT_SECS};
use super::message::{group_queue, record};
use crate::backend::{
    lock, retry_pause, Position, PushSink, SubscribeSpec, Subscription, TaskGauge,
};
use crate::config::AwsTarget;
use crate::error::{GatewayError, Result};

/// Messages one member holds at most (with or without max_in_flight): memory stays bounded.
const MAX_HELD: usize = 256;

pub(super) struct Groups {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Arc<Conn>,
    /// Group queues this process created and subscribed.
    prepared: Mutex<HashSet<String>>,
    /// The dead-letter queue's ARN, once created.
    dlq: tokio::sync::OnceCell<String>,
}

impl Groups {
    pub fn new(conn: Arc<Conn>) -> Groups {
        Groups {
            inner: Arc::new(Inner {
                conn,
                prepared: Mutex::new(HashSet::new()),
                dlq: tokio::sync::OnceCell::new(),
            }),
        }
    }

    pub async fn join(
        &self,
        topic: String,
        group: String,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        let url = self.inner.queue(&group, &topic).await?;
        let member = Arc::new(Member {
            inner: self.inner.clone(),
            match_headers: spec.match_headers,
            group,
            topic: Arc::from(topic.as_str()),
            url: Mutex::new(url),
            sink,
            held: Mutex::new(HashMap::new()),
            freed: Notify::new(),
            cancel: CancellationToken::new(),
        });
        tokio::spawn(read(member.clone()));
        tokio::spawn(extend(member.clone()));
        Ok(Arc::new(GroupSubscription { member }))
    }
}

impl Inner {
    /// The URL of the queue a group reads (made ready first on the SNS target).
    async fn queue(&self, group: &str, topic: &str) -> Result<String> {
        match self.conn.opts.target {
            AwsTarget::Sqs => self.conn.queue_url(topic).await,
            AwsTarget::Sns => {
                let name = group_queue(&self.conn.opts, group, topic);
                if lock(&self.prepared).contains(&name) {
                    return self.conn.queue_url(&name).await;
                }
                let url = self.prepare(&name, topic).await?;
                lock(&self.prepared).insert(name);
                Ok(url)
            }
        }
    }

    /// The dead-letter queue's ARN, created if missing.
    async fn dead_letters(&self, name: &str) -> Result<String> {
        let arn = self
            .dlq
            .get_or_try_init(|| async {
                let mut create = self.conn.sqs.create_queue().queue_name(name);
                if self.conn.opts.fifo {
                    create = create.attributes(QueueAttributeName::FifoQueue, "true");
                }
                let url = match self
                    .conn
                    .within("creating the dead-letter queue", async {
                        create
                            .send()
                            .await
                            .map_err(|e| sdk_error(e, &format!("queue `{name}`")))
                    })
                    .await
                {
                    Ok(out) => out.queue_url.unwrap_or_default(),
                    // There already, with attributes of its own.
                    Err(GatewayError::BadRequest(_)) => self.conn.queue_url(name).await?,
                    Err(e) => return Err(e),
                };
                queue_arn(&self.conn, &url).await
            })
            .await?;
        Ok(arn.clone())
    }

    /// Creates a group's queue (or updates its visibility and redrive policy) and subscribes
    /// it to the topic.
    async fn prepare(&self, name: &str, topic: &str) -> Result<String> {
        let o = &self.conn.opts;
        let topic_arn = self.conn.existing_topic(topic).await?;
        let mut attrs = HashMap::from([(
            QueueAttributeName::VisibilityTimeout,
            o.visibility_timeout_secs.to_string(),
        )]);
        if let Some(dlq) = &o.dead_letter_queue {
            let arn = self.dead_letters(dlq).await?;
            attrs.insert(
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({
                    "deadLetterTargetArn": arn,
                    "maxReceiveCount": o.max_receive_count.to_string(),
                })
                .to_string(),
            );
        }
        let mut create_attrs = attrs.clone();
        if o.fifo {
            create_attrs.insert(QueueAttributeName::FifoQueue, "true".into());
            create_attrs.insert(QueueAttributeName::ContentBasedDeduplication, "true".into());
        }
        let created = self
            .conn
            .within("creating a group's queue", async {
                self.conn
                    .sqs
                    .create_queue()
                    .queue_name(name)
                    .set_attributes(Some(create_attrs))
                    .send()
                    .await
                    .map_err(|e| sdk_error(e, &format!("queue `{name}`")))
            })
            .await;
        let url = match created {
            Ok(out) => out.queue_url.ok_or_else(|| {
                GatewayError::Upstream("SQS created a queue without a URL".into())
            })?,
            // There already with other attributes (the route's options changed): update them.
            Err(GatewayError::BadRequest(_)) => {
                let url = self.conn.queue_url(name).await?;
                self.conn
                    .within("updating a group's queue", async {
                        self.conn
                            .sqs
                            .set_queue_attributes()
                            .queue_url(&url)
                            .set_attributes(Some(attrs))
                            .send()
                            .await
                            .map_err(|e| sdk_error(e, &format!("queue `{name}`")))
                    })
                    .await?;
                url
            }
            Err(e) => return Err(e),
        };
        self.conn.remember_url(name, &url);
        subscribe_queue(&self.conn, &url, &topic_arn, topic).await?;
        Ok(url)
    }
}

struct Held {
    receipt: String,
    since: Instant,
}

struct Member {
    inner: Arc<Inner>,
    /// Messages without these headers are acknowledged for the group unseen (as on every
    /// scheme's groups: no member of the subscription would be shown them either).
    match_headers: Vec<crate::backend::Header>,
    group: String,
    topic: Arc<str>,
    url: Mutex<String>,
    sink: PushSink,
    /// Message id → what this member holds of it.
    held: Mutex<HashMap<String, Held>>,
    /// An ack or nack made room.
    freed: Notify,
    cancel: CancellationToken,
}

impl Member {
    fn url(&self) -> String {
        lock(&self.url).clone()
    }

    /// How many messages the next receive may take.
    fn room(&self) -> usize {
        let held = lock(&self.held).len();
        self.sink
            .flow
            .room()
            .min(MAX_HELD.saturating_sub(held))
            .min(10)
    }

    /// Takes the named messages out of the held set: their receipts, and the ids not held.
    fn take(&self, positions: &[Position]) -> (Vec<(String, String)>, Vec<String>) {
        let mut held = lock(&self.held);
        let mut taken = Vec::new();
        let mut unknown = Vec::new();
        for p in positions {
            match held.remove(&p.position) {
                Some(h) => taken.push((p.position.clone(), h.receipt)),
                None => unknown.push(p.position.clone()),
            }
        }
        drop(held);
        for _ in &taken {
            self.sink.flow.ack_one(&self.topic, 0, -1);
        }
        self.freed.notify_one();
        (taken, unknown)
    }

    /// Sets the visibility of received messages, 10 to a call; the ids SQS refused.
    async fn change_visibility(
        &self,
        receipts: &[(String, String)],
        secs: i32,
    ) -> Result<Vec<String>> {
        let conn = &self.inner.conn;
        let url = self.url();
        let mut failed = Vec::new();
        for chunk in receipts.chunks(10) {
            let entries: Vec<Change> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, (_, r))| {
                    Change::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(secs)
                        .build()
                        .ok()
                })
                .collect();
            let out = conn
                .within("changing visibility", async {
                    conn.sqs
                        .change_message_visibility_batch()
                        .queue_url(&url)
                        .set_entries(Some(entries))
                        .send()
                        .await
                        .map_err(|e| sdk_error(e, &format!("queue of group `{}`", self.group)))
                })
                .await?;
            for f in out.failed() {
                if let Some((id, _)) = f.id().parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    failed.push(id.clone());
                }
            }
        }
        Ok(failed)
    }

    /// Gives everything held back to the queue (visibility 0).
    async fn release(&self) {
        let receipts: Vec<(String, String)> = lock(&self.held)
            .drain()
            .map(|(id, h)| (id, h.receipt))
            .collect();
        if !receipts.is_empty() {
            let _ = self.change_visibility(&receipts, 0).await;
        }
    }
}

/// The member's reader: receives what the flow and the held bound allow, pushes it, holds it.
async fn read(m: Arc<Member>) {
    let _gauge = TaskGauge::new();
    let conn = m.inner.conn.clone();
    let mut failures = 0u32;
    loop {
        let room = m.room();
        if room == 0 {
            tokio::select! {
                _ = m.cancel.cancelled() => break,
                _ = m.freed.notified() => {}
                _ = m.sink.flow.acked() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        let url = m.url();
        // moto (5.2.6) takes its view of a FIFO queue's held message groups when a long poll
        // starts, so a poll begun while this member held messages would not see its acks free
        // their groups for 20 s: a FIFO member holding messages polls 1 s at a time.
        let wait = if conn.opts.fifo && !lock(&m.held).is_empty() {
            1
        } else {
            WAIT_SECS
        };
        let mut poll = Box::pin(
            conn.sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(room as i32)
                .wait_time_seconds(wait)
                .visibility_timeout(conn.opts.visibility_timeout_secs as i32)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send(),
        );
        let received = tokio::select! {
            _ = m.cancel.cancelled() => {
                // SQS carries on with a long poll whose caller went away, and what it takes
                // would stay invisible for the visibility timeout: let it end (at most `wait`
                // seconds) and give back what it took, so the group's other members get it now.
                let m = m.clone();
                tokio::spawn(async move {
                    let Ok(out) = poll.await else { return };
                    let receipts: Vec<(String, String)> = out
                        .messages
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|msg| Some((msg.message_id?, msg.receipt_handle?)))
                        .collect();
                    if !receipts.is_empty() {
                        let _ = m.change_visibility(&receipts, 0).await;
                    }
                });
                break;
            }
            r = &mut poll => r,
        };
        let messages = match received {
            Ok(out) => {
                failures = 0;
                out.messages.unwrap_or_default()
            }
            Err(e) => {
                let e = sdk_error(e, &format!("queue of group `{}`", m.group));
                tracing::debug!(group = %m.group, error = %e, "SQS receive failed");
                if e.code() == 404 {
                    // The queue went away (deleted, or the endpoint restarted empty): made
                    // again on the SNS target, looked up again on the SQS target.
                    let name = group_queue(&conn.opts, &m.group, &m.topic);
                    lock(&m.inner.prepared).remove(&name);
                    conn.forget_url(&name);
                    conn.forget_url(&m.topic);
                    if let Ok(url) = m.inner.queue(&m.group, &m.topic).await {
                        *lock(&m.url) = url;
                    }
                }
                failures += 1;
                if retry_pause(&m.cancel, failures).await {
                    break;
                }
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut records = Vec::with_capacity(messages.len());
        let mut excluded = Vec::new();
        {
            let now = Instant::now();
            let mut held = lock(&m.held);
            for msg in messages {
                let (Some(id), Some(receipt)) =
                    (msg.message_id.clone(), msg.receipt_handle.clone())
                else {
                    continue;
                };
                let r = record(&m.topic, msg);
                if !r.matches_headers(&m.match_headers) {
                    excluded.push(receipt);
                    continue;
                }
                held.insert(
                    id,
                    Held {
                        receipt,
                        since: now,
                    },
                );
                records.push(Arc::new(r));
            }
        }
        if !excluded.is_empty() {
            super::live::delete(&conn, &url, excluded).await;
        }
        if records.is_empty() {
            continue;
        }
        if m.sink.push(&records).await.is_err() {
            break;
        }
    }
    m.cancel.cancel();
    m.release().await;
}

/// Extends the visibility of what the member holds, every half visibility timeout, until a
/// message has been held `max_hold_secs` (then it is left to time out and be redelivered).
async fn extend(m: Arc<Member>) {
    let o = &m.inner.conn.opts;
    let vis = o.visibility_timeout_secs;
    let every = Duration::from_millis(u64::from(vis) * 500).max(Duration::from_millis(500));
    let max_hold = Duration::from_secs(u64::from(o.max_hold_secs));
    loop {
        tokio::select! {
            _ = m.cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let (expired, receipts): (usize, Vec<(String, String)>) = {
            let mut held = lock(&m.held);
            let before = held.len();
            held.retain(|_, h| h.since.elapsed() < max_hold);
            let receipts = held
                .iter()
                .map(|(id, h)| (id.clone(), h.receipt.clone()))
                .collect();
            (before - held.len(), receipts)
        };
        for _ in 0..expired {
            m.sink.flow.ack_one(&m.topic, 0, -1);
        }
        if expired > 0 {
            m.freed.notify_one();
        }
        if !receipts.is_empty() {
            let _ = m.change_visibility(&receipts, vis as i32).await;
        }
    }
}

struct GroupSubscription {
    member: Arc<Member>,
}

fn not_held(ids: &[String]) -> GatewayError {
    GatewayError::BadRequest(format!(
        "not held by this subscription (acknowledged or released already, or held past max_hold_secs): {}",
        ids.join(", ")
    ))
}

#[async_trait]
impl Subscription for GroupSubscription {
    async fn ack(&self, positions: Vec<Position>) -> Result<()> {
        let m = &self.member;
        let (taken, unknown) = m.take(&positions);
        if !taken.is_empty() {
            use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry as E;
            let conn = &m.inner.conn;
            let url = m.url();
            let mut failed = Vec::new();
            for chunk in taken.chunks(10) {
                let entries: Vec<E> = chunk
                    .iter()
                    .enumerate()
                    .filter_map(|(i, (_, r))| {
                        E::builder()
                            .id(i.to_string())
                            .receipt_handle(r)
                            .build()
                            .ok()
                    })
                    .collect();
                let out = conn
                    .within("the ack", async {
                        conn.sqs
                            .delete_message_batch()
                            .queue_url(&url)
                            .set_entries(Some(entries))
                            .send()
                            .await
                            .map_err(|e| sdk_error(e, &format!("queue of group `{}`", m.group)))
                    })
                    .await?;
                for f in out.failed() {
                    if let Some((id, _)) = f.id().parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                        failed.push(format!("{id} ({})", f.code()));
                    }
                }
            }
            if !failed.is_empty() {
                return Err(GatewayError::Conflict(format!(
                    "SQS did not delete {}: its receipt expired, it will be redelivered",
                    failed.join(", ")
                )));
            }
        }
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(not_held(&unknown))
        }
    }

    async fn nack(&self, positions: Vec<Position>, delay: Duration) -> Result<()> {
        let m = &self.member;
        let (taken, unknown) = m.take(&positions);
        if !taken.is_empty() {
            let secs = delay.as_millis().div_ceil(1000).min(43_200) as i32;
            m.change_visibility(&taken, secs).await?;
        }
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(not_held(&unknown))
        }
    }

    fn close(&self) {
        // The reader releases what the member held as it ends.
        self.member.cancel.cancel();
    }
}

impl Drop for GroupSubscription {
    fn drop(&mut self) {
        self.close();
    }
}
