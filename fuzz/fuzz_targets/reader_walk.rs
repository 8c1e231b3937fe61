#![no_main]
//! Fuzz target `reader_walk`: see `slipstream_fuzz::ring_targets::reader_walk`.
//! One scratch ring file per process, rewritten with `pwrite` for each input.

use libfuzzer_sys::fuzz_target;
use std::fs::File;
use std::sync::OnceLock;

static FILE: OnceLock<File> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let file = FILE.get_or_init(slipstream_fuzz::ring_targets::scratch_file);
    slipstream_fuzz::ring_targets::reader_walk(file, data);
});
