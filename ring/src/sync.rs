//! The shared memory a ring lives in, and the primitives used on it.
//!
//! Production code sees an `mmap`ed file (or an anonymous mapping) through raw
//! pointers, and only ever touches it through atomics (plus the producer's own
//! in-place payload writes). Under `--cfg loom` the same algorithm runs on an
//! in-process ring made of loom atomics, so that loom can explore every
//! interleaving of the commit, lap and sleep/wake protocols.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64};
pub(crate) use std::sync::atomic::Ordering;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64};

#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

use std::time::Duration;

/// Spans at least this long are copied out of the ring with `rep movsb` (x86-64).
#[cfg(not(loom))]
pub(crate) const WIDE_COPY_MIN: usize = 1024;

/// A region of shared memory: the header, the data region, a cursor file, or
/// an in-process ring's sleep-announcement word.
///
/// Accessors check their bounds with `assert!`: callers validate untrusted
/// offsets first, so an assertion that fires is a bug in this crate (and the
/// fuzz targets hunt for exactly that), never a read out of bounds.
#[cfg(not(loom))]
pub(crate) struct Region {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: a Region points into a mapping that outlives it (its owner keeps the
// mapping alive next to it) and all shared access goes through atomics; the one
// non-atomic access, the producer's payload write, is confined to the single
// writer (see `Region::bytes_mut`).
#[cfg(not(loom))]
unsafe impl Send for Region {}
// SAFETY: as for Send.
#[cfg(not(loom))]
unsafe impl Sync for Region {}

#[cfg(not(loom))]
impl Region {
    /// A region of `len` bytes at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be valid for reads (and, if the region is ever written through,
    /// writes) of `len` bytes, 8-byte aligned, for as long as the region lives.
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize) -> Self {
        debug_assert_eq!(ptr as usize % 8, 0);
        Region { ptr, len }
    }

    /// The 64-bit word at `off`.
    #[inline(always)]
    pub(crate) fn u64(&self, off: usize) -> &AtomicU64 {
        assert!(
            off % 8 == 0 && off + 8 <= self.len,
            "u64 at {off} of {}",
            self.len
        );
        // SAFETY: in bounds and aligned (checked above, base is 8-aligned), and
        // valid for the region's lifetime (Region::new's contract). All other
        // accesses to these bytes are atomic or are the seqlock race documented
        // on `bytes_mut`.
        unsafe { AtomicU64::from_ptr(self.ptr.add(off).cast()) }
    }

    /// The 64-bit word at `off` of a header region, for offsets in the
    /// fixed header (below [`SEGMENT_TABLE_OFFSET`](crate::layout::SEGMENT_TABLE_OFFSET)):
    /// the hot counters, without a bounds check per access.
    ///
    /// # Safety
    /// `off` must be a multiple of 8 with `off + 8 <= SEGMENT_TABLE_OFFSET`,
    /// and the region at least `SEGMENT_TABLE_OFFSET` long (every header
    /// region is: `Shared::new` asserts it).
    #[inline(always)]
    pub(crate) unsafe fn fixed_u64(&self, off: usize) -> &AtomicU64 {
        debug_assert!(
            off % 8 == 0
                && off + 8 <= crate::layout::SEGMENT_TABLE_OFFSET
                && crate::layout::SEGMENT_TABLE_OFFSET <= self.len
        );
        // SAFETY: in bounds and aligned by the caller's contract (the base is
        // 8-aligned), valid for the region's lifetime (Region::new's contract).
        unsafe { AtomicU64::from_ptr(self.ptr.add(off).cast()) }
    }

    /// The 64-bit word at `off`, without the bounds check of [`Region::u64`]
    /// (for the producer's hot path, at offsets it has already bounded).
    ///
    /// # Safety
    /// `off` must be a multiple of 8 with `off + 8 <= len`.
    #[inline(always)]
    pub(crate) unsafe fn u64_unchecked(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off % 8 == 0 && off + 8 <= self.len);
        // SAFETY: in bounds and aligned (the caller's contract); otherwise as in `u64`.
        unsafe { AtomicU64::from_ptr(self.ptr.add(off).cast()) }
    }

    /// The 32-bit word at `off`.
    #[inline(always)]
    pub(crate) fn u32(&self, off: usize) -> &AtomicU32 {
        assert!(
            off % 4 == 0 && off + 4 <= self.len,
            "u32 at {off} of {}",
            self.len
        );
        // SAFETY: as in `u64`, for a 4-aligned 4-byte word.
        unsafe { AtomicU32::from_ptr(self.ptr.add(off).cast()) }
    }

    /// Appends `n` bytes (a multiple of 8) from `off` to `dst`, writing
    /// `dst`'s spare capacity once (no zeroing first). The bytes may be
    /// overwritten concurrently, so the caller must validate the copy before
    /// trusting it (seqlock discipline).
    ///
    /// Spans of [`WIDE_COPY_MIN`] bytes or more are copied with `rep movsb`
    /// on x86-64 (1.7x the word loop for a 64 KiB span in cache, measured:
    /// benches/RESULTS.md), shorter ones with relaxed atomic 8-byte loads
    /// (`rep movsb` has a start-up cost that makes it slower below ~1 KiB).
    ///
    /// Why the wide copy is sound: a plain (non-atomic) read racing with the
    /// producer's writes would be a data race, undefined behaviour, and a
    /// `MaybeUninit` destination does not change that (crossbeam's
    /// `AtomicCell` notes; C++ P1478). The `rep movsb` is inline assembly,
    /// which the compiler treats as an opaque operation; what it does is
    /// expressible in Rust as a byte-wise relaxed atomic load of each source
    /// byte (P1478's `atomic_load_per_byte_memcpy`, which taiki-e's
    /// `atomic-memcpy` implements), plus plain stores into memory only this
    /// thread owns: on x86-64 every byte load of `movsb` is single-copy
    /// atomic, so no torn byte can be observed. Tearing *between* bytes is
    /// possible, exactly as with the word loop, and is what the validation
    /// against `tail_intent` after the copy detects. Nothing reads the
    /// destination before that validation, and every byte pattern is a valid `u8`.
    #[inline]
    pub(crate) fn copy_out_append(&self, off: usize, n: usize, dst: &mut Vec<u8>) {
        assert!(n % 8 == 0 && off % 8 == 0 && off + n <= self.len);
        dst.reserve(n);
        let base = dst.len();
        #[cfg(target_arch = "x86_64")]
        if n >= WIDE_COPY_MIN {
            // SAFETY: the source range is in bounds (checked above) and valid
            // for the region's lifetime; the destination is `n` bytes of
            // `dst`'s spare capacity (`reserve(n)`), which nothing else
            // aliases; the two do not overlap (one is the mapping, the other
            // the heap). The direction flag is clear (the ABI guarantees it
            // at every call). The race with the writer is the byte-wise atomic
            // copy argued above.
            unsafe {
                core::arch::asm!(
                    "rep movsb",
                    inout("rcx") n => _,
                    inout("rsi") self.ptr.add(off) as *const u8 => _,
                    inout("rdi") dst.as_mut_ptr().add(base) => _,
                    options(nostack, preserves_flags)
                );
                // The `n` spare bytes are initialised by the copy above.
                dst.set_len(base + n);
            }
            return;
        }
        let words = n / 8;
        // SAFETY: the source range is in bounds and 8-aligned (checked above)
        // and valid for the region's lifetime; viewed as atomics because it
        // races with the writer.
        let src: &[AtomicU64] =
            unsafe { core::slice::from_raw_parts(self.ptr.add(off).cast::<AtomicU64>(), words) };
        let spare = dst.spare_capacity_mut();
        for (d, s) in spare[..n].chunks_exact_mut(8).zip(src) {
            let w = s.load(Ordering::Relaxed).to_ne_bytes();
            for (d, w) in d.iter_mut().zip(w) {
                d.write(w);
            }
        }
        // SAFETY: the loop above initialised the first `n` spare bytes, and
        // `reserve(n)` made room for them.
        unsafe { dst.set_len(base + n) };
    }

    /// The producer's view of `len` bytes at `off`, to encode a payload in place.
    ///
    /// # Safety
    /// Only the ring's single writer may call this, for a range it has announced
    /// in `tail_intent` and not yet committed, and it must not keep the slice past
    /// the commit. Readers may load these bytes concurrently: that is the
    /// seqlock race, which readers resolve by validating against `tail_intent`
    /// after they copy (see `Reader`); they never act on bytes they could not
    /// validate. The range must lie in the region (`off + len <= len()`):
    /// the writer's reservation bounds it, so it is checked in debug builds
    /// only (the check was 4 of the ~86 instructions of a publish).
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn bytes_mut(&self, off: usize, len: usize) -> &mut [u8] {
        debug_assert!(off + len <= self.len);
        // SAFETY: in bounds and exclusive: the caller's contract.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.add(off), len) }
    }

    /// Copies `src` to `off` (the producer's payload write).
    ///
    /// # Safety
    /// As for [`Region::bytes_mut`].
    #[inline]
    pub(crate) unsafe fn write(&self, off: usize, src: &[u8]) {
        // SAFETY: forwarded contract.
        unsafe { self.bytes_mut(off, src.len()) }.copy_from_slice(src);
    }

    /// Sleeps while the 32-bit word at `off` holds `expected`, at most `timeout`.
    pub(crate) fn futex_wait(&self, off: usize, expected: u32, timeout: Duration) {
        use rustix::thread::futex;
        let ts = rustix::time::Timespec {
            tv_sec: timeout.as_secs() as _,
            tv_nsec: timeout.subsec_nanos() as _,
        };
        // No FUTEX_PRIVATE_FLAG: the word is in a shared file mapping and the
        // waker is another process. EAGAIN (value changed), ETIMEDOUT and EINTR
        // all mean "look again", which every caller does.
        let _ = futex::wait(self.u32(off), futex::Flags::empty(), expected, Some(&ts));
    }

    /// Wakes every thread sleeping on the 32-bit word at `off`.
    pub(crate) fn futex_wake(&self, off: usize) {
        use rustix::thread::futex;
        let _ = futex::wake(self.u32(off), futex::Flags::empty(), i32::MAX as u32);
    }
}

/// The loom stand-in for shared memory: one loom atomic per aligned word.
///
/// The algorithm never accesses the same bytes as both a 32-bit and a 64-bit
/// word, so keeping separate arrays for the two sizes is faithful.
#[cfg(loom)]
pub(crate) struct Region {
    w64: Box<[AtomicU64]>,
    w32: Box<[AtomicU32]>,
    futex: loom::sync::Mutex<()>,
    cond: loom::sync::Condvar,
}

#[cfg(loom)]
impl Region {
    pub(crate) fn zeroed(len: usize) -> Self {
        Region {
            w64: (0..len / 8).map(|_| AtomicU64::new(0)).collect(),
            w32: (0..len / 4).map(|_| AtomicU32::new(0)).collect(),
            futex: loom::sync::Mutex::new(()),
            cond: loom::sync::Condvar::new(),
        }
    }
    pub(crate) fn u64(&self, off: usize) -> &AtomicU64 {
        assert!(off % 8 == 0);
        &self.w64[off / 8]
    }
    pub(crate) fn u32(&self, off: usize) -> &AtomicU32 {
        assert!(off % 4 == 0);
        &self.w32[off / 4]
    }
    /// As the native `fixed_u64` (bounds-checked here).
    pub(crate) unsafe fn fixed_u64(&self, off: usize) -> &AtomicU64 {
        self.u64(off)
    }
    /// As the native `u64_unchecked` (bounds-checked here).
    pub(crate) unsafe fn u64_unchecked(&self, off: usize) -> &AtomicU64 {
        self.u64(off)
    }
    pub(crate) fn copy_out(&self, off: usize, dst: &mut [u8]) {
        for (i, d) in dst.chunks_exact_mut(8).enumerate() {
            d.copy_from_slice(&self.u64(off + 8 * i).load(Ordering::Relaxed).to_ne_bytes());
        }
    }
    pub(crate) fn copy_out_append(&self, off: usize, n: usize, dst: &mut Vec<u8>) {
        let base = dst.len();
        dst.resize(base + n, 0);
        self.copy_out(off, &mut dst[base..]);
    }
    pub(crate) unsafe fn write(&self, off: usize, src: &[u8]) {
        for (i, s) in src.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..s.len()].copy_from_slice(s);
            self.u64(off + 8 * i)
                .store(u64::from_ne_bytes(w), Ordering::Relaxed);
        }
    }
    /// A futex modelled faithfully: the value check and the sleep are atomic
    /// with respect to a wake (both happen under the bucket lock).
    pub(crate) fn futex_wait(&self, off: usize, expected: u32, _timeout: Duration) {
        let guard = self.futex.lock().unwrap();
        if self.u32(off).load(Ordering::SeqCst) != expected {
            return;
        }
        drop(self.cond.wait(guard).unwrap());
    }
    pub(crate) fn futex_wake(&self, _off: usize) {
        let _guard = self.futex.lock().unwrap();
        self.cond.notify_all();
    }
}

/// Called between retries of a loop that waits for the producer to move on:
/// a spin hint natively, a yield under loom (so that the model lets the
/// producer run and does not explore the same stale view forever).
#[inline]
pub(crate) fn retry_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(not(loom))]
/// A random 64-bit identifier (for `ring_id`), from the OS.
pub(crate) fn random_id() -> u64 {
    let mut b = [0u8; 8];
    if rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).is_err() {
        // Never fatal: the id only distinguishes one ring from its replacement.
        return unix_ns() ^ (std::process::id() as u64) << 32;
    }
    u64::from_le_bytes(b)
}
