//! The producer a node's finalize hook holds.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use slipstream_ring::event::{EventKind, EventRef, KindSet, UNKNOWN_COUNT};
use slipstream_ring::{IfExists, Layout, OpenError, PublishError, WakeMode, Writer};

use crate::path::open_ring_file;
use crate::ProducerError;
use slipstream_ring::resolve_ring_path;

/// When readers asleep on the ring's futex are woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// At the end of each block (the commit marker) and on
    /// [`Producer::flush`]: publishing an event never makes a system call.
    /// The default: a node's finalize thread pays one wake per block at most.
    AtBlockEnd,
    /// After every event: lowest latency for sleeping consumers; the first
    /// event after a consumer fell asleep pays the wake system call.
    EveryEvent,
    /// From a background thread that checks every `interval`: the publishing
    /// thread never makes a system call, and sleepers wait at most about
    /// `interval` longer (plus the scheduler's delay).
    Thread {
        /// How often the thread checks.
        interval: Duration,
    },
}

/// How to open a ring for producing.
#[derive(Clone, Debug)]
pub struct ProducerOptions {
    /// The ring's layout: used to create it, and required of an existing ring.
    pub layout: Layout,
    /// Permission bits of a ring this producer creates (default `0o600`; `0o640`
    /// lets the file's group read it).
    pub mode: u32,
    /// Replace an existing ring of another layout or version, or one that
    /// cannot be read, with a new file renamed over it (readers still mapping
    /// the old one are not hurt). Default: refuse it.
    pub recreate: bool,
    /// When sleeping readers are woken.
    pub wake: Wake,
    /// The event kinds published; others cost nothing (default: all).
    pub kinds: KindSet,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        ProducerOptions {
            layout: Layout::default(),
            mode: 0o600,
            recreate: false,
            wake: Wake::AtBlockEnd,
            kinds: KindSet::all(),
        }
    }
}

/// The state of the block being published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenBlock {
    height: u64,
    count: u32,
}

/// Publishes a node's finalize events into a ring.
///
/// Never blocks and never waits for a consumer; fails only for its own errors
/// (an event larger than the ring's maximum, a file problem when opening).
///
/// ```
/// use slipstream_producer::{Producer, ProducerOptions};
/// use slipstream_ring::Layout;
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
    waker: Option<WakerThread>,
}

impl Producer {
    /// Opens the ring at `path` (a bare name is a file under `/dev/shm`),
    /// creating it if it does not exist, resuming it after the last committed
    /// event if it does.
    pub fn open(
        path: impl AsRef<Path>,
        options: ProducerOptions,
    ) -> Result<Producer, ProducerError> {
        Self::open_with_first_seq(path, options, slipstream_ring::layout::FIRST_SEQ)
    }

    /// As [`open`](Producer::open), but a ring this creates numbers its first
    /// event `first_seq` (an existing ring goes on with its own sequence). A
    /// node that creates a new ring where a journal of its stream exists (after
    /// a reboot emptied `/dev/shm`) passes the journal's next sequence number,
    /// so that sequence numbers never repeat for one stream.
    ///
    /// ```
    /// use slipstream_producer::{Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-first-seq-p-{}", std::process::id()));
    /// let mut p = Producer::open_with_first_seq(&path, ProducerOptions::default(), 5000)?;
    /// assert_eq!(p.next_seq(), 5000);
    /// # drop(p); std::fs::remove_file(path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`open`](Producer::open).
    pub fn open_with_first_seq(
        path: impl AsRef<Path>,
        options: ProducerOptions,
        first_seq: u64,
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
        // A second descriptor of the same open file description: it keeps the
        // producer lock taken through `file` until a failed creation is undone.
        let creation = if created { file.try_clone().ok() } else { None };
        let writer =
            match Writer::open_with_first_seq(file, options.layout, IfExists::Resume, first_seq) {
                Ok(w) => w,
                Err(e) if options.recreate && replaceable(&e) && holds_a_ring(&path) => {
                    tracing::warn!(path = %path.display(), error = %e, "replacing the ring");
                    recreate(&path, &options)?
                }
                Err(source) => {
                    if let Some(created) = creation {
                        remove_failed_creation(&path, &created);
                    }
                    return Err(ProducerError::Open { path, source });
                }
            };
        let mut p = Producer {
            writer,
            path,
            kinds: options.kinds,
            wake: options.wake,
            block: None,
            waker: None,
        };
        p.apply_wake();
        tracing::info!(path = %p.path.display(), epoch = p.writer.epoch(), next_seq = p.writer.next_seq(), "producer opened ring");
        Ok(p)
    }

    fn apply_wake(&mut self) {
        self.writer.set_wake_mode(match self.wake {
            Wake::EveryEvent => WakeMode::Immediate,
            Wake::AtBlockEnd | Wake::Thread { .. } => WakeMode::Deferred,
        });
        self.waker = match self.wake {
            Wake::Thread { interval } => Some(WakerThread::spawn(self.writer.waker(), interval)),
            _ => None,
        };
    }

    /// The ring's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sequence number the next event will carry.
    pub fn next_seq(&self) -> u64 {
        self.writer.next_seq()
    }

    /// This producer's epoch (how many producers have opened the ring).
    pub fn epoch(&self) -> u64 {
        self.writer.epoch()
    }

    /// The kinds published.
    pub fn kinds(&self) -> KindSet {
        self.kinds
    }

    /// Sets the kinds published; the others cost one branch and nothing else.
    pub fn set_kinds(&mut self, kinds: KindSet) {
        self.kinds = kinds;
    }

    /// Whether events of `kind` are published.
    #[inline]
    pub fn enabled(&self, kind: EventKind) -> bool {
        self.kinds.contains(kind)
    }

    /// The largest event payload the ring accepts.
    pub fn max_event_len(&self) -> usize {
        self.writer.geometry().layout.max_payload as usize
    }

    /// Publishes one event, encoded straight into the ring. Returns its
    /// sequence number, or `None` if its kind is switched off.
    ///
    /// The event's `ordinal` is written as given; the per-kind methods below
    /// (and [`on_broadcast`](crate::SlipstreamPlugin::on_broadcast)) number
    /// events within their block for you.
    #[inline]
    pub fn publish(&mut self, event: &EventRef<'_>) -> Result<Option<u64>, PublishError> {
        if !self.kinds.contains(event.kind()) {
            return Ok(None);
        }
        let mut r = self
            .writer
            .reserve(event.kind().as_u16(), event.encoded_len())?;
        event.encode(r.payload_mut());
        let seq = r.commit();
        Ok(Some(seq))
    }

    /// Starts block `height`: publishes its begin marker (with the event count
    /// unknown). An open block is committed first.
    pub fn begin_block(&mut self, height: u64) -> Result<Option<u64>, PublishError> {
        self.begin(height, UNKNOWN_COUNT)
    }

    /// Starts block `height` whose event count is known in advance.
    pub fn begin_block_with_count(
        &mut self,
        height: u64,
        event_count: u32,
    ) -> Result<Option<u64>, PublishError> {
        self.begin(height, event_count)
    }

    fn begin(&mut self, height: u64, event_count: u32) -> Result<Option<u64>, PublishError> {
        if self.block.is_some() {
            self.commit_block()?;
        }
        self.block = Some(OpenBlock { height, count: 0 });
        self.publish(&EventRef::BlockBegin {
            block_height: height,
            event_count,
        })
    }

    /// Ends the open block: publishes its commit marker with the number of
    /// events published in it, then wakes sleeping consumers (in
    /// [`Wake::AtBlockEnd`] mode). Returns `None` if no block was open.
    pub fn commit_block(&mut self) -> Result<Option<u64>, PublishError> {
        let Some(block) = self.block.take() else {
            return Ok(None);
        };
        let seq = self.publish(&EventRef::BlockCommit {
            block_height: block.height,
            event_count: block.count,
        })?;
        if self.wake == Wake::AtBlockEnd {
            self.writer.flush();
        }
        Ok(seq)
    }

    /// The height of the open block, if any.
    pub fn open_block(&self) -> Option<u64> {
        self.block.map(|b| b.height)
    }

    /// Wakes sleeping consumers now if anything was published since the last
    /// wake (one fence and one load when nobody sleeps).
    pub fn flush(&mut self) -> bool {
        self.writer.flush()
    }

    /// The ordinal the next event of block `height` gets (opening that block
    /// if needed). The block counts the event only once it is published
    /// ([`publish_counted`](Self::publish_counted)): an event refused as too
    /// large leaves no hole in the ordinals and no excess in the commit
    /// marker's count, which would make consumers drop the whole block.
    #[inline]
    fn next_ordinal(&mut self, height: u64, kind: EventKind) -> Result<Option<u32>, PublishError> {
        if !self.kinds.contains(kind) {
            return Ok(None);
        }
        match self.block {
            Some(b) if b.height == height => {}
            _ => {
                self.begin(height, UNKNOWN_COUNT)?;
            }
        }
        let b = self.block.as_ref().expect("a block is open");
        Ok(Some(b.count + 1))
    }

    /// Publishes an event numbered by [`next_ordinal`](Self::next_ordinal),
    /// and counts it in the open block if it was published.
    #[inline]
    fn publish_counted(&mut self, event: &EventRef<'_>) -> Result<Option<u64>, PublishError> {
        let seq = self.publish(event)?;
        if let Some(b) = self.block.as_mut() {
            b.count += 1;
        }
        Ok(seq)
    }

    fn height_or_open(&self) -> u64 {
        self.block.map_or(0, |b| b.height)
    }

    /// Publishes a mapping update in the open block.
    pub fn mapping_update(
        &mut self,
        program_id: &[u8],
        mapping_name: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<u64>, PublishError> {
        self.mapping_update_at(self.height_or_open(), program_id, mapping_name, key, value)
    }

    /// Publishes a mapping update of block `height` (opening that block if it
    /// is not the open one).
    pub fn mapping_update_at(
        &mut self,
        block_height: u64,
        program_id: &[u8],
        mapping_name: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<u64>, PublishError> {
        let Some(ordinal) = self.next_ordinal(block_height, EventKind::MappingUpdate)? else {
            return Ok(None);
        };
        self.publish_counted(&EventRef::MappingUpdate {
            block_height,
            ordinal,
            program_id,
            mapping_name,
            key,
            value,
        })
    }

    /// Publishes a mapping removal (`key: None`: the whole mapping) of block `height`.
    pub fn mapping_removal_at(
        &mut self,
        block_height: u64,
        program_id: &[u8],
        mapping_name: &[u8],
        key: Option<&[u8]>,
    ) -> Result<Option<u64>, PublishError> {
        let Some(ordinal) = self.next_ordinal(block_height, EventKind::MappingRemoval)? else {
            return Ok(None);
        };
        self.publish_counted(&EventRef::MappingRemoval {
            block_height,
            ordinal,
            program_id,
            mapping_name,
            key,
        })
    }

    /// Publishes a staking reward in the open block.
    pub fn staking_reward(
        &mut self,
        staker: &[u8],
        validator: &[u8],
        reward: u64,
        new_stake: u64,
    ) -> Result<Option<u64>, PublishError> {
        self.staking_reward_at(self.height_or_open(), staker, validator, reward, new_stake)
    }

    /// Publishes a staking reward of block `height`.
    pub fn staking_reward_at(
        &mut self,
        block_height: u64,
        staker: &[u8],
        validator: &[u8],
        reward: u64,
        new_stake: u64,
    ) -> Result<Option<u64>, PublishError> {
        let Some(ordinal) = self.next_ordinal(block_height, EventKind::StakingReward)? else {
            return Ok(None);
        };
        self.publish_counted(&EventRef::StakingReward {
            block_height,
            ordinal,
            staker,
            validator,
            reward,
            new_stake,
        })
    }

    /// Publishes a finalized block (its bytes as the node encodes them) of block `height`.
    pub fn block_at(
        &mut self,
        block_height: u64,
        block: &[u8],
    ) -> Result<Option<u64>, PublishError> {
        let Some(ordinal) = self.next_ordinal(block_height, EventKind::Block)? else {
            return Ok(None);
        };
        self.publish_counted(&EventRef::Block {
            block_height,
            ordinal,
            block,
        })
    }
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
    match f.read(&mut head) {
        Ok(0) => true,
        Ok(8) => head == slipstream_ring::layout::MAGIC || head == [0; 8],
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
    let writer = Writer::create(file, options.layout).map_err(|source| {
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

/// A thread that wakes sleeping consumers on behalf of the producer.
struct WakerThread {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl WakerThread {
    fn spawn(mut waker: slipstream_ring::Waker, interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("slipstream-waker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(interval);
                    waker.wake_if_needed();
                }
                waker.wake_if_needed();
            })
            .expect("spawn the waker thread");
        WakerThread {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for WakerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipstream_ring::{Item, Reader, StartAt};

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

    /// Regression: an event refused as too large inside a block used to
    /// count in the block anyway, so the next event's ordinal skipped one and
    /// the commit marker announced an event that never came: consumers
    /// dropped the whole block as incomplete.
    #[test]
    fn a_refused_event_leaves_the_block_whole() {
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
        assert!(
            matches!(err, PublishError::TooLarge { len: 272, max: 256 }),
            "{err}"
        );
        p.block_at(5, &[0; 16]).unwrap();
        p.commit_block().unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut r = Reader::attach(&file, StartAt::Oldest).unwrap();
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
        assert_eq!(
            seen,
            [
                (1, 0, Some(UNKNOWN_COUNT)),
                (2, 1, None),
                (3, 2, None),
                (4, 3, Some(2))
            ]
        );
    }
}
