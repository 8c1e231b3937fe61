//! A consumer's cursor over a ring.
//!
//! The reader follows the seqlock discipline that crossbeam's `AtomicCell`
//! documents and Agrona's broadcast receiver applies: it copies a record out of
//! shared memory with relaxed atomic loads into its own buffer, then checks
//! `tail_intent` to learn whether the producer overwrote those bytes during the
//! copy. Only validated bytes are ever parsed or handed out, and what is handed
//! out borrows the reader's own buffer, never the ring.

use crate::error::{CorruptError, ReadError, SeekError};
use crate::layout::*;
use crate::shared::Shared;
use crate::sync::{fence, retry_hint, Arc, Ordering};
use std::time::Duration;

/// Where a reader starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest record the ring still holds.
    Oldest,
    /// The newest committed record (it is the first one read).
    Latest,
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

/// A record copied into the reader's buffer, as parsed from the copy (trusted
/// once the copy is validated).
#[derive(Clone, Copy, Debug)]
struct BufRec {
    /// Where its payload starts in `buf`.
    start: usize,
    /// Payload bytes.
    len: u32,
    /// Its kind.
    kind: u16,
    /// Its sequence number.
    seq: u64,
    /// The position after it.
    end: u64,
}

/// What a record header says, once checked.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Header {
    /// A padding record of this many bytes (to the end of the data region).
    Padding(u64),
    /// A record.
    Record {
        /// Payload bytes.
        len: u32,
        /// Its kind.
        kind: u16,
    },
}

/// How many times a reader retries finding a start position while the producer
/// keeps overwriting it, before it gives up with [`SeekError::Contended`].
const SEEK_ATTEMPTS: u32 = 32;
/// Default bytes copied per batch (one validation per batch), at most a
/// sixteenth of the ring.
const DEFAULT_BATCH: usize = 64 * 1024;
/// How many records a walk (seek by sequence, find the end) may step through.
const WALK_LIMIT: u64 = 1 << 22;
/// The one sequence number no record may carry: the record after it would
/// need 2^64. A reader that finds it treats the bytes as corrupt, so that
/// every `seq + 1` it computes fits (no producer gets near: 584 years at 1 G/s).
const SEQ_NEVER: u64 = u64::MAX;

/// A cursor over a ring: reads records in order, and reports laps exactly.
///
/// ```
/// use slipstream_ring::{Item, Layout, StartAt, Writer};
/// let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
/// let mut r = w.reader(StartAt::Oldest).unwrap();
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
    /// Position of the next record to copy.
    pos: u64,
    /// Sequence number of the record at `pos`.
    seq: u64,
    policy: LapPolicy,
    /// Validated records: 16-byte header and payload, each padded to 8 bytes.
    buf: Vec<u8>,
    /// The records in `buf`: where each starts in `buf`, and the position after it.
    recs: Vec<BufRec>,
    /// Next record of `buf` to deliver (index into `recs`).
    next: usize,
    /// Cursor of the delivery point: the next record the caller will receive.
    cursor_seq: u64,
    cursor_pos: u64,
    /// A lap to report before anything else (set by `resume`).
    pending_lag: Option<Lag>,
    /// The record `advance` moved to (an index into `recs`).
    current: Option<usize>,
    batch: usize,
}

impl Reader {
    pub(crate) fn new(shared: Arc<Shared>, start: StartAt) -> Result<Reader, SeekError> {
        let first_seq = shared.first_seq();
        let mut r = Reader {
            shared,
            pos: 0,
            seq: first_seq,
            policy: LapPolicy::default(),
            buf: Vec::with_capacity(DEFAULT_BATCH),
            recs: Vec::new(),
            next: 0,
            cursor_seq: first_seq,
            cursor_pos: 0,
            pending_lag: None,
            current: None,
            batch: DEFAULT_BATCH,
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
        self.cursor_seq
    }

    /// Position of the next record the caller will receive: with
    /// [`next_seq`](Reader::next_seq), the cursor to persist and later resume
    /// from with [`Reader::resume`].
    pub fn position(&self) -> u64 {
        self.cursor_pos
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
            .saturating_sub(self.cursor_pos)
    }

    /// Whether a record (or a lap report) is ready without waiting.
    pub fn available(&self) -> bool {
        self.pending_lag.is_some()
            || self.next < self.recs.len()
            || self.shared.tail().load(Ordering::Acquire) != self.pos
    }

    /// Sleeps until a record is available, a wake arrives, or `timeout`
    /// passes; returns whether a record is available. Does not spin: callers
    /// that want to spin first do so around [`try_next`](Reader::try_next).
    ///
    /// A reader sleeps on the ring's futex word; the producer wakes it (see
    /// [`WakeMode`](crate::WakeMode)). A reader that cannot write the wake page
    /// (a read-only file) polls instead, at most every millisecond.
    pub fn wait(&self, timeout: Duration) -> bool {
        if self.pending_lag.is_some() || self.next < self.recs.len() {
            return true;
        }
        self.shared.wait_past(self.pos, timeout)
    }

    /// Moves the reader. Drops any records copied and not yet delivered.
    ///
    /// ```
    /// # use slipstream_ring::{Item, Layout, StartAt, Writer, SeekError};
    /// let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
    /// for i in 0..5u8 { w.publish(1, &[i]).unwrap(); }
    /// let mut r = w.reader(StartAt::Seq(3)).unwrap();
    /// assert!(matches!(r.try_next().unwrap(), Some(Item::Record(rec)) if rec.seq == 3));
    /// assert!(matches!(r.seek(StartAt::Seq(9)), Err(SeekError::InFuture { requested: 9, next: 6 })));
    /// ```
    pub fn seek(&mut self, start: StartAt) -> Result<(), SeekError> {
        let (pos, seq) = match start {
            StartAt::Oldest => self.locate_oldest(0)?,
            StartAt::Latest => match self.locate_latest()? {
                Some(at) => at,
                None => self.locate_end()?,
            },
            StartAt::End => self.locate_end()?,
            StartAt::Seq(n) => self.locate_seq(n)?,
        };
        self.set_position(pos, seq);
        Ok(())
    }

    /// Resumes from a cursor saved earlier ([`next_seq`](Reader::next_seq) and
    /// [`position`](Reader::position)).
    ///
    /// If the record at `position` still carries `next_seq`, the reader goes on
    /// from there. If that record was overwritten, the reader goes on from the
    /// oldest retained record (by its [`LapPolicy`]), and the first item it
    /// yields is the exact [`Lag`]. A cursor that does not match the ring at all
    /// (a stale position hint) is found again by its sequence number.
    ///
    /// ```
    /// # use slipstream_ring::{Item, Layout, StartAt, Writer};
    /// let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
    /// w.publish(1, b"a").unwrap();
    /// w.publish(1, b"b").unwrap();
    /// let mut r = w.reader(StartAt::Oldest).unwrap();
    /// r.try_next().unwrap();
    /// let (seq, pos) = (r.next_seq(), r.position());
    /// let mut again = w.reader(StartAt::End).unwrap();
    /// again.resume(seq, pos).unwrap();
    /// assert!(matches!(again.try_next().unwrap(), Some(Item::Record(rec)) if rec.payload == b"b"));
    /// ```
    pub fn resume(&mut self, next_seq: u64, position: u64) -> Result<(), SeekError> {
        if self.cursor_matches(next_seq, position) {
            self.set_position(position, next_seq);
            return Ok(());
        }
        match self.locate_seq(next_seq) {
            Ok((pos, seq)) => {
                self.set_position(pos, seq);
                Ok(())
            }
            Err(SeekError::NotRetained { oldest, .. }) if next_seq < oldest => {
                let (pos, seq) = match self.policy {
                    LapPolicy::Oldest => self.locate_oldest(self.shared.geo.capacity / 8)?,
                    LapPolicy::Newest => self.locate_newest_or_end()?,
                };
                self.set_position(pos, seq);
                if seq > next_seq {
                    self.pending_lag = Some(Lag {
                        first_missed: next_seq,
                        last_missed: seq - 1,
                    });
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Returns the next item without waiting: a record, a lap report, or
    /// `None` if the reader has caught up with the producer.
    ///
    /// A [`Lag`] is an item, not an error: the reader has already moved past
    /// the missed records, and the next call goes on from there.
    pub fn try_next(&mut self) -> Result<Option<Item<'_>>, ReadError> {
        Ok(match self.advance(|_, _| true)? {
            None => None,
            Some(Step::Lagged(lag)) => Some(Item::Lagged(lag)),
            Some(Step::Record) => self.current().map(Item::Record),
        })
    }

    /// Moves to the next record for which `keep(kind, payload)` is true (or
    /// to a lap report), without returning a borrow: the record is then
    /// [`current`](Reader::current). Records `keep` rejects are passed over
    /// (the cursor moves past them). This is the building block for filtering
    /// consumers, and for loops that decide whether to return after looking.
    ///
    /// ```
    /// # use slipstream_ring::{Layout, StartAt, Step, Writer};
    /// let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
    /// w.publish(1, b"skip me").unwrap();
    /// w.publish(2, b"keep me").unwrap();
    /// let mut r = w.reader(StartAt::Oldest).unwrap();
    /// assert_eq!(r.advance(|kind, _| kind == 2).unwrap(), Some(Step::Record));
    /// assert_eq!(r.current().unwrap().payload, b"keep me");
    /// ```
    pub fn advance(
        &mut self,
        mut keep: impl FnMut(u16, &[u8]) -> bool,
    ) -> Result<Option<Step>, ReadError> {
        self.current = None;
        loop {
            if let Some(lag) = self.pending_lag.take() {
                return Ok(Some(Step::Lagged(lag)));
            }
            if self.next == self.recs.len() {
                if let Some(lag) = self.fill()? {
                    return Ok(Some(Step::Lagged(lag)));
                }
                if self.recs.is_empty() {
                    return Ok(None);
                }
            }
            let rec = self.recs[self.next];
            let kept = keep(rec.kind, &self.buf[rec.start..rec.start + rec.len as usize]);
            self.cursor_pos = rec.end;
            self.cursor_seq = rec.seq + 1;
            self.next += 1;
            if kept {
                self.current = Some(self.next - 1);
                return Ok(Some(Step::Record));
            }
        }
    }

    /// The record the last [`advance`](Reader::advance) moved to, if it moved to one.
    pub fn current(&self) -> Option<Record<'_>> {
        self.current.map(|i| {
            let c = &self.recs[i];
            Record {
                seq: c.seq,
                kind: c.kind,
                payload: &self.buf[c.start..c.start + c.len as usize],
            }
        })
    }

    fn set_position(&mut self, pos: u64, seq: u64) {
        self.pos = pos;
        self.seq = seq;
        self.cursor_pos = pos;
        self.cursor_seq = seq;
        self.buf.clear();
        self.recs.clear();
        self.next = 0;
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

    /// Loads the header of the record at `p` (stepping over a padding record)
    /// without validating the copy. Returns its position, length, kind and
    /// sequence number, or what makes the bytes not a record. The caller must
    /// check [`intact`](Reader::intact) before believing either answer.
    fn peek(&self, p: u64, tail: u64) -> Result<(u64, u32, u16, u64), CorruptError> {
        let geo = &self.shared.geo;
        let data = &self.shared.data;
        let mut p = p;
        for _ in 0..2 {
            if p % RECORD_ALIGN as u64 != 0 {
                return Err(corrupt(
                    p,
                    format!("position is not {RECORD_ALIGN}-byte aligned"),
                ));
            }
            let off = p & geo.mask;
            let word = data.u64(off as usize).load(Ordering::Relaxed);
            match check_header(&self.shared.geo, p, word, tail)? {
                Header::Padding(to_end) => p += to_end,
                Header::Record { len, kind } => {
                    let seq = data.u64(off as usize + 8).load(Ordering::Relaxed);
                    if seq == SEQ_NEVER {
                        return Err(seq_never(p));
                    }
                    return Ok((p, len, kind, seq));
                }
            }
        }
        Err(corrupt(p, "two padding records in a row".into()))
    }

    /// Loads tail (Acquire) and tail_intent, checking that they are consistent.
    fn counters(&self) -> Result<(u64, u64), CorruptError> {
        // Acquire pairs with the writer's Release store of tail: every record
        // below the value seen is completely written.
        let tail = self.shared.tail().load(Ordering::Acquire);
        // The writer stores tail_intent before the tail that covers it, so after
        // the Acquire above this load cannot see less than `tail`.
        let intent = self.shared.tail_intent().load(Ordering::Relaxed);
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
        Ok((tail, intent))
    }

    /// Copies the positions `[self.pos + buf.len(), to)` into `buf` (the
    /// data region is circular: a span that reaches its end goes on at its
    /// start). Unvalidated until [`intact`](Reader::intact) says so.
    fn copy_span(&mut self, to: u64) {
        let mask = self.shared.geo.mask;
        let cap = self.shared.geo.capacity;
        let mut from = self.pos + self.buf.len() as u64;
        while from < to {
            let off = from & mask;
            let n = (to - from).min(cap - off) as usize;
            self.shared
                .data
                .copy_out_append(off as usize, n, &mut self.buf);
            from += n as u64;
        }
    }

    /// Copies the next batch of records into `buf` in one span, validates the
    /// copy once, then parses it and checks its sequence numbers. Returns a lap
    /// if the reader was overwritten.
    fn fill(&mut self) -> Result<Option<Lag>, ReadError> {
        self.buf.clear();
        self.recs.clear();
        self.next = 0;
        let (tail, _) = self.counters()?;
        if tail == self.pos {
            return Ok(None);
        }
        if tail < self.pos {
            return Err(CorruptError::TailRegressed {
                was: self.pos,
                now: tail,
            }
            .into());
        }
        let cap = self.shared.geo.capacity;
        if tail - self.pos > cap {
            return self.recover().map(Some);
        }
        if self.pos % RECORD_ALIGN as u64 != 0 {
            return Err(corrupt(
                self.pos,
                format!("position is not {RECORD_ALIGN}-byte aligned"),
            )
            .into());
        }
        // Copy a span, then find the records in the copy; a record the span
        // cut short is completed with a second copy if it is the first one.
        // Saturating: a batch of usize::MAX means "no limit", and pos may lie
        // near 2^64 in a corrupt ring.
        let span_end = tail.min(self.pos.saturating_add(self.batch as u64));
        self.copy_span(span_end);
        let mut p = self.pos;
        let mut bad = None;
        while p < tail {
            let at = (p - self.pos) as usize;
            if at + 8 > self.buf.len() {
                if !self.recs.is_empty() {
                    break;
                }
                self.copy_span(tail.min(p + 8));
            }
            let word = u64::from_le_bytes(self.buf[at..at + 8].try_into().unwrap());
            match check_header(&self.shared.geo, p, word, tail) {
                Err(e) => {
                    bad = Some(e);
                    break;
                }
                Ok(Header::Padding(to_end)) => {
                    p += to_end;
                    if (p - self.pos) as usize > self.buf.len() {
                        // The padding is not worth copying: skip over it.
                        self.copy_skip(p);
                    }
                }
                Ok(Header::Record { len, kind }) => {
                    let end = p + record_len(len as u64);
                    if (end - self.pos) as usize > self.buf.len() {
                        if !self.recs.is_empty() {
                            break;
                        }
                        self.copy_span(end);
                    }
                    let seq = u64::from_le_bytes(self.buf[at + 8..at + 16].try_into().unwrap());
                    self.recs.push(BufRec {
                        start: at + RECORD_HEADER_LEN,
                        len,
                        kind,
                        seq,
                        end,
                    });
                    p = end;
                }
            }
        }
        if !self.intact(self.pos) {
            self.buf.clear();
            self.recs.clear();
            return self.recover().map(Some);
        }
        // The copy is good: what it says is really in the ring.
        if self.recs.is_empty() {
            if let Some(e) = bad {
                return Err(e.into());
            }
        }
        let mut expected = self.seq;
        let mut start_pos = self.pos;
        for i in 0..self.recs.len() {
            let seq = self.recs[i].seq;
            if seq != expected || seq == SEQ_NEVER {
                if i == 0 {
                    self.recs.clear();
                    self.buf.clear();
                    if seq == expected {
                        return Err(seq_never(start_pos).into());
                    }
                    return Err(CorruptError::Sequence {
                        pos: start_pos,
                        expected,
                        found: seq,
                    }
                    .into());
                }
                // Deliver the good records first; the next fill reports this one.
                self.recs.truncate(i);
                break;
            }
            start_pos = self.recs[i].end;
            expected += 1;
        }
        self.pos = self.recs.last().map_or(self.pos, |r| r.end);
        self.seq = expected;
        Ok(None)
    }

    /// Extends `buf` to position `to` without copying (over a padding
    /// record's body), keeping `buf` an image of positions from `self.pos`.
    fn copy_skip(&mut self, to: u64) {
        let len = (to - self.pos) as usize;
        self.buf.resize(len, 0);
    }

    /// The reader was overwritten: move it by its lap policy and say what it missed.
    fn recover(&mut self) -> Result<Lag, ReadError> {
        let (pos, seq) = match self.policy {
            LapPolicy::Oldest => self.locate_oldest(self.shared.geo.capacity / 8)?,
            LapPolicy::Newest => self.locate_newest_or_end()?,
        };
        if seq <= self.seq {
            return Err(CorruptError::Sequence {
                pos,
                expected: self.seq,
                found: seq,
            }
            .into());
        }
        let lag = Lag {
            first_missed: self.seq,
            last_missed: seq - 1,
        };
        self.set_position(pos, seq);
        Ok(lag)
    }

    fn cursor_matches(&self, seq: u64, pos: u64) -> bool {
        let Ok((tail, _)) = self.counters() else {
            return false;
        };
        if pos > tail || tail - pos > self.shared.geo.capacity {
            return false;
        }
        if pos == tail {
            return matches!(self.locate_end(), Ok((p, s)) if p == pos && s == seq);
        }
        match self.peek(pos, tail) {
            Ok((_, _, _, s)) => self.intact(pos) && s == seq,
            Err(_) => false,
        }
    }

    fn locate_newest_or_end(&self) -> Result<(u64, u64), SeekError> {
        match self.locate_latest()? {
            Some(at) => Ok(at),
            None => self.locate_end(),
        }
    }

    /// The newest committed record (or the one before it, if the producer is
    /// between its two commit stores), or `None` if the ring has none.
    fn locate_latest(&self) -> Result<Option<(u64, u64)>, SeekError> {
        for _ in 0..SEEK_ATTEMPTS {
            retry_hint();
            let (tail, _) = self.counters()?;
            // Acquire pairs with the writer's Release store of latest.
            let Some(latest) = walk_start(self.shared.latest().load(Ordering::Acquire), tail)
            else {
                return Ok(None);
            };
            if latest >= tail {
                continue; // a newer commit than the tail we loaded: load again
            }
            let found = self.peek(latest, tail);
            if !self.intact(latest) {
                continue;
            }
            let (p, _, _, seq) = found?;
            return Ok(Some((p, seq)));
        }
        Err(SeekError::Contended {
            attempts: SEEK_ATTEMPTS,
        })
    }

    /// The position after the newest record, and the sequence number the next
    /// record will carry there.
    fn locate_end(&self) -> Result<(u64, u64), SeekError> {
        for _ in 0..SEEK_ATTEMPTS {
            retry_hint();
            let (tail, _) = self.counters()?;
            let Some(latest) = walk_start(self.shared.latest().load(Ordering::Acquire), tail)
            else {
                return Ok((0, self.shared.first_seq()));
            };
            if latest >= tail {
                continue;
            }
            // `latest` trails tail by at most one record (and a padding record).
            let mut p = latest;
            let mut last_seq = None;
            let mut err = None;
            for _ in 0..4 {
                if p >= tail {
                    break;
                }
                match self.peek(p, tail) {
                    Ok((rp, len, _, seq)) => {
                        if let Some(prev) = last_seq {
                            if seq != prev + 1 {
                                err = Some(CorruptError::Sequence {
                                    pos: rp,
                                    expected: prev + 1,
                                    found: seq,
                                });
                                break;
                            }
                        }
                        last_seq = Some(seq);
                        p = rp + record_len(len as u64);
                    }
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            if !self.intact(latest) {
                continue;
            }
            if let Some(e) = err {
                return Err(e.into());
            }
            match last_seq {
                Some(seq) if p == tail => return Ok((tail, seq + 1)),
                _ if p < tail => {
                    // More than a record behind: the tail moved on; try again.
                    continue;
                }
                _ => {
                    return Err(CorruptError::Counter {
                        what: "latest",
                        detail: format!("records from latest {latest} do not end at tail {tail}"),
                    }
                    .into())
                }
            }
        }
        Err(SeekError::Contended {
            attempts: SEEK_ATTEMPTS,
        })
    }

    /// The segment table's entries `(pos, seq)` that may name a record in
    /// `[lowest, tail)`: in that range, and stored in the entry their position
    /// maps to. Each must still be checked against the record it names.
    fn segment_entries(&self, lowest: u64, tail: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let geo = &self.shared.geo;
        let k = geo.segments();
        (0..k)
            .map(|i| (i, self.shared.segment(i)))
            .filter(move |&(i, (p, _))| {
                p >= lowest && p < tail && ((p >> geo.segment_shift) as usize & (k - 1)) == i
            })
            .map(|(_, e)| e)
    }

    /// The oldest record at least `headroom` bytes inside the retained window,
    /// found through the segment table.
    fn locate_oldest(&self, headroom: u64) -> Result<(u64, u64), SeekError> {
        let geo = &self.shared.geo;
        for _ in 0..SEEK_ATTEMPTS {
            retry_hint();
            let (tail, intent) = self.counters()?;
            if tail == 0 {
                return self.locate_end();
            }
            let lowest = intent.saturating_sub(geo.capacity) + headroom;
            let mut candidates: Vec<(u64, u64)> = self.segment_entries(lowest, tail).collect();
            candidates.sort_unstable();
            for (p, s) in candidates {
                let found = self.peek(p, tail);
                if !self.intact(p) {
                    continue;
                }
                if let Ok((rp, _, _, seq)) = found {
                    if rp == p && seq == s {
                        return Ok((p, s));
                    }
                }
                // An entry caught mid-update, or damaged: try the next one.
            }
            // No usable entry (huge records can leave the window without one):
            // the newest record is always reachable.
            if let Some(at) = self.locate_latest()? {
                return Ok(at);
            }
        }
        Err(SeekError::Contended {
            attempts: SEEK_ATTEMPTS,
        })
    }

    /// The record with sequence number `n`.
    fn locate_seq(&self, n: u64) -> Result<(u64, u64), SeekError> {
        for _ in 0..SEEK_ATTEMPTS {
            retry_hint();
            let (end_pos, end_seq) = self.locate_end()?;
            if n == end_seq {
                return Ok((end_pos, end_seq));
            }
            if n > end_seq {
                return Err(SeekError::InFuture {
                    requested: n,
                    next: end_seq,
                });
            }
            let (oldest_pos, oldest_seq) = self.locate_oldest(0)?;
            if n < oldest_seq {
                return Err(SeekError::NotRetained {
                    requested: n,
                    oldest: oldest_seq,
                });
            }
            // Start from the segment entry closest below n, then walk.
            let (tail, _) = self.counters()?;
            let (mut p, mut s) = self
                .segment_entries(oldest_pos, tail)
                .filter(|&(_, s)| s <= n && s >= oldest_seq)
                .max_by_key(|&(_, s)| s)
                .unwrap_or((oldest_pos, oldest_seq));
            let start = p;
            let mut err = None;
            let mut steps = 0;
            while s < n && steps < WALK_LIMIT {
                match self.peek(p, tail) {
                    Ok((rp, len, _, seq)) if seq == s => {
                        p = rp + record_len(len as u64);
                        s += 1;
                    }
                    Ok((rp, _, _, seq)) => {
                        err = Some(CorruptError::Sequence {
                            pos: rp,
                            expected: s,
                            found: seq,
                        });
                        break;
                    }
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
                steps += 1;
            }
            if !self.intact(start) {
                continue; // lapped while walking: the window moved; look again
            }
            if let Some(e) = err {
                // A stale segment entry can name a record of another seq: only a
                // walk from the oldest record that still fails is corruption.
                if start == oldest_pos {
                    return Err(e.into());
                }
                continue;
            }
            if s == n {
                return Ok((p, s));
            }
        }
        Err(SeekError::Contended {
            attempts: SEEK_ATTEMPTS,
        })
    }
}

/// Where a walk to the tail starts: `latest`, or position 0 if the producer
/// committed its first record but has not stored `latest` yet (it stores `tail`
/// first). `None` if the ring holds no record.
fn walk_start(latest: u64, tail: u64) -> Option<u64> {
    match (latest, tail) {
        (NO_RECORD, 0) => None,
        (NO_RECORD, _) => Some(0),
        (latest, _) => Some(latest),
    }
}

/// Checks the header word of the record at position `p` against the
/// format's rules. The word may come from an unvalidated copy: the caller
/// believes the answer only after checking [`Reader::intact`]. Producer
/// recovery uses the same rules on the words it reads from the file.
#[inline]
pub(crate) fn check_header(
    geo: &Geometry,
    p: u64,
    word: u64,
    tail: u64,
) -> Result<Header, CorruptError> {
    let off = p & geo.mask;
    let (len, kind, _flags) = split_header_word(word);
    let room = tail.saturating_sub(p);
    if kind == KIND_PADDING {
        let to_end = geo.capacity - off;
        // `tail - p`, not `p + to_end`: in a corrupt ring `p` may lie in
        // the last lap below 2^64, where the sum overflows (0 if p > tail).
        if len as u64 != to_end || to_end >= room {
            return Err(bad_padding(p, len, to_end));
        }
        return Ok(Header::Padding(to_end));
    }
    let rl = record_len(len as u64);
    // As for padding: no `p + rl`, which can overflow in a corrupt ring.
    if kind == KIND_INVALID || len > geo.layout.max_payload || off + rl > geo.capacity || rl > room
    {
        return Err(bad_record(p, len, kind, geo, tail));
    }
    Ok(Header::Record { len, kind })
}

/// Why a padding record's header is impossible (out of the hot path).
#[cold]
#[inline(never)]
fn bad_padding(p: u64, len: u32, to_end: u64) -> CorruptError {
    if len as u64 != to_end {
        corrupt(
            p,
            format!("padding record of {len} bytes, but {to_end} bytes remain to the end of the data region"),
        )
    } else {
        corrupt(
            p,
            "padding record is not followed by a committed record".into(),
        )
    }
}

/// Why a record's header is impossible (out of the hot path).
#[cold]
#[inline(never)]
fn bad_record(p: u64, len: u32, kind: u16, geo: &Geometry, tail: u64) -> CorruptError {
    let rl = record_len(len as u64);
    if kind == KIND_INVALID {
        corrupt(p, "record kind 0 (not a record)".into())
    } else if len > geo.layout.max_payload {
        corrupt(
            p,
            format!(
                "length {len} exceeds the ring's maximum payload {}",
                geo.layout.max_payload
            ),
        )
    } else if (p & geo.mask) + rl > geo.capacity {
        corrupt(
            p,
            format!("record of {rl} bytes crosses the end of the data region"),
        )
    } else {
        corrupt(
            p,
            format!("record of {rl} bytes extends past the committed tail {tail}"),
        )
    }
}

fn corrupt(pos: u64, detail: String) -> CorruptError {
    CorruptError::Record { pos, detail }
}

fn seq_never(pos: u64) -> CorruptError {
    corrupt(
        pos,
        format!("sequence number {SEQ_NEVER} (2^64-1) is never written"),
    )
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("next_seq", &self.cursor_seq)
            .field("position", &self.cursor_pos)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}
