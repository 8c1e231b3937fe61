//! Seeking: where a reader starts (`Start`), resuming a saved cursor, and
//! the segment-table search that finds exact record boundaries.

use crate::error::{CorruptError, SeekError};
use crate::layout::*;
use crate::sync::{retry_hint, Ordering};

use super::checks::{check_header, corrupt, seq_never, Header, SEQ_NEVER};
use super::{Lag, LapPolicy, Reader, Start};

/// How many times a reader retries finding a start position while the producer
/// keeps overwriting it, before it gives up with [`SeekError::Contended`].
const SEEK_ATTEMPTS: u32 = 32;
/// How many records a walk (seek by sequence, find the end) may step through.
const WALK_LIMIT: u64 = 1 << 22;

impl Reader {
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

    pub(super) fn locate_newest_or_end(&self) -> Result<(u64, u64), SeekError> {
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
    pub(super) fn locate_oldest(&self, headroom: u64) -> Result<(u64, u64), SeekError> {
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
