//! The files of a journal directory.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{io, JournalError};
use crate::format::{index_name, parse_name, segment_name};

/// One segment file of a journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentFile {
    /// The sequence number of its first entry (from its name).
    pub base: u64,
    /// Its path.
    pub path: PathBuf,
    /// The path of its index file.
    pub index_path: PathBuf,
    /// Its length in bytes.
    pub len: u64,
    /// When it was last written.
    pub modified: SystemTime,
}

/// The segment files of the journal in `dir`, oldest first. Other files are ignored.
///
/// # Errors
/// [`JournalError::Io`] if the directory cannot be read.
pub fn segments(dir: &Path) -> Result<Vec<SegmentFile>, JournalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("read directory", dir))? {
        let entry = entry.map_err(io("read directory", dir))?;
        let name = entry.file_name();
        let Some((base, true)) = name.to_str().and_then(parse_name) else {
            continue;
        };
        // A segment deleted since the listing is simply not listed.
        let Ok(meta) = entry.metadata() else { continue };
        out.push(SegmentFile {
            base,
            path: dir.join(segment_name(base)),
            index_path: dir.join(index_name(base)),
            len: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        });
    }
    out.sort_by_key(|s| s.base);
    Ok(out)
}

/// Makes a rename or creation in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory", dir))
}
