//! Reading block by block: [`Consumer::next_block`](crate::Consumer::next_block),
//! which hands out each committed block whole, or reports it.

use std::time::{Duration, Instant};

use slipstream_event::{EventKind, EventRef};
use slipstream_ring::{Lag, Start, Step};

use crate::block::{Boundary, Dropping};
use crate::delivery::{self, Head, Here};
use crate::{BlockItem, Consumer, ConsumerError, Event};

impl Consumer {
    /// Returns the next complete block (all its events, or nothing), waiting
    /// up to `timeout`; `None` if none completed in time.
    ///
    /// Nothing is passed over silently: a block that cannot be delivered
    /// whole comes as [`BlockItem::Lagged`] (events overwritten) or
    /// [`BlockItem::Incomplete`] (it never committed whole), each with its
    /// exact range of sequence numbers and heights. A consumer that starts
    /// (or restarts) inside a block goes back to that block's begin marker if
    /// the ring still holds it, so the block comes whole; otherwise the rest
    /// of the block is reported as missed. The cursor is stored only at block
    /// boundaries: after the commit marker of a block handed out (or after a
    /// reported range), when the next block is asked for (automatic commits)
    /// or on [`commit`](Self::commit).
    ///
    /// With a kind, program or mapping filter, a block holds only the events
    /// that pass it; the block markers are read whatever the filter says, and
    /// the commit marker's event count is checked against every event of the
    /// block.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::Read`] if the ring holds what cannot be valid;
    /// [`ConsumerError::Seek`] if the consumer could not go back to a block's
    /// begin marker because of corruption.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-block-438-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{BlockItem, Consumer};
    /// use std::time::Duration;
    /// let mut c = Consumer::builder(&path).name("block-indexer").open()?;
    /// while let Some(item) = c.next_block(Duration::from_millis(10))? {
    ///     match item {
    ///         BlockItem::Block(b) => println!("block {} with {} events", b.height, b.events.len()),
    ///         BlockItem::Lagged(missed) => eprintln!("{missed}"),
    ///         BlockItem::Incomplete { height, reason, .. } => eprintln!("block {height}: {reason}"),
    ///         BlockItem::Producer(change) => eprintln!("producer: {change:?}"),
    ///     }
    /// }
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_block(&mut self, timeout: Duration) -> Result<Option<BlockItem>, ConsumerError> {
        let deadline = Instant::now() + timeout;
        self.enter_block_mode()?;
        self.begin_read();
        let item = self.read_block(deadline)?;
        self.in_flight = item.is_some();
        Ok(item)
    }

    /// Starts `next_block`'s reading at the cursor handed out so far.
    fn enter_block_mode(&mut self) -> Result<(), ConsumerError> {
        if self.block_mode {
            return Ok(());
        }
        if self.held.take().is_some() {
            // The record read ahead comes again (from the ring, or the journal).
            let (seq, pos) = self.handed;
            self.reposition(seq, pos)?;
        }
        self.block.open = None;
        self.block.dropping = None;
        self.block.fresh = true;
        self.block_mode = true;
        // What a gap at the handed cursor would begin in (the event API's
        // view of it: the record before it, or the one read ahead).
        self.handed_at = self.at;
        Ok(())
    }

    /// The block loop, without commits.
    fn read_block(&mut self, deadline: Instant) -> Result<Option<BlockItem>, ConsumerError> {
        loop {
            if let Some(change) = self.pending.take() {
                return Ok(Some(BlockItem::Producer(change)));
            }
            if !self.wait_ready(deadline)? {
                return Ok(None);
            }
            if let Some(change) = self.pending.take() {
                return Ok(Some(BlockItem::Producer(change)));
            }
            let pos = self.source_cursor().1;
            match self.advance_any(true)? {
                None => {}
                Some(Step::Lagged(lag)) => self.block_gap(lag),
                Some(Step::Record) => {
                    if let Some(item) = self.block_record(pos)? {
                        return Ok(Some(item));
                    }
                }
            }
        }
    }

    /// The reader was lapped: whatever was being assembled is dropped, and
    /// reported (with the gap) at the next block boundary.
    fn block_gap(&mut self, lag: Lag) {
        self.missed += lag.count();
        // The range already being passed over grows; the ring does not know
        // the gap's last height (the next record says it).
        self.block.gap(lag.first_missed, self.at, None);
    }

    /// Takes the record just read (which started at `pos`) into the block
    /// being assembled; returns an item when one is complete.
    fn block_record(&mut self, pos: u64) -> Result<Option<BlockItem>, ConsumerError> {
        // Borrows only the record's source, not the whole consumer: the block
        // state below changes while the record is still read.
        let rec = crate::consumer::record_of(self.from_journal, &self.journal, &self.reader)
            .expect("advance moved to a record");
        let (seq, kind) = (rec.seq, rec.kind);
        // The one decode of the record (the filter and the block take it).
        let decoded = Event::decode(seq, kind, rec.payload);
        let Some(head) = delivery::head(kind, rec.payload) else {
            self.block.undecodable();
            return Ok(None);
        };
        let Head { height, begin } = head;
        let commit = kind == EventKind::BlockCommit.as_u16();
        let ordinal = decoded.as_ref().map_or(0, |e| e.event.ordinal());
        let kept = decoded
            .as_ref()
            .is_ok_and(|e| self.filter.keeps_kind(kind) && self.filter.keeps(&e.event));

        // A start in the future: what comes before it is not owed.
        if let Some(h) = self.block.wait_for_height {
            if height < h {
                return Ok(None);
            }
            self.block.wait_for_height = None;
        }
        if let Some(n) = self.skip_below {
            if seq < n {
                return Ok(None);
            }
            self.skip_below = None;
        }
        // The first record read, inside a block: go back to its begin marker.
        if std::mem::take(&mut self.block.fresh)
            && !begin
            && self.block.open.is_none()
            && self.block.dropping.is_none()
        {
            let back = u64::from(ordinal);
            let after = self.source_cursor();
            let from_journal = self.from_journal;
            if back > 0 && back < seq && self.seek_begin(seq - back, height)? {
                return Ok(None);
            }
            // Not in the ring (nor the journal) any more: this record starts a gap.
            if !from_journal {
                self.reader.resume(after.0, after.1)?;
            }
            self.block.dropping = Some(Dropping {
                first_seq: seq,
                first_height: Some(height),
                first_partial: ordinal > 0,
                height: Some(height),
            });
            if commit {
                let d = self.block.dropping.take().expect("just set");
                // Not the reader's position: resuming may have found it
                // overwritten (that gap is reported next).
                self.hand_at(after.0, after.1, height.saturating_add(1), false);
                return Ok(Some(BlockItem::Lagged(d.finish(seq, None))));
            }
            return Ok(None);
        }

        let Some((item, boundary)) = self.block.take(seq, kind, &decoded, head, kept) else {
            return Ok(None);
        };
        match boundary {
            Boundary::After => self.hand_after_commit(height),
            Boundary::Before => self.hand_at(seq, pos, height, ordinal > 0),
            Boundary::Again => {
                // This record is read again, with no block open.
                self.reposition(seq, pos)?;
                self.hand_at(seq, pos, height, ordinal > 0);
            }
        }
        if let BlockItem::Block(b) = &item {
            self.delivered += b.commit_seq - b.begin_seq + 1;
        }
        Ok(Some(item))
    }

    /// Moves the reader to the begin marker at `begin_seq` if it is still in
    /// the ring and is that of block `height`.
    /// Failing that, to the journal's copy of it, if a journal holds it.
    fn seek_begin(&mut self, begin_seq: u64, height: u64) -> Result<bool, ConsumerError> {
        let is_begin = |kind: u16, payload: &[u8]| {
            matches!(EventRef::decode(kind, payload),
                Ok(EventRef::BlockBegin { block_height, .. }) if block_height == height)
        };
        if self.reader.seek(Start::Seq(begin_seq)).is_ok() {
            let found = match self.reader.advance(|_, _| true)? {
                Some(Step::Record) => {
                    let rec = self.reader.current().expect("advance moved to a record");
                    is_begin(rec.kind, rec.payload)
                }
                _ => false,
            };
            if found {
                self.reader.seek(Start::Seq(begin_seq))?;
                if let Some(j) = self.journal.as_mut() {
                    j.stop();
                }
                self.from_journal = false;
                return Ok(true);
            }
        }
        let Some(j) = self.journal.as_mut() else {
            return Ok(false);
        };
        let found = j
            .record_at(begin_seq)
            .is_some_and(|(kind, payload)| is_begin(kind, &payload));
        if found {
            j.replay_from(slipstream_journal::JournalStart::Seq(begin_seq))?;
        }
        Ok(found)
    }
}

impl Consumer {
    /// Hands out a block boundary: after the commit marker of block `height`.
    fn hand_after_commit(&mut self, height: u64) {
        self.handed = self.source_cursor();
        self.handed_at = Some(Here {
            height: height.saturating_add(1),
            partial: false,
        });
    }

    /// Hands out the position of record `seq` (at `pos`) of block `height`.
    fn hand_at(&mut self, seq: u64, pos: u64, height: u64, partial: bool) {
        self.handed = (seq, pos);
        self.handed_at = Some(Here { height, partial });
    }
}
