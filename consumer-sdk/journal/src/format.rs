//! The bytes of a journal's segment and index files, defined once.
//!
//! `FORMAT.md` (beside this crate's `Cargo.toml`) describes them in prose; the
//! `format_offsets_are_stable` test pins every offset to the number it states.
//! Every multi-byte field is little-endian.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The eight bytes a segment file starts with.
pub const SEGMENT_MAGIC: [u8; 8] = *b"SLIPJSEG";
/// The eight bytes an index file starts with.
pub const INDEX_MAGIC: [u8; 8] = *b"SLIPJIDX";
/// The format version of both files.
pub const VERSION: u32 = 1;
/// Bytes of a segment file's header (entries start here).
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Bytes of an index file's header.
pub const INDEX_HEADER_LEN: usize = 64;
/// Bytes of one index entry.
pub const INDEX_ENTRY_LEN: usize = 32;
/// Bytes of a record header (as in the ring): `len`, `kind`, `flags`, `seq`.
pub const RECORD_HEADER_LEN: usize = 16;
/// Bytes of the trailer after each entry's padded record.
pub const TRAILER_LEN: usize = 8;
/// The kind of a gap entry (the ring's padding kind, which no journal record carries).
pub const KIND_GAP: u16 = 0xFFFF;
/// The kind no entry carries (as in the ring).
pub const KIND_INVALID: u16 = 0;
/// Largest payload of an entry (the ring's largest `max_payload`, 1 GiB).
pub const MAX_PAYLOAD: u32 = 1 << 30;
/// Payload bytes of a gap entry: `last_missed`.
pub const GAP_PAYLOAD_LEN: u32 = 8;
/// An index entry is written for the first entry at least this many bytes past
/// the previous index entry's (besides the first entry, block begins and gaps).
pub const INDEX_STRIDE: u64 = 64 * 1024;
/// The kind of a block begin marker (`slipstream_event::EventKind::BlockBegin`).
pub const KIND_BLOCK_BEGIN: u16 = 5;

/// A segment file's header, at offset 0.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct SegmentHeader {
    /// [`SEGMENT_MAGIC`].
    pub magic: [u8; 8],
    /// [`VERSION`].
    pub version: U32,
    /// [`SEGMENT_HEADER_LEN`].
    pub header_len: U32,
    /// Sequence number of the segment's first entry; also the file's name.
    pub base_seq: U64,
    /// `ring_id` of the ring recorded when the segment was created (0: unknown).
    pub ring_id: U64,
    /// When the segment was created, ns since the Unix epoch.
    pub created_unix_ns: U64,
    /// Zero.
    pub reserved: [u8; 20],
    /// CRC-32C of bytes 0 to 59.
    pub crc: U32,
}

/// An index file's header, at offset 0.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct IndexHeader {
    /// [`INDEX_MAGIC`].
    pub magic: [u8; 8],
    /// [`VERSION`].
    pub version: U32,
    /// [`INDEX_ENTRY_LEN`].
    pub entry_len: U32,
    /// The `base_seq` of the segment it indexes.
    pub base_seq: U64,
    /// Zero.
    pub reserved: [u8; 36],
    /// CRC-32C of bytes 0 to 59.
    pub crc: U32,
}

/// One index entry: where an entry of the segment starts.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct IndexEntry {
    /// The entry's `seq`.
    pub seq: U64,
    /// Its offset in the segment file.
    pub offset: U64,
    /// The block height of its record (see FORMAT.md: for gaps and records
    /// with no height, the previous index entry's height, 0 for the first).
    pub height: U64,
    /// The entry's kind.
    pub kind: U16,
    /// Zero.
    pub flags: U16,
    /// CRC-32C of bytes 0 to 27.
    pub crc: U32,
}

/// The eight bytes a cursor file starts with.
pub const CURSOR_MAGIC: [u8; 8] = *b"SLIPJCUR";

/// A named consumer's durable cursor, `cursors/NAME.cursor`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CursorFile {
    /// [`CURSOR_MAGIC`].
    pub magic: [u8; 8],
    /// Sequence number of the next event the consumer will read.
    pub next_seq: U64,
    /// When it was stored, ns since the Unix epoch.
    pub saved_unix_ns: U64,
    /// Zero.
    pub reserved: U32,
    /// CRC-32C of bytes 0 to 27.
    pub crc: U32,
}

impl CursorFile {
    /// A cursor, with its checksum.
    pub fn new(next_seq: u64, saved_unix_ns: u64) -> Self {
        let mut c = CursorFile::new_zeroed();
        c.magic = CURSOR_MAGIC;
        c.next_seq = next_seq.into();
        c.saved_unix_ns = saved_unix_ns.into();
        c.crc = crc(&[&c.as_bytes()[..28]]).into();
        c
    }

    /// Whether the magic and checksum are right.
    pub fn valid(&self) -> bool {
        self.magic == CURSOR_MAGIC && self.crc.get() == crc(&[&self.as_bytes()[..28]])
    }
}

/// The record header of an entry: the ring's 16 bytes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct RecordHeader {
    /// Payload bytes.
    pub len: U32,
    /// Record kind (1 to 0xFFFE), or [`KIND_GAP`].
    pub kind: U16,
    /// Zero.
    pub flags: U16,
    /// Sequence number (a gap: the first missed).
    pub seq: U64,
}

/// The 8 bytes after an entry's padded record.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Trailer {
    /// CRC-32C of the 16-byte record header followed by the payload (not the padding).
    pub crc: U32,
    /// `len` with every bit inverted.
    pub len_inv: U32,
}

/// Bytes an entry of `len` payload bytes occupies: `align_up(16 + len, 8) + 8`.
///
/// ```
/// assert_eq!(slipstream_journal::format::entry_len(0), 24);
/// assert_eq!(slipstream_journal::format::entry_len(5), 32);
/// ```
pub const fn entry_len(len: u32) -> u64 {
    ((RECORD_HEADER_LEN as u64 + len as u64 + 7) & !7) + TRAILER_LEN as u64
}

/// CRC-32C (Castagnoli) of `parts`, in order.
pub fn crc(parts: &[&[u8]]) -> u32 {
    parts.iter().fold(0, |c, p| crc32c::crc32c_append(c, p))
}

/// The name of the segment file whose first entry has sequence number `base`.
///
/// ```
/// assert_eq!(slipstream_journal::format::segment_name(42), "00000000000000000042.seg");
/// ```
pub fn segment_name(base: u64) -> String {
    format!("{base:020}.seg")
}

/// The name of the index file of segment `base`.
pub fn index_name(base: u64) -> String {
    format!("{base:020}.idx")
}

/// The base sequence number a segment or index file name stands for, and
/// whether it is a segment (`.seg`) rather than an index (`.idx`).
pub fn parse_name(name: &str) -> Option<(u64, bool)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base = stem.parse().ok()?;
    match ext {
        "seg" => Some((base, true)),
        "idx" => Some((base, false)),
        _ => None,
    }
}

impl SegmentHeader {
    /// A header for a new segment.
    pub fn new(base_seq: u64, ring_id: u64, created_unix_ns: u64) -> Self {
        let mut h = SegmentHeader::new_zeroed();
        h.magic = SEGMENT_MAGIC;
        h.version = VERSION.into();
        h.header_len = (SEGMENT_HEADER_LEN as u32).into();
        h.base_seq = base_seq.into();
        h.ring_id = ring_id.into();
        h.created_unix_ns = created_unix_ns.into();
        h.crc = crc(&[&h.as_bytes()[..60]]).into();
        h
    }

    /// Whether the checksum matches.
    pub fn crc_ok(&self) -> bool {
        self.crc.get() == crc(&[&self.as_bytes()[..60]])
    }
}

impl IndexHeader {
    /// A header for the index of segment `base_seq`.
    pub fn new(base_seq: u64) -> Self {
        let mut h = IndexHeader::new_zeroed();
        h.magic = INDEX_MAGIC;
        h.version = VERSION.into();
        h.entry_len = (INDEX_ENTRY_LEN as u32).into();
        h.base_seq = base_seq.into();
        h.crc = crc(&[&h.as_bytes()[..60]]).into();
        h
    }

    /// Whether the checksum matches.
    pub fn crc_ok(&self) -> bool {
        self.crc.get() == crc(&[&self.as_bytes()[..60]])
    }
}

impl IndexEntry {
    /// An entry, with its checksum.
    pub fn new(seq: u64, offset: u64, height: u64, kind: u16) -> Self {
        let mut e = IndexEntry::new_zeroed();
        e.seq = seq.into();
        e.offset = offset.into();
        e.height = height.into();
        e.kind = kind.into();
        e.crc = crc(&[&e.as_bytes()[..28]]).into();
        e
    }

    /// Whether the checksum matches.
    pub fn crc_ok(&self) -> bool {
        self.crc.get() == crc(&[&self.as_bytes()[..28]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    /// The offsets FORMAT.md states. Changing one is a format change: bump VERSION.
    #[test]
    fn format_offsets_are_stable() {
        assert_eq!(size_of::<SegmentHeader>(), SEGMENT_HEADER_LEN);
        assert_eq!(offset_of!(SegmentHeader, version), 8);
        assert_eq!(offset_of!(SegmentHeader, header_len), 12);
        assert_eq!(offset_of!(SegmentHeader, base_seq), 16);
        assert_eq!(offset_of!(SegmentHeader, ring_id), 24);
        assert_eq!(offset_of!(SegmentHeader, created_unix_ns), 32);
        assert_eq!(offset_of!(SegmentHeader, reserved), 40);
        assert_eq!(offset_of!(SegmentHeader, crc), 60);
        assert_eq!(size_of::<IndexHeader>(), INDEX_HEADER_LEN);
        assert_eq!(offset_of!(IndexHeader, entry_len), 12);
        assert_eq!(offset_of!(IndexHeader, base_seq), 16);
        assert_eq!(offset_of!(IndexHeader, crc), 60);
        assert_eq!(size_of::<IndexEntry>(), INDEX_ENTRY_LEN);
        assert_eq!(offset_of!(IndexEntry, offset), 8);
        assert_eq!(offset_of!(IndexEntry, height), 16);
        assert_eq!(offset_of!(IndexEntry, kind), 24);
        assert_eq!(offset_of!(IndexEntry, flags), 26);
        assert_eq!(offset_of!(IndexEntry, crc), 28);
        assert_eq!(size_of::<RecordHeader>(), RECORD_HEADER_LEN);
        assert_eq!(offset_of!(RecordHeader, kind), 4);
        assert_eq!(offset_of!(RecordHeader, flags), 6);
        assert_eq!(offset_of!(RecordHeader, seq), 8);
        assert_eq!(size_of::<Trailer>(), TRAILER_LEN);
        assert_eq!(size_of::<CursorFile>(), 32);
        assert_eq!(offset_of!(CursorFile, next_seq), 8);
        assert_eq!(offset_of!(CursorFile, saved_unix_ns), 16);
        assert_eq!(offset_of!(CursorFile, crc), 28);
        assert_eq!(offset_of!(Trailer, len_inv), 4);
    }

    /// The CRC-32C check value FORMAT.md gives (of the ASCII `123456789`).
    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc(&[b"123456789"]), 0xE306_9283);
        assert_eq!(crc(&[b"1234", b"56789"]), 0xE306_9283);
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_name(&segment_name(7)), Some((7, true)));
        assert_eq!(parse_name(&index_name(u64::MAX)), Some((u64::MAX, false)));
        assert_eq!(parse_name("7.seg"), None);
        assert_eq!(parse_name("0000000000000000000x.seg"), None);
        assert_eq!(parse_name("00000000000000000007.tmp"), None);
    }
}
