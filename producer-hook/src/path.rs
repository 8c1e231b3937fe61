//! Where rings live and who may open them: the file policy of a producer.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::ProducerError;

/// Opens (or creates, with `mode`) the ring file at `path` for the producer.
///
/// Refuses, each with its own error: a symbolic link (`O_NOFOLLOW`: a ring is
/// never reached through a link someone else could redirect), anything but a
/// regular file, and a file owned by another user.
pub(crate) fn open_ring_file(path: &Path, mode: u32) -> Result<(File, bool), ProducerError> {
    if mode & 0o022 != 0 || mode & !0o777 != 0 {
        // A consumer that could write the ring could corrupt what every other
        // consumer reads, or truncate it under the producer (SIGBUS).
        return Err(ProducerError::WritableMode {
            path: path.to_path_buf(),
            mode,
        });
    }
    open_own_file(path, mode)
}

/// Opens (or creates) the ring's lock file, `RING.lock`, mode 0600: only this
/// user can open it, so no consumer can take or block the producer lock.
pub(crate) fn open_lock_file(ring: &Path) -> Result<File, ProducerError> {
    let path = slipstream_ring::sidecar::lock_path(ring);
    let (file, _) = open_own_file(&path, 0o600)?;
    Ok(file)
}

/// Opens (or creates, with `mode`) a regular file of this user at `path`,
/// read-write, refusing links and other users' files.
fn open_own_file(path: &Path, mode: u32) -> Result<(File, bool), ProducerError> {
    use rustix::fs::{fchmod, fstat, open, FileType, Mode, OFlags};
    let io = |op: &'static str| {
        move |e: rustix::io::Errno| ProducerError::Io {
            op,
            path: path.to_path_buf(),
            source: e.into(),
        }
    };
    let flags = OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let (fd, created): (OwnedFd, bool) = match open(
        path,
        flags | OFlags::CREATE | OFlags::EXCL,
        Mode::from_raw_mode(mode),
    ) {
        Ok(fd) => (fd, true),
        Err(rustix::io::Errno::EXIST) => match open(path, flags, Mode::empty()) {
            Ok(fd) => (fd, false),
            Err(rustix::io::Errno::LOOP) => return Err(ProducerError::Symlink(path.to_path_buf())),
            Err(e) => return Err(io("open ring file")(e)),
        },
        Err(e) => return Err(io("create ring file")(e)),
    };
    let st = fstat(&fd).map_err(io("fstat ring file"))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(ProducerError::NotAFile(path.to_path_buf()));
    }
    let euid = rustix::process::geteuid().as_raw();
    if st.st_uid != euid {
        return Err(ProducerError::NotOwner {
            path: path.to_path_buf(),
            owner: st.st_uid,
            euid,
        });
    }
    if created {
        // The umask may have narrowed the mode: apply exactly what was asked.
        fchmod(&fd, Mode::from_raw_mode(mode)).map_err(io("chmod ring file"))?;
    }
    Ok((File::from(fd), created))
}
