//! Plain (groupless) subscriptions on the shared live fan-out: one Pub/Sub subscription per
//! gateway process, route and topic, created for the topic's first member (so a LATEST member
//! misses nothing published after its reply), read by one StreamingPull, acknowledged by the
//! gateway on receipt (at most once, as the other live schemes), each message handed to every
//! member through `backend::live`, and deleted when the last member leaves. An expiration
//! policy lets Google collect what a crashed gateway leaves behind.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gcloud_gax::grpc::Code;
use gcloud_googleapis::pubsub::v1::{
    AcknowledgeRequest, DeleteSubscriptionRequest, ExpirationPolicy, ReceivedMessage,
    StreamingPullRequest, Subscription as PsSubscription,
};
use tokio_util::sync::CancellationToken;

use super::client::{quick, status_error, Conn};
use crate::backend::live::{self, Feed, Live};
use crate::backend::retry_pause;
use crate::backend::{Header, PushSink, Record, RecordParts, SubscribeSpec, Subscription};
use crate::error::{GatewayError, Result};

/// The live fan-out's side at Pub/Sub.
pub(super) struct Topics {
    conn: Arc<Conn>,
    /// What this process's subscription ids start with: `{prefix}live.{instance}.`.
    base: String,
    /// Numbers each opening: a topic's subscription gets a new name each time it is opened
    /// (a deleted name reused at once can still have the old stream attached: measured on the
    /// emulator, the recreated subscription's messages then went nowhere for the ack deadline).
    opened: AtomicI64,
}

pub(super) struct LiveHandle {
    cancel: CancellationToken,
    fqsn: String,
}

impl Drop for LiveHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// 8 hex digits that differ between gateway processes.
fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:08x}", h.finish() as u32)
}

/// The default subscription prefix of a route: `gw-{uri}-`, characters outside the id alphabet
/// replaced by `-`.
pub(super) fn default_prefix(uri: &str) -> String {
    let uri: String = uri
        .trim_matches(|c| c == '/' || c == '*')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.~+%".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(80)
        .collect();
    format!("gw-{uri}-")
}

impl Topics {
    pub fn new(conn: Arc<Conn>, prefix: &str) -> Topics {
        Topics {
            conn,
            base: format!("{prefix}live.{}.", instance_id()),
            opened: AtomicI64::new(0),
        }
    }

    /// A new subscription id for a topic, `{base}{n}.{topic}`: the topic replaced by a hash if
    /// the id would pass 255.
    fn subscription_id(&self, topic: &str) -> String {
        let n = self.opened.fetch_add(1, Ordering::Relaxed);
        let base = format!("{}{n}.", self.base);
        if base.len() + topic.len() <= 255 {
            return format!("{base}{topic}");
        }
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        topic.hash(&mut h);
        format!("{base}{:016x}", h.finish())
    }

    async fn create(&self, topic: &str, fqsn: &str) -> Result<()> {
        let o = &self.conn.opts;
        let clients = self.conn.clients().await?;
        let sub = PsSubscription {
            name: fqsn.to_string(),
            topic: self.conn.topic_name(topic),
            ack_deadline_seconds: o.ack_deadline_secs as i32,
            enable_message_ordering: o.message_ordering,
            message_retention_duration: Some(prost_types::Duration {
                seconds: 600,
                nanos: 0,
            }),
            expiration_policy: Some(ExpirationPolicy {
                ttl: Some(prost_types::Duration {
                    seconds: o.live_subscription_ttl_secs as i64,
                    nanos: 0,
                }),
            }),
            labels: HashMap::from([("pubsub-gateway".to_string(), "live".to_string())]),
            ..Default::default()
        };
        let created = self
            .conn
            .within("creating a subscription", async {
                clients
                    .subscriber
                    .create_subscription(sub, quick())
                    .await
                    .map_err(|s| status_error(&s, &format!("topic `{topic}`")))
            })
            .await;
        match created {
            Ok(_) => Ok(()),
            // Ours (names are per process and opening): the reader recreating it raced another call.
            Err(GatewayError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl live::Upstream for Topics {
    type Handle = LiveHandle;
    const NAME: &'static str = "Pub/Sub";

    async fn open(
        &self,
        topic: &str,
        feed: &Feed,
        _tag: u64,
        _spec: &SubscribeSpec,
    ) -> Result<LiveHandle> {
        let fqsn = self.conn.subscription_name(&self.subscription_id(topic));
        self.create(topic, &fqsn).await?;
        let cancel = CancellationToken::new();
        tokio::spawn(read(
            self.conn.clone(),
            Arc::from(topic),
            fqsn.clone(),
            feed.clone(),
            cancel.clone(),
        ));
        Ok(LiveHandle { cancel, fqsn })
    }

    async fn close(&self, topic: &str, handle: LiveHandle) {
        handle.cancel.cancel();
        let Ok(clients) = self.conn.clients().await else {
            return;
        };
        let req = DeleteSubscriptionRequest {
            subscription: handle.fqsn.clone(),
        };
        let deleted = tokio::time::timeout(
            self.conn.timeouts.send(),
            clients.subscriber.delete_subscription(req, quick()),
        )
        .await;
        if !matches!(deleted, Ok(Ok(_))) {
            tracing::warn!(
                subscription = %handle.fqsn,
                topic,
                "could not delete the live Pub/Sub subscription; its expiration policy collects it"
            );
        }
    }
}

/// Acknowledge requests of one reader waiting for Pub/Sub at once.
const ACKS_IN_FLIGHT: usize = 16;

/// The subscription's reader: StreamingPull, every message to the feed, acks per response;
/// the stream reopened (the subscription recreated if it vanished) until cancelled.
async fn read(
    conn: Arc<Conn>,
    topic: Arc<str>,
    fqsn: String,
    feed: Feed,
    cancel: CancellationToken,
) {
    let mut failures = 0u32;
    let acks = Arc::new(tokio::sync::Semaphore::new(ACKS_IN_FLIGHT));
    let topics = Topics {
        conn: conn.clone(),
        base: String::new(),
        opened: AtomicI64::new(0),
    };
    loop {
        if cancel.is_cancelled() {
            return;
        }
        let status = match conn.clients().await {
            Err(_) => None,
            Ok(clients) => {
                let req = StreamingPullRequest {
                    subscription: fqsn.clone(),
                    stream_ack_deadline_seconds: conn.opts.ack_deadline_secs as i32,
                    ..Default::default()
                };
                let opened = tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = clients.subscriber.streaming_pull(req, Duration::from_secs(30), quick()) => r,
                };
                match opened {
                    Err(s) => Some(s),
                    Ok(resp) => {
                        let mut stream = resp.into_inner();
                        loop {
                            let msg = tokio::select! {
                                _ = cancel.cancelled() => return,
                                m = stream.message() => m,
                            };
                            match msg {
                                Ok(Some(r)) => {
                                    failures = 0;
                                    let ack_ids: Vec<String> = r
                                        .received_messages
                                        .iter()
                                        .map(|m| m.ack_id.clone())
                                        .collect();
                                    for m in r.received_messages {
                                        feed.deliver(&Arc::new(record(&topic, m, -1)));
                                    }
                                    if !ack_ids.is_empty() {
                                        // Bounded: at most ACKS_IN_FLIGHT acks wait for Pub/Sub;
                                        // past that the reader waits instead of piling tasks up.
                                        let Ok(permit) = acks.clone().acquire_owned().await else {
                                            return;
                                        };
                                        let clients = clients.clone();
                                        let subscription = fqsn.clone();
                                        tokio::spawn(async move {
                                            let _permit = permit;
                                            let req = AcknowledgeRequest {
                                                subscription,
                                                ack_ids,
                                            };
                                            let _ =
                                                clients.subscriber.acknowledge(req, quick()).await;
                                        });
                                    }
                                }
                                Ok(None) => break None,
                                Err(s) => break Some(s),
                            }
                        }
                    }
                }
            }
        };
        if let Some(s) = &status {
            if s.code() == Code::NotFound {
                // The subscription vanished under the stream: recreate it (messages meanwhile
                // are lost, as on every live scheme); a missing topic is retried with backoff.
                let _ = topics.create(&topic, &fqsn).await;
            } else {
                tracing::debug!(subscription = %fqsn, error = %s.message(), "Pub/Sub stream ended");
            }
        }
        failures += 1;
        if retry_pause(&cancel, failures).await {
            return;
        }
    }
}

/// A received message as a record: partition 0, `offset` (live: -1, a live subscription has no
/// position a client could resume from or de-duplicate by; a per-reader counter would start
/// over with each new subscription and make clients drop new messages as seen; a group: the
/// member's delivery number, what the client acks), position the message id, key the ordering
/// key, headers the attributes sorted by name, the delivery attempt as Pub/Sub counts it
/// (subscriptions with a dead-letter policy; else 0, unknown).
pub(super) fn record(topic: &Arc<str>, m: ReceivedMessage, offset: i64) -> Record {
    let msg = m.message.unwrap_or_default();
    let timestamp = msg
        .publish_time
        .map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
        .unwrap_or(0);
    let mut headers: Vec<Header> = msg
        .attributes
        .into_iter()
        .map(|(key, value)| Header {
            key,
            value: bytes::Bytes::from(value),
        })
        .collect();
    headers.sort_by(|a, b| a.key.cmp(&b.key));
    Record::from_parts(RecordParts {
        topic: topic.clone(),
        partition: 0,
        offset,
        position: msg.message_id,
        epoch: 0,
        delivery_attempt: u32::try_from(m.delivery_attempt).unwrap_or(0),
        timestamp,
        key: bytes::Bytes::from(msg.ordering_key),
        value: msg.data,
        headers,
    })
}

/// The route's plain subscriptions.
pub(super) struct Hub {
    live: Arc<Live<Topics>>,
}

impl Hub {
    pub fn new(conn: Arc<Conn>, prefix: &str, route: &str) -> Hub {
        Hub {
            live: Live::new(Topics::new(conn, prefix), route),
        }
    }

    pub async fn subscribe(
        &self,
        topic: String,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        self.live.join(topic, &spec, sink).await
    }
}
