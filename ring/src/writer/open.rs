//! A writer on a ring in a file: creating it, opening it (with crash
//! recovery of the counters), and closing it cleanly on drop.
//!
//! Paths, permissions and ownership are the caller's; this module takes open
//! [`File`]s and provides the mechanism (the locks and the header read are in
//! `crate::file`).

use crate::error::{io, LayoutError, OpenError};
use crate::file::{proc_stat, read_header, try_lock, unlock};
use crate::layout::*;
use crate::shared::{Keep, Shared};
use crate::sync::{fence, Arc, Ordering, Region};
use crate::Writer;
use std::fs::File;
use std::os::unix::fs::FileExt;
use zerocopy::IntoBytes;

/// What a writer keeps of its files.
pub(crate) struct WriterFile {
    /// The lock file, whose OFD write lock on byte 0 makes this the producer.
    lock: File,
    /// The ring file.
    file: File,
}

/// What [`Writer::open`] does with an existing ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IfExists {
    /// Resume it if its layout is the one asked for; refuse it otherwise.
    #[default]
    Resume,
    /// Resume it whatever its layout (the requested layout is only used to create).
    ResumeAnyLayout,
}

impl Writer {
    /// Creates a new ring in `file`, which must be empty, and becomes its
    /// producer by locking `lock` (the ring's lock file, `RING.lock`: see
    /// [`sidecar`](crate::sidecar)). The first record will carry `first_seq`.
    ///
    /// The file is allocated in full first (`fallocate`), so a full disk is an
    /// error here rather than a `SIGBUS` later.
    ///
    /// # Errors
    /// [`OpenError::ProducerExists`] if another producer holds `lock`; a
    /// layout error; [`OpenError::Corrupt`] if `file` is not empty; I/O errors.
    ///
    /// ```
    /// # use slipstream_ring::{Layout, Writer};
    /// let path = std::env::temp_dir().join(format!("doc-create-{}", std::process::id()));
    /// let rw = |p: &std::path::Path| std::fs::OpenOptions::new().read(true).write(true).create(true).open(p).unwrap();
    /// let lock = slipstream_ring::sidecar::lock_path(&path);
    /// let mut w = Writer::create(rw(&path), rw(&lock), Layout::new(1 << 16), 1000).unwrap();
    /// assert_eq!(w.publish(1, b"x").unwrap(), 1000);
    /// # drop(w); std::fs::remove_file(path).unwrap(); std::fs::remove_file(lock).unwrap();
    /// ```
    pub fn create(
        file: File,
        lock: File,
        layout: Layout,
        first_seq: u64,
    ) -> Result<Writer, OpenError> {
        let geo = lock_for(&file, &lock, layout, first_seq)?;
        let len = file.metadata().map_err(io("fstat ring file"))?.len();
        if len != 0 {
            return Err(OpenError::Corrupt(format!(
                "create needs an empty file, this one has {len} bytes"
            )));
        }
        Self::initialise(file, lock, geo, first_seq)
    }

    /// Writes a new ring into the empty `file`; the caller holds `lock`.
    fn initialise(
        file: File,
        lock: File,
        geo: Geometry,
        first_seq: u64,
    ) -> Result<Writer, OpenError> {
        allocate(&file, geo.file_len)?;
        let header = geo.new_header(crate::sync::random_id(), crate::sync::unix_ns(), first_seq);
        let mut bytes = header.as_bytes().to_vec();
        // The magic goes in last, after everything else is in place, so that a
        // reader attaching meanwhile sees "not initialised", never half a header.
        bytes[..8].fill(0);
        file.write_all_at(&bytes, 0)
            .map_err(io("write ring header"))?;
        let writer = Self::map(file, lock, geo, first_seq, 0, 0, NO_RECORD)?;
        fence(Ordering::Release);
        writer
            .shared
            .header
            .u64(0)
            .store(u64::from_le_bytes(MAGIC), Ordering::Release);
        Ok(writer)
    }

    /// Opens the ring in `file` as its producer, by locking `lock` (the
    /// ring's lock file): creates it (first record [`FIRST_SEQ`]) if the file
    /// is empty, resumes it otherwise. See [`Writer::open_with`].
    ///
    /// # Errors
    /// As [`Writer::open_with`].
    ///
    /// ```
    /// # use slipstream_ring::{IfExists, Layout, Writer, OpenError};
    /// let path = std::env::temp_dir().join(format!("doc-open-{}", std::process::id()));
    /// let lock = slipstream_ring::sidecar::lock_path(&path);
    /// let rw = |p: &std::path::Path| std::fs::OpenOptions::new().read(true).write(true).create(true).open(p).unwrap();
    /// let mut w = Writer::open(rw(&path), rw(&lock), Layout::new(1 << 16), IfExists::Resume).unwrap();
    /// w.publish(1, b"x").unwrap();
    /// assert!(matches!(Writer::open(rw(&path), rw(&lock), Layout::new(1 << 16), IfExists::Resume), Err(OpenError::ProducerExists { .. })));
    /// drop(w);
    /// let w = Writer::open(rw(&path), rw(&lock), Layout::new(1 << 16), IfExists::Resume).unwrap();
    /// assert_eq!(w.next_seq(), 2);
    /// # drop(w); std::fs::remove_file(path).unwrap(); std::fs::remove_file(lock).unwrap();
    /// ```
    pub fn open(
        file: File,
        lock: File,
        layout: Layout,
        if_exists: IfExists,
    ) -> Result<Writer, OpenError> {
        Self::open_with(file, lock, layout, if_exists, FIRST_SEQ)
    }

    /// Opens the ring in `file` as its producer, by locking `lock`.
    ///
    /// An empty file, or one a producer was killed while creating (its magic
    /// is still zero: no reader ever maps such a file), is (re)initialised as
    /// a new ring whose first record carries `first_seq`. An existing ring is
    /// resumed after its last committed record, with the next sequence number
    /// (read from the header's commit counters, not from any record) and a new
    /// epoch; a record the previous producer had not committed is never
    /// delivered.
    ///
    /// # Errors
    /// A second producer gets [`OpenError::ProducerExists`]. A ring of another
    /// layout is refused with [`OpenError::LayoutMismatch`] unless `if_exists`
    /// says otherwise (to replace it, create a new file and rename it over the
    /// old one, so that consumers still mapping the old one are not hurt); a
    /// ring of another format version with [`LayoutError::UnsupportedVersion`];
    /// inconsistent counters with [`OpenError::Corrupt`].
    pub fn open_with(
        file: File,
        lock: File,
        layout: Layout,
        if_exists: IfExists,
        first_seq: u64,
    ) -> Result<Writer, OpenError> {
        let geo_requested = lock_for(&file, &lock, layout, first_seq)?;
        let len = file.metadata().map_err(io("fstat ring file"))?.len();
        if len == 0 {
            return Self::initialise(file, lock, geo_requested, first_seq);
        }
        let (header, geo) = match read_header(&file) {
            Err(OpenError::NotInitialized) | Err(OpenError::Truncated { .. })
                if is_half_created(&file) =>
            {
                // We hold the producer lock, so its creator is dead; readers
                // refuse a file whose magic is zero and never mapped it.
                file.set_len(0)
                    .map_err(io("truncate a half-created ring"))?;
                return Self::initialise(file, lock, geo_requested, first_seq);
            }
            other => other?,
        };
        if if_exists == IfExists::Resume && geo.layout != layout {
            return Err(OpenError::LayoutMismatch {
                found: geo.layout,
                requested: layout,
            });
        }
        let tail = header.tail.get();
        let intent = header.tail_intent.get();
        let latest = header.latest.get();
        let next_seq = recover_next_seq(&header, &geo)?;
        Self::map(file, lock, geo, next_seq, tail, intent, latest)
    }

    fn map(
        file: File,
        lock: File,
        geo: Geometry,
        next_seq: u64,
        tail: u64,
        intent: u64,
        latest: u64,
    ) -> Result<Writer, OpenError> {
        // SAFETY: a shared mapping of the ring file we hold the producer lock
        // for. Only this process writes it (consumers open it read-only); the
        // length was allocated above or checked against the file's size. We
        // never form references to its bytes except through atomics and the
        // single writer's payload slices.
        let mut map = unsafe {
            // populate (MAP_POPULATE): fault the whole ring in now, at
            // creation, not in the first lap's publishes (ring/tests/prefault.rs).
            memmap2::MmapOptions::new()
                .len(geo.file_len as usize)
                .populate()
                .map_mut(&file)
        }
        .map_err(io("mmap ring file"))?;
        let base = map.as_mut_ptr();
        // SAFETY: the ranges lie inside the mapping, which `keep` holds as long
        // as the regions live; offsets are page-aligned.
        let (header, data) = unsafe {
            (
                Region::new(base, geo.header_len as usize),
                Region::new(base.add(geo.data_offset as usize), geo.capacity as usize),
            )
        };
        let shared = Shared::new(geo, header, data, None, Keep::Mut(map));
        let h = &shared.header;
        h.u64(OFF_EPOCH).fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        h.u32(OFF_PRODUCER_PID).store(pid, Ordering::Relaxed);
        h.u64(OFF_PRODUCER_START)
            .store(crate::sync::unix_ns(), Ordering::Relaxed);
        h.u64(OFF_PRODUCER_TICKS).store(
            proc_stat(pid).map_or(0, |(_, ticks)| ticks),
            Ordering::Relaxed,
        );
        h.u32(OFF_PRODUCER_STATE)
            .store(PRODUCER_LIVE, Ordering::Release);
        let mut w = Writer::from_shared(Arc::new(shared), tail, intent, next_seq, latest);
        w.file = Some(WriterFile { lock, file });
        Ok(w)
    }

    /// The ring's file, if it has one.
    pub fn file(&self) -> Option<&File> {
        self.file.as_ref().map(|f| &f.file)
    }

    /// The epoch of this producer (1 for the first producer of a ring).
    pub fn epoch(&self) -> u64 {
        self.shared.header.u64(OFF_EPOCH).load(Ordering::Relaxed)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Wake sleepers so that they see the final records (and the close) now.
        if let Some(f) = &self.file {
            self.shared
                .header
                .u32(OFF_PRODUCER_STATE)
                .store(PRODUCER_CLOSED, Ordering::Release);
            self.shared.wake_sleepers_always();
            // Release the producer lock now, not when the last descriptor of
            // the open file description closes: a child that another thread
            // forked holds a copy until it calls exec, and until then a new
            // producer would be refused (see `unlock`).
            let _ = unlock(&f.lock, 0);
        } else {
            self.shared.wake_sleepers(None);
        }
    }
}

/// What creating and opening a writer both check first: the layout and
/// `first_seq` are valid, and this process takes the producer lock (if
/// another holds it, the error names the pid the ring's header gives).
fn lock_for(
    file: &File,
    lock: &File,
    layout: Layout,
    first_seq: u64,
) -> Result<Geometry, OpenError> {
    let geo = layout.geometry()?;
    if !valid_first_seq(first_seq) {
        return Err(LayoutError::FirstSeq(first_seq).into());
    }
    if !try_lock(lock, 0)? {
        let pid = read_header(file)
            .map(|(h, _)| h.producer_pid.get())
            .unwrap_or(0);
        return Err(OpenError::ProducerExists { pid });
    }
    Ok(geo)
}

/// Whether `file` is a ring whose creator died before writing the magic: at
/// least 8 bytes, the first 8 zero (an empty file is handled before).
fn is_half_created(file: &File) -> bool {
    let mut magic = [0xffu8; 8];
    file.read_exact_at(&mut magic, 0).is_ok() && magic == [0; 8]
}

/// Reserves the file's blocks, so that a full disk fails here with ENOSPC.
fn allocate(file: &File, len: u64) -> Result<(), OpenError> {
    use rustix::fs::{fallocate, FallocateFlags};
    match fallocate(file, FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP) | Err(rustix::io::Errno::NOSYS) => {
            file.set_len(len).map_err(io("ftruncate ring file"))
        }
        Err(e) => Err(OpenError::Io {
            op: "fallocate ring file",
            source: e.into(),
        }),
    }
}

/// The sequence number after the last committed record, from the counters
/// alone (FORMAT.md section 5): the commit slot whose `end` is `tail`.
/// Reads no record, so no record's header needs to have survived.
pub(crate) fn recover_next_seq(h: &RawHeader, geo: &Geometry) -> Result<u64, OpenError> {
    let bad = |detail: String| OpenError::Corrupt(detail);
    let tail = h.tail.get();
    let intent = h.tail_intent.get();
    let latest = h.latest.get();
    if intent < tail || tail % RECORD_ALIGN as u64 != 0 || intent - tail > geo.capacity {
        return Err(bad(format!(
            "tail {tail} and tail_intent {intent} are inconsistent"
        )));
    }
    // No producer gets within a few laps of 2^64 (centuries at any rate);
    // positions there are corruption, and resuming at one would overflow.
    if intent > u64::MAX - 4 * geo.capacity {
        return Err(bad(format!(
            "tail_intent {intent} is within four laps of 2^64, which no producer reaches"
        )));
    }
    // `latest` is stored after `tail`, so it trails by at most one record and
    // a padding record (three maximal records: the padding is shorter than the
    // record after it).
    let latest_ok = match latest {
        NO_RECORD => true,
        l => l < tail && l % RECORD_ALIGN as u64 == 0 && tail - l <= 3 * geo.max_record_len(),
    };
    if !latest_ok {
        return Err(bad(format!(
            "latest {latest} is not within a record of tail {tail}"
        )));
    }
    let first = h.first_seq.get();
    let found: Vec<u64> = h
        .commits
        .iter()
        .filter(|c| c.end.get() == tail)
        .map(|c| c.next_seq.get())
        .collect();
    match found[..] {
        [n] if n >= first && n < u64::MAX - 1 => Ok(n),
        [n] => Err(bad(format!(
            "commit slot says next_seq {n}, below first_seq {first} or at 2^64"
        ))),
        _ => Err(bad(format!(
            "no single commit slot matches tail {tail} (slots: {:?})",
            h.commits
                .iter()
                .map(|c| (c.end.get(), c.next_seq.get()))
                .collect::<Vec<_>>()
        ))),
    }
}
