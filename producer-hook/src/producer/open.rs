//! Opening a ring file for a [`Producer`]: creating it safely (mode, group,
//! no file left behind when creation fails), resuming it, or recreating it
//! (only a file that holds a ring) when its layout or version changed.

use std::path::Path;

use slipstream_ring::{IfExists, OpenError, Wake as RingWake, Writer};

use super::Producer;
use crate::path::{open_lock_file, open_ring_file};
use crate::waker::{WakerThread, EVERY_EVENT_WAKER_INTERVAL};
use crate::{ProducerError, ProducerOptions, Wake};
use slipstream_ring::resolve_ring_path;

impl Producer {
    /// Opens the ring at `path` (a bare name is a file under `/dev/shm`),
    /// creating it if it does not exist, resuming it after the last committed
    /// event if it does.
    ///
    /// # Errors
    ///
    /// [`ProducerError::WritableMode`] for a `mode` other users could write;
    /// [`ProducerError::Symlink`] or [`ProducerError::NotAFile`] for a path
    /// that is not a regular file; [`ProducerError::NotOwner`] for another
    /// user's ring; [`ProducerError::Open`] for a ring that cannot be used
    /// (another producer holds it, another layout or version without
    /// `recreate`, corruption, an invalid layout); [`ProducerError::Io`] and
    /// [`ProducerError::Sidecar`] for a failed system call. A ring this call
    /// created is removed again when it fails.
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-open-{}", std::process::id()));
    /// let options = ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() };
    /// let mut p = Producer::open(&path, options.clone())?; // creates the ring
    /// p.block_at(1, b"block one")?;
    /// drop(p); // commits block 1
    /// let p = Producer::open(&path, options)?; // resumes it
    /// assert_eq!(p.next_seq(), 4); // after begin, block, commit
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(
        path: impl AsRef<Path>,
        options: ProducerOptions,
    ) -> Result<Producer, ProducerError> {
        let path = resolve_ring_path(path);
        options
            .layout
            .geometry()
            .map_err(OpenError::from)
            .map_err(|source| ProducerError::Open {
                path: path.clone(),
                source,
            })?;
        let (file, created) = open_ring_file(&path, options.mode)?;
        if created {
            set_group(&file, options.group, &path)?;
        }
        let lock = open_lock_file(&path)?;
        // A second descriptor of the lock's open file description: it keeps
        // the producer lock taken through `lock` until a failed creation is
        // undone.
        let creation = if created {
            file.try_clone().ok().zip(lock.try_clone().ok())
        } else {
            None
        };
        let ring_mode = {
            use std::os::unix::fs::PermissionsExt;
            file.metadata()
                .map(|m| m.permissions().mode())
                .unwrap_or(options.mode)
        };
        let ring_gid = {
            use std::os::unix::fs::MetadataExt;
            file.metadata().map(|m| m.gid()).ok()
        };
        let opened = Writer::open_with(
            file,
            lock,
            options.layout,
            IfExists::Resume,
            options.first_seq,
        );
        let mut writer = match opened {
            Ok(w) => w,
            Err(e) if options.recreate && replaceable(&e) && holds_a_ring(&path) => {
                tracing::warn!(path = %path.display(), error = %e, "replacing the ring");
                recreate(&path, &options)?
            }
            Err(source) => {
                if let Some((created, _lock)) = creation {
                    remove_failed_creation(&path, &created);
                }
                return Err(ProducerError::Open { path, source });
            }
        };
        // The files consumers write (the wake file, their cursors) live
        // beside the ring; this thread never maps them.
        slipstream_ring::sidecar::prepare(&path, ring_mode, options.group.or(ring_gid)).map_err(
            |source| ProducerError::Sidecar {
                path: path.clone(),
                source,
            },
        )?;
        let wake = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(slipstream_ring::sidecar::wake_path(&path))
            .map_err(|source| ProducerError::Sidecar {
                path: path.clone(),
                source,
            })?;
        writer.set_wake_file(wake);
        let mut p = Producer {
            writer,
            path,
            kinds: options.kinds,
            wake: options.wake,
            block: None,
            last_height: None,
            waker: None,
        };
        p.apply_wake();
        tracing::info!(path = %p.path.display(), epoch = p.writer.epoch(), next_seq = p.writer.next_seq(), "producer opened ring");
        Ok(p)
    }

    fn apply_wake(&mut self) {
        self.writer.set_wake_mode(match self.wake {
            Wake::EveryEvent => RingWake::Immediate,
            Wake::AtBlockEnd | Wake::Thread { .. } => RingWake::Deferred,
        });
        self.waker = match self.wake {
            Wake::Thread { interval } => Some(WakerThread::spawn(self.writer.waker(), interval)),
            // The finalize thread never reads the consumers' wake file: this
            // thread does, and flags a sleeper for the next event to wake.
            Wake::EveryEvent => Some(WakerThread::spawn(
                self.writer.waker(),
                EVERY_EVENT_WAKER_INTERVAL,
            )),
            Wake::AtBlockEnd => None,
        };
    }
}

/// Whether the file at `path` is a Slipstream ring (or one being created):
/// empty, or starting with the ring magic or with the zeros a creation leaves
/// before it writes the magic. `recreate` replaces only such files: a path
/// that names anything else (a user's file given by mistake) is never
/// overwritten.
fn holds_a_ring(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    // Empty, or a whole magic (or zeros, a ring whose creation was cut short):
    // the one magic test, `may_be_ring`; a shorter file is not a ring.
    match f.read(&mut head) {
        Ok(n @ (0 | 8)) => slipstream_ring::layout::may_be_ring(&head[..n]),
        _ => false,
    }
}

fn replaceable(e: &OpenError) -> bool {
    matches!(
        e,
        OpenError::Layout(_)
            | OpenError::LayoutMismatch { .. }
            | OpenError::Truncated { .. }
            | OpenError::Corrupt(_)
            | OpenError::NotInitialized
    )
}

/// Removes the file this producer created at `path` and could not make a
/// ring in (a full disk: `fallocate` failed), so that nothing is left behind
/// that readers would wait on as "being created", or that the next producer
/// would refuse as not initialised (a partly allocated file of zeros).
/// `created` still holds the producer lock, so no other producer can have
/// started on the file; and it is removed only if `path` still names it.
fn remove_failed_creation(path: &Path, created: &std::fs::File) {
    use std::os::unix::fs::MetadataExt;
    let same = match (created.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    if same {
        let _ = std::fs::remove_file(path);
        // And the lock file this producer made for it (it still holds the
        // lock, so no other producer uses it).
        let _ = std::fs::remove_file(slipstream_ring::sidecar::lock_path(path));
    }
}

/// Creates a new ring in a temporary file beside `path` and renames it over
/// `path`, so that consumers still mapping the old file keep a valid mapping.
fn recreate(path: &Path, options: &ProducerOptions) -> Result<Writer, ProducerError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.new-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let (file, _) = open_ring_file(&tmp, options.mode)?;
    set_group(&file, options.group, &tmp)?;
    let lock = open_lock_file(path)?;
    let writer =
        Writer::create(file, lock, options.layout, options.first_seq).map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            ProducerError::Open {
                path: tmp.clone(),
                source,
            }
        })?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        ProducerError::Io {
            op: "rename new ring over old",
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(writer)
}

/// Gives the new ring file `file` (at `path`, for the error) the group
/// `group`, if one is configured.
fn set_group(file: &std::fs::File, group: Option<u32>, path: &Path) -> Result<(), ProducerError> {
    let Some(gid) = group else {
        return Ok(());
    };
    rustix::fs::fchown(file, None, Some(rustix::fs::Gid::from_raw(gid))).map_err(|e| {
        ProducerError::Io {
            op: "chown ring file",
            path: path.to_path_buf(),
            source: e.into(),
        }
    })
}
