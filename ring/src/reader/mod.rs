//! A consumer's cursor over a ring.
//!
//! The reader follows the seqlock discipline that crossbeam's `AtomicCell`
//! documents and Agrona's broadcast receiver applies: it copies a record out of
//! shared memory with relaxed atomic loads into its own buffer, then checks
//! `tail_intent` to learn whether the producer overwrote those bytes during the
//! copy. Only validated bytes are ever parsed or handed out, and what is handed
//! out borrows the reader's own buffer, never the ring.
//!
//! The files of this module, one idea each: this one holds the reader's types
//! and its primitives on the shared counters; [`delivery`] hands records out
//! (`try_next`, `advance`, `receive`, and the lap handling of a fill);
//! [`seek`] finds where to start (`Start`, `resume`, the segment-table
//! search); [`checks`] holds the format's rules for a record header.
//! [`attach`] attaches a reader to a ring in a file.

#[cfg(not(loom))]
mod attach;
mod checks;
mod delivery;
mod seek;

#[cfg(not(loom))]
pub use attach::{Access, AttachError, ProducerInfo, ProducerState};

use crate::error::{CorruptError, SeekError};
use crate::layout::*;
use crate::shared::Shared;
use crate::sync::{fence, Arc, Ordering};
use std::time::Duration;

/// Where a reader starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The oldest record the ring still holds.
    Oldest,
    /// The newest committed record (it is the first one read).
    Newest,
    /// After the newest record: only records committed from now on.
    End,
    /// The record with this sequence number; an error if it is not in the ring.
    Seq(u64),
}

/// Where a lapped reader goes on from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LapPolicy {
    /// From the oldest record that leaves an eighth of the ring as headroom, so
    /// that the reader is not lapped again at once. Loses the least.
    #[default]
    Oldest,
    /// From the newest record: skip to the present.
    Newest,
}

/// Records a reader missed because the producer overwrote them first.
///
/// Sequence numbers rise by exactly one per record, so the range is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lag {
    /// Sequence number of the first record missed.
    pub first_missed: u64,
    /// Sequence number of the last record missed (inclusive).
    pub last_missed: u64,
}

impl Lag {
    /// Number of records missed.
    ///
    /// ```
    /// let lag = slipstream_ring::Lag { first_missed: 10, last_missed: 14 };
    /// assert_eq!(lag.count(), 5);
    /// ```
    pub fn count(&self) -> u64 {
        self.last_missed - self.first_missed + 1
    }
}

/// One record, copied out of the ring and validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Its sequence number.
    pub seq: u64,
    /// Its kind.
    pub kind: u16,
    /// Its payload, in the reader's own buffer.
    pub payload: &'a [u8],
}

/// What a reader yields: a record, or the news that it was lapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// The next record.
    Record(Record<'a>),
    /// Records were overwritten before this reader got to them; it goes on
    /// after them. Not an error: keep reading.
    Lagged(Lag),
}

/// What [`Reader::advance`] moved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A record, now [`Reader::current`].
    Record,
    /// Records were overwritten before this reader got to them; it goes on
    /// after them.
    Lagged(Lag),
}

/// The record [`Reader::advance`] moved to: where its payload lies in the
/// reader's validated copy, and what its header said.
#[derive(Clone, Copy, Debug)]
struct Cur {
    /// Where its payload starts in `buf`.
    start: usize,
    /// Payload bytes.
    len: u32,
    /// Its kind.
    kind: u16,
    /// Its sequence number.
    seq: u64,
}

/// Default bytes copied per batch (one validation per batch), at most a
/// sixteenth of the ring.
const DEFAULT_BATCH: usize = 64 * 1024;

/// A cursor over a ring: reads records in order, and reports laps exactly.
///
/// ```
/// use slipstream_ring::{Item, Layout, Start, Writer};
/// let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
/// let mut r = w.reader(Start::Oldest).unwrap();
/// assert!(r.try_next().unwrap().is_none()); // nothing yet
/// for i in 0..1000u32 { w.publish(1, &i.to_le_bytes()).unwrap(); }
/// match r.try_next().unwrap() {
///     // 4 KiB of data cannot hold 1000 records: the reader learns what it missed.
///     Some(Item::Lagged(lag)) => assert_eq!(lag.first_missed, 1),
///     other => panic!("{other:?}"),
/// }
/// ```
pub struct Reader {
    pub(crate) shared: Arc<Shared>,
    /// Position of the next record the caller will receive (the cursor).
    pos: u64,
    /// Sequence number of the record at `pos`.
    seq: u64,
    policy: LapPolicy,
    /// A validated copy of the ring's bytes from the position the last fill
    /// started at; headers are parsed from it lazily, one record at a time.
    buf: Vec<u8>,
    /// Offset in `buf` of the record at `pos` (`buf` is an image of the
    /// positions `[pos - at, pos - at + buf.len())`).
    at: usize,
    /// The tail the last fill loaded (the copy ends at or below it).
    fill_tail: u64,
    /// A lap to report before anything else (set by `resume`).
    pending_lag: Option<Lag>,
    /// The record `advance` moved to.
    current: Option<Cur>,
    batch: usize,
    /// The ring's wake file, to announce sleeping in (see `set_wake_file`).
    pub(crate) wake_file: Option<crate::shared::WakeFile>,
    /// Fills in a row that `discovered` answered without loading tail.
    idle: u32,
    /// Set by `wait` when it saw the tail past the cursor: the next fill
    /// loads tail whatever the record's words say (this thread's own state;
    /// atomic only because `wait` takes `&self`).
    tail_moved: std::sync::atomic::AtomicBool,
}

/// After this many fills in a row that found nothing new from the record's
/// own words, a fill loads tail anyway: bytes at the cursor that will never
/// show the expected record (a corrupt ring) are then reported within a
/// bounded number of polls, while a polling reader still loads the commit
/// line only once per this many polls.
const RECHECK_TAIL_EVERY: u32 = 1024;

impl Reader {
    pub(crate) fn new(shared: Arc<Shared>, start: Start) -> Result<Reader, SeekError> {
        let first_seq = shared.first_seq;
        let mut r = Reader {
            shared,
            pos: 0,
            seq: first_seq,
            policy: LapPolicy::default(),
            buf: Vec::with_capacity(DEFAULT_BATCH),
            at: 0,
            fill_tail: 0,
            pending_lag: None,
            current: None,
            batch: DEFAULT_BATCH,
            wake_file: None,
            idle: 0,
            tail_moved: std::sync::atomic::AtomicBool::new(false),
        };
        // A batch must be small against the ring: a lapped reader resumes an
        // eighth of the ring ahead of the writer, and a copy as long as the
        // ring would be lapped again before it is validated.
        r.batch = DEFAULT_BATCH
            .min((r.shared.geo.capacity / 16) as usize)
            .max(RECORD_HEADER_LEN);
        r.seek(start)?;
        Ok(r)
    }

    /// Sets where to go on from after being lapped (default [`LapPolicy::Oldest`]).
    pub fn set_lap_policy(&mut self, policy: LapPolicy) {
        self.policy = policy;
    }

    /// Sets how many bytes are copied before one validation (at least one record
    /// is always copied), rounded down to a multiple of 8 (the ring is copied in
    /// 8-byte words). Larger batches validate less often; smaller ones hand
    /// out the first record sooner.
    pub fn set_batch_bytes(&mut self, bytes: usize) {
        self.batch = (bytes & !(RECORD_ALIGN - 1)).max(RECORD_HEADER_LEN);
    }

    /// Sequence number of the next record the caller will receive.
    pub fn next_seq(&self) -> u64 {
        self.seq
    }

    /// Position of the next record the caller will receive: with
    /// [`next_seq`](Reader::next_seq), the cursor to persist and later resume
    /// from with [`Reader::resume`].
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The geometry of the ring.
    pub fn geometry(&self) -> &Geometry {
        &self.shared.geo
    }

    /// Bytes the producer has committed that this reader has not received yet
    /// (more than the capacity means it has been lapped).
    pub fn bytes_behind(&self) -> u64 {
        self.shared
            .tail()
            .load(Ordering::Relaxed)
            .saturating_sub(self.pos)
    }

    /// Whether a record (or a lap report) is ready without waiting.
    pub fn available(&self) -> bool {
        self.pending_lag.is_some()
            || self.at < self.buf.len()
            || self.pos < self.fill_tail
            || self.tail_moved.load(std::sync::atomic::Ordering::Relaxed)
            || (self.discovered() && self.shared.tail().load(Ordering::Acquire) != self.pos)
    }

    /// The check of [`nothing_new`](Reader::nothing_new) for a poll that
    /// has not started a fill: `true` (and one more idle poll counted) if
    /// nothing is new; `false` changes nothing, and the fill that follows
    /// decides (it alone resets the count, so a recheck is never skipped).
    #[inline]
    pub(super) fn idle_poll(&mut self) -> bool {
        if self.at < self.buf.len()
            || self.pos < self.fill_tail
            || *self.tail_moved.get_mut()
            || self.idle >= RECHECK_TAIL_EVERY
            || self.discovered()
        {
            return false;
        }
        self.idle += 1;
        true
    }

    /// Whether a fill may return "nothing new" without loading tail: the
    /// last tail loaded is at the cursor, `wait` did not see it move, the
    /// record's own words say it is not there (`discovered`), and fewer than
    /// [`RECHECK_TAIL_EVERY`] fills in a row have answered so. `false` means
    /// the fill loads tail, which settles the recheck and the wait's news.
    #[inline]
    fn nothing_new(&mut self) -> bool {
        if self.idle_poll() {
            return true;
        }
        self.idle = 0;
        *self.tail_moved.get_mut() = false;
        false
    }

    /// Whether the producer may have committed the record at the cursor (or
    /// lapped the reader): `false` means it certainly had not, as of the
    /// loads made here. Learnt from the record's own words (FORMAT.md
    /// section 6, "Waiting"), which only the writer of that record stores
    /// to, instead of from `tail`, whose line the writer stores to at every
    /// commit: a reader polling `tail` takes that line from the writer at
    /// every publish. Only a `true` is followed by a load of `tail`, which
    /// alone says what is committed (its Acquire is what makes the record's
    /// bytes visible); this is a filter in front of it.
    ///
    /// `false` needs all of: the sequence word at the cursor is not the one
    /// expected (the writer stores it last of the record's bytes, before the
    /// tail: a committed record at the cursor has it); the header word there
    /// is not a padding record's (padding has no sequence word: the record
    /// after it lies at offset 0); and the cursor's bytes are not being
    /// overwritten (`intact`: the writer lapping us may have written anything
    /// there). Whatever the loads see (stale, torn, or another lap's bytes),
    /// a wrong `false` only delays the reader until the stores reach it, and
    /// a wrong `true` costs a load of `tail`.
    #[inline]
    fn discovered(&self) -> bool {
        let geo = &self.shared.geo;
        let off = (self.pos & geo.mask) as usize;
        if geo.capacity as usize - off < RECORD_HEADER_LEN || off % RECORD_ALIGN != 0 {
            // Only a padding record fits here (or the position is corrupt,
            // which the tail path reports).
            return true;
        }
        let data = &self.shared.data;
        // SAFETY: off and off + 8 are 8-aligned and off + 16 <= capacity
        // (checked above), inside the data region.
        let (head, seq) = unsafe {
            (
                data.u64_unchecked(off).load(Ordering::Relaxed),
                data.u64_unchecked(off + 8).load(Ordering::Relaxed),
            )
        };
        seq == self.seq || split_header_word(head).1 == KIND_PADDING || !self.intact(self.pos)
    }

    /// Sleeps until a record is available, a wake arrives, or `timeout`
    /// passes; returns whether a record is available. Does not spin: callers
    /// that want to spin first do so around [`try_next`](Reader::try_next).
    ///
    /// A reader sleeps on the ring's futex word; the producer wakes it (see
    /// [`Wake`](crate::Wake)). A reader without the ring's wake file
    /// (see `Reader::set_wake_file`) cannot announce itself, and polls
    /// instead, at most every millisecond.
    pub fn wait(&self, timeout: Duration) -> bool {
        if self.pending_lag.is_some() || self.at < self.buf.len() {
            return true;
        }
        let moved = self
            .shared
            .wait_past(self.pos, timeout, self.wake_file.as_ref());
        if moved {
            // The tail is past the cursor: the next fill must load it, even
            // if the record's words do not show the record (`nothing_new`).
            self.tail_moved
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        moved
    }

    fn set_position(&mut self, pos: u64, seq: u64) {
        self.pos = pos;
        self.seq = seq;
        self.buf.clear();
        self.at = 0;
        self.pending_lag = None;
        self.current = None;
    }

    /// Whether the bytes at `pos` (and every later position) were not
    /// overwritten before the loads that precede this call.
    #[inline]
    fn intact(&self, pos: u64) -> bool {
        // Pairs with the writer's fence(Release) after it stores tail_intent: if
        // any load before this fence saw a byte the writer stored after
        // announcing an intent, the load of tail_intent below sees that intent.
        fence(Ordering::Acquire);
        let intent = self.shared.tail_intent().load(Ordering::Relaxed);
        intent.saturating_sub(self.shared.geo.capacity) <= pos
    }

    /// Loads `latest` (Acquire, pairing with the writer's Release store),
    /// checking what is impossible whatever the producer does meanwhile: an
    /// unaligned value, or one at or past a tail loaded after it (the writer
    /// stores `latest = P` only after `tail = E > P`). Corruption, reported
    /// as such rather than as a lap.
    fn load_latest(&self) -> Result<u64, CorruptError> {
        let latest = self.shared.latest().load(Ordering::Acquire);
        if latest == NO_RECORD {
            return Ok(latest);
        }
        let tail = self.shared.tail().load(Ordering::Acquire);
        if latest % RECORD_ALIGN as u64 != 0 || latest >= tail {
            return Err(CorruptError::Counter {
                what: "latest",
                detail: format!("{latest} is unaligned or not below tail {tail}"),
            });
        }
        Ok(latest)
    }

    /// Loads tail (Acquire) and tail_intent, checking that they are consistent.
    fn counters(&self) -> Result<(u64, u64), CorruptError> {
        // Acquire pairs with the writer's Release store of tail: every record
        // below the value seen is completely written.
        let tail = self.shared.tail().load(Ordering::Acquire);
        // The writer stores tail_intent before the tail that covers it, so after
        // the Acquire above this load cannot see less than `tail`. Acquire
        // pairs with the writer's Release store of tail_intent: the tail
        // loaded below is then at least the one committed before this intent
        // was announced, which is what the corruption check below needs.
        let intent = self.shared.tail_intent().load(Ordering::Acquire);
        if intent < tail {
            return Err(CorruptError::Counter {
                what: "tail_intent",
                detail: format!("{intent} is below tail {tail}"),
            });
        }
        if tail % RECORD_ALIGN as u64 != 0 {
            return Err(CorruptError::Counter {
                what: "tail",
                detail: format!("{tail} is not {RECORD_ALIGN}-byte aligned"),
            });
        }
        if intent - tail > self.shared.geo.capacity {
            // The producer may have written on between our two loads: compare
            // with a tail loaded after the intent (the tail only grows, and
            // the writer never announces more than a lap past its tail).
            let now = self.shared.tail().load(Ordering::Acquire);
            if intent.saturating_sub(now) > self.shared.geo.capacity {
                return Err(CorruptError::Counter {
                    what: "tail_intent",
                    detail: format!(
                        "{intent} is more than the capacity {} past tail {now}",
                        self.shared.geo.capacity
                    ),
                });
            }
        }
        Ok((tail, intent))
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("next_seq", &self.seq)
            .field("position", &self.pos)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}
