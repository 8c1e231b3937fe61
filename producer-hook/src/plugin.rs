//! The Slipstream plugin adapter: snarkVM's own plugin interface, backed by a
//! ring. Everything a node operator needs is on [`RingPlugin`].

use std::cell::UnsafeCell;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use slipstream_event::EventRef;

use crate::config::{ConfigError, PluginConfig};
use crate::interface::{BroadcastEvent, BroadcastEventKind, SlipstreamPlugin, INTERFACE_VERSION};

use crate::{Producer, ProducerError};

/// The `rustc --version` of the compiler that built this crate.
///
/// ```
/// assert!(slipstream_producer::RUSTC_VERSION.starts_with("rustc "));
/// ```
pub const RUSTC_VERSION: &str = env!("SLIPSTREAM_RUSTC_VERSION");

const RUSTC_VERSION_C: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("SLIPSTREAM_RUSTC_VERSION"), "\0").as_bytes()) {
        Ok(s) => s,
        Err(_) => panic!("the rustc version holds a NUL byte"),
    };

const INTERFACE_VERSION_C: &CStr = c"4.11.0";

/// The `rustc --version` of the compiler that built the library, as a static
/// NUL-terminated C string (never null, never to be freed): a node can check
/// it against its own compiler before it calls `_create_plugin`.
///
/// ```
/// let v = unsafe { std::ffi::CStr::from_ptr(slipstream_producer::slipstream_plugin_rustc_version()) };
/// assert!(v.to_str().unwrap().starts_with("rustc "));
/// ```
#[no_mangle]
pub extern "C" fn slipstream_plugin_rustc_version() -> *const c_char {
    RUSTC_VERSION_C.as_ptr()
}

/// The version of `snarkvm-slipstream-plugin-interface` the library was built
/// against, as a static NUL-terminated C string (never null, never to be freed).
///
/// ```
/// let v = unsafe { std::ffi::CStr::from_ptr(slipstream_producer::slipstream_plugin_interface_version()) };
/// assert_eq!(v.to_str().unwrap(), slipstream_producer::INTERFACE_VERSION);
/// ```
#[no_mangle]
pub extern "C" fn slipstream_plugin_interface_version() -> *const c_char {
    INTERFACE_VERSION_C.as_ptr()
}

/// An error the plugin reports to the node (as an `anyhow::Error`, whose
/// message is this error's).
///
/// ```
/// use slipstream_producer::{BroadcastEvent, PluginError, RingPlugin, SlipstreamPlugin};
/// let plugin = RingPlugin::new(); // not loaded: no ring yet
/// let err = plugin.on_broadcast(BroadcastEvent::StakingReward {
///     staker: b"s", validator: b"v", reward: 1, new_stake: 2, block_height: 1,
/// }).unwrap_err();
/// assert!(matches!(err.downcast_ref(), Some(PluginError::NotLoaded)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The config file could not be read.
    #[error("slipstream plugin config {path}: {source}")]
    ReadConfig {
        /// The config file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The config file is invalid.
    #[error("slipstream plugin config {path}: {source}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: ConfigError,
    },
    /// The ring could not be opened.
    #[error(transparent)]
    Producer(#[from] ProducerError),
    /// An event could not be published (too large for the ring); its block is
    /// abandoned.
    #[error("slipstream plugin could not publish an event of block {height}, which is abandoned: {source}")]
    Publish {
        /// The event's block.
        height: u32,
        /// Why the ring refused it.
        #[source]
        // `crate::PublishError`: the producer's refusals, whichever type the
        // crate names so (the ring's today).
        source: crate::PublishError,
    },
    /// An event arrived before `on_load` (or after `on_unload`).
    #[error("slipstream plugin received an event while not loaded")]
    NotLoaded,
    /// `on_broadcast` was called while another call was running (the manager
    /// calls it from one thread): refused rather than waited for.
    #[error("slipstream plugin refused a concurrent on_broadcast (it is never waited for)")]
    Busy,
    /// An event's height is lower than the open block's.
    #[error("slipstream plugin refused an event of block {got}: block {open} is open and heights may not go back")]
    HeightWentBack {
        /// The open block's height.
        open: u32,
        /// The event's height.
        got: u32,
    },
    /// An event of a block abandoned after one of its events could not be
    /// published.
    #[error("slipstream plugin refused an event of block {height}: the block was abandoned after an event of it could not be published")]
    BlockAbandoned {
        /// The block's height.
        height: u32,
    },
    /// A callback panicked; the panic was caught.
    #[error("slipstream plugin {callback} panicked: {message}")]
    Panicked {
        /// The callback.
        callback: &'static str,
        /// The panic's message.
        message: String,
    },
    /// An earlier callback panicked: the plugin publishes nothing more until
    /// it is loaded again.
    #[error("slipstream plugin refused an event: an earlier callback panicked, so it publishes nothing until it is loaded again")]
    Failed,
}

/// The adapter's view of the block being published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenBlock {
    height: u32,
    /// An event of it could not be published: it is never committed, and
    /// the rest of its events are refused.
    abandoned: bool,
}

/// A value one caller at a time may use: a second, concurrent caller is
/// refused at once, never made to wait. Cheaper than a mutex's `try_lock` on
/// the finalize thread: the release is a plain store, not an atomic swap
/// that checks for waiters (there are none to wake).
struct Exclusive<T> {
    busy: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through `try_with`, by one thread at a
// time (the one that set `busy`), or through `get_mut` (`&mut self`): sharing
// an `Exclusive` across threads only moves access to the value between them,
// which `T: Send` permits.
unsafe impl<T: Send> Sync for Exclusive<T> {}

impl<T> Exclusive<T> {
    fn new(value: T) -> Self {
        Exclusive {
            busy: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` on the value, or returns `None` at once if another call is
    /// inside (from another thread, or from `f` itself).
    #[inline]
    fn try_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        // Acquire: pairs with the Release store in `Release::drop`, so that
        // this holder sees every write the previous holder made.
        if self.busy.swap(true, Ordering::Acquire) {
            return None;
        }
        struct Release<'a>(&'a AtomicBool);
        impl Drop for Release<'_> {
            #[inline]
            fn drop(&mut self) {
                // Release: pairs with the Acquire swap of the next holder.
                self.0.store(false, Ordering::Release);
            }
        }
        // Dropped on return and on unwind alike: a panic in `f` frees it.
        let _release = Release(&self.busy);
        // SAFETY: `busy` was false and this call set it, so no other
        // reference to the value exists until `_release` clears it: `get_mut`
        // needs `&mut self`, which cannot coexist with this `&self`.
        Some(f(unsafe { &mut *self.value.get() }))
    }

    fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

/// A loaded plugin's state: only `on_broadcast` (holding the flag) and the
/// `&mut self` callbacks touch it.
#[derive(Debug)]
struct Loaded {
    producer: Producer,
    open: Option<OpenBlock>,
    /// A callback panicked: nothing more is published.
    failed: bool,
    /// The unit tests' way to make `publish` panic at a height.
    #[cfg(test)]
    panic_at: Option<u32>,
}

/// The node's event as the ring's [`EventRef`]: the one conversion on the
/// way from the node to the ring (its ordinal is the producer's to assign).
#[inline]
fn event_ref<'a>(event: &BroadcastEvent<'a>) -> EventRef<'a> {
    match *event {
        BroadcastEvent::MappingUpdate {
            program_id,
            mapping_name,
            key,
            value,
            block_height,
        } => EventRef::MappingUpdate {
            block_height: u64::from(block_height),
            ordinal: 0,
            program_id,
            mapping_name,
            key,
            value,
        },
        BroadcastEvent::StakingReward {
            staker,
            validator,
            reward,
            new_stake,
            block_height,
        } => EventRef::StakingReward {
            block_height: u64::from(block_height),
            ordinal: 0,
            staker,
            validator,
            reward,
            new_stake,
        },
    }
}

impl Loaded {
    /// Publishes one of the node's events, inferring blocks from its height
    /// (the module's "Blocks" section).
    #[inline]
    fn publish(&mut self, event: BroadcastEvent<'_>) -> Result<(), PluginError> {
        if self.failed {
            return Err(PluginError::Failed);
        }
        let height = match event {
            BroadcastEvent::MappingUpdate { block_height, .. }
            | BroadcastEvent::StakingReward { block_height, .. } => block_height,
        };
        match self.open {
            Some(b) if b.height == height => {
                if b.abandoned {
                    return Err(PluginError::BlockAbandoned { height });
                }
            }
            Some(b) if height < b.height => {
                return Err(PluginError::HeightWentBack {
                    open: b.height,
                    got: height,
                })
            }
            _ => self.begin(height)?,
        }
        #[cfg(test)]
        if self.panic_at == Some(height) {
            panic!("injected panic at block {height}");
        }
        let published = self.producer.publish(&event_ref(&event));
        match published {
            Ok(_) => Ok(()),
            Err(source) => {
                self.abandon();
                Err(PluginError::Publish { height, source })
            }
        }
    }

    /// Commits the open block (unless it was abandoned) and opens block
    /// `height`, which is higher.
    #[cold]
    fn begin(&mut self, height: u32) -> Result<(), PluginError> {
        // Until the begin marker is out, events of `height` are refused.
        let previous = self.open.replace(OpenBlock {
            height,
            abandoned: true,
        });
        if matches!(previous, Some(b) if !b.abandoned) {
            self.producer
                .commit_block()
                .map_err(|source| PluginError::Publish {
                    height: previous.map_or(height, |b| b.height),
                    source,
                })?;
        }
        if let Err(source) = self.producer.begin_block(u64::from(height)) {
            // Whatever the producer holds of a block whose begin marker is
            // not out is never committed.
            self.producer.abandon_block();
            return Err(PluginError::Publish { height, source });
        }
        self.open = Some(OpenBlock {
            height,
            abandoned: false,
        });
        Ok(())
    }

    /// Abandons the open block: its commit marker is never published.
    fn abandon(&mut self) {
        if let Some(b) = self.open.as_mut() {
            b.abandoned = true;
        }
        self.producer.abandon_block();
    }

    /// Commits the open block (the node stops: no more events of it come).
    fn finish(&mut self) {
        #[cfg(test)]
        if self.panic_at == Some(u32::MAX) {
            panic!("injected panic in on_unload");
        }
        if matches!(self.open.take(), Some(b) if !b.abandoned) && !self.failed {
            if let Err(e) = self.producer.commit_block() {
                tracing::warn!(error = %e, "slipstream plugin could not commit the open block");
            }
        } else {
            self.producer.abandon_block();
        }
    }
}

/// The Slipstream plugin adapter: snarkVM's own plugin interface, backed by a
/// ring.
///
/// snarkVM's Slipstream plugin manager (crate
/// `snarkvm-slipstream-plugin-manager` 4.11) calls plugins in the node's
/// process, on its finalize thread. This type implements the real trait,
/// [`SlipstreamPlugin`] of crate `snarkvm-slipstream-plugin-interface`
/// [`INTERFACE_VERSION`] (re-exported here, never copied: a trait object only
/// matches the exact trait of the exact crate), and its only work is to encode
/// each event into the ring, so that the real consumers run in their own
/// processes, where a slow or crashing consumer cannot stall or kill the node.
///
/// # Loading it
///
/// Dynamically, as the node does today: this crate's `cdylib`
/// (`libslipstream_producer.so`) exports `_create_plugin`, named by a JSON5
/// config file given to `SlipstreamPluginManager::from_config_files`:
///
/// ```json5
/// {
///   libpath: "libslipstream_producer.so", // read by the manager, relative to this file's folder
///   name: "slipstream",                   // read by the manager; optional
///   ring: "node-events",                  // bare name: /dev/shm/node-events
///   capacity: "64MiB",
///   kinds: ["mapping_update", "staking_reward"],
///   wake: "block",
/// }
/// ```
///
/// Statically, as snarkVM's open work on in-build plugins will: box
/// [`RingPlugin::new`] as a `Box<dyn SlipstreamPlugin>` (for instance in the
/// manager's `LoadedSlipstreamPlugin::new`) and call `on_load` with the path
/// of the same config file.
///
/// # Config keys
///
/// One table, in the repository's README.md ("The node's side"), gives every
/// key with its type, default and meaning; [`PluginConfig`]'s fields are the
/// same keys. `libpath` and `name` are the manager's own keys, accepted and
/// not used by the adapter. `kinds` takes `"mapping_update"` and
/// `"staking_reward"`, the only kinds the 4.11 interface broadcasts; any other
/// name is refused with an error naming the valid ones.
///
/// Unknown keys are refused by name, so a typo is an error, not a default.
///
/// # Blocks, as a consumer sees them
///
/// The 4.11 interface has no block callback: the node says only which block
/// height each event belongs to. The adapter infers blocks from
/// `block_height`:
///
/// - The first event of a height opens a block (its begin marker).
/// - The first event of a higher height commits the open block (its commit
///   marker, then the wake-up) and opens the next; `on_unload` (the node
///   stopping) commits the open block. So a consumer's `next_block` sees block
///   H complete when block H+1's first event arrives, or when the node stops;
///   never earlier.
/// - A height with no subscribed events makes no block at all in the ring.
/// - A height lower than the open block's (a height going backwards, or one
///   repeated after a higher one) is refused with
///   [`PluginError::HeightWentBack`]: it is never merged into the open block,
///   and the block it names was already committed.
/// - An event that cannot be published (larger than `max_event`) abandons its
///   block: no commit marker is ever written for it, the rest of its events
///   are refused ([`PluginError::BlockAbandoned`]), and consumers see it as
///   incomplete (`BlockItem::Incomplete`) when the next block begins. A block
///   missing an event is never presented as committed.
///
/// # What the node's thread pays
///
/// `on_broadcast` takes `&self` on the finalize thread: it never waits for a
/// lock (a concurrent call, which the manager never makes, is refused with
/// [`PluginError::Busy`]), allocates nothing when it succeeds, and makes no
/// system call except the once-per-block wake-up of sleeping consumers (in
/// `wake: "block"` mode). Every callback, and `_create_plugin`, catches a
/// panic of its own: the manager gets an error (or a null plugin), never an
/// unwind. After a panic the adapter fails closed: the open block is
/// abandoned and every later event is refused ([`PluginError::Failed`])
/// until the plugin is loaded again.
///
/// # ABI
///
/// A Rust trait object crosses the library boundary only when the node and
/// the plugin were built by the same compiler against the same interface
/// crate (and with the same global allocator: the node frees the plugin the
/// library allocated). The library exports
/// [`slipstream_plugin_rustc_version`] and
/// [`slipstream_plugin_interface_version`], and `on_load` logs both (with
/// `tracing`; and on stderr when this copy of `tracing` has no subscriber,
/// which is the case in a cdylib: it does not share the node's).
///
/// # Example
///
/// Used statically (linked into the node's build), as a node registers it:
///
/// ```
/// use slipstream_producer::{BroadcastEvent, BroadcastEventKind, RingPlugin, SlipstreamPlugin};
/// let dir = std::env::temp_dir().join(format!("doc-ringplugin-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let config = dir.join("slipstream.json5");
/// std::fs::write(&config, r#"{ libpath: "", ring: "./events", capacity: "1MiB" }"#)?;
/// let mut plugin: Box<dyn SlipstreamPlugin> = Box::new(RingPlugin::new());
/// plugin.on_load(config.to_str().unwrap(), false)?;
/// assert!(plugin.subscribed_events().contains(&BroadcastEventKind::MappingUpdate));
/// plugin.on_broadcast(BroadcastEvent::MappingUpdate {
///     program_id: b"credits.aleo", mapping_name: b"account",
///     key: b"aleo1...", value: &7u64.to_le_bytes(), block_height: 10,
/// })?;
/// plugin.on_unload(); // commits block 10
/// # std::fs::remove_dir_all(dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RingPlugin {
    subscribed: Vec<BroadcastEventKind>,
    state: Exclusive<Option<Loaded>>,
}

impl Default for RingPlugin {
    fn default() -> Self {
        RingPlugin::new()
    }
}

impl std::fmt::Debug for RingPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("RingPlugin");
        d.field("subscribed", &self.subscribed);
        // Never wait: Debug may be called while an event is being published.
        let shown = self.state.try_with(|s| {
            d.field("state", s);
        });
        if shown.is_none() {
            d.field("state", &"<publishing>");
        }
        d.finish()
    }
}

/// The name the plugin gives the node (the config's `name` key, which the
/// manager reads itself, takes precedence in the manager).
const PLUGIN_NAME: &str = "slipstream";

impl RingPlugin {
    /// A plugin not loaded yet: it subscribes to nothing until `on_load`.
    ///
    /// ```
    /// use slipstream_producer::{RingPlugin, SlipstreamPlugin};
    /// let plugin: Box<dyn SlipstreamPlugin> = Box::new(RingPlugin::new());
    /// assert_eq!(plugin.name(), "slipstream");
    /// assert!(plugin.subscribed_events().is_empty());
    /// ```
    pub fn new() -> Self {
        RingPlugin {
            subscribed: Vec::new(),
            state: Exclusive::new(None),
        }
    }

    /// The state, for the `&mut self` callbacks: nobody else can hold it.
    fn state_mut(&mut self) -> &mut Option<Loaded> {
        self.state.get_mut()
    }

    fn load(&mut self, config_file: &str, is_reload: bool) -> Result<(), PluginError> {
        #[cfg(test)]
        if config_file.ends_with("inject-panic.json5") {
            panic!("injected panic in on_load");
        }
        let path = Path::new(config_file);
        let config_err = |source: ConfigError| PluginError::Config {
            path: path.to_path_buf(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(|source| PluginError::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        let config = PluginConfig::parse(&text).map_err(config_err)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let (ring, options) = config.options(base).map_err(config_err)?;
        let subscribed = config.subscribed_kinds().map_err(config_err)?;
        // A second load replaces the producer: finish the old one (it commits
        // its open block and releases the ring) before the new one takes the
        // ring's producer lock.
        self.unload();
        let producer = Producer::open(&ring, options)?;
        *self.state_mut() = Some(Loaded {
            producer,
            open: None,
            failed: false,
            #[cfg(test)]
            panic_at: None,
        });
        self.subscribed = subscribed;
        tracing::info!(
            name = config.name.as_deref().unwrap_or(PLUGIN_NAME),
            ring = %ring.display(),
            kinds = ?self.subscribed,
            is_reload,
            rustc = RUSTC_VERSION,
            interface = INTERFACE_VERSION,
            "slipstream plugin loaded; the node must be built by the same rustc against the same interface version"
        );
        if !tracing::dispatcher::has_been_set() {
            // Loaded as a cdylib, this library has its own copy of `tracing`,
            // which the node's subscriber never sees: say it once on stderr.
            eprintln!(
                "slipstream plugin loaded: ring {}, built by {RUSTC_VERSION} against snarkvm-slipstream-plugin-interface {INTERFACE_VERSION}; the node must use the same",
                ring.display()
            );
        }
        Ok(())
    }

    fn unload(&mut self) {
        self.subscribed = Vec::new();
        if let Some(mut loaded) = self.state_mut().take() {
            loaded.finish();
        }
    }

    /// After a caught panic in `on_broadcast`: the state may be half-updated,
    /// so the plugin fails closed (its open block abandoned, nothing more
    /// published) until it is loaded again.
    #[cold]
    fn fail(&self) {
        // The flag was released by the unwind; no other call can be inside.
        self.state.try_with(|s| {
            if let Some(loaded) = s.as_mut() {
                loaded.failed = true;
                loaded.abandon();
            }
        });
    }
}

/// The panic's message, if it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

fn panicked(callback: &'static str, payload: &(dyn std::any::Any + Send)) -> PluginError {
    let e = PluginError::Panicked {
        callback,
        message: panic_message(payload),
    };
    tracing::error!(error = %e, "slipstream plugin caught a panic");
    e
}

impl SlipstreamPlugin for RingPlugin {
    fn name(&self) -> &'static str {
        PLUGIN_NAME
    }

    /// Reads the config, opens (or creates) the ring.
    ///
    /// # Errors
    ///
    /// [`PluginError::Config`] naming the file and what is wrong in it, or
    /// [`PluginError::Producer`] if the ring cannot be opened; a caught panic
    /// is [`PluginError::Panicked`]. The manager reports it as
    /// `PluginStartError` with this message, and the node does not start.
    fn on_load(&mut self, config_file: &str, is_reload: bool) -> anyhow::Result<()> {
        match catch_unwind(AssertUnwindSafe(|| self.load(config_file, is_reload))) {
            Ok(r) => r.map_err(anyhow::Error::new),
            Err(payload) => {
                // Whatever was half-built, or loaded before, is dropped:
                // nothing stays subscribed.
                let _ = catch_unwind(AssertUnwindSafe(|| self.unload()));
                self.subscribed = Vec::new();
                Err(anyhow::Error::new(panicked("on_load", &*payload)))
            }
        }
    }

    /// Commits the open block and releases the ring.
    fn on_unload(&mut self) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.unload())) {
            panicked("on_unload", &*payload);
        }
    }

    fn subscribed_events(&self) -> &[BroadcastEventKind] {
        &self.subscribed
    }

    /// Encodes the event into the ring; never waits, allocates nothing when
    /// it succeeds.
    ///
    /// # Errors
    ///
    /// [`PluginError::NotLoaded`], [`PluginError::Busy`] (a concurrent call),
    /// [`PluginError::HeightWentBack`], [`PluginError::BlockAbandoned`],
    /// [`PluginError::Publish`] (the event is too large: its block is
    /// abandoned), [`PluginError::Panicked`] (caught), [`PluginError::Failed`]
    /// (after a panic).
    #[inline]
    fn on_broadcast(&self, event: BroadcastEvent<'_>) -> anyhow::Result<()> {
        let run = AssertUnwindSafe(|| {
            // Errors are built only when they happen (an eager `ok_or` cost
            // every event a PluginError's construction and drop).
            match self.state.try_with(|s| match s {
                Some(loaded) => loaded.publish(event),
                None => Err(PluginError::NotLoaded),
            }) {
                Some(r) => r,
                None => Err(PluginError::Busy),
            }
        });
        match catch_unwind(run) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow::Error::new(e)),
            Err(payload) => {
                self.fail();
                Err(anyhow::Error::new(panicked("on_broadcast", &*payload)))
            }
        }
    }
}

/// The entry point snarkVM's plugin manager looks up in the shared library.
///
/// Returns a heap-allocated [`RingPlugin`] as a trait object of the real
/// interface; the manager owns it (`Box::from_raw`). Host and plugin must be
/// built by the same compiler against the same interface crate
/// ([`slipstream_plugin_rustc_version`], [`slipstream_plugin_interface_version`]):
/// the ring format, not this entry point, is Slipstream's stable interface.
/// A panic (none is known) returns null, which the manager refuses.
///
/// ```
/// use slipstream_producer::SlipstreamPlugin;
/// // What the plugin manager does with the library's entry point.
/// let raw = slipstream_producer::_create_plugin();
/// assert!(!raw.is_null());
/// // SAFETY: `_create_plugin` returns a pointer from `Box::into_raw`, owned by the caller.
/// let plugin: Box<dyn SlipstreamPlugin> = unsafe { Box::from_raw(raw) };
/// assert_eq!(plugin.name(), "slipstream");
/// ```
#[no_mangle]
#[allow(improper_ctypes_definitions)]
pub extern "C" fn _create_plugin() -> *mut dyn SlipstreamPlugin {
    match catch_unwind(|| Box::new(RingPlugin::new())) {
        Ok(plugin) => {
            let plugin: Box<dyn SlipstreamPlugin> = plugin;
            Box::into_raw(plugin)
        }
        Err(_) => std::ptr::null_mut::<RingPlugin>() as *mut dyn SlipstreamPlugin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipstream_event::EventKind;
    use slipstream_ring::{Item, Reader, Start};

    /// A loaded plugin on a fresh ring in a temporary folder.
    struct Fixture {
        dir: PathBuf,
        config: PathBuf,
        plugin: RingPlugin,
    }

    impl Fixture {
        fn new(tag: &str) -> Fixture {
            let dir =
                std::env::temp_dir().join(format!("plugin-unit-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let config = dir.join("slipstream.json5");
            std::fs::write(
                &config,
                r#"{ libpath: "x.so", ring: "./ring", capacity: "1MiB" }"#,
            )
            .unwrap();
            let mut plugin = RingPlugin::new();
            plugin.on_load(config.to_str().unwrap(), false).unwrap();
            Fixture {
                dir,
                config,
                plugin,
            }
        }

        fn update(&self, height: u32) -> anyhow::Result<()> {
            self.plugin.on_broadcast(BroadcastEvent::MappingUpdate {
                program_id: b"credits.aleo",
                mapping_name: b"account",
                key: b"k",
                value: &height.to_le_bytes(),
                block_height: height,
            })
        }

        /// Every record in the ring: (kind, height).
        fn records(&self) -> Vec<(EventKind, u64)> {
            let file = std::fs::File::open(self.dir.join("ring")).unwrap();
            let mut r = Reader::attach(&file, Start::Oldest).unwrap();
            let mut out = vec![];
            while let Some(Item::Record(rec)) = r.try_next().unwrap() {
                let ev = EventRef::decode(rec.kind, rec.payload).unwrap();
                out.push((ev.kind(), ev.block_height()));
            }
            out
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    use EventKind::{BlockBegin as B, BlockCommit as C, MappingUpdate as U};

    /// The entry point hands the manager a plugin of the real trait, which
    /// it owns (`Box::from_raw`).
    #[test]
    fn create_plugin_returns_an_owned_plugin_of_the_real_trait() {
        let raw = _create_plugin();
        assert!(!raw.is_null());
        // SAFETY: `_create_plugin` returns `Box::into_raw` of a boxed plugin.
        let plugin = unsafe { Box::from_raw(raw) };
        assert_eq!(plugin.name(), "slipstream");
        assert!(plugin.subscribed_events().is_empty());
        let any: &dyn std::any::Any = &*plugin;
        assert!(any.is::<RingPlugin>());
    }

    /// A concurrent `on_broadcast` is refused, not waited for (the lock is
    /// taken here by the test, as another call inside would hold it).
    #[test]
    fn a_concurrent_call_is_refused_not_waited_for() {
        let f = Fixture::new("busy");
        let err = f
            .plugin
            .state
            .try_with(|_| f.update(1).unwrap_err())
            .unwrap();
        assert!(
            matches!(err.downcast_ref(), Some(PluginError::Busy)),
            "{err}"
        );
        f.update(1).unwrap();
        assert_eq!(f.records(), [(B, 1), (U, 1)]);
    }

    /// A panic in `on_load` is an error for the manager (which then refuses
    /// to start the node), one in `on_unload` is caught and logged: neither
    /// unwinds into the node.
    #[test]
    fn panics_in_on_load_and_on_unload_stay_in_the_plugin() {
        let mut f = Fixture::new("panic-load");
        let bad = f.dir.join("inject-panic.json5");
        let err = f.plugin.on_load(bad.to_str().unwrap(), false).unwrap_err();
        assert!(
            matches!(err.downcast_ref(), Some(PluginError::Panicked { callback: "on_load", message })
                if message == "injected panic in on_load"),
            "{err}"
        );
        assert!(f.plugin.subscribed_events().is_empty());
        let err = f.update(1).unwrap_err();
        assert!(
            matches!(err.downcast_ref(), Some(PluginError::NotLoaded)),
            "{err}"
        );
        let config = f.config.to_str().unwrap().to_owned();
        f.plugin.on_load(&config, false).unwrap();
        f.update(1).unwrap();
        f.plugin
            .state
            .try_with(|s| s.as_mut().unwrap().panic_at = Some(u32::MAX))
            .unwrap();
        f.plugin.on_unload(); // caught: returns normally
        let err = f.update(2).unwrap_err();
        assert!(
            matches!(err.downcast_ref(), Some(PluginError::NotLoaded)),
            "{err}"
        );
    }

    /// A panic inside `on_broadcast` is an error to the manager, never an
    /// unwind; the plugin then fails closed: its open block is never
    /// committed (not even on unload), later events are refused, and a new
    /// load starts afresh.
    #[test]
    fn a_panic_is_an_error_and_the_plugin_fails_closed() {
        let mut f = Fixture::new("panic");
        f.update(1).unwrap();
        f.update(2).unwrap();
        f.plugin
            .state
            .try_with(|s| s.as_mut().unwrap().panic_at = Some(2))
            .unwrap();
        let err = f.update(2).unwrap_err();
        assert!(
            matches!(err.downcast_ref(), Some(PluginError::Panicked { callback: "on_broadcast", message })
                if message == "injected panic at block 2"),
            "{err}"
        );
        let err = f.update(3).unwrap_err();
        assert!(
            matches!(err.downcast_ref(), Some(PluginError::Failed)),
            "{err}"
        );
        f.plugin.on_unload();
        // Block 1 committed; block 2 (which lost an event) never.
        assert_eq!(f.records(), [(B, 1), (U, 1), (C, 1), (B, 2), (U, 2)]);
        let config = f.config.to_str().unwrap().to_owned();
        f.plugin.on_load(&config, false).unwrap();
        f.update(4).unwrap();
        f.plugin.on_unload();
        assert_eq!(f.records()[5..], [(B, 4), (U, 4), (C, 4)]);
    }
}
