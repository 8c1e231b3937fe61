//! Replays the fuzz corpus of the ring's targets through the targets' own code,
//! so that every committed seed and every fixed crash runs in `cargo test`,
//! without a fuzzer or libFuzzer.
//!
//! The target bodies live in `fuzz/src/ring_targets.rs` (the cargo-fuzz crate,
//! which is its own workspace); this test includes that file as a module, so
//! the fuzzer and this test cannot drift apart. Inputs: every file in
//! `fuzz/corpus/<target>/` and, if present, `fuzz/artifacts/<target>/`
//! (crashes a local fuzzing run found).
#![cfg(not(loom))]

#[allow(dead_code)]
#[path = "../../fuzz/src/ring_targets.rs"]
mod ring_targets;

use std::path::{Path, PathBuf};

/// The files of `fuzz/corpus/<target>` (at least one) and `fuzz/artifacts/<target>`.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no corpus for fuzz target {target}");
    out
}

/// Runs `body` on every input of `target`, naming the input that fails.
fn replay(target: &str, body: impl Fn(&[u8])) {
    for (path, bytes) in inputs(target) {
        let run = std::panic::AssertUnwindSafe(|| body(&bytes));
        if std::panic::catch_unwind(run).is_err() {
            panic!("fuzz target {target} fails on {}", path.display());
        }
    }
}

#[test]
fn event_decode_corpus() {
    replay("event_decode", ring_targets::event_decode);
}

#[test]
fn header_validate_corpus() {
    replay("header_validate", ring_targets::header_validate);
}

#[test]
fn reader_walk_corpus() {
    let file = ring_targets::scratch_file();
    replay("reader_walk", |bytes| {
        ring_targets::reader_walk(&file, bytes)
    });
}
