//! Writes the seed corpora of the fuzz targets into `fuzz/corpus/<target>/seed-*`.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus`
//!
//! The seeds are built with the library's own writer and encoder, so that they
//! are valid inputs the fuzzer mutates from (plus a few invalid ones). Files
//! named `regression-*` (minimized inputs of fixed bugs, see README.md) are
//! never touched.

use slipstream_event::EventRef;
use slipstream_fuzz::ring_targets::{WalkInput, RAW_LATEST, RAW_TAIL, RAW_TAIL_INTENT};
use slipstream_ring::layout::{RawHeader, OFF_LATEST, OFF_TAIL, OFF_TAIL_INTENT};
use slipstream_ring::{Layout, Writer};
use std::path::{Path, PathBuf};
use zerocopy::IntoBytes;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

fn event(ev: &EventRef) -> Vec<u8> {
    let mut out = u16::from(ev.kind()).to_le_bytes().to_vec();
    let start = out.len();
    out.resize(start + ev.encoded_len(), 0);
    ev.encode(&mut out[start..]);
    out
}

fn events() -> Vec<(&'static str, EventRef<'static>)> {
    let h = 1_234_567;
    vec![
        (
            "block_begin",
            EventRef::BlockBegin {
                block_height: h,
                event_count: 5,
            },
        ),
        (
            "mapping_update",
            EventRef::MappingUpdate {
                block_height: h,
                ordinal: 1,
                program_id: b"credits.aleo",
                mapping_name: b"account",
                key: &[0xaa, 0xbb, 0xcc],
                value: &[0x40, 0x42, 0x0f, 0, 0, 0, 0, 0], // 1000000u64
            },
        ),
        (
            "mapping_removal_some",
            EventRef::MappingRemoval {
                block_height: h,
                ordinal: 2,
                program_id: b"credits.aleo",
                mapping_name: b"bonded",
                key: Some(&[0xaa, 0xbb, 0xcc]),
            },
        ),
        (
            "mapping_removal_none",
            EventRef::MappingRemoval {
                block_height: h,
                ordinal: 3,
                program_id: b"token.aleo",
                mapping_name: b"balances",
                key: None,
            },
        ),
        (
            "staking_reward",
            EventRef::StakingReward {
                block_height: h,
                ordinal: 4,
                staker: &[0x11, 0x22],
                validator: &[0x33, 0x44, 0x55],
                reward: 1_000_000,
                new_stake: 10_000_000_000,
            },
        ),
        (
            "block",
            EventRef::Block {
                block_height: h,
                ordinal: 5,
                block: &[0xde, 0xad, 0xbe, 0xef],
            },
        ),
        (
            "block_commit",
            EventRef::BlockCommit {
                block_height: h,
                event_count: 5,
            },
        ),
        (
            "block_commit_saturated",
            EventRef::BlockCommit {
                block_height: u64::MAX,
                event_count: u32::MAX,
            },
        ),
    ]
}

fn event_decode(dir: &Path) {
    for (name, ev) in events() {
        write(dir, name, &event(&ev));
    }
    let update = event(&events()[1].1);
    write(dir, "invalid-truncated", &update[..update.len() - 1]);
    let mut trailing = update.clone();
    trailing.push(0);
    write(dir, "invalid-trailing", &trailing);
    let mut tag = event(&events()[3].1);
    *tag.last_mut().unwrap() = 2;
    write(dir, "invalid-tag", &tag);
    let mut unknown = event(&events()[0].1);
    unknown[0] = 7;
    write(dir, "invalid-kind", &unknown);
}

fn header_validate(dir: &Path) {
    let layouts = [
        ("default", Layout::default()),
        (
            "small-page64",
            Layout::new(128)
                .max_payload(8)
                .segments(4)
                .page_size(64),
        ),
        (
            "segments1024",
            Layout::new(1 << 20).segments(1024),
        ),
        (
            "huge",
            Layout::new(1 << 40).max_payload(1 << 30).page_size(1 << 20),
        ),
    ];
    for (name, layout) in layouts {
        let g = layout.geometry().unwrap();
        let h = g.new_header(0x0123_4567_89ab_cdef, 1_700_000_000_000_000_000, 1);
        write(dir, name, h.as_bytes());
    }
    let mut bad = Layout::new(4096).geometry().unwrap().new_header(1, 2, 1);
    bad.data_offset = 12345.into();
    write(dir, "invalid-data-offset", bad.as_bytes());
}

/// A ring file written by the real producer, turned into a walk input.
fn walk_seed(layout: Layout, fill: impl FnOnce(&mut Writer)) -> WalkInput {
    let path = std::env::temp_dir().join(format!("slipstream-gen-corpus-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    let lock_path = slipstream_ring::sidecar::lock_path(&path);
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .unwrap();
    let mut w = Writer::create(file, lock, layout, 1).unwrap();
    fill(&mut w);
    let geo = *w.geometry();
    let bytes = std::fs::read(&path).unwrap();
    drop(w);
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&lock_path).unwrap();
    let u64_at = |off: usize| u64::from_le_bytes(bytes[off..off + 8].try_into().unwrap());
    let shape = u8::from(layout.capacity == 8192)
        | ((layout.segments.trailing_zeros() - 2) as u8) << 1
        | match layout.page_size {
            4096 => 0,
            64 => 1,
            256 => 2,
            _ => panic!("page size"),
        } << 4;
    let mut input = WalkInput {
        shape,
        max_payload: (layout.max_payload - 1) as u16,
        modes: RAW_TAIL | RAW_TAIL_INTENT | RAW_LATEST,
        batch: 0,
        tail_intent: u64_at(OFF_TAIL_INTENT),
        tail: u64_at(OFF_TAIL),
        latest: u64_at(OFF_LATEST),
        start_seq: 3,
        resume_seq: 2,
        resume_pos: 0,
        segments: [(0, 0); 16],
        data: bytes[geo.data_offset as usize..geo.file_len as usize].to_vec(),
    };
    for (i, e) in input.segments.iter_mut().enumerate().take(geo.segments()) {
        let off = geo.segment_offset(i);
        *e = (u64_at(off), u64_at(off + 8));
    }
    assert_eq!(
        input.layout(),
        layout,
        "the seed's shape encodes its layout"
    );
    assert_eq!(std::mem::size_of::<RawHeader>(), 768);
    input
}

fn reader_walk(dir: &Path) {
    let small = Layout::new(4096)
        .max_payload(200)
        .segments(8);
    let seeds = [
        ("empty", walk_seed(small, |_| {})),
        (
            "three-records",
            walk_seed(small, |w| {
                for (_, ev) in events().iter().take(3) {
                    w.publish(u16::from(ev.kind()), &event(ev)[2..]).unwrap();
                }
            }),
        ),
        (
            "wrapped-with-padding",
            walk_seed(small, |w| {
                for i in 0..60u64 {
                    let len = (i * 37 % 150) as usize;
                    w.publish(1 + (i % 6) as u16, &vec![i as u8; len]).unwrap();
                }
            }),
        ),
        (
            "page64-8k-max-records",
            walk_seed(
                Layout::new(8192)
                    .max_payload(2000)
                    .segments(16)
                    .page_size(64),
                |w| {
                    for i in 0..5u8 {
                        w.publish(4, &vec![i; 2000 - usize::from(i) * 100]).unwrap();
                    }
                },
            ),
        ),
        (
            "torn-reservation",
            walk_seed(small, |w| {
                for i in 0..10u8 {
                    w.publish(2, &[i; 24]).unwrap();
                }
                // A producer that died mid-record: tail_intent covers bytes
                // that were never committed (a reservation dropped uncommitted).
                w.reserve(3, 100).unwrap().payload_mut().fill(0xEE);
            }),
        ),
    ];
    // Missing bytes read as zeros: trailing zeros need not be stored.
    let trimmed = |input: &WalkInput| {
        let mut b = input.to_bytes();
        while b.last() == Some(&0) {
            b.pop();
        }
        b
    };
    for (name, mut input) in seeds {
        write(dir, name, &trimmed(&input));
        if name == "wrapped-with-padding" {
            // The same ring read with small batches and the Newest lap policy.
            input.batch = 40;
            input.shape |= 0x80;
            input.start_seq = 50;
            write(dir, "wrapped-small-batches-newest", &trimmed(&input));
            // The same ring moved up by a multiple of the capacity (offsets
            // unchanged) so that its tail is in the last lap below 2^64: a
            // real producer never gets there, a corrupt header can.
            let cap = input.layout().capacity;
            let shift = (u64::MAX - input.tail) / cap * cap;
            input.tail += shift;
            input.tail_intent += shift;
            input.latest += shift;
            for e in input.segments.iter_mut().filter(|e| e.1 != 0) {
                e.0 += shift;
            }
            input.start_seq = 30;
            input.resume_seq = 25;
            input.resume_pos = input.segments[0].0;
            write(dir, "wrapped-near-2pow64", &trimmed(&input));
        }
    }
}

fn plugin_config(dir: &Path) {
    let configs = [
        (
            "minimal",
            r#"{ libpath: "libslipstream_producer.so", ring: "node-events" }"#,
        ),
        (
            "full",
            r#"{
  libpath: "libslipstream_producer.so", // relative to this file's folder
  name: "slipstream",
  ring: "rings/node-events",
  capacity: "64MiB",
  max_event: "4MiB",
  mode: "0600",
  recreate: false,
  wake: "thread:200us",
  kinds: ["mapping_update", "mapping_removal", "staking_reward", "block"],
}"#,
        ),
        (
            "numbers",
            r#"{libpath:'x',ring:'/dev/shm/r',capacity:4096,max_event:1000,wake:"event",kinds:[]}"#,
        ),
        (
            "invalid-unknown-key",
            r#"{ libpath: "x", ring: "r", colour: 1 }"#,
        ),
        (
            "invalid-capacity",
            r#"{ libpath: "x", ring: "r", capacity: "3MiB" }"#,
        ),
        ("invalid-mode", r#"{ libpath: "x", ring: "r", mode: "rw" }"#),
        (
            "invalid-kind",
            r#"{ libpath: "x", ring: "r", kinds: ["blocks"] }"#,
        ),
        ("invalid-truncated", "{ libpath: "),
    ];
    for (name, text) in configs {
        write(dir, name, text.as_bytes());
    }
}

fn main() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    event_decode(&corpus.join("event_decode"));
    header_validate(&corpus.join("header_validate"));
    reader_walk(&corpus.join("reader_walk"));
    plugin_config(&corpus.join("plugin_config"));
    println!("seeds written to {}", corpus.display());
}
