//! `slipstream-tail --journal DIR`: `--from` reaches back to the journal's
//! first event; a start older than the journal is a clear error.

use std::path::PathBuf;
use std::process::Command;

use slipstream_journal::{JournalWriter, WriterOptions};
use slipstream_producer::{Layout, Producer, ProducerOptions};
use slipstream_ring::{Item, Reader, Start};

struct Scratch {
    ring: PathBuf,
    dir: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ring);
        slipstream_ring::sidecar::remove_all(&self.ring);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A 64 KiB ring overwritten many times, and a journal of it from `journal_from` on.
fn setup(tag: &str, journal_from: u64) -> (Scratch, u64) {
    let id = format!("slipstream-tail-journal-{tag}-{}", std::process::id());
    let s = Scratch {
        ring: PathBuf::from(format!("/dev/shm/{id}")),
        dir: std::env::temp_dir().join(id),
    };
    let _ = std::fs::remove_file(&s.ring);
    let _ = std::fs::remove_dir_all(&s.dir);
    let mut p = Producer::open(
        &s.ring,
        ProducerOptions {
            layout: Layout::new(1 << 16),
            ..Default::default()
        },
    )
    .unwrap();
    let (mut w, _) = JournalWriter::open(&s.dir, WriterOptions::default()).unwrap();
    let file = std::fs::File::open(&s.ring).unwrap();
    let mut r = Reader::attach(&file, Start::Oldest).unwrap();
    for h in 1..=200u64 {
        p.begin_block(h).unwrap();
        for _ in 0..10 {
            p.mapping_update(b"credits.aleo", b"account", &h.to_le_bytes(), &[1; 40])
                .unwrap();
        }
        p.commit_block().unwrap();
        while let Some(item) = r.try_next().unwrap() {
            let Item::Record(x) = item else {
                panic!("the journal's reader was lapped")
            };
            if x.seq >= journal_from {
                w.append(x.seq, x.kind, x.payload).unwrap();
            }
        }
    }
    let last = p.next_seq() - 1;
    (s, last)
}

fn tail(s: &Scratch, from: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_slipstream-tail"))
        .arg(&s.ring)
        .arg("--journal")
        .arg(&s.dir)
        .args(["--from", from, "--no-follow", "--json"])
        .output()
        .unwrap()
}

fn seqs(out: &std::process::Output) -> Vec<u64> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v.get("lagged").is_none(), "no lag: {l}");
            v["seq"].as_u64().unwrap()
        })
        .collect()
}

#[test]
fn from_reaches_back_to_the_journals_first_event() {
    let (s, last) = setup("back", 1);
    let ring_oldest = {
        let file = std::fs::File::open(&s.ring).unwrap();
        Reader::attach(&file, Start::Oldest).unwrap().next_seq()
    };
    assert!(ring_oldest > 1000, "the ring was overwritten");
    let all: Vec<u64> = (1..=last).collect();
    for from in ["oldest", "1"] {
        let out = tail(&s, from);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(seqs(&out), all, "--from {from}");
    }
    // height:2: block 2's begin marker is #13 (12 records per block).
    let out = tail(&s, "height:2");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(seqs(&out), (13..=last).collect::<Vec<_>>());
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(
        (first["kind"].as_str(), first["block_height"].as_u64()),
        (Some("block_begin"), Some(2))
    );
}

#[test]
fn a_start_older_than_the_journal_names_the_oldest_available() {
    // The journal starts at #121: block 11's begin marker.
    let (s, _) = setup("older", 121);
    for from in ["5", "height:3"] {
        let out = tail(&s, from);
        assert_eq!(out.status.code(), Some(1), "--from {from}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("oldest event is #121 at block height 11"),
            "--from {from}: {err}"
        );
    }
}

#[test]
fn stat_shows_the_journals_range_and_lag() {
    // The journal holds #121 on; the ring goes on to `last`.
    let (s, last) = setup("stat", 121);
    let out = Command::new(env!("CARGO_BIN_EXE_slipstream"))
        .arg("stat")
        .arg(&s.ring)
        .arg("--journal")
        .arg(&s.dir)
        .args(["--interval", "0s"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expect = format!("seq 121..={last}, heights 11..=200, 1 segments");
    assert!(
        text.contains(&expect) && text.contains("behind the ring by 0 events"),
        "{text}"
    );
}
