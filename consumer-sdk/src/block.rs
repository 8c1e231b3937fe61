//! Block-at-a-time reading: all the events of one committed block, or nothing.

use std::time::{Duration, Instant};

use slipstream_event::{EventKind, EventRef};
use slipstream_ring::{Lag, Start, Step};

use crate::delivery::{self, Head, Here, Missed};
use crate::{Consumer, ConsumerError, Event, ProducerChange};

/// An event that owns its bytes: a copy of the record's sequence number,
/// kind and payload (never re-encoded), handing out an [`EventRef`] that
/// borrows them.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-owned-event-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.block_at(5, b"bytes")?;
/// use slipstream_consumer::{Consumer, EventKind, EventRef, Item, OwnedEvent};
/// let mut c = Consumer::builder(&path).open()?;
/// c.try_next()?; // the begin marker of block 5
/// let Some(Item::Event(ev)) = c.try_next()? else { unreachable!() };
/// let owned = OwnedEvent::from(&ev);
/// drop(c); // the copy outlives the consumer
/// assert_eq!(owned.seq, 2);
/// assert_eq!(owned.kind(), EventKind::Block);
/// assert_eq!(owned.event(), EventRef::Block { block_height: 5, ordinal: 1, block: b"bytes" });
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedEvent {
    /// Its sequence number.
    pub seq: u64,
    kind: EventKind,
    payload: Vec<u8>,
}

impl From<&Event<'_>> for OwnedEvent {
    /// Copies the event's bytes.
    fn from(event: &Event<'_>) -> OwnedEvent {
        OwnedEvent {
            seq: event.seq,
            kind: event.event.kind(),
            payload: event.payload().to_vec(),
        }
    }
}

impl OwnedEvent {
    /// The event, borrowing these bytes.
    ///
    /// # Panics
    ///
    /// Never: an `OwnedEvent` is only made from bytes that decoded (an
    /// [`Event`]'s), and the decode of the same bytes gives the same event.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-owned-event-ev-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.block_at(5, b"bytes")?;
    /// # let mut c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// # c.try_next()?;
    /// # let Some(slipstream_consumer::Item::Event(ev)) = c.try_next()? else { unreachable!() };
    /// let owned = slipstream_consumer::OwnedEvent::from(&ev);
    /// assert_eq!(owned.event(), ev.event);
    /// # drop(p); drop(c); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn event(&self) -> EventRef<'_> {
        EventRef::decode(self.kind.as_u16(), &self.payload)
            .expect("an OwnedEvent holds the bytes of an event that decoded")
    }

    /// Its kind.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-owned-event-kind-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.block_at(5, b"bytes")?;
    /// # let mut c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// # c.try_next()?;
    /// # let Some(slipstream_consumer::Item::Event(ev)) = c.try_next()? else { unreachable!() };
    /// let owned = slipstream_consumer::OwnedEvent::from(&ev);
    /// assert_eq!(owned.kind(), slipstream_consumer::EventKind::Block);
    /// # drop(p); drop(c); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// Its encoded payload (FORMAT.md, section 10), as the record held it.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-owned-event-payload-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.block_at(5, b"bytes")?;
    /// # let mut c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// # c.try_next()?;
    /// # let Some(slipstream_consumer::Item::Event(ev)) = c.try_next()? else { unreachable!() };
    /// let owned = slipstream_consumer::OwnedEvent::from(&ev);
    /// assert_eq!(owned.payload(), ev.payload());
    /// # drop(p); drop(c); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// The events of one committed block.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-block-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{BlockItem, Consumer};
/// use std::time::Duration;
/// let mut c = Consumer::builder(&path).open()?;
/// let Some(BlockItem::Block(b)) = c.next_block(Duration::from_secs(1))? else { unreachable!() };
/// assert_eq!((b.height, b.begin_seq, b.commit_seq, b.events.len()), (7, 1, 3, 1));
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The block's height.
    pub height: u64,
    /// Sequence number of its begin marker.
    pub begin_seq: u64,
    /// Sequence number of its commit marker.
    pub commit_seq: u64,
    /// Its events (markers excluded), in order.
    pub events: Vec<OwnedEvent>,
}

/// What [`Consumer::next_block`] yields.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-block-item-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{BlockItem, Consumer};
/// use std::time::Duration;
/// let mut c = Consumer::builder(&path).open()?;
/// while let Some(item) = c.next_block(Duration::from_millis(10))? {
///     match item {
///         BlockItem::Block(b) => println!("block {}: {} events", b.height, b.events.len()),
///         BlockItem::Lagged(missed) => eprintln!("{missed}"),
///         BlockItem::Incomplete { height, reason, .. } => eprintln!("block {height}: {reason}"),
///         BlockItem::Producer(change) => eprintln!("producer: {change:?}"),
///     }
/// }
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockItem {
    /// A complete, committed block.
    Block(Block),
    /// Events were missed (overwritten before they were read, or a block's
    /// begin marker was no longer in the ring): no block in the range is
    /// delivered, and the range covers each of them whole, from its begin
    /// marker (or the first of its events still in the ring) to the event
    /// before the next block's begin marker.
    Lagged(Missed),
    /// A block began and did not commit whole (its producer died mid-block,
    /// the producer refused one of its events, or its events did not add
    /// up): its events `first_seq..=last_seq` were dropped.
    Incomplete {
        /// The block's height.
        height: u64,
        /// Sequence number of its begin marker.
        first_seq: u64,
        /// Sequence number of its last record read (its commit marker, or the
        /// record before whatever ended it).
        last_seq: u64,
        /// Why it is incomplete.
        reason: &'static str,
    },
    /// The producer died, closed, or restarted.
    Producer(ProducerChange),
}

#[derive(Debug)]
pub(crate) struct Building {
    pub(crate) height: u64,
    pub(crate) begin_seq: u64,
    pub(crate) events: Vec<OwnedEvent>,
    /// Events read (filtered out or not), markers excluded.
    pub(crate) count: u64,
    /// Why the block cannot be delivered, if it cannot.
    pub(crate) broken: Option<&'static str>,
}

/// Records being passed over because their block cannot be delivered; the
/// gap report is returned at the next block boundary.
#[derive(Debug)]
pub(crate) struct Dropping {
    pub(crate) first_seq: u64,
    pub(crate) first_height: Option<u64>,
    pub(crate) first_partial: bool,
    /// The highest height read in the range.
    pub(crate) height: Option<u64>,
}

impl Dropping {
    pub(crate) fn see(&mut self, height: u64) {
        self.height = Some(self.height.map_or(height, |h| h.max(height)));
    }

    /// The report, up to `last_seq`; `next` is the begin marker that ends it, if one does.
    pub(crate) fn finish(self, last_seq: u64, next: Option<u64>) -> Missed {
        let last_height = match (self.height, next) {
            (Some(h), Some(n)) => Some(h.max(n.saturating_sub(1))),
            (Some(h), None) => Some(h),
            (None, Some(n)) => Some(n.saturating_sub(1).max(self.first_height.unwrap_or(0))),
            (None, None) => self.first_height,
        };
        Missed {
            first_missed: self.first_seq,
            last_missed: last_seq,
            first_height: self.first_height,
            last_height,
            first_partial: self.first_partial,
            last_partial: false,
        }
    }
}

/// The block being assembled, and the height a future-start waits for.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    pub(crate) open: Option<Building>,
    pub(crate) dropping: Option<Dropping>,
    pub(crate) wait_for_height: Option<u64>,
    /// The next record is the first `next_block` reads from where it started.
    fresh: bool,
}

/// Where the block boundary of an item the assembler returns falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Boundary {
    /// After the record just taken (a commit marker ends the block).
    After,
    /// Before it (a begin marker ends a range or an unfinished block; the
    /// record starts the block now open).
    Before,
    /// Before it, and it is to be taken again with no block open.
    Again,
}

/// `next_block`'s assembly, shared by the ring consumer and the remote one
/// (feature `nats`): what a gap or a record does to the block being
/// assembled. The caller moves its cursor to the boundary returned.
impl Assembler {
    /// A gap from `first_missed`; `before` says where a gap at the
    /// consumer's position would begin, `last_height` the height of its last
    /// event if known. Whatever was being assembled is dropped, and reported
    /// (with the gap) at the next block boundary.
    pub(crate) fn gap(
        &mut self,
        first_missed: u64,
        before: Option<Here>,
        last_height: Option<u64>,
    ) {
        let open = &mut self.open;
        let d = self.dropping.get_or_insert_with(|| match open.take() {
            Some(b) => Dropping {
                first_seq: b.begin_seq,
                first_height: Some(b.height),
                first_partial: false,
                height: Some(b.height),
            },
            None => Dropping {
                first_seq: first_missed,
                first_height: before.map(|h| h.height),
                first_partial: before.is_some_and(|h| h.partial),
                height: None,
            },
        });
        if let Some(h) = last_height {
            d.see(h);
        }
    }

    /// A record too short to be an event of any block: a block it falls in
    /// cannot be delivered whole.
    pub(crate) fn undecodable(&mut self) {
        if let Some(b) = self.open.as_mut() {
            b.count += 1;
            b.broken = Some("an event of the block does not decode");
        }
    }

    /// Takes record `seq` (of `kind`, decoded as `decoded`, with head
    /// `head`; `kept` if the filter keeps it); returns an item when one is
    /// complete, and where its boundary falls.
    pub(crate) fn take(
        &mut self,
        seq: u64,
        kind: u16,
        decoded: &Result<Event<'_>, ConsumerError>,
        head: Head,
        kept: bool,
    ) -> Option<(BlockItem, Boundary)> {
        let Head { height, begin } = head;
        let commit = kind == EventKind::BlockCommit.as_u16();
        let ordinal = decoded.as_ref().map_or(0, |e| e.event.ordinal());
        let commit_count = match decoded {
            Ok(Event {
                event: EventRef::BlockCommit { event_count, .. },
                ..
            }) => Some(u64::from(*event_count)),
            _ => None,
        };

        if let Some(d) = self.dropping.as_mut() {
            if begin {
                let d = self.dropping.take().expect("dropping");
                self.open = Some(Building::new(height, seq));
                let item = BlockItem::Lagged(d.finish(seq - 1, Some(height)));
                return Some((item, Boundary::Before));
            }
            d.see(height);
            if commit {
                let d = self.dropping.take().expect("dropping");
                return Some((BlockItem::Lagged(d.finish(seq, None)), Boundary::After));
            }
            return None;
        }

        if let Some(b) = self.open.as_mut() {
            if begin {
                let b = self.open.replace(Building::new(height, seq)).expect("open");
                let item = b.incomplete(seq - 1, "a new block began before it committed");
                return Some((item, Boundary::Before));
            }
            if height != b.height {
                let b = self.open.take().expect("open");
                let item = b.incomplete(
                    seq - 1,
                    "an event of another height arrived inside the block",
                );
                return Some((item, Boundary::Again));
            }
            if commit {
                let b = self.open.take().expect("open");
                if let Some(reason) = b.broken {
                    return Some((b.incomplete(seq, reason), Boundary::After));
                }
                if commit_count != Some(b.count) {
                    let item = b.incomplete(
                        seq,
                        "the commit marker's event count does not match the events in the ring (the producer refused or lost some)",
                    );
                    return Some((item, Boundary::After));
                }
                let block = Block {
                    height: b.height,
                    begin_seq: b.begin_seq,
                    commit_seq: seq,
                    events: b.events,
                };
                return Some((BlockItem::Block(block), Boundary::After));
            }
            b.count += 1;
            match decoded {
                Ok(ev) if kept => b.events.push(OwnedEvent::from(ev)),
                Ok(_) => {}
                Err(_) => b.broken = Some("an event of the block does not decode"),
            }
            return None;
        }

        if begin {
            self.open = Some(Building::new(height, seq));
            return None;
        }
        // A record outside any block begun here: the rest of its block is passed over.
        let mut d = Dropping {
            first_seq: seq,
            first_height: Some(height),
            first_partial: ordinal > 0,
            height: None,
        };
        d.see(height);
        if commit {
            return Some((BlockItem::Lagged(d.finish(seq, None)), Boundary::After));
        }
        self.dropping = Some(d);
        None
    }
}

impl Assembler {
    pub(crate) fn clear(&mut self) {
        self.open = None;
        self.dropping = None;
        self.wait_for_height = None;
        self.fresh = false;
    }
}

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

impl Building {
    pub(crate) fn new(height: u64, begin_seq: u64) -> Building {
        Building {
            height,
            begin_seq,
            events: Vec::new(),
            count: 0,
            broken: None,
        }
    }

    pub(crate) fn incomplete(self, last_seq: u64, reason: &'static str) -> BlockItem {
        BlockItem::Incomplete {
            height: self.height,
            first_seq: self.begin_seq,
            last_seq,
            reason,
        }
    }
}
