//! Publishing events and the block protocol: the one path every event takes
//! ([`Producer::publish`], and [`Producer::publish_raw`] unchecked), the begin
//! and commit markers, heights that only increase, and the numbering and
//! counting of events within their block.

use slipstream_event::{EventRef, UNKNOWN_COUNT};

use super::Producer;
use crate::{PublishError, Wake};

/// The state of the block being published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct OpenBlock {
    pub(super) height: u64,
    /// Events of the block, published or refused: what its commit marker says.
    count: u32,
}

impl Producer {
    /// Publishes one event in its block: the one path every event takes
    /// from the node to the ring (the per-kind methods below and
    /// [`on_broadcast`](crate::SlipstreamPlugin::on_broadcast) build an
    /// [`EventRef`] and call this). Returns the event's sequence number, or
    /// `None` if its kind is switched off ([`set_kinds`](Self::set_kinds)).
    ///
    /// The event's `block_height` names its block: the open block, or a
    /// higher one, which is opened (the open block is committed first: an
    /// implicit block, for hosts that only know each event's height, as the
    /// node's plugin interface does). Its `ordinal` is the producer's to
    /// assign: whatever the event says, it is numbered after the events
    /// already in its block. A [`BlockBegin`](EventRef::BlockBegin) marker
    /// is [`begin_block_with_count`](Self::begin_block_with_count), a
    /// [`BlockCommit`](EventRef::BlockCommit) marker of the open block is
    /// [`commit_block`](Self::commit_block) (the producer writes the count
    /// it kept).
    ///
    /// Encoded straight into the ring: no allocation, no system call (but
    /// the wake-up of [`Wake::EveryEvent`]).
    ///
    /// # Errors
    ///
    /// Nothing is published for a refused event.
    /// - [`PublishError::HeightNotIncreasing`]: `block_height` is neither
    ///   the open block's nor above the last block begun;
    /// - [`PublishError::CommitNotOpen`]: a commit marker of a block that is
    ///   not the open one;
    /// - [`PublishError::TooLarge`]: the event does not fit the ring's
    ///   maximum payload; its block is marked incomplete (`block: Some`).
    ///
    /// ```
    /// use slipstream_producer::{EventRef, Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-publish-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// let event = EventRef::Block { block_height: 12, ordinal: 0, block: b"the block's bytes" };
    /// // Opens block 12 (its begin marker is seq 1), numbers the event 1 in it.
    /// assert_eq!(p.publish(&event)?, Some(2));
    /// assert_eq!(p.open_block(), Some(12));
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn publish(&mut self, event: &EventRef<'_>) -> Result<Option<u64>, PublishError> {
        let kind = event.kind();
        match *event {
            EventRef::BlockBegin {
                block_height,
                event_count,
            } => return self.begin(block_height, event_count),
            EventRef::BlockCommit { block_height, .. } => {
                return match self.block {
                    Some(b) if b.height == block_height => self.commit_block(),
                    open => Err(PublishError::CommitNotOpen {
                        height: block_height,
                        open: open.map(|b| b.height),
                    }),
                }
            }
            _ => {}
        }
        if !self.kinds.contains(kind) {
            return Ok(self.switched_off());
        }
        let height = event.block_height();
        match self.block {
            Some(b) if b.height == height => {}
            _ => {
                self.begin(height, UNKNOWN_COUNT)?;
            }
        }
        let b = self.block.as_ref().expect("a block is open");
        self.publish_counted(&numbered(event, b.count + 1))
    }

    /// Publishes one event as it is, encoded straight into the ring. Returns
    /// its sequence number, or `None` if its kind is switched off.
    ///
    /// Unchecked: the event's height and `ordinal` are written as given, and
    /// the block rules (one open block, increasing heights, counts) are the
    /// caller's to keep, and the producer's own block state is left as it
    /// is; this is for replaying a stream recorded elsewhere and for testing
    /// consumers against writers that break the rules.
    /// [`publish`](Self::publish) checks the rules and numbers events within
    /// their block.
    ///
    /// # Errors
    ///
    /// [`PublishError::TooLarge`] (with `block: None`) or
    /// [`PublishError::ReservedKind`]; nothing is published.
    ///
    /// ```
    /// use slipstream_producer::{EventRef, Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-raw-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// // An event outside any block, numbered 7: consumers must cope with it.
    /// let seq = p.publish_raw(&EventRef::Block { block_height: 3, ordinal: 7, block: b"" })?;
    /// assert_eq!(seq, Some(1));
    /// assert_eq!(p.open_block(), None);
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn publish_raw(&mut self, event: &EventRef<'_>) -> Result<Option<u64>, PublishError> {
        if !self.kinds.contains(event.kind()) {
            return Ok(self.switched_off());
        }
        self.write(event).map(Some)
    }

    /// Encodes `event` into the ring as it is (its kind is enabled).
    #[inline]
    fn write(&mut self, event: &EventRef<'_>) -> Result<u64, PublishError> {
        let mut r = self
            .writer
            .reserve(event.kind().as_u16(), event.encoded_len())?;
        event.encode(r.payload_mut());
        Ok(r.commit())
    }

    /// Starts block `height`: publishes its begin marker (with the event count
    /// unknown). An open block is committed first.
    ///
    /// # Errors
    ///
    /// [`PublishError::HeightNotIncreasing`] if `height` is not above the
    /// last block begun (nothing is published, the open block stays open).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions, PublishError};
    /// let path = std::env::temp_dir().join(format!("doc-begin-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// p.begin_block(7)?;
    /// assert_eq!(p.begin_block(7), Err(PublishError::HeightNotIncreasing { height: 7, last: 7 }));
    /// p.begin_block(8)?; // commits 7 first
    /// # drop(p); std::fs::remove_file(path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn begin_block(&mut self, height: u64) -> Result<Option<u64>, PublishError> {
        self.begin(height, UNKNOWN_COUNT)
    }

    /// Starts block `height` whose event count is known in advance.
    ///
    /// # Errors
    ///
    /// As [`begin_block`](Self::begin_block).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-begin-count-{}", std::process::id()));
    /// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() };
    /// # let mut p = slipstream_producer::Producer::open(&path, options)?;
    /// p.begin_block_with_count(3, 1)?; // block 3 will hold one event
    /// p.block_at(3, b"the block")?;
    /// p.commit_block()?;
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn begin_block_with_count(
        &mut self,
        height: u64,
        event_count: u32,
    ) -> Result<Option<u64>, PublishError> {
        self.begin(height, event_count)
    }

    fn begin(&mut self, height: u64, event_count: u32) -> Result<Option<u64>, PublishError> {
        self.check_height(height)?;
        if self.block.is_some() {
            self.commit_block()?;
        }
        self.last_height = Some(height);
        self.block = Some(OpenBlock { height, count: 0 });
        self.publish_raw(&EventRef::BlockBegin {
            block_height: height,
            event_count,
        })
    }

    /// Refuses a block height at or below the last block begun.
    #[inline]
    fn check_height(&self, height: u64) -> Result<(), PublishError> {
        match self.last_height {
            Some(last) if height <= last => Err(PublishError::HeightNotIncreasing { height, last }),
            _ => Ok(()),
        }
    }

    /// Ends the open block: publishes its commit marker with the number of
    /// events in it (those refused as too large included, so that consumers
    /// see such a block as incomplete), then wakes sleeping consumers (in
    /// [`Wake::AtBlockEnd`] mode). Returns `None` if no block was open.
    ///
    /// # Errors
    ///
    /// Only if the ring refuses the marker ([`PublishError::TooLarge`] for a
    /// ring whose maximum payload is below 16 bytes); the block is then closed.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-commit-{}", std::process::id()));
    /// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() };
    /// # let mut p = slipstream_producer::Producer::open(&path, options)?;
    /// p.begin_block(1)?;
    /// assert_eq!(p.commit_block()?, Some(2)); // the commit marker's sequence number
    /// assert_eq!(p.commit_block()?, None);    // no block is open
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit_block(&mut self) -> Result<Option<u64>, PublishError> {
        let Some(block) = self.block.take() else {
            return Ok(None);
        };
        let seq = self.publish_raw(&EventRef::BlockCommit {
            block_height: block.height,
            event_count: block.count,
        })?;
        if self.wake == Wake::AtBlockEnd {
            self.writer.flush();
        }
        Ok(seq)
    }

    /// Forgets the open block without publishing its commit marker, so that
    /// consumers never apply it: `next_block` reports it incomplete when the
    /// next block begins. For a block that lost an event (one refused as too
    /// large). Returns its height, `None` if no block was open.
    ///
    /// ```
    /// use slipstream_producer::{Producer, ProducerOptions};
    /// use slipstream_ring::Layout;
    /// let path = std::env::temp_dir().join(format!("doc-abandon-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 20), ..Default::default() })?;
    /// p.begin_block(3)?;
    /// assert_eq!(p.abandon_block(), Some(3));
    /// assert_eq!(p.commit_block()?, None); // nothing left to commit
    /// # drop(p); std::fs::remove_file(path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn abandon_block(&mut self) -> Option<u64> {
        self.block.take().map(|b| b.height)
    }

    /// The height of the open block, if any.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-open-block-{}", std::process::id()));
    /// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() };
    /// # let mut p = slipstream_producer::Producer::open(&path, options)?;
    /// assert_eq!(p.open_block(), None);
    /// p.begin_block(4)?;
    /// assert_eq!(p.open_block(), Some(4));
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_block(&self) -> Option<u64> {
        self.block.map(|b| b.height)
    }

    /// Wakes sleeping consumers now if anything was published since the last
    /// wake; returns whether a wake system call was made (one `pread` of the
    /// wake file when nobody sleeps).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-flush-{}", std::process::id()));
    /// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() };
    /// # let mut p = slipstream_producer::Producer::open(&path, options)?;
    /// p.begin_block(1)?;
    /// let _woke: bool = p.flush(); // a reader asleep sees the begin marker now
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&mut self) -> bool {
        self.writer.flush()
    }

    /// Publishes an event numbered in the open block, and counts it there.
    /// An event refused as too large counts too: its ordinal is left out and
    /// the commit marker counts one event more than the ring holds, so that
    /// no consumer takes the block for whole.
    #[inline]
    fn publish_counted(&mut self, event: &EventRef<'_>) -> Result<Option<u64>, PublishError> {
        let published = self.write(event);
        let b = self.block.as_mut().expect("a block is open");
        b.count += 1;
        match published {
            Ok(seq) => Ok(Some(seq)),
            Err(PublishError::TooLarge { len, max, .. }) => {
                tracing::warn!(
                    height = b.height,
                    len,
                    max,
                    "event refused as too large: its block is marked incomplete"
                );
                Err(PublishError::TooLarge {
                    len,
                    max,
                    block: Some(b.height),
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// `event`, numbered `ordinal` in its block (markers have no ordinal field).
#[inline]
fn numbered<'a>(event: &EventRef<'a>, ordinal: u32) -> EventRef<'a> {
    let mut event = *event;
    match &mut event {
        EventRef::MappingUpdate { ordinal: o, .. }
        | EventRef::MappingRemoval { ordinal: o, .. }
        | EventRef::StakingReward { ordinal: o, .. }
        | EventRef::Block { ordinal: o, .. } => *o = ordinal,
        EventRef::BlockBegin { .. } | EventRef::BlockCommit { .. } => {}
    }
    event
}
