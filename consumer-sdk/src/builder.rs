//! Attaching a consumer: [`ConsumerBuilder`], its options, and [`open`](ConsumerBuilder::open).

use crate::consumer::Reported;
use crate::{block, Consumer, ConsumerError, Filter, Start};
use slipstream_event::KindSet;
use slipstream_ring::{
    resolve_ring_path, AttachError, LapPolicy, Reader, Slot, Start as RingStart,
};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    /// [`Item::Lagged`](crate::Item::Lagged) ([`Missed`](crate::Missed)). The [delivery contract](crate#delivery-contract)
    /// holds for events served from the journal as for the ring's, with every
    /// API (`next_block` included). A named consumer's cursor is also stored
    /// in `dir` (atomically, at most every [`DURABLE_CURSOR_INTERVAL`](crate::DURABLE_CURSOR_INTERVAL) with
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
    /// A spinning consumer that has caught up polls the line the producer
    /// writes next, so while it spins each publish pays one transfer of that
    /// line between CPUs (tens to a couple of hundred ns on the project's
    /// VM: `publish_paced/1_spinning` in `benches/RESULTS.md`). A consumer
    /// that must cost the node nothing while idle sleeps at once (zero); it
    /// is then woken at the end of each block (the producer's default wake).
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
}
