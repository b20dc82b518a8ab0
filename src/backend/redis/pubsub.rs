//! Redis pub/sub: PUBLISH on the shared command connection, and one subscriber connection per
//! upstream. Every gateway subscriber of one channel (or one glob pattern) shares one SUBSCRIBE
//! (PSUBSCRIBE) on it; each message becomes one `Record`, handed to every member. When the
//! connection drops, the hub reconnects by itself and subscribes again to everything its
//! members still want (messages published while it was down are lost: pub/sub keeps none).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::PubSubSink;
use tokio_util::sync::CancellationToken;

use super::client::Conn;
use crate::backend::live::{self, Feed, Live};
use crate::backend::retry_pause;
use crate::backend::{now_ms, Header, Publish, Published};
use crate::backend::{PushSink, Record, RecordParts, SubscribeSpec, Subscription};
use crate::error::{GatewayError, Result};

/// Whether a topic is a glob pattern (PSUBSCRIBE) rather than a channel.
pub(super) fn is_pattern(topic: &str) -> bool {
    topic.contains(['*', '?', '['])
}

pub(super) struct Hub {
    conn: Arc<Conn>,
    live: Arc<Live<Channels>>,
}

/// The live fan-out's side at the server: one subscriber connection, subscribed to every
/// channel and pattern that has members.
struct Channels {
    conn: Arc<Conn>,
    /// Set while the subscriber connection is up.
    sink: tokio::sync::Mutex<Option<PubSubSink>>,
    /// The connection task runs.
    running: AtomicBool,
    /// Ends the connection task when the route's backend is dropped.
    cancel: CancellationToken,
}

impl Drop for Channels {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[async_trait]
impl live::Upstream for Channels {
    type Handle = ();
    const NAME: &'static str = "Redis pub/sub";

    async fn open(
        &self,
        topic: &str,
        _feed: &Feed,
        _tag: u64,
        _spec: &SubscribeSpec,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.conn.timeouts.connect();
        let mut conn = loop {
            if let Some(c) = self.sink.lock().await.clone() {
                break c;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(GatewayError::Unavailable(
                    "Redis subscriber connection is down; retrying".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Confirmed by the server before the reply: LATEST misses nothing after it.
        let subscribed = tokio::time::timeout(self.conn.timeouts.read(), async {
            if is_pattern(topic) {
                conn.psubscribe(topic).await
            } else {
                conn.subscribe(topic).await
            }
        })
        .await;
        match subscribed {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.conn.error(&e)),
            Err(_) => Err(GatewayError::Timeout(
                "Redis did not confirm the subscription in time".into(),
            )),
        }
    }

    async fn close(&self, topic: &str, _handle: ()) {
        let Some(mut conn) = self.sink.lock().await.clone() else {
            return;
        };
        let _ = tokio::time::timeout(self.conn.timeouts.read(), async {
            if is_pattern(topic) {
                conn.punsubscribe(topic).await
            } else {
                conn.unsubscribe(topic).await
            }
        })
        .await;
    }
}

impl Hub {
    pub fn new(conn: Arc<Conn>, route: &str) -> Hub {
        let channels = Channels {
            conn: conn.clone(),
            sink: tokio::sync::Mutex::new(None),
            running: AtomicBool::new(false),
            cancel: CancellationToken::new(),
        };
        Hub {
            conn,
            live: Live::new(channels, route),
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
            position: String::new(),
        })
    }

    pub async fn subscribe(
        &self,
        topic: String,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        if !spec.match_headers.is_empty() {
            return Err(GatewayError::BadRequest(
                "match_headers needs headers, which Redis pub/sub messages have none of".into(),
            ));
        }
        let channels = self.live.upstream();
        if !channels.running.swap(true, Ordering::AcqRel) {
            tokio::spawn(run(Arc::downgrade(&self.live), channels.cancel.clone()));
        }
        self.live.join(topic, &spec, sink).await
    }
}

/// The subscriber connection: connect, subscribe again to everything wanted, read until it
/// drops, repeat (50 ms doubling to 2 s between attempts).
async fn run(live: Weak<Live<Channels>>, cancel: CancellationToken) {
    let mut failures = 0u32;
    loop {
        let Some(l) = live.upgrade() else { return };
        let channels = l.upstream();
        let stream = match channels.conn.pubsub().await {
            Ok(ps) => {
                let (mut sink, stream) = ps.split();
                let mut slot = channels.sink.lock().await;
                let mut ok = true;
                for topic in l.keys() {
                    let r = if is_pattern(&topic) {
                        sink.psubscribe(&topic).await
                    } else {
                        sink.subscribe(&topic).await
                    };
                    if r.is_err() {
                        ok = false;
                        break;
                    }
                }
                if ok {
                    *slot = Some(sink);
                    channels.conn.mark(true, &"subscriber connected");
                    failures = 0;
                    Some(stream)
                } else {
                    None
                }
            }
            Err(_) => None,
        };
        drop(l);
        if let Some(mut stream) = stream {
            loop {
                let msg = tokio::select! {
                    _ = cancel.cancelled() => return,
                    m = stream.next() => m,
                };
                let Some(msg) = msg else { break };
                let Some(l) = live.upgrade() else { return };
                let channel = msg.get_channel_name();
                let pattern: Option<String> = msg.get_pattern().ok().flatten();
                let Some(feed) = l.feed(pattern.as_deref().unwrap_or(channel)) else {
                    continue;
                };
                feed.deliver(&Arc::new(Record::from_parts(RecordParts {
                    topic: Arc::from(channel),
                    partition: 0,
                    offset: -1,
                    position: String::new(),
                    epoch: 0,
                    delivery_attempt: 0,
                    timestamp: now_ms(),
                    key: bytes::Bytes::new(),
                    value: bytes::Bytes::copy_from_slice(msg.get_payload_bytes()),
                    headers: Vec::<Header>::new(),
                })));
            }
            let Some(l) = live.upgrade() else { return };
            *l.upstream().sink.lock().await = None;
            l.upstream().conn.mark(false, &"subscriber connection lost");
        }
        failures += 1;
        if retry_pause(&cancel, failures).await {
            return;
        }
    }
}
