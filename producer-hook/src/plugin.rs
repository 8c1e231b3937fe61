//! The Slipstream plugin adapter: the node's plugin shape, backed by a ring.
//!
//! snarkVM's Slipstream plugin manager calls plugins in the node's process.
//! This adapter is such a plugin whose only work is to encode each event into
//! the ring, so that the real consumers run in their own processes, where a
//! slow or crashing consumer cannot stall or kill the node.
//!
//! A dynamic plugin is a shared library exporting `_create_plugin`, named by a
//! JSON5 config file:
//!
//! ```json5
//! {
//!   libpath: "libslipstream_producer.so", // relative to this file's folder
//!   name: "slipstream",                   // optional
//!   ring: "node-events",                  // bare name: /dev/shm/node-events
//!   capacity: "64MiB",                    // data bytes, a power of two
//!   max_event: "4MiB",                    // optional (a record takes at most a quarter of capacity)
//!   mode: "0600",                         // optional
//!   recreate: false,                      // optional
//!   wake: "block",                        // "block" | "event" | "thread:200us"
//!   kinds: ["mapping_update", "mapping_removal", "staking_reward", "block"],
//! }
//! ```
//!
//! Unknown keys are refused by name, so a typo is an error, not a default.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use slipstream_ring::event::{EventKind, KindSet};
use slipstream_ring::Layout;

use crate::{Producer, ProducerError, ProducerOptions, Wake};

/// The kinds of the node's events, as its plugin interface names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BroadcastEventKind {
    /// A mapping entry was inserted or updated.
    MappingUpdate,
    /// A mapping entry, or a whole mapping, was removed.
    MappingRemoval,
    /// A staker was rewarded.
    StakingReward,
    /// A block was finalized.
    Block,
}

impl BroadcastEventKind {
    /// The ring's event kind for this node kind.
    pub fn event_kind(self) -> EventKind {
        match self {
            BroadcastEventKind::MappingUpdate => EventKind::MappingUpdate,
            BroadcastEventKind::MappingRemoval => EventKind::MappingRemoval,
            BroadcastEventKind::StakingReward => EventKind::StakingReward,
            BroadcastEventKind::Block => EventKind::Block,
        }
    }
}

/// An event as the node hands it to a plugin at canonical finalize. Every byte
/// slice is the little-endian encoding of the node's own type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BroadcastEvent<'a> {
    /// A mapping entry was inserted or updated.
    MappingUpdate {
        /// The program.
        program_id: &'a [u8],
        /// The mapping.
        mapping_name: &'a [u8],
        /// The entry's key.
        key: &'a [u8],
        /// The entry's new value.
        value: &'a [u8],
        /// The block's height.
        block_height: u64,
    },
    /// A mapping entry (or, with no key, the whole mapping) was removed.
    MappingRemoval {
        /// The program.
        program_id: &'a [u8],
        /// The mapping.
        mapping_name: &'a [u8],
        /// The removed entry's key; `None`: the whole mapping.
        key: Option<&'a [u8]>,
        /// The block's height.
        block_height: u64,
    },
    /// A staker was rewarded.
    StakingReward {
        /// The staker's address.
        staker: &'a [u8],
        /// The validator's address.
        validator: &'a [u8],
        /// The reward.
        reward: u64,
        /// The stake after the reward.
        new_stake: u64,
        /// The block's height.
        block_height: u64,
    },
    /// A block was finalized.
    Block {
        /// The block, as the node encodes it.
        block: &'a [u8],
        /// The block's height.
        block_height: u64,
    },
}

/// An error a plugin reports to the node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The config file could not be read or is invalid.
    #[error("slipstream plugin config {path}: {detail}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// The ring could not be opened.
    #[error(transparent)]
    Producer(#[from] ProducerError),
    /// An event could not be published (too large for the ring).
    #[error("slipstream plugin could not publish an event: {0}")]
    Publish(#[from] slipstream_ring::PublishError),
    /// An event arrived before `on_load`.
    #[error("slipstream plugin received an event before on_load")]
    NotLoaded,
}

/// The node's plugin interface (snarkVM's Slipstream plugin shape).
pub trait SlipstreamPlugin: Send + Sync {
    /// The plugin's name.
    fn name(&self) -> &str;
    /// Called when the plugin is loaded (or reloaded) with its config file.
    fn on_load(&mut self, config_file: &str, is_reload: bool) -> Result<(), PluginError>;
    /// Called when the plugin is unloaded.
    fn on_unload(&mut self);
    /// The event kinds the plugin wants; the node skips serialising the others.
    fn subscribed_events(&self) -> &[BroadcastEventKind];
    /// Called for each event, in the order the node finalized them.
    fn on_broadcast(&self, event: BroadcastEvent<'_>) -> Result<(), PluginError>;
}

/// The plugin's config file, as parsed from JSON5.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The plugin library, relative to the config file's folder (read by the node).
    pub libpath: String,
    /// The plugin's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The ring: a bare name (a file under /dev/shm) or a path (relative to the
    /// config file's folder).
    pub ring: String,
    /// Bytes of the ring's data region, a power of two: a number or a string
    /// with a unit (`"64MiB"`).
    #[serde(default)]
    pub capacity: Option<Size>,
    /// The largest event, in bytes.
    #[serde(default)]
    pub max_event: Option<Size>,
    /// Obsolete (format version 1): ignored with a warning.
    #[serde(default)]
    pub reader_slots: Option<u32>,
    /// Permission bits of a created ring, as an octal string (`"0600"`).
    #[serde(default)]
    pub mode: Option<String>,
    /// Replace a ring of another layout.
    #[serde(default)]
    pub recreate: bool,
    /// `"block"` (default), `"event"`, or `"thread:<interval>"` (`"thread:200us"`).
    #[serde(default)]
    pub wake: Option<String>,
    /// Event kinds to subscribe to (default: the node's four kinds).
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
}

/// A byte size: a number, or a string such as `"64MiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "SizeRepr")]
pub struct Size(pub u64);

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeRepr {
    Number(u64),
    Text(String),
}

impl TryFrom<SizeRepr> for Size {
    type Error = String;
    fn try_from(r: SizeRepr) -> Result<Self, String> {
        match r {
            SizeRepr::Number(n) => Ok(Size(n)),
            SizeRepr::Text(s) => parse_size(&s).map(Size),
        }
    }
}

/// Parses `"4096"`, `"64KiB"`, `"64MiB"`, `"1GiB"` (also `K`, `M`, `G`, `KB`...,
/// all powers of 1024).
///
/// ```
/// assert_eq!(slipstream_producer::parse_size("64MiB"), Ok(64 << 20));
/// assert!(slipstream_producer::parse_size("lots").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("size {s:?} does not start with a number"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("size {s:?} has an unknown unit {other:?}")),
    };
    n.checked_shl(shift)
        .filter(|v| v >> shift == n)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Parses a duration such as `"200us"`, `"1ms"`, `"2s"`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(slipstream_producer::parse_duration("200us"), Ok(Duration::from_micros(200)));
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {s:?} does not start with a number"))?;
    Ok(match unit.trim() {
        "ns" => Duration::from_nanos(n),
        "us" | "µs" => Duration::from_micros(n),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        other => {
            return Err(format!(
                "duration {s:?} has an unknown unit {other:?} (ns, us, ms, s)"
            ))
        }
    })
}

/// The deepest nesting of arrays and objects [`PluginConfig::parse`] reads.
///
/// The JSON5 parser recurses once per level with no limit of its own, and a
/// size field (an untagged number-or-string) buffers whatever value it is
/// given: a file nested 50,000 deep overflowed the node's stack, and one
/// 30,000 deep took 15 s to be refused. A config nests 2 levels.
const MAX_NESTING: usize = 32;

/// The deepest nesting of `[` and `{` in JSON5 text, outside strings and
/// comments: an upper bound on the parser's recursion for any prefix it
/// accepts (it lexes strings and comments the same way, and stops at the
/// first error). Every delimiter is ASCII, so bytes suffice.
fn nesting_depth(text: &str) -> usize {
    let b = text.as_bytes();
    let (mut i, mut depth, mut max) = (0, 0usize, 0);
    while i < b.len() {
        match b[i] {
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != quote {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    max
}

impl PluginConfig {
    /// Parses a config from JSON5 text.
    ///
    /// ```
    /// use slipstream_producer::PluginConfig;
    /// let c = PluginConfig::parse(r#"{ libpath: "x.so", ring: "r", capacity: "1MiB" }"#).unwrap();
    /// assert_eq!(c.capacity.unwrap().0, 1 << 20);
    /// let err = PluginConfig::parse(r#"{ libpath: "x.so", ring: "r", capacty: 1 }"#).unwrap_err();
    /// assert!(err.contains("capacty"), "{err}");
    /// ```
    pub fn parse(text: &str) -> Result<PluginConfig, String> {
        let depth = nesting_depth(text);
        if depth > MAX_NESTING {
            return Err(format!(
                "arrays and objects nest {depth} levels deep; a config needs 2, at most {MAX_NESTING} are read"
            ));
        }
        json5::from_str(text).map_err(|e| e.to_string())
    }

    /// The producer options this config asks for; relative ring paths are
    /// resolved against `base` (the config file's folder).
    pub fn options(&self, base: &Path) -> Result<(PathBuf, ProducerOptions), String> {
        let ring = Path::new(&self.ring);
        let path = if ring.is_absolute() || !self.ring.contains('/') {
            crate::resolve_ring_path(ring)
        } else {
            base.join(ring)
        };
        let capacity = self.capacity.map_or(64 << 20, |s| s.0);
        let mut layout = Layout::new(capacity);
        if let Some(m) = self.max_event {
            layout.max_payload =
                u32::try_from(m.0).map_err(|_| format!("max_event {} is too large", m.0))?;
        }
        if self.reader_slots.is_some() {
            // Format version 2 keeps one cursor file per name beside the ring
            // (RING.readers/NAME): there is no fixed number of slots.
            tracing::warn!(
                "reader_slots is obsolete and ignored: named cursors are files in RING.readers/"
            );
        }
        layout.geometry().map_err(|e| e.to_string())?;
        let mode = match &self.mode {
            None => 0o600,
            Some(m) => u32::from_str_radix(m.trim_start_matches("0o"), 8)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(|| {
                    format!("mode {m:?} is not octal permission bits such as \"0600\"")
                })?,
        };
        let wake = match self.wake.as_deref() {
            None | Some("block") => Wake::AtBlockEnd,
            Some("event") => Wake::EveryEvent,
            Some(t) if t.starts_with("thread:") => Wake::Thread {
                interval: parse_duration(&t["thread:".len()..])?,
            },
            Some(other) => {
                return Err(format!(
                    "wake {other:?} is not \"block\", \"event\" or \"thread:<interval>\""
                ))
            }
        };
        let mut kinds = KindSet::all();
        if let Some(names) = &self.kinds {
            kinds = KindSet::none();
            for n in names {
                let k: EventKind = n.parse().map_err(|e| format!("kinds: {e}"))?;
                kinds.insert(k);
            }
            // Block markers follow the events: a consumer needs them to know a
            // block is complete.
            kinds.insert(EventKind::BlockBegin);
            kinds.insert(EventKind::BlockCommit);
        }
        Ok((
            path,
            ProducerOptions {
                layout,
                mode,
                recreate: self.recreate,
                wake,
                kinds,
                ..ProducerOptions::default()
            },
        ))
    }
}

/// The Slipstream plugin that writes every event into a ring.
///
/// Blocks are delimited for consumers: the first event of a new height opens
/// a block (begin marker), and the block's `Block` event, which the node
/// emits last at finalize, commits it (commit marker, then the wake-up). A
/// block whose `Block` event is not subscribed is committed when the next
/// height begins, or on unload.
pub struct RingPlugin {
    name: String,
    subscribed: Vec<BroadcastEventKind>,
    producer: Mutex<Option<Producer>>,
}

impl Default for RingPlugin {
    fn default() -> Self {
        RingPlugin {
            name: "slipstream".to_owned(),
            subscribed: vec![],
            producer: Mutex::new(None),
        }
    }
}

impl RingPlugin {
    /// A plugin not loaded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` with the producer (for hosts that want direct access).
    pub fn with_producer<R>(&self, f: impl FnOnce(&mut Producer) -> R) -> Option<R> {
        let mut guard = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_mut().map(f)
    }
}

impl SlipstreamPlugin for RingPlugin {
    fn name(&self) -> &str {
        &self.name
    }

    fn on_load(&mut self, config_file: &str, is_reload: bool) -> Result<(), PluginError> {
        let path = Path::new(config_file);
        let config_err = |detail: String| PluginError::Config {
            path: path.to_path_buf(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| config_err(e.to_string()))?;
        let config = PluginConfig::parse(&text).map_err(config_err)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let (ring, options) = config.options(base).map_err(config_err)?;
        let kinds = options.kinds;
        // A reload replaces the producer: drop the old one (it commits its open
        // block and releases the ring) before the new one takes the lock.
        let mut guard = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        guard.take();
        *guard = Some(Producer::open(&ring, options)?);
        drop(guard);
        if let Some(n) = config.name {
            self.name = n;
        }
        self.subscribed = [
            BroadcastEventKind::MappingUpdate,
            BroadcastEventKind::MappingRemoval,
            BroadcastEventKind::StakingReward,
            BroadcastEventKind::Block,
        ]
        .into_iter()
        .filter(|k| kinds.contains(k.event_kind()))
        .collect();
        tracing::info!(ring = %ring.display(), is_reload, "slipstream plugin loaded");
        Ok(())
    }

    fn on_unload(&mut self) {
        let mut guard = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        guard.take();
    }

    fn subscribed_events(&self) -> &[BroadcastEventKind] {
        &self.subscribed
    }

    fn on_broadcast(&self, event: BroadcastEvent<'_>) -> Result<(), PluginError> {
        let mut guard = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        let p = guard.as_mut().ok_or(PluginError::NotLoaded)?;
        match event {
            BroadcastEvent::MappingUpdate {
                program_id,
                mapping_name,
                key,
                value,
                block_height,
            } => p.mapping_update_at(block_height, program_id, mapping_name, key, value)?,
            BroadcastEvent::MappingRemoval {
                program_id,
                mapping_name,
                key,
                block_height,
            } => p.mapping_removal_at(block_height, program_id, mapping_name, key)?,
            BroadcastEvent::StakingReward {
                staker,
                validator,
                reward,
                new_stake,
                block_height,
            } => p.staking_reward_at(block_height, staker, validator, reward, new_stake)?,
            BroadcastEvent::Block {
                block,
                block_height,
            } => {
                let seq = p.block_at(block_height, block)?;
                p.commit_block()?;
                seq
            }
        };
        Ok(())
    }
}

/// The entry point a node's plugin manager looks up in the shared library.
///
/// Returns a heap-allocated [`RingPlugin`] as a trait object; the host owns it
/// (`Box::from_raw`). Like every Rust dynamic plugin of this shape, host and
/// plugin must be built by the same compiler: the ring format, not this
/// entry point, is Slipstream's stable interface.
#[no_mangle]
#[allow(improper_ctypes_definitions)]
pub extern "C" fn _create_plugin() -> *mut dyn SlipstreamPlugin {
    let plugin: Box<dyn SlipstreamPlugin> = Box::new(RingPlugin::new());
    Box::into_raw(plugin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_units_kinds_and_wake() {
        let c = PluginConfig::parse(
            r#"{ libpath: "lib.so", name: "n", ring: "rings/a", capacity: "1MiB", max_event: 4096,
                 reader_slots: 4, mode: "0640", wake: "thread:250us", kinds: ["block"] }"#,
        )
        .unwrap();
        let (path, o) = c.options(Path::new("/etc/node")).unwrap();
        assert_eq!(path, PathBuf::from("/etc/node/rings/a"));
        assert_eq!(o.layout.capacity, 1 << 20);
        assert_eq!(o.layout.max_payload, 4096);
        assert_eq!(o.mode, 0o640);
        assert_eq!(
            o.wake,
            Wake::Thread {
                interval: Duration::from_micros(250)
            }
        );
        assert!(o.kinds.contains(EventKind::Block));
        assert!(o.kinds.contains(EventKind::BlockCommit));
        assert!(!o.kinds.contains(EventKind::MappingUpdate));
    }

    #[test]
    fn config_errors_name_what_is_wrong() {
        let err = |t: &str| {
            PluginConfig::parse(t)
                .and_then(|c| c.options(Path::new("/")).map(|_| ()))
                .unwrap_err()
        };
        assert!(err(r#"{ libpath: "x", ring: "r", colour: 1 }"#).contains("colour"));
        assert!(err(r#"{ libpath: "x" }"#).contains("ring"));
        assert!(err(r#"{ libpath: "x", ring: "r", capacity: "3MiB" }"#).contains("power of two"));
        assert!(err(r#"{ libpath: "x", ring: "r", capacity: "lots" }"#).contains("lots"));
        assert!(err(r#"{ libpath: "x", ring: "r", mode: "rw" }"#).contains("octal"));
        assert!(err(r#"{ libpath: "x", ring: "r", wake: "sometimes" }"#).contains("sometimes"));
        assert!(err(r#"{ libpath: "x", ring: "r", kinds: ["blocks"] }"#).contains("blocks"));
        assert!(err("{ libpath: ").len() > 5);
    }

    /// Found by probing the `plugin_config` fuzz target (fuzz/README.md): the
    /// JSON5 parser recursed once per level, so a deeply nested value
    /// overflowed the stack (50,000 levels) or took seconds (30,000).
    #[test]
    fn config_nesting_is_bounded() {
        for open in ["[", "{a:", "[{a:"] {
            let text = format!(
                r#"{{ libpath: "x", ring: "r", capacity: {}"#,
                open.repeat(100_000)
            );
            let t = std::time::Instant::now();
            let err = PluginConfig::parse(&text).unwrap_err();
            assert!(err.contains("nest"), "{err}");
            assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        }
        // 32 levels are read (and refused for what they are: not a size).
        let text = format!(
            r#"{{ libpath: "x", ring: "r", capacity: {}1{} }}"#,
            "[".repeat(31),
            "]".repeat(31)
        );
        assert!(!PluginConfig::parse(&text).unwrap_err().contains("nest"));
        // Brackets in strings and comments are not nesting.
        let deep = "[{".repeat(40);
        let c = PluginConfig::parse(&format!(
            "{{ libpath: \"{deep}\", name: '{deep}\\'', // {deep}\n /* {deep} */ ring: \"r\" }}"
        ))
        .unwrap();
        assert_eq!(c.libpath, deep);
        assert_eq!(c.name.unwrap(), format!("{deep}'"));
    }
}
