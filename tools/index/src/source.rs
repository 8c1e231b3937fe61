//! The ring side: everything the indexer asks of the consumer SDK, in one
//! place, so that a change of the SDK's delivery semantics touches only this
//! module.
//!
//! The indexer reads without a named cursor: its position lives in the
//! database, and it attaches at `Start::Seq(next_seq)` each time it starts.

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use slipstream_consumer::{Block, BlockItem, Consumer, ConsumerError, ProducerChange, Start};
use slipstream_ring::layout::RawHeader;
use slipstream_ring::SeekError;
use zerocopy::FromBytes;

/// The identity of a ring file: its header's `ring_id` and its inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingIdentity {
    /// The header's random `ring_id`, chosen when the ring was created.
    pub ring_id: u64,
    /// The header's first sequence number ever written.
    pub first_seq: u64,
    /// (device, inode) of the file.
    pub file: (u64, u64),
}

/// An error reading the ring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The ring file could not be read.
    #[error("ring {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an initialised ring.
    #[error("ring {0}: not an initialised Slipstream ring (no magic; is its producer still creating it?)")]
    NotARing(PathBuf),
    /// The consumer SDK refused.
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
}

/// Reads the identity of the ring file at `path`.
///
/// # Errors
/// [`SourceError::Io`] or [`SourceError::NotARing`].
pub fn identity(path: &Path) -> Result<RingIdentity, SourceError> {
    let io = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let mut bytes = [0u8; core::mem::size_of::<RawHeader>()];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|_| SourceError::NotARing(path.to_path_buf()))?;
    let header = RawHeader::read_from_bytes(&bytes).expect("one header long");
    if header.magic != slipstream_ring::layout::MAGIC {
        return Err(SourceError::NotARing(path.to_path_buf()));
    }
    Ok(RingIdentity {
        ring_id: header.ring_id.get(),
        first_seq: header.first_seq.get(),
        file: (meta.dev(), meta.ino()),
    })
}

/// Where the ring stands: the oldest retained and the next sequence numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingSpan {
    /// The oldest event the ring still holds (equal to `next` if none).
    pub oldest: u64,
    /// The sequence number of the next event to be published.
    pub next: u64,
}

/// Reads the ring's span.
///
/// # Errors
/// The SDK's error.
pub fn span(path: &Path) -> Result<RingSpan, SourceError> {
    let oldest = Consumer::builder(path)
        .start(Start::Oldest)
        .open()?
        .next_seq();
    let next = Consumer::builder(path).start(Start::End).open()?.next_seq();
    Ok(RingSpan {
        oldest: oldest.min(next),
        next,
    })
}

/// What [`Source::open`] found.
#[derive(Debug)]
pub enum Opened {
    /// Attached at the sequence asked for.
    At(Box<Source>),
    /// The sequence asked for is no longer in the ring: `requested..oldest`
    /// was overwritten.
    NotRetained {
        /// The sequence asked for.
        requested: u64,
        /// The oldest sequence retained.
        oldest: u64,
    },
    /// The sequence asked for was never written in this ring.
    InFuture {
        /// The sequence asked for.
        requested: u64,
        /// The ring's next sequence.
        next: u64,
    },
}

/// What the indexer reads next.
#[derive(Debug)]
pub enum Next {
    /// A committed block.
    Block(Block),
    /// The ring overwrote these events before they were read (inclusive).
    Lagged {
        /// First missed.
        first: u64,
        /// Last missed.
        last: u64,
    },
    /// A block that began and never committed (not applied).
    Incomplete {
        /// Its height.
        height: u64,
        /// Why.
        reason: &'static str,
    },
    /// The producer died, closed, or restarted.
    Producer(ProducerChange),
    /// Nothing within the timeout.
    Idle,
}

/// The indexer's reader of a ring.
#[derive(Debug)]
pub struct Source {
    consumer: Consumer,
    /// The ring's identity when it was attached.
    pub identity: RingIdentity,
    path: PathBuf,
}

impl Source {
    /// Attaches to the ring at `path`, at sequence `from` (`None`: the oldest retained).
    ///
    /// # Errors
    /// The SDK's error for anything but a start position out of the ring.
    pub fn open(path: &Path, from: Option<u64>, wait: Duration) -> Result<Opened, SourceError> {
        let start = match from {
            Some(n) => Start::Seq(n),
            None => Start::Oldest,
        };
        loop {
            let before = identity(path);
            let consumer = Consumer::builder(path)
                .start(start)
                .wait_for_ring(wait)
                .spin(Duration::from_micros(50))
                .open();
            let consumer = match consumer {
                Ok(c) => c,
                Err(ConsumerError::StartUnavailable {
                    requested: Start::Seq(requested),
                    available,
                }) => {
                    return Ok(Opened::NotRetained {
                        requested,
                        oldest: available.oldest_seq,
                    })
                }
                Err(ConsumerError::Seek(SeekError::NotRetained { requested, oldest })) => {
                    return Ok(Opened::NotRetained { requested, oldest })
                }
                Err(e) => return Err(e.into()),
            };
            // The SDK waits for a sequence number not written yet; for the
            // indexer, a stored position beyond the ring's end means the
            // database and the ring disagree, which it reports.
            if let Some(requested) = from {
                let next = consumer.available().next_seq;
                if requested > next {
                    return Ok(Opened::InFuture { requested, next });
                }
            }
            let after = identity(path)?;
            // The ring was replaced between reading its identity and
            // attaching: read both again.
            if before.as_ref().ok() != Some(&after) {
                continue;
            }
            return Ok(Opened::At(Box::new(Source {
                consumer,
                identity: after,
                path: path.to_path_buf(),
            })));
        }
    }

    /// The next block, lag, incomplete block or producer change, waiting up
    /// to `timeout` (zero: only what is already there).
    ///
    /// # Errors
    /// The SDK's error (a ring that holds invalid data, an undecodable event).
    pub fn next(&mut self, timeout: Duration) -> Result<Next, SourceError> {
        Ok(match self.consumer.next_block(timeout)? {
            None => Next::Idle,
            Some(BlockItem::Block(b)) => Next::Block(b),
            Some(BlockItem::Lagged(lag)) => Next::Lagged {
                first: lag.first_missed,
                last: lag.last_missed,
            },
            Some(BlockItem::Incomplete { height, reason, .. }) => {
                Next::Incomplete { height, reason }
            }
            Some(BlockItem::Producer(change)) => Next::Producer(change),
        })
    }

    /// The sequence number of the next event this source reads.
    pub fn next_seq(&self) -> u64 {
        self.consumer.next_seq()
    }

    /// Whether the file at the ring's path is still the ring this source reads;
    /// `Err` with the new identity if it was replaced (or `None` if it is gone).
    pub fn still_current(&self) -> Result<(), Option<RingIdentity>> {
        match identity(&self.path) {
            Ok(id) if id == self.identity => Ok(()),
            Ok(id) => Err(Some(id)),
            Err(_) => Err(None),
        }
    }
}
