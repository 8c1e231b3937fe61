//! What goes wrong in a consumer: [`ConsumerError`].

use crate::{Available, Start};
use slipstream_event::DecodeError;
use slipstream_journal::JournalError;
use slipstream_ring::{AttachError, ReadError, SeekError, SlotError};
use std::path::PathBuf;

/// An error from a consumer.
///
/// ```
/// use slipstream_consumer::{Consumer, ConsumerError};
/// let path = std::env::temp_dir().join(format!("doc-consumer-error-{}", std::process::id()));
/// let err = Consumer::builder(&path).open().unwrap_err(); // no ring there
/// assert!(matches!(err, ConsumerError::Open { .. }), "{err}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The ring file could not be opened.
    #[error("ring {path}: {source}")]
    Open {
        /// The ring's path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable ring, or the start position is not in it.
    #[error("ring {path}: {source}")]
    Attach {
        /// The ring's path.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: AttachError,
    },
    /// A named cursor could not be claimed.
    #[error("ring {path}: {source}")]
    Slot {
        /// The ring's path.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: SlotError,
    },
    /// Looking for a position failed (the producer kept overwriting it, or
    /// what was read is corrupt).
    #[error(transparent)]
    Seek(#[from] SeekError),
    /// The start position asked for is no longer in the ring (a sequence
    /// number overwritten, or a block whose begin marker is); says what is.
    /// Positions not written yet are waited for, not refused.
    #[error("start position {requested} is no longer in the ring: {available}")]
    StartUnavailable {
        /// What was asked for.
        requested: Start,
        /// What the ring holds.
        available: Available,
    },
    /// The ring holds data that cannot be valid (see the message); reading again reports it again.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The journal (see [`ConsumerBuilder::journal`](crate::ConsumerBuilder::journal)) could not serve the
    /// start position (it names the oldest sequence number and block height
    /// it holds), or holds bytes that are not valid (it names the file and offset).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// An event's payload does not decode; the consumer has moved past it.
    #[error("event #{seq} (kind {kind}) does not decode: {source}")]
    Decode {
        /// Its sequence number.
        seq: u64,
        /// Its record kind.
        kind: u16,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
}
