//! The [`Consumer`] itself: its state, and what it tells about itself and where it is.

use crate::delivery::Here;
use crate::{block, journal, Filter, ProducerChange};
use slipstream_ring::{Reader, Record, Slot};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What was last reported of the producer's life, so that each change is reported once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reported {
    None,
    Died,
    Closed,
}

/// A consumer of a ring: reads events in order, at its own pace.
///
/// See the [crate documentation](crate) for the model.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-consumer-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{Consumer, Item};
/// use std::time::Duration;
/// let mut c = Consumer::builder(&path).name("indexer").open()?;
/// while let Some(item) = c.next(Duration::from_millis(10))? {
///     if let Item::Event(ev) = item {
///         println!("#{} at height {}", ev.seq, ev.event.block_height());
///     }
/// }
/// assert_eq!(c.next_seq(), 4);
/// # drop(c);
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Consumer {
    pub(crate) reader: Reader,
    pub(crate) slot: Option<Slot>,
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) filter: Filter,
    pub(crate) spin: Duration,
    pub(crate) liveness_interval: Duration,
    pub(crate) last_liveness: Instant,
    pub(crate) seen_epoch: u64,
    pub(crate) reported: Reported,
    pub(crate) pending: Option<ProducerChange>,
    /// The cursor last stored in the slot.
    pub(crate) stored: (u64, u64),
    pub(crate) auto_commit: bool,
    /// Events delivered and missed since the counters were last stored.
    pub(crate) delivered: u64,
    pub(crate) missed: u64,
    pub(crate) block: block::Assembler,
    /// The cursor after the last item handed out (with `next_block`: after
    /// the last block, or gap report, handed out: always a block boundary).
    /// What [`commit`](Consumer::commit) stores.
    pub(crate) handed: (u64, u64),
    /// The cursor after the items the application has moved past (it asked
    /// for another): what automatic commits store.
    pub(crate) acked: (u64, u64),
    /// The last read returned an item (which the application may still be processing).
    pub(crate) in_flight: bool,
    /// Where a gap at the reader's position would begin (height, partial).
    pub(crate) at: Option<Here>,
    /// A record read ahead after a gap (to learn the gap's last height),
    /// delivered next: its sequence number, kind, and position.
    pub(crate) held: Option<(u64, u16, u64)>,
    pub(crate) held_buf: Vec<u8>,
    /// A start at a sequence number not written yet: records below it are passed over.
    pub(crate) skip_below: Option<u64>,
    /// The last read was `next_block`.
    pub(crate) block_mode: bool,
    /// With `next_block`: where a gap at `handed` would begin.
    pub(crate) handed_at: Option<Here>,
    /// The journal, if one was configured ([`ConsumerBuilder::journal`](crate::ConsumerBuilder::journal)).
    pub(crate) journal: Option<journal::Catchup>,
    /// The record last read came from the journal (else from the ring).
    pub(crate) from_journal: bool,
}

/// The record last read: the journal's or the ring reader's (borrowing only those fields).
pub(crate) fn record_of<'a>(
    from_journal: bool,
    journal: &'a Option<journal::Catchup>,
    reader: &'a Reader,
) -> Option<Record<'a>> {
    if from_journal {
        journal.as_ref()?.current()
    } else {
        reader.current()
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("path", &self.path)
            .field("name", &self.name())
            .field("next_seq", &self.next_seq())
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// The ring's path.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-path-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// assert_eq!(c.path(), path);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The consumer's name, if it has one.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-name-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::Consumer;
    /// assert_eq!(Consumer::builder(&path).open()?.name(), None);
    /// assert_eq!(Consumer::builder(&path).name("indexer").open()?.name(), Some("indexer"));
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.slot.as_ref().map(|s| s.name())
    }

    /// The ring's identity (`ring_id`, random at creation): a ring replaced
    /// at the same path (`--recreate`) has another.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-ring-id-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::Consumer;
    /// let (a, b) = (Consumer::builder(&path).open()?, Consumer::builder(&path).open()?);
    /// assert_eq!(a.ring_id(), b.ring_id()); // the same ring
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ring_id(&self) -> u64 {
        self.reader.ring_id()
    }

    /// The producer's epoch the consumer last saw (how many producers have
    /// opened the ring; it grows at each producer restart).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-epoch-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// assert_eq!(c.epoch(), 1); // the ring's first producer
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn epoch(&self) -> u64 {
        self.seen_epoch
    }

    /// The sequence number of the next event this consumer will receive.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-next-seq-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let mut c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// assert_eq!(c.next_seq(), 1);
    /// c.try_next()?;
    /// assert_eq!(c.next_seq(), 2);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.cursor().0
    }

    /// Bytes of events published and not yet read (more than the ring's
    /// capacity: the consumer has been lapped and will be told so).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-behind-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let mut c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// assert!(c.bytes_behind() > 0);
    /// while c.try_next()?.is_some() {}
    /// assert_eq!(c.bytes_behind(), 0);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bytes_behind(&self) -> u64 {
        self.reader.bytes_behind()
    }

    /// The position of the next record to deliver: the reader's, or that of
    /// a record read ahead.
    pub(crate) fn cursor(&self) -> (u64, u64) {
        match self.held {
            Some((seq, _, pos)) => (seq, pos),
            None => self.source_cursor(),
        }
    }

    /// The position of the next record of the current source: the journal's
    /// while replaying (with no ring position: 0), else the ring reader's.
    pub(crate) fn source_cursor(&self) -> (u64, u64) {
        match self.journal.as_ref().and_then(|j| j.cursor()) {
            Some(n) => (n, 0),
            None => (self.reader.next_seq(), self.reader.position()),
        }
    }

    /// The record the last [`advance_any`](Self::advance_any) moved to.
    pub(crate) fn current_record(&self) -> Option<Record<'_>> {
        record_of(self.from_journal, &self.journal, &self.reader)
    }
}
