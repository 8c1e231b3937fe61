//! `slipstream stat`: what a ring holds and who reads it.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use slipstream_consumer::resolve_ring_path;
use slipstream_producer::parse_duration;
use slipstream_ring::layout::{Geometry, RawHeader};
use slipstream_ring::stats::{RingStats, StatsReader};
use slipstream_ring::{OpenError, ProducerState};

use crate::cli;
use crate::health::{self, HealthArgs, History, State};
use crate::text;

/// Show a ring's header, producer, head, event rate and readers.
///
/// The header's fixed fields (format version, capacity, largest event, reader
/// slots, ring id, creation time); the producer (pid, epoch, what the header
/// says of it, and whether it is alive, from its lock); the head (the next
/// sequence number, the tail position = bytes written since creation); the
/// event rate, sampled over --interval; and every reader that holds or held a
/// named cursor: its slot, name, pid, whether it is alive, its next sequence
/// number, its lag in events behind the head, and the events it was delivered
/// and missed since it attached, and its health.
///
/// Each consumer is judged healthy, slow, stalled, lapped, dead or unknown
/// by the rules of `slipstream_tools::health` (README, "Operating it"),
/// comparing two samples taken --interval apart; --check prints why any
/// consumer is unhealthy and exits 2 (0 if all are healthy, 1 on error).
///
/// Reads the ring without writing to it: read access to the file is enough
/// (and to the cursor files, mode 0600, for the consumers' state).
#[derive(Args, Debug, Clone)]
#[command(
    args_override_self = true,
    after_help = "Examples:
  slipstream stat node-events
  slipstream stat node-events --watch
  slipstream stat /dev/shm/node-events --json | jq '.readers[] | {name, lag, state}'
  slipstream stat node-events --check --consumer indexer --stall-after 30s"
)]
pub struct StatArgs {
    /// The ring: a bare name (no `/`) is a file under /dev/shm; anything else is a path.
    #[arg(value_name = "RING")]
    pub ring: PathBuf,

    /// Print one JSON object instead of text: `ring`, `header`, `producer`,
    /// `head`, `rate` (null if not sampled) and `readers`. Byte counts and
    /// sequence numbers are numbers; `ring_id` is a hex string; times are
    /// given both as RFC 3339 UTC strings and as `*_unix_ns` numbers.
    #[arg(long)]
    pub json: bool,

    /// Refresh every --interval until Ctrl-C (the screen is cleared between
    /// refreshes). With --json, prints one object per line instead.
    #[arg(long)]
    pub watch: bool,

    /// How long the event rate is sampled over (the head is read at both ends),
    /// e.g. `200ms`, `1s`; with --watch, also the refresh period. `0s` skips
    /// the rate. Default: 200ms, or 1s with --watch.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,

    /// Also show the journal `slipstream-journal record` keeps in DIR: its
    /// sequence and block-height range, and how far it is behind the ring
    /// (the recorder's own cursor is the reader `slipstream-journal`). With
    /// --check, also unhealthy when the journal cannot be read or the
    /// recorder's cursor is missing, dead, lapped or unreadable.
    #[arg(long, value_name = "DIR")]
    pub journal: Option<PathBuf>,
    /// Check the consumers' health instead of showing the ring: print why
    /// each unhealthy one is (or `OK: ...`), exit 2 if any is unhealthy, 0 if
    /// all are (for cron, Nagios-style checks and systemd `ExecStartPre`).
    #[arg(long, conflicts_with_all = ["watch", "json"])]
    pub check: bool,

    /// With --check: check only this consumer (repeatable); a name with no
    /// cursor is unhealthy. Default: every consumer with a cursor.
    #[arg(long = "consumer", value_name = "NAME", requires = "check")]
    pub consumers: Vec<String>,

    /// The thresholds of the health rules.
    #[command(flatten)]
    pub health: HealthArgs,
}

/// Everything `stat` reports of a ring.
#[derive(Clone, Debug, Serialize)]
pub struct Stat {
    /// The ring's path.
    pub ring: String,
    /// The fixed fields of the header.
    pub header: HeaderStat,
    /// The producer.
    pub producer: ProducerStat,
    /// The head: what has been written.
    pub head: HeadStat,
    /// Events and bytes per second, if sampled.
    pub rate: Option<RateStat>,
    /// The producer's statistics.
    pub counters: CountersStat,
    /// Readers that hold or held a named cursor, by slot.
    pub readers: Vec<ReaderStat>,
}

/// The fixed fields of a ring's header.
#[derive(Clone, Debug, Serialize)]
pub struct HeaderStat {
    /// Format version.
    pub version: u32,
    /// Bytes of the data region.
    pub capacity: u64,
    /// Largest event payload.
    pub max_payload: u32,
    /// Sequence number of the ring's first event.
    pub first_seq: u64,
    /// Entries of the segment table.
    pub segments: u32,
    /// Page size the regions are aligned to.
    pub page_size: u32,
    /// Bytes of the whole file.
    pub file_len: u64,
    /// The ring's random id, in hex.
    pub ring_id: String,
    /// When the ring was created (RFC 3339, UTC).
    pub created: String,
    /// When the ring was created, ns since the Unix epoch.
    pub created_unix_ns: u64,
}

/// The ring's producer.
#[derive(Clone, Debug, Serialize)]
pub struct ProducerStat {
    /// Process id of the producer that opened the ring last.
    pub pid: u32,
    /// How many producers have opened the ring.
    pub epoch: u64,
    /// What the header says: `never` (opened), `open`, `closed`, or `unknown(N)`.
    pub state: String,
    /// Whether a producer holds the ring's lock right now.
    pub alive: bool,
    /// When that producer opened the ring (RFC 3339, UTC), if one did.
    pub started: Option<String>,
    /// The same, ns since the Unix epoch (0 if none).
    pub started_unix_ns: u64,
}

/// The producer's statistics, from the header (FORMAT.md section 2): what
/// the ring holds since it was created, over every producer.
#[derive(Clone, Debug, Serialize)]
pub struct CountersStat {
    /// Events published (`head.next_seq - first_seq`).
    pub events: u64,
    /// Bytes written, padding included (`head.tail_position`).
    pub bytes: u64,
    /// Blocks committed (`block_commit` markers).
    pub blocks: u64,
    /// Events refused because they were larger than the maximum payload.
    pub refused_too_large: u64,
    /// Events not published because their kind is switched off.
    pub refused_switched_off: u64,
    /// Bytes of padding records.
    pub padding_bytes: u64,
    /// `FUTEX_WAKE` calls the producers made.
    pub wake_calls: u64,
    /// Producer starts (the epoch).
    pub producer_starts: u64,
}

/// The head of the ring.
#[derive(Clone, Debug, Serialize)]
pub struct HeadStat {
    /// The sequence number the next event will carry (events so far + 1).
    pub next_seq: u64,
    /// The tail position: bytes written since the ring was created (padding included).
    pub tail_position: u64,
    /// How many times the data region has been filled (`tail_position / capacity`).
    pub laps: f64,
}

/// The rate at which events were published while sampled.
#[derive(Clone, Debug, Serialize)]
pub struct RateStat {
    /// How long the sample lasted, in milliseconds.
    pub interval_ms: f64,
    /// Events per second.
    pub events_per_sec: f64,
    /// Bytes (records, headers and padding included) per second.
    pub bytes_per_sec: f64,
}

/// One named cursor (`RING.readers/NAME`).
#[derive(Clone, Debug, Serialize)]
pub struct ReaderStat {
    /// The consumer's name.
    pub name: String,
    /// Its process id (of its last claim).
    pub pid: u32,
    /// Whether a live process holds the name now (null: this user cannot
    /// open the cursor file to ask; cursor files are their owner's, 0600).
    pub live: Option<bool>,
    /// Sequence number of the next event it will read (null: it has none yet).
    pub next_seq: Option<u64>,
    /// Events published that it has not read (`head.next_seq - next_seq`).
    pub lag: Option<u64>,
    /// Events delivered under this name, over the cursor's life.
    pub delivered: u64,
    /// Events missed (lapped), over the cursor's life.
    pub missed: u64,
    /// Times lapped, over the cursor's life.
    pub laps: u64,
    /// Times the name was claimed.
    pub claims: u64,
    /// When it last made progress (RFC 3339, UTC), if ever.
    pub last_progress: Option<String>,
    /// When it was claimed last (RFC 3339, UTC).
    pub attached: String,
    /// Its cursor belongs to another ring (one this file replaced) and will not be used.
    pub stale: bool,
    /// Why the cursor file could not be read as a cursor, if so.
    pub problem: Option<String>,
    /// Its health: `healthy`, `slow`, `stalled`, `lapped`, `dead` or `unknown`.
    pub state: State,
    /// Why (the rule that matched).
    pub reason: String,
}

/// The open ring, read-only.
struct Ring {
    stats: StatsReader,
}

/// Opens the ring file at `path` read-only and reads and validates its
/// header, with a clear message for each way that can fail. `given` is what
/// the user typed (for hints about bare names).
pub fn read_header(path: &Path, given: &Path) -> anyhow::Result<(File, RawHeader, Geometry)> {
    cli::check_ring_file(path, given)?;
    let shown = path.display();
    let file = File::open(path).with_context(|| format!("ring {shown}: open"))?;
    // The ring's one header reader validates; this only words its errors for
    // a user (the file's length tells "empty" from "still being created").
    match slipstream_ring::read_header(&file) {
        Ok((header, geometry)) => Ok((file, header, geometry)),
        Err(e) => {
            let len = file
                .metadata()
                .with_context(|| format!("ring {shown}: stat"))?
                .len();
            let header_len = core::mem::size_of::<RawHeader>() as u64;
            match e {
                OpenError::NotInitialized if len == 0 => bail!(
                    "ring {shown}: empty: not initialised yet (or a producer is still creating it)"
                ),
                OpenError::NotInitialized => bail!(
                    "ring {shown}: not initialised yet (empty, or its producer is still creating it)"
                ),
                OpenError::Truncated { expected, actual } if expected == header_len => bail!(
                    "ring {shown}: too short to be a ring ({actual} bytes; a ring's header alone is {expected})"
                ),
                OpenError::Truncated { expected, actual } => {
                    bail!("ring {shown}: truncated: {actual} bytes, but its header says {expected}")
                }
                OpenError::Layout(e) => Err(e).with_context(|| format!("ring {shown}: bad header")),
                e => Err(e).with_context(|| format!("ring {shown}: read the header")),
            }
        }
    }
}

impl Ring {
    fn open(path: &Path, given: &Path) -> anyhow::Result<Ring> {
        read_header(path, given)?;
        Ok(Ring {
            stats: StatsReader::open(path)?,
        })
    }

    /// One sample: head, counters, producer, cursors.
    fn sample(&mut self) -> anyhow::Result<RingStats> {
        Ok(self.stats.read()?)
    }
}

impl Stat {
    /// What `stat` reports of the sample `now`, with the rate and health
    /// measured against `earlier`, if given.
    pub fn new(now: &RingStats, earlier: Option<&RingStats>, t: &HealthArgs) -> Stat {
        let h = &now.header;
        let info = &now.producer;
        let ring_id = h.ring_id.get();
        let readers = now
            .cursors
            .iter()
            .map(|s| {
                let next_seq = (s.next_seq != 0).then_some(s.next_seq);
                let verdict = health::judge(earlier, now, s, t);
                ReaderStat {
                    lag: next_seq.map(|n| now.next_seq.saturating_sub(n)),
                    name: s.name.clone(),
                    pid: s.pid,
                    live: s.live,
                    next_seq,
                    delivered: s.delivered,
                    missed: s.missed,
                    laps: s.laps,
                    claims: s.claims,
                    last_progress: (s.last_progress_unix_ns != 0)
                        .then(|| text::utc(s.last_progress_unix_ns)),
                    attached: text::utc(s.attached_unix_ns),
                    stale: s.problem.is_none() && s.ring_id != ring_id,
                    problem: s.problem.clone(),
                    state: verdict.state,
                    reason: verdict.reason,
                }
            })
            .collect();
        let rate = earlier.and_then(|e| {
            let secs = now.read_unix_ns.saturating_sub(e.read_unix_ns) as f64 / 1e9;
            (secs > 0.0).then(|| RateStat {
                interval_ms: secs * 1e3,
                events_per_sec: now.next_seq.saturating_sub(e.next_seq) as f64 / secs,
                bytes_per_sec: now.tail.saturating_sub(e.tail) as f64 / secs,
            })
        });
        let capacity = h.capacity.get();
        let c = &now.counters;
        Stat {
            ring: now.path.display().to_string(),
            header: HeaderStat {
                version: h.version.get(),
                capacity,
                max_payload: h.max_payload.get(),
                first_seq: h.first_seq.get(),
                segments: h.segment_count.get(),
                page_size: h.page_size.get(),
                file_len: h.file_len.get(),
                ring_id: format!("{ring_id:016x}"),
                created: text::utc(h.created_unix_ns.get()),
                created_unix_ns: h.created_unix_ns.get(),
            },
            producer: ProducerStat {
                pid: info.pid,
                epoch: info.epoch,
                state: match info.state {
                    ProducerState::Never => "never".into(),
                    ProducerState::Open => "open".into(),
                    ProducerState::Closed => "closed".into(),
                    ProducerState::Unknown(n) => format!("unknown({n})"),
                },
                alive: now.producer_alive,
                started: (info.start_unix_ns != 0).then(|| text::utc(info.start_unix_ns)),
                started_unix_ns: info.start_unix_ns,
            },
            head: HeadStat {
                next_seq: now.next_seq,
                tail_position: now.tail,
                laps: now.tail as f64 / capacity as f64,
            },
            rate,
            counters: CountersStat {
                events: c.events,
                bytes: c.bytes,
                blocks: c.blocks,
                refused_too_large: c.refused_too_large,
                refused_switched_off: c.refused_switched_off,
                padding_bytes: c.padding_bytes,
                wake_calls: c.wake_calls,
                producer_starts: c.producer_starts,
            },
            readers,
        }
    }
}

/// Reads a ring's statistics, sampling the rate over `interval` (none if zero).
pub fn snapshot(ring: &Path, interval: Duration) -> anyhow::Result<Stat> {
    let path = resolve_ring_path(ring);
    let mut r = Ring::open(&path, ring)?;
    let first = r.sample()?;
    let t = HealthArgs::default();
    if interval.is_zero() {
        return Ok(Stat::new(&first, None, &t));
    }
    std::thread::sleep(interval);
    let second = r.sample()?;
    Ok(Stat::new(&second, Some(&first), &t))
}

/// Writes `stat` for people.
pub fn write_human(out: &mut impl Write, s: &Stat) -> io::Result<()> {
    write_human_with(out, s, None)
}

/// Characters of the lag sparkline `--watch` draws per consumer.
pub const SPARK_WIDTH: usize = 30;

/// Writes `stat` for people; with a `history`, each consumer's lag over the
/// last minute as a sparkline under its line (`--watch`).
pub fn write_human_with(
    out: &mut impl Write,
    s: &Stat,
    history: Option<&History>,
) -> io::Result<()> {
    let h = &s.header;
    let p = &s.producer;
    writeln!(out, "ring       {}", s.ring)?;
    writeln!(
        out,
        "format     version {}, ring_id {}, created {} ({})",
        h.version,
        h.ring_id,
        h.created,
        text::ago(h.created_unix_ns)
    )?;
    writeln!(
        out,
        "size       {} data, max event {}, first seq {}, {} segments, {} B pages, file {}",
        text::size(h.capacity),
        text::size(h.max_payload as u64),
        h.first_seq,
        h.segments,
        h.page_size,
        text::size(h.file_len)
    )?;
    let alive = match (p.alive, p.state.as_str()) {
        (true, _) => "alive".to_string(),
        (false, "open") => "DEAD (exited without closing the ring)".to_string(),
        (false, "never") => "none has opened the ring".to_string(),
        (false, state) => format!("not running ({state})"),
    };
    write!(
        out,
        "producer   {alive}; pid {}, epoch {}, state {}",
        p.pid, p.epoch, p.state
    )?;
    match &p.started {
        Some(started) => writeln!(
            out,
            ", started {started} ({})",
            text::ago(p.started_unix_ns)
        )?,
        None => writeln!(out)?,
    }
    writeln!(
        out,
        "head       next seq {} ({} events written), tail position {} ({} written, {:.2} laps)",
        s.head.next_seq,
        s.counters.events,
        s.head.tail_position,
        text::size(s.head.tail_position),
        s.head.laps
    )?;
    match &s.rate {
        Some(r) => writeln!(
            out,
            "rate       {:.1} events/s, {}/s (sampled over {})",
            r.events_per_sec,
            text::size(r.bytes_per_sec as u64),
            text::duration(Duration::from_secs_f64(r.interval_ms / 1e3))
        )?,
        None => writeln!(out, "rate       not sampled")?,
    }
    let c = &s.counters;
    writeln!(
        out,
        "counters   {} blocks, refused {} too large and {} switched off, {} padding, {} wake calls, {} producer starts",
        c.blocks,
        c.refused_too_large,
        c.refused_switched_off,
        text::size(c.padding_bytes),
        c.wake_calls,
        c.producer_starts
    )?;
    if s.readers.is_empty() {
        return writeln!(out, "readers    none with a named cursor");
    }
    writeln!(out, "readers    {}", s.readers.len())?;
    writeln!(
        out,
        "  {:<24} {:>8}  {:<4}  {:>12}  {:>10}  {:>12}  {:>10}  {:>6}  {:<8}",
        "name", "pid", "live", "next_seq", "lag", "delivered", "missed", "laps", "state"
    )?;
    for r in &s.readers {
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        writeln!(
            out,
            "  {:<24} {:>8}  {:<4}  {:>12}  {:>10}  {:>12}  {:>10}  {:>6}  {:<8}{}{}",
            r.name,
            r.pid,
            match r.live {
                Some(true) => "yes",
                Some(false) => "no",
                None => "?",
            },
            opt(r.next_seq),
            opt(r.lag),
            r.delivered,
            r.missed,
            r.laps,
            r.state.as_str(),
            if r.stale {
                "  (cursor of a replaced ring)"
            } else {
                ""
            },
            r.problem
                .as_deref()
                .map(|p| format!("  ({p})"))
                .unwrap_or_default()
        )?;
        if r.state != State::Healthy && r.problem.is_none() {
            writeln!(out, "  {:<24} {}", "", r.reason)?;
        }
        if let Some(h) = history {
            let lags = h.lags(&r.name);
            writeln!(
                out,
                "  {:<24} lag, last minute: {:<width$} max {}",
                "",
                health::sparkline(&lags, SPARK_WIDTH),
                lags.iter().copied().max().unwrap_or(0),
                width = SPARK_WIDTH
            )?;
        }
    }
    Ok(())
}

/// Runs `slipstream stat`.
pub fn run(args: StatArgs) -> anyhow::Result<ExitCode> {
    cli::install_signal_handlers()?;
    let path = resolve_ring_path(&args.ring);
    let mut ring = Ring::open(&path, &args.ring)?;
    let interval = args.interval.unwrap_or(if args.watch {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(200)
    });
    let stdout = io::stdout();
    let clear = args.watch && !args.json && stdout.is_terminal();
    let mut history = History::default();
    let mut earlier = if interval.is_zero() {
        None
    } else {
        let first = ring.sample()?;
        history.record(&first);
        if !cli::sleep_interruptibly(interval) {
            return Ok(cli::signal_exit_code(cli::interrupted().unwrap_or(2)));
        }
        Some(first)
    };
    loop {
        let now = ring.sample()?;
        history.record(&now);
        let stat = Stat::new(&now, earlier.as_ref(), &args.health);
        if args.check {
            return check(&stat, &args.consumers, args.journal.as_deref());
        }
        let mut out = stdout.lock();
        let written = (|| {
            if clear {
                out.write_all(b"\x1b[H\x1b[2J")?;
            }
            if args.json {
                serde_json::to_writer(&mut out, &stat)?;
                writeln!(out)?;
            } else {
                write_human_with(&mut out, &stat, args.watch.then_some(&history))?;
                if let Some(dir) = &args.journal {
                    write_journal(&mut out, dir, stat.head.next_seq)?;
                }
                if args.watch {
                    writeln!(
                        out,
                        "\n(every {}; Ctrl-C to stop)",
                        text::duration(interval)
                    )?;
                }
            }
            out.flush()
        })();
        drop(out);
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(e).context("write to stdout"),
        }
        if !args.watch {
            return Ok(ExitCode::SUCCESS);
        }
        earlier = (!interval.is_zero()).then_some(now);
        if !cli::sleep_interruptibly(interval.max(Duration::from_millis(100))) {
            return Ok(cli::signal_exit_code(cli::interrupted().unwrap_or(2)));
        }
    }
}

/// One line on the journal in `dir`, against the ring's next sequence number.
fn write_journal(out: &mut impl Write, dir: &std::path::Path, ring_next: u64) -> io::Result<()> {
    match slipstream_journal::summary(dir) {
        Ok(j) => match (j.first_seq(), j.next_seq()) {
            (Some(first), Some(next)) => writeln!(
                out,
                "journal    {}: seq {first}..={}, heights {}, {} segments, {}; behind the ring by {} events",
                dir.display(),
                next.saturating_sub(1),
                match (j.oldest_height(), j.newest_height()) {
                    (Some(a), Some(b)) => format!("{a}..={b}"),
                    _ => "none".into(),
                },
                j.segments.len(),
                text::size(j.bytes()),
                ring_next.saturating_sub(next)
            ),
            _ => writeln!(out, "journal    {}: empty", dir.display()),
        },
        Err(e) => writeln!(out, "journal    {}: {e}", dir.display()),
    }
}

/// `--check`: prints why each checked consumer is unhealthy (or `OK`), and
/// returns exit code 2 if any is, 0 if none is. With a `journal`, also
/// unhealthy when the journal cannot be read or its recorder's cursor is
/// missing, dead, lapped or unreadable (the exporter's /healthz rule,
/// [`crate::exporter::journal_health`]); its line (range, lag) is printed last.
fn check(
    stat: &Stat,
    names: &[String],
    journal: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let verdicts: Vec<_> = stat
        .readers
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                health::Verdict {
                    state: r.state,
                    reason: r.reason.clone(),
                },
            )
        })
        .collect();
    let (mut ok, mut lines) = health::check(&verdicts, names);
    if let Some(dir) = journal {
        let j = crate::exporter::JournalScrape {
            dir: dir.display().to_string(),
            summary: slipstream_journal::summary(dir).map_err(|e| e.to_string()),
        };
        let bad = crate::exporter::journal_health(&j, &verdicts);
        if !bad.is_empty() {
            ok = false;
            lines.retain(|l| !l.starts_with("OK: "));
            lines.extend(bad);
        }
    }
    let mut out = io::stdout().lock();
    for line in lines {
        writeln!(out, "{}: {line}", stat.ring)?;
    }
    if let Some(dir) = journal {
        write_journal(&mut out, dir, stat.head.next_seq)?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
