//! The producer a node's finalize hook holds.
//!
//! One idea per file: this file holds the [`Producer`] type, its small
//! accessors, and what it does when dropped; `open` opens or recreates the
//! ring file; `block` publishes events and keeps the block protocol; `events`
//! holds the typed per-kind publishers.

use std::path::{Path, PathBuf};

use slipstream_event::{EventKind, KindSet};
use slipstream_ring::Writer;

use crate::waker::WakerThread;
use crate::Wake;
// Named by the docs of `Producer`.
#[cfg(doc)]
use {crate::PublishError, slipstream_event::EventRef};

mod block;
mod events;
mod open;
#[cfg(test)]
mod tests;

use block::OpenBlock;

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
