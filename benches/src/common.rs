//! What the transports share: the workload descriptions, the receiver-side
//! checking and recording, and the sender's pacing loop.

use crate::payload;
use crate::proc::ChildGuard;
use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::{Duration, Instant};

/// The transports under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// The Slipstream ring in a file in /dev/shm, producer process to consumer process.
    Slipstream,
    /// Unix domain stream socket, 1 MiB BufWriter/BufReader on each side.
    UdsBuf,
    /// Unix domain stream socket, one write(2) per message.
    UdsWrite,
    /// A named pipe (FIFO), 1 MiB BufWriter/BufReader, 1 MiB pipe buffer.
    Pipe,
    /// iceoryx2 0.10 publish-subscribe, `[u8]` slices, no overflow.
    Iceoryx2,
    /// crossbeam-channel between two threads of one process.
    Crossbeam,
    /// A raw futex wake between two processes (latency only): the floor under
    /// every sleeping receiver.
    Futex,
}

impl Transport {
    /// Every transport, Slipstream first.
    pub const ALL: [Transport; 7] = [
        Transport::Slipstream,
        Transport::UdsBuf,
        Transport::UdsWrite,
        Transport::Pipe,
        Transport::Iceoryx2,
        Transport::Crossbeam,
        Transport::Futex,
    ];

    /// The name used on the command line, in tables and between processes.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Slipstream => "slipstream",
            Transport::UdsBuf => "uds-buf",
            Transport::UdsWrite => "uds-write",
            Transport::Pipe => "pipe",
            Transport::Iceoryx2 => "iceoryx2",
            Transport::Crossbeam => "crossbeam",
            Transport::Futex => "futex",
        }
    }

    /// Parses [`name`](Transport::name).
    pub fn from_name(s: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.name() == s)
    }

    /// How the throughput receiver of this transport waits for data.
    pub fn throughput_receiver(self) -> &'static str {
        match self {
            Transport::Slipstream | Transport::Iceoryx2 | Transport::Crossbeam => "busy-poll",
            Transport::UdsBuf | Transport::UdsWrite | Transport::Pipe => "blocking read",
            Transport::Futex => "-",
        }
    }

    /// Whether it has a throughput workload (the raw futex cell has none).
    pub fn has_throughput(self) -> bool {
        self != Transport::Futex
    }
}

/// How a latency receiver waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecvMode {
    /// Spins on a non-blocking receive.
    Busy,
    /// Sleeps in the kernel until woken.
    Sleep,
}

impl RecvMode {
    /// Name used between processes and in tables.
    pub fn name(self) -> &'static str {
        match self {
            RecvMode::Busy => "busy",
            RecvMode::Sleep => "sleep",
        }
    }
}

/// One throughput run.
#[derive(Clone, Debug)]
pub struct TputSpec {
    /// Bytes per message.
    pub size: usize,
    /// Messages sent.
    pub count: u64,
    /// Messages per second the sender aims at; 0 for as fast as it can.
    pub rate: f64,
    /// Slipstream's ring capacity in bytes.
    pub ring_bytes: u64,
    /// iceoryx2's subscriber queue, samples.
    pub iox_queue: usize,
    /// A run that has not finished by then fails.
    pub timeout: Duration,
}

/// One latency run.
#[derive(Clone, Debug)]
pub struct LatSpec {
    /// Bytes per message.
    pub size: usize,
    /// Messages recorded (after the warm-up).
    pub samples: u64,
    /// Messages sent first and not recorded.
    pub warmup: u64,
    /// Nanoseconds between two messages.
    pub interval_ns: u64,
    /// Whether the sender sleeps (rather than spins) between two messages.
    pub sleep_pacing: bool,
    /// How the receiver waits.
    pub mode: RecvMode,
    /// Slipstream's ring capacity in bytes.
    pub ring_bytes: u64,
    /// iceoryx2's subscriber queue, samples.
    pub iox_queue: usize,
    /// A run that has not finished by then fails.
    pub timeout: Duration,
    /// The CPU the sender pins itself to, if any (the receiver is pinned by
    /// the caller).
    pub sender_cpu: Option<usize>,
    /// Microseconds between two polls of Slipstream's waker thread (it reads
    /// the sleep announcements the publishing thread never reads).
    pub waker_us: u64,
}

impl LatSpec {
    /// Messages sent in all.
    pub fn total(&self) -> u64 {
        self.warmup + self.samples
    }

    /// The sender's pacing.
    pub fn pacing(&self) -> Pacing {
        Pacing::Interval {
            ns: self.interval_ns,
            sleep: self.sleep_pacing,
        }
    }

    /// The pacing and the sender's CPU as child arguments.
    pub fn child_args(&self) -> Vec<(&'static str, String)> {
        let mut args = vec![
            ("interval", self.interval_ns.to_string()),
            (
                "pace",
                if self.sleep_pacing { "sleep" } else { "spin" }.to_string(),
            ),
        ];
        if let Some(cpu) = self.sender_cpu {
            args.push(("cpu", cpu.to_string()));
        }
        args
    }
}

/// What one throughput run measured.
#[derive(Clone, Debug, Serialize)]
pub struct TputRun {
    /// Messages the receiver got.
    pub received: u64,
    /// Messages that passed the sequence and content check (all received, or the run failed).
    pub verified: u64,
    /// Messages the receiver was told it missed (Slipstream laps).
    pub lost: u64,
    /// Lap reports received.
    pub lag_events: u64,
    /// Nanoseconds from `go` to the last message received.
    pub elapsed_ns: u64,
    /// Nanoseconds the sender took to send everything.
    pub sender_ns: u64,
}

/// What one latency run measured.
pub struct LatRun {
    /// One-way latency of each recorded message, ns.
    pub hist: Histogram<u64>,
    /// Messages that passed the check (warm-up included).
    pub verified: u64,
    /// Messages missed (Slipstream laps).
    pub lost: u64,
}

/// Checks the messages of a throughput run in order.
pub struct Verifier {
    size: usize,
    /// Index of the next message expected.
    pub next: u64,
    /// Messages checked and good.
    pub verified: u64,
    /// Messages reported missing.
    pub lost: u64,
    /// Reports of missing messages.
    pub lag_events: u64,
}

impl Verifier {
    /// A verifier for messages of `size` bytes, from index 0.
    pub fn new(size: usize) -> Verifier {
        Verifier {
            size,
            next: 0,
            verified: 0,
            lost: 0,
            lag_events: 0,
        }
    }

    /// Checks the next message.
    #[inline]
    pub fn take(&mut self, msg: &[u8]) -> Result<()> {
        if let Err(e) = payload::check(msg, self.next, self.size, false) {
            bail!("{e}");
        }
        self.next += 1;
        self.verified += 1;
        Ok(())
    }

    /// Notes that the next `n` messages are missing.
    pub fn skip(&mut self, n: u64) {
        self.next += n;
        self.lost += n;
        self.lag_events += 1;
    }

    /// What the run measured: every message this verifier saw, the receiver's
    /// time from `go` to the last one, and the sender's own time.
    pub fn into_run(self, elapsed_ns: u64, sender_ns: u64) -> TputRun {
        TputRun {
            received: self.verified,
            verified: self.verified,
            lost: self.lost,
            lag_events: self.lag_events,
            elapsed_ns,
            sender_ns,
        }
    }
}

/// The end of every two-process throughput run: the receiver's time since
/// `t0` (taken just before `go`), then the child's `done` (its own sending
/// time) and its exit, then the result.
pub fn end_of_run(t0_ns: u64, child: ChildGuard, v: Verifier) -> Result<TputRun> {
    let elapsed_ns = payload::now_ns() - t0_ns;
    let report = child.finish()?;
    Ok(v.into_run(elapsed_ns, report.sender_ns))
}

/// Checks and times the messages of a latency run.
pub struct LatRecorder {
    size: usize,
    warmup: u64,
    /// Index of the next message expected.
    pub next: u64,
    hist: Histogram<u64>,
    verified: u64,
    lost: u64,
}

impl LatRecorder {
    /// A recorder for `spec`.
    pub fn new(spec: &LatSpec) -> LatRecorder {
        LatRecorder {
            size: spec.size,
            warmup: spec.warmup,
            next: 0,
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
            verified: 0,
            lost: 0,
        }
    }

    /// Checks the next message and records its latency (`now_ns` is when it arrived).
    #[inline]
    pub fn take(&mut self, msg: &[u8], now_ns: u64) -> Result<()> {
        if let Err(e) = payload::check(msg, self.next, self.size, true) {
            bail!("{e}");
        }
        if self.next >= self.warmup {
            let ts = payload::timestamp(msg);
            self.hist
                .saturating_record(now_ns.saturating_sub(ts).max(1));
        }
        self.next += 1;
        self.verified += 1;
        Ok(())
    }

    /// Notes that the next `n` messages are missing.
    pub fn skip(&mut self, n: u64) {
        self.next += n;
        self.lost += n;
    }

    /// The result.
    pub fn finish(self) -> LatRun {
        LatRun {
            hist: self.hist,
            verified: self.verified,
            lost: self.lost,
        }
    }
}

/// Cheap periodic checks for a receive loop that found nothing: the run's
/// deadline, and whatever `alive` checks (the sender's process) every few
/// milliseconds.
pub struct Watchdog {
    deadline: Instant,
    idle: u32,
    what: &'static str,
}

impl Watchdog {
    /// A watchdog for a run that must end within `timeout`.
    pub fn new(timeout: Duration, what: &'static str) -> Watchdog {
        Watchdog {
            deadline: Instant::now() + timeout,
            idle: 0,
            what,
        }
    }

    /// Called when a poll found nothing; every 64 Ki idle polls it runs the
    /// checks.
    #[inline]
    pub fn idle(&mut self, alive: impl FnOnce() -> Result<()>) -> Result<()> {
        self.idle = self.idle.wrapping_add(1);
        if self.idle & 0xffff == 0 {
            self.check(alive)?;
        }
        std::hint::spin_loop();
        Ok(())
    }

    /// Runs the checks now (for loops that sleep rather than spin).
    pub fn check(&mut self, alive: impl FnOnce() -> Result<()>) -> Result<()> {
        alive()?;
        if Instant::now() > self.deadline {
            bail!("{}: the run did not finish in time", self.what);
        }
        Ok(())
    }
}

/// How a sender spaces its messages.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// As fast as it can.
    Flat,
    /// At most this many messages per second (checked every 64 messages).
    Rate(f64),
    /// One message every `ns` nanoseconds, each at its slot; between two, the
    /// sender spins (`sleep: false`) or sleeps with `clock_nanosleep` on an
    /// absolute deadline and a 1 ns timer slack (`sleep: true`).
    Interval {
        /// Nanoseconds between two messages.
        ns: u64,
        /// Sleep rather than spin.
        sleep: bool,
    },
}

impl Pacing {
    /// The pacing a child's arguments describe (`interval`, `sleep`, `rate`).
    pub fn from_args(args: &crate::proc::ChildArgs) -> Result<Pacing> {
        if let Ok(ns) = args.num::<u64>("interval") {
            return Ok(Pacing::Interval {
                ns,
                sleep: args.str("pace")? == "sleep",
            });
        }
        let rate: f64 = args.num("rate")?;
        Ok(if rate > 0.0 {
            Pacing::Rate(rate)
        } else {
            Pacing::Flat
        })
    }
}

/// Sleeps until `CLOCK_MONOTONIC` reaches `deadline_ns` (never early).
fn sleep_until(deadline_ns: u64) {
    let ts = rustix::time::Timespec {
        tv_sec: (deadline_ns / 1_000_000_000) as _,
        tv_nsec: (deadline_ns % 1_000_000_000) as _,
    };
    while rustix::thread::clock_nanosleep_absolute(rustix::thread::ClockId::Monotonic, &ts).is_err()
    {
        // EINTR: sleep again until the deadline.
    }
}

/// The sender's loop: calls `send(index)` for every message, paced as asked.
/// Returns the nanoseconds it took.
pub fn send_loop(
    count: u64,
    pacing: Pacing,
    mut send: impl FnMut(u64) -> Result<()>,
) -> Result<u64> {
    if let Pacing::Interval { sleep: true, .. } = pacing {
        // Timer slack defaults to 50 us, twice a typical interval.
        let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
    }
    let start = payload::now_ns();
    match pacing {
        Pacing::Interval { ns, sleep } => {
            for i in 0..count {
                let slot = start + (i + 1) * ns;
                if sleep {
                    sleep_until(slot);
                } else {
                    payload::spin_until(slot);
                }
                send(i)?;
            }
        }
        Pacing::Rate(rate) => {
            let ns_per_msg = 1e9 / rate;
            for i in 0..count {
                if i % 64 == 0 {
                    payload::spin_until(start + (i as f64 * ns_per_msg) as u64);
                }
                send(i)?;
            }
        }
        Pacing::Flat => {
            for i in 0..count {
                send(i)?;
            }
        }
    }
    Ok(payload::now_ns() - start)
}
