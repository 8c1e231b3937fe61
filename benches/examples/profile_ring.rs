//! A steady publish-then-consume loop of 64-byte records, to profile with
//! callgrind (instruction counts do not depend on what else the machine runs):
//!
//! ```sh
//! cargo build --release -p slipstream-benches --example profile_ring
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/examples/profile_ring 200000
//! callgrind_annotate /tmp/cg.out | head -30
//! ```
//!
//! It publishes batches of N records (default 200 000) into a 64 MiB ring and
//! reads each batch back with a validating reader, checking every record.
use slipstream_ring::{Item, Layout, Start, Writer};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let mut w = Writer::anonymous(Layout::new(64 << 20)).unwrap();
    let mut r = w.reader(Start::End).unwrap();
    let payload = [0x5Au8; 64];
    let mut sum = 0u64;
    for _round in 0..5 {
        for _ in 0..n {
            let mut res = w.reserve(1, payload.len()).unwrap();
            res.payload_mut().copy_from_slice(&payload);
            res.commit();
        }
        for _ in 0..n {
            match r.try_next().unwrap() {
                Some(Item::Record(rec)) => sum = sum.wrapping_add(rec.seq + rec.payload[63] as u64),
                other => panic!("{other:?}"),
            }
        }
    }
    println!("{sum}");
}
