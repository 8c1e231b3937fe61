//! What a consumer can do to the producer's publish: the worst a reader can
//! do through the cache, measured.
//!
//! ```sh
//! cargo run --release -p slipstream-benches --example hostile_reader
//! cargo run --release -p slipstream-benches --example hostile_reader -- 7 64
//! ```
//!
//! (the arguments: passes, default 5; ring MiB, default 64.)
//!
//! A consumer maps the ring read-only and cannot write a byte of it, nor hold
//! a lock the producer takes (there is none), nor make `publish` wait: the
//! producer reads nothing a consumer writes. What a reader *can* do is make
//! the lines the producer stores to expensive: a line another CPU has loaded
//! must be taken back before the store completes, and a flushed line must be
//! fetched from memory. Each publish stores to a bounded set of lines (the
//! record's, the commit line, at times a segment-table entry), so that cost
//! is bounded by the hardware's line transfer, whatever the reader does.
//!
//! The producer (this process, pinned to one CPU) publishes 128-byte records
//! into a file ring in `/dev/shm`; a child process (pinned to the other CPU)
//! opens the same file read-only, as a consumer in the ring's group does,
//! and runs one of:
//!
//! - `alone`: no child;
//! - `reader`: the SDK's ring reader spinning on `try_next` from the end,
//!   a well-behaved busy-polling consumer;
//! - `hammer`: loads, as fast as it can, the header lines the producer
//!   commits to and the 16 lines from the producer's `tail` onward, the
//!   lines its next publishes store to;
//! - `flush` (x86-64): the same lines flushed from every cache (`clflush`,
//!   which needs only read access), so each store fetches from memory.
//!
//! Each pass runs every case once (a fresh child each time), in a rotated
//! order, and measures two things: the mean cost of a publish over 2^24
//! back-to-back publishes (no clock read inside the loop), and the
//! distribution of single publishes over 2^21 more, each between two
//! `CLOCK_MONOTONIC` reads (which add their own ~20-40 ns; the p50 of
//! `alone` shows how much). It prints, per case, the median of the passes
//! with their range, and the ratio of each to `alone` in the same pass.
use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;
use slipstream_ring::layout::{OFF_COMMITS, OFF_LATEST, OFF_NOTIFY, OFF_TAIL, OFF_TAIL_INTENT};
use slipstream_ring::{Item, Layout, Reader, Start, Writer};
use slipstream_testkit::process::{die_with_parent, ChildGuard};

mod support;
use support::{median_range, payload::now_ns, pin, pin_or_warn};

const PAYLOAD: usize = 128;
const MEAN_RECORDS: u64 = 1 << 24;
const TIMED_RECORDS: u64 = 1 << 21;
/// Lines from `tail` onward that `hammer` and `flush` go over each round.
const AHEAD_LINES: u64 = 16;
const CASES: [&str; 4] = ["alone", "reader", "hammer", "flush"];

/// The ring file and its lock file, removed when dropped.
struct RingFiles(PathBuf);

impl Drop for RingFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(slipstream_ring::sidecar::lock_path(&self.0));
    }
}

fn open_rw(p: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
        .unwrap_or_else(|e| panic!("opening {}: {e}", p.display()))
}

/// One pass's figures for one case.
struct Figures {
    mean_ns: f64,
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

fn measure(w: &mut Writer) -> Figures {
    let payload = [0x5Au8; PAYLOAD];
    let t = Instant::now();
    for _ in 0..MEAN_RECORDS {
        w.publish(1, black_box(&payload)).expect("publish");
    }
    let mean_ns = t.elapsed().as_nanos() as f64 / MEAN_RECORDS as f64;
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
    for _ in 0..TIMED_RECORDS {
        let t0 = now_ns();
        w.publish(1, black_box(&payload)).expect("publish");
        let t1 = now_ns();
        h.saturating_record((t1 - t0).max(1));
    }
    Figures {
        mean_ns,
        p50: h.value_at_quantile(0.5),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}

/// Starts the child for `case` on `path` and waits until it is at work.
fn start_child(case: &str, path: &Path, cpu: Option<usize>) -> Option<ChildGuard> {
    if case == "alone" {
        return None;
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.arg("--child")
        .arg(case)
        .arg(path)
        .arg(cpu.map(|c| c.to_string()).unwrap_or_default())
        .stdout(Stdio::piped());
    die_with_parent(&mut cmd);
    let mut child = ChildGuard::spawn(&mut cmd);
    let out = child.child().stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .expect("reading the child's first line");
    assert_eq!(line.trim(), "ready", "the {case} child did not start");
    Some(child)
}

/// The child: maps `path` read-only and runs `case` until killed.
fn child(case: &str, path: &Path, cpu: Option<usize>) -> ! {
    pin_or_warn(cpu);
    let file = File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    match case {
        "reader" => {
            let mut r = Reader::attach(&file, Start::End).expect("attach");
            println!("ready");
            let mut n = 0u64;
            loop {
                match r.try_next() {
                    Ok(Some(Item::Record(rec))) => n = n.wrapping_add(rec.seq),
                    Ok(_) => std::hint::spin_loop(),
                    Err(e) => panic!("reader: {e}"),
                }
                black_box(n);
            }
        }
        "hammer" | "flush" => {
            let geo = *Reader::attach(&file, Start::End)
                .expect("attach")
                .geometry();
            // SAFETY: a read-only shared mapping of the ring file, which this
            // process never truncates; the producer writes it concurrently,
            // which is why every access below is an atomic load or a flush,
            // never a reference to the bytes.
            let map = unsafe { memmap2::Mmap::map(&file) }.expect("mmap");
            assert!(
                map.len() as u64 >= geo.file_len,
                "ring file shorter than its geometry"
            );
            let base = map.as_ptr();
            let word = |off: u64| -> &AtomicU64 {
                debug_assert!(off % 8 == 0 && off + 8 <= map.len() as u64);
                // SAFETY: `off` is 8-aligned and inside the mapping (the
                // header offsets are, and data offsets are reduced modulo the
                // capacity below), the mapping is page-aligned, and the
                // memory is only ever accessed atomically by this process.
                unsafe { &*base.add(off as usize).cast::<AtomicU64>() }
            };
            let header_lines: Vec<u64> = {
                let mut v: Vec<u64> = [
                    OFF_TAIL_INTENT,
                    OFF_TAIL,
                    OFF_LATEST,
                    OFF_COMMITS,
                    OFF_NOTIFY,
                ]
                .iter()
                .map(|&o| o as u64 & !63)
                .collect();
                v.dedup();
                v
            };
            let flush = case == "flush";
            if flush && !cfg!(target_arch = "x86_64") {
                eprintln!("flush: clflush is x86-64 only");
                std::process::exit(2);
            }
            println!("ready");
            let mut sum = 0u64;
            loop {
                let tail = word(OFF_TAIL as u64).load(Ordering::Relaxed);
                let lines = header_lines.iter().copied().chain(
                    (0..AHEAD_LINES)
                        .map(|i| geo.data_offset + (((tail & !63) + i * 64) & geo.mask)),
                );
                for off in lines {
                    if flush {
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: `off` is inside the mapping (see `word`);
                        // clflush needs only that the address be mapped
                        // readable, and changes no byte.
                        unsafe {
                            core::arch::x86_64::_mm_clflush(base.add(off as usize))
                        };
                    } else {
                        sum = sum.wrapping_add(word(off).load(Ordering::Relaxed));
                    }
                }
                black_box(sum);
            }
        }
        other => panic!("unknown child case {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let cpu = args.get(3).and_then(|c| c.parse().ok());
        child(&args[1], Path::new(&args[2]), cpu);
    }
    let passes: usize = args
        .first()
        .map_or(5, |a| a.parse().expect("passes: a number"));
    let ring_mib: u64 = args
        .get(1)
        .map_or(64, |a| a.parse().expect("ring MiB: a number"));

    let plan = pin::plan(true);
    pin_or_warn(plan.sender);
    let files = RingFiles(
        PathBuf::from("/dev/shm").join(format!("slipstream-hostile-{}", std::process::id())),
    );
    let file = open_rw(&files.0);
    let lock = open_rw(&slipstream_ring::sidecar::lock_path(&files.0));
    let mut w =
        Writer::create(file, lock, Layout::new(ring_mib << 20), 1).expect("create the ring");
    // One lap untimed: every page of the ring is touched before any pass.
    let payload = [0u8; PAYLOAD];
    while w.tail() < 2 * (ring_mib << 20) {
        w.publish(1, &payload).expect("publish");
    }
    println!(
        "{PAYLOAD} B records, {ring_mib} MiB ring, producer on CPU {:?}, child on CPU {:?}, {passes} passes",
        plan.sender, plan.receiver
    );

    let mut results: Vec<Vec<Figures>> = CASES.iter().map(|_| vec![]).collect();
    let mut ratios: Vec<Vec<(f64, f64)>> = CASES.iter().map(|_| vec![]).collect();
    for pass in 0..passes {
        let mut this: Vec<Option<Figures>> = CASES.iter().map(|_| None).collect();
        for k in 0..CASES.len() {
            let i = (k + pass) % CASES.len();
            let case = CASES[i];
            if case == "flush" && !cfg!(target_arch = "x86_64") {
                continue;
            }
            let child = start_child(case, &files.0, plan.receiver);
            let f = measure(&mut w);
            drop(child);
            eprintln!(
                "[pass {}/{passes}] {case}: mean {:.2} ns; p50 {} p99 {} p99.9 {} max {} ns",
                pass + 1,
                f.mean_ns,
                f.p50,
                f.p99,
                f.p999,
                f.max
            );
            this[i] = Some(f);
        }
        let alone = this[0].as_ref().expect("alone always runs");
        let (am, a9) = (alone.mean_ns, alone.p999 as f64);
        for (i, f) in this.into_iter().enumerate() {
            if let Some(f) = f {
                ratios[i].push((f.mean_ns / am, f.p999 as f64 / a9));
                results[i].push(f);
            }
        }
    }

    println!(
        "\n| case | mean ns/publish | x alone | p50 ns | p99 ns | p99.9 ns | x alone | max ns |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (i, case) in CASES.iter().enumerate() {
        let r = &results[i];
        if r.is_empty() {
            continue;
        }
        let (m, mlo, mhi) = median_range(r.iter().map(|f| f.mean_ns).collect());
        let (xm, xlo, xhi) = median_range(ratios[i].iter().map(|x| x.0).collect());
        let (p50, ..) = median_range(r.iter().map(|f| f.p50 as f64).collect());
        let (p99, ..) = median_range(r.iter().map(|f| f.p99 as f64).collect());
        let (p999, lo9, hi9) = median_range(r.iter().map(|f| f.p999 as f64).collect());
        let (x9, x9lo, x9hi) = median_range(ratios[i].iter().map(|x| x.1).collect());
        let (mx, _, mxhi) = median_range(r.iter().map(|f| f.max as f64).collect());
        println!(
            "| {case} | {m:.2} [{mlo:.2} - {mhi:.2}] | {xm:.2} [{xlo:.2} - {xhi:.2}] | {p50:.0} | {p99:.0} | {p999:.0} [{lo9:.0} - {hi9:.0}] | {x9:.2} [{x9lo:.2} - {x9hi:.2}] | {mx:.0} (largest {mxhi:.0}) |"
        );
    }
}
