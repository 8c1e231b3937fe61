//! # slipstream-bench
//!
//! Runs the same workloads, one transport after the other in one invocation,
//! over Slipstream and its peers: Unix domain sockets (buffered, and one
//! `write(2)` per message), a pipe, iceoryx2 publish-subscribe, and
//! crossbeam-channel between two threads. Every process-to-process transport
//! really uses two processes: this binary re-executes itself in a hidden child
//! role ([`proc::CHILD_ROLE`]) for the sender.
//!
//! Workloads: throughput per message size (every message checked for sequence
//! and content), and one-way latency with a busy-polling and a sleeping
//! receiver. Progress goes to stderr, results to stdout as Markdown (and to a
//! JSON file with `--json`). See `benches/README.md`.

mod common;
mod futex;
mod iox;
mod machine_bw;
mod payload;
mod pin;
mod proc;
mod report;
mod scaling;
mod slip;
mod stream;
mod xbeam;

use anyhow::{bail, Context, Result};
use clap::Parser;
use common::{LatRun, LatSpec, RecvMode, TputRun, TputSpec, Transport};
use report::{
    fmt_bytes, fmt_ns, fmt_rate, fmt_size, CpuSnapshot, LatResult, Machine, Report, Settings,
    TputResult,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Which workloads to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    /// Messages per second and bytes per second, per message size.
    Throughput,
    /// One-way latency, busy-polling and sleeping receivers.
    Latency,
    /// Publish latency over the first and second lap of a fresh ring (no
    /// reader, one process).
    FirstLap,
    /// One producer, 0 to 8 consumer processes, rings of 64 KiB to 1 GiB
    /// (not in the default list: a few minutes).
    Scaling,
}

/// How latency senders wait between messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Pace {
    /// Sleep until the next slot.
    Sleep,
    /// Spin until the next slot.
    Spin,
}

/// Whether latency cells are pinned to CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum PinMode {
    /// Receiver and sender on two distinct allowed CPUs, if there are two.
    Auto,
    /// No pinning.
    Off,
}

/// Cross-process benchmark: Slipstream against Unix sockets, pipes, iceoryx2
/// and crossbeam-channel, same workloads, one invocation.
#[derive(Parser, Debug)]
#[command(name = "slipstream-bench", version)]
struct Cli {
    /// Messages per throughput run [default: 2000000; --quick: 1000000].
    #[arg(long)]
    messages: Option<u64>,
    /// Message sizes for throughput, bytes (at least 16).
    #[arg(long, value_delimiter = ',', default_value = "64,1024,4096")]
    sizes: Vec<usize>,
    /// Runs per throughput measurement [default: 5; --quick: 3].
    #[arg(long)]
    reps: Option<usize>,
    /// Transports to run, in this order (Slipstream is the reference for ratios).
    #[arg(long, value_delimiter = ',', value_enum)]
    transports: Option<Vec<Transport>>,
    /// Workloads to run.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "throughput,latency,first-lap"
    )]
    workloads: Vec<Workload>,
    /// Latency samples recorded per run, after a warm-up of a tenth as many
    /// (at least 100) [default: 50000; --quick: 10000].
    #[arg(long)]
    latency_samples: Option<u64>,
    /// Microseconds between two latency messages.
    #[arg(long, default_value_t = 25.0)]
    interval_us: f64,
    /// How a latency sender waits between two messages: `sleep`
    /// (clock_nanosleep to the slot, 1 ns timer slack: leaves a core to the
    /// receiver) or `spin` (exact slots, but two spinning processes then fill
    /// both cores of a 2-core machine).
    #[arg(long, value_enum, default_value = "sleep")]
    pace: Pace,
    /// Runs of each latency cell, each with fresh processes; the report gives
    /// the median of the runs' p50 and p99 with their range. Runs are the
    /// outer loop, cells the inner one.
    #[arg(long, default_value_t = 5)]
    latency_reps: usize,
    /// Pin each latency cell's receiver and sender to two distinct allowed
    /// CPUs (`auto`: if at least two are allowed) or not (`off`).
    #[arg(long, value_enum, default_value = "auto")]
    pin: PinMode,
    /// How the Slipstream latency producer wakes a sleeping consumer. 0 (the
    /// default): as a node does by default (`Wake::AtBlockEnd`), each message
    /// a block of its own, so the publishing thread flushes after every
    /// commit (`pread` of the wake file, `FUTEX_WAKE` if a reader sleeps).
    /// N > 0: `Wake::Immediate` with a waker thread polling the sleep
    /// announcements every N microseconds (the publishing thread never reads
    /// them); a sleeping consumer then waits up to about N after a commit.
    #[arg(long, default_value_t = 0)]
    waker_us: u64,
    /// Scaling: consumer process counts.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,4,8")]
    scaling_consumers: Vec<usize>,
    /// Scaling: ring sizes (`64K`, `1MiB`, ...: any size unit, all 1024-based; powers of two).
    #[arg(long, value_delimiter = ',', default_value = "64K,1M,16M,256M,1G")]
    scaling_rings: Vec<String>,
    /// Scaling: message size, bytes.
    #[arg(long, default_value_t = 64)]
    scaling_size: usize,
    /// Scaling: messages per run.
    #[arg(long, default_value_t = 10_000_000)]
    scaling_messages: u64,
    /// Scaling: runs per cell.
    #[arg(long, default_value_t = 3)]
    scaling_reps: usize,
    /// Scaling: also draw the table as a PNG here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Record size of the first-lap workload, bytes.
    #[arg(long, default_value_t = 128)]
    first_lap_size: usize,
    /// Latency message size, bytes (at least 16).
    #[arg(long, default_value_t = 64)]
    latency_size: usize,
    /// Payload bytes one throughput run may move at most: larger messages get
    /// fewer messages per run [default: 1 GiB; --quick: 64 MiB].
    #[arg(long)]
    max_bytes: Option<u64>,
    /// Slipstream ring capacity, MiB (a power of two).
    #[arg(long, default_value_t = 64)]
    ring_mib: u64,
    /// iceoryx2 subscriber queue length, samples (its publisher waits for room
    /// by yielding the CPU, so a short queue suffers when the machine is busy).
    #[arg(long, default_value_t = iox::DEFAULT_QUEUE)]
    iox_queue: usize,
    /// Throughput senders aim at this many messages per second (0: as fast as
    /// they can). Useful to find the rate Slipstream delivers without loss.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Also search, for each size, the highest paced rate at which the
    /// Slipstream consumer loses nothing (bisection between 0 and the
    /// producer's unpaced rate, 8 steps, each rate run --reps times; a rate
    /// is lossless only if every run of it lost nothing). Printed as a table
    /// after the report.
    #[arg(long)]
    lossless_search: bool,
    /// A run that has not finished after this many seconds fails.
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
    /// Small counts, for a pass within two minutes on a 2-core machine.
    #[arg(long)]
    quick: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(proc::CHILD_ROLE) {
        return child_main();
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("slipstream-bench: some runs failed (see \"Notes and problems\")");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("slipstream-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The child role: one sender, driven by the parent over stdin/stdout.
fn child_main() -> ExitCode {
    let args = std::env::args().skip(2);
    let result = (|| -> Result<()> {
        let args = proc::ChildArgs::parse(args)?;
        proc::die_with_parent(args.num("parent")?)?;
        if let Ok(cpu) = args.num::<usize>("cpu") {
            pin::pin_current(cpu)?;
        }
        let name = args.str("transport")?;
        let t =
            Transport::from_name(name).with_context(|| format!("unknown transport `{name}`"))?;
        let mut ctl = proc::Control::new();
        match t {
            Transport::Slipstream => slip::child(&args, &mut ctl),
            Transport::UdsBuf | Transport::UdsWrite | Transport::Pipe => {
                stream::child(t, &args, &mut ctl)
            }
            Transport::Iceoryx2 => iox::child(&args, &mut ctl),
            Transport::Crossbeam => bail!("crossbeam runs in one process"),
            Transport::Futex => futex::child(&args, &mut ctl),
        }
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slipstream-bench child: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn settings(cli: &Cli) -> Result<Settings> {
    let q = cli.quick;
    let transports = cli
        .transports
        .clone()
        .unwrap_or_else(|| Transport::ALL.to_vec());
    let latency_samples = cli
        .latency_samples
        .unwrap_or(if q { 10_000 } else { 50_000 });
    let s = Settings {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        transports,
        sizes: cli.sizes.clone(),
        messages: cli
            .messages
            .unwrap_or(if q { 1_000_000 } else { 2_000_000 }),
        max_bytes: cli.max_bytes.unwrap_or(if q { 64 << 20 } else { 1 << 30 }),
        reps: cli.reps.unwrap_or(if q { 3 } else { 5 }),
        rate: cli.rate,
        latency_samples,
        latency_reps: cli.latency_reps,
        waker_us: cli.waker_us,
        pinning: String::new(),
        latency_warmup: (latency_samples / 10).max(100),
        latency_size: cli.latency_size,
        interval_ns: (cli.interval_us * 1000.0).round() as u64,
        sleep_pacing: cli.pace == Pace::Sleep,
        ring_bytes: cli.ring_mib << 20,
        iox_queue: cli.iox_queue,
        quick: q,
    };
    if let Some(&bad) = s.sizes.iter().find(|&&z| z < payload::MIN_LEN) {
        bail!(
            "message size {bad} is below the minimum of {} bytes",
            payload::MIN_LEN
        );
    }
    if s.latency_size < payload::MIN_LEN {
        bail!(
            "latency message size must be at least {} bytes",
            payload::MIN_LEN
        );
    }
    if !s.ring_bytes.is_power_of_two() {
        bail!("--ring-mib must be a power of two");
    }
    let max_payload = slipstream_ring::Layout::new(s.ring_bytes)
        .geometry()?
        .layout
        .max_payload as usize;
    if let Some(&big) = s
        .sizes
        .iter()
        .chain([&s.latency_size])
        .find(|&&z| z > max_payload)
    {
        bail!("message size {big} exceeds the ring's maximum payload {max_payload}: use a larger --ring-mib");
    }
    if s.reps == 0 || s.messages == 0 || s.latency_samples == 0 || s.latency_reps == 0 {
        bail!("--reps, --messages, --latency-samples and --latency-reps must be positive");
    }
    if s.iox_queue == 0 {
        bail!("--iox-queue must be positive");
    }
    if s.interval_ns == 0 {
        bail!("--interval-us must be positive");
    }
    Ok(s)
}

fn run(cli: Cli) -> Result<bool> {
    let mut s = settings(&cli)?;
    let timeout = Duration::from_secs(cli.timeout_s);
    let tmp = proc::TempPath::new(std::env::temp_dir().join(proc::unique("slipstream-bench")));
    std::fs::create_dir(tmp.path())
        .with_context(|| format!("creating {}", tmp.path().display()))?;
    let machine = Machine::probe();
    eprintln!(
        "slipstream-bench: {} ({} CPUs), kernel {}; transports: {}",
        machine.cpu,
        machine.nproc,
        machine.kernel,
        s.transports
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut notes = Vec::new();
    let mut cpu = Vec::new();
    let mut throughput = Vec::new();
    if cli.workloads.contains(&Workload::Throughput) {
        let before = CpuSnapshot::take();
        throughput = run_throughput(&s, tmp.path(), timeout);
        if let (Some(a), Some(b)) = (before, CpuSnapshot::take()) {
            cpu.push(a.until(&b, "throughput"));
        }
        if s.transports.contains(&Transport::Crossbeam) {
            notes.push(format!(
                "crossbeam: two threads of one process, bounded channel; messages {} at the sizes run.",
                s.sizes
                    .iter()
                    .map(|&z| format!("{}: {}", fmt_size(z), xbeam::message_kind(z)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let mut memcpy = Vec::new();
    if cli.workloads.contains(&Workload::Throughput) {
        memcpy = std::mem::take(&mut MEMCPY.lock().expect("not poisoned"));
    }
    let mut first_lap = None;
    if cli.workloads.contains(&Workload::FirstLap) {
        first_lap = Some(run_first_lap(&s, cli.first_lap_size));
    }
    let mut latency = Vec::new();
    if cli.workloads.contains(&Workload::Latency) {
        let plan = pin::plan(cli.pin == PinMode::Auto);
        eprintln!("slipstream-bench: latency cells: {}", plan.said);
        s.pinning = plan.said.clone();
        let before = CpuSnapshot::take();
        latency = run_latency(&s, &plan, tmp.path(), timeout, &mut notes);
        if let (Some(a), Some(b)) = (before, CpuSnapshot::take()) {
            cpu.push(a.until(&b, "latency"));
        }
    }
    notes.push(
        "Two spinning processes (or threads) fill both cores of a 2-core machine: busy-poll figures include whatever else ran (other builds, the kernel); compare ratios within one run.".into(),
    );
    let report = Report {
        machine,
        settings: s,
        throughput,
        latency,
        memcpy,
        first_lap,
        notes,
        cpu,
    };
    print!("{}", report.markdown());
    if cli.lossless_search {
        print!("{}", lossless_search(&report.settings, timeout));
    }
    let mut scaling_ok = true;
    if cli.workloads.contains(&Workload::Scaling) {
        let rings = cli
            .scaling_rings
            .iter()
            .map(|r| scaling::parse_size(r))
            .collect::<Result<Vec<_>>>()?;
        if cli.scaling_size < payload::MIN_LEN || cli.scaling_reps == 0 || cli.scaling_messages == 0
        {
            bail!("--scaling-size must be at least {} and --scaling-reps, --scaling-messages positive", payload::MIN_LEN);
        }
        let cells = scaling::run(
            &rings,
            &cli.scaling_consumers,
            cli.scaling_size,
            cli.scaling_messages,
            cli.scaling_reps,
            timeout,
        );
        scaling_ok = cells
            .iter()
            .all(|c| c.problems.iter().all(|p| p.starts_with("skipped")));
        print!(
            "{}",
            scaling::markdown(&cells, cli.scaling_size, cli.scaling_reps)
        );
        if let Some(path) = &cli.plot {
            scaling::plot(&cells, cli.scaling_size, path)
                .with_context(|| format!("plotting into {}", path.display()))?;
            eprintln!(
                "slipstream-bench: scaling plot written to {}",
                path.display()
            );
        }
        if let Some(path) = &cli.json {
            let path = path.with_extension("scaling.json");
            std::fs::write(&path, serde_json::to_vec_pretty(&cells)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if let Some(path) = &cli.json {
        let f =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        serde_json::to_writer_pretty(std::io::BufWriter::new(f), &report)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("slipstream-bench: JSON written to {}", path.display());
    }
    let ok = report
        .throughput
        .iter()
        .all(|r| r.errors.is_empty() && r.verified + r.lost == r.sent)
        && report.latency.iter().all(|l| l.errors.is_empty())
        && report
            .first_lap
            .as_ref()
            .is_none_or(|f| f.errors.is_empty())
        && scaling_ok;
    Ok(ok)
}

fn run_throughput(s: &Settings, dir: &Path, timeout: Duration) -> Vec<TputResult> {
    let mut all = Vec::new();
    for &size in &s.sizes {
        let count = s.messages.min(s.max_bytes / size as u64).max(1);
        let spec = TputSpec {
            size,
            count,
            rate: s.rate,
            ring_bytes: s.ring_bytes,
            iox_queue: s.iox_queue,
            timeout,
        };
        let mut results: Vec<TputResult> = s
            .transports
            .iter()
            .filter(|t| t.has_throughput())
            .map(|&t| TputResult::new(t, size, count))
            .collect();
        // Repetitions outermost, transports inside: slow drifts of the machine
        // (other tasks, thermal) spread over every transport alike.
        for rep in 1..=s.reps {
            if size == *s.sizes.last().expect("sizes not empty") {
                measure_memcpy(s, rep);
            }
            for r in results.iter_mut() {
                let t = r.transport;
                match throughput_once(t, dir, &spec) {
                    Ok(run) => {
                        eprintln!(
                            "[throughput {} rep {rep}/{}] {:<10} {}, {}, sender {}, checked {}, lost {}",
                            fmt_size(size),
                            s.reps,
                            t.name(),
                            fmt_rate(run.received as f64 * 1e9 / run.elapsed_ns.max(1) as f64),
                            fmt_bytes(run.received as f64 * size as f64 * 1e9 / run.elapsed_ns.max(1) as f64),
                            fmt_rate(count as f64 * 1e9 / run.sender_ns.max(1) as f64),
                            run.verified,
                            run.lost
                        );
                        r.add(run);
                    }
                    Err(e) => {
                        eprintln!(
                            "[throughput {} rep {rep}/{}] {:<10} FAILED: {e:#}",
                            fmt_size(size),
                            s.reps,
                            t.name()
                        );
                        r.errors.push(format!("rep {rep}: {e:#}"));
                    }
                }
            }
        }
        all.extend(results);
    }
    all
}

/// memcpy bandwidth measured between throughput runs (filled by
/// `measure_memcpy`, taken by `run`).
static MEMCPY: std::sync::Mutex<Vec<report::MemcpyResult>> = std::sync::Mutex::new(Vec::new());

/// The spans a consumer copies: a 4 KiB message, and the reader's batch.
const MEMCPY_SPANS: [usize; 2] = [4096, 64 << 10];

/// One memcpy measurement per span, before repetition `rep` of the last size.
fn measure_memcpy(s: &Settings, rep: usize) {
    let mut all = MEMCPY.lock().expect("not poisoned");
    for span in MEMCPY_SPANS {
        let (cache, stream) = machine_bw::memcpy(span, s.ring_bytes as usize, 30_000_000);
        eprintln!(
            "[memcpy rep {rep}/{}] {}: in cache {}, from a {} MiB buffer {}",
            s.reps,
            fmt_size(span),
            fmt_bytes(cache),
            s.ring_bytes >> 20,
            fmt_bytes(stream)
        );
        match all.iter_mut().find(|m| m.span == span) {
            Some(m) => m.add(cache, stream),
            None => {
                let mut m = report::MemcpyResult::new(span, s.ring_bytes);
                m.add(cache, stream);
                all.push(m);
            }
        }
    }
}

/// Publish latency over the first laps of fresh rings, `--reps` of them.
fn run_first_lap(s: &Settings, size: usize) -> report::FirstLapResult {
    let mut r = report::FirstLapResult::new(size, s.ring_bytes);
    for rep in 1..=s.reps {
        match machine_bw::first_lap(s.ring_bytes, size) {
            Ok((a, b)) => {
                eprintln!(
                    "[first lap rep {rep}/{}] {} B into a fresh {} MiB ring: first lap p50 {} p99 {} p99.9 {} max {}; second lap p99.9 {} max {}",
                    s.reps,
                    size,
                    s.ring_bytes >> 20,
                    fmt_ns(a.p50_ns as f64),
                    fmt_ns(a.p99_ns as f64),
                    fmt_ns(a.p999_ns as f64),
                    fmt_ns(a.max_ns as f64),
                    fmt_ns(b.p999_ns as f64),
                    fmt_ns(b.max_ns as f64)
                );
                r.first.push(a);
                r.second.push(b);
            }
            Err(e) => {
                eprintln!("[first lap rep {rep}/{}] FAILED: {e:#}", s.reps);
                r.errors.push(format!("rep {rep}: {e:#}"));
            }
        }
    }
    r
}

/// The highest paced rate at which the Slipstream consumer loses nothing, per
/// size: a Markdown table.
fn lossless_search(s: &Settings, timeout: Duration) -> String {
    let mut out = String::from(
        "\n## Lossless rate (Slipstream)\n\nBisection over the sender's paced rate (`--rate`), 8 steps between 0 and the unpaced producer rate of the first probe; a rate counts as lossless only if all of its runs lost nothing.\n\n| size | msgs/run | runs per rate | unpaced producer | highest lossless rate | lowest lossy rate | probes (rate: lost in its runs) |\n|---|---:|---:|---:|---:|---:|---|\n",
    );
    for &size in &s.sizes {
        let count = s.messages.min(s.max_bytes / size as u64).max(1);
        let mut spec = TputSpec {
            size,
            count,
            rate: 0.0,
            ring_bytes: s.ring_bytes,
            iox_queue: s.iox_queue,
            timeout,
        };
        let mut probes = Vec::new();
        // Runs `reps` times at `rate`; Some(lost) or None if a run failed.
        let probe = |spec: &TputSpec| -> Option<(u64, f64)> {
            let mut lost = 0;
            let mut sender = 0.0f64;
            for _ in 0..s.reps {
                match slip::throughput(spec) {
                    Ok(run) => {
                        lost += run.lost;
                        sender = sender.max(spec.count as f64 * 1e9 / run.sender_ns.max(1) as f64);
                    }
                    Err(e) => {
                        eprintln!(
                            "[lossless {}] run at {} failed: {e:#}",
                            fmt_size(size),
                            spec.rate
                        );
                        return None;
                    }
                }
            }
            eprintln!(
                "[lossless {}] rate {}: lost {lost}",
                fmt_size(size),
                fmt_rate(spec.rate)
            );
            Some((lost, sender))
        };
        let Some((lost0, unpaced)) = probe(&spec) else {
            out.push_str(&format!(
                "| {} | {count} | {} | failed | - | - | - |\n",
                fmt_size(size),
                s.reps
            ));
            continue;
        };
        probes.push(format!("unpaced: {lost0}"));
        let (mut lo, mut hi) = (0.0f64, unpaced);
        let mut lowest_lossy = if lost0 > 0 { Some(unpaced) } else { None };
        if lost0 == 0 {
            lo = unpaced;
        } else {
            for _ in 0..8 {
                let mid = if lo == 0.0 {
                    hi / 2.0
                } else {
                    (lo * hi).sqrt()
                };
                spec.rate = mid;
                let Some((lost, _)) = probe(&spec) else { break };
                probes.push(format!("{}: {lost}", fmt_rate(mid)));
                if lost == 0 {
                    lo = mid;
                } else {
                    hi = mid;
                    lowest_lossy = Some(mid);
                }
            }
        }
        out.push_str(&format!(
            "| {} | {count} | {} | {} | {} | {} | {} |\n",
            fmt_size(size),
            s.reps,
            fmt_rate(unpaced),
            if lo > 0.0 {
                fmt_rate(lo)
            } else {
                "none found".into()
            },
            lowest_lossy.map_or("-".into(), fmt_rate),
            probes.join("; ")
        ));
    }
    out
}

fn throughput_once(t: Transport, dir: &Path, spec: &TputSpec) -> Result<TputRun> {
    let run = match t {
        Transport::Slipstream => slip::throughput(spec),
        Transport::UdsBuf | Transport::UdsWrite | Transport::Pipe => {
            stream::throughput(t, dir, spec)
        }
        Transport::Iceoryx2 => iox::throughput(spec),
        Transport::Crossbeam => xbeam::throughput(spec),
        Transport::Futex => bail!("the futex cell has no throughput workload"),
    }?;
    if run.verified + run.lost != spec.count {
        bail!(
            "{} messages checked and {} lost, of {} sent",
            run.verified,
            run.lost,
            spec.count
        );
    }
    Ok(run)
}

fn receiver_name(t: Transport, mode: RecvMode) -> &'static str {
    match (t, mode) {
        (Transport::Slipstream, RecvMode::Busy) => "busy-poll (try_next)",
        (Transport::Slipstream, RecvMode::Sleep) => {
            "sleeping (futex wait; woken at block end, or by the waker with --waker-us)"
        }
        (Transport::UdsBuf | Transport::UdsWrite | Transport::Pipe, RecvMode::Busy) => {
            "busy-poll (non-blocking read)"
        }
        (Transport::UdsBuf | Transport::UdsWrite | Transport::Pipe, RecvMode::Sleep) => {
            "sleeping (blocking read)"
        }
        (Transport::Iceoryx2, RecvMode::Busy) => "busy-poll (receive)",
        (Transport::Iceoryx2, RecvMode::Sleep) => "sleeping (event listener, notify per message)",
        (Transport::Crossbeam, RecvMode::Busy) => "busy-poll (try_recv)",
        (Transport::Crossbeam, RecvMode::Sleep) => "sleeping (recv: spins briefly, then parks)",
        (Transport::Futex, RecvMode::Busy) => "busy-poll (spin on the shared word)",
        (Transport::Futex, RecvMode::Sleep) => "sleeping (FUTEX_WAIT; FUTEX_WAKE every message)",
    }
}

fn run_latency(
    s: &Settings,
    plan: &pin::Plan,
    dir: &Path,
    timeout: Duration,
    notes: &mut Vec<String>,
) -> Vec<LatResult> {
    let mut cells = Vec::new();
    for &t in &s.transports {
        if t == Transport::UdsBuf && s.transports.contains(&Transport::UdsWrite) {
            notes.push(
                "uds-buf has no latency rows: a latency sender writes and flushes every message at once, which is exactly uds-write.".into(),
            );
            continue;
        }
        for mode in [RecvMode::Busy, RecvMode::Sleep] {
            cells.push(LatResult::new(t, mode, receiver_name(t, mode), s));
        }
    }
    // The receiver's pin holds for the whole phase; each sender pins itself.
    let _restore = match pin::Restore::pin(plan.receiver) {
        Ok(r) => Some(r),
        Err(e) => {
            notes.push(format!("pinning the receiver failed: {e:#}"));
            None
        }
    };
    // Runs outermost, cells inside: a slow drift of the machine spreads over
    // every cell alike, and run k of two cells ran close together in time.
    // Inside a run, the busy-poll cells of every transport come first, one
    // after the other, then the sleeping cells: the cells whose p50s a run
    // compares (Slipstream's and its peers' of one receiver kind) run next to
    // each other. On a virtual machine the floor under every busy-poll cell
    // moves as the host places the virtual CPUs, for every transport alike
    // (here the raw futex cell's busy p50 is 130 ns in some runs and 410 ns
    // in others; `--example line_ping` shows the switches, within seconds),
    // so a pair measured a sleeping cell apart is likelier to straddle one.
    let mut order: Vec<usize> = (0..cells.len()).collect();
    // Stable: transports keep their order within a receiver kind.
    order.sort_by_key(|&i| cells[i].mode != RecvMode::Busy);
    for rep in 1..=s.latency_reps {
        for &i in &order {
            let r = &mut cells[i];
            let (t, mode) = (r.transport, r.mode);
            let spec = LatSpec {
                size: s.latency_size,
                samples: s.latency_samples,
                warmup: s.latency_warmup,
                interval_ns: s.interval_ns,
                sleep_pacing: s.sleep_pacing,
                mode,
                ring_bytes: s.ring_bytes,
                iox_queue: s.iox_queue,
                timeout,
                sender_cpu: plan.sender,
                waker_us: s.waker_us,
            };
            let res = match t {
                Transport::Slipstream => slip::latency(&spec),
                Transport::UdsBuf | Transport::UdsWrite | Transport::Pipe => {
                    stream::latency(t, dir, &spec)
                }
                Transport::Iceoryx2 => iox::latency(&spec),
                Transport::Crossbeam => xbeam::latency(&spec),
                Transport::Futex => futex::latency(&spec),
            };
            match res.and_then(|run| check_latency(run, &spec)) {
                Ok(run) => {
                    let c = r.add(rep, &run);
                    eprintln!(
                        "[latency rep {rep}/{}] {:<10} {:<5} p50 {} p99 {} p99.9 {} max {} ({} samples, lost {})",
                        s.latency_reps,
                        t.name(),
                        mode.name(),
                        fmt_ns(c.p50_ns as f64),
                        fmt_ns(c.p99_ns as f64),
                        fmt_ns(c.p999_ns as f64),
                        fmt_ns(c.max_ns as f64),
                        c.samples,
                        c.lost
                    );
                }
                Err(e) => {
                    eprintln!(
                        "[latency rep {rep}/{}] {:<10} {:<5} FAILED: {e:#}",
                        s.latency_reps,
                        t.name(),
                        mode.name()
                    );
                    r.errors.push(format!("rep {rep}: {e:#}"));
                }
            }
        }
    }
    cells
}

fn check_latency(run: LatRun, spec: &LatSpec) -> Result<LatRun> {
    if run.verified + run.lost != spec.total() {
        bail!(
            "{} messages checked and {} lost, of {} sent",
            run.verified,
            run.lost,
            spec.total()
        );
    }
    Ok(run)
}
