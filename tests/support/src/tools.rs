//! The workspace's binaries, and command lines for the tools' usual calls.
//!
//! `cargo test --workspace` builds every binary before it runs any test; a
//! package's own integration tests get its binaries built first as well.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's target directory for the profile these tests were built in.
///
/// # Panics
///
/// If the test binary is not at `target/<profile>/deps/<binary>`.
pub fn target_dir() -> PathBuf {
    // target/<profile>/deps/<test-binary>: two levels up from the binary.
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .to_path_buf()
}

/// The path of workspace binary `name`, built in the same profile.
///
/// # Panics
///
/// If it is not built, saying how to build it.
pub fn workspace_bin(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.exists(),
        "{} is not built: run the tests with `cargo test --workspace` (or build it with `cargo build -p slipstream-tools`)",
        p.display()
    );
    p
}

/// `slipstream-sim RING ARGS...`
pub fn sim(ring: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(workspace_bin("slipstream-sim"));
    c.arg(ring).args(args);
    c
}

/// `slipstream-tail RING ARGS...`
pub fn tail(ring: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(workspace_bin("slipstream-tail"));
    c.arg(ring).args(args);
    c
}

/// `slipstream stat RING ARGS...`
pub fn stat(ring: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(workspace_bin("slipstream"));
    c.arg("stat").arg(ring).args(args);
    c
}

/// The first of `dirs` (in order) that holds every one of `tools` as a file.
///
/// # Panics
///
/// If none does: names the tools and says how to install them
/// (`bash tests/install-deps.sh`), so that a test that needs them fails
/// rather than passing silently.
pub fn find_system_tool(tools: &[&str], dirs: impl IntoIterator<Item = PathBuf>) -> PathBuf {
    dirs.into_iter()
        .find(|d| tools.iter().all(|t| d.join(t).is_file()))
        .unwrap_or_else(|| {
            panic!(
                "{} not installed (looked on PATH and in the usual places): run `bash tests/install-deps.sh`",
                tools.join(" and ")
            )
        })
}

/// The directories of `PATH`, in order.
pub fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}
