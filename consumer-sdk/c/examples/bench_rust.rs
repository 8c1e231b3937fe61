//! The Rust side of the bindings benchmark (consumer-sdk/c/bench/run.sh):
//!
//! - `bench_rust fill RING N`: writes N mapping updates (credits.aleo/account,
//!   an 8-byte key, the value filling the rest) of exactly 64 payload
//!   bytes into a new ring (capacity from $CAPACITY_MIB, default 512) and exits;
//! - `bench_rust read RING`: reads the ring from its oldest event to its end
//!   with the Rust SDK (`try_next`, touching each event's seq and value) and
//!   prints `{"events":N,"seconds":S,"check":X}`, timed from the first read.
//!
//! The C reader (bench/read.c) and the Python one
//! (consumer-sdk/python/bench/read.py) do the same work and print the same line.

use slipstream_consumer::{Consumer, EventRef, Item, Start};
use slipstream_producer::{Producer, ProducerOptions};
use slipstream_ring::Layout;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("fill") => fill(&args[2], args[3].parse().expect("N")),
        Some("read") => read(&args[2]),
        _ => {
            eprintln!("usage: bench_rust fill RING N | bench_rust read RING");
            std::process::exit(2);
        }
    }
}

fn fill(ring: &str, n: u64) {
    let mib: u64 = std::env::var("CAPACITY_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let _ = std::fs::remove_file(ring);
    let mut p = Producer::open(
        ring,
        ProducerOptions {
            layout: Layout::new(mib << 20),
            ..Default::default()
        },
    )
    .expect("create the ring");
    let (program, mapping, key) = (b"credits.aleo", b"account", [7u8; 8]);
    let update = |value: &[u8]| {
        EventRef::MappingUpdate {
            block_height: 1,
            ordinal: 1,
            program_id: program,
            mapping_name: mapping,
            key: &key,
            value,
        }
        .encoded_len()
    };
    let value = vec![9u8; 64 - update(&[])];
    assert_eq!(update(&value), 64, "a 64-byte payload");
    for i in 0..n {
        p.mapping_update_at(1 + i / 1000, program, mapping, &key, &value)
            .expect("publish");
    }
    p.flush();
}

fn read(ring: &str) {
    let mut c = Consumer::builder(ring)
        .start(Start::Oldest)
        .open()
        .expect("attach");
    let (mut events, mut check) = (0u64, 0u64);
    let t = Instant::now();
    while let Some(item) = c.try_next().expect("read") {
        if let Item::Event(e) = item {
            events += 1;
            check = check.wrapping_add(e.seq);
            if let EventRef::MappingUpdate { value, .. }
            | EventRef::MappingRemoval {
                key: Some(value), ..
            } = e.event
            {
                check = check.wrapping_add(value.len() as u64);
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!("{{\"events\":{events},\"seconds\":{secs},\"check\":{check}}}");
}
