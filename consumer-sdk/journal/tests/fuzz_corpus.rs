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

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn journal_segment_corpus() {
    let mut inputs = Vec::new();
    for sub in ["corpus", "artifacts"] {
        let Ok(rd) = std::fs::read_dir(fuzz_dir().join(sub).join("journal_segment")) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_file() {
                inputs.push(p);
            }
        }
    }
    inputs.sort();
    assert!(inputs.len() >= 5, "no corpus for journal_segment");
    let dir = journal_targets::scratch_dir();
    for p in inputs {
        let bytes = std::fs::read(&p).unwrap();
        let run = std::panic::AssertUnwindSafe(|| journal_targets::journal_segment(&dir, &bytes));
        if std::panic::catch_unwind(run).is_err() {
            let _ = std::fs::remove_dir_all(&dir);
            panic!("fuzz target journal_segment fails on {}", p.display());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
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
