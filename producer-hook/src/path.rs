//! Where rings live and who may open them: the file policy of a producer.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::ProducerError;

/// The folder a bare ring name resolves to: memory, not disk.
pub const SHM_DIR: &str = "/dev/shm";

/// Resolves a ring's name or path: a bare name (no `/`) is a file under
/// [`SHM_DIR`], so that the ring lives in memory; anything else is a path and
/// is used as given.
///
/// ```
/// use slipstream_producer::resolve_ring_path;
/// assert_eq!(resolve_ring_path("node-events"), std::path::Path::new("/dev/shm/node-events"));
/// assert_eq!(resolve_ring_path("./rings/a"), std::path::Path::new("./rings/a"));
/// ```
pub fn resolve_ring_path(name_or_path: impl AsRef<Path>) -> PathBuf {
    let p = name_or_path.as_ref();
    let is_bare = p.components().count() == 1 && !p.as_os_str().to_string_lossy().contains('/');
    if is_bare && !p.as_os_str().is_empty() && p != Path::new(".") && p != Path::new("..") {
        Path::new(SHM_DIR).join(p)
    } else {
        p.to_path_buf()
    }
}

/// Opens (or creates, with `mode`) the ring file at `path` for the producer.
///
/// Refuses, each with its own error: a symbolic link (`O_NOFOLLOW`: a ring is
/// never reached through a link someone else could redirect), anything but a
/// regular file, and a file owned by another user.
pub(crate) fn open_ring_file(path: &Path, mode: u32) -> Result<(File, bool), ProducerError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_go_to_shm_paths_stay() {
        assert_eq!(resolve_ring_path("x"), PathBuf::from("/dev/shm/x"));
        assert_eq!(resolve_ring_path("/tmp/x"), PathBuf::from("/tmp/x"));
        assert_eq!(resolve_ring_path("a/b"), PathBuf::from("a/b"));
        assert_eq!(resolve_ring_path("."), PathBuf::from("."));
    }
}
