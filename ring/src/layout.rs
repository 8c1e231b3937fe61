//! The bytes of a ring file, defined once.
//!
//! Every multi-byte field is little-endian at a fixed offset. The structs below
//! are the only definition of those offsets: `FORMAT.md` describes them in prose,
//! and the `format_offsets_are_stable` test pins each offset to the number that
//! `FORMAT.md` states, so the two cannot drift apart silently.
//!
//! A ring file is four page-aligned regions, in this order:
//!
//! | region | written by | consumers map it |
//! |---|---|---|
//! | header (`header_len` bytes) | the producer | read-only |
//! | wake page (one page) | consumers (waiter count) and the producer (reset) | read-write |
//! | data (`capacity` bytes, a power of two) | the producer | read-only |
//! | reader slots (`reader_slots` pages) | each consumer, its own page only | own page read-write |

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::error::LayoutError;

/// The eight bytes every ring file starts with.
pub const MAGIC: [u8; 8] = *b"SLIPSTRM";
/// The format version this crate reads and writes.
pub const VERSION: u32 = 1;
/// Bytes in a record header: `len`, `kind`, `flags`, `seq`.
pub const RECORD_HEADER_LEN: usize = 16;
/// Every record starts at a multiple of this, and its length is rounded up to it.
pub const RECORD_ALIGN: usize = 8;
/// The record kind of a padding record, which fills the end of the data region.
pub const KIND_PADDING: u16 = 0xFFFF;
/// Record kind 0 is never written; reading it means the bytes are not a record.
pub const KIND_INVALID: u16 = 0;
/// The sequence number of the first record a new ring holds.
pub const FIRST_SEQ: u64 = 1;
/// The value of `latest` before any record was committed.
pub const NO_RECORD: u64 = u64::MAX;
/// The largest `max_payload` a layout may declare (1 GiB).
pub const MAX_PAYLOAD_LIMIT: u32 = 1 << 30;
/// Bytes of a reader slot's name.
pub const SLOT_NAME_LEN: usize = 64;

/// `producer_state`: no producer has opened this ring yet.
pub const PRODUCER_NONE: u32 = 0;
/// `producer_state`: a producer opened the ring and has not closed it (it may have died).
pub const PRODUCER_LIVE: u32 = 1;
/// `producer_state`: the last producer closed the ring cleanly.
pub const PRODUCER_CLOSED: u32 = 2;

/// `slot state`: the slot was never used or was released.
pub const SLOT_FREE: u32 = 0;
/// `slot state`: a consumer claimed the slot (it may have died since; the lock tells).
pub const SLOT_CLAIMED: u32 = 1;

/// The fixed part of the header, at offset 0 of the file.
///
/// Lines 0 and 1 are written when the ring is created or a producer opens it;
/// lines 2 and 3 are the hot counters, each on its own 128-byte line (two 64-byte
/// cache lines, so the adjacent-line prefetcher does not couple them).
/// The segment table follows at [`SEGMENT_TABLE_OFFSET`].
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
    /// Number of reader slots.
    pub reader_slots: U32,
    /// Bytes of one reader slot (one page).
    pub slot_len: U32,
    /// Entries in the segment table, a power of two.
    pub segment_count: U32,
    /// Offset of the data region.
    pub data_offset: U64,
    /// Offset of the wake page.
    pub wake_offset: U64,
    /// Offset of the reader slots.
    pub slots_offset: U64,
    /// Total bytes of the file.
    pub file_len: U64,
    /// A random identifier chosen when the ring was created.
    pub ring_id: U64,
    /// When the ring was created, nanoseconds since the Unix epoch.
    pub created_unix_ns: U64,
    /// Sequence number of the first record ever written: [`FIRST_SEQ`], or
    /// the value the ring was created with to continue another stream's
    /// sequence ([`Writer::create_with_first_seq`](crate::Writer::create_with_first_seq)).
    /// Never 0 or 2^64-1.
    pub first_seq: U64,
    /// Reserved, zero.
    pub _reserved0: [u8; 24],

    /// Incremented by each producer that opens the ring.
    pub epoch: U64,
    /// Process id of the producer that last opened the ring.
    pub producer_pid: U32,
    /// [`PRODUCER_NONE`], [`PRODUCER_LIVE`] or [`PRODUCER_CLOSED`].
    pub producer_state: U32,
    /// When the current producer opened the ring, nanoseconds since the Unix epoch.
    pub producer_start_unix_ns: U64,
    /// Reserved, zero.
    pub _reserved1: [u8; 104],

    /// Position the producer may be writing up to (exclusive). Never decreases.
    pub tail_intent: U64,
    /// Position up to which records are committed (exclusive).
    pub tail: U64,
    /// Position of the newest committed record, or of the one before it; [`NO_RECORD`] before the first.
    pub latest: U64,
    /// Reserved, zero.
    pub _reserved2: [u8; 104],

    /// The futex word: incremented by the producer before it wakes sleeping readers.
    pub notify: U32,
    /// Reserved, zero.
    pub _reserved3: [u8; 124],
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

/// The wake page, at `wake_offset`.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct RawWake {
    /// Readers that announced they are about to sleep; the producer swaps it to 0 when it wakes them.
    pub waiters: U32,
    /// Reserved, zero.
    pub _reserved: [u8; 60],
}

/// A reader slot, at `slots_offset + i * slot_len`.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct RawSlot {
    /// [`SLOT_FREE`] or [`SLOT_CLAIMED`].
    pub state: U32,
    /// Bytes of `name` in use.
    pub name_len: U32,
    /// Process id of the consumer that claimed the slot.
    pub pid: U32,
    /// Reserved, zero.
    pub _reserved0: U32,
    /// The consumer's name, UTF-8.
    pub name: [u8; SLOT_NAME_LEN],
    /// `ring_id` of the ring the cursor belongs to.
    pub ring_id: U64,
    /// Sequence number of the next record the consumer will read (0: none yet).
    pub next_seq: U64,
    /// Position of that record: a hint, checked against `next_seq` before use.
    pub position: U64,
    /// When the slot was claimed, nanoseconds since the Unix epoch.
    pub attached_unix_ns: U64,
    /// Records delivered to this consumer since it claimed the slot.
    pub delivered: U64,
    /// Records this consumer missed by being lapped since it claimed the slot.
    pub missed: U64,
}

/// Offset of the segment table in the header.
pub const SEGMENT_TABLE_OFFSET: usize = core::mem::size_of::<RawHeader>();
/// Offset of `tail_intent` in the header.
pub const OFF_TAIL_INTENT: usize = core::mem::offset_of!(RawHeader, tail_intent);
/// Offset of `tail` in the header.
pub const OFF_TAIL: usize = core::mem::offset_of!(RawHeader, tail);
/// Offset of `latest` in the header.
pub const OFF_LATEST: usize = core::mem::offset_of!(RawHeader, latest);
/// Offset of `first_seq` in the header.
pub const OFF_FIRST_SEQ: usize = core::mem::offset_of!(RawHeader, first_seq);
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
/// Offset of `waiters` in the wake page.
pub const OFF_WAITERS: usize = core::mem::offset_of!(RawWake, waiters);
/// Offset of `ring_id` in a reader slot.
pub const OFF_SLOT_RING_ID: usize = core::mem::offset_of!(RawSlot, ring_id);
/// Offset of `next_seq` in a reader slot.
pub const OFF_SLOT_NEXT_SEQ: usize = core::mem::offset_of!(RawSlot, next_seq);
/// Offset of `position` in a reader slot.
pub const OFF_SLOT_POSITION: usize = core::mem::offset_of!(RawSlot, position);
/// Offset of `delivered` in a reader slot.
pub const OFF_SLOT_DELIVERED: usize = core::mem::offset_of!(RawSlot, delivered);
/// Offset of `missed` in a reader slot.
pub const OFF_SLOT_MISSED: usize = core::mem::offset_of!(RawSlot, missed);

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
/// let layout = Layout::new(1 << 20).max_payload(64 * 1024).reader_slots(8);
/// let geometry = layout.geometry().unwrap();
/// assert_eq!(geometry.capacity, 1 << 20);
/// assert!(geometry.file_len > 1 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of the data region; a power of two.
    pub capacity: u64,
    /// Largest payload one record may carry; a record must fit in half the capacity.
    pub max_payload: u32,
    /// Reader slots (named cursors) the file has room for.
    pub reader_slots: u32,
    /// Entries of the segment table; a power of two from 4 to 1024.
    pub segments: u32,
    /// The page size the regions are aligned to; a power of two, at least 64.
    pub page_size: u32,
}

/// Default page size of a layout: the smallest page size of the Linux targets we run on.
pub const DEFAULT_PAGE_SIZE: u32 = 4096;

impl Layout {
    /// A layout with the given data capacity and defaults for the rest: a
    /// maximum payload of a quarter of the capacity (capped at 16 MiB), 64
    /// reader slots, 64 segments and 4 KiB pages.
    ///
    /// ```
    /// let layout = slipstream_ring::Layout::new(64 << 20);
    /// assert_eq!(layout.max_payload, 16 << 20);
    /// ```
    pub fn new(capacity: u64) -> Self {
        Layout {
            capacity,
            max_payload: (capacity / 4).min(16 << 20) as u32,
            reader_slots: 64,
            segments: 64,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// Sets the largest payload a record may carry.
    pub fn max_payload(mut self, bytes: u32) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Sets the number of reader slots.
    pub fn reader_slots(mut self, slots: u32) -> Self {
        self.reader_slots = slots;
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
            || record_len(self.max_payload as u64) > self.capacity / 2
        {
            return Err(LayoutError::MaxPayload {
                max_payload: self.max_payload,
                capacity: self.capacity,
            });
        }
        if self.reader_slots > 4096 {
            return Err(LayoutError::ReaderSlots(self.reader_slots));
        }
        if !self.segments.is_power_of_two()
            || self.segments < 4
            || self.segments > 1024
            || self.capacity / (self.segments as u64) < RECORD_HEADER_LEN as u64
        {
            return Err(LayoutError::Segments(self.segments));
        }
        let slot_len = (core::mem::size_of::<RawSlot>() as u64).max(page);
        let slot_len = align_up(slot_len, page);
        let header_len = align_up(
            (SEGMENT_TABLE_OFFSET + self.segments as usize * core::mem::size_of::<RawSegment>())
                as u64,
            page,
        );
        let wake_offset = header_len;
        let wake_len = align_up(core::mem::size_of::<RawWake>() as u64, page);
        let data_offset = wake_offset + wake_len;
        let slots_offset = data_offset + self.capacity;
        let file_len = slots_offset + slot_len * self.reader_slots as u64;
        Ok(Geometry {
            layout: *self,
            capacity: self.capacity,
            mask: self.capacity - 1,
            header_len,
            wake_offset,
            wake_len,
            data_offset,
            slots_offset,
            slot_len,
            file_len,
            segment_shift: (self.capacity / self.segments as u64).trailing_zeros(),
        })
    }
}

impl Default for Layout {
    /// 64 MiB of data, 16 MiB maximum payload, 64 reader slots.
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
    /// Offset of the wake page.
    pub wake_offset: u64,
    /// Bytes of the wake region.
    pub wake_len: u64,
    /// Offset of the data region.
    pub data_offset: u64,
    /// Offset of the reader slots.
    pub slots_offset: u64,
    /// Bytes of one reader slot.
    pub slot_len: u64,
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

    /// Offset, in the file, of reader slot `i`.
    #[inline]
    pub fn slot_offset(&self, i: u32) -> u64 {
        self.slots_offset + self.slot_len * i as u64
    }

    /// Builds the fixed header fields of a new ring with this geometry.
    pub fn new_header(&self, ring_id: u64, created_unix_ns: u64) -> RawHeader {
        let mut h = RawHeader::new_zeroed();
        h.magic = MAGIC;
        h.version = VERSION.into();
        h.page_size = self.layout.page_size.into();
        h.header_len = (self.header_len as u32).into();
        h.capacity = self.capacity.into();
        h.max_payload = self.layout.max_payload.into();
        h.reader_slots = self.layout.reader_slots.into();
        h.slot_len = (self.slot_len as u32).into();
        h.segment_count = self.layout.segments.into();
        h.data_offset = self.data_offset.into();
        h.wake_offset = self.wake_offset.into();
        h.slots_offset = self.slots_offset.into();
        h.file_len = self.file_len.into();
        h.ring_id = ring_id.into();
        h.created_unix_ns = created_unix_ns.into();
        h.first_seq = FIRST_SEQ.into();
        h.latest = NO_RECORD.into();
        h
    }
}

/// Validates a copy of the fixed header fields and returns the geometry they describe.
///
/// Every field is checked: the magic, the version, each layout parameter, and
/// that the stored offsets are the ones the layout implies (a reader in another
/// language computes them the same way, so a disagreement means corruption).
///
/// ```
/// use slipstream_ring::layout::{validate_header, Layout};
/// let g = Layout::new(1 << 16).geometry().unwrap();
/// let h = g.new_header(7, 0);
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
        reader_slots: h.reader_slots.get(),
        segments: h.segment_count.get(),
        page_size: h.page_size.get(),
    };
    let g = layout.geometry()?;
    let stored = [
        ("header_len", h.header_len.get() as u64, g.header_len),
        ("slot_len", h.slot_len.get() as u64, g.slot_len),
        ("data_offset", h.data_offset.get(), g.data_offset),
        ("wake_offset", h.wake_offset.get(), g.wake_offset),
        ("slots_offset", h.slots_offset.get(), g.slots_offset),
        ("file_len", h.file_len.get(), g.file_len),
        ("flags", h.flags.get() as u64, 0),
    ];
    // first_seq: set at creation (1 by default); 0 and 2^64-1 are never valid.
    let first_seq = h.first_seq.get();
    if first_seq == 0 || first_seq == u64::MAX {
        return Err(LayoutError::Inconsistent {
            field: "first_seq",
            found: first_seq,
            expected: FIRST_SEQ,
        });
    }
    for (field, found, expected) in stored {
        if found != expected {
            return Err(LayoutError::Inconsistent {
                field,
                found,
                expected,
            });
        }
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offsets FORMAT.md states. Changing one is a format change: bump VERSION.
    #[test]
    fn format_offsets_are_stable() {
        assert_eq!(core::mem::size_of::<RawHeader>(), 512);
        assert_eq!(core::mem::offset_of!(RawHeader, capacity), 24);
        assert_eq!(core::mem::offset_of!(RawHeader, max_payload), 32);
        assert_eq!(core::mem::offset_of!(RawHeader, data_offset), 48);
        assert_eq!(core::mem::offset_of!(RawHeader, ring_id), 80);
        assert_eq!(core::mem::offset_of!(RawHeader, first_seq), 96);
        assert_eq!(OFF_EPOCH, 128);
        assert_eq!(OFF_PRODUCER_PID, 136);
        assert_eq!(OFF_PRODUCER_STATE, 140);
        assert_eq!(OFF_PRODUCER_START, 144);
        assert_eq!(OFF_TAIL_INTENT, 256);
        assert_eq!(OFF_TAIL, 264);
        assert_eq!(OFF_LATEST, 272);
        assert_eq!(OFF_NOTIFY, 384);
        assert_eq!(SEGMENT_TABLE_OFFSET, 512);
        assert_eq!(core::mem::size_of::<RawSegment>(), 16);
        assert_eq!(core::mem::size_of::<RawRecordHeader>(), RECORD_HEADER_LEN);
        assert_eq!(core::mem::size_of::<RawWake>(), 64);
        assert_eq!(core::mem::size_of::<RawSlot>(), 128);
        assert_eq!(core::mem::offset_of!(RawSlot, name), 16);
        assert_eq!(core::mem::offset_of!(RawSlot, ring_id), 80);
        assert_eq!(OFF_SLOT_RING_ID, 80);
        assert_eq!(OFF_SLOT_NEXT_SEQ, 88);
        assert_eq!(OFF_SLOT_POSITION, 96);
        assert_eq!(core::mem::offset_of!(RawSlot, attached_unix_ns), 104);
        assert_eq!(OFF_SLOT_DELIVERED, 112);
        assert_eq!(OFF_SLOT_MISSED, 120);
        assert_eq!(OFF_WAITERS, 0);
    }

    #[test]
    fn default_geometry() {
        let g = Layout::default().geometry().unwrap();
        assert_eq!(g.header_len, 4096);
        assert_eq!(g.wake_offset, 4096);
        assert_eq!(g.data_offset, 8192);
        assert_eq!(g.slots_offset, 8192 + (64 << 20));
        assert_eq!(g.file_len, 8192 + (64 << 20) + 64 * 4096);
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
        assert!(matches!(
            Layout::new(4096).max_payload(4096).geometry(),
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
        assert!(matches!(
            Layout::new(4096).reader_slots(10_000).geometry(),
            Err(LayoutError::ReaderSlots(10_000))
        ));
    }

    #[test]
    fn validate_names_the_inconsistent_field() {
        let g = Layout::new(1 << 16).geometry().unwrap();
        let mut h = g.new_header(1, 2);
        h.data_offset = 12345.into();
        let err = validate_header(&h).unwrap_err();
        assert!(err.to_string().contains("data_offset"), "{err}");
        let mut h = g.new_header(1, 2);
        h.version = 99.into();
        assert!(matches!(
            validate_header(&h),
            Err(LayoutError::UnsupportedVersion { found: 99, .. })
        ));
    }
}
