//! `slipstream-tail`: follows a ring like `tail -f`.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use slipstream_consumer::{
    resolve_ring_path, Consumer, ConsumerError, Item, KindSet, LapPolicy, Start,
};
use slipstream_producer::parse_duration;

use crate::cli;
use crate::render::{self, Human};

/// How long one wait for an event lasts before the loop looks at signals and timeouts.
const POLL: Duration = Duration::from_millis(150);

/// Follow a Slipstream ring like `tail -f`: one line per event, as it is published.
///
/// Lines are `SEQ HEIGHT:ORDINAL KIND FIELDS`; block markers show as
/// `── block H begin` / `── block H commit (N events)`. Events the ring
/// overwrote before they were read show as `!! lagged: missed FIRST..=LAST (N events)`,
/// and the producer's death, close or restart as `!! producer ...` lines; these
/// also go to stderr when stdout is not a terminal.
///
/// Exit status: 0 when done (--count, --timeout, --no-follow, or the reader of
/// stdout closed it), 1 on error, 130 on Ctrl-C (143 on SIGTERM). A named
/// cursor is saved on every exit but a crash.
#[derive(Args, Debug, Clone)]
#[command(
    args_override_self = true,
    after_help = "Examples:
  slipstream-tail node-events                      # newest event, then follow
  slipstream-tail node-events --from oldest --no-follow --json | jq .kind
  slipstream-tail node-events --kind mapping_update --program credits.aleo
  slipstream-tail /var/run/ring --name indexer     # resumes where it stopped
  slipstream-tail --nats nats://host:4222 --stream SLIPSTREAM --from height:1000"
)]
pub struct TailArgs {
    /// The ring: a bare name (no `/`) is a file under /dev/shm; anything else is a path.
    #[arg(value_name = "RING", required_unless_present = "nats")]
    pub ring: Option<PathBuf>,

    /// Read a JetStream stream that `slipstream-bridge` feeds instead of a
    /// ring (needs --stream); --name keeps a durable JetStream consumer.
    #[arg(long, value_name = "URL", conflicts_with_all = ["ring", "wait", "on_lag"], requires = "stream")]
    pub nats: Option<String>,

    /// With --nats: the stream.
    #[arg(long, value_name = "NAME", requires = "nats")]
    pub stream: Option<String>,

    /// Where to start: `oldest` (the oldest event the ring still holds),
    /// `newest` (the newest event, then what follows), `end` (only events
    /// published from now on), a sequence number, or `height:H` (the begin
    /// marker of the first block at or after height H; `height:0` is the
    /// oldest block). A sequence number or height no longer in the ring is an
    /// error that says what the ring holds; one not written yet is waited for.
    /// A named consumer with a saved cursor resumes from it instead (see --reset).
    #[arg(long, value_name = "WHERE", default_value = "newest")]
    pub from: Start,

    /// Catch up from the journal that `slipstream-journal record` keeps in
    /// DIR: --from (`oldest`, a sequence number, `height:H`) and a named
    /// cursor reach back to the journal's first event, then the tail joins the
    /// ring with no gap and no duplicate; a lag the journal covers is filled
    /// from it. A start older than the journal is an error naming its oldest
    /// sequence number and block height. With --name, the cursor is also kept
    /// in DIR, so that it survives a reboot.
    #[arg(long, value_name = "DIR")]
    pub journal: Option<PathBuf>,

    /// Show only these event kinds: mapping_update, mapping_removal,
    /// staking_reward, block, block_begin, block_commit, or all. Repeat the flag
    /// or separate kinds with commas.
    #[arg(long = "kind", value_name = "KIND", value_delimiter = ',')]
    pub kinds: Vec<KindSet>,

    /// Show only mapping events (updates and removals) of this program, such
    /// as `credits.aleo`; other kinds still show unless --kind excludes them.
    /// Repeatable: any of the programs.
    #[arg(long = "program", value_name = "PROGRAM")]
    pub programs: Vec<String>,

    /// Show only mapping events of this mapping, such as `account`. Repeatable:
    /// any of the mappings.
    #[arg(long = "mapping", value_name = "MAPPING")]
    pub mappings: Vec<String>,

    /// Exit (status 0) after printing N events (lag and producer lines not counted).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Keep a named cursor in the ring (up to 64 bytes): restarted with the same
    /// name, the tail resumes after the last event it printed. Shown by
    /// `slipstream stat`. Needs write access to the ring file.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// With --name: ignore the saved cursor and start at --from.
    #[arg(long, requires = "name")]
    pub reset: bool,

    /// Exit (status 0) once no event has come for this long, e.g. `5s`,
    /// `500ms` (units: ns, us, ms, s, m, h, d). Default: follow forever.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Print the events already in the ring (from --from) and exit instead of following.
    #[arg(long)]
    pub no_follow: bool,

    /// One JSON object per line: `seq`, `kind`, `block_height`, `ordinal` and
    /// the kind's fields (byte strings in hex; program and mapping names as
    /// text, or in `program_id_hex`/`mapping_name_hex` when not printable
    /// UTF-8). Lags: `{"lagged":{"first_missed":..,"last_missed":..,"count":..}}`;
    /// producer changes: `{"producer":{"change":"died"|"closed"|"restarted",..}}`.
    #[arg(long)]
    pub json: bool,

    /// Cut byte strings longer than N bytes, showing their length (0: never
    /// cut). Default: 8 for human lines, no limit with --json. A whole block
    /// shows its length and first 8 bytes unless N is 0.
    #[arg(long, value_name = "N")]
    pub max_bytes: Option<usize>,

    /// After being lapped, go on from the `oldest` event still in the ring
    /// (miss the least) or skip to the `newest` (catch up with the present).
    #[arg(long, value_enum, value_name = "WHERE", default_value_t = OnLag::Oldest)]
    pub on_lag: OnLag,

    /// Wait up to DURATION for the ring to be created (by a producer starting
    /// up) instead of failing at once when it does not exist.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<Duration>,

    /// Colour the human lines: `auto` (when stdout is a terminal and NO_COLOR
    /// is not set), `always`, or `never`.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Color::Auto)]
    pub color: Color,
}

/// Where a lapped tail goes on from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnLag {
    /// The oldest event still in the ring (leaving headroom): miss the least.
    Oldest,
    /// The newest event: skip to the present.
    Newest,
}

/// When to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// When stdout is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Why the loop stopped.
pub(crate) enum Stop {
    /// Done (--count, --timeout, --no-follow): exit 0.
    Done,
    /// The reader of stdout went away: exit 0.
    Pipe,
    /// A signal asked to stop.
    Signal(i32),
}

/// Where lines go, and how they look.
pub(crate) struct Printer<W: Write> {
    pub(crate) out: W,
    json: bool,
    human: Human,
    max_bytes: usize,
    /// Lag and producer lines are copied to stderr (stdout is not a terminal).
    copy_to_stderr: bool,
}

impl Printer<BufWriter<io::StdoutLock<'static>>> {
    /// A printer on this process's stdout, buffered, in colour on a terminal.
    pub(crate) fn stdout(args: &TailArgs) -> Self {
        let stdout = io::stdout();
        let tty = stdout.is_terminal();
        Printer::new(
            BufWriter::with_capacity(64 * 1024, stdout.lock()),
            tty,
            args,
        )
    }
}

impl<W: Write> Printer<W> {
    /// How `args` asks lines to look, on `out` (a terminal or not).
    pub(crate) fn new(out: W, tty: bool, args: &TailArgs) -> Self {
        let color = match args.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => tty && std::env::var_os("NO_COLOR").is_none() && !args.json,
        };
        Printer {
            out,
            json: args.json,
            human: Human {
                max_bytes: args.max_bytes.unwrap_or(8),
                color,
            },
            max_bytes: args.max_bytes.unwrap_or(0),
            copy_to_stderr: !tty,
        }
    }

    pub(crate) fn item(&mut self, item: &Item<'_>) -> io::Result<()> {
        match item {
            Item::Event(ev) => {
                if self.json {
                    render::json_event(&mut self.out, ev.seq, &ev.event, self.max_bytes)
                } else {
                    self.human.event(&mut self.out, ev.seq, &ev.event)
                }
            }
            Item::Lagged(missed) => {
                // The lines show the sequence numbers, as they always did.
                let lag = &missed.seqs();
                if self.copy_to_stderr {
                    crate::say!("{}", render::lag_text(lag));
                }
                if self.json {
                    render::json_lag(&mut self.out, lag)
                } else {
                    self.human.lag(&mut self.out, lag)
                }
            }
            Item::Producer(change) => {
                if self.copy_to_stderr {
                    crate::say!("{}", render::producer_text(change));
                }
                if self.json {
                    render::json_producer(&mut self.out, change)
                } else {
                    self.human.producer(&mut self.out, change)
                }
            }
        }
    }

    fn undecodable(&mut self, seq: u64, kind: u16, error: &str) -> io::Result<()> {
        let line = format!("!! event #{seq} (kind {kind}) does not decode: {error}");
        if self.copy_to_stderr {
            crate::say!("{line}");
        }
        if self.json {
            render::json_undecodable(&mut self.out, seq, kind, error)
        } else {
            writeln!(self.out, "{line}")
        }
    }
}

/// How many events a busy tail prints between two flushes of stdout followed
/// by a commit of its named cursor.
const COMMIT_EVERY: u64 = 4096;

/// Runs `slipstream-tail`.
pub fn run(args: TailArgs) -> anyhow::Result<ExitCode> {
    cli::install_signal_handlers()?;
    if args.nats.is_some() {
        return crate::tail_remote::run(args);
    }
    let ring = args.ring.clone().context("no RING given")?;
    let path = resolve_ring_path(&ring);
    if args.wait.is_none() {
        cli::check_ring_file(&path, &ring)?;
    }
    let mut builder = Consumer::builder(&path)
        .start(args.from)
        .reset(args.reset)
        .lap_policy(match args.on_lag {
            OnLag::Oldest => LapPolicy::Oldest,
            OnLag::Newest => LapPolicy::Newest,
        });
    if let Some(name) = &args.name {
        // The cursor is committed only after the lines are flushed to stdout
        // (see `follow`): a tail killed with lines still in its buffer then
        // prints them again when it resumes, rather than skipping them.
        builder = builder.name(name).auto_commit(false);
    }
    if !args.kinds.is_empty() {
        builder = builder.kinds(args.kinds.iter().flat_map(|set| set.iter()).collect());
    }
    for program in &args.programs {
        builder = builder.program(program);
    }
    for mapping in &args.mappings {
        builder = builder.mapping(mapping);
    }
    if let Some(wait) = args.wait {
        builder = builder.wait_for_ring(wait);
    }
    if let Some(dir) = &args.journal {
        builder = builder.journal(dir);
    }
    let mut consumer = builder.open().map_err(|e| {
        let shown = e.to_string();
        let path_shown = shown.contains(&*path.to_string_lossy());
        let err = anyhow::Error::new(e);
        if path_shown {
            err.context("cannot attach")
        } else {
            err.context(format!("cannot attach to ring {}", path.display()))
        }
    })?;

    let mut printer = Printer::stdout(&args);
    let stop = follow(&mut consumer, &mut printer, &args)?;
    let flushed = printer.out.flush();
    drop(printer);
    if flushed.is_ok() {
        // Everything handed out is on stdout: store the named cursor after it.
        consumer.commit();
    }
    drop(consumer);
    exit_code(stop, flushed)
}

/// The exit status of a tail that stopped for `stop`, after the last flush of
/// stdout (`flushed`): a closed pipe is a normal end, another write error is not.
pub(crate) fn exit_code(stop: Stop, flushed: io::Result<()>) -> anyhow::Result<ExitCode> {
    match (stop, flushed) {
        (Stop::Signal(sig), _) => Ok(cli::signal_exit_code(sig)),
        (_, Err(e)) if e.kind() != io::ErrorKind::BrokenPipe => Err(e).context("write to stdout"),
        (Stop::Done | Stop::Pipe, _) => Ok(ExitCode::SUCCESS),
    }
}

/// What one step of the loop produced.
enum Step {
    Printed { event: bool },
    Nothing,
}

fn follow<W: Write>(
    consumer: &mut Consumer,
    printer: &mut Printer<W>,
    args: &TailArgs,
) -> anyhow::Result<Stop> {
    let mut printed = 0u64;
    let mut committed_at = 0u64;
    let mut last_activity = Instant::now();
    loop {
        if let Some(sig) = cli::interrupted() {
            return Ok(Stop::Signal(sig));
        }
        if args.count.is_some_and(|n| printed >= n) {
            return Ok(Stop::Done);
        }
        // Without waiting first; when there is nothing, flush and then wait.
        let mut step = emit(consumer.try_next(), printer);
        if matches!(step, Ok(Step::Nothing)) || printed - committed_at >= COMMIT_EVERY {
            if let Err(e) = printer.out.flush() {
                return write_failed(e);
            }
            // What was handed out is written: a named cursor may move past it.
            consumer.commit();
            committed_at = printed;
        }
        if matches!(step, Ok(Step::Nothing)) {
            if args.no_follow {
                return Ok(Stop::Done);
            }
            step = emit(consumer.next(POLL), printer);
        }
        match step {
            Ok(Step::Printed { event }) => {
                printed += event as u64;
                last_activity = Instant::now();
            }
            Ok(Step::Nothing) => {
                if args.timeout.is_some_and(|t| last_activity.elapsed() >= t) {
                    return Ok(Stop::Done);
                }
                if stdout_closed() {
                    return Ok(Stop::Pipe);
                }
            }
            Err(Failure::Write(e)) => return write_failed(e),
            Err(Failure::Read(e)) => {
                // The SDK's read errors name the position, not the file.
                let ring = consumer.path().display().to_string();
                return Err(anyhow::Error::new(e).context(format!("read the ring {ring}")));
            }
        }
    }
}

/// Whether stdout is a pipe whose reader has gone (`slipstream-tail r | head -1`
/// while no event comes): as GNU `tail -f` does, stop then rather than at the
/// next write, which may be long in coming.
pub(crate) fn stdout_closed() -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let stdout = io::stdout();
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::empty())];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
        && fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLERR))
}

enum Failure {
    Write(io::Error),
    Read(ConsumerError),
}

pub(crate) fn write_failed(e: io::Error) -> anyhow::Result<Stop> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(Stop::Pipe)
    } else {
        Err(e).context("write to stdout")
    }
}

/// Prints what the consumer returned.
fn emit<W: Write>(
    got: Result<Option<Item<'_>>, ConsumerError>,
    printer: &mut Printer<W>,
) -> Result<Step, Failure> {
    match got {
        Ok(None) => Ok(Step::Nothing),
        Ok(Some(item)) => {
            printer.item(&item).map_err(Failure::Write)?;
            Ok(Step::Printed {
                event: matches!(item, Item::Event(_)),
            })
        }
        // The consumer has moved past an event that does not decode: say so, go on.
        Err(ConsumerError::Decode { seq, kind, source }) => {
            printer
                .undecodable(seq, kind, &source.to_string())
                .map_err(Failure::Write)?;
            Ok(Step::Printed { event: false })
        }
        Err(e) => Err(Failure::Read(e)),
    }
}
