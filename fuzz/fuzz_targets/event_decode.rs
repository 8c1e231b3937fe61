#![no_main]
//! Fuzz target `event_decode`: see `slipstream_fuzz::ring_targets::event_decode`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slipstream_fuzz::ring_targets::event_decode(data));
