//! The broker: topics, their creation and lookup, appends with retention, and groups.

use super::*;

/// The broker's topics by name, with a hash cheaper than SipHash: their number is bounded by
/// `max_topics`, so a client choosing colliding names gains little.
pub(super) type TopicMap = HashMap<Arc<str>, Arc<Topic>, foldhash::fast::RandomState>;

pub(super) struct Broker {
    pub(super) opts: EmbeddedOptions,
    pub(super) topics: RwLock<TopicMap>,
    /// Bumped on every topic creation, so pattern subscriptions and groups look again.
    pub(super) topics_changed: watch::Sender<u64>,
    pub(super) groups: Mutex<HashMap<String, Arc<Group>>>,
    /// The shared readers of plain subscriptions, by topic.
    pub(super) fans: super::fanout::Fans,
    pub(super) next_member: AtomicU64,
    /// Round-robin counter for messages without key or partition.
    pub(super) spread: AtomicU32,
    /// Where the logs, topics and commits are kept (None = memory only).
    pub(super) store: Option<Arc<super::storage::Store>>,
}

impl Broker {
    pub(super) fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    pub(super) fn topic_or_create(&self, name: &str) -> Result<Arc<Topic>> {
        if let Some(t) = self.topic(name) {
            return Ok(t);
        }
        validate_topic(name)?;
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = topics.get(name) {
            return Ok(t.clone());
        }
        if topics.len() >= self.opts.max_topics {
            return Err(GatewayError::Overloaded(format!(
                "topic limit reached ({} topics)",
                self.opts.max_topics
            )));
        }
        let topic = match &self.store {
            Some(store) => self.create_durable_topic(store, name, &topics)?,
            None => Arc::new(Topic {
                name: Arc::from(name),
                epoch: new_epoch(),
                partitions: (0..self.opts.partitions)
                    .map(|_| Arc::new(Partition::new()))
                    .collect(),
            }),
        };
        topics.insert(topic.name.clone(), topic.clone());
        drop(topics);
        self.topics_changed.send_modify(|g| *g += 1);
        Ok(topic)
    }

    /// Appends a message where its partition, key or the round-robin puts it, creating the
    /// topic on first use; kept on disk before it answers when the broker has storage.
    pub(super) async fn publish(
        &self,
        req: crate::backend::Publish,
    ) -> Result<crate::backend::Published> {
        // One lookup on the hot path: a produce to a topic that exists.
        let topic = match self.topic(&req.topic) {
            Some(t) => t,
            // A partition a new topic would not have is refused before the topic is created.
            None if req
                .partition
                .is_some_and(|p| p < 0 || p >= self.opts.partitions) =>
            {
                return Err(GatewayError::UnknownTopicOrPartition)
            }
            None => self.topic_or_create(&req.topic)?,
        };
        let count = topic.partitions.len() as i32;
        let partition = match req.partition {
            Some(p) if (0..count).contains(&p) => p,
            Some(_) => return Err(GatewayError::UnknownTopicOrPartition),
            None if !req.key.is_empty() => partition_for_key(&req.key, count),
            None => (self.spread.fetch_add(1, Ordering::Relaxed) % count as u32) as i32,
        };
        let (offset, batch) = self.append(&topic, partition, req)?;
        self.durable(&topic, partition, batch).await?;
        Ok(crate::backend::Published {
            partition,
            offset,
            position: String::new(),
        })
    }

    pub(super) fn partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<(Arc<Topic>, Arc<Partition>)> {
        let t = self
            .topic(topic)
            .ok_or(GatewayError::UnknownTopicOrPartition)?;
        let p = usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get(i))
            .cloned()
            .ok_or(GatewayError::UnknownTopicOrPartition)?;
        Ok((t, p))
    }

    /// Every (topic, partition) the subscription asks for, as the topics stand now.
    pub(super) fn matching(&self, spec: &SubscribeSpec) -> BTreeSet<Tp> {
        let topics = self.topics.read().unwrap_or_else(|e| e.into_inner());
        let mut out = BTreeSet::new();
        let mut add = |t: &Topic| {
            for p in 0..t.partitions.len() as i32 {
                if spec.wants_partition(p) {
                    out.insert((t.name.clone(), p));
                }
            }
        };
        match &spec.target {
            Target::Topic(name) => {
                if let Some(t) = topics.get(name.as_str()) {
                    add(t)
                }
            }
            Target::Pattern(_) => {
                for t in topics.values().filter(|t| spec.matches_topic(&t.name)) {
                    add(t)
                }
            }
        }
        out
    }

    pub(super) fn append(
        &self,
        topic: &Topic,
        partition: i32,
        req: crate::backend::Publish,
    ) -> Result<(i64, Option<Arc<super::storage::Batch>>)> {
        let p = usize::try_from(partition)
            .ok()
            .and_then(|i| topic.partitions.get(i))
            .ok_or(GatewayError::UnknownTopicOrPartition)?;
        let timestamp = if req.timestamp > 0 {
            req.timestamp
        } else {
            now_ms()
        };
        let (offset, appended) = {
            let mut log = lock(&p.log);
            let offset = log.next_offset();
            let rec = Arc::new(Record::from_parts(crate::backend::RecordParts {
                topic: topic.name.clone(),
                partition,
                offset,
                position: String::new(),
                epoch: topic.epoch,
                delivery_attempt: 0,
                timestamp,
                key: req.key,
                value: req.value,
                headers: req.headers,
            }));
            (offset, log.append(rec, &self.opts)?)
        };
        if let Some(pd) = p.disk.as_ref().filter(|_| appended.queue_sync) {
            let _ = pd.tx.send(super::storage::SyncMsg::Dirty(pd.me.clone()));
        }
        if appended.visible {
            p.wake();
        }
        Ok((offset, appended.batch))
    }

    /// Adds a member to a group, creating the group if needed. Under the groups' lock, so a
    /// sweep never drops a group someone is joining.
    pub(super) fn join_group(
        &self,
        name: &str,
        id: u64,
        spec: SubscribeSpec,
    ) -> Result<Arc<Group>> {
        let mut groups = lock(&self.groups);
        let idle = Duration::from_secs(self.opts.group_idle_secs);
        // Groups nobody has been in for a while and that hold no commits keep no state worth
        // keeping; they would otherwise fill `max_groups` for good.
        groups.retain(|_, g| {
            let st = lock(&g.state);
            !(st.members.is_empty()
                && st.committed.is_empty()
                && st.idle_since.is_some_and(|t| t.elapsed() >= idle))
        });
        let group = match groups.get(name) {
            Some(g) => g.clone(),
            None => {
                let g = self.new_group(groups.len())?;
                groups.insert(name.to_owned(), g.clone());
                g
            }
        };
        {
            let mut st = lock(&group.state);
            st.members.insert(id, spec);
            st.idle_since = None;
        }
        Ok(group)
    }

    pub(super) fn new_group(&self, count: usize) -> Result<Arc<Group>> {
        if count >= self.opts.max_groups {
            return Err(GatewayError::Overloaded(format!(
                "group limit reached ({} groups)",
                self.opts.max_groups
            )));
        }
        Ok(Arc::new(Group {
            state: Mutex::new(GroupState::default()),
            generation: watch::Sender::new(0),
        }))
    }
}
