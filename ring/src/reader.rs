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
}

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
            || self.shared.tail().load(Ordering::Acquire) != self.pos
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
        self.shared
            .wait_past(self.pos, timeout, self.wake_file.as_ref())
    }

    /// Moves the reader. Drops any records copied and not yet delivered.
    ///
    /// ```
    /// # use slipstream_ring::{Item, Layout, Start, Writer, SeekError};
    /// let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
    /// for i in 0..5u8 { w.publish(1, &[i]).unwrap(); }
    /// let mut r = w.reader(Start::Seq(3)).unwrap();
    /// assert!(matches!(r.try_next().unwrap(), Some(Item::Record(rec)) if rec.seq == 3));
    /// assert!(matches!(r.seek(Start::Seq(9)), Err(SeekError::InFuture { requested: 9, next: 6 })));
    /// ```
    pub fn seek(&mut self, start: Start) -> Result<(), SeekError> {
        let (pos, seq) = match start {
            Start::Oldest => self.locate_oldest(0)?,
            Start::Newest => match self.locate_latest()? {
                Some(at) => at,
                None => self.locate_end()?,
            },
            Start::End => self.locate_end()?,
            Start::Seq(n) => self.locate_seq(n)?,
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
    /// # use slipstream_ring::{Item, Layout, Start, Writer};
    /// let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
    /// w.publish(1, b"a").unwrap();
    /// w.publish(1, b"b").unwrap();
    /// let mut r = w.reader(Start::Oldest).unwrap();
    /// r.try_next().unwrap();
    /// let (seq, pos) = (r.next_seq(), r.position());
    /// let mut again = w.reader(Start::End).unwrap();
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
    /// # use slipstream_ring::{Layout, Start, Step, Writer};
    /// let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
    /// w.publish(1, b"skip me").unwrap();
    /// w.publish(2, b"keep me").unwrap();
    /// let mut r = w.reader(Start::Oldest).unwrap();
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
            match self.next_buffered()? {
                Some(rec) => {
                    // SAFETY: `next_buffered` checked that the payload lies in `buf`.
                    let payload = unsafe {
                        self.buf
                            .get_unchecked(rec.start..rec.start + rec.len as usize)
                    };
                    if keep(rec.kind, payload) {
                        self.current = Some(rec);
                        return Ok(Some(Step::Record));
                    }
                }
                None => {
                    if let Some(lag) = self.fill()? {
                        return Ok(Some(Step::Lagged(lag)));
                    }
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Hands every record of one validated copy to `handler`, in order, and
    /// returns how many items it handed over (0: the reader has caught up).
    /// The batch form of [`try_next`](Reader::try_next), in the style of
    /// Agrona's `receive(handler)`: one copy out of the ring and one
    /// validation for the whole batch, headers parsed from the copy as the
    /// handler goes.
    ///
    /// A call delivers the records left from the last copy, or, if none are
    /// left, copies the next batch (see [`set_batch_bytes`](Reader::set_batch_bytes))
    /// and delivers its records; at most `max` items either way. A lap is
    /// an item like any other ([`Item::Lagged`]), and ends the call.
    ///
    /// # Errors
    /// As [`try_next`](Reader::try_next): a record that breaks the format.
    /// Records handed to `handler` before it are delivered (the cursor is past
    /// them); the error comes at the next call.
    ///
    /// ```
    /// # use slipstream_ring::{Item, Layout, Start, Writer};
    /// let mut w = Writer::anonymous(Layout::new(1 << 16)).unwrap();
    /// let mut r = w.reader(Start::Oldest).unwrap();
    /// for i in 0..10u8 { w.publish(1, &[i]).unwrap(); }
    /// let mut got = Vec::new();
    /// let n = r.receive(usize::MAX, |item| match item {
    ///     Item::Record(rec) => got.push(rec.payload[0]),
    ///     Item::Lagged(lag) => panic!("lapped: {lag:?}"),
    /// }).unwrap();
    /// assert_eq!(n, 10);
    /// assert_eq!(got, (0..10).collect::<Vec<u8>>());
    /// assert_eq!(r.receive(usize::MAX, |_| ()).unwrap(), 0);
    /// ```
    pub fn receive(
        &mut self,
        max: usize,
        mut handler: impl FnMut(Item<'_>),
    ) -> Result<usize, ReadError> {
        self.current = None;
        if max == 0 {
            return Ok(0);
        }
        if let Some(lag) = self.pending_lag.take() {
            handler(Item::Lagged(lag));
            return Ok(1);
        }
        let mut n = 0;
        let mut filled = false;
        while n < max {
            // The common case, with the cursor in registers: ordinary records
            // one after the other in the validated copy.
            let (mut at, mut pos, mut seq) = (self.at, self.pos, self.seq);
            let buf = &self.buf[..];
            while n < max {
                let Some((len, kind, rl)) = parse_fast(buf, at, pos, seq, &self.shared.geo) else {
                    break;
                };
                let start = at + RECORD_HEADER_LEN;
                // SAFETY: `parse_fast` checked that the record lies in `buf`.
                let payload = unsafe { buf.get_unchecked(start..start + len as usize) };
                handler(Item::Record(Record { seq, kind, payload }));
                at += rl;
                pos += rl as u64;
                seq += 1;
                n += 1;
            }
            (self.at, self.pos, self.seq) = (at, pos, seq);
            if n == max {
                break;
            }
            // Everything else: the end of the copy, padding, a fill, errors.
            let rec = match self.next_buffered_slow() {
                Ok(Some(rec)) => rec,
                Ok(None) if n == 0 && !filled => {
                    filled = true;
                    if let Some(lag) = self.fill()? {
                        handler(Item::Lagged(lag));
                        return Ok(1);
                    }
                    continue;
                }
                Ok(None) => break,
                // Only the first record of a copy can be refused (a later
                // one ends the batch, and the next copy starts with it).
                Err(e) if n == 0 => return Err(e),
                Err(_) => break,
            };
            // SAFETY: `next_buffered` checked that the payload lies in `buf`.
            let payload = unsafe {
                self.buf
                    .get_unchecked(rec.start..rec.start + rec.len as usize)
            };
            handler(Item::Record(Record {
                seq: rec.seq,
                kind: rec.kind,
                payload,
            }));
            n += 1;
        }
        Ok(n)
    }

    /// Parses the record at `pos` from the validated copy and moves the
    /// cursor past it (and past a padding record before it). `None` when the
    /// copy holds no further complete record (then `buf` is emptied, for the
    /// next fill to copy from `pos`).
    ///
    /// A record of the copy that breaks the format, or carries a sequence
    /// number other than the next one, ends the copy if records came before
    /// it (the next fill copies it again and reports it, unless the reader was
    /// lapped meanwhile), and is an error if it is the first: the error
    /// repeats at every call, since the cursor does not move.
    #[inline(always)]
    fn next_buffered(&mut self) -> Result<Option<Cur>, ReadError> {
        if let Some((len, kind, rl)) =
            parse_fast(&self.buf, self.at, self.pos, self.seq, &self.shared.geo)
        {
            let cur = Cur {
                start: self.at + RECORD_HEADER_LEN,
                len,
                kind,
                seq: self.seq,
            };
            self.at += rl;
            self.pos += rl as u64;
            self.seq += 1;
            return Ok(Some(cur));
        }
        self.next_buffered_slow()
    }

    /// [`next_buffered`](Reader::next_buffered) for everything but an
    /// ordinary record: the end of the copy, padding, and what breaks the format.
    #[inline(never)]
    fn next_buffered_slow(&mut self) -> Result<Option<Cur>, ReadError> {
        loop {
            let at = self.at;
            let avail = self.buf.len();
            // `buf.len()` and `at` are multiples of 8, so this one check puts
            // the header word in the copy.
            if at >= avail {
                return Ok(self.exhausted());
            }
            // SAFETY: at + 8 <= avail (both multiples of 8, at < avail).
            let word = unsafe { read_word(&self.buf, at) };
            let header = match check_header(&self.shared.geo, self.pos, word, self.fill_tail) {
                Ok(h) => h,
                Err(e) if at == 0 => {
                    self.buf.clear();
                    return Err(e.into());
                }
                Err(_) => return Ok(self.exhausted()),
            };
            match header {
                Header::Padding(to_end) => {
                    // The padding's body is in the copy or past its end; either
                    // way the record after it is at `at + to_end`.
                    self.pos += to_end;
                    self.at = at + to_end as usize;
                    if self.at > avail {
                        return Ok(self.exhausted());
                    }
                }
                Header::Record { len, kind } => {
                    let rl = record_len(len as u64) as usize;
                    // The one bounds check of the record: it is all in the copy
                    // (header, sequence word, payload: RECORD_HEADER_LEN + len <= rl).
                    if rl > avail - at {
                        // Cut short by the batch's end: the next fill copies it
                        // whole (a fill always completes the first record).
                        return Ok(self.exhausted());
                    }
                    // SAFETY: at + 16 <= at + rl <= avail (checked above).
                    let seq = unsafe { read_word(&self.buf, at + 8) };
                    if seq != self.seq || seq == SEQ_NEVER {
                        if at != 0 {
                            return Ok(self.exhausted());
                        }
                        self.buf.clear();
                        if seq == self.seq {
                            return Err(seq_never(self.pos).into());
                        }
                        return Err(CorruptError::Sequence {
                            pos: self.pos,
                            expected: self.seq,
                            found: seq,
                        }
                        .into());
                    }
                    self.at = at + rl;
                    self.pos += rl as u64;
                    self.seq = seq + 1;
                    return Ok(Some(Cur {
                        start: at + RECORD_HEADER_LEN,
                        len,
                        kind,
                        seq,
                    }));
                }
            }
        }
    }

    /// Drops the rest of the copy: the next fill copies from `pos`.
    #[inline]
    fn exhausted(&mut self) -> Option<Cur> {
        self.buf.clear();
        self.at = 0;
        None
    }

    /// The record the last [`advance`](Reader::advance) moved to, if it moved to one.
    pub fn current(&self) -> Option<Record<'_>> {
        self.current.map(|c| Record {
            seq: c.seq,
            kind: c.kind,
            payload: &self.buf[c.start..c.start + c.len as usize],
        })
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

    /// Copies the next batch of records into `buf` in one span and validates
    /// the copy once; `next_buffered` then parses it. Returns a lap if the
    /// reader was overwritten. A padding record at `pos` is stepped over
    /// here (after validating the copy that says it is one).
    fn fill(&mut self) -> Result<Option<Lag>, ReadError> {
        self.buf.clear();
        self.at = 0;
        let cap = self.shared.geo.capacity;
        // At most a padding record, then the record after it.
        for _ in 0..2 {
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
            if tail - self.pos > cap {
                return self.recover();
            }
            if self.pos % RECORD_ALIGN as u64 != 0 {
                return Err(corrupt(
                    self.pos,
                    format!("position is not {RECORD_ALIGN}-byte aligned"),
                )
                .into());
            }
            self.fill_tail = tail;
            // Saturating: a batch of usize::MAX means "no limit", and pos may
            // lie near 2^64 in a corrupt ring. The span holds at least the
            // first header word: tail - pos >= 8 (both aligned) and the batch
            // is at least a record header.
            let span_end = tail.min(self.pos.saturating_add(self.batch as u64));
            self.copy_span(span_end);
            // SAFETY: the span is at least 8 bytes long (above).
            let word = unsafe { read_word(&self.buf, 0) };
            // Unvalidated: believed only after `intact` below.
            let first = check_header(&self.shared.geo, self.pos, word, tail);
            if let Ok(Header::Record { len, .. }) = first {
                // A first record the span cut short is completed (it ends at
                // or below the tail: check_header).
                let end = self.pos + record_len(len as u64);
                if end > span_end {
                    self.copy_span(end);
                }
            }
            if !self.intact(self.pos) {
                self.buf.clear();
                return self.recover();
            }
            // The copy is good: what it says is really in the ring.
            match first {
                Ok(Header::Padding(to_end)) => {
                    self.buf.clear();
                    self.pos += to_end;
                }
                // A record, or bytes that are not one: `next_buffered` parses
                // the first from the copy and reports the second.
                _ => return Ok(None),
            }
        }
        Err(corrupt(self.pos, "two padding records in a row".into()).into())
    }

    /// The reader was overwritten: move it by its lap policy and say what it missed.
    ///
    /// `None` if the record the reader expects is still in the ring after
    /// all: a reader whose position is a padding record at the end of the data
    /// region is more than a lap behind the tail when the producer has written
    /// past the padding's offset in the next lap, though the record after the
    /// padding (at offset 0) is intact. It goes on from that record, with no gap.
    fn recover(&mut self) -> Result<Option<Lag>, ReadError> {
        let (pos, seq) = match self.policy {
            LapPolicy::Oldest => self.locate_oldest(self.shared.geo.capacity / 8)?,
            LapPolicy::Newest => self.locate_newest_or_end()?,
        };
        if seq == self.seq && pos >= self.pos {
            self.set_position(pos, seq);
            return Ok(None);
        }
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
        Ok(Some(lag))
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
            let Some(latest) = walk_start(self.load_latest()?, tail) else {
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
            let Some(latest) = walk_start(self.load_latest()?, tail) else {
                return Ok((0, self.shared.first_seq));
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

/// The record at offset `at` of the validated copy `buf` (at position
/// `pos`), if it is an ordinary record that carries `seq` and lies whole in
/// the copy: its length, kind and length in the ring. `None` for anything
/// else (the end of the copy, padding, a header or sequence number that
/// breaks the format), which the slow path sorts out. Accepts exactly what
/// [`check_header`] accepts as a record, given that the copy ends at or below
/// the tail it was validated against: that is the one bounds check.
#[inline(always)]
fn parse_fast(
    buf: &[u8],
    at: usize,
    pos: u64,
    seq: u64,
    geo: &Geometry,
) -> Option<(u32, u16, usize)> {
    let avail = buf.len();
    // `at` and `avail` are multiples of 8: the header word is in the copy.
    if at >= avail {
        return None;
    }
    // SAFETY: at + 8 <= avail (above).
    let word = unsafe { read_word(buf, at) };
    let (len, kind, _flags) = split_header_word(word);
    let rl = record_len(len as u64);
    if kind == KIND_INVALID
        || kind == KIND_PADDING
        || len > geo.layout.max_payload
        || rl > (avail - at) as u64
        || (pos & geo.mask) + rl > geo.capacity
    {
        return None;
    }
    // SAFETY: at + 16 <= at + rl <= avail (checked above).
    let found = unsafe { read_word(buf, at + 8) };
    if found != seq || seq == SEQ_NEVER {
        return None;
    }
    Some((len, kind, rl as usize))
}

/// The little-endian 64-bit word at `at` of the reader's copy.
///
/// # Safety
/// `at + 8 <= buf.len()`.
#[inline(always)]
unsafe fn read_word(buf: &[u8], at: usize) -> u64 {
    debug_assert!(at + 8 <= buf.len());
    // SAFETY: in bounds (the caller's contract); any 8 bytes are a valid u64,
    // and `read_unaligned` needs no alignment.
    u64::from_le(unsafe { buf.as_ptr().add(at).cast::<u64>().read_unaligned() })
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
