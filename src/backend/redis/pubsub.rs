//! Redis pub/sub: PUBLISH on the shared command connection, and one subscriber connection per
//! upstream. Every gateway subscriber of one channel (or one glob pattern) shares one SUBSCRIBE
//! (PSUBSCRIBE) on it; each message becomes one `Record`, handed to every member. When the
//! connection drops, the hub reconnects by itself and subscribes again to everything its
//! members still want (messages published while it was down are lost: pub/sub keeps none).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::PubSubSink;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::Conn;
use crate::backend::{lock, now_ms, CommitOffset, Header, Publish, Published};
use crate::backend::{PushSink, Record, RecordParts, SubscribeSpec, Subscription};
use crate::error::{GatewayError, Result};

/// Records waiting for one subscriber's connection. Pub/sub keeps no history: past this a
/// subscriber that does not read loses messages (Redis itself drops slow subscribers).
const SUBSCRIBER_BUFFER: usize = 4096;

/// Whether a topic is a glob pattern (PSUBSCRIBE) rather than a channel.
pub(super) fn is_pattern(topic: &str) -> bool {
    topic.contains(['*', '?', '['])
}

pub(super) struct Hub {
    conn: Arc<Conn>,
    state: tokio::sync::Mutex<HubState>,
    next_member: AtomicU64,
    /// Ends the connection task when the route's backend is dropped.
    cancel: CancellationToken,
}

#[derive(Default)]
struct HubState {
    /// Set while the subscriber connection is up.
    sink: Option<PubSubSink>,
    /// The connection task runs.
    running: bool,
    /// Channels and patterns subscribed at the server, each with its members.
    topics: HashMap<String, Arc<Fanout>>,
}

struct Fanout {
    members: Mutex<Vec<Member>>,
}

struct Member {
    id: u64,
    tx: mpsc::Sender<Arc<Record>>,
    allowed: Option<Arc<crate::auth::Identity>>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Hub {
    pub fn new(conn: Arc<Conn>) -> Hub {
        Hub {
            conn,
            state: tokio::sync::Mutex::new(HubState::default()),
            next_member: AtomicU64::new(1),
            cancel: CancellationToken::new(),
        }
    }

    /// PUBLISH; the answer is how many Redis subscribers (gateway hubs included) received it.
    pub async fn publish(&self, req: Publish) -> Result<Published> {
        let receivers: i64 = self
            .conn
            .query(
                redis::cmd("PUBLISH")
                    .arg(&req.topic)
                    .arg(req.value.as_ref()),
            )
            .await?;
        Ok(Published {
            partition: 0,
            offset: receivers,
        })
    }

    pub async fn subscribe(
        self: &Arc<Self>,
        topic: String,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        if spec.max_in_flight > 0 {
            return Err(GatewayError::BadRequest(
                "max_in_flight needs per-message ack, which Redis pub/sub has none of".into(),
            ));
        }
        if !spec.match_headers.is_empty() {
            return Err(GatewayError::BadRequest(
                "match_headers needs headers, which Redis pub/sub messages have none of".into(),
            ));
        }
        let id = self.next_member.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let member = Member {
            id,
            tx,
            allowed: spec.allowed.clone(),
        };
        let deadline = tokio::time::Instant::now() + self.conn.timeouts.connect();
        let mut member = Some(member);
        loop {
            let mut st = self.state.lock().await;
            if !st.running {
                st.running = true;
                tokio::spawn(run(Arc::downgrade(self), self.cancel.clone()));
            }
            if let Some(f) = st.topics.get(&topic) {
                lock(&f.members).extend(member.take());
                break;
            }
            let Some(mut conn) = st.sink.clone() else {
                drop(st);
                if tokio::time::Instant::now() >= deadline {
                    return Err(GatewayError::Unavailable(
                        "Redis subscriber connection is down; retrying".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            // Confirmed by the server before the reply: LATEST misses nothing after it.
            let subscribed = tokio::time::timeout(self.conn.timeouts.read(), async {
                if is_pattern(&topic) {
                    conn.psubscribe(&topic).await
                } else {
                    conn.subscribe(&topic).await
                }
            })
            .await;
            match subscribed {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(self.conn.error(&e)),
                Err(_) => {
                    return Err(GatewayError::Timeout(
                        "Redis did not confirm the subscription in time".into(),
                    ))
                }
            }
            st.topics.insert(
                topic.clone(),
                Arc::new(Fanout {
                    members: Mutex::new(member.take().into_iter().collect()),
                }),
            );
            break;
        }
        let cancel = CancellationToken::new();
        tokio::spawn(crate::backend::forward_batches(rx, sink, cancel.clone()));
        Ok(Arc::new(PubSubSubscription {
            cancel,
            hub: self.clone(),
            topic,
            id,
        }))
    }

    /// Removes a member; the last one out unsubscribes at the server.
    fn leave(self: &Arc<Self>, topic: String, id: u64) {
        let hub = self.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let mut st = hub.state.lock().await;
            let empty = st.topics.get(&topic).is_some_and(|f| {
                let mut members = lock(&f.members);
                members.retain(|m| m.id != id);
                members.is_empty()
            });
            if !empty {
                return;
            }
            st.topics.remove(&topic);
            if let Some(mut conn) = st.sink.clone() {
                let _ = tokio::time::timeout(hub.conn.timeouts.read(), async {
                    if is_pattern(&topic) {
                        conn.punsubscribe(&topic).await
                    } else {
                        conn.unsubscribe(&topic).await
                    }
                })
                .await;
            }
        });
    }

    fn deliver(&self, topics: &HashMap<String, Arc<Fanout>>, via: &str, record: &Arc<Record>) {
        let Some(f) = topics.get(via) else { return };
        for m in lock(&f.members).iter() {
            // A pattern delivers only the channels this identity may read.
            if m.allowed
                .as_ref()
                .is_some_and(|i| !i.can_read(&record.topic))
            {
                continue;
            }
            let _ = m.tx.try_send(record.clone());
        }
    }
}

/// The subscriber connection: connect, subscribe again to everything wanted, read until it
/// drops, repeat (50 ms doubling to 2 s between attempts).
async fn run(hub: Weak<Hub>, cancel: CancellationToken) {
    let mut failures = 0u32;
    loop {
        let Some(h) = hub.upgrade() else { return };
        let connected = h.conn.pubsub().await;
        let stream = match connected {
            Ok(ps) => {
                let (mut sink, stream) = ps.split();
                let mut st = h.state.lock().await;
                let mut ok = true;
                for topic in st.topics.keys() {
                    let r = if is_pattern(topic) {
                        sink.psubscribe(topic).await
                    } else {
                        sink.subscribe(topic).await
                    };
                    if r.is_err() {
                        ok = false;
                        break;
                    }
                }
                if ok {
                    st.sink = Some(sink);
                    h.conn.mark(true, &"subscriber connected");
                    failures = 0;
                    Some(stream)
                } else {
                    None
                }
            }
            Err(_) => None,
        };
        if let Some(mut stream) = stream {
            drop(h);
            loop {
                let msg = tokio::select! {
                    _ = cancel.cancelled() => return,
                    m = stream.next() => m,
                };
                let Some(msg) = msg else { break };
                let Some(h) = hub.upgrade() else { return };
                let channel = msg.get_channel_name().to_owned();
                let pattern: Option<String> = msg.get_pattern().ok().flatten();
                let record = Arc::new(Record::from_parts(RecordParts {
                    topic: Arc::from(channel.as_str()),
                    partition: 0,
                    offset: -1,
                    position: String::new(),
                    epoch: 0,
                    timestamp: now_ms(),
                    key: bytes::Bytes::new(),
                    value: bytes::Bytes::copy_from_slice(msg.get_payload_bytes()),
                    headers: Vec::<Header>::new(),
                }));
                let st = h.state.lock().await;
                h.deliver(&st.topics, pattern.as_deref().unwrap_or(&channel), &record);
            }
            let Some(h) = hub.upgrade() else { return };
            h.state.lock().await.sink = None;
            h.conn.mark(false, &"subscriber connection lost");
        }
        failures += 1;
        let delay = Duration::from_millis(50u64 << failures.min(6)).min(Duration::from_secs(2));
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

struct PubSubSubscription {
    cancel: CancellationToken,
    hub: Arc<Hub>,
    topic: String,
    id: u64,
}

#[async_trait]
impl Subscription for PubSubSubscription {
    async fn commit(&self, _offsets: Vec<CommitOffset>) -> Result<()> {
        Err(GatewayError::UnknownCommand)
    }

    fn close(&self) {
        if !self.cancel.is_cancelled() {
            self.cancel.cancel();
            self.hub.leave(self.topic.clone(), self.id);
        }
    }
}

impl Drop for PubSubSubscription {
    fn drop(&mut self) {
        self.close();
    }
}
