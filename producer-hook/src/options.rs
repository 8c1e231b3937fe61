//! How a producer opens a ring and wakes its readers: [`ProducerOptions`] and [`Wake`].

use slipstream_event::KindSet;
use slipstream_ring::Layout;
use std::time::Duration;

/// When readers asleep on the ring's futex are woken.
///
/// ```
/// use slipstream_producer::{Layout, Producer, ProducerOptions, Wake};
/// use std::time::Duration;
/// let path = std::env::temp_dir().join(format!("doc-wake-{}", std::process::id()));
/// let wake = Wake::Thread { interval: Duration::from_millis(1) };
/// let p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), wake, ..Default::default() })?;
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// At the end of each block (the commit marker) and on
    /// [`Producer::flush`](crate::Producer::flush): publishing an event never makes a system call.
    /// The default: a node's finalize thread pays one wake per block at most.
    AtBlockEnd,
    /// After every event: lowest latency for sleeping consumers; the first
    /// event after a consumer fell asleep pays the wake system call.
    EveryEvent,
    /// From a background thread that checks every `interval`: the publishing
    /// thread never makes a system call, and sleepers wait at most about
    /// `interval` longer (plus the scheduler's delay).
    Thread {
        /// How often the thread checks.
        interval: Duration,
    },
}

/// How to open a ring for producing.
///
/// ```
/// use slipstream_producer::{EventKind, KindSet, Layout, Producer, ProducerOptions};
/// let path = std::env::temp_dir().join(format!("doc-options-{}", std::process::id()));
/// let mut kinds = KindSet::all();
/// kinds.remove(EventKind::Block);
/// let options = ProducerOptions {
///     layout: Layout::new(1 << 20), // 1 MiB of events
///     mode: 0o600,                  // no group access
///     kinds,
///     ..Default::default()
/// };
/// let p = Producer::open(&path, options)?;
/// assert!(!p.enabled(EventKind::Block));
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ProducerOptions {
    /// The ring's layout: used to create it, and required of an existing ring.
    pub layout: Layout,
    /// Permission bits of a ring this producer creates (default `0o640`: the
    /// file's group may read it). Never group- or other-writable (refused):
    /// consumers open the ring read-only. The sidecars follow it: the wake
    /// file and readers directory are group-writable exactly when the ring is
    /// group-readable (see `slipstream_ring::sidecar`).
    pub mode: u32,
    /// The group to give the ring and its sidecars (`None`: the process's own).
    pub group: Option<u32>,
    /// The sequence number of the first event of a ring this producer
    /// creates (default 1; a journal that recreates a ring after a reboot
    /// continues its sequence with it). Ignored when resuming a ring.
    pub first_seq: u64,
    /// Replace an existing ring of another layout or version, or one that
    /// cannot be read, with a new file renamed over it (readers still mapping
    /// the old one are not hurt). Default: refuse it.
    pub recreate: bool,
    /// When sleeping readers are woken.
    pub wake: Wake,
    /// The event kinds published; others cost nothing (default: all).
    pub kinds: KindSet,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        ProducerOptions {
            layout: Layout::default(),
            mode: 0o640,
            group: None,
            first_seq: slipstream_ring::layout::FIRST_SEQ,
            recreate: false,
            wake: Wake::AtBlockEnd,
            kinds: KindSet::all(),
        }
    }
}
