//! How a ring is named: the one rule producers and consumers share (FORMAT.md section 1).

use std::path::{Path, PathBuf};

/// The folder a bare ring name resolves to: memory, not disk.
pub const SHM_DIR: &str = "/dev/shm";

/// Resolves a ring's name or path: a bare name (no `/`) is a file under
/// [`SHM_DIR`], so that the ring lives in memory; anything else is a path and
/// is used as given. Producers and consumers resolve names the same way, so
/// that `node-events` means the same ring to both.
///
/// ```
/// use slipstream_ring::resolve_ring_path;
/// use std::path::Path;
/// assert_eq!(resolve_ring_path("node-events"), Path::new("/dev/shm/node-events"));
/// assert_eq!(resolve_ring_path("./rings/a"), Path::new("./rings/a"));
/// assert_eq!(resolve_ring_path("/tmp/r"), Path::new("/tmp/r"));
/// assert_eq!(resolve_ring_path("."), Path::new("."));
/// ```
pub fn resolve_ring_path(name_or_path: impl AsRef<Path>) -> PathBuf {
    let p = name_or_path.as_ref();
    let s = p.as_os_str().to_string_lossy();
    if !s.contains('/') && !s.is_empty() && s != "." && s != ".." {
        Path::new(SHM_DIR).join(p)
    } else {
        p.to_path_buf()
    }
}
