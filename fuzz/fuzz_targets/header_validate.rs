#![no_main]
//! Fuzz target `header_validate`: see `slipstream_fuzz::ring_targets::header_validate`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slipstream_fuzz::ring_targets::header_validate(data));
