//! Results, their summaries, and the Markdown and JSON reports.

use crate::common::{RecvMode, TputRun, Transport};
use serde::Serialize;
use std::fmt::Write as _;

/// Median and range of some runs.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Summary {
    /// The median (the mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Summary {
    /// The summary of `values`; `None` if there are none.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// The throughput of one transport at one message size, over all its runs.
#[derive(Debug, Serialize)]
pub struct TputResult {
    /// The transport.
    pub transport: Transport,
    /// Bytes per message.
    pub size: usize,
    /// Messages sent per run.
    pub messages: u64,
    /// How the receiver waited.
    pub receiver: &'static str,
    /// Each successful run.
    pub runs: Vec<TputRun>,
    /// Messages delivered per second (received / time from `go` to the last one).
    pub msgs_per_s: Option<Summary>,
    /// Payload bytes delivered per second.
    pub bytes_per_s: Option<Summary>,
    /// Messages per second at the sender (its own clock, from `go` to its last send).
    pub sender_msgs_per_s: Option<Summary>,
    /// Messages sent in all runs.
    pub sent: u64,
    /// Messages received and checked good in all runs.
    pub verified: u64,
    /// Messages lost (Slipstream laps) in all runs.
    pub lost: u64,
    /// Runs that lost messages.
    pub runs_with_loss: usize,
    /// Runs that failed, and why.
    pub errors: Vec<String>,
}

impl TputResult {
    /// An empty result, to add runs to.
    pub fn new(transport: Transport, size: usize, messages: u64) -> TputResult {
        TputResult {
            transport,
            size,
            messages,
            receiver: transport.throughput_receiver(),
            runs: Vec::new(),
            msgs_per_s: None,
            bytes_per_s: None,
            sender_msgs_per_s: None,
            sent: 0,
            verified: 0,
            lost: 0,
            runs_with_loss: 0,
            errors: Vec::new(),
        }
    }

    /// Adds a run and updates the summaries.
    pub fn add(&mut self, run: TputRun) {
        self.sent += self.messages;
        self.verified += run.verified;
        self.lost += run.lost;
        if run.lost > 0 {
            self.runs_with_loss += 1;
        }
        self.runs.push(run);
        let rate = |r: &TputRun| r.received as f64 * 1e9 / r.elapsed_ns.max(1) as f64;
        let m: Vec<f64> = self.runs.iter().map(rate).collect();
        let b: Vec<f64> = m.iter().map(|x| x * self.size as f64).collect();
        let s: Vec<f64> = self
            .runs
            .iter()
            .map(|r| self.messages as f64 * 1e9 / r.sender_ns.max(1) as f64)
            .collect();
        self.msgs_per_s = Summary::of(&m);
        self.bytes_per_s = Summary::of(&b);
        self.sender_msgs_per_s = Summary::of(&s);
    }
}

/// One run of a latency cell (fresh processes).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LatCellRun {
    /// Which repetition (1-based), to pair runs of two cells.
    pub rep: usize,
    /// Messages recorded.
    pub samples: u64,
    /// Median, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, ns.
    pub p999_ns: u64,
    /// Largest, ns.
    pub max_ns: u64,
    /// Mean, ns.
    pub mean_ns: f64,
    /// Messages checked good (warm-up included).
    pub verified: u64,
    /// Messages lost (Slipstream laps).
    pub lost: u64,
}

/// One-way latency of one transport with one kind of receiver, over its runs.
#[derive(Debug, Serialize)]
pub struct LatResult {
    /// The transport.
    pub transport: Transport,
    /// How the receiver waited.
    pub mode: RecvMode,
    /// What exactly the receiver did.
    pub receiver: String,
    /// Bytes per message.
    pub size: usize,
    /// Nanoseconds between two messages.
    pub interval_ns: u64,
    /// Each successful run.
    pub runs: Vec<LatCellRun>,
    /// The runs' p50: median and range, ns.
    pub p50: Option<Summary>,
    /// The runs' p99: median and range, ns.
    pub p99: Option<Summary>,
    /// The runs' p99.9: median and range, ns.
    pub p999: Option<Summary>,
    /// The largest latency of any run, ns.
    pub max_ns: u64,
    /// Messages recorded in all runs.
    pub samples: u64,
    /// Messages checked good in all runs (warm-up included).
    pub verified: u64,
    /// Messages lost in all runs.
    pub lost: u64,
    /// Runs that failed, and why.
    pub errors: Vec<String>,
}

impl LatResult {
    /// An empty cell, to add runs to.
    pub fn new(transport: Transport, mode: RecvMode, receiver: &str, s: &Settings) -> LatResult {
        LatResult {
            transport,
            mode,
            receiver: receiver.to_string(),
            size: s.latency_size,
            interval_ns: s.interval_ns,
            runs: Vec::new(),
            p50: None,
            p99: None,
            p999: None,
            max_ns: 0,
            samples: 0,
            verified: 0,
            lost: 0,
            errors: Vec::new(),
        }
    }

    /// Adds run `rep` and updates the summaries; returns the run's figures.
    pub fn add(&mut self, rep: usize, run: &crate::common::LatRun) -> LatCellRun {
        let h = &run.hist;
        let c = LatCellRun {
            rep,
            samples: h.len(),
            p50_ns: h.value_at_quantile(0.5),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
            mean_ns: h.mean(),
            verified: run.verified,
            lost: run.lost,
        };
        self.runs.push(c);
        self.samples += c.samples;
        self.verified += c.verified;
        self.lost += c.lost;
        self.max_ns = self.max_ns.max(c.max_ns);
        let of = |f: fn(&LatCellRun) -> u64| {
            Summary::of(&self.runs.iter().map(|r| f(r) as f64).collect::<Vec<_>>())
        };
        self.p50 = of(|r| r.p50_ns);
        self.p99 = of(|r| r.p99_ns);
        self.p999 = of(|r| r.p999_ns);
        c
    }

    /// The run of repetition `rep`, if it succeeded.
    pub fn run(&self, rep: usize) -> Option<&LatCellRun> {
        self.runs.iter().find(|r| r.rep == rep)
    }
}

/// memcpy bandwidth for one span, over the throughput repetitions.
#[derive(Debug, Serialize)]
pub struct MemcpyResult {
    /// Bytes per copy.
    pub span: usize,
    /// Size of the buffer the streaming copies walk through (the ring's).
    pub source_bytes: u64,
    /// Bytes/s, one source that stays in cache, each repetition.
    pub in_cache: Vec<f64>,
    /// Bytes/s, consecutive spans of the large buffer, each repetition.
    pub streaming: Vec<f64>,
    /// Summary of `in_cache`.
    pub in_cache_bps: Option<Summary>,
    /// Summary of `streaming`.
    pub streaming_bps: Option<Summary>,
}

impl MemcpyResult {
    /// No measurement yet.
    pub fn new(span: usize, source_bytes: u64) -> MemcpyResult {
        MemcpyResult {
            span,
            source_bytes,
            in_cache: Vec::new(),
            streaming: Vec::new(),
            in_cache_bps: None,
            streaming_bps: None,
        }
    }

    /// Adds one measurement.
    pub fn add(&mut self, in_cache: f64, streaming: f64) {
        self.in_cache.push(in_cache);
        self.streaming.push(streaming);
        self.in_cache_bps = Summary::of(&self.in_cache);
        self.streaming_bps = Summary::of(&self.streaming);
    }
}

/// Publish latency over the first and second laps of fresh rings.
#[derive(Debug, Serialize)]
pub struct FirstLapResult {
    /// Record payload size.
    pub size: usize,
    /// Ring capacity.
    pub ring_bytes: u64,
    /// The first lap of each fresh ring.
    pub first: Vec<crate::machine_bw::LapLatency>,
    /// The second lap of the same rings.
    pub second: Vec<crate::machine_bw::LapLatency>,
    /// Runs that failed.
    pub errors: Vec<String>,
}

impl FirstLapResult {
    /// No runs yet.
    pub fn new(size: usize, ring_bytes: u64) -> FirstLapResult {
        FirstLapResult {
            size,
            ring_bytes,
            first: Vec::new(),
            second: Vec::new(),
            errors: Vec::new(),
        }
    }
}

/// The machine the benchmark ran on.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// Logical CPUs available to this process.
    pub nproc: usize,
    /// Kernel release.
    pub kernel: String,
    /// Median cost of one `clock_gettime(CLOCK_MONOTONIC)`, ns.
    pub clock_gettime_ns: f64,
}

impl Machine {
    /// Looks at this machine.
    pub fn probe() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mut costs: Vec<f64> = (0..21)
            .map(|_| {
                let t0 = crate::payload::now_ns();
                for _ in 0..1000 {
                    std::hint::black_box(crate::payload::now_ns());
                }
                (crate::payload::now_ns() - t0) as f64 / 1000.0
            })
            .collect();
        costs.sort_by(f64::total_cmp);
        Machine {
            cpu,
            nproc,
            kernel,
            clock_gettime_ns: costs[costs.len() / 2],
        }
    }
}

/// CPU time counters at one instant: the whole machine's, and this process's
/// (with its reaped children).
#[derive(Clone, Copy, Debug)]
pub struct CpuSnapshot {
    wall_ns: u64,
    /// Non-idle time of all CPUs (user, nice, system, irq, softirq), ticks.
    busy: u64,
    /// Time the hypervisor ran something else on our virtual CPUs, ticks.
    steal: u64,
    /// This process's user and system time plus its reaped children's, ticks.
    ours: u64,
}

/// How busy the machine was with other work during a phase.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CpuUse {
    /// Which phase.
    pub phase: &'static str,
    /// Seconds the phase took.
    pub seconds: f64,
    /// Average number of CPUs busy with work other than this benchmark.
    pub other_cpus: f64,
    /// Average number of CPUs the benchmark itself kept busy.
    pub bench_cpus: f64,
    /// Average number of virtual CPUs stolen by the hypervisor.
    pub steal_cpus: f64,
}

/// `/proc` reports CPU time in units of `USER_HZ`, which Linux fixes at 100.
const TICKS_PER_S: f64 = 100.0;

impl CpuSnapshot {
    /// Reads the counters; `None` if `/proc` is not there to read.
    pub fn take() -> Option<CpuSnapshot> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        let field = |i: usize| cpu.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal (guest is inside user)
        let busy = field(0) + field(1) + field(2) + field(5) + field(6);
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        let after = own.rsplit_once(')')?.1;
        let f: Vec<u64> = after
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        // After the command name: state is field 3, utime..cstime are 14..=17.
        let ours = f.get(11..15)?.iter().sum();
        Some(CpuSnapshot {
            wall_ns: crate::payload::now_ns(),
            busy,
            steal: field(7),
            ours,
        })
    }

    /// What happened between `self` and `later`.
    pub fn until(&self, later: &CpuSnapshot, phase: &'static str) -> CpuUse {
        let seconds = (later.wall_ns - self.wall_ns) as f64 / 1e9;
        let per = |ticks: u64| ticks as f64 / TICKS_PER_S / seconds.max(1e-3);
        let busy = later.busy.saturating_sub(self.busy);
        let ours = later.ours.saturating_sub(self.ours);
        CpuUse {
            phase,
            seconds,
            other_cpus: per(busy.saturating_sub(ours)),
            bench_cpus: per(ours),
            steal_cpus: per(later.steal.saturating_sub(self.steal)),
        }
    }
}

/// Everything one invocation measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// The settings in force.
    pub settings: Settings,
    /// Throughput results, by size then transport.
    pub throughput: Vec<TputResult>,
    /// Latency results.
    pub latency: Vec<LatResult>,
    /// memcpy bandwidth, measured once per throughput repetition.
    pub memcpy: Vec<MemcpyResult>,
    /// Publish latency over the first lap of fresh rings.
    pub first_lap: Option<FirstLapResult>,
    /// Notes on what was not measured, and why.
    pub notes: Vec<String>,
    /// How busy the machine was with other work, per phase.
    pub cpu: Vec<CpuUse>,
}

/// The settings a report was made with.
#[derive(Debug, Serialize, Clone)]
pub struct Settings {
    /// The command line.
    pub command: String,
    /// Transports, in order.
    pub transports: Vec<Transport>,
    /// Message sizes for throughput.
    pub sizes: Vec<usize>,
    /// Messages per throughput run, before the byte cap.
    pub messages: u64,
    /// Payload bytes one throughput run may move at most.
    pub max_bytes: u64,
    /// Runs per throughput measurement.
    pub reps: usize,
    /// Throughput sender rate, messages/s (0: as fast as possible).
    pub rate: f64,
    /// Latency samples per run.
    pub latency_samples: u64,
    /// Runs per latency cell.
    pub latency_reps: usize,
    /// How latency cells were pinned to CPUs.
    pub pinning: String,
    /// Slipstream latency producer's waker period, us.
    pub waker_us: u64,
    /// Latency messages sent before recording.
    pub latency_warmup: u64,
    /// Latency message size.
    pub latency_size: usize,
    /// Latency pacing, ns between messages.
    pub interval_ns: u64,
    /// Whether latency senders sleep (rather than spin) between messages.
    pub sleep_pacing: bool,
    /// Slipstream ring capacity, bytes.
    pub ring_bytes: u64,
    /// iceoryx2 subscriber queue, samples.
    pub iox_queue: usize,
    /// Whether --quick was given.
    pub quick: bool,
}

/// `12.3 M/s` and the like.
pub fn fmt_rate(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2} G/s", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} M/s", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k/s", x / 1e3)
    } else {
        format!("{x:.0} /s")
    }
}

/// `1.23 GB/s` and the like (decimal units).
pub fn fmt_bytes(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2} GB/s", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.0} MB/s", x / 1e6)
    } else {
        format!("{:.0} kB/s", x / 1e3)
    }
}

/// `850 ns`, `12.3 us`, `4.56 ms`.
pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e4 {
        format!("{:.1} us", ns / 1e3)
    } else if ns >= 1e3 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// `64 B`, `1 KiB`, `4 KiB`.
pub fn fmt_size(b: usize) -> String {
    if b >= 1024 && b % 1024 == 0 {
        format!("{} KiB", b / 1024)
    } else {
        format!("{b} B")
    }
}

fn ratio(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.0}x")
    } else if x >= 0.1 {
        format!("{x:.2}x")
    } else {
        format!("{x:.4}x")
    }
}

/// A target of the brief, checked in the ratio table.
struct Target {
    peer: Transport,
    /// `Some(size)` for a throughput target, `None` for busy-poll p50 latency.
    size: Option<usize>,
    at_least: f64,
}

const TARGETS: [Target; 4] = [
    Target {
        peer: Transport::Crossbeam,
        size: Some(64),
        at_least: 1.2,
    },
    Target {
        peer: Transport::UdsBuf,
        size: Some(64),
        at_least: 3.0,
    },
    Target {
        peer: Transport::Iceoryx2,
        size: Some(4096),
        at_least: 2.0,
    },
    Target {
        peer: Transport::Iceoryx2,
        size: None,
        at_least: 2.0,
    },
];

fn target_note(peer: Transport, size: Option<usize>, value: f64) -> String {
    match TARGETS.iter().find(|t| t.peer == peer && t.size == size) {
        Some(t) => {
            let verdict = if value >= t.at_least {
                "met"
            } else {
                "NOT met"
            };
            format!(" (target >= {}x: {verdict})", t.at_least)
        }
        None => String::new(),
    }
}

impl Report {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let s = &self.settings;
        let _ = writeln!(o, "# Slipstream transport benchmark\n");
        let _ = writeln!(o, "## Machine\n");
        let _ = writeln!(o, "- CPU: {} ({} logical CPUs)", m.cpu, m.nproc);
        let _ = writeln!(o, "- Kernel: {}", m.kernel);
        let _ = writeln!(
            o,
            "- clock_gettime(CLOCK_MONOTONIC): {:.0} ns per call (included once in every latency sample)",
            m.clock_gettime_ns
        );
        for c in &self.cpu {
            let _ = writeln!(
                o,
                "- During the {} phase ({:.0} s): other processes kept {:.2} CPUs busy on average, this benchmark {:.2}, hypervisor steal {:.2}",
                c.phase, c.seconds, c.other_cpus, c.bench_cpus, c.steal_cpus
            );
        }
        let _ = writeln!(o, "- Command: `{}`", s.command);
        let _ = writeln!(
            o,
            "- Settings: {} runs per throughput cell, up to {} messages (and at most {} MiB of payload) per run{}; latency: {} samples after {} warm-up, {} messages, one every {} (sender {} in between); Slipstream ring {} MiB; iceoryx2 subscriber queue {} samples\n",
            s.reps,
            s.messages,
            s.max_bytes >> 20,
            if s.rate > 0.0 { format!(", sender paced at {}", fmt_rate(s.rate)) } else { String::new() },
            s.latency_samples,
            s.latency_warmup,
            fmt_size(s.latency_size),
            fmt_ns(s.interval_ns as f64),
            if s.sleep_pacing { "sleeps" } else { "spins" },
            s.ring_bytes >> 20,
            s.iox_queue,
        );
        if !self.throughput.is_empty() {
            self.throughput_table(&mut o);
        }
        if !self.memcpy.is_empty() {
            self.memcpy_table(&mut o);
        }
        if let Some(f) = &self.first_lap {
            first_lap_table(f, &mut o);
        }
        if !self.latency.is_empty() {
            self.latency_table(&mut o);
        }
        self.ratio_table(&mut o);
        let mut problems: Vec<String> = Vec::new();
        for r in &self.throughput {
            for e in &r.errors {
                problems.push(format!(
                    "throughput {} {}: {e}",
                    r.transport.name(),
                    fmt_size(r.size)
                ));
            }
            if r.lost > 0 {
                problems.push(format!(
                    "throughput {} {}: {} of {} messages lost to laps in {} of {} runs (the producer never waits; see the lost column)",
                    r.transport.name(),
                    fmt_size(r.size),
                    r.lost,
                    r.sent,
                    r.runs_with_loss,
                    r.runs.len()
                ));
            }
        }
        for l in &self.latency {
            for e in &l.errors {
                problems.push(format!(
                    "latency {} {}: {e}",
                    l.transport.name(),
                    l.mode.name()
                ));
            }
            if l.lost > 0 {
                problems.push(format!(
                    "latency {} {}: {} messages lost",
                    l.transport.name(),
                    l.mode.name(),
                    l.lost
                ));
            }
        }
        if let Some(f) = &self.first_lap {
            for e in &f.errors {
                problems.push(format!("first lap: {e}"));
            }
        }
        for c in &self.cpu {
            if c.other_cpus > 0.25 || c.steal_cpus > 0.25 {
                problems.push(format!(
                    "the machine was not quiet during the {} phase: other processes used {:.2} CPUs and the hypervisor stole {:.2}, of {}; expect slow and noisy figures (busy-poll latencies of milliseconds, iceoryx2's yielding publisher starved)",
                    c.phase, c.other_cpus, c.steal_cpus, m.nproc
                ));
            }
        }
        if !self.notes.is_empty() || !problems.is_empty() {
            let _ = writeln!(o, "## Notes and problems\n");
            for p in &problems {
                let _ = writeln!(o, "- **{p}**");
            }
            for n in &self.notes {
                let _ = writeln!(o, "- {n}");
            }
            let _ = writeln!(o);
        }
        o
    }

    fn throughput_table(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "## Throughput\n\nMedian of {} runs, [min - max]. Rates count delivered messages over the time from `go` to the last one received; payload bytes only. Every message was checked for sequence and content.\n",
            self.settings.reps
        );
        let _ = writeln!(
            o,
            "| transport | size | msgs/run | delivered msg/s | range | payload bytes/s | range | sender msg/s | receiver | checked | lost |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---|---:|---|---:|---|---:|---|");
        for r in &self.throughput {
            let (mm, mr) = match r.msgs_per_s {
                Some(s) => (
                    fmt_rate(s.median),
                    format!("{} - {}", fmt_rate(s.min), fmt_rate(s.max)),
                ),
                None => ("failed".into(), String::new()),
            };
            let (bm, br) = match r.bytes_per_s {
                Some(s) => (
                    fmt_bytes(s.median),
                    format!("{} - {}", fmt_bytes(s.min), fmt_bytes(s.max)),
                ),
                None => (String::new(), String::new()),
            };
            let sm = r
                .sender_msgs_per_s
                .map_or(String::new(), |s| fmt_rate(s.median));
            let lost = if r.lost > 0 {
                format!(
                    "**LOSS {} ({:.3}%), {}/{} runs**",
                    r.lost,
                    100.0 * r.lost as f64 / r.sent.max(1) as f64,
                    r.runs_with_loss,
                    r.runs.len()
                )
            } else if r.runs.is_empty() {
                String::new()
            } else {
                "0".into()
            };
            let checked = if r.errors.is_empty() {
                format!("{}/{}", r.verified, r.sent - r.lost)
            } else {
                format!(
                    "{}/{}, **{} runs failed**",
                    r.verified,
                    r.sent,
                    r.errors.len()
                )
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {mm} | {mr} | {bm} | {br} | {sm} | {} | {checked} | {lost} |",
                r.transport.name(),
                fmt_size(r.size),
                r.messages,
                r.receiver
            );
        }
        let _ = writeln!(o);
    }

    fn memcpy_table(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "## memcpy bandwidth (same run)\n\nOne process, `copy_nonoverlapping` for 30 ms per figure, once before each throughput repetition of the last size: from one buffer that stays in cache, and from consecutive spans of a {} MiB buffer (the ring's size, which does not fit in cache). Median of {} [min - max].\n",
            self.settings.ring_bytes >> 20,
            self.memcpy.first().map_or(0, |m| m.in_cache.len())
        );
        let _ = writeln!(o, "| span | in cache | range | from a ring-sized buffer | range |\n|---:|---:|---|---:|---|");
        for m in &self.memcpy {
            let (Some(c), Some(st)) = (m.in_cache_bps, m.streaming_bps) else {
                continue;
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} - {} | {} | {} - {} |",
                fmt_size(m.span),
                fmt_bytes(c.median),
                fmt_bytes(c.min),
                fmt_bytes(c.max),
                fmt_bytes(st.median),
                fmt_bytes(st.min),
                fmt_bytes(st.max)
            );
        }
        let slip4k = self
            .throughput
            .iter()
            .find(|r| r.transport == Transport::Slipstream && r.size == 4096)
            .and_then(|r| r.bytes_per_s.map(|b| (b, r.lost)));
        let mem4k = self.memcpy.iter().find(|m| m.span == 4096);
        if let (Some((b, lost)), Some(m)) = (slip4k, mem4k) {
            if let (Some(c), Some(st)) = (m.in_cache_bps, m.streaming_bps) {
                let _ = writeln!(
                    o,
                    "\nSlipstream 4 KiB delivery, median {} [{} - {}]{}: **{:.2} [{:.2} - {:.2}] of memcpy from a ring-sized buffer** (target >= 0.6: {}), {:.2} of memcpy in cache.",
                    fmt_bytes(b.median),
                    fmt_bytes(b.min),
                    fmt_bytes(b.max),
                    if lost > 0 { " (with LOSS)" } else { "" },
                    b.median / st.median,
                    b.min / st.median,
                    b.max / st.median,
                    if b.median / st.median >= 0.6 { "met" } else { "NOT met" },
                    b.median / c.median
                );
            }
        }
        let _ = writeln!(o);
    }

    fn latency_table(&self, o: &mut String) {
        let s = &self.settings;
        let _ = writeln!(
            o,
            "## One-way latency\n\n{} messages, one every {}; the sender stamps CLOCK_MONOTONIC just before sending, the receiver subtracts it from its own reading once the message is in hand and checked. Each cell ran {} times with fresh processes (runs the outer loop, cells the inner one): p50, p99 and p99.9 are the median of the runs' figures [min - max], max the largest of any run. CPUs: {}. {}\n",
            fmt_size(s.latency_size),
            fmt_ns(s.interval_ns as f64),
            s.latency_reps,
            s.pinning,
            if s.waker_us == 0 {
                "Slipstream's sleeping producer wakes as a node does by default (`Wake::AtBlockEnd`), each message a block: it flushes after every commit.".to_string()
            } else {
                format!("Slipstream's sleeping producer runs `Wake::Immediate` with a waker thread polling the sleep announcements every {} us.", s.waker_us)
            }
        );
        let _ = writeln!(
            o,
            "| transport | receiver | runs | samples/run | p50 | p50 range | p99 | p99 range | p99.9 | max | lost |"
        );
        let _ = writeln!(o, "|---|---|---:|---:|---:|---|---:|---|---:|---:|---|");
        let range = |x: Option<Summary>| match x {
            Some(v) => (
                fmt_ns(v.median),
                format!("{} - {}", fmt_ns(v.min), fmt_ns(v.max)),
            ),
            None => ("failed".into(), String::new()),
        };
        for l in &self.latency {
            let (p50, p50r) = range(l.p50);
            let (p99, p99r) = range(l.p99);
            let p999 = l.p999.map_or(String::new(), |v| fmt_ns(v.median));
            let mut lost = if l.lost > 0 {
                format!("**LOSS {}**", l.lost)
            } else {
                "0".into()
            };
            if !l.errors.is_empty() {
                let _ = write!(lost, ", **{} runs failed**", l.errors.len());
            }
            let per_run = l.runs.first().map_or(0, |r| r.samples);
            let _ = writeln!(
                o,
                "| {} | {} | {} | {per_run} | {p50} | {p50r} | {p99} | {p99r} | {p999} | {} | {lost} |",
                l.transport.name(),
                l.receiver,
                l.runs.len(),
                fmt_ns(l.max_ns as f64),
            );
        }
        let _ = writeln!(o);
        self.latency_targets(o);
    }

    /// Issue 16's latency targets, run by run: Slipstream's busy-poll p50 at
    /// most 0.5x iceoryx2's, and its sleeping p50 within 1.2x of the raw futex
    /// wake's, each pair from the same repetition.
    fn latency_targets(&self, o: &mut String) {
        let cell = |t: Transport, m: RecvMode| {
            self.latency
                .iter()
                .find(|l| l.transport == t && l.mode == m)
        };
        // (mode, peer, target, what): a pair with no target is the floor,
        // shown so that a run's regime can be read off it.
        let pairs = [
            (
                RecvMode::Busy,
                Transport::Iceoryx2,
                Some(0.5),
                "busy-poll: Slipstream p50 / iceoryx2 p50, target <= 0.5",
            ),
            (
                RecvMode::Busy,
                Transport::Futex,
                None,
                "busy-poll: Slipstream p50 / raw spin on a shared word p50 (the floor, no target)",
            ),
            (
                RecvMode::Sleep,
                Transport::Futex,
                Some(1.2),
                "sleeping: Slipstream p50 / raw futex wake p50, target <= 1.2",
            ),
        ];
        let mut wrote = false;
        for (mode, peer, at_most, what) in pairs {
            let (Some(slip), Some(p)) = (cell(Transport::Slipstream, mode), cell(peer, mode))
            else {
                continue;
            };
            if !wrote {
                let _ = writeln!(
                    o,
                    "### Latency targets, run by run\n\n| cell | run | Slipstream p50 | peer p50 | ratio | met |\n|---|---:|---:|---:|---:|---|"
                );
                wrote = true;
            }
            let mut met = 0;
            let mut n = 0;
            let mut ratios = Vec::new();
            for rep in 1..=self.settings.latency_reps {
                let (Some(a), Some(b)) = (slip.run(rep), p.run(rep)) else {
                    continue;
                };
                let x = a.p50_ns as f64 / b.p50_ns.max(1) as f64;
                n += 1;
                ratios.push(x);
                let ok = at_most.map(|t| x <= t);
                if ok == Some(true) {
                    met += 1;
                }
                let _ = writeln!(
                    o,
                    "| {what} | {rep} | {} | {} | {:.2} | {} |",
                    fmt_ns(a.p50_ns as f64),
                    fmt_ns(b.p50_ns as f64),
                    x,
                    match ok {
                        Some(true) => "yes",
                        Some(false) => "NO",
                        None => "-",
                    }
                );
            }
            if let Some(r) = Summary::of(&ratios) {
                let verdict = match at_most {
                    None => format!("{n} runs"),
                    Some(_) if met == n => format!("{met}/{n} runs: met every run"),
                    Some(_) => format!("{met}/{n} runs: NOT met every run"),
                };
                let _ = writeln!(
                    o,
                    "| {what} | **all** | | | **{:.2} [{:.2} - {:.2}]** | **{verdict}** |",
                    r.median, r.min, r.max,
                );
            }
        }
        if wrote {
            let _ = writeln!(o);
        }
    }

    fn ratio_table(&self, o: &mut String) {
        let slip_t = |size: usize| {
            self.throughput
                .iter()
                .find(|r| r.transport == Transport::Slipstream && r.size == size)
        };
        let slip_l = |mode: RecvMode| {
            self.latency
                .iter()
                .find(|l| l.transport == Transport::Slipstream && l.mode == mode && l.p50.is_some())
        };
        let has_slip = self
            .throughput
            .iter()
            .any(|r| r.transport == Transport::Slipstream)
            || self
                .latency
                .iter()
                .any(|l| l.transport == Transport::Slipstream);
        if !has_slip {
            return;
        }
        let sizes = &self.settings.sizes;
        let mut peers: Vec<Transport> = self
            .settings
            .transports
            .iter()
            .copied()
            .filter(|t| *t != Transport::Slipstream)
            .collect();
        peers.dedup();
        if peers.is_empty() {
            return;
        }
        let _ = writeln!(
            o,
            "## Slipstream against each peer\n\nThroughput: Slipstream's median delivered msg/s divided by the peer's (from the table above). Latency: the peer's p50 divided by Slipstream's. Above 1x, Slipstream is better. Targets are the brief's.\n"
        );
        let mut head = String::from("| peer |");
        let mut rule = String::from("|---|");
        for &sz in sizes {
            let _ = write!(head, " throughput {} |", fmt_size(sz));
            rule.push_str("---|");
        }
        head.push_str(" p50 busy-poll | p50 sleeping |");
        rule.push_str("---|---|");
        let _ = writeln!(o, "{head}\n{rule}");
        for peer in peers {
            let mut row = format!("| {} |", peer.name());
            for &sz in sizes {
                let cell = match (
                    slip_t(sz).and_then(|r| r.msgs_per_s.map(|s| (s.median, r.lost))),
                    self.throughput
                        .iter()
                        .find(|r| r.transport == peer && r.size == sz)
                        .and_then(|r| r.msgs_per_s),
                ) {
                    (Some((s, lost)), Some(p)) => {
                        let x = s / p.median;
                        let flag = if lost > 0 {
                            " (Slipstream LOST messages)"
                        } else {
                            ""
                        };
                        format!("{}{}{flag}", ratio(x), target_note(peer, Some(sz), x))
                    }
                    _ => "-".into(),
                };
                let _ = write!(row, " {cell} |");
            }
            for mode in [RecvMode::Busy, RecvMode::Sleep] {
                let peer_l = self
                    .latency
                    .iter()
                    .find(|l| l.transport == peer && l.mode == mode && l.p50.is_some());
                let cell = match (slip_l(mode).and_then(|l| l.p50), peer_l.and_then(|l| l.p50)) {
                    (Some(s), Some(p)) => {
                        let x = p.median / s.median.max(1.0);
                        let tn = if mode == RecvMode::Busy {
                            target_note(peer, None, x)
                        } else {
                            String::new()
                        };
                        format!("{}{tn}", ratio(x))
                    }
                    _ => "-".into(),
                };
                let _ = write!(row, " {cell} |");
            }
            let _ = writeln!(o, "{row}");
        }
        let _ = writeln!(o);
    }
}

fn first_lap_table(f: &FirstLapResult, o: &mut String) {
    let _ = writeln!(
        o,
        "## Publish latency over the first lap of a fresh ring\n\n{} B records, `Writer::publish` into a fresh {} MiB ring file in /dev/shm (mapped with MAP_POPULATE at creation), no reader; each publish timed with two clock_gettime calls (their cost is in every figure), HDR histogram. The first lap, then the second lap of the same ring. Median of {} rings [min - max].\n",
        f.size,
        f.ring_bytes >> 20,
        f.first.len()
    );
    let _ = writeln!(
        o,
        "| lap | records/lap | p50 | p99 | p99.9 | p99.9 range | max (largest) |\n|---|---:|---:|---:|---:|---|---:|"
    );
    for (name, laps) in [("first", &f.first), ("second", &f.second)] {
        let of = |g: fn(&crate::machine_bw::LapLatency) -> u64| {
            Summary::of(&laps.iter().map(|l| g(l) as f64).collect::<Vec<_>>())
        };
        let (Some(p50), Some(p99), Some(p999)) =
            (of(|l| l.p50_ns), of(|l| l.p99_ns), of(|l| l.p999_ns))
        else {
            continue;
        };
        let max = laps.iter().map(|l| l.max_ns).max().unwrap_or(0);
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {} - {} | {} |",
            laps[0].records,
            fmt_ns(p50.median),
            fmt_ns(p99.median),
            fmt_ns(p999.median),
            fmt_ns(p999.min),
            fmt_ns(p999.max),
            fmt_ns(max as f64)
        );
    }
    if let Some(worst) = f.first.iter().map(|l| l.p999_ns).max() {
        let n = f.first.iter().filter(|l| l.p999_ns < 1000).count();
        let _ = writeln!(
            o,
            "\nFirst-lap p99.9 under 1 us (issue 16's target) in {n} of {} rings (worst {}).",
            f.first.len(),
            fmt_ns(worst as f64)
        );
    }
    let _ = writeln!(o);
}
