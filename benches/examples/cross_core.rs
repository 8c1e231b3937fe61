//! The machine's ceiling for any consumer that reads everything a producer on
//! another core has just written: two threads, no ring, no copy, no check.
//!
//! ```sh
//! cargo run --release -p slipstream-benches --example cross_core
//! ```
//!
//! A writer thread stores 80-byte "records" (ten 8-byte words: what a ring
//! record with a 64-byte payload occupies) end to end into a 64 MiB buffer,
//! and publishes how far it got every 64 records (a Release store). Three
//! cases, each the median of 7 passes of 2^22 records, with the range:
//!
//! - `writer alone`: the writer's rate with nobody reading;
//! - `writer + reader`: the writer's rate while a reader thread on the other
//!   CPU loads every word the writer wrote (relaxed 8-byte loads, summed), and
//!   the reader's rate. A reader that falls a whole buffer behind is lapped
//!   and the pass says so;
//! - `reader, handed over`: the writer fills 1 MiB and stops; the reader
//!   then loads it (the lines are still in the writer's cache), so the
//!   reader's rate is the cross-core fetch alone, with nobody writing.
//!
//! It prints, per pass, how much the reader slowed the writer (the writer's
//! rate alone over its rate in the next run with the reader), and the
//! reader's rate over the writer's in the same run (1 when the reader keeps
//! pace at the writer's heels, below 1 when it falls behind).
//!
//! The two threads are pinned to the first two CPUs the process may use.
//! If the bare reader's rate is below the bare writer's, no consumer that
//! reads every byte can keep up with an unthrottled producer on this
//! machine, however little it does per record.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const WORDS_PER_RECORD: usize = 10;
const BUFFER_WORDS: usize = (64 << 20) / 8;
const RECORDS: u64 = 1 << 22;
const PASSES: usize = 7;
const PUBLISH_EVERY: u64 = 64;

struct Shared {
    buf: Vec<AtomicU64>,
    /// Words written so far (monotonic, not wrapped).
    pos: AtomicU64,
    go: AtomicBool,
}

mod support;
use support::{median_range, pin, pin_or_warn};

/// Writes `records` records from word `start`; returns the elapsed seconds.
fn write(s: &Shared, start: u64, records: u64) -> f64 {
    let t = Instant::now();
    let mut w = start;
    for r in 0..records {
        for k in 0..WORDS_PER_RECORD as u64 {
            s.buf[(w + k) as usize % BUFFER_WORDS].store(r ^ k, Ordering::Relaxed);
        }
        w += WORDS_PER_RECORD as u64;
        if r % PUBLISH_EVERY == PUBLISH_EVERY - 1 {
            // Release: pairs with the reader's Acquire load of `pos`.
            s.pos.store(w, Ordering::Release);
        }
    }
    s.pos.store(w, Ordering::Release);
    t.elapsed().as_secs_f64()
}

/// Loads every word from `start` up to `end` as the writer publishes them;
/// returns (elapsed seconds, lapped).
fn read(s: &Shared, start: u64, end: u64) -> (f64, bool, u64) {
    let mut r = start;
    let mut sum = 0u64;
    let mut lapped = false;
    while !s.go.load(Ordering::Acquire) {
        std::hint::spin_loop();
    }
    let t = Instant::now();
    while r < end {
        // Acquire: pairs with the writer's Release store of `pos`.
        let p = s.pos.load(Ordering::Acquire);
        if p == r {
            std::hint::spin_loop();
            continue;
        }
        if p - r > BUFFER_WORDS as u64 {
            lapped = true;
            r = p - BUFFER_WORDS as u64 / 2;
        }
        for i in r..p {
            sum = sum.wrapping_add(s.buf[i as usize % BUFFER_WORDS].load(Ordering::Relaxed));
        }
        r = p;
    }
    (t.elapsed().as_secs_f64(), lapped, sum)
}

fn show(name: &str, rates: Vec<f64>) {
    let (m, lo, hi) = median_range(rates);
    println!(
        "| {name} | {:.1} M records/s | {:.1} - {:.1} | {:.2} GB/s |",
        m / 1e6,
        lo / 1e6,
        hi / 1e6,
        m * (WORDS_PER_RECORD * 8) as f64 / 1e9
    );
}

fn main() {
    // The writer takes the plan's sender CPU, the reader its receiver CPU.
    let plan = pin::plan(true);
    let (wcpu, rcpu) = (plan.sender, plan.receiver);
    let s = Arc::new(Shared {
        buf: (0..BUFFER_WORDS).map(|_| AtomicU64::new(0)).collect(),
        pos: AtomicU64::new(0),
        go: AtomicBool::new(false),
    });
    pin_or_warn(wcpu);
    // Touch every page once, so that no pass pays page faults.
    write(&s, 0, (BUFFER_WORDS / WORDS_PER_RECORD) as u64);

    let mut alone = vec![];
    let mut with_w = vec![];
    let mut with_r = vec![];
    let mut handed = vec![];
    let mut laps = 0;
    for _ in 0..PASSES {
        let base = s.pos.load(Ordering::Relaxed);
        alone.push(RECORDS as f64 / write(&s, base, RECORDS));

        let base = s.pos.load(Ordering::Relaxed);
        let end = base + RECORDS * WORDS_PER_RECORD as u64;
        s.go.store(false, Ordering::Relaxed);
        let rs = s.clone();
        let reader = std::thread::spawn(move || {
            pin_or_warn(rcpu);
            read(&rs, base, end)
        });
        std::thread::sleep(std::time::Duration::from_millis(5));
        s.go.store(true, Ordering::Release);
        let wt = write(&s, base, RECORDS);
        let (rt, lapped, sum) = reader.join().expect("reader thread");
        std::hint::black_box(sum);
        laps += lapped as usize;
        with_w.push(RECORDS as f64 / wt);
        with_r.push(RECORDS as f64 / rt);

        // Handed over: 1 MiB written here, then read there.
        let chunk = (1 << 20) / (WORDS_PER_RECORD as u64 * 8);
        let mut total = 0.0;
        let mut n = 0u64;
        for _ in 0..16 {
            let base = s.pos.load(Ordering::Relaxed);
            write(&s, base, chunk);
            let end = s.pos.load(Ordering::Relaxed);
            s.go.store(true, Ordering::Release);
            let rs = s.clone();
            let (rt, _, sum) = std::thread::spawn(move || {
                pin_or_warn(rcpu);
                read(&rs, base, end)
            })
            .join()
            .expect("reader thread");
            std::hint::black_box(sum);
            total += rt;
            n += chunk;
        }
        handed.push(n as f64 / total);
    }
    println!(
        "{} (the writer is the sender); {PASSES} passes of {RECORDS} records of 80 bytes, 64 MiB buffer",
        plan.said
    );
    println!("| case | median | range | bytes |");
    println!("|---|---:|---|---:|");
    let slowdown: Vec<f64> = alone.iter().zip(&with_w).map(|(a, w)| a / w).collect();
    let behind: Vec<f64> = with_w.iter().zip(&with_r).map(|(w, r)| r / w).collect();
    show("writer alone", alone);
    show("writer, while a reader reads", with_w);
    show("reader, while the writer writes", with_r);
    show("reader, handed over (1 MiB written, then read)", handed);
    let (m, lo, hi) = median_range(slowdown);
    println!("writer alone / writer while a reader reads, per pass: {m:.2}x [{lo:.2} - {hi:.2}]");
    let (m, lo, hi) = median_range(behind);
    println!("reader's rate / writer's rate in the same pass: {m:.2} [{lo:.2} - {hi:.2}]");
    println!("passes where the reader was lapped: {laps} of {PASSES}");
}
