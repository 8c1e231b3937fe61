//! The body of the `plugin_config` fuzz target.
//!
//! Shared, like `ring_targets.rs`, by the cargo-fuzz binary and the replay test
//! `producer-hook/tests/fuzz_corpus.rs` (which includes this file with
//! `#[path]`), so it uses only `std` and `slipstream_producer`.

use slipstream_producer::PluginConfig;
use std::path::Path;

/// `PluginConfig::parse` on arbitrary UTF-8, and `options` on what parses:
/// errors are fine (they are how a bad config is reported), panics are bugs;
/// options that are accepted must describe a valid ring layout and mode.
pub fn plugin_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = PluginConfig::parse(text) else {
        return;
    };
    let Ok((path, options)) = config.options(Path::new("/etc/slipstream")) else {
        return;
    };
    assert!(
        !path.as_os_str().is_empty() || config.ring.is_empty(),
        "{config:?}"
    );
    assert!(
        options.layout.geometry().is_ok(),
        "{config:?} gave {options:?}"
    );
    assert!(
        options.mode <= 0o777,
        "{config:?} gave mode {:o}",
        options.mode
    );
}
