//! Block-at-a-time reading: all the events of one committed block, or nothing.

use std::time::{Duration, Instant};

use slipstream_ring::event::{EventKind, EventRef};
use slipstream_ring::Lag;

use crate::{Consumer, ConsumerError, Owned, ProducerChange};

/// An event that owns its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedEvent {
    /// Its sequence number.
    pub seq: u64,
    kind: EventKind,
    payload: Vec<u8>,
}

impl OwnedEvent {
    /// Copies an event.
    ///
    /// ```
    /// use slipstream_consumer::{EventRef, OwnedEvent};
    /// let ev = EventRef::Block { block_height: 5, ordinal: 1, block: b"bytes" };
    /// let owned = OwnedEvent::new(9, &ev);
    /// assert_eq!(owned.event(), ev);
    /// ```
    pub fn new(seq: u64, event: &EventRef<'_>) -> OwnedEvent {
        let mut payload = vec![0; event.encoded_len()];
        event.encode(&mut payload);
        OwnedEvent {
            seq,
            kind: event.kind(),
            payload,
        }
    }

    /// The event, borrowing these bytes.
    pub fn event(&self) -> EventRef<'_> {
        EventRef::decode(self.kind.as_u16(), &self.payload)
            .expect("an OwnedEvent holds the encoding of a valid event")
    }

    /// Its kind.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// Its encoded payload (FORMAT.md, section 10).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// The events of one committed block.
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockItem {
    /// A complete, committed block.
    Block(Block),
    /// Events were missed; any block they interrupted was dropped.
    Lagged(Lag),
    /// A block began and did not commit (its producer died mid-block, or its
    /// events did not add up); its events were dropped.
    Incomplete {
        /// The block's height.
        height: u64,
        /// Why it is incomplete.
        reason: &'static str,
    },
    /// The producer died, closed, or restarted.
    Producer(ProducerChange),
}

#[derive(Debug)]
struct Building {
    height: u64,
    begin_seq: u64,
    events: Vec<OwnedEvent>,
}

/// The block being assembled, and the height a future-start waits for.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    open: Option<Building>,
    pub(crate) wait_for_height: Option<u64>,
}

impl Assembler {
    pub(crate) fn clear(&mut self) {
        self.open = None;
        self.wait_for_height = None;
    }
}

impl Consumer {
    /// Returns the next complete block (all its events, or nothing), waiting
    /// up to `timeout`; `None` if none completed in time.
    ///
    /// Events before the first begin marker seen (the consumer started in the
    /// middle of a block) are passed over. With a kind, program or mapping
    /// filter, a block holds only the events that pass it, and its event count
    /// cannot be checked against the commit marker.
    ///
    /// ```no_run
    /// use slipstream_consumer::{BlockItem, Consumer};
    /// use std::time::Duration;
    /// let mut c = Consumer::builder("node-events").name("block-indexer").open()?;
    /// while let Some(item) = c.next_block(Duration::from_secs(5))? {
    ///     if let BlockItem::Block(b) = item {
    ///         println!("block {} with {} events", b.height, b.events.len());
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_block(&mut self, timeout: Duration) -> Result<Option<BlockItem>, ConsumerError> {
        let deadline = Instant::now() + timeout;
        let count_checked = self.filter.is_open();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let owned = match self.next(remaining)? {
                None => return Ok(None),
                Some(item) => Owned::from_item(&item),
            };
            let event = match owned {
                Owned::Lagged(lag) => {
                    self.block.open = None;
                    return Ok(Some(BlockItem::Lagged(lag)));
                }
                Owned::Producer(change) => return Ok(Some(BlockItem::Producer(change))),
                Owned::Event(e) => e,
            };
            let seq = event.seq;
            match event.event() {
                EventRef::BlockBegin { block_height, .. } => {
                    if let Some(h) = self.block.wait_for_height {
                        if block_height < h {
                            continue;
                        }
                        self.block.wait_for_height = None;
                    }
                    let previous = self.block.open.replace(Building {
                        height: block_height,
                        begin_seq: seq,
                        events: Vec::new(),
                    });
                    if let Some(p) = previous {
                        return Ok(Some(BlockItem::Incomplete {
                            height: p.height,
                            reason: "a new block began before it committed",
                        }));
                    }
                }
                EventRef::BlockCommit {
                    block_height,
                    event_count,
                } => {
                    let Some(b) = self.block.open.take() else {
                        continue; // the consumer started inside this block
                    };
                    if b.height != block_height {
                        return Ok(Some(BlockItem::Incomplete {
                            height: b.height,
                            reason: "the commit marker is for another height",
                        }));
                    }
                    if count_checked && b.events.len() as u64 != event_count as u64 {
                        return Ok(Some(BlockItem::Incomplete {
                            height: b.height,
                            reason:
                                "the commit marker's event count does not match the events received",
                        }));
                    }
                    return Ok(Some(BlockItem::Block(Block {
                        height: b.height,
                        begin_seq: b.begin_seq,
                        commit_seq: seq,
                        events: b.events,
                    })));
                }
                other => {
                    let height = other.block_height();
                    match &mut self.block.open {
                        Some(b) if b.height == height => b.events.push(event),
                        Some(b) => {
                            let h = b.height;
                            self.block.open = None;
                            return Ok(Some(BlockItem::Incomplete {
                                height: h,
                                reason: "an event of another height arrived inside the block",
                            }));
                        }
                        None => {} // before the first begin marker
                    }
                }
            }
        }
    }
}
