//! Cross-process tests: real producer and consumer processes on a file-backed
//! ring, killed (SIGKILL), stopped (SIGSTOP) and restarted.
//!
//! # The re-exec pattern
//!
//! Every child process is a copy of this test binary, started as
//! `current_exe() --exact child_entry_<role> --nocapture --test-threads=1` with
//! `SLIPSTREAM_CHILD=<role>` and its parameters (`SLIPSTREAM_PATH`, `_MODE`,
//! `_COUNT`, `_SEED`, ...) in environment variables. The `child_entry_*`
//! functions are those children's `main`s. libtest offers no other entry
//! point, so in a normal run (no `SLIPSTREAM_CHILD`) each of them returns at
//! once and is listed as a trivially passing test: accepted practice for this
//! pattern, not a test in itself.
//!
//! A child talks to its parent with lines `@slipstream@ <key> name=value ...`
//! on stdout (libtest's own lines are kept only to explain a failure) and with
//! its exit status: 0 after a clean run, [`EXIT_REFUSED`] or [`EXIT_OPEN_ERROR`]
//! for a writer that could not open the ring, 101 (libtest's) for a failed
//! assertion, whose message is on its stderr.
//!
//! # Hygiene
//!
//! Every child is held by a [`ChildProc`], which kills (SIGKILL) and reaps it
//! when dropped, so a failing test leaves no process behind (and each child
//! also gets `PR_SET_PDEATHSIG`, in case the whole test binary dies). Ring files
//! are [`TempPath`]s, removed on drop. Every wait has a deadline; what the tests
//! assert never depends on how fast this (noisy, 2-core) machine runs: random
//! delays only choose where a kill lands.
//!
//! `SLIPSTREAM_KILLS` (default 100) sets how many times the producer is killed
//! in `producer_killed_at_random_points_and_restarted`; `SLIPSTREAM_SEED`
//! (decimal or `0x` hex) replays a run: each test prints the seed it used.
#![cfg(not(loom))]

mod common;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use slipstream_ring::*;
use slipstream_testkit::process::{all_threads_stopped, die_with_parent, wait_deadline};
use slipstream_testkit::rng::{env_u64, parse_u64, Rng};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Largest payload the test records carry (`len_for(seq, MAX)`).
const MAX: usize = 300;
/// Upper bound on any single wait: reached only when something is broken.
const DEADLINE: Duration = Duration::from_secs(60);
/// Environment variable naming the role of a child process.
const CHILD_ENV: &str = "SLIPSTREAM_CHILD";
/// Marks the lines a child writes for its parent.
const MARK: &str = "@slipstream@ ";
/// Exit status of a writer child refused with `OpenError::ProducerExists`.
const EXIT_REFUSED: i32 = 20;
/// Exit status of a writer child that failed to open the ring otherwise.
const EXIT_OPEN_ERROR: i32 = 30;

/// The layout most tests use: a small ring (64 KiB of data) that
/// 200-byte records lap in a few hundred records.
fn small_layout() -> Layout {
    Layout::new(64 << 10).max_payload(MAX as u32).segments(32)
}

/// The layout of the size-class kill test: the same 64 KiB ring with the
/// largest maximum payload format v2 allows (a record of a quarter of the
/// capacity), and records of every size class up to it ([`len_of`]).
fn big_layout() -> Layout {
    Layout::new(64 << 10)
        .max_payload(slipstream_ring::layout::max_payload_for(64 << 10) as u32)
        .segments(32)
}

/// The layout named by `SLIPSTREAM_LAYOUT` (`big`, or the small one).
fn layout() -> Layout {
    match std::env::var("SLIPSTREAM_LAYOUT").as_deref() {
        Ok("big") => big_layout(),
        _ => small_layout(),
    }
}

/// The payload length of record `seq` in a ring whose maximum payload is
/// `max`: up to [`MAX`] as `len_for` gives; in a bigger ring, size classes
/// in turn: the maximum (a record of exactly a quarter of the capacity), just
/// below it, a quarter of the maximum, an eighth, a few hundred bytes, a few.
fn len_of(seq: u64, max: usize) -> usize {
    if max <= MAX {
        return len_for(seq, max);
    }
    let jitter = len_for(seq, 64);
    match seq % 6 {
        0 => max,
        1 => max - 8 - jitter,
        2 => max / 4 + jitter,
        3 => max / 8 - jitter,
        4 => 200 + jitter,
        _ => jitter,
    }
}

/// Panics unless `bytes` is the payload of `seq` in a ring of maximum payload `max`.
fn check_of(seq: u64, kind: u16, bytes: &[u8], max: usize) {
    assert_eq!(kind, kind_for(seq), "kind of seq {seq}");
    assert_eq!(bytes.len(), len_of(seq, max), "length of seq {seq}");
    let mut want = vec![0; bytes.len()];
    fill(seq, &mut want);
    assert!(want == bytes, "payload of seq {seq} is corrupt");
}

// ---------------------------------------------------------------------------
// Randomness, environment, messages
// ---------------------------------------------------------------------------

fn env_str(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("child needs {key}"))
}

/// The seed of a test: from `SLIPSTREAM_SEED` if set, else a fixed one, mixed
/// with the test's name (printed, with how to replay it).
fn seed_for(test: &str) -> u64 {
    slipstream_testkit::rng::seed_for(test, "SLIPSTREAM_SEED", 0x5EED_2024)
}

/// One line from a child: `key name=value ...`.
#[derive(Clone, Debug)]
struct Msg {
    key: String,
    fields: Vec<(String, String)>,
}

impl Msg {
    fn parse(s: &str) -> Msg {
        let mut words = s.split_whitespace();
        Msg {
            key: words.next().unwrap_or("").to_owned(),
            fields: words
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    fn get(&self, name: &str) -> u64 {
        let v = self
            .fields
            .iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("message {self:?} has no field {name}"));
        parse_u64(&v.1).unwrap_or_else(|| panic!("message {self:?}: {name} is not a number"))
    }
}

/// Child side: one line for the parent (stdout is line-buffered, so the line
/// is in the pipe before this returns, and survives a SIGKILL that follows).
fn report(args: std::fmt::Arguments) {
    println!("{MARK}{args}");
}

/// Opens (creating it) the lock file of the ring at `path`.
fn open_lock(path: &Path) -> File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(slipstream_ring::sidecar::lock_path(path))
        .unwrap_or_else(|e| panic!("open the lock of {}: {e}", path.display()))
}

/// A reader of the ring at `path`, through a read-only descriptor (as every
/// consumer), announcing its sleep in the ring's wake file.
fn attach_ro(path: &Path, start: Start) -> Reader {
    let mut r = Reader::attach(&File::open(path).unwrap(), start).unwrap();
    if let Ok(w) = std::fs::OpenOptions::new()
        .write(true)
        .open(slipstream_ring::sidecar::wake_path(path))
    {
        r.set_wake_file(w);
    }
    r
}

fn open_rw(path: &Path) -> File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------
// Child processes, parent side
// ---------------------------------------------------------------------------

/// A child process of this test binary, killed and reaped when dropped.
struct ChildProc {
    role: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    msgs: mpsc::Receiver<Msg>,
    /// Every message received so far, in order.
    log: Vec<Msg>,
    /// Messages of `log` already looked at by [`ChildProc::expect`].
    cursor: usize,
    /// The last lines of its stdout (other than messages) and stderr.
    noise: Arc<Mutex<VecDeque<String>>>,
    threads: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl ChildProc {
    fn spawn(role: &'static str, env: &[(&str, String)]) -> ChildProc {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            &format!("child_entry_{role}"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        // If the test binary dies without running the guards' drops, its
        // children die too (every child is spawned by a test's own thread,
        // which outlives its guard).
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn child {role}: {e}"));
        let noise = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, msgs) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let n1 = noise.clone();
        let n2 = noise.clone();
        let threads = vec![
            thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    match line.find(MARK) {
                        Some(i) => {
                            let _ = tx.send(Msg::parse(&line[i + MARK.len()..]));
                        }
                        None => push_noise(&n1, line),
                    }
                }
            }),
            thread::spawn(move || {
                let mut s = String::new();
                let _ = BufReader::new(err).read_to_string(&mut s);
                for line in s.lines() {
                    push_noise(&n2, format!("stderr: {line}"));
                }
            }),
        ];
        ChildProc {
            role,
            stdin: child.stdin.take(),
            child,
            msgs,
            log: Vec::new(),
            cursor: 0,
            noise,
            threads,
            status: None,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Waits for the next message with `key` (after the last one returned).
    fn expect(&mut self, key: &str, within: Duration) -> Msg {
        let until = Instant::now() + within;
        loop {
            while self.cursor < self.log.len() {
                self.cursor += 1;
                if self.log[self.cursor - 1].key == key {
                    return self.log[self.cursor - 1].clone();
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            match self.msgs.recv_timeout(left) {
                Ok(m) => self.log.push(m),
                Err(e) => {
                    let why = match e {
                        mpsc::RecvTimeoutError::Timeout => "timed out",
                        mpsc::RecvTimeoutError::Disconnected => {
                            // It is exiting: give it a moment, to show its status.
                            let until = Instant::now() + Duration::from_secs(1);
                            while self.status.is_none() && Instant::now() < until {
                                self.status = self.child.try_wait().ok().flatten();
                                thread::sleep(Duration::from_millis(1));
                            }
                            "the child closed its stdout"
                        }
                    };
                    panic!(
                        "waiting for `{key}` from {}: {why}\n{}",
                        self.role,
                        self.describe()
                    );
                }
            }
        }
    }

    /// The first message with `key` received so far (call after the child ended).
    fn find(&self, key: &str) -> Option<&Msg> {
        self.log.iter().find(|m| m.key == key)
    }

    fn all(&self, key: &str) -> Vec<&Msg> {
        self.log.iter().filter(|m| m.key == key).collect()
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn signal(&self, sig: Signal) {
        kill(self.pid(), sig).unwrap_or_else(|e| panic!("kill({sig}) {}: {e}", self.role));
    }

    /// Collects what the child wrote, once it has been reaped.
    fn finish(&mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        while let Ok(m) = self.msgs.try_recv() {
            self.log.push(m);
        }
    }

    /// SIGKILL, then reap. Idempotent.
    fn kill(&mut self) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        // ESRCH cannot happen before the child is reaped (a zombie still has
        // its pid), and we have not reaped it: any error is a real one.
        self.signal(Signal::SIGKILL);
        let s = self.child.wait().expect("waitpid");
        self.status = Some(s);
        self.stdin = None;
        self.finish();
        s
    }

    /// SIGKILL, then reap, checking that the child was still running (it had
    /// not exited or failed on its own before the kill).
    fn kill_running(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        let s = self.kill();
        assert_eq!(
            s.signal(),
            Some(Signal::SIGKILL as i32),
            "{} ended on its own before it was killed: {s}\n{}",
            self.role,
            self.describe()
        );
    }

    /// Waits for the child to exit on its own, up to `within`.
    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let Some(s) = wait_deadline(&mut self.child, within) else {
            panic!(
                "{} did not exit within {within:?}\n{}",
                self.role,
                self.describe()
            );
        };
        self.status = Some(s);
        self.finish();
        s
    }

    /// Waits for a clean exit (status 0).
    fn wait_success(&mut self, within: Duration) {
        let s = self.wait_exit(within);
        assert!(
            s.success(),
            "{} failed: {s}\n{}",
            self.role,
            self.describe()
        );
    }

    fn describe(&self) -> String {
        let noise = self.noise.lock().unwrap();
        let mut out = format!(
            "child {} (pid {}), status {:?}; last messages: {:?}\n",
            self.role,
            self.child.id(),
            self.status,
            &self.log[self.log.len().saturating_sub(5)..]
        );
        for line in noise.iter() {
            out.push_str("  | ");
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

fn push_noise(noise: &Mutex<VecDeque<String>>, line: String) {
    let mut n = noise.lock().unwrap();
    if n.len() == 200 {
        n.pop_front();
    }
    n.push_back(line);
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = kill(self.pid(), Signal::SIGKILL);
            self.status = self.child.wait().ok();
            self.stdin = None;
        }
        self.finish();
    }
}

/// Sets a flag when dropped: stops a helper thread even if the test panics.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

// ---------------------------------------------------------------------------
// Writing and reading the test records
// ---------------------------------------------------------------------------

/// Publishes the test record for the writer's next sequence number, encoded in
/// place (so that a kill usually lands while its payload is being written).
fn publish_one(w: &mut Writer) -> u64 {
    let seq = w.next_seq();
    let max = w.geometry().layout.max_payload as usize;
    let mut r = w.reserve(kind_for(seq), len_of(seq, max)).unwrap();
    fill(seq, r.payload_mut());
    let got = r.commit();
    debug_assert_eq!(got, seq);
    got
}

/// What a reader has seen so far. Every record and lap it counts was checked.
#[derive(Debug, Default)]
struct Tally {
    /// The sequence number expected next.
    next: u64,
    delivered: u64,
    missed: u64,
    lags: Vec<Lag>,
    /// `wait` calls that timed out (informative only).
    timeouts: u64,
}

impl Tally {
    fn starting_at(next: u64) -> Tally {
        Tally {
            next,
            ..Tally::default()
        }
    }
}

enum Got {
    Record,
    Lagged(Lag),
}

/// Takes one item from `r` and checks it: a record must carry exactly the
/// expected sequence number (no repeat, no silent gap) and its payload must
/// pass `check` (not torn, not stale); a lap must start exactly at the expected
/// sequence number. Any `ReadError` fails the test. `None`: nothing to read.
fn step(r: &mut Reader, t: &mut Tally) -> Option<Got> {
    let expected = t.next;
    let max = r.geometry().layout.max_payload as usize;
    let item = r
        .try_next()
        .unwrap_or_else(|e| panic!("ReadError while expecting seq {expected}: {e}"));
    match item? {
        Item::Record(rec) => {
            assert_eq!(
                rec.seq, expected,
                "record out of order: got seq {}, expected {expected} (a repeat or a silent gap)",
                rec.seq
            );
            check_of(rec.seq, rec.kind, rec.payload, max);
            t.delivered += 1;
            t.next = expected + 1;
            Some(Got::Record)
        }
        Item::Lagged(lag) => {
            assert_eq!(
                lag.first_missed, expected,
                "lap report {lag:?} does not start at the expected seq {expected}"
            );
            assert!(lag.last_missed >= lag.first_missed, "empty lap {lag:?}");
            t.missed += lag.count();
            t.next = lag.last_missed + 1;
            t.lags.push(lag);
            Some(Got::Lagged(lag))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Spin on `try_next` (yielding the core now and then).
    Busy,
    /// Sleep in `Reader::wait` when there is nothing to read.
    Sleep,
}

impl Mode {
    fn parse(s: &str) -> Mode {
        match s {
            "busy" => Mode::Busy,
            "sleep" => Mode::Sleep,
            other => panic!("unknown reader mode {other}"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Busy => "busy",
            Mode::Sleep => "sleep",
        }
    }
}

/// Reads and checks until every sequence number up to `last` was delivered or
/// reported missed. `on_idle` is called with the expected seq whenever the
/// reader has caught up.
fn consume(r: &mut Reader, last: u64, mode: Mode, mut on_idle: impl FnMut(u64)) -> Tally {
    let until = Instant::now() + DEADLINE;
    let mut t = Tally::starting_at(r.next_seq());
    let mut empty = 0u32;
    let mut items = 0u32;
    while t.next <= last {
        if step(r, &mut t).is_some() {
            empty = 0;
            items += 1;
            if items % 4096 == 0 {
                assert!(Instant::now() < until, "{mode:?} reader stuck at {t:?}");
            }
            continue;
        }
        on_idle(t.next);
        assert!(Instant::now() < until, "{mode:?} reader stuck at {t:?}");
        match mode {
            Mode::Busy => {
                empty += 1;
                if empty % 256 == 0 {
                    thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
            Mode::Sleep => {
                if !r.wait(Duration::from_millis(500)) {
                    t.timeouts += 1;
                }
            }
        }
    }
    assert_eq!(t.next, last + 1, "read past the end: {t:?}");
    t
}

// ---------------------------------------------------------------------------
// Child entry points. Each returns at once unless SLIPSTREAM_CHILD names it
// (see the module documentation): in a normal run they are no-ops.
// ---------------------------------------------------------------------------

fn is_child(role: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(role)
}

/// Child `writer`: opens the ring at `SLIPSTREAM_PATH` with `IfExists::Resume`
/// and reports `open next_seq= epoch= pid=`, then by `SLIPSTREAM_MODE`:
/// `count` publishes `SLIPSTREAM_COUNT` records in random bursts and closes;
/// `forever` publishes until killed (`SLIPSTREAM_PACE` spins between records);
/// `stdin` obeys `publish N` lines (answering `published next_seq=`) until
/// stdin closes. A clean close reports `closed next_seq=`.
#[test]
fn child_entry_writer() {
    if !is_child("writer") {
        return;
    }
    let path = env_str("SLIPSTREAM_PATH");
    let mut w = match Writer::open(
        open_rw(path.as_ref()),
        open_lock(path.as_ref()),
        layout(),
        IfExists::Resume,
    ) {
        Ok(w) => w,
        Err(OpenError::ProducerExists { pid }) => {
            report(format_args!("refused pid={pid}"));
            std::process::exit(EXIT_REFUSED);
        }
        Err(e) => {
            report(format_args!("error"));
            eprintln!("Writer::open failed: {e}");
            std::process::exit(EXIT_OPEN_ERROR);
        }
    };
    slipstream_ring::sidecar::prepare(path.as_ref(), 0o600, None).unwrap();
    w.set_wake_file(open_rw(&slipstream_ring::sidecar::wake_path(path.as_ref())));
    w.set_wake_mode(match std::env::var("SLIPSTREAM_WAKE").as_deref() {
        Ok("deferred") => Wake::Deferred,
        _ => Wake::Immediate,
    });
    // The producer's waker thread: reads sleep announcements (the writer
    // itself never does) and wakes sleepers within a millisecond.
    let mut waker = w.waker();
    thread::spawn(move || loop {
        thread::sleep(Duration::from_micros(500));
        waker.wake_if_needed();
    });
    report(format_args!(
        "open next_seq={} epoch={} pid={}",
        w.next_seq(),
        w.epoch(),
        std::process::id()
    ));
    match env_str("SLIPSTREAM_MODE").as_str() {
        "count" => {
            let mut rng = Rng::new(env_u64("SLIPSTREAM_SEED", 1));
            let mut left = env_u64("SLIPSTREAM_COUNT", 0);
            // Bursts flat out, then short pauses: readers get lapped inside a
            // burst, catch up (and fall asleep) in the pauses.
            while left > 0 {
                let burst = (1 + rng.below(4000)).min(left);
                for _ in 0..burst {
                    publish_one(&mut w);
                }
                left -= burst;
                w.flush();
                thread::sleep(Duration::from_micros(100 + rng.below(900)));
            }
        }
        "forever" => {
            let pace = env_u64("SLIPSTREAM_PACE", 0);
            let mut n = 0u64;
            loop {
                publish_one(&mut w);
                for _ in 0..pace {
                    std::hint::spin_loop();
                }
                n += 1;
                if n % 256 == 0 {
                    w.flush();
                }
            }
        }
        "stdin" => {
            for line in std::io::stdin().lock().lines() {
                let line = line.unwrap();
                let n: u64 = line
                    .strip_prefix("publish ")
                    .and_then(parse_u64)
                    .unwrap_or_else(|| panic!("bad command {line:?}"));
                let t = Instant::now();
                for _ in 0..n {
                    publish_one(&mut w);
                }
                w.flush();
                report(format_args!(
                    "published next_seq={} micros={}",
                    w.next_seq(),
                    t.elapsed().as_micros()
                ));
            }
        }
        other => panic!("unknown writer mode {other}"),
    }
    let next = w.next_seq();
    drop(w);
    report(format_args!("closed next_seq={next}"));
}

/// Child `reader`: attaches at `Start::Oldest`, reports `ready next_seq=`,
/// reads (`SLIPSTREAM_MODE` busy or sleep) and checks every item up to seq
/// `SLIPSTREAM_COUNT`, then reports each `lag first= last=` and
/// `result next= delivered= missed= lags= timeouts=`. With
/// `SLIPSTREAM_REPORT_IDLE=1` it reports `idle next=` whenever it has caught up
/// at a new sequence number.
#[test]
fn child_entry_reader() {
    if !is_child("reader") {
        return;
    }
    let path = env_str("SLIPSTREAM_PATH");
    let mode = Mode::parse(&env_str("SLIPSTREAM_MODE"));
    let last = env_u64("SLIPSTREAM_COUNT", 0);
    let report_idle = env_u64("SLIPSTREAM_REPORT_IDLE", 0) == 1;
    let mut r = attach_ro(path.as_ref(), Start::Oldest);
    report(format_args!("ready next_seq={}", r.next_seq()));
    let mut idle_at = 0;
    let t = consume(&mut r, last, mode, |next| {
        if report_idle && next != idle_at {
            idle_at = next;
            report(format_args!("idle next={next}"));
        }
    });
    for lag in &t.lags {
        report(format_args!(
            "lag first={} last={}",
            lag.first_missed, lag.last_missed
        ));
    }
    report(format_args!(
        "result next={} delivered={} missed={} lags={} timeouts={}",
        t.next,
        t.delivered,
        t.missed,
        t.lags.len(),
        t.timeouts
    ));
}

/// Child `cursor`: a durable consumer. Claims the reader slot
/// `SLIPSTREAM_NAME` and resumes from the cursor stored there (or starts at
/// the oldest record and stores that), reporting `resume saved= start=`. Checks
/// that the first item after a resume is the stored `next_seq` itself (the
/// record, or a lap that starts there), and every item after it as `step` does;
/// stores the cursor after every item and reports `stored next=` every 1024
/// items. Ends with `done next= delivered= missed=` once the producer has
/// closed the ring cleanly and everything is read.
#[test]
fn child_entry_cursor() {
    if !is_child("cursor") {
        return;
    }
    let path = env_str("SLIPSTREAM_PATH");
    let name = env_str("SLIPSTREAM_NAME");
    let (slot, saved) = Slot::claim(path.as_ref(), &name).unwrap();
    let mut r = attach_ro(path.as_ref(), Start::Oldest);
    let start = match saved {
        Some(c) => {
            r.resume(c.next_seq, c.position)
                .unwrap_or_else(|e| panic!("resume from {c:?}: {e}"));
            c.next_seq
        }
        None => {
            slot.store_cursor(r.next_seq(), r.position());
            r.next_seq()
        }
    };
    report(format_args!(
        "resume saved={} start={start}",
        saved.map_or(0, |c| c.next_seq)
    ));
    // `step` checks the first item against `start`: the stored cursor.
    let mut t = Tally::starting_at(start);
    let until = Instant::now() + DEADLINE * 10;
    let mut since = 0u32;
    loop {
        // Loaded before reading: if the producer had closed by then, one
        // empty read after it means everything was read.
        let closed = r.producer().state == ProducerState::Closed;
        match step(&mut r, &mut t) {
            Some(got) => {
                slot.store_cursor(r.next_seq(), r.position());
                match got {
                    Got::Record => slot.count(1, 0),
                    Got::Lagged(lag) => slot.count(0, lag.count()),
                }
                since += 1;
                if since == 1024 {
                    since = 0;
                    report(format_args!("stored next={}", r.next_seq()));
                }
            }
            None if closed => break,
            None => {
                assert!(Instant::now() < until, "cursor reader stuck at {t:?}");
                r.wait(Duration::from_millis(20));
            }
        }
    }
    report(format_args!(
        "done next={} delivered={} missed={}",
        t.next, t.delivered, t.missed
    ));
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

fn path_env(path: &TempPath) -> (&'static str, String) {
    ("SLIPSTREAM_PATH", path.0.to_str().unwrap().to_owned())
}

/// Creates the ring (epoch 1, closed cleanly, empty), so that readers can
/// attach before the first writer child runs.
fn create_ring(path: &TempPath) {
    create_ring_with(path, layout());
}

/// Creates the ring with `layout` (as [`create_ring`]).
fn create_ring_with(path: &TempPath, layout: Layout) {
    let w = Writer::open(path.open(), path.lock(), layout, IfExists::Resume).unwrap();
    path.prepare();
    assert_eq!((w.epoch(), w.next_seq()), (1, 1));
}

/// A writer child streams 200,000 records, in bursts, into a 64 KiB ring;
/// four readers in two processes (busy-polling and sleeping in each) check
/// every record and account for every sequence number exactly.
#[test]
fn cross_process_stream() {
    const N: u64 = 200_000;
    let seed = seed_for("cross_process_stream");
    let path = TempPath::new("stream");
    create_ring(&path);
    let file = path.open();
    let mut busy = Reader::attach(&file, Start::Oldest).unwrap();
    let mut sleepy = Reader::attach(&file, Start::Oldest).unwrap();
    let mut children: Vec<ChildProc> = [Mode::Busy, Mode::Sleep]
        .iter()
        .map(|m| {
            ChildProc::spawn(
                "reader",
                &[
                    path_env(&path),
                    ("SLIPSTREAM_MODE", m.name().into()),
                    ("SLIPSTREAM_COUNT", N.to_string()),
                ],
            )
        })
        .collect();
    for c in &mut children {
        assert_eq!(c.expect("ready", DEADLINE).get("next_seq"), 1);
    }
    let sleeper = thread::spawn(move || consume(&mut sleepy, N, Mode::Sleep, |_| {}));
    let mut w = ChildProc::spawn(
        "writer",
        &[
            path_env(&path),
            ("SLIPSTREAM_MODE", "count".into()),
            ("SLIPSTREAM_COUNT", N.to_string()),
            ("SLIPSTREAM_SEED", seed.to_string()),
            ("SLIPSTREAM_WAKE", "immediate".into()),
        ],
    );
    let open = w.expect("open", DEADLINE);
    assert_eq!((open.get("next_seq"), open.get("epoch")), (1, 2));

    let t_busy = consume(&mut busy, N, Mode::Busy, |_| {});
    let t_sleep = sleeper
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    w.wait_success(DEADLINE);
    assert_eq!(w.expect("closed", DEADLINE).get("next_seq"), N + 1);

    let mut summary = vec![];
    for t in [&t_busy, &t_sleep] {
        assert_eq!(t.next, N + 1);
        assert_eq!(t.delivered + t.missed, N, "{t:?}");
        summary.push((t.delivered, t.missed, t.lags.len()));
    }
    for c in &mut children {
        c.wait_success(DEADLINE);
        let res = c.expect("result", DEADLINE);
        assert_eq!(res.get("next"), N + 1, "{res:?}");
        assert_eq!(res.get("delivered") + res.get("missed"), N, "{res:?}");
        // The lap reports the child printed tile the missed range exactly.
        let lags = c.all("lag");
        assert_eq!(lags.len() as u64, res.get("lags"));
        let missed: u64 = lags
            .iter()
            .map(|l| l.get("last") - l.get("first") + 1)
            .sum();
        assert_eq!(missed, res.get("missed"));
        summary.push((res.get("delivered"), res.get("missed"), lags.len()));
    }
    eprintln!(
        "(delivered, missed, laps) per reader [parent busy, parent sleep, child busy, child sleep]: {summary:?}"
    );
}

/// The epochs producers report: each one opens with the next.
struct Epochs {
    epoch: u64,
    /// Writers killed before they reported their epoch (they may or may not
    /// have opened the ring): the next epoch may be higher by as many.
    unreported: u64,
}

impl Epochs {
    /// Checks a writer's `open` message: its pid, that it goes on at `end`
    /// (the ring's end when it started), and its epoch.
    fn check(&mut self, m: &Msg, pid: Pid, end: u64) {
        assert_eq!(m.get("pid"), pid.as_raw() as u64);
        assert_eq!(
            m.get("next_seq"),
            end,
            "a restarted producer must go on with the next sequence number"
        );
        let e = m.get("epoch");
        assert!(
            e > self.epoch && e <= self.epoch + 1 + self.unreported,
            "epoch {e} after {} with {} unreported opens",
            self.epoch,
            self.unreported
        );
        self.epoch = e;
        self.unreported = 0;
    }
}

/// If the producer left `tail_intent` ahead of `tail` (it was killed while
/// writing a record, or it had announced ahead in chunks, FORMAT.md section
/// 5 step 2), the bytes between them.
fn uncommitted(file: &File) -> Option<u64> {
    use slipstream_ring::layout::{OFF_TAIL, OFF_TAIL_INTENT};
    use std::os::unix::fs::FileExt;
    let word = |off: usize| {
        let mut b = [0; 8];
        file.read_exact_at(&mut b, off as u64).unwrap();
        u64::from_le_bytes(b)
    };
    let (tail, intent) = (word(OFF_TAIL), word(OFF_TAIL_INTENT));
    (intent > tail).then(|| intent - tail)
}

/// Spawns the parent's reader of the kill test on its own thread: it reads
/// (sleeping when idle) and checks everything until `stop` is set and it has
/// caught up.
fn spawn_checking_reader(mut r: Reader, stop: Arc<AtomicBool>) -> JoinHandle<Tally> {
    thread::spawn(move || {
        let mut t = Tally::starting_at(r.next_seq());
        loop {
            // Loaded before reading: stop is set after the last writer was
            // reaped, so one empty read after it means everything was read.
            let stopping = stop.load(Ordering::Acquire);
            if step(&mut r, &mut t).is_none() {
                if stopping {
                    return t;
                }
                if !r.wait(Duration::from_millis(2)) {
                    t.timeouts += 1;
                }
            }
        }
    })
}

/// The producer is killed (SIGKILL) at random points, mostly while it writes
/// a record, and restarted on the same file; a reader attached throughout
/// never sees a torn record, a repeat, an unreported gap or an error, and each
/// new producer goes on with exactly the next sequence number and epoch. A
/// durable consumer in a child, itself killed now and then, resumes from its
/// stored cursor.
#[test]
fn producer_killed_at_random_points_and_restarted() {
    kill_loop(
        "producer_killed_at_random_points_and_restarted",
        "small",
        env_u64("SLIPSTREAM_KILLS", 100),
    );
}

/// Issue 9.3 (finding 3): the kill test with records of every size class up
/// to the largest format v2 allows, a quarter of the capacity (`len_of`), so
/// that kills land while a record of a quarter of the ring is written at
/// offset 0 after a padding record. Before version 2 such a kill bricked the
/// ring (recovery read the overwritten record at `latest`). 150 kills per
/// run by default (`SLIPSTREAM_KILLS` sets the number, for both kill tests).
#[test]
fn producer_killed_while_writing_records_of_every_size_class() {
    kill_loop(
        "producer_killed_while_writing_records_of_every_size_class",
        "big",
        env_u64("SLIPSTREAM_KILLS", 150),
    );
}

/// The body of the kill tests, on the layout named `layout_name`.
fn kill_loop(test: &str, layout_name: &str, kills: u64) {
    let seed = seed_for(test);
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let path = TempPath::new("kills");
    create_ring_with(
        &path,
        if layout_name == "big" {
            big_layout()
        } else {
            small_layout()
        },
    );
    let file = path.open();
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = SetOnDrop(stop.clone());
    let reader = spawn_checking_reader(Reader::attach(&file, Start::Oldest).unwrap(), stop.clone());

    let writer_env = |rng: &mut Rng, mode: &str| {
        vec![
            path_env(&path),
            ("SLIPSTREAM_LAYOUT", layout_name.to_owned()),
            ("SLIPSTREAM_MODE", mode.to_owned()),
            // Flat out a third of the time, else a little paced.
            (
                "SLIPSTREAM_PACE",
                [0, 0, rng.below(4000)][rng.below(3) as usize].to_string(),
            ),
            (
                "SLIPSTREAM_WAKE",
                ["immediate", "deferred"][rng.below(2) as usize].to_owned(),
            ),
        ]
    };
    let cursor_env = [
        path_env(&path),
        ("SLIPSTREAM_NAME", "durable".to_owned()),
        ("SLIPSTREAM_LAYOUT", layout_name.to_owned()),
    ];
    let mut epochs = Epochs {
        epoch: 1,
        unreported: 0,
    };
    let mut cursor: Option<ChildProc> = None;
    // The highest cursor a cursor child said it had stored: a restarted one
    // must resume at or after it.
    let mut cursor_floor = 0;
    let mut cursor_kills = 0;
    let mut early_kills = 0;
    // Kills that left a record announced but not committed (torn), and the
    // largest such record.
    let mut torn_kills = 0;
    let mut max_torn = 0;
    let restart_cursor = |cursor: &mut Option<ChildProc>, floor: &mut u64| {
        if let Some(mut c) = cursor.take() {
            c.kill_running();
            for m in c.all("stored") {
                *floor = (*floor).max(m.get("next"));
            }
        }
        let mut c = ChildProc::spawn("cursor", &cursor_env);
        let m = c.expect("resume", DEADLINE);
        let saved = m.get("saved");
        if *floor > 0 {
            assert!(
                saved >= *floor,
                "cursor resumed at {saved}, but had stored {floor}"
            );
        }
        *floor = saved;
        *cursor = Some(c);
    };

    for i in 0..kills {
        if reader.is_finished() {
            break; // it failed: the join below reports why
        }
        // Nothing writes now: the end of the ring is where the next producer must go on.
        let end = Reader::attach(&file, Start::End).unwrap().next_seq();
        let env = writer_env(&mut rng, "forever");
        let mut w = ChildProc::spawn("writer", &env);
        let early = i > 0 && rng.below(10) == 0;
        let when = rng.below(10);
        let restart_cursor_now = !early && when < 2;
        let restart_cursor_later = i > 0 && when == 2;
        if early {
            // Anywhere from before the exec to while it opens or first writes.
            early_kills += 1;
            thread::sleep(Duration::from_micros(rng.below(2_000)));
        } else {
            let m = w.expect("open", DEADLINE);
            epochs.check(&m, w.pid(), end);
            if cursor.is_none() {
                restart_cursor(&mut cursor, &mut cursor_floor);
            }
            if restart_cursor_now {
                thread::sleep(Duration::from_micros(rng.below(3000)));
                cursor_kills += 1;
                restart_cursor(&mut cursor, &mut cursor_floor);
            }
            thread::sleep(Duration::from_micros(rng.below(3000)));
        }
        w.kill_running();
        if let Some(torn) = uncommitted(&file) {
            torn_kills += 1;
            max_torn = max_torn.max(torn);
        }
        if restart_cursor_later {
            // The consumer resumes while no producer runs.
            cursor_kills += 1;
            restart_cursor(&mut cursor, &mut cursor_floor);
        }
        if early {
            match w.find("open").cloned() {
                Some(m) => epochs.check(&m, w.pid(), end),
                None => epochs.unreported += 1,
            }
        }
        assert!(
            !producer_alive(&file).unwrap(),
            "producer lock held after its process was reaped"
        );
    }
    if reader.is_finished() {
        stop.store(true, Ordering::Release);
        let t = reader
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        panic!("the reader stopped early: {t:?}");
    }

    // A last producer writes a known number of records and closes cleanly.
    let end = Reader::attach(&file, Start::End).unwrap().next_seq();
    let mut env = writer_env(&mut rng, "count");
    env.push(("SLIPSTREAM_COUNT", "5000".into()));
    env.push(("SLIPSTREAM_SEED", rng.next_u64().to_string()));
    let mut w = ChildProc::spawn("writer", &env);
    let m = w.expect("open", DEADLINE);
    epochs.check(&m, w.pid(), end);
    w.wait_success(DEADLINE);
    let last = w.expect("closed", DEADLINE).get("next_seq") - 1;
    assert_eq!(last, end + 4999);

    stop.store(true, Ordering::Release);
    let t = reader
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert_eq!(t.next, last + 1, "{t:?}");
    assert_eq!(t.delivered + t.missed, last, "{t:?}");

    let mut c = cursor.take().expect("a cursor child ran");
    c.wait_success(DEADLINE);
    let done = c.expect("done", DEADLINE);
    assert_eq!(done.get("next"), last + 1, "{done:?}");
    eprintln!(
        "{layout_name} layout: {kills} producer kills ({early_kills} early, {torn_kills} left tail_intent ahead of tail, a \
         record being written or announced ahead, by up to {max_torn} bytes), {cursor_kills} consumer kills, {last} records, final epoch {}; parent reader delivered {} missed {} in {} laps; {:?}",
        epochs.epoch,
        t.delivered,
        t.missed,
        t.lags.len(),
        started.elapsed()
    );
}

/// A second producer, in another process, is refused with the first one's
/// pid, both ways round; once the first is gone, the second may open.
#[test]
fn second_producer_in_another_process_is_refused() {
    let path = TempPath::new("second");
    let mut w = Writer::open(path.open(), path.lock(), layout(), IfExists::Resume).unwrap();
    for _ in 0..10 {
        publish_one(&mut w);
    }
    let stdin_writer = || {
        ChildProc::spawn(
            "writer",
            &[path_env(&path), ("SLIPSTREAM_MODE", "stdin".into())],
        )
    };

    let mut c = stdin_writer();
    let s = c.wait_exit(DEADLINE);
    assert_eq!(s.code(), Some(EXIT_REFUSED), "{}", c.describe());
    assert_eq!(
        c.find("refused").unwrap().get("pid"),
        std::process::id() as u64
    );

    drop(w);
    let mut c = stdin_writer();
    let open = c.expect("open", DEADLINE);
    assert_eq!(open.get("next_seq"), 11);
    assert_eq!(open.get("epoch"), 2);
    // Now the child holds it: the parent is refused, and told the child's pid.
    match Writer::open(path.open(), path.lock(), layout(), IfExists::Resume) {
        Err(OpenError::ProducerExists { pid }) => assert_eq!(pid as i32, c.pid().as_raw()),
        other => panic!("expected ProducerExists, got {other:?}"),
    }
    c.send("publish 5");
    assert_eq!(c.expect("published", DEADLINE).get("next_seq"), 16);
    c.close_stdin();
    c.wait_success(DEADLINE);
    assert_eq!(c.expect("closed", DEADLINE).get("next_seq"), 16);

    let w = Writer::open(path.open(), path.lock(), layout(), IfExists::Resume).unwrap();
    assert_eq!((w.next_seq(), w.epoch()), (16, 3));
    let mut r = w.reader(Start::Oldest).unwrap();
    let mut t = Tally::starting_at(1);
    while step(&mut r, &mut t).is_some() {}
    assert_eq!((t.next, t.delivered, t.missed), (16, 15, 0));
}

/// A reader stopped with SIGSTOP (asleep on the futex) while the producer
/// writes many laps: the producer finishes regardless, and the reader, once
/// continued, reports exactly one lap whose range is exactly what it missed.
#[test]
fn stopped_reader_costs_the_producer_nothing_and_learns_its_gap() {
    const BEFORE: u64 = 100;
    // About 3.4 MB of records: some fifty laps of the 64 KiB ring.
    const DURING: u64 = 20_000;
    const LAST: u64 = BEFORE + DURING;
    let path = TempPath::new("stopped");
    create_ring(&path);
    let mut w = ChildProc::spawn(
        "writer",
        &[
            path_env(&path),
            ("SLIPSTREAM_MODE", "stdin".into()),
            ("SLIPSTREAM_WAKE", "immediate".into()),
        ],
    );
    assert_eq!(w.expect("open", DEADLINE).get("next_seq"), 1);
    let mut r = ChildProc::spawn(
        "reader",
        &[
            path_env(&path),
            ("SLIPSTREAM_MODE", "sleep".into()),
            ("SLIPSTREAM_COUNT", LAST.to_string()),
            ("SLIPSTREAM_REPORT_IDLE", "1".into()),
        ],
    );
    assert_eq!(r.expect("ready", DEADLINE).get("next_seq"), 1);

    w.send(&format!("publish {BEFORE}"));
    assert_eq!(w.expect("published", DEADLINE).get("next_seq"), BEFORE + 1);
    // The reader has read everything so far and gone idle (to sleep).
    while r.expect("idle", DEADLINE).get("next") != BEFORE + 1 {}

    r.signal(Signal::SIGSTOP);
    let until = Instant::now() + DEADLINE;
    while !all_threads_stopped(r.pid().as_raw()) {
        assert!(Instant::now() < until, "reader did not stop");
        thread::sleep(Duration::from_millis(1));
    }
    w.send(&format!("publish {DURING}"));
    let done = w.expect("published", DEADLINE);
    assert_eq!(done.get("next_seq"), LAST + 1);
    // The producer wrote every record while the reader was stopped.
    assert!(
        all_threads_stopped(r.pid().as_raw()),
        "the reader ran while the producer wrote"
    );
    let oldest = Reader::attach(&path.open(), Start::Oldest)
        .unwrap()
        .next_seq();
    r.signal(Signal::SIGCONT);

    r.wait_success(DEADLINE);
    let res = r.expect("result", DEADLINE);
    let lags = r.all("lag");
    assert_eq!(lags.len(), 1, "{lags:?}");
    let (first, last) = (lags[0].get("first"), lags[0].get("last"));
    assert_eq!(
        first,
        BEFORE + 1,
        "the lap starts right after what was read"
    );
    // It goes on from a record still in the ring, and misses nothing after it.
    assert!(
        last + 1 >= oldest && last < LAST,
        "lap {first}..={last}, oldest {oldest}"
    );
    assert_eq!(res.get("next"), LAST + 1);
    assert_eq!(res.get("missed"), last - first + 1);
    assert_eq!(res.get("delivered"), BEFORE + (LAST - last));
    eprintln!(
        "while the reader was stopped the producer wrote {DURING} records in {} us; \
         the reader missed {first}..={last} and read {} records after",
        done.get("micros"),
        LAST - last
    );

    w.close_stdin();
    w.wait_success(DEADLINE);
}

/// `producer_alive` follows the producer's process; the header says `Open`
/// after a kill (the producer did not close) and `Closed` after a clean exit.
#[test]
fn producer_death_is_visible_to_readers() {
    let path = TempPath::new("death");
    let file = path.open(); // empty: the first producer creates the ring
                            // It writes flat out until killed.
    let mut w = ChildProc::spawn(
        "writer",
        &[
            path_env(&path),
            ("SLIPSTREAM_MODE", "forever".into()),
            // Paced, so that the reader below keeps up.
            ("SLIPSTREAM_PACE", "2000".into()),
        ],
    );
    let open = w.expect("open", DEADLINE);
    assert_eq!((open.get("next_seq"), open.get("epoch")), (1, 1));
    let mut r = Reader::attach(&file, Start::Oldest).unwrap();
    assert!(producer_alive(&file).unwrap());
    let p = r.producer();
    assert_eq!(
        (p.state, p.pid as i32),
        (ProducerState::Open, w.pid().as_raw())
    );
    // Read a little while it writes (from wherever the oldest record is by now).
    let mut t = Tally::starting_at(r.next_seq());
    let until = Instant::now() + DEADLINE;
    while t.delivered < 1000 {
        assert!(Instant::now() < until);
        if step(&mut r, &mut t).is_none() {
            thread::yield_now();
        }
    }

    w.kill_running();
    assert!(!producer_alive(&file).unwrap());
    let p = r.producer();
    assert_eq!(
        (p.state, p.pid as i32, p.epoch),
        (ProducerState::Open, w.pid().as_raw(), 1)
    );
    while step(&mut r, &mut t).is_some() {}
    let end = Reader::attach(&file, Start::End).unwrap().next_seq();
    assert_eq!(t.next, end, "{t:?}");

    // A second producer resumes, writes, and exits cleanly.
    let mut w = ChildProc::spawn(
        "writer",
        &[path_env(&path), ("SLIPSTREAM_MODE", "stdin".into())],
    );
    let open = w.expect("open", DEADLINE);
    assert_eq!((open.get("next_seq"), open.get("epoch")), (end, 2));
    assert!(producer_alive(&file).unwrap());
    assert_eq!(r.producer().state, ProducerState::Open);
    w.send("publish 10");
    w.expect("published", DEADLINE);
    w.close_stdin();
    w.wait_success(DEADLINE);
    assert!(!producer_alive(&file).unwrap());
    let p = r.producer();
    assert_eq!(
        (p.state, p.pid as i32, p.epoch),
        (ProducerState::Closed, w.pid().as_raw(), 2)
    );
    while step(&mut r, &mut t).is_some() {}
    assert_eq!(t.next, end + 10, "{t:?}");
}
