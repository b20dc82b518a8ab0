//! The embedded broker with `storage`: opened from its directory (topics with their epochs,
//! partitions recovered, groups with their committed offsets), durable topics created,
//! produces that wait for their fsync, commits saved before they are answered.

use super::storage::{
    storage_error, sync_dir, DiskLog, GroupOffsets, Limits, Store, SyncMsg, Syncable, Synced,
    TopicEntry,
};
use super::*;
use crate::config::Fsync;
use std::task::Poll;

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
        let mut topics = HashMap::new();
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
        let (start, end) = (disk.start(), disk.visible_end);
        let p = Arc::new_cyclic(|me| Partition {
            log: Mutex::new(Log {
                start,
                records: VecDeque::new(),
                bytes: 0,
                disk: Some(Box::new(disk)),
                sync_waiters: VecDeque::new(),
            }),
            waiters: Mutex::new(Vec::new()),
            disk: Some(PartitionDisk {
                tx: tx.clone(),
                me: me.clone(),
                synced_upto: AtomicI64::new(end),
                sync_failed: std::sync::atomic::AtomicBool::new(false),
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
        existing: &HashMap<Arc<str>, Arc<Topic>>,
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

    /// Under `fsync: always`, waits until the message at `offset` is on disk.
    pub(super) async fn durable(&self, topic: &Topic, partition: i32, offset: i64) -> Result<()> {
        let Some(crowd) = self
            .store
            .as_ref()
            .filter(|s| s.opts.fsync == Fsync::Always)
            .map(|s| &s.crowd)
        else {
            return Ok(());
        };
        let Some((p, pd)) = usize::try_from(partition)
            .ok()
            .and_then(|i| topic.partitions.get(i))
            .and_then(|p| p.disk.as_ref().map(|pd| (p, pd)))
        else {
            return Ok(());
        };
        let mut registered: Option<std::task::Waker> = None;
        std::future::poll_fn(|cx| {
            if pd.synced_upto.load(Ordering::Acquire) > offset {
                return Poll::Ready(Ok(()));
            }
            if registered.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
                && !pd.sync_failed.load(Ordering::Acquire)
            {
                return Poll::Pending;
            }
            let mut log = lock(&p.log);
            // Checked again under the lock the sync takes to wake its waiters.
            if pd.synced_upto.load(Ordering::Acquire) > offset {
                return Poll::Ready(Ok(()));
            }
            if let Some(why) = log.disk.as_ref().and_then(|d| d.failed.clone()) {
                return Poll::Ready(Err(GatewayError::Unavailable(format!(
                    "failed to store the message: {why}"
                ))));
            }
            log.wait_for_sync(offset, cx.waker());
            drop(log);
            if registered.replace(cx.waker().clone()).is_none() && crowd.arrived() {
                let _ = pd.tx.send(SyncMsg::Crowd);
            }
            Poll::Pending
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
        let Some(pd) = &self.disk else {
            return Synced::default();
        };
        let (work, target) = {
            let mut log = lock(&self.log);
            let Some(d) = log.disk.as_mut() else {
                return Synced::default();
            };
            d.sync_queued = false;
            (d.take_sync_work(), d.written_end())
        };
        // Outside the lock: appends go on meanwhile and share the next sync.
        let result = work.run();
        let mut log = lock(&self.log);
        match result {
            Ok(()) => {
                let always = log.disk.as_ref().is_some_and(|d| d.limits.always);
                if always {
                    log.promote(target);
                }
                pd.synced_upto.fetch_max(target, Ordering::AcqRel);
                Synced {
                    waiters: log.synced_waiters(target),
                    readers: always,
                }
            }
            Err(e) => {
                let why: Arc<str> = Arc::from(format!("fsync failed: {e}"));
                tracing::error!(error = %e, "fsync failed: the partition takes no more writes");
                if let Some(d) = log.disk.as_mut() {
                    d.failed = Some(why.clone());
                }
                pd.sync_failed.store(true, Ordering::Release);
                Synced {
                    waiters: log.synced_waiters(i64::MAX),
                    readers: false,
                }
            }
        }
    }

    fn wake_readers(&self) {
        self.wake();
    }

    fn sweep(&self) {
        lock(&self.log).retain();
    }
}
