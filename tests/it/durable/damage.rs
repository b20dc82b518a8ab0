//! Bit rot after open: a record of a sealed segment damaged while the gateway runs. Fetch
//! answers an error naming it, subscriptions reaching it end with that error (as a Kafka
//! consumer's poll fails on a corrupt record), readers past it go on, and the log says it once.

use super::*;

/// Flips a byte of the stored value starting with `needle`, in place.
fn rot(seg: &std::path::Path, needle: &str) {
    let mut bytes = std::fs::read(seg).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .expect("the value is in the segment");
    bytes[at + needle.len()] ^= 0x40;
    std::fs::write(seg, bytes).unwrap();
}

fn base_of(seg: &std::path::Path) -> i64 {
    seg.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

async fn subscribe_seq(c: &mut Client, cmd: CmdKafkaSubscribe) -> (i64, i64) {
    let seq = c.send(Req::CmdKafkaSubscribe(cmd)).await;
    match c.reply(seq).await {
        Resp::KafkaSubscribeResp(r) => (seq, r.subscription_id),
        other => panic!("expected a subscribe reply, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_rotten_in_a_sealed_segment_fails_fetch_and_ends_subscriptions_naming_it() {
    let dir = Dir::new("rot");
    let storage = "segment_bytes: 4096, cache_messages: 10, fsync: always";
    let gw = Gw::start(&dir, "partitions: 1,", storage);
    let mut c = gw.client().await;
    let pad = "x".repeat(60);
    for i in 0..200 {
        c.produce_to("rot", 0, &format!("m{i:03}-{pad}")).await;
    }
    let segs = dir.segments("rot", 0);
    assert!(segs.len() > 3, "segments rolled: {segs:?}");
    let (base, next_base) = (base_of(&segs[1]), base_of(&segs[2]));
    let bad = base + 3;
    rot(&segs[1], &format!("m{bad:03}-"));

    for _ in 0..3 {
        let seq = c.send(Req::CmdKafkaFetch(fetch_cmd("rot", 0, bad))).await;
        let (code, msg) = error_of(c.reply(seq).await);
        assert_eq!(code, 500, "{msg}");
        let want = format!(
            "failed to fetch message, topic: rot, partition: 0, err: CORRUPT_MESSAGE (offset {bad} is unreadable: damaged record in segment {base:020}.log; the next readable offset is {next_base})"
        );
        assert_eq!(msg, want);
    }
    // Good offsets still read: up to the damage, and from the next readable offset on.
    let got = c.fetch(fetch_cmd("rot", 0, base)).await;
    assert_eq!(offsets_of(&got), (base..bad).collect::<Vec<_>>());
    let got = fetch_all(&mut c, "rot", 0, next_base).await;
    assert_eq!(offsets_of(&got), (next_base..200).collect::<Vec<_>>());

    // EARLIEST, first user of the topic's shared reader: everything before the damage, then
    // the error with the subscribe sequence, then nothing.
    let (seq, id) = subscribe_seq(&mut c, sub_from("rot", Start::Earliest)).await;
    let (code, msg) = error_of(c.reply(seq).await);
    assert_eq!(code, 500, "{msg}");
    assert!(
        msg.contains(&format!("CORRUPT_MESSAGE (offset {bad} ")),
        "{msg}"
    );
    let got = c.pushed_within(id, Duration::from_millis(300)).await;
    assert_eq!(offsets_of(&got), (0..bad).collect::<Vec<_>>());

    // A subscriber resuming past the damage goes on, new messages included: the shared
    // reader moved past it instead of stalling.
    let mut c2 = gw.client().await;
    let (_, id2) = subscribe_seq(&mut c2, sub_from("rot", Start::Offset(next_base))).await;
    let got = c2.pushed(id2, (200 - next_base) as usize).await;
    assert_eq!(offsets_of(&got), (next_base..200).collect::<Vec<_>>());
    // A later EARLIEST subscriber reads alone (behind the reader) and ends the same way.
    let (seq3, id3) = subscribe_seq(&mut c2, sub_from("rot", Start::Earliest)).await;
    let (code, msg) = error_of(c2.reply(seq3).await);
    assert_eq!(code, 500, "{msg}");
    assert!(
        msg.contains(&format!("next readable offset is {next_base}")),
        "{msg}"
    );
    c.produce_to("rot", 0, "after").await;
    let got = c2.pushed(id2, 1).await;
    assert_eq!(offsets_of(&got), vec![200]);
    let got = c2.pushed_within(id3, Duration::from_millis(300)).await;
    assert_eq!(offsets_of(&got), (0..bad).collect::<Vec<_>>());
    assert!(c
        .pushed_within(id, Duration::from_millis(300))
        .await
        .is_empty());

    // Logged once for the segment, however many reads met the damage; no spinning.
    std::thread::sleep(Duration::from_millis(500));
    let log = gw.log();
    assert_eq!(
        log.matches("damaged record in a stored segment").count(),
        1,
        "{log}"
    );
    assert!(log.lines().count() < 50, "{log}");

    // A restart keeps the sealed segment as it is (its index spares the read-through): the
    // same error, and nothing after the damage lost.
    drop((c, c2));
    gw.kill();
    let gw = Gw::start(&dir, "partitions: 1,", storage);
    let mut c = gw.client().await;
    let seq = c.send(Req::CmdKafkaFetch(fetch_cmd("rot", 0, bad))).await;
    let (code, msg) = error_of(c.reply(seq).await);
    assert_eq!(code, 500, "{msg}");
    assert!(
        msg.contains(&format!("CORRUPT_MESSAGE (offset {bad} ")),
        "{msg}"
    );
    let got = fetch_all(&mut c, "rot", 0, next_base).await;
    assert_eq!(offsets_of(&got), (next_base..201).collect::<Vec<_>>());
}
