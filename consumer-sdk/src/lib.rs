//! # slipstream-consumer
//!
//! What an indexer links to read a Slipstream ring: attach by path with a
//! name, and read the node's finalize events in order, each with its sequence
//! number, at the consumer's own pace.
//!
//! - **Named cursors.** A consumer with a name keeps its cursor in its own
//!   file beside the ring (`RING.readers/NAME`, mode 0600); restarted under
//!   the same name, it resumes where it left off
//!   (at least once: the event being processed when it died comes again).
//! - **Lag is an item, not an error.** A consumer that fell behind gets
//!   [`Item::Lagged`] with the exact sequence numbers and block heights it
//!   missed ([`Missed`]), and reading goes on; nothing ends the stream but
//!   the caller.
//! - **Blocks.** [`Consumer::next_block`] returns all the events of one
//!   committed block, or nothing (and then says so).
//! - **The producer's life** (death, clean close, restart) arrives as
//!   [`Item::Producer`], never as a hang.
//!
//! (Not run as a doctest: it reads the ring `/dev/shm/node-events` for ever, as a consumer does.)
//!
//! ```no_run
//! use slipstream_consumer::{Consumer, Item, Start};
//! use std::time::Duration;
//! let mut consumer = Consumer::builder("node-events")
//!     .name("my-indexer")
//!     .start(Start::Oldest)
//!     .open()?;
//! loop {
//!     match consumer.next(Duration::from_secs(1))? {
//!         Some(Item::Event(ev)) => println!("#{} {:?}", ev.seq, ev.event),
//!         Some(Item::Lagged(lag)) => eprintln!("missed {}..={}", lag.first_missed, lag.last_missed),
//!         Some(Item::Producer(change)) => eprintln!("producer: {change:?}"),
//!         None => {} // idle for a second
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Delivery contract
//!
//! Every event the producer publishes reaches a consumer in exactly one of
//! two ways: **delivered** (at least once, in sequence order, with no gap),
//! or **inside a reported range**. Nothing is passed over silently, whichever
//! way the consumer reads. (Events a [filter](ConsumerBuilder::kinds)
//! excludes, and events before a start position, are neither: they were not
//! asked for.)
//!
//! | reading with | delivered | cursor stored (automatic commits, the default) | a restart resumes at |
//! |---|---|---|---|
//! | [`next`](Consumer::next), [`try_next`](Consumer::try_next), [`iter`](Consumer::iter) | each event, in order | when the next item is asked for: everything handed out before; on drop: the same (never the item in flight); on a panic: nothing | the first item the application had not moved past: the one in flight comes again |
//! | [`next_block`](Consumer::next_block) | each committed block whole | only at block boundaries: after the commit marker of the last block (or report) handed out, when the next is asked for | the begin marker of the first block not moved past; from inside a block (a cursor an event API stored), that block's begin marker if the ring still holds it, else the rest of the block is reported |
//! | `into_stream`, `into_block_stream` (feature `tokio`) | as `next` / `next_block` | only what the application acknowledged: polling for the next item, or `commit()` on the stream; the reading thread's read-ahead never | as above |
//! | any, with [`auto_commit(false)`](ConsumerBuilder::auto_commit) | as above | only on [`commit`](Consumer::commit) (`commit()` on a stream): everything handed out (for `next_block`, a block boundary) | after the last commit |
//! | `remote::RemoteConsumer` (feature `nats`): `next`, `next_block` | as the ring consumer's | acknowledged (durable JetStream consumer) when the next item is asked for, lazily (every 512 items or second), and on drop: only what the application moved past, for `next_block` only block boundaries; `commit()`: everything handed out | after the last acknowledgement: the item in flight comes again (a killed process may see up to ~512 items or a second more again) |
//!
//! With a journal ([`ConsumerBuilder::journal`]) the same holds for events
//! served from it: a start, a saved cursor or a lap older than the ring is
//! read from the journal, then from the ring with no gap and no duplicate;
//! cursors are stored as in the table (the journal's position is a sequence
//! number), and also in the journal directory; only events neither holds are
//! reported, as below.
//!
//! What is not delivered is reported, in order, where it would have been:
//!
//! - [`Item::Lagged`] / [`BlockItem::Lagged`] ([`Missed`]): the exact range
//!   of sequence numbers not delivered, the heights of the blocks they belong
//!   to, and whether the first and last of those blocks are *partial* (part
//!   of the block was delivered by an event API) or were lost whole.
//!   `next_block` widens the range to whole blocks: a block the gap cut into
//!   is reported from its begin marker, never delivered in part.
//! - [`BlockItem::Incomplete`]: a block that began and did not commit whole
//!   (its producer died mid-block, refused one of its events as too large,
//!   or its count does not add up), with its height and exact range.
//!
//! Start positions: [`Start::Seq`] or [`Start::Height`] no longer in the
//! ring is [`ConsumerError::StartUnavailable`], which says what the ring
//! holds ([`Available`]); one not written yet is waited for (both alike);
//! `Start::Height(0)` is the oldest block retained.
//!
//! Proven by `consumer-sdk/tests/model.rs`: a property test that drives a
//! real ring, producer and consumer (and SIGKILLed consumer processes)
//! through random publishes, reads with each API, commits, drops, panics,
//! kills, restarts and laps, against a reference model of every record.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod block;
mod delivery;
mod journal;
#[cfg(feature = "nats")]
pub mod remote;
#[cfg(feature = "tokio")]
mod stream;

pub use block::{Block, BlockItem, OwnedEvent};
pub use delivery::{Available, Missed};
pub use journal::DURABLE_CURSOR_INTERVAL;
pub use slipstream_event::{DecodeError, EventKind, EventRef, KindSet};
pub use slipstream_journal::JournalError;
pub use slipstream_ring::{resolve_ring_path, Lag, LapPolicy, SHM_DIR};
/// The ring's errors, as they appear in [`ConsumerError`]'s sources: match them from here.
pub use slipstream_ring::{
    AttachError, CorruptError, LayoutError, OpenError, ReadError, SeekError, SlotError,
};
#[cfg(feature = "tokio")]
pub use stream::{BlockStream, EventStream};

use delivery::Here;
use journal::JStep;
use slipstream_journal::JournalStart;
use slipstream_ring::{
    producer_alive, ProducerState, Reader, Record, Slot, Start as RingStart, Step,
};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a consumer starts (a named consumer with a saved cursor resumes
/// from it instead, unless [`ConsumerBuilder::reset`] is set).
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-start-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// // The ring holds block 7: begin marker (seq 1), one event, commit marker (seq 3).
/// use slipstream_consumer::{Consumer, Item, Start};
/// let mut c = Consumer::builder(&path).start(Start::Newest).open()?;
/// assert!(matches!(c.try_next()?, Some(Item::Event(ev)) if ev.seq == 3));
/// let mut c = Consumer::builder(&path).start(Start::Height(7)).open()?;
/// assert_eq!(c.next_seq(), 1);
/// let mut c = Consumer::builder(&path).start(Start::End).open()?;
/// assert!(c.try_next()?.is_none());
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Start {
    /// The oldest event the ring still holds.
    #[default]
    Oldest,
    /// The newest event already in the ring.
    Newest,
    /// Only events published from now on.
    End,
    /// The event with this sequence number: an error
    /// ([`ConsumerError::StartUnavailable`]) if it is no longer retained; if
    /// it is not written yet, the consumer waits for it (as for a future height).
    Seq(u64),
    /// The begin marker of the first block at or after this height; `Height(0)`
    /// is the oldest block retained. An error
    /// ([`ConsumerError::StartUnavailable`]) if that block's begin marker is
    /// no longer retained; a height not written yet is waited for (blocks
    /// below it are passed over).
    Height(u64),
}

impl std::fmt::Display for Start {
    /// The same words [`FromStr`](std::str::FromStr) reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Start::Oldest => write!(f, "oldest"),
            Start::Newest => write!(f, "newest"),
            Start::End => write!(f, "end"),
            Start::Seq(n) => write!(f, "{n}"),
            Start::Height(h) => write!(f, "height:{h}"),
        }
    }
}

/// Text that is not a start position (see [`Start`]'s `FromStr`).
///
/// ```
/// use slipstream_consumer::{ParseStartError, Start};
/// assert_eq!("height:x".parse::<Start>(), Err(ParseStartError::Height("x".into())));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseStartError {
    /// `height:H` where `H` is not a block height.
    #[error("{0:?} is not a block height")]
    Height(String),
    /// Not `oldest`, `newest`, `end`, a sequence number or `height:H`.
    #[error("{0:?} is not oldest, newest, end, a sequence number or height:H")]
    Unknown(String),
}

impl std::str::FromStr for Start {
    type Err = ParseStartError;
    /// `oldest`, `newest` (the newest event, then what follows), `end`, a
    /// sequence number, or `height:H`.
    ///
    /// ```
    /// use slipstream_consumer::Start;
    /// assert_eq!("newest".parse(), Ok(Start::Newest));
    /// assert_eq!("height:7".parse(), Ok(Start::Height(7)));
    /// assert_eq!("42".parse(), Ok(Start::Seq(42)));
    /// assert!("soon".parse::<Start>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, ParseStartError> {
        Ok(match s {
            "oldest" => Start::Oldest,
            "newest" | "latest" => Start::Newest,
            "end" | "now" => Start::End,
            _ => {
                if let Some(h) = s.strip_prefix("height:") {
                    Start::Height(
                        h.parse()
                            .map_err(|_| ParseStartError::Height(h.to_owned()))?,
                    )
                } else {
                    Start::Seq(
                        s.parse()
                            .map_err(|_| ParseStartError::Unknown(s.to_owned()))?,
                    )
                }
            }
        })
    }
}

/// Which events a consumer receives.
///
/// Kinds are checked before decoding, so an unwanted kind costs almost
/// nothing. The program and mapping filters apply to mapping events only
/// (updates and removals); other kinds pass them. Block markers pass unless
/// their kinds are excluded.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-filter-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{Consumer, EventKind, Filter, Item, KindSet};
/// let filter = Filter { kinds: Some(KindSet::none().with(EventKind::MappingUpdate)), ..Filter::default() };
/// let mut c = Consumer::builder(&path).kinds(filter.kinds.unwrap()).open()?;
/// // Only the mapping update of block 7 passes; its markers do not.
/// assert!(matches!(c.try_next()?, Some(Item::Event(ev)) if ev.seq == 2));
/// assert!(c.try_next()?.is_none());
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Kinds to receive (`None`: all).
    pub kinds: Option<KindSet>,
    /// Programs whose mapping events to receive (empty: all).
    pub programs: Vec<Vec<u8>>,
    /// Mappings whose events to receive (empty: all).
    pub mappings: Vec<Vec<u8>>,
    /// Events of blocks below this height are passed over.
    pub from_height: Option<u64>,
}

impl Filter {
    /// Whether a record of `kind` with `payload` passes: its kind, then (if
    /// a program, mapping or height filter is set) the decoded event
    /// ([`keeps`](Self::keeps)). A payload that does not decode passes, so
    /// that the reader sees the error.
    ///
    /// ```
    /// use slipstream_consumer::{EventKind, EventRef, Filter, KindSet};
    /// let filter = Filter { kinds: Some(KindSet::none().with(EventKind::Block)), ..Filter::default() };
    /// let ev = EventRef::Block { block_height: 1, ordinal: 1, block: b"b" };
    /// let mut payload = vec![0; ev.encoded_len()];
    /// ev.encode(&mut payload);
    /// assert!(filter.keep(EventKind::Block.as_u16(), &payload));
    /// assert!(!filter.keep(EventKind::StakingReward.as_u16(), &payload));
    /// ```
    pub fn keep(&self, kind: u16, payload: &[u8]) -> bool {
        if !self.keeps_kind(kind) {
            return false;
        }
        if !self.by_content() {
            return true;
        }
        EventRef::decode(kind, payload).map_or(true, |ev| self.keeps(&ev))
    }

    /// Whether records of `kind` pass the kind filter.
    #[inline]
    pub(crate) fn keeps_kind(&self, kind: u16) -> bool {
        self.kinds.is_none_or(|k| k.contains_raw(kind))
    }

    /// Whether a program, mapping or height filter is set (which needs the
    /// decoded event).
    #[inline]
    pub(crate) fn by_content(&self) -> bool {
        !(self.programs.is_empty() && self.mappings.is_empty() && self.from_height.is_none())
    }

    /// Whether a decoded event passes the program, mapping and height
    /// filters (its kind is not checked here: see [`keep`](Self::keep)).
    ///
    /// ```
    /// use slipstream_consumer::{EventRef, Filter};
    /// let filter = Filter { programs: vec![b"credits.aleo".to_vec()], ..Filter::default() };
    /// let update = |program_id| EventRef::MappingUpdate {
    ///     block_height: 1, ordinal: 1, program_id, mapping_name: b"account", key: b"k", value: b"v",
    /// };
    /// assert!(filter.keeps(&update(b"credits.aleo")));
    /// assert!(!filter.keeps(&update(b"token.aleo")));
    /// // Other kinds pass the program filter.
    /// assert!(filter.keeps(&EventRef::Block { block_height: 1, ordinal: 2, block: b"" }));
    /// ```
    pub fn keeps(&self, event: &EventRef<'_>) -> bool {
        if self.from_height.is_some_and(|h| event.block_height() < h) {
            return false;
        }
        let (Some(program), Some(mapping)) = (event.program_id(), event.mapping_name()) else {
            return true;
        };
        (self.programs.is_empty() || self.programs.iter().any(|p| p == program))
            && (self.mappings.is_empty() || self.mappings.iter().any(|m| m == mapping))
    }
}

/// One event, decoded from the consumer's own copy of its bytes (never a
/// borrow of the shared ring).
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-event-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{Consumer, EventRef, Item};
/// let mut c = Consumer::builder(&path).open()?;
/// c.try_next()?; // the begin marker
/// let Some(Item::Event(ev)) = c.try_next()? else { unreachable!() };
/// assert_eq!(ev.seq, 2);
/// assert!(matches!(ev.event, EventRef::MappingUpdate { block_height: 7, key: b"k", .. }));
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// Its sequence number.
    pub seq: u64,
    /// The event.
    pub event: EventRef<'a>,
    /// Its encoded payload, which `event` borrows.
    payload: &'a [u8],
}

impl<'a> Event<'a> {
    /// Decodes the payload of record `seq` of `kind`: the one decode between
    /// the reader's validated copy and the caller's [`EventRef`].
    #[inline]
    pub(crate) fn decode(
        seq: u64,
        kind: u16,
        payload: &'a [u8],
    ) -> Result<Event<'a>, ConsumerError> {
        match EventRef::decode(kind, payload) {
            Ok(event) => Ok(Event {
                seq,
                event,
                payload,
            }),
            Err(source) => Err(ConsumerError::Decode { seq, kind, source }),
        }
    }

    /// The event's encoded payload (FORMAT.md, section 10): the bytes
    /// [`event`](Self::event) borrows, for forwarding or storing them as they are.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-event-payload-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.block_at(7, b"block")?;
    /// use slipstream_consumer::{Consumer, EventRef, Item};
    /// let mut c = Consumer::builder(&path).open()?;
    /// c.try_next()?; // the begin marker of block 7
    /// if let Some(Item::Event(ev)) = c.try_next()? {
    ///     assert_eq!(EventRef::decode(ev.event.kind().as_u16(), ev.payload())?, ev.event);
    /// }
    /// # drop(p); drop(c); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// A change in the producer's life.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-producer-change-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{Consumer, Item, ProducerChange, Start};
/// use std::time::Duration;
/// let mut c = Consumer::builder(&path).start(Start::End).liveness_interval(Duration::ZERO).open()?;
/// drop(p); // closes the ring cleanly
/// let item = c.next(Duration::from_secs(5))?;
/// assert!(matches!(item, Some(Item::Producer(ProducerChange::Closed { epoch: 1 }))), "{item:?}");
/// # let p = ();
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProducerChange {
    /// The producer died (its lock is gone) without closing the ring.
    Died {
        /// Its process id.
        pid: u32,
        /// Its epoch.
        epoch: u64,
    },
    /// The producer closed the ring cleanly.
    Closed {
        /// Its epoch.
        epoch: u64,
    },
    /// A new producer opened the ring; events go on with the next sequence number.
    Restarted {
        /// Its process id.
        pid: u32,
        /// Its epoch.
        epoch: u64,
    },
}

/// What a consumer yields.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-item-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{Consumer, Item};
/// let mut c = Consumer::builder(&path).open()?;
/// while let Some(item) = c.try_next()? {
///     match item {
///         Item::Event(ev) => println!("#{} {:?}", ev.seq, ev.event),
///         Item::Lagged(missed) => eprintln!("{missed}"),
///         Item::Producer(change) => eprintln!("producer: {change:?}"),
///     }
/// }
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// The next event.
    Event(Event<'a>),
    /// Events were overwritten before this consumer read them (exactly
    /// which, by sequence number and height); reading goes on after them.
    Lagged(Missed),
    /// The producer died, closed the ring, or was restarted.
    Producer(ProducerChange),
}

/// An error from a consumer.
///
/// ```
/// use slipstream_consumer::{Consumer, ConsumerError};
/// let path = std::env::temp_dir().join(format!("doc-consumer-error-{}", std::process::id()));
/// let err = Consumer::builder(&path).open().unwrap_err(); // no ring there
/// assert!(matches!(err, ConsumerError::Open { .. }), "{err}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The ring file could not be opened.
    #[error("ring {path}: {source}")]
    Open {
        /// The ring's path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable ring, or the start position is not in it.
    #[error("ring {path}: {source}")]
    Attach {
        /// The ring's path.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: AttachError,
    },
    /// A named cursor could not be claimed.
    #[error("ring {path}: {source}")]
    Slot {
        /// The ring's path.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: SlotError,
    },
    /// Looking for a position failed (the producer kept overwriting it, or
    /// what was read is corrupt).
    #[error(transparent)]
    Seek(#[from] SeekError),
    /// The start position asked for is no longer in the ring (a sequence
    /// number overwritten, or a block whose begin marker is); says what is.
    /// Positions not written yet are waited for, not refused.
    #[error("start position {requested} is no longer in the ring: {available}")]
    StartUnavailable {
        /// What was asked for.
        requested: Start,
        /// What the ring holds.
        available: Available,
    },
    /// The ring holds data that cannot be valid (see the message); reading again reports it again.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The journal (see [`ConsumerBuilder::journal`]) could not serve the
    /// start position (it names the oldest sequence number and block height
    /// it holds), or holds bytes that are not valid (it names the file and offset).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// An event's payload does not decode; the consumer has moved past it.
    #[error("event #{seq} (kind {kind}) does not decode: {source}")]
    Decode {
        /// Its sequence number.
        seq: u64,
        /// Its record kind.
        kind: u16,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
}

/// Options for [`Consumer`]; made by [`Consumer::builder`].
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-builder-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{Consumer, EventKind, KindSet, LapPolicy, Start};
/// use std::time::Duration;
/// let c = Consumer::builder(&path)
///     .name("indexer")
///     .start(Start::Height(7))
///     .kinds(KindSet::all())
///     .program("credits.aleo")
///     .lap_policy(LapPolicy::Newest)
///     .spin(Duration::from_micros(20))
///     .open()?;
/// # drop(c);
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConsumerBuilder {
    path: PathBuf,
    name: Option<String>,
    start: Start,
    reset: bool,
    filter: Filter,
    lap_policy: LapPolicy,
    spin: Duration,
    liveness_interval: Duration,
    wait_for_ring: Duration,
    auto_commit: bool,
    journal: Option<PathBuf>,
}

impl ConsumerBuilder {
    /// Catch up from the journal that `slipstream-journal record` keeps in
    /// `dir`: a start, a saved cursor or a lag older than the ring is served
    /// from the journal, then the consumer joins the live ring with no gap and
    /// no duplicate; only events missing from both are reported, as one exact
    /// [`Item::Lagged`] ([`Missed`]). The [delivery contract](crate#delivery-contract)
    /// holds for events served from the journal as for the ring's, with every
    /// API (`next_block` included). A named consumer's cursor is also stored
    /// in `dir` (atomically, at most every [`DURABLE_CURSOR_INTERVAL`] with
    /// automatic commits, at once on [`Consumer::commit`] and on drop), so
    /// that it survives a reboot. [`Start::Oldest`] and `Start::Height(0)`
    /// reach back to the journal's oldest event and block; a start older than
    /// the journal is [`ConsumerError::Journal`] naming the oldest sequence
    /// number and height it holds. [`Consumer::seek`] moves within the ring only.
    ///
    /// (Not run as a doctest: it needs a journal `slipstream-journal record` keeps.)
    ///
    /// ```no_run
    /// # use slipstream_consumer::{Consumer, Start};
    /// let consumer = Consumer::builder("node-events")
    ///     .journal("/var/lib/slipstream/journal")
    ///     .name("indexer")
    ///     .start(Start::Height(1_000_000))
    ///     .open()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn journal(mut self, dir: impl AsRef<Path>) -> Self {
        self.journal = Some(dir.as_ref().to_path_buf());
        self
    }

    /// A name: the consumer's cursor is kept under it, in its own file
    /// beside the ring (`RING.readers/NAME`, mode 0600), and resumed on
    /// restart. 1 to 64 bytes of `[A-Za-z0-9_.-]`, not starting with `.`;
    /// one live consumer per name.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-builder-name-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::Consumer;
    /// let mut c = Consumer::builder(&path).name("indexer").open()?;
    /// c.try_next()?;
    /// drop(c); // the item in flight is not stored as processed
    /// let c = Consumer::builder(&path).name("indexer").open()?;
    /// assert_eq!(c.name(), Some("indexer"));
    /// assert_eq!(c.next_seq(), 1); // the item in flight comes again
    /// # drop(c);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Where to start (default [`Start::Oldest`]). A named consumer with a
    /// saved cursor resumes from it instead, unless [`reset`](Self::reset).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-builder-start-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, Start};
    /// let c = Consumer::builder(&path).start(Start::Seq(2)).open()?;
    /// assert_eq!(c.next_seq(), 2);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Ignore a saved cursor and start at [`start`](Self::start).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-builder-reset-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, Start};
    /// let mut c = Consumer::builder(&path).name("indexer").open()?;
    /// c.try_next()?;
    /// c.commit(); // stores seq 2
    /// drop(c);
    /// let c = Consumer::builder(&path).name("indexer").start(Start::Oldest).reset(true).open()?;
    /// assert_eq!(c.next_seq(), 1); // the saved cursor is ignored
    /// # drop(c);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset(mut self, reset: bool) -> Self {
        self.reset = reset;
        self
    }

    /// Receive only these kinds.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-builder-kinds-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, EventKind, Item, KindSet};
    /// let mut c = Consumer::builder(&path).kinds(KindSet::none().with(EventKind::BlockCommit)).open()?;
    /// assert!(matches!(c.try_next()?, Some(Item::Event(ev)) if ev.event.kind() == EventKind::BlockCommit));
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kinds(mut self, kinds: KindSet) -> Self {
        self.filter.kinds = Some(kinds);
        self
    }

    /// Receive only mapping events of this program (may be given several times).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-builder-program-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, Item};
    /// let mut c = Consumer::builder(&path).program("token.aleo").open()?;
    /// // Block 7's markers pass (they are not mapping events); its credits.aleo update does not.
    /// let mut seqs = vec![];
    /// while let Some(Item::Event(ev)) = c.try_next()? { seqs.push(ev.seq); }
    /// assert_eq!(seqs, [1, 3]);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn program(mut self, program: impl AsRef<[u8]>) -> Self {
        self.filter.programs.push(program.as_ref().to_vec());
        self
    }

    /// Receive only mapping events of this mapping (may be given several times).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-builder-mapping-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, Item};
    /// let mut c = Consumer::builder(&path).mapping("account").open()?;
    /// let mut seqs = vec![];
    /// while let Some(Item::Event(ev)) = c.try_next()? { seqs.push(ev.seq); }
    /// assert_eq!(seqs, [1, 2, 3]);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mapping(mut self, mapping: impl AsRef<[u8]>) -> Self {
        self.filter.mappings.push(mapping.as_ref().to_vec());
        self
    }

    /// Where to go on from after being lapped (default: the oldest event that
    /// leaves headroom; [`LapPolicy::Newest`] skips to the present).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-builder-lap-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, LapPolicy};
    /// let c = Consumer::builder(&path).lap_policy(LapPolicy::Newest).open()?;
    /// # drop(c);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lap_policy(mut self, policy: LapPolicy) -> Self {
        self.lap_policy = policy;
        self
    }

    /// How long [`Consumer::next`] spins before it sleeps on the futex
    /// (default 50 µs; zero sleeps at once).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-builder-spin-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::Consumer;
    /// use std::time::Duration;
    /// let c = Consumer::builder(&path).spin(Duration::ZERO).open()?; // sleep at once when idle
    /// # drop(c);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// How often an idle consumer checks whether the producer is alive
    /// (default 100 ms).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-builder-liveness-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::Consumer;
    /// use std::time::Duration;
    /// let c = Consumer::builder(&path).liveness_interval(Duration::from_secs(1)).open()?;
    /// # drop(c);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn liveness_interval(mut self, interval: Duration) -> Self {
        self.liveness_interval = interval;
        self
    }

    /// Whether a named consumer's cursor is stored automatically (default:
    /// yes). Automatic: an item counts as processed when the next one is
    /// asked for (at least once; with [`Consumer::next_block`], a block when
    /// the next block is asked for), and dropping the consumer stores that
    /// (never the item in flight, and nothing at all while a panic unwinds).
    /// Manual: only [`Consumer::commit`] stores it, for consumers whose
    /// processing completes later (a buffered writer, a database
    /// transaction): commit after the output is durable. See the
    /// [delivery contract](crate#delivery-contract).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-builder-auto-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::Consumer;
    /// let mut c = Consumer::builder(&path).name("db").auto_commit(false).open()?;
    /// c.try_next()?;
    /// c.try_next()?;
    /// drop(c); // nothing committed
    /// let c = Consumer::builder(&path).name("db").open()?;
    /// assert_eq!(c.next_seq(), 1);
    /// # drop(c);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn auto_commit(mut self, auto: bool) -> Self {
        self.auto_commit = auto;
        self
    }

    /// Wait up to this long for the ring to exist and be initialised (default: don't).
    ///
    /// ```
    /// use slipstream_consumer::{Consumer, ConsumerError};
    /// use std::time::{Duration, Instant};
    /// let path = std::env::temp_dir().join(format!("doc-wait-{}", std::process::id()));
    /// let t = Instant::now();
    /// let err = Consumer::builder(&path).wait_for_ring(Duration::from_millis(100)).open().unwrap_err();
    /// assert!(matches!(err, ConsumerError::Open { .. }) && t.elapsed() >= Duration::from_millis(100));
    /// ```
    pub fn wait_for_ring(mut self, wait: Duration) -> Self {
        self.wait_for_ring = wait;
        self
    }

    /// Attaches to the ring (waiting for it as long as
    /// [`wait_for_ring`](Self::wait_for_ring) says), claims the name's cursor,
    /// and moves to the saved cursor or the start position.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::Open`] (the file cannot be opened),
    /// [`ConsumerError::Attach`] (not a usable ring),
    /// [`ConsumerError::Slot`] (an invalid name, or one a live consumer
    /// holds), [`ConsumerError::StartUnavailable`] (the start is no longer in
    /// the ring), [`ConsumerError::Seek`], [`ConsumerError::Journal`] (with
    /// [`journal`](Self::journal)).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-builder-open-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// use slipstream_consumer::{Consumer, ConsumerError};
    /// let c = Consumer::builder(&path).name("indexer").open()?;
    /// // One live consumer per name.
    /// let err = Consumer::builder(&path).name("indexer").open().unwrap_err();
    /// assert!(matches!(err, ConsumerError::Slot { .. }), "{err}");
    /// # drop(c); drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(self) -> Result<Consumer, ConsumerError> {
        let deadline = Instant::now() + self.wait_for_ring;
        loop {
            match self.try_open() {
                Err(e) if Instant::now() < deadline && retryable(&e) => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn try_open(&self) -> Result<Consumer, ConsumerError> {
        let path = self.path.clone();
        let open_err = |source| ConsumerError::Open {
            path: path.clone(),
            source,
        };
        // Read-only, always: the kernel then refuses this process any write
        // to, or truncation of, the ring (FORMAT.md section 7).
        let file = File::open(&path).map_err(open_err)?;
        let attach_err = |source| ConsumerError::Attach {
            path: path.clone(),
            source,
        };
        let mut reader = Reader::attach(&file, RingStart::End).map_err(attach_err)?;
        reader.set_lap_policy(self.lap_policy);
        // Sleep announcements go to the wake file with pwrite (never a
        // mapping); without write access to it the consumer polls when idle.
        if let Ok(wake) = std::fs::OpenOptions::new()
            .write(true)
            .open(slipstream_ring::sidecar::wake_path(&path))
        {
            reader.set_wake_file(wake);
        }
        let (slot, saved) = match &self.name {
            None => (None, None),
            Some(name) => {
                let (slot, saved) =
                    Slot::claim(&path, name).map_err(|source| ConsumerError::Slot {
                        path: path.clone(),
                        source,
                    })?;
                (Some(slot), saved)
            }
        };
        let producer = reader.producer();
        let mut c = Consumer {
            reader,
            slot,
            file,
            path,
            filter: self.filter.clone(),
            spin: self.spin,
            liveness_interval: self.liveness_interval,
            last_liveness: Instant::now(),
            seen_epoch: producer.epoch,
            reported: Reported::None,
            pending: None,
            stored: (0, 0),
            auto_commit: self.auto_commit,
            delivered: 0,
            missed: 0,
            block: block::Assembler::default(),
            handed: (0, 0),
            acked: (0, 0),
            in_flight: false,
            at: None,
            held: None,
            held_buf: Vec::new(),
            skip_below: None,
            block_mode: false,
            handed_at: None,
            journal: None,
            from_journal: false,
        };
        let saved = saved.filter(|_| !self.reset);
        if let Some(dir) = &self.journal {
            c.open_journal(
                dir,
                saved.map(|s| (s.next_seq, s.position)),
                self.start,
                self.reset,
            )?;
            c.commit();
            return Ok(c);
        }
        match saved {
            Some(cursor) => {
                // Learn what a gap at the cursor would belong to before
                // resuming: resuming a lapped cursor moves past it.
                c.prime(cursor.next_seq);
                c.reader.resume(cursor.next_seq, cursor.position)?;
                // Until the application has moved past what comes first (a
                // lap report included), the stored cursor stays where it was.
                c.handed = (cursor.next_seq, cursor.position);
                c.acked = c.handed;
            }
            None => c.seek(self.start)?,
        }
        c.commit();
        Ok(c)
    }
}

fn retryable(e: &ConsumerError) -> bool {
    match e {
        ConsumerError::Open { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        ConsumerError::Attach {
            source: AttachError::Open(slipstream_ring::OpenError::NotInitialized),
            ..
        } => true,
        _ => false,
    }
}

/// What was last reported of the producer's life, so that each change is reported once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reported {
    None,
    Died,
    Closed,
}

/// A consumer of a ring: reads events in order, at its own pace.
///
/// See the [crate documentation](crate) for the model.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-consumer-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{Consumer, Item};
/// use std::time::Duration;
/// let mut c = Consumer::builder(&path).name("indexer").open()?;
/// while let Some(item) = c.next(Duration::from_millis(10))? {
///     if let Item::Event(ev) = item {
///         println!("#{} at height {}", ev.seq, ev.event.block_height());
///     }
/// }
/// assert_eq!(c.next_seq(), 4);
/// # drop(c);
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Consumer {
    reader: Reader,
    slot: Option<Slot>,
    file: File,
    path: PathBuf,
    filter: Filter,
    spin: Duration,
    liveness_interval: Duration,
    last_liveness: Instant,
    seen_epoch: u64,
    reported: Reported,
    pending: Option<ProducerChange>,
    /// The cursor last stored in the slot.
    stored: (u64, u64),
    auto_commit: bool,
    /// Events delivered and missed since the counters were last stored.
    delivered: u64,
    missed: u64,
    block: block::Assembler,
    /// The cursor after the last item handed out (with `next_block`: after
    /// the last block, or gap report, handed out: always a block boundary).
    /// What [`commit`](Consumer::commit) stores.
    handed: (u64, u64),
    /// The cursor after the items the application has moved past (it asked
    /// for another): what automatic commits store.
    acked: (u64, u64),
    /// The last read returned an item (which the application may still be processing).
    in_flight: bool,
    /// Where a gap at the reader's position would begin (height, partial).
    at: Option<Here>,
    /// A record read ahead after a gap (to learn the gap's last height),
    /// delivered next: its sequence number, kind, and position.
    held: Option<(u64, u16, u64)>,
    held_buf: Vec<u8>,
    /// A start at a sequence number not written yet: records below it are passed over.
    skip_below: Option<u64>,
    /// The last read was `next_block`.
    block_mode: bool,
    /// With `next_block`: where a gap at `handed` would begin.
    handed_at: Option<Here>,
    /// The journal, if one was configured ([`ConsumerBuilder::journal`]).
    journal: Option<journal::Catchup>,
    /// The record last read came from the journal (else from the ring).
    from_journal: bool,
}

impl Consumer {
    /// Options to attach to the ring at `path` (a bare name is a file under `/dev/shm`).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-builder-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// assert_eq!(c.path(), path);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(path: impl AsRef<Path>) -> ConsumerBuilder {
        ConsumerBuilder {
            path: resolve_ring_path(path),
            name: None,
            start: Start::Oldest,
            reset: false,
            filter: Filter::default(),
            lap_policy: LapPolicy::Oldest,
            spin: Duration::from_micros(50),
            liveness_interval: Duration::from_millis(100),
            wait_for_ring: Duration::ZERO,
            auto_commit: true,
            journal: None,
        }
    }

    /// The ring's path.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-path-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// assert_eq!(c.path(), path);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The consumer's name, if it has one.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-name-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::Consumer;
    /// assert_eq!(Consumer::builder(&path).open()?.name(), None);
    /// assert_eq!(Consumer::builder(&path).name("indexer").open()?.name(), Some("indexer"));
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.slot.as_ref().map(|s| s.name())
    }

    /// The ring's identity (`ring_id`, random at creation): a ring replaced
    /// at the same path (`--recreate`) has another.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-ring-id-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::Consumer;
    /// let (a, b) = (Consumer::builder(&path).open()?, Consumer::builder(&path).open()?);
    /// assert_eq!(a.ring_id(), b.ring_id()); // the same ring
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ring_id(&self) -> u64 {
        self.reader.ring_id()
    }

    /// The producer's epoch the consumer last saw (how many producers have
    /// opened the ring; it grows at each producer restart).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-epoch-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// assert_eq!(c.epoch(), 1); // the ring's first producer
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn epoch(&self) -> u64 {
        self.seen_epoch
    }

    /// The sequence number of the next event this consumer will receive.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-next-seq-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let mut c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// assert_eq!(c.next_seq(), 1);
    /// c.try_next()?;
    /// assert_eq!(c.next_seq(), 2);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.cursor().0
    }

    /// Bytes of events published and not yet read (more than the ring's
    /// capacity: the consumer has been lapped and will be told so).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-behind-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let mut c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// assert!(c.bytes_behind() > 0);
    /// while c.try_next()?.is_some() {}
    /// assert_eq!(c.bytes_behind(), 0);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bytes_behind(&self) -> u64 {
        self.reader.bytes_behind()
    }

    /// The position of the next record to deliver: the reader's, or that of
    /// a record read ahead.
    fn cursor(&self) -> (u64, u64) {
        match self.held {
            Some((seq, _, pos)) => (seq, pos),
            None => self.source_cursor(),
        }
    }

    /// The position of the next record of the current source: the journal's
    /// while replaying (with no ring position: 0), else the ring reader's.
    pub(crate) fn source_cursor(&self) -> (u64, u64) {
        match self.journal.as_ref().and_then(|j| j.cursor()) {
            Some(n) => (n, 0),
            None => (self.reader.next_seq(), self.reader.position()),
        }
    }

    /// The record the last [`advance_any`](Self::advance_any) moved to.
    pub(crate) fn current_record(&self) -> Option<Record<'_>> {
        record_of(self.from_journal, &self.journal, &self.reader)
    }

    /// The next record (kept by the filter unless `keep_all`) or gap, from the
    /// journal while replaying, else from the ring; tracks where a gap would
    /// begin (`at`) over every record read. A lap of the ring that the journal
    /// can fill is replayed from it; at the journal's end the consumer joins
    /// the ring at the next sequence number (no gap, no duplicate), and if the
    /// ring no longer holds that either, the ring reports the exact lag.
    pub(crate) fn advance_any(&mut self, keep_all: bool) -> Result<Option<Step>, ConsumerError> {
        let mut polled_again = false;
        loop {
            if let Some(j) = self.journal.as_mut().filter(|j| j.replaying()) {
                match j.step()? {
                    JStep::Record => {
                        let rec = j.current().expect("the journal moved to a record");
                        if let Some(here) = delivery::after(rec.kind, rec.payload) {
                            self.at = Some(here);
                        }
                        if keep_all || self.filter.keep(rec.kind, rec.payload) {
                            self.from_journal = true;
                            return Ok(Some(Step::Record));
                        }
                        continue;
                    }
                    JStep::Lagged(lag) => {
                        self.from_journal = true;
                        return Ok(Some(Step::Lagged(lag)));
                    }
                    JStep::End(n) => match self.reader.seek(RingStart::Seq(n)) {
                        Ok(()) => j.stop(),
                        // The recorder may have just appended it: look once more.
                        Err(SeekError::NotRetained { .. }) if !polled_again => {
                            polled_again = true;
                            continue;
                        }
                        // In neither: the ring's resume reports the exact lag
                        // (and the journal is asked once more, in the lap below).
                        Err(SeekError::NotRetained { .. }) => {
                            j.stop();
                            self.reader.resume(n, u64::MAX)?;
                        }
                        Err(e) => return Err(e.into()),
                    },
                }
            }
            self.from_journal = false;
            let step = {
                let at = &mut self.at;
                let filter = &self.filter;
                self.reader.advance(|kind, payload| {
                    if let Some(here) = delivery::after(kind, payload) {
                        *at = Some(here);
                    }
                    keep_all || filter.keep(kind, payload)
                })?
            };
            if let (Some(Step::Lagged(lag)), Some(j)) = (&step, self.journal.as_mut()) {
                if j.serve(lag.first_missed, lag.last_missed)? {
                    continue;
                }
            }
            return Ok(step);
        }
    }

    /// Moves to the cursor `(seq, pos)`: in the ring if it holds it, else
    /// in the journal (if one is configured and holds it), else the ring's
    /// resume, which reports the exact lag.
    pub(crate) fn reposition(&mut self, seq: u64, pos: u64) -> Result<(), ConsumerError> {
        self.from_journal = false;
        let Some(j) = self.journal.as_mut() else {
            self.reader.resume(seq, pos)?;
            return Ok(());
        };
        j.stop();
        match self.reader.seek(RingStart::Seq(seq)) {
            Ok(()) => {}
            Err(SeekError::NotRetained { .. }) => {
                if !j.serve(seq, u64::MAX)? {
                    self.reader.resume(seq, pos)?;
                }
            }
            Err(_) => self.reader.resume(seq, pos)?,
        }
        Ok(())
    }

    /// Positions a newly attached consumer with a journal in `dir`: from its
    /// saved cursor (the ring's cursor file, else the durable one in `dir`),
    /// else at `start`, from the ring or, when the ring no longer holds it,
    /// from the journal.
    fn open_journal(
        &mut self,
        dir: &Path,
        saved: Option<(u64, u64)>,
        start: Start,
        reset: bool,
    ) -> Result<(), ConsumerError> {
        let j = journal::Catchup::new(dir, self.name().map(str::to_owned));
        let durable = if reset { None } else { j.load()? };
        self.journal = Some(j);
        if let Some((n, pos)) = saved.or(durable.map(|n| (n, u64::MAX))) {
            // Learn what a gap at the cursor would belong to first.
            self.prime(n);
            self.reposition(n, pos)?;
            // Until the application has moved past what comes first (a
            // lap report included), the stored cursor stays where it was.
            self.handed = match self.cursor() {
                here if here.0 == n => here,
                _ => (n, if pos == u64::MAX { 0 } else { pos }),
            };
            self.acked = self.handed;
            return Ok(());
        }
        let from_journal = match start {
            Start::Seq(n) => match self.seek(start) {
                Err(ConsumerError::StartUnavailable { .. }) => JournalStart::Seq(n),
                other => return other,
            },
            // The oldest block: the journal's, if it reaches further back.
            Start::Height(0) => {
                self.seek(start)?;
                let ring_oldest = self.reader.next_seq();
                let oldest = match slipstream_journal::summary(dir) {
                    Ok(s) if s.first_seq().is_some_and(|f| f < ring_oldest) => s.oldest_height(),
                    Ok(_) => None,
                    Err(e) if journal::absent(&e) => None,
                    Err(e) => return Err(e.into()),
                };
                match oldest {
                    Some(h) => JournalStart::Height(h),
                    None => return Ok(()),
                }
            }
            Start::Height(h) => match self.seek(start) {
                Err(ConsumerError::StartUnavailable { .. }) => JournalStart::Height(h),
                other => return other,
            },
            Start::Oldest => {
                self.seek(start)?;
                let ring_oldest = self.reader.next_seq();
                let journal_first = match slipstream_journal::summary(dir) {
                    Ok(s) => s.first_seq(),
                    Err(e) if journal::absent(&e) => None,
                    Err(e) => return Err(e.into()),
                };
                if journal_first.is_none_or(|f| f >= ring_oldest) {
                    return Ok(());
                }
                JournalStart::Oldest
            }
            Start::Newest | Start::End => return self.seek(start),
        };
        let j = self.journal.as_mut().expect("just set");
        j.replay_from(from_journal)?;
        let n = j.cursor().expect("replaying");
        self.prime(n);
        self.from_journal = false;
        self.handed = self.cursor();
        self.acked = self.handed;
        Ok(())
    }

    /// Moves the consumer.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::StartUnavailable`] if `start` is a sequence number or
    /// a block that is no longer retained (positions not written yet are
    /// waited for); [`ConsumerError::Seek`] if the ring is corrupt or the
    /// producer kept overwriting the position.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-lib-1365-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, ConsumerError, Start};
    /// let mut c = Consumer::builder(&path).open()?;
    /// match c.seek(Start::Height(1_000_000)) {
    ///     Err(ConsumerError::StartUnavailable { available, .. }) => {
    ///         eprintln!("too old: {available}");
    ///         c.seek(Start::Height(0))?; // the oldest block instead
    ///     }
    ///     other => other?,
    /// }
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seek(&mut self, start: Start) -> Result<(), ConsumerError> {
        if let Some(j) = self.journal.as_mut() {
            j.stop();
        }
        self.from_journal = false;
        self.block.clear();
        self.block_mode = false;
        self.held = None;
        self.filter.from_height = None;
        self.skip_below = None;
        match start {
            Start::Oldest => self.reader.seek(RingStart::Oldest)?,
            Start::Newest => self.reader.seek(RingStart::Newest)?,
            Start::End => self.reader.seek(RingStart::End)?,
            Start::Seq(n) => self.seek_seq(n)?,
            Start::Height(h) => self.seek_height(h)?,
        }
        let (seq, pos) = (self.reader.next_seq(), self.reader.position());
        self.prime(seq);
        self.reader.resume(seq, pos)?;
        self.handed = (seq, pos);
        self.acked = self.handed;
        Ok(())
    }

    /// Learns where a gap at sequence number `seq` would begin, from the
    /// record before it (or the one at it); leaves the reader anywhere.
    fn prime(&mut self, seq: u64) {
        self.at = None;
        if seq > 1 && self.reader.seek(RingStart::Seq(seq - 1)).is_ok() {
            if let Ok(Some(Step::Record)) = self.reader.advance(|_, _| true) {
                if let Some(rec) = self.reader.current() {
                    self.at = delivery::after(rec.kind, rec.payload);
                    return;
                }
            }
        }
        if self.reader.seek(RingStart::Seq(seq)).is_ok() {
            if let Ok(Some(Step::Record)) = self.reader.advance(|_, _| true) {
                if let Some(rec) = self.reader.current() {
                    self.at = delivery::head(rec.kind, rec.payload).map(|h| Here {
                        height: h.height,
                        partial: !h.begin,
                    });
                    return;
                }
            }
        }
        // Not in the ring: the journal may hold them.
        let Some(j) = self.journal.as_ref() else {
            return;
        };
        if let Some((kind, payload)) = (seq > 1).then(|| j.record_at(seq - 1)).flatten() {
            self.at = delivery::after(kind, &payload);
        } else if let Some((kind, payload)) = j.record_at(seq) {
            self.at = delivery::head(kind, &payload).map(|h| Here {
                height: h.height,
                partial: !h.begin,
            });
        }
    }

    /// Goes to sequence number `n`, or waits for it if it is not written yet.
    fn seek_seq(&mut self, n: u64) -> Result<(), ConsumerError> {
        for _ in 0..8 {
            match self.reader.seek(RingStart::Seq(n)) {
                Ok(()) => return Ok(()),
                Err(slipstream_ring::SeekError::NotRetained { .. }) => {
                    return Err(self.unavailable(Start::Seq(n)))
                }
                Err(slipstream_ring::SeekError::InFuture { .. }) => {
                    self.reader.seek(RingStart::End)?;
                    // Published in between: look again.
                    if self.reader.next_seq() <= n {
                        self.skip_below = Some(n);
                        return Ok(());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(slipstream_ring::SeekError::Contended { attempts: 8 }.into())
    }

    /// The error for a start position the ring no longer holds.
    fn unavailable(&self, requested: Start) -> ConsumerError {
        ConsumerError::StartUnavailable {
            requested,
            available: self.available(),
        }
    }

    /// What the ring holds now (best effort: a field the ring cannot tell is left out).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-lib-1471-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// println!("{}", c.available());
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn available(&self) -> Available {
        let mut a = Available::default();
        let Ok(mut r) = Reader::attach(&self.file, RingStart::End) else {
            return a;
        };
        a.next_seq = r.next_seq();
        a.oldest_seq = a.next_seq;
        if r.seek(RingStart::Newest).is_ok() {
            if let Ok(Some(Step::Record)) = r.advance(|_, _| true) {
                a.newest_height = r
                    .current()
                    .and_then(|rec| delivery::head(rec.kind, rec.payload))
                    .map(|h| h.height);
            }
        }
        if r.seek(RingStart::Oldest).is_ok() {
            a.oldest_seq = r.next_seq();
            let begin = EventKind::BlockBegin.as_u16();
            loop {
                match r.advance(|kind, _| kind == begin) {
                    Ok(Some(Step::Record)) => {
                        a.oldest_height = r
                            .current()
                            .and_then(|rec| delivery::head(rec.kind, rec.payload))
                            .map(|h| h.height);
                        break;
                    }
                    Ok(Some(Step::Lagged(_))) => continue,
                    _ => break,
                }
            }
        }
        a
    }

    /// Finds the begin marker of the first block at or after height `h`
    /// (`h == 0`: the oldest block).
    fn seek_height(&mut self, h: u64) -> Result<(), ConsumerError> {
        self.reader.seek(RingStart::Oldest)?;
        let begin = EventKind::BlockBegin.as_u16();
        let mut oldest = None;
        loop {
            match self.reader.advance(|kind, _| kind == begin)? {
                None => {
                    // Not in the ring yet: wait for it from the end.
                    if oldest.is_some_and(|o| o > h) && h != 0 {
                        return Err(self.unavailable(Start::Height(h)));
                    }
                    self.reader.seek(RingStart::End)?;
                    self.block.wait_for_height = Some(h);
                    self.filter.from_height = Some(h);
                    return Ok(());
                }
                Some(Step::Lagged(_)) => continue,
                Some(Step::Record) => {
                    let rec = self.reader.current().expect("advance moved to a record");
                    let Ok(ev) = EventRef::decode(rec.kind, rec.payload) else {
                        continue;
                    };
                    let height = ev.block_height();
                    let seq = rec.seq;
                    if oldest.is_none() {
                        oldest = Some(height);
                        if height > h && h != 0 {
                            return Err(self.unavailable(Start::Height(h)));
                        }
                    }
                    if height >= h {
                        self.reader.seek(RingStart::Seq(seq))?;
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Stores the cursor of a named consumer: everything handed out so far
    /// counts as processed, and a restart under this name resumes after it.
    /// After [`next_block`](Self::next_block), that is after the last block
    /// (or gap report) it returned: a block boundary, never the middle of a
    /// block. Called automatically (for what the application has moved past)
    /// unless [`auto_commit(false)`](ConsumerBuilder::auto_commit) was chosen.
    ///
    /// Two stores to the consumer's own slot; nothing if it has no name.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-lib-1561-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, Item};
    /// use std::time::Duration;
    /// let mut c = Consumer::builder(&path).name("db-writer").auto_commit(false).open()?;
    /// while let Some(item) = c.next(Duration::from_millis(10))? {
    ///     if let Item::Event(ev) = item { /* write ev to a transaction */ }
    ///     // ... once the transaction is durable:
    ///     c.commit();
    /// }
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit(&mut self) {
        // Everything handed out is processed now: a later automatic store
        // (the next read, or the drop) must not move the cursor back before
        // the item that was in flight when the application committed.
        self.acked = self.handed;
        self.in_flight = false;
        self.store(self.handed);
        self.store_durable(self.handed.0, true);
    }

    /// Stores the durable cursor in the journal directory (if the consumer
    /// has a name and a journal): at once if `now`, else at most every
    /// [`DURABLE_CURSOR_INTERVAL`].
    fn store_durable(&mut self, next_seq: u64, now: bool) {
        if let Some(j) = self.journal.as_mut() {
            j.store(next_seq, now);
        }
    }

    /// Stores `cursor` in the slot (and the counters), and in the journal
    /// directory at most every [`DURABLE_CURSOR_INTERVAL`].
    pub(crate) fn store(&mut self, cursor: (u64, u64)) {
        self.store_durable(cursor.0, false);
        let Some(slot) = &self.slot else { return };
        if cursor != self.stored {
            slot.store_cursor(cursor.0, cursor.1);
            self.stored = cursor;
        }
        if self.delivered != 0 || self.missed != 0 {
            slot.count(self.delivered, self.missed);
            self.delivered = 0;
            self.missed = 0;
        }
    }

    /// The start of every read: the application has moved past what was
    /// handed out before; store that if commits are automatic.
    fn begin_read(&mut self) {
        self.acked = self.handed;
        self.in_flight = false;
        if self.auto_commit {
            self.store(self.acked);
        }
    }

    /// Leaves `next_block`'s reading: back to the last block boundary handed
    /// out, so that an event API reads on from there (the block being
    /// assembled comes again, event by event).
    fn leave_block_mode(&mut self) -> Result<(), ConsumerError> {
        if !self.block_mode {
            return Ok(());
        }
        self.block_mode = false;
        self.block.open = None;
        self.block.dropping = None;
        if self.cursor() != self.handed {
            let (seq, pos) = self.handed;
            self.held = None;
            match self.handed_at {
                Some(here) => self.at = Some(here),
                None => self.prime(seq),
            }
            self.reposition(seq, pos)?;
        }
        Ok(())
    }

    /// Returns the next item without waiting, or `None` if there is none now.
    ///
    /// A decode error is returned once, for the one event that does not
    /// decode; the consumer has moved past it and the next call goes on.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::Read`] if the ring holds what cannot be valid,
    /// [`ConsumerError::Decode`] for an event that does not decode.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-lib-1649-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, Item};
    /// let mut c = Consumer::builder(&path).open()?;
    /// while let Some(item) = c.try_next()? {
    ///     if let Item::Lagged(missed) = item { eprintln!("{missed}"); }
    /// }
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_next(&mut self) -> Result<Option<Item<'_>>, ConsumerError> {
        self.leave_block_mode()?;
        self.begin_read();
        self.read_item()
    }

    /// The next item, with no commit: what `try_next` and `next` return.
    fn read_item(&mut self) -> Result<Option<Item<'_>>, ConsumerError> {
        if let Some(change) = self.pending.take() {
            self.in_flight = true;
            return Ok(Some(Item::Producer(change)));
        }
        if let Some((seq, kind, _)) = self.held.take() {
            self.handed = self.cursor();
            self.delivered += 1;
            self.in_flight = true;
            return decode(seq, kind, &self.held_buf);
        }
        loop {
            match self.advance_any(false)? {
                None => {
                    self.handed = self.cursor();
                    return Ok(None);
                }
                Some(Step::Lagged(lag)) => {
                    let missed = self.complete_gap(lag)?;
                    self.missed += missed.count();
                    self.handed = self.cursor();
                    self.in_flight = true;
                    return Ok(Some(Item::Lagged(missed)));
                }
                Some(Step::Record) => {
                    let seq = self.current_record().expect("moved to a record").seq;
                    if self.skip_below.is_some_and(|n| seq < n) {
                        continue;
                    }
                    self.skip_below = None;
                    self.handed = self.cursor();
                    self.delivered += 1;
                    self.in_flight = true;
                    let rec = self.current_record().expect("moved to a record");
                    return decode(rec.seq, rec.kind, rec.payload);
                }
            }
        }
    }

    /// The gap `lag`, with its heights: reads the first record after it (and
    /// holds it, to deliver next, if the filter keeps it).
    fn complete_gap(&mut self, lag: Lag) -> Result<Missed, ConsumerError> {
        let before = self.at;
        let mut last_missed = lag.last_missed;
        loop {
            let pos = self.source_cursor().1;
            match self.advance_any(true)? {
                None => return Ok(Missed::between(lag.first_missed, last_missed, before, None)),
                Some(Step::Lagged(more)) => last_missed = more.last_missed,
                Some(Step::Record) => {
                    let rec = record_of(self.from_journal, &self.journal, &self.reader)
                        .expect("moved to a record");
                    let next = delivery::head(rec.kind, rec.payload);
                    if self.filter.keep(rec.kind, rec.payload)
                        && self.skip_below.is_none_or(|n| rec.seq >= n)
                    {
                        self.held_buf.clear();
                        self.held_buf.extend_from_slice(rec.payload);
                        self.held = Some((rec.seq, rec.kind, pos));
                        // Not delivered yet: a gap before it would begin in its block.
                        if let Some(h) = next {
                            self.at = Some(Here {
                                height: h.height,
                                partial: !h.begin,
                            });
                        }
                    }
                    return Ok(Missed::between(lag.first_missed, last_missed, before, next));
                }
            }
        }
    }

    /// Returns the next item, waiting up to `timeout` for one (spinning
    /// briefly, then sleeping on the ring's futex); `None` if none came.
    ///
    /// # Errors
    ///
    /// As [`try_next`](Self::try_next).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-lib-1745-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, Item};
    /// use std::time::Duration;
    /// let mut c = Consumer::builder(&path).open()?;
    /// if let Some(Item::Event(ev)) = c.next(Duration::from_millis(100))? {
    ///     println!("#{} at height {}", ev.seq, ev.event.block_height());
    /// }
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Item<'_>>, ConsumerError> {
        let deadline = Instant::now() + timeout;
        self.leave_block_mode()?;
        self.begin_read();
        if self.wait_ready(deadline)? {
            return self.read_item();
        }
        Ok(None)
    }

    /// Waits until something may be ready to read (or `deadline` passes):
    /// spins for the configured time, then sleeps on the futex, checking the
    /// producer's liveness while idle.
    pub(crate) fn wait_ready(&mut self, deadline: Instant) -> Result<bool, ConsumerError> {
        let start = Instant::now();
        loop {
            if self.ready()? {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            if now - start < self.spin {
                std::hint::spin_loop();
                continue;
            }
            let nap = (deadline - now).min(self.liveness_interval);
            self.reader.wait(nap);
        }
    }

    /// Whether [`try_next`](Self::try_next) has something to return (it may
    /// still be filtered out); checks the producer's liveness when idle.
    fn ready(&mut self) -> Result<bool, ConsumerError> {
        if self.pending.is_some()
            || self.held.is_some()
            || self.reader.available()
            || self.journal.as_ref().is_some_and(|j| j.replaying())
        {
            return Ok(true);
        }
        if self.last_liveness.elapsed() >= self.liveness_interval {
            self.last_liveness = Instant::now();
            self.check_producer();
        }
        Ok(self.pending.is_some())
    }

    /// Compares the producer's state with what was last reported.
    fn check_producer(&mut self) {
        let info = self.reader.producer();
        if info.epoch > self.seen_epoch {
            self.seen_epoch = info.epoch;
            self.reported = Reported::None;
            self.pending = Some(ProducerChange::Restarted {
                pid: info.pid,
                epoch: info.epoch,
            });
            return;
        }
        let now = match info.state {
            ProducerState::Closed => Reported::Closed,
            ProducerState::Open if !producer_alive(&self.file).unwrap_or(true) => Reported::Died,
            _ => Reported::None,
        };
        if now != self.reported {
            self.reported = now;
            self.pending = match now {
                Reported::Died => Some(ProducerChange::Died {
                    pid: info.pid,
                    epoch: info.epoch,
                }),
                Reported::Closed => Some(ProducerChange::Closed { epoch: info.epoch }),
                Reported::None => None,
            };
        }
    }

    /// Whether a producer holds the ring now.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-alive-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// assert!(c.producer_alive());
    /// drop(p);
    /// assert!(!c.producer_alive());
    /// # let p = ();
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producer_alive(&self) -> bool {
        producer_alive(&self.file).unwrap_or(false)
    }

    /// An iterator of owned items that waits for each (allocates per event;
    /// use [`next`](Self::next) for the zero-copy path). Ends only on error.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-iter-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, OwnedItem};
    /// let mut c = Consumer::builder(&path).open()?;
    /// // The iterator waits for each item: take what is there.
    /// let items: Vec<OwnedItem> = c.iter().take(3).collect::<Result<_, _>>()?;
    /// assert!(matches!(&items[2], OwnedItem::Event(ev) if ev.seq == 3));
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&mut self) -> Iter<'_> {
        Iter { consumer: self }
    }
}

/// The record last read: the journal's or the ring reader's (borrowing only those fields).
pub(crate) fn record_of<'a>(
    from_journal: bool,
    journal: &'a Option<journal::Catchup>,
    reader: &'a Reader,
) -> Option<Record<'a>> {
    if from_journal {
        journal.as_ref()?.current()
    } else {
        reader.current()
    }
}

/// Decodes a delivered record into the item handed out.
#[inline]
fn decode(seq: u64, kind: u16, payload: &[u8]) -> Result<Option<Item<'_>>, ConsumerError> {
    Event::decode(seq, kind, payload).map(|e| Some(Item::Event(e)))
}

impl Drop for Consumer {
    /// With automatic commits, stores what the application has moved past:
    /// never the item in flight (it comes again after a restart), and nothing
    /// while a panic unwinds.
    fn drop(&mut self) {
        if self.auto_commit && !std::thread::panicking() {
            let cursor = if self.in_flight {
                self.acked
            } else {
                self.handed
            };
            self.store(cursor);
        }
        // The durable cursor catches up with the last one stored in the
        // cursor file (by automatic commits, `commit`, or a stream's
        // acknowledgements), which it may trail by the store interval.
        if self.slot.is_some() && self.stored != (0, 0) {
            self.store_durable(self.stored.0, true);
        }
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("path", &self.path)
            .field("name", &self.name())
            .field("next_seq", &self.next_seq())
            .finish_non_exhaustive()
    }
}

/// An [`Item`] that owns its event: what [`Consumer::iter`] and the
/// streams (feature `tokio`) yield.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-owned-item-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.block_at(5, b"bytes")?;
/// use slipstream_consumer::{Consumer, OwnedItem};
/// let mut c = Consumer::builder(&path).open()?;
/// let item = c.try_next()?.map(|item| OwnedItem::from_item(&item));
/// drop(c); // the copy outlives the consumer
/// assert!(matches!(item, Some(OwnedItem::Event(ev)) if ev.seq == 1));
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedItem {
    /// An event ([`Item::Event`]).
    Event(OwnedEvent),
    /// Events were missed ([`Item::Lagged`]).
    Lagged(Missed),
    /// The producer died, closed, or restarted ([`Item::Producer`]).
    Producer(ProducerChange),
}

impl OwnedItem {
    /// Copies a borrowed item (an event's bytes are copied, not re-encoded).
    ///
    /// ```
    /// use slipstream_consumer::{Item, Missed, OwnedItem};
    /// let lag = Missed { first_missed: 3, last_missed: 9, first_height: None, last_height: None, first_partial: false, last_partial: false };
    /// assert_eq!(OwnedItem::from_item(&Item::Lagged(lag)), OwnedItem::Lagged(lag));
    /// ```
    pub fn from_item(item: &Item<'_>) -> OwnedItem {
        match item {
            Item::Event(e) => OwnedItem::Event(OwnedEvent::from(e)),
            Item::Lagged(l) => OwnedItem::Lagged(*l),
            Item::Producer(p) => OwnedItem::Producer(*p),
        }
    }
}

/// A blocking iterator over a consumer's items; see [`Consumer::iter`].
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-iter-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// let mut c = slipstream_consumer::Consumer::builder(&path).open()?;
/// let mut iter = c.iter();
/// assert!(iter.next().is_some()); // the begin marker of block 7
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Iter<'c> {
    consumer: &'c mut Consumer,
}

impl Iterator for Iter<'_> {
    type Item = Result<OwnedItem, ConsumerError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.consumer.next(Duration::from_secs(3600)) {
                Ok(Some(item)) => return Some(Ok(OwnedItem::from_item(&item))),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
