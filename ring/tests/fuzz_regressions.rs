//! Regression tests for what fuzzing the reader found (see `fuzz/README.md`).
//!
//! Each test builds the smallest ring that showed the bug, with the fuzz
//! target's own ring builder (`fuzz/src/ring_targets.rs`, included as a
//! module), and checks that the reader now reports corruption or reads
//! correctly instead of panicking. The fuzzer's inputs for the same bugs are
//! in `fuzz/corpus/reader_walk/regression-*`, replayed by `fuzz_corpus.rs`.
#![cfg(not(loom))]

#[allow(dead_code)]
#[path = "../../fuzz/src/ring_targets.rs"]
mod ring_targets;

use ring_targets::{WalkInput, RAW_LATEST, RAW_TAIL, RAW_TAIL_INTENT};
use slipstream_ring::layout::{header_word, KIND_PADDING};
use slipstream_ring::{Item, Layout, ReadError, Reader, SeekError, Start, Writer};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// A 4 KiB ring (max payload 200, 8 segments, 4 KiB pages) with these
/// counters and data bytes, and no segment table entries.
fn ring(tail_intent: u64, tail: u64, latest: u64, data: Vec<u8>) -> WalkInput {
    WalkInput {
        shape: 1 << 1, // capacity 4096, 8 segments
        max_payload: 199,
        modes: RAW_TAIL | RAW_TAIL_INTENT | RAW_LATEST,
        batch: 0,
        tail_intent,
        tail,
        latest,
        start_seq: 0,
        resume_seq: 0,
        resume_pos: 0,
        segments: [(0, 0); ring_targets::WALK_SEGMENT_ENTRIES],
        data,
    }
}

/// Writes the ring to a scratch file (unlinked: the descriptor keeps it).
fn file_of(input: &WalkInput) -> File {
    let (geo, image) = input.image();
    let file = ring_targets::scratch_file();
    file.set_len(geo.file_len).unwrap();
    file.write_all_at(&image, 0).unwrap();
    file
}

/// A record header: `len`, `kind`, `seq`.
fn record(len: u32, kind: u16, seq: u64) -> Vec<u8> {
    let mut v = header_word(len, kind, 0).to_le_bytes().to_vec();
    v.extend_from_slice(&seq.to_le_bytes());
    v.resize(16 + (len as usize).next_multiple_of(8), 0xAB);
    v
}

/// A record carrying sequence number 2^64-1 made the reader compute
/// `seq + 1` and overflow (a panic in debug builds, a wrapped cursor in
/// release). No producer writes it; the reader now calls it corrupt.
#[test]
fn sequence_number_2pow64_minus_1_is_corrupt() {
    // One 8-byte record at position 0 with seq u64::MAX; tail after it.
    let input = ring(24, 24, 0, record(8, 1, u64::MAX));
    let file = file_of(&input);
    for start in [Start::Newest, Start::End, Start::Seq(u64::MAX)] {
        match Reader::attach(&file, start) {
            Err(slipstream_ring::AttachError::Seek(SeekError::Corrupt(e))) => {
                assert!(e.to_string().contains("never written"), "{start:?}: {e}")
            }
            other => panic!("{start:?}: {other:?}"),
        }
    }
    // A reader at the end of a ring whose last record is seq 2^64-2 expects
    // 2^64-1 next; when the producer writes it, the reader must not accept it
    // (the record after it would need 2^64).
    let file = file_of(&ring(24, 24, 0, record(8, 1, u64::MAX - 1)));
    let mut r = Reader::attach(&file, Start::End).unwrap();
    assert_eq!(r.next_seq(), u64::MAX);
    let two = [record(8, 1, u64::MAX - 1), record(8, 1, u64::MAX)].concat();
    let (_, image) = ring(48, 48, 24, two).image();
    file.write_all_at(&image, 0).unwrap();
    match r.try_next() {
        Err(ReadError::Corrupt(e)) => assert!(e.to_string().contains("never written"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.next_seq(), u64::MAX);
}

/// `set_batch_bytes` with a size that is not a multiple of 8 made the reader
/// copy a span of that many bytes, which the 8-byte-word copy asserts
/// against: a panic on a perfectly good ring. The size is now rounded down.
#[test]
fn batch_bytes_not_a_multiple_of_8() {
    let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
    let mut r = w.reader(Start::Oldest).unwrap();
    r.set_batch_bytes(207);
    for i in 0..20u8 {
        w.publish(1, &vec![i; usize::from(i) * 3]).unwrap();
    }
    for i in 0..20u8 {
        match r.try_next().unwrap() {
            Some(Item::Record(rec)) => assert_eq!(rec.payload, vec![i; usize::from(i) * 3]),
            other => panic!("{other:?}"),
        }
    }
    assert!(r.try_next().unwrap().is_none());
}

/// `set_batch_bytes(usize::MAX)` ("no limit") made `pos + batch` overflow
/// once the reader had moved off position 0.
#[test]
fn batch_bytes_usize_max() {
    let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
    let mut r = w.reader(Start::Oldest).unwrap();
    r.set_batch_bytes(usize::MAX);
    for i in 0..3u64 {
        w.publish(1, &i.to_le_bytes()).unwrap();
        match r.try_next().unwrap() {
            Some(Item::Record(rec)) => assert_eq!(rec.seq, i + 1),
            other => panic!("{other:?}"),
        }
    }
}

/// A padding record in the last lap below 2^64 made the check
/// "padding is followed by a committed record" compute `p + to_end = 2^64`
/// and overflow. Positions that high mean a corrupt header; the reader now
/// reports it.
#[test]
fn padding_at_the_top_of_the_position_space() {
    let tail = u64::MAX - 7; // 8-aligned, at offset 4088 of the data region
    let latest = tail - 8; // offset 4080: a padding record of 16 bytes to the end
    let mut data = vec![0u8; 4096];
    data[4080..4088].copy_from_slice(&header_word(16, KIND_PADDING, 0).to_le_bytes());
    let file = file_of(&ring(tail, tail, latest, data));
    for start in [Start::Newest, Start::End, Start::Oldest] {
        match Reader::attach(&file, start) {
            Err(slipstream_ring::AttachError::Seek(SeekError::Corrupt(_))) => {}
            other => panic!("{start:?}: {other:?}"),
        }
    }
    // A record there would end at 2^64 too.
    let latest = tail - 16; // offset 4072: a record of 24 bytes (8 payload)
    let mut data = vec![0u8; 4096];
    data[4072..4096].copy_from_slice(&record(8, 1, 5));
    let file = file_of(&ring(tail, tail, latest, data));
    match Reader::attach(&file, Start::Newest) {
        Err(slipstream_ring::AttachError::Seek(SeekError::Corrupt(_))) => {}
        other => panic!("{other:?}"),
    }
}
