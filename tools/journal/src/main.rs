//! `slipstream-journal`: records a Slipstream ring into a crash-safe journal
//! on disk, and lists and checks journals. See `consumer-sdk/journal/FORMAT.md`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use slipstream_journal::{
    parse_duration, parse_size, summary, verify, Fsync, JournalItem, JournalReader, JournalStart,
    JournalWriter, ParseError, Retention, WriterOptions,
};
use slipstream_ring::{resolve_ring_path, Item, LapPolicy, Reader, SeekError, Slot, Start};
use slipstream_tools::cli;

#[derive(Parser)]
#[command(
    name = "slipstream-journal",
    version,
    about = "Record a Slipstream ring into a crash-safe journal on disk; list and verify journals"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record a ring into a journal: a consumer of the ring that appends every
    /// record, as the ring holds it, to checksummed segment files in DIR.
    ///
    /// Its position is the journal itself: restarted, it truncates a torn tail,
    /// and resumes from the ring at the sequence number after the journal's
    /// last. Events the ring no longer holds are written as an exact gap
    /// record. Ctrl-C or SIGTERM: flush, fsync, exit 0. A write error (a full
    /// disk) stops it with status 1 and leaves the journal whole.
    #[command(after_help = "Examples:
  slipstream-journal record node-events --dir /var/lib/slipstream/journal --retain 50GiB --retain 7d
  slipstream-journal record node-events --dir ./j --fsync interval:100ms")]
    Record(RecordArgs),
    /// List a journal's segments: sequence and block-height ranges, sizes.
    Ls {
        /// The journal's directory.
        dir: PathBuf,
    },
    /// Read a journal from --from to its end, checking every entry's
    /// checksum, and report how fast (what a consumer catching up gets).
    Replay {
        /// The journal's directory.
        dir: PathBuf,
        /// `oldest`, a sequence number, or `height:H`.
        #[arg(long, default_value = "oldest", value_parser = parse_start)]
        from: JournalStart,
    },
    /// Check every checksum, every index entry and the sequence across
    /// segments. Status 0 if the journal is whole (a torn tail of the newest
    /// segment is reported: a recorder cuts it off when it next starts), 1 if not.
    Verify {
        /// The journal's directory.
        dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct RecordArgs {
    /// The ring: a bare name (no `/`) is a file under /dev/shm; anything else is a path.
    ring: PathBuf,
    /// The journal's directory (created if needed).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// What to keep: a size (`50GiB`) or an age (`7d`); may be given twice
    /// (both apply). `5m` is five minutes (mebibytes: `5M`, `5MiB`); a bare
    /// number is bytes. Whole old segments are deleted, never the newest.
    /// Default: keep everything.
    #[arg(long, value_name = "SIZE|AGE", value_parser = parse_retention)]
    retain: Vec<Retention>,
    /// When to fsync: `never` (a machine crash loses what the kernel had not
    /// written back, ~30 s), `segment` (each full segment before the next is
    /// begun: a machine crash loses at most the newest segment), or
    /// `interval:DURATION` (also the newest segment every DURATION: loses at
    /// most that long). A crash of the recorder alone loses nothing the ring
    /// still holds when it restarts.
    #[arg(long, value_name = "POLICY", default_value = "segment", value_parser = parse_fsync)]
    fsync: Fsync,
    /// Segment size: a segment is closed once the next record would take it past this.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    segment_size: u64,
    /// Where an empty journal starts in the ring.
    #[arg(long, value_enum, default_value_t = From::Oldest)]
    from: From,
    /// Exit (status 0) once no record has come for this long (for batch runs and benchmarks).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    exit_when_idle: Option<Duration>,
    /// Name of the reader slot the recorder keeps its cursor in, so that
    /// `slipstream stat` shows its lag ("" for none). It resumes from the
    /// journal, never from the slot.
    #[arg(long, value_name = "NAME", default_value = "slipstream-journal")]
    slot_name: String,
    /// No progress lines on stderr.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum From {
    /// The oldest record the ring holds.
    Oldest,
    /// Only records published from now on.
    End,
}

fn parse_retention(s: &str) -> Result<Retention, ParseError> {
    s.parse()
}

fn parse_fsync(s: &str) -> Result<Fsync, ParseError> {
    s.parse()
}

fn parse_start(s: &str) -> Result<JournalStart, String> {
    if s == "oldest" {
        return Ok(JournalStart::Oldest);
    }
    if let Some(h) = s.strip_prefix("height:") {
        return h
            .parse()
            .map(JournalStart::Height)
            .map_err(|_| format!("{h:?} is not a block height"));
    }
    s.parse()
        .map(JournalStart::Seq)
        .map_err(|_| format!("{s:?} is not oldest, a sequence number or height:H"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Record(args) => cli::main_with("slipstream-journal record", || record(args)),
        Command::Ls { dir } => cli::main_with("slipstream-journal ls", || ls(&dir)),
        Command::Verify { dir } => cli::main_with("slipstream-journal verify", || run_verify(&dir)),
        Command::Replay { dir, from } => {
            cli::main_with("slipstream-journal replay", || replay(&dir, from))
        }
    }
}

/// What a recording run did, printed at the end.
#[derive(Default)]
struct Counts {
    records: u64,
    gaps: u64,
    missed: u64,
    bytes: u64,
    /// When the first and the last record of this run were appended.
    first: Option<Instant>,
    last: Option<Instant>,
}

fn record(args: RecordArgs) -> anyhow::Result<ExitCode> {
    cli::install_signal_handlers()?;
    // A file-size limit must give an error (EFBIG), not kill the recorder.
    // SAFETY: setting a signal's disposition to "ignore" runs no handler code.
    unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGXFSZ,
            nix::sys::signal::SigHandler::SigIgn,
        )
    }
    .context("ignore SIGXFSZ")?;
    let path = resolve_ring_path(&args.ring);
    cli::check_ring_file(&path, &args.ring)?;
    let mut retention = Retention::default();
    for r in &args.retain {
        retention.max_bytes = r.max_bytes.or(retention.max_bytes);
        retention.max_age = r.max_age.or(retention.max_age);
    }
    let opts = WriterOptions {
        segment_bytes: args.segment_size,
        fsync: args.fsync,
        retention,
        ring_id: 0,
    };
    let (mut journal, recovery) = JournalWriter::open(&args.dir, opts)
        .with_context(|| format!("open journal {}", args.dir.display()))?;
    if let Some((file, offset, dropped, why)) = &recovery.truncated {
        eprintln!(
            "slipstream-journal: cut a torn tail off {} at offset {offset} ({dropped} bytes: {why})",
            file.display()
        );
    }
    for f in &recovery.removed {
        eprintln!(
            "slipstream-journal: removed {} (it held no whole header)",
            f.display()
        );
    }
    let started = Instant::now();
    let mut counts = Counts::default();
    let outcome = record_loop(&args, &path, &mut journal, &mut counts);
    // Whatever happened, what was appended is handed to the kernel and synced.
    let closed = journal.sync();
    let secs = started.elapsed().as_secs_f64();
    // The rate while records came: from the first to the last one appended.
    let active = match (counts.first, counts.last) {
        (Some(a), Some(b)) => (b - a).as_secs_f64().max(1e-9),
        _ => secs.max(1e-9),
    };
    if !args.quiet {
        eprintln!(
            "slipstream-journal: recorded {} records ({} bytes of payload; while recording: {:.0} records/s, {:.1} MB/s over {active:.2}s) and {} gaps ({} missed) in {:.2}s; journal next #{}",
            counts.records,
            counts.bytes,
            counts.records as f64 / active,
            counts.bytes as f64 / active / 1e6,
            counts.gaps,
            counts.missed,
            secs,
            journal.next_seq().map_or("-".into(), |n| n.to_string())
        );
    }
    let code = outcome?;
    closed.with_context(|| format!("sync journal {}", args.dir.display()))?;
    Ok(code)
}

/// Attaches to the ring at the journal's next sequence number.
fn attach(
    path: &Path,
    journal: &mut JournalWriter,
    from: From,
) -> anyhow::Result<(Reader, std::fs::File, u64)> {
    use std::os::unix::fs::MetadataExt;
    // Read-only, as every consumer of a format-2 ring (ring/FORMAT.md section 7).
    let file =
        std::fs::File::open(path).with_context(|| format!("open ring {}", path.display()))?;
    let ino = file.metadata().map(|m| m.ino()).unwrap_or(0);
    let mut reader = Reader::attach(&file, Start::End)
        .with_context(|| format!("attach to ring {}", path.display()))?;
    reader.set_lap_policy(LapPolicy::Oldest);
    reader.set_batch_bytes(1 << 20);
    // Sleep announcements go to the wake file (pwrite, never a mapping);
    // without write access to it the recorder polls when idle.
    if let Ok(wake) = std::fs::OpenOptions::new()
        .write(true)
        .open(slipstream_ring::sidecar::wake_path(path))
    {
        reader.set_wake_file(wake);
    }
    match journal.next_seq() {
        None => reader.seek(match from {
            From::Oldest => Start::Oldest,
            From::End => Start::End,
        })?,
        Some(n) => match reader.seek(Start::Seq(n)) {
            Ok(()) => {}
            // Older than the ring: resume reports the exact gap as its first item.
            Err(SeekError::NotRetained { .. }) => reader.resume(n, u64::MAX)?,
            Err(SeekError::InFuture { requested, next }) => bail!(
                "ring {}: its next sequence number is {next}, but the journal already holds up to {}: the ring was recreated without continuing the journal's sequence (create it with first_seq = {requested}), or this is another ring's journal",
                path.display(),
                requested - 1
            ),
            Err(e) => return Err(e).with_context(|| format!("seek ring {} to #{n}", path.display())),
        },
    }
    Ok((reader, file, ino))
}

fn record_loop(
    args: &RecordArgs,
    path: &Path,
    journal: &mut JournalWriter,
    counts: &mut Counts,
) -> anyhow::Result<ExitCode> {
    use std::os::unix::fs::MetadataExt;
    let (mut reader, mut file, mut ino) = attach(path, journal, args.from)?;
    let mut slot = claim_slot(&args.slot_name, path);
    if !args.quiet {
        eprintln!(
            "slipstream-journal: recording {} into {} from #{}",
            path.display(),
            args.dir.display(),
            reader.next_seq()
        );
    }
    let mut last_activity = Instant::now();
    let mut last_check = Instant::now();
    let write_err = |e: slipstream_journal::JournalError| {
        anyhow::Error::new(e).context(format!(
            "journal {}: recording stopped; the journal is whole up to its last entry",
            args.dir.display()
        ))
    };
    loop {
        let mut n = 0u32;
        // Drain what the ring has, then flush once.
        while n < 65_536 {
            match reader
                .try_next()
                .with_context(|| format!("read ring {}", path.display()))?
            {
                Some(Item::Record(rec)) => {
                    journal
                        .append(rec.seq, rec.kind, rec.payload)
                        .map_err(write_err)?;
                    counts.records += 1;
                    counts.bytes += rec.payload.len() as u64;
                    if counts.first.is_none() {
                        counts.first = Some(Instant::now());
                    }
                }
                Some(Item::Lagged(lag)) => {
                    journal
                        .append_gap(lag.first_missed, lag.last_missed)
                        .map_err(write_err)?;
                    counts.gaps += 1;
                    counts.missed += lag.count();
                    eprintln!(
                        "slipstream-journal: lapped by the ring: #{}..=#{} ({} records) written as a gap",
                        lag.first_missed,
                        lag.last_missed,
                        lag.count()
                    );
                }
                None => break,
            }
            n += 1;
        }
        if n > 0 {
            last_activity = Instant::now();
            counts.last = Some(last_activity);
            if n < 65_536 {
                journal.flush().map_err(write_err)?;
                if let Some(s) = &slot {
                    s.store_cursor(reader.next_seq(), reader.position());
                }
            }
            continue;
        }
        journal.flush().map_err(write_err)?;
        if let Some(sig) = cli::interrupted() {
            let _ = sig;
            return Ok(ExitCode::SUCCESS);
        }
        if args
            .exit_when_idle
            .is_some_and(|d| last_activity.elapsed() >= d)
        {
            return Ok(ExitCode::SUCCESS);
        }
        if last_check.elapsed() >= Duration::from_millis(250) {
            last_check = Instant::now();
            // The ring replaced by a new file (a reboot, a recreation): attach
            // to the new one at the journal's next sequence number.
            if std::fs::metadata(path)
                .map(|m| m.ino())
                .is_ok_and(|i| i != ino)
            {
                drop(slot.take());
                (reader, file, ino) = attach(path, journal, args.from)?;
                slot = claim_slot(&args.slot_name, path);
                eprintln!(
                    "slipstream-journal: ring {} was replaced; recording the new one from #{}",
                    path.display(),
                    reader.next_seq()
                );
                continue;
            }
        }
        let _ = &file;
        reader.wait(Duration::from_millis(50));
    }
}

fn claim_slot(name: &str, path: &Path) -> Option<Slot> {
    if name.is_empty() {
        return None;
    }
    // Format 2: the cursor is a file of its own beside the ring
    // (`RING.readers/NAME`); the ring itself stays read-only.
    match Slot::claim(path, name) {
        Ok((slot, _)) => Some(slot),
        Err(e) => {
            eprintln!(
                "slipstream-journal: no reader slot {name:?} in {} ({e}); recording anyway",
                path.display()
            );
            None
        }
    }
}

fn ls(dir: &Path) -> anyhow::Result<ExitCode> {
    if !dir.is_dir() {
        bail!("journal {} is not a directory", dir.display());
    }
    let s = summary(dir).with_context(|| format!("journal {}", dir.display()))?;
    println!(
        "{:<28} {:>22} {:>22} {:>25} {:>12}",
        "segment", "first seq", "next seq", "block heights", "bytes"
    );
    for g in &s.segments {
        let name = g
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let heights = g.heights.map_or("-".into(), |(a, b)| format!("{a}..={b}"));
        println!(
            "{name:<28} {:>22} {:>22} {heights:>25} {:>12}",
            g.base, g.end, g.bytes
        );
    }
    match (s.first_seq(), s.next_seq()) {
        (Some(first), Some(next)) => println!(
            "{} segments, {} bytes: sequence {first}..{next} (next #{next}), block heights {}",
            s.segments.len(),
            s.bytes(),
            match (s.oldest_height(), s.newest_height()) {
                (Some(a), Some(b)) => format!("{a}..={b}"),
                _ => "none".into(),
            }
        ),
        _ => println!("empty journal"),
    }
    Ok(ExitCode::SUCCESS)
}

fn run_verify(dir: &Path) -> anyhow::Result<ExitCode> {
    if !dir.is_dir() {
        bail!("journal {} is not a directory", dir.display());
    }
    let r = verify(dir).with_context(|| format!("journal {} is damaged", dir.display()))?;
    let range = r
        .range
        .map_or("nothing".into(), |(a, b)| format!("sequence {a}..{b}"));
    println!(
        "ok: {} segments, {} entries ({} gaps, {} sequence numbers missed), {} bytes, {range}; every checksum and index entry checked",
        r.segments, r.entries, r.gaps, r.missed, r.bytes
    );
    if let Some((file, offset, why)) = r.torn_tail {
        println!(
            "torn tail: {} at offset {offset} ({why}); a recorder cuts it off when it next opens the journal",
            file.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn replay(dir: &Path, from: JournalStart) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut r =
        JournalReader::open(dir, from).with_context(|| format!("journal {}", dir.display()))?;
    let (mut records, mut bytes, mut gaps, mut missed) = (0u64, 0u64, 0u64, 0u64);
    while let Some(item) = r
        .try_next()
        .with_context(|| format!("read journal {}", dir.display()))?
    {
        match item {
            JournalItem::Record(rec) => {
                records += 1;
                // The 16-byte record header and the payload: the bytes as the ring held them.
                bytes += 16 + rec.payload.len() as u64;
            }
            JournalItem::Gap(g) => {
                gaps += 1;
                missed += g.last_missed - g.first_missed + 1;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "replayed {records} records ({bytes} bytes as the ring held them) and {gaps} gaps ({missed} missed) in {secs:.3}s: {:.0} records/s, {:.2} GB/s; next #{}",
        records as f64 / secs,
        bytes as f64 / secs / 1e9,
        r.next_seq()
    );
    Ok(ExitCode::SUCCESS)
}
