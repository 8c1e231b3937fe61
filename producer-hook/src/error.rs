//! A producer's errors: opening a ring ([`ProducerError`]) and the events it
//! refuses ([`PublishError`]).

use slipstream_event::EventKind;
use std::path::PathBuf;

/// An error opening a ring as its producer.
///
/// ```
/// use slipstream_producer::{Layout, Producer, ProducerError, ProducerOptions};
/// let path = std::env::temp_dir().join(format!("doc-producer-error-{}", std::process::id()));
/// let options = ProducerOptions { layout: Layout::new(1 << 16), mode: 0o666, ..Default::default() };
/// let err = Producer::open(&path, options).unwrap_err();
/// assert!(matches!(err, ProducerError::WritableMode { mode: 0o666, .. }), "{err}");
/// assert!(!path.exists());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProducerError {
    /// The ring file exists but cannot be used as this producer's ring.
    #[error("ring {path}: {source}")]
    Open {
        /// The ring's path.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: slipstream_ring::OpenError,
    },
    /// A system call on the ring's path failed.
    #[error("ring {path}: {op} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The ring's path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The path is a symbolic link, which a producer refuses to follow.
    #[error("ring {0} is a symbolic link; a producer opens rings only by their real path")]
    Symlink(PathBuf),
    /// The path is not a regular file.
    #[error("ring {0} is not a regular file")]
    NotAFile(PathBuf),
    /// The requested permission bits would let other users write the ring.
    #[error("ring {path}: mode {mode:#o} lets other users write the ring; consumers only ever need to read it (use 0600 or 0640)")]
    WritableMode {
        /// The ring's path.
        path: PathBuf,
        /// The mode asked for.
        mode: u32,
    },
    /// The ring's sidecar files (wake file, readers directory) could not be prepared.
    #[error("ring {path}: preparing its sidecar files failed: {source}")]
    Sidecar {
        /// The ring's path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file belongs to another user.
    #[error("ring {path} belongs to uid {owner}, not to this process's uid {euid}; refusing to write it")]
    NotOwner {
        /// The ring's path.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// This process's effective uid.
        euid: u32,
    },
}

/// An event the producer refused. Nothing was published for it, and
/// consumers are never misled by the refusal: see each variant.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-publish-error-{}", std::process::id()));
/// # let options = slipstream_producer::ProducerOptions { layout: slipstream_producer::Layout::new(1 << 16).max_payload(256), ..Default::default() };
/// # let mut p = slipstream_producer::Producer::open(&path, options)?;
/// use slipstream_producer::PublishError;
/// p.begin_block(1)?;
/// let too_big = vec![0; 300];
/// assert_eq!(p.block_at(1, &too_big), Err(PublishError::TooLarge { len: 316, max: 256, block: Some(1) }));
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// The event is larger than the ring's maximum payload. If a block is
    /// open, the event still counts in it: its commit marker announces one
    /// event more than the ring holds, so every consumer sees the block as
    /// incomplete ([`next_block`] reports it as `Incomplete`), never as whole.
    ///
    /// [`next_block`]: https://docs.rs/slipstream-consumer/latest/slipstream_consumer/struct.Consumer.html#method.next_block
    #[error("event of {len} bytes is larger than this ring's maximum payload of {max} bytes{}",
        match block { Some(h) => format!(" (block {h} is marked incomplete)"), None => String::new() })]
    TooLarge {
        /// Payload bytes asked for.
        len: usize,
        /// The ring's maximum payload.
        max: u32,
        /// The open block, now marked incomplete.
        block: Option<u64>,
    },
    /// The kind is 0 or 0xFFFF, which are reserved.
    #[error("record kind {0:#06x} is reserved (0 and 0xffff are not event kinds)")]
    ReservedKind(u16),
    /// An event without a height ([`Producer::mapping_update`](crate::Producer::mapping_update),
    /// [`Producer::staking_reward`](crate::Producer::staking_reward)) while no block is open: it would belong
    /// to no block. Begin one ([`Producer::begin_block`](crate::Producer::begin_block)), or give the height
    /// ([`Producer::publish`](crate::Producer::publish) and the `*_at` methods open its block).
    #[error("a {kind} event without a height was published while no block is open (begin a block, or give its height)")]
    NoOpenBlock {
        /// The event's kind.
        kind: EventKind,
    },
    /// A block at or below the height of the last block begun: heights only
    /// increase (consumers apply blocks in height order, and resume by height).
    #[error("block height {height} does not increase: the last block begun was at height {last}")]
    HeightNotIncreasing {
        /// The height asked for.
        height: u64,
        /// The height of the last block begun.
        last: u64,
    },
    /// A commit marker ([`EventRef::BlockCommit`](crate::EventRef::BlockCommit) given to
    /// [`Producer::publish`](crate::Producer::publish)) of a block that is not the open one; nothing
    /// was published.
    #[error("a commit marker of block {height} was published while {}", match open { Some(h) => format!("block {h} is open"), None => "no block is open".to_string() })]
    CommitNotOpen {
        /// The commit marker's height.
        height: u64,
        /// The open block's height, if one is open.
        open: Option<u64>,
    },
    /// Another refusal by the ring.
    #[error(transparent)]
    Ring(slipstream_ring::PublishError),
}

impl From<slipstream_ring::PublishError> for PublishError {
    fn from(e: slipstream_ring::PublishError) -> Self {
        match e {
            slipstream_ring::PublishError::TooLarge { len, max } => PublishError::TooLarge {
                len,
                max,
                block: None,
            },
            slipstream_ring::PublishError::ReservedKind(k) => PublishError::ReservedKind(k),
            other => PublishError::Ring(other),
        }
    }
}
