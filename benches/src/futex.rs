//! The raw futex cell: the floor under every sleeping receiver.
//!
//! Two processes share a small file in `/dev/shm`, mapped by both:
//!
//! | offset | what |
//! |---:|---|
//! | 0 | `published`: a little-endian `u32`, the number of messages sent so far; the futex word |
//! | 64 | [`SLOTS`] message slots of the message size rounded up to 8 bytes; message `i` in slot `i % SLOTS` |
//!
//! The sender (the child) writes message `i` into its slot with relaxed
//! atomic 8-byte stores, its `CLOCK_MONOTONIC` reading last (word 1, as every
//! latency message), then stores `published = i + 1` (release) and, for a
//! sleeping receiver, calls `FUTEX_WAKE` on the word, every message: no
//! announcement, no check whether anyone sleeps. The receiver (the parent)
//! loads `published` (acquire, pairs with that store); while it equals the
//! count it has, it sleeps in `FUTEX_WAIT` on that value (sleeping cell) or
//! spins (busy cell). It copies the slot out with atomic loads, takes its
//! clock, and checks and records the copy like every other receiver. The
//! slots are a seqlock: after its copy the receiver loads `published` again
//! (behind an acquire fence that pairs with a release fence before the
//! sender's slot stores), and a slot the sender may have begun to reuse
//! counts as lost, not corrupt (a receiver descheduled for 4096 messages,
//! 100 ms at the default pace, on a loaded machine).
//!
//! That is the least a futex-based wake-up can cost between two processes,
//! the same one-way path the Slipstream sleeping cell measures (producer
//! commits and wakes, consumer returns from `FUTEX_WAIT` and reads).

use crate::common::{send_loop, LatRecorder, LatRun, LatSpec, Pacing, RecvMode, Watchdog};
use crate::payload;
use crate::proc::{ChildArgs, ChildGuard, Control, TempPath};
use anyhow::{bail, Context, Result};
use memmap2::MmapMut;
use rustix::thread::futex;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Message slots: the sender laps a slot only `SLOTS` messages later.
pub const SLOTS: usize = 4096;
/// Where the slots start.
const SLOTS_AT: usize = 64;

/// A mapping of the shared file, seen as the futex word and the slots.
struct Shared {
    map: MmapMut,
    words_per_slot: usize,
}

impl Shared {
    fn len(size: usize) -> usize {
        SLOTS_AT + SLOTS * size.div_ceil(8) * 8
    }

    fn open(path: &str, size: usize) -> Result<Shared> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {path}"))?;
        if file.metadata()?.len() != Shared::len(size) as u64 {
            bail!("{path} is not {} bytes long", Shared::len(size));
        }
        // SAFETY: the file is this run's own (created by the parent with a
        // unique name, removed when the run ends) and stays mapped as long as
        // `map`; both processes only ever touch it through the atomics below.
        let map = unsafe { MmapMut::map_mut(&file) }.with_context(|| format!("mapping {path}"))?;
        Ok(Shared {
            map,
            words_per_slot: size.div_ceil(8),
        })
    }

    fn published(&self) -> &AtomicU32 {
        // SAFETY: offset 0 of a page-aligned mapping at least SLOTS_AT bytes
        // long is aligned for and holds a u32; every access to it, in either
        // process, is atomic; the reference lives no longer than `self.map`.
        unsafe { &*(self.map.as_ptr() as *const AtomicU32) }
    }

    fn word(&self, slot: usize, j: usize) -> &AtomicU64 {
        assert!(slot < SLOTS && j < self.words_per_slot);
        let off = SLOTS_AT + (slot * self.words_per_slot + j) * 8;
        // SAFETY: `off` is a multiple of 8 within the mapping (checked above
        // against the slot layout the length was made from); all accesses in
        // either process are atomic; the reference lives no longer than the map.
        unsafe { &*(self.map.as_ptr().add(off) as *const AtomicU64) }
    }
}

/// Parent side of a latency run: the receiver.
pub fn latency(spec: &LatSpec) -> Result<LatRun> {
    let path = TempPath::new(
        std::path::PathBuf::from("/dev/shm").join(crate::proc::unique("slipstream-bench-futex")),
    );
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path.path())
        .with_context(|| format!("creating {}", path.path().display()))?;
    file.set_len(Shared::len(spec.size) as u64)?;
    drop(file);
    let p = path.path().display().to_string();
    let shared = Shared::open(&p, spec.size)?;
    let mut args = BTreeMap::from([
        ("transport", "futex".to_string()),
        ("size", spec.size.to_string()),
        ("count", spec.total().to_string()),
        ("path", p),
        ("wake", (spec.mode == RecvMode::Sleep).to_string()),
    ]);
    args.extend(spec.child_args());
    let mut child = ChildGuard::spawn("futex sender", &args)?;
    child.expect("ready")?;
    let mut rec = LatRecorder::new(spec);
    let mut dog = Watchdog::new(spec.timeout, "futex latency");
    let mut msg = vec![0u8; shared.words_per_slot * 8];
    let word = shared.published();
    let timeout = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    child.say("go")?;
    while rec.next < spec.total() {
        // Acquire: pairs with the sender's release store of `published`, so
        // the slot words written before it are visible.
        let published = u64::from(word.load(Ordering::Acquire));
        if published > rec.next {
            if published - rec.next > SLOTS as u64 - 1 {
                // The sender may be rewriting the slot of `next`: skip to the
                // newest message (never happens at latency pacing).
                rec.skip(published - 1 - rec.next);
                continue;
            }
            let slot = (rec.next % SLOTS as u64) as usize;
            for (j, chunk) in msg.chunks_exact_mut(8).enumerate() {
                chunk.copy_from_slice(&shared.word(slot, j).load(Ordering::Relaxed).to_le_bytes());
            }
            let now = payload::now_ns();
            // As a seqlock reader: the slot loads above happen before this
            // load of `published` (acquire fence); if the sender had reached
            // the slot's next use by then, the copy may be torn: count the
            // message lost rather than fail its check.
            fence(Ordering::Acquire);
            let after = u64::from(word.load(Ordering::Relaxed));
            if after - rec.next > SLOTS as u64 - 1 {
                rec.skip(1);
                continue;
            }
            rec.take(&msg[..spec.size], now)?;
            continue;
        }
        match spec.mode {
            RecvMode::Busy => dog.idle(|| child.check().map(drop))?,
            RecvMode::Sleep => {
                // Returns at once (EAGAIN) if the word moved since the load.
                match futex::wait(
                    word,
                    futex::Flags::empty(),
                    published as u32,
                    Some(&timeout),
                ) {
                    Ok(()) => {}
                    Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
                    Err(rustix::io::Errno::TIMEDOUT) => dog.check(|| child.check().map(drop))?,
                    Err(e) => bail!("FUTEX_WAIT: {e}"),
                }
            }
        }
    }
    child.finish()?;
    Ok(rec.finish())
}

/// Child side: the sender.
pub fn child(args: &ChildArgs, ctl: &mut Control) -> Result<()> {
    let size: usize = args.num("size")?;
    let count: u64 = args.num("count")?;
    let wake = args.str("wake")? == "true";
    let shared = Shared::open(args.str("path")?, size)?;
    let word = shared.published();
    let mut msg = vec![0u8; shared.words_per_slot * 8];
    ctl.ready()?;
    let ns = send_loop(count, Pacing::from_args(args)?, |i| {
        payload::fill(&mut msg[..size], i);
        payload::stamp(&mut msg[..size], payload::now_ns());
        let slot = (i % SLOTS as u64) as usize;
        // Seqlock writer: `published = i` (stored last time) is ordered before
        // these slot stores; pairs with the receiver's acquire fence after its
        // copy, so a receiver that read any of them then sees `published >= i`.
        fence(Ordering::Release);
        for (j, chunk) in msg.chunks_exact(8).enumerate() {
            let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            shared.word(slot, j).store(w, Ordering::Relaxed);
        }
        // Release: pairs with the receiver's acquire load of `published`.
        word.store((i + 1) as u32, Ordering::Release);
        if wake {
            futex::wake(word, futex::Flags::empty(), 1).context("FUTEX_WAKE")?;
        }
        Ok(())
    })?;
    ctl.done(ns)
}
