//! The write and read pattern of the embedded broker's storage, done two ways on the same disk:
//! the segmented log's (frames `[len][crc32c][offset][timestamp][value]` appended to a file, one
//! write and one fdatasync per group commit, read back sequentially and checked) and redb's (one
//! `Durability::Immediate` write transaction per group commit, offset -> record, read back by a
//! range). 1,000,000 records of 100 bytes; group commits of 425 records (what one partition's
//! sync round held in session 5's runs: ~1,700 produces over 4 partitions) and of 1 (a lone
//! producer).
//!
//! cargo run --release --manifest-path docs/bench/storage-choice/Cargo.toml -- [DIR]

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use redb::{Database, Durability, TableDefinition};

const RECORDS: u64 = 1_000_000;
const VALUE: usize = 100;
const SINGLES: u64 = 2_000;
const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("log");

fn frame(offset: u64, value: &[u8], out: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(16 + value.len());
    payload.extend_from_slice(&offset.to_le_bytes());
    payload.extend_from_slice(&1_700_000_000_000i64.to_le_bytes());
    payload.extend_from_slice(value);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
}

fn log_write(path: &Path, n: u64, batch: u64, value: &[u8]) -> f64 {
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .expect("log file");
    let t = Instant::now();
    let (mut pos, mut buf, mut offset) = (0u64, Vec::new(), 0u64);
    while offset < n {
        buf.clear();
        for _ in 0..batch.min(n - offset) {
            frame(offset, value, &mut buf);
            offset += 1;
        }
        f.write_all_at(&buf, pos).expect("write");
        pos += buf.len() as u64;
        f.sync_data().expect("fdatasync");
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn log_read(path: &Path) -> (u64, f64) {
    let f = File::open(path).expect("log file");
    let len = f.metadata().expect("metadata").len();
    let t = Instant::now();
    let (mut pos, mut count, mut carry) = (0u64, 0u64, Vec::new());
    let mut chunk = vec![0u8; 1 << 20];
    while pos < len {
        let n = f.read_at(&mut chunk, pos).expect("read");
        if n == 0 {
            break;
        }
        pos += n as u64;
        carry.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        while carry.len() - at >= 8 {
            let l = u32::from_le_bytes(carry[at..at + 4].try_into().expect("4")) as usize;
            if carry.len() - at < 8 + l {
                break;
            }
            let crc = u32::from_le_bytes(carry[at + 4..at + 8].try_into().expect("4"));
            assert_eq!(crc32c::crc32c(&carry[at + 8..at + 8 + l]), crc, "damaged frame");
            at += 8 + l;
            count += 1;
        }
        carry.drain(..at);
    }
    (count, count as f64 / t.elapsed().as_secs_f64())
}

fn redb_write(path: &Path, n: u64, batch: u64, value: &[u8]) -> f64 {
    let _ = std::fs::remove_file(path);
    let db = Database::create(path).expect("redb");
    let t = Instant::now();
    let mut offset = 0u64;
    let mut record = Vec::new();
    while offset < n {
        let mut tx = db.begin_write().expect("write transaction");
        tx.set_durability(Durability::Immediate);
        {
            let mut table = tx.open_table(TABLE).expect("table");
            for _ in 0..batch.min(n - offset) {
                record.clear();
                record.extend_from_slice(&1_700_000_000_000i64.to_le_bytes());
                record.extend_from_slice(value);
                table.insert(offset, record.as_slice()).expect("insert");
                offset += 1;
            }
        }
        tx.commit().expect("commit");
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn redb_read(path: &Path) -> (u64, f64) {
    let db = Database::open(path).expect("redb");
    let t = Instant::now();
    let tx = db.begin_read().expect("read transaction");
    let table = tx.open_table(TABLE).expect("table");
    let mut count = 0u64;
    for entry in table.range(0u64..).expect("range") {
        let (k, v) = entry.expect("entry");
        assert_eq!(k.value(), count);
        assert_eq!(v.value().len(), 8 + VALUE);
        count += 1;
    }
    (count, count as f64 / t.elapsed().as_secs_f64())
}

fn size(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / (1 << 20) as f64)
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/storage-choice".into());
    let dir = Path::new(&dir);
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("directory");
    let value = vec![b'x'; VALUE];
    let (log, db) = (dir.join("segment.log"), dir.join("log.redb"));
    println!("# {RECORDS} records of {VALUE} B, group commits of 425; then {SINGLES} commits of 1");
    let w = log_write(&log, RECORDS, 425, &value);
    let (c, r) = log_read(&log);
    println!(
        "segmented log  write {w:>10.0} records/s   read {r:>11.0} records/s ({c})   {:.1} MiB on disk",
        size(&log)
    );
    let w = redb_write(&db, RECORDS, 425, &value);
    let (c, r) = redb_read(&db);
    println!(
        "redb           write {w:>10.0} records/s   read {r:>11.0} records/s ({c})   {:.1} MiB on disk",
        size(&db)
    );
    let w = log_write(&log, SINGLES, 1, &value);
    println!("segmented log  one record per commit: {:.3} ms per commit", 1e3 / w);
    let w = redb_write(&db, SINGLES, 1, &value);
    println!("redb           one record per commit: {:.3} ms per commit", 1e3 / w);
}
