//! Replays the `plugin_config` fuzz corpus through the target's own code, so
//! that every committed seed and every fixed crash runs in `cargo test`
//! without a fuzzer. The body lives in `fuzz/src/config_target.rs` (the
//! cargo-fuzz crate is its own workspace) and is included here as a module.

#[path = "../../fuzz/src/config_target.rs"]
mod config_target;

#[test]
fn plugin_config_corpus() {
    slipstream_testkit::fuzz::replay("plugin_config", 1, config_target::plugin_config);
}
