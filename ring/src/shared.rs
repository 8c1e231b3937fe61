//! What a writer and its readers share: the regions of one ring and its geometry.

use crate::layout::*;
use crate::sync::{fence, AtomicU32, Ordering, Region};
use std::time::Duration;

/// The mapped regions of one ring, plus what keeps the mappings alive.
pub(crate) struct Shared {
    pub(crate) geo: Geometry,
    /// The producer's header (read-only for consumers of a file).
    pub(crate) header: Region,
    /// An in-process sleep-announcement word (anonymous rings only: their
    /// readers are threads of the producer's own process).
    pub(crate) wake: Option<Region>,
    /// The data region (read-only for consumers of a file).
    pub(crate) data: Region,
    /// The ring's first sequence number, copied from the (validated) header.
    pub(crate) first_seq: u64,
    /// In the producer's process only (private memory, never shared with a
    /// consumer): set by a [`Waker`](crate::Waker) that found a sleep
    /// announcement, so that an immediate-wake writer wakes at its next commit
    /// without reading any consumer-writable file.
    pub(crate) hint: AtomicU32,
    /// Keeps the mappings behind the regions alive; dropped after them.
    #[allow(dead_code)]
    pub(crate) keep: Keep,
}

/// Owners of the memory the regions point into.
#[allow(dead_code)]
pub(crate) enum Keep {
    /// Nothing to keep (loom regions own their storage).
    None,
    #[cfg(not(loom))]
    /// A writable mapping (the producer's, or an anonymous ring's).
    Mut(memmap2::MmapMut),
    #[cfg(not(loom))]
    /// A read-only mapping of header and data (a consumer's).
    Ro(memmap2::Mmap),
}

impl Shared {
    pub(crate) fn new(
        geo: Geometry,
        header: Region,
        data: Region,
        wake: Option<Region>,
        keep: Keep,
    ) -> Self {
        // Every header region holds the fixed header: `fixed_u64` relies on it.
        assert!(geo.header_len as usize >= SEGMENT_TABLE_OFFSET);
        let first_seq = header
            .u64(core::mem::offset_of!(RawHeader, first_seq))
            .load(Ordering::Relaxed);
        Shared {
            geo,
            header,
            wake,
            data,
            first_seq,
            hint: AtomicU32::new(0),
            keep,
        }
    }

    /// An in-process ring in fresh zeroed memory (an anonymous mapping, or loom atomics).
    pub(crate) fn anonymous(geo: Geometry, first_seq: u64) -> std::io::Result<Self> {
        #[cfg(not(loom))]
        {
            // MAP_POPULATE: the pages are allocated here, at creation, so the
            // first lap's publishes take no page fault (tested in
            // ring/tests/prefault.rs).
            let mut map = memmap2::MmapOptions::new()
                .len(geo.file_len as usize + 4096)
                .populate()
                .map_anon()?;
            let header =
                geo.new_header(crate::sync::random_id(), crate::sync::unix_ns(), first_seq);
            let bytes = zerocopy::IntoBytes::as_bytes(&header);
            map[..bytes.len()].copy_from_slice(bytes);
            let base = map.as_mut_ptr();
            // SAFETY: the three ranges lie inside `map` (header and data within
            // file_len, the wake word in the page after it), are 8-aligned
            // (page-aligned offsets of a page-aligned mapping), and `map` lives
            // in `keep` beside them.
            let (header, data, wake) = unsafe {
                (
                    Region::new(base, geo.header_len as usize),
                    Region::new(base.add(geo.data_offset as usize), geo.capacity as usize),
                    Region::new(base.add(geo.file_len as usize), 64),
                )
            };
            Ok(Shared::new(geo, header, data, Some(wake), Keep::Mut(map)))
        }
        #[cfg(loom)]
        {
            let header = Region::zeroed(geo.header_len as usize);
            header.u64(OFF_LATEST).store(NO_RECORD, Ordering::Relaxed);
            header
                .u64(core::mem::offset_of!(RawHeader, first_seq))
                .store(first_seq, Ordering::Relaxed);
            let h = geo.new_header(0, 0, first_seq);
            for (i, c) in h.commits.iter().enumerate() {
                header
                    .u64(OFF_COMMITS + 16 * i)
                    .store(c.end.get(), Ordering::Relaxed);
                header
                    .u64(OFF_COMMITS + 16 * i + 8)
                    .store(c.next_seq.get(), Ordering::Relaxed);
            }
            Ok(Shared::new(
                geo,
                header,
                Region::zeroed(geo.capacity as usize),
                Some(Region::zeroed(64)),
                Keep::None,
            ))
        }
    }

    #[inline(always)]
    pub(crate) fn tail(&self) -> &crate::sync::AtomicU64 {
        // SAFETY: a fixed-header offset, 8-aligned (see `Region::fixed_u64`).
        unsafe { self.header.fixed_u64(OFF_TAIL) }
    }

    #[inline(always)]
    pub(crate) fn tail_intent(&self) -> &crate::sync::AtomicU64 {
        // SAFETY: a fixed-header offset, 8-aligned (see `Region::fixed_u64`).
        unsafe { self.header.fixed_u64(OFF_TAIL_INTENT) }
    }

    #[inline(always)]
    pub(crate) fn latest(&self) -> &crate::sync::AtomicU64 {
        // SAFETY: a fixed-header offset, 8-aligned (see `Region::fixed_u64`).
        unsafe { self.header.fixed_u64(OFF_LATEST) }
    }

    /// Adds `n` to the producer statistic at header offset `off`. Only the
    /// producer's process writes these (its publishing thread and its waker
    /// thread), so a relaxed RMW suffices; readers only display them.
    #[inline]
    pub(crate) fn count(&self, off: usize, n: u64) {
        self.header.u64(off).fetch_add(n, Ordering::Relaxed);
    }

    /// The `next_seq` word (`.0`) and the `end` word (`.1`) of commit slot
    /// `k mod 2`.
    #[inline(always)]
    pub(crate) fn commit_slot(&self, k: u64) -> (&crate::sync::AtomicU64, &crate::sync::AtomicU64) {
        let off = OFF_COMMITS + 16 * (k & 1) as usize;
        // SAFETY: OFF_COMMITS + 16 + 16 <= SEGMENT_TABLE_OFFSET, 8-aligned.
        unsafe { (self.header.fixed_u64(off + 8), self.header.fixed_u64(off)) }
    }

    /// Loads segment table entry `i` as `(pos, seq)`; the pair may be torn and
    /// must be checked against the record it names.
    #[inline]
    pub(crate) fn segment(&self, i: usize) -> (u64, u64) {
        let off = self.geo.segment_offset(i);
        (
            self.header.u64(off).load(Ordering::Relaxed),
            self.header.u64(off + 8).load(Ordering::Relaxed),
        )
    }

    /// Wakes every reader asleep on the futex, if any announced it would sleep:
    /// in the in-process word (anonymous rings) or in the wake file `file`
    /// (read with `pread`, never mapped: whatever a consumer does to the file,
    /// this costs at most the three system calls below). Returns whether it
    /// made the wake system call.
    ///
    /// The caller must have observed the commits it wants the sleepers to see
    /// (it made them, or it loaded `tail` with `Acquire` after them).
    pub(crate) fn wake_sleepers(&self, file: Option<&WakeFile>) -> bool {
        // The lost-wake-up argument (store buffering, as in Dekker's algorithm).
        // Writer: store tail (commit) ; fence(SeqCst) [F2] ; load announcement.
        // Reader (`wait_past`): announce ; fence(SeqCst) [F1] ; load tail.
        // The two SeqCst fences are totally ordered (and a pread/pwrite system
        // call is a full barrier besides). If F2 comes first, the reader's load
        // of tail sees the commit and it does not sleep. If F1 comes first, our
        // load sees its announcement, and we wake it: the notify increment
        // below makes its FUTEX_WAIT fail (value changed) if it has not slept
        // yet, and the wake reaches it if it has.
        fence(Ordering::SeqCst);
        let announced = if let Some(wake) = &self.wake {
            let waiters = wake.u32(0);
            // Read first, so that with nobody asleep the line stays shared (no RMW).
            // Reset: every registered reader is woken now. A registration left
            // behind by a reader that died or timed out costs one spurious wake.
            waiters.load(Ordering::Relaxed) != 0 && waiters.swap(0, Ordering::Relaxed) != 0
        } else if let Some(f) = file {
            f.take()
        } else {
            false
        };
        if !announced {
            return false;
        }
        self.notify_and_wake();
        true
    }

    /// Increments `notify` and wakes every sleeper.
    pub(crate) fn notify_and_wake(&self) {
        // Release pairs with the reader's Acquire load of notify: a reader that
        // sees the new value also sees the commits before it. Only the producer
        // writes notify, so the increment cannot be lost.
        self.header.u32(OFF_NOTIFY).fetch_add(1, Ordering::Release);
        self.header.futex_wake(OFF_NOTIFY);
        self.count(OFF_WAKE_CALLS, 1);
    }

    /// Wakes every reader asleep on the futex whether or not one announced it
    /// (used when the producer closes, so that sleepers notice at once).
    #[allow(dead_code)]
    pub(crate) fn wake_sleepers_always(&self) {
        self.notify_and_wake();
    }

    /// Sleeps until the tail moves past `pos`, a wake arrives, or `timeout`
    /// passes. Returns whether records are available at `pos` afterwards.
    pub(crate) fn wait_past(&self, pos: u64, timeout: Duration, file: Option<&WakeFile>) -> bool {
        // Acquire pairs with the Release increment in `notify_and_wake`. Loaded
        // before announcing: an increment after this load makes FUTEX_WAIT
        // return at once, so a wake between here and the sleep is not lost.
        let seen = self.header.u32(OFF_NOTIFY).load(Ordering::Acquire);
        let announced = if let Some(wake) = &self.wake {
            wake.u32(0).fetch_add(1, Ordering::Relaxed);
            true
        } else if let Some(f) = file {
            f.announce()
        } else {
            false
        };
        if announced {
            // F1 of the argument in `wake_sleepers`: orders our announcement
            // before our re-check of tail.
            fence(Ordering::SeqCst);
            if self.tail().load(Ordering::Acquire) != pos {
                return true;
            }
            self.header.futex_wait(OFF_NOTIFY, seen, timeout);
        } else {
            // A reader that cannot announce itself will not be woken: it polls
            // at a bounded interval instead.
            if self.tail().load(Ordering::Acquire) != pos {
                return true;
            }
            #[cfg(not(loom))]
            std::thread::sleep(timeout.min(Duration::from_millis(1)));
            #[cfg(loom)]
            loom::thread::yield_now();
        }
        // Acquire pairs with the writer's Release store of tail.
        self.tail().load(Ordering::Acquire) != pos
    }
}

/// A ring's wake file (`RING.wake`), used only with `pread`/`pwrite` at
/// offset 0: a consumer writes a non-zero 32-bit word before it sleeps; the
/// producer's waker reads it and writes zero when it wakes the sleepers.
/// Nobody maps it, so a truncation (or any content) harms no one.
pub(crate) struct WakeFile {
    #[cfg(not(loom))]
    file: std::fs::File,
}

#[cfg(not(loom))]
impl WakeFile {
    pub(crate) fn new(file: std::fs::File) -> Self {
        WakeFile { file }
    }

    /// Announces a sleeper. False if the write failed (then poll).
    fn announce(&self) -> bool {
        use std::os::unix::fs::FileExt;
        matches!(self.file.write_at(&1u32.to_le_bytes(), 0), Ok(4))
    }

    /// Whether a sleeper announced itself (see [`WakeFile::take`]), without clearing it.
    pub(crate) fn peek(&self) -> bool {
        use std::os::unix::fs::FileExt;
        let mut b = [0u8; 4];
        !matches!(self.file.read_at(&mut b, 0), Ok(4) if b == [0; 4])
    }

    /// Whether a sleeper announced itself (or the file is unreadable or short,
    /// which must be taken as "maybe": a wake too many is harmless); clears
    /// the announcement.
    pub(crate) fn take(&self) -> bool {
        use std::os::unix::fs::FileExt;
        let mut b = [0u8; 4];
        let announced = !matches!(self.file.read_at(&mut b, 0), Ok(4) if b == [0; 4]);
        if announced {
            let _ = self.file.write_at(&[0; 4], 0);
        }
        announced
    }
}

#[cfg(loom)]
impl WakeFile {
    fn announce(&self) -> bool {
        false
    }
    pub(crate) fn take(&self) -> bool {
        false
    }
    pub(crate) fn peek(&self) -> bool {
        false
    }
}
