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

/// A PostgreSQL server of a test's own: `initdb` into a fresh temp dir, then
/// `pg_ctl start` listening only on a Unix socket in that dir. Stopped
/// (`pg_ctl stop -m immediate`) and removed when dropped, also when the test
/// fails. As root, the server runs as the `postgres` user (initdb refuses root).
pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
}

impl PgServer {
    /// Where `initdb` and `pg_ctl` are: on PATH, or Debian's
    /// `/usr/lib/postgresql/*/bin` (newest first). Panics, saying how to
    /// install them, if neither has them.
    pub fn bin_dir() -> PathBuf {
        let on_path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default();
        let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
            .unwrap_or_default();
        debian.sort_by_key(|p| {
            std::cmp::Reverse(
                p.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0),
            )
        });
        on_path
            .into_iter()
            .chain(debian)
            .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
            .unwrap_or_else(|| {
                panic!(
                    "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin): run `bash tests/install-deps.sh`"
                )
            })
    }

    /// Starts a server; `settings` are extra `-c name=value` server settings
    /// (e.g. `("fsync", "off")` for tests that do not test power loss).
    pub fn start(tag: &str, settings: &[(&str, &str)]) -> PgServer {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("slipstream-pg-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the server's temp dir");
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name("postgres")
                .ok()
                .flatten()
                .unwrap_or_else(|| {
                    panic!("running as root, PostgreSQL needs the `postgres` user to run as: run `bash tests/install-deps.sh`")
                });
            nix::unistd::chown(&dir, Some(user.uid), Some(user.gid)).expect("chown the temp dir");
            Some((user.uid.as_raw(), user.gid.as_raw()))
        } else {
            None
        };
        let server = PgServer {
            dir,
            bin: Self::bin_dir(),
            run_as,
        };
        let data = server.dir.join("data");
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        let mut opts = format!("-k {} -c listen_addresses=", server.dir.display());
        for (k, v) in settings {
            opts.push_str(&format!(" -c {k}={v}"));
        }
        let log = server.dir.join("log");
        server.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-o".as_ref(),
                opts.as_ref(),
                "start".as_ref(),
            ],
        );
        server
    }

    fn command(&self, tool: &str) -> std::process::Command {
        let exe = self.bin.join(tool);
        let mut cmd = match self.run_as {
            Some((uid, gid)) => {
                let mut c = std::process::Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg(exe);
                c
            }
            None => std::process::Command::new(exe),
        };
        cmd.current_dir(&self.dir);
        cmd
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) {
        let out = self.command(tool).args(args).output().unwrap_or_else(|e| {
            panic!("run {tool} (setpriv is in util-linux: `bash tests/install-deps.sh`): {e}")
        });
        assert!(
            out.status.success(),
            "{tool} failed ({}): {}{}\nserver log: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    /// The socket directory.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// A `postgres://` URL of database `db` (superuser `postgres`, Unix socket).
    pub fn url(&self, db: &str) -> String {
        format!("postgres:///{db}?host={}&user=postgres", self.dir.display())
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        if data.join("postmaster.pid").exists() {
            let _ = self
                .command("pg_ctl")
                .args([
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-m".as_ref(),
                    "immediate".as_ref(),
                    "-w".as_ref(),
                    "stop".as_ref(),
                ])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
