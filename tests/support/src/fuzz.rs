//! Replays a fuzz target's corpus through the target's own body, so that
//! every committed seed and every fixed crash runs in `cargo test`, without a
//! fuzzer or libFuzzer.
//!
//! The bodies live in `fuzz/src/` (the cargo-fuzz crate is its own workspace);
//! a test includes the body's file with `#[path]` and hands it to [`replay`].

use std::path::{Path, PathBuf};

/// The repository's `fuzz/` directory.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `fuzz/corpus/<target>/` and, if present,
/// `fuzz/artifacts/<target>/` (crashes a local fuzzing run found), sorted.
///
/// # Panics
///
/// If there are fewer than `at_least` (a missing corpus is a failure, not an
/// empty pass), or a file cannot be read.
pub fn inputs(target: &str, at_least: usize) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = fuzz_dir();
    let mut out = Vec::new();
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_file() {
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= at_least.max(1),
        "{} inputs for fuzz target {target} in {} (at least {} expected)",
        out.len(),
        fuzz.display(),
        at_least.max(1)
    );
    out
}

/// Runs `body` on every input of `target` (at least `at_least` of them).
///
/// # Panics
///
/// On the first input `body` panics on, naming the input's file.
pub fn replay(target: &str, at_least: usize, body: impl Fn(&[u8])) {
    for (path, bytes) in inputs(target, at_least) {
        let run = std::panic::AssertUnwindSafe(|| body(&bytes));
        if std::panic::catch_unwind(run).is_err() {
            panic!("fuzz target {target} fails on {}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "0 inputs for fuzz target no_such_target")]
    fn a_missing_corpus_fails() {
        replay("no_such_target", 1, |_| {});
    }

    #[test]
    #[should_panic(expected = "fuzz target event_decode fails on")]
    fn a_failing_input_is_named() {
        replay("event_decode", 1, |_| panic!("boom"));
    }
}
