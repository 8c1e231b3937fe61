//! snarkVM's plugin interface, as this crate is built against it: its
//! version, and its trait and event types (re-exported, so that a node and
//! this crate name the same ones).

pub use snarkvm_slipstream_plugin_interface::slipstream_plugin_interface::{
    BroadcastEvent, BroadcastEventKind, SlipstreamPlugin,
};

/// The version of `snarkvm-slipstream-plugin-interface` this crate is built
/// against (its dependency is pinned to exactly this version).
///
/// ```
/// assert_eq!(slipstream_producer::INTERFACE_VERSION, "4.11.0");
/// ```
pub const INTERFACE_VERSION: &str = "4.11.0";
