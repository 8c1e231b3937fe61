//! The indexer's benchmark: catch-up throughput and caught-up delay, into
//! SQLite and into a real PostgreSQL server started for the run.
//!
//! ```text
//! cargo bench -p slipstream-index --bench index -- [--blocks 1000] [--reps 5]
//!     [--latency-blocks 300] [--rate 20] [--only sqlite|postgres]
//!     [--latency-events 200..2000] [--sqlite-full-sync]
//! ```
//!
//! - Catch-up: `slipstream-sim --flat-out` (its default, realistic mix: 200 to
//!   2000 events per block, 32 to 256 KiB block payloads) fills a ring with
//!   `--blocks` blocks; then, `--reps` times, a fresh database indexes the
//!   whole ring (the library's `run`, as the binary does) and the time to the
//!   last commit is taken.
//! - Caught up: a node thread publishes blocks of the same generator through
//!   the real producer at `--rate` blocks/s (waking readers at each commit
//!   marker) and notes when each `commit_block()` was called (just before
//!   the marker is published; an upper bound of the delay); the indexer,
//!   caught up, notes when the transaction holding that block committed. The
//!   difference per block goes into an HDR histogram.
//!
//! PostgreSQL runs with its default durability (fsync on, synchronous_commit
//! on); SQLite in WAL mode with synchronous=NORMAL (the tool's default), or
//! FULL with `--sqlite-full-sync`.
//!
//! The caught-up delay is also printed in parts, per one-block transaction:
//! published -> the block read whole by the indexer (the wake and the read),
//! read -> BEGIN (folding it into a batch), BEGIN -> before COMMIT (the rows
//! and the position), and the COMMIT.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use slipstream_index::{db, run, Config};

#[path = "../tests/common/mod.rs"]
mod common;

/// As the binary opens it (`--sqlite-full-sync`: as with `--sqlite-sync full`).
fn options() -> db::Options {
    db::Options {
        sqlite_full_sync: std::env::args().any(|a| a == "--sqlite-full-sync"),
        sqlite_checkpointer: true,
        must_exist: false,
    }
}
use slipstream_event::EventRef;
use slipstream_producer::{Layout, Producer, ProducerOptions};
use slipstream_tools::sim::{Generator, SimArgs};

#[derive(Parser)]
struct SimCli {
    #[command(flatten)]
    args: SimArgs,
}

struct Opts {
    blocks: u64,
    reps: usize,
    latency_blocks: u64,
    rate: f64,
    events: String,
    only: Option<String>,
}

fn opts() -> Opts {
    let mut o = Opts {
        blocks: 1000,
        reps: 5,
        latency_blocks: 300,
        rate: 20.0,
        events: "200..2000".into(),
        only: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--blocks" => o.blocks = v.parse().expect("--blocks N"),
            "--reps" => o.reps = v.parse().expect("--reps N"),
            "--latency-blocks" => o.latency_blocks = v.parse().expect("--latency-blocks N"),
            "--rate" => o.rate = v.parse().expect("--rate R"),
            "--only" => o.only = Some(v),
            "--latency-events" => o.events = v,
            _ => {
                i += 1; // cargo's own flags (--bench)
                continue;
            }
        }
        i += 2;
    }
    o
}

fn median_range(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    format!(
        "median {:.0} (range {:.0} to {:.0}, {} runs)",
        v[v.len() / 2],
        v[0],
        v[v.len() - 1],
        v.len()
    )
}

/// One catch-up run: a fresh database indexes the ring to `end`.
fn catch_up(url: &str, ring: &Path, end: u64) -> (Duration, slipstream_index::Stats) {
    let mut store = db::open(url, &options()).expect("open the database");
    let cfg = Config::new(ring);
    let done = std::cell::Cell::new(false);
    let t = Instant::now();
    let mut last = t;
    let stats = run(&mut *store, &cfg, &mut || done.get(), &mut |b| {
        last = Instant::now();
        if b.to.next_seq >= end {
            done.set(true);
        }
    })
    .expect("index");
    (last - t, stats)
}

/// The node thread of the delay run: publishes `blocks` blocks at `rate`,
/// noting when each commit returned.
fn node(
    ring: &Path,
    blocks: u64,
    rate: f64,
    events: slipstream_tools::text::Range,
    stamps: Arc<Mutex<HashMap<u64, Instant>>>,
) -> std::thread::JoinHandle<()> {
    let ring = ring.to_path_buf();
    std::thread::spawn(move || {
        let options = ProducerOptions {
            layout: Layout::new(256 << 20).max_payload(4 << 20),
            ..ProducerOptions::default()
        };
        let mut p = Producer::open(&ring, options).expect("producer");
        let mut g = Generator::new(1, 256 << 10);
        let start_height = 1_000_000;
        let t0 = Instant::now();
        for i in 0..blocks {
            let due = t0 + Duration::from_secs_f64(i as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let h = start_height + i;
            g.start_block(h);
            let n = g.draw(events);
            let stakers = g.draw("5..50".parse().expect("range")).min((n - 1) / 2);
            let len = g
                .draw(slipstream_tools::text::Range::parse_sizes("32KiB..256KiB").expect("sizes"))
                as usize;
            p.begin_block(h).expect("begin");
            for o in 0..(n - 1 - stakers) {
                match g.mapping_event(h, o as u32 + 1) {
                    EventRef::MappingUpdate {
                        program_id,
                        mapping_name,
                        key,
                        value,
                        ..
                    } => {
                        p.mapping_update_at(h, program_id, mapping_name, key, value)
                            .expect("publish");
                    }
                    EventRef::MappingRemoval {
                        program_id,
                        mapping_name,
                        key,
                        ..
                    } => {
                        p.mapping_removal_at(h, program_id, mapping_name, key)
                            .expect("publish");
                    }
                    _ => unreachable!(),
                }
            }
            for _ in 0..stakers {
                let (s, v, r, ns) = g.staking_reward(h);
                p.staking_reward_at(h, &s, &v, r, ns).expect("publish");
            }
            p.block_at(h, g.block(len)).expect("publish");
            // Stamped before the call that publishes the marker (and wakes
            // the indexer): a stamp taken after it can come late when the
            // woken indexer takes this thread's core, which made the delay
            // look shorter (p50 0.00 ms from publish to read, once).
            let t = Instant::now();
            p.commit_block().expect("commit");
            stamps.lock().expect("stamps").insert(h, t);
        }
        // The producer is dropped (its 256 MiB mapping unmapped) only after
        // the indexer has taken the last block: dropped at once, the last
        // block was read 2-3 ms late in every run (the unmapping stalls the
        // other threads of this one process, probably its TLB shootdown; a
        // node is another process).
        std::thread::sleep(Duration::from_secs_f64(2.0 / rate));
        drop(p);
    })
}

/// The histograms of one delay run, per block (nanoseconds).
struct Delays {
    /// Commit marker published -> the transaction holding the block committed.
    total: Histogram<u64>,
    /// Published -> the indexer had read the block whole.
    seen: Histogram<u64>,
    /// Read -> the transaction began (folding the block into a batch).
    fold: Histogram<u64>,
    /// BEGIN -> just before COMMIT (rows and position).
    rows: Histogram<u64>,
    /// The COMMIT.
    commit: Histogram<u64>,
    /// SQLite: pages (WAL frames) the transaction wrote.
    pages: Histogram<u64>,
    /// The slowest one-block transactions: delay, height, rows, and the
    /// delay's parts (read, fold, rows, COMMIT).
    slowest: Vec<(u64, u64, usize, [u64; 4])>,
    /// Rows of `mapping_values` the transaction wrote (keys after folding).
    keys: Histogram<u64>,
}

/// One delay run: the indexer follows a live node; per block, commit marker to DB commit.
fn delay(url: &str, ring: &Path, blocks: u64, rate: f64, events: &str) -> (Delays, u64) {
    let _ = std::fs::remove_file(ring);
    let stamps = Arc::new(Mutex::new(HashMap::new()));
    let node = node(
        ring,
        blocks,
        rate,
        events.parse().expect("--latency-events MIN..MAX"),
        stamps.clone(),
    );
    let mut store = db::open(url, &options()).expect("open the database");
    let mut cfg = Config::new(ring);
    cfg.wait_for_ring = Duration::from_secs(10);
    let h = || Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let mut d = Delays {
        total: h(),
        seen: h(),
        fold: h(),
        rows: h(),
        commit: h(),
        pages: h(),
        keys: h(),
        slowest: Vec::new(),
    };
    let ns = |d: Duration| d.as_nanos().max(1) as u64;
    let seen = std::cell::Cell::new(0u64);
    let mut multi = 0u64;
    // Per block: (height, when its transaction committed, the one-block
    // transaction's timing and row count). Matched with the node's stamps
    // after the run: the indexer can commit a block before the node thread
    // has noted its stamp.
    type Commit = (u64, Instant, Option<(db::Timing, usize)>);
    let mut commits: Vec<Commit> = Vec::new();
    run(&mut *store, &cfg, &mut || seen.get() >= blocks, &mut |b| {
        let now = Instant::now();
        if b.blocks.len() > 1 {
            multi += 1;
        }
        for k in &b.blocks {
            seen.set(seen.get() + 1);
            let one = (b.blocks.len() == 1).then(|| (b.timing, b.mapping_rows()));
            commits.push((k.height, now, one));
        }
    })
    .expect("index");
    node.join().expect("node");
    let stamps = stamps.lock().expect("stamps");
    // Skip warm-up: the first 10 blocks.
    for (height, now, one) in commits.into_iter().skip(10) {
        let t = *stamps.get(&height).expect("the node stamped every block");
        let total = ns(now.saturating_duration_since(t));
        d.total.saturating_record(total);
        if let Some((timing, rows)) = one {
            let read = timing.last_block_read.expect("a block was read");
            let begun = timing.write_begun.expect("written");
            let parts = [
                ns(read.saturating_duration_since(t)),
                ns(begun.saturating_duration_since(read)),
                ns(timing.rows),
                ns(timing.commit),
            ];
            d.slowest.push((total, height, rows, parts));
            d.seen.saturating_record(parts[0]);
            d.fold.saturating_record(parts[1]);
            d.rows.saturating_record(parts[2]);
            d.commit.saturating_record(parts[3]);
            if let Some(p) = timing.pages_written {
                d.pages.saturating_record(p.max(1));
            }
            d.keys.saturating_record(rows.max(1) as u64);
        }
    }
    drop(stamps);
    d.slowest.sort_unstable_by(|a, b| b.cmp(a));
    d.slowest.truncate(5);
    (d, multi)
}

/// Makes a fresh, empty database for run `i`; returns its URL.
type FreshDb = Box<dyn Fn(usize) -> String>;

fn us(ns: u64) -> String {
    format!("{:.2} ms", ns as f64 / 1e6)
}

fn main() {
    let o = opts();
    let tmp = std::env::temp_dir().join(format!("slipstream-index-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let ring = slipstream_tests::TempRing::new("index-bench");
    let want = |b: &str| o.only.as_deref().is_none_or(|x| x == b);

    // Fill the ring with the simulator's default mix.
    let argv = [
        "slipstream-sim".to_string(),
        ring.path().display().to_string(),
        "--flat-out".into(),
        "--quiet".into(),
        "--blocks".into(),
        o.blocks.to_string(),
        "--capacity".into(),
        "1GiB".into(),
    ];
    let t = Instant::now();
    slipstream_tools::sim::run(SimCli::parse_from(argv).args).expect("slipstream-sim");
    let end = slipstream_tests::next_seq(ring.path());
    println!(
        "ring: {} blocks, {} events, written by slipstream-sim in {:.1} s",
        o.blocks,
        end - 1,
        t.elapsed().as_secs_f64()
    );

    let pg = (want("postgres")).then(|| slipstream_tests::PgServer::start("bench", &[]));
    let mut backends: Vec<(&str, FreshDb)> = Vec::new();
    if want("sqlite") {
        let tmp = tmp.clone();
        backends.push((
            "sqlite",
            Box::new(move |i| {
                let p = tmp.join(format!("bench-{i}.db"));
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
                }
                format!("sqlite:{}", p.display())
            }),
        ));
    }
    if let Some(pg) = &pg {
        let url = pg.url("postgres");
        let admin = format!(
            "host={} user=postgres dbname=postgres",
            pg.socket_dir().display()
        );
        backends.push((
            "postgres",
            Box::new(move |i| {
                let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("admin");
                let name = format!("bench{i}");
                c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                    .expect("drop db");
                c.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create db");
                url.replace("postgres:///postgres", &format!("postgres:///{name}"))
            }),
        ));
    }

    for (name, fresh) in &backends {
        let (mut upd, mut ev, mut blk, mut tx) = (vec![], vec![], vec![], vec![]);
        for rep in 0..o.reps {
            let (d, s) = catch_up(&fresh(rep), ring.path(), end);
            let secs = d.as_secs_f64();
            upd.push(s.mapping_events as f64 / secs);
            ev.push(s.events as f64 / secs);
            blk.push(s.blocks as f64 / secs);
            tx.push(s.transactions as f64);
        }
        println!("catch-up {name}: mapping events/s {}", median_range(upd));
        println!("catch-up {name}: events/s {}", median_range(ev));
        println!("catch-up {name}: blocks/s {}", median_range(blk));
        println!("catch-up {name}: transactions per run {}", median_range(tx));
    }
    for (name, fresh) in &backends {
        let url = fresh(100);
        let ring = slipstream_tests::TempRing::new("index-bench-live");
        let busy_before = db::busy_waits();
        let (d, multi) = delay(&url, ring.path(), o.latency_blocks, o.rate, &o.events);
        let busy = db::busy_waits() - busy_before;
        // What was measured must also be right: every row against the
        // reference computed from the ring (the tests' naive one).
        let mut want = common::Reference::default();
        want.read_ring(ring.path(), None, None);
        common::assert_same(&common::dump(&url), &want.dump());
        println!(
            "caught up {name}: the database equals the reference computed from the ring, every row"
        );
        let h = &d.total;
        println!(
            "caught up {name}: commit marker -> DB commit over {} blocks of {} events at {} blocks/s: p50 {}, p90 {}, p99 {}, max {} ({} transactions held more than one block)",
            h.len(),
            o.events,
            o.rate,
            us(h.value_at_quantile(0.5)),
            us(h.value_at_quantile(0.9)),
            us(h.value_at_quantile(0.99)),
            us(h.max()),
            multi
        );
        for (part, h) in [
            ("published -> block read", &d.seen),
            ("read -> BEGIN (fold)", &d.fold),
            ("BEGIN -> before COMMIT (rows)", &d.rows),
            ("COMMIT", &d.commit),
        ] {
            println!(
                "caught up {name}:   {part}: p50 {}, p90 {}, p99 {}, max {} ({} one-block transactions)",
                us(h.value_at_quantile(0.5)),
                us(h.value_at_quantile(0.9)),
                us(h.value_at_quantile(0.99)),
                us(h.max()),
                h.len()
            );
        }
        for (what, h) in [
            ("mapping_values rows written per block", &d.keys),
            ("pages (WAL frames) written per block", &d.pages),
        ] {
            if !h.is_empty() {
                println!(
                    "caught up {name}:   {what}: mean {:.0}, p50 {}, p90 {}, p99 {}, max {}",
                    h.mean(),
                    h.value_at_quantile(0.5),
                    h.value_at_quantile(0.9),
                    h.value_at_quantile(0.99),
                    h.max()
                );
            }
        }
        for (total, height, rows, [seen, fold, rows_t, commit]) in &d.slowest {
            println!(
                "caught up {name}:   slow block {height}: {} = read {} + fold {} + rows {} + COMMIT {} ({rows} rows)",
                us(*total),
                us(*seen),
                us(*fold),
                us(*rows_t),
                us(*commit)
            );
        }
        if let Some(path) = url.strip_prefix("sqlite:") {
            println!(
                "caught up {name}:   statements that found the database locked and waited: {busy}"
            );
            table_shapes(path);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// How the mapping tables of the SQLite file at `path` lie on pages (leaf
/// pages, rows, rows per leaf), from SQLite's `dbstat` table. (A `WITHOUT
/// ROWID` table is an index B-tree: its interior pages hold rows too.)
fn table_shapes(path: &str) {
    let c = rusqlite::Connection::open(path).expect("open the bench database");
    let mut st = c
        .prepare(
            "SELECT name, SUM(pagetype = 'leaf'), SUM(pagetype = 'internal'), SUM(ncell)
             FROM dbstat WHERE name LIKE 'mapping_values%' GROUP BY name ORDER BY name",
        )
        .expect("dbstat");
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .expect("dbstat")
        .collect::<Result<Vec<_>, _>>()
        .expect("dbstat rows");
    for (name, leaves, internal, cells) in rows {
        println!(
            "after the run: {name}: {cells} rows on {leaves} leaf pages ({:.1} rows a leaf), {internal} interior pages",
            cells as f64 / leaves.max(1) as f64
        );
    }
}
