//! JetStream: the route's stream (named, or looked up by subject), publish with PubAck, fetch
//! by stream sequence, list_offset and metadata from stream info. The stream's creation time is
//! its epoch: a stream deleted and made again is another log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream, Context};
use futures_util::StreamExt;
use tokio::sync::OnceCell;

use super::client::{check_payload, js_error, to_nats_headers, within, Conn};
use super::reader::{epoch_of, js_record};
use crate::backend::{FetchLimits, Record};
use crate::backend::{PartitionInfo, Publish, Published, TopicMetadata};
use crate::config::NatsOptions;
use crate::error::{GatewayError, Result};

/// How long a subject's stream, found by lookup, is trusted.
const LOOKUP_TTL: Duration = Duration::from_secs(10);

pub(super) struct Js {
    pub conn: Arc<Conn>,
    pub opts: NatsOptions,
    /// The route's delivery policy, mapped onto the group consumers (`max_deliver`) and their
    /// nacks (the backoff).
    pub delivery: crate::config::DeliveryPolicy,
    /// Made once `create_stream` has run (or found the stream).
    created: OnceCell<()>,
    /// Shared readers of the live end of each subscribed subject.
    pub tails: Arc<super::tail::Tails>,
    lookups: Mutex<HashMap<String, (String, Instant)>>,
}

/// A stream as one request saw it.
pub(super) struct StreamView {
    pub stream: stream::Stream,
    pub name: String,
    pub epoch: u64,
    /// The first sequence still held, or `end` when the stream is empty.
    pub earliest: i64,
    /// The sequence the next message gets.
    pub end: i64,
}

impl Js {
    pub fn new(conn: Arc<Conn>, opts: NatsOptions, delivery: crate::config::DeliveryPolicy) -> Js {
        Js {
            conn,
            opts,
            delivery,
            created: OnceCell::new(),
            tails: Arc::default(),
            lookups: Mutex::new(HashMap::new()),
        }
    }

    pub async fn context(&self) -> Result<Context> {
        let client = self.conn.client().await?.clone();
        Ok(jetstream::ContextBuilder::new()
            .timeout(self.conn.timeouts.read())
            .build(client))
    }

    /// The name of the stream holding `subject`.
    pub async fn stream_name(&self, ctx: &Context, subject: &str) -> Result<String> {
        if let Some(name) = &self.opts.stream {
            self.ensure_created(ctx, name).await?;
            return Ok(name.clone());
        }
        let cached = self
            .lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(subject)
            .filter(|(_, at)| at.elapsed() < LOOKUP_TTL)
            .map(|(n, _)| n.clone());
        if let Some(n) = cached {
            return Ok(n);
        }
        let name = within(self.conn.timeouts.read(), "the stream lookup", async {
            ctx.stream_by_subject(subject.to_owned())
                .await
                .map_err(|e| {
                    if e.to_string().to_ascii_lowercase().contains("not found") {
                        no_stream_for(subject)
                    } else {
                        js_error("JetStream stream lookup failed", e)
                    }
                })
        })
        .await?;
        let mut lookups = self.lookups.lock().unwrap_or_else(|e| e.into_inner());
        if lookups.len() > 10_000 {
            lookups.clear();
        }
        lookups.insert(subject.to_owned(), (name.clone(), Instant::now()));
        Ok(name)
    }

    async fn ensure_created(&self, ctx: &Context, name: &str) -> Result<()> {
        let Some(c) = &self.opts.create_stream else {
            return Ok(());
        };
        self.created
            .get_or_try_init(|| async {
                let config = stream::Config {
                    name: name.to_owned(),
                    subjects: c.subjects.clone(),
                    max_messages: c.max_msgs,
                    max_bytes: c.max_bytes,
                    max_age: Duration::from_secs_f64(c.max_age_secs),
                    storage: stream::StorageType::File,
                    ..Default::default()
                };
                within(self.conn.timeouts.read(), "creating the stream", async {
                    ctx.get_or_create_stream(config)
                        .await
                        .map(|_| ())
                        .map_err(|e| js_error(&format!("cannot create JetStream stream {name}"), e))
                })
                .await
            })
            .await
            .map(|_| ())
    }

    /// The stream holding `subject`, with its bounds and epoch now.
    pub async fn view(&self, ctx: &Context, subject: &str) -> Result<StreamView> {
        let name = self.stream_name(ctx, subject).await?;
        let stream = within(self.conn.timeouts.read(), "the stream info", async {
            ctx.get_stream(&name).await.map_err(|e| {
                let text = e.to_string().to_ascii_lowercase();
                if text.contains("not found") || text.contains("10059") {
                    GatewayError::UnknownTopicOrPartition
                        .context(format!("JetStream stream {name} does not exist"))
                } else {
                    js_error(&format!("JetStream stream {name}"), e)
                }
            })
        })
        .await?;
        if let Some(named) = &self.opts.stream {
            let subjects = &stream.cached_info().config.subjects;
            if !subjects.iter().any(|f| super::subject_matches(f, subject))
                && !subjects.iter().any(|f| super::subject_matches(subject, f))
            {
                return Err(GatewayError::UnknownTopicOrPartition.context(format!(
                    "subject {subject} is not in JetStream stream {named} (subjects: {})",
                    subjects.join(", ")
                )));
            }
        }
        let info = stream.cached_info();
        let end = i64::try_from(info.state.last_sequence).unwrap_or(i64::MAX - 1) + 1;
        let earliest = if info.state.messages == 0 {
            end
        } else {
            i64::try_from(info.state.first_sequence).unwrap_or(0)
        };
        Ok(StreamView {
            epoch: epoch_of(info),
            earliest,
            end,
            name,
            stream,
        })
    }

    pub async fn publish(&self, req: Publish) -> Result<Published> {
        let ctx = self.context().await?;
        check_payload(&ctx.client(), &req.value, &req.headers)?;
        let mut headers = to_nats_headers(&req.headers)?;
        if !req.idempotency_key.is_empty() {
            // JetStream's own deduplication: within the stream's duplicate window a repeat is
            // not stored and its ack carries the first one's sequence, also past the gateway's
            // window (another replica, a restarted gateway).
            headers
                .get_or_insert_with(async_nats::HeaderMap::new)
                .insert(
                    async_nats::header::NATS_MESSAGE_ID,
                    req.idempotency_key.as_str(),
                );
        }
        if self.opts.stream.is_some() {
            // Made before the first publish when the route asks for it.
            self.stream_name(&ctx, &req.topic).await?;
        }
        let subject = req.topic.clone();
        let ack = within(self.conn.timeouts.send(), "the publish", async {
            let sent = match headers {
                Some(h) => {
                    ctx.publish_with_headers(subject.clone(), h, req.value)
                        .await
                }
                None => ctx.publish(subject.clone(), req.value).await,
            };
            let future = sent.map_err(|e| js_error("JetStream publish failed", e))?;
            future.await.map_err(|e| {
                if matches!(
                    e.kind(),
                    jetstream::context::PublishErrorKind::StreamNotFound
                ) {
                    no_stream_for(&subject)
                } else {
                    js_error("JetStream publish failed", e)
                }
            })
        })
        .await?;
        Ok(Published {
            partition: 0,
            offset: i64::try_from(ack.sequence).unwrap_or(i64::MAX),
            position: String::new(),
        })
    }

    pub async fn list_offset(&self, subject: &str, timestamp: i64) -> Result<i64> {
        let ctx = self.context().await?;
        let view = self.view(&ctx, subject).await?;
        match timestamp {
            -1 => Ok(view.end),
            -2 => Ok(view.earliest),
            ts => {
                let start_time =
                    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts) * 1_000_000)
                        .map_err(|_| {
                            GatewayError::BadRequest(format!("timestamp {ts} is out of range"))
                        })?;
                let first = self
                    .read(
                        &view,
                        subject,
                        consumer::DeliverPolicy::ByStartTime { start_time },
                        FetchLimits {
                            max_messages: 1,
                            max_bytes: usize::MAX,
                            max_wait: Duration::ZERO,
                        },
                    )
                    .await?;
                Ok(first.first().map_or(-1, |r| r.offset))
            }
        }
    }

    pub async fn fetch(
        &self,
        subject: &str,
        offset: i64,
        limits: FetchLimits,
    ) -> Result<Vec<Arc<Record>>> {
        let ctx = self.context().await?;
        let view = self.view(&ctx, subject).await?;
        if offset < view.earliest || offset > view.end {
            return Err(GatewayError::OffsetOutOfRange {
                offset,
                earliest: view.earliest,
                end: view.end,
            });
        }
        if offset == view.end && limits.max_wait.is_zero() {
            return Ok(Vec::new());
        }
        let start_sequence = u64::try_from(offset.max(1)).unwrap_or(1);
        self.read(
            &view,
            subject,
            consumer::DeliverPolicy::ByStartSequence { start_sequence },
            limits,
        )
        .await
    }

    /// The sequence of the first message `policy` delivers for `subject` now, if any.
    pub async fn first_sequence(
        &self,
        view: &StreamView,
        subject: &str,
        policy: consumer::DeliverPolicy,
    ) -> Result<Option<i64>> {
        let first = self
            .read(
                view,
                subject,
                policy,
                FetchLimits {
                    max_messages: 1,
                    max_bytes: usize::MAX,
                    max_wait: Duration::ZERO,
                },
            )
            .await?;
        Ok(first.first().map(|r| r.offset))
    }

    /// Reads with a short-lived consumer: what is there now, else (with max_wait) the first
    /// message to arrive and whatever came with it.
    async fn read(
        &self,
        view: &StreamView,
        subject: &str,
        deliver_policy: consumer::DeliverPolicy,
        limits: FetchLimits,
    ) -> Result<Vec<Arc<Record>>> {
        let config = consumer::pull::Config {
            deliver_policy,
            filter_subject: subject.to_owned(),
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            memory_storage: true,
            ..Default::default()
        };
        let timeout = self.conn.timeouts.read();
        let consumer = within(timeout, "creating a reader", async {
            view.stream
                .create_consumer(config)
                .await
                .map_err(|e| js_error("cannot create a JetStream reader", e))
        })
        .await?;
        let result = self.read_with(&consumer, view.epoch, limits, timeout).await;
        // Ephemeral: the server drops it after inactive_threshold anyway.
        let stream = view.stream.clone();
        let name = consumer.cached_info().name.clone();
        tokio::spawn(async move {
            let _ = stream.delete_consumer(&name).await;
        });
        result
    }

    async fn read_with(
        &self,
        consumer: &consumer::Consumer<consumer::pull::Config>,
        epoch: u64,
        limits: FetchLimits,
        timeout: Duration,
    ) -> Result<Vec<Arc<Record>>> {
        let mut got = Collected {
            out: Vec::new(),
            bytes: 0,
            max_bytes: limits.max_bytes,
            epoch,
        };
        let max = limits.max_messages.max(1);
        let now = drain(
            within(timeout, "the fetch", async {
                consumer
                    .fetch()
                    .max_messages(max)
                    .messages()
                    .await
                    .map_err(|e| js_error("JetStream fetch failed", e))
            })
            .await?,
            timeout,
        )
        .await?;
        got.add(now)?;
        if got.out.is_empty() && !limits.max_wait.is_zero() {
            let first = drain(
                consumer
                    .batch()
                    .max_messages(1)
                    .expires(limits.max_wait)
                    .messages()
                    .await
                    .map_err(|e| js_error("JetStream fetch failed", e))?,
                limits.max_wait + timeout,
            )
            .await?;
            if got.add(first)? && !got.out.is_empty() && max > 1 {
                let rest = drain(
                    consumer
                        .fetch()
                        .max_messages(max - 1)
                        .messages()
                        .await
                        .map_err(|e| js_error("JetStream fetch failed", e))?,
                    timeout,
                )
                .await?;
                got.add(rest)?;
            }
        }
        Ok(got.out)
    }

    pub async fn metadata(&self, subject: &str) -> Result<TopicMetadata> {
        let ctx = self.context().await?;
        let view = self.view(&ctx, subject).await?;
        Ok(TopicMetadata {
            topic: subject.to_owned(),
            partitions: vec![PartitionInfo {
                partition: 0,
                earliest: view.earliest,
                latest: view.end,
                epoch: view.epoch,
            }],
        })
    }
}

struct Collected {
    out: Vec<Arc<Record>>,
    bytes: usize,
    max_bytes: usize,
    epoch: u64,
}

impl Collected {
    /// Adds messages within max_bytes (at least one); false once the bytes are used up.
    fn add(&mut self, batch: Vec<jetstream::Message>) -> Result<bool> {
        for m in batch {
            let r = js_record(&m, self.epoch)?;
            if !self.out.is_empty() && self.bytes + r.size() > self.max_bytes {
                return Ok(false);
            }
            self.bytes += r.size();
            self.out.push(r);
        }
        Ok(true)
    }
}

/// Everything a pull batch delivers, within `limit`.
async fn drain(
    mut batch: consumer::pull::Batch,
    limit: Duration,
) -> Result<Vec<jetstream::Message>> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, batch.next()).await {
            Err(_) | Ok(None) => return Ok(out),
            Ok(Some(Ok(m))) => out.push(m),
            Ok(Some(Err(e))) => {
                if out.is_empty() {
                    return Err(js_error("JetStream fetch failed", e));
                }
                return Ok(out);
            }
        }
    }
}

fn no_stream_for(subject: &str) -> GatewayError {
    GatewayError::UnknownTopicOrPartition
        .context(format!("no JetStream stream holds subject {subject}"))
}
