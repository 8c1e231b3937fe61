//! `verify` (every checksum, every index entry, the sequence across segments)
//! and `summary` (ranges, from the indexes: cheap).

use std::path::{Path, PathBuf};

use crate::dir::{segments, SegmentFile};
use crate::error::{io, JournalError};
use crate::format::*;
use crate::reader::read_index;
use crate::segment::{parse_entry, parse_segment_header, scan, Problem};

/// What [`verify`] checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files.
    pub segments: u64,
    /// Entries (records and gaps).
    pub entries: u64,
    /// Gap entries.
    pub gaps: u64,
    /// Sequence numbers inside gap entries.
    pub missed: u64,
    /// Bytes of segment files.
    pub bytes: u64,
    /// First sequence number, and the one after the last.
    pub range: Option<(u64, u64)>,
    /// The newest segment ends inside an entry (file, offset, why): a torn
    /// tail, which the writer cuts off when it reopens the journal (or an
    /// entry being written, if a recorder is running).
    pub torn_tail: Option<(PathBuf, u64, String)>,
}

/// Checks the whole journal in `dir`: every segment's header, every entry's
/// checksum and sequence number, that each segment begins where the previous
/// one ends, and that every index holds exactly the entries the format says.
///
/// # Errors
/// The first problem found, naming the file and the offset
/// ([`JournalError::Corrupt`], [`JournalError::Truncated`],
/// [`JournalError::Discontinuous`]).
pub fn verify(dir: impl AsRef<Path>) -> Result<VerifyReport, JournalError> {
    let dir = dir.as_ref();
    let segs = segments(dir)?;
    let mut r = VerifyReport::default();
    let mut expected: Option<u64> = None;
    for (i, s) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let bytes = std::fs::read(&s.path).map_err(io("read", &s.path))?;
        let sc = scan(&bytes, &s.path)?;
        if sc.header.base_seq.get() != s.base {
            return Err(JournalError::Corrupt {
                path: s.path.clone(),
                offset: 16,
                detail: format!(
                    "base_seq {} differs from the file's name",
                    sc.header.base_seq.get()
                ),
            });
        }
        if let Some(e) = expected {
            if s.base != e {
                return Err(JournalError::Discontinuous {
                    path: s.path.clone(),
                    base: s.base,
                    expected: e,
                });
            }
        }
        if let Some((offset, problem)) = sc.stop.clone() {
            match (last, problem) {
                (true, p) => {
                    let why = match p {
                        Problem::Incomplete => "the file ends inside the entry".into(),
                        Problem::Bad(d) => d,
                    };
                    r.torn_tail = Some((s.path.clone(), offset, why));
                }
                (false, Problem::Incomplete) => {
                    return Err(JournalError::Truncated {
                        path: s.path.clone(),
                        offset,
                        len: bytes.len() as u64,
                        what: "entry",
                    })
                }
                (false, Problem::Bad(detail)) => {
                    return Err(JournalError::Corrupt {
                        path: s.path.clone(),
                        offset,
                        detail,
                    })
                }
            }
        }
        let idx = read_index(s, !last)?;
        let exact = if last && r.torn_tail.is_none() {
            // A running writer may not have written the newest entries' index yet.
            sc.index.starts_with(&idx)
        } else if last {
            sc.index.starts_with(&idx) || idx.starts_with(&sc.index)
        } else {
            sc.index == idx
        };
        if !exact {
            let k = sc
                .index
                .iter()
                .zip(&idx)
                .take_while(|(a, b)| a == b)
                .count();
            return Err(JournalError::Corrupt {
                path: s.index_path.clone(),
                offset: (INDEX_HEADER_LEN + k * INDEX_ENTRY_LEN) as u64,
                detail: format!(
                    "index entry {k} does not match the segment (the segment's entries call for {} index entries, the file has {})",
                    sc.index.len(),
                    idx.len()
                ),
            });
        }
        r.segments += 1;
        r.entries += sc.entries;
        r.gaps += sc.gaps;
        r.missed += sc.missed;
        r.bytes += bytes.len() as u64;
        r.range = Some((r.range.map_or(s.base, |(a, _)| a), sc.end_seq));
        expected = Some(sc.end_seq);
    }
    Ok(r)
}

/// One segment as [`summary`] describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Its file.
    pub path: PathBuf,
    /// Its first sequence number.
    pub base: u64,
    /// The sequence number after its last entry.
    pub end: u64,
    /// Heights of the first and last block begin markers it holds.
    pub heights: Option<(u64, u64)>,
    /// Its bytes.
    pub bytes: u64,
    /// Its index entries.
    pub index_entries: u64,
}

/// A journal's extent, from its indexes and the newest segment's tail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The segments, oldest first.
    pub segments: Vec<SegmentSummary>,
}

impl Summary {
    /// The oldest sequence number held (or reported as a gap).
    pub fn first_seq(&self) -> Option<u64> {
        self.segments.first().map(|s| s.base)
    }

    /// The sequence number the next entry will carry.
    pub fn next_seq(&self) -> Option<u64> {
        self.segments.last().map(|s| s.end)
    }

    /// The height of the oldest block begin marker held.
    pub fn oldest_height(&self) -> Option<u64> {
        self.segments.iter().find_map(|s| s.heights.map(|h| h.0))
    }

    /// The height of the newest block begin marker held.
    pub fn newest_height(&self) -> Option<u64> {
        self.segments
            .iter()
            .rev()
            .find_map(|s| s.heights.map(|h| h.1))
    }

    /// Bytes of all segments.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }
}

/// Describes the journal in `dir` without reading its segments whole: each
/// sealed segment ends where the next begins; the newest is read from its
/// last index entry on.
///
/// # Errors
/// Corrupt or unreadable index or segment headers, naming the file and offset.
pub fn summary(dir: impl AsRef<Path>) -> Result<Summary, JournalError> {
    let segs = segments(dir.as_ref())?;
    let mut out = Summary::default();
    for (i, s) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let idx = read_index(s, !last)?;
        let begins: Vec<u64> = idx
            .iter()
            .filter(|e| e.kind.get() == KIND_BLOCK_BEGIN)
            .map(|e| e.height.get())
            .collect();
        let end = match segs.get(i + 1) {
            Some(next) => next.base,
            None => tail_end(s, idx.last().map(|e| (e.seq.get(), e.offset.get())))?,
        };
        out.segments.push(SegmentSummary {
            path: s.path.clone(),
            base: s.base,
            end,
            heights: begins.first().map(|&f| (f, *begins.last().unwrap_or(&f))),
            bytes: s.len,
            index_entries: idx.len() as u64,
        });
    }
    Ok(out)
}

/// The sequence number after the newest segment's last valid entry, walking
/// from its last index entry.
fn tail_end(s: &SegmentFile, from: Option<(u64, u64)>) -> Result<u64, JournalError> {
    let bytes = std::fs::read(&s.path).map_err(io("read", &s.path))?;
    let h = parse_segment_header(&bytes, &s.path)?;
    let (mut seq, mut off) = from.unwrap_or((h.base_seq.get(), SEGMENT_HEADER_LEN as u64));
    while let Some(rest) = bytes.get(off as usize..) {
        match parse_entry(rest, seq) {
            Ok(e) => {
                seq = e.next_seq();
                off += e.entry_len;
            }
            Err(_) => break,
        }
    }
    Ok(seq)
}
