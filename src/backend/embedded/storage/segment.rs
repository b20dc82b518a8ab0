//! One segment file of a partition's log (Kafka's design): named by the offset of its first
//! record, a header, then frames `[len u32][crc32c u32][payload]` with payload
//! `[offset i64][timestamp i64][flags u8][encoded KafkaMessage]`, all little-endian. A sparse
//! in-memory index (one entry per ~4 KiB, with the chunk's largest timestamp) finds offsets and
//! times; sealed segments keep it in a `.index` file so a restart need not read them.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use prost::Message as _;

use crate::pb::KafkaMessage;
use crate::record::{Header, Record};

pub(super) const SEGMENT_MAGIC: &[u8; 8] = b"PSGWLOG1";
const INDEX_MAGIC: &[u8; 8] = b"PSGWIDX1";
pub(super) const HEADER: u64 = SEGMENT_MAGIC.len() as u64;
const FRAME_HEAD: usize = 8;
const PAYLOAD_HEAD: usize = 17;
/// Bytes of log between two index entries: a lookup reads at most this much to skip.
const INDEX_INTERVAL: u64 = 4096;
/// A frame longer than this is damage, not a message (frames are bounded by the frame limit).
const MAX_FRAME: usize = 256 << 20;
const FLAG_HEADERS: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct IndexEntry {
    /// Offset relative to the segment's base.
    pub(super) rel: u32,
    pub(super) pos: u32,
    /// The largest timestamp in this entry's chunk (timestamps are the producers' and need not
    /// grow), so a time lookup skips chunks that cannot hold a match.
    pub(super) max_ts: i64,
}

pub(super) struct Segment {
    pub(super) base: i64,
    pub(super) path: PathBuf,
    /// Valid bytes, header included.
    pub(super) len: u64,
    pub(super) count: u64,
    pub(super) max_ts: i64,
    pub(super) index: Vec<IndexEntry>,
    /// Open while this is the segment being written; sealed ones are opened per read.
    pub(super) file: Option<Arc<File>>,
    /// Damage found here at read time (bit rot after open) was logged: once per segment, not
    /// on every read that meets it.
    pub(super) damage_logged: std::sync::atomic::AtomicBool,
}

pub(super) fn segment_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

fn index_path(log: &Path) -> PathBuf {
    log.with_extension("index")
}

/// Appends a record's frame to `out`.
pub(super) fn encode_frame(rec: &Record, out: &mut Vec<u8>) {
    let mut head = [0u8; PAYLOAD_HEAD];
    head[..8].copy_from_slice(&rec.offset.to_le_bytes());
    head[8..16].copy_from_slice(&rec.timestamp.to_le_bytes());
    head[16] = if rec.headers.is_empty() {
        0
    } else {
        FLAG_HEADERS
    };
    let len = (PAYLOAD_HEAD + rec.encoded.len()) as u32;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&head), &rec.encoded);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&rec.encoded);
}

/// One frame read back: checked against its checksum.
pub(super) struct Frame {
    pub(super) offset: i64,
    pub(super) timestamp: i64,
    flags: u8,
    encoded: Bytes,
}

pub(super) enum Parsed {
    Frame(Frame, usize),
    /// The buffer ends inside a frame of this total length.
    Incomplete(usize),
    Corrupt(&'static str),
}

/// The frame at the start of `buf`, and its length.
pub(super) fn parse_frame(buf: &Bytes) -> Parsed {
    if buf.len() < FRAME_HEAD {
        return Parsed::Incomplete(FRAME_HEAD);
    }
    let mut head = &buf[..FRAME_HEAD];
    let len = head.get_u32_le() as usize;
    let crc = head.get_u32_le();
    if !(PAYLOAD_HEAD..=MAX_FRAME).contains(&len) {
        return Parsed::Corrupt("impossible frame length");
    }
    let total = FRAME_HEAD + len;
    if buf.len() < total {
        return Parsed::Incomplete(total);
    }
    let payload = buf.slice(FRAME_HEAD..total);
    if crc32c::crc32c(&payload) != crc {
        return Parsed::Corrupt("checksum mismatch");
    }
    let mut p = &payload[..PAYLOAD_HEAD];
    let offset = p.get_i64_le();
    let timestamp = p.get_i64_le();
    let flags = p.get_u8();
    Parsed::Frame(
        Frame {
            offset,
            timestamp,
            flags,
            encoded: payload.slice(PAYLOAD_HEAD..),
        },
        total,
    )
}

impl Frame {
    /// The record as the gateway carries it; its encoded bytes are shared, not copied.
    pub(super) fn record(self, topic: &Arc<str>, partition: i32, epoch: u64) -> Record {
        let headers = if self.flags & FLAG_HEADERS != 0 {
            KafkaMessage::decode(self.encoded.clone())
                .map(|m| m.headers.into_iter().map(Header::from).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Record {
            topic: topic.clone(),
            partition,
            offset: self.offset,
            epoch,
            timestamp: self.timestamp,
            headers,
            encoded: self.encoded,
        }
    }
}

/// Reads `len` bytes at `pos` (fewer at the end of the file).
pub(super) fn read_at(file: &File, pos: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], pos + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(Bytes::from(buf))
}

/// What opening a segment found.
pub(super) struct Scanned {
    pub(super) segment: Segment,
    /// Bytes after the last good frame (a torn or damaged tail), and why they are bad.
    pub(super) torn: Option<(u64, &'static str)>,
}

impl Segment {
    pub(super) fn empty(base: i64, path: PathBuf) -> Segment {
        Segment {
            base,
            path,
            len: HEADER,
            count: 0,
            max_ts: i64::MIN,
            index: Vec::new(),
            file: None,
            damage_logged: Default::default(),
        }
    }

    pub(super) fn end(&self) -> i64 {
        self.base + self.count as i64
    }

    /// Records a frame written (or found) at `pos`.
    pub(super) fn note(&mut self, pos: u64, timestamp: i64, frame_len: u64) {
        let rel = self.count as u32;
        match self.index.last_mut() {
            Some(last) if pos - u64::from(last.pos) < INDEX_INTERVAL => {
                last.max_ts = last.max_ts.max(timestamp)
            }
            _ => self.index.push(IndexEntry {
                rel,
                pos: pos as u32,
                max_ts: timestamp,
            }),
        }
        self.count += 1;
        self.max_ts = self.max_ts.max(timestamp);
        self.len = pos + frame_len;
    }

    /// The last index entry at or before `offset`: its position and the offset stored there.
    pub(super) fn entry_for(&self, offset: i64) -> (u64, i64) {
        let rel = (offset - self.base).max(0) as u32;
        let i = self.index.partition_point(|e| e.rel <= rel);
        match i.checked_sub(1).and_then(|i| self.index.get(i)) {
            None => (HEADER, self.base),
            Some(e) => (u64::from(e.pos), self.base + i64::from(e.rel)),
        }
    }

    /// The first offset readable again after damage at byte `pos`: the next index entry's (a
    /// frame boundary known without parsing what lies before it), else the next segment's base.
    pub(super) fn resync_after(&self, pos: u64) -> i64 {
        self.index
            .iter()
            .find(|e| u64::from(e.pos) > pos)
            .map_or(self.end(), |e| self.base + i64::from(e.rel))
    }

    pub(super) fn open_file(&self) -> io::Result<Arc<File>> {
        match &self.file {
            Some(f) => Ok(f.clone()),
            None => File::open(&self.path).map(Arc::new),
        }
    }

    /// Reads every frame from the start, checking each; stops at the first bad one.
    /// `Err` only when the file cannot be read or is not a segment.
    pub(super) fn scan(base: i64, path: PathBuf) -> io::Result<Scanned> {
        let mut file = File::open(&path)?;
        let file_len = file.metadata()?.len();
        let mut seg = Segment::empty(base, path);
        if file_len < HEADER {
            // Created but killed before its header was written: an empty segment.
            return Ok(Scanned {
                segment: seg,
                torn: (file_len > 0).then_some((file_len, "torn header")),
            });
        }
        let mut magic = [0u8; 8];
        file.read_exact(&mut magic)?;
        if &magic != SEGMENT_MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a segment file of this gateway",
            ));
        }
        let mut reader = io::BufReader::with_capacity(1 << 20, file);
        let mut pos = HEADER;
        let mut torn = None;
        loop {
            let mut head = [0u8; FRAME_HEAD];
            match read_full(&mut reader, &mut head)? {
                0 => break,
                n if n < FRAME_HEAD => {
                    torn = Some("torn frame header");
                    break;
                }
                _ => {}
            }
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let possible = (PAYLOAD_HEAD..=MAX_FRAME).contains(&len);
            if !possible || pos + (FRAME_HEAD + len) as u64 > file_len {
                torn = Some(if possible {
                    "torn frame"
                } else {
                    "impossible frame length"
                });
                break;
            }
            let mut frame = vec![0u8; FRAME_HEAD + len];
            frame[..FRAME_HEAD].copy_from_slice(&head);
            if read_full(&mut reader, &mut frame[FRAME_HEAD..])? < len {
                torn = Some("torn frame");
                break;
            }
            match parse_frame(&Bytes::from(frame)) {
                Parsed::Frame(f, total) if f.offset == seg.end() => {
                    seg.note(pos, f.timestamp, total as u64);
                    pos += total as u64;
                }
                Parsed::Frame(..) => {
                    torn = Some("offset out of sequence");
                    break;
                }
                Parsed::Corrupt(why) => {
                    torn = Some(why);
                    break;
                }
                Parsed::Incomplete(_) => {
                    torn = Some("torn frame");
                    break;
                }
            }
        }
        Ok(Scanned {
            torn: torn.map(|why| (file_len - pos, why)),
            segment: seg,
        })
    }

    /// Saves the index of a sealed segment. Checked on load (checksum and the log's length), so
    /// a stale or torn one is rebuilt by reading the segment instead.
    pub(super) fn write_index(&self) -> io::Result<()> {
        let mut out = Vec::with_capacity(48 + self.index.len() * 16);
        out.extend_from_slice(INDEX_MAGIC);
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.max_ts.to_le_bytes());
        out.extend_from_slice(&(self.index.len() as u64).to_le_bytes());
        for e in &self.index {
            out.extend_from_slice(&e.rel.to_le_bytes());
            out.extend_from_slice(&e.pos.to_le_bytes());
            out.extend_from_slice(&e.max_ts.to_le_bytes());
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        let path = index_path(&self.path);
        let tmp = path.with_extension("index.tmp");
        std::fs::write(&tmp, &out)?;
        std::fs::rename(&tmp, &path)
    }

    /// A sealed segment from its index file, if that is whole and matches the log file.
    pub(super) fn load_indexed(base: i64, path: PathBuf) -> Option<Segment> {
        let data = std::fs::read(index_path(&path)).ok()?;
        let file_len = std::fs::metadata(&path).ok()?.len();
        if data.len() < 44 || &data[..8] != INDEX_MAGIC {
            return None;
        }
        let (body, crc) = data.split_at(data.len() - 4);
        if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut b = &body[8..];
        let len = b.get_u64_le();
        let count = b.get_u64_le();
        let max_ts = b.get_i64_le();
        let n = b.get_u64_le() as usize;
        if len != file_len || b.len() != n * 16 {
            return None;
        }
        let index = (0..n)
            .map(|_| IndexEntry {
                rel: b.get_u32_le(),
                pos: b.get_u32_le(),
                max_ts: b.get_i64_le(),
            })
            .collect();
        Some(Segment {
            base,
            path,
            len,
            count,
            max_ts,
            index,
            file: None,
            damage_logged: Default::default(),
        })
    }

    /// Deletes the segment's files (readers holding it open keep reading).
    pub(super) fn remove_files(&self) -> io::Result<()> {
        let _ = std::fs::remove_file(index_path(&self.path));
        std::fs::remove_file(&self.path)
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
