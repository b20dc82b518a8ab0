//! The idempotency window's journal on disk, for routes whose messages are on disk too (the
//! embedded broker with `storage`): each key's answer is appended as one JSON line once its
//! message is stored, and read back when the route starts, so a restart or crash of the
//! process does not forget the keys of the window.
//!
//! Two files, `idempotency-0.jsonl` and `idempotency-1.jsonl`, in the storage directory: lines
//! are appended to one until it holds `max_keys` lines, then the other is emptied and takes
//! over. Together they always hold the newest `max_keys` keys (the window holds no more), and
//! the disk they take is bounded (2 x `max_keys` lines); nothing is ever rewritten while
//! serving. The lines are written to the OS (a crash of the process loses none), not fsynced:
//! a power failure may forget the last keys, whose repeats are then stored again
//! (at-least-once, never a lost message).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::backend::spec::Published;

const FILES: [&str; 2] = ["idempotency-0.jsonl", "idempotency-1.jsonl"];

/// One key's line.
#[derive(Serialize, Deserialize)]
struct Line {
    /// When its first produce was claimed, ms since the epoch.
    at_ms: u64,
    topic: String,
    key: String,
    partition: i32,
    offset: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    position: String,
}

/// A key read back: (topic, key), when it was first produced, and its answer.
pub(super) struct Recovered {
    pub topic: String,
    pub key: String,
    pub at: Instant,
    pub published: Published,
}

pub(super) struct Journal {
    dir: PathBuf,
    file: File,
    /// Which of FILES `file` is.
    current: usize,
    /// Lines in `file`.
    lines: usize,
    /// Lines a file takes before the other takes over.
    limit: usize,
    /// A write failed (disk full, directory gone): logged once, until one succeeds again.
    failing: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One of FILES opened for appending (emptied first when `truncate`).
fn open(dir: &Path, index: usize, truncate: bool) -> std::io::Result<File> {
    let path = dir.join(FILES[index]);
    if truncate {
        File::create(&path)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

impl Journal {
    /// Opens the journal in `dir` and reads back the keys younger than `ttl`, oldest first, at
    /// most `max_keys` (the newest). Unreadable lines (a line cut short by a crash) are skipped
    /// and counted in the log. An unusable directory is an error naming it.
    pub(super) fn open(
        dir: &Path,
        ttl: Duration,
        max_keys: usize,
    ) -> Result<(Journal, Vec<Recovered>), String> {
        let shown = dir.display();
        std::fs::create_dir_all(dir).map_err(|e| format!("idempotency journal in {shown}: {e}"))?;
        let now = now_ms();
        let now_instant = Instant::now();
        let ttl_ms = ttl.as_millis() as u64;
        let mut lines = Vec::new();
        let mut skipped = 0usize;
        for name in FILES {
            let f = match File::open(dir.join(name)) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("idempotency journal {shown}/{name}: {e}")),
            };
            for text in BufReader::new(f).split(b'\n') {
                let text = text.map_err(|e| format!("idempotency journal {shown}/{name}: {e}"))?;
                match serde_json::from_slice::<Line>(&text) {
                    Ok(l) if now.saturating_sub(l.at_ms) < ttl_ms => lines.push(l),
                    Ok(_) => {}
                    Err(_) => skipped += 1,
                }
            }
        }
        if skipped > 0 {
            tracing::warn!(path = %shown, skipped, "idempotency journal: unreadable lines skipped");
        }
        lines.sort_by_key(|l| l.at_ms);
        let keep_from = lines.len().saturating_sub(max_keys);
        let lines = lines.split_off(keep_from);
        // Written back compacted into the first file; the second starts empty.
        let mut file =
            open(dir, 0, true).map_err(|e| format!("idempotency journal in {shown}: {e}"))?;
        for l in &lines {
            let mut text = serde_json::to_vec(l).map_err(|e| e.to_string())?;
            text.push(b'\n');
            file.write_all(&text)
                .map_err(|e| format!("idempotency journal in {shown}: {e}"))?;
        }
        open(dir, 1, true).map_err(|e| format!("idempotency journal in {shown}: {e}"))?;
        let recovered = lines
            .into_iter()
            .map(|l| {
                let age = Duration::from_millis(now.saturating_sub(l.at_ms));
                Recovered {
                    at: now_instant.checked_sub(age).unwrap_or(now_instant),
                    published: Published {
                        partition: l.partition,
                        offset: l.offset,
                        position: l.position,
                    },
                    topic: l.topic,
                    key: l.key,
                }
            })
            .collect::<Vec<_>>();
        Ok((
            Journal {
                dir: dir.to_path_buf(),
                file,
                current: 0,
                lines: recovered.len(),
                limit: max_keys.max(1),
                failing: false,
            },
            recovered,
        ))
    }

    /// Appends a key whose message is stored; first switches files when this one is full.
    pub(super) fn append(&mut self, topic: &str, key: &str, age: Duration, p: &Published) {
        let line = Line {
            at_ms: now_ms().saturating_sub(age.as_millis() as u64),
            topic: topic.to_owned(),
            key: key.to_owned(),
            partition: p.partition,
            offset: p.offset,
            position: p.position.clone(),
        };
        let result = (|| {
            if self.lines >= self.limit {
                let next = 1 - self.current;
                self.file = open(&self.dir, next, true)?;
                self.current = next;
                self.lines = 0;
            }
            let mut text = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
            text.push(b'\n');
            // One write of an O_APPEND file: whole lines, even from two windows at once.
            self.file.write_all(&text)?;
            self.lines += 1;
            Ok::<_, std::io::Error>(())
        })();
        match result {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!(path = %self.dir.display(), "idempotency journal writable again");
            }
            Ok(()) => {}
            Err(e) if !self.failing => {
                self.failing = true;
                tracing::warn!(path = %self.dir.display(), error = %e, "idempotency journal not written: keys are remembered in memory only until it is");
            }
            Err(_) => {}
        }
    }
}
