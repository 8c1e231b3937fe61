//! Helpers for Slipstream's cross-process and fault tests (see `tests/tests/`).
//!
//! Every multi-process test holds its children and files in guards that kill,
//! reap and remove them when dropped, so that a failing test leaves nothing
//! behind.
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::path::{Path, PathBuf};
use std::process::Child;

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

/// A child process that is killed (SIGKILL) and reaped when dropped.
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    /// Guards `child`.
    pub fn new(child: Child) -> ChildGuard {
        ChildGuard(Some(child))
    }

    /// The child's pid.
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.0.as_ref().expect("child present").id() as i32)
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(self.pid(), signal);
    }

    /// Waits for the child to exit, at most `limit`; panics (and the guard
    /// then kills it) if it does not, naming `what`.
    pub fn wait_timeout(
        &mut self,
        limit: std::time::Duration,
        what: &str,
    ) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let child = self.0.as_mut().expect("child present");
            if let Some(status) = child.try_wait().expect("wait for child") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what} did not exit within {limit:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Takes the child out of the guard (to wait for its output).
    pub fn take(mut self) -> Child {
        self.0.take().expect("child present")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
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

/// The workspace's target directory for the profile these tests were built in.
pub fn target_dir() -> PathBuf {
    // tests/target/<profile>/deps/<test-binary>: two levels up from deps.
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .to_path_buf()
}

/// The path of a workspace binary built in the same profile (`cargo test
/// --workspace` builds every binary before running any test).
pub fn workspace_bin(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.exists(),
        "{} is not built: run the tests with `cargo test --workspace` (or build it with `cargo build -p slipstream-tools`)",
        p.display()
    );
    p
}
