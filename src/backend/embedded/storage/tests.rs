//! The disk log on its own: frames, segments, indexes, retention and recovery, on real files.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use super::disklog::{DiskLog, Limits};
use super::read::{Damage, ReadError};
use super::segment::{encode_frame, parse_frame, segment_path, Parsed, Segment};
use crate::record::{Header, Record};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("pubsub-disklog-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn limits(roll_messages: u64, keep_messages: u64) -> Limits {
    Limits {
        roll_bytes: 1 << 30,
        roll_messages,
        keep_messages,
        keep_bytes: u64::MAX,
        keep_ms: 0,
        always: false,
        cache_messages: 10,
        cache_bytes: 1 << 20,
    }
}

fn record(offset: i64, timestamp: i64, value: &str, headers: Vec<Header>) -> Record {
    Record::new(
        Arc::from("t"),
        0,
        offset,
        timestamp,
        Bytes::from(format!("k{offset}")),
        Bytes::from(value.to_owned()),
        headers,
    )
}

fn open(dir: &TempDir, l: Limits) -> DiskLog {
    DiskLog::open(dir.0.clone(), Arc::from("t"), 0, 7, l).unwrap()
}

/// Appends `n` records with timestamps 1000 + 10 i, and makes them visible.
fn fill(log: &mut DiskLog, n: i64) {
    for _ in 0..n {
        let o = log.written_end();
        log.append(&record(o, 1000 + 10 * o, &format!("v{o}"), Vec::new()))
            .unwrap();
    }
    log.visible_end = log.written_end();
}

#[test]
fn a_frame_reads_back_whole_and_any_flipped_byte_is_caught() {
    let rec = record(
        5,
        123,
        "value",
        vec![Header {
            key: "h".into(),
            value: Bytes::from_static(b"x"),
        }],
    );
    let mut buf = Vec::new();
    encode_frame(&rec, &mut buf);
    let Parsed::Frame(f, n) = parse_frame(&Bytes::from(buf.clone())) else {
        panic!("frame parses");
    };
    assert_eq!(n, buf.len());
    let back = f.record(&Arc::from("t"), 0, 9);
    assert_eq!((back.offset, back.timestamp, back.epoch), (5, 123, 9));
    assert_eq!(back.encoded, rec.encoded);
    assert_eq!(back.headers, rec.headers);
    for i in 8..buf.len() {
        let mut bad = buf.clone();
        bad[i] ^= 1;
        assert!(
            matches!(parse_frame(&Bytes::from(bad)), Parsed::Corrupt(_)),
            "byte {i}"
        );
    }
    assert!(matches!(
        parse_frame(&Bytes::from(buf[..buf.len() - 1].to_vec())),
        Parsed::Incomplete(total) if total == buf.len()
    ));
}

#[test]
fn reads_cross_segments_and_honour_limits_and_the_visible_end() {
    let dir = TempDir::new("reads");
    let mut log = open(&dir, limits(10, u64::MAX));
    fill(&mut log, 35);
    assert_eq!(log.start(), 0);
    let got = log.read(8, 5, usize::MAX, 100).unwrap();
    assert_eq!(
        got.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![8, 9],
        "a read ends with its segment"
    );
    let got = log.read(12, 3, usize::MAX, 100).unwrap();
    assert_eq!(
        got.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![12, 13, 14]
    );
    assert_eq!(
        &got[0].encoded,
        &record(12, 1120, "v12", Vec::new()).encoded
    );
    assert_eq!(
        log.read(30, 100, usize::MAX, 32).unwrap().len(),
        2,
        "below the limit"
    );
    assert_eq!(log.read(30, 100, 1, 100).unwrap().len(), 1, "at least one");
    assert!(log.read(35, 100, usize::MAX, 100).unwrap().is_empty());
    assert_eq!(log.offset_for_timestamp(1125, 100).unwrap(), Some(13));
    assert_eq!(log.offset_for_timestamp(0, 100).unwrap(), Some(0));
    assert_eq!(log.offset_for_timestamp(99_999, 100).unwrap(), None);
    assert_eq!(
        log.offset_for_timestamp(1340, 34).unwrap(),
        None,
        "not visible"
    );
}

#[test]
fn retention_removes_whole_segments_keeping_at_least_the_limit() {
    let dir = TempDir::new("retain");
    let mut log = open(&dir, limits(10, 15));
    fill(&mut log, 45);
    log.retain(0);
    // 45 in segments of 10: at least 15 stay (Kafka's rule), so 30..45.
    assert_eq!(log.start(), 30);
    assert!(!segment_path(&dir.0, 20).exists());
    assert!(segment_path(&dir.0, 30).exists());
    // Nothing is removed that readers cannot see yet (visible: up to 45).
    fill_invisible(&mut log, 30);
    log.retain(0);
    assert_eq!(log.start(), 40);
}

fn fill_invisible(log: &mut DiskLog, n: i64) {
    let visible = log.visible_end;
    fill(log, n);
    log.visible_end = visible;
}

#[test]
fn reopening_uses_sealed_indexes_and_rebuilds_a_missing_one() {
    let dir = TempDir::new("reopen");
    let mut log = open(&dir, limits(10, u64::MAX));
    fill(&mut log, 25);
    drop(log);
    std::fs::remove_file(segment_path(&dir.0, 10).with_extension("index")).unwrap();
    let log = open(&dir, limits(10, u64::MAX));
    assert_eq!(
        (log.start(), log.written_end(), log.visible_end),
        (0, 25, 25)
    );
    assert!(segment_path(&dir.0, 10).with_extension("index").exists());
    let got = log.read(14, 1, usize::MAX, 25).unwrap();
    assert_eq!(got[0].offset, 14);
    assert_eq!(log.offset_for_timestamp(1150, 25).unwrap(), Some(15));
}

#[test]
fn damage_in_an_older_segment_drops_it_from_there_and_what_follows() {
    let dir = TempDir::new("damage");
    let mut log = open(&dir, limits(10, u64::MAX));
    fill(&mut log, 25);
    drop(log);
    let path = segment_path(&dir.0, 10);
    std::fs::remove_file(path.with_extension("index")).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xFF;
    std::fs::write(&path, bytes).unwrap();
    let mut log = open(&dir, limits(10, u64::MAX));
    assert_eq!(
        log.written_end(),
        19,
        "the last record of segment 10 is gone"
    );
    assert!(!segment_path(&dir.0, 20).exists());
    fill(&mut log, 1);
    assert_eq!(log.read(19, 1, usize::MAX, 20).unwrap()[0].offset, 19);
}

#[test]
fn a_segment_of_another_program_is_refused() {
    let dir = TempDir::new("foreign");
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(segment_path(&dir.0, 0), b"NOTOURS!and more").unwrap();
    let e = DiskLog::open(dir.0.clone(), Arc::from("t"), 0, 1, limits(10, 10))
        .err()
        .expect("refused");
    assert!(e.to_string().contains("00000000000000000000.log"), "{e}");
    // A header cut short (killed while creating) is an empty segment.
    std::fs::write(segment_path(&dir.0, 0), b"PSGW").unwrap();
    let log = open(&dir, limits(10, 10));
    assert_eq!(log.written_end(), 0);
    let scanned = Segment::scan(0, segment_path(&dir.0, 0)).unwrap();
    assert!(scanned.torn.is_none(), "repaired");
}

/// Flips one byte of the stored value `needle` in segment file `base` (bit rot after open).
fn rot(dir: &TempDir, base: i64, needle: &[u8]) {
    let path = segment_path(&dir.0, base);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[at] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_record_rotten_after_open_fails_reads_naming_it_and_the_next_readable_offset() {
    let dir = TempDir::new("rot");
    let mut log = open(&dir, limits(10, u64::MAX));
    fill(&mut log, 35);
    rot(&dir, 10, b"v15");
    let got = log.read(12, 100, usize::MAX, 100).unwrap();
    assert_eq!(
        got.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![12, 13, 14],
        "the good records before the damage are read"
    );
    let want = Damage {
        offset: 15,
        next: 20,
        segment: 10,
        why: "checksum mismatch",
    };
    for from in [15, 17] {
        match log.read(from, 100, usize::MAX, 100) {
            Err(ReadError::Damaged(d)) => assert_eq!(d, want, "read from {from}"),
            other => panic!("read from {from}: {other:?}"),
        }
    }
    let got = log.read(want.next, 3, usize::MAX, 100).unwrap();
    assert_eq!(got.first().map(|r| r.offset), Some(20), "past the damage");
    assert_eq!(log.read(0, 100, usize::MAX, 100).unwrap().len(), 10);
}

/// `fsync: always`, rolling every `roll_messages`, no retention.
fn always_limits(roll_messages: u64) -> Limits {
    Limits {
        always: true,
        ..limits(roll_messages, u64::MAX)
    }
}

/// Appends under `fsync: always` the way the broker does: the record also waits in `pending`.
fn append_always(log: &mut DiskLog, n: i64) {
    for _ in 0..n {
        let o = log.written_end();
        let rec = record(o, 1000 + 10 * o, &format!("v{o}"), Vec::new());
        log.append(&rec).unwrap();
        log.pending.push_back(Arc::new(rec));
    }
}

fn value_of(r: &Record) -> String {
    use prost::Message as _;
    let m = crate::pb::KafkaMessage::decode(r.encoded.clone()).unwrap();
    String::from_utf8_lossy(&m.value).into_owned()
}

fn file_len(dir: &TempDir, base: i64) -> u64 {
    std::fs::metadata(segment_path(&dir.0, base)).unwrap().len()
}

fn outcome(b: &super::Batch) -> Option<Result<(), crate::error::GatewayError>> {
    let mut registered = None;
    let cx = std::task::Context::from_waker(std::task::Waker::noop());
    match b.poll(&cx, &mut registered).0 {
        std::task::Poll::Ready(r) => Some(r),
        std::task::Poll::Pending => None,
    }
}

#[test]
fn under_fsync_always_records_reach_the_file_in_one_write_per_round_even_across_a_roll() {
    let dir = TempDir::new("always");
    let l = always_limits(4);
    let mut log = open(&dir, l);
    let first = log.batch.clone();
    append_always(&mut log, 3);
    assert_eq!(file_len(&dir, 0), 8, "nothing written before the round");
    assert_eq!(log.written_end(), 3, "yet the offsets are taken");
    // The fifth record rolls the segment: the four before go into the sealed one first.
    append_always(&mut log, 3);
    assert!(file_len(&dir, 0) > 8);
    assert_eq!(file_len(&dir, 4), 8);
    let second = log.batch.clone();
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(outcome(&first), None, "written is not synced");
    let round = log.begin_sync();
    assert_eq!(round.upto, 6);
    assert!(file_len(&dir, 4) > 8);
    assert_eq!(outcome(&second), None);
    // `outcome` left a waiter on each batch: both are woken by this one round.
    assert_eq!(round.finish(&Ok(())).len(), 2);
    assert_eq!(outcome(&first), Some(Ok(())));
    assert_eq!(outcome(&second), Some(Ok(())));
    drop(log);
    let log = open(&dir, l);
    let mut offsets = Vec::new();
    for from in [0, 4] {
        let got = log.read(from, 100, 1 << 20, 6).unwrap();
        offsets.extend(got.iter().map(|r| (r.offset, value_of(r))));
    }
    let want: Vec<(i64, String)> = (0..6).map(|o| (o, format!("v{o}"))).collect();
    assert_eq!(offsets, want, "a read stops at its segment's end");
}

#[test]
fn after_a_failed_fsync_the_next_round_refuses_what_was_appended_meanwhile() {
    let dir = TempDir::new("failed");
    let l = always_limits(100);
    let mut log = open(&dir, l);
    append_always(&mut log, 2);
    let batch = log.batch.clone();
    log.failed = Some(Arc::from("fsync failed: EIO"));
    let round = log.begin_sync();
    let Some(Err(e)) = outcome(&batch) else {
        panic!("the batch is answered at once")
    };
    assert!(e.to_string().contains("EIO"), "{e}");
    assert_eq!(log.written_end(), 0, "its records left the log");
    assert!(log.pending.is_empty());
    assert_eq!(round.upto, 0);
    drop(round);
    drop(log);
    assert_eq!(file_len(&dir, 0), 8, "and never reached the file");
}
