//! The embedded broker with `storage`: the real gateway binary restarted (gracefully and with
//! SIGKILL) over the same directory, a real WebSocket client checking what survived.

mod damage;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use tokio_tungstenite::tungstenite::Message;

use crate::common::storage::*;
use crate::common::*;

const T0: i64 = 1_700_000_000_000;

/// 150 messages over two partitions: keys, headers and CreateTime timestamps T0 + i seconds.
async fn fill(c: &mut Client, topic: &str) {
    for i in 0..150 {
        let r = c
            .produce(CmdKafkaProduce {
                topic: topic.into(),
                partition: Some(i % 2),
                key: Bytes::from(format!("k{i}")),
                value: Bytes::from(format!("v{i}-{}", "x".repeat(100))),
                headers: vec![header("n", &i.to_string())],
                timestamp: T0 + i64::from(i) * 1000,
                idempotency_key: String::new(),
            })
            .await;
        assert_eq!((r.partition, r.offset), (i % 2, i64::from(i / 2)));
    }
}

async fn restart_keeps_everything(fsync: &str) {
    let dir = Dir::new(&format!("restart-{}", fsync.len()));
    let opts = "partitions: 2, retention_messages: 100000, retention_bytes: 100000000,";
    let storage = format!("segment_bytes: 4096, {fsync}");
    let gw = Gw::start(&dir, opts, &storage);
    let mut c = gw.client().await;
    fill(&mut c, "keep").await;
    let before = metadata(&mut c, "keep").await;
    let epoch = before.partitions[0].epoch;
    let stored = fetch_all(&mut c, "keep", 0, 0).await;
    assert_eq!(stored.len(), 75);
    assert!(dir.segments("keep", 0).len() > 2, "small segments roll");
    // A group reads partition 0 and commits 30; it must resume there.
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            partitions: vec![0],
            ..sub_from("keep", Start::Earliest)
        })
        .await;
    assert!(c.pushed(id, 30).await.len() >= 30);
    c.commit(id, &[("keep", 0, 30)]).await;
    gw.kill();

    let gw = Gw::start(&dir, opts, &storage);
    let mut c = gw.client().await;
    assert_eq!(
        metadata(&mut c, "keep").await,
        before,
        "offsets and epochs kept"
    );
    let again = fetch_all(&mut c, "keep", 0, 0).await;
    assert_eq!(again, stored, "keys, values, headers and timestamps kept");
    assert_eq!(
        offsets_of(&fetch_all(&mut c, "keep", 1, 70).await),
        vec![70, 71, 72, 73, 74]
    );
    // Time lookups: message 2j of partition 0 has T0 + 2j s.
    assert_eq!(list_offset(&mut c, "keep", 0, T0 + 41_000).await, 21);
    assert_eq!(list_offset(&mut c, "keep", 0, -2).await, 0);
    assert_eq!(list_offset(&mut c, "keep", 0, -1).await, 75);
    // Every start position, from disk.
    for (start, first) in [
        (Start::Earliest, 0),
        (Start::Offset(40), 40),
        (Start::Timestamp(T0 + 100_000), 50),
        (Start::Last, 74),
    ] {
        let id = c
            .subscribe(CmdKafkaSubscribe {
                partitions: vec![0],
                ..sub_from("keep", start)
            })
            .await;
        let got = c.pushed(id, 1).await;
        assert_eq!(got[0].offset, first, "{start:?}");
        assert_eq!(got[0], stored[first as usize]);
    }
    let latest = c.subscribe(sub_from("keep", Start::Latest)).await;
    // The group resumes from its committed offset.
    let g = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            partitions: vec![0],
            ..sub_from("keep", Start::Earliest)
        })
        .await;
    assert_eq!(c.pushed(g, 1).await[0].offset, 30);
    // A resume with the old epoch is no reset.
    let resumed = c
        .subscribe(CmdKafkaSubscribe {
            start_epoch: epoch,
            partitions: vec![0],
            ..sub_from("keep", Start::Offset(70))
        })
        .await;
    let got = c.pushed(resumed, 5).await;
    assert_eq!(got[0].offset, 70);
    assert!(!got.iter().any(|m| m.epoch != epoch));
    // New messages continue the offsets.
    let r = c.produce_to("keep", 0, "after").await;
    assert_eq!(r.offset, 75);
    let pushed = c.pushed(latest, 1).await;
    assert_eq!(
        (pushed[0].offset, value_of(&pushed[0])),
        (75, "after".into())
    );
    gw.term();

    // A graceful stop keeps it too; a wiped directory is a new log with another epoch.
    let gw = Gw::start(&dir, opts, &storage);
    let mut c = gw.client().await;
    assert_eq!(list_offset(&mut c, "keep", 0, -1).await, 76);
    gw.kill();
    std::fs::remove_dir_all(dir.data()).unwrap();
    let gw = Gw::start(&dir, opts, &storage);
    let mut c = gw.client().await;
    c.produce_to("keep", 0, "new").await;
    let now = metadata(&mut c, "keep").await;
    assert_ne!(now.partitions[0].epoch, epoch);
    let id = c
        .subscribe(CmdKafkaSubscribe {
            start_epoch: epoch,
            ..sub_from("keep", Start::Offset(70))
        })
        .await;
    match c.recv_frame().await.resp {
        Some(Resp::KafkaPush(p)) => {
            assert_eq!(p.subscription_id, id);
            assert!(p.reset, "a resume into a wiped log is told");
            assert_eq!(offsets_of(&p.messages), vec![0]);
        }
        other => panic!("expected a push, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_messages_offsets_epochs_and_group_positions_fsync_always() {
    restart_keeps_everything("fsync: always").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_messages_offsets_epochs_and_group_positions_fsync_every_ms() {
    restart_keeps_everything("fsync: { every_ms: 20 }").await;
}

/// Producers on several connections write as fast as they can; the gateway is SIGKILLed at
/// a different moment each round. Every acknowledged message must be there after the restart,
/// offsets contiguous from 0, and the next produce continues right after the last good record.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_heavy_writes_keeps_every_acknowledged_message_over_many_rounds() {
    let dir = Dir::new("sigkill");
    let opts = "partitions: 2, retention_messages: 10000000, retention_bytes: 1000000000,";
    let storage = "segment_bytes: 65536, fsync: always";
    let mut acked: Vec<(i32, i64, String)> = Vec::new();
    for round in 0..8u64 {
        let gw = Gw::start(&dir, opts, storage);
        let mut c = gw.client().await;
        // Everything acknowledged so far is intact.
        let mut stored = [Vec::new(), Vec::new()];
        if round > 0 {
            stored = [
                fetch_all(&mut c, "crash", 0, 0).await,
                fetch_all(&mut c, "crash", 1, 0).await,
            ];
        }
        for (p, msgs) in stored.iter().enumerate() {
            assert_eq!(
                offsets_of(msgs),
                (0..msgs.len() as i64).collect::<Vec<_>>(),
                "round {round}: partition {p} has a hole"
            );
        }
        for (p, offset, value) in &acked {
            let m = stored[*p as usize]
                .get(*offset as usize)
                .unwrap_or_else(|| panic!("round {round}: acknowledged {p}/{offset} lost"));
            assert_eq!(&value_of(m), value, "round {round}: {p}/{offset}");
        }
        if round > 0 {
            let r = c.produce_to("crash", 0, "probe").await;
            assert_eq!(r.offset, stored[0].len() as i64, "offsets continue");
            acked.push((0, r.offset, "probe".into()));
        }
        let got = Arc::new(Mutex::new(Vec::new()));
        let mut writers = Vec::new();
        for w in 0..4 {
            let mut c = gw.client().await;
            let got = got.clone();
            writers.push(tokio::spawn(async move {
                // Raw frames: the connection dropping mid-reply is the expected end here.
                for i in 0.. {
                    let value = format!("r{round}-w{w}-{i}-{}", "p".repeat(300));
                    let frame = PubSubReq {
                        sequence: i + 1,
                        req: Some(Req::CmdKafkaProduce(CmdKafkaProduce {
                            topic: "crash".into(),
                            partition: Some(w % 2),
                            value: Bytes::from(value.clone()),
                            ..Default::default()
                        })),
                    };
                    if c.ws
                        .send(Message::Binary(frame.encode_to_vec().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let Ok(Some(Ok(Message::Binary(b)))) =
                        tokio::time::timeout(Duration::from_secs(5), c.ws.next()).await
                    else {
                        return;
                    };
                    if let Ok(PubSubResp {
                        resp: Some(Resp::KafkaProduceResp(r)),
                        ..
                    }) = PubSubResp::decode(b)
                    {
                        got.lock().unwrap().push((r.partition, r.offset, value));
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(150 + 70 * round)).await;
        // Under a loaded machine the writers may need longer to get going.
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.lock().unwrap().len() < 20 {
            assert!(
                Instant::now() < deadline,
                "round {round}: writers stalled: {}",
                gw.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        gw.kill();
        for w in writers {
            w.await.unwrap();
        }
        let new = std::mem::take(&mut *got.lock().unwrap());
        assert!(!new.is_empty(), "round {round}: nothing was acknowledged");
        acked.extend(new);
    }
    assert!(
        acked.len() > 100,
        "heavy enough: {} acknowledged",
        acked.len()
    );
    eprintln!("{} messages acknowledged over 8 rounds", acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_whole_old_segments_from_disk_by_count_and_age() {
    let dir = Dir::new("retention");
    let opts = "partitions: 1, retention_messages: 100, retention_bytes: 100000000,";
    let storage = "fsync: { every_ms: 10 }, retention_secs: 2";
    let gw = Gw::start(&dir, opts, storage);
    let mut c = gw.client().await;
    for i in 0..1000 {
        // Stamped an hour ahead, so the age limit (2 s) leaves them to the count limit.
        c.produce(CmdKafkaProduce {
            topic: "ret".into(),
            partition: Some(0),
            value: Bytes::from(format!("m{i}")),
            timestamp: now() + 3_600_000,
            ..Default::default()
        })
        .await;
    }
    let earliest = list_offset(&mut c, "ret", 0, -2).await;
    // Segments of 12 messages: between 100 and 112 messages stay.
    assert!((888..=900).contains(&earliest), "earliest {earliest}");
    let files = dir.segments("ret", 0);
    assert!(files.len() <= 10, "{} segment files", files.len());
    let first = c.fetch(fetch_cmd("ret", 0, earliest)).await;
    assert_eq!(value_of(&first[0]), format!("m{earliest}"));
    let (code, _) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd("ret", 0, 0))).await);
    assert_eq!(code, 416);
    gw.kill();
    let gw = Gw::start(&dir, opts, storage);
    let mut c = gw.client().await;
    assert_eq!(list_offset(&mut c, "ret", 0, -2).await, earliest);
    // Age: messages stamped an hour ago go, segment by segment, the last one included.
    for i in 0..30 {
        c.produce(CmdKafkaProduce {
            topic: "old".into(),
            value: Bytes::from(format!("o{i}")),
            timestamp: now() - 3_600_000,
            ..Default::default()
        })
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while list_offset(&mut c, "old", 0, -2).await < 30 {
        assert!(Instant::now() < deadline, "aged messages not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(list_offset(&mut c, "old", 0, -1).await, 30);
    assert_eq!(
        dir.segments("old", 0).len(),
        1,
        "only the empty segment being written"
    );
    assert_eq!(c.produce_to("old", 0, "fresh").await.offset, 30);
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_truncated_logged_once_and_offsets_continue_after_the_last_good_record() {
    let dir = Dir::new("torn");
    let opts = "partitions: 1,";
    let gw = Gw::start(&dir, opts, "fsync: always");
    let mut c = gw.client().await;
    for i in 0..10 {
        c.produce_to("torn", 0, &format!("m{i}")).await;
    }
    gw.kill();
    let seg = dir.segments("torn", 0).pop().unwrap();
    let good_len = std::fs::metadata(&seg).unwrap().len();
    // A frame header promising 200 bytes, then half of them: a write cut short.
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&200u32.to_le_bytes()).unwrap();
    f.write_all(&[0xAB; 104]).unwrap();
    drop(f);
    let gw = Gw::start(&dir, opts, "fsync: always");
    let mut c = gw.client().await;
    let msgs = fetch_all(&mut c, "torn", 0, 0).await;
    assert_eq!(offsets_of(&msgs), (0..10).collect::<Vec<_>>());
    assert_eq!(c.produce_to("torn", 0, "m10").await.offset, 10);
    let log = gw.log();
    assert_eq!(log.matches("torn tail truncated").count(), 1, "{log}");
    assert!(log.contains(&seg.display().to_string()), "{log}");
    gw.kill();
    assert!(std::fs::metadata(&seg).unwrap().len() > good_len);

    // Damage inside the last record (a flipped byte): that record goes, the rest stays.
    let mut bytes = std::fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xFF;
    std::fs::write(&seg, &bytes).unwrap();
    let gw = Gw::start(&dir, opts, "fsync: always");
    let mut c = gw.client().await;
    let msgs = fetch_all(&mut c, "torn", 0, 0).await;
    assert_eq!(msgs.len(), 10, "m10 failed its checksum");
    assert_eq!(value_of(&msgs[9]), "m9");
    assert_eq!(c.produce_to("torn", 0, "again").await.offset, 10);
    assert!(gw.log().contains("checksum mismatch"), "{}", gw.log());
    gw.kill();
    // Once truncated, the next start finds nothing to repair.
    let gw = Gw::start(&dir, opts, "fsync: always");
    let mut c = gw.client().await;
    assert_eq!(list_offset(&mut c, "torn", 0, -1).await, 11);
    assert!(!gw.log().contains("torn tail"), "{}", gw.log());
}

/// A size-limited tmpfs, unmounted when dropped (after the gateway using it has stopped).
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fills a 2 MiB tmpfs through one partition, one produce at a time, then sends a burst
/// without waiting (under `fsync: always` many produces share a round, and a round whose write
/// fails takes its records back out of the log): every produce answered 507 takes no offset,
/// every one answered OK holds the next, and that is exactly what is read back, then and after
/// a restart.
async fn full_disk_answers_507_and_keeps_serving(name: &str, fsync: &str) {
    let dir = Dir::new(name);
    let mnt = dir.data();
    std::fs::create_dir_all(&mnt).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mnt)
        .status()
        .expect("mount runs");
    assert!(status.success(), "mounting a tmpfs needs root");
    let _tmpfs = Tmpfs(mnt.clone());
    let opts = "partitions: 1, retention_messages: 100000000, retention_bytes: 1000000000,";
    let storage = format!("segment_bytes: 65536, {fsync}");
    let gw = Gw::start(&dir, opts, &storage);
    let mut c = gw.client().await;
    let value = "f".repeat(4000);
    let mut stored = 0i64;
    let code = loop {
        let r = c
            .request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "full".into(),
                value: Bytes::from(value.clone()),
                ..Default::default()
            }))
            .await;
        match r {
            Resp::KafkaProduceResp(r) => {
                assert_eq!(r.offset, stored);
                stored += 1;
                assert!(stored < 1000, "2 MiB never filled");
            }
            other => break error_of(other),
        };
    };
    assert_eq!(code.0, 507, "{code:?}");
    assert!(code.1.contains("full"), "{code:?}");
    assert!(stored > 300);
    // A burst of smaller ones, some of which may still fit: offsets only for the stored ones,
    // each holding what its produce sent.
    let burst = |i: usize| format!("burst {i} {}", "b".repeat(i * 100));
    let mut seqs = Vec::new();
    for i in 0..40 {
        let req = Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "full".into(),
            value: Bytes::from(burst(i)),
            ..Default::default()
        });
        seqs.push((i, c.feed(req).await));
    }
    c.flush().await;
    let mut accepted = std::collections::BTreeMap::new();
    for (i, seq) in seqs {
        match c.reply(seq).await {
            Resp::KafkaProduceResp(r) => assert!(accepted.insert(r.offset, i).is_none()),
            other => {
                let (code, msg) = error_of(other);
                assert_eq!(code, 507, "{msg}");
            }
        }
    }
    assert!(accepted.len() < 40, "the disk stayed full");
    let after: Vec<i64> = accepted.keys().copied().collect();
    let want: Vec<i64> = (stored..stored + after.len() as i64).collect();
    assert_eq!(
        after, want,
        "a refused produce left a hole or took an offset"
    );
    for (offset, i) in &accepted {
        let m = c.fetch(fetch_cmd("full", 0, *offset)).await;
        assert_eq!(value_of(&m[0]), burst(*i), "offset {offset}");
    }
    stored += after.len() as i64;
    // Reads go on, and a failed produce took no offset.
    let msgs = fetch_all(&mut c, "full", 0, 0).await;
    assert_eq!(msgs.len() as i64, stored);
    assert_eq!(list_offset(&mut c, "full", 0, -1).await, stored);
    let id = c.subscribe(sub_from("full", Start::Earliest)).await;
    assert_eq!(c.pushed(id, stored as usize).await.len() as i64, stored);
    let (code, _) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "another".into(),
            value: Bytes::from(value.clone()),
            ..Default::default()
        }))
        .await,
    );
    assert!(
        code == 507 || code == 503,
        "new topic on a full disk: {code}"
    );
    gw.kill();
    // After the restart everything stored is there and intact.
    let gw = Gw::start(&dir, opts, &storage);
    let mut c = gw.client().await;
    assert_eq!(fetch_all(&mut c, "full", 0, 0).await, msgs);
    gw.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_answers_507_to_produce_and_reads_keep_working_fsync_always() {
    full_disk_answers_507_and_keeps_serving("full-always", "fsync: always").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_answers_507_to_produce_and_reads_keep_working_fsync_every_ms() {
    full_disk_answers_507_and_keeps_serving("full-every", "fsync: { every_ms: 20 }").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_unreadable_or_shared_directory_refuses_to_start_naming_the_path() {
    let dir = Dir::new("foreign");
    let data = dir.data();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("notes.txt"), "someone else's").unwrap();
    let body = config(free_port(), &data, "", "");
    let (code, log) = start_refused(&dir, &body);
    assert_ne!(code, Some(0));
    assert!(
        log.contains(&data.display().to_string())
            && log.contains("not a pubsub-gateway storage directory"),
        "{log}"
    );
    assert!(
        std::fs::read_dir(&data).unwrap().count() <= 2,
        "nothing written into it"
    );

    // A file where the directory should be.
    let file = dir.0.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (code, log) = start_refused(&dir, &config(free_port(), &file, "", ""));
    assert_ne!(code, Some(0));
    assert!(log.contains(&file.display().to_string()), "{log}");

    // Another format's meta.json.
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("meta.json"),
        "{\"format\":\"other\",\"version\":9}",
    )
    .unwrap();
    let (_, log) = start_refused(&dir, &body);
    assert!(
        log.contains(&data.display().to_string()) && log.contains("format other"),
        "{log}"
    );

    // Two routes on one directory.
    std::fs::remove_dir_all(&data).unwrap();
    let two = format!(
        "{body}  - uri: /e\n    upstream: {{ scheme: embedded, embedded: {{ storage: {{ path: \"{}\" }} }} }}\n",
        data.display()
    );
    let (_, log) = start_refused(&dir, &two);
    assert!(log.contains("in use"), "{log}");
}

#[test]
fn storage_options_parse_and_bad_ones_name_their_key() {
    let route = |s: &str| {
        format!("routes:\n  - uri: /a\n    upstream:\n      scheme: embedded\n      embedded:\n        storage: {s}\n")
    };
    let storage = |c: &pubsub_gateway::Config| match &c.routes[0].upstream.scheme {
        pubsub_gateway::config::SchemeConfig::Embedded(e) => e.storage.clone().unwrap(),
        other => panic!("an embedded route: {other:?}"),
    };
    let c = pubsub_gateway::Config::parse(&route("{ path: /var/lib/gw, fsync: { every_ms: 50 }, segment_bytes: 8192, retention_secs: 60 }"), "t").unwrap();
    let s = storage(&c);
    assert_eq!(s.fsync, pubsub_gateway::config::Fsync::EveryMs(50));
    assert_eq!((s.segment_bytes, s.retention_secs), (8192, 60));
    let c = pubsub_gateway::Config::parse(&route("{ path: /d }"), "t").unwrap();
    let s = storage(&c);
    assert_eq!(
        s.fsync,
        pubsub_gateway::config::Fsync::Always,
        "the default"
    );
    for (bad, key) in [
        ("{ path: /d, fsync: sometimes }", "fsync"),
        ("{ path: /d, fsync: { every_ms: 0 } }", "fsync.every_ms"),
        ("{ path: /d, segment_bytes: 10 }", "segment_bytes"),
        ("{ path: /d, bogus: 1 }", "bogus"),
        ("{ fsync: always }", "path"),
    ] {
        let e = pubsub_gateway::Config::parse(&route(bad), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{bad}: {e}");
    }
}

#[tokio::test]
async fn reload_keeps_a_durable_route_and_refuses_to_open_its_directory_twice() {
    let dir = Dir::new("reload");
    let yaml = |retention: u32| {
        format!(
            "routes:\n  - uri: /d\n    upstream: {{ scheme: embedded, embedded: {{ retention_messages: {retention}, storage: {{ path: \"{}\" }} }} }}\n",
            dir.data().display()
        )
    };
    let gw = Gateway::start(&yaml(100)).await;
    let mut c = gw.connect("/d").await;
    c.produce_to("r", 0, "before").await;
    // Same options: the running backend (and its directory) stays.
    let same = pubsub_gateway::Config::parse(&yaml(100), "t").unwrap();
    gw.handle.reload(same).expect("unchanged route reloads");
    // Other options would open the directory a second time: refused, the old config runs on.
    let other = pubsub_gateway::Config::parse(&yaml(200), "t").unwrap();
    let e = gw.handle.reload(other).unwrap_err();
    assert!(
        e.contains("in use") && e.contains(&dir.data().display().to_string()),
        "{e}"
    );
    assert_eq!(c.produce_to("r", 0, "after").await.offset, 1);
    let mut c2 = gw.connect("/d").await;
    assert_eq!(
        offsets_of(&c2.fetch(fetch_cmd("r", 0, 0)).await),
        vec![0, 1]
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_fsync_always_an_acknowledged_produce_is_readable_at_once() {
    let dir = Dir::new("ack-readable");
    let gw = Gw::start(&dir, "partitions: 1,", "fsync: always");
    let mut c = gw.client().await;
    // The reply comes once the message is on disk, and a message on disk is visible: a fetch
    // sent right after the reply (no wait) finds it. A reply sent before the fsync would race
    // the storage thread and lose some of these.
    for i in 0..200 {
        let r = c.produce_value("seen", &format!("m{i}")).await;
        assert_eq!(r.offset, i);
        let got = c.fetch(fetch_cmd("seen", 0, r.offset)).await;
        assert_eq!(
            got.first().map(|m| m.offset),
            Some(r.offset),
            "produce {i} was acknowledged before it was synced and visible"
        );
    }
    gw.kill();
}

/// A gateway killed with messages delivered and unacknowledged loses none: the group resumes
/// at the lowest unacknowledged offset its acks left on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_redelivers_from_the_lowest_unacknowledged_offset_kept_on_disk() {
    let dir = Dir::new("acks-kill");
    let opts = "partitions: 1,";
    let gw = Gw::start(&dir, opts, "fsync: always");
    let mut c = gw.client().await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            ..sub_from("work", Start::Earliest)
        })
        .await;
    for i in 0..6 {
        c.produce_to("work", 0, &format!("m{i}")).await;
    }
    assert_eq!(offsets_of(&c.pushed(id, 6).await), vec![0, 1, 2, 3, 4, 5]);
    let positions = [0, 1, 2, 4]
        .iter()
        .map(|o| MessagePosition {
            topic: "work".into(),
            partition: 0,
            offset: *o,
            position: String::new(),
        })
        .collect();
    let r = c
        .request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions,
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
    gw.kill();

    let gw = Gw::start(&dir, opts, "fsync: always");
    let mut c = gw.client().await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            ..sub_from("work", Start::Earliest)
        })
        .await;
    let again = c.pushed(id, 3).await;
    assert_eq!(
        offsets_of(&again),
        vec![3, 4, 5],
        "3 was never acknowledged"
    );
    assert_eq!(
        again[0].delivery_attempt, 1,
        "the count is kept in memory: it starts over after a restart"
    );
    drop(gw);
}

#[tokio::test]
async fn idempotency_keys_survive_a_killed_gateway_with_storage_and_a_repeat_is_not_stored_again() {
    let dir = Dir::new("idem-restart");
    let opts = "partitions: 1,";
    let storage = "fsync: always";
    let keyed = |value: &str, key: &str| CmdKafkaProduce {
        topic: "orders".into(),
        value: Bytes::from(value.to_owned()),
        idempotency_key: key.into(),
        ..Default::default()
    };
    let gw = Gw::start(&dir, opts, storage);
    let mut c = gw.client().await;
    let first = c.produce(keyed("a", "key-a")).await;
    let second = c.produce(keyed("b", "key-b")).await;
    gw.kill();

    // The client resends both after the crash: answered with the first positions, not stored.
    let gw = Gw::start(&dir, opts, storage);
    let mut c = gw.client().await;
    assert_eq!(c.produce(keyed("a-resent", "key-a")).await, first);
    assert_eq!(c.produce(keyed("b-resent", "key-b")).await, second);
    let third = c.produce(keyed("c", "key-c")).await;
    assert_eq!(third.offset, second.offset + 1, "a new key stores");
    gw.term();

    // And again after a graceful restart (the journal was compacted on the last start).
    let gw = Gw::start(&dir, opts, storage);
    let mut c = gw.client().await;
    assert_eq!(c.produce(keyed("c-resent", "key-c")).await, third);
    assert_eq!(c.produce(keyed("a-resent", "key-a")).await, first);
    let values: Vec<_> = fetch_all(&mut c, "orders", 0, 0)
        .await
        .iter()
        .map(|m| String::from_utf8_lossy(&m.value).into_owned())
        .collect();
    assert_eq!(values, ["a", "b", "c"], "each key stored once");
    gw.kill();
}
