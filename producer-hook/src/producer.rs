//! The producer a node's finalize hook holds.

use std::path::{Path, PathBuf};

use slipstream_event::{EventKind, EventRef, KindSet, UNKNOWN_COUNT};
use slipstream_ring::{IfExists, OpenError, Wake as RingWake, Writer};

use crate::path::{open_lock_file, open_ring_file};
use crate::waker::{WakerThread, EVERY_EVENT_WAKER_INTERVAL};
use crate::{ProducerError, ProducerOptions, PublishError, Wake};
use slipstream_ring::resolve_ring_path;

/// The state of the block being published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenBlock {
    height: u64,
    /// Events of the block, published or refused: what its commit marker says.
    count: u32,
}

/// Publishes a node's finalize events into a ring.
///
/// Never blocks and never waits for a consumer; fails only for its own errors
/// (a file problem when opening; an event it refuses, [`PublishError`]).
///
/// Every event takes one path, [`publish`](Self::publish) of an
/// [`EventRef`]; the per-kind methods are shorthands that build the
/// `EventRef` and call it.
///
/// Blocks: every event belongs to a block, between its begin and commit
/// markers. [`begin_block`](Self::begin_block) opens one (committing the
/// open one first); [`publish`](Self::publish) (and the `*_at(height, ..)`
/// shorthands) open the event's block implicitly when it is not the open one (so a host that only knows each
/// event's height, as the node's plugin interface does, gets one block per
/// height). Heights only increase within a producer's life; an event refused
/// inside a block marks that block incomplete for every consumer.
///
/// ```
/// use slipstream_producer::{Layout, Producer, ProducerOptions};
/// let path = std::env::temp_dir().join(format!("doc-producer-{}", std::process::id()));
/// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 20), ..Default::default() }).unwrap();
/// p.begin_block(100).unwrap();
/// p.mapping_update(b"credits.aleo", b"account", b"aleo1...", b"\x10\x27\0\0\0\0\0\0").unwrap();
/// p.staking_reward(b"aleo1staker", b"aleo1validator", 1_000, 2_000_000).unwrap();
/// p.commit_block().unwrap(); // block_commit marker, and the wake-up
/// # drop(p); std::fs::remove_file(path).unwrap();
/// ```
pub struct Producer {
    writer: Writer,
    path: PathBuf,
    kinds: KindSet,
    wake: Wake,
    block: Option<OpenBlock>,
    /// The height of the last block begun.
    last_height: Option<u64>,
    waker: Option<WakerThread>,
}

impl Producer {
    /// Opens the ring at `path` (a bare name is a file under `/dev/shm`),
    /// creating it if it does not exist, resuming it after the last committed
    /// event if it does.
    ///
    /// # Errors
    ///
    /// [`ProducerError::WritableMode`] for a `mode` other users could write;
    /// [`ProducerError::Symlink`] or [`ProducerError::NotAFile`] for a path
    /// that is not a regular file; [`ProducerError::NotOwner`] for another
    /// user's ring; [`ProducerError::Open`] for a ring that cannot be used
    /// (another producer holds it, another layout or version without
    /// `recreate`, corruption, an invalid layout); [`ProducerError::Io`] and
    /// [`ProducerError::Sidecar`] for a failed system call. A ring this call
    /// created is removed again when it fails.
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-open-{}", std::process::id()));
    /// let options = ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() };
    /// let mut p = Producer::open(&path, options.clone())?; // creates the ring
    /// p.block_at(1, b"block one")?;
    /// drop(p); // commits block 1
    /// let p = Producer::open(&path, options)?; // resumes it
    /// assert_eq!(p.next_seq(), 4); // after begin, block, commit
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(
        path: impl AsRef<Path>,
        options: ProducerOptions,
    ) -> Result<Producer, ProducerError> {
        let path = resolve_ring_path(path);
        options
            .layout
            .geometry()
            .map_err(OpenError::from)
            .map_err(|source| ProducerError::Open {
                path: path.clone(),
                source,
            })?;
        let (file, created) = open_ring_file(&path, options.mode)?;
        if created {
            if let Some(gid) = options.group {
                set_group(&file, gid).map_err(|source| ProducerError::Io {
                    op: "chown ring file",
                    path: path.clone(),
                    source,
                })?;
            }
        }
        let lock = open_lock_file(&path)?;
        // A second descriptor of the lock's open file description: it keeps
        // the producer lock taken through `lock` until a failed creation is
        // undone.
        let creation = if created {
            file.try_clone().ok().zip(lock.try_clone().ok())
        } else {
            None
        };
        let ring_mode = {
            use std::os::unix::fs::PermissionsExt;
            file.metadata()
                .map(|m| m.permissions().mode())
                .unwrap_or(options.mode)
        };
        let ring_gid = {
            use std::os::unix::fs::MetadataExt;
            file.metadata().map(|m| m.gid()).ok()
        };
        let opened = Writer::open_with(
            file,
            lock,
            options.layout,
            IfExists::Resume,
            options.first_seq,
        );
        let mut writer = match opened {
            Ok(w) => w,
            Err(e) if options.recreate && replaceable(&e) && holds_a_ring(&path) => {
                tracing::warn!(path = %path.display(), error = %e, "replacing the ring");
                recreate(&path, &options)?
            }
            Err(source) => {
                if let Some((created, _lock)) = creation {
                    remove_failed_creation(&path, &created);
                }
                return Err(ProducerError::Open { path, source });
            }
        };
        // The files consumers write (the wake file, their cursors) live
        // beside the ring; this thread never maps them.
        slipstream_ring::sidecar::prepare(&path, ring_mode, options.group.or(ring_gid)).map_err(
            |source| ProducerError::Sidecar {
                path: path.clone(),
                source,
            },
        )?;
        let wake = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(slipstream_ring::sidecar::wake_path(&path))
            .map_err(|source| ProducerError::Sidecar {
                path: path.clone(),
                source,
            })?;
        writer.set_wake_file(wake);
        let mut p = Producer {
            writer,
            path,
            kinds: options.kinds,
            wake: options.wake,
            block: None,
            last_height: None,
            waker: None,
        };
        p.apply_wake();
        tracing::info!(path = %p.path.display(), epoch = p.writer.epoch(), next_seq = p.writer.next_seq(), "producer opened ring");
        Ok(p)
    }

    fn apply_wake(&mut self) {
        self.writer.set_wake_mode(match self.wake {
            Wake::EveryEvent => RingWake::Immediate,
            Wake::AtBlockEnd | Wake::Thread { .. } => RingWake::Deferred,
        });
        self.waker = match self.wake {
            Wake::Thread { interval } => Some(WakerThread::spawn(self.writer.waker(), interval)),
            // The finalize thread never reads the consumers' wake file: this
            // thread does, and flags a sleeper for the next event to wake.
            Wake::EveryEvent => Some(WakerThread::spawn(
                self.writer.waker(),
                EVERY_EVENT_WAKER_INTERVAL,
            )),
            Wake::AtBlockEnd => None,
        };
    }

    /// The ring's path.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-path-{}", std::process::id()));
    /// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() };
    /// # let mut p = slipstream_producer::Producer::open(&path, options)?;
    /// assert_eq!(p.path(), path);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sequence number the next event will carry.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-next-seq-{}", std::process::id()));
    /// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() };
    /// # let mut p = slipstream_producer::Producer::open(&path, options)?;
    /// assert_eq!(p.next_seq(), 1); // a new ring starts at 1
    /// p.begin_block(1)?;
    /// assert_eq!(p.next_seq(), 2);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.writer.next_seq()
    }

    /// This producer's epoch (how many producers have opened the ring).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-epoch-{}", std::process::id()));
    /// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() };
    /// # let mut p = slipstream_producer::Producer::open(&path, options)?;
    /// assert_eq!(p.epoch(), 1);
    /// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() };
    /// drop(p);
    /// let p = slipstream_producer::Producer::open(&path, options)?;
    /// assert_eq!(p.epoch(), 2); // the ring's second producer
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn epoch(&self) -> u64 {
        self.writer.epoch()
    }

    /// The kinds published.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-kinds-{}", std::process::id()));
    /// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() };
    /// # let mut p = slipstream_producer::Producer::open(&path, options)?;
    /// assert_eq!(p.kinds(), slipstream_producer::KindSet::all()); // the default
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kinds(&self) -> KindSet {
        self.kinds
    }

    /// Sets the kinds published; the others cost one branch and a counter
    /// update (`refused_switched_off`), nothing else.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-set-kinds-{}", std::process::id()));
    /// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() };
    /// # let mut p = slipstream_producer::Producer::open(&path, options)?;
    /// use slipstream_producer::{EventKind, KindSet};
    /// let mut kinds = KindSet::all();
    /// kinds.remove(EventKind::StakingReward);
    /// p.set_kinds(kinds);
    /// p.begin_block(1)?;
    /// assert_eq!(p.staking_reward(b"staker", b"validator", 1, 2)?, None); // not published
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_kinds(&mut self, kinds: KindSet) {
        self.kinds = kinds;
    }

    /// Whether events of `kind` are published.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-enabled-{}", std::process::id()));
    /// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() };
    /// # let mut p = slipstream_producer::Producer::open(&path, options)?;
    /// use slipstream_producer::{EventKind, KindSet};
    /// p.set_kinds(KindSet::none().with(EventKind::Block));
    /// assert!(p.enabled(EventKind::Block));
    /// assert!(!p.enabled(EventKind::MappingUpdate));
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn enabled(&self, kind: EventKind) -> bool {
        self.kinds.contains(kind)
    }

    /// An event of a kind switched off: counted in the header's
    /// `refused_switched_off` (a load and a store of the producer's own
    /// counter line), not published.
    #[inline]
    fn switched_off<T>(&mut self) -> Option<T> {
        self.writer.count_switched_off(1);
        None
    }

    /// The largest event payload the ring accepts.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-max-event-len-{}", std::process::id()));
    /// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16).max_payload(256), ..Default::default() };
    /// # let mut p = slipstream_producer::Producer::open(&path, options)?;
    /// assert_eq!(p.max_event_len(), 256);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_event_len(&self) -> usize {
        self.writer.geometry().layout.max_payload as usize
    }

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

    /// The open block's height, for an event of `kind` that has none.
    fn height_or_open(&self, kind: EventKind) -> Result<u64, PublishError> {
        self.block
            .map(|b| b.height)
            .ok_or(PublishError::NoOpenBlock { kind })
    }

    /// Publishes a mapping update in the open block: [`publish`](Self::publish)
    /// of an [`EventRef::MappingUpdate`] at the open block's height.
    ///
    /// # Errors
    ///
    /// [`PublishError::NoOpenBlock`] if no block is open;
    /// [`PublishError::TooLarge`] (the block is marked incomplete).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions, PublishError};
    /// let path = std::env::temp_dir().join(format!("doc-update-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// assert!(matches!(p.mapping_update(b"credits.aleo", b"account", b"k", b"v"), Err(PublishError::NoOpenBlock { .. })));
    /// p.begin_block(1)?;
    /// assert_eq!(p.mapping_update(b"credits.aleo", b"account", b"k", b"v")?, Some(2));
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mapping_update(
        &mut self,
        program_id: &[u8],
        mapping_name: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<u64>, PublishError> {
        if !self.kinds.contains(EventKind::MappingUpdate) {
            return Ok(self.switched_off());
        }
        let block_height = self.height_or_open(EventKind::MappingUpdate)?;
        self.publish(&EventRef::MappingUpdate {
            block_height,
            ordinal: 0,
            program_id,
            mapping_name,
            key,
            value,
        })
    }

    /// Publishes a staking reward in the open block: [`publish`](Self::publish)
    /// of an [`EventRef::StakingReward`] at the open block's height.
    ///
    /// # Errors
    ///
    /// As [`mapping_update`](Self::mapping_update).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-reward-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// p.begin_block(1)?;
    /// assert_eq!(p.staking_reward(b"aleo1staker", b"aleo1validator", 1_000, 2_000_000)?, Some(2));
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn staking_reward(
        &mut self,
        staker: &[u8],
        validator: &[u8],
        reward: u64,
        new_stake: u64,
    ) -> Result<Option<u64>, PublishError> {
        if !self.kinds.contains(EventKind::StakingReward) {
            return Ok(self.switched_off());
        }
        let block_height = self.height_or_open(EventKind::StakingReward)?;
        self.publish(&EventRef::StakingReward {
            block_height,
            ordinal: 0,
            staker,
            validator,
            reward,
            new_stake,
        })
    }

    /// Publishes a mapping update of block `block_height`:
    /// [`publish`](Self::publish) of an [`EventRef::MappingUpdate`] (opening
    /// that block if it is not the open one).
    ///
    /// # Errors
    ///
    /// As [`publish`](Self::publish): [`PublishError::HeightNotIncreasing`]
    /// if `block_height` is neither the open block's nor above the last
    /// block begun; [`PublishError::TooLarge`] (the block is marked incomplete).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-update-at-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// assert_eq!(p.mapping_update_at(5, b"credits.aleo", b"account", b"k", b"v")?, Some(2));
    /// assert_eq!(p.open_block(), Some(5)); // its begin marker is seq 1
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mapping_update_at(
        &mut self,
        block_height: u64,
        program_id: &[u8],
        mapping_name: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<u64>, PublishError> {
        self.publish(&EventRef::MappingUpdate {
            block_height,
            ordinal: 0,
            program_id,
            mapping_name,
            key,
            value,
        })
    }

    /// Publishes a mapping removal (`key: None`: the whole mapping) of block
    /// `block_height`: [`publish`](Self::publish) of an
    /// [`EventRef::MappingRemoval`].
    ///
    /// # Errors
    ///
    /// As [`mapping_update_at`](Self::mapping_update_at).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-removal-at-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// p.mapping_removal_at(5, b"credits.aleo", b"bonded", Some(b"aleo1..."))?;
    /// p.mapping_removal_at(5, b"credits.aleo", b"bonded", None)?; // the whole mapping
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mapping_removal_at(
        &mut self,
        block_height: u64,
        program_id: &[u8],
        mapping_name: &[u8],
        key: Option<&[u8]>,
    ) -> Result<Option<u64>, PublishError> {
        self.publish(&EventRef::MappingRemoval {
            block_height,
            ordinal: 0,
            program_id,
            mapping_name,
            key,
        })
    }

    /// Publishes a staking reward of block `block_height`:
    /// [`publish`](Self::publish) of an [`EventRef::StakingReward`].
    ///
    /// # Errors
    ///
    /// As [`mapping_update_at`](Self::mapping_update_at).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-reward-at-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// p.staking_reward_at(5, b"aleo1staker", b"aleo1validator", 1_000, 2_000_000)?;
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn staking_reward_at(
        &mut self,
        block_height: u64,
        staker: &[u8],
        validator: &[u8],
        reward: u64,
        new_stake: u64,
    ) -> Result<Option<u64>, PublishError> {
        self.publish(&EventRef::StakingReward {
            block_height,
            ordinal: 0,
            staker,
            validator,
            reward,
            new_stake,
        })
    }

    /// Publishes a finalized block (its bytes as the node encodes them) of
    /// block `block_height`: [`publish`](Self::publish) of an [`EventRef::Block`].
    ///
    /// # Errors
    ///
    /// As [`mapping_update_at`](Self::mapping_update_at).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-block-at-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// p.block_at(5, b"the block as the node encodes it")?;
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn block_at(
        &mut self,
        block_height: u64,
        block: &[u8],
    ) -> Result<Option<u64>, PublishError> {
        self.publish(&EventRef::Block {
            block_height,
            ordinal: 0,
            block,
        })
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

impl Drop for Producer {
    fn drop(&mut self) {
        if let Err(e) = self.commit_block() {
            tracing::warn!(error = %e, "could not commit the open block on close");
        }
        self.waker.take();
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("path", &self.path)
            .field("next_seq", &self.writer.next_seq())
            .field("wake", &self.wake)
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

/// Whether the file at `path` is a Slipstream ring (or one being created):
/// empty, or starting with the ring magic or with the zeros a creation leaves
/// before it writes the magic. `recreate` replaces only such files: a path
/// that names anything else (a user's file given by mistake) is never
/// overwritten.
fn holds_a_ring(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    // Empty, or a whole magic (or zeros, a ring whose creation was cut short):
    // the one magic test, `may_be_ring`; a shorter file is not a ring.
    match f.read(&mut head) {
        Ok(n @ (0 | 8)) => slipstream_ring::layout::may_be_ring(&head[..n]),
        _ => false,
    }
}

fn replaceable(e: &OpenError) -> bool {
    matches!(
        e,
        OpenError::Layout(_)
            | OpenError::LayoutMismatch { .. }
            | OpenError::Truncated { .. }
            | OpenError::Corrupt(_)
            | OpenError::NotInitialized
    )
}

/// Removes the file this producer created at `path` and could not make a
/// ring in (a full disk: `fallocate` failed), so that nothing is left behind
/// that readers would wait on as "being created", or that the next producer
/// would refuse as not initialised (a partly allocated file of zeros).
/// `created` still holds the producer lock, so no other producer can have
/// started on the file; and it is removed only if `path` still names it.
fn remove_failed_creation(path: &Path, created: &std::fs::File) {
    use std::os::unix::fs::MetadataExt;
    let same = match (created.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    if same {
        let _ = std::fs::remove_file(path);
        // And the lock file this producer made for it (it still holds the
        // lock, so no other producer uses it).
        let _ = std::fs::remove_file(slipstream_ring::sidecar::lock_path(path));
    }
}

/// Creates a new ring in a temporary file beside `path` and renames it over
/// `path`, so that consumers still mapping the old file keep a valid mapping.
fn recreate(path: &Path, options: &ProducerOptions) -> Result<Writer, ProducerError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.new-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let (file, _) = open_ring_file(&tmp, options.mode)?;
    if let Some(gid) = options.group {
        set_group(&file, gid).map_err(|source| ProducerError::Io {
            op: "chown ring file",
            path: tmp.clone(),
            source,
        })?;
    }
    let lock = open_lock_file(path)?;
    let writer =
        Writer::create(file, lock, options.layout, options.first_seq).map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            ProducerError::Open {
                path: tmp.clone(),
                source,
            }
        })?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        ProducerError::Io {
            op: "rename new ring over old",
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(writer)
}

/// Gives `file` the group `gid`.
fn set_group(file: &std::fs::File, gid: u32) -> std::io::Result<()> {
    rustix::fs::fchown(file, None, Some(rustix::fs::Gid::from_raw(gid)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipstream_ring::{Item, Layout, Reader, Start};

    /// Every counter FORMAT.md section 2 defines is maintained by the
    /// producer and readable from the ring alone (`slipstream_ring::stats`).
    #[test]
    fn the_header_counts_what_the_producer_did() {
        let path = std::env::temp_dir().join(format!("producer-counters-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let opts = || ProducerOptions {
            layout: Layout::new(4096).max_payload(200),
            ..Default::default()
        };
        {
            let mut p = Producer::open(&path, opts()).unwrap();
            let mut kinds = KindSet::all();
            kinds.remove(EventKind::StakingReward);
            p.set_kinds(kinds);
            for h in 1..=40u64 {
                p.mapping_update_at(h, b"p", b"m", b"k", &[7; 60]).unwrap();
                // Switched off: counted, not published.
                assert_eq!(p.staking_reward(b"s", b"v", 1, 2).unwrap(), None);
                p.commit_block().unwrap();
            }
            // Too large: counted, refused.
            p.begin_block(41).unwrap();
            assert!(p.mapping_update(b"p", b"m", b"k", &[0; 300]).is_err());
            p.commit_block().unwrap();
        }
        drop(Producer::open(&path, opts()).unwrap());
        let s = slipstream_ring::stats::read(&path).unwrap();
        let c = s.counters;
        // 40 blocks of begin, update, commit; then begin and commit of 41.
        assert_eq!(c.events, 122);
        assert_eq!(c.blocks, 41);
        assert_eq!(c.refused_switched_off, 40);
        assert_eq!(c.refused_too_large, 1);
        assert_eq!(c.producer_starts, 2);
        assert!(c.bytes > 4096, "wrapped: {c:?}");
        assert!(c.padding_bytes > 0 && c.padding_bytes < c.bytes, "{c:?}");
        // Each clean close wakes sleepers, whoever announced.
        assert!(c.wake_calls >= 2, "{c:?}");
        assert!(!s.producer_alive);
        std::fs::remove_file(&path).unwrap();
        slipstream_ring::sidecar::remove_all(&path);
    }

    /// Regression: a ring that did not fit on its disk left an empty (or,
    /// on some file systems, partly allocated) file behind, which readers
    /// took for a ring being created and the next producer refused.
    #[test]
    fn a_ring_too_large_for_its_disk_leaves_no_file() {
        let Ok(fs) = rustix::fs::statvfs(crate::SHM_DIR) else {
            return; // no /dev/shm here
        };
        let capacity = 1u64 << 40;
        // Only where the tmpfs is smaller than the ring: it refuses such an
        // allocation at once, without filling memory first.
        if fs.f_blocks.saturating_mul(fs.f_frsize) >= capacity {
            return;
        }
        let path =
            Path::new(crate::SHM_DIR).join(format!("producer-enospc-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let err = Producer::open(
            &path,
            ProducerOptions {
                layout: Layout::new(capacity),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(&err, ProducerError::Open { source: OpenError::Io { op: "fallocate ring file", source }, .. }
                if source.raw_os_error() == Some(28)),
            "{err}"
        );
        assert!(!path.exists(), "{} was left behind", path.display());
    }

    /// An event refused as too large inside a block counts in it: its
    /// ordinal is left out and the commit marker announces one event more
    /// than the ring holds, so that no consumer takes the block for whole
    /// (it used to commit looking complete, with the event silently gone).
    #[test]
    fn a_refused_event_marks_its_block_incomplete() {
        let path = std::env::temp_dir().join(format!("producer-too-large-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let layout = Layout::new(1 << 16).max_payload(256);
        let mut p = Producer::open(
            &path,
            ProducerOptions {
                layout,
                ..Default::default()
            },
        )
        .unwrap();
        p.begin_block(5).unwrap();
        p.mapping_update(b"p", b"m", b"k", b"v").unwrap();
        let err = p.block_at(5, &[0; 256]).unwrap_err();
        assert_eq!(
            err,
            PublishError::TooLarge {
                len: 272,
                max: 256,
                block: Some(5)
            }
        );
        assert!(
            err.to_string().contains("block 5 is marked incomplete"),
            "{err}"
        );
        p.block_at(5, &[0; 16]).unwrap();
        p.commit_block().unwrap();
        // Outside a block the refusal names no block.
        let err = p
            .publish_raw(&EventRef::Block {
                block_height: 6,
                ordinal: 1,
                block: &[0; 300],
            })
            .unwrap_err();
        assert!(
            matches!(err, PublishError::TooLarge { block: None, .. }),
            "{err}"
        );
        let file = std::fs::File::open(&path).unwrap();
        let mut r = Reader::attach(&file, Start::Oldest).unwrap();
        let mut seen = vec![];
        while let Some(Item::Record(rec)) = r.try_next().unwrap() {
            let ev = EventRef::decode(rec.kind, rec.payload).unwrap();
            let count = match ev {
                EventRef::BlockBegin { event_count, .. }
                | EventRef::BlockCommit { event_count, .. } => Some(event_count),
                _ => None,
            };
            seen.push((rec.seq, ev.ordinal(), count));
        }
        drop(p);
        std::fs::remove_file(&path).unwrap();
        // Ordinal 2 (the refused event) is missing; the commit counts 3 events.
        assert_eq!(
            seen,
            [
                (1, 0, Some(UNKNOWN_COUNT)),
                (2, 1, None),
                (3, 3, None),
                (4, 4, Some(3))
            ]
        );
    }

    fn temp_producer(tag: &str) -> (Producer, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("producer-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let p = Producer::open(
            &path,
            ProducerOptions {
                layout: Layout::new(1 << 16),
                ..Default::default()
            },
        )
        .unwrap();
        (p, path)
    }

    /// Events without a height belong to the open block; with none open they
    /// are refused (they used to land in a "block 0").
    #[test]
    fn an_event_without_a_height_needs_an_open_block() {
        let (mut p, path) = temp_producer("no-block");
        let err = p.mapping_update(b"p", b"m", b"k", b"v").unwrap_err();
        assert_eq!(
            err,
            PublishError::NoOpenBlock {
                kind: EventKind::MappingUpdate
            }
        );
        assert!(err.to_string().contains("no block is open"), "{err}");
        assert_eq!(
            p.staking_reward(b"s", b"v", 1, 2).unwrap_err(),
            PublishError::NoOpenBlock {
                kind: EventKind::StakingReward
            }
        );
        assert_eq!(p.next_seq(), 1, "nothing was published");
        // The documented implicit block: an event with a height opens its block.
        p.mapping_update_at(9, b"p", b"m", b"k", b"v").unwrap();
        assert_eq!(p.open_block(), Some(9));
        p.mapping_update(b"p", b"m", b"k2", b"v").unwrap();
        p.commit_block().unwrap();
        assert_eq!(p.next_seq(), 5, "begin, two updates, commit");
        assert!(p.mapping_update(b"p", b"m", b"k", b"v").is_err());
        drop(p);
        std::fs::remove_file(&path).unwrap();
    }

    /// Heights only increase: a block at or below the last one begun is
    /// refused, explicitly or implicitly opened, and nothing is published.
    #[test]
    fn heights_that_do_not_increase_are_refused() {
        let (mut p, path) = temp_producer("heights");
        p.begin_block(10).unwrap();
        p.mapping_update_at(10, b"p", b"m", b"k", b"v").unwrap();
        let before = p.next_seq();
        let refused = PublishError::HeightNotIncreasing {
            height: 9,
            last: 10,
        };
        assert_eq!(p.begin_block(9).unwrap_err(), refused);
        assert_eq!(
            p.mapping_update_at(9, b"p", b"m", b"k", b"v").unwrap_err(),
            refused
        );
        assert_eq!(p.block_at(9, b"b").unwrap_err(), refused);
        assert_eq!(
            p.begin_block_with_count(10, 1).unwrap_err(),
            PublishError::HeightNotIncreasing {
                height: 10,
                last: 10
            }
        );
        assert_eq!(p.next_seq(), before, "nothing was published");
        assert_eq!(p.open_block(), Some(10), "the open block stays open");
        p.commit_block().unwrap();
        // A committed height cannot be reopened either.
        assert!(matches!(
            p.staking_reward_at(10, b"s", b"v", 1, 2),
            Err(PublishError::HeightNotIncreasing {
                height: 10,
                last: 10
            })
        ));
        p.staking_reward_at(12, b"s", b"v", 1, 2).unwrap();
        assert_eq!(p.open_block(), Some(12));
        assert!(
            refused.to_string().contains("does not increase"),
            "{refused}"
        );
        drop(p);
        std::fs::remove_file(&path).unwrap();
    }
}
