//! # slipstream-journal
//!
//! A crash-safe journal of a Slipstream ring on disk, so that a consumer can
//! catch up from further back than the ring holds: across long lags, restarts
//! and reboots. A recorder (`slipstream-journal record`) is one more consumer
//! of the ring; it appends every record **exactly as the ring holds it** (the
//! 16-byte record header and the payload), each with a CRC-32C, to segment
//! files named by their first sequence number, with a sparse index per segment
//! so that a seek by sequence number or by block height reads O(log n) index
//! entries, not the journal. The bytes are specified in `FORMAT.md` beside this
//! crate's manifest, and defined once in [`format`](mod@format).
//!
//! - **Gaps are exact.** A recorder that was lapped writes a gap entry naming
//!   the exact range it missed ([`JournalWriter::append_gap`]); a reader yields
//!   it as a [`Gap`]. The journal never pretends to hold what it does not.
//! - **Crash-safe.** A writer reopening the journal cuts a torn tail off by
//!   checksum ([`Recovery`]); [`Fsync`] documents what each policy can lose.
//! - **Retention** deletes whole old segments by size and age ([`Retention`]).
//! - **Readers tail it** while it is written and while old segments are
//!   deleted under them ([`JournalReader`]).
//! - **Never a panic** on bad bytes: errors name the file and the offset.
//!
//! ```
//! use slipstream_journal::{verify, JournalItem, JournalReader, JournalStart, JournalWriter, WriterOptions};
//! let dir = std::env::temp_dir().join(format!("doc-lib-journal-{}", std::process::id()));
//! let (mut w, _) = JournalWriter::open(&dir, WriterOptions::default())?;
//! w.append(1, 5, &[7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])?; // block_begin at height 7
//! w.flush()?;
//! let mut r = JournalReader::open(&dir, JournalStart::Height(7))?;
//! assert!(matches!(r.try_next()?, Some(JournalItem::Record(rec)) if rec.seq == 1 && rec.kind == 5));
//! drop(w);
//! assert_eq!(verify(&dir)?.entries, 1);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod cursor;
pub mod dir;
mod error;
pub mod format;
mod reader;
pub mod segment;
mod writer;

pub use check::{summary, verify, SegmentSummary, Summary, VerifyReport};
pub use cursor::{load_cursor, store_cursor};
pub use error::JournalError;
pub use reader::{Gap, GapCause, JournalItem, JournalReader, JournalStart};
pub use slipstream_ring::Record;
pub use writer::{
    parse_duration, parse_size, Fsync, JournalWriter, ParseError, Recovery, Retention,
    WriterOptions, WRITE_CHUNK,
};
