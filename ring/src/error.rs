//! Typed errors. Each names what was wrong and, where it helps, the values involved.

use thiserror::Error;

// The layout's own error lives with the layout (layout.rs), which needs no
// other module; it is re-exported here beside the others.
pub use crate::layout::LayoutError;

/// An error opening, creating or attaching to a ring.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A system call failed.
    #[error("{op} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The header is not a valid ring header.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The file is shorter than its header says (or than a header).
    #[error("ring file is truncated: {actual} bytes, but the layout needs {expected}")]
    Truncated {
        /// Bytes the layout needs.
        expected: u64,
        /// Bytes the file has.
        actual: u64,
    },
    /// The file is empty or still being created by a producer.
    #[error("ring file is not initialised yet (empty, or a producer is still creating it)")]
    NotInitialized,
    /// An existing ring has another layout than the one asked for.
    #[error("existing ring has layout {found:?}, but {requested:?} was asked for (ask to recreate it to replace it)")]
    LayoutMismatch {
        /// Layout in the file.
        found: crate::Layout,
        /// Layout the caller asked for.
        requested: crate::Layout,
    },
    /// Another producer holds the ring.
    #[error(
        "another producer (pid {pid}) already holds this ring; only one producer may write a ring"
    )]
    ProducerExists {
        /// Process id recorded by the producer holding the lock (0 if unknown).
        pid: u32,
    },
    /// The committed state left by the previous producer is inconsistent.
    #[error("ring counters are corrupt: {0}")]
    Corrupt(String),
}

/// An error from [`Writer::reserve`](crate::Writer::reserve).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// The payload is larger than the ring's maximum.
    #[error("event of {len} bytes is larger than this ring's maximum payload of {max} bytes")]
    TooLarge {
        /// Payload bytes asked for.
        len: usize,
        /// The ring's maximum payload.
        max: u32,
    },
    /// The kind is 0 or 0xFFFF, which are reserved.
    #[error("record kind {0:#06x} is reserved (0 and 0xffff are not event kinds)")]
    ReservedKind(u16),
}

/// Something read from shared memory that cannot be valid.
///
/// A reader only reports this after checking that the producer had not
/// overwritten the bytes while they were copied: what it describes is really in
/// the file.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptError {
    /// A header counter has an impossible value.
    #[error("header counter {what}: {detail}")]
    Counter {
        /// Which counter.
        what: &'static str,
        /// What was impossible about it.
        detail: String,
    },
    /// A record header has an impossible length or kind.
    #[error("record at position {pos}: {detail}")]
    Record {
        /// The record's position.
        pos: u64,
        /// What was impossible about it.
        detail: String,
    },
    /// A record's sequence number is not the one after its predecessor's.
    #[error("record at position {pos} has sequence {found}, expected {expected}")]
    Sequence {
        /// The record's position.
        pos: u64,
        /// The sequence number that should follow.
        expected: u64,
        /// The sequence number found.
        found: u64,
    },
    /// The producer's position went backwards (the ring was reset under the reader).
    #[error("producer tail went backwards from {was} to {now}: the ring was reset or corrupted")]
    TailRegressed {
        /// The reader's position.
        was: u64,
        /// The tail now.
        now: u64,
    },
}

/// A start position that the ring cannot serve.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeekError {
    /// The sequence number was overwritten.
    #[error("sequence {requested} is no longer in the ring (oldest retained is {oldest})")]
    NotRetained {
        /// The sequence asked for.
        requested: u64,
        /// The oldest sequence still retained.
        oldest: u64,
    },
    /// The sequence number has not been written yet.
    #[error("sequence {requested} has not been written yet (next is {next})")]
    InFuture {
        /// The sequence asked for.
        requested: u64,
        /// The sequence the next record will carry.
        next: u64,
    },
    /// The producer kept overwriting the position faster than it could be read.
    #[error("the producer lapped the reader {attempts} times in a row while it looked for a start position")]
    Contended {
        /// How many positions were tried.
        attempts: u32,
    },
    /// What was read is corrupt.
    #[error(transparent)]
    Corrupt(#[from] CorruptError),
}

/// An error from reading.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// What was read is corrupt.
    #[error(transparent)]
    Corrupt(#[from] CorruptError),
    /// A lapped reader could not find a position to go on from.
    #[error(transparent)]
    Seek(#[from] SeekError),
}

impl From<std::io::Error> for OpenError {
    fn from(source: std::io::Error) -> Self {
        OpenError::Io { op: "i/o", source }
    }
}

/// Wraps an `io::Error` with what was being done.
pub(crate) fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> OpenError {
    move |source| OpenError::Io { op, source }
}
