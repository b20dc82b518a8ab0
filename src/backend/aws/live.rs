//! Plain (groupless) subscriptions to SNS topics on the shared live fan-out: one SQS queue per
//! gateway process and topic, created for the topic's first member with the policy SNS needs to
//! deliver to it, subscribed with raw delivery (attributes stay SQS attributes), long-polled by
//! one reader that deletes what it received (at most once, as the other live schemes) and hands
//! each message to every member through `backend::live`; unsubscribed and deleted when the last
//! member leaves.
//!
//! The queues are named `{queue_prefix}live-{owner}-{instance}-{n}`: `owner` (8 hex digits of
//! FNV-1a over `{hostname}\n{route uri}`) is the same for every run of this gateway on this
//! host, `instance` differs per process. Before its first queue, a process removes the queues
//! (and their SNS subscriptions) of its owner left by an earlier instance: a gateway that
//! crashed leaves nothing behind once it runs again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use tokio_util::sync::CancellationToken;

use super::client::{sdk_error, Conn};
use super::message::record;
use crate::backend::live::{self, Feed, Live};
use crate::backend::{lock, retry_pause, PushSink, SubscribeSpec, Subscription};
use crate::error::{GatewayError, Result};

/// SQS's longest long poll.
pub(super) const WAIT_SECS: i32 = 20;

/// FNV-1a, 32 bits: a stable hash the tests can compute too.
pub fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// 8 hex digits that differ between gateway processes, the same for every route and backend of
/// one process: a route rebuilt on reload must not take the queues its predecessor still reads
/// for an earlier run's.
fn instance_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(new_instance_id).clone()
}

fn new_instance_id() -> String {
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

/// The live fan-out's side at SNS and SQS.
pub(super) struct Topics {
    conn: Arc<Conn>,
    names: Arc<Names>,
    /// The earlier runs' queues removed (once, before the first queue).
    swept: tokio::sync::OnceCell<()>,
}

/// How this process names its live queues.
struct Names {
    /// `{queue_prefix}live-{owner}-`: this gateway's live queues, of every run.
    owner_prefix: String,
    instance: String,
    fifo: bool,
}

impl Names {
    /// A new queue name: each opening its own (a name deleted and made again at once is
    /// refused by SQS for 60 s).
    fn next(&self) -> String {
        // Process-wide: backends of one process share the instance id.
        static OPENED: AtomicU64 = AtomicU64::new(0);
        let n = OPENED.fetch_add(1, Ordering::Relaxed);
        let fifo = if self.fifo { ".fifo" } else { "" };
        format!("{}{}-{n}{fifo}", self.owner_prefix, self.instance)
    }
}

/// The queue of an open topic and its SNS subscription; made again by the reader if it vanishes.
#[derive(Default)]
struct LiveQueue {
    url: String,
    subscription_arn: Option<String>,
}

pub(super) struct LiveHandle {
    cancel: CancellationToken,
    queue: Arc<std::sync::Mutex<LiveQueue>>,
}

impl Drop for LiveHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The access policy SNS needs to send to a queue (real AWS; moto does not check it).
pub(super) fn queue_policy(queue_arn: &str, topic_arn: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "pubsub-gateway-sns",
            "Effect": "Allow",
            "Principal": { "Service": "sns.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } }
        }]
    })
    .to_string()
}

impl Topics {
    pub fn new(conn: Arc<Conn>, uri: &str) -> Topics {
        let owner = format!("{:08x}", fnv1a(&format!("{}\n{uri}", hostname())));
        Topics {
            names: Arc::new(Names {
                owner_prefix: format!("{}live-{owner}-", conn.opts.queue_prefix),
                instance: instance_id(),
                fifo: conn.opts.fifo,
            }),
            conn,
            swept: tokio::sync::OnceCell::new(),
        }
    }

    /// Removes the live queues an earlier run of this gateway left, and their subscriptions.
    async fn sweep(&self) {
        let mine = format!("{}{}-", self.names.owner_prefix, self.names.instance);
        let listed = self
            .conn
            .sqs
            .list_queues()
            .queue_name_prefix(&self.names.owner_prefix)
            .max_results(1000)
            .send()
            .await;
        let Ok(listed) = listed else {
            return;
        };
        let mut stale = Vec::new();
        for url in listed.queue_urls() {
            let name = url.rsplit('/').next().unwrap_or("");
            if name.starts_with(&mine) {
                continue;
            }
            let arn = queue_arn(&self.conn, url).await.ok();
            let _ = self.conn.sqs.delete_queue().queue_url(url).send().await;
            tracing::info!(
                queue = name,
                "removed a live queue an earlier run of this gateway left"
            );
            stale.extend(arn);
        }
        if stale.is_empty() {
            return;
        }
        // Their SNS subscriptions: a bounded walk of the account's subscriptions.
        let mut token: Option<String> = None;
        for _ in 0..100 {
            let Ok(page) = self
                .conn
                .sns
                .list_subscriptions()
                .set_next_token(token.take())
                .send()
                .await
            else {
                return;
            };
            for s in page.subscriptions() {
                if s.endpoint().is_some_and(|e| stale.iter().any(|a| a == e)) {
                    if let Some(arn) = s.subscription_arn() {
                        let _ = self
                            .conn
                            .sns
                            .unsubscribe()
                            .subscription_arn(arn)
                            .send()
                            .await;
                    }
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return,
            }
        }
    }
}

/// Creates a topic's live queue and subscribes it; deletes the queue again if that fails.
async fn create(conn: &Conn, names: &Names, topic: &str) -> Result<LiveQueue> {
    let topic_arn = conn.existing_topic(topic).await?;
    let name = names.next();
    let o = &conn.opts;
    let mut create = conn
        .sqs
        .create_queue()
        .queue_name(&name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            o.visibility_timeout_secs.to_string(),
        )
        // Live messages are read at once; what waits longer is stale.
        .attributes(QueueAttributeName::MessageRetentionPeriod, "600");
    if o.fifo {
        create = create
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::ContentBasedDeduplication, "true");
    }
    let url = conn
        .within("creating a queue", async {
            create
                .send()
                .await
                .map_err(|e| sdk_error(e, &format!("queue `{name}`")))
        })
        .await?
        .queue_url
        .ok_or_else(|| GatewayError::Upstream("SQS created a queue without a URL".into()))?;
    match subscribe_queue(conn, &url, &topic_arn, topic).await {
        Ok(subscription_arn) => Ok(LiveQueue {
            url,
            subscription_arn,
        }),
        Err(e) => {
            let _ = conn.sqs.delete_queue().queue_url(&url).send().await;
            Err(e)
        }
    }
}

/// A queue's ARN.
pub(super) async fn queue_arn(conn: &Conn, url: &str) -> Result<String> {
    let attrs = conn
        .within("reading a queue's attributes", async {
            conn.sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| sdk_error(e, "a queue's ARN"))
        })
        .await?;
    attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| GatewayError::Upstream("SQS answered without the queue's ARN".into()))
}

/// Lets SNS send to the queue and subscribes it to the topic with raw delivery; the
/// subscription's ARN.
pub(super) async fn subscribe_queue(
    conn: &Conn,
    url: &str,
    topic_arn: &str,
    topic: &str,
) -> Result<Option<String>> {
    let arn = queue_arn(conn, url).await?;
    conn.within("setting the queue's policy", async {
        conn.sqs
            .set_queue_attributes()
            .queue_url(url)
            .attributes(QueueAttributeName::Policy, queue_policy(&arn, topic_arn))
            .send()
            .await
            .map_err(|e| sdk_error(e, "the queue's policy"))
    })
    .await?;
    let out = conn
        .within("subscribing a queue", async {
            conn.sns
                .subscribe()
                .topic_arn(topic_arn)
                .protocol("sqs")
                .endpoint(&arn)
                .attributes("RawMessageDelivery", "true")
                .return_subscription_arn(true)
                .send()
                .await
                .map_err(|e| sdk_error(e, &format!("topic `{topic}`")))
        })
        .await?;
    Ok(out.subscription_arn)
}

#[async_trait]
impl live::Upstream for Topics {
    type Handle = LiveHandle;
    const NAME: &'static str = "SNS";

    async fn open(
        &self,
        topic: &str,
        feed: &Feed,
        _tag: u64,
        _spec: &SubscribeSpec,
    ) -> Result<LiveHandle> {
        self.swept.get_or_init(|| self.sweep()).await;
        let queue = Arc::new(std::sync::Mutex::new(
            create(&self.conn, &self.names, topic).await?,
        ));
        let cancel = CancellationToken::new();
        tokio::spawn(read(
            self.conn.clone(),
            self.names.clone(),
            Arc::from(topic),
            queue.clone(),
            feed.clone(),
            cancel.clone(),
        ));
        Ok(LiveHandle { cancel, queue })
    }

    async fn close(&self, topic: &str, handle: LiveHandle) {
        handle.cancel.cancel();
        let LiveQueue {
            url,
            subscription_arn,
        } = std::mem::take(&mut *lock(&handle.queue));
        let limit = self.conn.timeouts.send();
        if let Some(arn) = &subscription_arn {
            let _ = tokio::time::timeout(
                limit,
                self.conn.sns.unsubscribe().subscription_arn(arn).send(),
            )
            .await;
        }
        let deleted =
            tokio::time::timeout(limit, self.conn.sqs.delete_queue().queue_url(&url).send()).await;
        if !matches!(deleted, Ok(Ok(_))) {
            tracing::warn!(
                queue = %url,
                topic,
                "could not delete the live SQS queue; the next run of this gateway removes it"
            );
        }
    }
}

/// The queue's reader: long polls, every message to the feed, then deleted; the queue made
/// again (a new name, subscribed again) if it vanished; until cancelled.
async fn read(
    conn: Arc<Conn>,
    names: Arc<Names>,
    topic: Arc<str>,
    queue: Arc<std::sync::Mutex<LiveQueue>>,
    feed: Feed,
    cancel: CancellationToken,
) {
    let mut failures = 0u32;
    loop {
        let url = lock(&queue).url.clone();
        let received = tokio::select! {
            _ = cancel.cancelled() => return,
            r = conn
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .wait_time_seconds(WAIT_SECS)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send() => r,
        };
        match received {
            Ok(out) => {
                failures = 0;
                let mut handles = Vec::new();
                for m in out.messages.unwrap_or_default() {
                    if let Some(h) = m.receipt_handle.clone() {
                        handles.push(h);
                    }
                    feed.deliver(&Arc::new(record(&topic, m)));
                }
                if !handles.is_empty() {
                    let conn = conn.clone();
                    tokio::spawn(async move { delete(&conn, &url, handles).await });
                }
            }
            Err(e) => {
                let e = sdk_error(e, &format!("the live queue of topic `{topic}`"));
                tracing::debug!(queue = %url, error = %e, "SQS receive failed");
                if e.code() == 404 {
                    // The queue vanished (deleted, or the endpoint restarted empty): messages
                    // meanwhile are lost, as on every live scheme; a missing topic is retried.
                    let made = tokio::select! {
                        _ = cancel.cancelled() => return,
                        r = create(&conn, &names, &topic) => r,
                    };
                    if let Ok(q) = made {
                        if cancel.is_cancelled() {
                            // Closed meanwhile: this queue is nobody's.
                            if let Some(arn) = &q.subscription_arn {
                                let _ = conn.sns.unsubscribe().subscription_arn(arn).send().await;
                            }
                            let _ = conn.sqs.delete_queue().queue_url(&q.url).send().await;
                            return;
                        }
                        let old = std::mem::replace(&mut *lock(&queue), q);
                        if let Some(arn) = old.subscription_arn {
                            let _ = conn.sns.unsubscribe().subscription_arn(arn).send().await;
                        }
                        continue;
                    }
                }
                failures += 1;
                if retry_pause(&cancel, failures).await {
                    return;
                }
            }
        }
    }
}

/// Deletes received messages, 10 to a call.
pub(super) async fn delete(conn: &Conn, url: &str, handles: Vec<String>) {
    use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry as E;
    for chunk in handles.chunks(10) {
        let entries: Vec<E> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                E::builder()
                    .id(i.to_string())
                    .receipt_handle(h)
                    .build()
                    .ok()
            })
            .collect();
        let _ = tokio::time::timeout(
            conn.timeouts.send(),
            conn.sqs
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send(),
        )
        .await;
    }
}

/// The route's plain subscriptions.
pub(super) struct Hub {
    live: Arc<Live<Topics>>,
}

impl Hub {
    /// Removes what an earlier run left as soon as the route is built (in a runtime), so a
    /// restarted gateway cleans up even before its first plain subscriber.
    pub fn new(conn: Arc<Conn>, uri: &str, route: &str) -> Hub {
        let live = Live::new(Topics::new(conn, uri), route);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let l = live.clone();
            rt.spawn(async move {
                let t = l.upstream();
                t.swept.get_or_init(|| t.sweep()).await;
            });
        }
        Hub { live }
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
