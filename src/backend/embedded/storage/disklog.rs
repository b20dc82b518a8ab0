//! A partition's log on disk: its segments in offset order, appends to the last one, reads
//! through the index, retention that removes whole old segments, and recovery on open.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch::Batch;
use super::segment::{encode_frame, segment_path, Segment, HEADER, SEGMENT_MAGIC};
use crate::error::GatewayError;
use crate::record::Record;

/// The most a partition's write buffer keeps allocated between rounds (`fsync: always`).
const KEEP_BUFFER: usize = 256 << 10;

/// A partition's bounds on disk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// How big and how full a segment may get before the next one starts.
    pub(crate) roll_bytes: u64,
    pub(crate) roll_messages: u64,
    /// Retention: at least this much stays, whole segments beyond it go.
    pub(crate) keep_messages: u64,
    pub(crate) keep_bytes: u64,
    /// Age retention in milliseconds (0 = none).
    pub(crate) keep_ms: i64,
    /// `fsync: always`: appends become visible once synced.
    pub(crate) always: bool,
    /// The newest messages kept in memory.
    pub(crate) cache_messages: usize,
    pub(crate) cache_bytes: usize,
}

pub(crate) struct DiskLog {
    dir: PathBuf,
    pub(super) topic: Arc<str>,
    pub(super) partition: i32,
    pub(super) epoch: u64,
    pub(super) segments: Vec<Segment>,
    /// Bytes on disk over all segments.
    bytes: u64,
    pub(crate) limits: Limits,
    /// What readers may see: everything before it is acknowledged (under `fsync: always`, synced).
    pub(crate) visible_end: i64,
    /// Written but not yet synced (`fsync: always` only); made visible by the sync.
    pub(crate) pending: VecDeque<Arc<Record>>,
    /// A sync of this partition is queued or running; appends meanwhile wait for the next.
    pub(crate) sync_queued: bool,
    /// Set once an fsync failed: what reached the disk is unknown, so writes stop.
    pub(crate) failed: Option<Arc<str>>,
    /// Sealed segment files written since the last sync.
    unsynced: Vec<Arc<File>>,
    /// Segments were created since the last sync of the directory.
    dir_unsynced: bool,
    /// The frames appended and not written yet: under `fsync: always` those since the last
    /// sync round, which writes them in one go. A write per record cost more than the fsync
    /// itself on a busy 2-core machine (BENCHMARKS.md, "Embedded storage"); nothing is
    /// acknowledged before its round anyway.
    unwritten: Vec<u8>,
    /// Each unwritten frame's timestamp and length, noted in the segment once written.
    unwritten_frames: Vec<(i64, u64)>,
    /// The produces the next sync round settles (`fsync: always`).
    pub(crate) batch: Arc<Batch>,
    /// Batches whose frames a roll already wrote to a sealed segment: settled by the next round.
    written: Vec<Arc<Batch>>,
}

/// One sync round of a partition, begun under its lock: the fsync to run outside it, the
/// batches its outcome settles, and the offset everything before is then durable to.
pub(crate) struct SyncRound {
    pub(crate) work: SyncWork,
    batches: Vec<Arc<Batch>>,
    pub(crate) upto: i64,
    /// Produces already answered (their write failed), to be woken with the round's.
    answered: Vec<std::task::Waker>,
}

impl SyncRound {
    /// Settles the round's batches with the fsync's outcome; the produces to wake.
    pub(crate) fn finish(self, result: &io::Result<()>) -> Vec<std::task::Waker> {
        let outcome = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| not_stored(format_args!("fsync failed: {e}")));
        let mut woken = self.answered;
        for b in &self.batches {
            woken.extend(b.settle(outcome.clone()));
        }
        woken
    }
}

/// What a produce is told when its round's fsync failed, then or earlier (503).
fn not_stored(why: impl std::fmt::Display) -> GatewayError {
    GatewayError::Unavailable(format!("failed to store the message: {why}"))
}

/// Files (and a directory) to fsync.
pub(crate) struct SyncWork {
    files: Vec<Arc<File>>,
    dir: Option<PathBuf>,
}

impl SyncWork {
    pub(crate) fn run(&self) -> io::Result<()> {
        for f in &self.files {
            f.sync_data()?;
        }
        match &self.dir {
            Some(d) => super::sync_dir(d),
            None => Ok(()),
        }
    }
}

/// The error with the path it concerns; its kind (a full disk, say) is kept.
pub(crate) fn describe(path: &Path, what: &str, e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl DiskLog {
    /// Opens (or creates) the partition's directory: sealed segments from their index files (or
    /// read again if that is missing or stale), the last one read whole; a torn or damaged tail
    /// is cut off, once, with a warning, and so is everything after damage in an older segment.
    pub(crate) fn open(
        dir: PathBuf,
        topic: Arc<str>,
        partition: i32,
        epoch: u64,
        limits: Limits,
    ) -> io::Result<DiskLog> {
        std::fs::create_dir_all(&dir).map_err(|e| describe(&dir, "cannot create", &e))?;
        let mut bases: Vec<i64> = std::fs::read_dir(&dir)
            .map_err(|e| describe(&dir, "cannot read", &e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".log")?.parse().ok()
            })
            .collect();
        bases.sort_unstable();
        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
        let mut i = 0;
        while i < bases.len() {
            let base = bases[i];
            let path = segment_path(&dir, base);
            let last = i + 1 == bases.len();
            if let Some(expected) = segments.last().map(Segment::end) {
                if base != expected {
                    tracing::warn!(path = %path.display(), expected, "segment does not continue the log; it and later ones are removed");
                    remove_from(&dir, &bases[i..]);
                    break;
                }
            }
            let indexed = if last {
                None
            } else {
                Segment::load_indexed(base, path.clone())
            };
            let seg = match indexed {
                Some(s) => s,
                None => {
                    let scanned = Segment::scan(base, path.clone())
                        .map_err(|e| describe(&path, "cannot read segment", &e))?;
                    let mut seg = scanned.segment;
                    if let Some((dropped, why)) = scanned.torn {
                        tracing::warn!(path = %path.display(), bytes = dropped, reason = why, next_offset = seg.end(), "torn tail truncated after the last good record");
                        let f = OpenOptions::new()
                            .write(true)
                            .open(&path)
                            .map_err(|e| describe(&path, "cannot repair", &e))?;
                        f.set_len(seg.len)
                            // A torn header is rewritten; a whole one is the same bytes.
                            .and_then(|_| f.write_all_at(SEGMENT_MAGIC, 0))
                            .and_then(|_| f.sync_all())
                            .map_err(|e| describe(&path, "cannot repair", &e))?;
                        seg.len = seg.len.max(HEADER);
                        if !last {
                            tracing::warn!(path = %path.display(), "damage inside an older segment: the segments after it are removed");
                            remove_from(&dir, &bases[i + 1..]);
                            bases.truncate(i + 1);
                        }
                    }
                    if !last && i + 1 < bases.len() {
                        let _ = seg.write_index();
                    }
                    seg
                }
            };
            segments.push(seg);
            i += 1;
        }
        if segments.is_empty() {
            let path = segment_path(&dir, 0);
            segments.push(
                create_segment(&dir, 0)
                    .map_err(|e| describe(&path, "cannot create segment", &e))?,
            );
        }
        let Some(active) = segments.last_mut() else {
            return Err(io::Error::other("no segment"));
        };
        active.file = Some(Arc::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(&active.path)
                .map_err(|e| describe(&active.path, "cannot open", &e))?,
        ));
        let end = active.end();
        Ok(DiskLog {
            bytes: segments.iter().map(|s| s.len).sum(),
            dir,
            topic,
            partition,
            epoch,
            segments,
            limits,
            visible_end: end,
            pending: VecDeque::new(),
            sync_queued: false,
            failed: None,
            unsynced: Vec::new(),
            // The first sync also makes the directory's entries durable (a segment made here).
            dir_unsynced: true,
            unwritten: Vec::new(),
            unwritten_frames: Vec::new(),
            batch: Batch::new(),
            written: Vec::new(),
        })
    }

    /// The earliest offset kept.
    pub(crate) fn start(&self) -> i64 {
        self.segments.first().map_or(0, |s| s.base)
    }

    /// The offset the next append gets.
    pub(crate) fn written_end(&self) -> i64 {
        self.segments.last().map_or(0, Segment::end) + self.unwritten_frames.len() as i64
    }

    /// Begins a sync round, under the log's lock: writes what was appended since the last one
    /// (if that fails, those produces are answered now and their records leave the log), then
    /// names what the fsync outside the lock must cover: the sealed files not synced yet, the
    /// directory if segments were added, the file being written.
    pub(crate) fn begin_sync(&mut self) -> SyncRound {
        let mut answered = Vec::new();
        if let Some(why) = self.failed.clone() {
            // An fsync failed: nothing appended since can be made durable.
            self.drop_unwritten();
            let e = not_stored(why);
            for b in std::mem::take(&mut self.written) {
                answered.extend(b.settle(Err(e.clone())));
            }
            answered.extend(self.fail_batch(e));
        } else if let Err(e) = self.write_unwritten() {
            answered = self.fail_batch(self.write_error(&e));
        }
        let mut batches = std::mem::take(&mut self.written);
        batches.push(std::mem::replace(&mut self.batch, Batch::new()));
        let mut files = std::mem::take(&mut self.unsynced);
        files.extend(self.segments.last().and_then(|s| s.file.clone()));
        SyncRound {
            work: SyncWork {
                files,
                dir: std::mem::take(&mut self.dir_unsynced).then(|| self.dir.clone()),
            },
            batches,
            upto: self.written_end(),
            answered,
        }
    }

    /// Ends the batch the next round would have settled with `e`; its produces, to wake.
    fn fail_batch(&mut self, e: GatewayError) -> Vec<std::task::Waker> {
        std::mem::replace(&mut self.batch, Batch::new()).settle(Err(e))
    }

    /// What a produce whose record could not be written is told (a full disk is a 507).
    fn write_error(&self, e: &io::Error) -> GatewayError {
        tracing::warn!(topic = %self.topic, partition = self.partition, error = %e, "produce not stored");
        super::storage_error(
            &format!("failed to write to {}/{}", self.topic, self.partition),
            e,
        )
    }

    /// Writes a record at the end (under `fsync: always`, with the round that syncs it); on
    /// failure nothing is kept (the file is cut back).
    pub(crate) fn append(&mut self, rec: &Record) -> io::Result<()> {
        if let Some(e) = &self.failed {
            return Err(io::Error::other(e.to_string()));
        }
        let full = self.segments.last().is_some_and(|s| {
            let count = s.count + self.unwritten_frames.len() as u64;
            let len = s.len + self.unwritten.len() as u64;
            count > 0 && (len >= self.limits.roll_bytes || count >= self.limits.roll_messages)
        });
        if full {
            self.roll()?;
        }
        let before = self.unwritten.len();
        encode_frame(rec, &mut self.unwritten);
        let len = (self.unwritten.len() - before) as u64;
        self.unwritten_frames.push((rec.timestamp, len));
        if self.limits.always {
            return Ok(());
        }
        // `every_ms` answers once written: at once.
        self.write_unwritten()
    }

    /// Writes frames at the end of the segment being written and notes them in its index; on
    /// failure none is kept (a partial frame would be a torn tail for the next to follow).
    fn write_frames(&mut self, frames: &[u8], lens: &[(i64, u64)]) -> io::Result<()> {
        let Some(seg) = self.segments.last_mut() else {
            return Err(io::Error::other("no segment"));
        };
        let Some(file) = seg.file.clone() else {
            return Err(io::Error::other("segment not open"));
        };
        let mut pos = seg.len;
        if let Err(e) = file.write_all_at(frames, pos) {
            let _ = file.set_len(pos);
            return Err(e);
        }
        for &(timestamp, len) in lens {
            seg.note(pos, timestamp, len);
            pos += len;
        }
        self.bytes += frames.len() as u64;
        Ok(())
    }

    /// Writes the frames appended and not written yet (under `fsync: always`, those of the
    /// round); if that fails, their records leave the log (the next append reuses their
    /// offsets) and the error is theirs.
    fn write_unwritten(&mut self) -> io::Result<()> {
        if self.unwritten_frames.is_empty() {
            return Ok(());
        }
        let frames = std::mem::take(&mut self.unwritten);
        let lens = std::mem::take(&mut self.unwritten_frames);
        let result = self.write_frames(&frames, &lens);
        self.unwritten = frames;
        self.unwritten_frames = lens;
        if result.is_err() {
            self.drop_unwritten();
        }
        self.unwritten.clear();
        self.unwritten_frames.clear();
        // A burst's buffer is not kept for a partition that may stay quiet.
        self.unwritten.shrink_to(KEEP_BUFFER);
        self.unwritten_frames.shrink_to(KEEP_BUFFER / 64);
        result
    }

    /// Forgets the appended records not written yet: under `fsync: always` the newest of
    /// `pending` (under `every_ms` there are none, the record is not in the log yet).
    fn drop_unwritten(&mut self) {
        let keep = self
            .pending
            .len()
            .saturating_sub(self.unwritten_frames.len());
        self.pending.truncate(keep);
        self.unwritten.clear();
        self.unwritten_frames.clear();
    }

    /// Seals the last segment (synced, index saved) and starts the next, named by its offset.
    pub(crate) fn roll(&mut self) -> io::Result<()> {
        if !self.unwritten_frames.is_empty() {
            // What the sealed segment still lacks goes in first; its produces are settled by
            // the next round, or answered now if it cannot be written.
            if let Err(e) = self.write_unwritten() {
                let failed = self.write_error(&e);
                self.fail_batch(failed)
                    .into_iter()
                    .for_each(std::task::Waker::wake);
                return Err(e);
            }
            let done = std::mem::replace(&mut self.batch, Batch::new());
            self.written.push(done);
        }
        let Some(end) = self.segments.last().map(Segment::end) else {
            return Ok(());
        };
        // No fsync here, under the partition's lock: the storage thread syncs the sealed file
        // and the directory with its next round, before anything in them is acknowledged
        // (`fsync: always`), so a slow disk never stalls the appends.
        let mut next = create_segment(&self.dir, end)?;
        next.file = Some(Arc::new(
            OpenOptions::new().read(true).write(true).open(&next.path)?,
        ));
        let Some(last) = self.segments.last_mut() else {
            return Ok(());
        };
        if let Err(e) = last.write_index() {
            tracing::warn!(path = %last.path.display(), error = %e, "segment index not saved; it is rebuilt on the next start");
        }
        self.unsynced.extend(last.file.take());
        self.dir_unsynced = true;
        self.bytes += next.len;
        self.segments.push(next);
        Ok(())
    }

    /// Removes whole segments from the front while what stays still meets the limits (Kafka's
    /// rule: at least `keep_messages` and `keep_bytes` are kept), or whose newest message is
    /// older than the age limit; never the segment being written nor anything not yet visible.
    pub(crate) fn retain(&mut self, now_ms: i64) {
        let min_ts = (self.limits.keep_ms > 0).then(|| now_ms - self.limits.keep_ms);
        if min_ts.is_some_and(|t| self.active_expired(t)) {
            if let Err(e) = self.roll() {
                tracing::debug!(error = %e, "expired segment not rolled");
            }
        }
        while self.segments.len() > 1 {
            let first = &self.segments[0];
            let total = (self.written_end() - self.start()) as u64;
            let drop = first.end() <= self.visible_end
                && (total - first.count >= self.limits.keep_messages
                    || self.bytes - first.len >= self.limits.keep_bytes
                    || min_ts.is_some_and(|t| first.count > 0 && first.max_ts < t));
            if !drop {
                break;
            }
            if let Err(e) = first.remove_files() {
                tracing::warn!(path = %first.path.display(), error = %e, "old segment not removed");
                break;
            }
            self.bytes -= first.len;
            self.segments.remove(0);
        }
    }

    /// Whether the segment being written holds only messages older than `min_ts`, so that
    /// rolling it lets age retention remove it.
    fn active_expired(&self, min_ts: i64) -> bool {
        self.segments
            .last()
            .is_some_and(|s| s.count > 0 && s.max_ts < min_ts && s.end() <= self.visible_end)
    }
}

/// A new, empty segment file starting at `base`, its directory entry synced.
fn create_segment(dir: &Path, base: i64) -> io::Result<Segment> {
    let path = segment_path(dir, base);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    if let Err(e) = f.write_all_at(SEGMENT_MAGIC, 0) {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(Segment::empty(base, path))
}

fn remove_from(dir: &Path, bases: &[i64]) {
    for b in bases {
        let seg = Segment::empty(*b, segment_path(dir, *b));
        let _ = seg.remove_files();
    }
}

impl Drop for DiskLog {
    /// A clean stop leaves everything appended on disk, whatever the policy, and answers the
    /// produces still waiting.
    fn drop(&mut self) {
        let round = self.begin_sync();
        let result = round.work.run();
        round
            .finish(&result)
            .into_iter()
            .for_each(std::task::Waker::wake);
    }
}
