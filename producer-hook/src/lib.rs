//! # slipstream-producer
//!
//! What a node links to publish its finalize events into a Slipstream ring:
//! open a ring by name or path ([`Producer::open`]), publish each kind of event
//! encoded straight into the ring, delimit blocks with begin/commit markers, and
//! [`RingPlugin`], the adapter that implements snarkVM's own Slipstream plugin
//! interface (crate `snarkvm-slipstream-plugin-interface` 4.11, whose
//! [`SlipstreamPlugin`] trait and [`BroadcastEvent`] are re-exported here),
//! loaded from this crate's `cdylib` (`_create_plugin`) or linked statically.
//!
//! [`Producer`] is the node-independent API, for nodes that link this crate
//! directly: it also publishes the kinds the 4.11 interface lacks (mapping
//! removals, whole blocks) and delimits blocks explicitly.
//!
//! Publishing never blocks and never waits for a consumer: consumers run in
//! their own processes and read the ring at their own pace; one that falls
//! behind is lapped and told exactly what it missed.
//!
//! ```
//! use slipstream_producer::{Layout, Producer, ProducerOptions};
//! let path = std::env::temp_dir().join(format!("doc-lib-{}", std::process::id()));
//! let options = ProducerOptions { layout: Layout::new(1 << 20), ..Default::default() };
//! let mut producer = Producer::open(&path, options)?;
//! producer.begin_block(7)?;
//! producer.mapping_update(b"credits.aleo", b"account", b"key", b"value")?;
//! producer.commit_block()?;
//! # drop(producer); std::fs::remove_file(path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod path;
mod plugin;
mod producer;

pub use plugin::{
    _create_plugin, parse_duration, parse_size, slipstream_plugin_interface_version,
    slipstream_plugin_rustc_version, BroadcastEvent, BroadcastEventKind, ConfigError,
    ParseWakeError, PluginConfig, PluginError, RingPlugin, Size, SlipstreamPlugin,
    INTERFACE_VERSION, RUSTC_VERSION,
};
pub use producer::{Producer, ProducerOptions, PublishError, Wake};
pub use slipstream_event::{EventKind, EventRef, KindSet};
pub use slipstream_ring::{resolve_ring_path, Layout, SHM_DIR};

use std::path::PathBuf;

/// An error opening a ring as its producer.
///
/// ```
/// use slipstream_producer::{Layout, Producer, ProducerError, ProducerOptions};
/// let path = std::env::temp_dir().join(format!("doc-producer-error-{}", std::process::id()));
/// let options = ProducerOptions { layout: Layout::new(1 << 16), mode: 0o666, ..Default::default() };
/// let err = Producer::open(&path, options).unwrap_err();
/// assert!(matches!(err, ProducerError::WritableMode { mode: 0o666, .. }), "{err}");
/// assert!(!path.exists());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProducerError {
    /// The ring file exists but cannot be used as this producer's ring.
    #[error("ring {path}: {source}")]
    Open {
        /// The ring's path.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: slipstream_ring::OpenError,
    },
    /// A system call on the ring's path failed.
    #[error("ring {path}: {op} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The ring's path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The path is a symbolic link, which a producer refuses to follow.
    #[error("ring {0} is a symbolic link; a producer opens rings only by their real path")]
    Symlink(PathBuf),
    /// The path is not a regular file.
    #[error("ring {0} is not a regular file")]
    NotAFile(PathBuf),
    /// The requested permission bits would let other users write the ring.
    #[error("ring {path}: mode {mode:#o} lets other users write the ring; consumers only ever need to read it (use 0600 or 0640)")]
    WritableMode {
        /// The ring's path.
        path: PathBuf,
        /// The mode asked for.
        mode: u32,
    },
    /// The ring's sidecar files (wake file, readers directory) could not be prepared.
    #[error("ring {path}: preparing its sidecar files failed: {source}")]
    Sidecar {
        /// The ring's path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file belongs to another user.
    #[error("ring {path} belongs to uid {owner}, not to this process's uid {euid}; refusing to write it")]
    NotOwner {
        /// The ring's path.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// This process's effective uid.
        euid: u32,
    },
}
