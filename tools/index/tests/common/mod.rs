//! What the indexer's tests share: a simulated node in a thread, the indexer
//! binary as a child, the reference state computed from the stream with the
//! consumer SDK, and the comparison of every row.
#![allow(dead_code)]

pub mod scenarios;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use slipstream_consumer::{Block, BlockItem, Consumer, EventRef, Start};
use slipstream_index::db::{self, BlockRow, Dump, RewardRow, ValueRow};
use slipstream_tools::sim::SimArgs;

#[derive(Parser)]
struct SimCli {
    #[command(flatten)]
    args: SimArgs,
}

/// Runs `slipstream-sim RING ARGS...` to completion (in this process).
pub fn sim(ring: &Path, args: &[&str]) {
    let mut argv = vec![
        "slipstream-sim".to_string(),
        ring.display().to_string(),
        "--quiet".into(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    let cli = SimCli::try_parse_from(argv).expect("sim arguments");
    let code = slipstream_tools::sim::run(cli.args).expect("slipstream-sim");
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::SUCCESS)
    );
}

/// Runs the simulator in a thread.
pub fn sim_thread(ring: &Path, args: &[&str]) -> std::thread::JoinHandle<()> {
    let ring = ring.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || {
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        sim(&ring, &a)
    })
}

/// The indexer binary.
pub fn indexer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_slipstream-index"))
}

/// Runs the indexer until it has been idle for 400 ms; returns (success, stderr).
pub fn index_until_idle(ring: &Path, url: &str, extra: &[&str]) -> (bool, String) {
    let child = indexer()
        .arg(ring)
        .args(["--db", url, "--exit-when-idle", "400ms", "-q"])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn slipstream-index");
    let mut guard = slipstream_tests::ChildGuard::new(child);
    guard.wait_timeout(Duration::from_secs(120), "slipstream-index");
    let out = guard.take().wait_with_output().expect("indexer output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (program, mapping, key).
type RowKey = (Vec<u8>, Vec<u8>, Vec<u8>);

/// The state the database must hold, computed from the blocks.
#[derive(Default, Clone)]
pub struct Reference {
    values: BTreeMap<RowKey, (Vec<u8>, u64, u64)>,
    rewards: Vec<RewardRow>,
    blocks: Vec<BlockRow>,
    /// The position after the last block applied.
    pub next_seq: u64,
}

impl Reference {
    /// Applies one block, event by event, in the most naive way.
    pub fn apply(&mut self, b: &Block) {
        let mut row = BlockRow {
            height: b.height,
            begin_seq: b.begin_seq,
            commit_seq: b.commit_seq,
            events: b.events.len() as u64,
            ..BlockRow::default()
        };
        for ev in &b.events {
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
                    self.values.insert(
                        (program_id.to_vec(), mapping_name.to_vec(), key.to_vec()),
                        (value.to_vec(), block_height, ev.seq),
                    );
                }
                EventRef::MappingRemoval {
                    program_id,
                    mapping_name,
                    key,
                    ..
                } => {
                    row.mapping_removals += 1;
                    match key {
                        Some(k) => {
                            self.values.remove(&(
                                program_id.to_vec(),
                                mapping_name.to_vec(),
                                k.to_vec(),
                            ));
                        }
                        None => self
                            .values
                            .retain(|(p, m, _), _| !(p == program_id && m == mapping_name)),
                    }
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
                    self.rewards.push(RewardRow {
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
                _ => panic!("a marker inside a block"),
            }
        }
        self.blocks.push(row);
        self.next_seq = b.commit_seq + 1;
    }

    /// Applies every committed block of the ring from sequence `from` (or
    /// its oldest) to its end, stopping before `until` if given; panics on a lag.
    pub fn read_ring(&mut self, ring: &Path, from: Option<u64>, until: Option<u64>) {
        let start = from.map_or(Start::Oldest, Start::Seq);
        let mut c = Consumer::builder(ring)
            .start(start)
            .open()
            .expect("attach the reference reader");
        let end = slipstream_tests::next_seq(ring);
        let mut seen_block = false;
        while c.next_seq() < end {
            match c
                .next_block(Duration::from_millis(200))
                .expect("read the ring")
            {
                Some(BlockItem::Block(b)) => {
                    seen_block = true;
                    if until.is_some_and(|u| b.commit_seq >= u) {
                        return;
                    }
                    self.apply(&b)
                }
                // Started at the oldest record of a lapped ring: the block it
                // falls in is partial, and the SDK reports it (delivery
                // contract) before the first whole block.
                Some(BlockItem::Lagged(l)) if from.is_none() && !seen_block && l.first_partial => {}
                Some(BlockItem::Lagged(l)) => panic!("the reference reader was lapped: {l:?}"),
                Some(_) => {}
                None => break,
            }
        }
    }

    /// The rows the database must hold (no gaps).
    pub fn dump(&self) -> Dump {
        Dump {
            values: self
                .values
                .iter()
                .map(|((p, m, k), (v, h, s))| ValueRow {
                    program: p.clone(),
                    mapping: m.clone(),
                    key: k.clone(),
                    value: v.clone(),
                    height: *h,
                    seq: *s,
                })
                .collect(),
            rewards: self.rewards.clone(),
            blocks: self.blocks.clone(),
            gaps: Vec::new(),
        }
    }
}

/// Every row of the database at `url`.
pub fn dump(url: &str) -> Dump {
    db::open(url, &Default::default())
        .expect("open the database")
        .dump()
        .expect("dump")
}

/// Compares every row, with a message naming the first difference.
pub fn assert_same(got: &Dump, want: &Dump) {
    fn first<T: PartialEq + std::fmt::Debug>(what: &str, got: &[T], want: &[T]) {
        if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
            panic!(
                "{what} row {i} differs:\n  database:  {:?}\n  reference: {:?}",
                got[i], want[i]
            );
        }
        assert_eq!(
            got.len(),
            want.len(),
            "{what}: {} rows in the database, {} in the reference",
            got.len(),
            want.len()
        );
    }
    first("blocks", &got.blocks, &want.blocks);
    first("mapping_values", &got.values, &want.values);
    first("staking_rewards", &got.rewards, &want.rewards);
    first("gaps", &got.gaps, &want.gaps);
    assert!(
        !want.blocks.is_empty(),
        "the reference has no blocks: the test checked nothing"
    );
}

/// The database's position (`next_seq`).
pub fn position(url: &str) -> Option<db::Position> {
    db::open(url, &Default::default())
        .expect("open the database")
        .position()
        .expect("position")
}

/// A temp dir removed on drop: the tests' one (`slipstream_testkit`).
pub use slipstream_tests::TempDir;

/// Where a test's SQLite database lives in its temp dir.
pub trait SqliteIn {
    /// `sqlite:DIR/index.db`.
    fn sqlite_url(&self) -> String;
}

impl SqliteIn for TempDir {
    fn sqlite_url(&self) -> String {
        format!("sqlite:{}", self.path().join("index.db").display())
    }
}

/// Rows left in SQLite's `mapping_values_recent` (blocks committed and not
/// yet settled); `None` for PostgreSQL.
pub fn unsettled_rows(url: &str) -> Option<i64> {
    let path = url.strip_prefix("sqlite:")?;
    let c = rusqlite::Connection::open(path).ok()?;
    c.query_row("SELECT COUNT(*) FROM mapping_values_recent", [], |r| {
        r.get(0)
    })
    .ok()
}

/// The kill loop: starts the indexer, SIGKILLs it after a random 20..180 ms,
/// `kills` times, while `node` (the simulator's thread) runs; then lets it
/// finish and catch up. Returns (kills, kills while the node was writing,
/// kills that left unsettled recent rows (SQLite)).
pub fn kill_loop(
    ring: &Path,
    url: &str,
    kills: u32,
    node: std::thread::JoinHandle<()>,
    seed: u64,
) -> (u32, u32, u32) {
    let mut rng = slipstream_testkit::rng::Rng::new(seed);
    let mut while_writing = 0;
    let mut unsettled = 0;
    for _ in 0..kills {
        let child = indexer()
            .arg(ring)
            .args(["--db", url, "-q", "--wait-for-ring", "5s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn slipstream-index");
        let guard = slipstream_tests::ChildGuard::new(child);
        std::thread::sleep(Duration::from_millis(20 + rng.below(160)));
        if !node.is_finished() {
            while_writing += 1;
        }
        drop(guard); // SIGKILL, reap
        if unsettled_rows(url).is_some_and(|n| n > 0) {
            unsettled += 1;
        }
    }
    let t = Instant::now();
    node.join().expect("the simulator");
    assert!(t.elapsed() < Duration::from_secs(60));
    (kills, while_writing, unsettled)
}

/// How many kills a kill-loop test makes: `SLIPSTREAM_INDEX_KILLS`, default 30.
pub fn kills() -> u32 {
    std::env::var("SLIPSTREAM_INDEX_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}
