//! Named cursors: one file per consumer name in the ring's readers directory
//! (`RING.readers/NAME`, FORMAT.md section 8).
//!
//! Why files, not slots in the ring: the kernel then enforces who may write a
//! cursor. The directory is the producer's (group-writable and sticky, so a
//! group member can create its own files but not remove or rename another's);
//! each cursor file is created by its consumer with mode 0600, so no other
//! user can open it: not to write it, not to truncate it, not to lock it. A
//! name is claimed by an OFD write lock on byte 0 of its file, which needs a
//! descriptor open for writing (so only the file's owner can take it), is
//! exclusive between any number of racing claimants, and is dropped by the
//! kernel when the claimant dies: the next claimant of the name takes the
//! cursor over. Nothing is ever evicted to make room; a dead consumer's
//! cursor stays until it is removed ([`remove_slot`]).
//!
//! The owner maps its own file to store its cursor with plain atomic stores
//! (no system call per event). Everyone else reads cursor files with `pread`,
//! never a mapping, and validates what it read.

use crate::error::OpenError;
use crate::file::{is_locked, read_header, try_lock, unlock};
use crate::sidecar::{readers_dir, valid_name};
use crate::sync::{Ordering, Region};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The eight bytes a cursor file starts with.
pub const CURSOR_MAGIC: [u8; 8] = *b"SLIPCUR2";
pub use crate::sidecar::CURSOR_NAME_LEN;
/// Bytes of a cursor file (one page; the record is at its start).
pub const CURSOR_FILE_LEN: u64 = 4096;

/// The cursor record at offset 0 of `RING.readers/NAME`.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct RawCursor {
    /// [`CURSOR_MAGIC`]; written last when the file is first claimed.
    pub magic: [u8; 8],
    /// Bytes of `name` used (1 to 64).
    pub name_len: U32,
    /// Process id of the consumer that claimed it last.
    pub pid: U32,
    /// The consumer's name (the file's name), ASCII.
    pub name: [u8; CURSOR_NAME_LEN],
    /// `ring_id` of the ring the cursor belongs to.
    pub ring_id: U64,
    /// Sequence number of the next record the consumer will read (0: none yet).
    pub next_seq: U64,
    /// That record's position: a hint, checked against `next_seq` before use.
    pub position: U64,
    /// When the name was claimed last, ns since the Unix epoch.
    pub attached_unix_ns: U64,
    /// Records delivered under this name, over the cursor's life.
    pub delivered: U64,
    /// Records missed by being lapped, over the cursor's life.
    pub missed: U64,
    /// Times the consumer was lapped, over the cursor's life.
    pub laps: U64,
    /// When the consumer last reported progress, ns since the Unix epoch.
    pub last_progress_unix_ns: U64,
    /// Times the name was claimed.
    pub claims: U64,
    /// Reserved, zero.
    pub _reserved: [u8; 104],
}

const OFF_RING_ID: usize = core::mem::offset_of!(RawCursor, ring_id);
const OFF_NEXT_SEQ: usize = core::mem::offset_of!(RawCursor, next_seq);
const OFF_POSITION: usize = core::mem::offset_of!(RawCursor, position);
const OFF_DELIVERED: usize = core::mem::offset_of!(RawCursor, delivered);
const OFF_MISSED: usize = core::mem::offset_of!(RawCursor, missed);
const OFF_LAPS: usize = core::mem::offset_of!(RawCursor, laps);
const OFF_PROGRESS: usize = core::mem::offset_of!(RawCursor, last_progress_unix_ns);

/// A cursor as read from its file (a copy, taken with `pread`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    /// The consumer's name (the file's name).
    pub name: String,
    /// Whether a live process holds the name now (its lock is held); `None`
    /// if this user cannot open the file to ask.
    pub live: Option<bool>,
    /// Why the file's content is not a cursor, if it is not (unreadable,
    /// short, bad magic, a name that differs from the file's).
    pub problem: Option<String>,
    /// The consumer's process id.
    pub pid: u32,
    /// `ring_id` of the ring its cursor belongs to.
    pub ring_id: u64,
    /// Sequence number of the next record it will read (0: none yet).
    pub next_seq: u64,
    /// Position of that record (a hint).
    pub position: u64,
    /// When it was claimed last, nanoseconds since the Unix epoch.
    pub attached_unix_ns: u64,
    /// Records delivered over the cursor's life.
    pub delivered: u64,
    /// Records missed (lapped) over the cursor's life.
    pub missed: u64,
    /// Times lapped over the cursor's life.
    pub laps: u64,
    /// Last progress, nanoseconds since the Unix epoch (0: none yet).
    pub last_progress_unix_ns: u64,
    /// Times the name was claimed.
    pub claims: u64,
}

/// Errors claiming or removing a named cursor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlotError {
    /// The ring is not usable.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The name cannot be a cursor's.
    #[error("consumer name {0:?} must be 1 to 64 bytes of [A-Za-z0-9_.-], not starting with '.'")]
    InvalidName(String),
    /// A live consumer holds the name.
    #[error("consumer name {name:?} is in use by live process {pid}")]
    NameInUse {
        /// The name.
        name: String,
        /// Process id recorded in the cursor.
        pid: u32,
    },
    /// The name's cursor file belongs to another user (or is not a regular file).
    #[error("cursor file {0} belongs to another user or is not a regular file: choose another name, or have its owner remove it")]
    NotOwner(PathBuf),
    /// No such cursor.
    #[error("no cursor named {0:?}")]
    NotFound(String),
    /// A system call on the readers directory or a cursor file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn ioe<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SlotError + 'a {
    move |source| SlotError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Reads every cursor of the ring at `ring`, with its liveness.
///
/// # Errors
/// The readers directory cannot be listed.
///
/// ```no_run
/// for s in slipstream_ring::read_slots(std::path::Path::new("/dev/shm/ring")).unwrap() {
///     println!("{} live={:?} next_seq={}", s.name, s.live, s.next_seq);
/// }
/// ```
pub fn read_slots(ring: &Path) -> Result<Vec<SlotInfo>, SlotError> {
    let dir = readers_dir(ring);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ioe("list", &dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(ioe("list", &dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        out.push(read_slot(&entry.path(), &name));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn blank(name: &str, problem: String) -> SlotInfo {
    SlotInfo {
        name: name.to_owned(),
        live: None,
        problem: Some(problem),
        pid: 0,
        ring_id: 0,
        next_seq: 0,
        position: 0,
        attached_unix_ns: 0,
        delivered: 0,
        missed: 0,
        laps: 0,
        last_progress_unix_ns: 0,
        claims: 0,
    }
}

/// Reads one cursor file with `pread` (never a mapping: its owner may
/// truncate it) and validates it.
fn read_slot(path: &Path, name: &str) -> SlotInfo {
    use std::os::unix::fs::OpenOptionsExt;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return blank(name, format!("cannot open: {e}")),
    };
    match file.metadata() {
        Ok(m) if m.is_file() => {}
        _ => return blank(name, "not a regular file".into()),
    }
    let mut bytes = [0u8; core::mem::size_of::<RawCursor>()];
    let n = read_fully(&file, &mut bytes);
    let mut info = blank(name, String::new());
    info.problem = None;
    info.live = is_locked(&file, 0).ok();
    if n < bytes.len() {
        info.problem = Some(format!("{n} bytes, shorter than a cursor record"));
        return info;
    }
    let raw = RawCursor::read_from_bytes(&bytes).expect("buffer has the record's size");
    let name_len = raw.name_len.get() as usize;
    if raw.magic != CURSOR_MAGIC {
        info.problem = Some("not a cursor (bad magic)".into());
        return info;
    }
    if name_len > CURSOR_NAME_LEN || &raw.name[..name_len] != name.as_bytes() {
        info.problem = Some("the name in the record is not the file's".into());
    }
    info.pid = raw.pid.get();
    info.ring_id = raw.ring_id.get();
    info.next_seq = raw.next_seq.get();
    info.position = raw.position.get();
    info.attached_unix_ns = raw.attached_unix_ns.get();
    info.delivered = raw.delivered.get();
    info.missed = raw.missed.get();
    info.laps = raw.laps.get();
    info.last_progress_unix_ns = raw.last_progress_unix_ns.get();
    info.claims = raw.claims.get();
    info
}

fn read_fully(file: &File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// Removes the cursor `name` of the ring at `ring`, if no live consumer holds it.
///
/// Takes the name's lock first (so a consumer claiming it meanwhile either
/// got it first, and the removal is refused, or finds its file unlinked and
/// claims a new one).
///
/// # Errors
/// [`SlotError::NameInUse`] if a live consumer holds it;
/// [`SlotError::NotFound`]; an I/O error (e.g. the file is another user's).
pub fn remove_slot(ring: &Path, name: &str) -> Result<(), SlotError> {
    if !valid_name(name) {
        return Err(SlotError::InvalidName(name.to_owned()));
    }
    let path = readers_dir(ring).join(name);
    let file = match open_cursor(&path, false) {
        Err(SlotError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(SlotError::NotFound(name.to_owned()))
        }
        other => other?,
    };
    if !try_lock(&file, 0)? {
        return Err(SlotError::NameInUse {
            name: name.to_owned(),
            pid: read_slot(&path, name).pid,
        });
    }
    let r = std::fs::remove_file(&path).map_err(ioe("remove", &path));
    let _ = unlock(&file, 0);
    r
}

fn open_cursor(path: &Path, create: bool) -> Result<File, SlotError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC | nix::libc::O_NONBLOCK)
        .open(path);
    let file = match file {
        Ok(f) => f,
        Err(e)
            if e.kind() == std::io::ErrorKind::PermissionDenied
                || e.raw_os_error() == Some(nix::libc::ELOOP) =>
        {
            return Err(SlotError::NotOwner(path.to_path_buf()))
        }
        Err(e) => return Err(ioe("open", path)(e)),
    };
    let meta = file.metadata().map_err(ioe("fstat", path))?;
    let euid = rustix::process::geteuid().as_raw();
    if !meta.is_file() || (meta.uid() != euid && euid != 0) {
        return Err(SlotError::NotOwner(path.to_path_buf()));
    }
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            // Anyone else who can open it could hold a read lock on it and
            // block the owner's claim: only its owner may open a cursor file.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(ioe("chmod", path))?;
        }
    }
    Ok(file)
}

/// A claimed name: this consumer's cursor, in its own file.
///
/// Holds the name's lock for as long as it lives (or the process does).
pub struct Slot {
    name: String,
    /// `ring_id` of the ring, stored again with every cursor.
    ring_id: u64,
    region: Region,
    _map: memmap2::MmapMut,
    file: File,
}

/// A cursor found under a name, to resume from with [`Reader::resume`](crate::Reader::resume).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedCursor {
    /// Sequence number of the next record to read.
    pub next_seq: u64,
    /// Position of that record (a hint).
    pub position: u64,
}

/// How many times a claim retries when a removal unlinks the file under it.
const CLAIM_ATTEMPTS: u32 = 16;

impl Slot {
    /// Claims the name `name` on the ring at `ring`: creates or opens
    /// `RING.readers/NAME` (mode 0600) and takes its lock.
    ///
    /// Returns the cursor stored under that name, if it belongs to this ring
    /// (same `ring_id`). Exclusive: of any number of concurrent claims of one
    /// name, exactly one succeeds while it lives; a dead claimant's lock is
    /// gone, and the next claim takes its cursor over.
    ///
    /// # Errors
    /// [`SlotError::InvalidName`], [`SlotError::NameInUse`] (a live consumer
    /// holds it), [`SlotError::NotOwner`] (another user's file), an unusable
    /// ring, or I/O errors (no readers directory: the producer creates it).
    ///
    /// ```
    /// # use slipstream_ring::{IfExists, Layout, Slot, Writer};
    /// let path = std::env::temp_dir().join(format!("doc-slot-{}", std::process::id()));
    /// let lock = slipstream_ring::sidecar::lock_path(&path);
    /// let rw = |p: &std::path::Path| std::fs::OpenOptions::new().read(true).write(true).create(true).open(p).unwrap();
    /// let w = Writer::open(rw(&path), rw(&lock), Layout::new(1 << 16), IfExists::Resume).unwrap();
    /// slipstream_ring::sidecar::prepare(&path, 0o600, None).unwrap();
    /// let (slot, saved) = Slot::claim(&path, "indexer").unwrap();
    /// assert!(saved.is_none());
    /// slot.store_cursor(42, 4096);
    /// assert!(Slot::claim(&path, "indexer").is_err()); // live, in use
    /// drop(slot);
    /// let (_slot, saved) = Slot::claim(&path, "indexer").unwrap();
    /// assert_eq!(saved.unwrap().next_seq, 42);
    /// # drop(w); std::fs::remove_file(&path).unwrap(); slipstream_ring::sidecar::remove_all(&path);
    /// ```
    pub fn claim(ring: &Path, name: &str) -> Result<(Slot, Option<SavedCursor>), SlotError> {
        if !valid_name(name) {
            return Err(SlotError::InvalidName(name.to_owned()));
        }
        let ring_file = File::open(ring).map_err(ioe("open", ring))?;
        let (header, _) = read_header(&ring_file)?;
        let ring_id = header.ring_id.get();
        let path = readers_dir(ring).join(name);
        for _ in 0..CLAIM_ATTEMPTS {
            let file = open_cursor(&path, true)?;
            if !try_lock(&file, 0)? {
                return Err(SlotError::NameInUse {
                    name: name.to_owned(),
                    pid: read_slot(&path, name).pid,
                });
            }
            // A removal may have unlinked the file between our open and our
            // lock: then the name is free again, under a new file.
            let ours = file.metadata().map_err(ioe("fstat", &path))?;
            match std::fs::symlink_metadata(&path) {
                Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => {}
                _ => {
                    let _ = unlock(&file, 0);
                    continue;
                }
            }
            return Slot::take(file, &path, name, ring_id);
        }
        Err(SlotError::NameInUse {
            name: name.to_owned(),
            pid: 0,
        })
    }

    fn take(
        file: File,
        path: &Path,
        name: &str,
        ring_id: u64,
    ) -> Result<(Slot, Option<SavedCursor>), SlotError> {
        // We hold the lock: no live process writes this file now.
        let mut bytes = [0u8; core::mem::size_of::<RawCursor>()];
        let n = read_fully(&file, &mut bytes);
        let old = RawCursor::read_from_bytes(&bytes).expect("buffer has the record's size");
        let valid = n == bytes.len()
            && old.magic == CURSOR_MAGIC
            && old.name_len.get() as usize == name.len()
            && &old.name[..name.len()] == name.as_bytes();
        let saved = (valid && old.ring_id.get() == ring_id && old.next_seq.get() != 0).then(|| {
            SavedCursor {
                next_seq: old.next_seq.get(),
                position: old.position.get(),
            }
        });
        let mut raw = if valid { old } else { RawCursor::new_zeroed() };
        raw.magic = CURSOR_MAGIC;
        raw.name_len = (name.len() as u32).into();
        raw.name = [0; CURSOR_NAME_LEN];
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        raw.pid = std::process::id().into();
        raw.ring_id = ring_id.into();
        if saved.is_none() {
            raw.next_seq = 0.into();
            raw.position = 0.into();
        }
        raw.attached_unix_ns = crate::sync::unix_ns().into();
        raw.claims = raw.claims.get().saturating_add(1).into();
        raw._reserved = [0; 104];
        if file.metadata().map_err(ioe("fstat", path))?.len() != CURSOR_FILE_LEN {
            file.set_len(CURSOR_FILE_LEN).map_err(ioe("resize", path))?;
        }
        // The record with its magic cleared, then the magic: a reader of a
        // half-written record sees "not a cursor", never a mix.
        let mut image = raw.as_bytes().to_vec();
        image[..8].fill(0);
        file.write_all_at(&image, 0).map_err(ioe("write", path))?;
        file.write_all_at(&CURSOR_MAGIC, 0)
            .map_err(ioe("write", path))?;
        // SAFETY: a shared mapping of our own cursor file (mode 0600: only
        // processes of our user can open it), of the length just set; other
        // processes read it with pread only.
        let mut map = unsafe {
            memmap2::MmapOptions::new()
                .len(CURSOR_FILE_LEN as usize)
                .map_mut(&file)
        }
        .map_err(ioe("mmap", path))?;
        // SAFETY: the mapping is page-aligned, CURSOR_FILE_LEN long, and lives
        // in `_map` next to the region.
        let region = unsafe { Region::new(map.as_mut_ptr(), CURSOR_FILE_LEN as usize) };
        Ok((
            Slot {
                name: name.to_owned(),
                ring_id,
                region,
                _map: map,
                file,
            },
            saved,
        ))
    }

    /// The name it was claimed under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stores the cursor: the next record to read and its position. Three
    /// relaxed stores to this consumer's own mapped file, no system call.
    ///
    /// The ring's id is stored again too: a record whose id was overwritten
    /// (a stray write through this process's mapping) would otherwise look
    /// like another ring's on the next claim, and its cursor would be dropped.
    #[inline]
    pub fn store_cursor(&self, next_seq: u64, position: u64) {
        self.region
            .u64(OFF_RING_ID)
            .store(self.ring_id, Ordering::Relaxed);
        self.region
            .u64(OFF_POSITION)
            .store(position, Ordering::Relaxed);
        self.region
            .u64(OFF_NEXT_SEQ)
            .store(next_seq, Ordering::Relaxed);
    }

    /// Adds to the lifetime counters: `delivered` records, and `missed`
    /// records lost to one lap (a call with `missed > 0` counts one lap), and
    /// stamps the progress time. Saturating: they are statistics, and
    /// whatever they hold must not make the consumer panic on overflow.
    #[inline]
    pub fn count(&self, delivered: u64, missed: u64) {
        let add = |off: usize, n: u64| {
            let c = self.region.u64(off);
            c.store(
                c.load(Ordering::Relaxed).saturating_add(n),
                Ordering::Relaxed,
            );
        };
        if delivered != 0 {
            add(OFF_DELIVERED, delivered);
        }
        if missed != 0 {
            add(OFF_MISSED, missed);
            add(OFF_LAPS, 1);
        }
        if delivered != 0 || missed != 0 {
            self.region
                .u64(OFF_PROGRESS)
                .store(coarse_unix_ns(), Ordering::Relaxed);
        }
    }
}

/// The wall clock at the kernel's tick resolution (a few ms): cheap enough to
/// stamp every commit.
fn coarse_unix_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The name and cursor stay, so that the consumer can come back to them.
        // The lock is released explicitly: it would go with the file
        // descriptor, but only once no forked child still holds a copy of it.
        let _ = unlock(&self.file, 0);
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_offsets_are_stable() {
        assert_eq!(core::mem::size_of::<RawCursor>(), 256);
        assert_eq!(core::mem::offset_of!(RawCursor, name), 16);
        assert_eq!(OFF_RING_ID, 80);
        assert_eq!(OFF_NEXT_SEQ, 88);
        assert_eq!(OFF_POSITION, 96);
        assert_eq!(core::mem::offset_of!(RawCursor, attached_unix_ns), 104);
        assert_eq!(OFF_DELIVERED, 112);
        assert_eq!(OFF_MISSED, 120);
        assert_eq!(OFF_LAPS, 128);
        assert_eq!(OFF_PROGRESS, 136);
        assert_eq!(core::mem::offset_of!(RawCursor, claims), 144);
    }
}
