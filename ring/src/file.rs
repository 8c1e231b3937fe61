//! Rings in files: creating, opening (with crash recovery), attaching, locks.
//!
//! Paths, permissions and ownership are the caller's policy; this module takes
//! an open [`File`] and provides the mechanism. Exclusivity and liveness use
//! open-file-description (OFD) byte-range locks: the kernel releases them when
//! the holder's last descriptor closes, which includes its death by any signal.
//! The producer holds a write lock on byte 0; a consumer holds one on the first
//! byte of its reader slot.

use crate::error::{io, CorruptError, LayoutError, OpenError};
use crate::layout::*;
use crate::reader::{check_header, Header};
use crate::shared::{Keep, Shared};
use crate::sync::{fence, Arc, Ordering, Region};
use crate::{Reader, SeekError, StartAt, Writer};
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use zerocopy::{FromBytes, IntoBytes};

/// A random 64-bit identifier (for `ring_id`), from the OS.
pub(crate) fn random_id() -> u64 {
    let mut b = [0u8; 8];
    if rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).is_err() {
        // Never fatal: the id only distinguishes one ring from its replacement.
        return crate::sync::unix_ns() ^ (std::process::id() as u64) << 32;
    }
    u64::from_le_bytes(b)
}

fn flock(kind: libc_lock::Kind, start: u64) -> nix::libc::flock {
    // SAFETY: flock is a plain C struct for which all-zero bytes are valid.
    let mut l: nix::libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = match kind {
        libc_lock::Kind::Write => nix::libc::F_WRLCK as _,
        libc_lock::Kind::Read => nix::libc::F_RDLCK as _,
        libc_lock::Kind::Unlock => nix::libc::F_UNLCK as _,
    };
    l.l_whence = nix::libc::SEEK_SET as _;
    l.l_start = start as _;
    l.l_len = 1;
    l
}

mod libc_lock {
    pub(crate) enum Kind {
        Write,
        Read,
        Unlock,
    }
}

/// Takes a non-blocking OFD write lock on byte `start`. `Ok(false)` if another
/// open file description holds a conflicting lock.
pub(crate) fn try_lock(file: &File, start: u64) -> Result<bool, OpenError> {
    use nix::fcntl::{fcntl, FcntlArg};
    let l = flock(libc_lock::Kind::Write, start);
    match fcntl(file.as_fd(), FcntlArg::F_OFD_SETLK(&l)) {
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EACCES) => Ok(false),
        Err(e) => Err(OpenError::Io {
            op: "fcntl(F_OFD_SETLK)",
            source: e.into(),
        }),
    }
}

/// Releases this open file description's lock on byte `start`.
///
/// Closing the last descriptor releases it too, but only once no other
/// reference to the open file description is left: a child forked by another
/// thread holds one until it calls `exec`, and the lock would outlive its
/// owner's release for that long.
pub(crate) fn unlock(file: &File, start: u64) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg};
    let l = flock(libc_lock::Kind::Unlock, start);
    fcntl(file.as_fd(), FcntlArg::F_OFD_SETLK(&l))?;
    Ok(())
}

/// Whether some open file description holds a lock on byte `start`.
pub(crate) fn is_locked(file: &File, start: u64) -> std::io::Result<bool> {
    use nix::fcntl::{fcntl, FcntlArg};
    // Probing with a read lock: it conflicts with a write lock held elsewhere,
    // and needs only read access to the file.
    let mut l = flock(libc_lock::Kind::Read, start);
    fcntl(file.as_fd(), FcntlArg::F_OFD_GETLK(&mut l))?;
    Ok(l.l_type != nix::libc::F_UNLCK as _)
}

/// Whether a producer holds the ring in `file` right now (its lock is held).
///
/// ```no_run
/// let file = std::fs::File::open("/dev/shm/ring").unwrap();
/// println!("producer alive: {}", slipstream_ring::producer_alive(&file).unwrap());
/// ```
pub fn producer_alive(file: &File) -> std::io::Result<bool> {
    is_locked(file, 0)
}

/// A copy of the header, read with `pread` and validated.
pub(crate) fn read_header(file: &File) -> Result<(RawHeader, Geometry), OpenError> {
    let len = file.metadata().map_err(io("fstat ring file"))?.len();
    let need = core::mem::size_of::<RawHeader>() as u64;
    if len == 0 {
        return Err(OpenError::NotInitialized);
    }
    // The magic first: a short file of another format (a PNG, a script) is
    // "not a ring", not "a truncated ring".
    if len >= MAGIC.len() as u64 {
        let mut magic = [0u8; MAGIC.len()];
        file.read_exact_at(&mut magic, 0)
            .map_err(io("read ring header"))?;
        if magic != MAGIC && magic != [0; 8] {
            return Err(LayoutError::BadMagic(magic).into());
        }
    }
    if len < need {
        return Err(OpenError::Truncated {
            expected: need,
            actual: len,
        });
    }
    let mut bytes = [0u8; core::mem::size_of::<RawHeader>()];
    file.read_exact_at(&mut bytes, 0)
        .map_err(io("read ring header"))?;
    let header = RawHeader::read_from_bytes(&bytes).expect("buffer has the header's size");
    if header.magic == [0; 8] {
        return Err(OpenError::NotInitialized);
    }
    let geo = validate_header(&header)?;
    if len < geo.file_len {
        return Err(OpenError::Truncated {
            expected: geo.file_len,
            actual: len,
        });
    }
    Ok((header, geo))
}

/// What a writer keeps of its file.
pub(crate) struct WriterFile {
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
    /// Creates a new ring in `file`, which must be empty, and becomes its producer.
    ///
    /// The file is allocated in full first (`fallocate`), so a full disk is an
    /// error here rather than a `SIGBUS` later.
    ///
    /// ```
    /// # use slipstream_ring::{Layout, Writer};
    /// let path = std::env::temp_dir().join(format!("doc-create-{}", std::process::id()));
    /// let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).unwrap();
    /// let mut w = Writer::create(file, Layout::new(1 << 16)).unwrap();
    /// w.publish(1, b"x").unwrap();
    /// # std::fs::remove_file(path).unwrap();
    /// ```
    pub fn create(file: File, layout: Layout) -> Result<Writer, OpenError> {
        Self::create_with_first_seq(file, layout, FIRST_SEQ)
    }

    /// As [`create`](Writer::create), but the ring's first record carries
    /// `first_seq` instead of 1 (stored in the header's `first_seq`): a ring
    /// created where a journal of the stream exists continues its sequence,
    /// so that sequence numbers never repeat for one stream.
    ///
    /// ```
    /// # use slipstream_ring::{Layout, Writer, StartAt, Item};
    /// let path = std::env::temp_dir().join(format!("doc-first-seq-{}", std::process::id()));
    /// let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).unwrap();
    /// let mut w = Writer::create_with_first_seq(file, Layout::new(1 << 16), 1000).unwrap();
    /// let mut r = w.reader(StartAt::Oldest).unwrap();
    /// assert_eq!(r.next_seq(), 1000);
    /// assert_eq!(w.publish(1, b"x").unwrap(), 1000);
    /// assert!(matches!(r.try_next().unwrap(), Some(Item::Record(rec)) if rec.seq == 1000));
    /// # std::fs::remove_file(path).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`create`](Writer::create); a `first_seq` of 0 or 2^64-1 is a [`LayoutError::Inconsistent`].
    pub fn create_with_first_seq(
        file: File,
        layout: Layout,
        first_seq: u64,
    ) -> Result<Writer, OpenError> {
        let geo = layout.geometry()?;
        if first_seq == 0 || first_seq == u64::MAX {
            return Err(LayoutError::Inconsistent {
                field: "first_seq",
                found: first_seq,
                expected: FIRST_SEQ,
            }
            .into());
        }
        if !try_lock(&file, 0)? {
            return Err(OpenError::ProducerExists { pid: 0 });
        }
        let len = file.metadata().map_err(io("fstat ring file"))?.len();
        if len != 0 {
            return Err(OpenError::Corrupt(format!(
                "create needs an empty file, this one has {len} bytes"
            )));
        }
        allocate(&file, geo.file_len)?;
        let mut header = geo.new_header(random_id(), crate::sync::unix_ns());
        header.first_seq = first_seq.into();
        let mut bytes = header.as_bytes().to_vec();
        // The magic goes in last, after everything else is in place, so that a
        // reader attaching meanwhile sees "not initialised", never half a header.
        bytes[..8].fill(0);
        file.write_all_at(&bytes, 0)
            .map_err(io("write ring header"))?;
        let writer = Self::map(file, geo, first_seq, 0, 0, NO_RECORD)?;
        fence(Ordering::Release);
        writer
            .shared
            .header
            .u64(0)
            .store(u64::from_le_bytes(MAGIC), Ordering::Release);
        Ok(writer)
    }

    /// Opens the ring in `file` as its producer: creates it if the file is
    /// empty, resumes it otherwise.
    ///
    /// Resuming after a crash goes on after the last committed record, with the
    /// next sequence number and a new epoch; a record the previous producer
    /// had not committed is never delivered. A second producer gets
    /// [`OpenError::ProducerExists`]. A ring of another layout is refused with
    /// [`OpenError::LayoutMismatch`] unless `if_exists` says otherwise (to
    /// replace it, create a new file and rename it over the old one, so that
    /// consumers still mapping the old one are not hurt).
    ///
    /// ```
    /// # use slipstream_ring::{IfExists, Layout, Writer, OpenError};
    /// let path = std::env::temp_dir().join(format!("doc-open-{}", std::process::id()));
    /// let open = || std::fs::OpenOptions::new().read(true).write(true).create(true).open(&path).unwrap();
    /// let mut w = Writer::open(open(), Layout::new(1 << 16), IfExists::Resume).unwrap();
    /// w.publish(1, b"x").unwrap();
    /// assert!(matches!(Writer::open(open(), Layout::new(1 << 16), IfExists::Resume), Err(OpenError::ProducerExists { .. })));
    /// drop(w);
    /// let w = Writer::open(open(), Layout::new(1 << 16), IfExists::Resume).unwrap();
    /// assert_eq!(w.next_seq(), 2);
    /// # std::fs::remove_file(path).unwrap();
    /// ```
    pub fn open(file: File, layout: Layout, if_exists: IfExists) -> Result<Writer, OpenError> {
        Self::open_with_first_seq(file, layout, if_exists, FIRST_SEQ)
    }

    /// As [`open`](Writer::open), creating an empty file's ring with
    /// [`create_with_first_seq`](Writer::create_with_first_seq); `first_seq`
    /// is ignored for an existing ring, which goes on with its own sequence.
    ///
    /// # Errors
    /// As [`open`](Writer::open).
    pub fn open_with_first_seq(
        file: File,
        layout: Layout,
        if_exists: IfExists,
        first_seq: u64,
    ) -> Result<Writer, OpenError> {
        if !try_lock(&file, 0)? {
            let pid = read_header(&file)
                .map(|(h, _)| h.producer_pid.get())
                .unwrap_or(0);
            return Err(OpenError::ProducerExists { pid });
        }
        let len = file.metadata().map_err(io("fstat ring file"))?.len();
        if len == 0 {
            return Self::create_with_first_seq(file, layout, first_seq);
        }
        let (header, geo) = read_header(&file)?;
        if if_exists == IfExists::Resume && geo.layout != layout {
            return Err(OpenError::LayoutMismatch {
                found: geo.layout,
                requested: layout,
            });
        }
        let tail = header.tail.get();
        let intent = header.tail_intent.get();
        let latest = header.latest.get();
        let next_seq = recover_next_seq(&file, &geo, tail, intent, latest, header.first_seq.get())?;
        Self::map(file, geo, next_seq, tail, intent, latest)
    }

    fn map(
        file: File,
        geo: Geometry,
        next_seq: u64,
        tail: u64,
        intent: u64,
        latest: u64,
    ) -> Result<Writer, OpenError> {
        // SAFETY: a shared mapping of a file we hold the producer lock on. Other
        // processes may modify it (consumers only write the wake page and their
        // slots, which this mapping does not cover except the wake page, accessed
        // atomically); we never form references to its bytes except through
        // atomics and the single writer's payload slices.
        let mut map = unsafe {
            memmap2::MmapOptions::new()
                .len(geo.slots_offset as usize)
                .map_mut(&file)
        }
        .map_err(io("mmap ring file"))?;
        let base = map.as_mut_ptr();
        // SAFETY: the ranges lie inside the mapping, which `keep` holds as long
        // as the regions live; offsets are page-aligned.
        let (header, wake, data) = unsafe {
            (
                Region::new(base, geo.header_len as usize),
                Region::new(base.add(geo.wake_offset as usize), geo.wake_len as usize),
                Region::new(base.add(geo.data_offset as usize), geo.capacity as usize),
            )
        };
        let shared = Shared {
            geo,
            header,
            wake: Some(wake),
            data,
            keep: Keep::Mut(map),
        };
        let h = &shared.header;
        h.u64(OFF_EPOCH).fetch_add(1, Ordering::Relaxed);
        h.u32(OFF_PRODUCER_PID)
            .store(std::process::id(), Ordering::Relaxed);
        h.u64(OFF_PRODUCER_START)
            .store(crate::sync::unix_ns(), Ordering::Relaxed);
        h.u32(OFF_PRODUCER_STATE)
            .store(PRODUCER_LIVE, Ordering::Release);
        let mut w = Writer::from_shared(Arc::new(shared), tail, intent, next_seq, latest);
        w.file = Some(WriterFile { file });
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
        self.shared.wake_sleepers();
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
            let _ = unlock(&f.file, 0);
        }
    }
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

/// Finds the sequence number after the last committed record, walking from
/// `latest` (which trails `tail` by at most one record) to `tail`.
fn recover_next_seq(
    file: &File,
    geo: &Geometry,
    tail: u64,
    intent: u64,
    latest: u64,
    first_seq: u64,
) -> Result<u64, OpenError> {
    let bad = |detail: String| OpenError::Corrupt(detail);
    if intent < tail || tail % RECORD_ALIGN as u64 != 0 {
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
    if latest == NO_RECORD && tail == 0 {
        return Ok(first_seq);
    }
    // `latest` is stored after `tail`: a producer killed between the two stores
    // of its very first record leaves no `latest`, and the walk starts at 0.
    let latest = if latest == NO_RECORD { 0 } else { latest };
    if latest >= tail
        || latest % RECORD_ALIGN as u64 != 0
        || tail - latest > 2 * geo.max_record_len() + RECORD_ALIGN as u64
    {
        return Err(bad(format!(
            "latest {latest} is not within a record of tail {tail}"
        )));
    }
    let read_word = |pos: u64| -> Result<u64, OpenError> {
        let mut b = [0u8; 8];
        file.read_exact_at(&mut b, geo.data_offset + (pos & geo.mask))
            .map_err(io("read ring data"))?;
        Ok(u64::from_le_bytes(b))
    };
    let mut p = latest;
    let mut last = None;
    for _ in 0..4 {
        if p == tail {
            break;
        }
        // The reader's rules, so that nothing here can overflow whatever the file holds.
        let len = match check_header(geo, p, read_word(p)?, tail).map_err(|e| bad(e.to_string()))? {
            Header::Padding(to_end) => {
                p += to_end;
                continue;
            }
            Header::Record { len, .. } => len,
        };
        let seq = read_word(p + 8)?;
        if seq == u64::MAX {
            return Err(bad(format!(
                "record at {p} has sequence 2^64-1, which is never written"
            )));
        }
        if let Some(prev) = last {
            if seq != prev + 1 {
                return Err(CorruptError::Sequence {
                    pos: p,
                    expected: prev + 1,
                    found: seq,
                })
                .map_err(|e| bad(e.to_string()));
            }
        }
        last = Some(seq);
        p += record_len(len as u64);
    }
    match last {
        Some(seq) if p == tail => Ok(seq + 1),
        _ => Err(bad(format!(
            "the records after latest {latest} do not end at tail {tail}"
        ))),
    }
}

/// How a reader attached to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The file was writable: the reader can sleep on the futex and be woken.
    ReadWrite,
    /// The file was read-only: the reader polls instead of being woken.
    ReadOnly,
}

impl Reader {
    /// Attaches a reader to the ring in `file`, starting at `start`.
    ///
    /// The header is copied out with `pread` and validated before anything is
    /// mapped; the header and data are mapped read-only, and (when `file` is
    /// writable) the wake page read-write, so that the reader can announce that
    /// it sleeps. Nothing else of the file is writable through this reader.
    ///
    /// ```
    /// # use slipstream_ring::{IfExists, Item, Layout, Reader, StartAt, Writer};
    /// let path = std::env::temp_dir().join(format!("doc-attach-{}", std::process::id()));
    /// let open = || std::fs::OpenOptions::new().read(true).write(true).create(true).open(&path).unwrap();
    /// let mut w = Writer::open(open(), Layout::new(1 << 16), IfExists::Resume).unwrap();
    /// w.publish(9, b"event").unwrap();
    /// let mut r = Reader::attach(&open(), StartAt::Oldest).unwrap();
    /// assert!(matches!(r.try_next().unwrap(), Some(Item::Record(rec)) if rec.kind == 9));
    /// # std::fs::remove_file(path).unwrap();
    /// ```
    pub fn attach(file: &File, start: StartAt) -> Result<Reader, AttachError> {
        let (_, geo) = read_header(file)?;
        // SAFETY: a read-only shared mapping; the producer modifies it
        // concurrently, which is why every access goes through atomics and
        // validation. The length was checked against the file's size.
        let ro = unsafe {
            memmap2::MmapOptions::new()
                .len(geo.slots_offset as usize)
                .map(file)
        }
        .map_err(io("mmap ring file (read-only)"))?;
        // SAFETY: as above, for the one wake page, mapped writable if we may.
        let wake_rw = unsafe {
            memmap2::MmapOptions::new()
                .offset(geo.wake_offset)
                .len(geo.wake_len as usize)
                .map_mut(file)
        }
        .ok();
        let base = ro.as_ptr() as *mut u8;
        // SAFETY: inside the mappings kept alive in `keep`; page-aligned. The
        // read-only regions are never written through (only loads are issued on
        // header and data by a reader; a store would fault, not corrupt).
        let (header, data, wake) = unsafe {
            (
                Region::new(base, geo.header_len as usize),
                Region::new(base.add(geo.data_offset as usize), geo.capacity as usize),
                wake_rw
                    .as_ref()
                    .map(|m| Region::new(m.as_ptr() as *mut u8, geo.wake_len as usize)),
            )
        };
        let shared = Shared {
            geo,
            header,
            wake,
            data,
            keep: Keep::Ro(ro, wake_rw),
        };
        Ok(Reader::new(Arc::new(shared), start)?)
    }

    /// Whether this reader can be woken by the producer ([`Access::ReadWrite`])
    /// or polls ([`Access::ReadOnly`]).
    pub fn access(&self) -> Access {
        if self.shared.wake.is_some() {
            Access::ReadWrite
        } else {
            Access::ReadOnly
        }
    }

    /// The producer as the header describes it.
    pub fn producer(&self) -> ProducerInfo {
        let h = &self.shared.header;
        ProducerInfo {
            epoch: h.u64(OFF_EPOCH).load(Ordering::Relaxed),
            pid: h.u32(OFF_PRODUCER_PID).load(Ordering::Relaxed),
            state: match h.u32(OFF_PRODUCER_STATE).load(Ordering::Acquire) {
                PRODUCER_NONE => ProducerState::Never,
                PRODUCER_LIVE => ProducerState::Open,
                PRODUCER_CLOSED => ProducerState::Closed,
                other => ProducerState::Unknown(other),
            },
            start_unix_ns: h.u64(OFF_PRODUCER_START).load(Ordering::Relaxed),
        }
    }
}

/// The producer of a ring, as its header describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerInfo {
    /// How many producers have opened the ring (this one included).
    pub epoch: u64,
    /// Process id of the producer that opened it last.
    pub pid: u32,
    /// What the header says. Whether the producer is alive is only known from
    /// its lock: see [`producer_alive`].
    pub state: ProducerState,
    /// When that producer opened the ring, nanoseconds since the Unix epoch.
    pub start_unix_ns: u64,
}

/// What the header says of the producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProducerState {
    /// No producer has opened the ring.
    Never,
    /// A producer opened it and did not close it: alive, or died.
    Open,
    /// The last producer closed it cleanly.
    Closed,
    /// A value this build does not know.
    Unknown(u32),
}

/// An error attaching a reader.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    /// The file is not a usable ring.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The start position is not available.
    #[error(transparent)]
    Seek(#[from] SeekError),
}

impl From<crate::LayoutError> for AttachError {
    fn from(e: crate::LayoutError) -> Self {
        AttachError::Open(e.into())
    }
}
