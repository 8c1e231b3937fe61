//! How long one cache line takes to go from one CPU to the other, over time:
//! the floor under every busy-poll latency, and how much it moves.
//!
//! ```sh
//! cargo run --release -p slipstream-benches --example line_ping
//! ```
//!
//! Two threads, pinned to the first two CPUs the process may use, pass one
//! 8-byte word back and forth (each waits for the other's value, then stores
//! the next): a round trip is two transfers of the line. Every window of
//! 100,000 round trips prints half a round trip, in ns, and the time since
//! the start; 60 windows of several milliseconds, 50 ms apart (about 4 s in
//! all, the length of a few latency cells of the harness), each on a line of
//! its own page (so that a slow window is not one slow address).
//!
//! On a virtual machine the host places the virtual CPUs: when it moves one,
//! the figure changes for every program alike, by a factor (benches/RESULTS.md).
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

mod support;
use support::{pin, pin_or_warn};

const WINDOWS: usize = 60;
const TRIPS: u64 = 100_000;
/// Pause after each window, so that the windows span seconds.
const GAP: std::time::Duration = std::time::Duration::from_millis(50);
/// Words per 4 KiB page: one line per page is used.
const PAGE_WORDS: usize = 512;

fn main() {
    // This thread takes the plan's receiver CPU, the echo thread its sender CPU.
    let plan = pin::plan(true);
    let (a, b) = (plan.receiver, plan.sender);
    let words: Arc<Vec<AtomicU64>> = Arc::new(
        (0..WINDOWS * PAGE_WORDS)
            .map(|_| AtomicU64::new(0))
            .collect(),
    );
    let other = words.clone();
    let echo = std::thread::spawn(move || {
        pin_or_warn(b);
        for w in 0..WINDOWS {
            let word = &other[w * PAGE_WORDS];
            for i in 0..TRIPS {
                // Acquire/Release: each side's store is what the other waits for.
                while word.load(Ordering::Acquire) != 2 * i + 1 {
                    std::hint::spin_loop();
                }
                word.store(2 * i + 2, Ordering::Release);
            }
        }
    });
    pin_or_warn(a);
    let start = Instant::now();
    let mut halves = Vec::with_capacity(WINDOWS);
    println!(
        "{} (the echo thread is the sender); one-way line transfer (half a round trip), per window of {TRIPS} round trips:",
        plan.said
    );
    for w in 0..WINDOWS {
        let word = &words[w * PAGE_WORDS];
        let t = Instant::now();
        for i in 0..TRIPS {
            word.store(2 * i + 1, Ordering::Release);
            while word.load(Ordering::Acquire) != 2 * i + 2 {
                std::hint::spin_loop();
            }
        }
        let half = t.elapsed().as_nanos() as f64 / TRIPS as f64 / 2.0;
        halves.push(half);
        let at = start.elapsed().as_secs_f64() * 1e3;
        print!("{at:>6.0} ms {half:>4.0} ns");
        if w % 6 == 5 {
            println!();
        } else {
            print!(" |");
        }
        std::thread::sleep(GAP);
    }
    echo.join().expect("echo thread");
    halves.sort_by(|x, y| x.total_cmp(y));
    println!(
        "median {:.0} ns, min {:.0} ns, max {:.0} ns over {WINDOWS} windows",
        halves[WINDOWS / 2],
        halves[0],
        halves[WINDOWS - 1]
    );
}
