//! Reading a journal, also while it is written and while retention deletes
//! its old segments.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use slipstream_ring::Record;
use zerocopy::FromBytes;

use crate::dir::{segments, SegmentFile};
use crate::error::{io, JournalError};
use crate::format::*;
use crate::segment::{parse_entry, parse_index, parse_segment_header, Parsed, Problem};

/// Where a [`JournalReader`] starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalStart {
    /// The journal's first entry.
    Oldest,
    /// The entry holding this sequence number (the journal's next one: wait for it).
    Seq(u64),
    /// The begin marker of the first block at or after this height.
    Height(u64),
}

/// Why sequence numbers are missing from the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapCause {
    /// A gap entry: the recorder never had them (it was lapped by the ring,
    /// or started after they were overwritten).
    Recorded,
    /// The segment holding them was deleted (retention) before this reader got to it.
    Deleted,
}

/// An exact range of sequence numbers the journal does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The first missing.
    pub first_missed: u64,
    /// The last missing (inclusive).
    pub last_missed: u64,
    /// Why.
    pub cause: GapCause,
}

/// What a [`JournalReader`] yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalItem<'a> {
    /// A record, as the ring held it (its payload in the reader's buffer).
    Record(Record<'a>),
    /// Records the journal does not hold.
    Gap(Gap),
}

struct OpenSegment {
    base: u64,
    path: PathBuf,
    file: File,
}

/// A reader of a journal directory: yields records and gaps in sequence order,
/// and, at the end, `None` until the writer appends more.
///
/// A reader whose segment retention deletes goes on reading it through its
/// open file; if the segments after it were deleted too, it reports them as a
/// [`Gap`] with [`GapCause::Deleted`] and goes on at the oldest remaining one.
///
/// ```
/// use slipstream_journal::{JournalItem, JournalReader, JournalStart, JournalWriter, WriterOptions};
/// let dir = std::env::temp_dir().join(format!("doc-reader-{}", std::process::id()));
/// let (mut w, _) = JournalWriter::open(&dir, WriterOptions::default())?;
/// for seq in 1..=3 { w.append(seq, 1, &seq.to_le_bytes())?; }
/// w.flush()?;
/// let mut r = JournalReader::open(&dir, JournalStart::Oldest)?;
/// let mut seen = Vec::new();
/// while let Some(JournalItem::Record(rec)) = r.try_next()? { seen.push(rec.seq); }
/// assert_eq!(seen, [1, 2, 3]);
/// w.append(4, 1, b"more")?;
/// w.flush()?;
/// assert!(matches!(r.try_next()?, Some(JournalItem::Record(rec)) if rec.seq == 4));
/// # drop(w); std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JournalReader {
    dir: PathBuf,
    seg: Option<OpenSegment>,
    /// Sequence number of the next item.
    next_seq: u64,
    /// File offset of the next entry in `seg`.
    pos: u64,
    /// Bytes of `seg` from offset `buf_off`.
    buf: Vec<u8>,
    buf_off: u64,
    pending_gap: Option<Gap>,
    /// Bytes read at a time.
    chunk: usize,
    /// The last record handed out: its start in `buf`, length, kind and seq.
    last: Option<(usize, u32, u16, u64)>,
}

/// Bytes read from a segment at a time.
const READ_CHUNK: usize = 1 << 20;
/// How many times a reader lists the directory again when a segment vanishes
/// between the listing and its opening.
const LIST_ATTEMPTS: u32 = 16;

impl JournalReader {
    /// Opens a reader of the journal in `dir` at `start`.
    ///
    /// # Errors
    /// [`JournalError::Empty`] for a journal with no segment,
    /// [`JournalError::NotRetained`] for a position older than the journal (it
    /// names the oldest sequence number and block height it holds),
    /// [`JournalError::InFuture`] beyond its end, and corruption of the files
    /// the seek reads (naming the file and offset).
    pub fn open(dir: impl AsRef<Path>, start: JournalStart) -> Result<Self, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let mut r = JournalReader {
            dir,
            seg: None,
            next_seq: 0,
            pos: 0,
            buf: Vec::new(),
            buf_off: 0,
            pending_gap: None,
            chunk: READ_CHUNK,
            last: None,
        };
        r.seek(start)?;
        Ok(r)
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sequence number of the next item this reader yields.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The record the last [`try_next`](Self::try_next) returned, if it returned one.
    pub fn current(&self) -> Option<Record<'_>> {
        let (start, len, kind, seq) = self.last?;
        Some(Record {
            seq,
            kind,
            payload: &self.buf[start..start + len as usize],
        })
    }

    /// Moves the reader.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn seek(&mut self, start: JournalStart) -> Result<(), JournalError> {
        for _ in 0..LIST_ATTEMPTS {
            let segs = segments(&self.dir)?;
            let Some(first) = segs.first() else {
                return Err(JournalError::Empty(self.dir.clone()));
            };
            let found = match start {
                JournalStart::Oldest => self.position_seq(&segs, 0, first.base),
                JournalStart::Seq(n) => {
                    if n < first.base {
                        return Err(self.not_retained(&segs, format!("sequence {n}")));
                    }
                    let i = segs.partition_point(|s| s.base <= n) - 1;
                    self.position_seq(&segs, i, n)
                }
                JournalStart::Height(h) => self.position_height(&segs, h),
            };
            match found {
                Err(JournalError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue
                }
                other => return other,
            }
        }
        Err(JournalError::Io {
            op: "seek",
            path: self.dir.clone(),
            source: std::io::Error::other("segments kept vanishing while seeking (retention deleting them faster than the seek)"),
        })
    }

    fn not_retained(&self, segs: &[SegmentFile], requested: String) -> JournalError {
        JournalError::NotRetained {
            dir: self.dir.clone(),
            requested,
            oldest_seq: segs.first().map_or(0, |s| s.base),
            oldest_height: oldest_height(segs).ok().flatten(),
        }
    }

    fn open_segment(&mut self, s: &SegmentFile) -> Result<(), JournalError> {
        let file = File::open(&s.path).map_err(io("open", &s.path))?;
        let mut h = [0u8; SEGMENT_HEADER_LEN];
        let n = read_full(&file, &mut h, 0).map_err(io("read", &s.path))?;
        let header = parse_segment_header(&h[..n], &s.path)?;
        if header.base_seq.get() != s.base {
            return Err(JournalError::Corrupt {
                path: s.path.clone(),
                offset: 16,
                detail: format!(
                    "base_seq {} differs from the file's name",
                    header.base_seq.get()
                ),
            });
        }
        self.seg = Some(OpenSegment {
            base: s.base,
            path: s.path.clone(),
            file,
        });
        self.buf.clear();
        self.buf_off = SEGMENT_HEADER_LEN as u64;
        self.pos = SEGMENT_HEADER_LEN as u64;
        Ok(())
    }

    /// Positions the reader on the entry of segment `segs[i]` that holds `n`.
    fn position_seq(&mut self, segs: &[SegmentFile], i: usize, n: u64) -> Result<(), JournalError> {
        let s = &segs[i];
        let sealed = i + 1 < segs.len();
        let index = read_index(s, sealed)?;
        self.open_segment(s)?;
        let k = index.partition_point(|e| e.seq.get() <= n);
        let (mut seq, off) = match k {
            0 => (s.base, SEGMENT_HEADER_LEN as u64),
            k => (index[k - 1].seq.get(), index[k - 1].offset.get()),
        };
        self.pos = off;
        self.buf_off = off;
        self.next_seq = seq;
        // Walk the few entries from the index entry to `n`.
        loop {
            match self.parse_here()? {
                Some(e) if e.next_seq() <= n => {
                    self.pos += e.entry_len;
                    seq = e.next_seq();
                    self.next_seq = seq;
                }
                Some(e) => {
                    if let Some(last) = e.gap_last {
                        // `n` is inside a recorded gap: report the rest of it.
                        self.pending_gap = Some(Gap {
                            first_missed: n,
                            last_missed: last,
                            cause: GapCause::Recorded,
                        });
                        self.pos += e.entry_len;
                    }
                    self.next_seq = n;
                    return Ok(());
                }
                None => {
                    // The end of this segment's entries, before `n`.
                    if !sealed {
                        if n == seq {
                            return Ok(());
                        }
                        return Err(JournalError::InFuture {
                            dir: self.dir.clone(),
                            requested: n,
                            next: seq,
                        });
                    }
                    // Between this segment's end and the next one's base: the
                    // next read reports the hole.
                    self.next_seq = n.max(seq);
                    return Ok(());
                }
            }
        }
    }

    fn position_height(&mut self, segs: &[SegmentFile], h: u64) -> Result<(), JournalError> {
        if oldest_height(segs)?.is_some_and(|o| o > h) {
            return Err(self.not_retained(segs, format!("block height {h}")));
        }
        // Binary search over segments for the last whose first indexed height
        // is below h (block h begins in it or later): O(log S) index files read.
        let probe = |i: usize| -> Result<Option<u64>, JournalError> {
            let idx = read_index(&segs[i], i + 1 < segs.len())?;
            Ok(idx.first().map(|e| e.height.get()))
        };
        let (mut lo, mut hi) = (0usize, segs.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match probe(mid)? {
                Some(fh) if fh < h => lo = mid + 1,
                _ => hi = mid,
            }
        }
        // Then a binary search in its index (heights never decrease), going on
        // to the next segment if the block begins there.
        for (i, s) in segs.iter().enumerate().skip(lo.saturating_sub(1)) {
            let idx = read_index(s, i + 1 < segs.len())?;
            let from = idx.partition_point(|e| e.height.get() < h);
            if let Some(e) = idx[from..]
                .iter()
                .find(|e| e.kind.get() == KIND_BLOCK_BEGIN && e.height.get() >= h)
            {
                self.open_segment(s)?;
                self.pos = e.offset.get();
                self.buf_off = self.pos;
                self.next_seq = e.seq.get();
                return Ok(());
            }
        }
        Err(JournalError::NotRetained {
            dir: self.dir.clone(),
            requested: format!("block height {h} (not recorded yet: newer than the journal)"),
            oldest_seq: segs.first().map_or(0, |s| s.base),
            oldest_height: oldest_height(segs).ok().flatten(),
        })
    }

    /// Makes at least `need` bytes from `pos` available in `buf` if the file
    /// has them; returns how many bytes `buf` holds from `pos`.
    fn fill(&mut self, need: usize) -> Result<usize, JournalError> {
        let Some(seg) = &self.seg else { return Ok(0) };
        if self.pos < self.buf_off || self.pos > self.buf_off + self.buf.len() as u64 {
            self.buf.clear();
            self.buf_off = self.pos;
        }
        let at = (self.pos - self.buf_off) as usize;
        if self.buf.len() - at >= need {
            return Ok(self.buf.len() - at);
        }
        // Keep only what is not consumed, then read more after it.
        self.buf.drain(..at);
        self.buf_off = self.pos;
        // Never more than the file holds (a corrupt length may claim 1 GiB).
        let file_len = seg.file.metadata().map_err(io("fstat", &seg.path))?.len();
        while self.buf.len() < need {
            let have = self.buf.len();
            let left = file_len.saturating_sub(self.buf_off + have as u64);
            let want = (need.max(self.chunk) - have).min(left as usize);
            if want == 0 {
                break;
            }
            self.buf.resize(have + want, 0);
            let n = read_full(&seg.file, &mut self.buf[have..], self.buf_off + have as u64)
                .map_err(io("read", &seg.path));
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(have);
                    return Err(e);
                }
            };
            self.buf.truncate(have + n);
            if n < want {
                break; // end of file
            }
        }
        Ok(self.buf.len())
    }

    /// Parses the entry at `pos` if it is whole and valid. `None`: the bytes
    /// end before it, or it is not valid (see [`Self::problem_here`]).
    fn parse_here(&mut self) -> Result<Option<Parsed>, JournalError> {
        let have = self.fill(RECORD_HEADER_LEN)?;
        if have < RECORD_HEADER_LEN {
            return Ok(None);
        }
        let at = (self.pos - self.buf_off) as usize;
        if let Ok((h, _)) = RecordHeader::read_from_prefix(&self.buf[at..]) {
            if h.len.get() <= MAX_PAYLOAD {
                let want = entry_len(h.len.get()) as usize;
                if have < want {
                    self.fill(want)?;
                }
            }
        }
        let at = (self.pos - self.buf_off) as usize;
        Ok(parse_entry(&self.buf[at..], self.next_seq).ok())
    }

    fn problem_here(&mut self) -> Result<Problem, JournalError> {
        self.buf.clear();
        self.buf_off = self.pos;
        let have = self.fill(RECORD_HEADER_LEN)?;
        if have < RECORD_HEADER_LEN {
            return Ok(Problem::Incomplete);
        }
        let mut want = RECORD_HEADER_LEN;
        if let Ok((h, _)) = RecordHeader::read_from_prefix(&self.buf[..]) {
            want = entry_len(h.len.get().min(MAX_PAYLOAD)) as usize;
        }
        self.fill(want)?;
        Ok(match parse_entry(&self.buf, self.next_seq) {
            Ok(_) => return Ok(Problem::Bad(String::new())), // valid now: the caller reads it
            Err(p) => p,
        })
    }

    /// Whether the writer has finished the current segment: a segment after
    /// it exists, or it was deleted (retention deletes only finished ones).
    fn sealed(&self) -> Result<bool, JournalError> {
        let Some(seg) = &self.seg else {
            return Ok(true);
        };
        // (A segment's own name is its first sequence number: at its start,
        // `next_seq` names the segment itself, not a newer one.)
        if self.next_seq > seg.base && self.dir.join(segment_name(self.next_seq)).exists() {
            return Ok(true);
        }
        let meta = seg.file.metadata().map_err(io("fstat", &seg.path))?;
        if meta.nlink() == 0 {
            return Ok(true);
        }
        // A segment after this one with another base (those between deleted).
        Ok(segments(&self.dir)?.iter().any(|s| s.base > seg.base))
    }

    /// Opens the segment that holds `next_seq` (or the oldest after it,
    /// reporting the hole as a gap). `false`: there is none yet.
    fn next_segment(&mut self) -> Result<bool, JournalError> {
        for _ in 0..LIST_ATTEMPTS {
            let segs = segments(&self.dir)?;
            let cur = self.seg.as_ref().map(|s| s.base);
            let Some(s) = segs
                .iter()
                .find(|s| s.base >= self.next_seq && cur.is_none_or(|c| s.base > c))
            else {
                return Ok(false);
            };
            match self.open_segment(s) {
                Err(JournalError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue
                }
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            if s.base > self.next_seq {
                self.pending_gap = Some(Gap {
                    first_missed: self.next_seq,
                    last_missed: s.base - 1,
                    cause: GapCause::Deleted,
                });
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// The next record or gap, or `None` if the reader is at the journal's end
    /// for now.
    ///
    /// # Errors
    /// A finished segment that is truncated or holds an invalid entry
    /// ([`JournalError::Truncated`], [`JournalError::Corrupt`], naming the file
    /// and offset); I/O errors. An invalid entry at the end of the newest
    /// segment is not an error: it is being written, or is a torn tail that the
    /// writer cuts off when it reopens the journal; the reader waits there.
    pub fn try_next(&mut self) -> Result<Option<JournalItem<'_>>, JournalError> {
        self.last = None;
        loop {
            if let Some(g) = self.pending_gap.take() {
                self.next_seq = g.last_missed + 1;
                return Ok(Some(JournalItem::Gap(g)));
            }
            if self.seg.is_none() {
                if !self.next_segment()? {
                    return Ok(None);
                }
                continue;
            }
            if let Some(e) = self.parse_here()? {
                return Ok(Some(self.take(e)));
            }
            if !self.sealed()? {
                // Drop what was read: the writer may be writing it now.
                self.buf.clear();
                self.buf_off = self.pos;
                return Ok(None);
            }
            // Finished: the bytes there now are final.
            let problem = self.problem_here()?;
            if let Problem::Bad(d) = &problem {
                if d.is_empty() {
                    continue; // it was completed before the segment was: read it
                }
            }
            let seg = self.seg.as_ref().expect("segment open");
            let len = seg.file.metadata().map_err(io("fstat", &seg.path))?.len();
            match problem {
                Problem::Incomplete if self.pos == len => {
                    // The end of a finished segment: go on with the next.
                    if !self.next_segment()? {
                        return Ok(None);
                    }
                }
                Problem::Incomplete => {
                    return Err(JournalError::Truncated {
                        path: seg.path.clone(),
                        offset: self.pos,
                        len,
                        what: "entry",
                    })
                }
                Problem::Bad(detail) => {
                    return Err(JournalError::Corrupt {
                        path: seg.path.clone(),
                        offset: self.pos,
                        detail,
                    })
                }
            }
        }
    }

    fn take(&mut self, e: Parsed) -> JournalItem<'_> {
        let at = (self.pos - self.buf_off) as usize;
        self.pos += e.entry_len;
        self.next_seq = e.next_seq();
        if let Some(last) = e.gap_last {
            return JournalItem::Gap(Gap {
                first_missed: e.seq,
                last_missed: last,
                cause: GapCause::Recorded,
            });
        }
        let start = at + RECORD_HEADER_LEN;
        self.last = Some((start, e.len, e.kind, e.seq));
        JournalItem::Record(Record {
            seq: e.seq,
            kind: e.kind,
            payload: &self.buf[start..start + e.len as usize],
        })
    }
}

impl std::fmt::Debug for JournalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalReader")
            .field("dir", &self.dir)
            .field("next_seq", &self.next_seq)
            .field("segment", &self.seg.as_ref().map(|s| s.base))
            .field("offset", &self.pos)
            .finish_non_exhaustive()
    }
}

/// Reads `buf.len()` bytes at `offset`, fewer only at the end of the file.
fn read_full(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The index entries of a segment (see [`parse_index`]).
pub(crate) fn read_index(s: &SegmentFile, sealed: bool) -> Result<Vec<IndexEntry>, JournalError> {
    let bytes = std::fs::read(&s.index_path).map_err(io("read index", &s.index_path))?;
    parse_index(&bytes, &s.index_path, s.base, sealed)
}

/// The height of the oldest block begin marker the journal's index holds.
pub(crate) fn oldest_height(segs: &[SegmentFile]) -> Result<Option<u64>, JournalError> {
    for (i, s) in segs.iter().enumerate() {
        let idx = read_index(s, i + 1 < segs.len())?;
        if let Some(e) = idx.iter().find(|e| e.kind.get() == KIND_BLOCK_BEGIN) {
            return Ok(Some(e.height.get()));
        }
    }
    Ok(None)
}
