//! The database side: one schema, one [`Store`] trait, two backends.
//!
//! Both backends run the same SQL text (SQLite accepts PostgreSQL's `$1`
//! placeholders as named parameters, and both speak `INSERT .. ON CONFLICT ..
//! DO UPDATE`). The schema differs only in the byte type (`BLOB` / `BYTEA`)
//! and SQLite's `WITHOUT ROWID`. What differs on purpose is how the bulk of a
//! batch reaches the server: SQLite runs in-process, so one cached prepared
//! statement per row costs a function call; PostgreSQL is a round trip away,
//! so its rows go as arrays through one `UNNEST` statement per table and batch.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 3;

/// Migrations, in order: `MIGRATIONS[i]` takes a database from version `i` to
/// `i + 1`. `{blob}` is the dialect's byte-string type, `{norowid}` SQLite's
/// `WITHOUT ROWID` (nothing for PostgreSQL).
const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    "CREATE TABLE position (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        ring_id TEXT NOT NULL,
        next_seq BIGINT NOT NULL,
        height BIGINT NOT NULL,
        updated_unix_ns BIGINT NOT NULL
    );
    CREATE TABLE mapping_values (
        program {blob} NOT NULL,
        mapping {blob} NOT NULL,
        key {blob} NOT NULL,
        value {blob} NOT NULL,
        height BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (program, mapping, key)
    ) {norowid};
    CREATE TABLE staking_rewards (
        height BIGINT NOT NULL,
        ordinal BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        staker {blob} NOT NULL,
        validator {blob} NOT NULL,
        reward BIGINT NOT NULL,
        new_stake BIGINT NOT NULL,
        PRIMARY KEY (height, ordinal)
    );
    CREATE INDEX staking_rewards_by_staker ON staking_rewards (staker, height);
    CREATE TABLE blocks (
        height BIGINT PRIMARY KEY,
        begin_seq BIGINT NOT NULL,
        commit_seq BIGINT NOT NULL,
        events BIGINT NOT NULL,
        mapping_updates BIGINT NOT NULL,
        mapping_removals BIGINT NOT NULL,
        staking_rewards BIGINT NOT NULL,
        block_bytes BIGINT NOT NULL,
        indexed_unix_ns BIGINT NOT NULL
    );
    CREATE TABLE gaps (
        ring_id TEXT NOT NULL,
        first_seq BIGINT NOT NULL,
        last_seq BIGINT,
        reason TEXT NOT NULL,
        detected_unix_ns BIGINT NOT NULL,
        PRIMARY KEY (ring_id, first_seq)
    );",
    // 1 -> 2: (program, mapping) named once, in `mappings`; `mapping_values`
    // keyed by its integer id. Shorter rows and keys: fewer B-tree pages,
    // so fewer pages dirtied (and written to SQLite's WAL) per block.
    "CREATE TABLE mappings (
        id BIGINT PRIMARY KEY,
        program {blob} NOT NULL,
        mapping {blob} NOT NULL,
        UNIQUE (program, mapping)
    );
    INSERT INTO mappings (id, program, mapping)
        SELECT ROW_NUMBER() OVER (ORDER BY program, mapping), program, mapping
        FROM (SELECT DISTINCT program, mapping FROM mapping_values) AS d;
    CREATE TABLE mapping_values_v2 (
        mapping_id BIGINT NOT NULL,
        key {blob} NOT NULL,
        value {blob} NOT NULL,
        height BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (mapping_id, key)
    ) {norowid};
    INSERT INTO mapping_values_v2 (mapping_id, key, value, height, seq)
        SELECT m.id, v.key, v.value, v.height, v.seq
        FROM mapping_values v JOIN mappings m ON m.program = v.program AND m.mapping = v.mapping;
    DROP TABLE mapping_values;
    ALTER TABLE mapping_values_v2 RENAME TO mapping_values;
    CREATE VIEW mapping_values_named AS
        SELECT m.program, m.mapping, v.key, v.value, v.height, v.seq
        FROM mapping_values v JOIN mappings m ON m.id = v.mapping_id;",
    // 2 -> 3: the current values in two tables, read through the view
    // `mapping_values`: `mapping_values_base` (most of them) and
    // `mapping_values_recent` (the blocks committed since the last settle:
    // a value, or NULL for a removed key). A caught-up block's transaction
    // writes only the small recent table, so its COMMIT writes a few dozen
    // pages instead of one page per scattered key of the big one; a
    // transaction of its own folds the recent rows into the base table
    // once the ring is idle.
    "DROP VIEW mapping_values_named;
    ALTER TABLE mapping_values RENAME TO mapping_values_base;
    CREATE TABLE mapping_values_recent (
        mapping_id BIGINT NOT NULL,
        key {blob} NOT NULL,
        value {blob},
        height BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (mapping_id, key)
    ) {norowid};
    CREATE VIEW mapping_values AS
        SELECT b.mapping_id, b.key, b.value, b.height, b.seq FROM mapping_values_base b
        WHERE NOT EXISTS (SELECT 1 FROM mapping_values_recent r
                          WHERE r.mapping_id = b.mapping_id AND r.key = b.key)
        UNION ALL
        SELECT mapping_id, key, value, height, seq FROM mapping_values_recent
        WHERE value IS NOT NULL;
    CREATE VIEW mapping_values_named AS
        SELECT m.program, m.mapping, v.key, v.value, v.height, v.seq
        FROM mapping_values v JOIN mappings m ON m.id = v.mapping_id;",
];

/// Which SQL dialect a store speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (bundled).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    fn ddl(self, sql: &str) -> String {
        let (blob, norowid) = match self {
            Dialect::Sqlite => ("BLOB", "WITHOUT ROWID"),
            Dialect::Postgres => ("BYTEA", ""),
        };
        sql.replace("{blob}", blob).replace("{norowid}", norowid)
    }
}

const SQL_POSITION: &str = "SELECT ring_id, next_seq, height FROM position WHERE id = 1";
const SQL_POSITION_INSERT: &str = "INSERT INTO position (id, ring_id, next_seq, height, updated_unix_ns) VALUES (1, $1, $2, $3, $4)";
const SQL_POSITION_UPDATE: &str = "UPDATE position SET ring_id = $1, next_seq = $2, height = $3, updated_unix_ns = $4 WHERE id = 1 AND ring_id = $5 AND next_seq = $6";
const SQL_MAPPINGS: &str = "SELECT id, program, mapping FROM mappings";
const SQL_MAPPING_INSERT: &str = "INSERT INTO mappings (id, program, mapping) VALUES ($1, $2, $3)";
const SQL_CLEAR_MAPPING: &str = "DELETE FROM mapping_values_base WHERE mapping_id = $1";
const SQL_CLEAR_RECENT: &str = "DELETE FROM mapping_values_recent WHERE mapping_id = $1";
const SQL_RECENT_ANY: &str = "SELECT COUNT(*) FROM mapping_values_recent";
const SQL_SETTLE_SET: &str = "INSERT INTO mapping_values_base (mapping_id, key, value, height, seq) SELECT mapping_id, key, value, height, seq FROM mapping_values_recent WHERE value IS NOT NULL ORDER BY mapping_id, key ON CONFLICT (mapping_id, key) DO UPDATE SET value = excluded.value, height = excluded.height, seq = excluded.seq";
const SQL_SETTLE_REMOVED: &str =
    "SELECT mapping_id, key FROM mapping_values_recent WHERE value IS NULL";
const SQL_SETTLE_CLEAR: &str = "DELETE FROM mapping_values_recent";
const SQL_DELETE_KEY: &str = "DELETE FROM mapping_values_base WHERE mapping_id = $1 AND key = $2";
const SQL_REWARD: &str = "INSERT INTO staking_rewards (height, ordinal, seq, staker, validator, reward, new_stake) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (height, ordinal) DO UPDATE SET seq = excluded.seq, staker = excluded.staker, validator = excluded.validator, reward = excluded.reward, new_stake = excluded.new_stake";
const SQL_BLOCK: &str = "INSERT INTO blocks (height, begin_seq, commit_seq, events, mapping_updates, mapping_removals, staking_rewards, block_bytes, indexed_unix_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (height) DO UPDATE SET begin_seq = excluded.begin_seq, commit_seq = excluded.commit_seq, events = excluded.events, mapping_updates = excluded.mapping_updates, mapping_removals = excluded.mapping_removals, staking_rewards = excluded.staking_rewards, block_bytes = excluded.block_bytes, indexed_unix_ns = excluded.indexed_unix_ns";
const SQL_GAP: &str = "INSERT INTO gaps (ring_id, first_seq, last_seq, reason, detected_unix_ns) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ring_id, first_seq) DO UPDATE SET last_seq = excluded.last_seq, reason = excluded.reason";
/// The recent table first (a NULL value there: removed), then the base table.
const SQL_GET: &str = "SELECT value, height, seq FROM (SELECT r.value, r.height, r.seq, 0 AS o FROM mapping_values_recent r JOIN mappings m ON m.id = r.mapping_id WHERE m.program = $1 AND m.mapping = $2 AND r.key = $3 UNION ALL SELECT b.value, b.height, b.seq, 1 AS o FROM mapping_values_base b JOIN mappings m ON m.id = b.mapping_id WHERE m.program = $1 AND m.mapping = $2 AND b.key = $3) AS g ORDER BY o LIMIT 1";
const SQL_COUNTS: &str = "SELECT (SELECT COUNT(*) FROM mapping_values), (SELECT COUNT(*) FROM staking_rewards), (SELECT COUNT(*) FROM blocks), (SELECT COUNT(*) FROM gaps), (SELECT MAX(height) FROM blocks)";
const SQL_DUMP_VALUES: &str = "SELECT m.program, m.mapping, v.key, v.value, v.height, v.seq FROM mapping_values v JOIN mappings m ON m.id = v.mapping_id ORDER BY m.program, m.mapping, v.key";
const SQL_DUMP_REWARDS: &str = "SELECT height, ordinal, seq, staker, validator, reward, new_stake FROM staking_rewards ORDER BY height, ordinal";
const SQL_DUMP_BLOCKS: &str = "SELECT height, begin_seq, commit_seq, events, mapping_updates, mapping_removals, staking_rewards, block_bytes FROM blocks ORDER BY height";
const SQL_DUMP_GAPS: &str =
    "SELECT ring_id, first_seq, last_seq, reason FROM gaps ORDER BY detected_unix_ns, first_seq";

// PostgreSQL's bulk forms: one statement per table and batch.
const PG_UPSERT_MANY: &str = "INSERT INTO mapping_values_base (mapping_id, key, value, height, seq) SELECT * FROM UNNEST($1::int8[], $2::bytea[], $3::bytea[], $4::int8[], $5::int8[]) ON CONFLICT (mapping_id, key) DO UPDATE SET value = excluded.value, height = excluded.height, seq = excluded.seq";
const PG_DELETE_MANY: &str = "DELETE FROM mapping_values_base m USING UNNEST($1::int8[], $2::bytea[]) AS d(mapping_id, key) WHERE m.mapping_id = d.mapping_id AND m.key = d.key";
const PG_REWARD_MANY: &str = "INSERT INTO staking_rewards (height, ordinal, seq, staker, validator, reward, new_stake) SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::bytea[], $5::bytea[], $6::int8[], $7::int8[]) ON CONFLICT (height, ordinal) DO UPDATE SET seq = excluded.seq, staker = excluded.staker, validator = excluded.validator, reward = excluded.reward, new_stake = excluded.new_stake";

/// An error from the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The `--db` value is not a database this tool knows.
    #[error("{0:?} is not a database URL: use sqlite:PATH, a file path, postgres://USER@HOST/DB, postgres:///DB?host=/SOCKET/DIR, or postgres:KEY=VALUE...")]
    BadUrl(String),
    /// SQLite refused.
    #[error("SQLite {what}: {source}")]
    Sqlite {
        /// What was being done.
        what: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL refused, or the connection failed.
    #[error("PostgreSQL {what}: {}", pg_message(.source))]
    Postgres {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },
    /// The SQLite file does not exist (and the caller only reads).
    #[error("no database at {0} (nothing indexed there yet?)")]
    NoDatabase(String),
    /// The database was made by a newer version of this tool.
    #[error("the database has schema version {found}; this slipstream-index knows versions up to {SCHEMA_VERSION} (upgrade the tool)")]
    NewerSchema {
        /// The version found.
        found: i64,
    },
    /// The stored position is not what this indexer last wrote: another
    /// indexer is writing the same database.
    #[error("the position in the database moved under this indexer (expected {expected}, another indexer is writing this database?); nothing of this batch was written")]
    PositionMoved {
        /// The position this indexer expected.
        expected: String,
    },
    /// A number does not fit in a signed 64-bit column.
    #[error("{field} {value} does not fit in a BIGINT column")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// A stored row does not hold what this tool wrote.
    #[error("the database holds a bad {0} (written by something else?)")]
    BadRow(&'static str),
}

fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} (SQLSTATE {}){}",
            db.message(),
            db.code().code(),
            db.detail().map(|d| format!(": {d}")).unwrap_or_default()
        ),
        None if e.is_closed() => {
            format!("{e}: the connection to the server was closed (server stopped, or the session was terminated)")
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(c) = src {
                s.push_str(": ");
                s.push_str(&c.to_string());
                src = c.source();
            }
            s
        }
    }
}

/// Where the indexer is: the ring it reads and the next sequence number to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The ring's identity (its header's `ring_id`).
    pub ring_id: u64,
    /// The sequence number of the first event not yet applied.
    pub next_seq: u64,
    /// The height of the last block applied (0 before any).
    pub height: u64,
}

/// The hex form of a ring id, as stored.
pub fn ring_id_text(id: u64) -> String {
    format!("{id:016x}")
}

fn parse_ring_id(s: &str) -> Result<u64, DbError> {
    u64::from_str_radix(s, 16).map_err(|_| DbError::BadRow("position.ring_id"))
}

/// A row of `blocks`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BlockRow {
    /// Its height.
    pub height: u64,
    /// Sequence number of its begin marker.
    pub begin_seq: u64,
    /// Sequence number of its commit marker.
    pub commit_seq: u64,
    /// Events, markers excluded.
    pub events: u64,
    /// Mapping updates among them.
    pub mapping_updates: u64,
    /// Mapping removals (of a key or a whole mapping) among them.
    pub mapping_removals: u64,
    /// Staking rewards among them.
    pub staking_rewards: u64,
    /// Bytes of its `block` events.
    pub block_bytes: u64,
}

/// A row of `staking_rewards`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewardRow {
    /// The block's height.
    pub height: u64,
    /// The event's ordinal in its block.
    pub ordinal: u64,
    /// Its sequence number.
    pub seq: u64,
    /// The staker.
    pub staker: Vec<u8>,
    /// The validator.
    pub validator: Vec<u8>,
    /// The reward.
    pub reward: u64,
    /// The stake after it.
    pub new_stake: u64,
}

/// A row of `gaps`: events the database never received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GapRow {
    /// The ring they were missed on (hex).
    pub ring_id: String,
    /// First sequence number missed.
    pub first_seq: u64,
    /// Last sequence number missed, `None` if unknown (the ring was replaced).
    pub last_seq: Option<u64>,
    /// Why.
    pub reason: String,
}

/// A row of `mapping_values`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ValueRow {
    /// The program.
    pub program: Vec<u8>,
    /// The mapping.
    pub mapping: Vec<u8>,
    /// The key.
    pub key: Vec<u8>,
    /// The current value.
    pub value: Vec<u8>,
    /// Height of the block that set it.
    pub height: u64,
    /// Sequence number of the event that set it.
    pub seq: u64,
}

/// Everything the indexer wrote, in a fixed order (for tests and audits).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Dump {
    /// `mapping_values`, by (program, mapping, key).
    pub values: Vec<ValueRow>,
    /// `staking_rewards`, by (height, ordinal).
    pub rewards: Vec<RewardRow>,
    /// `blocks`, by height (`indexed_unix_ns` left out).
    pub blocks: Vec<BlockRow>,
    /// `gaps`, in the order they were found.
    pub gaps: Vec<GapRow>,
}

/// Row counts and the newest height, for `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counts {
    /// Rows of `mapping_values`.
    pub values: u64,
    /// Rows of `staking_rewards`.
    pub rewards: u64,
    /// Rows of `blocks`.
    pub blocks: u64,
    /// Rows of `gaps`.
    pub gaps: u64,
    /// The highest block height indexed.
    pub max_height: Option<u64>,
}

/// What happened to one key within a batch: its last state wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// Set to this value by the event `seq` of block `height`.
    Set {
        /// The value.
        value: &'a [u8],
        /// The block's height.
        height: u64,
        /// The event's sequence number.
        seq: u64,
    },
    /// Removed.
    Removed,
}

/// Where one key's bytes and last change lie in [`MappingChanges`]' bytes.
#[derive(Clone, Debug)]
struct Slot {
    key: std::ops::Range<usize>,
    change: SlotChange,
}

#[derive(Clone, Debug)]
enum SlotChange {
    Set {
        value: std::ops::Range<usize>,
        height: u64,
        seq: u64,
    },
    Removed,
}

/// The changes of one (program, mapping) within a batch.
///
/// Keys and values are copied end to end into one buffer (no allocation per
/// event once it has grown), and found again through a table of slot
/// numbers hashed with a per-process random seed (foldhash): a chain whose
/// keys were chosen to collide cannot make the fold quadratic.
#[derive(Clone, Debug, Default)]
pub struct MappingChanges {
    /// The program.
    pub program: Vec<u8>,
    /// The mapping.
    pub mapping: Vec<u8>,
    /// The whole mapping was removed in this batch, before the changes.
    pub cleared: bool,
    bytes: Vec<u8>,
    /// One per key, in order of its first change (after the clear).
    slots: Vec<Slot>,
    /// The slot of each key, by the key's hash.
    index: hashbrown::HashTable<usize>,
    hasher: foldhash::fast::RandomState,
}

impl MappingChanges {
    fn new(program: &[u8], mapping: &[u8]) -> MappingChanges {
        MappingChanges {
            program: program.to_vec(),
            mapping: mapping.to_vec(),
            ..MappingChanges::default()
        }
    }

    /// The slot of `key`, made on first use.
    fn slot(&mut self, key: &[u8]) -> &mut Slot {
        use std::hash::BuildHasher;
        let MappingChanges {
            bytes,
            slots,
            index,
            hasher,
            ..
        } = self;
        let hash = hasher.hash_one(key);
        let i = match index.find(hash, |&i| &bytes[slots[i].key.clone()] == key) {
            Some(&i) => i,
            None => {
                let at = bytes.len();
                bytes.extend_from_slice(key);
                slots.push(Slot {
                    key: at..bytes.len(),
                    change: SlotChange::Removed,
                });
                let i = slots.len() - 1;
                index.insert_unique(hash, i, |&j| hasher.hash_one(&bytes[slots[j].key.clone()]));
                i
            }
        };
        &mut slots[i]
    }

    fn set(&mut self, key: &[u8], value: &[u8], height: u64, seq: u64) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(value);
        let value = at..self.bytes.len();
        self.slot(key).change = SlotChange::Set { value, height, seq };
    }

    fn remove(&mut self, key: &[u8]) {
        self.slot(key).change = SlotChange::Removed;
    }

    /// The whole mapping removed: the changes before it are dropped.
    fn clear(&mut self) {
        self.cleared = true;
        self.empty();
    }

    /// Forgets every change, keeping the buffers.
    fn empty(&mut self) {
        self.bytes.clear();
        self.slots.clear();
        self.index.clear();
    }

    /// The number of keys changed (after the clear, if any).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no key was changed (after the clear, if any).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Each key changed (after the clear, if any) with its last change, in
    /// order of its first change.
    ///
    /// ```
    /// use slipstream_index::db::{Batch, Change, Position};
    /// let mut b = Batch::new(None, 7);
    /// b.set(b"credits.aleo", b"account", b"k1", b"v1", 10, 1);
    /// b.set(b"credits.aleo", b"account", b"k1", b"v2", 10, 2); // the last change wins
    /// b.remove(b"credits.aleo", b"account", Some(b"k2"));
    /// let changes: Vec<_> = b.mappings[0].changes().collect();
    /// assert_eq!(changes, [
    ///     (&b"k1"[..], Change::Set { value: b"v2", height: 10, seq: 2 }),
    ///     (&b"k2"[..], Change::Removed),
    /// ]);
    /// // The next batch starts where this one ends, with its buffers.
    /// b.restart(Position { ring_id: 7, next_seq: 3, height: 10 });
    /// assert!(b.mappings.is_empty() && b.is_empty());
    /// ```
    pub fn changes(&self) -> impl Iterator<Item = (&[u8], Change<'_>)> + '_ {
        self.slots.iter().map(|s| {
            let change = match &s.change {
                SlotChange::Set { value, height, seq } => Change::Set {
                    value: &self.bytes[value.clone()],
                    height: *height,
                    seq: *seq,
                },
                SlotChange::Removed => Change::Removed,
            };
            (&self.bytes[s.key.clone()], change)
        })
    }
}

/// How many emptied mappings a batch keeps for the next, and the largest
/// buffer it keeps.
const SPARE_MAPPINGS: usize = 256;
const SPARE_BYTES: usize = 1 << 20;

/// The net effect of one or more blocks: written in one transaction, with the
/// position they lead to.
///
/// Events are folded as they are added: a key set twice is written once, a
/// whole-mapping removal drops the mapping's earlier changes and becomes one
/// `DELETE` that runs before the batch's later writes of that mapping.
#[derive(Debug)]
pub struct Batch {
    /// The position the database holds before this batch (`None`: none yet).
    pub from: Option<Position>,
    /// The position after it.
    pub to: Position,
    /// Changes per (program, mapping), in order of first appearance.
    pub mappings: Vec<MappingChanges>,
    /// Staking rewards, in order.
    pub rewards: Vec<RewardRow>,
    /// Blocks.
    pub blocks: Vec<BlockRow>,
    /// Gaps found since `from`.
    pub gaps: Vec<GapRow>,
    /// Mapping events folded in (before deduplication).
    pub mapping_events: u64,
    /// All events folded in.
    pub events: u64,
    /// Where the time of this batch went (filled by the indexer as it goes).
    pub timing: Timing,
    last_mapping: usize,
    /// The changes of an earlier batch, emptied, whose buffers are taken
    /// again by the mapping they were of ([`Batch::restart`]).
    spare: Vec<MappingChanges>,
}

/// Where a batch's time went: for benchmarks and progress lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    /// When the indexer had read the batch's last block whole (its commit
    /// marker seen), if it holds a block.
    pub last_block_read: Option<std::time::Instant>,
    /// When the transaction began.
    pub write_begun: Option<std::time::Instant>,
    /// From `BEGIN` to just before `COMMIT` (the rows and the position).
    pub rows: std::time::Duration,
    /// The `COMMIT` alone.
    pub commit: std::time::Duration,
    /// SQLite: the pages the transaction wrote to the WAL.
    pub pages_written: Option<u64>,
}

impl Batch {
    /// An empty batch starting at `from`.
    pub fn new(from: Option<Position>, ring_id: u64) -> Batch {
        let to = from.unwrap_or(Position {
            ring_id,
            next_seq: 0,
            height: 0,
        });
        Batch {
            from,
            to,
            mappings: Vec::new(),
            rewards: Vec::new(),
            blocks: Vec::new(),
            gaps: Vec::new(),
            mapping_events: 0,
            events: 0,
            timing: Timing::default(),
            last_mapping: 0,
            spare: Vec::new(),
        }
    }

    /// Empties the batch to start the next one at `from`, keeping the
    /// buffers of its mappings for the next changes of the same mappings:
    /// caught up, each block's fold then writes into buffers that have
    /// grown already.
    pub fn restart(&mut self, from: Position) {
        let mut spare = std::mem::take(&mut self.spare);
        let mut mappings = std::mem::take(&mut self.mappings);
        for mut m in mappings.drain(..) {
            // What a catch-up batch grew is not kept for the blocks after it.
            if spare.len() < SPARE_MAPPINGS && m.bytes.capacity() <= SPARE_BYTES {
                m.empty();
                m.cleared = false;
                spare.push(m);
            }
        }
        let (mut rewards, mut blocks) = (
            std::mem::take(&mut self.rewards),
            std::mem::take(&mut self.blocks),
        );
        rewards.clear();
        blocks.clear();
        *self = Batch {
            spare,
            mappings,
            rewards,
            blocks,
            ..Batch::new(Some(from), from.ring_id)
        };
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.gaps.is_empty() && Some(self.to) == self.from
    }

    /// The changes of (`program`, `mapping`), made on first use.
    pub fn mapping(&mut self, program: &[u8], mapping: &[u8]) -> &mut MappingChanges {
        let hit = |m: &MappingChanges| m.program == program && m.mapping == mapping;
        let i = match self.mappings.get(self.last_mapping) {
            Some(m) if hit(m) => self.last_mapping,
            _ => match self.mappings.iter().position(hit) {
                Some(i) => i,
                None => {
                    let spare = self
                        .spare
                        .iter()
                        .position(hit)
                        .map(|i| self.spare.swap_remove(i));
                    self.mappings
                        .push(spare.unwrap_or_else(|| MappingChanges::new(program, mapping)));
                    self.mappings.len() - 1
                }
            },
        };
        self.last_mapping = i;
        &mut self.mappings[i]
    }

    /// Sets a key.
    pub fn set(
        &mut self,
        program: &[u8],
        mapping: &[u8],
        key: &[u8],
        value: &[u8],
        height: u64,
        seq: u64,
    ) {
        self.mapping_events += 1;
        self.mapping(program, mapping).set(key, value, height, seq);
    }

    /// Removes a key, or (`key: None`) the whole mapping.
    pub fn remove(&mut self, program: &[u8], mapping: &[u8], key: Option<&[u8]>) {
        self.mapping_events += 1;
        let m = self.mapping(program, mapping);
        match key {
            Some(key) => m.remove(key),
            None => m.clear(),
        }
    }

    /// Rows this batch writes to `mapping_values` (upserts and deletes, clears counted once).
    pub fn mapping_rows(&self) -> usize {
        self.mappings
            .iter()
            .map(|m| m.len() + m.cleared as usize)
            .sum()
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn big(field: &'static str, v: u64) -> Result<i64, DbError> {
    i64::try_from(v).map_err(|_| DbError::OutOfRange { field, value: v })
}

fn unbig(field: &'static str, v: i64) -> Result<u64, DbError> {
    u64::try_from(v).map_err(|_| DbError::BadRow(field))
}

/// A database the indexer writes: SQLite or PostgreSQL.
///
/// Every method is one statement or one transaction; [`write`](Store::write)
/// applies a whole [`Batch`] and moves the position in the same transaction,
/// or (on any error) nothing at all.
pub trait Store {
    /// The dialect.
    fn dialect(&self) -> Dialect;
    /// The stored position, if any.
    ///
    /// # Errors
    /// The database's error.
    fn position(&mut self) -> Result<Option<Position>, DbError>;
    /// Applies `batch` and moves the position from `batch.from` to
    /// `batch.to`, atomically; returns how long the rows and the `COMMIT`
    /// took.
    ///
    /// # Errors
    /// The database's error, or [`DbError::PositionMoved`] if the stored
    /// position is not `batch.from`; then nothing was written.
    fn write(&mut self, batch: &Batch) -> Result<WriteTimes, DbError>;
    /// The current value of a key: (value, height, seq).
    ///
    /// # Errors
    /// The database's error.
    fn get(
        &mut self,
        program: &[u8],
        mapping: &[u8],
        key: &[u8],
    ) -> Result<Option<(Vec<u8>, u64, u64)>, DbError>;
    /// Row counts.
    ///
    /// # Errors
    /// The database's error.
    fn counts(&mut self) -> Result<Counts, DbError>;
    /// Whether [`settle`](Store::settle) has work: rows in
    /// `mapping_values_recent` (SQLite's caught-up transactions write there).
    fn unsettled(&self) -> bool {
        false
    }
    /// Folds `mapping_values_recent` into `mapping_values_base`, in a
    /// transaction of its own that leaves the view `mapping_values` (and so
    /// every query) unchanged; the indexer calls it when the ring is idle.
    ///
    /// # Errors
    /// The database's error; then nothing of it was kept.
    fn settle(&mut self) -> Result<(), DbError> {
        Ok(())
    }
    /// Every row.
    ///
    /// # Errors
    /// The database's error.
    fn dump(&mut self) -> Result<Dump, DbError>;
}

/// How long a [`Store::write`] took, in two parts.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteTimes {
    /// From `BEGIN` to just before `COMMIT`.
    pub rows: std::time::Duration,
    /// The `COMMIT`.
    pub commit: std::time::Duration,
    /// SQLite: the pages the transaction wrote to the WAL (one frame each,
    /// `SQLITE_DBSTATUS_CACHE_WRITE`); `None` for PostgreSQL.
    pub pages_written: Option<u64>,
}

/// A (program, mapping) pair's names.
type MappingName = (Vec<u8>, Vec<u8>);

/// The integer ids of (program, mapping) pairs (table `mappings`), as the
/// database holds them, and those a transaction adds until it commits.
#[derive(Debug, Default)]
struct MappingIds {
    /// Loaded from the database: `None` until the first write, and again
    /// after a failed one (read afresh: nothing of it was kept).
    known: Option<HashMap<MappingName, i64>>,
    /// Added by the open transaction.
    pending: Vec<(MappingName, i64)>,
    /// The next id to hand out.
    next: i64,
}

impl MappingIds {
    /// Loads the ids from `rows` if not loaded.
    fn load(
        &mut self,
        rows: impl FnOnce() -> Result<Vec<(i64, Vec<u8>, Vec<u8>)>, DbError>,
    ) -> Result<(), DbError> {
        if self.known.is_none() {
            let rows = rows()?;
            self.next = rows.iter().map(|r| r.0).max().unwrap_or(0) + 1;
            self.known = Some(rows.into_iter().map(|(id, p, m)| ((p, m), id)).collect());
        }
        self.pending.clear();
        Ok(())
    }

    /// The id of (`program`, `mapping`), and whether it is new (to insert).
    fn id(&mut self, program: &[u8], mapping: &[u8]) -> (i64, bool) {
        let known = self.known.as_ref().expect("loaded");
        if let Some(id) = known.get(&(program.to_vec(), mapping.to_vec())) {
            return (*id, false);
        }
        if let Some((_, id)) = self
            .pending
            .iter()
            .find(|((p, m), _)| p == program && m == mapping)
        {
            return (*id, false);
        }
        let id = self.next;
        self.next += 1;
        self.pending
            .push(((program.to_vec(), mapping.to_vec()), id));
        (id, true)
    }

    /// The transaction committed: its ids are the database's.
    fn committed(&mut self) {
        let known = self.known.as_mut().expect("loaded");
        known.extend(self.pending.drain(..));
    }

    /// The transaction failed: forget everything, read it again next time.
    fn failed(&mut self) {
        *self = MappingIds::default();
    }
}

/// Opens (and creates or migrates) the database `url` names.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("slipstream-index-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let url = format!("sqlite:{}", dir.join("index.db").display());
/// let mut store = slipstream_index::db::open(&url, &Default::default())?;
/// assert_eq!(store.position()?, None);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`DbError::BadUrl`], the database's error, or [`DbError::NewerSchema`].
pub fn open(url: &str, options: &Options) -> Result<Box<dyn Store>, DbError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Box::new(Postgres::connect(url)?));
    }
    if let Some(kv) = url
        .strip_prefix("postgres:")
        .or_else(|| url.strip_prefix("postgresql:"))
    {
        return Ok(Box::new(Postgres::connect(kv)?));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || (url.contains("://") && !url.starts_with("sqlite://")) {
        return Err(DbError::BadUrl(url.to_string()));
    }
    if options.must_exist && !std::path::Path::new(path).exists() {
        return Err(DbError::NoDatabase(path.to_string()));
    }
    Ok(Box::new(Sqlite::open(path, options)?))
}

/// Options of a store.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// SQLite: `synchronous=FULL` (fsync at every commit) instead of `NORMAL`
    /// (in WAL mode: no fsync at commit; a killed process loses nothing, a
    /// power cut may roll back the last commits, position included).
    pub sqlite_full_sync: bool,
    /// SQLite: checkpoint the WAL from a thread of its own instead of inside
    /// the writer's commits (the indexer turns it on; readers need not).
    pub sqlite_checkpointer: bool,
    /// SQLite: refuse to create the file (for readers such as `get` and `status`).
    pub must_exist: bool,
}

// ---------------------------------------------------------------- SQLite

/// The SQLite backend (bundled SQLite, WAL mode).
pub struct Sqlite {
    conn: rusqlite::Connection,
    checkpointer: Option<Checkpointer>,
    ids: MappingIds,
    /// At most this many rows in `mapping_values_recent` (0: none).
    recent_rows: u64,
    /// WAL frames written since the checkpointer was last kicked.
    frames_since_kick: u64,
}

/// A one-block transaction writes its mapping rows into
/// `mapping_values_recent` while that table holds fewer rows than this
/// (a few large blocks); otherwise, and for every batch of several blocks,
/// the transaction settles the recent rows first and writes into
/// `mapping_values_base`.
pub const RECENT_MAX_ROWS: u64 = 10_000;

/// Checkpoints the WAL from a connection of its own, so that the writer's
/// commits never wait for a checkpoint's fsyncs (SQLite would otherwise run
/// one inside the commit that crosses 1000 WAL pages).
///
/// A checkpoint alone is not enough: SQLite starts the WAL over (writes its
/// frames from the file's beginning again) only when a write transaction
/// begins with *every* frame copied back, and a writer that commits while a
/// `PASSIVE` checkpoint runs leaves frames behind it. Checkpointing every 2 s
/// once let the WAL grow without end (500 MB in 10 s of a caught-up run, a
/// 10 MB database), every frame a fresh file page to allocate and zero,
/// which made the commit the slowest part of a block. So each round repeats
/// `PASSIVE` until it has copied every frame (or a few passes), which takes
/// one pass more than the commits it overlapped, and the WAL file is cut
/// back to [`WAL_KEEP_BYTES`] when it restarts (`journal_size_limit`).
///
/// Caught up, a block's commit and its settle come every 50 ms (20 blocks/s)
/// and the 200 ms tick still rarely found every frame copied: the WAL grew
/// to 275 MB in a 15 s run. So, caught up, the writer postpones the tick at
/// each settle and kicks the checkpointer after the settle that brings the
/// WAL past [`KICK_FRAMES`] (the idle gap before the next block); the
/// checkpointer then copies every frame in one pass, and itself makes the
/// write that restarts the WAL (one page, `user_version`): the restart's
/// fsync of the WAL header (`synchronous=NORMAL` does one at each restart)
/// then happens here, not in the next block's COMMIT, where it put the
/// COMMIT's p90 at 4-6 ms; and once every dozen blocks, not at each, since
/// that fsync holds SQLite's write lock (a block that arrives during one
/// waits for it: 37 to 78 ms on this VM's disk at times).
struct Checkpointer {
    state: std::sync::Arc<(std::sync::Mutex<CheckpointerState>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the writer tells the checkpointer.
#[derive(Default)]
struct CheckpointerState {
    /// Stop (the store is dropped).
    stop: bool,
    /// Checkpoint now (the writer has just gone idle), not at the next tick.
    kicked: bool,
    /// Skip the next tick: the writer is caught up and kicks when the WAL is
    /// long enough (a tick would copy every frame, and the WAL's restart,
    /// with its fsync, would then fall in the next block's COMMIT).
    postponed: bool,
}

/// Caught up, the writer kicks the checkpointer once this many WAL frames
/// (pages) were written since its last kick (32 MiB of 4 KiB pages: about a
/// dozen blocks of 200..2000 events and their settles).
pub const KICK_FRAMES: u64 = 8192;

/// How often the checkpointer copies the WAL back into the database.
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// The WAL's size kept when SQLite starts it over (`journal_size_limit`).
pub const WAL_KEEP_BYTES: i64 = 64 << 20;

impl Checkpointer {
    fn start(path: &str) -> Result<Checkpointer, DbError> {
        let conn =
            rusqlite::Connection::open(path).map_err(sq("open the checkpointer's connection"))?;
        conn.busy_timeout(std::time::Duration::from_millis(100))
            .map_err(sq("set the busy timeout"))?;
        let state = std::sync::Arc::new((
            std::sync::Mutex::new(CheckpointerState::default()),
            std::sync::Condvar::new(),
        ));
        let shared = state.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let (lock, cv) = &*shared;
                let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
                while !st.stop {
                    if !st.kicked {
                        st = cv
                            .wait_timeout(st, CHECKPOINT_EVERY)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    if st.stop {
                        break;
                    }
                    let kicked = std::mem::take(&mut st.kicked);
                    if std::mem::take(&mut st.postponed) && !kicked {
                        continue;
                    }
                    drop(st);
                    // PASSIVE: copies what it can without blocking the
                    // writer; again while the writer left frames behind.
                    let mut all_copied = false;
                    for _ in 0..4 {
                        let r: Result<(i64, i64, i64), _> =
                            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                            });
                        match r {
                            Ok((0, log, copied)) if copied < log => continue,
                            Ok((0, log, copied)) => {
                                all_copied = copied == log && log > 0;
                                break;
                            }
                            _ => break,
                        }
                    }
                    if kicked && all_copied {
                        // Every frame is back in the database: the next write
                        // restarts the WAL, and `synchronous=NORMAL` fsyncs
                        // the WAL's new header in it. Make that write ours
                        // (one page: the file header's user_version, which
                        // this tool sets to the schema version and never
                        // reads), here, so that the fsync is not in the next
                        // block's COMMIT. Busy (the writer is at work):
                        // skipped, harmless.
                        let _ =
                            conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"));
                    }
                    st = lock.lock().unwrap_or_else(|e| e.into_inner());
                }
            })
            .expect("spawn the checkpointer");
        Ok(Checkpointer {
            state,
            thread: Some(thread),
        })
    }

    /// Checkpoints now: the writer has gone idle (settled), so the copy and
    /// its fsyncs run before the next block more likely than during it.
    fn kick(&self) {
        let (lock, cv) = &*self.state;
        lock.lock().unwrap_or_else(|e| e.into_inner()).kicked = true;
        cv.notify_all();
    }

    /// Skips the next tick.
    fn postpone(&self) {
        let (lock, _) = &*self.state;
        lock.lock().unwrap_or_else(|e| e.into_inner()).postponed = true;
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, cv) = &*self.state;
        lock.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sq(what: &'static str) -> impl FnOnce(rusqlite::Error) -> DbError {
    move |source| DbError::Sqlite { what, source }
}

impl Sqlite {
    /// Opens or creates the database file at `path`.
    ///
    /// # Errors
    /// SQLite's error, or [`DbError::NewerSchema`].
    pub fn open(path: &str, options: &Options) -> Result<Sqlite, DbError> {
        let conn = rusqlite::Connection::open(path).map_err(sq("open the database"))?;
        conn.busy_handler(Some(busy))
            .map_err(sq("set the busy handler"))?;
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sq("switch to WAL mode"))?;
        conn.execute_batch(if options.sqlite_full_sync {
            "PRAGMA synchronous = FULL"
        } else {
            "PRAGMA synchronous = NORMAL"
        })
        .map_err(sq("set synchronous"))?;
        // A page cache that holds the hot part of the state (64 MiB), and
        // reads through a memory map instead of a pread per page. Statement
        // journals in memory: a settle's one statement touches a page of the
        // base table per row, and each of them went to a temporary file
        // first (a third of the settle's time, in `perf`).
        conn.execute_batch(
            "PRAGMA cache_size = -65536; PRAGMA mmap_size = 1073741824; PRAGMA temp_store = MEMORY",
        )
        .map_err(sq("size the page cache"))?;
        conn.set_prepared_statement_cache_capacity(32);
        let mut s = Sqlite {
            conn,
            checkpointer: None,
            ids: MappingIds::default(),
            recent_rows: 0,
            frames_since_kick: 0,
        };
        s.migrate()?;
        let n: i64 = s
            .conn
            .query_row(SQL_RECENT_ANY, [], |r| r.get(0))
            .map_err(sq("count mapping_values_recent"))?;
        s.recent_rows = n.max(0) as u64;
        if options.sqlite_checkpointer {
            s.conn
                .execute_batch(&format!(
                    "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {WAL_KEEP_BYTES}"
                ))
                .map_err(sq("hand checkpoints to the checkpointer"))?;
            s.checkpointer = Some(Checkpointer::start(path)?);
        }
        Ok(s)
    }

    fn migrate(&mut self) -> Result<(), DbError> {
        // Current already: write nothing (readers of a read-only database work).
        let exists: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .map_err(sq("look for schema_version"))?;
        let current: Option<i64> = if exists == 1 {
            self.conn
                .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
                .map_err(sq("read schema_version"))?
        } else {
            None
        };
        if current == Some(SCHEMA_VERSION) {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sq("begin the schema transaction"))?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .map_err(sq("create schema_version"))?;
        let found: Option<i64> = tx
            .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
            .map_err(sq("read schema_version"))?;
        let found = found.unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(DbError::NewerSchema { found });
        }
        for sql in &MIGRATIONS[found as usize..] {
            tx.execute_batch(&Dialect::Sqlite.ddl(sql))
                .map_err(sq("migrate the schema"))?;
        }
        if found < SCHEMA_VERSION {
            tx.execute("DELETE FROM schema_version", [])
                .map_err(sq("update schema_version"))?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                [SCHEMA_VERSION],
            )
            .map_err(sq("update schema_version"))?;
        }
        tx.commit().map_err(sq("commit the schema"))
    }
}

impl Store for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn position(&mut self) -> Result<Option<Position>, DbError> {
        use rusqlite::OptionalExtension;
        let row: Option<(String, i64, i64)> = self
            .conn
            .query_row(SQL_POSITION, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .map_err(sq("read the position"))?;
        row.map(|(id, seq, h)| {
            Ok(Position {
                ring_id: parse_ring_id(&id)?,
                next_seq: unbig("position.next_seq", seq)?,
                height: unbig("position.height", h)?,
            })
        })
        .transpose()
    }

    fn write(&mut self, b: &Batch) -> Result<WriteTimes, DbError> {
        let r = self.write_tx(b);
        match r {
            Ok(_) => self.ids.committed(),
            Err(_) => self.ids.failed(),
        }
        r
    }

    fn get(
        &mut self,
        program: &[u8],
        mapping: &[u8],
        key: &[u8],
    ) -> Result<Option<(Vec<u8>, u64, u64)>, DbError> {
        use rusqlite::OptionalExtension;
        let row: Option<(Option<Vec<u8>>, i64, i64)> = self
            .conn
            .prepare_cached(SQL_GET)
            .map_err(sq("prepare"))?
            .query_row(rusqlite::params![program, mapping, key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(sq("read a value"))?;
        // A NULL value is a recent row of a removed key.
        row.and_then(|(v, h, s)| v.map(|v| (v, h, s)))
            .map(|(v, h, s)| Ok((v, unbig("height", h)?, unbig("seq", s)?)))
            .transpose()
    }

    fn unsettled(&self) -> bool {
        self.recent_rows > 0
    }

    fn settle(&mut self) -> Result<(), DbError> {
        if self.recent_rows == 0 {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sq("begin a transaction"))?;
        settle_in(&tx)?;
        tx.commit().map_err(sq("commit"))?;
        self.recent_rows = 0;
        self.frames_since_kick += pages_written(&self.conn);
        if let Some(c) = &self.checkpointer {
            if self.frames_since_kick >= KICK_FRAMES {
                self.frames_since_kick = 0;
                c.kick();
            } else {
                c.postpone();
            }
        }
        Ok(())
    }

    fn counts(&mut self) -> Result<Counts, DbError> {
        let (v, r, b, g, h): (i64, i64, i64, i64, Option<i64>) = self
            .conn
            .query_row(SQL_COUNTS, [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(sq("count rows"))?;
        Ok(Counts {
            values: v as u64,
            rewards: r as u64,
            blocks: b as u64,
            gaps: g as u64,
            max_height: h.map(|h| h as u64),
        })
    }

    fn dump(&mut self) -> Result<Dump, DbError> {
        let c = &self.conn;
        let u = |v: i64| v as u64;
        let values = c
            .prepare(SQL_DUMP_VALUES)
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok(ValueRow {
                        program: r.get(0)?,
                        mapping: r.get(1)?,
                        key: r.get(2)?,
                        value: r.get(3)?,
                        height: u(r.get(4)?),
                        seq: u(r.get(5)?),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(sq("read mapping_values"))?;
        let rewards = c
            .prepare(SQL_DUMP_REWARDS)
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok(RewardRow {
                        height: u(r.get(0)?),
                        ordinal: u(r.get(1)?),
                        seq: u(r.get(2)?),
                        staker: r.get(3)?,
                        validator: r.get(4)?,
                        reward: u(r.get(5)?),
                        new_stake: u(r.get(6)?),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(sq("read staking_rewards"))?;
        let blocks = c
            .prepare(SQL_DUMP_BLOCKS)
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok(BlockRow {
                        height: u(r.get(0)?),
                        begin_seq: u(r.get(1)?),
                        commit_seq: u(r.get(2)?),
                        events: u(r.get(3)?),
                        mapping_updates: u(r.get(4)?),
                        mapping_removals: u(r.get(5)?),
                        staking_rewards: u(r.get(6)?),
                        block_bytes: u(r.get(7)?),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(sq("read blocks"))?;
        let gaps = c
            .prepare(SQL_DUMP_GAPS)
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok(GapRow {
                        ring_id: r.get(0)?,
                        first_seq: u(r.get(1)?),
                        last_seq: r.get::<_, Option<i64>>(2)?.map(u),
                        reason: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(sq("read gaps"))?;
        Ok(Dump {
            values,
            rewards,
            blocks,
            gaps,
        })
    }
}

/// The pages `conn` wrote to the database (in WAL mode: to the WAL, one frame
/// each) since the last call, which resets the counter.
fn pages_written(conn: &rusqlite::Connection) -> u64 {
    use rusqlite::ffi;
    let (mut cur, mut hi) = (0, 0);
    // SAFETY: `conn.handle()` is the open connection's handle, valid while
    // `conn` is borrowed; sqlite3_db_status only writes the two ints it is
    // given; the connection is not shared with another thread (`Connection`
    // is not `Sync`).
    let rc = unsafe {
        ffi::sqlite3_db_status(
            conn.handle(),
            ffi::SQLITE_DBSTATUS_CACHE_WRITE,
            &mut cur,
            &mut hi,
            1,
        )
    };
    if rc == ffi::SQLITE_OK {
        cur.max(0) as u64
    } else {
        0
    }
}

/// How many times the indexer's SQLite connections of this process found
/// the database locked and waited (the checkpointer's one-page write, or
/// another process): for benchmarks, which print it beside the delays.
pub fn busy_waits() -> u64 {
    BUSY_WAITS.load(std::sync::atomic::Ordering::Relaxed)
}

static BUSY_WAITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The writer's busy handler: SQLite's own (`busy_timeout`) sleeps 1, 2, 5,
/// 10, 15, 20, 25 ms... between tries, so a block whose `BEGIN` met the
/// checkpointer's short write waited up to a whole step more than the write
/// took. This one tries again every 50 µs for the first 2 ms, then every
/// millisecond, and gives up (`SQLITE_BUSY`, an error naming the lock)
/// after about 5 s, as the `busy_timeout` of 5 s did.
fn busy(tries: i32) -> bool {
    const FINE: i32 = 40;
    const ALL: i32 = FINE + 5000;
    if tries == 0 {
        BUSY_WAITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    if tries >= ALL {
        return false;
    }
    std::thread::sleep(if tries < FINE {
        std::time::Duration::from_micros(50)
    } else {
        std::time::Duration::from_millis(1)
    });
    true
}

/// Moves every row of `mapping_values_recent` into `mapping_values_base`
/// (a value replaces the base's, a NULL removes the base's key), within
/// `tx`: the view `mapping_values` reads the same before and after.
fn settle_in(tx: &rusqlite::Transaction<'_>) -> Result<(), DbError> {
    tx.prepare_cached(SQL_SETTLE_SET)
        .map_err(sq("prepare"))?
        .execute([])
        .map_err(sq("settle recent mapping values"))?;
    let removed = tx
        .prepare_cached(SQL_SETTLE_REMOVED)
        .map_err(sq("prepare"))?
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(sq("read recent removals"))?;
    let mut delete = tx.prepare_cached(SQL_DELETE_KEY).map_err(sq("prepare"))?;
    for (id, key) in removed {
        delete
            .execute(rusqlite::params![id, key])
            .map_err(sq("settle a removal"))?;
    }
    tx.prepare_cached(SQL_SETTLE_CLEAR)
        .map_err(sq("prepare"))?
        .execute([])
        .map_err(sq("empty mapping_values_recent"))?;
    Ok(())
}

/// A row of `mapping_values_recent` or `mapping_values_base` to upsert:
/// mapping id, key, value (`None`: a removed key, in the recent table),
/// height, seq.
type UpsertRow<'a> = (i64, &'a [u8], Option<&'a [u8]>, i64, i64);

/// Rows a multi-row upsert writes: one statement's start and end for many
/// rows. A caught-up block's rows took 13% less time than with a statement
/// a row (benches/RESULTS.md, "Caught up, fourth pass").
const ROWS_PER_STATEMENT: usize = 32;

/// The upsert of `rows` rows into `table` (`mapping_values_recent` or
/// `mapping_values_base`): one text for the statement of one row and that
/// of [`ROWS_PER_STATEMENT`].
fn upsert_sql(table: &str, rows: usize) -> String {
    let values = vec!["(?, ?, ?, ?, ?)"; rows].join(", ");
    format!(
        "INSERT INTO {table} (mapping_id, key, value, height, seq) VALUES {values} ON CONFLICT (mapping_id, key) DO UPDATE SET value = excluded.value, height = excluded.height, seq = excluded.seq"
    )
}

static SQL_UPSERT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| upsert_sql("mapping_values_base", 1));
static SQL_UPSERT_RECENT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| upsert_sql("mapping_values_recent", 1));
static SQL_UPSERT_MANY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| upsert_sql("mapping_values_base", ROWS_PER_STATEMENT));
static SQL_UPSERT_RECENT_MANY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| upsert_sql("mapping_values_recent", ROWS_PER_STATEMENT));

/// Upserts `rows` into the recent table (`recent`) or the base table: full
/// statements of [`ROWS_PER_STATEMENT`] rows, then the rest one by one.
fn upsert_rows(
    tx: &rusqlite::Transaction<'_>,
    recent: bool,
    rows: &[UpsertRow<'_>],
) -> Result<(), DbError> {
    let (one, many) = if recent {
        (&*SQL_UPSERT_RECENT, &*SQL_UPSERT_RECENT_MANY)
    } else {
        (&*SQL_UPSERT, &*SQL_UPSERT_MANY)
    };
    let mut chunks = rows.chunks_exact(ROWS_PER_STATEMENT);
    if rows.len() >= ROWS_PER_STATEMENT {
        let mut st = tx.prepare_cached(many).map_err(sq("prepare"))?;
        for chunk in &mut chunks {
            for (i, (id, key, value, height, seq)) in chunk.iter().enumerate() {
                let at = i * 5 + 1;
                st.raw_bind_parameter(at, id)
                    .and_then(|()| st.raw_bind_parameter(at + 1, key))
                    .and_then(|()| st.raw_bind_parameter(at + 2, value))
                    .and_then(|()| st.raw_bind_parameter(at + 3, height))
                    .and_then(|()| st.raw_bind_parameter(at + 4, seq))
                    .map_err(sq("bind mapping values"))?;
            }
            st.raw_execute().map_err(sq("write mapping values"))?;
        }
    }
    let mut st = tx.prepare_cached(one).map_err(sq("prepare"))?;
    for (id, key, value, height, seq) in chunks.remainder() {
        st.execute(rusqlite::params![id, key, value, height, seq])
            .map_err(sq("write a mapping value"))?;
    }
    Ok(())
}

impl Sqlite {
    fn write_tx(&mut self, b: &Batch) -> Result<WriteTimes, DbError> {
        use rusqlite::params;
        let begun = std::time::Instant::now();
        let Sqlite {
            conn,
            ids,
            recent_rows,
            ..
        } = self;
        pages_written(conn); // resets the count
        let new_rows = b.mapping_rows() as u64;
        // Caught up (one block): into the small recent table, whose few pages
        // are all the COMMIT writes of the mapping rows.
        let recent = b.blocks.len() <= 1 && *recent_rows + new_rows <= RECENT_MAX_ROWS;
        ids.load(|| {
            let mut st = conn.prepare_cached(SQL_MAPPINGS).map_err(sq("prepare"))?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(sq("read mappings"));
            rows
        })?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sq("begin a transaction"))?;
        if !recent && *recent_rows > 0 {
            // The base table's rows are written below: the recent rows
            // (older) go first, or they would hide them.
            settle_in(&tx)?;
        }
        {
            let mut clear = tx
                .prepare_cached(SQL_CLEAR_MAPPING)
                .map_err(sq("prepare"))?;
            let mut clear_recent = tx.prepare_cached(SQL_CLEAR_RECENT).map_err(sq("prepare"))?;
            let mut delete = tx.prepare_cached(SQL_DELETE_KEY).map_err(sq("prepare"))?;
            // Written after the loop, many rows a statement: each mapping's
            // clear (in the loop) still comes before its rows, and a key
            // appears once in a batch.
            let mut rows: Vec<UpsertRow<'_>> = Vec::with_capacity(new_rows as usize);
            let mut mappings = Vec::with_capacity(b.mappings.len());
            for m in &b.mappings {
                let (id, new) = ids.id(&m.program, &m.mapping);
                if new {
                    tx.prepare_cached(SQL_MAPPING_INSERT)
                        .map_err(sq("prepare"))?
                        .execute(params![id, m.program, m.mapping])
                        .map_err(sq("name a mapping"))?;
                }
                mappings.push((id, m));
            }
            // In (mapping id, key) order: neighbouring rows share B-tree pages.
            mappings.sort_unstable_by_key(|(id, _)| *id);
            for (id, m) in mappings {
                if m.cleared {
                    clear.execute(params![id]).map_err(sq("remove a mapping"))?;
                    if *recent_rows > 0 {
                        clear_recent
                            .execute(params![id])
                            .map_err(sq("remove a mapping"))?;
                    }
                }
                let mut keys: Vec<_> = m.changes().collect();
                keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
                for (key, change) in keys {
                    match change {
                        Change::Set { value, height, seq } => rows.push((
                            id,
                            key,
                            Some(value),
                            big("height", height)?,
                            big("seq", seq)?,
                        )),
                        // A NULL in the recent table hides the base's row.
                        Change::Removed if recent => rows.push((id, key, None, 0, 0)),
                        Change::Removed => {
                            delete
                                .execute(params![id, key])
                                .map_err(sq("remove a key"))?;
                        }
                    };
                }
            }
            upsert_rows(&tx, recent, &rows)?;
            let mut reward = tx.prepare_cached(SQL_REWARD).map_err(sq("prepare"))?;
            for r in &b.rewards {
                reward
                    .execute(params![
                        big("height", r.height)?,
                        big("ordinal", r.ordinal)?,
                        big("seq", r.seq)?,
                        r.staker,
                        r.validator,
                        big("reward", r.reward)?,
                        big("new_stake", r.new_stake)?
                    ])
                    .map_err(sq("write a staking reward"))?;
            }
            let now = now_ns();
            let mut block = tx.prepare_cached(SQL_BLOCK).map_err(sq("prepare"))?;
            for k in &b.blocks {
                block
                    .execute(params![
                        big("height", k.height)?,
                        big("seq", k.begin_seq)?,
                        big("seq", k.commit_seq)?,
                        big("events", k.events)?,
                        big("events", k.mapping_updates)?,
                        big("events", k.mapping_removals)?,
                        big("events", k.staking_rewards)?,
                        big("block_bytes", k.block_bytes)?,
                        now
                    ])
                    .map_err(sq("write a block"))?;
            }
            let mut gap = tx.prepare_cached(SQL_GAP).map_err(sq("prepare"))?;
            for g in &b.gaps {
                gap.execute(params![
                    g.ring_id,
                    big("seq", g.first_seq)?,
                    g.last_seq.map(|s| big("seq", s)).transpose()?,
                    g.reason,
                    now
                ])
                .map_err(sq("record a gap"))?;
            }
            let to = b.to;
            let moved = match b.from {
                None => tx
                    .prepare_cached(SQL_POSITION_INSERT)
                    .map_err(sq("prepare"))?
                    .execute(params![
                        ring_id_text(to.ring_id),
                        big("seq", to.next_seq)?,
                        big("height", to.height)?,
                        now
                    ])
                    .map_err(sq("store the position"))?,
                Some(from) => tx
                    .prepare_cached(SQL_POSITION_UPDATE)
                    .map_err(sq("prepare"))?
                    .execute(params![
                        ring_id_text(to.ring_id),
                        big("seq", to.next_seq)?,
                        big("height", to.height)?,
                        now,
                        ring_id_text(from.ring_id),
                        big("seq", from.next_seq)?
                    ])
                    .map_err(sq("store the position"))?,
            };
            if moved != 1 {
                return Err(DbError::PositionMoved {
                    expected: format!("{:?}", b.from),
                });
            }
        }
        let rows = begun.elapsed();
        tx.commit().map_err(sq("commit"))?;
        let commit = begun.elapsed() - rows;
        *recent_rows = if recent { *recent_rows + new_rows } else { 0 };
        let pages = pages_written(&self.conn);
        self.frames_since_kick += pages;
        Ok(WriteTimes {
            rows,
            commit,
            pages_written: Some(pages),
        })
    }
}

// ------------------------------------------------------------ PostgreSQL

/// The PostgreSQL backend (the synchronous `postgres` crate).
pub struct Postgres {
    client: postgres::Client,
    statements: Option<PgStatements>,
    ids: MappingIds,
}

struct PgStatements {
    clear: postgres::Statement,
    upsert_many: postgres::Statement,
    delete_many: postgres::Statement,
    reward_many: postgres::Statement,
    block: postgres::Statement,
    gap: postgres::Statement,
    position_insert: postgres::Statement,
    position_update: postgres::Statement,
}

fn pg(what: &'static str) -> impl FnOnce(postgres::Error) -> DbError {
    move |source| DbError::Postgres { what, source }
}

impl Postgres {
    /// Connects with a `postgres://` URL or a `key=value` string, and creates
    /// or migrates the schema.
    ///
    /// # Errors
    /// The driver's error, or [`DbError::NewerSchema`].
    pub fn connect(config: &str) -> Result<Postgres, DbError> {
        let mut cfg: postgres::Config = config
            .parse()
            .map_err(|_| DbError::BadUrl(config.to_string()))?;
        if cfg.get_application_name().is_none() {
            cfg.application_name("slipstream-index");
        }
        let client = cfg.connect(postgres::NoTls).map_err(pg("connect"))?;
        let mut p = Postgres {
            client,
            statements: None,
            ids: MappingIds::default(),
        };
        p.migrate()?;
        Ok(p)
    }

    fn migrate(&mut self) -> Result<(), DbError> {
        // Current already: write nothing (readers of a read-only database work).
        let exists: bool = self
            .client
            .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
            .map_err(pg("look for schema_version"))?
            .get(0);
        if exists {
            let v: Option<i64> = self
                .client
                .query_one("SELECT MAX(version) FROM schema_version", &[])
                .map_err(pg("read schema_version"))?
                .get(0);
            if v == Some(SCHEMA_VERSION) {
                return Ok(());
            }
        }
        let mut tx = self
            .client
            .transaction()
            .map_err(pg("begin the schema transaction"))?;
        // One migration at a time (CREATE TABLE IF NOT EXISTS races otherwise).
        tx.batch_execute("SELECT pg_advisory_xact_lock(7370517296); CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .map_err(pg("create schema_version"))?;
        let found: Option<i64> = tx
            .query_one("SELECT MAX(version) FROM schema_version", &[])
            .map_err(pg("read schema_version"))?
            .get(0);
        let found = found.unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(DbError::NewerSchema { found });
        }
        for sql in &MIGRATIONS[found as usize..] {
            tx.batch_execute(&Dialect::Postgres.ddl(sql))
                .map_err(pg("migrate the schema"))?;
        }
        if found < SCHEMA_VERSION {
            tx.execute("DELETE FROM schema_version", &[])
                .map_err(pg("update schema_version"))?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )
            .map_err(pg("update schema_version"))?;
        }
        tx.commit().map_err(pg("commit the schema"))
    }

    fn statements(&mut self) -> Result<&PgStatements, DbError> {
        if self.statements.is_none() {
            let c = &mut self.client;
            let mut p = |sql: &str| c.prepare(sql).map_err(pg("prepare"));
            self.statements = Some(PgStatements {
                clear: p(SQL_CLEAR_MAPPING)?,
                upsert_many: p(PG_UPSERT_MANY)?,
                delete_many: p(PG_DELETE_MANY)?,
                reward_many: p(PG_REWARD_MANY)?,
                block: p(SQL_BLOCK)?,
                gap: p(SQL_GAP)?,
                position_insert: p(SQL_POSITION_INSERT)?,
                position_update: p(SQL_POSITION_UPDATE)?,
            });
        }
        Ok(self.statements.as_ref().expect("just prepared"))
    }
}

impl Postgres {
    fn write_tx(&mut self, b: &Batch) -> Result<WriteTimes, DbError> {
        let begun = std::time::Instant::now();
        self.statements()?;
        let Postgres {
            client,
            statements,
            ids,
        } = self;
        let st = statements.as_ref().expect("prepared");
        ids.load(|| {
            Ok(client
                .query(SQL_MAPPINGS, &[])
                .map_err(pg("read mappings"))?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })?;
        let mut tx = client.transaction().map_err(pg("begin a transaction"))?;
        let mut mapping_ids = Vec::with_capacity(b.mappings.len());
        for m in &b.mappings {
            let (id, new) = ids.id(&m.program, &m.mapping);
            if new {
                tx.execute(SQL_MAPPING_INSERT, &[&id, &m.program, &m.mapping])
                    .map_err(pg("name a mapping"))?;
            }
            mapping_ids.push(id);
        }
        // Clears first: a batch's changes of a cleared mapping all come after its clear.
        for (m, id) in b.mappings.iter().zip(&mapping_ids) {
            if m.cleared {
                tx.execute(&st.clear, &[id])
                    .map_err(pg("remove a mapping"))?;
            }
        }
        let rows = b.mapping_rows();
        let (mut up_i, mut up_k, mut up_v, mut up_h, mut up_s) = (
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
        );
        let (mut del_i, mut del_k) = (Vec::new(), Vec::new());
        for (m, id) in b.mappings.iter().zip(&mapping_ids) {
            for (key, change) in m.changes() {
                match change {
                    Change::Set { value, height, seq } => {
                        up_i.push(*id);
                        up_k.push(key);
                        up_v.push(value);
                        up_h.push(big("height", height)?);
                        up_s.push(big("seq", seq)?);
                    }
                    Change::Removed => {
                        del_i.push(*id);
                        del_k.push(key);
                    }
                }
            }
        }
        if !del_k.is_empty() {
            tx.execute(&st.delete_many, &[&del_i, &del_k])
                .map_err(pg("remove keys"))?;
        }
        if !up_k.is_empty() {
            tx.execute(&st.upsert_many, &[&up_i, &up_k, &up_v, &up_h, &up_s])
                .map_err(pg("write mapping values"))?;
        }
        if !b.rewards.is_empty() {
            let mut ints: [Vec<i64>; 5] = Default::default();
            let (mut stakers, mut validators) = (Vec::new(), Vec::new());
            for r in &b.rewards {
                ints[0].push(big("height", r.height)?);
                ints[1].push(big("ordinal", r.ordinal)?);
                ints[2].push(big("seq", r.seq)?);
                stakers.push(&r.staker[..]);
                validators.push(&r.validator[..]);
                ints[3].push(big("reward", r.reward)?);
                ints[4].push(big("new_stake", r.new_stake)?);
            }
            tx.execute(
                &st.reward_many,
                &[
                    &ints[0],
                    &ints[1],
                    &ints[2],
                    &stakers,
                    &validators,
                    &ints[3],
                    &ints[4],
                ],
            )
            .map_err(pg("write staking rewards"))?;
        }
        let now = now_ns();
        for k in &b.blocks {
            tx.execute(
                &st.block,
                &[
                    &big("height", k.height)?,
                    &big("seq", k.begin_seq)?,
                    &big("seq", k.commit_seq)?,
                    &big("events", k.events)?,
                    &big("events", k.mapping_updates)?,
                    &big("events", k.mapping_removals)?,
                    &big("events", k.staking_rewards)?,
                    &big("block_bytes", k.block_bytes)?,
                    &now,
                ],
            )
            .map_err(pg("write a block"))?;
        }
        for g in &b.gaps {
            let last = g.last_seq.map(|s| big("seq", s)).transpose()?;
            tx.execute(
                &st.gap,
                &[
                    &g.ring_id,
                    &big("seq", g.first_seq)?,
                    &last,
                    &g.reason,
                    &now,
                ],
            )
            .map_err(pg("record a gap"))?;
        }
        let to = b.to;
        let moved = match b.from {
            None => tx
                .execute(
                    &st.position_insert,
                    &[
                        &ring_id_text(to.ring_id),
                        &big("seq", to.next_seq)?,
                        &big("height", to.height)?,
                        &now,
                    ],
                )
                .map_err(pg("store the position"))?,
            Some(from) => tx
                .execute(
                    &st.position_update,
                    &[
                        &ring_id_text(to.ring_id),
                        &big("seq", to.next_seq)?,
                        &big("height", to.height)?,
                        &now,
                        &ring_id_text(from.ring_id),
                        &big("seq", from.next_seq)?,
                    ],
                )
                .map_err(pg("store the position"))?,
        };
        if moved != 1 {
            return Err(DbError::PositionMoved {
                expected: format!("{:?}", b.from),
            });
        }
        let rows = begun.elapsed();
        tx.commit().map_err(pg("commit"))?;
        Ok(WriteTimes {
            rows,
            commit: begun.elapsed() - rows,
            pages_written: None,
        })
    }
}

impl Store for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn position(&mut self) -> Result<Option<Position>, DbError> {
        let row = self
            .client
            .query_opt(SQL_POSITION, &[])
            .map_err(pg("read the position"))?;
        row.map(|r| {
            Ok(Position {
                ring_id: parse_ring_id(r.get(0))?,
                next_seq: unbig("position.next_seq", r.get(1))?,
                height: unbig("position.height", r.get(2))?,
            })
        })
        .transpose()
    }

    fn write(&mut self, b: &Batch) -> Result<WriteTimes, DbError> {
        let r = self.write_tx(b);
        match r {
            Ok(_) => self.ids.committed(),
            Err(_) => self.ids.failed(),
        }
        r
    }

    fn get(
        &mut self,
        program: &[u8],
        mapping: &[u8],
        key: &[u8],
    ) -> Result<Option<(Vec<u8>, u64, u64)>, DbError> {
        let row = self
            .client
            .query_opt(SQL_GET, &[&program, &mapping, &key])
            .map_err(pg("read a value"))?;
        let Some(r) = row else { return Ok(None) };
        let Some(value) = r.get::<_, Option<Vec<u8>>>(0) else {
            return Ok(None); // removed (a recent row's NULL)
        };
        Ok(Some((
            value,
            unbig("height", r.get(1))?,
            unbig("seq", r.get(2))?,
        )))
    }

    fn counts(&mut self) -> Result<Counts, DbError> {
        let r = self
            .client
            .query_one(SQL_COUNTS, &[])
            .map_err(pg("count rows"))?;
        Ok(Counts {
            values: r.get::<_, i64>(0) as u64,
            rewards: r.get::<_, i64>(1) as u64,
            blocks: r.get::<_, i64>(2) as u64,
            gaps: r.get::<_, i64>(3) as u64,
            max_height: r.get::<_, Option<i64>>(4).map(|h| h as u64),
        })
    }

    fn dump(&mut self) -> Result<Dump, DbError> {
        let c = &mut self.client;
        let u = |v: i64| v as u64;
        let values = c
            .query(SQL_DUMP_VALUES, &[])
            .map_err(pg("read mapping_values"))?
            .iter()
            .map(|r| ValueRow {
                program: r.get(0),
                mapping: r.get(1),
                key: r.get(2),
                value: r.get(3),
                height: u(r.get(4)),
                seq: u(r.get(5)),
            })
            .collect();
        let rewards = c
            .query(SQL_DUMP_REWARDS, &[])
            .map_err(pg("read staking_rewards"))?
            .iter()
            .map(|r| RewardRow {
                height: u(r.get(0)),
                ordinal: u(r.get(1)),
                seq: u(r.get(2)),
                staker: r.get(3),
                validator: r.get(4),
                reward: u(r.get(5)),
                new_stake: u(r.get(6)),
            })
            .collect();
        let blocks = c
            .query(SQL_DUMP_BLOCKS, &[])
            .map_err(pg("read blocks"))?
            .iter()
            .map(|r| BlockRow {
                height: u(r.get(0)),
                begin_seq: u(r.get(1)),
                commit_seq: u(r.get(2)),
                events: u(r.get(3)),
                mapping_updates: u(r.get(4)),
                mapping_removals: u(r.get(5)),
                staking_rewards: u(r.get(6)),
                block_bytes: u(r.get(7)),
            })
            .collect();
        let gaps = c
            .query(SQL_DUMP_GAPS, &[])
            .map_err(pg("read gaps"))?
            .iter()
            .map(|r| GapRow {
                ring_id: r.get(0),
                first_seq: u(r.get(1)),
                last_seq: r.get::<_, Option<i64>>(2).map(u),
                reason: r.get(3),
            })
            .collect();
        Ok(Dump {
            values,
            rewards,
            blocks,
            gaps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_ROWS: &str = "CREATE TABLE schema_version (version BIGINT NOT NULL);
         INSERT INTO schema_version VALUES (1);
         INSERT INTO position VALUES (1, '00000000000000aa', 10, 3, 0);
         INSERT INTO mapping_values VALUES ({b}'6372656469747301', {b}'6163', {b}'01', {b}'0a', 2, 7);
         INSERT INTO mapping_values VALUES ({b}'6372656469747301', {b}'6163', {b}'02', {b}'0b', 3, 9);
         INSERT INTO mapping_values VALUES ({b}'74', {b}'62', {b}'01', {b}'0c', 1, 4);";

    fn row(p: &[u8], m: &[u8], k: &[u8], v: &[u8], height: u64, seq: u64) -> ValueRow {
        ValueRow {
            program: p.to_vec(),
            mapping: m.to_vec(),
            key: k.to_vec(),
            value: v.to_vec(),
            height,
            seq,
        }
    }

    /// A version-1 database, just migrated by `open` into `s`: every row
    /// kept; then writes into it, and (after `reopen`) again.
    fn migrated_v1_keeps_rows_and_takes_writes(
        mut s: Box<dyn Store>,
        count_view: &mut dyn FnMut() -> i64,
        reopen: &mut dyn FnMut() -> Box<dyn Store>,
    ) {
        let before = vec![
            row(b"credits\x01", b"ac", b"\x01", b"\x0a", 2, 7),
            row(b"credits\x01", b"ac", b"\x02", b"\x0b", 3, 9),
            row(b"t", b"b", b"\x01", b"\x0c", 1, 4),
        ];
        assert_eq!(s.dump().expect("dump").values, before);
        assert_eq!(
            s.get(b"credits\x01", b"ac", b"\x02").expect("get"),
            Some((vec![0x0b], 3, 9))
        );
        // Writes after the migration: a new mapping, an update of a migrated
        // key, a migrated mapping removed whole.
        let from = s.position().expect("position");
        let mut b = Batch::new(from, 0xaa);
        b.set(b"credits\x01", b"ac", b"\x01", b"\x0d", 4, 11);
        b.set(b"new", b"m", b"\x05", b"\x0e", 4, 12);
        b.remove(b"t", b"b", None);
        b.to = Position {
            ring_id: 0xaa,
            next_seq: 13,
            height: 4,
        };
        s.write(&b).expect("write");
        let after = vec![
            row(b"credits\x01", b"ac", b"\x01", b"\x0d", 4, 11),
            row(b"credits\x01", b"ac", b"\x02", b"\x0b", 3, 9),
            row(b"new", b"m", b"\x05", b"\x0e", 4, 12),
        ];
        assert_eq!(s.dump().expect("dump").values, after);
        assert_eq!(count_view(), 3, "mapping_values_named shows the rows");
        drop(s);
        // Reopened: the ids are read back and the next write still works.
        let mut s = reopen();
        let from = s.position().expect("position");
        let mut b = Batch::new(from, 0xaa);
        b.set(b"new", b"m", b"\x06", b"\x0f", 5, 14);
        b.to = Position {
            ring_id: 0xaa,
            next_seq: 15,
            height: 5,
        };
        s.write(&b).expect("write after reopen");
        let mut want = after;
        want.push(row(b"new", b"m", b"\x06", b"\x0f", 5, 14));
        assert_eq!(s.dump().expect("dump").values, want);
    }

    /// A version-1 SQLite database (program and mapping names in every row)
    /// is migrated to version 2 (integer mapping ids) and on to 3 (base and
    /// recent tables behind the view) with every row kept, and indexing goes
    /// on into it.
    #[test]
    fn sqlite_v1_database_migrates_to_v3_with_its_rows() {
        let dir =
            std::env::temp_dir().join(format!("slipstream-index-migrate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("v1.db");
        let path = path.to_str().expect("utf-8 path").to_string();
        {
            let c = rusqlite::Connection::open(&path).expect("open");
            c.execute_batch(&Dialect::Sqlite.ddl(MIGRATIONS[0]))
                .expect("v1 schema");
            c.execute_batch(&V1_ROWS.replace("{b}", "x"))
                .expect("v1 rows");
        }
        let s = Sqlite::open(&path, &Options::default()).expect("migrate");
        let version: i64 = s
            .conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let view = rusqlite::Connection::open(&path).expect("open");
        migrated_v1_keeps_rows_and_takes_writes(
            Box::new(s),
            &mut || {
                view.query_row("SELECT COUNT(*) FROM mapping_values_named", [], |r| {
                    r.get(0)
                })
                .expect("view")
            },
            &mut || Box::new(Sqlite::open(&path, &Options::default()).expect("reopen")),
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Random batches (one block: SQLite writes them into the recent table;
    /// several: into the base table, after settling the recent rows) of
    /// sets, key removals and whole-mapping removals over a small key space,
    /// with settles and reopens (a reopen without a settle is a kill between
    /// a block's commit and its settle) at random points: after every step
    /// the rows, `get` and the counts equal a model's.
    fn recent_and_base_tables_read_as_one(reopen: &mut dyn FnMut() -> Box<dyn Store>, seed: u64) {
        use std::collections::BTreeMap;
        let mut rng = slipstream_testkit::rng::Rng::new(seed);
        let mut s = reopen();
        type Key = (Vec<u8>, Vec<u8>, Vec<u8>);
        let mut model: BTreeMap<Key, (Vec<u8>, u64, u64)> = BTreeMap::new();
        let progs: [&[u8]; 3] = [b"credits.aleo", b"token.aleo", b"dex.aleo"];
        let (mut seq, mut height) = (1u64, 0u64);
        let (mut recent_seen, mut settles, mut reopens) = (0, 0, 0);
        // One batch, restarted after each write: its mappings' buffers are
        // taken again, as the indexer's are.
        let mut b = Batch::new(None, 0x5eed);
        for step in 0..300 {
            let blocks = if rng.below(3) == 0 {
                2 + rng.below(3)
            } else {
                1
            };
            for _ in 0..blocks {
                height += 1;
                let begin = seq;
                seq += 1;
                for _ in 0..rng.below(30) {
                    let p = progs[rng.below(3) as usize];
                    let m: &[u8] = if rng.below(2) == 0 { b"a" } else { b"b" };
                    let key = vec![rng.below(40) as u8];
                    match rng.below(100) {
                        0..=69 => {
                            let value =
                                rng.next_u64().to_le_bytes()[..1 + rng.below(8) as usize].to_vec();
                            b.set(p, m, &key, &value, height, seq);
                            model.insert((p.to_vec(), m.to_vec(), key), (value, height, seq));
                        }
                        70..=96 => {
                            b.remove(p, m, Some(&key));
                            model.remove(&(p.to_vec(), m.to_vec(), key));
                        }
                        _ => {
                            b.remove(p, m, None);
                            model.retain(|k, _| !(k.0 == p && k.1 == m));
                        }
                    }
                    seq += 1;
                }
                b.blocks.push(BlockRow {
                    height,
                    begin_seq: begin,
                    commit_seq: seq,
                    ..BlockRow::default()
                });
                seq += 1;
            }
            b.to = Position {
                ring_id: 0x5eed,
                next_seq: seq,
                height,
            };
            s.write(&b).expect("write");
            let to = b.to;
            b.restart(to);
            recent_seen += s.unsettled() as u32;
            match rng.below(10) {
                0..=2 => {
                    s.settle().expect("settle");
                    assert!(!s.unsettled());
                    settles += 1;
                }
                3..=4 => {
                    drop(s);
                    s = reopen();
                    reopens += 1;
                }
                _ => {}
            }
            let want: Vec<ValueRow> = model
                .iter()
                .map(|((p, m, k), (v, h, q))| row(p, m, k, v, *h, *q))
                .collect();
            assert_eq!(s.dump().expect("dump").values, want, "step {step}");
            assert_eq!(s.counts().expect("counts").values, want.len() as u64);
            for _ in 0..5 {
                let p = progs[rng.below(3) as usize];
                let key = vec![rng.below(40) as u8];
                let got = s.get(p, b"a", &key).expect("get");
                let want = model.get(&(p.to_vec(), b"a".to_vec(), key.clone()));
                assert_eq!(got.as_ref(), want, "get {p:?} a {key:?} at step {step}");
            }
            assert_eq!(s.position().expect("position"), Some(to));
        }
        eprintln!("{recent_seen} steps left recent rows, {settles} settles, {reopens} reopens");
        if s.dialect() == Dialect::Sqlite {
            assert!(
                recent_seen > 50,
                "the recent table was used ({recent_seen} steps)"
            );
        }
    }

    #[test]
    fn sqlite_recent_and_base_tables_read_as_one() {
        let dir =
            std::env::temp_dir().join(format!("slipstream-index-recent-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("r.db");
        let path = path.to_str().expect("utf-8 path").to_string();
        recent_and_base_tables_read_as_one(
            &mut || Box::new(Sqlite::open(&path, &Options::default()).expect("open")),
            17,
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn postgres_recent_and_base_tables_read_as_one() {
        let pg = slipstream_tests::PgServer::start("recent", &[("fsync", "off")]);
        let url = pg.url("postgres");
        recent_and_base_tables_read_as_one(
            &mut || Box::new(Postgres::connect(&url).expect("connect")),
            17,
        );
    }

    /// The same migration on a real PostgreSQL server (started by the test).
    #[test]
    fn postgres_v1_database_migrates_to_v3_with_its_rows() {
        let pg = slipstream_tests::PgServer::start("migrate", &[("fsync", "off")]);
        let url = pg.url("postgres");
        {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
            c.batch_execute(&Dialect::Postgres.ddl(MIGRATIONS[0]))
                .expect("v1 schema");
            c.batch_execute(&V1_ROWS.replace("{b}'", "'\\x"))
                .expect("v1 rows");
        }
        let s = Postgres::connect(&url).expect("migrate");
        let mut view = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        let version: i64 = view
            .query_one("SELECT version FROM schema_version", &[])
            .expect("version")
            .get(0);
        assert_eq!(version, SCHEMA_VERSION);
        migrated_v1_keeps_rows_and_takes_writes(
            Box::new(s),
            &mut || {
                view.query_one("SELECT COUNT(*) FROM mapping_values_named", &[])
                    .expect("view")
                    .get(0)
            },
            &mut || Box::new(Postgres::connect(&url).expect("reconnect")),
        );
    }
}
