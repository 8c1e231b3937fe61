//! The body of the `journal_segment` fuzz target.
//!
//! One definition, two users: `fuzz/fuzz_targets/journal_segment.rs` calls it
//! with libFuzzer's inputs, and `consumer-sdk/journal/tests/fuzz_corpus.rs`
//! includes this file (`#[path]`) to replay every committed corpus input
//! through the same code in an ordinary `cargo test`. So it uses only `std`
//! and `slipstream_journal`.
//!
//! The input is the bytes of a segment file. It returns quietly whatever they
//! are; it panics only when the library breaks a promise: a panic, an
//! out-of-bounds access, or a reader that yields something the parser did not
//! find in the bytes.

use slipstream_journal::format::{index_name, segment_name, IndexHeader, SEGMENT_HEADER_LEN};
use slipstream_journal::segment::{parse_entry, parse_index, scan};
use slipstream_journal::{JournalItem, JournalReader, JournalStart};
use std::path::{Path, PathBuf};

/// A scratch directory for the reader's files, one per process, reused.
pub fn scratch_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("slipstream-fuzz-journal-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Parses `data` as a segment (and as an index), and reads it with a
/// [`JournalReader`] from a scratch directory; checks the two agree.
pub fn journal_segment(dir: &Path, data: &[u8]) {
    let path = Path::new("fuzz.seg");
    // The entry parser at every offset of the first bytes, with any expectation.
    for at in 0..data.len().min(64) {
        let _ = parse_entry(&data[at..], at as u64);
    }
    // The index parser on the same bytes, both ways.
    let base = data
        .get(16..24)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        .unwrap_or(0);
    let _ = parse_index(data, Path::new("fuzz.idx"), base, true);
    let _ = parse_index(data, Path::new("fuzz.idx"), base, false);
    let Ok(s) = scan(data, path) else { return };
    assert!(s.valid_len <= data.len() as u64 && s.valid_len >= SEGMENT_HEADER_LEN as u64);
    assert!(s.entries as usize >= s.index.len());
    // The reader, over the file with the index the scan says it should have.
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let _ = std::fs::remove_file(e.path());
    }
    let base = s.header.base_seq.get();
    let mut idx = zerocopy::IntoBytes::as_bytes(&IndexHeader::new(base)).to_vec();
    for e in &s.index {
        idx.extend_from_slice(zerocopy::IntoBytes::as_bytes(e));
    }
    std::fs::write(dir.join(segment_name(base)), data).expect("write scratch segment");
    std::fs::write(dir.join(index_name(base)), &idx).expect("write scratch index");
    let Ok(mut r) = JournalReader::open(dir, JournalStart::Oldest) else {
        return;
    };
    let mut expect = base;
    let mut items = 0u64;
    for _ in 0..10_000 {
        match r.try_next() {
            Ok(Some(JournalItem::Record(rec))) => {
                assert_eq!(rec.seq, expect);
                expect += 1;
                items += 1;
            }
            Ok(Some(JournalItem::Gap(g))) => {
                assert_eq!(g.first_missed, expect);
                assert!(g.last_missed >= g.first_missed);
                expect = g.last_missed + 1;
                items += 1;
            }
            Ok(None) | Err(_) => break,
        }
    }
    // The newest (only) segment: the reader stops where the valid prefix ends.
    assert_eq!(items, s.entries);
    assert_eq!(expect, s.end_seq);
    // Seeks into it by sequence number land where the scan says.
    if s.end_seq > base {
        let mid = base + (s.end_seq - base) / 2;
        if let Ok(mut r) = JournalReader::open(dir, JournalStart::Seq(mid)) {
            if let Ok(Some(JournalItem::Record(rec))) = r.try_next() {
                assert_eq!(rec.seq, mid);
            }
        }
    }
}
