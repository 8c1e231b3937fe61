//! Rings in files: creating, opening (with crash recovery), attaching, locks.
//!
//! Paths, permissions and ownership are the caller's policy; this module takes
//! open [`File`]s and provides the mechanism. Exclusivity uses an
//! open-file-description (OFD) write lock on byte 0 of the ring's lock file
//! (`RING.lock`, mode 0600: no consumer can open it, so none can take or block
//! the lock; the kernel releases it when the producer dies). Consumers learn
//! whether the producer lives from the header instead (its pid and start time,
//! checked against `/proc`), since they cannot probe a lock on a file they
//! cannot open.

use crate::error::{io, LayoutError, OpenError};
use crate::layout::*;
use crate::shared::{Keep, Shared};
use crate::sync::{fence, Arc, Ordering, Region};
use crate::{Reader, SeekError, Start, Writer};
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

/// Whether the producer the header of the ring in `file` names is running.
///
/// The header says which process opened the ring last (`producer_pid`), when
/// it started (`producer_start_ticks`, field 22 of `/proc/PID/stat`) and
/// whether it closed the ring. The producer is alive if the header says
/// `open`, a process of that pid exists (`kill(pid, 0)` succeeds or fails
/// with `EPERM`), is not a zombie, and started at that time (a reused pid
/// started later). Needs only read access to the ring.
///
/// # Errors
/// Reading the header failed.
///
/// ```no_run
/// let file = std::fs::File::open("/dev/shm/ring").unwrap();
/// println!("producer alive: {}", slipstream_ring::producer_alive(&file).unwrap());
/// ```
pub fn producer_alive(file: &File) -> std::io::Result<bool> {
    let mut b = [0u8; 32];
    file.read_exact_at(&mut b, OFF_EPOCH as u64)?;
    let word = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    let pid = word(OFF_PRODUCER_PID - OFF_EPOCH) as u32;
    let state = (word(OFF_PRODUCER_PID - OFF_EPOCH) >> 32) as u32;
    let ticks = word(OFF_PRODUCER_TICKS - OFF_EPOCH);
    Ok(state == PRODUCER_LIVE && process_is(pid, ticks))
}

/// Whether process `pid` exists, is not a zombie, and (if `ticks` is not 0)
/// started at `ticks`.
pub(crate) fn process_is(pid: u32, ticks: u64) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => {}
        Err(_) => return false,
    }
    match proc_stat(pid) {
        Some((state, start)) => !matches!(state, 'Z' | 'X' | 'x') && (ticks == 0 || start == ticks),
        // /proc hidden (hidepid) or another pid namespace: the process exists.
        None => true,
    }
}

/// State and start time (clock ticks since boot) of process `pid`, from `/proc/PID/stat`.
pub(crate) fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces and ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 was the state; field 22 is the start time.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
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
        let geo = layout.geometry()?;
        if !valid_first_seq(first_seq) {
            return Err(LayoutError::FirstSeq(first_seq).into());
        }
        if !try_lock(&lock, 0)? {
            let pid = read_header(&file)
                .map(|(h, _)| h.producer_pid.get())
                .unwrap_or(0);
            return Err(OpenError::ProducerExists { pid });
        }
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
        let header = geo.new_header(random_id(), crate::sync::unix_ns(), first_seq);
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
        let geo_requested = layout.geometry()?;
        if !valid_first_seq(first_seq) {
            return Err(LayoutError::FirstSeq(first_seq).into());
        }
        if !try_lock(&lock, 0)? {
            let pid = read_header(&file)
                .map(|(h, _)| h.producer_pid.get())
                .unwrap_or(0);
            return Err(OpenError::ProducerExists { pid });
        }
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

/// How a reader attached to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The reader can announce that it sleeps (an in-process ring, or one
    /// given a wake file): the producer wakes it.
    ReadWrite,
    /// The reader cannot announce itself: it polls instead of being woken.
    ReadOnly,
}

impl Reader {
    /// Attaches a reader to the ring in `file`, starting at `start`.
    ///
    /// `file` may (and should) be opened read-only: the header is copied out
    /// with `pread` and validated before anything is mapped, and the ring is
    /// mapped `PROT_READ` only. To be woken rather than poll when idle, give
    /// the reader the ring's wake file with [`Reader::set_wake_file`].
    ///
    /// # Errors
    /// [`AttachError::Open`] if the file is not a usable ring (not one,
    /// another version, not initialised, truncated); [`AttachError::Seek`] if
    /// `start` is not in the ring.
    ///
    /// ```
    /// # use slipstream_ring::{IfExists, Item, Layout, Reader, Start, Writer};
    /// let path = std::env::temp_dir().join(format!("doc-attach-{}", std::process::id()));
    /// let lock = slipstream_ring::sidecar::lock_path(&path);
    /// let rw = |p: &std::path::Path| std::fs::OpenOptions::new().read(true).write(true).create(true).open(p).unwrap();
    /// let mut w = Writer::open(rw(&path), rw(&lock), Layout::new(1 << 16), IfExists::Resume).unwrap();
    /// w.publish(9, b"event").unwrap();
    /// let mut r = Reader::attach(&std::fs::File::open(&path).unwrap(), Start::Oldest).unwrap();
    /// assert!(matches!(r.try_next().unwrap(), Some(Item::Record(rec)) if rec.kind == 9));
    /// # drop(w); std::fs::remove_file(path).unwrap(); std::fs::remove_file(lock).unwrap();
    /// ```
    pub fn attach(file: &File, start: Start) -> Result<Reader, AttachError> {
        let (_, geo) = read_header(file)?;
        // SAFETY: a read-only shared mapping; the producer modifies it
        // concurrently, which is why every access goes through atomics and
        // validation. The length was checked against the file's size, and
        // only the producer (never a consumer) can truncate the file.
        let ro = unsafe {
            memmap2::MmapOptions::new()
                .len(geo.file_len as usize)
                .map(file)
        }
        .map_err(io("mmap ring file (read-only)"))?;
        let base = ro.as_ptr() as *mut u8;
        // SAFETY: inside the mapping kept alive in `keep`; page-aligned. The
        // read-only regions are never written through (only loads are issued on
        // header and data by a reader; a store would fault, not corrupt).
        let (header, data) = unsafe {
            (
                Region::new(base, geo.header_len as usize),
                Region::new(base.add(geo.data_offset as usize), geo.capacity as usize),
            )
        };
        let shared = Shared::new(geo, header, data, None, Keep::Ro(ro));
        Ok(Reader::new(Arc::new(shared), start)?)
    }

    /// Whether this reader can be woken by the producer ([`Access::ReadWrite`])
    /// or polls ([`Access::ReadOnly`]).
    pub fn access(&self) -> Access {
        if self.shared.wake.is_some() || self.wake_file.is_some() {
            Access::ReadWrite
        } else {
            Access::ReadOnly
        }
    }

    /// Gives the reader the ring's wake file (`RING.wake`, opened for
    /// writing), in which it announces that it sleeps (`pwrite`, never a
    /// mapping: a truncation by someone else cannot hurt it). Without one, an
    /// idle reader polls.
    pub fn set_wake_file(&mut self, wake: File) {
        self.wake_file = Some(crate::shared::WakeFile::new(wake));
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

    /// The ring's random identity (`ring_id`), which tells it from a
    /// replacement at the same path.
    pub fn ring_id(&self) -> u64 {
        self.shared
            .header
            .u64(core::mem::offset_of!(RawHeader, ring_id))
            .load(Ordering::Relaxed)
    }

    /// The ring's first sequence number (`first_seq`).
    pub fn first_seq(&self) -> u64 {
        self.shared.first_seq
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
