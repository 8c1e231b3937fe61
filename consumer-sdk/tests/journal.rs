//! Catch-up from a journal (`ConsumerBuilder::journal`): replay, then the
//! live ring with no gap and no duplicate; durable cursors across a reboot;
//! a ring recreated to continue the journal's sequence.

use slipstream_consumer::*;
use slipstream_journal::{JournalWriter, WriterOptions};
use slipstream_producer::{Producer, ProducerOptions};
use slipstream_ring::{Item as RingItem, LapPolicy, Layout, Reader, SeekError, Start as RingStart};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CAPACITY: u64 = 1 << 16;

/// A ring path and a journal directory, removed on drop.
struct Scratch {
    ring: PathBuf,
    dir: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = format!("slipstream-sdk-journal-{tag}-{}-{n}", std::process::id());
        let s = Scratch {
            ring: PathBuf::from(format!("/dev/shm/{id}")),
            dir: std::env::temp_dir().join(id),
        };
        let _ = std::fs::remove_file(&s.ring);
        let _ = std::fs::remove_dir_all(&s.dir);
        s
    }

    fn producer(&self) -> Producer {
        Producer::open(&self.ring, options()).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ring);
        slipstream_ring::sidecar::remove_all(&self.ring);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn options() -> ProducerOptions {
    ProducerOptions {
        layout: Layout::new(CAPACITY),
        ..Default::default()
    }
}

/// What `slipstream-journal record` does, on a thread: follows the ring into
/// the journal until stopped; `recorded` is the journal's next sequence number.
struct Recorder {
    stop: Arc<AtomicBool>,
    recorded: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    fn start(ring: &Path, dir: &Path) -> Recorder {
        let (mut w, _) = JournalWriter::open(
            dir,
            WriterOptions {
                segment_bytes: 64 << 10,
                ..Default::default()
            },
        )
        .unwrap();
        // Read-only, as every consumer of a format-2 ring.
        let file = std::fs::File::open(ring).unwrap();
        let mut r = Reader::attach(&file, RingStart::End).unwrap();
        r.set_lap_policy(LapPolicy::Oldest);
        match w.next_seq() {
            None => r.seek(RingStart::Oldest).unwrap(),
            Some(n) => match r.seek(RingStart::Seq(n)) {
                Ok(()) => {}
                Err(SeekError::NotRetained { .. }) => r.resume(n, u64::MAX).unwrap(),
                Err(e) => panic!("recorder seek: {e}"),
            },
        }
        let stop = Arc::new(AtomicBool::new(false));
        let recorded = Arc::new(AtomicU64::new(r.next_seq()));
        let (s, rec) = (stop.clone(), recorded.clone());
        let thread = std::thread::spawn(move || {
            let _file = file;
            loop {
                match r.try_next().unwrap() {
                    Some(RingItem::Record(x)) => w.append(x.seq, x.kind, x.payload).unwrap(),
                    Some(RingItem::Lagged(l)) => {
                        w.append_gap(l.first_missed, l.last_missed).unwrap()
                    }
                    None => {
                        w.flush().unwrap();
                        rec.store(r.next_seq(), Ordering::Release);
                        if s.load(Ordering::Relaxed) {
                            return;
                        }
                        std::thread::sleep(Duration::from_micros(100));
                    }
                }
            }
        });
        Recorder {
            stop,
            recorded,
            thread: Some(thread),
        }
    }

    /// Waits until the journal holds everything before `next`.
    fn wait_for(&self, next: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.recorded.load(Ordering::Acquire) < next {
            assert!(Instant::now() < deadline, "recorder stuck");
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Publishes blocks of 20 updates (key = seq-independent (height, ordinal))
/// until `until_tail` bytes were written since the call, never more than a
/// quarter ring ahead of the recorder (so that it is never lapped).
fn publish(p: &mut Producer, rec: &Recorder, height: &mut u64, bytes: u64) {
    let mut written = 0;
    while written < bytes {
        rec.wait_for(p.next_seq().saturating_sub(CAPACITY / 4 / 128));
        p.begin_block(*height).unwrap();
        for o in 1..=20u32 {
            let mut key = height.to_le_bytes().to_vec();
            key.extend_from_slice(&o.to_le_bytes());
            p.mapping_update(b"credits.aleo", b"account", &key, &[7; 64])
                .unwrap();
        }
        p.commit_block().unwrap();
        written += 22 * 128;
        *height += 1;
    }
}

/// Reads until `last` (inclusive), asserting each sequence number comes once
/// and in order from `first`, and no lag. Returns the number of events.
fn read_exactly(c: &mut Consumer, first: u64, last: u64) -> u64 {
    let mut next = first;
    let deadline = Instant::now() + Duration::from_secs(30);
    while next <= last {
        assert!(Instant::now() < deadline, "stuck at #{next}");
        match c.next(Duration::from_millis(100)).unwrap() {
            Some(Item::Event(e)) => {
                assert_eq!(e.seq, next, "no gap, no duplicate");
                if let EventRef::MappingUpdate { key, .. } = e.event {
                    assert_eq!(&key[..8], &e.event.block_height().to_le_bytes());
                }
                next += 1;
            }
            Some(Item::Lagged(l)) => {
                panic!("lagged {l:?} at #{next}: the journal should have served it")
            }
            Some(Item::Producer(_)) | None => {}
        }
    }
    next - first
}

#[test]
fn a_consumer_offline_for_twenty_ring_windows_catches_up_with_zero_loss() {
    let s = Scratch::new("offline");
    let mut p = s.producer();
    let rec = Recorder::start(&s.ring, &s.dir);
    let mut h = 1;
    publish(&mut p, &rec, &mut h, CAPACITY / 2);
    let mut c = Consumer::builder(&s.ring)
        .name("idx")
        .journal(&s.dir)
        .start(Start::Oldest)
        .open()
        .unwrap();
    // The delivery contract: the event in flight when the consumer stopped
    // (#100, never moved past) comes again after the restart.
    let stop_at = read_exactly(&mut c, 1, 100);
    drop(c); // offline from #100
             // Twenty-five rings' worth while it is away.
    publish(&mut p, &rec, &mut h, 25 * CAPACITY);
    let last = p.next_seq() - 1;
    rec.wait_for(last + 1);
    // The ring no longer holds where it stopped.
    let ring_only = Consumer::builder(&s.ring).start(Start::Seq(stop_at)).open();
    assert!(
        matches!(ring_only, Err(ConsumerError::StartUnavailable { .. })),
        "{ring_only:?}"
    );
    let mut c = Consumer::builder(&s.ring)
        .name("idx")
        .journal(&s.dir)
        .open()
        .unwrap();
    assert_eq!(c.next_seq(), stop_at);
    assert_eq!(read_exactly(&mut c, stop_at, last), last - stop_at + 1);
    // Then live: the merge onto the ring has no gap and no duplicate.
    publish(&mut p, &rec, &mut h, 4096);
    let last2 = p.next_seq() - 1;
    read_exactly(&mut c, last + 1, last2);
    assert!(c.try_next().unwrap().is_none());
    assert!(
        last - stop_at > 20 * (CAPACITY / 128),
        "offline for at least twenty windows"
    );
}

#[test]
fn a_lapped_live_consumer_is_served_from_the_journal() {
    let s = Scratch::new("lapped");
    let mut p = s.producer();
    let rec = Recorder::start(&s.ring, &s.dir);
    let mut h = 1;
    publish(&mut p, &rec, &mut h, 4096);
    let mut c = Consumer::builder(&s.ring)
        .journal(&s.dir)
        .start(Start::Oldest)
        .open()
        .unwrap();
    let first_two = read_exactly(&mut c, 1, 2);
    assert_eq!(first_two, 2);
    // The consumer stalls while the ring is overwritten three times.
    publish(&mut p, &rec, &mut h, 3 * CAPACITY);
    let last = p.next_seq() - 1;
    rec.wait_for(last + 1);
    read_exactly(&mut c, 3, last);
}

#[test]
fn starts_older_than_the_ring_come_from_the_journal_and_older_than_the_journal_are_errors() {
    let s = Scratch::new("starts");
    let mut p = s.producer();
    let rec = Recorder::start(&s.ring, &s.dir);
    let mut h = 100;
    publish(&mut p, &rec, &mut h, 4 * CAPACITY);
    let last = p.next_seq() - 1;
    rec.wait_for(last + 1);
    // By height: the begin marker of block 101 (seq 23), long overwritten in the ring.
    let mut c = Consumer::builder(&s.ring)
        .journal(&s.dir)
        .start(Start::Height(101))
        .open()
        .unwrap();
    match c.next(Duration::from_secs(1)).unwrap() {
        Some(Item::Event(e)) => {
            assert_eq!(e.seq, 23);
            assert!(matches!(
                e.event,
                EventRef::BlockBegin {
                    block_height: 101,
                    ..
                }
            ));
        }
        other => panic!("{other:?}"),
    }
    read_exactly(&mut c, 24, last);
    // By sequence number, and from the oldest: the journal's first event.
    let mut c = Consumer::builder(&s.ring)
        .journal(&s.dir)
        .start(Start::Seq(5))
        .open()
        .unwrap();
    read_exactly(&mut c, 5, last);
    let mut c = Consumer::builder(&s.ring)
        .journal(&s.dir)
        .start(Start::Oldest)
        .open()
        .unwrap();
    read_exactly(&mut c, 1, last);
    // Height 0 is the oldest block: the journal's (block 100, at seq 1).
    let mut c = Consumer::builder(&s.ring)
        .journal(&s.dir)
        .start(Start::Height(0))
        .open()
        .unwrap();
    match c.next(Duration::from_secs(1)).unwrap() {
        Some(Item::Event(e)) => {
            assert_eq!(e.seq, 1);
            assert!(matches!(
                e.event,
                EventRef::BlockBegin {
                    block_height: 100,
                    ..
                }
            ));
        }
        other => panic!("{other:?}"),
    }
    // Older than the journal: a clear error naming the oldest sequence and height.
    drop(rec);
    let t = Scratch::new("starts-late");
    let mut p = t.producer();
    let rec = Recorder::start(&t.ring, &t.dir);
    let mut h = 500;
    publish(&mut p, &rec, &mut h, 4 * CAPACITY);
    drop(rec);
    // A second journal that starts late: copy the first one's tail by recording a new ring from its middle.
    let late = Scratch::new("late-dir");
    let (mut w, _) = JournalWriter::open(&late.dir, WriterOptions::default()).unwrap();
    let file = std::fs::File::open(&t.ring).unwrap();
    let mut r = Reader::attach(&file, RingStart::Oldest).unwrap();
    while let Some(item) = r.try_next().unwrap() {
        if let RingItem::Record(x) = item {
            w.append(x.seq, x.kind, x.payload).unwrap();
        }
    }
    drop(w);
    let oldest = slipstream_journal::summary(&late.dir)
        .unwrap()
        .first_seq()
        .unwrap();
    assert!(oldest > 1);
    let e = Consumer::builder(&t.ring)
        .journal(&late.dir)
        .start(Start::Seq(1))
        .open()
        .unwrap_err();
    match &e {
        ConsumerError::Journal(JournalError::NotRetained {
            oldest_seq,
            oldest_height,
            ..
        }) => {
            assert_eq!(*oldest_seq, oldest);
            assert!(oldest_height.is_some_and(|h| h >= 500));
        }
        other => panic!("{other}"),
    }
    assert!(
        e.to_string()
            .contains(&format!("oldest event is #{oldest} at block height")),
        "{e}"
    );
    // A saved cursor older than both the ring and the journal: one exact lag,
    // then everything the journal holds, in order.
    slipstream_journal::store_cursor(&late.dir, "old-reader", 3).unwrap();
    let mut c = Consumer::builder(&t.ring)
        .name("old-reader")
        .journal(&late.dir)
        .open()
        .unwrap();
    match c.next(Duration::from_secs(1)).unwrap() {
        Some(Item::Lagged(l)) => assert_eq!((l.first_missed, l.last_missed), (3, oldest - 1)),
        other => panic!("expected the exact lag, got {other:?}"),
    }
    read_exactly(&mut c, oldest, p.next_seq() - 1);
}

#[test]
fn after_a_reboot_the_ring_continues_the_journal_and_a_named_consumer_resumes_exactly() {
    let s = Scratch::new("reboot");
    let mut p = s.producer();
    let rec = Recorder::start(&s.ring, &s.dir);
    let mut h = 1;
    publish(&mut p, &rec, &mut h, 2 * CAPACITY);
    let mut c = Consumer::builder(&s.ring)
        .name("indexer")
        .journal(&s.dir)
        .start(Start::Oldest)
        .open()
        .unwrap();
    let done = read_exactly(&mut c, 1, 500);
    drop(c); // stored in the ring's slot and in the journal directory
    publish(&mut p, &rec, &mut h, 2 * CAPACITY);
    let before_reboot = p.next_seq() - 1;
    rec.wait_for(before_reboot + 1);
    rec.stop();
    drop(p);
    // The reboot: /dev/shm is empty again.
    std::fs::remove_file(&s.ring).unwrap();
    let next = slipstream_journal::summary(&s.dir)
        .unwrap()
        .next_seq()
        .unwrap();
    assert_eq!(next, before_reboot + 1);
    let mut p = Producer::open(
        &s.ring,
        ProducerOptions {
            first_seq: next,
            ..options()
        },
    )
    .unwrap();
    assert_eq!(
        p.next_seq(),
        next,
        "the new ring continues the journal's sequence"
    );
    let rec = Recorder::start(&s.ring, &s.dir);
    publish(&mut p, &rec, &mut h, CAPACITY);
    let last = p.next_seq() - 1;
    rec.wait_for(last + 1);
    // A reader of the new ring alone sees the continued sequence.
    let ring_only = Consumer::builder(&s.ring)
        .start(Start::Oldest)
        .open()
        .unwrap();
    assert!(ring_only.next_seq() >= next);
    // The named consumer: no cursor for the new ring (its cursor file names
    // the old ring's id), so the durable cursor.
    let mut c = Consumer::builder(&s.ring)
        .name("indexer")
        .journal(&s.dir)
        .open()
        .unwrap();
    // The delivery contract: the last event read (#done, in flight when the
    // consumer was dropped) comes again, and nothing before it.
    assert_eq!(
        c.next_seq(),
        done,
        "resumes exactly at the event in flight when it stopped"
    );
    read_exactly(&mut c, done, last);
    drop(c);
    assert_eq!(
        slipstream_journal::load_cursor(&s.dir, "indexer").unwrap(),
        Some(last),
        "the durable cursor: everything moved past, not the event in flight"
    );
}

#[test]
fn a_journal_not_yet_recorded_changes_nothing() {
    let s = Scratch::new("absent");
    let mut p = s.producer();
    for h in 1..=3 {
        p.begin_block(h).unwrap();
        p.mapping_update(b"credits.aleo", b"account", &h.to_le_bytes(), b"v")
            .unwrap();
        p.commit_block().unwrap();
    }
    // No directory at all, then an empty one.
    for make in [false, true] {
        if make {
            std::fs::create_dir_all(&s.dir).unwrap();
        }
        let mut c = Consumer::builder(&s.ring)
            .name("n")
            .reset(true)
            .journal(&s.dir)
            .start(Start::Oldest)
            .open()
            .unwrap();
        read_exactly(&mut c, 1, 9);
        // A sequence number not written yet is waited for (the delivery
        // contract), with or without a journal.
        let mut future = Consumer::builder(&s.ring)
            .journal(&s.dir)
            .start(Start::Seq(20))
            .open()
            .unwrap();
        assert!(future.try_next().unwrap().is_none(), "nothing before #20");
        drop(future);
        drop(c);
        let _ = std::fs::remove_dir_all(&s.dir);
    }
}

/// A ring overwritten many times (200 blocks of a begin marker, 10 updates
/// and a commit marker: 12 records each, block `h` at seqs `12h-11..=12h`)
/// and a journal of all of it, except `hole` (recorded as a gap entry, as a
/// lapped recorder writes it).
fn journal_with_hole(tag: &str, hole: Option<(u64, u64)>) -> (Scratch, u64) {
    let s = Scratch::new(tag);
    let mut p = s.producer();
    let (mut w, _) = JournalWriter::open(&s.dir, WriterOptions::default()).unwrap();
    let file = std::fs::File::open(&s.ring).unwrap();
    let mut r = Reader::attach(&file, RingStart::Oldest).unwrap();
    for h in 1..=200u64 {
        p.begin_block(h).unwrap();
        for o in 1..=10u32 {
            let mut key = h.to_le_bytes().to_vec();
            key.extend_from_slice(&o.to_le_bytes());
            p.mapping_update(b"credits.aleo", b"account", &key, &[1; 40])
                .unwrap();
        }
        p.commit_block().unwrap();
        while let Some(item) = r.try_next().unwrap() {
            let RingItem::Record(x) = item else {
                panic!("the journal's reader was lapped")
            };
            match hole {
                Some((a, b)) if (a..=b).contains(&x.seq) => {
                    if x.seq == b {
                        w.append_gap(a, b).unwrap();
                    }
                }
                _ => w.append(x.seq, x.kind, x.payload).unwrap(),
            }
        }
    }
    w.flush().unwrap();
    let last = p.next_seq() - 1;
    assert_eq!(last, 12 * 200);
    (s, last)
}

/// The begin marker's sequence number of block `h` in [`journal_with_hole`].
fn begin_of(h: u64) -> u64 {
    12 * h - 11
}

#[test]
fn next_block_from_the_journal_delivers_whole_blocks_and_stores_cursors_at_block_boundaries() {
    let (s, last) = journal_with_hole("blocks", None);
    let open = || {
        Consumer::builder(&s.ring)
            .name("blocks")
            .journal(&s.dir)
            .start(Start::Oldest)
            .open()
            .unwrap()
    };
    let mut c = open();
    let next_block = |c: &mut Consumer| match c.next_block(Duration::from_secs(1)).unwrap() {
        Some(BlockItem::Block(b)) => b,
        other => panic!("expected a whole block, got {other:?}"),
    };
    for h in 1..=30 {
        let b = next_block(&mut c);
        assert_eq!(
            (b.height, b.begin_seq, b.commit_seq),
            (h, begin_of(h), 12 * h)
        );
        assert_eq!(b.events.len(), 10);
    }
    assert!(
        Reader::attach(&std::fs::File::open(&s.ring).unwrap(), RingStart::Oldest)
            .unwrap()
            .next_seq()
            > begin_of(31),
        "these blocks are in the journal only"
    );
    // Block 30 is in flight: the stored cursor is the boundary before it, in
    // the ring's cursor file and in the journal directory.
    drop(c);
    assert_eq!(
        slipstream_journal::load_cursor(&s.dir, "blocks").unwrap(),
        Some(begin_of(30))
    );
    let mut c = open();
    assert_eq!(c.next_seq(), begin_of(30));
    for h in 30..=200 {
        let b = next_block(&mut c);
        assert_eq!(
            (b.height, b.begin_seq, b.commit_seq),
            (h, begin_of(h), 12 * h)
        );
    }
    assert!(c.next_block(Duration::ZERO).unwrap().is_none());
    assert_eq!(c.next_seq(), last + 1);
    // Moved past block 200 (it asked for more): stored on drop, a boundary.
    drop(c);
    assert_eq!(
        slipstream_journal::load_cursor(&s.dir, "blocks").unwrap(),
        Some(last + 1)
    );

    // A start inside a block that only the journal still holds: back to its
    // begin marker, from the journal, so that the block comes whole.
    let mut c = Consumer::builder(&s.ring)
        .journal(&s.dir)
        .start(Start::Seq(begin_of(7) + 4))
        .open()
        .unwrap();
    let b = next_block(&mut c);
    assert_eq!((b.height, b.begin_seq), (7, begin_of(7)));
    // Event by event from the journal, then whole blocks again: the block
    // being read comes again whole, from its begin marker.
    let mut c = Consumer::builder(&s.ring)
        .journal(&s.dir)
        .start(Start::Seq(begin_of(9)))
        .open()
        .unwrap();
    for n in begin_of(9)..begin_of(9) + 5 {
        match c.try_next().unwrap() {
            Some(Item::Event(e)) => assert_eq!(e.seq, n),
            other => panic!("{other:?}"),
        }
    }
    let b = next_block(&mut c);
    assert_eq!((b.height, b.begin_seq), (9, begin_of(9)));
    assert_eq!(next_block(&mut c).height, 10);
}

#[test]
fn a_gap_in_both_the_journal_and_the_ring_is_one_exact_missed_with_heights() {
    // Lost: block 50 from its 5th update, block 51 whole, block 52 to its 3rd update.
    let (first, last_missed) = (begin_of(50) + 5, begin_of(52) + 3);
    let (s, _) = journal_with_hole("hole", Some((first, last_missed)));
    // Event by event: the exact range, its heights, both ends partial.
    let mut c = Consumer::builder(&s.ring)
        .journal(&s.dir)
        .start(Start::Height(49))
        .open()
        .unwrap();
    let mut next = begin_of(49);
    let mut missed = Vec::new();
    while next <= begin_of(53) {
        match c.next(Duration::from_secs(1)).unwrap() {
            Some(Item::Event(e)) => {
                assert_eq!(e.seq, next, "no gap, no duplicate");
                next += 1;
            }
            Some(Item::Lagged(m)) => {
                assert_eq!(m.first_missed, next);
                next = m.last_missed + 1;
                missed.push(m);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        missed,
        vec![Missed {
            first_missed: first,
            last_missed,
            first_height: Some(50),
            last_height: Some(52),
            first_partial: true,
            last_partial: true,
        }]
    );
    // By blocks: the range widened to whole blocks, none delivered in part.
    let mut c = Consumer::builder(&s.ring)
        .journal(&s.dir)
        .start(Start::Height(49))
        .open()
        .unwrap();
    let mut items = Vec::new();
    for _ in 0..3 {
        items.push(c.next_block(Duration::from_secs(1)).unwrap().unwrap());
    }
    assert!(matches!(&items[0], BlockItem::Block(b) if b.height == 49));
    assert_eq!(
        items[1],
        BlockItem::Lagged(Missed {
            first_missed: begin_of(50),
            last_missed: 12 * 52,
            first_height: Some(50),
            last_height: Some(52),
            first_partial: false,
            last_partial: false,
        })
    );
    assert!(
        matches!(&items[2], BlockItem::Block(b) if b.height == 53 && b.begin_seq == begin_of(53))
    );
}

#[cfg(feature = "tokio")]
#[test]
fn the_async_streams_from_the_journal_store_only_what_was_acknowledged() {
    use futures_core::Stream;
    let (s, _) = journal_with_hole("streams", None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let builder = |name: &str| {
        Consumer::builder(&s.ring)
            .name(name)
            .journal(&s.dir)
            .start(Start::Oldest)
    };
    // Events from the journal: five received, the fifth in flight at drop.
    let mut events = builder("async-events").open().unwrap().into_stream(64);
    for n in 1..=5 {
        let item = rt
            .block_on(std::future::poll_fn(|cx| {
                std::pin::Pin::new(&mut events).poll_next(cx)
            }))
            .unwrap()
            .unwrap();
        match item {
            OwnedItem::Event(e) => assert_eq!(e.seq, n),
            other => panic!("{other:?}"),
        }
    }
    std::thread::sleep(Duration::from_millis(100)); // the reader thread runs ahead
    drop(events);
    assert_eq!(
        slipstream_journal::load_cursor(&s.dir, "async-events").unwrap(),
        Some(5),
        "items 1..=4 acknowledged, not the read-ahead"
    );
    assert_eq!(
        builder("async-events").open().unwrap().next_seq(),
        5,
        "and the ring's cursor file agrees"
    );
    // Blocks from the journal: the stored cursor is a block boundary.
    let mut blocks = builder("async-blocks").open().unwrap().into_block_stream(4);
    for h in 1..=3 {
        let item = rt
            .block_on(std::future::poll_fn(|cx| {
                std::pin::Pin::new(&mut blocks).poll_next(cx)
            }))
            .unwrap()
            .unwrap();
        assert!(matches!(item, BlockItem::Block(b) if b.height == h));
    }
    blocks.commit();
    drop(blocks);
    assert_eq!(
        slipstream_journal::load_cursor(&s.dir, "async-blocks").unwrap(),
        Some(begin_of(4)),
        "after block 3's commit marker"
    );
}
