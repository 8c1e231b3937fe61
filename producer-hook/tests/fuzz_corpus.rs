//! Replays the `plugin_config` fuzz corpus through the target's own code, so
//! that every committed seed and every fixed crash runs in `cargo test`
//! without a fuzzer. The body lives in `fuzz/src/config_target.rs` (the
//! cargo-fuzz crate is its own workspace) and is included here as a module.

#[path = "../../fuzz/src/config_target.rs"]
mod config_target;

use std::path::Path;

#[test]
fn plugin_config_corpus() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = Vec::new();
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join("plugin_config")) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_file() {
                inputs.push(path);
            }
        }
    }
    inputs.sort();
    assert!(
        !inputs.is_empty(),
        "no corpus for fuzz target plugin_config"
    );
    for path in inputs {
        let bytes = std::fs::read(&path).unwrap();
        let run = std::panic::AssertUnwindSafe(|| config_target::plugin_config(&bytes));
        if std::panic::catch_unwind(run).is_err() {
            panic!("fuzz target plugin_config fails on {}", path.display());
        }
    }
}
