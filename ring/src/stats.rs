//! A snapshot of a ring's statistics, read from the ring and its cursor files
//! alone, with no help from the producer (FORMAT.md sections 2 and 9): what
//! `slipstream stat` shows and `slipstream exporter` serves.
//!
//! Nothing here writes: read access to the ring file is enough for the
//! producer's counters; the cursors (`RING.readers/NAME`, mode 0600) are read
//! where this user may open them, and reported with a `problem` elsewhere.

use crate::file::producer_alive;
use crate::layout::*;
use crate::reader::{AttachError, ProducerInfo};
use crate::reader::{Reader, Start};
use crate::slots::{read_slots, SlotError, SlotInfo};
use crate::sync::Ordering;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The producer's statistics, over the ring's life (every producer included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events (records) published: `next_seq - first_seq`.
    pub events: u64,
    /// Bytes written, record headers, alignment and padding included: `tail`.
    pub bytes: u64,
    /// Blocks committed (`block_commit` records).
    pub blocks: u64,
    /// Events refused because their payload exceeded `max_payload`.
    pub refused_too_large: u64,
    /// Events not published because their kind is switched off.
    pub refused_switched_off: u64,
    /// Bytes of padding records.
    pub padding_bytes: u64,
    /// `FUTEX_WAKE` calls made by the producers.
    pub wake_calls: u64,
    /// Producer starts (`epoch`).
    pub producer_starts: u64,
}

/// Everything a reader can learn of a ring without the producer's help, at one moment.
#[derive(Clone, Debug)]
pub struct RingStats {
    /// The ring file's path.
    pub path: PathBuf,
    /// When the snapshot was taken, ns since the Unix epoch.
    pub read_unix_ns: u64,
    /// The header's fixed fields.
    pub header: RawHeader,
    /// The producer, as the header describes it.
    pub producer: ProducerInfo,
    /// Whether that producer is alive (FORMAT.md section 7, "Liveness").
    pub producer_alive: bool,
    /// The sequence number the next event will carry (the head).
    pub next_seq: u64,
    /// The committed tail position.
    pub tail: u64,
    /// The sequence number of the oldest event still retained, if any is.
    pub oldest_seq: Option<u64>,
    /// The producer's counters.
    pub counters: Counters,
    /// Every named cursor, by name.
    pub cursors: Vec<SlotInfo>,
}

impl RingStats {
    /// Events published and not yet read by `cursor` (0 if it has not read yet
    /// or is ahead, e.g. a cursor of another ring).
    ///
    /// ```
    /// # use slipstream_ring::stats::RingStats;
    /// # fn f(s: &RingStats) { for c in &s.cursors { println!("{} lag {}", c.name, s.lag(c)); } }
    /// ```
    pub fn lag(&self, cursor: &SlotInfo) -> u64 {
        if cursor.next_seq == 0 {
            return 0;
        }
        self.next_seq.saturating_sub(cursor.next_seq)
    }

    /// Whether `cursor` belongs to this ring (not to one it replaced).
    pub fn owns(&self, cursor: &SlotInfo) -> bool {
        cursor.problem.is_none() && cursor.ring_id == self.header.ring_id.get()
    }
}

/// Errors reading a ring's statistics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// The ring file cannot be opened.
    #[error("open {path}: {source}")]
    Open {
        /// The ring file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable ring, or its head cannot be found.
    #[error("ring {path}: {source}")]
    Ring {
        /// The ring file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: AttachError,
    },
    /// The header could not be read again, or the producer's liveness probed.
    #[error("ring {path}: {op}: {source}")]
    Io {
        /// The ring file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The cursors could not be listed.
    #[error("ring {path}: read the named cursors: {source}")]
    Cursors {
        /// The ring file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: SlotError,
    },
}

/// An open ring, read-only, to take snapshots of again and again (a monitor
/// keeps one; [`read`] opens one for a single snapshot).
pub struct StatsReader {
    path: PathBuf,
    file: File,
    reader: Reader,
    header: RawHeader,
}

impl StatsReader {
    /// Opens the ring file at `path` (a path, not a bare name) read-only.
    ///
    /// # Errors
    /// [`StatsError::Open`] or [`StatsError::Ring`] (not a ring, another
    /// version, corrupt).
    pub fn open(path: &Path) -> Result<StatsReader, StatsError> {
        let file = File::open(path).map_err(|source| StatsError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let ring = |source: AttachError| StatsError::Ring {
            path: path.to_path_buf(),
            source,
        };
        let (header, _) = crate::file::read_header(&file).map_err(|e| ring(e.into()))?;
        let reader = Reader::attach(&file, Start::End).map_err(ring)?;
        Ok(StatsReader {
            path: path.to_path_buf(),
            file,
            reader,
            header,
        })
    }

    /// The ring's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes a snapshot: head, counters, producer, cursors.
    ///
    /// # Errors
    /// The head cannot be found (a corrupt ring), the producer's liveness
    /// cannot be probed, or the cursors cannot be listed.
    pub fn read(&mut self) -> Result<RingStats, StatsError> {
        let path = &self.path;
        self.reader.seek(Start::End).map_err(|e| StatsError::Ring {
            path: path.clone(),
            source: e.into(),
        })?;
        let next_seq = self.reader.next_seq();
        let tail = self.reader.position();
        let h = &self.reader.shared.header;
        // Single aligned atomic loads of each counter (FORMAT.md section 2);
        // informative, so Relaxed: no other memory is read on their strength.
        let load = |off: usize| h.u64(off).load(Ordering::Relaxed);
        let producer = self.reader.producer();
        let counters = Counters {
            events: next_seq.saturating_sub(self.header.first_seq.get()),
            bytes: tail,
            blocks: load(OFF_BLOCKS),
            refused_too_large: load(OFF_REFUSED_TOO_LARGE),
            refused_switched_off: load(OFF_REFUSED_OFF),
            padding_bytes: load(OFF_PADDING_BYTES),
            wake_calls: load(OFF_WAKE_CALLS),
            producer_starts: producer.epoch,
        };
        let producer_alive = producer_alive(&self.file).map_err(|source| StatsError::Io {
            path: path.clone(),
            op: "probe the producer",
            source,
        })?;
        // The oldest retained event, through a second reader on the same
        // mapping; `None` if the ring is empty or it cannot be found now.
        let oldest_seq = Reader::new(self.reader.shared.clone(), Start::Oldest)
            .ok()
            .map(|r| r.next_seq())
            .filter(|&s| s < next_seq);
        let cursors = read_slots(path).map_err(|source| StatsError::Cursors {
            path: path.clone(),
            source,
        })?;
        Ok(RingStats {
            path: path.clone(),
            read_unix_ns: crate::sync::unix_ns(),
            header: self.header,
            producer,
            producer_alive,
            next_seq,
            tail,
            oldest_seq,
            counters,
            cursors,
        })
    }
}

impl std::fmt::Debug for StatsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsReader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Reads a snapshot of the ring file at `path`: its header, producer, head,
/// counters and named cursors, with no help from the producer.
///
/// # Errors
/// As [`StatsReader::open`] and [`StatsReader::read`].
///
/// ```
/// # use slipstream_ring::{IfExists, Layout, Writer};
/// let path = std::env::temp_dir().join(format!("doc-stats-{}", std::process::id()));
/// let lock = slipstream_ring::sidecar::lock_path(&path);
/// let rw = |p: &std::path::Path| std::fs::OpenOptions::new().read(true).write(true).create(true).open(p).unwrap();
/// let mut w = Writer::open(rw(&path), rw(&lock), Layout::new(1 << 16), IfExists::Resume)?;
/// w.publish(6, b"0123456789abcdef")?;
/// let s = slipstream_ring::stats::read(&path)?;
/// assert_eq!((s.counters.events, s.counters.blocks, s.counters.producer_starts), (1, 1, 1));
/// assert!(s.producer_alive);
/// # drop(w); std::fs::remove_file(&path)?; std::fs::remove_file(&lock)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read(path: &Path) -> Result<RingStats, StatsError> {
    StatsReader::open(path)?.read()
}
