//! The plugin's configuration: the JSON5 file a node operator writes
//! ([`PluginConfig`]), and the parsers of what it holds (sizes, durations,
//! wake policies), which producers' command lines use as well.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use slipstream_event::{EventKind, KindSet};
use slipstream_ring::{FileMode, Layout};
use slipstream_units::UnitsError;

use crate::interface::{BroadcastEventKind, INTERFACE_VERSION};
use crate::{ProducerOptions, Wake};

/// A plugin config (or a size or duration in it) that is not valid; each
/// variant names the value that is wrong.
///
/// ```
/// use slipstream_producer::{parse_size, ConfigError};
/// assert_eq!(parse_size("12 parsecs"), Err(ConfigError::UnknownUnit {
///     what: "size", value: "12 parsecs".into(), unit: "parsecs".into(),
///     valid: slipstream_units::SIZE_UNITS,
/// }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A size or duration that does not start with a whole number (empty,
    /// signed, or a fraction such as `1.5s`).
    #[error("{what} {value:?} is not a whole number (digits 0-9, no sign or fraction) and a unit")]
    NotANumber {
        /// `"size"` or `"duration"`.
        what: &'static str,
        /// The text given.
        value: String,
    },
    /// A size or duration with a unit that is not one of `valid` (or a
    /// duration other than 0 with no unit: `unit` is then empty).
    #[error("{what} {value:?} has an unknown unit {unit:?} (valid: {valid})")]
    UnknownUnit {
        /// `"size"` or `"duration"`.
        what: &'static str,
        /// The text given.
        value: String,
        /// The unit given.
        unit: String,
        /// The units understood.
        valid: &'static str,
    },
    /// A value too large for what it sets.
    #[error("{what} {value} is too large")]
    TooLarge {
        /// What it sets (`"size"`, `"max_event"`).
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// The text nests arrays and objects deeper than a config can.
    #[error(
        "arrays and objects nest {depth} levels deep; a config needs 2, at most {max} are read"
    )]
    TooDeep {
        /// How deep the text nests.
        depth: usize,
        /// The deepest nesting read.
        max: usize,
    },
    /// Not a JSON5 config of the known keys: a syntax error, an unknown key,
    /// a value of the wrong type (the parser's message says which).
    #[error("{message}")]
    Syntax {
        /// The JSON5 parser's message.
        message: String,
    },
    /// A `kinds` entry snarkVM's plugin interface does not broadcast.
    #[error("kinds: {name:?} is not a kind snarkVM's plugin interface {INTERFACE_VERSION} broadcasts; valid kinds are {valid}")]
    UnknownKind {
        /// The entry.
        name: String,
        /// The valid kinds, quoted, comma-separated.
        valid: String,
    },
    /// A `mode` that is not octal permission bits.
    #[error("mode {0:?} is not octal permission bits such as \"0600\"")]
    Mode(String),
    /// A `wake` that is not a wake policy (see [`Wake`]'s `FromStr`).
    #[error(transparent)]
    Wake(#[from] ParseWakeError),
    /// A capacity or `max_event` that makes no ring.
    #[error(transparent)]
    Layout(#[from] slipstream_ring::LayoutError),
}

/// The plugin's config file, as parsed from JSON5 (the keys are in the
/// [`RingPlugin`'s section](crate::RingPlugin#config-keys)).
///
/// ```
/// use slipstream_producer::{PluginConfig, Size};
/// let c = PluginConfig::parse(r#"{ libpath: "libslipstream_producer.so", ring: "events", capacity: "64MiB", wake: "event" }"#)?;
/// assert_eq!(c.ring, "events");
/// assert_eq!(c.capacity, Some(Size(64 << 20)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The plugin library, relative to the config file's folder (read by the node).
    pub libpath: String,
    /// The plugin's name (read by the node).
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
    /// `"block"` (default), `"event"`, `"thread"` or `"thread:<interval>"`
    /// (`"thread:200us"`): the grammar of [`Wake`]'s `FromStr`.
    #[serde(default)]
    pub wake: Option<String>,
    /// Event kinds to subscribe to (default: both of the interface's kinds).
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
}

/// The kinds snarkVM's interface broadcasts, with their config names and the
/// ring's kind for each.
const NODE_KINDS: [(&str, BroadcastEventKind, EventKind); 2] = [
    (
        "mapping_update",
        BroadcastEventKind::MappingUpdate,
        EventKind::MappingUpdate,
    ),
    (
        "staking_reward",
        BroadcastEventKind::StakingReward,
        EventKind::StakingReward,
    ),
];

/// A byte size: a number, or a string such as `"64MiB"`.
///
/// ```
/// use slipstream_producer::{PluginConfig, Size};
/// let c = PluginConfig::parse(r#"{ libpath: "x.so", ring: "r", capacity: 65536, max_event: "4KiB" }"#)?;
/// assert_eq!(c.capacity, Some(Size(65536)));
/// assert_eq!(c.max_event, Some(Size(4096)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    type Error = ConfigError;
    fn try_from(r: SizeRepr) -> Result<Self, ConfigError> {
        match r {
            SizeRepr::Number(n) => Ok(Size(n)),
            SizeRepr::Text(s) => parse_size(&s).map(Size),
        }
    }
}

/// Parses a size: `"4096"`, `"64KiB"`, `"64 mib"`, `"1G"`, `"2TB"`, with the
/// grammar of [`slipstream_units::parse_size`] that every Slipstream tool
/// reads (units `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`, `G`/`GB`/`GiB`,
/// `T`/`TB`/`TiB`, any case, all powers of 1024).
///
/// # Errors
///
/// [`ConfigError::NotANumber`] (no whole number first), [`ConfigError::UnknownUnit`],
/// or [`ConfigError::TooLarge`] for more than `u64::MAX` bytes.
///
/// ```
/// use slipstream_producer::{parse_size, ConfigError};
/// assert_eq!(parse_size("64MiB"), Ok(64 << 20));
/// assert_eq!(parse_size("1 tb"), Ok(1 << 40));
/// assert!(matches!(parse_size("lots"), Err(ConfigError::NotANumber { .. })));
/// ```
pub fn parse_size(s: &str) -> Result<u64, ConfigError> {
    slipstream_units::parse_size(s).map_err(ConfigError::from)
}

/// Parses a duration: `"200us"`, `"1ms"`, `"2s"`, `"10m"`, `"12h"`, `"7d"` or
/// a bare `"0"`, with the grammar of [`slipstream_units::parse_duration`] that
/// every Slipstream tool reads (units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`,
/// `d`).
///
/// # Errors
///
/// [`ConfigError::NotANumber`] (no whole number first: `1.5s` is one),
/// [`ConfigError::UnknownUnit`] (also a number other than 0 with no unit), or
/// [`ConfigError::TooLarge`] for more than `u64::MAX` nanoseconds.
///
/// ```
/// use slipstream_producer::{parse_duration, ConfigError};
/// use std::time::Duration;
/// assert_eq!(parse_duration("200us"), Ok(Duration::from_micros(200)));
/// assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
/// assert!(matches!(parse_duration("2 fortnights"), Err(ConfigError::UnknownUnit { .. })));
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    slipstream_units::parse_duration(s).map_err(ConfigError::from)
}

/// The shared grammar's errors as the config's own variants (which other
/// code matches on), each still naming the text given.
impl From<UnitsError> for ConfigError {
    fn from(e: UnitsError) -> ConfigError {
        match e {
            UnitsError::NotANumber { what, text } => ConfigError::NotANumber { what, value: text },
            UnitsError::UnknownUnit {
                what,
                text,
                unit,
                valid,
            } => ConfigError::UnknownUnit {
                what,
                value: text,
                unit,
                valid,
            },
            UnitsError::MissingUnit { what, text, valid } => ConfigError::UnknownUnit {
                what,
                value: text,
                unit: String::new(),
                valid,
            },
            UnitsError::TooLarge { what, text } => ConfigError::TooLarge {
                what,
                value: format!("{text:?}"),
            },
        }
    }
}

/// The interval of a bare `thread` wake policy.
pub(crate) const DEFAULT_THREAD_INTERVAL: Duration = Duration::from_micros(200);

/// Parses a wake policy, as producers' command lines (`slipstream-sim
/// --wake`) and the plugin's configuration (`wake`) write it.
///
/// Grammar (surrounding whitespace ignored):
///
/// | text | policy |
/// |---|---|
/// | `block` | [`Wake::AtBlockEnd`] |
/// | `event` | [`Wake::EveryEvent`] |
/// | `thread` | [`Wake::Thread`] every 200 µs |
/// | `thread:INTERVAL` | [`Wake::Thread`] every INTERVAL ([`parse_duration`](crate::parse_duration): `200us`, `1ms`, ...) |
///
/// ```
/// use slipstream_producer::Wake;
/// use std::time::Duration;
/// assert_eq!("block".parse::<Wake>(), Ok(Wake::AtBlockEnd));
/// assert_eq!("thread:1ms".parse::<Wake>(), Ok(Wake::Thread { interval: Duration::from_millis(1) }));
/// let err = "sometimes".parse::<Wake>().unwrap_err();
/// assert!(err.to_string().contains("block, event, thread or thread:INTERVAL"));
/// ```
impl std::str::FromStr for Wake {
    type Err = ParseWakeError;

    /// # Errors
    /// [`ParseWakeError`] naming the text and what is accepted.
    fn from_str(s: &str) -> Result<Wake, ParseWakeError> {
        match s.trim() {
            "block" => Ok(Wake::AtBlockEnd),
            "event" => Ok(Wake::EveryEvent),
            "thread" => Ok(Wake::Thread {
                interval: DEFAULT_THREAD_INTERVAL,
            }),
            other => match other.strip_prefix("thread:") {
                Some(d) => parse_duration(d)
                    .map(|interval| Wake::Thread { interval })
                    .map_err(|reason| ParseWakeError::Interval {
                        text: s.to_owned(),
                        reason: reason.to_string(),
                    }),
                None => Err(ParseWakeError::Unknown { text: s.to_owned() }),
            },
        }
    }
}

/// Text that is not a wake policy (see [`Wake`]'s `FromStr`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseWakeError {
    /// Not one of the policies.
    #[error("wake {text:?} is not one of block, event, thread or thread:INTERVAL (such as thread:200us)")]
    Unknown {
        /// The text given.
        text: String,
    },
    /// `thread:` followed by something that is not a duration.
    #[error("wake {text:?}: the interval is not a duration: {reason}")]
    Interval {
        /// The text given.
        text: String,
        /// What is wrong with the interval.
        reason: String,
    },
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
    /// # Errors
    ///
    /// [`ConfigError::Syntax`] (a syntax error, an unknown key, a value of
    /// the wrong type, its message naming which), [`ConfigError::TooDeep`]
    /// (nesting deeper than a config needs), or a size's error.
    ///
    /// ```
    /// use slipstream_producer::PluginConfig;
    /// let c = PluginConfig::parse(r#"{ libpath: "x.so", ring: "r", capacity: "1MiB" }"#).unwrap();
    /// assert_eq!(c.capacity.unwrap().0, 1 << 20);
    /// let err = PluginConfig::parse(r#"{ libpath: "x.so", ring: "r", capacty: 1 }"#).unwrap_err();
    /// assert!(err.to_string().contains("capacty"), "{err}");
    /// ```
    pub fn parse(text: &str) -> Result<PluginConfig, ConfigError> {
        let depth = nesting_depth(text);
        if depth > MAX_NESTING {
            return Err(ConfigError::TooDeep {
                depth,
                max: MAX_NESTING,
            });
        }
        json5::from_str(text).map_err(|e| ConfigError::Syntax {
            message: e.to_string(),
        })
    }

    /// The node's kinds this config subscribes to, in the interface's order,
    /// each with its config name and the ring's kind.
    fn subscribed(
        &self,
    ) -> Result<Vec<(&'static str, BroadcastEventKind, EventKind)>, ConfigError> {
        let Some(names) = &self.kinds else {
            return Ok(NODE_KINDS.to_vec());
        };
        for n in names {
            if !NODE_KINDS.iter().any(|(name, _, _)| name == n) {
                let valid: Vec<String> = NODE_KINDS
                    .iter()
                    .map(|(n, _, _)| format!("{n:?}"))
                    .collect();
                return Err(ConfigError::UnknownKind {
                    name: n.clone(),
                    valid: valid.join(", "),
                });
            }
        }
        Ok(NODE_KINDS
            .into_iter()
            .filter(|(name, _, _)| names.iter().any(|n| n == name))
            .collect())
    }

    /// The node's event kinds this config subscribes to.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnknownKind`]: a `kinds` entry the interface does not
    /// broadcast, named with the valid ones.
    ///
    /// ```
    /// use slipstream_producer::{BroadcastEventKind, PluginConfig};
    /// let c = PluginConfig::parse(r#"{ libpath: "x.so", ring: "r", kinds: ["staking_reward"] }"#).unwrap();
    /// assert_eq!(c.subscribed_kinds().unwrap(), [BroadcastEventKind::StakingReward]);
    /// let c = PluginConfig::parse(r#"{ libpath: "x.so", ring: "r", kinds: ["block"] }"#).unwrap();
    /// assert!(c.subscribed_kinds().unwrap_err().to_string().contains("\"mapping_update\", \"staking_reward\""));
    /// ```
    pub fn subscribed_kinds(&self) -> Result<Vec<BroadcastEventKind>, ConfigError> {
        Ok(self.subscribed()?.into_iter().map(|(_, k, _)| k).collect())
    }

    /// The producer options this config asks for; relative ring paths are
    /// resolved against `base` (the config file's folder).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Layout`] (a capacity that is not a power of two...),
    /// [`ConfigError::TooLarge`] (`max_event`), [`ConfigError::Mode`] (not
    /// octal), [`ConfigError::Wake`], [`ConfigError::UnknownKind`], or a
    /// duration's error (`wake: "thread:<interval>"`).
    ///
    /// ```
    /// use slipstream_producer::PluginConfig;
    /// use std::path::Path;
    /// let c = PluginConfig::parse(r#"{ libpath: "x.so", ring: "rings/r", capacity: "1MiB" }"#).unwrap();
    /// let (path, options) = c.options(Path::new("/etc/node")).unwrap();
    /// assert_eq!(path, Path::new("/etc/node/rings/r"));
    /// assert_eq!(options.layout.capacity, 1 << 20);
    /// ```
    pub fn options(&self, base: &Path) -> Result<(PathBuf, ProducerOptions), ConfigError> {
        let ring = Path::new(&self.ring);
        let path = if ring.is_absolute() || !self.ring.contains('/') {
            crate::resolve_ring_path(ring)
        } else {
            base.join(ring)
        };
        let capacity = self.capacity.map_or(64 << 20, |s| s.0);
        let mut layout = Layout::new(capacity);
        if let Some(m) = self.max_event {
            layout.max_payload = u32::try_from(m.0).map_err(|_| ConfigError::TooLarge {
                what: "max_event",
                value: m.0.to_string(),
            })?;
        }
        if self.reader_slots.is_some() {
            // Format version 2 keeps one cursor file per name beside the ring
            // (RING.readers/NAME): there is no fixed number of slots.
            tracing::warn!(
                "reader_slots is obsolete and ignored: named cursors are files in RING.readers/"
            );
        }
        layout.geometry()?;
        let mode = match &self.mode {
            None => 0o600,
            Some(m) => m
                .parse::<FileMode>()
                .map_err(|_| ConfigError::Mode(m.clone()))?
                .bits(),
        };
        let wake = match self.wake.as_deref() {
            None => Wake::AtBlockEnd,
            Some(t) => t.parse::<Wake>()?,
        };
        let mut kinds = KindSet::none();
        for (_, _, kind) in self.subscribed()? {
            kinds.insert(kind);
        }
        // Block markers follow the events: a consumer needs them to know a
        // block is complete.
        kinds.insert(EventKind::BlockBegin);
        kinds.insert(EventKind::BlockCommit);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_units_kinds_and_wake() {
        let c = PluginConfig::parse(
            r#"{ libpath: "lib.so", name: "n", ring: "rings/a", capacity: "1MiB", max_event: 4096,
                 reader_slots: 4, mode: "0640", wake: "thread:250us", kinds: ["staking_reward"] }"#,
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
        assert!(o.kinds.contains(EventKind::StakingReward));
        assert!(o.kinds.contains(EventKind::BlockBegin));
        assert!(o.kinds.contains(EventKind::BlockCommit));
        assert!(!o.kinds.contains(EventKind::MappingUpdate));
        assert_eq!(
            c.subscribed_kinds().unwrap(),
            [BroadcastEventKind::StakingReward]
        );
        // No `kinds`: both of the interface's kinds, in its order.
        let c = PluginConfig::parse(r#"{ libpath: "lib.so", ring: "r" }"#).unwrap();
        assert_eq!(
            c.subscribed_kinds().unwrap(),
            [
                BroadcastEventKind::MappingUpdate,
                BroadcastEventKind::StakingReward
            ]
        );
    }

    /// The kinds the 4.11 interface never broadcasts are refused, naming the
    /// valid ones: a config asking for blocks would otherwise wait for ever.
    #[test]
    fn kinds_the_interface_lacks_are_refused_naming_the_valid_ones() {
        for kind in ["block", "mapping_removal", "block_begin", "blocks"] {
            let c = PluginConfig::parse(&format!(
                r#"{{ libpath: "x", ring: "r", kinds: ["mapping_update", "{kind}"] }}"#
            ))
            .unwrap();
            let err = c.options(Path::new("/")).unwrap_err();
            assert!(
                matches!(&err, ConfigError::UnknownKind { name, .. } if name == kind),
                "{err}"
            );
            let err = err.to_string();
            assert!(err.contains(&format!("{kind:?}")), "{err}");
            assert!(
                err.contains(r#"valid kinds are "mapping_update", "staking_reward""#),
                "{err}"
            );
            assert_eq!(c.subscribed_kinds().unwrap_err().to_string(), err);
        }
    }

    #[test]
    fn config_errors_name_what_is_wrong() {
        let err = |t: &str| {
            PluginConfig::parse(t)
                .and_then(|c| c.options(Path::new("/")).map(|_| ()))
                .unwrap_err()
                .to_string()
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
            assert!(matches!(err, ConfigError::TooDeep { max: 32, .. }), "{err}");
            assert!(err.to_string().contains("nest"), "{err}");
            assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        }
        // 32 levels are read (and refused for what they are: not a size).
        let text = format!(
            r#"{{ libpath: "x", ring: "r", capacity: {}1{} }}"#,
            "[".repeat(31),
            "]".repeat(31)
        );
        assert!(!PluginConfig::parse(&text)
            .unwrap_err()
            .to_string()
            .contains("nest"));
        // Brackets in strings and comments are not nesting.
        let deep = "[{".repeat(40);
        let c = PluginConfig::parse(&format!(
            "{{ libpath: \"{deep}\", name: '{deep}\\'', // {deep}\n /* {deep} */ ring: \"r\" }}"
        ))
        .unwrap();
        assert_eq!(c.libpath, deep);
        assert_eq!(c.name.unwrap(), format!("{deep}'"));
    }

    /// The one grammar of wake policies (see `impl FromStr for Wake`).
    #[test]
    fn wake_policies_parse() {
        let thread = |us| Wake::Thread {
            interval: Duration::from_micros(us),
        };
        for (text, wake) in [
            ("block", Wake::AtBlockEnd),
            (" event\n", Wake::EveryEvent),
            ("thread", thread(200)),
            ("thread:1ms", thread(1000)),
            ("thread:250us", thread(250)),
        ] {
            assert_eq!(text.parse::<Wake>(), Ok(wake), "{text:?}");
        }
        for text in [
            "",
            "Block",
            "sometimes",
            "thread:",
            "thread:soon",
            "thread 1ms",
        ] {
            let err = text.parse::<Wake>().unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains(&format!("{text:?}")), "{shown}");
            match err {
                ParseWakeError::Unknown { .. } => {
                    assert!(shown.contains("block, event, thread or thread:INTERVAL"))
                }
                ParseWakeError::Interval { reason, .. } => assert!(shown.contains(&reason)),
            }
        }
    }
}
