//! The embedded broker with `storage`: opened from its directory (topics with their epochs,
//! partitions recovered, groups with their committed offsets), durable topics created,
//! produces that wait for their fsync, commits saved before they are answered.

use super::storage::{
    storage_error, sync_dir, Batch, DiskLog, GroupOffsets, Limits, Store, SyncMsg, Syncable,
    Synced, TopicEntry,
};
use super::*;
use crate::config::Fsync;

impl EmbeddedBackend {
    /// The backend a route's options describe; with `storage`, everything the directory holds.
    /// An unusable directory is refused here, naming its path, so the gateway does not start.
    pub fn open(opts: EmbeddedOptions) -> std::result::Result<EmbeddedBackend, String> {
        let Some(storage) = opts.storage.clone() else {
            return Ok(EmbeddedBackend::new(opts));
        };
        let (store, contents) = Store::open(&storage)?;
        let store = Arc::new(store);
        let listed = store.dir.join("topics.json");
        let mut topics = TopicMap::default();
        for entry in &contents.topics {
            validate_topic(&entry.name)
                .ok()
                .filter(|_| (1..=1024).contains(&entry.partitions))
                .ok_or_else(|| format!("{}: bad topic entry {entry:?}", listed.display()))?;
            let topic = open_topic(&store, &opts, entry).map_err(|e| e.to_string())?;
            topics.insert(topic.name.clone(), topic);
        }
        let groups = restored_groups(contents.groups);
        tracing::info!(path = %store.dir.display(), topics = topics.len(), groups = groups.len(), fsync = ?storage.fsync, "embedded storage opened");
        Ok(EmbeddedBackend {
            broker: Arc::new(Broker {
                opts,
                topics: RwLock::new(topics),
                topics_changed: watch::Sender::new(0),
                groups: Mutex::new(groups),
                fans: super::fanout::Fans::default(),
                next_member: AtomicU64::new(1),
                spread: AtomicU32::new(0),
                store: Some(store),
            }),
            policy: Arc::default(),
        })
    }
}

fn restored_groups(saved: GroupOffsets) -> HashMap<String, Arc<Group>> {
    saved
        .into_iter()
        .map(|(name, offsets)| {
            let committed = offsets
                .into_iter()
                .map(|(t, p, o)| ((Arc::from(t.as_str()), p), o))
                .collect();
            let group = Group {
                state: Mutex::new(GroupState {
                    committed,
                    idle_since: Some(std::time::Instant::now()),
                    ..GroupState::default()
                }),
                generation: watch::Sender::new(0),
            };
            (name, Arc::new(group))
        })
        .collect()
}

/// A partition's bounds on disk from the route's options. Segments roll at an eighth of the
/// retention limits, so retention (whole segments) keeps close to what was asked.
fn limits(opts: &EmbeddedOptions, storage: &crate::config::StorageOptions) -> Limits {
    Limits {
        roll_bytes: storage
            .segment_bytes
            .min((opts.retention_bytes as u64 / 8).max(4096)),
        roll_messages: (opts.retention_messages as u64 / 8).max(1),
        keep_messages: opts.retention_messages as u64,
        keep_bytes: opts.retention_bytes as u64,
        keep_ms: (storage.retention_secs as i64).saturating_mul(1000),
        always: storage.fsync == Fsync::Always,
        cache_messages: storage.cache_messages,
        cache_bytes: storage.cache_bytes,
    }
}

fn open_topic(
    store: &Arc<Store>,
    opts: &EmbeddedOptions,
    entry: &TopicEntry,
) -> std::io::Result<Arc<Topic>> {
    let name: Arc<str> = Arc::from(entry.name.as_str());
    let tx = lock(&store.sync_tx).clone();
    let mut partitions = Vec::with_capacity(entry.partitions as usize);
    for i in 0..entry.partitions {
        let dir = store.partition_dir(&entry.name, i);
        let disk = DiskLog::open(dir, name.clone(), i, entry.epoch, limits(opts, &store.opts))?;
        let start = disk.start();
        let p = Arc::new_cyclic(|me| Partition {
            log: Mutex::new(Log {
                start,
                records: VecDeque::new(),
                bytes: 0,
                disk: Some(Box::new(disk)),
            }),
            waiters: Mutex::new(Vec::new()),
            disk: Some(PartitionDisk {
                tx: tx.clone(),
                me: me.clone(),
            }),
        });
        let watched: Weak<dyn Syncable> = Arc::downgrade(&p) as Weak<dyn Syncable>;
        let _ = tx.send(SyncMsg::Watch(watched));
        partitions.push(p);
    }
    Ok(Arc::new(Topic {
        name,
        epoch: entry.epoch,
        partitions,
    }))
}

impl Broker {
    /// A new topic on disk: its files first, then the topic list (so a crash in between leaves
    /// leftovers that the next creation clears, never a listed topic without files).
    pub(super) fn create_durable_topic(
        &self,
        store: &Arc<Store>,
        name: &str,
        existing: &TopicMap,
    ) -> Result<Arc<Topic>> {
        let what = format!("failed to create topic {name}");
        let entry = TopicEntry {
            name: name.to_owned(),
            partitions: self.opts.partitions,
            epoch: new_epoch(),
        };
        store
            .clear_topic(name)
            .map_err(|e| storage_error(&what, &e))?;
        let topic = open_topic(store, &self.opts, &entry)
            .and_then(|t| {
                // The new directories' entries, before the list names the topic.
                let topics = store.dir.join("topics");
                sync_dir(&topics.join(name)).and_then(|_| sync_dir(&topics))?;
                Ok(t)
            })
            .map_err(|e| storage_error(&what, &e))?;
        let mut list: Vec<TopicEntry> = existing
            .values()
            .map(|t| TopicEntry {
                name: t.name.to_string(),
                partitions: t.partitions.len() as i32,
                epoch: t.epoch,
            })
            .collect();
        list.push(entry);
        if let Err(e) = store.save_topics(list) {
            drop(topic);
            let _ = store.clear_topic(name);
            tracing::warn!(topic = name, error = %e, "topic not created");
            return Err(storage_error(&what, &e));
        }
        Ok(topic)
    }

    /// Under `fsync: always`, waits for the sync round that settles the produce's batch.
    pub(super) async fn durable(
        &self,
        topic: &Topic,
        partition: i32,
        batch: Option<Arc<Batch>>,
    ) -> Result<()> {
        let (Some(batch), Some(store)) = (batch, self.store.as_ref()) else {
            return Ok(());
        };
        let tx = usize::try_from(partition)
            .ok()
            .and_then(|i| topic.partitions.get(i))
            .and_then(|p| p.disk.as_ref())
            .map(|pd| &pd.tx);
        let mut registered = None;
        std::future::poll_fn(|cx| {
            let (poll, first) = batch.poll(cx, &mut registered);
            if first && store.crowd.arrived() {
                if let Some(tx) = tx {
                    let _ = tx.send(SyncMsg::Crowd);
                }
            }
            poll
        })
        .await
    }

    /// Saves every group's committed offsets before a commit is answered. Concurrent commits
    /// share a write: one that finds its change already saved returns at once.
    pub(super) async fn persist_groups(self: &Arc<Self>) -> Result<()> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        let mine = store
            .groups_version
            .fetch_add(1, Ordering::SeqCst)
            .wrapping_add(1);
        let broker = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut written = lock(&store.groups_written);
            if *written >= mine {
                return Ok(());
            }
            let version = store.groups_version.load(Ordering::SeqCst);
            store
                .save_groups(broker.committed_snapshot())
                .map_err(|e| storage_error("failed to commit offsets", &e))?;
            *written = version;
            Ok(())
        })
        .await
        .map_err(|e| GatewayError::Unavailable(format!("commit not saved: {e}")))?
    }

    fn committed_snapshot(&self) -> GroupOffsets {
        lock(&self.groups)
            .iter()
            .filter_map(|(name, g)| {
                let st = lock(&g.state);
                let offsets: Vec<_> = st
                    .committed
                    .iter()
                    .map(|((t, p), o)| (t.to_string(), *p, *o))
                    .collect();
                (!offsets.is_empty()).then(|| (name.clone(), offsets))
            })
            .collect()
    }
}

impl Syncable for Partition {
    fn sync(&self) -> Synced {
        let round = {
            let mut log = lock(&self.log);
            let Some(d) = log.disk.as_mut() else {
                return Synced::default();
            };
            d.sync_queued = false;
            d.begin_sync()
        };
        // Outside the lock: appends go on meanwhile and share the next round.
        let result = round.work.run();
        let mut log = lock(&self.log);
        let mut readers = false;
        match &result {
            Ok(()) => {
                let always = log
                    .disk
                    .as_ref()
                    .is_some_and(|d| d.limits.always && d.failed.is_none());
                if always {
                    // Visible before it is acknowledged: a producer reads its own message.
                    log.promote(round.upto);
                    readers = true;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "fsync failed: the partition takes no more writes");
                if let Some(d) = log.disk.as_mut() {
                    d.failed = Some(Arc::from(format!("fsync failed: {e}")));
                }
            }
        }
        drop(log);
        Synced {
            waiters: round.finish(&result),
            readers,
        }
    }

    fn wake_readers(&self) {
        self.wake();
    }

    fn sweep(&self) {
        lock(&self.log).retain();
    }
}
