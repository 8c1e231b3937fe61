//! Faults and bad input.
//!
//! Consumers that are killed mid-read, stopped for seconds, scribble on their
//! own cursor slot, or come and go by the hundred while a producer writes; and
//! ring files that are corrupt (bytes flipped in the header or the data, of a
//! live ring and of a dead one), truncated, of another format or version, not
//! files at all, unreadable, or too large for their disk.
//!
//! What is asserted is deterministic: exact coverage of sequence numbers (every
//! event delivered, or inside a reported lag, never skipped silently), slot
//! liveness, typed errors that name the problem, exit statuses, and stderr
//! that names the path. Time enters only as deadlines (nothing may hang) and
//! as loose bounds on the producer's own cost per publish.
//!
//! Random inputs come from a seeded generator; every test prints its seed.
//! `SLIPSTREAM_FAULT_SEED=N` replays a run, `SLIPSTREAM_FAULT_ITERS=N` sets the
//! iteration count of the randomised tests (default 200 each).
//!
//! Needs the tools built in the same profile (`cargo build -p slipstream-tools`,
//! or `cargo test --workspace`).

use nix::sys::signal::Signal;
use serde_json::Value;
use slipstream_consumer::{BlockItem, Consumer, ConsumerError, EventRef, Item, Start};
use slipstream_producer::{Producer, ProducerError, ProducerOptions};
use slipstream_ring::{
    read_slots, Geometry, Item as RingItem, Layout, OpenError, Reader, SeekError, SlotError,
    SlotInfo, Start as RingStart,
};
use slipstream_tests::{workspace_bin, ChildGuard, TempRing};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Inputs: iteration counts and a seeded generator.
// ---------------------------------------------------------------------------

/// Iterations of each randomised loop (`SLIPSTREAM_FAULT_ITERS`, default 200).
fn iters() -> u64 {
    std::env::var("SLIPSTREAM_FAULT_ITERS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(200)
}

/// SplitMix64: small, fast, and the same everywhere for a given seed.
struct Rng(u64);

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator for `test`, from `SLIPSTREAM_FAULT_SEED` (or a fixed default).
    fn for_test(test: &str) -> Rng {
        let base: u64 = std::env::var("SLIPSTREAM_FAULT_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(20_261_122);
        eprintln!("{test}: seed {base} (replay with SLIPSTREAM_FAULT_SEED={base})");
        Rng(test.bytes().fold(base, |h, b| mix(h ^ b as u64)))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A number in `0..n` (0 if `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True `n` times in `d`.
    fn chance(&mut self, n: u64, d: u64) -> bool {
        self.below(d) < n
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let w = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }
}

/// Replaces runs of digits with `N`, so that errors that differ only in their
/// numbers are counted together in the summaries.
fn category(text: &str) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out.chars().take(110).collect()
}

fn print_tally(title: &str, tally: &BTreeMap<String, u64>) {
    eprintln!("{title}:");
    for (what, n) in tally {
        eprintln!("  {n:>5}  {what}");
    }
}

// ---------------------------------------------------------------------------
// Processes: the real binaries, bounded by deadlines, their pipes drained.
// ---------------------------------------------------------------------------

fn sim(ring: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(workspace_bin("slipstream-sim"));
    c.arg(ring).args(args);
    c
}

fn tail(ring: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(workspace_bin("slipstream-tail"));
    c.arg(ring).args(args);
    c
}

fn stat(ring: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(workspace_bin("slipstream"));
    c.arg("stat").arg(ring).args(args);
    c
}

/// A child whose stdout (line by line) and stderr are drained by threads, so
/// that it never blocks on a full pipe; killed and reaped if dropped.
struct Kid {
    guard: ChildGuard,
    lines: mpsc::Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
    what: String,
}

impl Kid {
    fn spawn(mut cmd: Command) -> Kid {
        let what = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(err).read_to_string(&mut s);
            s
        });
        Kid {
            guard: ChildGuard::new(child),
            lines,
            stderr: Some(stderr),
            what,
        }
    }

    fn pid(&self) -> i32 {
        self.guard.pid().as_raw()
    }

    fn signal(&self, signal: Signal) {
        self.guard.signal(signal);
    }

    fn running(&mut self) -> bool {
        self.guard
            .0
            .as_mut()
            .expect("child present")
            .try_wait()
            .expect("try_wait")
            .is_none()
    }

    /// Waits for the child to exit (panics, killing it, after `limit`) and
    /// collects the rest of its output.
    fn finish(mut self, limit: Duration) -> Out {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.guard.0.as_mut().unwrap().try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?}: a hang",
                self.what
            );
            thread::sleep(Duration::from_millis(10));
        };
        let stdout: Vec<String> = self.lines.iter().collect();
        let stderr = self.stderr.take().unwrap().join().unwrap_or_default();
        Out {
            what: std::mem::take(&mut self.what),
            status,
            stdout,
            stderr,
        }
    }
}

/// What a finished child printed, and how it ended.
struct Out {
    what: String,
    status: ExitStatus,
    stdout: Vec<String>,
    stderr: String,
}

impl Out {
    /// No panic, no death by a signal (a crash, SIGBUS, SIGSEGV, abort).
    fn assert_no_panic(&self) -> &Self {
        assert!(
            !self.stderr.contains("panicked"),
            "{} panicked:\n{}",
            self.what,
            self.stderr
        );
        assert!(
            self.status.code().is_some() && self.status.code() != Some(101),
            "{} crashed ({:?}):\n{}",
            self.what,
            self.status,
            self.stderr
        );
        self
    }

    /// Exit status 1, and stderr names `path` and one of `reasons`.
    fn assert_refused(&self, path: &Path, reasons: &[&str]) -> &Self {
        self.assert_no_panic();
        assert_eq!(
            self.status.code(),
            Some(1),
            "{}: exit status (stderr: {})",
            self.what,
            self.stderr
        );
        let shown = path.display().to_string();
        assert!(
            self.stderr.contains(&shown),
            "{}: stderr does not name {shown}: {}",
            self.what,
            self.stderr
        );
        assert!(
            reasons.iter().any(|r| self.stderr.contains(r)),
            "{}: stderr names none of {reasons:?}: {}",
            self.what,
            self.stderr
        );
        self
    }

    /// Exit status 0 or 1; on 1, stderr names `path`.
    fn assert_ok_or_refused(&self, path: &Path) -> &Self {
        self.assert_no_panic();
        match self.status.code() {
            Some(0) => {}
            Some(1) => assert!(
                self.stderr.contains(&path.display().to_string()),
                "{}: the error does not name the ring {}: {}",
                self.what,
                path.display(),
                self.stderr
            ),
            other => panic!("{}: exit status {other:?}: {}", self.what, self.stderr),
        }
        self
    }

    fn assert_success(&self) -> &Self {
        self.assert_no_panic();
        assert!(
            self.status.success(),
            "{}: {:?}: {}",
            self.what,
            self.status,
            self.stderr
        );
        self
    }
}

/// Runs a command to its end, within `limit`.
fn run(cmd: Command, limit: Duration) -> Out {
    Kid::spawn(cmd).finish(limit)
}

const CLI_LIMIT: Duration = Duration::from_secs(60);

/// Runs `f` on another thread and waits at most `limit` for it: a hang is a
/// failure that names `what`, not a test that never ends. A panic in `f` is
/// re-raised here.
fn bounded<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = handle.join();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => {
                eprintln!("{what}: panicked");
                std::panic::resume_unwind(panic)
            }
            Ok(()) => unreachable!("the closure returned without sending"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: did not return within {limit:?}"),
    }
}

/// Whether process `pid` is stopped (state `T` in /proc).
fn is_stopped(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('T'))
        })
        .unwrap_or(false)
}

fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// CPU time consumed by the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is, and keeps no pointer.
    let rc = unsafe { nix::libc::clock_gettime(nix::libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

// ---------------------------------------------------------------------------
// Rings.
// ---------------------------------------------------------------------------

fn options(layout: Layout) -> ProducerOptions {
    ProducerOptions {
        layout,
        ..Default::default()
    }
}

/// Creates a ring with `layout` and closes it (a later producer resumes it,
/// keeping its layout).
fn create_ring(path: &Path, layout: Layout) {
    drop(Producer::open(path, options(layout)).expect("create the ring"));
}

fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

fn read_at(file: &File, off: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0; len];
    file.read_exact_at(&mut b, off).expect("pread");
    b
}

/// The head of the ring: the sequence number and position the next record gets.
#[derive(Clone, Copy, Debug)]
struct Head {
    next_seq: u64,
    tail: u64,
}

fn head(path: &Path) -> Head {
    let file = File::open(path).expect("open ring");
    let r = Reader::attach(&file, RingStart::End).expect("attach at the end");
    Head {
        next_seq: r.next_seq(),
        tail: r.position(),
    }
}

/// The oldest sequence number the ring holds (a quiescent ring).
fn oldest(path: &Path) -> u64 {
    let file = File::open(path).expect("open ring");
    Reader::attach(&file, RingStart::Oldest)
        .expect("attach at the oldest")
        .next_seq()
}

fn geometry(path: &Path) -> Geometry {
    let file = File::open(path).expect("open ring");
    *Reader::attach(&file, RingStart::End)
        .expect("attach")
        .geometry()
}

fn slots(path: &Path) -> Vec<SlotInfo> {
    read_slots(path).expect("read the named cursors")
}

/// The cursor file of consumer `name`, opened for writing (as its owner).
fn cursor_file(path: &Path, name: &str) -> File {
    open_rw(&slipstream_ring::sidecar::cursor_path(path, name))
}

fn slot_named(path: &Path, name: &str) -> Option<SlotInfo> {
    slots(path).into_iter().find(|s| s.name == name)
}

fn named(path: &Path, name: &str) -> Consumer {
    Consumer::builder(path)
        .name(name)
        .start(Start::Oldest)
        .open()
        .unwrap_or_else(|e| panic!("attach {name}: {e}"))
}

/// Publishes `blocks` small blocks (a begin marker, 5 to 36 mapping updates,
/// a staking reward, a block event, the commit marker); every publish must
/// succeed. Returns the number of events published.
fn publish_blocks(p: &mut Producer, height: &mut u64, blocks: u64) -> u64 {
    let mut n = 0;
    for _ in 0..blocks {
        let h = *height;
        *height += 1;
        p.begin_block(h).expect("begin_block");
        let events = 5 + h % 32;
        for i in 0..events {
            let key = (h * 1000 + i).to_le_bytes();
            let value = vec![(h % 251) as u8; 8 + (i as usize * 7) % 64];
            p.mapping_update_at(h, b"credits.aleo", b"account", &key, &value)
                .expect("mapping_update");
        }
        p.staking_reward_at(h, b"aleo1staker", b"aleo1validator", h, h * 10)
            .expect("staking_reward");
        p.block_at(h, &vec![0xb1; 300 + (h as usize % 700)])
            .expect("block");
        p.commit_block().expect("commit_block");
        n += events + 4;
    }
    n
}

/// Exact coverage of sequence numbers: each event is the one after the
/// previous item, and each lag starts there; anything else is a silent skip
/// or a repeat.
#[derive(Debug, Default)]
struct Cover {
    next: Option<u64>,
    events: u64,
    lags: Vec<(u64, u64)>,
}

impl Cover {
    fn from(seq: u64) -> Cover {
        Cover {
            next: Some(seq),
            ..Default::default()
        }
    }

    fn event(&mut self, who: &str, seq: u64) {
        if let Some(n) = self.next {
            assert_eq!(
                seq, n,
                "{who}: event {seq} where {n} was due: a silent skip or a repeat (lags {:?})",
                self.lags
            );
        }
        self.next = Some(seq + 1);
        self.events += 1;
    }

    fn lag(&mut self, who: &str, first: u64, last: u64) {
        if let Some(n) = self.next {
            assert_eq!(
                first, n,
                "{who}: lag {first}..={last} where {n} was due (lags {:?})",
                self.lags
            );
        }
        assert!(last >= first, "{who}: empty lag {first}..={last}");
        self.lags.push((first, last));
        self.next = Some(last + 1);
    }

    fn item(&mut self, who: &str, item: &Item<'_>) {
        match item {
            Item::Event(e) => self.event(who, e.seq),
            Item::Lagged(l) => self.lag(who, l.first_missed, l.last_missed),
            Item::Producer(_) => {}
        }
    }

    /// One line of `slipstream-tail --json`.
    fn json(&mut self, who: &str, line: &str) {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{who}: not JSON ({e}): {line}"));
        if let Some(l) = v.get("lagged") {
            self.lag(
                who,
                l["first_missed"].as_u64().unwrap(),
                l["last_missed"].as_u64().unwrap(),
            );
        } else if v.get("producer").is_some() {
        } else if let Some(u) = v.get("undecodable") {
            self.event(who, u["seq"].as_u64().unwrap());
        } else {
            let seq = v["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("{who}: no seq: {line}"));
            self.event(who, seq);
        }
    }
}

/// Reads whatever is ready (at most `max` items), checking coverage.
fn read_burst(c: &mut Consumer, cover: &mut Cover, who: &str, max: usize) {
    for _ in 0..max {
        match c.try_next() {
            Ok(Some(item)) => cover.item(who, &item),
            Ok(None) => return,
            Err(e) => panic!("{who}: {e}"),
        }
    }
}

/// Reads until the consumer's next sequence number is `end`, checking coverage.
fn drain_to(c: &mut Consumer, cover: &mut Cover, who: &str, end: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.next_seq() < end {
        assert!(
            Instant::now() < deadline,
            "{who} did not reach {end} (at {})",
            c.next_seq()
        );
        match c.next(Duration::from_millis(100)) {
            Ok(Some(item)) => cover.item(who, &item),
            Ok(None) => {}
            Err(e) => panic!("{who}: {e}"),
        }
    }
    assert_eq!(
        cover.next.unwrap_or(end),
        end,
        "{who} covered up to the end"
    );
}

// ---------------------------------------------------------------------------
// 3. Consumer faults, with a producer writing throughout.
// ---------------------------------------------------------------------------

/// A consumer killed (SIGKILL) while it reads flat-out traffic: the producer
/// and another consumer do not notice, its slot shows dead, and a new name
/// takes the slot when the table is full.
#[test]
fn a_killed_consumer_harms_no_one_and_its_slot_is_reclaimed() {
    let ring = TempRing::new("fault-kill");
    let path = ring.path();
    // Two reader slots: one for the witness, one for the victim.
    create_ring(path, Layout::new(4 << 20).max_payload(64 << 10));
    let mut witness = named(path, "witness");
    let mut cover = Cover::from(1);
    let mut node = Kid::spawn(sim(
        path,
        &[
            "--flat-out",
            "--duration",
            "4s",
            "--events-per-block",
            "20..200",
            "--stakers",
            "1..5",
            "--block-size",
            "1KiB..8KiB",
            "--quiet",
        ],
    ));
    let mut victim = Some(Kid::spawn(tail(
        path,
        &["--json", "--from", "oldest", "--name", "victim"],
    )));
    let mut victim_lines = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the test did not finish in time");
        for _ in 0..20_000 {
            match witness.next(Duration::from_millis(2)) {
                Ok(Some(item)) => cover.item("witness", &item),
                Ok(None) => break,
                Err(e) => panic!("witness: {e}"),
            }
        }
        if let Some(v) = victim.as_mut() {
            while v.lines.try_recv().is_ok() {
                victim_lines += 1;
            }
            // `slipstream-tail --name` commits after every 4096 events it
            // printed (or when idle, which it never is here): kill it only
            // once lines past its first commit have reached us, so that its
            // cursor has moved (a line after the 4096th is written after it).
            if victim_lines >= 8192 {
                assert!(
                    node.running(),
                    "the producer stopped before the consumer was killed mid-read"
                );
                v.signal(Signal::SIGKILL);
                let out = victim.take().unwrap().finish(Duration::from_secs(20));
                assert_eq!(out.status.signal(), Some(Signal::SIGKILL as i32));
            }
        }
        if victim.is_none() && !node.running() {
            break;
        }
    }
    node.finish(Duration::from_secs(60)).assert_success();
    let end = head(path).next_seq;
    drain_to(&mut witness, &mut cover, "witness", end);
    eprintln!(
        "witness: {} events and {} lags (first {:?}), exact; the victim printed {victim_lines} lines before SIGKILL; {} events in all",
        cover.events,
        cover.lags.len(),
        &cover.lags[..cover.lags.len().min(3)],
        end - 1
    );

    // The victim's cursor is there and dead; the witness's is live.
    let victim_slot = slot_named(path, "victim").expect("the victim's cursor");
    assert_eq!(victim_slot.live, Some(false), "{victim_slot:?}");
    assert!(victim_slot.next_seq > 1, "{victim_slot:?}");
    let witness_slot = slot_named(path, "witness").expect("the witness's cursor");
    assert_eq!(witness_slot.live, Some(true), "{witness_slot:?}");
    // `slipstream stat` says the same.
    let out = run(stat(path, &["--json", "--interval", "0s"]), CLI_LIMIT);
    out.assert_success();
    let v: Value = serde_json::from_str(&out.stdout.join("\n")).unwrap();
    let live_of = |name: &str| {
        v["readers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("stat lists {name}: {v}"))["live"]
            .as_bool()
            .unwrap()
    };
    assert!(!live_of("victim") && live_of("witness"), "{v}");

    // Nothing was evicted; the next claimant of the dead name takes its
    // cursor over and resumes from it.
    let mut again = Consumer::builder(path)
        .name("victim")
        .start(Start::End)
        .open()
        .unwrap();
    match again.try_next().unwrap() {
        Some(Item::Event(e)) => assert_eq!(e.seq, victim_slot.next_seq),
        Some(Item::Lagged(l)) => assert_eq!(l.first_missed, victim_slot.next_seq),
        other => panic!("the reclaimed name's first item: {other:?}"),
    }
    assert_eq!(slot_named(path, "victim").unwrap().live, Some(true));
    // While it lives, the name is refused to another, from the SDK and the CLI.
    let err = Consumer::builder(path).name("victim").open().unwrap_err();
    assert!(
        matches!(
            err,
            ConsumerError::Slot {
                source: SlotError::NameInUse { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    run(tail(path, &["--name", "victim"]), CLI_LIMIT)
        .assert_refused(path, &["is in use by live process"]);
    drop(again);
}

/// A consumer stopped (SIGSTOP) while the producer writes many laps: the
/// producer's head keeps rising, the stopped consumer keeps its slot, and once
/// continued it reports exactly one lag, with the exact range.
#[test]
fn a_stopped_consumer_costs_the_producer_nothing_and_learns_its_exact_gap() {
    let ring = TempRing::new("fault-stop");
    let path = ring.path();
    let capacity = 1u64 << 20;
    create_ring(path, Layout::new(capacity).max_payload(64 << 10));
    let sleeper = Kid::spawn(tail(
        path,
        &[
            "--json",
            "--name",
            "sleeper",
            "--from",
            "end",
            "--timeout",
            "2s",
        ],
    ));
    wait_until("the consumer attaches", Duration::from_secs(30), || {
        slot_named(path, "sleeper").is_some_and(|s| s.live == Some(true))
    });
    sleeper.signal(Signal::SIGSTOP);
    wait_until("the consumer stops", Duration::from_secs(10), || {
        is_stopped(sleeper.pid())
    });
    let start = head(path).next_seq;
    let mut node = Kid::spawn(sim(
        path,
        &[
            "--flat-out",
            "--duration",
            "4s",
            "--events-per-block",
            "50..200",
            "--block-size",
            "8KiB..60KiB",
            "--quiet",
        ],
    ));
    wait_until("the producer publishes", Duration::from_secs(30), || {
        assert!(node.running(), "the producer exited early");
        head(path).next_seq > start
    });
    let a = head(path);
    thread::sleep(Duration::from_secs(1));
    let b = head(path);
    assert!(node.running(), "the producer ran through the measurement");
    assert!(
        is_stopped(sleeper.pid()),
        "the consumer was stopped throughout"
    );
    assert!(
        b.next_seq > a.next_seq && b.tail - a.tail >= 3 * capacity,
        "the producer kept publishing, laps over the stopped consumer: {a:?} then {b:?}"
    );
    eprintln!(
        "while the consumer was stopped, the producer published {} events ({:.1} laps) in 1 s",
        b.next_seq - a.next_seq,
        (b.tail - a.tail) as f64 / capacity as f64
    );
    // The stopped consumer still holds its slot, with its cursor where it stopped.
    let s = slot_named(path, "sleeper").unwrap();
    assert_eq!(s.live, Some(true), "{s:?}");
    assert_eq!(s.next_seq, start, "{s:?}");
    node.finish(Duration::from_secs(60)).assert_success();
    let last = head(path).next_seq - 1;

    sleeper.signal(Signal::SIGCONT);
    let out = sleeper.finish(Duration::from_secs(60));
    out.assert_success();
    let mut cover = Cover::from(start);
    for line in &out.stdout {
        cover.json("sleeper", line);
    }
    assert_eq!(cover.lags.len(), 1, "one lag report: {:?}", cover.lags);
    assert_eq!(cover.lags[0].0, start, "the gap starts where it stopped");
    assert_eq!(cover.next, Some(last + 1), "and it read to the end");
    eprintln!(
        "after SIGCONT: lag {:?}, then {} events to {last}",
        cover.lags[0], cover.events
    );
}

/// Writes 56 random bytes over a cursor's fields (offsets 80 to 136 of its
/// file: ring_id, next_seq, position, attached time, delivered, missed, laps).
fn scribble(file: &File, rng: &mut Rng) {
    let mut garbage = [0u8; 56];
    rng.fill(&mut garbage);
    file.write_all_at(&garbage, 80).expect("pwrite the cursor");
}

/// What a consumer resuming from a cursor must do, given the ring it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// No usable cursor (another ring's id, or none): start afresh, at the oldest.
    Fresh,
    /// The cursor is past the end: a clear error.
    Future { requested: u64, next: u64 },
    /// The cursor is the end: nothing to read yet.
    AtEnd,
    /// The cursor is retained: resume exactly there.
    Exact(u64),
    /// The cursor was overwritten: a lag from it, exactly, then events.
    Lag(u64),
}

impl Expect {
    fn of(ring_id_matches: bool, next_seq: u64, oldest: u64, end: u64) -> Expect {
        if !ring_id_matches || next_seq == 0 {
            Expect::Fresh
        } else if next_seq > end {
            Expect::Future {
                requested: next_seq,
                next: end,
            }
        } else if next_seq == end {
            Expect::AtEnd
        } else if next_seq >= oldest {
            Expect::Exact(next_seq)
        } else {
            Expect::Lag(next_seq)
        }
    }
}

/// A sequence number for a garbage cursor: mostly the interesting ones.
fn pick_seq(rng: &mut Rng, oldest: u64, end: u64) -> u64 {
    match rng.below(12) {
        0 => 0,
        1 => 1,
        2 => oldest.saturating_sub(1).max(1),
        3 => oldest,
        4 => oldest + rng.below(end - oldest),
        5 => end - 1,
        6 => end,
        7 => end + 1 + rng.below(1000),
        8 => u64::MAX - rng.below(2),
        9 => 1 + rng.below(end),
        _ => rng.next_u64(),
    }
}

/// Checks an SDK consumer resuming under `name` against `expect`, then reads
/// to the end with exact coverage. Returns a word for the summary.
fn check_resume(path: &Path, name: &str, expect: Expect, oldest: u64, end: u64) -> &'static str {
    let who = format!("{name} resuming ({expect:?}, oldest {oldest}, end {end})");
    let opened = Consumer::builder(path)
        .name(name)
        .start(Start::Oldest)
        .open();
    let mut c = match (expect, opened) {
        (Expect::Future { requested, next }, Err(e)) => {
            assert!(
                matches!(
                    e,
                    ConsumerError::Seek(SeekError::InFuture { requested: r, next: n })
                        if r == requested && n == next
                ),
                "{who}: {e:?}"
            );
            assert!(e.to_string().contains("has not been written yet"), "{e}");
            return "clear error: cursor in the future";
        }
        (_, Err(e)) => panic!("{who}: {e:?}"),
        (Expect::Future { .. }, Ok(c)) => panic!("{who}: attached at {}", c.next_seq()),
        (_, Ok(c)) => c,
    };
    let mut cover = Cover::default();
    let at = c.next_seq();
    let first = c.try_next().unwrap_or_else(|e| panic!("{who}: {e}"));
    let outcome = match (expect, first) {
        (Expect::Fresh, Some(Item::Event(e))) if e.seq == oldest => "fresh start at the oldest",
        (Expect::AtEnd, None) if at == end => "resumed at the end",
        (Expect::Exact(n), Some(Item::Event(e))) if e.seq == n => "exact resume",
        (Expect::Lag(n), Some(Item::Lagged(l)))
            if l.first_missed == n && l.last_missed + 1 >= oldest && l.last_missed < end =>
        {
            "exact lag, then the oldest retained"
        }
        (_, other) => panic!("{who}: first item {other:?}"),
    };
    // The first item was checked above; go on from after it.
    cover.next = Some(c.next_seq());
    drain_to(&mut c, &mut cover, &who, end);
    outcome
}

/// A consumer that scribbles on its own cursor slot, live or dead: the
/// producer and the other consumers do not notice; a consumer resuming under
/// a scribbled name resumes exactly, fails with a clear error, or starts
/// afresh, and reports every gap exactly; nothing panics.
#[test]
fn garbage_in_cursor_slots_never_panics_and_never_skips_silently() {
    let mut rng = Rng::for_test("garbage_in_cursor_slots");
    let ring = TempRing::new("fault-garbage");
    let path = ring.path().to_path_buf();
    let layout = Layout::new(256 << 10).max_payload(8 << 10);
    let geo = layout.geometry().unwrap();
    let mut producer = Producer::open(&path, options(layout)).unwrap();
    let mut height = 1;
    publish_blocks(&mut producer, &mut height, 5);
    let ring_id = u64::from_le_bytes(
        read_at(&File::open(&path).unwrap(), 56, 8)
            .try_into()
            .unwrap(),
    );

    // A consumer that read a little and left: a dead slot with a cursor.
    {
        let mut c = named(&path, "scribbled-dead");
        for _ in 0..10 {
            c.try_next().unwrap();
        }
    }
    let mut live = named(&path, "scribbled-live");
    let mut witness = named(&path, "witness");
    let live_slot = slot_named(&path, "scribbled-live").unwrap();
    let dead_slot = slot_named(&path, "scribbled-dead").unwrap();
    assert!(live_slot.live == Some(true) && dead_slot.live == Some(false));
    let live_file = cursor_file(&path, "scribbled-live");
    let dead_file = cursor_file(&path, "scribbled-dead");
    let (mut live_cover, mut witness_cover) = (Cover::from(1), Cover::from(1));

    // 1. The producer publishes from a thread while both slots get garbage.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut published = 0;
            while !stop.load(Ordering::Relaxed) {
                published += publish_blocks(&mut producer, &mut height, 1);
            }
            (producer, height, published)
        })
    };
    let scribbles = (iters() / 2).max(10);
    for i in 0..scribbles {
        scribble(&live_file, &mut rng);
        if i % 10 == 0 {
            // All ones, the garbage of a memset(-1): counters at their maximum.
            live_file.write_all_at(&[0xff; 56], 80).unwrap();
        }
        scribble(&dead_file, &mut rng);
        read_burst(&mut live, &mut live_cover, "scribbled-live", 300);
        read_burst(&mut witness, &mut witness_cover, "witness", 300);
        thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    let (mut producer, mut height, published) = writer
        .join()
        .expect("every publish returned Ok while slots were scribbled on");
    let end = producer.next_seq();
    drain_to(&mut live, &mut live_cover, "scribbled-live", end);
    drain_to(&mut witness, &mut witness_cover, "witness", end);
    eprintln!(
        "{scribbles} scribbles on a live and a dead slot while {published} events were published; \
         the scribbled live consumer saw {} events and {} lags, the witness {} and {}, all exact",
        live_cover.events,
        live_cover.lags.len(),
        witness_cover.events,
        witness_cover.lags.len()
    );

    // The live consumer's cursor is written again as it moves on, and a
    // restart under its name resumes exactly there.
    scribble(&live_file, &mut rng);
    publish_blocks(&mut producer, &mut height, 1);
    drain_to(
        &mut live,
        &mut live_cover,
        "scribbled-live",
        producer.next_seq(),
    );
    // Asking for more (nothing comes) moves past the last event drained:
    // a drop then stores everything (it never stores the item in flight).
    assert!(live.try_next().unwrap().is_none());
    let saved = live.next_seq();
    drop(live);
    let s = slot_named(&path, "scribbled-live").unwrap();
    assert_eq!(
        (s.ring_id, s.next_seq),
        (ring_id, saved),
        "the cursor was rewritten"
    );
    publish_blocks(&mut producer, &mut height, 1);
    let mut again = named(&path, "scribbled-live");
    match again.try_next().unwrap() {
        Some(Item::Event(e)) => assert_eq!(e.seq, saved, "resumed exactly"),
        other => panic!("after a restart: {other:?}"),
    }
    drop(again);
    drop(witness);

    // 2. Resuming from garbage, against what the ring holds (quiescent while checked).
    let mut tally = BTreeMap::<String, u64>::new();
    for i in 0..iters() {
        if i % 8 == 0 {
            publish_blocks(&mut producer, &mut height, 1 + rng.below(6));
        }
        let slot = slot_named(&path, "scribbled-dead").unwrap();
        assert_eq!(
            slot.live,
            Some(false),
            "iteration {i}: {slot:?} {:?}",
            slots(&path)
        );
        let (oldest, end) = (oldest(&path), producer.next_seq());
        let mut garbage = [0u8; 56];
        rng.fill(&mut garbage);
        let id_matches = rng.chance(3, 4);
        if id_matches {
            garbage[0..8].copy_from_slice(&ring_id.to_le_bytes());
        }
        let next_seq = pick_seq(&mut rng, oldest, end);
        garbage[8..16].copy_from_slice(&next_seq.to_le_bytes());
        let position = match rng.below(4) {
            0 => head(&path).tail,
            1 => head(&path).tail.saturating_sub(rng.below(geo.capacity)) & !7,
            _ => rng.next_u64(),
        };
        garbage[16..24].copy_from_slice(&position.to_le_bytes());
        let expect = Expect::of(id_matches && ring_id != 0, next_seq, oldest, end);
        let off = 80;
        dead_file.write_all_at(&garbage, off).unwrap();
        if i % 25 == 0 {
            // The command-line tools on the same garbage.
            run(stat(&path, &["--json", "--interval", "0s"]), CLI_LIMIT).assert_success();
            let out = run(
                tail(
                    &path,
                    &[
                        "--json",
                        "--name",
                        "scribbled-dead",
                        "--from",
                        "oldest",
                        "--no-follow",
                    ],
                ),
                CLI_LIMIT,
            );
            match expect {
                Expect::Future { .. } => {
                    out.assert_refused(&path, &["has not been written yet"]);
                }
                _ => {
                    out.assert_success();
                    let mut cover = match expect {
                        Expect::Fresh => Cover::from(oldest),
                        Expect::Exact(n) | Expect::Lag(n) => Cover::from(n),
                        _ => Cover::from(end),
                    };
                    for line in &out.stdout {
                        cover.json("slipstream-tail --name scribbled-dead", line);
                    }
                    assert_eq!(cover.next, Some(end), "{expect:?}: tail read to the end");
                    assert_eq!(
                        cover.lags.len(),
                        matches!(expect, Expect::Lag(_)) as usize,
                        "{expect:?}: {:?}",
                        cover.lags
                    );
                }
            }
            dead_file.write_all_at(&garbage, off).unwrap();
        }
        let outcome = check_resume(&path, "scribbled-dead", expect, oldest, end);
        *tally.entry(outcome.to_string()).or_default() += 1;
    }
    print_tally(
        &format!("{} resumes from a garbage cursor", iters()),
        &tally,
    );

    // A cursor garbled whole (magic, name, pid too): the list still reads
    // (naming the problem), the tools still work, and the name starts afresh.
    let mut garbage = [0u8; 136];
    rng.fill(&mut garbage);
    dead_file.write_all_at(&garbage, 0).unwrap();
    assert_eq!(slots(&path).len(), 3);
    assert!(slot_named(&path, "scribbled-dead")
        .unwrap()
        .problem
        .is_some());
    run(stat(&path, &["--interval", "0s"]), CLI_LIMIT).assert_success();
    let end = producer.next_seq();
    let oldest = oldest(&path);
    assert_eq!(
        check_resume(&path, "scribbled-dead", Expect::Fresh, oldest, end),
        "fresh start at the oldest"
    );
}

/// A hundred named consumers attach and leave (threads, sequentially and
/// concurrently, and processes, some killed) while a producer publishes flat
/// out: the producer's cost per publish does not change and it never stalls;
/// afterwards no slot is live and every slot can be claimed again.
#[test]
fn a_hundred_consumers_coming_and_going_cost_the_producer_nothing() {
    let ring = TempRing::new("fault-churn");
    let path = ring.path().to_path_buf();
    let slots_n = 16usize;
    let layout = Layout::new(4 << 20).max_payload(64 << 10);
    let mut producer = Producer::open(&path, options(layout)).unwrap();

    /// What the producer measured in one phase.
    #[derive(Clone, Copy, Debug, Default)]
    struct Phase {
        published: u64,
        cpu_ns: u64,
        wall_ns: u64,
        /// Longest wall time between two consecutive blocks.
        max_gap_ns: u64,
    }
    // 0 quiet, 1 churn, 2 quiet again, 3 stop.
    let phase = Arc::new(AtomicU8::new(0));
    let writer = {
        let phase = phase.clone();
        thread::spawn(move || {
            let mut phases = [Phase::default(); 3];
            let mut height = 1;
            let mut current = 0u8;
            let (mut cpu0, mut wall0, mut last) = (thread_cpu_ns(), Instant::now(), Instant::now());
            loop {
                let n = publish_blocks(&mut producer, &mut height, 1);
                let now = Instant::now();
                let p = &mut phases[current as usize];
                p.published += n;
                p.max_gap_ns = p.max_gap_ns.max((now - last).as_nanos() as u64);
                last = now;
                let seen = phase.load(Ordering::Relaxed);
                if seen != current {
                    let cpu = thread_cpu_ns();
                    p.cpu_ns = cpu - cpu0;
                    p.wall_ns = (now - wall0).as_nanos() as u64;
                    (cpu0, wall0, current) = (cpu, now, seen);
                    if seen == 3 {
                        return phases;
                    }
                }
            }
        })
    };
    thread::sleep(Duration::from_millis(800));
    phase.store(1, Ordering::Relaxed);

    // The churn: 3 threads of 30 consumers each, one after the other in each
    // thread; and 10 processes, two at a time, half of them killed mid-read.
    let churn_started = Instant::now();
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let path = path.clone();
            thread::spawn(move || {
                for i in 0..30 {
                    let name = format!("churn-t{t}-{i}");
                    let mut c = Consumer::builder(&path)
                        .name(&name)
                        .start(if i % 2 == 0 {
                            Start::End
                        } else {
                            Start::Oldest
                        })
                        .open()
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                    let mut cover = Cover::default();
                    for _ in 0..(i * 37 % 300) {
                        match c.next(Duration::from_millis(5)) {
                            Ok(Some(item)) => cover.item(&name, &item),
                            Ok(None) => {}
                            Err(e) => panic!("{name}: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for pair in 0..5 {
        let kids: Vec<Kid> = (0..2)
            .map(|k| {
                let name = format!("churn-p{}", pair * 2 + k);
                let mut args = vec!["--json", "--name", &name, "--from", "end"];
                if k == 0 {
                    args.extend(["--count", "200"]);
                }
                Kid::spawn(tail(&path, &args))
            })
            .collect();
        for (k, kid) in kids.into_iter().enumerate() {
            if k == 1 {
                // Killed after its first line.
                kid.lines
                    .recv_timeout(Duration::from_secs(30))
                    .expect("a line from the consumer");
                kid.signal(Signal::SIGKILL);
                let out = kid.finish(CLI_LIMIT);
                assert_eq!(out.status.signal(), Some(Signal::SIGKILL as i32));
            } else {
                let out = kid.finish(CLI_LIMIT);
                out.assert_success();
                let mut cover = Cover::default();
                for line in &out.stdout {
                    cover.json("churn process", line);
                }
            }
        }
    }
    for t in threads {
        t.join()
            .expect("every churn consumer attached and read exactly");
    }
    let churn_time = churn_started.elapsed();
    // Let the churn phase last long enough to measure.
    if churn_time < Duration::from_millis(800) {
        thread::sleep(Duration::from_millis(800) - churn_time);
    }
    phase.store(2, Ordering::Relaxed);
    thread::sleep(Duration::from_millis(800));
    phase.store(3, Ordering::Relaxed);
    let phases = writer.join().expect("every publish returned Ok");

    let per_cpu = |p: &Phase| p.published as f64 / (p.cpu_ns.max(1) as f64 / 1e9);
    let per_wall = |p: &Phase| p.published as f64 / (p.wall_ns.max(1) as f64 / 1e9);
    let quiet_cpu = (per_cpu(&phases[0]) + per_cpu(&phases[2])) / 2.0;
    let quiet_wall = (per_wall(&phases[0]) + per_wall(&phases[2])) / 2.0;
    let churn = &phases[1];
    eprintln!(
        "100 consumers in {:.2} s. Producer, events per CPU-second: quiet {:.0} / {:.0}, churn {:.0} \
         ({:.2}x); per wall-second: quiet {:.0} / {:.0}, churn {:.0} ({:.2}x); longest gap between \
         blocks: quiet {:.1} ms / {:.1} ms, churn {:.1} ms",
        churn_time.as_secs_f64(),
        per_cpu(&phases[0]),
        per_cpu(&phases[2]),
        per_cpu(churn),
        per_cpu(churn) / quiet_cpu,
        per_wall(&phases[0]),
        per_wall(&phases[2]),
        per_wall(churn),
        per_wall(churn) / quiet_wall,
        phases[0].max_gap_ns as f64 / 1e6,
        phases[2].max_gap_ns as f64 / 1e6,
        churn.max_gap_ns as f64 / 1e6,
    );
    // The producer's own cost per publish (CPU time, immune to the scheduler
    // giving the churn the cores) stays within a loose bound...
    assert!(
        per_cpu(churn) >= 0.3 * quiet_cpu,
        "the producer's cost per publish grew under churn"
    );
    // ...and it was never held up: a stall of seconds would mean it waited.
    assert!(
        churn.max_gap_ns < 2_000_000_000,
        "the producer stalled for {} ms during the churn",
        churn.max_gap_ns / 1_000_000
    );

    // Afterwards: no live cursor, one file per name, every name claimable again.
    let table = slots(&path);
    assert!(table.iter().all(|s| s.live == Some(false)), "{table:?}");
    assert_eq!(table.len(), 100, "one cursor per name, none evicted");
    let held: Vec<Consumer> = (0..slots_n)
        .map(|i| named(&path, &format!("churn-t0-{i}")))
        .collect();
    assert_eq!(
        slots(&path).iter().filter(|s| s.live == Some(true)).count(),
        slots_n
    );
    drop(held);
}

// ---------------------------------------------------------------------------
// 4. Hostile and broken files.
// ---------------------------------------------------------------------------

/// A ring written by the simulator and closed: 256 KiB, lapped a few times,
/// so that it holds padding records and a full segment table.
fn dead_ring(tag: &str) -> TempRing {
    let ring = TempRing::new(tag);
    run(
        sim(
            ring.path(),
            &[
                "--blocks",
                "200",
                "--flat-out",
                "--capacity",
                "256KiB",
                "--max-event",
                "16KiB",
                "--block-size",
                "1KiB..8KiB",
                "--events-per-block",
                "10..60",
                "--quiet",
            ],
        ),
        CLI_LIMIT,
    )
    .assert_success();
    ring
}

/// One record of a baseline read: its bytes, and the positions it spans
/// (from the cursor before it, padding included, to the one after).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    kind: u16,
    payload: Vec<u8>,
    from: u64,
    to: u64,
}

/// Every record the ring holds, by sequence number.
fn baseline(path: &Path) -> BTreeMap<u64, Rec> {
    let file = File::open(path).unwrap();
    let mut r = Reader::attach(&file, RingStart::Oldest).unwrap();
    let mut out = BTreeMap::new();
    loop {
        let from = r.position();
        match r.try_next().unwrap() {
            None => break,
            Some(RingItem::Record(rec)) => {
                let (seq, kind, payload) = (rec.seq, rec.kind, rec.payload.to_vec());
                out.insert(
                    seq,
                    Rec {
                        kind,
                        payload,
                        from,
                        to: r.position(),
                    },
                );
            }
            Some(RingItem::Lagged(l)) => panic!("a closed ring lapped its reader: {l:?}"),
        }
    }
    out
}

/// A byte of the file to flip: its offset and the mask XORed into it.
#[derive(Clone, Copy, Debug)]
struct Flip {
    off: u64,
    mask: u8,
}

fn apply(file: &File, flips: &[Flip]) -> Vec<u8> {
    let old: Vec<u8> = flips.iter().map(|f| read_at(file, f.off, 1)[0]).collect();
    for (f, o) in flips.iter().zip(&old) {
        file.write_all_at(&[o ^ f.mask], f.off).unwrap();
    }
    old
}

fn restore(file: &File, flips: &[Flip], old: &[u8]) {
    for (f, o) in flips.iter().zip(old).rev() {
        file.write_all_at(&[*o], f.off).unwrap();
    }
}

/// Where flips land.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Region {
    /// The header page(s) and the wake page: fixed fields, counters, the segment table.
    Header,
    /// The data region: record headers, sequence numbers, payloads, padding.
    Data,
}

fn pick_flips(rng: &mut Rng, geo: &Geometry, region: Region) -> Vec<Flip> {
    let n = 1 + rng.below(3);
    (0..n)
        .map(|_| {
            let off = match region {
                Region::Header => match rng.below(10) {
                    // The fixed fields and the counters.
                    0..=3 => rng.below(512),
                    // The segment table.
                    4..=7 => 512 + rng.below(16 * geo.layout.segments as u64),
                    // Anywhere before the data: the rest of the header page, the wake page.
                    _ => rng.below(geo.data_offset),
                },
                Region::Data => geo.data_offset + rng.below(geo.capacity),
            };
            Flip {
                off,
                mask: 1 + rng.below(255) as u8,
            }
        })
        .collect()
}

/// Header bytes a reader does not read: a flip there must change nothing.
fn ignored_by_readers(off: u64, geo: &Geometry) -> bool {
    let seg_end = 768 + 16 * geo.layout.segments as u64;
    (56..72).contains(&off)      // ring_id, created
        || (80..256).contains(&off) // reserved, producer fields
        || (264..384).contains(&off) // reserved after tail_intent
        || (400..768).contains(&off) // commit slots (recovery only), reserved, notify, statistics
        || (seg_end..geo.data_offset).contains(&off)
}

/// Whether a flip lies inside the positions `from..to` of the data region.
fn touches(flips: &[Flip], geo: &Geometry, from: u64, to: u64) -> bool {
    flips.iter().any(|f| {
        f.off >= geo.data_offset && f.off < geo.file_len && {
            let d = f.off - geo.data_offset;
            (d.wrapping_sub(from & geo.mask) & geo.mask) < to - from
        }
    })
}

/// Reads the flipped dead ring with the ring's reader and checks what it
/// delivers against the baseline: in order, and every record whose bytes no
/// flip touched exactly as written. Returns the outcome for the summary, and
/// how many delivered records a flip had altered (undetectable: no checksum).
fn check_flipped_reader(
    path: &Path,
    base: &BTreeMap<u64, Rec>,
    flips: &[Flip],
    geo: &Geometry,
) -> (String, u64) {
    let file = File::open(path).unwrap();
    let mut r = match Reader::attach(&file, RingStart::Oldest) {
        Ok(r) => r,
        Err(e) => return (format!("attach refused: {}", category(&e.to_string())), 0),
    };
    let mut prev: Option<u64> = None;
    let mut delivered = 0u64;
    let mut altered = 0u64;
    for _ in 0..base.len() + 64 {
        match r.try_next() {
            Ok(None) => {
                let all = prev == base.keys().next_back().copied();
                return (
                    if all {
                        "read to the end".to_string()
                    } else {
                        "read a part, then nothing more".to_string()
                    },
                    altered,
                );
            }
            Ok(Some(RingItem::Record(rec))) => {
                if let Some(p) = prev {
                    assert_eq!(rec.seq, p + 1, "records come in order, no gap");
                }
                prev = Some(rec.seq);
                delivered += 1;
                match base.get(&rec.seq) {
                    Some(b) if !touches(flips, geo, b.from, b.to) => {
                        assert_eq!(
                            (rec.kind, rec.payload),
                            (b.kind, &b.payload[..]),
                            "record {} was delivered altered, though no flip touched it ({flips:?})",
                            rec.seq
                        );
                    }
                    Some(b) => {
                        altered += ((rec.kind, rec.payload) != (b.kind, &b.payload[..])) as u64
                    }
                    None => panic!(
                        "record {} was not in the ring ({flips:?}), yet was delivered",
                        rec.seq
                    ),
                }
            }
            Ok(Some(RingItem::Lagged(l))) => {
                // Only a flipped counter can make a closed ring look lapped;
                // the lag must still be a range.
                assert!(l.last_missed >= l.first_missed);
                prev = Some(l.last_missed);
            }
            Err(e) => {
                return (
                    format!(
                        "typed error after {delivered}: {}",
                        category(&e.to_string())
                    ),
                    altered,
                )
            }
        }
    }
    panic!("the reader delivered more records than the ring holds ({flips:?})");
}

/// Reads the ring with the SDK as a consumer would; every outcome must be an
/// item or a typed error, within a bound.
fn check_flipped_sdk(path: &Path, bound: usize) -> String {
    let mut c = match Consumer::builder(path).start(Start::Oldest).open() {
        Ok(c) => c,
        Err(e) => {
            let text = e.to_string();
            assert!(!text.is_empty());
            return format!("refused: {}", category(&text));
        }
    };
    let mut decode_errors = 0;
    for _ in 0..bound {
        match c.try_next() {
            Ok(None) => return format!("read ({decode_errors} undecodable)"),
            Ok(Some(_)) => {}
            Err(ConsumerError::Decode { .. }) => decode_errors += 1,
            Err(e) => return format!("error: {}", category(&e.to_string())),
        }
    }
    format!("still reading after {bound} items")
}

/// The CLIs on a damaged ring: they read it or refuse it, naming the ring;
/// they never panic, crash or hang.
fn check_flipped_clis(path: &Path, tally: &mut BTreeMap<String, u64>) {
    let out = run(
        tail(path, &["--json", "--from", "oldest", "--no-follow"]),
        CLI_LIMIT,
    );
    out.assert_ok_or_refused(path);
    let key = match out.status.code() {
        Some(0) => "slipstream-tail: read to the end".to_string(),
        _ => format!(
            "slipstream-tail: {}",
            category(out.stderr.lines().last().unwrap_or(""))
        ),
    };
    *tally.entry(key).or_default() += 1;
    let out = run(stat(path, &["--json", "--interval", "0s"]), CLI_LIMIT);
    out.assert_ok_or_refused(path);
    let key = match out.status.code() {
        Some(0) => "slipstream stat: ok".to_string(),
        _ => format!(
            "slipstream stat: {}",
            category(out.stderr.lines().last().unwrap_or(""))
        ),
    };
    *tally.entry(key).or_default() += 1;
}

/// Random bytes flipped in the header and in the data of a closed ring: the
/// reader and the SDK return records or typed errors, never panic or hang;
/// no record whose bytes were left alone is ever delivered altered; flips in
/// bytes readers ignore change nothing; the CLIs exit 0 or 1 naming the ring.
#[test]
fn flipped_bytes_in_a_dead_ring_give_typed_errors_never_altered_records() {
    let mut rng = Rng::for_test("flipped_bytes_dead");
    let ring = dead_ring("fault-flip-dead");
    let path = ring.path().to_path_buf();
    let geo = geometry(&path);
    let base = Arc::new(baseline(&path));
    assert!(
        base.len() > 500,
        "the ring holds enough records: {}",
        base.len()
    );
    let last = *base.keys().next_back().unwrap();
    assert!(head(&path).tail > 2 * geo.capacity, "the ring has wrapped");
    let file = open_rw(&path);
    let n = iters();
    let cli_every = (n / 10).max(1);
    let mut tally = BTreeMap::<String, u64>::new();
    let mut altered_total = 0;
    for region in [Region::Header, Region::Data] {
        for i in 0..n {
            let flips = pick_flips(&mut rng, &geo, region);
            let old = apply(&file, &flips);
            let what = format!("{region:?} flip {i}: {flips:?}");
            let (outcome, altered) = {
                let (p, b, f) = (path.clone(), base.clone(), flips.clone());
                bounded(&what, Duration::from_secs(30), move || {
                    check_flipped_reader(&p, &b, &f, &geo)
                })
            };
            altered_total += altered;
            if region == Region::Header && flips.iter().all(|f| ignored_by_readers(f.off, &geo)) {
                assert_eq!(
                    outcome, "read to the end",
                    "{what}: bytes readers ignore changed what they read"
                );
                assert_eq!(oldest(&path), *base.keys().next().unwrap());
                assert_eq!(head(&path).next_seq, last + 1);
            }
            *tally
                .entry(format!("{region:?}: reader: {outcome}"))
                .or_default() += 1;
            let sdk = {
                let p = path.clone();
                let bound = base.len() + 64;
                bounded(&what, Duration::from_secs(30), move || {
                    check_flipped_sdk(&p, bound)
                })
            };
            *tally.entry(format!("{region:?}: SDK: {sdk}")).or_default() += 1;
            if i % cli_every == 0 {
                check_flipped_clis(&path, &mut tally);
            }
            restore(&file, &flips, &old);
        }
    }
    print_tally(
        &format!("{n} header and {n} data flip sets on a closed ring"),
        &tally,
    );
    eprintln!(
        "records delivered with a flipped byte inside them (the format has no checksum): {altered_total}"
    );
    // Restored, the ring reads exactly as before.
    assert_eq!(*base, baseline(&path));
}

/// The same flips in a ring whose producer (`slipstream-sim`) keeps writing:
/// readers get items or typed errors, never a panic or a hang; the producer
/// goes on to the end and exits cleanly; once it has written over the damage,
/// the ring reads cleanly again.
#[test]
fn flipped_bytes_in_a_live_ring_give_typed_errors_and_the_producer_goes_on() {
    let mut rng = Rng::for_test("flipped_bytes_live");
    let ring = TempRing::new("fault-flip-live");
    let path = ring.path().to_path_buf();
    let node = Kid::spawn(sim(
        &path,
        &[
            "--rate",
            "200",
            "--capacity",
            "256KiB",
            "--max-event",
            "16KiB",
            "--block-size",
            "1KiB..4KiB",
            "--events-per-block",
            "10..50",
            "--quiet",
        ],
    ));
    let capacity = 256u64 << 10;
    wait_until("the producer laps", Duration::from_secs(60), || {
        path.exists() && Consumer::builder(&path).open().is_ok() && head(&path).tail > capacity
    });
    let geo = geometry(&path);
    let file = open_rw(&path);
    let seg_end = 768 + 16 * geo.layout.segments as u64;
    // Bytes that stay as they are while the producer runs: restored after each
    // flip. The others (counters, commit slots, statistics, segment table,
    // data) the producer rewrites.
    let fixed = |off: u64| {
        off < 256
            || (264..384).contains(&off)
            || (432..512).contains(&off)
            || (516..640).contains(&off)
            || (680..768).contains(&off)
            || (seg_end..geo.data_offset).contains(&off)
    };
    let n = iters();
    let cli_every = (n / 10).max(1);
    let mut tally = BTreeMap::<String, u64>::new();
    let start = head(&path);
    for region in [Region::Header, Region::Data] {
        for i in 0..n {
            let flips = pick_flips(&mut rng, &geo, region);
            let old = apply(&file, &flips);
            let what = format!("live {region:?} flip {i}: {flips:?}");
            let sdk = {
                let p = path.clone();
                bounded(&what, Duration::from_secs(30), move || {
                    check_flipped_sdk(&p, 2000)
                })
            };
            *tally.entry(format!("{region:?}: SDK: {sdk}")).or_default() += 1;
            if i % cli_every == 0 {
                check_flipped_clis(&path, &mut tally);
            }
            let (keep, back): (Vec<_>, Vec<_>) = flips
                .iter()
                .zip(&old)
                .filter(|(f, _)| fixed(f.off))
                .map(|(f, o)| (*f, *o))
                .unzip();
            restore(&file, &keep, &back);
        }
    }
    print_tally(
        &format!("{n} header and {n} data flip sets on a live ring"),
        &tally,
    );
    // The producer went on throughout, and once it has written the ring over
    // (two laps), a reader finds it clean from the oldest record to the end.
    let after = head(&path);
    assert!(after.next_seq > start.next_seq, "{start:?} then {after:?}");
    wait_until(
        "the producer writes two laps",
        Duration::from_secs(60),
        || head(&path).tail > after.tail + 2 * capacity,
    );
    let mut c = Consumer::builder(&path)
        .start(Start::Oldest)
        .open()
        .unwrap();
    let mut cover = Cover::default();
    let end = head(&path).next_seq;
    drain_to(&mut c, &mut cover, "a reader after the damage", end);
    assert!(cover.lags.len() <= 1, "{:?}", cover.lags);
    node.signal(Signal::SIGTERM);
    node.finish(CLI_LIMIT).assert_success();
}

/// What every reader and the simulator must say about a file that is not a
/// usable ring: SDK errors that name the path and the problem, exit status 1
/// and the same on stderr from each CLI, and a simulator that leaves the file
/// as it was.
fn assert_every_tool_refuses(path: &Path, reasons: &[&str], with_sim: bool) {
    let shown = path.display().to_string();
    for name in [None, Some("a-consumer")] {
        let mut b = Consumer::builder(path);
        if let Some(name) = name {
            b = b.name(name);
        }
        let err = b
            .open()
            .err()
            .unwrap_or_else(|| panic!("the SDK attached to {shown}"));
        let text = err.to_string();
        assert!(
            text.contains(&shown),
            "SDK error does not name {shown}: {text}"
        );
        assert!(
            reasons.iter().any(|r| text.contains(r)),
            "SDK error names none of {reasons:?}: {text}"
        );
    }
    run(tail(path, &[]), CLI_LIMIT).assert_refused(path, reasons);
    run(
        tail(path, &["--json", "--name", "x", "--from", "oldest"]),
        CLI_LIMIT,
    )
    .assert_refused(path, reasons);
    run(stat(path, &[]), CLI_LIMIT).assert_refused(path, reasons);
    if with_sim {
        let before = std::fs::symlink_metadata(path).ok().map(|m| {
            (
                m.len(),
                m.is_file().then(|| std::fs::read(path).unwrap_or_default()),
            )
        });
        run(
            sim(path, &["--blocks", "1", "--block-size", "1KiB", "--quiet"]),
            CLI_LIMIT,
        )
        .assert_refused(path, reasons);
        let after = std::fs::symlink_metadata(path).ok().map(|m| {
            (
                m.len(),
                m.is_file().then(|| std::fs::read(path).unwrap_or_default()),
            )
        });
        assert!(before == after, "the simulator changed {shown}");
    }
}

/// A ring cut short in its header, its data or its reader slots.
#[test]
fn truncated_rings_are_refused_by_every_reader_and_the_simulator() {
    let ring = dead_ring("fault-trunc");
    let geo = geometry(ring.path());
    let original = std::fs::read(ring.path()).unwrap();
    assert_eq!(original.len() as u64, geo.file_len);
    for cut in [
        4,
        100,
        767,
        768 + 100,
        geo.header_len - 1,
        geo.data_offset + 1000,
        geo.data_offset + geo.capacity / 2,
        geo.file_len - 8,
        geo.file_len - 1,
    ] {
        let copy = TempRing::new("fault-trunc-copy");
        std::fs::write(copy.path(), &original[..cut as usize]).unwrap();
        eprintln!("cut at {cut} of {}", geo.file_len);
        assert_every_tool_refuses(copy.path(), &["truncated", "too short"], true);
    }
    // Cut to nothing: indistinguishable from a ring being created.
    let empty = TempRing::new("fault-trunc-empty");
    std::fs::write(empty.path(), b"").unwrap();
    assert_every_tool_refuses(empty.path(), &["not initialised", "empty"], false);
}

/// Files of another format, and a ring of another version.
#[test]
fn files_of_another_format_or_version_are_refused() {
    // A 1x1 PNG, whole (67 bytes).
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\nIDATx\x9cc\0\x01\0\0\x05\0\x01\r\n-\xb4\0\0\0\0IEND\xaeB`\x82";
    let png = TempRing::new("fault-png");
    std::fs::write(png.path(), PNG).unwrap();
    assert_every_tool_refuses(png.path(), &["not a Slipstream ring"], true);
    // The same PNG padded past a ring header's size.
    let mut big = PNG.to_vec();
    big.resize(64 << 10, 0);
    std::fs::write(png.path(), &big).unwrap();
    assert_every_tool_refuses(png.path(), &["not a Slipstream ring"], true);
    // An ELF executable.
    let elf = TempRing::new("fault-elf");
    std::fs::copy("/bin/true", elf.path()).unwrap();
    assert_every_tool_refuses(elf.path(), &["not a Slipstream ring"], true);

    // A ring of another format version (byte 8).
    let ring = dead_ring("fault-version");
    for version in [1u32, 3, 0, 0xffff_ffff] {
        let f = open_rw(ring.path());
        f.write_all_at(&version.to_le_bytes(), 8).unwrap();
        assert_every_tool_refuses(
            ring.path(),
            &[&format!("ring format version {version} is not supported")],
            true,
        );
    }
    // The message says how to replace it.
    let out = run(stat(ring.path(), &["--interval", "0s"]), CLI_LIMIT);
    assert!(out.stderr.contains("--recreate"), "{}", out.stderr);
}

/// A path that is a directory, a dangling symbolic link, or a file this user
/// cannot read.
#[test]
fn a_directory_a_dangling_symlink_and_an_unreadable_file_are_refused() {
    let dir = TempDir::new("fault-dir");
    assert_every_tool_refuses(&dir.0, &["directory"], true);

    let link = TempRing::new("fault-dangling");
    let target = PathBuf::from(format!("{}-target", link.path().display()));
    std::os::unix::fs::symlink(&target, link.path()).unwrap();
    assert_every_tool_refuses(
        link.path(),
        &["does not exist", "No such file", "symbolic link"],
        true,
    );
    assert!(
        !target.exists(),
        "nothing was created through the dangling link"
    );

    let ring = dead_ring("fault-unreadable");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(ring.path(), std::fs::Permissions::from_mode(0o000)).unwrap();
    if !is_root() {
        assert_every_tool_refuses(ring.path(), &["Permission denied", "permission"], true);
        return;
    }
    // Root reads a mode-000 file anyway: the SDK attaches, as it should.
    eprintln!(
        "running as root: mode 000 does not stop root, so the SDK is checked to attach, \
         and the CLIs are run as uid 65534 (nobody)"
    );
    Consumer::builder(ring.path())
        .open()
        .expect("root reads a mode-000 ring");
    let as_nobody = |mut cmd: Command| {
        use std::os::unix::process::CommandExt;
        cmd.uid(65534).gid(65534);
        cmd
    };
    let probe = as_nobody(Command::new(workspace_bin("slipstream")))
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match probe {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("SKIPPED: cannot run the CLIs as uid 65534 here ({other:?}); the unreadable-file case is not checked for them");
            return;
        }
    }
    let reasons = ["Permission denied"];
    run(as_nobody(tail(ring.path(), &[])), CLI_LIMIT).assert_refused(ring.path(), &reasons);
    run(as_nobody(stat(ring.path(), &[])), CLI_LIMIT).assert_refused(ring.path(), &reasons);
    let before = std::fs::read(ring.path()).unwrap();
    run(
        as_nobody(sim(ring.path(), &["--blocks", "1", "--block-size", "1KiB"])),
        CLI_LIMIT,
    )
    .assert_refused(ring.path(), &reasons);
    assert_eq!(before, std::fs::read(ring.path()).unwrap());
}

/// A directory removed (with its contents) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("slipstream-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small tmpfs mounted on a fresh directory, unmounted on drop.
struct SmallDisk(TempDir);

impl SmallDisk {
    fn mount(size: &str) -> Result<SmallDisk, String> {
        let dir = TempDir::new("fault-tmpfs");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir.0)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0 .0).status();
    }
}

/// A disk too small for the ring: the producer fails at creation with
/// ENOSPC (the file is allocated in full first), names the path, and leaves
/// nothing that a reader would take for a ring; a ring that fits then works.
#[test]
fn a_disk_too_small_for_the_ring_fails_cleanly_with_enospc() {
    let disk = match SmallDisk::mount("1m") {
        Ok(d) => d,
        Err(e) => {
            // Fallback: a file size limit injects the same kind of failure.
            eprintln!("cannot mount a tmpfs ({e}): injecting EFBIG with RLIMIT_FSIZE instead");
            return disk_full_by_rlimit();
        }
    };
    let path = disk.0 .0.join("ring");
    let out = run(
        sim(
            &path,
            &[
                "--capacity",
                "4MiB",
                "--max-event",
                "64KiB",
                "--block-size",
                "1KiB",
                "--blocks",
                "1",
            ],
        ),
        CLI_LIMIT,
    );
    out.assert_refused(&path, &["No space left on device"]);
    assert!(out.stderr.contains("fallocate"), "{}", out.stderr);
    assert_no_ring_left(&path);

    // The API says the same, with the OS error in the chain.
    let err =
        Producer::open(&path, options(Layout::new(4 << 20).max_payload(64 << 10))).unwrap_err();
    match &err {
        ProducerError::Open {
            source: OpenError::Io { op, source },
            ..
        } => {
            assert_eq!(*op, "fallocate ring file");
            assert_eq!(source.raw_os_error(), Some(nix::libc::ENOSPC), "{err}");
        }
        other => panic!("{other:?}"),
    }
    assert_no_ring_left(&path);

    // A ring that fits is created at the same path and works.
    run(
        sim(
            &path,
            &[
                "--capacity",
                "256KiB",
                "--max-event",
                "16KiB",
                "--block-size",
                "1KiB",
                "--events-per-block",
                "10..20",
                "--blocks",
                "3",
                "--quiet",
            ],
        ),
        CLI_LIMIT,
    )
    .assert_success();
    let mut c = Consumer::builder(&path)
        .start(Start::Oldest)
        .open()
        .unwrap();
    let mut cover = Cover::from(1);
    let end = head(&path).next_seq;
    drain_to(&mut c, &mut cover, "a reader of the ring that fits", end);
    assert!(cover.lags.is_empty() && cover.events > 3);
}

/// After a failed creation, the path holds no file: nothing a reader would
/// wait on as a ring being created, or the next producer would refuse.
fn assert_no_ring_left(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        Ok(m) => panic!(
            "a failed creation left {} behind ({} bytes)",
            path.display(),
            m.len()
        ),
    }
}

/// The fallback of the disk-full test where a tmpfs cannot be mounted: the
/// simulator runs with a file size limit below the ring's size, so that its
/// allocation fails (EFBIG), and must fail as cleanly as with ENOSPC.
fn disk_full_by_rlimit() {
    let ring = TempRing::new("fault-rlimit");
    let mut cmd = sim(
        ring.path(),
        &[
            "--capacity",
            "4MiB",
            "--max-event",
            "64KiB",
            "--block-size",
            "1KiB",
            "--blocks",
            "1",
        ],
    );
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure only calls setrlimit and
    // signal, which are async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            let limit = nix::libc::rlimit {
                rlim_cur: 1 << 20,
                rlim_max: 1 << 20,
            };
            nix::libc::setrlimit(nix::libc::RLIMIT_FSIZE, &limit);
            nix::libc::signal(nix::libc::SIGXFSZ, nix::libc::SIG_IGN);
            Ok(())
        });
    }
    let out = run(cmd, CLI_LIMIT);
    out.assert_refused(ring.path(), &["File too large"]);
    assert!(out.stderr.contains("fallocate"), "{}", out.stderr);
    assert_no_ring_left(ring.path());
}

/// An event one byte over the maximum is refused with both sizes and costs no
/// sequence number; the block it was in is marked incomplete (its commit
/// marker counts the refused event), so consumers are told, and the ring goes on.
#[test]
fn an_event_over_the_maximum_is_refused_and_the_ring_goes_on() {
    let ring = TempRing::new("fault-too-large");
    let path = ring.path();
    let max = 4096u32;
    let mut p = Producer::open(path, options(Layout::new(1 << 20).max_payload(max))).unwrap();
    assert_eq!(p.max_event_len(), max as usize);
    let mut c = Consumer::builder(path).start(Start::Oldest).open().unwrap();
    let overhead = EventRef::Block {
        block_height: 0,
        ordinal: 0,
        block: &[],
    }
    .encoded_len();
    let too_big = vec![7u8; max as usize - overhead + 1];
    let just_fits = vec![8u8; max as usize - overhead];

    p.begin_block(10).unwrap();
    p.mapping_update_at(10, b"credits.aleo", b"account", b"k", b"v")
        .unwrap();
    let before = p.next_seq();
    let err = p.block_at(10, &too_big).unwrap_err();
    assert_eq!(
        err,
        slipstream_producer::PublishError::TooLarge {
            len: max as usize + 1,
            max,
            block: Some(10)
        }
    );
    let text = err.to_string();
    assert!(
        text.contains(&(max + 1).to_string()) && text.contains(&max.to_string()),
        "{text}"
    );
    assert_eq!(
        p.next_seq(),
        before,
        "a refused event takes no sequence number"
    );
    // Through the generic publish too.
    let err = p
        .publish(&EventRef::Block {
            block_height: 10,
            ordinal: 2,
            block: &too_big,
        })
        .unwrap_err();
    assert!(
        matches!(err, slipstream_producer::PublishError::TooLarge { .. }),
        "{err}"
    );
    assert_eq!(p.next_seq(), before);
    // The next events publish, the largest one included.
    p.block_at(10, &just_fits).unwrap();
    p.staking_reward_at(10, b"staker", b"validator", 1, 2)
        .unwrap();
    p.commit_block().unwrap();
    p.begin_block(11).unwrap();
    p.block_at(11, b"next").unwrap();
    p.commit_block().unwrap();

    // The consumer is told block 10 is incomplete (with its exact range),
    // then gets block 11 whole: every sequence number accounted for.
    let end = p.next_seq();
    let mut cover = Cover::from(1);
    let mut blocks = vec![];
    let mut incomplete = vec![];
    let deadline = Instant::now() + Duration::from_secs(30);
    while blocks.is_empty() {
        assert!(Instant::now() < deadline);
        match c.next_block(Duration::from_millis(100)).unwrap() {
            Some(BlockItem::Block(b)) => {
                cover.event("consumer", b.begin_seq);
                for e in &b.events {
                    cover.event("consumer", e.seq);
                }
                cover.event("consumer", b.commit_seq);
                blocks.push(b);
            }
            Some(BlockItem::Incomplete {
                height,
                first_seq,
                last_seq,
                reason,
            }) => {
                assert!(reason.contains("count"), "{reason}");
                for seq in first_seq..=last_seq {
                    cover.event("consumer", seq);
                }
                incomplete.push(height);
            }
            Some(other) => panic!("{other:?}"),
            None => {}
        }
    }
    assert_eq!(cover.next, Some(end));
    assert_eq!(incomplete, [10]);
    assert_eq!(blocks[0].height, 11);
    assert_eq!(blocks[0].events.len(), 1);
}

/// What consumers can write (the wake file, their cursor files) truncated,
/// extended and garbled under a running producer and attached consumers:
/// nobody maps another's file, so nobody notices but the owner of a garbled
/// cursor, whose name starts afresh. (The ring itself cannot be truncated by
/// a consumer: it is not theirs to write; see tests/tests/hostile.rs.)
#[test]
fn truncating_the_wake_file_and_cursor_files_disturbs_no_one() {
    let ring = TempRing::new("fault-cut-sidecars");
    let path = ring.path();
    let layout = Layout::new(256 << 10).max_payload(8 << 10);
    let mut p = Producer::open(path, options(layout)).unwrap();
    let mut height = 1;
    publish_blocks(&mut p, &mut height, 3);
    {
        let mut gone = named(path, "gone");
        gone.try_next().unwrap();
    }
    let mut plain = Consumer::builder(path).start(Start::Oldest).open().unwrap();
    let mut named_c = named(path, "survivor");
    let (mut c1, mut c2) = (Cover::from(1), Cover::from(1));
    drain_to(&mut plain, &mut c1, "unnamed", p.next_seq());
    drain_to(&mut named_c, &mut c2, "survivor", p.next_seq());

    let wake = open_rw(&slipstream_ring::sidecar::wake_path(path));
    let gone = cursor_file(path, "gone");
    for round in 0..20u64 {
        match round % 4 {
            0 => wake.set_len(0).unwrap(),
            1 => wake.set_len(1 << 30).unwrap(),
            2 => wake.write_all_at(&[0xff; 64], 0).unwrap(),
            _ => wake.set_len(2).unwrap(),
        }
        gone.set_len(round % 3).unwrap();
        publish_blocks(&mut p, &mut height, 5);
        p.flush();
        drain_to(&mut plain, &mut c1, "unnamed", p.next_seq());
        drain_to(&mut named_c, &mut c2, "survivor", p.next_seq());
    }
    eprintln!(
        "while the sidecars were cut: {} and {} events read, lags {:?} {:?}",
        c1.events, c2.events, c1.lags, c2.lags
    );
    // The named consumer's cursor is stored in its own file.
    named_c.commit();
    assert_eq!(
        slot_named(path, "survivor").unwrap().next_seq,
        named_c.next_seq()
    );
    // The garbled name is listed with its problem and starts afresh.
    assert!(slot_named(path, "gone").unwrap().problem.is_some());
    run(stat(path, &["--interval", "0s"]), CLI_LIMIT).assert_success();
    let again = Consumer::builder(path)
        .name("gone")
        .start(Start::End)
        .open()
        .unwrap();
    assert_eq!(again.next_seq(), p.next_seq());
}
