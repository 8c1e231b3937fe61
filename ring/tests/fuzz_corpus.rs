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

use slipstream_testkit::fuzz::replay;

#[test]
fn event_decode_corpus() {
    replay("event_decode", 1, ring_targets::event_decode);
}

#[test]
fn header_validate_corpus() {
    replay("header_validate", 1, ring_targets::header_validate);
}

#[test]
fn reader_walk_corpus() {
    let file = ring_targets::scratch_file();
    replay("reader_walk", 1, |bytes| {
        ring_targets::reader_walk(&file, bytes)
    });
}
