//! Two single-process measurements the cross-process figures are read
//! against, taken in the same invocation:
//!
//! - **memcpy bandwidth** for the spans a consumer copies: 4 KiB (one 4 KiB
//!   message) and the reader's batch (64 KiB), both from one buffer that stays
//!   in cache and from consecutive spans of a ring-sized buffer (which does
//!   not fit in cache, like a ring the producer filled).
//! - **first-lap publish latency**: 128 B records published into a fresh ring
//!   file in `/dev/shm` (mapped with `MAP_POPULATE` by `Writer::create`), each
//!   publish timed with two `clock_gettime` calls into an HDR histogram, over
//!   the ring's first lap and then over its second, no reader.

use crate::payload;
use crate::proc::TempPath;
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use slipstream_ring::{Layout, Writer};
use std::fs::OpenOptions;
use std::hint::black_box;

/// Bytes per second copying `span`-byte pieces with `memcpy`
/// (`copy_nonoverlapping`) for about `budget_ns`: `(in cache, streaming from
/// a buffer of `source_bytes`)`.
pub fn memcpy(span: usize, source_bytes: usize, budget_ns: u64) -> (f64, f64) {
    let src_small = vec![0x5au8; span];
    let mut dst = vec![0u8; span];
    let in_cache = rate(span, budget_ns, |_| {
        // SAFETY: both buffers are `span` bytes long and distinct allocations.
        unsafe {
            std::ptr::copy_nonoverlapping(
                black_box(src_small.as_ptr()),
                black_box(dst.as_mut_ptr()),
                span,
            )
        };
        black_box(&mut dst);
    });
    let pieces = (source_bytes / span).max(1);
    // Written once, so that every page is allocated before timing.
    let big: Vec<u8> = (0..pieces * span).map(|i| i as u8).collect();
    let streaming = rate(span, budget_ns, |i| {
        let at = (i as usize % pieces) * span;
        // SAFETY: `at + span <= big.len()`; `dst` is another allocation of `span` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                black_box(big.as_ptr().add(at)),
                black_box(dst.as_mut_ptr()),
                span,
            )
        };
        black_box(&mut dst);
    });
    (in_cache, streaming)
}

/// Runs `copy(i)` for i = 0, 1, ... in chunks until `budget_ns` passed; bytes/s.
fn rate(span: usize, budget_ns: u64, mut copy: impl FnMut(u64)) -> f64 {
    // Warm-up: one pass of a few thousand copies.
    for i in 0..1024 {
        copy(i);
    }
    let t0 = payload::now_ns();
    let mut n = 0u64;
    loop {
        for _ in 0..256 {
            copy(n);
            n += 1;
        }
        let dt = payload::now_ns() - t0;
        if dt >= budget_ns {
            return (n * span as u64) as f64 * 1e9 / dt as f64;
        }
    }
}

/// Publish latency over one lap of a ring, ns.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LapLatency {
    /// Records published in the lap.
    pub records: u64,
    /// Median, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, ns.
    pub p999_ns: u64,
    /// Largest, ns.
    pub max_ns: u64,
}

impl LapLatency {
    fn of(h: &Histogram<u64>) -> LapLatency {
        LapLatency {
            records: h.len(),
            p50_ns: h.value_at_quantile(0.5),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
        }
    }
}

/// One fresh ring of `ring_bytes`: the first lap's and the second lap's
/// publish latency of `size`-byte records.
pub fn first_lap(ring_bytes: u64, size: usize) -> Result<(LapLatency, LapLatency)> {
    let path = TempPath::new(
        std::path::PathBuf::from("/dev/shm").join(crate::proc::unique("slipstream-bench-lap")),
    );
    let rw = |p: &std::path::Path| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(p)
            .with_context(|| format!("opening {}", p.display()))
    };
    let file = rw(path.path())?;
    let lock = rw(&slipstream_ring::sidecar::lock_path(path.path()))?;
    let mut w = Writer::create(file, lock, Layout::new(ring_bytes), 1)
        .with_context(|| format!("creating a ring in {}", path.path().display()))?;
    let mut msg = vec![0u8; size];
    let mut laps = [
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
    ];
    let mut i = 0u64;
    for (lap, h) in laps.iter_mut().enumerate() {
        let end = ring_bytes * (lap as u64 + 1);
        while w.tail() < end {
            payload::fill(&mut msg, i);
            let t0 = payload::now_ns();
            w.publish(1, black_box(&msg)).context("publish")?;
            let t1 = payload::now_ns();
            h.saturating_record((t1 - t0).max(1));
            i += 1;
        }
    }
    Ok((LapLatency::of(&laps[0]), LapLatency::of(&laps[1])))
}
