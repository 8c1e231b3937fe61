//! The format's rules for a record header (FORMAT.md section 4), applied to
//! words copied out of the ring: the full check and the delivery fast path.

use crate::error::CorruptError;
use crate::layout::*;

/// What a record header says, once checked.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Header {
    /// A padding record of this many bytes (to the end of the data region).
    Padding(u64),
    /// A record.
    Record {
        /// Payload bytes.
        len: u32,
        /// Its kind.
        kind: u16,
    },
}

/// The one sequence number no record may carry: the record after it would
/// need 2^64. A reader that finds it treats the bytes as corrupt, so that
/// every `seq + 1` it computes fits (no producer gets near: 584 years at 1 G/s).
pub(super) const SEQ_NEVER: u64 = u64::MAX;

/// Checks the header word of the record at position `p` against the
/// format's rules. The word may come from an unvalidated copy: the caller
/// believes the answer only after checking [`Reader::intact`]. Producer
/// recovery uses the same rules on the words it reads from the file.
#[inline]
pub(crate) fn check_header(
    geo: &Geometry,
    p: u64,
    word: u64,
    tail: u64,
) -> Result<Header, CorruptError> {
    let off = p & geo.mask;
    let (len, kind, _flags) = split_header_word(word);
    let room = tail.saturating_sub(p);
    if kind == KIND_PADDING {
        let to_end = geo.capacity - off;
        // `tail - p`, not `p + to_end`: in a corrupt ring `p` may lie in
        // the last lap below 2^64, where the sum overflows (0 if p > tail).
        if len as u64 != to_end || to_end >= room {
            return Err(bad_padding(p, len, to_end));
        }
        return Ok(Header::Padding(to_end));
    }
    let rl = record_len(len as u64);
    // As for padding: no `p + rl`, which can overflow in a corrupt ring.
    if kind == KIND_INVALID || len > geo.layout.max_payload || off + rl > geo.capacity || rl > room
    {
        return Err(bad_record(p, len, kind, geo, tail));
    }
    Ok(Header::Record { len, kind })
}

/// Why a padding record's header is impossible (out of the hot path).
#[cold]
#[inline(never)]
fn bad_padding(p: u64, len: u32, to_end: u64) -> CorruptError {
    if len as u64 != to_end {
        corrupt(
            p,
            format!("padding record of {len} bytes, but {to_end} bytes remain to the end of the data region"),
        )
    } else {
        corrupt(
            p,
            "padding record is not followed by a committed record".into(),
        )
    }
}

/// Why a record's header is impossible (out of the hot path).
#[cold]
#[inline(never)]
fn bad_record(p: u64, len: u32, kind: u16, geo: &Geometry, tail: u64) -> CorruptError {
    let rl = record_len(len as u64);
    if kind == KIND_INVALID {
        corrupt(p, "record kind 0 (not a record)".into())
    } else if len > geo.layout.max_payload {
        corrupt(
            p,
            format!(
                "length {len} exceeds the ring's maximum payload {}",
                geo.layout.max_payload
            ),
        )
    } else if (p & geo.mask) + rl > geo.capacity {
        corrupt(
            p,
            format!("record of {rl} bytes crosses the end of the data region"),
        )
    } else {
        corrupt(
            p,
            format!("record of {rl} bytes extends past the committed tail {tail}"),
        )
    }
}

pub(super) fn corrupt(pos: u64, detail: String) -> CorruptError {
    CorruptError::Record { pos, detail }
}

pub(super) fn seq_never(pos: u64) -> CorruptError {
    corrupt(
        pos,
        format!("sequence number {SEQ_NEVER} (2^64-1) is never written"),
    )
}

/// The record at offset `at` of the validated copy `buf` (at position
/// `pos`), if it is an ordinary record that carries `seq` and lies whole in
/// the copy: its length, kind and length in the ring. `None` for anything
/// else (the end of the copy, padding, a header or sequence number that
/// breaks the format), which the slow path sorts out. Accepts exactly what
/// [`check_header`] accepts as a record, given that the copy ends at or below
/// the tail it was validated against: that is the one bounds check.
#[inline(always)]
pub(super) fn parse_fast(
    buf: &[u8],
    at: usize,
    pos: u64,
    seq: u64,
    geo: &Geometry,
) -> Option<(u32, u16, usize)> {
    let avail = buf.len();
    // `at` and `avail` are multiples of 8: the header word is in the copy.
    if at >= avail {
        return None;
    }
    // SAFETY: at + 8 <= avail (above).
    let word = unsafe { read_word(buf, at) };
    let (len, kind, _flags) = split_header_word(word);
    let rl = record_len(len as u64);
    if kind == KIND_INVALID
        || kind == KIND_PADDING
        || len > geo.layout.max_payload
        || rl > (avail - at) as u64
        || (pos & geo.mask) + rl > geo.capacity
    {
        return None;
    }
    // SAFETY: at + 16 <= at + rl <= avail (checked above).
    let found = unsafe { read_word(buf, at + 8) };
    if found != seq || seq == SEQ_NEVER {
        return None;
    }
    Some((len, kind, rl as usize))
}

/// The little-endian 64-bit word at `at` of the reader's copy.
///
/// # Safety
/// `at + 8 <= buf.len()`.
#[inline(always)]
pub(super) unsafe fn read_word(buf: &[u8], at: usize) -> u64 {
    debug_assert!(at + 8 <= buf.len());
    // SAFETY: in bounds (the caller's contract); any 8 bytes are a valid u64,
    // and `read_unaligned` needs no alignment.
    u64::from_le(unsafe { buf.as_ptr().add(at).cast::<u64>().read_unaligned() })
}
