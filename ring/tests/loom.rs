//! loom models of the ring's protocols, on an in-process ring of loom atomics.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p slipstream-ring --test loom --release`
//!
//! loom explores the interleavings (and the weak-memory outcomes it models) of
//! the writer and reader threads, up to a preemption bound. A reader that
//! accepts an overwritten record, mis-reports a lap, or sleeps through a wake
//! (which loom reports as a deadlock) fails the model.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use slipstream_ring::{Item, Layout, Start, Wake, Writer};
use std::time::Duration;

/// 64 bytes of data: the third 24-byte record (after 16 bytes of padding)
/// overwrites the first. Under loom the writer announces `tail_intent` a word
/// past each record's end (`intent_chunk`), so the models also cover readers
/// told they were lapped by an intent that runs ahead.
fn layout() -> Layout {
    Layout::new(64).max_payload(8).segments(4).page_size(64)
}

/// Runs a model with a preemption bound (`LOOM_MAX_PREEMPTIONS` overrides it).
fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(bound);
    }
    b.max_branches = 100_000;
    b.check(f);
}

/// Checks one item against what the writer wrote, and advances `next`.
fn check(item: Item<'_>, next: &mut u64, last: u64) {
    match item {
        Item::Record(rec) => {
            assert_eq!(rec.seq, *next, "a gap was not reported");
            assert_eq!(
                rec.payload,
                &[rec.seq as u8; 8][..],
                "torn record delivered"
            );
            *next += 1;
        }
        Item::Lagged(lag) => {
            assert_eq!(
                lag.first_missed, *next,
                "lag does not start at the first missed"
            );
            assert!(lag.last_missed >= *next && lag.last_missed <= last);
            *next = lag.last_missed + 1;
        }
    }
}

/// The reader makes `calls` reads concurrently with the writer (no spinning,
/// so that the model stays finite), then, after the writer is done, drains
/// the rest: every sequence number must be delivered intact or reported
/// missed, exactly once.
fn lap_model(batch: usize, calls: usize) {
    lap_model_with(batch, calls, false)
}

/// `lap_model`, reading with `Reader::receive` (the batch API) if `receive`.
fn lap_model_with(batch: usize, calls: usize, receive: bool) {
    const LAST: u64 = 3;
    let mut w = Writer::anonymous(layout()).unwrap();
    let mut r = w.reader(Start::Oldest).unwrap();
    r.set_batch_bytes(batch);
    let reader = thread::spawn(move || {
        let mut next = 1;
        for _ in 0..calls {
            if receive {
                r.receive(usize::MAX, |item| check(item, &mut next, LAST))
                    .unwrap();
            } else if let Some(item) = r.try_next().unwrap() {
                check(item, &mut next, LAST);
            }
        }
        (r, next)
    });
    for seq in 1..=LAST {
        assert_eq!(w.publish(1, &[seq as u8; 8]).unwrap(), seq);
    }
    let (mut r, mut next) = reader.join().unwrap();
    let before = format!("{r:?} next={next} tail={}", w.tail());
    while let Some(item) = r
        .try_next()
        .unwrap_or_else(|e| panic!("{e}: reader {before}"))
    {
        check(item, &mut next, LAST);
    }
    assert_eq!(next, LAST + 1, "every sequence number accounted for");
}

/// Commit and lap, one record per validation: the writer writes past a whole
/// lap while the reader copies. The reader must never deliver a record the
/// writer overwrote during the copy, and must report every skipped number.
#[test]
fn commit_and_lap() {
    model(2, || lap_model(24, 2));
}

/// The same, with a batch of several records validated once.
#[test]
fn batched_copy_and_lap() {
    model(2, || lap_model(64 * 1024, 2));
}

/// The batch API over the same laps: `receive` hands over the records of one
/// validated copy, parsed lazily from it.
#[test]
fn batched_receive_and_lap() {
    model(2, || lap_model_with(64 * 1024, 2, true));
}

/// Sleep and wake, Immediate mode: the commit itself wakes the sleeper. A
/// lost wake-up leaves the reader blocked forever, which loom reports.
#[test]
fn sleep_wake_immediate() {
    model(3, || {
        let mut w = Writer::anonymous(layout()).unwrap();
        w.set_wake_mode(Wake::Immediate);
        let mut r = w.reader(Start::End).unwrap();
        let reader = thread::spawn(move || loop {
            if let Some(Item::Record(rec)) = r.try_next().unwrap() {
                assert_eq!(rec.seq, 1);
                return;
            }
            r.wait(Duration::from_secs(3600));
        });
        w.publish(1, &[1; 8]).unwrap();
        reader.join().unwrap();
    });
}

/// Sleep and wake, Deferred mode: the flush at the batch boundary wakes.
#[test]
fn sleep_wake_deferred_flush() {
    model(3, || {
        let mut w = Writer::anonymous(layout()).unwrap();
        let mut r = w.reader(Start::End).unwrap();
        let reader = thread::spawn(move || loop {
            if let Some(Item::Record(_)) = r.try_next().unwrap() {
                return;
            }
            r.wait(Duration::from_secs(3600));
        });
        w.publish(1, &[1; 8]).unwrap();
        w.flush();
        reader.join().unwrap();
    });
}

/// Sleep and wake handed to another thread: the publishing thread makes no
/// system call; a waker thread that has seen the commit wakes the sleeper.
#[test]
fn sleep_wake_from_a_waker_thread() {
    model(2, || {
        let mut w = Writer::anonymous(layout()).unwrap();
        let mut waker = w.waker();
        let mut r = w.reader(Start::End).unwrap();
        let published = Arc::new(AtomicBool::new(false));
        let reader = thread::spawn(move || loop {
            if let Some(Item::Record(_)) = r.try_next().unwrap() {
                return;
            }
            r.wait(Duration::from_secs(3600));
        });
        let seen = published.clone();
        let waking = thread::spawn(move || {
            while !seen.load(Ordering::Acquire) {
                thread::yield_now();
            }
            waker.wake_if_needed();
        });
        w.publish(1, &[1; 8]).unwrap();
        published.store(true, Ordering::Release);
        waking.join().unwrap();
        reader.join().unwrap();
    });
}
