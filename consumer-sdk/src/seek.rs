//! Positions: moving a consumer to a [`Start`](crate::Start), and what the ring holds ([`Available`](crate::Available)).

use crate::delivery::{self, Here};
use crate::{journal, Available, Consumer, ConsumerError, Start};
use slipstream_event::{EventKind, EventRef};
use slipstream_journal::JournalStart;
use slipstream_ring::{Reader, Start as RingStart, Step};
use std::path::Path;

impl Consumer {
    /// Positions a newly attached consumer with a journal in `dir`: from its
    /// saved cursor (the ring's cursor file, else the durable one in `dir`),
    /// else at `start`, from the ring or, when the ring no longer holds it,
    /// from the journal.
    pub(crate) fn open_journal(
        &mut self,
        dir: &Path,
        saved: Option<(u64, u64)>,
        start: Start,
        reset: bool,
    ) -> Result<(), ConsumerError> {
        let j = journal::Catchup::new(dir, self.name().map(str::to_owned));
        let durable = if reset { None } else { j.load()? };
        self.journal = Some(j);
        if let Some((n, pos)) = saved.or(durable.map(|n| (n, u64::MAX))) {
            // Learn what a gap at the cursor would belong to first.
            self.prime(n);
            self.reposition(n, pos)?;
            // Until the application has moved past what comes first (a
            // lap report included), the stored cursor stays where it was.
            self.handed = match self.cursor() {
                here if here.0 == n => here,
                _ => (n, if pos == u64::MAX { 0 } else { pos }),
            };
            self.acked = self.handed;
            return Ok(());
        }
        let from_journal = match start {
            Start::Seq(n) => match self.seek(start) {
                Err(ConsumerError::StartUnavailable { .. }) => JournalStart::Seq(n),
                other => return other,
            },
            // The oldest block: the journal's, if it reaches further back.
            Start::Height(0) => {
                self.seek(start)?;
                let ring_oldest = self.reader.next_seq();
                let oldest = match slipstream_journal::summary(dir) {
                    Ok(s) if s.first_seq().is_some_and(|f| f < ring_oldest) => s.oldest_height(),
                    Ok(_) => None,
                    Err(e) if journal::absent(&e) => None,
                    Err(e) => return Err(e.into()),
                };
                match oldest {
                    Some(h) => JournalStart::Height(h),
                    None => return Ok(()),
                }
            }
            Start::Height(h) => match self.seek(start) {
                Err(ConsumerError::StartUnavailable { .. }) => JournalStart::Height(h),
                other => return other,
            },
            Start::Oldest => {
                self.seek(start)?;
                let ring_oldest = self.reader.next_seq();
                let journal_first = match slipstream_journal::summary(dir) {
                    Ok(s) => s.first_seq(),
                    Err(e) if journal::absent(&e) => None,
                    Err(e) => return Err(e.into()),
                };
                if journal_first.is_none_or(|f| f >= ring_oldest) {
                    return Ok(());
                }
                JournalStart::Oldest
            }
            Start::Newest | Start::End => return self.seek(start),
        };
        let j = self.journal.as_mut().expect("just set");
        j.replay_from(from_journal)?;
        let n = j.cursor().expect("replaying");
        self.prime(n);
        self.from_journal = false;
        self.handed = self.cursor();
        self.acked = self.handed;
        Ok(())
    }

    /// Moves the consumer.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::StartUnavailable`] if `start` is a sequence number or
    /// a block that is no longer retained (positions not written yet are
    /// waited for); [`ConsumerError::Seek`] if the ring is corrupt or the
    /// producer kept overwriting the position.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-lib-1365-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, ConsumerError, Start};
    /// let mut c = Consumer::builder(&path).open()?;
    /// match c.seek(Start::Height(1_000_000)) {
    ///     Err(ConsumerError::StartUnavailable { available, .. }) => {
    ///         eprintln!("too old: {available}");
    ///         c.seek(Start::Height(0))?; // the oldest block instead
    ///     }
    ///     other => other?,
    /// }
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seek(&mut self, start: Start) -> Result<(), ConsumerError> {
        if let Some(j) = self.journal.as_mut() {
            j.stop();
        }
        self.from_journal = false;
        self.block.clear();
        self.block_mode = false;
        self.held = None;
        self.filter.from_height = None;
        self.skip_below = None;
        match start {
            Start::Oldest => self.reader.seek(RingStart::Oldest)?,
            Start::Newest => self.reader.seek(RingStart::Newest)?,
            Start::End => self.reader.seek(RingStart::End)?,
            Start::Seq(n) => self.seek_seq(n)?,
            Start::Height(h) => self.seek_height(h)?,
        }
        let (seq, pos) = (self.reader.next_seq(), self.reader.position());
        self.prime(seq);
        self.reader.resume(seq, pos)?;
        self.handed = (seq, pos);
        self.acked = self.handed;
        Ok(())
    }

    /// Learns where a gap at sequence number `seq` would begin, from the
    /// record before it (or the one at it); leaves the reader anywhere.
    pub(crate) fn prime(&mut self, seq: u64) {
        self.at = None;
        if seq > 1 && self.reader.seek(RingStart::Seq(seq - 1)).is_ok() {
            if let Ok(Some(Step::Record)) = self.reader.advance(|_, _| true) {
                if let Some(rec) = self.reader.current() {
                    self.at = delivery::after(rec.kind, rec.payload);
                    return;
                }
            }
        }
        if self.reader.seek(RingStart::Seq(seq)).is_ok() {
            if let Ok(Some(Step::Record)) = self.reader.advance(|_, _| true) {
                if let Some(rec) = self.reader.current() {
                    self.at = delivery::head(rec.kind, rec.payload).map(|h| Here {
                        height: h.height,
                        partial: !h.begin,
                    });
                    return;
                }
            }
        }
        // Not in the ring: the journal may hold them.
        let Some(j) = self.journal.as_ref() else {
            return;
        };
        if let Some((kind, payload)) = (seq > 1).then(|| j.record_at(seq - 1)).flatten() {
            self.at = delivery::after(kind, &payload);
        } else if let Some((kind, payload)) = j.record_at(seq) {
            self.at = delivery::head(kind, &payload).map(|h| Here {
                height: h.height,
                partial: !h.begin,
            });
        }
    }

    /// Goes to sequence number `n`, or waits for it if it is not written yet.
    fn seek_seq(&mut self, n: u64) -> Result<(), ConsumerError> {
        for _ in 0..8 {
            match self.reader.seek(RingStart::Seq(n)) {
                Ok(()) => return Ok(()),
                Err(slipstream_ring::SeekError::NotRetained { .. }) => {
                    return Err(self.unavailable(Start::Seq(n)))
                }
                Err(slipstream_ring::SeekError::InFuture { .. }) => {
                    self.reader.seek(RingStart::End)?;
                    // Published in between: look again.
                    if self.reader.next_seq() <= n {
                        self.skip_below = Some(n);
                        return Ok(());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(slipstream_ring::SeekError::Contended { attempts: 8 }.into())
    }

    /// The error for a start position the ring no longer holds.
    fn unavailable(&self, requested: Start) -> ConsumerError {
        ConsumerError::StartUnavailable {
            requested,
            available: self.available(),
        }
    }

    /// What the ring holds now (best effort: a field the ring cannot tell is left out).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-lib-1471-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// println!("{}", c.available());
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn available(&self) -> Available {
        let mut a = Available::default();
        let Ok(mut r) = Reader::attach(&self.file, RingStart::End) else {
            return a;
        };
        a.next_seq = r.next_seq();
        a.oldest_seq = a.next_seq;
        if r.seek(RingStart::Newest).is_ok() {
            if let Ok(Some(Step::Record)) = r.advance(|_, _| true) {
                a.newest_height = r
                    .current()
                    .and_then(|rec| delivery::head(rec.kind, rec.payload))
                    .map(|h| h.height);
            }
        }
        if r.seek(RingStart::Oldest).is_ok() {
            a.oldest_seq = r.next_seq();
            let begin = EventKind::BlockBegin.as_u16();
            loop {
                match r.advance(|kind, _| kind == begin) {
                    Ok(Some(Step::Record)) => {
                        a.oldest_height = r
                            .current()
                            .and_then(|rec| delivery::head(rec.kind, rec.payload))
                            .map(|h| h.height);
                        break;
                    }
                    Ok(Some(Step::Lagged(_))) => continue,
                    _ => break,
                }
            }
        }
        a
    }

    /// Finds the begin marker of the first block at or after height `h`
    /// (`h == 0`: the oldest block).
    fn seek_height(&mut self, h: u64) -> Result<(), ConsumerError> {
        self.reader.seek(RingStart::Oldest)?;
        let begin = EventKind::BlockBegin.as_u16();
        let mut oldest = None;
        loop {
            match self.reader.advance(|kind, _| kind == begin)? {
                None => {
                    // Not in the ring yet: wait for it from the end.
                    if oldest.is_some_and(|o| o > h) && h != 0 {
                        return Err(self.unavailable(Start::Height(h)));
                    }
                    self.reader.seek(RingStart::End)?;
                    self.block.wait_for_height = Some(h);
                    self.filter.from_height = Some(h);
                    return Ok(());
                }
                Some(Step::Lagged(_)) => continue,
                Some(Step::Record) => {
                    let rec = self.reader.current().expect("advance moved to a record");
                    let Ok(ev) = EventRef::decode(rec.kind, rec.payload) else {
                        continue;
                    };
                    let height = ev.block_height();
                    let seq = rec.seq;
                    if oldest.is_none() {
                        oldest = Some(height);
                        if height > h && h != 0 {
                            return Err(self.unavailable(Start::Height(h)));
                        }
                    }
                    if height >= h {
                        self.reader.seek(RingStart::Seq(seq))?;
                        return Ok(());
                    }
                }
            }
        }
    }
}
