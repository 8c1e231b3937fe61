//! Test bodies shared by the SQLite and PostgreSQL tests.

use super::*;
use slipstream_consumer::{BlockItem, Consumer, Start};
use slipstream_index::db::{ring_id_text, GapRow};
use std::path::Path;
use std::time::Duration;

/// Small, realistic blocks, so that a ring holds the whole stream.
pub const SMALL: &[&str] = &[
    "--events-per-block",
    "50..400",
    "--stakers",
    "2..20",
    "--block-size",
    "256B..2KiB",
];

fn args<'a>(base: &'a [&'a str], more: &'a [&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

/// A kill -9 loop of the indexer while the node writes, then a full compare.
pub fn kill_loop_matches_reference(url: &str, tag: &str) {
    let ring = slipstream_tests::TempRing::new(tag);
    // Behind at first (catch-up batches), then caught up (one block per transaction).
    sim(
        ring.path(),
        &args(
            SMALL,
            &[
                "--flat-out",
                "--blocks",
                "150",
                "--capacity",
                "64MiB",
                "--seed",
                "7",
            ],
        ),
    );
    let kills = kills();
    let duration = format!("{}ms", kills as u64 * 100 + 500);
    let node = sim_thread(
        ring.path(),
        &args(
            SMALL,
            &["--rate", "100", "--duration", &duration, "--seed", "7"],
        ),
    );
    let (n, while_writing, unsettled) =
        kill_loop(ring.path(), url, kills, node, 0x5eed ^ kills as u64);
    let (ok, err) = index_until_idle(ring.path(), url, &[]);
    assert!(ok, "the final indexer run failed: {err}");
    let mut want = Reference::default();
    want.read_ring(ring.path(), None, None);
    let got = dump(url);
    assert_same(&got, &want.dump());
    assert_eq!(position(url).expect("a position").next_seq, want.next_seq);
    eprintln!(
        "kill loop ({tag}): {n} SIGKILLs, {while_writing} while the node was writing, {unsettled} left unsettled recent rows; {} blocks, {} mapping rows, {} rewards: database == reference",
        got.blocks.len(),
        got.values.len(),
        got.rewards.len()
    );
    assert!(
        while_writing >= n / 2,
        "only {while_writing} of {n} kills happened while the node wrote"
    );
}

/// The first committed block at or after the ring's oldest event: (oldest, its begin_seq).
fn oldest_block(ring: &Path) -> (u64, u64) {
    let mut c = Consumer::builder(ring)
        .start(Start::Oldest)
        .open()
        .expect("attach");
    let oldest = c.next_seq();
    loop {
        match c.next_block(Duration::from_secs(2)).expect("read") {
            Some(BlockItem::Block(b)) => return (oldest, b.begin_seq),
            Some(_) => continue,
            None => panic!("no block in the ring"),
        }
    }
}

/// A restart after the ring lapped the indexer stops naming the exact gap;
/// `--on-gap mark` records it and goes on; a recreated ring is refused.
pub fn lapped_restart_names_the_gap(url: &str, tag: &str) {
    let ring = slipstream_tests::TempRing::new(tag);
    let small_ring = ["--capacity", "1MiB", "--max-event", "64KiB"];
    sim(
        ring.path(),
        &args(SMALL, &args(&small_ring, &["--flat-out", "--blocks", "15"])),
    );
    let (ok, err) = index_until_idle(ring.path(), url, &[]);
    assert!(ok, "first run: {err}");
    let pos = position(url).expect("a position");
    let mut want = Reference::default();
    want.read_ring(ring.path(), None, None);
    assert_eq!(pos.next_seq, want.next_seq);

    // The node goes on while the indexer is down, and laps it many times.
    sim(
        ring.path(),
        &args(SMALL, &["--flat-out", "--blocks", "300"]),
    );
    let (oldest, first_begin) = oldest_block(ring.path());
    assert!(oldest > pos.next_seq, "the ring did not lap the indexer");
    let (ok, err) = index_until_idle(ring.path(), url, &[]);
    assert!(!ok, "the indexer went on over a gap: {err}");
    let expected = format!(
        "the ring no longer holds events #{}..=#{}",
        pos.next_seq,
        oldest - 1
    );
    assert!(
        err.contains(&expected),
        "stderr does not name the gap ({expected}):\n{err}"
    );
    assert_eq!(
        position(url),
        Some(pos),
        "a refused start changed the database"
    );

    let status = indexer()
        .args(["status", "--db", url, "--ring"])
        .arg(ring.path())
        .output()
        .expect("status");
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        status.contains(&format!("GAP: #{}..=#{}", pos.next_seq, oldest - 1)),
        "status: {status}"
    );

    let (ok, err) = index_until_idle(ring.path(), url, &["--on-gap", "mark"]);
    assert!(ok, "--on-gap mark: {err}");
    want.read_ring(ring.path(), None, None);
    let mut expect = want.dump();
    expect.gaps.push(GapRow {
        ring_id: ring_id_text(pos.ring_id),
        first_seq: pos.next_seq,
        last_seq: Some(first_begin - 1),
        reason: "not retained by the ring at start".into(),
    });
    assert_same(&dump(url), &expect);

    // A new ring at the same path: detected, reported, nothing written.
    let before = position(url);
    std::fs::remove_file(ring.path()).expect("remove the ring");
    sim(
        ring.path(),
        &args(SMALL, &args(&small_ring, &["--flat-out", "--blocks", "3"])),
    );
    let (ok, err) = index_until_idle(ring.path(), url, &[]);
    assert!(
        !ok && err.contains("ring changed"),
        "a recreated ring was not reported: {err}"
    );
    assert!(err.contains(&ring_id_text(pos.ring_id)), "{err}");
    assert_eq!(position(url), before);

    // --on-gap mark: the old ring's unread rest is recorded (no known end), the new ring indexed.
    let (ok, err) = index_until_idle(ring.path(), url, &["--on-gap", "mark"]);
    assert!(ok, "{err}");
    let before = before.expect("a position");
    let after = position(url).expect("a position");
    let new_id = slipstream_index::source::identity(ring.path())
        .expect("identity")
        .ring_id;
    assert_eq!(
        (after.ring_id, after.next_seq),
        (new_id, slipstream_tests::next_seq(ring.path()))
    );
    let gaps = dump(url).gaps;
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    assert_eq!(
        (
            gaps[1].ring_id.as_str(),
            gaps[1].first_seq,
            gaps[1].last_seq
        ),
        (ring_id_text(before.ring_id).as_str(), before.next_seq, None)
    );
    assert!(gaps[1].reason.contains("ring replaced"), "{gaps:?}");
}
