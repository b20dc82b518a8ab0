//! The clients one upstream shares (producer, metadata client, fetch pool, tail), and the
//! blocking librdkafka calls made off the async threads.

use super::*;

pub(super) struct Inner {
    /// Connection settings every client of this upstream shares (brokers, TLS, SASL, extras).
    pub(super) base: ClientConfig,
    pub(super) timeout: Duration,
    pub(super) send_timeout: Duration,
    pub(super) refresh: Duration,
    pub(super) cache_messages: usize,
    pub(super) cache_bytes: usize,
    pub(super) max_group_consumers: usize,
    pub(super) group_consumers: AtomicUsize,
    pub(super) diag: Arc<Diagnostics>,
    pub(super) producer: FutureProducer<GwContext>,
    pub(super) admin: Arc<BaseConsumer<GwContext>>,
    pub(super) admin_permits: Semaphore,
    pub(super) fetchers: Vec<tokio::sync::Mutex<Fetcher>>,
    pub(super) tail: OnceLock<std::result::Result<Arc<Tail>, String>>,
    pub(super) context: GwContext,
    pub(super) watermarks: Mutex<HashMap<Tp, (i64, i64)>>,
    pub(super) partition_counts: Mutex<HashMap<String, (i32, Instant)>>,
    /// The latest full topic list, shared by every pattern subscription of the upstream.
    pub(super) catalog: tokio::sync::watch::Sender<Option<Arc<Catalog>>>,
    pub(super) catalog_task: OnceLock<()>,
    /// Cancelled when the backend is dropped (route removed or replaced by a reload): stops
    /// the tasks that would otherwise keep this upstream's clients alive.
    pub(super) shutdown: CancellationToken,
}

impl Inner {
    /// Runs a blocking librdkafka call off the async threads, bounded in number and time.
    pub(super) async fn admin_call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&BaseConsumer<GwContext>, Duration) -> std::result::Result<T, KafkaError>
            + Send
            + 'static,
    {
        let _permit = self
            .admin_permits
            .acquire()
            .await
            .map_err(|_| GatewayError::Unavailable("kafka client closed".into()))?;
        let admin = self.admin.clone();
        let down = self.diag.health.is_down();
        // Known down: one short try (which notices the upstream coming back), then 503.
        let timeout = if down {
            DOWN_WAIT.min(self.timeout)
        } else {
            self.timeout
        };
        let call = tokio::task::spawn_blocking(move || f(&admin, timeout));
        let result = match tokio::time::timeout(timeout + Duration::from_secs(1), call).await {
            Ok(joined) => joined.map_err(join_error)?.map_err(|e| upstream_error(&e)),
            Err(_) => Err(GatewayError::Timeout("kafka did not answer in time".into())),
        };
        if result.is_ok() {
            self.diag.clear();
            self.diag.health.ok();
        }
        result.map_err(|e| self.unreachable(self.diag.explain(e)))
    }

    /// While the upstream is known down, a timeout or transport failure says so.
    pub(super) fn unreachable(&self, err: GatewayError) -> GatewayError {
        if self.diag.health.is_down()
            && matches!(err, GatewayError::Timeout(_) | GatewayError::Unavailable(_))
        {
            // Worded as librdkafka's own "all brokers down" (the reason is in the log).
            return upstream_error(&KafkaError::MetadataFetch(RDKafkaErrorCode::AllBrokersDown));
        }
        err
    }

    /// Answers 503 quickly when the upstream is known down and still is; for calls that would
    /// otherwise wait their full timeout (produce, reads with a pooled consumer).
    pub(super) async fn reachable(&self) -> Result<()> {
        if self.diag.health.is_down() {
            self.admin_call(|c, t| c.fetch_metadata(None, t).map(|_| ()))
                .await?;
        }
        Ok(())
    }

    pub(super) async fn watermarks(&self, tp: &Tp) -> Result<(i64, i64)> {
        let (topic, partition) = (tp.0.to_string(), tp.1);
        let w = self
            .admin_call(move |c, t| c.fetch_watermarks(&topic, partition, t))
            .await?;
        lock(&self.watermarks).insert(tp.clone(), w);
        Ok(w)
    }

    /// Checks an offset against [earliest, end], trusting a cached range when it already
    /// contains the offset (end only grows; retention is caught by the broker's own error).
    pub(super) async fn check_offset(&self, tp: &Tp, offset: i64) -> Result<(i64, i64)> {
        if let Some((lo, hi)) = lock(&self.watermarks).get(tp).copied() {
            if offset >= lo && offset < hi {
                return Ok((lo, hi));
            }
        }
        let (lo, hi) = self.watermarks(tp).await?;
        if offset < lo || offset > hi {
            return Err(GatewayError::OffsetOutOfRange {
                offset,
                earliest: lo,
                end: hi,
            });
        }
        Ok((lo, hi))
    }

    pub(super) async fn topic_partitions(&self, topic: &str) -> Result<i32> {
        let name = topic.to_owned();
        let md = self
            .admin_call(move |c, t| c.fetch_metadata(Some(&name), t))
            .await?;
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .ok_or(GatewayError::UnknownTopicOrPartition)?;
        if let Some(err) = t.error() {
            let code = RDKafkaErrorCode::from(err);
            return Err(upstream_error(&KafkaError::MetadataFetch(code)));
        }
        let n = t.partitions().len() as i32;
        if n == 0 {
            return Err(GatewayError::UnknownTopicOrPartition);
        }
        lock(&self.partition_counts).insert(topic.to_owned(), (n, Instant::now()));
        Ok(n)
    }

    pub(super) async fn partition_count(&self, topic: &str) -> Result<i32> {
        if let Some((n, at)) = lock(&self.partition_counts).get(topic).copied() {
            if at.elapsed() < PARTITION_COUNT_TTL {
                return Ok(n);
            }
        }
        self.topic_partitions(topic).await
    }

    /// Every (topic, partition) a subscription covers, from fresh metadata.
    pub(super) async fn matching(&self, spec: &SubscribeSpec) -> Result<Matched> {
        match &spec.target {
            Target::Topic(t) => {
                let name = t.clone();
                let topics = self
                    .admin_call(move |c, t| {
                        c.fetch_metadata(Some(&name), t).map(|md| topic_infos(&md))
                    })
                    .await?;
                select_topics(&topics, spec)
            }
            // Fresh: a topic a stale catalog missed would later count as new and replay from
            // its first message.
            Target::Pattern(_) => select_topics(&self.refresh_catalog().await?.topics, spec),
        }
    }

    /// Fetches every topic's metadata and publishes it to the pattern subscriptions.
    pub(super) async fn refresh_catalog(&self) -> Result<Arc<Catalog>> {
        let topics = self
            .admin_call(|c, t| c.fetch_metadata(None, t).map(|md| topic_infos(&md)))
            .await?;
        let catalog = Arc::new(Catalog { topics });
        self.catalog.send_replace(Some(catalog.clone()));
        Ok(catalog)
    }

    /// Catalog updates for a pattern subscription; starts the upstream's one refresh task.
    pub(super) fn watch_catalog(
        self: &Arc<Self>,
    ) -> tokio::sync::watch::Receiver<Option<Arc<Catalog>>> {
        self.catalog_task.get_or_init(|| {
            tokio::spawn(catalog_loop(
                Arc::downgrade(self),
                self.refresh,
                self.shutdown.clone(),
            ));
        });
        self.catalog.subscribe()
    }

    /// Where a partition's delivery starts.
    pub(super) async fn resolve(&self, tp: &Tp, start: Start) -> Result<i64> {
        let (lo, hi) = self.watermarks(tp).await?;
        Ok(match start {
            Start::Latest => hi,
            Start::Earliest => lo,
            Start::Last => (hi - 1).max(lo),
            Start::Offset(o) => {
                if o < lo || o > hi {
                    return Err(GatewayError::OffsetOutOfRange {
                        offset: o,
                        earliest: lo,
                        end: hi,
                    });
                }
                o
            }
            Start::Timestamp(ts) => match self.offset_for_time(tp, ts).await? {
                -1 => hi,
                o => o,
            },
        })
    }

    pub(super) async fn offset_for_time(&self, tp: &Tp, ts: i64) -> Result<i64> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(ts))
            .map_err(|e| upstream_error(&e))?;
        let out = self
            .admin_call(move |c, t| c.offsets_for_times(tpl, t))
            .await?;
        let offset = out
            .elements()
            .first()
            .map(|e| {
                if let Err(err) = e.error() {
                    return Err(upstream_error(&err));
                }
                Ok(match e.offset() {
                    Offset::Offset(o) => o,
                    _ => -1,
                })
            })
            .unwrap_or(Ok(-1))?;
        Ok(offset)
    }

    /// Waits until the partition holds a message at `offset` (the end of the log when called),
    /// watching the tail's cache and the broker's end offset; false when `wait` passed first.
    pub(super) async fn arrival(&self, tp: &Tp, offset: i64, wait: Duration) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            tokio::time::sleep(left.min(LONG_POLL_CHECK)).await;
            if let Some(Ok(tail)) = self.tail.get() {
                if tail.has(tp, offset) {
                    return Ok(true);
                }
            }
            let (_, hi) = self.watermarks(tp).await?;
            if hi > offset {
                return Ok(true);
            }
        }
    }

    /// Reads up to the limits from `offset` (already checked to be in range) with a pooled
    /// fetch consumer, preferring one already positioned there.
    pub(super) async fn read(
        &self,
        tp: &Tp,
        offset: i64,
        limits: FetchLimits,
        wait: Duration,
    ) -> Result<Vec<Arc<Record>>> {
        self.reachable().await?;
        let mut slot = None;
        for f in &self.fetchers {
            if let Ok(g) = f.try_lock() {
                let positioned = g.at.as_ref() == Some(&(tp.clone(), offset));
                if positioned || slot.is_none() {
                    slot = Some(g);
                    if positioned {
                        break;
                    }
                }
            }
        }
        let mut fetcher = match slot {
            Some(g) => g,
            None => {
                let i = (offset as usize).wrapping_add(tp.1 as usize) % self.fetchers.len().max(1);
                let f = self
                    .fetchers
                    .get(i)
                    .ok_or_else(|| GatewayError::Unavailable("no fetch consumer".into()))?;
                tokio::time::timeout(self.timeout, f.lock())
                    .await
                    .map_err(|_| {
                        GatewayError::Overloaded("all kafka fetch consumers are busy".into())
                    })?
            }
        };
        let result = fetcher.read(tp, offset, limits, wait).await;
        if result.as_ref().is_ok_and(|r| !r.is_empty()) {
            self.diag.health.ok();
        }
        result.map_err(|e| self.diag.explain(e))
    }

    pub(super) fn tail(self: &Arc<Self>) -> Result<Arc<Tail>> {
        self.tail
            .get_or_init(|| {
                let mut config = consumer_config(&self.base);
                config.set("auto.offset.reset", "earliest");
                default_setting(&mut config, "queued.max.messages.kbytes", "32768");
                let consumer: StreamConsumer<GwContext> = config
                    .create_with_context(self.context.clone())
                    .map_err(|e| format!("cannot create the kafka tail consumer: {e}"))?;
                let tail = Arc::new(Tail {
                    consumer: Arc::new(consumer),
                    parts: Mutex::new(HashMap::new()),
                    cache_messages: self.cache_messages,
                    cache_bytes: self.cache_bytes,
                });
                tokio::spawn(tail.clone().run(self.shutdown.clone()));
                Ok(tail)
            })
            .clone()
            .map_err(GatewayError::Upstream)
    }
}
