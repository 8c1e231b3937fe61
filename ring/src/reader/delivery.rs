//! Delivery: handing out the records of one validated copy, in order, and
//! the copy (`fill`) with its lap handling.

use crate::error::{CorruptError, ReadError};
use crate::layout::*;

use super::checks::{check_header, corrupt, parse_fast, read_word, seq_never, Header, SEQ_NEVER};
use super::{Cur, Item, Lag, LapPolicy, Reader, Record, Step};

impl Reader {
    /// Returns the next item without waiting: a record, a lap report, or
    /// `None` if the reader has caught up with the producer.
    ///
    /// A [`Lag`] is an item, not an error: the reader has already moved past
    /// the missed records, and the next call goes on from there.
    #[inline]
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
    #[inline]
    pub fn advance(
        &mut self,
        mut keep: impl FnMut(u16, &[u8]) -> bool,
    ) -> Result<Option<Step>, ReadError> {
        self.current = None;
        // The common case, inlined into the caller: ordinary records one
        // after the other in the validated copy (as in `receive`). Everything
        // else (a lap to report, the end of the copy, padding, errors) is
        // `advance_slow`, out of line.
        if self.pending_lag.is_none() {
            while let Some(cur) = self.take_fast() {
                if keep(cur.kind, self.payload_of(&cur)) {
                    self.current = Some(cur);
                    return Ok(Some(Step::Record));
                }
            }
            // A poll that finds nothing, inlined too: the copy is used up
            // and the record's own words say the next one is not there yet.
            if self.idle_poll() {
                return Ok(None);
            }
        }
        self.advance_slow(keep)
    }

    /// [`advance`](Reader::advance) past its fast path.
    #[inline(never)]
    fn advance_slow(
        &mut self,
        mut keep: impl FnMut(u16, &[u8]) -> bool,
    ) -> Result<Option<Step>, ReadError> {
        loop {
            if let Some(lag) = self.pending_lag.take() {
                return Ok(Some(Step::Lagged(lag)));
            }
            match self.next_buffered()? {
                Some(rec) => {
                    if keep(rec.kind, self.payload_of(&rec)) {
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
        // A poll that finds nothing (see `advance`).
        if self.idle_poll() {
            return Ok(0);
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
            handler(Item::Record(Record {
                seq: rec.seq,
                kind: rec.kind,
                payload: self.payload_of(&rec),
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
        match self.take_fast() {
            Some(cur) => Ok(Some(cur)),
            None => self.next_buffered_slow(),
        }
    }

    /// The payload of a record just parsed from the validated copy.
    #[inline(always)]
    fn payload_of(&self, cur: &Cur) -> &[u8] {
        debug_assert!(cur.start + cur.len as usize <= self.buf.len());
        // SAFETY: a `Cur` is made only by `take_fast` (`parse_fast`) and
        // `next_buffered_slow`, which checked that its record lies in `buf`,
        // and every caller uses it before `buf` changes.
        unsafe {
            self.buf
                .get_unchecked(cur.start..cur.start + cur.len as usize)
        }
    }

    /// The ordinary record at the cursor of the validated copy, if that is
    /// what is there (`parse_fast`), with the cursor moved past it.
    #[inline(always)]
    fn take_fast(&mut self) -> Option<Cur> {
        let (len, kind, rl) = parse_fast(&self.buf, self.at, self.pos, self.seq, &self.shared.geo)?;
        let cur = Cur {
            start: self.at + RECORD_HEADER_LEN,
            len,
            kind,
            seq: self.seq,
        };
        self.at += rl;
        self.pos += rl as u64;
        self.seq += 1;
        Some(cur)
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
    #[inline]
    pub fn current(&self) -> Option<Record<'_>> {
        self.current.map(|c| Record {
            seq: c.seq,
            kind: c.kind,
            payload: &self.buf[c.start..c.start + c.len as usize],
        })
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
            // Waiting at the cursor without loading the commit line (see
            // `discovered`): only a record that may be there (or a bounded
            // recheck) costs the loads of tail and tail_intent below.
            if self.nothing_new() {
                return Ok(None);
            }
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
}
