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

mod config;
mod error;
mod interface;
mod options;
mod path;
mod plugin;
mod producer;
mod waker;

pub use config::{parse_duration, parse_size, ConfigError, ParseWakeError, PluginConfig, Size};
pub use error::{ProducerError, PublishError};
pub use interface::{BroadcastEvent, BroadcastEventKind, SlipstreamPlugin, INTERFACE_VERSION};
pub use options::{ProducerOptions, Wake};
pub use plugin::{
    _create_plugin, slipstream_plugin_interface_version, slipstream_plugin_rustc_version,
    PluginError, RingPlugin, RUSTC_VERSION,
};
pub use producer::Producer;
pub use slipstream_event::{EventKind, EventRef, KindSet};
pub use slipstream_ring::{resolve_ring_path, Layout, SHM_DIR};
