//! The files beside a ring, named after it (format version 2, FORMAT.md section 7).
//!
//! | path | what | created by | mode |
//! |---|---|---|---|
//! | `RING` | header and data | the producer | 0640 (never group- or other-writable) |
//! | `RING.lock` | the single-producer lock (OFD write lock on byte 0) | the producer | 0600 |
//! | `RING.wake` | sleep announcements: consumers `pwrite` a non-zero word at offset 0 | the producer | 0660 if the ring is group-readable, else 0600 |
//! | `RING.readers/` | one cursor file per named consumer | the producer (directory) | 01770 (sticky) if group-readable, else 0700 |
//! | `RING.readers/NAME` | the cursor of consumer `NAME` | that consumer | 0600 |
//!
//! The producer's publishing thread maps none of the consumer-writable files:
//! it never reads `RING.wake` at all (a waker thread `pread`s it), and never
//! opens a cursor file.

use std::path::{Path, PathBuf};

/// The permission bits of a ring file (`RING` in the table above), parsed
/// from octal text: the one parser of a ring's mode, for producers' command
/// lines and configuration files alike.
///
/// Grammar: optional whitespace, an optional `0o` prefix, octal digits whose
/// value is at most `0o777` (so `640`, `0640` and `0o640` are one mode).
/// Parsing does not judge the mode: a producer refuses group- or
/// other-writable bits when it creates the ring (FORMAT.md section 7).
///
/// ```
/// use slipstream_ring::FileMode;
/// assert_eq!("640".parse::<FileMode>().unwrap().bits(), 0o640);
/// assert_eq!("0o600".parse::<FileMode>().unwrap().bits(), 0o600);
/// let err = "rw".parse::<FileMode>().unwrap_err();
/// assert_eq!(err.to_string(), r#""rw" is not an octal permission mode such as 600, 0640 or 0o640 (at most 777)"#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileMode(u32);

impl FileMode {
    /// The permission bits (at most `0o777`).
    pub const fn bits(self) -> u32 {
        self.0
    }
}

impl std::str::FromStr for FileMode {
    type Err = ParseModeError;

    /// Parses the grammar of [`FileMode`].
    ///
    /// # Errors
    /// [`ParseModeError`] if `s` is not octal digits (after the optional
    /// `0o`) or exceeds `0o777`.
    fn from_str(s: &str) -> Result<FileMode, ParseModeError> {
        u32::from_str_radix(s.trim().trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .map(FileMode)
            .ok_or_else(|| ParseModeError { text: s.to_owned() })
    }
}

/// Text that is not a [`FileMode`]: its [`Display`](std::fmt::Display) names
/// the text and the accepted form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an octal permission mode such as 600, 0640 or 0o640 (at most 777)")]
pub struct ParseModeError {
    /// The text given.
    pub text: String,
}

fn with_suffix(ring: &Path, suffix: &str) -> PathBuf {
    let mut s = ring.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `RING.lock`: the file the producer locks.
///
/// ```
/// use std::path::Path;
/// assert_eq!(slipstream_ring::sidecar::lock_path(Path::new("/dev/shm/ev")), Path::new("/dev/shm/ev.lock"));
/// ```
pub fn lock_path(ring: &Path) -> PathBuf {
    with_suffix(ring, ".lock")
}

/// `RING.wake`: where sleeping consumers announce themselves.
///
/// ```
/// use std::path::Path;
/// assert_eq!(slipstream_ring::sidecar::wake_path(Path::new("ev")), Path::new("ev.wake"));
/// ```
pub fn wake_path(ring: &Path) -> PathBuf {
    with_suffix(ring, ".wake")
}

/// `RING.readers`: the directory of cursor files.
///
/// ```
/// use std::path::Path;
/// assert_eq!(slipstream_ring::sidecar::readers_dir(Path::new("ev")), Path::new("ev.readers"));
/// ```
pub fn readers_dir(ring: &Path) -> PathBuf {
    with_suffix(ring, ".readers")
}

/// Bytes of a cursor's name, at most (the name field of a cursor file,
/// [`RawCursor`](crate::slots::RawCursor)).
pub const CURSOR_NAME_LEN: usize = 64;

/// Whether `name` can name a consumer: 1 to 64 bytes of `[A-Za-z0-9_.-]`, not
/// starting with `.` (it is a file name in [`readers_dir`]).
///
/// ```
/// use slipstream_ring::sidecar::valid_name;
/// assert!(valid_name("indexer-1"));
/// assert!(!valid_name("../x") && !valid_name(".hidden") && !valid_name(""));
/// ```
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= CURSOR_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `RING.readers/NAME`: the cursor file of consumer `name`.
pub fn cursor_path(ring: &Path, name: &str) -> PathBuf {
    readers_dir(ring).join(name)
}

/// Creates (or checks and repairs the permissions of) the files a producer
/// keeps beside the ring at `ring`: `RING.wake` and `RING.readers/`, with the
/// modes of the table above for a ring of permission bits `ring_mode`, in
/// group `gid` if given. Files that exist must be owned by this user.
///
/// # Errors
/// The failing system call, or [`std::io::ErrorKind::PermissionDenied`] if a
/// sidecar is owned by another user (someone squatted the name).
pub fn prepare(ring: &Path, ring_mode: u32, gid: Option<u32>) -> std::io::Result<()> {
    use rustix::fs::{fchmod, fchown, fstat, mkdir, open, FileType, Gid, Mode, OFlags};
    let group_read = ring_mode & 0o040 != 0;
    let euid = rustix::process::geteuid().as_raw();
    let check = |fd: &std::os::fd::OwnedFd, what: &Path, dir: bool| -> std::io::Result<()> {
        let st = fstat(fd)?;
        let want = if dir {
            FileType::Directory
        } else {
            FileType::RegularFile
        };
        if FileType::from_raw_mode(st.st_mode) != want || st.st_uid != euid {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{} is not a {} owned by uid {euid}: remove it",
                    what.display(),
                    if dir { "directory" } else { "regular file" }
                ),
            ));
        }
        Ok(())
    };
    let own = |fd: &std::os::fd::OwnedFd| -> std::io::Result<()> {
        if let Some(g) = gid {
            fchown(fd, None, Some(Gid::from_raw(g)))?;
        }
        Ok(())
    };
    // The wake file.
    let wake = wake_path(ring);
    let wake_mode = if group_read { 0o660 } else { 0o600 };
    let fd = open(
        &wake,
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(wake_mode),
    )?;
    check(&fd, &wake, false)?;
    own(&fd)?;
    fchmod(&fd, Mode::from_raw_mode(wake_mode))?;
    // The readers directory.
    let dir = readers_dir(ring);
    match mkdir(&dir, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    let fd = open(
        &dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    check(&fd, &dir, true)?;
    own(&fd)?;
    fchmod(
        &fd,
        Mode::from_raw_mode(if group_read { 0o1770 } else { 0o700 }),
    )?;
    Ok(())
}

/// Removes the sidecar files of the ring at `ring` that this process may
/// remove (for tests and `--recreate`); errors are ignored.
pub fn remove_all(ring: &Path) {
    let _ = std::fs::remove_file(lock_path(ring));
    let _ = std::fs::remove_file(wake_path(ring));
    let _ = std::fs::remove_dir_all(readers_dir(ring));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_modes_parse_octal_up_to_0o777() {
        for (text, bits) in [
            ("600", 0o600),
            ("0600", 0o600),
            ("0o640", 0o640),
            (" 640\n", 0o640),
            ("0", 0),
            ("777", 0o777),
        ] {
            assert_eq!(
                text.parse::<FileMode>().map(FileMode::bits),
                Ok(bits),
                "{text:?}"
            );
        }
        for text in ["", "0o", "rw", "8", "640x", "1000", "0o1000", "-1", "0x1ff"] {
            let err = text.parse::<FileMode>().unwrap_err();
            assert_eq!(err.text, text);
            assert!(err.to_string().contains("octal"), "{err}");
        }
    }
}
