//! Blocks: what block-at-a-time reading yields (all the events of one
//! committed block, or a report of it), and the assembler that builds them
//! from records.

use slipstream_event::{EventKind, EventRef};

use crate::delivery::{Head, Here, Missed};
use crate::{ConsumerError, Event, ProducerChange};

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
///
/// The events of one [`Block`] share one buffer (the block's payloads end to
/// end, one allocation): a clone or a drop of one costs a reference count,
/// and the buffer is freed with the last of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedEvent {
    /// Its sequence number.
    pub seq: u64,
    kind: EventKind,
    payload: bytes::Bytes,
}

impl From<&Event<'_>> for OwnedEvent {
    /// Copies the event's bytes.
    fn from(event: &Event<'_>) -> OwnedEvent {
        OwnedEvent {
            seq: event.seq,
            kind: event.event.kind(),
            payload: bytes::Bytes::copy_from_slice(event.payload()),
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

/// What [`Consumer::next_block`](crate::Consumer::next_block) yields.
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
    /// The payloads of the events kept, end to end.
    bytes: Vec<u8>,
    /// Each event kept: its sequence number, kind, and where its payload
    /// ends in `bytes`.
    kept: Vec<(u64, EventKind, usize)>,
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
    pub(crate) fresh: bool,
    /// The payload bytes and the events kept of the last block delivered:
    /// the next one's buffers start that large.
    sizes: (usize, usize),
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
                self.open = Some(Building::new(height, seq, self.sizes));
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
                let b = self
                    .open
                    .replace(Building::new(height, seq, self.sizes))
                    .expect("open");
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
                self.sizes = (b.bytes.len(), b.kept.len());
                let block = b.finish(seq);
                return Some((BlockItem::Block(block), Boundary::After));
            }
            b.count += 1;
            match decoded {
                Ok(ev) if kept => b.keep(ev),
                Ok(_) => {}
                Err(_) => b.broken = Some("an event of the block does not decode"),
            }
            return None;
        }

        if begin {
            self.open = Some(Building::new(height, seq, self.sizes));
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

impl Building {
    /// A block begun at `begin_seq`, with room for `sizes` (payload bytes,
    /// events).
    pub(crate) fn new(height: u64, begin_seq: u64, sizes: (usize, usize)) -> Building {
        Building {
            height,
            begin_seq,
            bytes: Vec::with_capacity(sizes.0),
            kept: Vec::with_capacity(sizes.1),
            count: 0,
            broken: None,
        }
    }

    /// Copies an event kept into the block.
    fn keep(&mut self, ev: &Event<'_>) {
        self.bytes.extend_from_slice(ev.payload());
        self.kept.push((ev.seq, ev.event.kind(), self.bytes.len()));
    }

    /// The block, committed by the marker `commit_seq`.
    fn finish(self, commit_seq: u64) -> Block {
        let bytes = bytes::Bytes::from(self.bytes);
        let mut start = 0;
        let events = self
            .kept
            .into_iter()
            .map(|(seq, kind, end)| {
                let payload = bytes.slice(start..end);
                start = end;
                OwnedEvent { seq, kind, payload }
            })
            .collect();
        Block {
            height: self.height,
            begin_seq: self.begin_seq,
            commit_seq,
            events,
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
