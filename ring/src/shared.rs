//! What a writer and its readers share: the regions of one ring and its geometry.

use crate::layout::*;
use crate::sync::{fence, Ordering, Region};
use std::time::Duration;

/// The mapped regions of one ring, plus what keeps the mappings alive.
pub(crate) struct Shared {
    pub(crate) geo: Geometry,
    /// The producer's header (read-only for consumers of a file).
    pub(crate) header: Region,
    /// The wake page, if this process may write it.
    pub(crate) wake: Option<Region>,
    /// The data region (read-only for consumers of a file).
    pub(crate) data: Region,
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
    /// A writable mapping of the header, wake page and data.
    Mut(memmap2::MmapMut),
    #[cfg(not(loom))]
    /// A read-only mapping of header, wake page and data, and optionally a writable one of the wake page.
    Ro(memmap2::Mmap, Option<memmap2::MmapMut>),
}

impl Shared {
    /// An in-process ring in fresh zeroed memory (an anonymous mapping, or loom atomics).
    pub(crate) fn anonymous(geo: Geometry) -> std::io::Result<Self> {
        #[cfg(not(loom))]
        {
            let mut map = memmap2::MmapMut::map_anon(geo.slots_offset as usize)?;
            let header = geo.new_header(crate::file::random_id(), crate::sync::unix_ns());
            let bytes = zerocopy::IntoBytes::as_bytes(&header);
            map[..bytes.len()].copy_from_slice(bytes);
            let base = map.as_mut_ptr();
            // SAFETY: the three ranges lie inside `map` (geometry computed them
            // within slots_offset), are 8-aligned (page-aligned offsets of a
            // page-aligned mapping), and `map` lives in `keep` beside them.
            let (header, wake, data) = unsafe {
                (
                    Region::new(base, geo.header_len as usize),
                    Region::new(base.add(geo.wake_offset as usize), geo.wake_len as usize),
                    Region::new(base.add(geo.data_offset as usize), geo.capacity as usize),
                )
            };
            Ok(Shared {
                geo,
                header,
                wake: Some(wake),
                data,
                keep: Keep::Mut(map),
            })
        }
        #[cfg(loom)]
        {
            let header = Region::zeroed(geo.header_len as usize);
            header.u64(OFF_LATEST).store(NO_RECORD, Ordering::Relaxed);
            Ok(Shared {
                geo,
                header,
                wake: Some(Region::zeroed(geo.wake_len as usize)),
                data: Region::zeroed(geo.capacity as usize),
                keep: Keep::None,
            })
        }
    }

    #[inline(always)]
    /// The sequence number of the ring's first record (fixed at creation; a
    /// zeroed test header reads as [`FIRST_SEQ`]).
    pub(crate) fn first_seq(&self) -> u64 {
        match self.header.u64(OFF_FIRST_SEQ).load(Ordering::Relaxed) {
            0 => FIRST_SEQ,
            s => s,
        }
    }

    pub(crate) fn tail(&self) -> &crate::sync::AtomicU64 {
        self.header.u64(OFF_TAIL)
    }

    #[inline(always)]
    pub(crate) fn tail_intent(&self) -> &crate::sync::AtomicU64 {
        self.header.u64(OFF_TAIL_INTENT)
    }

    #[inline(always)]
    pub(crate) fn latest(&self) -> &crate::sync::AtomicU64 {
        self.header.u64(OFF_LATEST)
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

    /// Wakes every reader asleep on the futex, if any announced it would sleep.
    /// Returns whether it made the wake system call.
    ///
    /// The caller must have observed the commits it wants the sleepers to see
    /// (it made them, or it loaded `tail` with `Acquire` after them).
    pub(crate) fn wake_sleepers(&self) -> bool {
        let Some(wake) = &self.wake else { return false };
        // The lost-wake-up argument (store buffering, as in Dekker's algorithm).
        // Writer: store tail (commit) ; fence(SeqCst) [F2] ; load waiters.
        // Reader (`Reader::wait`): add to waiters ; fence(SeqCst) [F1] ; load tail.
        // The two SeqCst fences are totally ordered. If F2 comes first, the
        // reader's load of tail sees the commit and it does not sleep. If F1 comes
        // first, our load of waiters sees its registration, and we wake it: the
        // notify increment below makes its FUTEX_WAIT fail (value changed) if it
        // has not slept yet, and the wake reaches it if it has.
        fence(Ordering::SeqCst);
        let waiters = wake.u32(OFF_WAITERS);
        // Read first, so that with nobody asleep the line stays shared (no RMW).
        if waiters.load(Ordering::Relaxed) == 0 {
            return false;
        }
        // Reset: every registered reader is woken now. A registration left behind
        // by a reader that died or timed out costs one spurious wake, then is gone.
        if waiters.swap(0, Ordering::Relaxed) == 0 {
            return false;
        }
        // Release pairs with the reader's Acquire load of notify: a reader that
        // sees the new value also sees the commits before it. Only the producer
        // writes notify, so the increment cannot be lost.
        self.header.u32(OFF_NOTIFY).fetch_add(1, Ordering::Release);
        self.header.futex_wake(OFF_NOTIFY);
        true
    }

    /// Wakes every reader asleep on the futex whether or not one announced it
    /// (used when the producer closes, so that sleepers notice at once).
    #[allow(dead_code)]
    pub(crate) fn wake_sleepers_always(&self) {
        self.header.u32(OFF_NOTIFY).fetch_add(1, Ordering::Release);
        self.header.futex_wake(OFF_NOTIFY);
    }

    /// Sleeps until the tail moves past `pos`, a wake arrives, or `timeout`
    /// passes. Returns whether records are available at `pos` afterwards.
    pub(crate) fn wait_past(&self, pos: u64, timeout: Duration) -> bool {
        // Acquire pairs with the Release increment in `wake_sleepers`. Loaded
        // before registering: an increment after this load makes FUTEX_WAIT
        // return at once, so a wake between here and the sleep is not lost.
        let seen = self.header.u32(OFF_NOTIFY).load(Ordering::Acquire);
        match &self.wake {
            Some(wake) => {
                wake.u32(OFF_WAITERS).fetch_add(1, Ordering::Relaxed);
                // F1 of the argument in `wake_sleepers`: orders our registration
                // before our re-check of tail.
                fence(Ordering::SeqCst);
                if self.tail().load(Ordering::Acquire) != pos {
                    return true;
                }
                self.header.futex_wait(OFF_NOTIFY, seen, timeout);
            }
            None => {
                // A read-only reader cannot announce itself, so no producer will
                // wake it: it polls at a bounded interval instead.
                if self.tail().load(Ordering::Acquire) != pos {
                    return true;
                }
                #[cfg(not(loom))]
                std::thread::sleep(timeout.min(Duration::from_millis(1)));
                #[cfg(loom)]
                loom::thread::yield_now();
            }
        }
        // Acquire pairs with the writer's Release store of tail.
        self.tail().load(Ordering::Acquire) != pos
    }
}
