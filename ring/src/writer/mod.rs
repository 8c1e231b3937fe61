//! The single producer.

#[cfg(not(loom))]
mod open;

#[cfg(not(loom))]
pub use open::IfExists;

use crate::error::PublishError;
use crate::layout::*;
use crate::shared::{Shared, WakeFile};
use crate::sync::{fence, Arc, Ordering};

/// When the writer wakes readers asleep on the futex.
///
/// Whatever consumers do, the publishing thread never reads memory or files a
/// consumer can write: for a ring in a file, sleep announcements live in the
/// wake file, which only [`Writer::flush`] and a [`Waker`] read (`pread`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Wake {
    /// Every commit checks for sleepers and wakes them at once. Lowest latency
    /// for sleeping readers; the first commit after a reader falls asleep pays
    /// the `FUTEX_WAKE` system call (tens of microseconds on a virtual machine).
    ///
    /// For a ring in a file, the check is of a flag in the producer's private
    /// memory that a [`Waker`] (on another thread) sets when it finds a sleep
    /// announcement: a commit makes at most one `FUTEX_WAKE` per time the
    /// waker set the flag (at most once per waker interval), never a read of a
    /// consumer's file, whatever consumers write there.
    Immediate,
    /// Commits never make a system call. Call [`Writer::flush`] at a batch
    /// boundary (the end of a block), or let a [`Waker`] on another thread do it.
    /// Until then sleepers stay asleep (at most for their own wait timeout).
    #[default]
    Deferred,
}

/// The one writer of a ring.
///
/// A writer never waits for, and never reads the position of, any reader: a
/// slow reader is lapped and told what it missed. Records are written in the
/// style of Agrona's broadcast transmitter: announce the bytes about to be
/// overwritten in `tail_intent`, write the record, publish it by advancing
/// `tail`.
///
/// ```
/// use slipstream_ring::{Layout, Writer, Start, Item};
/// let mut writer = Writer::anonymous(Layout::new(1 << 16)).unwrap();
/// let mut reader = writer.reader(Start::Oldest).unwrap();
/// let seq = writer.publish(1, b"hello").unwrap();
/// match reader.try_next().unwrap() {
///     Some(Item::Record(r)) => { assert_eq!(r.seq, seq); assert_eq!(r.payload, b"hello"); }
///     other => panic!("{other:?}"),
/// }
/// ```
pub struct Writer {
    pub(crate) shared: Arc<Shared>,
    /// Committed tail (we are the only writer, so no need to load it).
    tail: u64,
    /// Highest `tail_intent` published; never decreases.
    intent: u64,
    /// How far past a record's end `tail_intent` is announced (see
    /// [`intent_chunk`]): one store to its line per chunk of records, not one
    /// per record.
    chunk: u64,
    next_seq: u64,
    /// Absolute segment index (`pos >> segment_shift`) of the last record written.
    last_segment: u64,
    mode: Wake,
    /// A commit happened since the last wake check (Deferred mode).
    unflushed: bool,
    /// The ring's wake file, if it has one (read by `flush` and wakers only).
    wake_file: Option<Arc<WakeFile>>,
    #[cfg(not(loom))]
    pub(crate) file: Option<open::WriterFile>,
}

/// Space reserved for one record, to be filled in place and committed.
///
/// Dropping it without [`commit`](Reservation::commit) abandons the record: it
/// is never delivered, and its sequence number is used by the next record.
///
/// ```
/// # use slipstream_ring::{Layout, Writer};
/// let mut writer = Writer::anonymous(Layout::new(1 << 16)).unwrap();
/// let mut r = writer.reserve(7, 4).unwrap();
/// r.payload_mut().copy_from_slice(&42u32.to_le_bytes());
/// let seq = r.commit();
/// assert_eq!(seq, 1);
/// ```
pub struct Reservation<'a> {
    writer: &'a mut Writer,
    kind: u16,
    pos: u64,
    len: usize,
    end: u64,
}

impl Writer {
    pub(crate) fn from_shared(
        shared: Arc<Shared>,
        tail: u64,
        intent: u64,
        next_seq: u64,
        latest: u64,
    ) -> Self {
        let shift = shared.geo.segment_shift;
        let chunk = intent_chunk(shared.geo.capacity);
        Writer {
            shared,
            tail,
            intent,
            chunk,
            next_seq,
            last_segment: if latest == NO_RECORD {
                u64::MAX
            } else {
                latest >> shift
            },
            mode: Wake::default(),
            unflushed: false,
            wake_file: None,
            #[cfg(not(loom))]
            file: None,
        }
    }

    /// A ring in this process's memory (an anonymous mapping), for tests,
    /// benchmarks and in-process consumers made with [`Writer::reader`].
    ///
    /// ```
    /// let w = slipstream_ring::Writer::anonymous(slipstream_ring::Layout::new(4096)).unwrap();
    /// assert_eq!(w.next_seq(), 1);
    /// ```
    pub fn anonymous(layout: Layout) -> Result<Writer, crate::OpenError> {
        let geo = layout.geometry()?;
        let shared =
            Shared::anonymous(geo, FIRST_SEQ).map_err(crate::error::io("anonymous mmap"))?;
        Ok(Writer::from_shared(
            Arc::new(shared),
            0,
            0,
            FIRST_SEQ,
            NO_RECORD,
        ))
    }

    /// Gives the writer the ring's wake file (`RING.wake`, opened read-write),
    /// where consumers of a ring in a file announce that they sleep. Only
    /// [`Writer::flush`] and [`Waker`]s read it (with `pread`; it is never
    /// mapped). Without one, a file ring's sleepers are woken only when the
    /// producer closes, and must poll.
    #[cfg(not(loom))]
    pub fn set_wake_file(&mut self, file: std::fs::File) {
        self.wake_file = Some(Arc::new(WakeFile::new(file)));
    }

    /// Counts `n` events the caller did not publish because their kind is
    /// switched off (the header's `refused_switched_off` statistic).
    ///
    /// A load and a store, no read-modify-write: only the writer (`&mut`)
    /// writes this counter, and readers only display it.
    #[inline]
    pub fn count_switched_off(&mut self, n: u64) {
        let c = self.shared.header.u64(OFF_REFUSED_OFF);
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Sets when readers asleep on the futex are woken (default: [`Wake::Deferred`]).
    pub fn set_wake_mode(&mut self, mode: Wake) {
        self.mode = mode;
    }

    /// The wake mode in force.
    pub fn wake_mode(&self) -> Wake {
        self.mode
    }

    /// The geometry of the ring.
    pub fn geometry(&self) -> &Geometry {
        &self.shared.geo
    }

    /// The sequence number the next committed record will carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The committed tail position (bytes written over the ring's life).
    pub fn tail(&self) -> u64 {
        self.tail
    }

    /// Reserves room for a record of `len` payload bytes of the given kind.
    ///
    /// Never waits: the space is taken from the oldest records, which readers
    /// still on them will find lapped. Fails only for the caller's own errors.
    ///
    /// ```
    /// # use slipstream_ring::{Layout, Writer, PublishError};
    /// let mut w = Writer::anonymous(Layout::new(4096).max_payload(100)).unwrap();
    /// assert!(matches!(w.reserve(1, 101), Err(PublishError::TooLarge { len: 101, max: 100 })));
    /// assert!(matches!(w.reserve(0, 1), Err(PublishError::ReservedKind(0))));
    /// ```
    #[inline(always)]
    pub fn reserve(&mut self, kind: u16, len: usize) -> Result<Reservation<'_>, PublishError> {
        // The common case, inlined into the caller: a valid record that fits
        // before the end of the data region and below the announced
        // `tail_intent`. Everything else (a refusal, padding, a new chunk of
        // intent) takes `reserve_slow`, out of line. Out of line, the whole of
        // `reserve` cost a call, four register saves and a `Reservation`
        // returned through the stack per publish (perf annotate of
        // `publish/128`, benches/RESULTS.md).
        let geo = &self.shared.geo;
        if len <= geo.layout.max_payload as usize && kind != KIND_INVALID && kind != KIND_PADDING {
            // No overflow: len <= max_payload < 2^32.
            let rec = record_len(len as u64);
            let off = self.tail & geo.mask;
            let end = self.tail + rec;
            if off + rec <= geo.capacity && end <= self.intent {
                let pos = self.tail;
                // The record [off, off + rec) lies in the data region (checked
                // just above), rec >= 16, and off is 8-aligned (tail always is).
                // SAFETY: off + 8 <= off + rec <= capacity, 8-aligned (above).
                let head = unsafe { self.shared.data.u64_unchecked(off as usize) };
                // Relaxed: published by the Release store of tail in `commit`.
                // The tail_intent that covers the record was announced
                // earlier: by `reserve_slow`, whose fence(Release) orders it
                // before this store, or by the writer this one resumed from
                // (the same as before this fast path was split out).
                head.store(header_word(len as u32, kind, 0), Ordering::Relaxed);
                return Ok(Reservation {
                    writer: self,
                    kind,
                    pos,
                    len,
                    end,
                });
            }
        }
        self.reserve_slow(kind, len)
    }

    /// `reserve` for everything but its common case: refusals, a record that
    /// needs padding before it, and a record past the announced `tail_intent`.
    #[cold]
    #[inline(never)]
    fn reserve_slow(&mut self, kind: u16, len: usize) -> Result<Reservation<'_>, PublishError> {
        let geo = &self.shared.geo;
        if len > geo.layout.max_payload as usize {
            self.shared.count(OFF_REFUSED_TOO_LARGE, 1);
            return Err(PublishError::TooLarge {
                len,
                max: geo.layout.max_payload,
            });
        }
        if kind == KIND_INVALID || kind == KIND_PADDING {
            return Err(PublishError::ReservedKind(kind));
        }
        let rec = record_len(len as u64);
        let off = self.tail & geo.mask;
        let to_end = geo.capacity - off;
        // A record never wraps: if it does not fit before the end of the data
        // region, a padding record fills the rest and the record starts at offset 0.
        let pad = if to_end < rec { to_end } else { 0 };
        let pos = self.tail + pad;
        let end = pos + rec;
        if end > self.intent {
            // Announce ahead, in chunks (FORMAT.md section 5, step 2): readers
            // load tail_intent after every copy and while they wait, so a
            // store per record would take its line from every polling reader
            // at every publish. Never more than a lap past the committed tail.
            self.intent = end.max(
                end.saturating_add(self.chunk)
                    .min(self.tail.saturating_add(geo.capacity)),
            );
            // Announce, before touching any byte of [tail, end), that the bytes
            // one lap back are about to be overwritten.
            // Release: a reader that Acquire-loads this value also sees the
            // tail committed before it (pairs with the Acquire load in
            // `Reader::counters`, whose corruption check relies on it).
            self.shared
                .tail_intent()
                .store(self.intent, Ordering::Release);
            // Orders the store above before every store of the record below.
            // Pairs with the fence(Acquire) in `Reader::fill` (and the other
            // validations) between a reader's copy and its load of tail_intent:
            // if the copy saw any byte written below, the load sees `end` or
            // later, and the reader discards the copy as lapped.
            fence(Ordering::Release);
        }
        let data = &self.shared.data;
        if pad != 0 {
            data.u64(off as usize)
                .store(header_word(pad as u32, KIND_PADDING, 0), Ordering::Relaxed);
            self.shared.count(OFF_PADDING_BYTES, pad);
        }
        let roff = (pos & geo.mask) as usize;
        // The record [roff, roff + rec) lies in the data region (a record that
        // would cross its end starts at offset 0 instead, and rec <= capacity
        // since len <= max_payload), rec >= 16, and roff is 8-aligned.
        // SAFETY: roff + 8 <= roff + rec <= capacity, 8-aligned (above).
        let head = unsafe { data.u64_unchecked(roff) };
        head.store(header_word(len as u32, kind, 0), Ordering::Relaxed);
        // The sequence word is stored at the commit, after the payload: a
        // reader waiting on it (`Reader::discovered`) then sees it change
        // when the record is complete, not while it is being written.
        Ok(Reservation {
            writer: self,
            kind,
            pos,
            len,
            end,
        })
    }

    /// Copies `payload` into a new record of `kind` and commits it; returns its
    /// sequence number.
    ///
    /// ```
    /// # use slipstream_ring::{Layout, Writer};
    /// let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
    /// assert_eq!(w.publish(3, b"abc").unwrap(), 1);
    /// assert_eq!(w.publish(3, b"def").unwrap(), 2);
    /// ```
    #[inline]
    pub fn publish(&mut self, kind: u16, payload: &[u8]) -> Result<u64, PublishError> {
        let r = self.reserve(kind, payload.len())?;
        let off = ((r.pos & r.writer.shared.geo.mask) as usize) + RECORD_HEADER_LEN;
        // SAFETY: we are the single writer (`&mut self`), and [off, off+len) is
        // inside the record just announced in tail_intent and not yet committed.
        unsafe { r.writer.shared.data.write(off, payload) };
        Ok(r.commit())
    }

    // Inlined into `publish` and `Reservation::commit`: out of line it cost
    // a call, spills and reloads per publish (callgrind, benches/RESULTS.md).
    #[inline(always)]
    fn commit(&mut self, kind: u16, pos: u64, end: u64) -> u64 {
        let seq = self.next_seq;
        let geo = &self.shared.geo;
        let roff = (pos & geo.mask) as usize;
        // The record's sequence word, last of its bytes: readers watch it to
        // learn that a record may have been committed without loading the
        // commit line (FORMAT.md section 6, "Waiting"); they believe it only
        // after the Release store of tail below.
        // SAFETY: `reserve` placed the record [roff, roff + record_len) in the
        // data region, and record_len >= 16, roff 8-aligned.
        unsafe { self.shared.data.u64_unchecked(roff + 8) }.store(seq, Ordering::Relaxed);
        // The commit slot for `seq + 1`, before the tail it belongs to: a
        // producer killed at any point leaves one slot whose `end` is the
        // committed tail (the other holds an older or a half-written end,
        // never equal to it, since the tail only grows), and recovery reads
        // next_seq from it without reading any record. Published to readers
        // by the Release store of tail below.
        let (slot_seq, slot_end) = self.shared.commit_slot(seq + 1);
        slot_seq.store(seq + 1, Ordering::Relaxed);
        slot_end.store(end, Ordering::Relaxed);
        let segment = pos >> geo.segment_shift;
        if segment != self.last_segment {
            self.last_segment = segment;
            let off = geo.segment_offset((segment as usize) & (geo.segments() - 1));
            // Readers check an entry against the record it names (its seq, and
            // that it lies below the tail they loaded), so a torn or early view is
            // rejected; the Release store of tail below publishes these stores.
            self.shared.header.u64(off).store(pos, Ordering::Relaxed);
            self.shared
                .header
                .u64(off + 8)
                .store(seq, Ordering::Relaxed);
        }
        // The commit. Release pairs with every reader's Acquire load of tail: a
        // reader that sees `end` sees every byte of the record.
        self.shared.tail().store(end, Ordering::Release);
        // `latest` trails `tail`: a producer killed between the two stores leaves
        // it on the previous record, and recovery walks forward from there. Release
        // so that a reader finding `pos` here (and Acquire-loading it) sees the record.
        self.shared.latest().store(pos, Ordering::Release);
        self.tail = end;
        self.next_seq = seq + 1;
        if kind == KIND_BLOCK_COMMIT {
            self.shared.count(OFF_BLOCKS, 1);
        }
        match self.mode {
            Wake::Immediate => self.wake_now(),
            Wake::Deferred => self.unflushed = true,
        }
        seq
    }

    /// The immediate wake mode's check at a commit, out of line: the deferred
    /// mode (the default) then inlines a store, not this.
    #[inline(never)]
    fn wake_now(&mut self) {
        if self.wake_file.is_none() {
            self.shared.wake_sleepers(None);
        } else if self.shared.hint.load(Ordering::Relaxed) != 0
            && self.shared.hint.swap(0, Ordering::Relaxed) != 0
        {
            // A waker saw an announcement: wake without reading the file.
            self.shared.notify_and_wake();
        }
    }

    /// Wakes readers asleep on the futex if any record was committed since the
    /// last flush and a reader announced it would sleep. Returns whether a wake
    /// system call was made. For an in-process ring, one fence and one load
    /// when nobody sleeps; for a ring in a file, one `pread` of the wake file,
    /// plus a `pwrite` and a `FUTEX_WAKE` if it holds an announcement (or
    /// garbage): at most three system calls per flush, whatever consumers do.
    ///
    /// ```
    /// # use slipstream_ring::{Layout, Writer};
    /// let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
    /// w.publish(1, b"x").unwrap();
    /// assert!(!w.flush()); // nobody asleep
    /// ```
    pub fn flush(&mut self) -> bool {
        if !std::mem::take(&mut self.unflushed) {
            return false;
        }
        self.shared.wake_sleepers(self.wake_file.as_deref())
    }

    /// A handle that wakes sleeping readers from another thread, so that the
    /// publishing thread never makes the wake system call.
    ///
    /// ```
    /// # use slipstream_ring::{Layout, Writer};
    /// let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
    /// let mut waker = w.waker();
    /// w.publish(1, b"x").unwrap();
    /// std::thread::spawn(move || { waker.wake_if_needed(); }).join().unwrap();
    /// ```
    pub fn waker(&self) -> Waker {
        Waker {
            shared: self.shared.clone(),
            seen_tail: self.tail,
            file: self.wake_file.clone(),
        }
    }

    /// A reader of this ring in this process, starting at `start`.
    ///
    /// ```
    /// # use slipstream_ring::{Layout, Writer, Start};
    /// let w = Writer::anonymous(Layout::new(4096)).unwrap();
    /// let r = w.reader(Start::End).unwrap();
    /// assert_eq!(r.next_seq(), 1);
    /// ```
    pub fn reader(&self, start: crate::Start) -> Result<crate::Reader, crate::SeekError> {
        crate::Reader::new(self.shared.clone(), start)
    }
}

/// How far ahead of a record's end the writer announces `tail_intent`: a
/// 32nd of the ring, at most 64 KiB, a multiple of 8 (0 for rings under
/// 256 bytes). A reader is then told it was lapped when it is within a lap
/// less this chunk of the writer, never later than it really was.
pub(crate) fn intent_chunk(capacity: u64) -> u64 {
    if cfg!(loom) {
        // The loom models' rings are 64 bytes (no chunk by the rule below):
        // announce a word ahead there, so that the models explore readers
        // against an intent that runs ahead of the record being written.
        return RECORD_ALIGN as u64;
    }
    (capacity / 32).min(64 * 1024) & !(RECORD_ALIGN as u64 - 1)
}

impl<'a> Reservation<'a> {
    /// The payload bytes, to be filled in place. Their previous content is
    /// whatever the ring held there: write all of it.
    #[cfg(not(loom))]
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let off = ((self.pos & self.writer.shared.geo.mask) as usize) + RECORD_HEADER_LEN;
        // SAFETY: the single writer holds `&mut` to itself through us, and the
        // range is inside the record announced in tail_intent and not yet
        // committed; the slice borrows `self`, so it cannot outlive the commit.
        unsafe { self.writer.shared.data.bytes_mut(off, self.len) }
    }

    /// The sequence number the record will carry.
    pub fn seq(&self) -> u64 {
        self.writer.next_seq
    }

    /// Payload bytes reserved.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Publishes the record to readers; returns its sequence number.
    #[inline]
    pub fn commit(self) -> u64 {
        self.writer.commit(self.kind, self.pos, self.end)
    }
}

/// Wakes sleeping readers on behalf of a [`Writer`], from any thread.
///
/// It loads the committed tail itself, so it can run on a timer or a
/// dedicated thread while the publishing thread never makes a system call.
pub struct Waker {
    shared: Arc<Shared>,
    seen_tail: u64,
    file: Option<Arc<WakeFile>>,
}

impl Waker {
    /// Wakes sleeping readers if records were committed since the last call.
    /// Returns whether a wake system call was made.
    pub fn wake_if_needed(&mut self) -> bool {
        // Acquire pairs with the writer's Release store of tail: the commits we
        // see here happen before our fence in `wake_sleepers`, which is what the
        // lost-wake-up argument there needs.
        let tail = self.shared.tail().load(Ordering::Acquire);
        if tail == self.seen_tail {
            // Nothing new to wake for. If someone sleeps, tell an
            // immediate-wake writer (through its private flag), so that its
            // next commit wakes them without waiting for this thread.
            if let Some(f) = &self.file {
                if f.peek() {
                    self.shared.hint.store(1, Ordering::Relaxed);
                }
            }
            return false;
        }
        self.seen_tail = tail;
        self.shared.wake_sleepers(self.file.as_deref())
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("tail", &self.tail)
            .field("next_seq", &self.next_seq)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}
