//! In-process tests of the ring: each operation, laps, seeks, files, slots.
#![cfg(not(loom))]

mod common;

use common::*;
use slipstream_ring::layout::*;
use slipstream_ring::*;
use std::time::{Duration, Instant};

fn small() -> Layout {
    Layout::new(4096).max_payload(512).segments(16)
}

/// A record as the tests keep it: seq, kind, payload.
type Owned = (u64, u16, Vec<u8>);

/// Drains `r`, returning the records and laps it yields.
fn drain(r: &mut Reader) -> (Vec<Owned>, Vec<Lag>) {
    let mut recs = Vec::new();
    let mut laps = Vec::new();
    while let Some(item) = r.try_next().unwrap() {
        match item {
            Item::Record(rec) => recs.push((rec.seq, rec.kind, rec.payload.to_vec())),
            Item::Lagged(lag) => laps.push(lag),
        }
    }
    (recs, laps)
}

#[test]
fn records_arrive_in_order_with_their_payloads_across_many_wraps() {
    let mut w = Writer::anonymous(small()).unwrap();
    let mut r = w.reader(Start::Oldest).unwrap();
    let mut next = 1;
    for seq in 1..=5000u64 {
        let p = payload(seq, 300);
        assert_eq!(w.publish(kind_for(seq), &p).unwrap(), seq);
        if seq % 3 == 0 {
            let (recs, laps) = drain(&mut r);
            assert!(laps.is_empty(), "reader keeping up was lapped: {laps:?}");
            for (s, k, p) in recs {
                assert_eq!(s, next);
                check(s, k, &p, 300);
                next += 1;
            }
        }
    }
    let (recs, _) = drain(&mut r);
    next += recs.len() as u64;
    assert_eq!(next, 5001);
    assert!(w.tail() > 10 * 4096, "the ring wrapped many times");
}

#[test]
fn encode_in_place_and_abandon_a_reservation() {
    let mut w = Writer::anonymous(small()).unwrap();
    let mut r = w.reader(Start::Oldest).unwrap();
    let mut res = w.reserve(2, 8).unwrap();
    assert_eq!(res.seq(), 1);
    res.payload_mut().copy_from_slice(&7u64.to_le_bytes());
    let _ = res; // abandoned: never delivered, seq 1 is reused
    assert!(r.try_next().unwrap().is_none());
    let mut res = w.reserve(3, 4).unwrap();
    res.payload_mut().copy_from_slice(b"abcd");
    assert_eq!(res.commit(), 1);
    let (recs, laps) = drain(&mut r);
    assert!(laps.is_empty());
    assert_eq!(recs, vec![(1, 3, b"abcd".to_vec())]);
}

#[test]
fn oversized_and_reserved_kinds_are_typed_errors() {
    let mut w = Writer::anonymous(small()).unwrap();
    assert_eq!(
        w.publish(1, &[0; 513]),
        Err(PublishError::TooLarge { len: 513, max: 512 })
    );
    assert_eq!(w.publish(0, b"x"), Err(PublishError::ReservedKind(0)));
    assert_eq!(
        w.publish(0xFFFF, b"x"),
        Err(PublishError::ReservedKind(0xFFFF))
    );
    assert!(w.publish(1, &[0; 512]).is_ok());
    assert!(PublishError::TooLarge { len: 513, max: 512 }
        .to_string()
        .contains("513"));
}

#[test]
fn a_lapped_reader_learns_exactly_what_it_missed_and_goes_on() {
    let mut w = Writer::anonymous(small()).unwrap();
    let mut r = w.reader(Start::Oldest).unwrap();
    for seq in 1..=10 {
        w.publish(kind_for(seq), &payload(seq, 100)).unwrap();
    }
    // Read three, then fall far behind.
    for want in 1..=3 {
        match r.try_next().unwrap() {
            Some(Item::Record(rec)) => assert_eq!(rec.seq, want),
            other => panic!("{other:?}"),
        }
    }
    for seq in 11..=400 {
        w.publish(kind_for(seq), &payload(seq, 100)).unwrap();
    }
    let (recs, laps) = drain(&mut r);
    // The three read came from one batch; the rest of that batch is still
    // delivered (it was validated when copied), so the lap starts after it.
    assert_eq!(laps.len(), 1, "{laps:?}");
    let lag = laps[0];
    let first_after = recs
        .iter()
        .map(|r| r.0)
        .find(|&s| s > lag.last_missed)
        .unwrap();
    assert_eq!(first_after, lag.last_missed + 1);
    let delivered_before: Vec<u64> = recs
        .iter()
        .map(|r| r.0)
        .filter(|&s| s < lag.first_missed)
        .collect();
    assert_eq!(delivered_before, (4..lag.first_missed).collect::<Vec<_>>());
    let after: Vec<u64> = recs
        .iter()
        .map(|r| r.0)
        .filter(|&s| s > lag.last_missed)
        .collect();
    assert_eq!(after, (lag.last_missed + 1..=400).collect::<Vec<_>>());
    for (s, k, p) in &recs {
        check(*s, *k, p, 100);
    }
    // Oldest policy keeps most of the ring: far more than one record survives.
    assert!(
        after.len() > 10,
        "resumed too close to the head: {}",
        after.len()
    );
}

#[test]
fn lap_policy_newest_skips_to_the_present() {
    let mut w = Writer::anonymous(small()).unwrap();
    let mut r = w.reader(Start::End).unwrap();
    r.set_lap_policy(LapPolicy::Newest);
    for seq in 1..=400 {
        w.publish(kind_for(seq), &payload(seq, 100)).unwrap();
    }
    let (recs, laps) = drain(&mut r);
    assert_eq!(laps.len(), 1);
    assert_eq!(laps[0].first_missed, 1);
    assert!(
        recs.len() <= 2,
        "newest policy delivered {} records",
        recs.len()
    );
    assert_eq!(recs.last().unwrap().0, 400);
}

#[test]
fn seek_to_oldest_latest_end_and_by_sequence() {
    let mut w = Writer::anonymous(small()).unwrap();
    // Empty ring: every start is the beginning.
    for start in [Start::Oldest, Start::Newest, Start::End, Start::Seq(1)] {
        assert_eq!(w.reader(start).unwrap().next_seq(), 1, "{start:?}");
    }
    assert!(matches!(
        w.reader(Start::Seq(2)),
        Err(SeekError::InFuture {
            requested: 2,
            next: 1
        })
    ));
    for seq in 1..=300 {
        w.publish(kind_for(seq), &payload(seq, 60)).unwrap();
    }
    let oldest = w.reader(Start::Oldest).unwrap().next_seq();
    assert!(oldest > 1 && oldest < 300, "oldest {oldest}");
    assert_eq!(w.reader(Start::Newest).unwrap().next_seq(), 300);
    assert_eq!(w.reader(Start::End).unwrap().next_seq(), 301);
    for n in [oldest, oldest + 1, 250, 299, 300, 301] {
        let mut r = w.reader(Start::Seq(n)).unwrap();
        assert_eq!(r.next_seq(), n);
        if n <= 300 {
            match r.try_next().unwrap() {
                Some(Item::Record(rec)) => {
                    assert_eq!(rec.seq, n);
                    check(n, rec.kind, rec.payload, 60);
                }
                other => panic!("seq {n}: {other:?}"),
            }
        } else {
            assert!(r.try_next().unwrap().is_none());
        }
    }
    assert_eq!(
        w.reader(Start::Seq(oldest - 1)).unwrap_err(),
        SeekError::NotRetained {
            requested: oldest - 1,
            oldest
        }
    );
    assert!(matches!(
        w.reader(Start::Seq(302)),
        Err(SeekError::InFuture {
            requested: 302,
            next: 301
        })
    ));
}

#[test]
fn resume_from_a_saved_cursor_or_report_the_gap() {
    let mut w = Writer::anonymous(small()).unwrap();
    for seq in 1..=20 {
        w.publish(kind_for(seq), &payload(seq, 60)).unwrap();
    }
    let mut r = w.reader(Start::Oldest).unwrap();
    for _ in 0..5 {
        r.try_next().unwrap().unwrap();
    }
    let (seq, pos) = (r.next_seq(), r.position());
    assert_eq!(seq, 6);
    // Still in the ring: resumes exactly.
    let mut again = w.reader(Start::End).unwrap();
    again.resume(seq, pos).unwrap();
    let (recs, laps) = drain(&mut again);
    assert!(laps.is_empty());
    assert_eq!(recs.first().unwrap().0, 6);
    // A wrong position hint is found again by sequence.
    let mut hinted = w.reader(Start::End).unwrap();
    hinted.resume(seq, pos + 8).unwrap();
    assert_eq!(hinted.next_seq(), 6);
    // Overwritten: the first item is the exact gap.
    for seq in 21..=500 {
        w.publish(kind_for(seq), &payload(seq, 60)).unwrap();
    }
    let mut late = w.reader(Start::End).unwrap();
    late.resume(seq, pos).unwrap();
    match late.try_next().unwrap() {
        Some(Item::Lagged(lag)) => {
            assert_eq!(lag.first_missed, 6);
            let next = late.next_seq();
            assert_eq!(lag.last_missed + 1, next);
            match late.try_next().unwrap() {
                Some(Item::Record(rec)) => assert_eq!(rec.seq, next),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wait_is_woken_by_an_immediate_commit() {
    let mut w = Writer::anonymous(small()).unwrap();
    w.set_wake_mode(Wake::Immediate);
    let mut r = w.reader(Start::End).unwrap();
    let t = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(Item::Record(rec)) = r.try_next().unwrap() {
                return rec.seq;
            }
            assert!(Instant::now() < deadline, "never woken");
            r.wait(Duration::from_secs(10));
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    w.publish(1, b"wake").unwrap();
    assert_eq!(t.join().unwrap(), 1);
}

#[test]
fn deferred_commits_wake_on_flush_and_from_a_waker_thread() {
    let mut w = Writer::anonymous(small()).unwrap();
    assert_eq!(w.wake_mode(), Wake::Deferred);
    // Flush with nobody asleep makes no system call.
    w.publish(1, b"a").unwrap();
    assert!(!w.flush());
    assert!(!w.flush(), "nothing committed since the last flush");
    let mut r = w.reader(Start::End).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        tx.send(()).unwrap();
        while !r.wait(Duration::from_secs(20)) {}
        matches!(r.try_next().unwrap(), Some(Item::Record(rec)) if rec.seq == 2)
    });
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(50)); // let it fall asleep
    w.publish(1, b"b").unwrap();
    let mut woke = false;
    for _ in 0..200 {
        woke |= w.flush();
        if t.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
        w.publish(1, b"again").unwrap();
    }
    assert!(t.join().unwrap());
    assert!(woke, "flush made the wake call for a sleeping reader");

    let mut waker = w.waker();
    let mut r = w.reader(Start::End).unwrap();
    let t = std::thread::spawn(move || {
        while !r.wait(Duration::from_secs(20)) {}
        r.try_next().unwrap().is_some()
    });
    std::thread::sleep(Duration::from_millis(50));
    w.publish(1, b"c").unwrap();
    let start = Instant::now();
    while !t.is_finished() && start.elapsed() < Duration::from_secs(20) {
        waker.wake_if_needed();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(t.join().unwrap());
}

#[test]
fn stress_one_writer_three_readers_constant_laps() {
    const N: u64 = 300_000;
    const MAX: usize = 200;
    let mut w = Writer::anonymous(Layout::new(8192).max_payload(MAX as u32).segments(32)).unwrap();
    let readers: Vec<_> = (0..3)
        .map(|i| {
            let mut r = w.reader(Start::Oldest).unwrap();
            if i == 2 {
                r.set_lap_policy(LapPolicy::Newest);
            }
            if i == 1 {
                r.set_batch_bytes(64);
            }
            std::thread::spawn(move || {
                let mut next = 1u64;
                let (mut got, mut missed, mut laps) = (0u64, 0u64, 0u64);
                let deadline = Instant::now() + Duration::from_secs(120);
                while next <= N {
                    assert!(Instant::now() < deadline, "reader stuck at {next}");
                    match r.try_next().unwrap() {
                        Some(Item::Record(rec)) => {
                            assert_eq!(rec.seq, next, "gap not reported as lag");
                            check(rec.seq, rec.kind, rec.payload, MAX);
                            next += 1;
                            got += 1;
                        }
                        Some(Item::Lagged(lag)) => {
                            assert_eq!(lag.first_missed, next, "lag does not start where we were");
                            assert!(lag.last_missed >= lag.first_missed);
                            missed += lag.count();
                            next = lag.last_missed + 1;
                            laps += 1;
                        }
                        None => std::hint::spin_loop(),
                    }
                }
                assert_eq!(got + missed, N, "every seq delivered or reported missed");
                (got, missed, laps)
            })
        })
        .collect();
    let mut buf = [0u8; MAX];
    for seq in 1..=N {
        let len = len_for(seq, MAX);
        fill(seq, &mut buf[..len]);
        let mut res = w.reserve(kind_for(seq), len).unwrap();
        res.payload_mut().copy_from_slice(&buf[..len]);
        assert_eq!(res.commit(), seq);
        if seq % 64 == 0 {
            std::thread::yield_now();
        }
    }
    for t in readers {
        let (got, missed, laps) = t.join().unwrap();
        eprintln!("reader: {got} delivered, {missed} missed in {laps} laps");
        assert!(got > 0);
    }
}

mod files {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileExt;

    #[test]
    fn producer_restart_resumes_the_sequence_with_a_new_epoch() {
        let path = TempPath::new("restart");
        let mut w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        assert_eq!(w.epoch(), 1);
        for seq in 1..=50 {
            w.publish(kind_for(seq), &payload(seq, 100)).unwrap();
        }
        let mut r = Reader::attach(&path.open(), Start::Oldest).unwrap();
        assert_eq!(r.access(), Access::ReadOnly);
        path.prepare();
        r.set_wake_file(
            std::fs::OpenOptions::new()
                .write(true)
                .open(sidecar::wake_path(&path.0))
                .unwrap(),
        );
        assert_eq!(r.access(), Access::ReadWrite);
        assert!(producer_alive(&path.open()).unwrap());
        assert_eq!(r.producer().state, ProducerState::Open);
        let (before, _) = drain(&mut r);
        assert_eq!(before.last().unwrap().0, 50);
        drop(w);
        assert!(!producer_alive(&path.open()).unwrap());
        assert_eq!(r.producer().state, ProducerState::Closed);
        let mut w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        assert_eq!(w.epoch(), 2);
        assert_eq!(w.next_seq(), 51);
        for seq in 51..=80 {
            w.publish(kind_for(seq), &payload(seq, 100)).unwrap();
        }
        let (recs, laps) = drain(&mut r);
        assert!(laps.is_empty(), "{laps:?}");
        assert_eq!(
            recs.iter().map(|r| r.0).collect::<Vec<_>>(),
            (51..=80).collect::<Vec<_>>()
        );
        for (s, k, p) in &recs {
            check(*s, *k, p, 100);
        }
    }

    #[test]
    fn a_torn_record_is_never_delivered_and_its_seq_is_reused() {
        let path = TempPath::new("torn");
        let mut w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        w.publish(1, b"committed").unwrap();
        // Half-write a record, as a producer killed mid-record would leave it.
        let mut res = w.reserve(1, 64).unwrap();
        res.payload_mut()[..10].copy_from_slice(b"torn-torn-");
        let _ = res; // never committed: the record stays torn in the file
        drop(w);
        let mut r = Reader::attach(&path.open(), Start::Oldest).unwrap();
        let w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        assert_eq!(w.next_seq(), 2);
        let (recs, laps) = drain(&mut r);
        assert!(laps.is_empty());
        assert_eq!(recs, vec![(1, 1, b"committed".to_vec())]);
    }

    #[test]
    fn recovery_walks_from_a_latest_left_one_record_behind() {
        let path = TempPath::new("latest");
        let mut w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        let mut positions = vec![];
        for seq in 1..=5 {
            positions.push(w.tail());
            w.publish(1, &[seq as u8; 24]).unwrap();
        }
        drop(w);
        // A producer killed between its tail and latest stores leaves latest on
        // the record before the last one.
        let f = path.open();
        f.write_all_at(&positions[3].to_le_bytes(), OFF_LATEST as u64)
            .unwrap();
        let w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        assert_eq!(w.next_seq(), 6);
        assert_eq!(
            Reader::attach(&path.open(), Start::End).unwrap().next_seq(),
            6
        );
    }

    #[test]
    fn a_producer_reopening_a_corrupt_ring_gets_an_error_not_a_panic() {
        let path = TempPath::new("corrupt-reopen");
        let mut w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        for seq in 1..=5 {
            w.publish(1, &[seq as u8; 24]).unwrap();
        }
        let tail = w.tail();
        drop(w);
        let good = std::fs::read(&path.0).unwrap();
        let f = path.open();
        let reopen = |off: u64, bytes: &[u8]| {
            f.write_all_at(&good, 0).unwrap();
            f.write_all_at(bytes, off).unwrap();
            Writer::open(path.open(), path.lock(), small(), IfExists::Resume)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        // An unaligned latest, counters near 2^64, a last record with seq 2^64-1.
        assert!(reopen(OFF_LATEST as u64, &(tail - 41).to_le_bytes()).contains("latest"));
        let near = u64::MAX - 7;
        let mut counters = (near - 8).to_le_bytes().to_vec(); // tail
        counters.extend((near - 48).to_le_bytes()); // latest
        f.write_all_at(&good, 0).unwrap();
        f.write_all_at(&counters, OFF_TAIL as u64).unwrap();
        let err = Writer::open(path.open(), path.lock(), small(), IfExists::Resume)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("tail_intent"), "{err}");
        let mut both = near.to_le_bytes().to_vec();
        both.extend([0; 120]);
        both.extend(&counters);
        assert!(reopen(OFF_TAIL_INTENT as u64, &both).contains("2^64"));
        // Recovery reads the commit slots, not records: a slot naming 2^64-1,
        // or no slot matching the tail, is corruption.
        for slot in [OFF_COMMITS as u64, OFF_COMMITS as u64 + 16] {
            let mut bytes = tail.to_le_bytes().to_vec();
            bytes.extend(u64::MAX.to_le_bytes());
            assert!(reopen(slot, &bytes).contains("commit slot"));
        }
        let mut bytes = (tail + 8).to_le_bytes().to_vec();
        bytes.extend(7u64.to_le_bytes());
        bytes.extend((tail + 16).to_le_bytes());
        assert!(reopen(OFF_COMMITS as u64, &bytes).contains("no single commit slot"));
        // A record's header is not needed: garbage over the last record
        // does not stop the next producer (it is not read).
        let last = small().geometry().unwrap().data_offset + tail - record_len(24);
        f.write_all_at(&good, 0).unwrap();
        f.write_all_at(&[0xee; 16], last).unwrap();
        assert_eq!(
            Writer::open(path.open(), path.lock(), small(), IfExists::Resume)
                .unwrap()
                .next_seq(),
            6
        );
        f.write_all_at(&good, 0).unwrap();
        assert_eq!(
            Writer::open(path.open(), path.lock(), small(), IfExists::Resume)
                .unwrap()
                .next_seq(),
            6
        );
    }

    #[test]
    fn a_second_producer_is_refused_by_name() {
        let path = TempPath::new("second");
        let _w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        let err = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap_err();
        assert!(
            matches!(err, OpenError::ProducerExists { pid } if pid == std::process::id()),
            "{err}"
        );
        assert!(err.to_string().contains("another producer"));
    }

    #[test]
    fn another_layout_is_refused_unless_asked() {
        let path = TempPath::new("layout");
        drop(Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap());
        let other = Layout::new(8192).max_payload(512).segments(16);
        let err = Writer::open(path.open(), path.lock(), other, IfExists::Resume).unwrap_err();
        assert!(matches!(err, OpenError::LayoutMismatch { .. }), "{err}");
        let w = Writer::open(path.open(), path.lock(), other, IfExists::ResumeAnyLayout).unwrap();
        assert_eq!(w.geometry().capacity, 4096);
    }

    #[test]
    fn bad_files_get_clear_errors() {
        let path = TempPath::new("bad");
        // Empty.
        let f = path.open();
        assert!(matches!(
            Reader::attach(&f, Start::Oldest),
            Err(AttachError::Open(OpenError::NotInitialized))
        ));
        // Another format, even shorter than a ring header: not a ring (the
        // magic is checked before the length), not "a truncated ring".
        f.write_all_at(b"#!/bin/sh\necho not a ring\n", 0).unwrap();
        assert!(matches!(
            Reader::attach(&f, Start::Oldest),
            Err(AttachError::Open(OpenError::Layout(LayoutError::BadMagic(m)))) if &m == b"#!/bin/s"
        ));
        // A ring's first bytes and nothing more: truncated.
        f.set_len(0).unwrap();
        f.write_all_at(b"SLIPSTRM\x01\0\0\0", 0).unwrap();
        assert!(matches!(
            Reader::attach(&f, Start::Oldest),
            Err(AttachError::Open(OpenError::Truncated {
                expected: 768,
                actual: 12
            }))
        ));
        f.write_all_at(&[0x42; 4096], 0).unwrap();
        let err = Reader::attach(&f, Start::Oldest).unwrap_err();
        assert!(err.to_string().contains("not a Slipstream ring"), "{err}");
        assert!(matches!(
            Writer::open(path.open(), path.lock(), small(), IfExists::Resume),
            Err(OpenError::Layout(LayoutError::BadMagic(_)))
        ));
        f.set_len(0).unwrap();
        // A real ring, then damaged in ways a reader must name.
        drop(Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap());
        let good = std::fs::read(&path.0).unwrap();
        let damage = |off: u64, bytes: &[u8]| {
            f.write_all_at(&good, 0).unwrap();
            f.write_all_at(bytes, off).unwrap();
            Reader::attach(&f, Start::Oldest).unwrap_err().to_string()
        };
        assert!(damage(8, &9u32.to_le_bytes()).contains("version 9"));
        assert!(damage(24, &1000u64.to_le_bytes()).contains("capacity 1000"));
        assert!(damage(40, &12345u64.to_le_bytes()).contains("data_offset"));
        f.write_all_at(&good, 0).unwrap();
        f.set_len(good.len() as u64 - 1).unwrap();
        assert!(matches!(
            Reader::attach(&f, Start::Oldest),
            Err(AttachError::Open(OpenError::Truncated { .. }))
        ));
    }

    #[test]
    fn corrupt_records_and_counters_are_typed_errors() {
        let path = TempPath::new("corrupt");
        let mut w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        for seq in 1..=5 {
            w.publish(1, &[seq as u8; 40]).unwrap();
        }
        let g = *w.geometry();
        drop(w);
        let f = path.open();
        let rec2 = g.data_offset + record_len(40);
        // Kind 0.
        f.write_all_at(&0u16.to_le_bytes(), rec2 + 4).unwrap();
        let mut r = Reader::attach(&f, Start::Oldest).unwrap();
        match r.try_next() {
            Ok(Some(Item::Record(rec))) => assert_eq!(rec.seq, 1),
            other => panic!("{other:?}"),
        }
        let err = r.try_next().unwrap_err();
        assert!(err.to_string().contains("kind 0"), "{err}");
        assert!(
            r.try_next().is_err(),
            "the error is reported again, not skipped"
        );
        // Impossible length.
        f.write_all_at(&1u16.to_le_bytes(), rec2 + 4).unwrap();
        f.write_all_at(&100_000u32.to_le_bytes(), rec2).unwrap();
        let mut r = Reader::attach(&f, Start::Oldest).unwrap();
        r.try_next().unwrap();
        assert!(r.try_next().unwrap_err().to_string().contains("exceeds"));
        // A sequence that goes backwards.
        f.write_all_at(&40u32.to_le_bytes(), rec2).unwrap();
        f.write_all_at(&1u64.to_le_bytes(), rec2 + 8).unwrap();
        let mut r = Reader::attach(&f, Start::Oldest).unwrap();
        r.try_next().unwrap();
        assert!(matches!(
            r.try_next(),
            Err(ReadError::Corrupt(CorruptError::Sequence {
                expected: 2,
                found: 1,
                ..
            }))
        ));
        // tail_intent below tail.
        f.write_all_at(&2u64.to_le_bytes(), rec2 + 8).unwrap();
        f.write_all_at(&8u64.to_le_bytes(), OFF_TAIL_INTENT as u64)
            .unwrap();
        let err = Reader::attach(&f, Start::Oldest).unwrap_err();
        assert!(err.to_string().contains("tail_intent"), "{err}");
        assert!(Writer::open(path.open(), path.lock(), small(), IfExists::Resume).is_err());
    }

    /// A caught-up reader learns of a new record from its sequence word, not
    /// from `tail` (so that polling readers do not take the commit line from
    /// the writer). A committed record whose sequence word is wrong must still
    /// be reported, not waited for forever: at once after a `wait` that saw
    /// the tail move, and within a bounded number of polls without one.
    #[test]
    fn a_wrong_sequence_word_at_a_caught_up_reader_is_reported_not_waited_for() {
        let path = TempPath::new("seqword");
        let mut w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        w.publish(1, &[1; 40]).unwrap();
        let g = *w.geometry();
        let f = path.open();
        let mut polled = Reader::attach(&f, Start::Oldest).unwrap();
        let mut waited = Reader::attach(&f, Start::Oldest).unwrap();
        for r in [&mut polled, &mut waited] {
            assert!(matches!(r.try_next(), Ok(Some(Item::Record(_)))));
            assert!(r.try_next().unwrap().is_none(), "caught up");
        }
        w.publish(1, &[2; 40]).unwrap();
        // The second record's sequence word says 7, not 2.
        let rec2 = g.data_offset + record_len(40);
        f.write_all_at(&7u64.to_le_bytes(), rec2 + 8).unwrap();
        let is_sequence_error = |r: &Result<Option<Item<'_>>, ReadError>| {
            matches!(
                r,
                Err(ReadError::Corrupt(CorruptError::Sequence {
                    expected: 2,
                    found: 7,
                    ..
                }))
            )
        };
        // Polling alone: an error within the recheck bound (1024 polls).
        let mut polls = 0;
        loop {
            polls += 1;
            let got = polled.try_next();
            if is_sequence_error(&got) {
                break;
            }
            assert!(matches!(got, Ok(None)), "{got:?}");
            assert!(polls <= 1025, "still waiting after {polls} polls");
        }
        // Waiting: the wait sees the tail past the cursor, and the next read
        // reports the record.
        // (`available` may say no: it trusts the record's words too.)
        let t = Instant::now();
        assert!(waited.wait(Duration::from_secs(5)));
        assert!(
            t.elapsed() < Duration::from_secs(4),
            "wait returned at once"
        );
        assert!(waited.available(), "after that wait, the reader knows");
        assert!(is_sequence_error(&waited.try_next()));
    }

    #[test]
    fn a_read_only_file_gives_a_polling_reader() {
        let path = TempPath::new("ro");
        let mut w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        w.publish(1, b"x").unwrap();
        let ro = std::fs::File::open(&path.0).unwrap();
        let mut r = Reader::attach(&ro, Start::Oldest).unwrap();
        assert_eq!(r.access(), Access::ReadOnly);
        assert!(r.try_next().unwrap().is_some());
        let t = Instant::now();
        assert!(!r.wait(Duration::from_millis(20)));
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn cursors_resume_by_name_refuse_live_names_and_reclaim_dead_ones() {
        let path = TempPath::new("slots");
        let _w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        path.prepare();
        let (a, saved) = Slot::claim(&path.0, "alpha").unwrap();
        assert!(saved.is_none());
        a.store_cursor(17, 1024);
        a.count(5, 2);
        let (b, _) = Slot::claim(&path.0, "beta").unwrap();
        assert!(matches!(
            Slot::claim(&path.0, "alpha"),
            Err(SlotError::NameInUse { .. })
        ));
        for bad in ["", ".hidden", "../x", "a/b", &"x".repeat(65)] {
            assert!(
                matches!(Slot::claim(&path.0, bad), Err(SlotError::InvalidName(_))),
                "{bad:?}"
            );
        }
        let slots = read_slots(&path.0).unwrap();
        assert_eq!(slots.len(), 2);
        let alpha = slots.iter().find(|s| s.name == "alpha").unwrap();
        assert_eq!(alpha.live, Some(true));
        assert_eq!(alpha.problem, None);
        assert_eq!(
            (
                alpha.next_seq,
                alpha.position,
                alpha.delivered,
                alpha.missed,
                alpha.laps
            ),
            (17, 1024, 5, 2, 1)
        );
        drop(b);
        assert_eq!(
            read_slots(&path.0).unwrap()[1].live,
            Some(false),
            "beta released its name"
        );
        // Nothing is evicted: a new name gets its own file.
        let (_g, saved) = Slot::claim(&path.0, "gamma").unwrap();
        assert!(saved.is_none());
        drop(a);
        let (a2, saved) = Slot::claim(&path.0, "alpha").unwrap();
        assert_eq!(
            saved,
            Some(SavedCursor {
                next_seq: 17,
                position: 1024
            })
        );
        // Lifetime counters survive the new claim.
        a2.count(1, 0);
        let alpha = read_slots(&path.0).unwrap().remove(0);
        assert_eq!((alpha.delivered, alpha.claims), (6, 2));
        // A live name cannot be removed; a dead one can.
        assert!(matches!(
            remove_slot(&path.0, "alpha"),
            Err(SlotError::NameInUse { .. })
        ));
        remove_slot(&path.0, "beta").unwrap();
        assert!(matches!(
            remove_slot(&path.0, "beta"),
            Err(SlotError::NotFound(_))
        ));
        let names: Vec<String> = read_slots(&path.0)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["alpha", "gamma"]);
    }

    /// Issue 9.4: of 8 threads racing to claim one name, exactly one wins
    /// each round, for 1,000 rounds (with a removal racing them too, every
    /// tenth round).
    #[test]
    fn name_claims_are_exclusive_under_concurrency() {
        use std::sync::{Arc, Barrier};
        let path = TempPath::new("race");
        let _w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        path.prepare();
        let threads = 8;
        let barrier = Arc::new(Barrier::new(threads + 1));
        let ring = Arc::new(path.0.clone());
        let winners = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let holding = Arc::new(Barrier::new(threads + 1));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (barrier, holding, ring, winners) = (
                    barrier.clone(),
                    holding.clone(),
                    ring.clone(),
                    winners.clone(),
                );
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        barrier.wait();
                        let got = Slot::claim(&ring, "contested");
                        if got.is_ok() {
                            winners.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        } else {
                            assert!(matches!(got, Err(SlotError::NameInUse { .. })), "{got:?}");
                        }
                        // Hold the win until every claimant has tried.
                        holding.wait();
                        drop(got);
                    }
                })
            })
            .collect();
        for round in 0..1000 {
            if round % 10 == 0 {
                let _ = remove_slot(&path.0, "contested");
            }
            barrier.wait();
            holding.wait();
            let w = winners.swap(0, std::sync::atomic::Ordering::SeqCst);
            assert_eq!(w, 1, "round {round}: {w} claims of one name succeeded");
        }
        for h in handles {
            h.join().unwrap();
        }
    }

    /// Regression: a released name stayed locked (its consumer looked live,
    /// its name in use) for as long as a child forked meanwhile by another
    /// thread had not called exec: the child's copy of the descriptor kept
    /// the lock.
    #[test]
    fn a_released_name_is_free_at_once_though_a_forked_child_holds_its_descriptor() {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::{fork, ForkResult};
        let path = TempPath::new("forked");
        let _w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        path.prepare();
        let (a, _) = Slot::claim(&path.0, "alpha").unwrap();
        // SAFETY: the child calls only async-signal-safe functions (pause,
        // _exit) and touches no state of the parent's other threads.
        let child = match unsafe { fork() }.unwrap() {
            // SAFETY: pause and _exit are async-signal-safe, all a forked
            // child of a threaded process may call.
            ForkResult::Child => unsafe {
                nix::libc::pause();
                nix::libc::_exit(0)
            },
            ForkResult::Parent { child } => child,
        };
        drop(a);
        let live = read_slots(&path.0).unwrap()[0].live;
        let again = Slot::claim(&path.0, "alpha").map(|_| ());
        let _ = kill(child, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(child, None);
        assert_eq!(live, Some(false), "the released name still looks live");
        again.unwrap();
    }

    /// Regression: garbage over a live consumer's cursor (a stray write by a
    /// process of its own user) must not make its next count overflow (a
    /// panic in debug builds), and an overwritten ring_id must not make the
    /// next claim drop the cursor as another ring's.
    #[test]
    fn a_scribbled_cursor_is_healed_by_its_owner_and_its_counters_saturate() {
        let path = TempPath::new("scribbled");
        let _w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        path.prepare();
        let (a, _) = Slot::claim(&path.0, "alpha").unwrap();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(sidecar::cursor_path(&path.0, "alpha"))
            .unwrap();
        // ring_id, next_seq, position, attached time, delivered, missed: all ones.
        file.write_all_at(&[0xff; 48], 80).unwrap();
        a.count(3, 4);
        a.store_cursor(17, 1024);
        let s = read_slots(&path.0).unwrap().remove(0);
        assert_eq!((s.delivered, s.missed), (u64::MAX, u64::MAX));
        drop(a);
        let (_a, saved) = Slot::claim(&path.0, "alpha").unwrap();
        assert_eq!(
            saved,
            Some(SavedCursor {
                next_seq: 17,
                position: 1024
            })
        );
    }

    /// A truncated or garbage cursor file is reported by `read_slots`, and
    /// the next claim of its name starts afresh rather than failing.
    #[test]
    fn a_truncated_cursor_file_is_reported_and_reclaimed() {
        let path = TempPath::new("trunc-cursor");
        let _w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        path.prepare();
        let (a, _) = Slot::claim(&path.0, "alpha").unwrap();
        a.store_cursor(5, 64);
        drop(a);
        let cursor = sidecar::cursor_path(&path.0, "alpha");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&cursor)
            .unwrap()
            .set_len(10)
            .unwrap();
        let s = read_slots(&path.0).unwrap().remove(0);
        assert!(s.problem.unwrap().contains("shorter"));
        // Made readable by others meanwhile: the next claim closes it again.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cursor, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (_a, saved) = Slot::claim(&path.0, "alpha").unwrap();
        assert_eq!(saved, None);
        let mode = std::fs::metadata(&cursor).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    /// Issue 9.3: a producer killed while creating a ring (magic still zero,
    /// file partly written) is replaced by the next producer, which
    /// initialises the ring again; a reader meanwhile gets "not initialised".
    #[test]
    fn a_half_created_ring_is_initialised_by_the_next_producer() {
        for len in [8u64, 100, 768, 4096, 5000] {
            let path = TempPath::new("half");
            path.open().set_len(len).unwrap();
            assert!(matches!(
                Reader::attach(&path.open(), Start::Oldest),
                Err(AttachError::Open(
                    OpenError::NotInitialized | OpenError::Truncated { .. }
                ))
            ));
            let mut w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
            assert_eq!(w.publish(1, b"x").unwrap(), 1);
            let mut r = Reader::attach(&path.open(), Start::Oldest).unwrap();
            assert!(matches!(r.try_next().unwrap(), Some(Item::Record(rec)) if rec.seq == 1));
        }
    }

    /// Issue 9.2: a version-1 ring is refused with a message that says how to
    /// replace it.
    #[test]
    fn a_version_1_ring_is_refused_with_how_to_recreate_it() {
        let path = TempPath::new("v1");
        drop(Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap());
        path.open().write_all_at(&1u32.to_le_bytes(), 8).unwrap();
        let err = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap_err();
        assert!(err.to_string().contains("--recreate"), "{err}");
        let err = Reader::attach(&path.open(), Start::Oldest).unwrap_err();
        assert!(err.to_string().contains("version 1"), "{err}");
    }

    /// The ring's `first_seq` is a creation parameter: sequence numbers
    /// start there, and every start position knows it.
    #[test]
    fn first_seq_is_set_at_creation_and_readers_start_there() {
        let path = TempPath::new("first");
        let mut w = Writer::create(path.open(), path.lock(), small(), 1_000_000).unwrap();
        let mut r = Reader::attach(&path.open(), Start::End).unwrap();
        assert_eq!((r.next_seq(), r.first_seq()), (1_000_000, 1_000_000));
        assert_eq!(w.publish(1, b"a").unwrap(), 1_000_000);
        assert!(matches!(r.try_next().unwrap(), Some(Item::Record(rec)) if rec.seq == 1_000_000));
        drop(w);
        let w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        assert_eq!(w.next_seq(), 1_000_001);
        assert!(matches!(
            Writer::create(TempPath::new("first0").open(), path.lock(), small(), 0),
            Err(OpenError::Layout(LayoutError::FirstSeq(0)))
        ));
    }

    /// Issue 9.1: a reader's lock on anything it can open does not stop a
    /// producer from starting, and liveness follows the producer's process.
    #[test]
    fn reader_locks_on_the_ring_do_not_block_the_producer() {
        let path = TempPath::new("rdlock");
        drop(Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap());
        let ro = std::fs::File::open(&path.0).unwrap();
        // An OFD read lock on byte 0 and a whole-file flock, through a read-only descriptor.
        // SAFETY: flock is a plain C struct for which all-zero bytes are valid.
        let mut l: nix::libc::flock = unsafe { std::mem::zeroed() };
        l.l_type = nix::libc::F_RDLCK as _;
        l.l_whence = nix::libc::SEEK_SET as _;
        l.l_len = 0;
        nix::fcntl::fcntl(ro.as_fd(), nix::fcntl::FcntlArg::F_OFD_SETLK(&l)).unwrap();
        rustix::fs::flock(&ro, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
        let w = Writer::open(path.open(), path.lock(), small(), IfExists::Resume).unwrap();
        assert!(producer_alive(&ro).unwrap());
        drop(w);
        assert!(!producer_alive(&ro).unwrap());
    }
}

#[test]
fn tiny_ring_laps_exactly_like_the_loom_model() {
    // The smallest layout format v2 allows with the loom models' 24-byte
    // records (loom itself runs them on 64 bytes: see layout.rs).
    let layout = Layout::new(128).max_payload(8).segments(4).page_size(64);
    for reads_before in 0..3 {
        let mut w = Writer::anonymous(layout).unwrap();
        let mut r = w.reader(Start::Oldest).unwrap();
        r.set_batch_bytes(24);
        let mut next = 1;
        for seq in 1..=7u64 {
            w.publish(1, &[seq as u8; 8]).unwrap();
            if seq <= reads_before {
                match r.try_next().unwrap() {
                    Some(Item::Record(rec)) => assert_eq!(rec.seq, next),
                    other => panic!("{other:?}"),
                }
                next += 1;
            }
        }
        while let Some(item) = r
            .try_next()
            .unwrap_or_else(|e| panic!("reads_before {reads_before}: {e}"))
        {
            match item {
                Item::Record(rec) => {
                    assert_eq!(rec.seq, next);
                    assert_eq!(rec.payload, &[rec.seq as u8; 8][..]);
                    next += 1;
                }
                Item::Lagged(lag) => {
                    assert_eq!(lag.first_missed, next);
                    next = lag.last_missed + 1;
                }
            }
        }
        assert_eq!(next, 8);
    }
}

#[test]
fn a_pending_lag_from_resume_is_available_at_once() {
    let mut w = Writer::anonymous(small()).unwrap();
    for seq in 1..=500 {
        w.publish(kind_for(seq), &payload(seq, 60)).unwrap();
    }
    let mut r = w.reader(Start::End).unwrap();
    r.resume(3, 0).unwrap(); // long overwritten
    assert!(r.available(), "the lag report is ready without waiting");
    let t = Instant::now();
    assert!(r.wait(Duration::from_secs(10)));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(matches!(r.try_next().unwrap(), Some(Item::Lagged(lag)) if lag.first_missed == 3));
}

#[test]
fn a_whole_block_of_4_mib_round_trips_and_one_byte_more_is_refused() {
    // A suitably sized ring: a record takes at most a quarter of its 32 MiB.
    let layout = Layout::new(32 << 20).max_payload(4 << 20);
    let mut w = Writer::anonymous(layout).unwrap();
    let mut r = w.reader(Start::Oldest).unwrap();
    let mut block = vec![0u8; 4 << 20];
    fill(7, &mut block);
    for round in 0..6u64 {
        // Six laps' worth of ring position: the big records wrap and pad too.
        let mut res = w.reserve(4, block.len()).unwrap();
        res.payload_mut().copy_from_slice(&block);
        assert_eq!(res.commit(), round + 1);
        match r.try_next().unwrap() {
            Some(Item::Record(rec)) => {
                assert_eq!(rec.seq, round + 1);
                assert!(rec.payload == &block[..], "4 MiB payload intact");
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
    assert_eq!(
        w.reserve(4, (4 << 20) + 1).err(),
        Some(PublishError::TooLarge {
            len: (4 << 20) + 1,
            max: 4 << 20
        })
    );
}
