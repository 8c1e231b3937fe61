//! Durable named cursors in the journal directory (FORMAT.md, section 5).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use zerocopy::{FromBytes, IntoBytes};

use crate::dir::sync_dir;
use crate::error::{io, JournalError};
use crate::format::CursorFile;

fn cursor_dir(dir: &Path) -> PathBuf {
    dir.join("cursors")
}

fn check_name(dir: &Path, name: &str) -> Result<(), JournalError> {
    if name.is_empty()
        || name.len() > 64
        || name.contains('/')
        || name.starts_with('.')
        || name.contains('\0')
    {
        return Err(JournalError::BadRecord {
            dir: dir.into(),
            seq: 0,
            detail: format!(
                "{name:?} is not a cursor name (1 to 64 bytes, no '/', not starting with '.')"
            ),
        });
    }
    Ok(())
}

/// Stores `next_seq` as the durable cursor `name` of the journal in `dir`,
/// atomically: a crash leaves the old cursor or the new one, never a torn one
/// (write a temporary file, fsync it, rename it over, fsync the directory).
///
/// ```
/// let dir = std::env::temp_dir().join(format!("doc-cursor-{}", std::process::id()));
/// slipstream_journal::store_cursor(&dir, "indexer", 42)?;
/// assert_eq!(slipstream_journal::load_cursor(&dir, "indexer")?, Some(42));
/// assert_eq!(slipstream_journal::load_cursor(&dir, "other")?, None);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// A bad name, or I/O errors naming the file.
pub fn store_cursor(dir: impl AsRef<Path>, name: &str, next_seq: u64) -> Result<(), JournalError> {
    let dir = dir.as_ref();
    check_name(dir, name)?;
    let cdir = cursor_dir(dir);
    std::fs::create_dir_all(&cdir).map_err(io("create directory", &cdir))?;
    let path = cdir.join(format!("{name}.cursor"));
    let tmp = cdir.join(format!(".{name}.cursor.tmp"));
    let c = CursorFile::new(next_seq, crate::writer::unix_ns());
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    f.write_all(c.as_bytes()).map_err(io("write", &tmp))?;
    f.sync_all().map_err(io("fsync", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(io("rename", &path))?;
    sync_dir(&cdir)
}

/// The durable cursor `name` of the journal in `dir`, if one was stored.
///
/// # Errors
/// A file that is not a valid cursor (naming it), or I/O errors.
pub fn load_cursor(dir: impl AsRef<Path>, name: &str) -> Result<Option<u64>, JournalError> {
    let dir = dir.as_ref();
    check_name(dir, name)?;
    let path = cursor_dir(dir).join(format!("{name}.cursor"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", &path)(e)),
    };
    match CursorFile::read_from_bytes(&bytes) {
        Ok(c) if c.valid() => Ok(Some(c.next_seq.get())),
        _ => Err(JournalError::Corrupt {
            path,
            offset: 0,
            detail: format!("not a valid cursor file ({} bytes; a cursor is 32 with magic SLIPJCUR and a CRC-32C)", bytes.len()),
        }),
    }
}
