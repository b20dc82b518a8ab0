//! Core NATS: publish, and subscriptions with no history. Plain subscriptions of one subject
//! (wildcards included) share one NATS subscription: each message becomes one `Record`, shared
//! by every gateway subscriber. Group members each hold a queue subscription, so NATS gives
//! each message to one member of the queue group, gateway clients and plain NATS clients alike.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{check_payload, from_nats_headers, to_nats_headers, within, Conn};
use crate::backend::{
    now_ms, PushSink, Record, RecordParts, SubscribeSpec, Subscription, TaskGauge,
};
use crate::backend::{CommitOffset, Header, Publish, Published};
use crate::error::{GatewayError, Result};

/// Records waiting for one subscriber's connection. Core NATS keeps no history: past this a
/// subscriber that does not read loses messages (as NATS itself drops slow consumers).
const SUBSCRIBER_BUFFER: usize = 4096;

use crate::backend::lock;

pub(super) struct Hub {
    conn: Arc<Conn>,
    /// One fan-out per subscribed subject; the async lock serializes creating them.
    subjects: tokio::sync::Mutex<HashMap<String, Arc<Fanout>>>,
    next_member: AtomicU64,
}

struct Fanout {
    members: Mutex<Vec<Member>>,
    cancel: CancellationToken,
}

struct Member {
    id: u64,
    tx: mpsc::Sender<Arc<Record>>,
    allowed: Option<Arc<crate::auth::Identity>>,
    match_headers: Vec<Header>,
}

/// A core message as a gateway record: no position (offset -1), received now.
pub(super) fn core_record(m: &async_nats::Message) -> Arc<Record> {
    Arc::new(Record::from_parts(RecordParts {
        topic: Arc::from(m.subject.as_str()),
        partition: 0,
        offset: -1,
        position: String::new(),
        epoch: 0,
        timestamp: now_ms(),
        key: bytes::Bytes::new(),
        value: m.payload.clone(),
        headers: from_nats_headers(m.headers.as_ref()),
    }))
}

impl Hub {
    pub fn new(conn: Arc<Conn>) -> Hub {
        Hub {
            conn,
            subjects: tokio::sync::Mutex::new(HashMap::new()),
            next_member: AtomicU64::new(1),
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
        })
    }

    pub async fn subscribe(
        self: &Arc<Self>,
        subject: String,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        if spec.max_in_flight > 0 {
            return Err(GatewayError::BadRequest(
                "max_in_flight needs per-message ack, which core NATS has none of".into(),
            ));
        }
        if let Some(g) = &spec.group {
            if g.len() > 255 || g.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(GatewayError::BadRequest(format!(
                    "group `{}` is not a NATS queue group name (no spaces or control characters)",
                    g.escape_debug()
                )));
            }
        }
        let client = self.conn.client().await?.clone();
        let cancel = CancellationToken::new();
        if let Some(group) = &spec.group {
            let sub = within(self.conn.timeouts.read(), "the subscribe", async {
                let sub = client
                    .queue_subscribe(subject.clone(), group.clone())
                    .await
                    .map_err(|e| GatewayError::Upstream(format!("NATS subscribe failed: {e}")))?;
                // Registered at the server before the reply: nothing published after it is missed.
                self.conn.round_trip(&client).await?;
                Ok(sub)
            })
            .await?;
            tokio::spawn(queue_member(sub, spec, sink, cancel.clone()));
            return Ok(Arc::new(CoreSubscription {
                cancel,
                leave: None,
            }));
        }
        let id = self.next_member.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let member = Member {
            id,
            tx,
            allowed: spec.allowed.clone(),
            match_headers: spec.match_headers.clone(),
        };
        {
            let mut subjects = self.subjects.lock().await;
            match subjects.get(&subject) {
                Some(f) if !f.cancel.is_cancelled() => lock(&f.members).push(member),
                _ => {
                    let sub = within(self.conn.timeouts.read(), "the subscribe", async {
                        let sub = client.subscribe(subject.clone()).await.map_err(|e| {
                            GatewayError::Upstream(format!("NATS subscribe failed: {e}"))
                        })?;
                        self.conn.round_trip(&client).await?;
                        Ok(sub)
                    })
                    .await?;
                    let fanout = Arc::new(Fanout {
                        members: Mutex::new(vec![member]),
                        cancel: CancellationToken::new(),
                    });
                    tokio::spawn(fan_out(subject.clone(), sub, fanout.clone()));
                    subjects.insert(subject.clone(), fanout);
                }
            }
        }
        tokio::spawn(crate::backend::forward_batches(rx, sink, cancel.clone()));
        Ok(Arc::new(CoreSubscription {
            cancel,
            leave: Some((self.clone(), subject, id)),
        }))
    }

    /// Removes a member; the last one out ends the NATS subscription.
    fn leave(self: &Arc<Self>, subject: String, id: u64) {
        let hub = self.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let mut subjects = hub.subjects.lock().await;
            if let Some(f) = subjects.get(&subject) {
                let empty = {
                    let mut members = lock(&f.members);
                    members.retain(|m| m.id != id);
                    members.is_empty()
                };
                if empty {
                    f.cancel.cancel();
                    subjects.remove(&subject);
                }
            }
        });
    }
}

/// Reads one NATS subscription and hands each message to every member that may see it.
async fn fan_out(subject: String, mut sub: async_nats::Subscriber, fanout: Arc<Fanout>) {
    let mut dropped: u64 = 0;
    loop {
        let msg = tokio::select! {
            _ = fanout.cancel.cancelled() => break,
            m = sub.next() => m,
        };
        let Some(msg) = msg else {
            // The client is gone (the route was replaced): members see their subscription end.
            fanout.cancel.cancel();
            break;
        };
        if super::reserved(msg.subject.as_str()) {
            continue;
        }
        let record = core_record(&msg);
        let members = lock(&fanout.members);
        for m in members.iter() {
            if m.allowed
                .as_ref()
                .is_some_and(|id| !id.can_read(&record.topic))
                || !record.matches_headers(&m.match_headers)
            {
                continue;
            }
            if let Err(mpsc::error::TrySendError::Full(_)) = m.tx.try_send(record.clone()) {
                dropped += 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(subject = %subject, dropped, "core NATS subscriber too slow; messages dropped");
                }
            }
        }
    }
    let _ = sub.unsubscribe().await;
}

/// One queue-group member: its own queue subscription, pushed with backpressure.
async fn queue_member(
    mut sub: async_nats::Subscriber,
    spec: SubscribeSpec,
    sink: PushSink,
    cancel: CancellationToken,
) {
    let _task = TaskGauge::new();
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
        let one = [record];
        let pushed = tokio::select! {
            _ = cancel.cancelled() => break,
            p = sink.push(&one) => p,
        };
        if pushed.is_err() {
            break;
        }
    }
    let _ = sub.unsubscribe().await;
}

struct CoreSubscription {
    cancel: CancellationToken,
    leave: Option<(Arc<Hub>, String, u64)>,
}

#[async_trait]
impl Subscription for CoreSubscription {
    async fn commit(&self, _offsets: Vec<CommitOffset>) -> Result<()> {
        Err(GatewayError::UnknownCommand)
    }

    fn close(&self) {
        if !self.cancel.is_cancelled() {
            self.cancel.cancel();
            if let Some((hub, subject, id)) = &self.leave {
                hub.leave(subject.clone(), *id);
            }
        }
    }
}

impl Drop for CoreSubscription {
    fn drop(&mut self) {
        self.close();
    }
}
