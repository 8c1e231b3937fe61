//! The journal library: round trips, gaps, seeks, torn tails, corruption,
//! retention under readers, and readers tailing a writer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use slipstream_journal::format::{entry_len, SEGMENT_HEADER_LEN};
use slipstream_journal::{
    summary, verify, Gap, GapCause, JournalError, JournalItem, JournalReader, JournalStart,
    JournalWriter, Retention, WriterOptions,
};

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!(
            "slipstream-journal-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A payload with the ring's event prefix: block height, ordinal, then filler.
fn payload(height: u64, ordinal: u32, len: usize) -> Vec<u8> {
    let mut p = height.to_le_bytes().to_vec();
    p.extend_from_slice(&ordinal.to_le_bytes());
    p.resize(len.max(16), (height as u8) ^ (ordinal as u8));
    p
}

/// Writes `blocks` blocks of `per` events (begin marker, events, commit) from seq 1.
fn write_blocks(
    w: &mut JournalWriter,
    first_height: u64,
    blocks: u64,
    per: u32,
    len: usize,
) -> u64 {
    let mut seq = w.next_seq().unwrap_or(1);
    for b in 0..blocks {
        let h = first_height + b;
        w.append(seq, 5, &payload(h, 0, 16)).unwrap();
        seq += 1;
        for o in 1..=per {
            w.append(seq, 1, &payload(h, o, len)).unwrap();
            seq += 1;
        }
        w.append(seq, 6, &payload(h, per + 1, 16)).unwrap();
        seq += 1;
    }
    seq
}

/// Every item from `r` until it has nothing more: records as (seq, kind), gaps as they are.
fn drain(r: &mut JournalReader) -> (Vec<(u64, u16)>, Vec<Gap>) {
    let (mut recs, mut gaps) = (Vec::new(), Vec::new());
    while let Some(item) = r.try_next().unwrap() {
        match item {
            JournalItem::Record(rec) => recs.push((rec.seq, rec.kind)),
            JournalItem::Gap(g) => gaps.push(g),
        }
    }
    (recs, gaps)
}

fn small_segments() -> WriterOptions {
    WriterOptions {
        segment_bytes: 16 * 1024,
        ..Default::default()
    }
}

#[test]
fn records_and_gaps_round_trip_across_segments() {
    let d = TempDir::new("roundtrip");
    let (mut w, rec) = JournalWriter::open(d.path(), small_segments()).unwrap();
    assert_eq!(rec.next_seq, None);
    let end = write_blocks(&mut w, 100, 20, 30, 100);
    w.append_gap(end, end + 9).unwrap();
    let end2 = write_blocks(&mut w, 120, 5, 30, 100);
    w.flush().unwrap();
    assert!(
        summary(d.path()).unwrap().segments.len() > 5,
        "small segments roll"
    );

    let mut r = JournalReader::open(d.path(), JournalStart::Oldest).unwrap();
    let (recs, gaps) = drain(&mut r);
    assert_eq!(recs.len() as u64, end2 - 1 - 10);
    assert_eq!(
        gaps,
        [Gap {
            first_missed: end,
            last_missed: end + 9,
            cause: GapCause::Recorded
        }]
    );
    // Sequence numbers rise by one, the gap's excepted.
    let mut expect = 1;
    for &(seq, _) in &recs {
        if expect == end {
            expect += 10;
        }
        assert_eq!(seq, expect);
        expect += 1;
    }
    assert_eq!(r.next_seq(), end2);

    drop(w);
    let report = verify(d.path()).unwrap();
    assert_eq!(report.entries, end2 - 1 - 10 + 1);
    assert_eq!((report.gaps, report.missed), (1, 10));
    assert_eq!(report.range, Some((1, end2)));
    assert!(report.torn_tail.is_none());
    let s = summary(d.path()).unwrap();
    assert_eq!((s.first_seq(), s.next_seq()), (Some(1), Some(end2)));
    assert_eq!(
        (s.oldest_height(), s.newest_height()),
        (Some(100), Some(124))
    );
}

#[test]
fn seeks_by_sequence_and_height() {
    let d = TempDir::new("seek");
    let (mut w, _) = JournalWriter::open(d.path(), small_segments()).unwrap();
    let end = write_blocks(&mut w, 1000, 40, 10, 200);
    w.append_gap(end, end + 4).unwrap();
    w.append(end + 5, 1, &payload(1040, 1, 50)).unwrap();
    w.flush().unwrap();
    // Every sequence number: the reader starts exactly there.
    for n in 1..end {
        let mut r = JournalReader::open(d.path(), JournalStart::Seq(n)).unwrap();
        match r.try_next().unwrap() {
            Some(JournalItem::Record(rec)) => assert_eq!(rec.seq, n),
            other => panic!("seq {n}: {other:?}"),
        }
    }
    // Inside the gap: the rest of it, then the next record.
    let mut r = JournalReader::open(d.path(), JournalStart::Seq(end + 2)).unwrap();
    assert_eq!(
        r.try_next().unwrap(),
        Some(JournalItem::Gap(Gap {
            first_missed: end + 2,
            last_missed: end + 4,
            cause: GapCause::Recorded
        }))
    );
    assert!(matches!(r.try_next().unwrap(), Some(JournalItem::Record(rec)) if rec.seq == end + 5));
    // The journal's end: nothing yet, then what is appended.
    let mut r = JournalReader::open(d.path(), JournalStart::Seq(end + 6)).unwrap();
    assert!(r.try_next().unwrap().is_none());
    w.append(end + 6, 2, &payload(1040, 2, 20)).unwrap();
    w.flush().unwrap();
    assert!(matches!(r.try_next().unwrap(), Some(JournalItem::Record(rec)) if rec.seq == end + 6));
    // Beyond the end.
    assert!(matches!(
        JournalReader::open(d.path(), JournalStart::Seq(end + 100)),
        Err(JournalError::InFuture { requested, next, .. }) if requested == end + 100 && next == end + 7
    ));
    // Heights: each block's begin marker (12 records per block).
    for b in 0..40u64 {
        let mut r = JournalReader::open(d.path(), JournalStart::Height(1000 + b)).unwrap();
        match r.try_next().unwrap() {
            Some(JournalItem::Record(rec)) => {
                assert_eq!((rec.seq, rec.kind), (1 + 12 * b, 5), "height {}", 1000 + b);
                assert_eq!(&rec.payload[..8], &(1000 + b).to_le_bytes());
            }
            other => panic!("{other:?}"),
        }
    }
    // Older than the journal: the error names the oldest sequence and height.
    let e = JournalReader::open(d.path(), JournalStart::Height(999)).unwrap_err();
    assert!(
        matches!(
            e,
            JournalError::NotRetained {
                oldest_seq: 1,
                oldest_height: Some(1000),
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("oldest event is #1 at block height 1000"),
        "{e}"
    );
}

#[test]
fn a_position_older_than_the_journal_is_a_clear_error() {
    let d = TempDir::new("older");
    let (mut w, _) = JournalWriter::open(d.path(), WriterOptions::default()).unwrap();
    w.append(500, 5, &payload(77, 0, 16)).unwrap();
    w.flush().unwrap();
    let e = JournalReader::open(d.path(), JournalStart::Seq(499)).unwrap_err();
    assert!(
        matches!(
            e,
            JournalError::NotRetained {
                oldest_seq: 500,
                oldest_height: Some(77),
                ..
            }
        ),
        "{e}"
    );
    let empty = TempDir::new("empty");
    std::fs::create_dir_all(empty.path()).unwrap();
    assert!(matches!(
        JournalReader::open(empty.path(), JournalStart::Oldest),
        Err(JournalError::Empty(_))
    ));
}

#[test]
fn a_torn_tail_is_cut_off_on_reopen_and_the_sequence_goes_on() {
    let d = TempDir::new("torn");
    let (mut w, _) = JournalWriter::open(d.path(), WriterOptions::default()).unwrap();
    let end = write_blocks(&mut w, 1, 3, 5, 64);
    drop(w);
    let seg = summary(d.path()).unwrap().segments[0].path.clone();
    let len = std::fs::metadata(&seg).unwrap().len();
    // Every way a tail can be torn: cut inside the last entry at each length,
    // and garbage appended.
    let last_len = entry_len(16);
    for cut in 1..last_len {
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - cut).unwrap();
        drop(f);
        assert!(verify(d.path()).unwrap().torn_tail.is_some(), "cut {cut}");
        let (w, rec) = JournalWriter::open(d.path(), WriterOptions::default()).unwrap();
        assert_eq!(rec.next_seq, Some(end - 1), "cut {cut}");
        let (file, offset, dropped, _) = rec.truncated.clone().unwrap();
        assert_eq!(
            (file, offset, dropped),
            (seg.clone(), len - last_len, last_len - cut)
        );
        drop(w);
        assert!(verify(d.path()).unwrap().torn_tail.is_none());
        // Put the last entry back.
        let (mut w, _) = JournalWriter::open(d.path(), WriterOptions::default()).unwrap();
        w.append(end - 1, 6, &payload(3, 6, 16)).unwrap();
        drop(w);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), len);
    }
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(&[0xAB; 40])
        .unwrap();
    let (mut w, rec) = JournalWriter::open(d.path(), WriterOptions::default()).unwrap();
    assert_eq!(rec.truncated.unwrap().2, 40);
    w.append(end, 5, &payload(4, 0, 16)).unwrap();
    drop(w);
    let r = verify(d.path()).unwrap();
    assert_eq!((r.range, r.torn_tail), (Some((1, end + 1)), None));
}

#[test]
fn corruption_names_the_file_and_offset() {
    let d = TempDir::new("corrupt");
    let (mut w, _) = JournalWriter::open(d.path(), small_segments()).unwrap();
    write_blocks(&mut w, 1, 30, 10, 200);
    drop(w);
    let s = summary(d.path()).unwrap();
    let first = s.segments[0].path.clone();
    let pristine = std::fs::read(&first).unwrap();
    // Flip one byte of the second entry's payload.
    let second = SEGMENT_HEADER_LEN as u64 + entry_len(16);
    let mut bad = pristine.clone();
    bad[second as usize + 20] ^= 1;
    std::fs::write(&first, &bad).unwrap();
    let e = verify(d.path()).unwrap_err();
    match &e {
        JournalError::Corrupt {
            path,
            offset,
            detail,
        } => {
            assert_eq!((path, *offset), (&first, second));
            assert!(detail.contains("checksum"), "{detail}");
        }
        other => panic!("{other}"),
    }
    let mut r = JournalReader::open(d.path(), JournalStart::Oldest).unwrap();
    assert!(matches!(
        r.try_next().unwrap(),
        Some(JournalItem::Record(_))
    ));
    match r.try_next() {
        Err(JournalError::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (first.clone(), second))
        }
        other => panic!("{other:?}"),
    }
    // A sealed segment cut short.
    std::fs::write(&first, &pristine[..pristine.len() - 5]).unwrap();
    let e = verify(d.path()).unwrap_err();
    assert!(
        matches!(&e, JournalError::Truncated { path, .. } if path == &first),
        "{e}"
    );
    // A corrupt index entry.
    std::fs::write(&first, &pristine).unwrap();
    let idx = first.with_extension("idx");
    let mut ib = std::fs::read(&idx).unwrap();
    ib[64 + 32 + 3] ^= 0x10;
    std::fs::write(&idx, &ib).unwrap();
    let e = verify(d.path()).unwrap_err();
    assert!(
        matches!(&e, JournalError::Corrupt { path, offset: 96, .. } if path == &idx),
        "{e}"
    );
    assert!(JournalReader::open(d.path(), JournalStart::Seq(5)).is_err());
    // A header that is not a segment's.
    std::fs::write(&first, [b'x'; 100]).unwrap();
    let e = verify(d.path()).unwrap_err();
    assert!(
        matches!(&e, JournalError::Corrupt { path, offset: 0, .. } if path == &first),
        "{e}"
    );
}

#[test]
fn retention_deletes_whole_old_segments_under_readers() {
    let d = TempDir::new("retain");
    let opts = WriterOptions {
        segment_bytes: 16 * 1024,
        retention: Retention {
            max_bytes: Some(64 * 1024),
            max_age: None,
        },
        ..Default::default()
    };
    let (mut w, _) = JournalWriter::open(d.path(), opts).unwrap();
    write_blocks(&mut w, 1, 2, 10, 200);
    w.flush().unwrap();
    // A reader in the first segment, holding it open.
    let mut slow = JournalReader::open(d.path(), JournalStart::Oldest).unwrap();
    assert!(matches!(slow.try_next().unwrap(), Some(JournalItem::Record(rec)) if rec.seq == 1));
    let end = write_blocks(&mut w, 3, 60, 10, 200);
    w.flush().unwrap();
    let s = summary(d.path()).unwrap();
    assert!(
        s.bytes() <= 64 * 1024 + 16 * 1024,
        "retained {} bytes",
        s.bytes()
    );
    let oldest = s.first_seq().unwrap();
    assert!(oldest > 100, "old segments deleted (oldest now {oldest})");
    assert!(!s.segments.iter().any(|g| g.base == 1));
    // The slow reader finishes its deleted segment through its open file, then
    // reports exactly what was deleted after it, then reads on.
    let (recs, gaps) = drain(&mut slow);
    let first_seg_end = recs.iter().take_while(|r| r.0 < oldest).count() as u64 + 2;
    assert_eq!(recs[0].0, 2);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].cause, GapCause::Deleted);
    assert_eq!(gaps[0].first_missed, first_seg_end);
    assert_eq!(gaps[0].last_missed, oldest - 1);
    assert_eq!(recs.last().unwrap().0, end - 1);
    assert_eq!(recs.len() as u64, (first_seg_end - 2) + (end - oldest));
    // What is left verifies.
    drop(w);
    assert!(verify(d.path()).unwrap().torn_tail.is_none());
    // A start older than what is left names the oldest.
    assert!(
        matches!(JournalReader::open(d.path(), JournalStart::Seq(1)), Err(JournalError::NotRetained { oldest_seq, .. }) if oldest_seq == oldest)
    );
}

#[test]
fn retention_by_age() {
    let d = TempDir::new("age");
    let (mut w, _) = JournalWriter::open(d.path(), small_segments()).unwrap();
    write_blocks(&mut w, 1, 60, 10, 200);
    drop(w);
    let n = summary(d.path()).unwrap().segments.len();
    assert!(n > 3);
    std::thread::sleep(Duration::from_millis(30));
    let opts = WriterOptions {
        retention: Retention {
            max_bytes: None,
            max_age: Some(Duration::from_millis(20)),
        },
        ..small_segments()
    };
    let (w, _) = JournalWriter::open(d.path(), opts).unwrap();
    // All but the newest segment were last written over 20 ms ago.
    assert_eq!(summary(d.path()).unwrap().segments.len(), 1);
    drop(w);
    assert!(verify(d.path()).is_ok());
}

#[test]
fn readers_tail_a_writer_while_retention_deletes() {
    let d = TempDir::new("tail");
    let opts = WriterOptions {
        segment_bytes: 32 * 1024,
        retention: Retention {
            max_bytes: Some(256 * 1024),
            max_age: None,
        },
        ..Default::default()
    };
    let (mut w, _) = JournalWriter::open(d.path(), opts).unwrap();
    w.append(1, 1, &payload(0, 1, 17)).unwrap();
    w.flush().unwrap();
    const TOTAL: u64 = 20_000;
    let readers: Vec<_> = (0..3)
        .map(|i| {
            let dir = d.path().to_path_buf();
            std::thread::spawn(move || {
                let mut r = JournalReader::open(&dir, JournalStart::Oldest).unwrap();
                let mut next = 1u64;
                let (mut got, mut missed) = (0u64, 0u64);
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                while next <= TOTAL {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "reader {i} stuck at {next}"
                    );
                    match r.try_next().unwrap() {
                        Some(JournalItem::Record(rec)) => {
                            assert_eq!(rec.seq, next, "reader {i}");
                            assert_eq!(
                                rec.payload,
                                &payload(
                                    rec.seq / 100,
                                    (rec.seq % 100) as u32,
                                    16 + (rec.seq % 300) as usize
                                )[..],
                                "reader {i} #{}",
                                rec.seq
                            );
                            got += 1;
                            next += 1;
                        }
                        Some(JournalItem::Gap(g)) => {
                            assert_eq!(g.first_missed, next, "reader {i}");
                            assert_eq!(g.cause, GapCause::Deleted);
                            missed += g.last_missed - g.first_missed + 1;
                            next = g.last_missed + 1;
                        }
                        None => std::thread::sleep(Duration::from_micros(50 * (i + 1))),
                    }
                }
                (got, missed)
            })
        })
        .collect();
    for seq in 2..=TOTAL {
        // Heights never decrease: seq / 100.
        w.append(
            seq,
            if seq % 100 == 0 { 5 } else { 1 },
            &payload(seq / 100, (seq % 100) as u32, 16 + (seq % 300) as usize),
        )
        .unwrap();
        if seq % 500 == 0 {
            w.flush().unwrap();
        }
    }
    w.flush().unwrap();
    for r in readers {
        let (got, missed) = r.join().unwrap();
        assert_eq!(
            got + missed,
            TOTAL,
            "every sequence number read or reported"
        );
    }
    drop(w);
    assert!(verify(d.path()).unwrap().torn_tail.is_none());
}

#[test]
fn a_second_writer_is_refused() {
    let d = TempDir::new("lock");
    let (_w, _) = JournalWriter::open(d.path(), WriterOptions::default()).unwrap();
    assert!(matches!(
        JournalWriter::open(d.path(), WriterOptions::default()),
        Err(JournalError::Locked(_))
    ));
}

#[test]
fn out_of_sequence_appends_are_refused() {
    let d = TempDir::new("seq");
    let (mut w, _) = JournalWriter::open(d.path(), WriterOptions::default()).unwrap();
    w.append(10, 1, b"x").unwrap();
    assert!(matches!(
        w.append(12, 1, b"x"),
        Err(JournalError::OutOfSequence {
            expected: 11,
            found: 12,
            ..
        })
    ));
    assert!(matches!(
        w.append(11, 0xFFFF, b"x"),
        Err(JournalError::BadRecord { .. })
    ));
    assert!(matches!(
        w.append_gap(11, 10),
        Err(JournalError::BadRecord { .. })
    ));
    w.append(11, 1, b"y").unwrap();
}

#[test]
fn policies_and_retention_parse() {
    use slipstream_journal::Fsync;
    assert_eq!("never".parse::<Fsync>(), Ok(Fsync::Never));
    assert_eq!("segment".parse::<Fsync>(), Ok(Fsync::Segment));
    assert_eq!(
        "interval:100ms".parse::<Fsync>(),
        Ok(Fsync::Interval(Duration::from_millis(100)))
    );
    assert!("interval:soon".parse::<Fsync>().is_err());
    assert!("always".parse::<Fsync>().is_err());
    assert_eq!(
        "50GiB".parse::<Retention>(),
        Ok(Retention {
            max_bytes: Some(50 << 30),
            max_age: None
        })
    );
    assert_eq!(
        "7d".parse::<Retention>(),
        Ok(Retention {
            max_bytes: None,
            max_age: Some(Duration::from_secs(7 * 86400))
        })
    );
    // The shared grammar (slipstream-units): units in any case, all binary.
    let bytes = |n: u64| {
        Ok(Retention {
            max_bytes: Some(n),
            max_age: None,
        })
    };
    let age = |d: Duration| {
        Ok(Retention {
            max_bytes: None,
            max_age: Some(d),
        })
    };
    assert_eq!("50GB".parse::<Retention>(), bytes(50 << 30));
    assert_eq!("64mib".parse::<Retention>(), bytes(64 << 20));
    assert_eq!("5M".parse::<Retention>(), bytes(5 << 20));
    // `m` stays minutes, as it was before sizes learnt `m`; a bare number is bytes.
    assert_eq!("5m".parse::<Retention>(), age(Duration::from_secs(300)));
    assert_eq!(
        "12h".parse::<Retention>(),
        age(Duration::from_secs(12 * 3600))
    );
    assert_eq!("0".parse::<Retention>(), bytes(0));
    assert_eq!("4096".parse::<Retention>(), bytes(4096));
    assert!(matches!(
        "7 fortnights".parse::<Retention>(),
        Err(slipstream_journal::ParseError::Retention { .. })
    ));
}

/// Every policy writes the same journal; `interval:0s` fsyncs at every flush.
#[test]
fn every_fsync_policy_round_trips() {
    use slipstream_journal::Fsync;
    for fsync in [
        Fsync::Never,
        Fsync::Segment,
        Fsync::Interval(Duration::ZERO),
    ] {
        let d = TempDir::new("fsync");
        let (mut w, _) = JournalWriter::open(
            d.path(),
            WriterOptions {
                fsync,
                ..small_segments()
            },
        )
        .unwrap();
        let end = write_blocks(&mut w, 1, 10, 10, 300);
        w.flush().unwrap();
        drop(w);
        let r = verify(d.path()).unwrap();
        assert_eq!((r.range, r.torn_tail), (Some((1, end)), None), "{fsync:?}");
    }
}

#[test]
fn durable_cursors_are_replaced_whole_and_checked() {
    use slipstream_journal::{load_cursor, store_cursor};
    let d = TempDir::new("cursor");
    store_cursor(d.path(), "idx", 10).unwrap();
    // A crash while writing the next one leaves its temporary file: ignored.
    std::fs::write(d.path().join("cursors/.idx.cursor.tmp"), b"half a cursor").unwrap();
    assert_eq!(load_cursor(d.path(), "idx").unwrap(), Some(10));
    store_cursor(d.path(), "idx", 11).unwrap();
    assert_eq!(load_cursor(d.path(), "idx").unwrap(), Some(11));
    // A damaged cursor file is an error naming it, never a guess.
    let path = d.path().join("cursors/idx.cursor");
    let mut b = std::fs::read(&path).unwrap();
    b[9] ^= 1;
    std::fs::write(&path, &b).unwrap();
    match load_cursor(d.path(), "idx") {
        Err(JournalError::Corrupt { path: p, .. }) => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
    assert!(store_cursor(d.path(), "../escape", 1).is_err());
    assert!(store_cursor(d.path(), ".hidden", 1).is_err());
}
