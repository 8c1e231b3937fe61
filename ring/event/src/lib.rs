//! The payloads of Slipstream's event records, defined once.
//!
//! The node's finalize hook (snarkVM's Slipstream plugin interface) hands the
//! producer four kinds of event; the producer adds a begin and a commit marker
//! around each block's events so that a consumer can apply a block atomically.
//! Each event is one ring record: its [`EventKind`] is the record's `kind`, and
//! its payload is the encoding below. `FORMAT.md` specifies the same bytes for
//! readers in other languages; the `golden_*` tests pin this code to the worked
//! examples there, so the two cannot drift apart silently.
//!
//! # Encoding
//!
//! Every integer is little-endian. Every payload starts with the same 12 bytes:
//!
//! | offset | size | field | meaning |
//! |---|---|---|---|
//! | 0 | 8 | `block_height` | u64, the height of the block the event belongs to |
//! | 8 | 4 | `ordinal` | u32, the event's position in its block |
//!
//! Kind-specific fields follow at offset 12 ([`PREFIX_LEN`]): fixed-size fields
//! first, then byte strings, each a u32 length followed by that many bytes. An
//! optional byte string (the key of a [`EventRef::MappingRemoval`]) is a u8 tag,
//! 0 for none or 1 for some, and in the latter case the byte string. Nothing
//! follows the last field: a decoder rejects trailing bytes, so every event has
//! exactly one encoding.
//!
//! Ordinals: a block's [`EventRef::BlockBegin`] has ordinal 0, its `n` events
//! have ordinals `1..=n` in the order the node finalized them, and its
//! [`EventRef::BlockCommit`] has ordinal `n + 1`; both markers carry `n` as
//! `event_count`. (The commit's ordinal saturates at `u32::MAX`, so that every
//! value of [`EventRef`] has an encoding; no block comes near 2³² events.)
//!
//! Byte strings (`program_id`, `mapping_name`, `key`, `value`, `staker`,
//! `validator`, `block`) are opaque: exactly the bytes the node gave, which are
//! its own little-endian encodings. Program and mapping names are usually ASCII
//! (`credits.aleo`, `account`); [`as_str`] reads them as text.
//!
//! # Example
//!
//! The producer encodes in place into a reserved record; a consumer decodes
//! without copying or allocating:
//!
//! ```
//! use slipstream_event::{EventKind, EventRef};
//! use slipstream_ring::{Item, Layout, Start, Writer};
//!
//! let mut writer = Writer::anonymous(Layout::new(1 << 16))?;
//! let mut reader = writer.reader(Start::Oldest)?;
//!
//! let event = EventRef::MappingUpdate {
//!     block_height: 7,
//!     ordinal: 1,
//!     program_id: b"credits.aleo",
//!     mapping_name: b"account",
//!     key: &[1, 2, 3],
//!     value: &[4, 5],
//! };
//! let mut r = writer.reserve(event.kind().as_u16(), event.encoded_len())?;
//! event.encode(r.payload_mut());
//! r.commit();
//!
//! let Some(Item::Record(rec)) = reader.try_next()? else { panic!("no record") };
//! let decoded = EventRef::decode(rec.kind, rec.payload)?;
//! assert_eq!(decoded, event);
//! assert_eq!(decoded.kind(), EventKind::MappingUpdate);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decode;
mod encode;
mod error;
mod event_ref;
mod kind;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod golden;

pub use error::DecodeError;
pub use event_ref::EventRef;
pub use kind::{EventKind, KindSet, ParseKindError};

/// Bytes of the prefix every event payload starts with: `block_height` (u64)
/// and `ordinal` (u32).
pub const PREFIX_LEN: usize = 12;

/// Bytes of a [`EventRef::BlockBegin`] or [`EventRef::BlockCommit`] payload:
/// the prefix and `event_count` (u32).
pub const MARKER_LEN: usize = PREFIX_LEN + 4;

/// The `event_count` of a [`EventRef::BlockBegin`] published before the
/// producer knew how many events the block has.
pub const UNKNOWN_COUNT: u32 = u32::MAX;

/// Reads an opaque byte string, such as a program or mapping name, as UTF-8 text.
///
/// ```
/// use slipstream_event::as_str;
/// assert_eq!(as_str(b"credits.aleo"), Some("credits.aleo"));
/// assert_eq!(as_str(&[0xff, 0x00]), None);
/// ```
#[inline]
pub fn as_str(bytes: &[u8]) -> Option<&str> {
    core::str::from_utf8(bytes).ok()
}
