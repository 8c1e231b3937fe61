//! What the producer and its readers both do with a ring file: read and
//! validate its header (with `pread`, before anything is mapped), the locks,
//! and whether the producer the header names is alive.
//!
//! Exclusivity uses an open-file-description (OFD) write lock on byte 0 of
//! the ring's lock file (`RING.lock`, mode 0600: no consumer can open it, so
//! none can take or block the lock; the kernel releases it when the producer
//! dies). Consumers learn whether the producer lives from the header instead
//! (its pid and start time, checked against `/proc`), since they cannot probe
//! a lock on a file they cannot open. Creating and opening a writer is in
//! `writer/open.rs`, attaching a reader in `reader/attach.rs`.

use crate::error::{io, LayoutError, OpenError};
use crate::layout::*;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use zerocopy::FromBytes;

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

/// Reads the header of the ring in `file` with `pread` (nothing is mapped)
/// and validates it: the one header reader, which producers, readers and the
/// tools all use. Returns the copy and the geometry it describes.
///
/// `file` may be opened read-only. A file that does not start with the ring
/// magic (or the zeros a creation leaves before writing it) is "not a ring"
/// even when it is short, so that a stray file of another format is never
/// called a truncated ring.
///
/// # Errors
/// - [`OpenError::NotInitialized`]: the file is empty, or its magic is still
///   zero (a producer is creating it).
/// - [`OpenError::Layout`]: the magic, version or geometry is not a ring's
///   ([`LayoutError::BadMagic`], [`LayoutError::UnsupportedVersion`], ...).
/// - [`OpenError::Truncated`]: the file is shorter than a header, or than
///   the header says (`expected` tells which).
/// - [`OpenError::Io`]: `fstat` or `pread` failed.
///
/// ```
/// use slipstream_ring::{read_header, IfExists, Layout, OpenError, Writer};
/// let dir = std::env::temp_dir().join(format!("doc-read-header-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let (path, lock) = (dir.join("ring"), dir.join("ring.lock"));
/// let rw = |p: &std::path::Path| std::fs::OpenOptions::new().read(true).write(true).create(true).open(p).unwrap();
/// let w = Writer::open(rw(&path), rw(&lock), Layout::new(1 << 16), IfExists::Resume)?;
/// let (header, geometry) = read_header(&std::fs::File::open(&path)?)?;
/// assert_eq!(header.magic, slipstream_ring::layout::MAGIC);
/// assert_eq!(geometry.capacity, 1 << 16);
///
/// std::fs::write(dir.join("empty"), b"")?;
/// let empty = std::fs::File::open(dir.join("empty"))?;
/// assert!(matches!(read_header(&empty), Err(OpenError::NotInitialized)));
/// # drop(w); std::fs::remove_dir_all(dir).unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_header(file: &File) -> Result<(RawHeader, Geometry), OpenError> {
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
        if !may_be_ring(&magic) {
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
