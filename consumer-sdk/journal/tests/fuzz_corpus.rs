//! Replays the `journal_segment` fuzz corpus through the target's own code
//! (`fuzz/src/journal_targets.rs`, included with `#[path]`), so that every
//! committed seed and fixed crash runs in `cargo test` without a fuzzer.
//! Inputs: every file of `fuzz/corpus/journal_segment/` and, if present,
//! `fuzz/artifacts/journal_segment/`.
//!
//! `generate_seed_corpus` (ignored) rewrites the seeds from the writer.

#[allow(dead_code)]
#[path = "../../../fuzz/src/journal_targets.rs"]
mod journal_targets;

use std::path::PathBuf;

fn fuzz_dir() -> PathBuf {
    slipstream_testkit::fuzz::fuzz_dir()
}

#[test]
fn journal_segment_corpus() {
    let dir = journal_targets::scratch_dir();
    /// Removes the scratch directory also when the replay fails.
    struct Scratch(PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _scratch = Scratch(dir.clone());
    slipstream_testkit::fuzz::replay("journal_segment", 5, |bytes| {
        journal_targets::journal_segment(&dir, bytes)
    });
}

/// Writes the seed corpus from real journals: `cargo test -p slipstream-journal
/// --test fuzz_corpus -- --ignored`.
#[test]
#[ignore]
fn generate_seed_corpus() {
    use slipstream_journal::{JournalWriter, WriterOptions};
    let out = fuzz_dir().join("corpus/journal_segment");
    std::fs::create_dir_all(&out).unwrap();
    let tmp = std::env::temp_dir().join(format!("slipstream-journal-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (mut w, _) = JournalWriter::open(&tmp, WriterOptions::default()).unwrap();
    let mut seq = 1000;
    for h in 0..4u64 {
        let mut p = h.to_le_bytes().to_vec();
        p.extend_from_slice(&[0, 0, 0, 0, 2, 0, 0, 0]);
        w.append(seq, 5, &p).unwrap();
        seq += 1;
        for o in 1..=2u32 {
            let mut e = h.to_le_bytes().to_vec();
            e.extend_from_slice(&o.to_le_bytes());
            e.extend_from_slice(&vec![o as u8; 7 * o as usize]);
            w.append(seq, 1, &e).unwrap();
            seq += 1;
        }
        if h == 1 {
            w.append_gap(seq, seq + 4).unwrap();
            seq += 5;
        }
    }
    drop(w);
    let seg = std::fs::read(tmp.join(slipstream_journal::format::segment_name(1000))).unwrap();
    let idx = std::fs::read(tmp.join(slipstream_journal::format::index_name(1000))).unwrap();
    std::fs::write(out.join("seed-valid"), &seg).unwrap();
    std::fs::write(out.join("seed-torn"), &seg[..seg.len() - 11]).unwrap();
    let mut flipped = seg.clone();
    flipped[64 + 30] ^= 0x40;
    std::fs::write(out.join("seed-bad-checksum"), &flipped).unwrap();
    std::fs::write(out.join("seed-header-only"), &seg[..64]).unwrap();
    std::fs::write(out.join("seed-index"), &idx).unwrap();
    let mut huge = seg[..64].to_vec();
    huge.extend_from_slice(&[
        0xff, 0xff, 0xff, 0x3f, 1, 0, 0, 0, 0xe8, 3, 0, 0, 0, 0, 0, 0,
    ]);
    std::fs::write(out.join("seed-huge-len"), &huge).unwrap();
    std::fs::remove_dir_all(&tmp).unwrap();
}
