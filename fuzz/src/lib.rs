//! The bodies of Slipstream's fuzz targets.
//!
//! Each lives in its own file so that the main workspace's tests can include
//! it with `#[path]` and replay the corpus through the same code without
//! building libFuzzer: `ring/tests/fuzz_corpus.rs` and
//! `producer-hook/tests/fuzz_corpus.rs` and
//! `consumer-sdk/journal/tests/fuzz_corpus.rs`. See `README.md`.

pub mod config_target;
pub mod journal_targets;
pub mod ring_targets;
