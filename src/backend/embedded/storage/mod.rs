//! Durable storage for the embedded broker, below the broker's types: the directory (claimed
//! with a lock file and identified by `meta.json`), the topic list and the groups' committed
//! offsets as small files replaced atomically (write, fsync, rename), the partitions' logs
//! (`disklog`, `segment`, `read`), the thread that syncs them (`sync`) and the produces each of its
//! rounds settles (`batch`).
//!
//! Layout: `meta.json`, `topics.json`, `groups.json`, `LOCK`,
//! `topics/<topic>/<partition>/<base offset>.log|.index`.

mod batch;
mod disklog;
mod read;
mod segment;
mod sync;
#[cfg(test)]
mod tests;

pub(crate) use batch::Batch;
pub(crate) use disklog::{DiskLog, Limits};
pub(crate) use read::ReadError;
pub(crate) use sync::{spawn as spawn_sync, Crowd, SyncMsg, Syncable, Synced};

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::config::StorageOptions;
use crate::error::GatewayError;

const FORMAT: &str = "pubsub-gateway-embedded";
const VERSION: u32 = 1;
const META: &str = "meta.json";
const TOPICS: &str = "topics.json";
const GROUPS: &str = "groups.json";
const LOCK: &str = "LOCK";

#[derive(Serialize, Deserialize)]
struct Meta {
    format: String,
    version: u32,
}

/// A topic as the directory remembers it: its partition count and epoch outlive restarts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct TopicEntry {
    pub(crate) name: String,
    pub(crate) partitions: i32,
    pub(crate) epoch: u64,
}

#[derive(Serialize, Deserialize, Default)]
struct TopicsFile {
    topics: Vec<TopicEntry>,
}

/// Committed offsets by group: `[topic, partition, offset]`.
pub(crate) type GroupOffsets = BTreeMap<String, Vec<(String, i32, i64)>>;

#[derive(Serialize, Deserialize, Default)]
struct GroupsFile {
    groups: GroupOffsets,
}

pub(crate) struct Store {
    pub(crate) dir: PathBuf,
    pub(crate) opts: StorageOptions,
    /// Held for the store's life: a second gateway (or route) on the same directory is refused.
    _lock: File,
    pub(crate) sync_tx: Mutex<mpsc::Sender<SyncMsg>>,
    /// The produces waiting for a sync under `always` (see [`Crowd`]).
    pub(crate) crowd: Arc<Crowd>,
    /// Bumped by each commit; `groups_written` is the last one on disk.
    pub(crate) groups_version: AtomicU64,
    pub(crate) groups_written: Mutex<u64>,
}

/// What a directory holds when it is opened.
pub(crate) struct Contents {
    pub(crate) topics: Vec<TopicEntry>,
    pub(crate) groups: GroupOffsets,
}

impl Store {
    /// Claims the directory: created when missing, initialised when empty, refused (with its
    /// path named) when unreadable, in use, or holding files that are not this gateway's.
    pub(crate) fn open(opts: &StorageOptions) -> Result<(Store, Contents), String> {
        let dir = opts.path.clone();
        let shown = dir.display().to_string();
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create storage directory {shown}: {e}"))?;
        let entries: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read storage directory {shown}: {e}"))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK))
            .map_err(|e| format!("cannot open storage directory {shown}: {e}"))?;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(format!(
                "storage directory {shown} is in use by another gateway process or route"
            ));
        }
        match std::fs::read(dir.join(META)) {
            Ok(text) => {
                let meta: Meta = serde_json::from_slice(&text).map_err(|e| {
                    format!("storage directory {shown} is not a pubsub-gateway storage directory ({META}: {e})")
                })?;
                if meta.format != FORMAT || meta.version != VERSION {
                    return Err(format!(
                        "storage directory {shown} holds format {} version {}, this gateway reads {FORMAT} version {VERSION}",
                        meta.format, meta.version
                    ));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Only a lock or temporary file may be there already (a start killed early).
                if let Some(other) = entries.iter().find(|n| *n != LOCK && !n.ends_with(".tmp")) {
                    return Err(format!(
                        "storage directory {shown} is not empty and not a pubsub-gateway storage directory (found `{other}`, no {META}); give an empty or new directory"
                    ));
                }
                let meta = Meta {
                    format: FORMAT.into(),
                    version: VERSION,
                };
                write_atomic(
                    &dir,
                    META,
                    &serde_json::to_vec_pretty(&meta).unwrap_or_default(),
                )
                .map_err(|e| format!("cannot initialise storage directory {shown}: {e}"))?;
            }
            Err(e) => return Err(format!("cannot read storage directory {shown}: {e}")),
        }
        let topics: TopicsFile = read_json(&dir, TOPICS)?;
        let groups: GroupsFile = read_json(&dir, GROUPS)?;
        let (tx, rx) = mpsc::channel();
        let crowd = Arc::new(Crowd::default());
        spawn_sync(rx, opts.fsync, crowd.clone())
            .map_err(|e| format!("cannot start the storage thread: {e}"))?;
        Ok((
            Store {
                dir,
                opts: opts.clone(),
                _lock: lock,
                sync_tx: Mutex::new(tx),
                crowd,
                groups_version: AtomicU64::new(0),
                groups_written: Mutex::new(0),
            },
            Contents {
                topics: topics.topics,
                groups: groups.groups,
            },
        ))
    }

    pub(crate) fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.dir
            .join("topics")
            .join(topic)
            .join(partition.to_string())
    }

    /// Makes way for a new topic: leftovers of one created but never listed (a crash between
    /// its files and the list) are removed first.
    pub(crate) fn clear_topic(&self, topic: &str) -> io::Result<()> {
        match std::fs::remove_dir_all(self.dir.join("topics").join(topic)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub(crate) fn save_topics(&self, topics: Vec<TopicEntry>) -> io::Result<()> {
        let body = serde_json::to_vec(&TopicsFile { topics }).map_err(io::Error::other)?;
        write_atomic(&self.dir, TOPICS, &body)
    }

    pub(crate) fn save_groups(&self, groups: GroupOffsets) -> io::Result<()> {
        let body = serde_json::to_vec(&GroupsFile { groups }).map_err(io::Error::other)?;
        write_atomic(&self.dir, GROUPS, &body)
    }
}

fn read_json<T: Default + for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Result<T, String> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(text) => serde_json::from_slice(&text)
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Replaces `dir/name` whole: a crash leaves the old file or the new one, never a mix.
pub(crate) fn write_atomic(dir: &Path, name: &str, body: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        io::Write::write_all(&mut f, body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes a directory's entries (new, renamed or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A storage failure as clients see it: a full disk is 507, anything else 503.
pub(crate) fn storage_error(what: &str, e: &io::Error) -> GatewayError {
    let full = matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || e.raw_os_error() == Some(libc::ENOSPC);
    if full {
        GatewayError::InsufficientStorage(format!("{what}: the storage disk is full"))
    } else {
        GatewayError::Unavailable(format!("{what}: storage error: {e}"))
    }
}
