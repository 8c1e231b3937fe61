//! `examples/tail.c`, compiled with the system `cc` against `slipstream.h`
//! and `libslipstream.a`, prints exactly what `slipstream-tail --json` prints
//! for rings written by `slipstream-sim`; it also follows a live ring through
//! the readiness fd, and runs clean under valgrind (no error, no leak).
//!
//! Needs `cc` and `valgrind` (`bash tests/install-deps.sh`) and the workspace's
//! binaries (`cargo test --workspace` builds them; alone, `workspace_bin`
//! builds any that is missing or older than its sources).

use slipstream_tests::{target_dir, workspace_bin, ChildGuard, TempRing};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The static library cargo built for this test run (its `deps/` copy is
/// written with the rlib this test links; the uplifted one by `cargo build`).
fn staticlib() -> PathBuf {
    let d = target_dir();
    [d.join("deps/libslipstream.a"), d.join("libslipstream.a")]
        .into_iter()
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .max_by_key(|(t, _): &(SystemTime, PathBuf)| *t)
        .map(|(_, p)| p)
        .unwrap_or_else(|| {
            panic!(
                "no libslipstream.a under {}: build it with `cargo build -p slipstream-c`",
                d.display()
            )
        })
}

fn missing_tool(tool: &str, e: std::io::Error) -> ! {
    panic!(
        "cannot run `{tool}` ({e}): this test needs it. Install the test dependencies with \
         `bash tests/install-deps.sh` (Debian: apt-get install gcc valgrind)"
    )
}

/// tail.c, compiled once per test process.
fn c_tail() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        // A build artifact beside the others, one per test process.
        let dir = target_dir().join("slipstream-c-examples");
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join(format!("tail-{}", std::process::id()));
        let out = Command::new("cc")
            .args([
                "-std=c11",
                "-D_POSIX_C_SOURCE=200809L",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-O1",
                "-g",
            ])
            .arg("-I")
            .arg(crate_dir().join("include"))
            .arg(crate_dir().join("examples/tail.c"))
            .arg(staticlib())
            .args(["-lpthread", "-ldl", "-lm", "-o"])
            .arg(&exe)
            .output()
            .unwrap_or_else(|e| missing_tool("cc", e));
        assert!(
            out.status.success(),
            "cc failed to build examples/tail.c:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        exe
    })
}

/// Runs `slipstream-sim RING ARGS --quiet` to completion.
fn sim(ring: &Path, args: &[&str]) {
    let out = Command::new(workspace_bin("slipstream-sim"))
        .arg(ring)
        .args(args)
        .arg("--quiet")
        .output()
        .expect("run slipstream-sim");
    assert!(
        out.status.success(),
        "slipstream-sim failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits for `child` (at most `limit`, draining its output) and returns its output.
fn finish(mut child: ChildGuard, what: &str, limit: Duration) -> Output {
    use std::io::Read;
    let c = child.0.as_mut().unwrap();
    let mut stdout = c.stdout.take().unwrap();
    let mut stderr = c.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        stdout.read_to_end(&mut b).map(|_| b)
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        stderr.read_to_end(&mut b).map(|_| b)
    });
    let status = child.wait_timeout(limit, what);
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

fn run(mut cmd: Command, what: &str, limit: Duration) -> String {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| missing_tool(&format!("{:?}", cmd.get_program()), e));
    let out = finish(ChildGuard::new(child), what, limit);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn rust_tail(ring: &Path, from: &str) -> String {
    let mut cmd = Command::new(workspace_bin("slipstream-tail"));
    cmd.arg(ring)
        .args(["--json", "--no-follow", "--from", from]);
    run(cmd, "slipstream-tail", Duration::from_secs(60))
}

fn c_tail_cmd(ring: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(c_tail());
    cmd.arg(ring).args(args);
    cmd
}

const VALGRIND: &[&str] = &[
    "--error-exitcode=1",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite,indirect",
    "--show-leak-kinds=definite,indirect",
    "--quiet",
];

fn under_valgrind(inner: Command) -> Command {
    let mut cmd = Command::new("valgrind");
    cmd.args(VALGRIND)
        .arg(inner.get_program())
        .args(inner.get_args());
    cmd
}

#[test]
fn c_tail_prints_what_slipstream_tail_prints() {
    let ring = TempRing::new("c-tail");
    sim(
        ring.path(),
        &[
            "--flat-out",
            "--blocks",
            "6",
            "--events-per-block",
            "10..300",
            "--block-size",
            "1KiB..48KiB",
            "--seed",
            "5",
        ],
    );
    for from in ["oldest", "newest", "height:3", "100", "end"] {
        let expected = rust_tail(ring.path(), from);
        let got = run(
            c_tail_cmd(ring.path(), &["--from", from, "--no-follow"]),
            "tail.c",
            Duration::from_secs(60),
        );
        if from != "end" {
            assert!(!expected.is_empty());
        }
        assert!(
            got == expected,
            "tail.c --from {from} differs from slipstream-tail --json:\n{}",
            first_difference(&got, &expected)
        );
    }
    // Every kind of event was compared.
    let all = rust_tail(ring.path(), "oldest");
    for kind in [
        "mapping_update",
        "mapping_removal",
        "staking_reward",
        "\"block\"",
        "block_begin",
        "block_commit",
        "\"key\":null",
    ] {
        assert!(all.contains(kind), "the ring has no {kind}");
    }
}

fn first_difference(got: &str, expected: &str) -> String {
    for (i, (g, e)) in got.lines().zip(expected.lines()).enumerate() {
        if g != e {
            return format!(
                "line {}:\n  tail.c:          {g}\n  slipstream-tail: {e}",
                i + 1
            );
        }
    }
    format!(
        "tail.c printed {} lines, slipstream-tail {}",
        got.lines().count(),
        expected.lines().count()
    )
}

fn events_only(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("{\"producer\""))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// tail.c in follow mode waits in poll(2) on the readiness fd while a
/// second producer run appends blocks; it prints them all, then the close.
fn follow(valgrind: bool) {
    let ring = TempRing::new("c-follow");
    sim(
        ring.path(),
        &[
            "--flat-out",
            "--blocks",
            "1",
            "--events-per-block",
            "10..40",
            "--block-size",
            "1KiB",
        ],
    );
    let mut cmd = c_tail_cmd(
        ring.path(),
        &[
            "--from",
            "oldest",
            "--idle-ms",
            if valgrind { "6000" } else { "2500" },
        ],
    );
    if valgrind {
        cmd = under_valgrind(cmd);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| missing_tool("valgrind", e));
    let child = ChildGuard::new(child);
    // Let it attach (under valgrind that takes a while), then publish more.
    std::thread::sleep(Duration::from_millis(if valgrind { 2500 } else { 300 }));
    sim(
        ring.path(),
        &[
            "--rate",
            "20",
            "--blocks",
            "4",
            "--events-per-block",
            "10..40",
            "--block-size",
            "1KiB",
        ],
    );
    let out = finish(child, "tail.c (following)", Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tail.c following failed ({}):\n{stderr}",
        out.status
    );
    let got = String::from_utf8(out.stdout).unwrap();
    let expected = rust_tail(ring.path(), "oldest");
    assert_eq!(expected.matches("block_commit").count(), 5);
    assert!(
        events_only(&got) == expected,
        "tail.c (following) differs from slipstream-tail --json:\n{}",
        first_difference(&events_only(&got), &expected)
    );
    assert!(
        got.lines()
            .last()
            .is_some_and(|l| l.starts_with("{\"producer\":{\"change\":\"closed\",\"epoch\":2}")),
        "the last line is the second producer's close: {:?}",
        got.lines().last()
    );
}

#[test]
fn c_tail_follows_a_live_ring_through_the_readiness_fd() {
    follow(false);
}

#[test]
fn c_tail_runs_clean_under_valgrind() {
    let ring = TempRing::new("c-valgrind");
    sim(
        ring.path(),
        &[
            "--flat-out",
            "--blocks",
            "3",
            "--events-per-block",
            "10..100",
            "--block-size",
            "1KiB..8KiB",
        ],
    );
    let got = run(
        under_valgrind(c_tail_cmd(
            ring.path(),
            &["--from", "oldest", "--no-follow"],
        )),
        "valgrind tail.c --no-follow",
        Duration::from_secs(300),
    );
    let expected = rust_tail(ring.path(), "oldest");
    assert!(
        got == expected,
        "under valgrind, tail.c printed something else:\n{}",
        first_difference(&got, &expected)
    );
    // A named consumer (a cursor slot claimed and released), and a bad open.
    run(
        under_valgrind(c_tail_cmd(
            ring.path(),
            &["--from", "oldest", "--no-follow", "--name", "valgrind"],
        )),
        "valgrind tail.c --name",
        Duration::from_secs(300),
    );
    let missing = ring.path().with_extension("missing");
    let out = under_valgrind(c_tail_cmd(&missing, &["--no-follow"]))
        .output()
        .unwrap_or_else(|e| missing_tool("valgrind", e));
    assert_eq!(
        out.status.code(),
        Some(1),
        "a missing ring: tail.c exits 1, valgrind finds nothing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Following: the readiness thread and its eventfd, started and stopped.
    follow(true);
}
