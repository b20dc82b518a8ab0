//! Reads of a partition's log on disk: records from an offset through the sparse index, time
//! lookups, and damage found at read time named with where reading may resume.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Buf as _;

use super::disklog::DiskLog;
use super::segment::{parse_frame, read_at, Parsed};
use crate::record::Record;

/// Bytes read at least per disk read, so small fetches do not cost a system call each.
const MIN_READ: usize = 64 << 10;

impl DiskLog {
    /// Records from `from` below `limit`: at least one if any, then within the bounds.
    pub(crate) fn read(
        &self,
        from: i64,
        max_messages: usize,
        max_bytes: usize,
        limit: i64,
    ) -> Result<Vec<Arc<Record>>, ReadError> {
        let mut out = Vec::new();
        let i = self.segments.partition_point(|s| s.base <= from);
        let Some(seg) = i.checked_sub(1).and_then(|i| self.segments.get(i)) else {
            return Ok(out);
        };
        if from >= seg.end() || from >= limit {
            return Ok(out);
        }
        let file = seg.open_file()?;
        let (mut pos, mut expect) = seg.entry_for(from);
        let mut bytes = 0;
        let mut want = max_bytes.clamp(MIN_READ, 4 << 20);
        'reads: while pos < seg.len && out.len() < max_messages {
            let len = want.min((seg.len - pos) as usize);
            let mut buf = read_at(&file, pos, len)?;
            let mut used = 0;
            loop {
                match parse_frame(&buf) {
                    Parsed::Frame(f, n) => {
                        used += n;
                        buf.advance(n);
                        expect = f.offset + 1;
                        if f.offset < from {
                            continue;
                        }
                        if f.offset >= limit {
                            break 'reads;
                        }
                        let rec = f.record(&self.topic, self.partition, self.epoch);
                        if !out.is_empty() && bytes + rec.size() > max_bytes {
                            break 'reads;
                        }
                        bytes += rec.size();
                        out.push(Arc::new(rec));
                        if out.len() >= max_messages {
                            break 'reads;
                        }
                    }
                    Parsed::Incomplete(n) => {
                        if used == 0 {
                            // One frame larger than the read: read it whole.
                            if pos + n as u64 > seg.len {
                                break 'reads;
                            }
                            want = n;
                        }
                        break;
                    }
                    Parsed::Corrupt(why) => {
                        // What precedes the damage is good: delivered first, the next read fails.
                        if !out.is_empty() {
                            break 'reads;
                        }
                        let at = pos + used as u64;
                        let damage = Damage {
                            offset: expect,
                            next: seg.resync_after(at),
                            segment: seg.base,
                            why,
                        };
                        // Bit rot after open: every read meeting it fails, the log says it once.
                        if !seg.damage_logged.swap(true, Ordering::Relaxed) {
                            tracing::error!(path = %seg.path.display(), byte = at, offset = damage.offset, next_readable = damage.next, reason = why, "damaged record in a stored segment: reads of it fail");
                        }
                        return Err(ReadError::Damaged(damage));
                    }
                }
            }
            pos += used as u64;
        }
        Ok(out)
    }

    /// The first offset below `limit` whose timestamp is at or after `ts`.
    pub(crate) fn offset_for_timestamp(&self, ts: i64, limit: i64) -> io::Result<Option<i64>> {
        for seg in self
            .segments
            .iter()
            .filter(|s| s.count > 0 && s.max_ts >= ts)
        {
            let file = seg.open_file()?;
            for (i, entry) in seg.index.iter().enumerate() {
                if entry.max_ts < ts {
                    continue;
                }
                let to = seg.index.get(i + 1).map_or(seg.len, |e| u64::from(e.pos));
                let mut buf = read_at(
                    &file,
                    u64::from(entry.pos),
                    (to - u64::from(entry.pos)) as usize,
                )?;
                while let Parsed::Frame(f, n) = parse_frame(&buf) {
                    buf.advance(n);
                    if f.offset >= limit {
                        return Ok(None);
                    }
                    if f.timestamp >= ts {
                        return Ok(Some(f.offset));
                    }
                }
            }
        }
        Ok(None)
    }
}

/// Why a read of stored records failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    Damaged(Damage),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// A record that no longer parses in a stored segment (its checksum or length is wrong).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    /// The first offset that cannot be read.
    pub(crate) offset: i64,
    /// The first offset readable again after it (where a client may resume).
    pub(crate) next: i64,
    /// The damaged segment's base offset (its file is `<base>.log`).
    pub(crate) segment: i64,
    pub(crate) why: &'static str,
}
