//! The real binaries, run as a person or a script would run them.
//!
//! Every ring lives under /dev/shm with a unique name and is removed by a
//! guard; every child process is killed by a guard; every wait is bounded.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;
use slipstream_testkit::process::{wait_until, ChildGuard, Output};

const TAIL: &str = env!("CARGO_BIN_EXE_slipstream-tail");
const SIM: &str = env!("CARGO_BIN_EXE_slipstream-sim");
const STAT: &str = env!("CARGO_BIN_EXE_slipstream");
const DEMO: &str = env!("CARGO_BIN_EXE_slipstream-demo");

/// How long any one command may take before the test fails.
const LIMIT: Duration = Duration::from_secs(60);

/// A ring path under /dev/shm that is removed, with its sidecars, when the
/// test ends.
type Ring = slipstream_tests::TempRing;

/// What these tests ask of a ring path.
trait RingExt {
    /// The path as an argument.
    fn arg(&self) -> &str;
    /// Waits until a producer has created the file.
    fn wait_until_created(&self);
}

impl RingExt for Ring {
    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn wait_until_created(&self) {
        wait_until(&format!("{} appears", self.arg()), LIMIT, || {
            std::fs::metadata(&self.0).is_ok_and(|m| m.len() > 0)
        });
        // Created: give the producer a moment to write the magic.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `bin` with `args` to its end (within [`LIMIT`]), collecting its output.
fn run(bin: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    slipstream_testkit::process::run(cmd, LIMIT)
}

/// Fills `ring` with `blocks` small blocks, flat out.
fn sim(ring: &Ring, blocks: u32, extra: &[&str]) -> Output {
    let blocks = blocks.to_string();
    let mut args = vec![
        ring.arg(),
        "--flat-out",
        "--blocks",
        &blocks,
        "--events-per-block",
        "20..60",
        "--stakers",
        "2..5",
        "--block-size",
        "1KiB..8KiB",
        "--capacity",
        "4MiB",
        "--max-event",
        "1000KiB",
    ];
    args.extend_from_slice(extra);
    let out = run(SIM, &args);
    out.assert_success();
    out
}

fn stat_json(ring: &Ring) -> Value {
    let out = run(STAT, &["stat", ring.arg(), "--json", "--interval", "0s"]);
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// Checks that every sequence number from the first line's on is either
/// printed or inside a lag line; returns the next one expected and the events.
fn check_coverage(lines: &[Value]) -> (u64, Vec<&Value>) {
    let mut next: Option<u64> = None;
    let mut events = Vec::new();
    for line in lines {
        if let Some(lag) = line.get("lagged") {
            let first = lag["first_missed"].as_u64().unwrap();
            let last = lag["last_missed"].as_u64().unwrap();
            assert!(
                next.is_none() || next == Some(first),
                "lag {lag} after {next:?}"
            );
            assert_eq!(lag["count"].as_u64().unwrap(), last - first + 1);
            next = Some(last + 1);
        } else if line.get("producer").is_some() {
            continue;
        } else {
            let seq = line["seq"].as_u64().unwrap();
            assert!(
                next.is_none() || next == Some(seq),
                "seq {seq} after {next:?}"
            );
            next = Some(seq + 1);
            events.push(line);
        }
    }
    (next.unwrap_or(0), events)
}

#[test]
fn tail_json_prints_every_event_of_every_block() {
    let ring = Ring::new("json");
    sim(&ring, 30, &["--seed", "5"]);
    let out = run(
        TAIL,
        &[ring.arg(), "--json", "--from", "oldest", "--no-follow"],
    );
    out.assert_success();
    let lines = out.json_lines();
    let (next, events) = check_coverage(&lines);
    assert_eq!(events.len(), lines.len(), "no lag on a ring this large");
    assert_eq!(events[0]["seq"], 1);
    assert_eq!(next, stat_json(&ring)["head"]["next_seq"].as_u64().unwrap());

    // Blocks: begin, events with ordinals 1..=n, commit carrying n.
    let mut height = 0;
    let mut in_block = 0u64;
    let mut blocks = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for ev in &events {
        let kind = ev["kind"].as_str().unwrap();
        kinds.insert(kind.to_string());
        let h = ev["block_height"].as_u64().unwrap();
        match kind {
            "block_begin" => {
                assert_eq!(h, height + 1);
                height = h;
                in_block = 0;
            }
            "block_commit" => {
                assert_eq!(ev["event_count"].as_u64().unwrap(), in_block);
                assert_eq!(ev["ordinal"].as_u64().unwrap(), in_block + 1);
                blocks += 1;
            }
            _ => {
                in_block += 1;
                assert_eq!(h, height);
                assert_eq!(ev["ordinal"].as_u64().unwrap(), in_block);
            }
        }
        match kind {
            "mapping_update" => {
                assert!(ev["program_id"].is_string() && ev["mapping_name"].is_string());
                assert_eq!(ev["key"].as_str().unwrap().len(), 64, "32-byte keys in hex");
                assert!(ev["value"].as_str().unwrap().len() >= 16);
            }
            "block" => {
                let len = ev["block_len"].as_u64().unwrap();
                assert!((1024..=8192).contains(&len), "{len}");
                assert_eq!(ev["block"].as_str().unwrap().len() as u64, 2 * len);
            }
            "staking_reward" => {
                assert!(ev["reward"].as_u64().unwrap() > 0);
                assert!(ev["new_stake"].as_u64().unwrap() > 0);
            }
            _ => {}
        }
    }
    assert_eq!(blocks, 30);
    for kind in ["mapping_update", "staking_reward", "block"] {
        assert!(kinds.contains(kind), "{kinds:?}");
    }
}

#[test]
fn tail_follows_a_running_sim_and_reports_every_lag() {
    // A small ring and big blocks, flat out: a reader may well be lapped.
    let ring = Ring::new("lag");
    let mut sim = ChildGuard::spawn(
        Command::new(SIM)
            .args([
                ring.arg(),
                "--flat-out",
                "--blocks",
                "300",
                "--events-per-block",
                "50..200",
                "--block-size",
                "16KiB..64KiB",
                "--capacity",
                "512KiB",
                "--max-event",
                "100KiB",
                "--quiet",
            ])
            .stdin(Stdio::null()),
    );
    let out = run(
        TAIL,
        &[
            ring.arg(),
            "--json",
            "--from",
            "oldest",
            "--wait",
            "10s",
            "--timeout",
            "3s",
            "--max-bytes",
            "4",
        ],
    );
    assert!(sim.wait_timeout(LIMIT, "sim").success());
    out.assert_success();
    let lines = out.json_lines();
    let (next, events) = check_coverage(&lines);
    assert!(!events.is_empty());
    // It read up to the end, and saw the producer close.
    assert_eq!(next, stat_json(&ring)["head"]["next_seq"].as_u64().unwrap());
    assert_eq!(events.last().unwrap()["kind"], "block_commit");
    assert!(
        lines.iter().any(|l| l["producer"]["change"] == "closed"),
        "{}",
        out.stdout
    );
    // Every lag line is on stderr too (stdout is not a terminal).
    let lags = lines.iter().filter(|l| l.get("lagged").is_some()).count();
    assert_eq!(out.stderr.matches("!! lagged: missed ").count(), lags);
}

#[test]
fn tail_filters_and_count() {
    let ring = Ring::new("filters");
    sim(&ring, 20, &[]);
    let tail = |args: &[&str]| {
        let mut all = vec![ring.arg(), "--json", "--from", "oldest", "--no-follow"];
        all.extend_from_slice(args);
        let out = run(TAIL, &all);
        out.assert_success();
        out.json_lines()
    };

    let lines = tail(&["--count", "7"]);
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[6]["seq"], 7);

    let lines = tail(&["--kind", "block"]);
    assert_eq!(lines.len(), 20);
    assert!(lines.iter().all(|l| l["kind"] == "block"));

    let lines = tail(&["--kind", "block_begin,block_commit"]);
    assert_eq!(lines.len(), 40);
    let lines2 = tail(&["--kind", "block_begin", "--kind", "block_commit"]);
    assert_eq!(lines, lines2);

    let lines = tail(&[
        "--program",
        "credits.aleo",
        "--kind",
        "mapping_update,mapping_removal",
    ]);
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["program_id"] == "credits.aleo"));

    let lines = tail(&["--mapping", "balances", "--kind", "mapping_update"]);
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["mapping_name"] == "balances"));
    let programs: std::collections::BTreeSet<_> =
        lines.iter().map(|l| l["program_id"].to_string()).collect();
    assert!(programs.len() > 1, "several programs have `balances`");

    let lines = tail(&["--from", "height:5", "--count", "1"]);
    assert_eq!(lines[0]["kind"], "block_begin");
    assert_eq!(lines[0]["block_height"], 5);

    let lines = tail(&["--from", "newest"]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["kind"], "block_commit");
    assert_eq!(lines[0]["block_height"], 20);

    // The human form: markers and fields on one line each.
    let out = run(TAIL, &[ring.arg(), "--from", "oldest", "--count", "200"]);
    out.assert_success();
    assert_eq!(out.stdout.lines().count(), 200);
    assert!(out.stdout.starts_with("       1 ── block 1 begin\n"));
    assert!(out.stdout.contains(" events)\n"), "a commit line");
    assert!(out.stdout.contains(" mapping_update  "), "{}", out.stdout);
    assert!(out.stdout.contains(" bytes) "), "a block line");
}

#[test]
fn stat_reports_the_producer_and_named_readers() {
    let ring = Ring::new("stat");
    let mut sim = ChildGuard::spawn(
        Command::new(SIM)
            .args([
                ring.arg(),
                "--rate",
                "50",
                "--events-per-block",
                "10..20",
                "--block-size",
                "1KiB..2KiB",
                "--capacity",
                "1MiB",
                "--max-event",
                "64KiB",
                "--quiet",
            ])
            .stdin(Stdio::null()),
    );
    ring.wait_until_created();
    run(
        TAIL,
        &[
            ring.arg(),
            "--name",
            "gone",
            "--from",
            "oldest",
            "--no-follow",
        ],
    )
    .assert_success();
    let _live = ChildGuard::spawn(
        Command::new(TAIL)
            .args([ring.arg(), "--name", "follower", "--from", "end"])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    );
    let deadline = Instant::now() + LIMIT;
    let stat = loop {
        let out = run(STAT, &["stat", ring.arg(), "--json"]);
        out.assert_success();
        let stat: Value = serde_json::from_str(&out.stdout).unwrap();
        let live = stat["readers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "follower" && r["live"] == true);
        if live {
            break stat;
        }
        assert!(Instant::now() < deadline, "{stat}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let p = &stat["producer"];
    assert_eq!(p["alive"], true, "{stat}");
    assert_eq!(p["state"], "open");
    assert_eq!(p["pid"], sim.child().id());
    assert_eq!(p["epoch"], 1);
    assert_eq!(stat["header"]["capacity"], 1 << 20);
    assert_eq!(stat["header"]["max_payload"], 64 << 10);
    assert_eq!(stat["header"]["version"], 2);
    assert_eq!(stat["header"]["first_seq"], 1);
    assert!(stat["counters"]["blocks"].as_u64().unwrap() > 0, "{stat}");
    assert_eq!(stat["counters"]["producer_starts"], 1);
    assert!(stat["head"]["next_seq"].as_u64().unwrap() > 1);
    assert!(stat["rate"]["events_per_sec"].as_f64().unwrap() >= 0.0);
    let readers = stat["readers"].as_array().unwrap();
    let gone = readers.iter().find(|r| r["name"] == "gone").unwrap();
    assert_eq!(gone["live"], false);
    assert!(gone["next_seq"].as_u64().unwrap() > 1);
    assert!(gone["lag"].as_u64().is_some());

    // The human form names the same things.
    let out = run(STAT, &["stat", ring.arg(), "--interval", "0s"]);
    out.assert_success();
    for needle in ["producer   alive", "follower", "gone", "next seq"] {
        assert!(out.stdout.contains(needle), "{needle}: {}", out.stdout);
    }

    // Ctrl-C: the sim commits its block, closes the ring and exits 0.
    sim.signal(Signal::SIGINT);
    assert!(sim.wait_timeout(LIMIT, "sim").success());
    let stat = stat_json(&ring);
    assert_eq!(stat["producer"]["alive"], false);
    assert_eq!(stat["producer"]["state"], "closed");
    let out = run(TAIL, &[ring.arg(), "--json", "--no-follow"]);
    out.assert_success();
    assert_eq!(out.json_lines()[0]["kind"], "block_commit");
}

#[test]
fn named_tail_stores_its_cursor_on_ctrl_c_and_resumes() {
    let ring = Ring::new("resume");
    sim(&ring, 10, &[]);
    let mut tail = ChildGuard::spawn(
        Command::new(TAIL)
            .args([ring.arg(), "--json", "--name", "me", "--from", "oldest"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    // Everything in the ring, then it waits for more.
    let head = stat_json(&ring)["head"]["next_seq"].as_u64().unwrap();
    let mut lines = BufReader::new(tail.child().stdout.take().unwrap()).lines();
    let mut last = 0;
    while last + 1 < head {
        let line: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        if let Some(seq) = line["seq"].as_u64() {
            last = seq;
        }
    }
    tail.signal(Signal::SIGINT);
    assert_eq!(tail.wait_timeout(LIMIT, "tail").code(), Some(130));
    let stat = stat_json(&ring);
    let me = stat["readers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "me")
        .unwrap()
        .clone();
    assert_eq!(me["next_seq"], head, "{stat}");
    assert_eq!(me["lag"], 0);

    // More events; the same name resumes after the last one it printed.
    sim(&ring, 2, &[]);
    let out = run(TAIL, &[ring.arg(), "--json", "--name", "me", "--no-follow"]);
    out.assert_success();
    assert_eq!(out.json_lines()[0]["seq"], head);
    assert_eq!(out.json_lines()[0]["kind"], "block_begin");
    assert_eq!(
        out.json_lines()[0]["block_height"],
        11,
        "the sim went on from the ring's height"
    );
}

#[test]
fn closing_stdout_early_is_not_an_error() {
    let ring = Ring::new("pipe");
    sim(&ring, 30, &[]);
    // Printing all, with EPIPE on a write; following, likewise; following
    // with little to print (it all fits in the pipe), noticed while idle.
    for (follow, extra) in [
        (false, &[][..]),
        (true, &[][..]),
        (true, &["--kind", "block_commit"][..]),
    ] {
        let mut args = vec![ring.arg(), "--json", "--from", "oldest"];
        if !follow {
            args.push("--no-follow");
        }
        args.extend_from_slice(extra);
        let mut tail = ChildGuard::spawn(
            Command::new(TAIL)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let mut stdout = BufReader::new(tail.child().stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(first.starts_with(r#"{"seq":"#), "{first}");
        drop(stdout); // like `| head -1`
                      // Following, it notices the closed pipe even though nothing more comes.
        let status = tail.wait_timeout(LIMIT, "tail");
        let mut stderr = String::new();
        tail.child()
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(status.code(), Some(0), "{status}: {stderr}");
    }
}

fn assert_fails_naming(out: &Output, path: &str, what: &str) {
    out.assert_no_panic();
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(out.stderr.contains(path), "{}", out.stderr);
    assert!(out.stderr.contains(what), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
}

#[test]
fn errors_name_the_path_and_never_panic() {
    let missing = Ring::new("missing");
    let dir =
        std::env::temp_dir().join(format!("slipstream-tools-test-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = Ring::new("text");
    std::fs::write(&text.0, "this is not a ring, just some text\n".repeat(100)).unwrap();
    let short = Ring::new("short");
    std::fs::write(&short.0, b"SLIPSTRM").unwrap();
    let dir_arg = dir.to_str().unwrap();

    for (path, what) in [
        (missing.arg(), "does not exist"),
        (dir_arg, "is a directory"),
        (text.arg(), "not a Slipstream ring"),
        (short.arg(), "too short"),
    ] {
        assert_fails_naming(&run(TAIL, &[path]), path, "slipstream-tail: ");
        let out = run(STAT, &["stat", path]);
        assert_fails_naming(&out, path, what);
        assert!(
            out.stderr.starts_with("slipstream stat: "),
            "{}",
            out.stderr
        );
    }
    let out = run(TAIL, &[missing.arg()]);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    let out = run(TAIL, &[text.arg()]);
    assert!(
        out.stderr.contains("not a Slipstream ring"),
        "{}",
        out.stderr
    );

    // A bare name is a ring under /dev/shm, and the message says so.
    let bare = missing.0.file_name().unwrap().to_str().unwrap();
    let out = run(TAIL, &[bare]);
    assert_fails_naming(&out, missing.arg(), "under /dev/shm");

    // A header that lies: the capacity is not a power of two.
    let corrupt = Ring::new("corrupt");
    sim(&corrupt, 1, &[]);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&corrupt.0)
            .unwrap();
        f.write_all_at(&3u64.to_le_bytes(), 24).unwrap();
    }
    let out = run(STAT, &["stat", corrupt.arg()]);
    assert_fails_naming(&out, corrupt.arg(), "capacity 3 is not a power of two");
    let out = run(TAIL, &[corrupt.arg()]);
    assert_fails_naming(&out, corrupt.arg(), "capacity 3 is not a power of two");

    // A start position not written yet is waited for, as a future height is
    // (a position no longer in the ring is an error: tests/tail_from.rs).
    let ring = Ring::new("seek");
    sim(&ring, 2, &[]);
    for from in ["999999999", "height:999999999"] {
        let out = run(TAIL, &[ring.arg(), "--from", from, "--timeout", "200ms"]);
        out.assert_success();
        // Only the producer's life: no event, no error.
        assert!(
            out.stdout.lines().all(|l| l.starts_with("!! producer")),
            "{from}: {}",
            out.stdout
        );
    }

    // The simulator refuses what is not its ring.
    let out = run(SIM, &[text.arg(), "--blocks", "1"]);
    assert_fails_naming(&out, text.arg(), "slipstream-sim: ");
    let out = run(SIM, &[ring.arg(), "--blocks", "1", "--block-size", "2MiB"]);
    assert_fails_naming(&out, "largest event of 1000.0 KiB", "does not fit");
    let out = run(SIM, &[ring.arg(), "--blocks", "1", "--capacity", "8MiB"]);
    assert_fails_naming(&out, ring.arg(), "--recreate");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_flag_is_explained_in_help() {
    for (bin, args) in [
        (TAIL, vec!["--help"]),
        (SIM, vec!["--help"]),
        (STAT, vec!["stat", "--help"]),
        (STAT, vec!["--help"]),
        (DEMO, vec!["--help"]),
    ] {
        let out = run(bin, &args);
        out.assert_success();
        // Every `--flag` line has a description after it.
        let lines: Vec<&str> = out.stdout.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            if t.starts_with("--") || t.starts_with("-q") {
                let described = t.split("  ").filter(|s| !s.trim().is_empty()).count() > 1
                    || lines.get(i + 1).is_some_and(|next| {
                        !next.trim().is_empty() && !next.trim_start().starts_with('-')
                    });
                assert!(described, "{bin} {args:?}: {line}");
            }
        }
    }
}

#[test]
fn demo_runs_and_leaves_nothing_behind() {
    let mut demo = ChildGuard::spawn(
        Command::new(DEMO)
            .args(["--duration", "1500ms", "--rate", "5"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let ring = format!("/dev/shm/slipstream-demo-{}", demo.child().id());
    let mut stdout = demo.child().stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let status = demo.wait_timeout(LIMIT, "demo");
    let stdout = reader.join().unwrap();
    let mut stderr = String::new();
    demo.child()
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stdout.contains("── block 1 begin"), "{stdout}");
    assert!(stdout.contains("commit ("), "{stdout}");
    assert!(stdout.contains("── slipstream stat"), "{stdout}");
    assert!(stdout.contains("demo-tail"), "{stdout}");
    assert!(!Path::new(&ring).exists(), "{ring} left behind");
}

#[test]
fn demo_piped_into_head_stops_cleanly() {
    // `slipstream-demo 2>&1 | head -3`: stdout and stderr are one pipe, whose
    // reader goes away after three lines. The demo used to die in a panic
    // (status 101) printing to the closed stderr.
    // Close-on-exec: a child holding the read end would keep the pipe open.
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let err_end = write_end.try_clone().unwrap();
    let mut demo = ChildGuard::spawn(
        Command::new(DEMO)
            .args(["--duration", "20s", "--rate", "20"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(write_end))
            .stderr(Stdio::from(err_end)),
    );
    let ring = format!("/dev/shm/slipstream-demo-{}", demo.child().id());
    let mut lines = BufReader::new(std::fs::File::from(read_end)).lines();
    for _ in 0..3 {
        lines.next().expect("a line").unwrap();
    }
    drop(lines);
    let status = demo.wait_timeout(LIMIT, "demo");
    assert!(status.success(), "{status}");
    assert!(!Path::new(&ring).exists(), "{ring} left behind");
}
