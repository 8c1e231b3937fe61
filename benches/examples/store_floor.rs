//! The machine's floor under `publish`: storing records end to end into a
//! buffer the size of a ring, with no ring at all.
//!
//! ```sh
//! cargo run --release -p slipstream-benches --example store_floor
//! cargo run --release -p slipstream-benches --example store_floor -- 128 1,16,64,256
//! ```
//!
//! (the arguments: payload bytes, default 128; buffer sizes in MiB, default
//! 1,16,64,256.)
//!
//! A record of a 128-byte payload takes 144 bytes of a ring (its 16-byte
//! header and the payload). This copies a 144-byte record into a buffer of
//! each size, one after the other, wrapping at the end, as `publish` would
//! with no header, commit or check: the cost of the stores alone. Each size
//! is written for 1 GiB per pass after one untimed lap (so that no page
//! fault is counted), 7 passes; it prints the median ns per record with the
//! range, and the bytes per second. Once the buffer is larger than the
//! last-level cache, every line is read from memory before it is written
//! (and written back later), so the rate is the machine's memory bandwidth,
//! not anything a ring can change. The thread is pinned as the harness pins
//! a sender.
use std::hint::black_box;
use std::time::Instant;

mod support;
use support::{pin, pin_or_warn};

const HEADER: usize = 16;
const PASSES: usize = 7;
const PASS_BYTES: usize = 1 << 30;

/// Writes `records` records of `rec.len()` bytes end to end from `*off`.
fn write(buf: &mut [u8], rec: &[u8], off: &mut usize, records: usize) {
    for _ in 0..records {
        if *off + rec.len() > buf.len() {
            *off = 0;
        }
        buf[*off..*off + rec.len()].copy_from_slice(black_box(rec));
        *off += rec.len();
    }
    black_box(&mut *buf);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let payload: usize = args
        .first()
        .map_or(128, |a| a.parse().expect("payload: bytes"));
    let sizes: Vec<usize> = args.get(1).map_or(vec![1, 16, 64, 256], |a| {
        a.split(',')
            .map(|s| s.trim().parse().expect("sizes: MiB, comma-separated"))
            .collect()
    });
    let plan = pin::plan(true);
    pin_or_warn(plan.sender);
    let rec = vec![0x5Au8; (HEADER + payload).next_multiple_of(8)];
    println!(
        "{}-byte records ({payload}-byte payloads), thread on CPU {:?}, {PASSES} passes of 1 GiB",
        rec.len(),
        plan.sender
    );
    println!("| buffer | ns per record, median [range] | GB/s (median) |");
    println!("|---|---|---|");
    for mib in sizes {
        let mut buf = vec![0u8; mib << 20];
        let mut off = 0;
        let per_lap = buf.len() / rec.len();
        write(&mut buf, &rec, &mut off, per_lap + 1);
        let records = PASS_BYTES / rec.len();
        let mut ns: Vec<f64> = (0..PASSES)
            .map(|_| {
                let t = Instant::now();
                write(&mut buf, &rec, &mut off, records);
                t.elapsed().as_nanos() as f64 / records as f64
            })
            .collect();
        ns.sort_by(|a, b| a.total_cmp(b));
        let med = ns[PASSES / 2];
        println!(
            "| {mib} MiB | {med:.2} [{:.2} - {:.2}] | {:.1} |",
            ns[0],
            ns[PASSES - 1],
            rec.len() as f64 / med
        );
    }
}
