//! `tests/python/slipstream_reader.py`, a reader written from `ring/FORMAT.md`
//! alone, against `slipstream-tail --json`: on the same ring, both must print
//! the same events (same seq, kind, block height, ordinal and fields).
//!
//! The two JSON formats differ in presentation only, and the comparison maps
//! them onto one:
//! - the Python reader prints every byte string in hex; `slipstream-tail`
//!   prints `program_id` and `mapping_name` as text when they are printable
//!   UTF-8, else hex in `program_id_hex` / `mapping_name_hex`;
//! - `block_begin` with an unknown `event_count` (`0xFFFFFFFF`, FORMAT.md
//!   section 10) is `4294967295` in Python and `null` in `slipstream-tail`;
//! - `slipstream-tail` adds `block_len` to `block` events (checked against the
//!   block's bytes, then dropped) and `count` to lag lines (checked against
//!   `first_missed..=last_missed`, then dropped).
//!
//! `python3` is part of the machines these tests run on: its absence fails the
//! tests rather than skipping them.

use serde_json::{Map, Value};
use slipstream_tests::{next_seq, wait_for_ring, workspace_bin, ChildGuard, TempRing};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The reader under test.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/slipstream_reader.py")
}

/// Runs `slipstream-sim RING ARGS --quiet` to completion.
fn run_sim(ring: &Path, args: &[&str]) {
    let out = Command::new(workspace_bin("slipstream-sim"))
        .arg(ring)
        .args(args)
        .arg("--quiet")
        .stdout(Stdio::null())
        .output()
        .expect("run slipstream-sim");
    assert!(
        out.status.success(),
        "slipstream-sim {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn python3() -> Command {
    let mut c = Command::new("python3");
    c.arg(script());
    c
}

/// Spawns `command` with piped output; a missing python3 is a clear failure.
fn spawn(mut command: Command, what: &str) -> ChildGuard {
    match command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => ChildGuard::new(child),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{what}: cannot run {:?}: not found on PATH ({e}). python3 is required by this \
             test (it is part of this machine kind); install it rather than skipping the test",
            command.get_program()
        ),
        Err(e) => panic!("{what}: cannot run {:?}: {e}", command.get_program()),
    }
}

/// Waits for `child` (with a deadline, draining its output meanwhile) and
/// returns its output, which must be a success.
fn finish(child: ChildGuard, what: &str, limit: Duration) -> Output {
    let mut child = child;
    let c = child.0.as_mut().unwrap();
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = vec![];
            pipe.read_to_end(&mut buf).map(|_| buf)
        })
    };
    let stdout = drain(Box::new(c.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(c.stderr.take().expect("piped stderr")));
    // On failure, the guard kills the child, which closes the pipes.
    let status = child.wait_timeout(limit, what);
    let out = Output {
        status,
        stdout: stdout.join().unwrap().expect("read stdout"),
        stderr: stderr.join().unwrap().expect("read stderr"),
    };
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The Python reader's lines: `python3 slipstream_reader.py RING ARGS`.
fn python_lines(ring: &Path, args: &[&str]) -> Vec<Value> {
    let mut c = python3();
    c.arg(ring).args(args);
    let out = finish(
        spawn(c, "the Python reader"),
        "the Python reader",
        Duration::from_secs(120),
    );
    parse(&out.stdout, "the Python reader")
}

/// `slipstream-tail RING --json --from oldest --no-follow`, normalized.
fn tail_lines(ring: &Path) -> Vec<Value> {
    let mut c = Command::new(workspace_bin("slipstream-tail"));
    c.arg(ring)
        .args(["--json", "--from", "oldest", "--no-follow"]);
    let out = finish(
        spawn(c, "slipstream-tail"),
        "slipstream-tail",
        Duration::from_secs(120),
    );
    parse(&out.stdout, "slipstream-tail")
        .into_iter()
        .map(normalize_tail)
        .collect()
}

fn parse(stdout: &[u8], what: &str) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .unwrap_or_else(|e| panic!("{what} printed non-UTF-8: {e}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {l}")))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Maps a `slipstream-tail --json` line onto the Python reader's format (see
/// the module documentation).
fn normalize_tail(line: Value) -> Value {
    let Value::Object(mut o) = line else {
        panic!("slipstream-tail printed a non-object: {line}")
    };
    if let Some(Value::Object(lag)) = o.get_mut("lagged") {
        let (first, last) = (lag["first_missed"].as_u64(), lag["last_missed"].as_u64());
        let count = lag.remove("count").and_then(|c| c.as_u64());
        assert_eq!(
            Some(last.unwrap() - first.unwrap() + 1),
            count,
            "lag count: {lag:?}"
        );
        return Value::Object(o);
    }
    assert!(
        o.get("producer").is_none(),
        "a producer line in a no-follow read of a closed ring: {o:?}"
    );
    for field in ["program_id", "mapping_name"] {
        if let Some(text) = o.remove(field) {
            let text = text.as_str().expect("text name").as_bytes().to_vec();
            o.insert(field.to_owned(), Value::String(hex(&text)));
        }
        if let Some(h) = o.remove(&format!("{field}_hex")) {
            o.insert(field.to_owned(), h);
        }
    }
    if o["kind"] == "block_begin" && o["event_count"].is_null() {
        o.insert("event_count".to_owned(), Value::from(0xFFFF_FFFFu64));
    }
    if let Some(len) = o.remove("block_len") {
        let block = o["block"].as_str().expect("block bytes in hex");
        assert_eq!(
            len.as_u64(),
            Some(block.len() as u64 / 2),
            "block_len of seq {}",
            o["seq"]
        );
    }
    Value::Object(o)
}

/// (seq, kind, block_height, ordinal) of an event line.
fn key_of(line: &Map<String, Value>) -> (u64, String, u64, u64) {
    (
        line["seq"].as_u64().expect("seq"),
        line["kind"].as_str().expect("kind").to_owned(),
        line["block_height"].as_u64().expect("block_height"),
        line["ordinal"].as_u64().expect("ordinal"),
    )
}

fn events(lines: &[Value]) -> Vec<&Map<String, Value>> {
    lines
        .iter()
        .filter_map(|l| l.as_object())
        .filter(|o| !o.contains_key("lagged"))
        .collect()
}

fn lags(lines: &[Value]) -> Vec<(u64, u64)> {
    lines
        .iter()
        .filter_map(|l| l.get("lagged"))
        .map(|l| {
            (
                l["first_missed"].as_u64().unwrap(),
                l["last_missed"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Checks that events and lags, in the order printed, cover the sequence
/// numbers from `from` on with no gap or repeat; returns the next one.
fn check_contiguous(lines: &[Value], from: u64, what: &str) -> u64 {
    let mut next = from;
    for l in lines {
        if let Some(lag) = l.get("lagged") {
            let (first, last) = (
                lag["first_missed"].as_u64().unwrap(),
                lag["last_missed"].as_u64().unwrap(),
            );
            assert_eq!(first, next, "{what}: lag {lag} where seq {next} was due");
            assert!(last >= first, "{what}: empty lag {lag}");
            next = last + 1;
        } else {
            assert_eq!(l["seq"].as_u64(), Some(next), "{what}: {l}");
            next += 1;
        }
    }
    next
}

/// Asserts that the two readers printed the same lines, the first difference
/// shown by seq, kind, height and ordinal.
fn assert_same(python: &[Value], tail: &[Value]) {
    assert_eq!(
        python.len(),
        tail.len(),
        "the Python reader printed {} lines, slipstream-tail {} (first lines: {:?} / {:?})",
        python.len(),
        tail.len(),
        python.first().and_then(|l| l.as_object()).map(key_of),
        tail.first().and_then(|l| l.as_object()).map(key_of),
    );
    for (p, t) in python.iter().zip(tail) {
        let (po, to) = (p.as_object().unwrap(), t.as_object().unwrap());
        if po.contains_key("lagged") || to.contains_key("lagged") {
            assert_eq!(p, t, "lag lines differ");
            continue;
        }
        assert_eq!(key_of(po), key_of(to), "seq/kind/height/ordinal differ");
        let (mut pk, mut tk): (Vec<_>, Vec<_>) = (po.keys().collect(), to.keys().collect());
        pk.sort();
        tk.sort();
        assert_eq!(pk, tk, "field sets differ at {:?}", key_of(po));
        assert_eq!(p, t, "fields differ at {:?}", key_of(po));
    }
}

#[test]
fn the_python_reader_agrees_with_tail_on_a_ring_that_never_wrapped() {
    let ring = TempRing::new("py-fresh");
    let path = ring.path();
    run_sim(
        path,
        &[
            "--rate",
            "100",
            "--blocks",
            "20",
            "--capacity",
            "1MiB",
            "--max-event",
            "128KiB",
            "--block-size",
            "8KiB..64KiB",
            "--events-per-block",
            "20..80",
        ],
    );
    let last = next_seq(path) - 1;
    let python = python_lines(path, &[]);
    let tail = tail_lines(path);
    assert_same(&python, &tail);
    // Nothing was overwritten: both start at the first record and read all.
    assert!(lags(&python).is_empty(), "{:?}", lags(&python));
    assert_eq!(check_contiguous(&python, 1, "python"), last + 1);
    let ev = events(&python);
    assert_eq!(
        ev.iter().filter(|e| e["kind"] == "block_commit").count(),
        20
    );
    // Starting at position 0 is the same as starting at the oldest here.
    assert_eq!(python_lines(path, &["--from", "first"]), python);
}

#[test]
fn the_python_reader_agrees_with_tail_on_a_ring_that_wrapped_many_times() {
    let ring = TempRing::new("py-wrapped");
    let path = ring.path();
    run_sim(
        path,
        &[
            "--capacity",
            "256KiB",
            "--max-event",
            "60KiB",
            "--block-size",
            "1KiB..16KiB",
            "--blocks",
            "200",
            "--flat-out",
        ],
    );
    let last = next_seq(path) - 1;
    let python = python_lines(path, &[]);
    let tail = tail_lines(path);
    assert_same(&python, &tail);
    assert!(lags(&python).is_empty(), "{:?}", lags(&python));
    let oldest = python[0]["seq"].as_u64().unwrap();
    assert!(
        oldest > 1,
        "the ring should have wrapped (oldest retained seq {oldest})"
    );
    assert_eq!(check_contiguous(&python, oldest, "python"), last + 1);
    assert_eq!(
        key_of(events(&python).last().unwrap()).1,
        "block_commit",
        "the last event of a finished run is a block commit"
    );

    // From position 0: seqs 1.. were overwritten, which the reader reports as
    // one exact lag, then goes on (with the headroom of FORMAT.md section 6,
    // "Lapped") at a record at or after the oldest.
    let from_first = python_lines(path, &["--from", "first"]);
    let lag = lags(&from_first);
    assert_eq!(lag.len(), 1, "{lag:?}");
    assert!(from_first[0].get("lagged").is_some(), "{:?}", from_first[0]);
    assert_eq!(
        check_contiguous(&from_first, 1, "python --from first"),
        last + 1
    );
    let resumed = from_first[1]["seq"].as_u64().unwrap();
    assert!(resumed >= oldest, "resumed at {resumed}, oldest {oldest}");
    let skip = (resumed - oldest) as usize;
    assert_eq!(&from_first[1..], &python[skip..]);
}

/// Reads while `slipstream-sim` writes to a 64 KiB ring, sleeping 50 ms
/// whenever it has caught up, so that it is lapped again and again: every lag
/// must be exact (the printed seqs and lags cover 1 to the last with no gap or
/// repeat) and every event delivered must be intact, which a second run of
/// the same deterministic simulation, into a ring large enough to keep
/// everything, read by `slipstream-tail`, shows.
#[test]
fn the_python_reader_lapped_while_reading_reports_exact_gaps_and_intact_events() {
    let sim_args = [
        "--max-event",
        "15KiB",
        "--block-size",
        "1KiB..8KiB",
        "--events-per-block",
        "20..80",
        "--blocks",
        "1500",
        "--rate",
        "500",
        "--seed",
        "7",
    ];
    let small = TempRing::new("py-lapped");
    let mut sim = Command::new(workspace_bin("slipstream-sim"));
    sim.arg(small.path())
        .args(["--capacity", "64KiB", "--quiet"])
        .args(sim_args);
    let node = spawn(sim, "slipstream-sim");
    wait_for_ring(small.path());
    let mut reader = python3();
    reader
        .arg(small.path())
        .args(["--from", "first", "--follow", "--poll-interval", "0.05"]);
    let reader = spawn(reader, "the Python reader");
    finish(node, "slipstream-sim", Duration::from_secs(120));
    let out = finish(reader, "the Python reader", Duration::from_secs(120));
    let lapped = parse(&out.stdout, "the Python reader");
    let last = next_seq(small.path()) - 1;
    assert_eq!(
        check_contiguous(&lapped, 1, "python --follow"),
        last + 1,
        "the reader covered every seq, as events or lags"
    );
    let lag = lags(&lapped);
    assert!(
        !lag.is_empty(),
        "a reader sleeping 50 ms on a 64 KiB ring at 500 blocks/s was never lapped"
    );
    let delivered = events(&lapped);
    assert!(
        delivered.len() > 100,
        "only {} events delivered",
        delivered.len()
    );

    let big = TempRing::new("py-reference");
    let mut args = vec!["--capacity", "64MiB"];
    args.extend(sim_args);
    run_sim(big.path(), &args);
    assert_eq!(
        next_seq(big.path()) - 1,
        last,
        "the simulation is deterministic"
    );
    let reference: HashMap<u64, Value> = tail_lines(big.path())
        .into_iter()
        .map(|l| (l["seq"].as_u64().unwrap(), l))
        .collect();
    assert_eq!(reference.len() as u64, last);
    for e in delivered {
        let seq = e["seq"].as_u64().unwrap();
        assert_eq!(
            &Value::Object(e.clone()),
            &reference[&seq],
            "event {seq} differs from the reference run"
        );
    }
}
