//! The journal's one writer: appends entries to the newest segment, rolls to
//! a new one when it is full, applies the fsync policy and retention, and on
//! open truncates a torn tail by checksum.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime};

use zerocopy::IntoBytes;

use crate::dir::{segments, sync_dir};
use crate::error::{io, JournalError};
use crate::format::*;
use crate::segment::{encode_entry, parse_index, scan, IndexRule, Problem};
use slipstream_units::UnitsError;

/// When the writer makes what it wrote durable (`fsync`), and what a crash
/// can lose. A crash of the writer's *process* (SIGKILL included) loses only
/// what it had not yet handed to the kernel (at most [`WRITE_CHUNK`] bytes,
/// or what came since the last [`JournalWriter::flush`]); a recorder reads
/// those events again from the ring when it restarts, if the ring still holds
/// them. The policies differ in what a crash of the *machine* (power loss,
/// kernel panic) can lose:
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fsync {
    /// Never: the kernel writes back when it chooses (Linux: dirty pages
    /// older than `vm.dirty_expire_centisecs`, 30 s by default). A machine
    /// crash can lose the last ~30 s or more, in any segment not yet written
    /// back; the journal's newest segment may then end early or be torn
    /// (truncated by checksum on reopen).
    Never,
    /// When a segment is full: it and its index are fsynced before the next
    /// segment is created (and the directory after). A machine crash loses at
    /// most the newest segment's entries (up to the segment size).
    #[default]
    Segment,
    /// Every so long: the newest segment and its index are fdatasynced at most
    /// this long after an entry was written to them (checked at each flush),
    /// plus everything `Segment` does. A machine crash loses at most the last
    /// interval of entries (and what was not yet flushed).
    Interval(Duration),
}

impl FromStr for Fsync {
    type Err = ParseError;
    /// `never`, `segment`, or `interval:DURATION` (`interval:100ms`, `interval:1s`).
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "never" => Ok(Fsync::Never),
            "segment" => Ok(Fsync::Segment),
            _ => {
                let Some(d) = s.strip_prefix("interval:") else {
                    return Err(ParseError::Fsync { text: s.to_owned() });
                };
                parse_duration(d).map(Fsync::Interval)
            }
        }
    }
}

/// Text that is not a duration, a size, a retention or an fsync policy;
/// each variant names the text and what would have been accepted.
///
/// ```
/// use slipstream_journal::{parse_size, ParseError};
/// assert!(matches!(parse_size("two MiB"), Err(ParseError::NotANumber { what: "size", .. })));
/// assert_eq!(
///     parse_size("2XiB").unwrap_err().to_string(),
///     r#""2XiB": unit "XiB" must be B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB (any case, all 1024-based)"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text does not start with a whole number (empty, signed, or a
    /// fraction such as `1.5s`).
    #[error("{text:?} is not a {what} such as {example}")]
    NotANumber {
        /// `"duration"` or `"size"`.
        what: &'static str,
        /// The text given.
        text: String,
        /// Examples of what is accepted.
        example: &'static str,
    },
    /// The unit after the number is not one of `valid` (or a duration other
    /// than 0 has none: `unit` is then empty).
    #[error("{text:?}: unit {unit:?} must be {valid}")]
    UnknownUnit {
        /// The text given.
        text: String,
        /// The unit given.
        unit: String,
        /// The units accepted.
        valid: &'static str,
    },
    /// The value does not fit in 64 bits (of nanoseconds or bytes).
    #[error("{text:?} is too {what}")]
    TooLarge {
        /// `"long"` (a duration) or `"large"` (a size).
        what: &'static str,
        /// The text given.
        text: String,
    },
    /// A retention that is neither a size nor an age.
    #[error("{text:?} is neither a size (50GiB) nor an age (7d)")]
    Retention {
        /// The text given.
        text: String,
    },
    /// An fsync policy that is not `never`, `segment` or `interval:DURATION`.
    #[error("{text:?} is not never, segment or interval:DURATION")]
    Fsync {
        /// The text given.
        text: String,
    },
}

/// Parses `500ms`, `2s`, `10us`, `5m`, `7d`, a bare `0`: the grammar of
/// [`slipstream_units::parse_duration`] that every Slipstream tool reads
/// (units ns, us/µs, ms, s, m, h, d).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(slipstream_journal::parse_duration("7d").unwrap(), Duration::from_secs(7 * 86400));
/// assert_eq!(slipstream_journal::parse_duration("200 µs").unwrap(), Duration::from_micros(200));
/// assert!(slipstream_journal::parse_duration("7").is_err());
/// ```
///
/// # Errors
/// [`ParseError::NotANumber`] (no whole number first: `1.5s` is one),
/// [`ParseError::UnknownUnit`] (also a number other than 0 with no unit) or
/// [`ParseError::TooLarge`] (more than `u64::MAX` nanoseconds).
pub fn parse_duration(s: &str) -> Result<Duration, ParseError> {
    slipstream_units::parse_duration(s).map_err(ParseError::from)
}

/// Parses `50GiB`, `512MiB`, `64mb`, `4096`: the grammar of
/// [`slipstream_units::parse_size`] that every Slipstream tool reads (units
/// B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, any case, all powers of 1024).
///
/// ```
/// assert_eq!(slipstream_journal::parse_size("2MiB").unwrap(), 2 << 20);
/// assert_eq!(slipstream_journal::parse_size("64kb").unwrap(), 64 << 10);
/// ```
///
/// # Errors
/// [`ParseError::NotANumber`], [`ParseError::UnknownUnit`] or
/// [`ParseError::TooLarge`] (more than `u64::MAX` bytes).
pub fn parse_size(s: &str) -> Result<u64, ParseError> {
    slipstream_units::parse_size(s).map_err(ParseError::from)
}

/// The shared grammar's errors as the journal's own variants (which callers
/// match on), each still naming the text given.
impl From<UnitsError> for ParseError {
    fn from(e: UnitsError) -> ParseError {
        let duration = |what: &str| what == "duration";
        match e {
            UnitsError::NotANumber { what, text } => ParseError::NotANumber {
                what,
                text,
                example: if duration(what) {
                    "100ms, 2s, 7d"
                } else {
                    "512MiB or 50GiB"
                },
            },
            UnitsError::UnknownUnit {
                text, unit, valid, ..
            } => ParseError::UnknownUnit { text, unit, valid },
            UnitsError::MissingUnit { text, valid, .. } => ParseError::UnknownUnit {
                text,
                unit: String::new(),
                valid,
            },
            UnitsError::TooLarge { what, text } => ParseError::TooLarge {
                what: if duration(what) { "long" } else { "large" },
                text,
            },
        }
    }
}

/// What the journal keeps. Whole segments are deleted, oldest first, never
/// the newest (the one being written).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Delete old segments while all segments together exceed this many bytes.
    pub max_bytes: Option<u64>,
    /// Delete segments last written longer ago than this.
    pub max_age: Option<Duration>,
}

impl FromStr for Retention {
    type Err = ParseError;
    /// A size (`50GiB`) or an age (`7d`, `12h`). `m` is minutes here, as it
    /// always was (a size in mebibytes is `M` or `MiB`); a bare number is bytes.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bare_number = s.trim().bytes().all(|b| b.is_ascii_digit());
        if let (false, Ok(d)) = (bare_number, parse_duration(s)) {
            return Ok(Retention {
                max_bytes: None,
                max_age: Some(d),
            });
        }
        if let Ok(b) = parse_size(s) {
            return Ok(Retention {
                max_bytes: Some(b),
                max_age: None,
            });
        }
        parse_duration(s)
            .map(|d| Retention {
                max_bytes: None,
                max_age: Some(d),
            })
            .map_err(|_| ParseError::Retention { text: s.to_owned() })
    }
}

/// Options of a [`JournalWriter`].
#[derive(Clone, Copy, Debug)]
pub struct WriterOptions {
    /// A segment is closed and a new one begun once it would exceed this
    /// many bytes (a single larger entry gets a segment of its own). Default 64 MiB.
    pub segment_bytes: u64,
    /// When to fsync.
    pub fsync: Fsync,
    /// What to keep.
    pub retention: Retention,
    /// `ring_id` written into new segments' headers (informative).
    pub ring_id: u64,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            segment_bytes: 64 << 20,
            fsync: Fsync::default(),
            retention: Retention::default(),
            ring_id: 0,
        }
    }
}

/// Bytes buffered before they are written to the segment file.
pub const WRITE_CHUNK: usize = 1 << 20;

/// What [`JournalWriter::open`] found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The sequence number the next entry must carry (`None`: empty journal).
    pub next_seq: Option<u64>,
    /// A torn tail cut off: the file, the offset it was cut at, the bytes
    /// dropped, and why the entry there was not valid.
    pub truncated: Option<(PathBuf, u64, u64, String)>,
    /// Segment files removed because they held not even a whole header (a
    /// crash while one was being created).
    pub removed: Vec<PathBuf>,
}

struct Active {
    base: u64,
    path: PathBuf,
    idx_path: PathBuf,
    file: File,
    idx: File,
    /// Bytes of the segment file written to the kernel.
    len: u64,
    idx_len: u64,
    rule: IndexRule,
    /// Bytes written since the last fsync.
    dirty: bool,
    last_sync: Instant,
}

/// The one writer of a journal directory (an exclusive `flock` on `DIR/LOCK`
/// keeps out a second).
///
/// ```
/// use slipstream_journal::{JournalReader, JournalStart, JournalWriter, JournalItem, WriterOptions};
/// let dir = std::env::temp_dir().join(format!("doc-journal-{}", std::process::id()));
/// let (mut w, recovery) = JournalWriter::open(&dir, WriterOptions::default())?;
/// assert_eq!(recovery.next_seq, None);
/// w.append(1, 5, b"begin")?;
/// w.append_gap(2, 9)?; // the recorder was lapped: 2..=9 are not here
/// w.append(10, 1, b"event")?;
/// w.flush()?;
/// let mut r = JournalReader::open(&dir, JournalStart::Seq(10))?;
/// assert!(matches!(r.try_next()?, Some(JournalItem::Record(rec)) if rec.payload == b"event"));
/// # drop(w); std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JournalWriter {
    dir: PathBuf,
    opts: WriterOptions,
    _lock: nix::fcntl::Flock<File>,
    active: Option<Active>,
    next_seq: Option<u64>,
    wbuf: Vec<u8>,
    ibuf: Vec<u8>,
    /// A write failed: nothing more is accepted.
    failed: bool,
}

impl JournalWriter {
    /// Opens (or creates) the journal in `dir` for writing. A torn tail of the
    /// newest segment (an entry that does not pass its checks) is cut off, and
    /// that segment's index rebuilt from its entries.
    ///
    /// # Errors
    /// [`JournalError::Locked`] if another writer holds it; corruption of the
    /// newest segment's header; I/O errors.
    pub fn open(
        dir: impl AsRef<Path>,
        opts: WriterOptions,
    ) -> Result<(Self, Recovery), JournalError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
        let lock_path = dir.join("LOCK");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        let lock =
            match nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                Ok(l) => l,
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Err(JournalError::Locked(dir)),
                Err((_, e)) => {
                    return Err(JournalError::Io {
                        op: "flock",
                        path: lock_path,
                        source: e.into(),
                    })
                }
            };
        // Leftovers of a creation a crash interrupted.
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let n = e.file_name();
                let n = n.to_string_lossy();
                if n.starts_with('.') && n.ends_with(".tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let mut w = JournalWriter {
            dir,
            opts,
            _lock: lock,
            active: None,
            next_seq: None,
            wbuf: Vec::with_capacity(WRITE_CHUNK + 4096),
            ibuf: Vec::new(),
            failed: false,
        };
        let recovery = w.recover()?;
        w.apply_retention()?;
        Ok((w, recovery))
    }

    fn recover(&mut self) -> Result<Recovery, JournalError> {
        let mut rec = Recovery::default();
        loop {
            let segs = segments(&self.dir)?;
            let Some(last) = segs.last() else {
                return Ok(rec);
            };
            let bytes = std::fs::read(&last.path).map_err(io("read", &last.path))?;
            let torn_header = bytes.len() < SEGMENT_HEADER_LEN
                || bytes[..SEGMENT_HEADER_LEN].iter().all(|&b| b == 0);
            if torn_header {
                // Created by a rename of a whole header, so only a machine
                // crash (fsync never) leaves this: it held nothing.
                std::fs::remove_file(&last.path).map_err(io("remove", &last.path))?;
                let _ = std::fs::remove_file(&last.index_path);
                rec.removed.push(last.path.clone());
                continue;
            }
            let s = scan(&bytes, &last.path)?;
            if s.header.base_seq.get() != last.base {
                return Err(JournalError::Corrupt {
                    path: last.path.clone(),
                    offset: 16,
                    detail: format!(
                        "base_seq {} differs from the file's name",
                        s.header.base_seq.get()
                    ),
                });
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&last.path)
                .map_err(io("open", &last.path))?;
            if let Some((off, problem)) = &s.stop {
                let why = match problem {
                    Problem::Incomplete => "the file ends inside the entry".to_string(),
                    Problem::Bad(d) => d.clone(),
                };
                file.set_len(s.valid_len)
                    .map_err(io("truncate torn tail of", &last.path))?;
                file.sync_all().map_err(io("fsync", &last.path))?;
                tracing::warn!(file = %last.path.display(), offset = off, dropped = bytes.len() as u64 - s.valid_len, reason = %why, "truncated a torn tail");
                rec.truncated = Some((
                    last.path.clone(),
                    *off,
                    bytes.len() as u64 - s.valid_len,
                    why,
                ));
            }
            // Rebuild the newest index from the entries: it may lag or be torn.
            let mut idx_bytes = IndexHeader::new(last.base).as_bytes().to_vec();
            for e in &s.index {
                idx_bytes.extend_from_slice(e.as_bytes());
            }
            let tmp = self.dir.join(format!(".{}.tmp", index_name(last.base)));
            write_new(&tmp, &idx_bytes, true)?;
            std::fs::rename(&tmp, &last.index_path).map_err(io("rename", &last.index_path))?;
            let idx = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&last.index_path)
                .map_err(io("open", &last.index_path))?;
            // Check the previous segment's index is whole (a machine crash with
            // fsync never could have cut it): rebuild it too if not.
            if segs.len() >= 2 {
                self.repair_sealed_index(&segs[segs.len() - 2])?;
            }
            self.active = Some(Active {
                base: last.base,
                path: last.path.clone(),
                idx_path: last.index_path.clone(),
                file,
                idx,
                len: s.valid_len,
                idx_len: idx_bytes.len() as u64,
                rule: s.rule,
                dirty: false,
                last_sync: Instant::now(),
            });
            self.next_seq = Some(s.end_seq);
            rec.next_seq = Some(s.end_seq);
            return Ok(rec);
        }
    }

    fn repair_sealed_index(&self, seg: &crate::dir::SegmentFile) -> Result<(), JournalError> {
        let ok = std::fs::read(&seg.index_path)
            .ok()
            .and_then(|b| parse_index(&b, &seg.index_path, seg.base, true).ok());
        let bytes = std::fs::read(&seg.path).map_err(io("read", &seg.path))?;
        let s = scan(&bytes, &seg.path)?;
        if ok.as_ref().is_some_and(|got| *got == s.index) {
            return Ok(());
        }
        let mut idx_bytes = IndexHeader::new(seg.base).as_bytes().to_vec();
        for e in &s.index {
            idx_bytes.extend_from_slice(e.as_bytes());
        }
        let tmp = self.dir.join(format!(".{}.tmp", index_name(seg.base)));
        write_new(&tmp, &idx_bytes, true)?;
        std::fs::rename(&tmp, &seg.index_path).map_err(io("rename", &seg.index_path))?;
        tracing::warn!(file = %seg.index_path.display(), "rebuilt the index of the previous segment");
        Ok(())
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sequence number the next entry must carry (`None` before the first).
    pub fn next_seq(&self) -> Option<u64> {
        self.next_seq
    }

    fn check_seq(&self, seq: u64) -> Result<(), JournalError> {
        if self.failed {
            return Err(JournalError::Io {
                op: "append after a failed write",
                path: self.dir.clone(),
                source: std::io::Error::other("an earlier write failed; reopen the journal"),
            });
        }
        match self.next_seq {
            Some(n) if n != seq => Err(JournalError::OutOfSequence {
                dir: self.dir.clone(),
                expected: n,
                found: seq,
            }),
            _ => Ok(()),
        }
    }

    /// Appends a record as the ring holds it: its sequence number, kind and payload.
    ///
    /// # Errors
    /// [`JournalError::OutOfSequence`] unless `seq` is [`next_seq`](Self::next_seq)
    /// (any `seq` for the first); [`JournalError::BadRecord`] for kind 0 or
    /// 0xFFFF or more than 1 GiB; I/O errors (after which the journal is left
    /// at its last whole entry and this writer accepts nothing more).
    pub fn append(&mut self, seq: u64, kind: u16, payload: &[u8]) -> Result<(), JournalError> {
        self.check_seq(seq)?;
        if kind == KIND_INVALID
            || kind == KIND_GAP
            || payload.len() > MAX_PAYLOAD as usize
            || seq == u64::MAX
        {
            return Err(JournalError::BadRecord {
                dir: self.dir.clone(),
                seq,
                detail: format!("kind {kind}, {} payload bytes: kinds 0 and 0xFFFF and payloads over 1 GiB cannot be journaled", payload.len()),
            });
        }
        self.put(seq, kind, payload)?;
        self.next_seq = Some(seq + 1);
        Ok(())
    }

    /// Appends a gap entry: the records `first..=last` are not in the journal
    /// (the recorder was lapped, or started after them).
    ///
    /// # Errors
    /// As [`append`](Self::append); `last < first` is a [`JournalError::BadRecord`].
    pub fn append_gap(&mut self, first: u64, last: u64) -> Result<(), JournalError> {
        self.check_seq(first)?;
        if last < first || last == u64::MAX {
            return Err(JournalError::BadRecord {
                dir: self.dir.clone(),
                seq: first,
                detail: format!("gap {first}..={last} is empty"),
            });
        }
        self.put(first, KIND_GAP, &last.to_le_bytes())?;
        self.next_seq = Some(last + 1);
        Ok(())
    }

    fn put(&mut self, seq: u64, kind: u16, payload: &[u8]) -> Result<(), JournalError> {
        let el = entry_len(payload.len() as u32);
        let size = self.active.as_ref().map(|a| a.len + self.wbuf.len() as u64);
        match size {
            None => self.create_segment(seq)?,
            Some(size)
                if size > SEGMENT_HEADER_LEN as u64 && size + el > self.opts.segment_bytes =>
            {
                self.roll(seq)?
            }
            Some(_) => {}
        }
        let a = self.active.as_mut().expect("a segment is open");
        let offset = a.len + self.wbuf.len() as u64;
        encode_entry(&mut self.wbuf, seq, kind, payload);
        if let Some(ie) = a.rule.observe(offset, seq, kind, payload) {
            self.ibuf.extend_from_slice(ie.as_bytes());
        }
        if self.wbuf.len() >= WRITE_CHUNK {
            self.write_out()?;
        }
        Ok(())
    }

    /// Hands buffered entries to the kernel (segment first, then index). On a
    /// failure (a full disk) both files are cut back to their last whole entry.
    fn write_out(&mut self) -> Result<(), JournalError> {
        let Some(a) = self.active.as_mut() else {
            return Ok(());
        };
        if self.wbuf.is_empty() && self.ibuf.is_empty() {
            return Ok(());
        }
        let r = a
            .file
            .write_all_at(&self.wbuf, a.len)
            .map_err(io("write", &a.path))
            .and_then(|()| {
                a.idx
                    .write_all_at(&self.ibuf, a.idx_len)
                    .map_err(io("write", &a.idx_path))
            });
        if let Err(e) = r {
            self.failed = true;
            // Cutting back needs no space: the journal stays whole.
            let _ = a.file.set_len(a.len);
            let _ = a.idx.set_len(a.idx_len);
            return Err(e);
        }
        a.len += self.wbuf.len() as u64;
        a.idx_len += self.ibuf.len() as u64;
        a.dirty = true;
        self.wbuf.clear();
        self.ibuf.clear();
        Ok(())
    }

    /// Hands everything appended to the kernel, and fsyncs if the
    /// [`Fsync::Interval`] is due. A recorder calls it when it has caught up
    /// with the ring, so that readers of the journal see what it appended.
    ///
    /// # Errors
    /// I/O errors (see [`append`](Self::append)).
    pub fn flush(&mut self) -> Result<(), JournalError> {
        self.write_out()?;
        if let (Fsync::Interval(d), Some(a)) = (self.opts.fsync, self.active.as_ref()) {
            if a.dirty && a.last_sync.elapsed() >= d {
                self.sync()?;
            }
        }
        Ok(())
    }

    /// Hands everything to the kernel and fsyncs the newest segment and its index.
    ///
    /// # Errors
    /// I/O errors.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.write_out()?;
        if let Some(a) = self.active.as_mut() {
            a.file.sync_data().map_err(io("fdatasync", &a.path))?;
            a.idx.sync_data().map_err(io("fdatasync", &a.idx_path))?;
            a.dirty = false;
            a.last_sync = Instant::now();
        }
        Ok(())
    }

    fn roll(&mut self, base: u64) -> Result<(), JournalError> {
        if self.opts.fsync == Fsync::Never {
            self.write_out()?;
        } else {
            self.sync()?;
        }
        self.create_segment(base)?;
        self.apply_retention().map(|_| ())
    }

    fn create_segment(&mut self, base: u64) -> Result<(), JournalError> {
        let durable = self.opts.fsync != Fsync::Never;
        let seg = SegmentHeader::new(base, self.opts.ring_id, unix_ns());
        let path = self.dir.join(segment_name(base));
        let idx_path = self.dir.join(index_name(base));
        // The index first, then the segment: a segment is never without one
        // for longer than a crash between the two renames (rebuilt on open).
        let tmp_idx = self.dir.join(format!(".{}.tmp", index_name(base)));
        let tmp_seg = self.dir.join(format!(".{}.tmp", segment_name(base)));
        let made = write_new(&tmp_idx, IndexHeader::new(base).as_bytes(), durable)
            .and_then(|()| std::fs::rename(&tmp_idx, &idx_path).map_err(io("rename", &idx_path)))
            .and_then(|()| write_new(&tmp_seg, seg.as_bytes(), durable))
            .and_then(|()| std::fs::rename(&tmp_seg, &path).map_err(io("rename", &path)));
        if let Err(e) = made {
            self.failed = true;
            let _ = std::fs::remove_file(&tmp_idx);
            let _ = std::fs::remove_file(&tmp_seg);
            return Err(e);
        }
        if durable {
            sync_dir(&self.dir)?;
        }
        let open = |p: &Path| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(p)
                .map_err(io("open", p))
        };
        self.active = Some(Active {
            base,
            file: open(&path)?,
            idx: open(&idx_path)?,
            path,
            idx_path,
            len: SEGMENT_HEADER_LEN as u64,
            idx_len: INDEX_HEADER_LEN as u64,
            rule: IndexRule::default(),
            dirty: false,
            last_sync: Instant::now(),
        });
        Ok(())
    }

    /// Deletes whole old segments (never the newest) beyond the retention.
    /// Returns how many were deleted. Runs on open and whenever a segment is full.
    ///
    /// # Errors
    /// I/O errors listing or deleting.
    pub fn apply_retention(&mut self) -> Result<usize, JournalError> {
        let r = self.opts.retention;
        if r.max_bytes.is_none() && r.max_age.is_none() {
            return Ok(0);
        }
        let segs = segments(&self.dir)?;
        let active = self.active.as_ref().map(|a| a.base);
        let mut total: u64 = segs.iter().map(|s| s.len).sum();
        let now = SystemTime::now();
        let mut deleted = 0;
        for s in &segs {
            if Some(s.base) == active || segs.last().map(|l| l.base) == Some(s.base) {
                break;
            }
            let too_big = r.max_bytes.is_some_and(|m| total > m);
            let too_old = r
                .max_age
                .is_some_and(|age| now.duration_since(s.modified).unwrap_or_default() > age);
            if !too_big && !too_old {
                break;
            }
            std::fs::remove_file(&s.path).map_err(io("remove old segment", &s.path))?;
            let _ = std::fs::remove_file(&s.index_path);
            total -= s.len;
            deleted += 1;
            tracing::info!(file = %s.path.display(), "retention deleted a segment");
        }
        Ok(deleted)
    }

    /// The newest segment's first sequence number, if there is one.
    pub fn active_base(&self) -> Option<u64> {
        self.active.as_ref().map(|a| a.base)
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        if !self.failed {
            let _ = match self.opts.fsync {
                Fsync::Never => self.write_out(),
                _ => self.sync(),
            };
        }
    }
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter")
            .field("dir", &self.dir)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

/// Creates `path` holding `bytes` (fsynced if `durable`).
fn write_new(path: &Path, bytes: &[u8], durable: bool) -> Result<(), JournalError> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io("create", path))?;
    f.write_all_at(bytes, 0).map_err(io("write", path))?;
    if durable {
        f.sync_all().map_err(io("fsync", path))?;
    }
    Ok(())
}

pub(crate) fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
