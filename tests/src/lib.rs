//! Helpers for Slipstream's cross-process and fault tests (see `tests/tests/`).
//!
//! Every multi-process test holds its children and files in guards that kill,
//! reap and remove them when dropped, so that a failing test leaves nothing
//! behind. What does not need the project's crates (the generator, child
//! guards, the tools' command lines, servers) is in `slipstream-testkit`,
//! re-exported here under the names the tests have always used.

pub use slipstream_testkit::process::ChildGuard;
pub use slipstream_testkit::server::{nats_server_bin, NatsServer, PgServer, TempDir};
pub use slipstream_testkit::tools::{target_dir, workspace_bin};
pub use slipstream_testkit::{process, rng, tools};

use std::path::{Path, PathBuf};

/// A ring path under /dev/shm, unique to this process and tag, removed on drop.
pub struct TempRing(pub PathBuf);

impl TempRing {
    /// A fresh, unused path.
    pub fn new(tag: &str) -> TempRing {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = PathBuf::from(format!(
            "/dev/shm/slipstream-tests-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&p);
        TempRing(p)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempRing {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        // The ring's sidecars (lock, wake file, readers directory).
        slipstream_ring::sidecar::remove_all(&self.0);
    }
}

/// The sequence number the next event of the ring at `path` will carry (what
/// a consumer attached at the end sees).
pub fn next_seq(path: &Path) -> u64 {
    slipstream_consumer::Consumer::builder(path)
        .start(slipstream_consumer::Start::End)
        .open()
        .unwrap_or_else(|e| panic!("attach to {}: {e}", path.display()))
        .next_seq()
}

/// Waits (at most 60 s) until the ring at `path` exists and a consumer can
/// attach to it.
pub fn wait_for_ring(path: &Path) {
    slipstream_consumer::Consumer::builder(path)
        .wait_for_ring(std::time::Duration::from_secs(60))
        .open()
        .unwrap_or_else(|e| panic!("ring {} never appeared: {e}", path.display()));
}

pub mod faults;
