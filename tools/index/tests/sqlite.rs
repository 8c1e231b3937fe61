//! The indexer against SQLite: kill -9 loop, lapped restart, a database
//! that refuses writes (file size limit, read-only to the indexer's user).

mod common;
use common::scenarios;

use common::*;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn kill_loop_sqlite() {
    let dir = TempDir::new("kill");
    scenarios::kill_loop_matches_reference(&dir.sqlite_url(), "index-kill-sqlite");
}

#[test]
fn lapped_restart_sqlite() {
    let dir = TempDir::new("lapped");
    scenarios::lapped_restart_names_the_gap(&dir.sqlite_url(), "index-lapped-sqlite");
}

/// Disk full: the indexer's file size limit (RLIMIT_FSIZE) stops it mid-way;
/// it exits with a clear error, what it committed is a whole prefix of the
/// stream, and a retry without the limit completes it.
#[test]
fn disk_full_sqlite_loses_nothing() {
    let dir = TempDir::new("full");
    let url = dir.sqlite_url();
    let ring = slipstream_tests::TempRing::new("index-full");
    let mut a = scenarios::SMALL.to_vec();
    a.extend(["--flat-out", "--blocks", "300", "--capacity", "64MiB"]);
    sim(ring.path(), &a);
    let mut cmd = indexer();
    cmd.arg(ring.path())
        .args([
            "--db",
            &url,
            "--exit-when-idle",
            "400ms",
            "-q",
            "--batch-blocks",
            "10",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec only async-signal-safe calls are made
    // (setrlimit, signal), touching no lock and allocating nothing.
    unsafe {
        cmd.pre_exec(|| {
            let lim = nix::libc::rlimit {
                rlim_cur: 2 << 20,
                rlim_max: 2 << 20,
            };
            if nix::libc::setrlimit(nix::libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // A write past the limit fails with EFBIG instead of killing the process.
            nix::libc::signal(nix::libc::SIGXFSZ, nix::libc::SIG_IGN);
            Ok(())
        });
    }
    let mut guard = slipstream_tests::ChildGuard::new(cmd.spawn().expect("spawn"));
    guard.wait_timeout(Duration::from_secs(60), "slipstream-index");
    let out = guard.take().wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the indexer did not notice the full disk: {err}"
    );
    assert!(
        err.contains("database: SQLite")
            && err.contains("nothing of the failed transaction was kept"),
        "unclear error: {err}"
    );
    eprintln!("disk full: {}", err.trim());
    let pos = position(&url).expect("some batches were committed before the limit");
    let mut prefix = Reference::default();
    prefix.read_ring(ring.path(), None, Some(pos.next_seq));
    assert_eq!(prefix.next_seq, pos.next_seq);
    assert_same(&dump(&url), &prefix.dump());

    let (ok, err) = index_until_idle(ring.path(), &url, &[]);
    assert!(ok, "retry: {err}");
    let mut want = Reference::default();
    want.read_ring(ring.path(), None, None);
    assert!(
        want.next_seq > pos.next_seq,
        "the limit did not stop the indexer before the end"
    );
    assert_same(&dump(&url), &want.dump());
}

/// A database the indexer's user may not write: a clear error, nothing
/// changed, and a retry by its owner completes it.
#[test]
fn read_only_sqlite_loses_nothing() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test drops privileges with setpriv: run it as root (CI does)"
    );
    let dir = TempDir::new("ro");
    let url = dir.sqlite_url();
    let ring = slipstream_tests::TempRing::new("index-ro");
    let mut a = scenarios::SMALL.to_vec();
    a.extend(["--flat-out", "--blocks", "40", "--mode", "644"]);
    sim(ring.path(), &a);
    let (ok, err) = index_until_idle(ring.path(), &url, &[]);
    assert!(ok, "{err}");
    let pos = position(&url).expect("position");
    sim(ring.path(), &a[..a.len() - 2]);
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_slipstream-index"))
        .arg(ring.path())
        .args(["--db", &url, "--exit-when-idle", "400ms", "-q"])
        .output()
        .expect("setpriv (util-linux: `bash tests/install-deps.sh`)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "wrote a read-only database? {err}");
    assert!(
        err.contains("readonly database") || err.contains("unable to open"),
        "unclear error: {err}"
    );
    eprintln!("read-only: {}", err.trim());
    assert_eq!(position(&url), Some(pos));

    let (ok, err) = index_until_idle(ring.path(), &url, &[]);
    assert!(ok, "retry: {err}");
    let mut want = Reference::default();
    want.read_ring(ring.path(), None, None);
    assert!(want.next_seq > pos.next_seq);
    assert_same(&dump(&url), &want.dump());
}

/// `get` prints the current value and the height that set it; a removed or
/// unknown key exits 2.
#[test]
fn get_prints_value_and_height() {
    let dir = TempDir::new("get");
    let url = dir.sqlite_url();
    let ring = slipstream_tests::TempRing::new("index-get");
    let mut a = scenarios::SMALL.to_vec();
    a.extend(["--flat-out", "--blocks", "20"]);
    sim(ring.path(), &a);
    let (ok, err) = index_until_idle(ring.path(), &url, &[]);
    assert!(ok, "{err}");
    let rows = dump(&url);
    let row = &rows.values[rows.values.len() / 2];
    let hex: String = row.key.iter().map(|b| format!("{b:02x}")).collect();
    let out = indexer()
        .args(["get", "--db", &url])
        .arg(String::from_utf8_lossy(&row.program).as_ref())
        .arg(String::from_utf8_lossy(&row.mapping).as_ref())
        .arg(&hex)
        .output()
        .expect("get");
    let value: String = row.value.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("value {value} height {} seq {}", row.height, row.seq)
    );
    let out = indexer()
        .args(["get", "--db", &url, "credits.aleo", "account", "00"])
        .output()
        .expect("get");
    assert_eq!(out.status.code(), Some(2));
}

/// While the indexer runs: a ring that laps it stops it with the exact range
/// it missed, and a ring replaced at the same path stops it too.
#[test]
fn lapped_or_replaced_while_running_sqlite() {
    let dir = TempDir::new("live");
    let url = dir.sqlite_url();
    let ring = slipstream_tests::TempRing::new("index-live");
    let small_ring = ["--capacity", "1MiB", "--max-event", "64KiB"];
    let mut a = scenarios::SMALL.to_vec();
    a.extend(small_ring);
    a.extend(["--flat-out", "--blocks", "5"]);
    sim(ring.path(), &a);

    // Lapped: a node flat out into a 1 MiB ring; the indexer stops (SQLite
    // commits cannot keep up with a 1 MiB ring written flat out).
    let child = indexer()
        .arg(ring.path())
        .args(["--db", &url, "-q", "--batch-blocks", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut guard = slipstream_tests::ChildGuard::new(child);
    std::thread::sleep(Duration::from_millis(300));
    let node = sim_thread(
        ring.path(),
        &[scenarios::SMALL, &["--flat-out", "--blocks", "3000"]].concat(),
    );
    guard.wait_timeout(Duration::from_secs(60), "a lapped indexer");
    let out = guard.take().wait_with_output().expect("output");
    node.join().expect("node");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let pos = position(&url).expect("a position");
    let at = err
        .find("lapped: the ring overwrote events #")
        .unwrap_or_else(|| panic!("no lap reported: {err}"));
    // "#A..=#B before ... everything before #N": A >= N (nothing missed was applied).
    let nums: Vec<u64> = err[at..]
        .split('#')
        .skip(1)
        .filter_map(|t| t.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect();
    assert!(nums.len() >= 3, "{err}");
    assert!(
        nums[0] <= nums[1] && nums[0] >= pos.next_seq && nums[2] == pos.next_seq,
        "{nums:?} vs {pos:?}: {err}"
    );
    eprintln!("lapped while running: {}", err.trim());

    // Replaced: a new ring at the path while the indexer waits on the old one.
    let child = indexer()
        .arg(ring.path())
        .args(["--db", &url, "-q", "--on-gap", "mark"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut guard = slipstream_tests::ChildGuard::new(child);
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::remove_file(ring.path()).expect("remove the ring");
    let mut b = scenarios::SMALL.to_vec();
    b.extend(small_ring);
    b.extend(["--flat-out", "--blocks", "2"]);
    sim(ring.path(), &b);
    guard.wait_timeout(Duration::from_secs(20), "the indexer of a replaced ring");
    let out = guard.take().wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("ring replaced"),
        "not reported: {err}"
    );
    eprintln!("replaced while running: {}", err.trim());
}

/// A store that never settles: what a crash right after each commit leaves
/// (the block committed into `mapping_values_recent`, its settle not run).
struct NeverSettles(Box<dyn slipstream_index::db::Store>);

impl slipstream_index::db::Store for NeverSettles {
    fn dialect(&self) -> slipstream_index::db::Dialect {
        self.0.dialect()
    }
    fn position(
        &mut self,
    ) -> Result<Option<slipstream_index::db::Position>, slipstream_index::db::DbError> {
        self.0.position()
    }
    fn write(
        &mut self,
        b: &slipstream_index::db::Batch,
    ) -> Result<slipstream_index::db::WriteTimes, slipstream_index::db::DbError> {
        self.0.write(b)
    }
    fn get(
        &mut self,
        p: &[u8],
        m: &[u8],
        k: &[u8],
    ) -> Result<Option<(Vec<u8>, u64, u64)>, slipstream_index::db::DbError> {
        self.0.get(p, m, k)
    }
    fn counts(&mut self) -> Result<slipstream_index::db::Counts, slipstream_index::db::DbError> {
        self.0.counts()
    }
    fn dump(&mut self) -> Result<slipstream_index::db::Dump, slipstream_index::db::DbError> {
        self.0.dump()
    }
}

/// Blocks committed one by one into the recent table and never settled (as
/// a crash after each commit leaves them: some in `mapping_values_recent`,
/// some settled into the base table by the one-block transactions that
/// found the recent table full), then the indexer binary restarted on that
/// database: it equals the reference, every row, and its recent table was
/// settled.
#[test]
fn restart_with_unsettled_recent_rows_sqlite() {
    let dir = TempDir::new("unsettled");
    let url = dir.sqlite_url();
    let ring = slipstream_tests::TempRing::new("index-unsettled");
    let mut a = scenarios::SMALL.to_vec();
    a.extend([
        "--flat-out",
        "--blocks",
        "120",
        "--capacity",
        "64MiB",
        "--seed",
        "3",
    ]);
    sim(ring.path(), &a);
    let end = slipstream_tests::next_seq(ring.path());
    let path = url
        .strip_prefix("sqlite:")
        .expect("a sqlite: URL")
        .to_string();
    let recent = || -> i64 {
        rusqlite::Connection::open(&path)
            .expect("open")
            .query_row("SELECT COUNT(*) FROM mapping_values_recent", [], |r| {
                r.get(0)
            })
            .expect("count mapping_values_recent")
    };
    {
        let store = slipstream_index::db::open(&url, &Default::default()).expect("open");
        let mut store = NeverSettles(store);
        let mut cfg = slipstream_index::Config::new(ring.path());
        cfg.batch_blocks = 1;
        let committed = std::cell::Cell::new(0u64);
        let stats = slipstream_index::run(
            &mut store,
            &cfg,
            &mut || committed.get() >= end / 2,
            &mut |b| {
                committed.set(b.to.next_seq);
            },
        )
        .expect("index half the ring");
        assert!(stats.transactions > 20, "{stats:?}");
        assert_eq!(stats.settles, 0, "NeverSettles settles nothing");
    }
    let left = recent();
    assert!(left > 0, "the recent table holds unsettled rows");
    let (ok, err) = index_until_idle(ring.path(), &url, &[]);
    assert!(ok, "the restarted indexer failed: {err}");
    let mut want = Reference::default();
    want.read_ring(ring.path(), None, None);
    assert_same(&dump(&url), &want.dump());
    assert_eq!(position(&url).expect("a position").next_seq, want.next_seq);
    assert_eq!(recent(), 0, "the restarted indexer settled the recent rows");
    eprintln!("{left} unsettled recent rows at the restart: database == reference");
}
