#![no_main]
//! Fuzz target `journal_segment`: see `slipstream_fuzz::journal_targets::journal_segment`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local!(static DIR: std::path::PathBuf = slipstream_fuzz::journal_targets::scratch_dir());
    DIR.with(|d| slipstream_fuzz::journal_targets::journal_segment(d, data))
});
