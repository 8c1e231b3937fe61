//! How wide a copy out of the ring should be: the reader's 8-byte relaxed
//! atomic word loop against `rep movsb` and `memcpy`, in cache, per span
//! length (the reader copies one span per batch, up to 64 KiB). The best of
//! 15 passes, since the machine is shared (a minimum is robust to preemption).
//!
//! ```sh
//! cargo run --release -p slipstream-benches --example copy_width
//! ```
//!
//! `memcpy` is here as the bound only: a plain copy racing with the producer
//! is a data race, which the ring's reader never does (see
//! `Region::copy_out_append` in ring/src/sync.rs for the argument).
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[inline(never)]
fn word(src: &[AtomicU64], dst: &mut Vec<u8>) {
    dst.clear();
    let n = src.len() * 8;
    dst.reserve(n);
    let spare = dst.spare_capacity_mut();
    for (d, s) in spare[..n].chunks_exact_mut(8).zip(src) {
        let w = s.load(Ordering::Relaxed).to_ne_bytes();
        for (d, w) in d.iter_mut().zip(w) {
            d.write(w);
        }
    }
    // SAFETY: the loop initialised the first n bytes, and reserve made room.
    unsafe { dst.set_len(n) };
}

#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn movsb(src: &[AtomicU64], dst: &mut Vec<u8>) {
    dst.clear();
    let n = src.len() * 8;
    dst.reserve(n);
    // SAFETY: n bytes from a live slice to n bytes of reserved spare
    // capacity, no overlap; the direction flag is clear (ABI). The copy
    // initialises them.
    unsafe {
        core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rsi") src.as_ptr() => _,
            inout("rdi") dst.as_mut_ptr() => _, options(nostack, preserves_flags));
        dst.set_len(n)
    };
}

#[inline(never)]
fn memcpy(src: &[AtomicU64], dst: &mut Vec<u8>) {
    dst.clear();
    let n = src.len() * 8;
    dst.reserve(n);
    // SAFETY: as for movsb; no other thread writes `src` in this program.
    unsafe {
        core::ptr::copy_nonoverlapping(src.as_ptr() as *const u8, dst.as_mut_ptr(), n);
        dst.set_len(n)
    };
}

type Copy = fn(&[AtomicU64], &mut Vec<u8>);

fn main() {
    let mut copies: Vec<(&str, Copy)> = vec![("word loop", word)];
    #[cfg(target_arch = "x86_64")]
    copies.push(("rep movsb", movsb));
    copies.push(("memcpy", memcpy));
    println!(
        "| span | {} |",
        copies.iter().map(|c| c.0).collect::<Vec<_>>().join(" | ")
    );
    println!("|---:|{}", "---:|".repeat(copies.len()));
    for &n in &[80usize, 256, 1024, 4096, 65536] {
        let src: Vec<AtomicU64> = (0..n / 8).map(|i| AtomicU64::new(i as u64)).collect();
        let mut dst = Vec::with_capacity(n);
        let iters = (64 << 20) / n;
        let mut cells = Vec::new();
        for (_, f) in &copies {
            let mut best = f64::MAX;
            for _ in 0..15 {
                let t = Instant::now();
                for _ in 0..iters {
                    f(std::hint::black_box(&src), &mut dst);
                    std::hint::black_box(&dst);
                }
                best = best.min(t.elapsed().as_nanos() as f64 / iters as f64);
            }
            cells.push(format!("{best:.1} ns ({:.1} GB/s)", n as f64 / best));
        }
        println!("| {n} B | {} |", cells.join(" | "));
    }
}
