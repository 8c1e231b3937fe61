//! `slipstream-sim`: a simulated snarkOS node that finalizes blocks into a ring.
//!
//! Each block is published as a node's Slipstream hook would: a begin marker,
//! the block's mapping updates and removals (token programs: `credits.aleo`,
//! `token_registry.aleo`, a few DEX-like programs), its staking rewards, the
//! block itself (tens to hundreds of KiB), and the commit marker. Everything is
//! pseudo-random but deterministic from `--seed` and the block height.
//!
//! The hot loop reuses its buffers: publishing an event allocates nothing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use hdrhistogram::Histogram;
use slipstream_consumer::{Consumer, Item, KindSet, Start};
use slipstream_event::EventRef;
use slipstream_producer::{
    parse_duration, parse_size, resolve_ring_path, ParseWakeError, Producer, ProducerError,
    ProducerOptions, Wake,
};
use slipstream_ring::{FileMode, Layout, LayoutError, OpenError, ParseModeError};
use slipstream_testkit::rng::{self as splitmix, mix};

use crate::cli;
use crate::text::{self, Range};

/// A simulated snarkOS node: finalizes blocks of realistic events into a ring.
///
/// Per block: a begin marker; token-program mapping updates (credits.aleo
/// account/bonded/delegated/unbonding, token_registry.aleo balances, DEX pools
/// and orders; 32-byte keys, u64/u128 little-endian or small struct values), a
/// few mapping removals (some of a whole mapping); staking rewards; the block
/// itself (pseudo-random bytes); and the commit marker. Deterministic from
/// --seed. Prints a summary line to stderr every --report-every.
///
/// Ctrl-C (or SIGTERM) commits the open block and exits 0.
#[derive(Args, Debug, Clone)]
#[command(
    args_override_self = true,
    after_help = "Examples:
  slipstream-sim node-events                          # 2 blocks/s until Ctrl-C
  slipstream-sim node-events --rate 10 --duration 30s
  slipstream-sim /dev/shm/bench --flat-out --blocks 1000 --recreate"
)]
pub struct SimArgs {
    /// The ring: a bare name (no `/`) is a file under /dev/shm; anything else
    /// is a path. Created if it does not exist; an existing ring is resumed
    /// (events go on with the next sequence number, blocks with the next height).
    #[arg(value_name = "RING")]
    pub ring: PathBuf,

    /// Blocks finalized per second (fractions allowed: 0.5 is one block every 2 s).
    #[arg(long, value_name = "BLOCKS_PER_SEC", default_value_t = 2.0)]
    pub rate: f64,

    /// Publish as fast as possible, without pacing (ignores --rate).
    #[arg(long)]
    pub flat_out: bool,

    /// Stop after N blocks. Default: run until Ctrl-C (or --duration).
    #[arg(long, value_name = "N")]
    pub blocks: Option<u64>,

    /// Stop after this long, e.g. `15s`, `500ms`, `10m` (units: ns, us, ms, s, m, h, d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Events per block (markers excluded), `N` or `MIN..MAX`, drawn per block.
    /// Every block has one `block` event and its staking rewards among them.
    #[arg(long, value_name = "N|MIN..MAX", default_value = "200..2000")]
    pub events_per_block: Range,

    /// Staking rewards per block, `N` or `MIN..MAX` (at most half of the
    /// block's events, so that mapping events stay the bulk).
    #[arg(long, value_name = "N|MIN..MAX", default_value = "5..50")]
    pub stakers: Range,

    /// Size of each block's `block` event payload, `SIZE` or `MIN..MAX`, with
    /// units (B, KiB, MiB): pseudo-random bytes.
    #[arg(long, value_name = "SIZE|MIN..MAX", default_value = "32KiB..256KiB", value_parser = Range::parse_sizes)]
    pub block_size: Range,

    /// Seed of the pseudo-random events: the same seed gives the same events.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// Height of the first block. Default: after the newest block already in
    /// the ring, or 1 for a new ring.
    #[arg(long, value_name = "H")]
    pub start_height: Option<u64>,

    /// Data capacity of the ring when it is created, a power of two with units,
    /// e.g. `64MiB`, `1GiB`. Default: an existing ring's, else 64MiB. An
    /// existing ring of another capacity is refused (see --recreate).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub capacity: Option<u64>,

    /// Largest event payload the ring accepts when it is created, with units
    /// (a record must fit in a quarter of the capacity); must hold --block-size.
    /// Default: an existing ring's, else 4MiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_event: Option<u64>,

    /// When sleeping readers are woken: `block` (at each block's commit; the
    /// default), `event` (after every event), or `thread[:INTERVAL]` (a
    /// background thread checks every INTERVAL, default 200us).
    #[arg(long, value_name = "WHEN", default_value = "block", value_parser = parse_wake)]
    pub wake: Wake,

    /// Replace an existing ring of another layout, or one that cannot be read,
    /// with a new one (readers still mapping the old file are not hurt).
    #[arg(long)]
    pub recreate: bool,

    /// Publish only these event kinds (comma-separated; default all): the
    /// others are generated and dropped by the producer, as a node would.
    #[arg(long, value_name = "KINDS")]
    pub kinds: Option<KindSet>,

    /// Permission bits of a ring this creates, in octal (`640` lets the file's
    /// group read it).
    #[arg(long, value_name = "OCTAL", default_value = "600", value_parser = parse_mode)]
    pub mode: u32,

    /// How often a summary line is printed to stderr: every N blocks (`10`) or
    /// every DURATION (`2s`).
    #[arg(long, value_name = "N|DURATION", default_value = "2s")]
    pub report_every: ReportEvery,

    /// Print no summary lines (errors only).
    #[arg(long, short)]
    pub quiet: bool,
}

/// How often `slipstream-sim` prints a summary line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportEvery {
    /// Every N blocks.
    Blocks(u64),
    /// Every so long.
    Time(Duration),
}

impl FromStr for ReportEvery {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().parse::<u64>() {
            Ok(0) => Err("report every 0 blocks? use --quiet for no reports".into()),
            Ok(n) => Ok(ReportEvery::Blocks(n)),
            Err(_) => parse_duration(s)
                .map(ReportEvery::Time)
                .map_err(|e| e.to_string()),
        }
    }
}

/// Parses `block`, `event`, `thread` or `thread:INTERVAL`.
///
/// ```
/// use slipstream_producer::Wake;
/// use slipstream_tools::sim::parse_wake;
/// use std::time::Duration;
/// assert_eq!(parse_wake("block"), Ok(Wake::AtBlockEnd));
/// assert_eq!(parse_wake("thread:1ms"), Ok(Wake::Thread { interval: Duration::from_millis(1) }));
/// ```
pub fn parse_wake(s: &str) -> Result<Wake, ParseWakeError> {
    s.parse()
}

fn parse_mode(s: &str) -> Result<u32, ParseModeError> {
    s.parse::<FileMode>().map(FileMode::bits)
}

/// A small, fast, deterministic generator: SplitMix64, the one the tests use
/// too (`slipstream_testkit::rng`), with the draws the simulator needs.
#[derive(Clone, Debug)]
pub struct Rng(splitmix::Rng);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(splitmix::Rng::new(seed))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..n` (0 if `n` is 0).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }

    /// A number in the inclusive range.
    #[inline]
    pub fn range(&mut self, r: Range) -> u64 {
        match (r.max - r.min).checked_add(1) {
            Some(span) => r.min + self.below(span),
            None => self.next_u64(),
        }
    }

    /// True `per_mille` times in a thousand.
    #[inline]
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.0.chance(per_mille, 1000)
    }

    /// An index in `0..n`, skewed towards small indices (a few hot accounts,
    /// a long tail), as real balances are.
    #[inline]
    pub fn skewed(&mut self, n: u64) -> u64 {
        let u = self.below(1 << 20);
        (((u * u) >> 20) * n) >> 20
    }
}

/// The 32 bytes of identity `index` in a `space` (accounts, validators, pools,
/// tokens...): stands for an address or a field element.
#[inline]
fn ident(seed: u64, space: u64, index: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    let base = mix(seed ^ space.wrapping_mul(0x9e37_79b9_7f4a_7c15)) ^ index;
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(
            &mix(base.wrapping_add((i as u64).wrapping_mul(0x632b_e59b_d9b4_e019))).to_le_bytes(),
        );
    }
    out
}

/// Capacity of a ring the simulator creates, unless told otherwise.
const DEFAULT_CAPACITY: u64 = 64 << 20;
/// Largest event of a ring the simulator creates, unless told otherwise.
const DEFAULT_MAX_EVENT: u32 = 4 << 20;

const ACCOUNTS: u64 = 50_000;
const VALIDATORS: u64 = 32;
const TOKENS: u64 = 40;
const POOLS: u64 = 64;
const ORDERS: u64 = 5_000;

/// Identity spaces.
const SPACE_ACCOUNT: u64 = 1;
const SPACE_VALIDATOR: u64 = 2;
const SPACE_TOKEN: u64 = 3;
const SPACE_POOL: u64 = 4;
const SPACE_ORDER: u64 = 5;
const SPACE_BALANCE_KEY: u64 = 6;

/// What a mapping's keys are.
#[derive(Clone, Copy, Debug)]
enum Key {
    /// An account address.
    Account,
    /// A field element hashing a token id and an account.
    TokenAccount,
    /// A pool id.
    Pool,
    /// An order id.
    Order,
}

/// What a mapping's values are.
#[derive(Clone, Copy, Debug)]
enum Value {
    /// A `u64` amount (microcredits).
    U64,
    /// A `u128` amount.
    U128,
    /// `bonded`: validator address (32) + microcredits u64.
    Bonded,
    /// `unbonding`: microcredits u64 + unlock height u32.
    Unbonding,
    /// token_registry `Balance`: token_id (32) + account (32) + balance u128 + authorized_until u32.
    TokenBalance,
    /// A pool: reserve_a u128 + reserve_b u128 + fee u64 + last height u32.
    Pool,
    /// An order: owner (32) + amount u128 + price u128 + side u8.
    Order,
}

struct Mapping {
    program: &'static [u8],
    mapping: &'static [u8],
    /// Relative frequency of updates.
    weight: u64,
    key: Key,
    value: Value,
}

const MAPPINGS: &[Mapping] = &[
    Mapping {
        program: b"credits.aleo",
        mapping: b"account",
        weight: 40,
        key: Key::Account,
        value: Value::U64,
    },
    Mapping {
        program: b"credits.aleo",
        mapping: b"bonded",
        weight: 6,
        key: Key::Account,
        value: Value::Bonded,
    },
    Mapping {
        program: b"credits.aleo",
        mapping: b"delegated",
        weight: 3,
        key: Key::Account,
        value: Value::U64,
    },
    Mapping {
        program: b"credits.aleo",
        mapping: b"unbonding",
        weight: 2,
        key: Key::Account,
        value: Value::Unbonding,
    },
    Mapping {
        program: b"token_registry.aleo",
        mapping: b"balances",
        weight: 20,
        key: Key::TokenAccount,
        value: Value::TokenBalance,
    },
    Mapping {
        program: b"token_registry.aleo",
        mapping: b"authorized_balances",
        weight: 6,
        key: Key::TokenAccount,
        value: Value::TokenBalance,
    },
    Mapping {
        program: b"arcane_finance_v3.aleo",
        mapping: b"pools",
        weight: 5,
        key: Key::Pool,
        value: Value::Pool,
    },
    Mapping {
        program: b"arcane_finance_v3.aleo",
        mapping: b"orders",
        weight: 3,
        key: Key::Order,
        value: Value::Order,
    },
    Mapping {
        program: b"alphaswap_v1.aleo",
        mapping: b"reserves",
        weight: 5,
        key: Key::Pool,
        value: Value::Pool,
    },
    Mapping {
        program: b"pondo_protocol.aleo",
        mapping: b"balances",
        weight: 4,
        key: Key::Account,
        value: Value::U128,
    },
    Mapping {
        program: b"wrapped_credits.aleo",
        mapping: b"balances",
        weight: 3,
        key: Key::Account,
        value: Value::U128,
    },
];

/// Indices into [`MAPPINGS`] of the mappings entries are removed from:
/// withdrawn unbondings, fully unbonded stakes, filled orders, revoked approvals.
const REMOVABLE: &[usize] = &[3, 1, 7, 5];

/// Removals per thousand mapping events.
const REMOVALS_PER_MILLE: u64 = 30;
/// Removals of a whole mapping per thousand removals.
const WHOLE_MAPPING_PER_MILLE: u64 = 40;

/// Generates the events of blocks into reused buffers.
pub struct Generator {
    seed: u64,
    rng: Rng,
    /// Cumulative weights of [`MAPPINGS`].
    cumulative: Vec<u64>,
    key: [u8; 32],
    value: [u8; 96],
    block: Vec<u8>,
}

impl Generator {
    /// A generator for `seed`, with room for blocks of up to `max_block` bytes.
    pub fn new(seed: u64, max_block: usize) -> Generator {
        let mut total = 0;
        let cumulative = MAPPINGS
            .iter()
            .map(|m| {
                total += m.weight;
                total
            })
            .collect();
        Generator {
            seed,
            rng: Rng::new(seed),
            cumulative,
            key: [0; 32],
            value: [0; 96],
            block: vec![0; max_block],
        }
    }

    /// Starts block `height`: the rest of its events are drawn from here.
    pub fn start_block(&mut self, height: u64) {
        self.rng = Rng::new(mix(self.seed ^ mix(height)));
    }

    fn pick_mapping(&mut self) -> usize {
        let total = *self.cumulative.last().expect("mappings");
        let x = self.rng.below(total);
        self.cumulative.partition_point(|&c| c <= x)
    }

    fn fill_key(&mut self, key: Key) {
        self.key = match key {
            Key::Account => ident(self.seed, SPACE_ACCOUNT, self.rng.skewed(ACCOUNTS)),
            Key::TokenAccount => {
                let token = self.rng.skewed(TOKENS);
                let account = self.rng.skewed(ACCOUNTS);
                ident(self.seed, SPACE_BALANCE_KEY, token << 32 | account)
            }
            Key::Pool => ident(self.seed, SPACE_POOL, self.rng.skewed(POOLS)),
            Key::Order => ident(self.seed, SPACE_ORDER, self.rng.below(ORDERS)),
        };
    }

    /// Writes a value into the value buffer; returns its length.
    fn fill_value(&mut self, value: Value, height: u64) -> usize {
        let r = &mut self.rng;
        let v = &mut self.value;
        let mut put = |at: usize, bytes: &[u8]| v[at..at + bytes.len()].copy_from_slice(bytes);
        match value {
            Value::U64 => {
                put(0, &r.below(1 << 44).to_le_bytes());
                8
            }
            Value::U128 => {
                put(0, &(r.below(1 << 60) as u128 * 1_000).to_le_bytes());
                16
            }
            Value::Bonded => {
                put(0, &ident(self.seed, SPACE_VALIDATOR, r.below(VALIDATORS)));
                put(32, &(10_000_000_000 + r.below(1 << 40)).to_le_bytes());
                40
            }
            Value::Unbonding => {
                put(0, &r.below(1 << 40).to_le_bytes());
                put(8, &((height + 360) as u32).to_le_bytes());
                12
            }
            Value::TokenBalance => {
                put(0, &ident(self.seed, SPACE_TOKEN, r.skewed(TOKENS)));
                put(32, &ident(self.seed, SPACE_ACCOUNT, r.skewed(ACCOUNTS)));
                put(64, &(r.below(1 << 62) as u128).to_le_bytes());
                put(80, &u32::MAX.to_le_bytes());
                84
            }
            Value::Pool => {
                put(0, &((r.below(1 << 50) as u128) << 20).to_le_bytes());
                put(16, &((r.below(1 << 50) as u128) << 20).to_le_bytes());
                put(32, &30u64.to_le_bytes());
                put(40, &(height as u32).to_le_bytes());
                44
            }
            Value::Order => {
                put(0, &ident(self.seed, SPACE_ACCOUNT, r.skewed(ACCOUNTS)));
                put(32, &(r.below(1 << 50) as u128).to_le_bytes());
                put(48, &(r.below(1 << 40) as u128).to_le_bytes());
                put(64, &[r.below(2) as u8]);
                65
            }
        }
    }

    /// The next mapping event of block `height`.
    pub fn mapping_event(&mut self, height: u64, ordinal: u32) -> EventRef<'_> {
        if self.rng.chance(REMOVALS_PER_MILLE) {
            let m = &MAPPINGS[REMOVABLE[self.rng.below(REMOVABLE.len() as u64) as usize]];
            let whole = self.rng.chance(WHOLE_MAPPING_PER_MILLE);
            if !whole {
                self.fill_key(m.key);
            }
            return EventRef::MappingRemoval {
                block_height: height,
                ordinal,
                program_id: m.program,
                mapping_name: m.mapping,
                key: (!whole).then_some(&self.key[..]),
            };
        }
        let m = &MAPPINGS[self.pick_mapping()];
        self.fill_key(m.key);
        let len = self.fill_value(m.value, height);
        EventRef::MappingUpdate {
            block_height: height,
            ordinal,
            program_id: m.program,
            mapping_name: m.mapping,
            key: &self.key,
            value: &self.value[..len],
        }
    }

    /// The next staking reward of block `height`: (staker, validator, reward, new stake).
    pub fn staking_reward(&mut self, height: u64) -> ([u8; 32], [u8; 32], u64, u64) {
        let staker_index = self.rng.skewed(ACCOUNTS);
        let validator = ident(self.seed, SPACE_VALIDATOR, staker_index % VALIDATORS);
        let staker = if staker_index < VALIDATORS {
            validator
        } else {
            ident(self.seed, SPACE_ACCOUNT, staker_index)
        };
        let reward = 1_000 + self.rng.below(20_000_000);
        // A stake that grows with the height, so that it looks cumulative.
        let new_stake = 10_000_000_000 + (mix(staker_index) >> 24) + height * 5_000 + reward;
        (staker, validator, reward, new_stake)
    }

    /// The bytes of a block, `len` long: pseudo-random, drawn from the
    /// block's own sequence (see [`start_block`](Self::start_block)).
    pub fn block(&mut self, len: usize) -> &[u8] {
        let buf = &mut self.block[..len];
        for chunk in buf.chunks_mut(8) {
            let word = self.rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        buf
    }

    /// Draws a number from a range (for event counts and sizes).
    pub fn draw(&mut self, r: Range) -> u64 {
        self.rng.range(r)
    }
}

/// Counters and latencies of one reporting period, or of the whole run.
struct Tally {
    since: Instant,
    blocks: u64,
    events: u64,
    bytes: u64,
    latency: Histogram<u64>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            since: Instant::now(),
            blocks: 0,
            events: 0,
            bytes: 0,
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 2)
                .expect("valid histogram bounds"),
        }
    }

    fn line(&self) -> String {
        let secs = self.since.elapsed().as_secs_f64().max(1e-9);
        let q = |q: f64| text::duration(Duration::from_nanos(self.latency.value_at_quantile(q)));
        let latency = if self.latency.is_empty() {
            String::new()
        } else {
            format!(
                " | publish p50 {}, p99 {}, p99.9 {}, max {}",
                q(0.5),
                q(0.99),
                q(0.999),
                text::duration(Duration::from_nanos(self.latency.max()))
            )
        };
        format!(
            "{} blocks, {} events, {} in {}: {:.0} events/s, {:.1} MB/s{latency}",
            self.blocks,
            self.events,
            text::size(self.bytes),
            text::duration(self.since.elapsed()),
            self.events as f64 / secs,
            self.bytes as f64 / secs / 1e6,
        )
    }

    fn add(&mut self, other: &Tally) {
        self.blocks += other.blocks;
        self.events += other.events;
        self.bytes += other.bytes;
        let _ = self.latency.add(&other.latency);
    }
}

/// Bytes a record of this event takes in the ring (header and alignment included).
#[inline]
fn record_bytes(ev: &EventRef<'_>) -> u64 {
    slipstream_ring::layout::record_len(ev.encoded_len() as u64)
}

/// The height after the newest block in the ring at `path`, if it holds one.
fn continue_height(path: &std::path::Path) -> Option<u64> {
    if !path.exists() {
        return None;
    }
    let mut c = Consumer::builder(path).start(Start::Newest).open().ok()?;
    match c.try_next() {
        Ok(Some(Item::Event(ev))) => Some(ev.event.block_height() + 1),
        _ => None,
    }
}

/// Runs `slipstream-sim`.
pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    cli::install_signal_handlers()?;
    let rate_ok = args.rate.is_finite() && args.rate > 0.0;
    if !args.flat_out && !rate_ok {
        bail!("--rate must be a positive number of blocks per second (or use --flat-out)");
    }
    if args.events_per_block.min == 0 {
        bail!("--events-per-block must be at least 1 (every block has its `block` event)");
    }
    let path = resolve_ring_path(&args.ring);
    // An existing ring keeps its layout unless asked otherwise.
    let existing = match args.recreate {
        true => None,
        false => crate::stat::read_header(&path, &args.ring)
            .ok()
            .map(|(_, _, geometry)| geometry.layout),
    };
    let mut layout =
        existing.unwrap_or(Layout::new(DEFAULT_CAPACITY).max_payload(DEFAULT_MAX_EVENT));
    if let Some(capacity) = args.capacity {
        layout.capacity = capacity;
    }
    if let Some(max_event) = args.max_event {
        layout.max_payload = u32::try_from(max_event)
            .ok()
            .filter(|&m| m > 0)
            .with_context(|| {
                format!("--max-event {max_event} is out of range (1 byte to 1 GiB)")
            })?;
    }
    let max_event = layout.max_payload;
    let block_overhead = EventRef::Block {
        block_height: 0,
        ordinal: 0,
        block: &[],
    }
    .encoded_len() as u64;
    if args.block_size.max + block_overhead > max_event as u64 {
        bail!(
            "--block-size up to {} does not fit in the ring's largest event of {} (--max-event; a block event adds {} bytes)",
            text::size(args.block_size.max),
            text::size(max_event as u64),
            block_overhead
        );
    }
    let start_height = match args.start_height {
        Some(h) => h,
        None if args.recreate => 1,
        None => continue_height(&path).unwrap_or(1),
    };
    let options = ProducerOptions {
        layout,
        mode: args.mode,
        recreate: args.recreate,
        wake: args.wake,
        kinds: args.kinds.unwrap_or(KindSet::all()),
        ..ProducerOptions::default()
    };
    let mut producer = Producer::open(&path, options).map_err(|e| {
        // Only a ring (of another layout or version) is replaced by --recreate;
        // a file that is not a ring is never suggested for replacement.
        let replaceable = matches!(
            &e,
            ProducerError::Open {
                source: OpenError::LayoutMismatch { .. }
                    | OpenError::Layout(
                        LayoutError::UnsupportedVersion { .. } | LayoutError::Inconsistent { .. }
                    ),
                ..
            }
        );
        anyhow::Error::new(e).context(if replaceable {
            "cannot open the ring as its producer (--recreate replaces it with a new ring)"
        } else {
            "cannot open the ring as its producer"
        })
    })?;
    if !args.quiet {
        crate::say!(
            "slipstream-sim: publishing to {} (capacity {}, max event {}, wake {}) from height {}, seq {}, {}",
            path.display(),
            text::size(layout.capacity),
            text::size(max_event as u64),
            match args.wake {
                Wake::AtBlockEnd => "at each block's end".to_string(),
                Wake::EveryEvent => "after every event".to_string(),
                Wake::Thread { interval } =>
                    format!("from a thread every {}", text::duration(interval)),
            },
            start_height,
            producer.next_seq(),
            if args.flat_out {
                "flat out".to_string()
            } else {
                format!("{} blocks/s", args.rate)
            }
        );
    }

    let mut generator = Generator::new(args.seed, args.block_size.max as usize);
    let started = Instant::now();
    let deadline = args.duration.map(|d| started + d);
    let mut total = Tally::new();
    let mut period = Tally::new();
    let mut height = start_height;
    let mut done_blocks = 0u64;
    let mut interrupted = false;
    let mut last_report_blocks = 0u64;

    'blocks: loop {
        if args.blocks.is_some_and(|n| done_blocks >= n) {
            break;
        }
        if !args.flat_out {
            let due = started + Duration::from_secs_f64(done_blocks as f64 / args.rate);
            if deadline.is_some_and(|d| due >= d) {
                break;
            }
            if !cli::sleep_interruptibly(due.saturating_duration_since(Instant::now())) {
                interrupted = true;
                break;
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if cli::interrupted().is_some() {
            interrupted = true;
            break;
        }

        generator.start_block(height);
        let n = generator.draw(args.events_per_block);
        // Mostly mapping events, as on a real chain: rewards take at most half.
        let stakers = generator.draw(args.stakers).min((n - 1) / 2);
        let mapping_events = n - 1 - stakers;
        let block_len = generator.draw(args.block_size) as usize;
        producer
            .begin_block(height)
            .context("publish a block_begin")?;
        // Ordinals as the producer assigns them (it counts published events).
        let mut ordinal = 0u32;
        for _ in 0..mapping_events {
            if cli::interrupted().is_some() {
                interrupted = true;
                break 'blocks;
            }
            ordinal += 1;
            let ev = generator.mapping_event(height, ordinal);
            let bytes = record_bytes(&ev);
            let t = Instant::now();
            let published = producer.publish(&ev);
            let ns = t.elapsed().as_nanos() as u64;
            if published.context("publish a mapping event")?.is_some() {
                period.latency.saturating_record(ns.max(1));
                period.events += 1;
                period.bytes += bytes;
            }
        }
        for _ in 0..stakers {
            if cli::interrupted().is_some() {
                interrupted = true;
                break 'blocks;
            }
            let (staker, validator, reward, new_stake) = generator.staking_reward(height);
            let ev = EventRef::StakingReward {
                block_height: height,
                ordinal: 0,
                staker: &staker,
                validator: &validator,
                reward,
                new_stake,
            };
            let bytes = record_bytes(&ev);
            let t = Instant::now();
            let published = producer.publish(&ev);
            let ns = t.elapsed().as_nanos() as u64;
            if published.context("publish a staking reward")?.is_some() {
                period.latency.saturating_record(ns.max(1));
                period.events += 1;
                period.bytes += bytes;
            }
        }
        let block = generator.block(block_len);
        let bytes = slipstream_ring::layout::record_len(block_overhead + block.len() as u64);
        let t = Instant::now();
        let published = producer.publish(&EventRef::Block {
            block_height: height,
            ordinal: 0,
            block,
        });
        let ns = t.elapsed().as_nanos() as u64;
        if published.context("publish a block")?.is_some() {
            period.latency.saturating_record(ns.max(1));
            period.events += 1;
            period.bytes += bytes;
        }
        producer.commit_block().context("publish a block_commit")?;
        period.blocks += 1;
        done_blocks += 1;
        height += 1;

        let due = match args.report_every {
            ReportEvery::Blocks(n) => done_blocks - last_report_blocks >= n,
            ReportEvery::Time(d) => period.since.elapsed() >= d,
        };
        if due {
            if !args.quiet {
                crate::say!("slipstream-sim: height {} | {}", height - 1, period.line());
            }
            total.add(&period);
            period = Tally::new();
            last_report_blocks = done_blocks;
        }
    }
    // Commits the open block, if Ctrl-C came in the middle of one.
    producer.commit_block().context("publish a block_commit")?;
    let next_seq = producer.next_seq();
    drop(producer);
    total.add(&period);
    total.since = started;
    if !args.quiet {
        crate::say!(
            "slipstream-sim: {}: heights {}..={}, next seq {} | {}",
            if interrupted { "interrupted" } else { "done" },
            start_height,
            height.saturating_sub(1).max(start_height),
            next_seq,
            total.line()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_valid() {
        let mut a = Generator::new(7, 4096);
        let mut b = Generator::new(7, 4096);
        let mut kinds = std::collections::HashSet::new();
        for height in 1..50 {
            a.start_block(height);
            b.start_block(height);
            for ordinal in 1..200 {
                let ea = a.mapping_event(height, ordinal);
                let mut buf = vec![0; ea.encoded_len()];
                ea.encode(&mut buf);
                let eb = b.mapping_event(height, ordinal);
                assert_eq!(ea, eb);
                assert_eq!(EventRef::decode(ea.kind().as_u16(), &buf).unwrap(), ea);
                kinds.insert((ea.kind(), ea.program_id().map(<[u8]>::to_vec)));
            }
            assert_eq!(a.staking_reward(height), b.staking_reward(height));
            assert_eq!(a.block(1000), b.block(1000));
        }
        // Both kinds of mapping events, across several programs.
        assert!(kinds.len() > 8, "{kinds:?}");
    }

    #[test]
    fn ranges_and_modes_parse() {
        assert_eq!("10".parse(), Ok(ReportEvery::Blocks(10)));
        assert_eq!("2s".parse(), Ok(ReportEvery::Time(Duration::from_secs(2))));
        assert!("0".parse::<ReportEvery>().is_err());
        assert_eq!(parse_mode("640"), Ok(0o640));
        assert!(parse_mode("999").is_err());
        assert!(parse_wake("sometimes").is_err());
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            let x = rng.range(Range { min: 5, max: 7 });
            assert!((5..=7).contains(&x));
            assert!(rng.skewed(10) < 10);
        }
        assert_ne!(
            rng.range(Range {
                min: 0,
                max: u64::MAX
            }),
            0
        );
    }
}
