//! Parsing segment and index files from bytes: the one parser the writer's
//! recovery, the reader, `verify` and the fuzz target share. Nothing here
//! panics or reads out of bounds, whatever the bytes.

use std::path::Path;

use zerocopy::FromBytes;

use crate::error::JournalError;
use crate::format::*;

/// One entry parsed from a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// Its sequence number (a gap: the first missed).
    pub seq: u64,
    /// Its kind ([`KIND_GAP`] for a gap).
    pub kind: u16,
    /// Payload bytes.
    pub len: u32,
    /// Bytes the entry occupies ([`entry_len`]).
    pub entry_len: u64,
    /// For a gap, the last sequence number missed.
    pub gap_last: Option<u64>,
}

impl Parsed {
    /// The sequence number of the entry after this one.
    pub fn next_seq(&self) -> u64 {
        self.gap_last.unwrap_or(self.seq) + 1
    }
}

/// Why the bytes at an offset are not a valid entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The bytes end before the entry does (a torn tail, or one being written).
    Incomplete,
    /// The bytes are not a valid entry.
    Bad(String),
}

/// Parses the entry at the start of `bytes` (which may go on past it), whose
/// sequence number must be `expected`.
///
/// ```
/// use slipstream_journal::segment::{encode_entry, parse_entry, Problem};
/// let mut buf = Vec::new();
/// encode_entry(&mut buf, 7, 1, b"hello");
/// let e = parse_entry(&buf, 7).unwrap();
/// assert_eq!((e.seq, e.kind, e.len), (7, 1, 5));
/// assert_eq!(parse_entry(&buf[..20], 7), Err(Problem::Incomplete));
/// assert!(matches!(parse_entry(&buf, 8), Err(Problem::Bad(_))));
/// ```
///
/// # Errors
/// [`Problem::Incomplete`] if `bytes` ends inside the entry, [`Problem::Bad`]
/// for anything the format forbids (FORMAT.md, "Entries").
pub fn parse_entry(bytes: &[u8], expected: u64) -> Result<Parsed, Problem> {
    let Ok((h, _)) = RecordHeader::read_from_prefix(bytes) else {
        return Err(Problem::Incomplete);
    };
    let (len, kind, flags, seq) = (h.len.get(), h.kind.get(), h.flags.get(), h.seq.get());
    if kind == KIND_INVALID {
        return Err(Problem::Bad("entry kind 0 (not an entry)".into()));
    }
    if flags != 0 {
        return Err(Problem::Bad(format!("entry flags {flags:#x}, must be 0")));
    }
    if len > MAX_PAYLOAD {
        return Err(Problem::Bad(format!(
            "entry length {len} exceeds the largest payload {MAX_PAYLOAD}"
        )));
    }
    let el = entry_len(len);
    if (bytes.len() as u64) < el {
        return Err(Problem::Incomplete);
    }
    let el = el as usize;
    let Ok(t) = Trailer::read_from_bytes(&bytes[el - TRAILER_LEN..el]) else {
        return Err(Problem::Incomplete);
    };
    if t.len_inv.get() != !len {
        return Err(Problem::Bad(format!(
            "trailer says length {}, header {len}",
            !t.len_inv.get()
        )));
    }
    let body = &bytes[..RECORD_HEADER_LEN + len as usize];
    let sum = crc(&[body]);
    if sum != t.crc.get() {
        return Err(Problem::Bad(format!(
            "checksum mismatch: stored {:#010x}, computed {sum:#010x}",
            t.crc.get()
        )));
    }
    if seq == u64::MAX {
        return Err(Problem::Bad("sequence 2^64-1 is never written".into()));
    }
    if seq != expected {
        return Err(Problem::Bad(format!("sequence {seq}, expected {expected}")));
    }
    let mut gap_last = None;
    if kind == KIND_GAP {
        if len != GAP_PAYLOAD_LEN {
            return Err(Problem::Bad(format!(
                "gap entry of {len} payload bytes, must be {GAP_PAYLOAD_LEN}"
            )));
        }
        let last = u64::from_le_bytes(body[RECORD_HEADER_LEN..].try_into().unwrap_or([0; 8]));
        if last < seq || last == u64::MAX {
            return Err(Problem::Bad(format!(
                "gap {seq}..={last} is empty or ends at 2^64-1"
            )));
        }
        gap_last = Some(last);
    }
    Ok(Parsed {
        seq,
        kind,
        len,
        entry_len: el as u64,
        gap_last,
    })
}

/// Appends the entry of a record (or, with `kind` [`KIND_GAP`], a gap whose
/// payload is `last_missed`) to `out`. The caller checks `kind` and `len`.
pub fn encode_entry(out: &mut Vec<u8>, seq: u64, kind: u16, payload: &[u8]) {
    let len = payload.len() as u32;
    let start = out.len();
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4..6].copy_from_slice(&kind.to_le_bytes());
    h[8..].copy_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    // One pass over the header and payload, now contiguous.
    let sum = crc(&[&out[start..]]);
    let padded = start + (entry_len(len) as usize - TRAILER_LEN);
    out.resize(padded, 0);
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
}

/// The block height of a record: the `block_height` prefix of the ring's
/// event payloads (kinds 1 to 6), if it has one.
pub fn record_height(kind: u16, payload: &[u8]) -> Option<u64> {
    if !(1..=6).contains(&kind) {
        return None;
    }
    payload
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}

/// Decides which entries get an index entry (FORMAT.md, "Index files"): the
/// writer and every check use this one rule.
#[derive(Clone, Debug, Default)]
pub struct IndexRule {
    last_offset: Option<u64>,
    height: u64,
}

impl IndexRule {
    /// Sees the entry at `offset`; returns its index entry if it gets one.
    pub fn observe(
        &mut self,
        offset: u64,
        seq: u64,
        kind: u16,
        payload: &[u8],
    ) -> Option<IndexEntry> {
        if let Some(h) = record_height(kind, payload) {
            self.height = h;
        }
        let due = match self.last_offset {
            None => true,
            Some(last) => {
                kind == KIND_BLOCK_BEGIN || kind == KIND_GAP || offset >= last + INDEX_STRIDE
            }
        };
        if !due {
            return None;
        }
        self.last_offset = Some(offset);
        Some(IndexEntry::new(seq, offset, self.height, kind))
    }
}

/// What a scan of a whole segment found.
#[derive(Clone, Debug)]
pub struct Scan {
    /// The segment's header.
    pub header: SegmentHeader,
    /// Entries that are valid, from the first.
    pub entries: u64,
    /// Of which gap entries.
    pub gaps: u64,
    /// Sequence numbers inside gap entries.
    pub missed: u64,
    /// The sequence number after the last valid entry (`base_seq` if none).
    pub end_seq: u64,
    /// Bytes of the valid prefix (header and valid entries).
    pub valid_len: u64,
    /// The index entries the valid prefix should have.
    pub index: Vec<IndexEntry>,
    /// Lowest and highest block height among its records.
    pub heights: Option<(u64, u64)>,
    /// Where the valid prefix stops before the end of the bytes, and why.
    pub stop: Option<(u64, Problem)>,
    /// The index rule's state after the last valid entry (for a writer going on).
    pub rule: IndexRule,
}

/// Checks a segment header.
///
/// # Errors
/// [`JournalError::Truncated`] or [`JournalError::Corrupt`] naming `path`.
pub fn parse_segment_header(bytes: &[u8], path: &Path) -> Result<SegmentHeader, JournalError> {
    let Ok((h, _)) = SegmentHeader::read_from_prefix(bytes) else {
        return Err(JournalError::Truncated {
            path: path.into(),
            offset: 0,
            len: bytes.len() as u64,
            what: "header",
        });
    };
    let bad = |offset: u64, detail: String| JournalError::Corrupt {
        path: path.into(),
        offset,
        detail,
    };
    if h.magic != SEGMENT_MAGIC {
        return Err(bad(
            0,
            format!(
                "magic {:02x?} is not SLIPJSEG: not a journal segment",
                h.magic
            ),
        ));
    }
    if h.version.get() != VERSION {
        return Err(bad(
            8,
            format!("version {}, this build reads {VERSION}", h.version.get()),
        ));
    }
    if h.header_len.get() as usize != SEGMENT_HEADER_LEN {
        return Err(bad(
            12,
            format!(
                "header_len {}, must be {SEGMENT_HEADER_LEN}",
                h.header_len.get()
            ),
        ));
    }
    if !h.crc_ok() {
        return Err(bad(60, "header checksum mismatch".into()));
    }
    Ok(h)
}

/// Scans every entry of the segment in `bytes`, stopping at the first that is
/// not valid (reported in [`Scan::stop`], not as an error: only the caller
/// knows whether the segment is the newest, whose tail may be torn).
///
/// ```
/// use slipstream_journal::format::SegmentHeader;
/// use slipstream_journal::segment::{encode_entry, scan};
/// use zerocopy::IntoBytes;
/// let mut seg = SegmentHeader::new(10, 0, 0).as_bytes().to_vec();
/// encode_entry(&mut seg, 10, 1, b"a");
/// encode_entry(&mut seg, 11, 1, b"b");
/// seg.extend_from_slice(&[1, 2, 3]); // a torn tail
/// let s = scan(&seg, "x.seg".as_ref()).unwrap();
/// assert_eq!((s.entries, s.end_seq), (2, 12));
/// assert!(s.stop.is_some());
/// ```
///
/// # Errors
/// Only for a header that is not valid.
pub fn scan(bytes: &[u8], path: &Path) -> Result<Scan, JournalError> {
    let header = parse_segment_header(bytes, path)?;
    let mut s = Scan {
        header,
        entries: 0,
        gaps: 0,
        missed: 0,
        end_seq: header.base_seq.get(),
        valid_len: SEGMENT_HEADER_LEN as u64,
        index: Vec::new(),
        heights: None,
        stop: None,
        rule: IndexRule::default(),
    };
    let mut rule = IndexRule::default();
    let mut off = SEGMENT_HEADER_LEN;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let e = match parse_entry(rest, s.end_seq) {
            Ok(e) => e,
            Err(p) => {
                s.stop = Some((off as u64, p));
                break;
            }
        };
        let payload = &rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + e.len as usize];
        if let Some(ie) = rule.observe(off as u64, e.seq, e.kind, payload) {
            s.index.push(ie);
        }
        if let Some(last) = e.gap_last {
            s.gaps += 1;
            s.missed += last - e.seq + 1;
        } else if let Some(h) = record_height(e.kind, payload) {
            s.heights = Some(match s.heights {
                None => (h, h),
                Some((lo, hi)) => (lo.min(h), hi.max(h)),
            });
        }
        s.entries += 1;
        s.end_seq = e.next_seq();
        off += e.entry_len as usize;
        s.valid_len = off as u64;
    }
    s.rule = rule;
    Ok(s)
}

/// Parses an index file. For the newest segment (`sealed = false`) a torn or
/// bad last entry ends the list (the writer rebuilds that index when it
/// reopens); otherwise it is an error.
///
/// # Errors
/// [`JournalError::Truncated`] or [`JournalError::Corrupt`] naming `path` and the offset.
pub fn parse_index(
    bytes: &[u8],
    path: &Path,
    base_seq: u64,
    sealed: bool,
) -> Result<Vec<IndexEntry>, JournalError> {
    let bad = |offset: u64, detail: String| JournalError::Corrupt {
        path: path.into(),
        offset,
        detail,
    };
    let Ok((h, _)) = IndexHeader::read_from_prefix(bytes) else {
        return Err(JournalError::Truncated {
            path: path.into(),
            offset: 0,
            len: bytes.len() as u64,
            what: "header",
        });
    };
    if h.magic != INDEX_MAGIC {
        return Err(bad(
            0,
            format!(
                "magic {:02x?} is not SLIPJIDX: not a journal index",
                h.magic
            ),
        ));
    }
    if h.version.get() != VERSION || h.entry_len.get() as usize != INDEX_ENTRY_LEN {
        return Err(bad(
            8,
            format!(
                "version {} / entry_len {}, this build reads {VERSION} / {INDEX_ENTRY_LEN}",
                h.version.get(),
                h.entry_len.get()
            ),
        ));
    }
    if !h.crc_ok() {
        return Err(bad(60, "header checksum mismatch".into()));
    }
    if h.base_seq.get() != base_seq {
        return Err(bad(
            16,
            format!(
                "base_seq {} but the segment's is {base_seq}",
                h.base_seq.get()
            ),
        ));
    }
    let body = &bytes[INDEX_HEADER_LEN..];
    if body.len() % INDEX_ENTRY_LEN != 0 && sealed {
        let offset = (INDEX_HEADER_LEN + body.len() / INDEX_ENTRY_LEN * INDEX_ENTRY_LEN) as u64;
        return Err(JournalError::Truncated {
            path: path.into(),
            offset,
            len: bytes.len() as u64,
            what: "entry",
        });
    }
    let mut out: Vec<IndexEntry> = Vec::with_capacity(body.len() / INDEX_ENTRY_LEN);
    for (i, chunk) in body.chunks_exact(INDEX_ENTRY_LEN).enumerate() {
        let offset = (INDEX_HEADER_LEN + i * INDEX_ENTRY_LEN) as u64;
        let Ok(e) = IndexEntry::read_from_bytes(chunk) else {
            break;
        };
        let problem = if !e.crc_ok() {
            Some("index entry checksum mismatch".to_string())
        } else if e.offset.get() < SEGMENT_HEADER_LEN as u64 || e.offset.get() % 8 != 0 {
            Some(format!(
                "index entry names segment offset {}, not an entry's",
                e.offset.get()
            ))
        } else if let Some(prev) = out.last() {
            (e.seq.get() <= prev.seq.get() || e.offset.get() <= prev.offset.get())
                .then(|| format!("index entry (seq {}, offset {}, height {}) does not follow the one before (seq {}, offset {}, height {})", e.seq.get(), e.offset.get(), e.height.get(), prev.seq.get(), prev.offset.get(), prev.height.get()))
        } else {
            (e.seq.get() != base_seq || e.offset.get() != SEGMENT_HEADER_LEN as u64).then(|| {
                format!(
                    "first index entry (seq {}, offset {}) is not the segment's first entry",
                    e.seq.get(),
                    e.offset.get()
                )
            })
        };
        if let Some(detail) = problem {
            if sealed {
                return Err(bad(offset, detail));
            }
            break;
        }
        out.push(e);
    }
    Ok(out)
}
