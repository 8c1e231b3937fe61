//! Errors of the journal.

use std::path::PathBuf;

/// An error reading or writing a journal. Every variant about bytes names the
/// file and the offset in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A system call failed.
    #[error("{path}: {op} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A segment or index file holds bytes that cannot be valid.
    #[error("{path} at offset {offset}: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset in it of what is wrong.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// A segment or index file ends in the middle of a header or entry (and it
    /// is not the newest segment, whose torn tail a writer truncates).
    #[error("{path} is truncated: it ends at {len} bytes, inside the {what} at offset {offset}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Offset of the header or entry cut short.
        offset: u64,
        /// The file's length.
        len: u64,
        /// `"header"` or `"entry"`.
        what: &'static str,
    },
    /// Two segments do not follow each other.
    #[error("{path}: segment begins at sequence {base}, but the previous segment ends before {expected}: sequences {expected}..{base} are in no segment")]
    Discontinuous {
        /// The later segment.
        path: PathBuf,
        /// Its first sequence number.
        base: u64,
        /// The sequence number the previous one ended before.
        expected: u64,
    },
    /// Another writer holds the journal.
    #[error("journal {0} is held by another writer (its LOCK file is locked)")]
    Locked(PathBuf),
    /// An append out of sequence.
    #[error("journal {dir}: append of sequence {found}, but the journal's next is {expected}")]
    OutOfSequence {
        /// The journal.
        dir: PathBuf,
        /// The sequence number expected.
        expected: u64,
        /// The one given.
        found: u64,
    },
    /// A record too large for an entry, or of a kind no entry may carry.
    #[error("journal {dir}: cannot append record #{seq}: {detail}")]
    BadRecord {
        /// The journal.
        dir: PathBuf,
        /// The record's sequence number.
        seq: u64,
        /// What is wrong.
        detail: String,
    },
    /// The journal holds nothing yet.
    #[error("journal {0} holds no events yet")]
    Empty(PathBuf),
    /// The position asked for is older than anything the journal holds.
    #[error("journal {dir}: {requested} is older than the journal, whose oldest event is #{oldest_seq}{}", height_note(*.oldest_height))]
    NotRetained {
        /// The journal.
        dir: PathBuf,
        /// What was asked for (`sequence N` or `block height H`).
        requested: String,
        /// The oldest sequence number the journal holds.
        oldest_seq: u64,
        /// The oldest block height (begin marker) it holds, if any.
        oldest_height: Option<u64>,
    },
    /// The sequence number asked for is beyond the journal's end.
    #[error(
        "journal {dir}: sequence {requested} is not recorded yet (the journal's next is {next})"
    )]
    InFuture {
        /// The journal.
        dir: PathBuf,
        /// What was asked for.
        requested: u64,
        /// The next sequence number the journal will hold.
        next: u64,
    },
}

fn height_note(h: Option<u64>) -> String {
    match h {
        Some(h) => format!(" at block height {h}"),
        None => " (it holds no block begin marker)".into(),
    }
}

/// Wraps an I/O error with the operation and the path.
pub(crate) fn io(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> JournalError {
    let path = path.into();
    move |source| JournalError::Io { op, path, source }
}
