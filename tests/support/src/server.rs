//! Servers and directories of a test's own: started on a random port or a
//! Unix socket in a fresh temporary directory, stopped and removed when
//! dropped, also when the test fails. A test whose server is not installed
//! fails, saying how to install it.

use crate::process::ChildGuard;
use crate::tools::{find_system_tool, path_dirs};
use std::path::{Path, PathBuf};

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
        find_system_tool(&["initdb", "pg_ctl"], path_dirs().into_iter().chain(debian))
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

/// A temporary directory, removed (with its contents) on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory under the system's temp dir.
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("slipstream-tests-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        TempDir(p)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `nats-server` binary: on PATH, or Debian's `/usr/sbin/nats-server`.
/// Panics with how to install it when it is missing (a test that needs it
/// fails; it never passes silently).
pub fn nats_server_bin() -> PathBuf {
    find_system_tool(
        &["nats-server"],
        path_dirs().into_iter().chain([PathBuf::from("/usr/sbin")]),
    )
    .join("nats-server")
}

/// A `nats-server` with JetStream of this test's own: loopback, a random
/// port (read from its ports file), a store in a temporary directory. Killed
/// (SIGKILL) and its directory removed on drop, even when the test fails.
pub struct NatsServer {
    child: Option<ChildGuard>,
    /// Store and ports-file directory.
    pub dir: TempDir,
    /// The client port.
    pub port: u16,
    extra: Vec<String>,
}

impl NatsServer {
    /// Starts a server with JetStream.
    pub fn start() -> NatsServer {
        NatsServer::start_with(&[])
    }

    /// Starts a server with JetStream and extra arguments (e.g. `--user`, `--pass`).
    pub fn start_with(extra: &[&str]) -> NatsServer {
        let mut s = NatsServer {
            child: None,
            dir: TempDir::new("nats"),
            port: 0,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.launch(None);
        s
    }

    fn launch(&mut self, port: Option<u16>) {
        let ports_dir = self.dir.path().join("ports");
        let _ = std::fs::remove_dir_all(&ports_dir);
        std::fs::create_dir_all(&ports_dir).expect("ports dir");
        let port_arg = port.map_or("-1".to_string(), |p| p.to_string());
        let child = std::process::Command::new(nats_server_bin())
            .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
            .arg(self.dir.path().join("store"))
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .args(&self.extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start nats-server: {e}"));
        let pid = child.id();
        let mut guard = ChildGuard::new(child);
        let ports_file = ports_dir.join(format!("nats-server_{pid}.ports"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&ports_file) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                    let url = v["nats"][0]
                        .as_str()
                        .or(v["client"][0].as_str())
                        .unwrap_or_default()
                        .to_string();
                    if let Some(p) = url.rsplit(':').next().and_then(|p| p.parse().ok()) {
                        break p;
                    }
                }
            }
            if let Some(status) = guard.0.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("nats-server exited at start ({status}); is port {port_arg} taken?");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server wrote no ports file {} within 20 s",
                ports_file.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        self.port = port;
        self.child = Some(guard);
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server with SIGKILL (its store stays).
    pub fn kill(&mut self) {
        self.child = None; // the guard kills and reaps
    }

    /// Starts it again on the same port and store (after [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port;
        self.launch(Some(port));
    }
}
