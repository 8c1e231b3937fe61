#![no_main]
//! Fuzz target `plugin_config`: see `slipstream_fuzz::config_target::plugin_config`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slipstream_fuzz::config_target::plugin_config(data));
