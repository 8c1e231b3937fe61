//! # slipstream-index
//!
//! The reference indexer: tails a Slipstream ring and keeps the chain's
//! mapping state in SQLite (the default, bundled: nothing to install) or
//! PostgreSQL, each block applied atomically and exactly once.
//!
//! ```text
//! slipstream-index RING --db sqlite:/var/lib/slipstream/index.db
//! slipstream-index RING --db 'postgres:///chain?host=/run/postgresql&user=indexer'
//! slipstream-index get --db URL credits.aleo account 0a1b...
//! slipstream-index status --db URL --ring RING
//! ```
//!
//! ## Exactly once
//!
//! The indexer keeps no cursor in the ring. Its position (the ring's
//! `ring_id` and the sequence number of the next event to apply) is a row of
//! the database, written in the same transaction as the blocks it covers, and
//! that transaction checks that the row still holds what this indexer last
//! wrote (so two indexers on one database cannot both apply a block). On
//! start it attaches at `Start::Seq(position)`: a crash at any point leaves the
//! database at a block boundary, and the restart applies the next block once.
//!
//! A gap is never passed over silently. If the ring no longer holds the
//! position (it lapped the indexer while it was down, or during a run), the
//! indexer stops with an error naming the missed sequence numbers; with
//! `--on-gap mark` it records the events it never applied in the `gaps` table
//! and goes on. A ring replaced by a new one (another `ring_id`) is reported
//! the same way (stop, or a `gaps` row with no end under `--on-gap mark`).
//!
//! ## Speed
//!
//! Blocks are folded into a [`db::Batch`] (the last change of each key wins; a
//! whole-mapping removal drops the mapping's earlier changes of the batch and
//! becomes one `DELETE`), and a batch is written in one transaction, its rows
//! in key order: while the indexer is behind, up to `--batch-blocks` blocks
//! (1000), `--batch-events` mapping events (2 M) or 2 s of reading; one block
//! as soon as nothing more is waiting in the ring (caught up: every block is
//! committed as soon as its commit marker is read). Statements are prepared
//! once per connection. Figures: `benches/RESULTS.md`, "Indexer".
//!
//! Caught up, SQLite writes a block's mapping rows into the small table
//! `mapping_values_recent` instead of the big `mapping_values_base`: its
//! keys are scattered hashes, so a block of n keys dirties up to n pages of
//! the big table, and the `COMMIT` writes each to the WAL (about 640 pages
//! on average for blocks of 200 to 2000 events), against a few dozen in the
//! small one. As soon as the ring has nothing waiting, a transaction of its
//! own settles the recent rows into the base table ([`db::Store::settle`]);
//! a batch of several blocks settles them first, in its own transaction. The
//! view `mapping_values` reads both as one at every moment, so settling
//! changes nothing a query sees, and a crash before or during a settle
//! loses nothing (`restart_with_unsettled_recent_rows_sqlite`, the model
//! test `sqlite_recent_and_base_tables_read_as_one`, the kill loops).
//!
//! ## Why rusqlite and the `postgres` crate, not sqlx
//!
//! The indexer is one synchronous loop: read a block, write a transaction.
//! rusqlite (with SQLite bundled) and the synchronous `postgres` crate keep it
//! synchronous, with statements prepared once per connection (rusqlite's
//! statement cache, `postgres::Statement`s kept by the store) and no async
//! runtime in the indexer's own code, and sqlx's compile-time checked queries
//! would need a database at build time. Both speak `$1` placeholders and
//! `INSERT .. ON CONFLICT .. DO UPDATE`, so one SQL text serves both wherever
//! the row-at-a-time form is right; PostgreSQL gets its bulk rows as arrays
//! through `UNNEST`, one statement per table and batch, because it is a round
//! trip away (see [`db`]).
//!
//! ## Schema (version 3)
//!
//! Created by the tool on first use and migrated by it (`schema_version`
//! holds the version; a newer database is refused; versions 1 (which named
//! the program and mapping in every `mapping_values` row) and 2 (whose
//! `mapping_values` was one table) are migrated in place, by the first run
//! of this version that opens it, `get` and `status` included, which then
//! need write access once). Integers are `BIGINT`;
//! byte strings `BLOB` (SQLite) or `BYTEA` (PostgreSQL), exactly the node's
//! bytes; `*_unix_ns` are wall-clock nanoseconds.
//!
//! | table | columns | meaning |
//! |---|---|---|
//! | `schema_version` | `version` | the schema's version |
//! | `position` | `id` (= 1), `ring_id` (16 hex digits), `next_seq`, `height`, `updated_unix_ns` | the next event to apply, and the last block applied |
//! | `mappings` | `id` (primary key), `program`, `mapping` (unique) | each (program, mapping) seen, named once; ids are the indexer's (1, 2, ...), never reused |
//! | `mapping_values` (a view) | `mapping_id`, `key`, `value`, `height`, `seq` | the current value of every key, and the block and event that set it; removed keys and mappings have no rows. Query this (or `mapping_values_named`), not the two tables below |
//! | `mapping_values_base` | `mapping_id`, `key` (primary key), `value`, `height`, `seq` | the current values, except the keys `mapping_values_recent` holds |
//! | `mapping_values_recent` | `mapping_id`, `key` (primary key), `value` (NULL: removed), `height`, `seq` | keys changed by the blocks committed since the last settle (SQLite; always empty in PostgreSQL, which writes the base table); a row here hides the base table's row of its key |
//! | `mapping_values_named` (a view) | `program`, `mapping`, `key`, `value`, `height`, `seq` | `mapping_values` joined with `mappings`, for queries by name |
//! | `staking_rewards` | `height`, `ordinal` (primary key), `seq`, `staker`, `validator`, `reward`, `new_stake` | every reward, with an index on (`staker`, `height`) |
//! | `blocks` | `height` (primary key), `begin_seq`, `commit_seq`, `events`, `mapping_updates`, `mapping_removals`, `staking_rewards`, `block_bytes`, `indexed_unix_ns` | every block indexed (the block's bytes are not stored) |
//! | `gaps` | `ring_id`, `first_seq` (primary key), `last_seq` (null: unknown, the ring was replaced), `reason`, `detected_unix_ns` | events never applied (`--on-gap mark`) |
//!
//! SQLite runs in WAL mode with `synchronous=NORMAL` by default, a 64 MiB
//! page cache, and WAL checkpoints from a thread of their own (every 200 ms
//! while catching up, repeated until every frame is copied back so that
//! SQLite can start the WAL over; the WAL file is cut back to 64 MiB when it
//! does; caught up, after the settle that brings the WAL past 32 MiB, the
//! checkpointer also making the write that restarts the WAL, whose header
//! fsync would otherwise fall in a block's COMMIT), so that no commit waits
//! for a checkpoint's fsyncs. What the tool promises: with
//! `normal`, a killed indexer (kill -9, a crash) loses nothing committed
//! (tested by the kill loops); a power cut or an OS crash may roll back the
//! last commits, position included, which are then applied again on restart
//! if the ring still holds them (a ring in /dev/shm does not survive a power
//! cut: the indexer then stops on the replaced ring, as under "Exactly
//! once"); the database never holds a block twice. `--sqlite-sync full` fsyncs
//! the WAL at every commit (SQLite's strongest setting in WAL mode): a
//! committed block survives a power cut too, at the cost of one fsync per
//! transaction (~4 ms on the benchmark VM's disk).

pub mod db;
pub mod source;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use db::{Batch, BlockRow, DbError, GapRow, Position, RewardRow, Store};
use slipstream_consumer::{Block, EventRef};
use source::{Next, Opened, Source, SourceError};

/// What to do when the ring no longer holds events the database needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnGap {
    /// Stop with [`IndexError::Gap`] (or [`IndexError::RingChanged`]).
    #[default]
    Stop,
    /// Record the events never applied in `gaps` and go on.
    Mark,
}

impl std::str::FromStr for OnGap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "stop" => Ok(OnGap::Stop),
            "mark" => Ok(OnGap::Mark),
            _ => Err(format!("{s:?} is not stop or mark")),
        }
    }
}

/// How the indexer runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The ring's path.
    pub ring: PathBuf,
    /// What to do about a gap.
    pub on_gap: OnGap,
    /// Most blocks in one transaction when behind.
    pub batch_blocks: usize,
    /// Most mapping events in one transaction when behind.
    pub batch_events: u64,
    /// Longest a batch is held open while more blocks keep arriving.
    pub batch_age: Duration,
    /// How long to wait for the ring to exist at start.
    pub wait_for_ring: Duration,
    /// Print progress and notices on stderr.
    pub verbose: bool,
    /// How often a progress line is printed (when verbose).
    pub report_every: Duration,
    /// Return once caught up and nothing new arrived for this long.
    pub exit_when_idle: Option<Duration>,
}

impl Config {
    /// Defaults for the ring at `ring`.
    pub fn new(ring: impl Into<PathBuf>) -> Config {
        Config {
            ring: ring.into(),
            on_gap: OnGap::Stop,
            batch_blocks: 1000,
            batch_events: 2_000_000,
            batch_age: Duration::from_secs(2),
            wait_for_ring: Duration::ZERO,
            verbose: false,
            report_every: Duration::from_secs(5),
            exit_when_idle: None,
        }
    }
}

/// Why the indexer stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The database refused; the transaction was rolled back.
    #[error("database: {0}; nothing of the failed transaction was kept: rerun to resume from the last committed block")]
    Db(#[from] DbError),
    /// The ring could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Events the database needs are no longer in the ring.
    #[error("gap: the ring no longer holds events #{first}..=#{last}, which the database has not applied (it holds everything before #{next_seq}, up to block {height}); stopped. `--on-gap mark` records the gap and goes on from the oldest block the ring holds")]
    Gap {
        /// First missed.
        first: u64,
        /// Last missed (inclusive).
        last: u64,
        /// The database's position.
        next_seq: u64,
        /// The last block applied.
        height: u64,
    },
    /// The ring lapped the indexer while it ran.
    #[error("lapped: the ring overwrote events #{first}..=#{last} before the indexer read them (the database holds everything before #{next_seq}, up to block {height}); stopped. `--on-gap mark` records the gap and goes on")]
    Lapped {
        /// First missed.
        first: u64,
        /// Last missed (inclusive).
        last: u64,
        /// The database's position.
        next_seq: u64,
        /// The last block applied.
        height: u64,
    },
    /// The database was indexed from another ring.
    #[error("ring changed: the database was indexed from ring {db_ring:016x} (up to #{next_seq}), but {path} is ring {ring:016x} (recreated?); stopped. `--on-gap mark` records the gap and indexes the new ring from its oldest block")]
    RingChanged {
        /// The database's ring.
        db_ring: u64,
        /// The ring now at the path.
        ring: u64,
        /// The database's position.
        next_seq: u64,
        /// The ring's path.
        path: PathBuf,
    },
    /// The ring file was replaced while the indexer read it.
    #[error("ring replaced: {path} is no longer ring {old:016x} ({new}); the database holds everything before #{next_seq}; restart the indexer to check the new ring")]
    RingReplaced {
        /// The ring read so far.
        old: u64,
        /// What is there now.
        new: String,
        /// The database's position.
        next_seq: u64,
        /// The ring's path.
        path: PathBuf,
    },
    /// The database's position is beyond the ring's end.
    #[error("the database is at #{requested} but ring {path} ends at #{next} (same ring_id): was the database restored from elsewhere?")]
    AheadOfRing {
        /// The database's position.
        requested: u64,
        /// The ring's next sequence.
        next: u64,
        /// The ring's path.
        path: PathBuf,
    },
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Blocks applied.
    pub blocks: u64,
    /// Events applied (markers excluded).
    pub events: u64,
    /// Mapping updates and removals applied.
    pub mapping_events: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// Gaps recorded.
    pub gaps: u64,
    /// Settles of SQLite's recent rows into the base table (see [`db::Store::settle`]).
    pub settles: u64,
}

/// Where a gap being recorded began (it ends before the next block applied).
struct OpenGap {
    ring_id: u64,
    first: u64,
    reason: &'static str,
}

/// Runs the indexer until `stop()` says so (checked between blocks and at
/// least every 100 ms when idle) or an error; `on_commit` is called after
/// each committed transaction with its batch.
///
/// ```no_run
/// use slipstream_index::{db, run, Config};
/// let mut store = db::open("sqlite:index.db", &Default::default())?;
/// let stats = run(&mut *store, &Config::new("node-events"), &mut || false, &mut |_| {})?;
/// println!("{} blocks", stats.blocks);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// See [`IndexError`]: a database error (the failed transaction is rolled
/// back whole), a gap under [`OnGap::Stop`], a changed or replaced ring.
pub fn run(
    store: &mut dyn Store,
    cfg: &Config,
    stop: &mut dyn FnMut() -> bool,
    on_commit: &mut dyn FnMut(&Batch),
) -> Result<Stats, IndexError> {
    let mut stats = Stats::default();
    let pos = store.position()?;
    let deadline = Instant::now() + cfg.wait_for_ring;
    let ident = loop {
        match source::identity(&cfg.ring) {
            Ok(id) => break id,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.into()),
        }
    };
    let mut gaps = Vec::new();
    // The sequence the database needs next, on the ring now at the path.
    let (expected, from) = match pos {
        Some(p) if p.ring_id != ident.ring_id => {
            if cfg.on_gap == OnGap::Stop {
                return Err(IndexError::RingChanged {
                    db_ring: p.ring_id,
                    ring: ident.ring_id,
                    next_seq: p.next_seq,
                    path: cfg.ring.clone(),
                });
            }
            gaps.push(GapRow {
                ring_id: db::ring_id_text(p.ring_id),
                first_seq: p.next_seq,
                last_seq: None,
                reason: format!(
                    "ring replaced: ring {:016x} by ring {:016x}",
                    p.ring_id, ident.ring_id
                ),
            });
            (ident.first_seq, None)
        }
        Some(p) => (p.next_seq, Some(p.next_seq)),
        None => (ident.first_seq, None),
    };
    let height = pos.map_or(0, |p| p.height);
    let mut open_gap = None;
    let mut src = match Source::open(&cfg.ring, from, cfg.wait_for_ring)? {
        Opened::At(s) => s,
        Opened::InFuture { requested, next } => {
            return Err(IndexError::AheadOfRing {
                requested,
                next,
                path: cfg.ring.clone(),
            })
        }
        Opened::NotRetained { requested, oldest } => {
            if cfg.on_gap == OnGap::Stop {
                return Err(IndexError::Gap {
                    first: requested,
                    last: oldest - 1,
                    next_seq: requested,
                    height,
                });
            }
            match Source::open(&cfg.ring, None, cfg.wait_for_ring)? {
                Opened::At(s) => s,
                _ => unreachable!("the oldest event is always retained"),
            }
        }
    };
    if from.is_none() && src.next_seq() > expected {
        // A fresh start (or a new ring) on a ring that already lapped.
        if cfg.on_gap == OnGap::Stop {
            return Err(IndexError::Gap {
                first: expected,
                last: src.next_seq() - 1,
                next_seq: expected,
                height,
            });
        }
    }
    if cfg.on_gap == OnGap::Mark && (src.next_seq() > expected || !gaps.is_empty()) {
        open_gap = Some(OpenGap {
            ring_id: src.identity.ring_id,
            first: expected,
            reason: "not retained by the ring at start",
        });
    }
    let ring_id = src.identity.ring_id;
    let mut batch = Batch::new(pos, ring_id);
    batch.gaps = gaps;
    if batch.from.is_none() || !batch.gaps.is_empty() {
        batch.to = Position {
            ring_id,
            next_seq: expected,
            height,
        };
    }
    let mut batch_started = Instant::now();
    let mut spent = None;
    let mut last_check = Instant::now();
    let mut last_item = Instant::now();
    let mut last_report = (Instant::now(), stats);
    if cfg.verbose {
        eprintln!(
            "slipstream-index: {} (ring {ring_id:016x}) from #{} (block {height}) into {:?}",
            cfg.ring.display(),
            src.next_seq(),
            store.dialect()
        );
    }

    loop {
        let pending = !batch.is_empty();
        // Unsettled recent rows: look (without waiting) whether the ring is
        // idle, and settle them then.
        let timeout = if pending || store.unsettled() {
            Duration::ZERO
        } else {
            Duration::from_millis(100)
        };
        let idle_done = !pending && cfg.exit_when_idle.is_some_and(|d| last_item.elapsed() >= d);
        let next = if idle_done || stop() {
            None
        } else {
            Some(src.next(timeout)?)
        };
        if !matches!(next, Some(Next::Idle)) {
            last_item = Instant::now();
        }
        let flush_now = match next {
            None => {
                flush(store, &mut batch, &mut stats, on_commit)?;
                if store.unsettled() {
                    store.settle()?;
                    stats.settles += 1;
                }
                return Ok(stats);
            }
            Some(Next::Block(block)) => {
                if batch.blocks.is_empty() {
                    batch_started = Instant::now();
                }
                if let Some(g) = open_gap.take() {
                    if block.begin_seq > g.first {
                        batch.gaps.push(GapRow {
                            ring_id: db::ring_id_text(g.ring_id),
                            first_seq: g.first,
                            last_seq: Some(block.begin_seq - 1),
                            reason: g.reason.to_string(),
                        });
                    }
                }
                batch.timing.last_block_read = Some(Instant::now());
                apply(&mut batch, &block, ring_id, &mut stats);
                // Freed after the commit, not before it (a thousand events'
                // buffers, on the caught-up block's path); behind, at the
                // next block.
                drop(spent.replace(block));
                batch.blocks.len() >= cfg.batch_blocks
                    || batch.mapping_events >= cfg.batch_events
                    || batch_started.elapsed() >= cfg.batch_age
            }
            Some(Next::Idle) => {
                if !pending && store.unsettled() {
                    store.settle()?;
                    stats.settles += 1;
                }
                if !pending && last_check.elapsed() >= Duration::from_secs(1) {
                    last_check = Instant::now();
                    check_current(&src, &batch, cfg)?;
                }
                pending
            }
            Some(Next::Lagged { first, last }) => {
                flush(store, &mut batch, &mut stats, on_commit)?;
                if cfg.on_gap == OnGap::Stop {
                    return Err(IndexError::Lapped {
                        first,
                        last,
                        next_seq: batch.to.next_seq,
                        height: batch.to.height,
                    });
                }
                if cfg.verbose {
                    eprintln!("slipstream-index: lapped: events #{first}..=#{last} were overwritten before they were read; recording the gap");
                }
                if open_gap.is_none() {
                    open_gap = Some(OpenGap {
                        ring_id,
                        first: batch.to.next_seq,
                        reason: "lapped by the ring while indexing",
                    });
                }
                false
            }
            Some(Next::Incomplete { height, reason }) => {
                if cfg.verbose {
                    eprintln!(
                        "slipstream-index: block {height} did not commit ({reason}): not applied"
                    );
                }
                false
            }
            Some(Next::Producer(change)) => {
                if cfg.verbose {
                    eprintln!("slipstream-index: producer: {change:?}");
                }
                check_current(&src, &batch, cfg)?;
                false
            }
        };
        if flush_now {
            flush(store, &mut batch, &mut stats, on_commit)?;
            drop(spent.take());
            // Idle means nothing new since the last commit *ended*.
            last_item = Instant::now();
        }
        if cfg.verbose && last_report.0.elapsed() >= cfg.report_every {
            let (at, before) = last_report;
            let secs = at.elapsed().as_secs_f64();
            eprintln!(
                "slipstream-index: at #{} (block {}): {:.0} blocks/s, {:.0} mapping events/s, {} transactions",
                batch.to.next_seq,
                batch.to.height,
                (stats.blocks - before.blocks) as f64 / secs,
                (stats.mapping_events - before.mapping_events) as f64 / secs,
                stats.transactions - before.transactions
            );
            last_report = (Instant::now(), stats);
        }
    }
}

fn check_current(src: &Source, batch: &Batch, cfg: &Config) -> Result<(), IndexError> {
    match src.still_current() {
        Ok(()) => Ok(()),
        Err(new) => Err(IndexError::RingReplaced {
            old: src.identity.ring_id,
            new: match new {
                Some(id) => format!("it is now ring {:016x}", id.ring_id),
                None => "it is gone".into(),
            },
            next_seq: batch.to.next_seq,
            path: cfg.ring.clone(),
        }),
    }
}

/// Folds one block into the batch.
fn apply(batch: &mut Batch, block: &Block, ring_id: u64, stats: &mut Stats) {
    let mut row = BlockRow {
        height: block.height,
        begin_seq: block.begin_seq,
        commit_seq: block.commit_seq,
        events: block.events.len() as u64,
        ..BlockRow::default()
    };
    for ev in &block.events {
        match ev.event() {
            EventRef::MappingUpdate {
                block_height,
                program_id,
                mapping_name,
                key,
                value,
                ..
            } => {
                row.mapping_updates += 1;
                batch.set(program_id, mapping_name, key, value, block_height, ev.seq);
            }
            EventRef::MappingRemoval {
                program_id,
                mapping_name,
                key,
                ..
            } => {
                row.mapping_removals += 1;
                batch.remove(program_id, mapping_name, key);
            }
            EventRef::StakingReward {
                block_height,
                ordinal,
                staker,
                validator,
                reward,
                new_stake,
            } => {
                row.staking_rewards += 1;
                batch.rewards.push(RewardRow {
                    height: block_height,
                    ordinal: ordinal as u64,
                    seq: ev.seq,
                    staker: staker.to_vec(),
                    validator: validator.to_vec(),
                    reward,
                    new_stake,
                });
            }
            EventRef::Block { block, .. } => row.block_bytes += block.len() as u64,
            EventRef::BlockBegin { .. } | EventRef::BlockCommit { .. } => {}
        }
    }
    stats.blocks += 1;
    stats.events += row.events;
    stats.mapping_events += row.mapping_updates + row.mapping_removals;
    batch.events += row.events;
    batch.to = Position {
        ring_id,
        next_seq: block.commit_seq + 1,
        height: block.height,
    };
    batch.blocks.push(row);
}

fn flush(
    store: &mut dyn Store,
    batch: &mut Batch,
    stats: &mut Stats,
    on_commit: &mut dyn FnMut(&Batch),
) -> Result<(), IndexError> {
    if batch.is_empty() {
        return Ok(());
    }
    batch.timing.write_begun = Some(Instant::now());
    let times = store.write(batch)?;
    batch.timing.rows = times.rows;
    batch.timing.commit = times.commit;
    batch.timing.pages_written = times.pages_written;
    stats.transactions += 1;
    stats.gaps += batch.gaps.len() as u64;
    on_commit(batch);
    let to = batch.to;
    batch.restart(to);
    Ok(())
}
