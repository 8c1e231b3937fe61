//! # slipstream-consumer
//!
//! What an indexer links to read a Slipstream ring: attach by path with a
//! name, and read the node's finalize events in order, each with its sequence
//! number, at the consumer's own pace.
//!
//! - **Named cursors.** A consumer with a name keeps its cursor in the ring's
//!   reader table; restarted under the same name, it resumes where it left off
//!   (at least once: the event being processed when it died comes again).
//! - **Lag is an item, not an error.** A consumer that fell behind gets
//!   [`Item::Lagged`] with the exact sequence numbers it missed, and reading
//!   goes on; nothing ends the stream but the caller.
//! - **Blocks.** [`Consumer::next_block`] returns all the events of one
//!   committed block, or nothing.
//! - **The producer's life** (death, clean close, restart) arrives as
//!   [`Item::Producer`], never as a hang.
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
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod block;
mod journal;
#[cfg(feature = "tokio")]
mod stream;

pub use block::{Block, BlockItem, OwnedEvent};
pub use journal::DURABLE_CURSOR_INTERVAL;
pub use slipstream_journal::JournalError;
pub use slipstream_ring::event::{DecodeError, EventKind, EventRef, KindSet};
pub use slipstream_ring::{resolve_ring_path, Lag, LapPolicy, SHM_DIR};
#[cfg(feature = "tokio")]
pub use stream::{EventStream, OwnedItem};

use slipstream_ring::{
    producer_alive, AttachError, ProducerState, ReadError, Reader, SeekError, Slot, SlotError,
    StartAt, Step,
};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a consumer starts (a named consumer with a saved cursor resumes
/// from it instead, unless [`ConsumerBuilder::reset`] is set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Start {
    /// The oldest event the ring still holds.
    #[default]
    Oldest,
    /// The newest event already in the ring.
    Latest,
    /// Only events published from now on.
    End,
    /// The event with this sequence number (an error if no longer retained).
    Seq(u64),
    /// The first block at or after this height (its begin marker).
    Height(u64),
}

impl std::str::FromStr for Start {
    type Err = String;
    /// `oldest`, `newest` (the newest event, then what follows), `end`, a
    /// sequence number, or `height:H`.
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "oldest" => Start::Oldest,
            "newest" | "latest" => Start::Latest,
            "end" | "now" => Start::End,
            _ => {
                if let Some(h) = s.strip_prefix("height:") {
                    Start::Height(
                        h.parse()
                            .map_err(|_| format!("{h:?} is not a block height"))?,
                    )
                } else {
                    Start::Seq(s.parse().map_err(|_| {
                        format!("{s:?} is not oldest, newest, end, a sequence number or height:H")
                    })?)
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
    fn is_open(&self) -> bool {
        self.kinds.is_none()
            && self.programs.is_empty()
            && self.mappings.is_empty()
            && self.from_height.is_none()
    }

    /// Whether a record of `kind` with `payload` passes.
    pub fn keep(&self, kind: u16, payload: &[u8]) -> bool {
        if let Some(kinds) = self.kinds {
            if !kinds.contains_raw(kind) {
                return false;
            }
        }
        if self.programs.is_empty() && self.mappings.is_empty() && self.from_height.is_none() {
            return true;
        }
        match EventRef::decode(kind, payload) {
            // Undecodable records pass, so that the caller sees the error.
            Err(_) => true,
            Ok(ev) => {
                if self.from_height.is_some_and(|h| ev.block_height() < h) {
                    return false;
                }
                let (Some(program), Some(mapping)) = (ev.program_id(), ev.mapping_name()) else {
                    return true;
                };
                (self.programs.is_empty() || self.programs.iter().any(|p| p == program))
                    && (self.mappings.is_empty() || self.mappings.iter().any(|m| m == mapping))
            }
        }
    }
}

/// One event, decoded from the consumer's own copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// Its sequence number.
    pub seq: u64,
    /// The event.
    pub event: EventRef<'a>,
}

/// A change in the producer's life.
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// The next event.
    Event(Event<'a>),
    /// Events were overwritten before this consumer read them; reading goes on after them.
    Lagged(Lag),
    /// The producer died, closed the ring, or was restarted.
    Producer(ProducerChange),
}

/// An error from a consumer.
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
    /// A named consumer needs write access to the ring file (for its cursor).
    #[error("ring {0}: a named consumer needs write access to the ring file to keep its cursor (it is read-only to this user)")]
    ReadOnlyNamed(PathBuf),
    /// The start position is not in the ring.
    #[error(transparent)]
    Seek(#[from] SeekError),
    /// No block at or after the height asked for is retained, or the height is older than the ring.
    #[error("block height {requested} is no longer in the ring (oldest retained block begins at height {oldest})")]
    HeightNotRetained {
        /// The height asked for.
        requested: u64,
        /// The oldest block height whose begin marker is retained.
        oldest: u64,
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
    /// [`Item::Lagged`]. A named consumer's cursor is also stored in `dir`
    /// (atomically, at most every [`DURABLE_CURSOR_INTERVAL`] when committing
    /// automatically, at every [`Consumer::commit`] otherwise), so that it
    /// survives a reboot. [`Consumer::seek`] moves within the ring only.
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

    /// A name: the consumer's cursor is kept in the ring under it and resumed
    /// on restart. At most 64 bytes; one live consumer per name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Where to start (default [`Start::Oldest`]). A named consumer with a
    /// saved cursor resumes from it instead, unless [`reset`](Self::reset).
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Ignore a saved cursor and start at [`start`](Self::start).
    pub fn reset(mut self, reset: bool) -> Self {
        self.reset = reset;
        self
    }

    /// Receive only these kinds.
    pub fn kinds(mut self, kinds: KindSet) -> Self {
        self.filter.kinds = Some(kinds);
        self
    }

    /// Receive only mapping events of this program (may be given several times).
    pub fn program(mut self, program: impl AsRef<[u8]>) -> Self {
        self.filter.programs.push(program.as_ref().to_vec());
        self
    }

    /// Receive only mapping events of this mapping (may be given several times).
    pub fn mapping(mut self, mapping: impl AsRef<[u8]>) -> Self {
        self.filter.mappings.push(mapping.as_ref().to_vec());
        self
    }

    /// Where to go on from after being lapped (default: the oldest event that
    /// leaves headroom; [`LapPolicy::Newest`] skips to the present).
    pub fn lap_policy(mut self, policy: LapPolicy) -> Self {
        self.lap_policy = policy;
        self
    }

    /// How long [`Consumer::next`] spins before it sleeps on the futex
    /// (default 50 µs; zero sleeps at once).
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// How often an idle consumer checks whether the producer is alive
    /// (default 100 ms).
    pub fn liveness_interval(mut self, interval: Duration) -> Self {
        self.liveness_interval = interval;
        self
    }

    /// Whether a named consumer's cursor is stored automatically (default:
    /// yes). Automatic: an event counts as processed when the next one is
    /// asked for (at least once). Manual: only [`Consumer::commit`] stores it,
    /// for consumers whose processing completes later (a buffered writer, a
    /// database transaction): commit after the output is durable.
    pub fn auto_commit(mut self, auto: bool) -> Self {
        self.auto_commit = auto;
        self
    }

    /// Wait up to this long for the ring to exist and be initialised (default: don't).
    pub fn wait_for_ring(mut self, wait: Duration) -> Self {
        self.wait_for_ring = wait;
        self
    }

    /// Attaches to the ring.
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
        let (file, writable) = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(f) => (f, true),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                (File::open(&path).map_err(open_err)?, false)
            }
            Err(e) => return Err(open_err(e)),
        };
        let attach_err = |source| ConsumerError::Attach {
            path: path.clone(),
            source,
        };
        let mut reader = Reader::attach(&file, StartAt::End).map_err(attach_err)?;
        reader.set_lap_policy(self.lap_policy);
        let (slot, saved) = match &self.name {
            None => (None, None),
            Some(_) if !writable => return Err(ConsumerError::ReadOnlyNamed(path)),
            Some(name) => {
                // Each claim gets its own open file description (locks belong to it).
                let own = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(open_err)?;
                let (slot, saved) =
                    Slot::claim(own, name).map_err(|source| ConsumerError::Slot {
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
            journal: None,
        };
        let saved = saved.filter(|_| !self.reset);
        match (&self.journal, saved) {
            (Some(dir), _) => journal::open(
                &mut c,
                dir,
                saved.map(|s| s.next_seq),
                self.start,
                self.reset,
            )?,
            (None, Some(cursor)) => c.reader.resume(cursor.next_seq, cursor.position)?,
            (None, None) => c.seek(self.start)?,
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
    journal: Option<journal::Catchup>,
}

impl Consumer {
    /// Options to attach to the ring at `path` (a bare name is a file under `/dev/shm`).
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
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The consumer's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.slot.as_ref().map(|s| s.name())
    }

    /// The sequence number of the next event this consumer will receive.
    pub fn next_seq(&self) -> u64 {
        journal::cursor(self).map_or(self.reader.next_seq(), |c| c.0)
    }

    /// Bytes of events published and not yet read (more than the ring's
    /// capacity: the consumer has been lapped and will be told so).
    pub fn bytes_behind(&self) -> u64 {
        self.reader.bytes_behind()
    }

    /// Moves the consumer.
    pub fn seek(&mut self, start: Start) -> Result<(), ConsumerError> {
        self.block.clear();
        self.filter.from_height = None;
        journal::stop(self);
        match start {
            Start::Oldest => self.reader.seek(StartAt::Oldest)?,
            Start::Latest => self.reader.seek(StartAt::Latest)?,
            Start::End => self.reader.seek(StartAt::End)?,
            Start::Seq(n) => self.reader.seek(StartAt::Seq(n))?,
            Start::Height(h) => self.seek_height(h)?,
        }
        Ok(())
    }

    /// Finds the begin marker of the first block at or after height `h`.
    fn seek_height(&mut self, h: u64) -> Result<(), ConsumerError> {
        self.reader.seek(StartAt::Oldest)?;
        let begin = EventKind::BlockBegin.as_u16();
        let mut oldest = None;
        loop {
            match self.reader.advance(|kind, _| kind == begin)? {
                None => {
                    // Not in the ring yet: wait for it from the end.
                    if let Some(o) = oldest.filter(|&o| o > h) {
                        return Err(ConsumerError::HeightNotRetained {
                            requested: h,
                            oldest: o,
                        });
                    }
                    self.reader.seek(StartAt::End)?;
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
                        if height > h {
                            return Err(ConsumerError::HeightNotRetained {
                                requested: h,
                                oldest: height,
                            });
                        }
                    }
                    if height >= h {
                        self.reader.seek(StartAt::Seq(seq))?;
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Stores the cursor of a named consumer: everything handed out so far
    /// counts as processed, and a restart under this name resumes after it.
    /// Called automatically before each read unless
    /// [`auto_commit(false)`](ConsumerBuilder::auto_commit) was chosen.
    ///
    /// Two stores to the consumer's own slot; nothing if it has no name.
    pub fn commit(&mut self) {
        let cursor =
            journal::cursor(self).unwrap_or((self.reader.next_seq(), self.reader.position()));
        journal::store(self, cursor.0, !self.auto_commit);
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

    /// Returns the next item without waiting, or `None` if there is none now.
    ///
    /// A decode error is returned once, for the one event that does not
    /// decode; the consumer has moved past it and the next call goes on.
    pub fn try_next(&mut self) -> Result<Option<Item<'_>>, ConsumerError> {
        if self.auto_commit {
            self.commit();
        }
        if let Some(change) = self.pending.take() {
            return Ok(Some(Item::Producer(change)));
        }
        match journal::replay(self)? {
            journal::Replay::Live => {}
            journal::Replay::Record => return journal::current(self),
            journal::Replay::Lagged(lag) => {
                self.missed += lag.count();
                return Ok(Some(Item::Lagged(lag)));
            }
        }
        let step = if self.filter.is_open() {
            self.reader.advance(|_, _| true)?
        } else {
            let filter = &self.filter;
            self.reader
                .advance(|kind, payload| filter.keep(kind, payload))?
        };
        match step {
            None => Ok(None),
            Some(Step::Lagged(lag)) => {
                if journal::on_lag(self, lag)? {
                    return self.try_next();
                }
                self.missed += lag.count();
                Ok(Some(Item::Lagged(lag)))
            }
            Some(Step::Record) => {
                self.delivered += 1;
                let rec = self.reader.current().expect("advance moved to a record");
                match EventRef::decode(rec.kind, rec.payload) {
                    Ok(event) => Ok(Some(Item::Event(Event {
                        seq: rec.seq,
                        event,
                    }))),
                    Err(source) => Err(ConsumerError::Decode {
                        seq: rec.seq,
                        kind: rec.kind,
                        source,
                    }),
                }
            }
        }
    }

    /// Returns the next item, waiting up to `timeout` for one (spinning
    /// briefly, then sleeping on the ring's futex); `None` if none came.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Item<'_>>, ConsumerError> {
        let start = Instant::now();
        let deadline = start + timeout;
        loop {
            if self.ready()? {
                return self.try_next();
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
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
        if self.pending.is_some() || self.reader.available() || journal::replaying(self) {
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
    pub fn producer_alive(&self) -> bool {
        producer_alive(&self.file).unwrap_or(false)
    }

    /// An iterator of owned items that waits for each (allocates per event;
    /// use [`next`](Self::next) for the zero-copy path). Ends only on error.
    pub fn iter(&mut self) -> Iter<'_> {
        Iter { consumer: self }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if self.auto_commit {
            self.commit();
            let next = self.next_seq();
            journal::store(self, next, true);
        }
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("path", &self.path)
            .field("name", &self.name())
            .field("next_seq", &self.reader.next_seq())
            .finish_non_exhaustive()
    }
}

/// An item that owns its event (see [`Consumer::iter`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    /// An event.
    Event(OwnedEvent),
    /// Events were missed.
    Lagged(Lag),
    /// The producer died, closed, or restarted.
    Producer(ProducerChange),
}

impl Owned {
    /// Copies a borrowed item.
    pub fn from_item(item: &Item<'_>) -> Owned {
        match item {
            Item::Event(e) => Owned::Event(OwnedEvent::new(e.seq, &e.event)),
            Item::Lagged(l) => Owned::Lagged(*l),
            Item::Producer(p) => Owned::Producer(*p),
        }
    }
}

/// A blocking iterator over a consumer's items; see [`Consumer::iter`].
pub struct Iter<'c> {
    consumer: &'c mut Consumer,
}

impl Iterator for Iter<'_> {
    type Item = Result<Owned, ConsumerError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.consumer.next(Duration::from_secs(3600)) {
                Ok(Some(item)) => return Some(Ok(Owned::from_item(&item))),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
