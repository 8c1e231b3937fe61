//! `slipstream-index`: indexes a Slipstream ring into SQLite or PostgreSQL.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use slipstream_index::db::{self, Options};
use slipstream_index::{source, Config, OnGap};
use slipstream_tools::cli;
use slipstream_tools::text::hex;

/// Indexes a Slipstream ring into SQLite (default) or PostgreSQL: the current
/// value of every mapping key, staking rewards, and the blocks indexed, each
/// block applied atomically and exactly once (the position is stored in the
/// database with the block). Stops on a gap unless --on-gap mark.
#[derive(Parser)]
#[command(
    name = "slipstream-index",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:
  slipstream-index node-events --db sqlite:index.db
  slipstream-index node-events --db 'postgres:///chain?host=/run/postgresql'
  slipstream-index get --db sqlite:index.db credits.aleo account 0a1b2c...
  slipstream-index status --db sqlite:index.db --ring node-events"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Prints the current value of a key and the height that set it.
    Get(GetArgs),
    /// Prints the position, the lag behind the ring, and row counts.
    Status(StatusArgs),
}

#[derive(Args)]
struct DbArg {
    /// The database: `sqlite:PATH` (or a plain path), `postgres://USER@HOST/DB`,
    /// `postgres:///DB?host=/SOCKET/DIR`, or `postgres:KEY=VALUE ...`.
    #[arg(long, value_name = "URL")]
    db: String,
}

#[derive(Args)]
struct RunArgs {
    /// The ring: a bare name is a file under /dev/shm.
    #[arg(value_name = "RING")]
    ring: Option<PathBuf>,
    /// The database (see `--db` of `status`).
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// When the ring no longer holds events the database needs: `stop` (exit
    /// 1 naming the missed range) or `mark` (record them in `gaps`, go on).
    #[arg(long, value_name = "stop|mark", default_value = "stop")]
    on_gap: OnGap,
    /// Most blocks per transaction when behind (caught up: one).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    batch_blocks: usize,
    /// Most mapping events per transaction when behind.
    #[arg(long, value_name = "N", default_value_t = 2_000_000)]
    batch_events: u64,
    /// SQLite durability: `normal` (WAL, no fsync at commit: a kill loses
    /// nothing, a power cut may roll back the last commits with their
    /// position) or `full` (fsync at every commit).
    #[arg(long, value_name = "normal|full", default_value = "normal")]
    sqlite_sync: String,
    /// Wait up to this long for the ring to appear (e.g. `10s`).
    #[arg(long, value_name = "DURATION", value_parser = slipstream_producer::parse_duration, default_value = "0s")]
    wait_for_ring: Duration,
    /// Exit once caught up, when nothing new has arrived for this long, e.g. `1s`.
    #[arg(long, value_name = "DURATION", value_parser = slipstream_producer::parse_duration)]
    exit_when_idle: Option<Duration>,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct GetArgs {
    #[command(flatten)]
    db: DbArg,
    /// The program, e.g. `credits.aleo`.
    program: String,
    /// The mapping, e.g. `account`.
    mapping: String,
    /// The key, in hex (the node's bytes).
    key: String,
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    db: DbArg,
    /// The ring, to show how far behind it the database is.
    #[arg(long, value_name = "RING")]
    ring: Option<PathBuf>,
}

/// How `get` and `status` open a database: never create one.
const READER: Options = Options {
    sqlite_full_sync: false,
    sqlite_checkpointer: false,
    must_exist: true,
};

fn unhex(s: &str) -> anyhow::Result<Vec<u8>> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() % 2 != 0 {
        bail!("key {s:?} is not hex: odd number of digits");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .with_context(|| format!("key {s:?} is not hex (at digit {i})"))
        })
        .collect()
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    cli::install_signal_handlers()?;
    let Some(ring) = args.ring else {
        bail!("which ring? usage: slipstream-index RING --db URL (or `get`, `status`; see --help)");
    };
    let Some(url) = args.db else {
        bail!("--db URL is required (e.g. --db sqlite:index.db)");
    };
    let options = Options {
        sqlite_full_sync: match args.sqlite_sync.as_str() {
            "normal" => false,
            "full" => true,
            other => bail!("--sqlite-sync {other:?}: use normal or full"),
        },
        sqlite_checkpointer: true,
        must_exist: false,
    };
    let mut store = db::open(&url, &options).with_context(|| format!("database {url}"))?;
    let mut cfg = Config::new(slipstream_consumer::resolve_ring_path(&ring));
    cfg.on_gap = args.on_gap;
    cfg.batch_blocks = args.batch_blocks.max(1);
    cfg.batch_events = args.batch_events.max(1);
    cfg.wait_for_ring = args.wait_for_ring;
    cfg.verbose = !args.quiet;
    cfg.exit_when_idle = args.exit_when_idle;
    let stats = slipstream_index::run(
        &mut *store,
        &cfg,
        &mut || cli::interrupted().is_some(),
        &mut |_| {},
    )?;
    if !args.quiet {
        eprintln!(
            "slipstream-index: stopped: {} blocks, {} events ({} mapping events) in {} transactions, {} gaps recorded",
            stats.blocks, stats.events, stats.mapping_events, stats.transactions, stats.gaps
        );
    }
    Ok(match cli::interrupted() {
        Some(sig) => cli::signal_exit_code(sig),
        None => ExitCode::SUCCESS,
    })
}

fn get(args: GetArgs) -> anyhow::Result<ExitCode> {
    let key = unhex(&args.key)?;
    let mut store =
        db::open(&args.db.db, &READER).with_context(|| format!("database {}", args.db.db))?;
    match store.get(args.program.as_bytes(), args.mapping.as_bytes(), &key)? {
        Some((value, height, seq)) => {
            println!("value {} height {height} seq {seq}", hex(&value));
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!(
                "slipstream-index: {}/{} has no key {} (never set, or removed)",
                args.program, args.mapping, args.key
            );
            Ok(ExitCode::from(2))
        }
    }
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let mut store =
        db::open(&args.db.db, &READER).with_context(|| format!("database {}", args.db.db))?;
    let pos = store.position()?;
    let counts = store.counts()?;
    match pos {
        Some(p) => println!(
            "position: ring {:016x} next #{} (block {})",
            p.ring_id, p.next_seq, p.height
        ),
        None => println!("position: none (nothing indexed yet)"),
    }
    if let Some(ring) = args.ring {
        let path = slipstream_consumer::resolve_ring_path(&ring);
        let id = source::identity(&path)?;
        let span = source::span(&path)?;
        match pos {
            Some(p) if p.ring_id != id.ring_id => println!(
                "ring: {} is ring {:016x}, not the database's: the ring was replaced",
                path.display(),
                id.ring_id
            ),
            _ => {
                let at = pos.map_or(id.first_seq, |p| p.next_seq);
                let behind = span.next.saturating_sub(at);
                let lost = if at < span.oldest {
                    format!(
                        ", GAP: #{}..=#{} no longer in the ring",
                        at,
                        span.oldest - 1
                    )
                } else {
                    String::new()
                };
                println!(
                    "ring: {} holds #{}..#{}; lag {behind} events{lost}",
                    path.display(),
                    span.oldest,
                    span.next
                );
            }
        }
    }
    println!(
        "rows: {} mapping values, {} staking rewards, {} blocks (highest {}), {} gaps",
        counts.values,
        counts.rewards,
        counts.blocks,
        counts
            .max_height
            .map_or("none".to_string(), |h| h.to_string()),
        counts.gaps
    );
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::main_with("slipstream-index", || match cli.command {
        Some(Command::Get(a)) => get(a),
        Some(Command::Status(a)) => status(a),
        None => run(cli.run),
    })
}
