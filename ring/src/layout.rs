//! The bytes of a ring file, defined once.
//!
//! Every multi-byte field is little-endian at a fixed offset. The structs below
//! are the only definition of those offsets: `FORMAT.md` describes them in prose,
//! and the `format_offsets_are_stable` test pins each offset to the number that
//! `FORMAT.md` states, so the two cannot drift apart silently.
//!
//! A ring file (format version 2) is two page-aligned regions, both written by
//! the producer only; consumers open the file `O_RDONLY` and map it `PROT_READ`:
//!
//! | region | written by | consumers map it |
//! |---|---|---|
//! | header (`header_len` bytes) | the producer | read-only |
//! | data (`capacity` bytes, a power of two) | the producer | read-only |
//!
//! What consumers write (their cursors, that they sleep) lives in sidecar files
//! beside the ring ([`crate::sidecar`]), which the producer's publishing thread
//! never maps.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use thiserror::Error;

/// The eight bytes every ring file starts with.
pub const MAGIC: [u8; 8] = *b"SLIPSTRM";
/// Whether a file that starts with `start` (its first bytes, up to 8) may be
/// a ring: they are a prefix of [`MAGIC`], or all zero (a producer creating
/// the ring writes the magic last, FORMAT.md section 2). The one test of the
/// magic short of a full header check ([`validate_header`]), for telling "not
/// a ring" from "a ring not ready yet" before a header can be read.
///
/// ```
/// use slipstream_ring::layout::may_be_ring;
/// assert!(may_be_ring(b"SLIPSTRM") && may_be_ring(b"SLIP") && may_be_ring(&[0; 8]) && may_be_ring(b""));
/// assert!(!may_be_ring(b"\x89PNG\r\n\x1a\n") && !may_be_ring(b"SLIPCUR2"));
/// ```
pub fn may_be_ring(start: &[u8]) -> bool {
    let start = &start[..start.len().min(MAGIC.len())];
    start.iter().all(|&b| b == 0) || MAGIC.starts_with(start)
}

/// The format version this crate reads and writes.
pub const VERSION: u32 = 2;
/// Bytes in a record header: `len`, `kind`, `flags`, `seq`.
pub const RECORD_HEADER_LEN: usize = 16;
/// Every record starts at a multiple of this, and its length is rounded up to it.
pub const RECORD_ALIGN: usize = 8;
/// The record kind of a padding record, which fills the end of the data region.
pub const KIND_PADDING: u16 = 0xFFFF;
/// Record kind 0 is never written; reading it means the bytes are not a record.
pub const KIND_INVALID: u16 = 0;
/// The record kind of a `block_commit` marker (counted in `blocks`).
pub const KIND_BLOCK_COMMIT: u16 = 6;
/// The default sequence number of the first record a new ring holds.
pub const FIRST_SEQ: u64 = 1;
/// The value of `latest` before any record was committed.
pub const NO_RECORD: u64 = u64::MAX;
/// The largest `max_payload` a layout may declare (1 GiB).
pub const MAX_PAYLOAD_LIMIT: u32 = 1 << 30;
/// A record (header and alignment included) takes at most `capacity / MAX_RECORD_SHARE`.
pub const MAX_RECORD_SHARE: u64 = 4;

/// `producer_state`: no producer has opened this ring yet.
pub const PRODUCER_NONE: u32 = 0;
/// `producer_state`: a producer opened the ring and has not closed it (it may have died).
pub const PRODUCER_LIVE: u32 = 1;
/// `producer_state`: the last producer closed the ring cleanly.
pub const PRODUCER_CLOSED: u32 = 2;

/// One commit slot: the `next_seq` that goes with a committed tail.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct RawCommit {
    /// The committed tail this entry belongs to.
    pub end: U64,
    /// The sequence number of the record after it.
    pub next_seq: U64,
}

/// The fixed part of the header, at offset 0 of the file.
///
/// Line 0 is fixed at creation, line 1 is written when a producer opens the
/// ring; the hot counters each have their own 128-byte line (two 64-byte cache
/// lines, so the adjacent-line prefetcher does not couple them): `tail_intent`
/// alone, the commit line (`tail`, `latest`, the two commit slots), the futex
/// word, and the producer's statistics. The segment table follows at
/// [`SEGMENT_TABLE_OFFSET`].
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct RawHeader {
    /// [`MAGIC`]; written last when a ring is created.
    pub magic: [u8; 8],
    /// [`VERSION`].
    pub version: U32,
    /// Reserved, zero.
    pub flags: U32,
    /// The page size the layout was computed for; every region offset is a multiple of it.
    pub page_size: U32,
    /// Bytes of the header region (this struct plus the segment table, rounded up to a page).
    pub header_len: U32,
    /// Bytes of the data region, a power of two.
    pub capacity: U64,
    /// Largest payload a record may carry.
    pub max_payload: U32,
    /// Entries in the segment table, a power of two.
    pub segment_count: U32,
    /// Offset of the data region (= `header_len`).
    pub data_offset: U64,
    /// Total bytes of the file.
    pub file_len: U64,
    /// A random identifier chosen when the ring was created.
    pub ring_id: U64,
    /// When the ring was created, nanoseconds since the Unix epoch.
    pub created_unix_ns: U64,
    /// Sequence number of the first record ever written (at least 1).
    pub first_seq: U64,
    /// Reserved, zero.
    pub _reserved0: [u8; 48],

    /// Incremented by each producer that opens the ring (= producer starts).
    pub epoch: U64,
    /// Process id of the producer that last opened the ring.
    pub producer_pid: U32,
    /// [`PRODUCER_NONE`], [`PRODUCER_LIVE`] or [`PRODUCER_CLOSED`].
    pub producer_state: U32,
    /// When the current producer opened the ring, nanoseconds since the Unix epoch.
    pub producer_start_unix_ns: U64,
    /// The producer's start time in clock ticks since boot (field 22 of `/proc/PID/stat`), 0 if unknown.
    pub producer_start_ticks: U64,
    /// Reserved, zero.
    pub _reserved1: [u8; 96],

    /// Position the producer may be writing up to (exclusive). Never decreases.
    pub tail_intent: U64,
    /// Reserved, zero.
    pub _reserved2: [u8; 120],

    /// Position up to which records are committed (exclusive).
    pub tail: U64,
    /// Position of the newest committed record, or of the one before it; [`NO_RECORD`] before the first.
    pub latest: U64,
    /// Commit slots: entry `n mod 2` holds (`end`, `next_seq = n`) for the commit that made `next_seq` n.
    pub commits: [RawCommit; 2],
    /// Reserved, zero.
    pub _reserved3: [u8; 80],

    /// The futex word: incremented by the producer before it wakes sleeping readers.
    pub notify: U32,
    /// Reserved, zero.
    pub _reserved4: [u8; 124],

    /// `block_commit` records committed.
    pub blocks: U64,
    /// Events refused because they were larger than `max_payload`.
    pub refused_too_large: U64,
    /// Events not published because their kind is switched off.
    pub refused_switched_off: U64,
    /// Bytes of padding records written.
    pub padding_bytes: U64,
    /// `FUTEX_WAKE` calls made by the producer's process.
    pub wake_calls: U64,
    /// Reserved, zero.
    pub _reserved5: [u8; 88],
}

/// One entry of the segment table: the first record that started in a segment.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct RawSegment {
    /// Position of the record.
    pub pos: U64,
    /// Its sequence number.
    pub seq: U64,
}

/// The header of every record in the data region.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct RawRecordHeader {
    /// Payload bytes (not counting this header or the alignment padding).
    pub len: U32,
    /// The record kind; [`KIND_PADDING`] for padding, never [`KIND_INVALID`].
    pub kind: U16,
    /// Reserved, zero.
    pub flags: U16,
    /// The sequence number (absent, meaning anything, in a padding record).
    pub seq: U64,
}

/// Offset of the segment table in the header.
pub const SEGMENT_TABLE_OFFSET: usize = core::mem::size_of::<RawHeader>();
/// Offset of `tail_intent` in the header.
pub const OFF_TAIL_INTENT: usize = core::mem::offset_of!(RawHeader, tail_intent);
/// Offset of `tail` in the header.
pub const OFF_TAIL: usize = core::mem::offset_of!(RawHeader, tail);
/// Offset of `latest` in the header.
pub const OFF_LATEST: usize = core::mem::offset_of!(RawHeader, latest);
/// Offset of the two commit slots in the header.
pub const OFF_COMMITS: usize = core::mem::offset_of!(RawHeader, commits);
/// Offset of `notify` in the header.
pub const OFF_NOTIFY: usize = core::mem::offset_of!(RawHeader, notify);
/// Offset of `epoch` in the header.
pub const OFF_EPOCH: usize = core::mem::offset_of!(RawHeader, epoch);
/// Offset of `producer_pid` in the header.
pub const OFF_PRODUCER_PID: usize = core::mem::offset_of!(RawHeader, producer_pid);
/// Offset of `producer_state` in the header.
pub const OFF_PRODUCER_STATE: usize = core::mem::offset_of!(RawHeader, producer_state);
/// Offset of `producer_start_unix_ns` in the header.
pub const OFF_PRODUCER_START: usize = core::mem::offset_of!(RawHeader, producer_start_unix_ns);
/// Offset of `producer_start_ticks` in the header.
pub const OFF_PRODUCER_TICKS: usize = core::mem::offset_of!(RawHeader, producer_start_ticks);
/// Offset of `blocks` in the header.
pub const OFF_BLOCKS: usize = core::mem::offset_of!(RawHeader, blocks);
/// Offset of `refused_too_large` in the header.
pub const OFF_REFUSED_TOO_LARGE: usize = core::mem::offset_of!(RawHeader, refused_too_large);
/// Offset of `refused_switched_off` in the header.
pub const OFF_REFUSED_OFF: usize = core::mem::offset_of!(RawHeader, refused_switched_off);
/// Offset of `padding_bytes` in the header.
pub const OFF_PADDING_BYTES: usize = core::mem::offset_of!(RawHeader, padding_bytes);
/// Offset of `wake_calls` in the header.
pub const OFF_WAKE_CALLS: usize = core::mem::offset_of!(RawHeader, wake_calls);

/// Rounds `n` up to a multiple of `align` (a power of two).
#[inline]
pub const fn align_up(n: u64, align: u64) -> u64 {
    (n + align - 1) & !(align - 1)
}

/// Bytes a record with `payload` bytes occupies in the data region.
#[inline]
pub const fn record_len(payload: u64) -> u64 {
    align_up(RECORD_HEADER_LEN as u64 + payload, RECORD_ALIGN as u64)
}

/// The first word of a record header, as the reader loads it: `len | kind << 32 | flags << 48`.
#[inline]
pub const fn header_word(len: u32, kind: u16, flags: u16) -> u64 {
    len as u64 | (kind as u64) << 32 | (flags as u64) << 48
}

/// Splits a header word into `(len, kind, flags)`.
#[inline]
pub const fn split_header_word(word: u64) -> (u32, u16, u16) {
    (word as u32, (word >> 32) as u16, (word >> 48) as u16)
}

/// The shape of a ring: what is fixed when it is created.
///
/// ```
/// use slipstream_ring::Layout;
/// let layout = Layout::new(1 << 20).max_payload(64 * 1024);
/// let geometry = layout.geometry().unwrap();
/// assert_eq!(geometry.capacity, 1 << 20);
/// assert!(geometry.file_len > 1 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of the data region; a power of two.
    pub capacity: u64,
    /// Largest payload one record may carry; a record (header included) must
    /// fit in a quarter of the capacity.
    pub max_payload: u32,
    /// Entries of the segment table; a power of two from 4 to 1024.
    pub segments: u32,
    /// The page size the regions are aligned to; a power of two, at least 64.
    pub page_size: u32,
}

/// Default page size of a layout: the smallest page size of the Linux targets we run on.
pub const DEFAULT_PAGE_SIZE: u32 = 4096;

/// The share the layout check enforces: [`MAX_RECORD_SHARE`], except in the
/// loom models, which explore the lock-free protocol on a 64-byte ring of
/// 24-byte records (the protocol does not depend on the share; only crash
/// recovery and the `latest` rule do, and no file is ever made under loom).
const CHECKED_SHARE: u64 = if cfg!(loom) { 2 } else { MAX_RECORD_SHARE };

/// The largest payload whose record fits in `capacity / MAX_RECORD_SHARE`.
pub const fn max_payload_for(capacity: u64) -> u64 {
    (capacity / MAX_RECORD_SHARE).saturating_sub(RECORD_HEADER_LEN as u64)
        & !(RECORD_ALIGN as u64 - 1)
}

impl Layout {
    /// A layout with the given data capacity and defaults for the rest: the
    /// largest maximum payload the capacity allows (a record fits in a quarter
    /// of it), capped at 16 MiB, 64 segments and 4 KiB pages.
    ///
    /// ```
    /// let layout = slipstream_ring::Layout::new(64 << 20);
    /// assert_eq!(layout.max_payload, (16 << 20) - 16); // a record of exactly a quarter
    /// assert_eq!(slipstream_ring::Layout::new(1 << 30).max_payload, 16 << 20);
    /// assert_eq!(slipstream_ring::Layout::new(4096).max_payload, 1008);
    /// ```
    pub fn new(capacity: u64) -> Self {
        Layout {
            capacity,
            max_payload: max_payload_for(capacity).min(16 << 20) as u32,
            segments: 64,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// Sets the largest payload a record may carry.
    pub fn max_payload(mut self, bytes: u32) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Sets the number of segments in the segment table.
    pub fn segments(mut self, segments: u32) -> Self {
        self.segments = segments;
        self
    }

    /// Sets the page size the regions are aligned to.
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// Checks the layout and computes where each region lies.
    ///
    /// # Errors
    /// A [`LayoutError`] naming the parameter that is out of range.
    ///
    /// ```
    /// let err = slipstream_ring::Layout::new(1000).geometry().unwrap_err();
    /// assert!(err.to_string().contains("power of two"));
    /// ```
    pub fn geometry(&self) -> Result<Geometry, LayoutError> {
        let page = self.page_size as u64;
        if !self.page_size.is_power_of_two() || self.page_size < 64 || self.page_size > 1 << 20 {
            return Err(LayoutError::PageSize(self.page_size));
        }
        if !self.capacity.is_power_of_two() || self.capacity < 64 || self.capacity > 1 << 40 {
            return Err(LayoutError::Capacity(self.capacity));
        }
        if self.max_payload == 0
            || self.max_payload > MAX_PAYLOAD_LIMIT
            || record_len(self.max_payload as u64) > self.capacity / CHECKED_SHARE
        {
            return Err(LayoutError::MaxPayload {
                max_payload: self.max_payload,
                capacity: self.capacity,
            });
        }
        if !self.segments.is_power_of_two()
            || self.segments < 4
            || self.segments > 1024
            || self.capacity / (self.segments as u64) < RECORD_HEADER_LEN as u64
        {
            return Err(LayoutError::Segments(self.segments));
        }
        let header_len = align_up(
            (SEGMENT_TABLE_OFFSET + self.segments as usize * core::mem::size_of::<RawSegment>())
                as u64,
            page,
        );
        let data_offset = header_len;
        let file_len = data_offset + self.capacity;
        Ok(Geometry {
            layout: *self,
            capacity: self.capacity,
            mask: self.capacity - 1,
            header_len,
            data_offset,
            file_len,
            segment_shift: (self.capacity / self.segments as u64).trailing_zeros(),
        })
    }
}

impl Default for Layout {
    /// 64 MiB of data, a maximum payload of 16 MiB less a record header.
    fn default() -> Self {
        Layout::new(64 << 20)
    }
}

/// Where the regions of a validated [`Layout`] lie in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// The layout this was computed from.
    pub layout: Layout,
    /// Bytes of the data region.
    pub capacity: u64,
    /// `capacity - 1`.
    pub mask: u64,
    /// Bytes of the header region.
    pub header_len: u64,
    /// Offset of the data region.
    pub data_offset: u64,
    /// Total bytes of the file.
    pub file_len: u64,
    /// log2 of the bytes in one segment.
    pub segment_shift: u32,
}

impl Geometry {
    /// Offset, in the header, of segment table entry `i`.
    #[inline]
    pub fn segment_offset(&self, i: usize) -> usize {
        SEGMENT_TABLE_OFFSET + i * core::mem::size_of::<RawSegment>()
    }

    /// Number of segment table entries.
    #[inline]
    pub fn segments(&self) -> usize {
        self.layout.segments as usize
    }

    /// Largest number of bytes one record may occupy.
    #[inline]
    pub fn max_record_len(&self) -> u64 {
        record_len(self.layout.max_payload as u64)
    }

    /// Builds the fixed header fields of a new ring with this geometry, whose
    /// first record will carry `first_seq`.
    pub fn new_header(&self, ring_id: u64, created_unix_ns: u64, first_seq: u64) -> RawHeader {
        let mut h = RawHeader::new_zeroed();
        h.magic = MAGIC;
        h.version = VERSION.into();
        h.page_size = self.layout.page_size.into();
        h.header_len = (self.header_len as u32).into();
        h.capacity = self.capacity.into();
        h.max_payload = self.layout.max_payload.into();
        h.segment_count = self.layout.segments.into();
        h.data_offset = self.data_offset.into();
        h.file_len = self.file_len.into();
        h.ring_id = ring_id.into();
        h.created_unix_ns = created_unix_ns.into();
        h.first_seq = first_seq.into();
        h.latest = NO_RECORD.into();
        // The commit that "made" first_seq: nothing written, tail 0.
        let slot = (first_seq & 1) as usize;
        h.commits[slot] = RawCommit {
            end: 0.into(),
            next_seq: first_seq.into(),
        };
        h.commits[slot ^ 1] = RawCommit {
            end: NO_RECORD.into(),
            next_seq: 0.into(),
        };
        h
    }
}

/// Whether `first_seq` may start a ring: at least 1, and far from `2^64`.
pub const fn valid_first_seq(first_seq: u64) -> bool {
    first_seq >= 1 && first_seq < 1 << 63
}

/// Validates a copy of the fixed header fields and returns the geometry they describe.
///
/// Every field is checked: the magic, the version, each layout parameter, and
/// that the stored offsets are the ones the layout implies (a reader in another
/// language computes them the same way, so a disagreement means corruption).
///
/// # Errors
/// A [`LayoutError`] naming the field that is wrong; a version-1 ring gets
/// [`LayoutError::UnsupportedVersion`], whose message says how to recreate it.
///
/// ```
/// use slipstream_ring::layout::{validate_header, Layout};
/// let g = Layout::new(1 << 16).geometry().unwrap();
/// let h = g.new_header(7, 0, 1);
/// assert_eq!(validate_header(&h).unwrap(), g);
/// let mut bad = h;
/// bad.magic = *b"NOTARING";
/// assert!(validate_header(&bad).is_err());
/// ```
pub fn validate_header(h: &RawHeader) -> Result<Geometry, LayoutError> {
    if h.magic != MAGIC {
        return Err(LayoutError::BadMagic(h.magic));
    }
    if h.version.get() != VERSION {
        return Err(LayoutError::UnsupportedVersion {
            found: h.version.get(),
            supported: VERSION,
        });
    }
    let layout = Layout {
        capacity: h.capacity.get(),
        max_payload: h.max_payload.get(),
        segments: h.segment_count.get(),
        page_size: h.page_size.get(),
    };
    let g = layout.geometry()?;
    let stored = [
        ("header_len", h.header_len.get() as u64, g.header_len),
        ("data_offset", h.data_offset.get(), g.data_offset),
        ("file_len", h.file_len.get(), g.file_len),
        ("flags", h.flags.get() as u64, 0),
    ];
    for (field, found, expected) in stored {
        if found != expected {
            return Err(LayoutError::Inconsistent {
                field,
                found,
                expected,
            });
        }
    }
    if !valid_first_seq(h.first_seq.get()) {
        return Err(LayoutError::FirstSeq(h.first_seq.get()));
    }
    Ok(g)
}

/// A layout (from the caller, or read from a file) that cannot describe a ring.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutError {
    /// The file does not start with the ring magic.
    #[error("not a Slipstream ring: magic is {0:02x?}, expected \"SLIPSTRM\"")]
    BadMagic([u8; 8]),
    /// The file has a format version this build does not read.
    #[error("ring format version {found} is not supported (this build reads version {supported}); stop its producer and start a producer of this build with --recreate (ProducerOptions::recreate) to replace it with a new ring")]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The page size is not a power of two between 64 bytes and 1 MiB.
    #[error("page size {0} is not a power of two between 64 and 1048576")]
    PageSize(u32),
    /// The capacity is not a power of two between 256 bytes and 1 TiB.
    #[error("capacity {0} is not a power of two between 64 bytes and 1 TiB")]
    Capacity(u64),
    /// The maximum payload is zero or does not fit in a quarter of the capacity.
    #[error("max payload {max_payload} does not fit: a record (16-byte header included, rounded up to 8 bytes) must fit in a quarter of the capacity {capacity}")]
    MaxPayload {
        /// Requested maximum payload.
        max_payload: u32,
        /// Capacity of the data region.
        capacity: u64,
    },
    /// The first sequence number is 0 or too close to 2^64.
    #[error("first_seq {0} must be at least 1 and below 2^63")]
    FirstSeq(u64),
    /// The segment count is not a power of two between 4 and 1024.
    #[error(
        "segment count {0} is not a power of two between 4 and 1024 (and at most capacity/16)"
    )]
    Segments(u32),
    /// A stored field disagrees with the value the layout implies.
    #[error(
        "header field {field} is {found}, but the layout implies {expected}: the header is corrupt"
    )]
    Inconsistent {
        /// The field's name, as in FORMAT.md.
        field: &'static str,
        /// Value in the file.
        found: u64,
        /// Value the layout implies.
        expected: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offsets FORMAT.md states. Changing one is a format change: bump VERSION.
    #[test]
    fn format_offsets_are_stable() {
        assert_eq!(core::mem::size_of::<RawHeader>(), 768);
        assert_eq!(core::mem::offset_of!(RawHeader, capacity), 24);
        assert_eq!(core::mem::offset_of!(RawHeader, max_payload), 32);
        assert_eq!(core::mem::offset_of!(RawHeader, segment_count), 36);
        assert_eq!(core::mem::offset_of!(RawHeader, data_offset), 40);
        assert_eq!(core::mem::offset_of!(RawHeader, file_len), 48);
        assert_eq!(core::mem::offset_of!(RawHeader, ring_id), 56);
        assert_eq!(core::mem::offset_of!(RawHeader, created_unix_ns), 64);
        assert_eq!(core::mem::offset_of!(RawHeader, first_seq), 72);
        assert_eq!(OFF_EPOCH, 128);
        assert_eq!(OFF_PRODUCER_PID, 136);
        assert_eq!(OFF_PRODUCER_STATE, 140);
        assert_eq!(OFF_PRODUCER_START, 144);
        assert_eq!(OFF_PRODUCER_TICKS, 152);
        assert_eq!(OFF_TAIL_INTENT, 256);
        assert_eq!(OFF_TAIL, 384);
        assert_eq!(OFF_LATEST, 392);
        assert_eq!(OFF_COMMITS, 400);
        assert_eq!(OFF_NOTIFY, 512);
        assert_eq!(OFF_BLOCKS, 640);
        assert_eq!(OFF_REFUSED_TOO_LARGE, 648);
        assert_eq!(OFF_REFUSED_OFF, 656);
        assert_eq!(OFF_PADDING_BYTES, 664);
        assert_eq!(OFF_WAKE_CALLS, 672);
        assert_eq!(SEGMENT_TABLE_OFFSET, 768);
        assert_eq!(core::mem::size_of::<RawSegment>(), 16);
        assert_eq!(core::mem::size_of::<RawRecordHeader>(), RECORD_HEADER_LEN);
    }

    #[test]
    fn default_geometry() {
        let g = Layout::default().geometry().unwrap();
        assert_eq!(g.header_len, 4096);
        assert_eq!(g.data_offset, 4096);
        assert_eq!(g.file_len, 4096 + (64 << 20));
        assert_eq!(g.segment_shift, 20);
    }

    #[test]
    fn header_word_round_trips() {
        let w = header_word(0xDEAD_BEEF, 0x1234, 0xABCD);
        assert_eq!(split_header_word(w), (0xDEAD_BEEF, 0x1234, 0xABCD));
        let bytes = RawRecordHeader {
            len: 0xDEAD_BEEF.into(),
            kind: 0x1234.into(),
            flags: 0xABCD.into(),
            seq: 9.into(),
        };
        assert_eq!(&bytes.as_bytes()[..8], &w.to_le_bytes());
    }

    #[test]
    fn rejects_bad_layouts() {
        assert!(matches!(
            Layout::new(4096).page_size(100).geometry(),
            Err(LayoutError::PageSize(100))
        ));
        assert!(matches!(
            Layout::new(3 << 20).geometry(),
            Err(LayoutError::Capacity(_))
        ));
        // A quarter of the capacity, header included, and no more.
        assert!(Layout::new(4096).max_payload(1008).geometry().is_ok());
        assert!(matches!(
            Layout::new(4096).max_payload(1009).geometry(),
            Err(LayoutError::MaxPayload { .. })
        ));
        assert!(matches!(
            Layout::new(4096).max_payload(0).geometry(),
            Err(LayoutError::MaxPayload { .. })
        ));
        assert!(matches!(
            Layout::new(4096).segments(3).geometry(),
            Err(LayoutError::Segments(3))
        ));
    }

    #[test]
    fn validate_names_the_inconsistent_field() {
        let g = Layout::new(1 << 16).geometry().unwrap();
        let mut h = g.new_header(1, 2, 1);
        h.data_offset = 12345.into();
        let err = validate_header(&h).unwrap_err();
        assert!(err.to_string().contains("data_offset"), "{err}");
        let mut h = g.new_header(1, 2, 1);
        h.version = 1.into();
        let err = validate_header(&h).unwrap_err();
        assert!(matches!(
            err,
            LayoutError::UnsupportedVersion { found: 1, .. }
        ));
        assert!(err.to_string().contains("--recreate"), "{err}");
        let mut h = g.new_header(1, 2, 1);
        h.first_seq = 0.into();
        assert!(matches!(validate_header(&h), Err(LayoutError::FirstSeq(0))));
    }

    #[test]
    fn a_new_header_commits_first_seq_at_zero() {
        let g = Layout::new(1 << 16).geometry().unwrap();
        for first in [1u64, 2, 1000, 1001] {
            let h = g.new_header(1, 2, first);
            let slot = &h.commits[(first & 1) as usize];
            assert_eq!((slot.end.get(), slot.next_seq.get()), (0, first));
            assert_eq!(h.commits[((first & 1) ^ 1) as usize].end.get(), NO_RECORD);
        }
    }
}
