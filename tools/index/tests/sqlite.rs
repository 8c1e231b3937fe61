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
