//! End to end, with the real binaries: `slipstream-sim` is the node,
//! `slipstream-tail --json` and the SDK are consumers in other processes.
//!
//! Every child is in a guard that kills and reaps it, and every ring is
//! removed, even when a test fails. Waits have deadlines; nothing asserted
//! depends on how fast the machine is.

use nix::sys::signal::Signal;
use serde_json::Value;
use slipstream_consumer::{Consumer, Item, Start};
use slipstream_tests::{next_seq, process, tools, wait_for_ring, ChildGuard, TempRing};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `slipstream-sim RING ARGS`, stdout discarded, stderr piped.
fn sim(ring: &Path, args: &[&str]) -> Command {
    let mut c = tools::sim(ring, args);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

/// `slipstream-tail RING --json ARGS`, both outputs piped.
fn tail(ring: &Path, args: &[&str]) -> Command {
    let mut c = tools::tail(ring, &["--json"]);
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// What a consumer's output covers: events by sequence, and lags.
#[derive(Default, Debug)]
struct Seen {
    /// (seq, kind, block_height, ordinal) of each event, in order.
    events: Vec<(u64, String, u64, u64)>,
    /// (first_missed, last_missed) of each lag.
    lags: Vec<(u64, u64)>,
}

impl Seen {
    fn parse(lines: impl Iterator<Item = String>) -> Seen {
        let mut s = Seen::default();
        for line in lines {
            let v: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if let Some(l) = v.get("lagged") {
                s.lags.push((
                    l["first_missed"].as_u64().unwrap(),
                    l["last_missed"].as_u64().unwrap(),
                ));
            } else if v.get("producer").is_some() {
            } else {
                s.events.push((
                    v["seq"]
                        .as_u64()
                        .unwrap_or_else(|| panic!("no seq: {line}")),
                    v["kind"].as_str().unwrap().to_owned(),
                    v["block_height"].as_u64().unwrap(),
                    v["ordinal"].as_u64().unwrap(),
                ));
            }
        }
        s
    }

    /// Checks that events come in order and that every gap between them is a
    /// reported lag, exactly; returns the sequence after the last one covered.
    fn check_contiguous(&self, from: u64) -> u64 {
        let mut items: Vec<(u64, u64, bool)> = self
            .events
            .iter()
            .map(|e| (e.0, e.0, false))
            .chain(self.lags.iter().map(|l| (l.0, l.1, true)))
            .collect();
        items.sort();
        let mut next = from;
        for (first, last, _) in items {
            assert_eq!(first, next, "gap or repeat at {next}: {:?}", self.lags);
            next = last + 1;
        }
        next
    }
}

fn read_lines(child: ChildGuard) -> (Vec<String>, String) {
    let out = child.take().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (lines, stderr)
}

#[test]
fn the_simulated_node_and_several_consumers_agree() {
    let ring = TempRing::new("e2e-agree");
    let path = ring.path();
    let mut node = ChildGuard::new(
        sim(
            path,
            &[
                "--rate",
                "50",
                "--blocks",
                "60",
                "--capacity",
                "64MiB",
                "--events-per-block",
                "50..300",
                "--block-size",
                "4KiB..32KiB",
            ],
        )
        .spawn()
        .unwrap(),
    );
    wait_for_ring(path);
    let tails: Vec<ChildGuard> = (0..2)
        .map(|i| {
            let mut args = vec!["--from", "oldest", "--timeout", "3s"];
            if i == 1 {
                args.extend(["--kind", "block_begin,block_commit"]);
            }
            ChildGuard::new(tail(path, &args).spawn().unwrap())
        })
        .collect();
    // The SDK, in this process, block at a time.
    let mut sdk = Consumer::builder(path).start(Start::Oldest).open().unwrap();
    let mut blocks = 0;
    let mut sdk_events = vec![];
    let deadline = Instant::now() + Duration::from_secs(120);
    while blocks < 60 {
        assert!(Instant::now() < deadline, "SDK saw {blocks} blocks");
        match sdk.next(Duration::from_millis(500)).unwrap() {
            Some(Item::Event(e)) => {
                if e.event.kind() == slipstream_consumer::EventKind::BlockCommit {
                    blocks += 1;
                }
                sdk_events.push((
                    e.seq,
                    e.event.kind().name().to_owned(),
                    e.event.block_height(),
                    e.event.ordinal() as u64,
                ));
            }
            Some(Item::Lagged(l)) => panic!("a 64 MiB ring lapped the SDK: {l:?}"),
            Some(Item::Producer(_)) | None => {}
        }
    }
    let status = node.wait_timeout(Duration::from_secs(120), "slipstream-sim");
    assert!(status.success(), "sim failed: {status:?}");
    let last = next_seq(path) - 1;
    assert_eq!(sdk_events.len() as u64, last, "the SDK saw every event");
    let mut tails = tails.into_iter();
    let (all, _) = read_lines(tails.next().unwrap());
    let all = Seen::parse(all.into_iter());
    assert!(all.lags.is_empty(), "{:?}", all.lags);
    assert_eq!(all.check_contiguous(1), last + 1);
    assert_eq!(
        all.events, sdk_events,
        "tail and the SDK saw the same events"
    );
    let (markers, _) = read_lines(tails.next().unwrap());
    let markers = Seen::parse(markers.into_iter());
    assert_eq!(markers.events.len(), 120);
    assert!(markers
        .events
        .iter()
        .all(|e| e.1 == "block_begin" || e.1 == "block_commit"));
}

#[test]
fn a_killed_consumer_resumes_under_its_name_with_no_gap() {
    let ring = TempRing::new("e2e-resume");
    let path = ring.path();
    let mut node = ChildGuard::new(
        sim(
            path,
            &[
                "--rate",
                "40",
                "--blocks",
                "80",
                "--capacity",
                "64MiB",
                "--events-per-block",
                "20..100",
                "--block-size",
                "1KiB..4KiB",
            ],
        )
        .spawn()
        .unwrap(),
    );
    wait_for_ring(path);
    // First run: read some lines, then die without warning.
    let mut first = ChildGuard::new(
        tail(path, &["--from", "oldest", "--name", "resumer"])
            .spawn()
            .unwrap(),
    );
    // A thread drains its output the whole time: a tail blocked on a full
    // pipe would never run dry, and so never commit.
    let stdout = first.0.as_mut().unwrap().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let drain = std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let _ = tx.send(l.unwrap().trim_end().to_owned());
        }
    });
    let mut lines = vec![];
    while lines.len() < 500 {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => lines.push(l),
            Err(e) => panic!("the first tail printed {} lines, then: {e}", lines.len()),
        }
    }
    // tail commits when it runs dry or every 4096 events: one that started
    // late (a loaded machine) reads 500 lines of backlog without a commit.
    // Kill it only once it has committed, so the resume below has a cursor.
    process::wait_until(
        "the first tail to commit its cursor",
        Duration::from_secs(60),
        || {
            slipstream_ring::read_slots(path)
                .unwrap()
                .iter()
                .any(|s| s.name == "resumer" && s.next_seq > 1)
        },
    );
    first.signal(Signal::SIGKILL);
    drop(first);
    drain.join().expect("the drain thread");
    // Whatever it wrote before it died is printed output too.
    lines.extend(rx.try_iter());
    let before = Seen::parse(lines.into_iter());
    let last_seen = before.events.last().unwrap().0;
    let status = node.wait_timeout(Duration::from_secs(120), "slipstream-sim");
    assert!(status.success());
    let last = next_seq(path) - 1;
    // Second run under the same name: resumes (at least once), to the end.
    let second = ChildGuard::new(
        tail(
            path,
            &["--name", "resumer", "--from", "end", "--timeout", "2s"],
        )
        .spawn()
        .unwrap(),
    );
    let (lines, _) = read_lines(second);
    let after = Seen::parse(lines.into_iter());
    assert!(after.lags.is_empty(), "{:?}", after.lags);
    let resumed_at = after.events.first().unwrap().0;
    // At least once: no gap, and repeats (`last_seen + 1 - resumed_at`, 0 when
    // its last commit covered everything it printed) bounded by what tail
    // prints between two commits (after each flush, at most every 4096 events).
    assert!(
        resumed_at <= last_seen + 1 && resumed_at > 1 && last_seen + 1 - resumed_at <= 4096 + 2,
        "resumed at {resumed_at} after seeing up to {last_seen}"
    );
    assert_eq!(after.check_contiguous(resumed_at), last + 1);
    assert_eq!(before.check_contiguous(1), last_seen + 1);
}

#[test]
fn a_stopped_consumer_learns_exactly_what_it_missed() {
    let ring = TempRing::new("e2e-stop");
    let path = ring.path();
    // Create the ring, small, so that the node laps a stopped consumer many times.
    let mut node = ChildGuard::new(
        sim(
            path,
            &[
                "--rate",
                "5",
                "--blocks",
                "1",
                "--capacity",
                "1MiB",
                "--max-event",
                "128KiB",
                "--block-size",
                "8KiB..64KiB",
            ],
        )
        .spawn()
        .unwrap(),
    );
    assert!(node
        .wait_timeout(Duration::from_secs(60), "slipstream-sim")
        .success());
    let consumer = ChildGuard::new(
        tail(path, &["--from", "end", "--timeout", "3s"])
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(300)); // let it attach
    consumer.signal(Signal::SIGSTOP);
    let start = next_seq(path);
    let mut node = ChildGuard::new(
        sim(
            path,
            &[
                "--flat-out",
                "--blocks",
                "200",
                "--capacity",
                "1MiB",
                "--max-event",
                "128KiB",
                "--events-per-block",
                "50..200",
                "--block-size",
                "8KiB..64KiB",
            ],
        )
        .spawn()
        .unwrap(),
    );
    let status = node.wait_timeout(Duration::from_secs(120), "slipstream-sim");
    assert!(
        status.success(),
        "the node finished while the consumer was stopped"
    );
    let last = next_seq(path) - 1;
    consumer.signal(Signal::SIGCONT);
    let (lines, _) = read_lines(consumer);
    let seen = Seen::parse(lines.into_iter());
    assert_eq!(seen.lags.len(), 1, "one lap report: {:?}", seen.lags);
    assert_eq!(
        seen.lags[0].0, start,
        "the gap starts where the consumer stopped"
    );
    assert_eq!(seen.check_contiguous(start), last + 1);
}

#[test]
fn a_second_producer_gets_a_clear_error() {
    let ring = TempRing::new("e2e-second");
    let path = ring.path();
    let _node = ChildGuard::new(
        sim(
            path,
            &[
                "--rate",
                "2",
                "--capacity",
                "1MiB",
                "--max-event",
                "128KiB",
                "--block-size",
                "8KiB..64KiB",
            ],
        )
        .spawn()
        .unwrap(),
    );
    wait_for_ring(path);
    let out = sim(
        path,
        &[
            "--rate",
            "2",
            "--blocks",
            "1",
            "--capacity",
            "1MiB",
            "--max-event",
            "128KiB",
            "--block-size",
            "8KiB..64KiB",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another producer"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
